"""Official LeWorldModel checkpoints (lucas-maes/le-wm, Maes et al. 2026) -> `LeWMForPreTraining`.

The official code saves the world model's state dict with `torch.save(model.state_dict())` (stable-worldmodel's
`save_pretrained`, which le-wm's training callback calls: `weights_epoch_N.pt`; the Hub mirrors `quentinll/lewm-*`:
`weights.pt`), next to `config.json`, the resolved Hydra config of the model. Its keys:

- `encoder.*`: transformers' `ViTModel` built by stable-pretraining's `vit_hf` (CLS token, learned position table with
  a CLS row, no pooler, no mask token), named as the transformers version that saved it names them: 4.x
  `encoder.encoder.layer.N.attention.attention.query` (the Hub files), 5.x `encoder.layers.N.attention.q_proj`;
- `projector.net.*` and `pred_proj.net.*`: Linear -> BatchNorm1d -> GELU -> Linear;
- `action_encoder.*`: a kernel-1 Conv1d `patch_embed`, then `embed` (Linear -> SiLU -> Linear);
- `predictor.*`: `pos_embedding` and the AdaLN-zero blocks and final norm under `transformer.`.

A Lightning checkpoint of a training run holds the same under `state_dict` with the prefix `model.`, next to SIGReg's
fixed buffers (`sigreg.*`). `config.json` beside the file gives what shapes cannot (the attention heads, dropout);
without it the released values are assumed, and the report says so.
"""

import json
import os

import torch

from ...models import LeWMConfig, LeWMForPreTraining
from .checkpoint import StateDictReader
from .config_inference import NamedModel, named_model, resolve_heads
from .official_vit import build_model, copy_weights, finish
from .report import ConversionReport

PARTS = ("encoder.", "projector.", "action_encoder.", "predictor.", "pred_proj.")
MODEL_TARGETS = ("stable_worldmodel.wm.lewm.LeWM", "jepa.JEPA")  # the Hub configs' and le-wm's own class
# stable-pretraining's `vit_hf` sizes: (width, heads) of its ViTs, all 12 deep but large (24) and huge (32).
VIT_HF_SIZES = {
    name: NamedModel(width, {"num_attention_heads": heads})
    for name, (width, heads) in {
        "tiny": (192, 3),
        "small": (384, 6),
        "base": (768, 12),
        "large": (1024, 16),
        "huge": (1280, 16),
    }.items()
}
# Arguments of `vit_hf` and the `ViTConfig` fields it passes on that a converted model can follow; others are refused.
ENCODER_ARGS = {
    "_target_",
    "size",
    "patch_size",
    "image_size",
    "pretrained",
    "use_mask_token",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "num_channels",
    "hidden_act",
    "layer_norm_eps",
    "qkv_bias",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "initializer_range",
}
# The released predictor (config/train/model/lewm.yaml): 16 heads of 64, dropout 0.1; the data configs' frameskip.
RELEASED_PREDICTOR_HEADS, RELEASED_HEAD_SIZE, RELEASED_DROPOUT, RELEASED_FRAMESKIP = 16, 64, 0.1, 5
# transformers' ViT layer names -> ours (our block keeps timm's names; q, k and v are fused into `attn.qkv`).
VIT_LAYERS = {
    "4.x": dict(
        prefix="encoder.encoder.layer.",
        q="attention.attention.query",
        k="attention.attention.key",
        v="attention.attention.value",
        proj="attention.output.dense",
        norm1="layernorm_before",
        norm2="layernorm_after",
        fc1="intermediate.dense",
        fc2="output.dense",
    ),
    "5.x": dict(
        prefix="encoder.layers.",
        q="attention.q_proj",
        k="attention.k_proj",
        v="attention.v_proj",
        proj="attention.o_proj",
        norm1="layernorm_before",
        norm2="layernorm_after",
        fc1="mlp.fc1",
        fc2="mlp.fc2",
    ),
}
# Our block's parts other than the fused qkv -> their key in `VIT_LAYERS`.
VIT_BLOCK_PARTS = {"attn.proj": "proj", "norm1": "norm1", "norm2": "norm2", "mlp.fc1": "fc1", "mlp.fc2": "fc2"}
# Official names in an AdaLN-zero block -> ours (`attn.norm` is the same).
PREDICTOR_BLOCK_NAMES = (
    ("attn.qkv.", "attn.to_qkv."),
    ("attn.proj.", "attn.to_out.0."),
    ("mlp_norm.", "mlp.net.0."),
    ("mlp.fc1.", "mlp.net.1."),
    ("mlp.fc2.", "mlp.net.4."),
    ("modulation.", "adaLN_modulation."),
)
# Keys the official forward never reads: a transformers ViT's pooler (`vit_hf` builds none) and its mask token (only
# used with `bool_masked_pos`, which LeWorldModel never passes).
UNUSED_ENCODER_KEYS = ("encoder.pooler.", "encoder.embeddings.mask_token")
EXPECTED = (
    "an official LeWorldModel checkpoint is the world model's state dict (`weights.pt`: keys under "
    + ", ".join(f"`{p}`" for p in PARTS)
    + ") or a Lightning checkpoint holding it under `state_dict` with the prefix `model.`"
)


# ---- reading the file -----------------------------------------------------------------------------------------------
def is_world_model_state(state) -> bool:
    return (
        isinstance(state, dict)
        and bool(state)
        and all(isinstance(key, str) for key in state)
        and all(any(key.startswith(part) for key in state) for part in ("encoder.", "predictor.", "action_encoder."))
    )


def read_state(checkpoint: dict, report: ConversionReport) -> StateDictReader:
    """The world model's state dict: the file itself, or a Lightning checkpoint's `state_dict` under `model.` (its
    other top-level entries are listed as ignored, SIGReg's fixed buffers dropped with a note; anything else there is
    refused)."""
    if is_world_model_state(checkpoint):
        return StateDictReader(checkpoint, "state_dict")
    lightning = checkpoint.get("state_dict")
    if isinstance(lightning, dict):
        model = {key[len("model.") :]: value for key, value in lightning.items() if key.startswith("model.")}
        if is_world_model_state(model):
            report.ignore_entries(checkpoint, ("state_dict",))
            others = {key: value for key, value in lightning.items() if not key.startswith("model.")}
            sigreg = {key: value for key, value in others.items() if key.startswith("sigreg.")}
            unknown = sorted(set(others) - set(sigreg))
            if unknown:
                raise ValueError(
                    f"the Lightning checkpoint's `state_dict` has key(s) outside the world model (`model.`) and "
                    f"SIGReg (`sigreg.`): {unknown[:8]}. It is not the official layout this converter reads."
                )
            if sigreg:
                report.notes.append(
                    f"SIGReg's buffers {sorted(sigreg)} dropped: fixed quadrature knots and weights, not trained; "
                    "hf_jepa recomputes them from the config."
                )
            reader = StateDictReader(model, "state_dict")
            reader.prefix = "model."  # errors name the keys as saved
            return reader
    keys = sorted(map(str, checkpoint))[:8]
    hint = ""
    if {"encoder", "predictor", "target_encoder"} <= set(checkpoint):
        hint = " It looks like an I-JEPA or V-JEPA training checkpoint (`--from ijepa` / `--from vjepa`)."
    elif {"teacher", "student"} & set(checkpoint) or "model" in checkpoint:
        hint = " It looks like a DINO or MAE checkpoint (`--from dino` / `--from mae`)."
    raise ValueError(f"not an official LeWorldModel checkpoint: {EXPECTED}; found top-level keys {keys}.{hint}")


def read_official_config(checkpoint_path: str, report: ConversionReport) -> dict | None:
    """`config.json` beside the checkpoint (the official loaders read it from there), checked to describe a
    LeWorldModel world model; None when there is none."""
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint_path)), "config.json")
    if not os.path.isfile(path):
        report.notes.append(
            "No config.json beside the checkpoint: the attention heads and dropout are the released model's where the "
            "shapes allow (say otherwise with --config)."
        )
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"`{path}` beside the checkpoint is not readable JSON ({error}).") from None
    target = config.get("_target_") if isinstance(config, dict) else None
    if target not in MODEL_TARGETS or not all(isinstance(config.get(k), dict) for k in ("encoder", "predictor")):
        raise ValueError(
            f"`{path}` beside the checkpoint does not describe an official LeWorldModel (`_target_` {target!r}, "
            f"expected one of {list(MODEL_TARGETS)} with `encoder` and `predictor` sections): move it away, or "
            "convert a checkpoint of another method with its own `--from`."
        )
    for name in ("projector", "pred_proj"):
        norm = (config.get(name) or {}).get("norm_fn")
        norm_target = norm.get("_target_") if isinstance(norm, dict) else norm
        if norm_target != "torch.nn.BatchNorm1d":
            raise ValueError(
                f"`{path}`: the official `{name}` normalises with {norm_target!r}; hf_jepa's LeWorldModel projectors "
                "use BatchNorm1d (the official recipe), so this model cannot be represented."
            )
    unknown = sorted(set(config["encoder"]) - ENCODER_ARGS)
    if unknown:
        raise ValueError(
            f"`{path}`: the encoder is built with ViTConfig fields {unknown} that hf_jepa's ViT does not follow; only "
            f"{sorted(ENCODER_ARGS - {'_target_'})} are supported."
        )
    report.notes.append("Heads and dropout read from the config.json beside the checkpoint, its sizes checked.")
    return config


# ---- the config -----------------------------------------------------------------------------------------------------
def vit_naming(state: StateDictReader) -> str:
    for naming, names in VIT_LAYERS.items():
        if state.keys(names["prefix"] + "0."):
            return naming
    raise ValueError(
        "the checkpoint's encoder has no transformer layers in either of transformers' ViT namings "
        f"(`{VIT_LAYERS['4.x']['prefix']}0.*` or `{VIT_LAYERS['5.x']['prefix']}0.*`)."
    )


def encoder_fields(state: StateDictReader, names: dict, official: dict, overrides: dict, report) -> dict:
    """Our ViT fields from the official `ViTModel`'s shapes, `vit_hf`'s arguments (config.json) and `overrides`."""
    width, channels, patch_h, patch_w = state.shape("encoder.embeddings.patch_embeddings.projection.weight")
    rows = state.shape("encoder.embeddings.position_embeddings")[1] - 1  # minus the CLS row
    image_size = overrides.get("image_size", official.get("image_size"))
    if image_size is None:
        side = int(rows**0.5)
        if side * side != rows:
            raise ValueError(
                f"{state.saved_name('encoder.embeddings.position_embeddings')} has {rows} patch positions, not a "
                "square grid: give the image size with --config '{\"image_size\": [height, width]}'."
            )
        image_size = side * patch_h if patch_h == patch_w else [side * patch_h, side * patch_w]
    fields = dict(
        hidden_size=width,
        num_channels=channels,
        patch_size=patch_h if patch_h == patch_w else [patch_h, patch_w],
        image_size=image_size,
        num_hidden_layers=state.num_blocks(names["prefix"]),
        intermediate_size=state.shape(f"{names['prefix']}0.{names['fc1']}.weight")[0],
        qkv_bias=f"{names['prefix']}0.{names['q']}.bias" in state,
        # transformers' ViTConfig defaults, which `vit_hf` keeps unless told otherwise
        layer_norm_eps=official.get("layer_norm_eps", 1e-12),
        hidden_act=official.get("hidden_act", "gelu"),
        position_embedding_type="learned",
        use_cls_token=True,
        pooling="cls",
    )
    if "num_attention_heads" in official:
        model, note = NamedModel(width, {"num_attention_heads": official["num_attention_heads"]}), None
    else:
        model, note = named_model(official.get("size"), VIT_HF_SIZES, width)
    report.notes += [note] if note else []
    hint = "Neither config.json nor the width (a vit_hf size) tells them."
    fields.update(resolve_heads({"num_attention_heads": width}, model, overrides, hint=hint))
    return fields


def predictor_fields(state: StateDictReader, official: dict, overrides: dict, report: ConversionReport) -> dict:
    """Predictor, projector and action-encoder fields from the shapes; heads and dropout from config.json (else the
    released model's); refusals for the official options our model has no counterpart for."""
    projections = [k for k in state.keys("predictor.transformer.") if k.split(".")[2].endswith("_proj")]
    if projections:
        raise ValueError(
            f"{state.saved_name(projections[0])}: the official predictor works at another width than the embedding "
            "(`hidden_dim` != `input_dim`/`output_dim`: input, condition and output projections), which hf_jepa's "
            "predictor does not have: it works at the embedding width, as every released model does."
        )
    for name in ("projector", "pred_proj"):
        if f"{name}.net.1.running_mean" not in state:
            raise ValueError(
                f"the checkpoint's `{name}` has no BatchNorm statistics (`{name}.net.1.running_mean`): it normalises "
                "otherwise (LayerNorm or none), and hf_jepa's LeWorldModel projectors use BatchNorm1d (the official "
                "recipe), so this model cannot be represented."
            )
    _, history, dim = state.shape("predictor.pos_embedding")
    inner = state.shape("predictor.transformer.layers.0.attn.to_qkv.weight")[0]
    if inner % 3:
        raise ValueError(f"{state.saved_name('predictor.transformer.layers.0.attn.to_qkv.weight')} is not q, k, v.")
    inner //= 3
    projection_hidden = state.shape("projector.net.0.weight")[0]
    if state.shape("pred_proj.net.0.weight")[0] != projection_hidden:
        raise ValueError(
            f"the official `projector` ({projection_hidden} hidden) and `pred_proj` "
            f"({state.shape('pred_proj.net.0.weight')[0]} hidden) differ in width: hf_jepa's LeWorldModel has one "
            "`projection_hidden_size` for both, as the official recipe."
        )
    action_hidden, smoothed = state.shape("action_encoder.embed.0.weight")
    if action_hidden % dim:
        raise ValueError(
            f"{state.saved_name('action_encoder.embed.0.weight')}: the action MLP's hidden width {action_hidden} is "
            f"not a multiple of the embedding width {dim} (`mlp_scale`)."
        )
    predictor = official.get("predictor", {})
    heads_and_size = head_layout(inner, predictor, overrides, report)
    dropout = predictor.get("dropout")
    if dropout is None:
        dropout = RELEASED_DROPOUT
        report.notes.append(f"`predictor_dropout` {dropout}: the released models' (not in the checkpoint).")
    if predictor.get("emb_dropout"):
        report.notes.append(
            f"The official predictor's dropout on its inputs (`emb_dropout` {predictor['emb_dropout']}) has no "
            "counterpart in hf_jepa (training only; the forward in eval mode is the same)."
        )
    return dict(
        embedding_size=dim,
        history_size=history,
        predictor_num_hidden_layers=state.num_blocks("predictor.transformer.layers."),
        predictor_intermediate_size=state.shape("predictor.transformer.layers.0.mlp.net.1.weight")[0],
        predictor_dropout=dropout,
        projection_hidden_size=projection_hidden,
        action_smoothed_size=smoothed,
        action_mlp_ratio=action_hidden // dim,
        **heads_and_size,
        **action_fields(state.shape("action_encoder.patch_embed.weight")[1], overrides, report),
    )


def head_layout(inner: int, predictor: dict, overrides: dict, report: ConversionReport) -> dict:
    """Heads x head size of the predictor's attention (`inner` = their product, all the shapes give)."""
    heads = overrides.get("predictor_num_attention_heads", predictor.get("heads"))
    size = overrides.get("predictor_head_size", predictor.get("dim_head"))
    if heads is None and size is None and inner == RELEASED_PREDICTOR_HEADS * RELEASED_HEAD_SIZE:
        heads, size = RELEASED_PREDICTOR_HEADS, RELEASED_HEAD_SIZE
        report.notes.append(f"Predictor attention: {heads} heads of {size}, the released models' ({inner} wide).")
    elif heads is not None and size is None and inner % heads == 0:
        size = inner // heads
    elif size is not None and heads is None and inner % size == 0:
        heads = inner // size
    if heads is None or size is None or heads * size != inner:
        raise ValueError(
            f"cannot tell the predictor's attention heads: its q, k, v are {inner} wide (heads x head size), "
            f"config.json does not say, and it is not the released 16 x 64. Give it with --config "
            "'{\"predictor_num_attention_heads\": H}' (the head size is then the width / H)."
        )
    return dict(predictor_num_attention_heads=heads, predictor_head_size=size)


def action_fields(input_size: int, overrides: dict, report: ConversionReport) -> dict:
    """`frameskip` x `action_dim` = the action encoder's input; the file holds only the product."""
    frameskip = overrides.get("frameskip")
    action_dim = overrides.get("action_dim")
    if frameskip is None and action_dim is not None and input_size % action_dim == 0:
        frameskip = input_size // action_dim
    if frameskip is None:
        frameskip = RELEASED_FRAMESKIP if input_size % RELEASED_FRAMESKIP == 0 else 1
    if action_dim is None and input_size % frameskip == 0:
        action_dim = input_size // frameskip
    if action_dim is None or frameskip * action_dim != input_size:
        raise ValueError(
            f"the action encoder takes {input_size} numbers per step (frameskip x action_dim), which `frameskip` "
            f"{frameskip} and `action_dim` {action_dim} from --config do not give."
        )
    if "frameskip" not in overrides and "action_dim" not in overrides:
        report.notes.append(
            f"The action encoder takes {input_size} numbers per step; read as frameskip {frameskip} x action_dim "
            f"{action_dim} (the official data configs' frameskip is 5; only the product matters to the weights, set "
            "them with --config)."
        )
    return dict(frameskip=frameskip, action_dim=action_dim)


def check_official_sizes(config: LeWMConfig, official: dict) -> None:
    """config.json's sizes must be the weights' (a config.json of another run next to the file is refused)."""
    expected = {
        ("encoder", "patch_size"): config.patch_size,
        ("encoder", "hidden_size"): config.hidden_size,
        ("encoder", "num_hidden_layers"): config.num_hidden_layers,
        ("encoder", "intermediate_size"): config.intermediate_size,
        ("predictor", "num_frames"): config.history_size,
        ("predictor", "input_dim"): config.embedding_size,
        ("predictor", "depth"): config.predictor_num_hidden_layers,
        ("predictor", "mlp_dim"): config.predictor_intermediate_size,
        ("action_encoder", "input_dim"): config.action_input_size,
        ("action_encoder", "emb_dim"): config.embedding_size,
        ("projector", "hidden_dim"): config.projection_hidden_size,
        ("pred_proj", "hidden_dim"): config.projection_hidden_size,
    }
    for (part, field), value in expected.items():
        given = (official.get(part) or {}).get(field)
        if given is not None and given != value:
            raise ValueError(
                f"config.json beside the checkpoint says {part}.{field} = {given!r}, but the weights give {value!r}: "
                "it belongs to another model."
            )


# ---- the weights ----------------------------------------------------------------------------------------------------
def copy_vit(weights: dict, model: LeWMForPreTraining, state: StateDictReader, names: dict) -> None:
    """transformers' ViTModel -> our encoder: q, k, v fused, the position table's CLS row folded into the CLS token."""
    encoder = model.encoder
    ours = encoder.state_dict()
    for key in ("patch_embeddings.projection.weight", "patch_embeddings.projection.bias"):
        weights[f"encoder.embeddings.{key}"] = state.take(f"encoder.embeddings.{key}", ours[f"embeddings.{key}"].shape)
    num, dim = encoder.embeddings.position_embeddings.shape
    table = state.take("encoder.embeddings.position_embeddings", (1, 1 + num, dim), "encoder.embeddings")
    cls = state.take("encoder.embeddings.cls_token", (1, 1, dim), "encoder.embeddings.cls_token")
    weights["encoder.embeddings.position_embeddings"] = table[0, 1:]
    # transformers adds the CLS row to the CLS token only, and never resizes it: exact at every resolution.
    weights["encoder.embeddings.cls_token"] = cls + table[:, :1]
    for i in range(model.config.num_hidden_layers):
        saved, our = f"{names['prefix']}{i}.", f"encoder.layers.{i}."
        for param in ("weight", "bias") if model.config.qkv_bias else ("weight",):
            shape = (dim, dim) if param == "weight" else (dim,)
            q, k, v = (state.take(f"{saved}{names[p]}.{param}", shape, f"{our}attn.qkv.{param}") for p in "qkv")
            weights[f"{our}attn.qkv.{param}"] = torch.cat([q, k, v])
        for mine, theirs in VIT_BLOCK_PARTS.items():
            for param in ("weight", "bias"):
                name, shape = f"{our}{mine}.{param}", ours[f"layers.{i}.{mine}.{param}"].shape
                weights[name] = state.take(f"{saved}{names[theirs]}.{param}", shape, name)
    for param in ("weight", "bias"):
        weights[f"encoder.layernorm.{param}"] = state.take(f"encoder.layernorm.{param}", (dim,))


def copy_predictor(weights: dict, model: LeWMForPreTraining, state: StateDictReader, report) -> None:
    predictor = model.predictor
    weights["predictor.position_embeddings"] = state.take(
        "predictor.pos_embedding", predictor.position_embeddings.shape, "predictor.position_embeddings"
    )
    config = model.config
    # The official attention has no output projection when it has one head as wide as the embedding.
    no_output = config.predictor_num_attention_heads == 1 and config.predictor_head_size == config.embedding_size
    for i, block in enumerate(predictor.layers):
        skip = ("attn.proj.weight", "attn.proj.bias") if no_output else ()
        prefix = f"predictor.transformer.layers.{i}."
        copy_weights(weights, block, f"predictor.layers.{i}.", state, prefix, PREDICTOR_BLOCK_NAMES, skip=skip)
        if no_output:
            weights[f"predictor.layers.{i}.attn.proj.weight"] = torch.eye(config.embedding_size)
            weights[f"predictor.layers.{i}.attn.proj.bias"] = torch.zeros(config.embedding_size)
    if no_output:
        report.notes.append(
            "The official attention of one head as wide as the embedding has no output projection: "
            "`attn.proj` is the identity (exact; it will train if the model is trained further)."
        )
    copy_weights(weights, predictor.norm, "predictor.norm.", state, "predictor.transformer.norm.", ())


def copy_action_encoder(weights: dict, model: LeWMForPreTraining, state: StateDictReader) -> None:
    encoder = model.action_encoder
    conv = state.take("action_encoder.patch_embed.weight", (*encoder.smooth.weight.shape, 1), "action_encoder.smooth")
    weights["action_encoder.smooth.weight"] = conv[..., 0]  # a kernel-1 Conv1d over time: one Linear per step
    weights["action_encoder.smooth.bias"] = state.take("action_encoder.patch_embed.bias", encoder.smooth.bias.shape)
    copy_weights(weights, encoder.fc1, "action_encoder.fc1.", state, "action_encoder.embed.0.", ())
    copy_weights(weights, encoder.fc2, "action_encoder.fc2.", state, "action_encoder.embed.2.", ())


def take_unused(state: StateDictReader, report: ConversionReport) -> None:
    for key in [k for k in state.keys() if k.startswith(UNUSED_ENCODER_KEYS)]:
        state.take(key)
        report.notes.append(
            f"{state.saved_name(key)} dropped: the official forward never reads it (LeWorldModel takes the CLS token "
            "of `last_hidden_state` and never masks patches)."
        )


def convert_lewm(checkpoint: dict, overrides: dict, report: ConversionReport) -> LeWMForPreTraining:
    """The official world model in ours: encoder, projector, action encoder, predictor, prediction projector."""
    state = read_state(checkpoint, report)
    official = read_official_config(report.checkpoint, report) or {}
    naming = vit_naming(state)
    names = VIT_LAYERS[naming]
    report.notes.insert(0, f"Encoder keys in transformers {naming}'s ViT names (`{names['prefix']}N.*`).")

    fields = encoder_fields(state, names, official.get("encoder", {}), overrides, report)
    fields.update(predictor_fields(state, official, overrides, report))
    config = LeWMConfig(**{**fields, **overrides})
    check_official_sizes(config, official)
    model = build_model(config)

    weights = {}
    copy_vit(weights, model, state, names)
    copy_weights(weights, model.projector, "projector.", state, "projector.net.", ())
    copy_action_encoder(weights, model, state)
    copy_predictor(weights, model, state, report)
    copy_weights(weights, model.prediction_projector, "prediction_projector.", state, "pred_proj.net.", ())
    take_unused(state, report)
    report.sources.update(
        encoder="encoder.*",
        projector="projector.net.*",
        action_encoder="action_encoder.*",
        predictor="predictor.*",
        prediction_projector="pred_proj.net.*",
    )
    report.notes.append(
        "Inputs as the official model takes them: frames normalised with ImageNet's mean and std (the written "
        "processor does so; it resizes bicubically where the official pipeline resizes bilinearly), and actions "
        "z-scored with the training set's per-column statistics, which the checkpoint does not hold."
    )
    return finish(model, weights, [state], report)


__all__ = ["convert_lewm"]
