"""Official V-JEPA (facebookresearch/jepa) and V-JEPA 2 (facebookresearch/vjepa2) training checkpoints ->
`VJEPASSLForPreTraining`.

Both codes save the same dict (`app/vjepa/train.py`): `encoder` (the trained context encoder), `target_encoder` (its
EMA, the network the evaluations read and we publish as `encoder`) and `predictor`, every key under
`module.backbone.` (DDP around the mask wrappers), plus optimizer state. The blocks are timm's, the patches 3-D
tubelets (Conv3d). V-JEPA saves fixed 3-D sin-cos tables (`pos_embed`, `predictor_pos_embed`); V-JEPA 2 uses rotary
positions and has none, though its released files may carry unused ones. The predictor keeps its mask tokens as
`mask_tokens.0`, `mask_tokens.1`, ... ([1, 1, D_pred] each).
"""

import re

import torch

from ...models import VJEPASSLConfig, VJEPASSLForPreTraining
from ...models.masking_3d import VJEPA_MASK_SETS
from .checkpoint import StateDictReader, entry
from .config_inference import OFFICIAL_HEADS_BY_WIDTH, encoder_config, resolve_heads
from .ijepa import PREDICTOR_NAMES  # the official JEPA predictor's names, the same in I-JEPA and V-JEPA
from .official_vit import build_model, check_fixed_table, copy_encoder, copy_weights, finish, fixed_3d_table_grid
from .report import ConversionReport

PARTS = ("encoder", "predictor", "target_encoder")
EXPECTED = "an official V-JEPA or V-JEPA 2 training checkpoint has `encoder`, `predictor` and `target_encoder`"
POSITION_TYPES = {"sincos": "V-JEPA (fixed 3-D sin-cos tables)", "rope": "V-JEPA 2 (rotary positions)"}
# V-JEPA 2's heads by width: as the other released ViTs, except its ViT-g (`vit_giant_xformers`, the released one)
# with 22; its predictor is 384 wide with 12 heads in the released models and every config.
VJEPA2_HEADS_BY_WIDTH = {**OFFICIAL_HEADS_BY_WIDTH, 1408: 22}
VJEPA2_PREDICTOR_HEADS_BY_WIDTH = {384: 12}
# A rotary checkpoint holds no table, so nothing in it gives the clip size: V-JEPA 2's pretraining clips then
# (configs/train/vitl16/pretrain-256px-16f.yaml). They set the processor's size and the masks' grid only.
VJEPA2_IMAGE_SIZE, VJEPA2_NUM_FRAMES = 256, 16
MASK_TOKEN = re.compile(r"mask_tokens\.(\d+)")
ACTION_CONDITIONED_KEYS = ("action_encoder.", "state_encoder.", "extrinsics_encoder.")
SWIGLU_KEY = re.compile(r"(^|\.)mlp\.fc3\.")
ROPE_OVERRIDE = '--config \'{"position_embedding_type": "rope"}\''


def refuse_variants(target: StateDictReader, readers: list[StateDictReader]) -> None:
    """Clear refusals for the official variants no hf_jepa V-JEPA model reproduces."""
    for reader in readers:
        action = next((key for key in reader.keys() if key.startswith(ACTION_CONDITIONED_KEYS)), None)
        if action is not None:
            raise ValueError(
                f"{reader.saved_name(action)} belongs to V-JEPA 2's action-conditioned predictor (V-JEPA 2-AC: action "
                "and state tokens per time step, block-causal attention), which hf_jepa does not support; only the "
                "masked-video pretraining predictor converts."
            )
        swiglu = next((key for key in reader.keys() if SWIGLU_KEY.search(key)), None)
        if swiglu is not None:
            raise ValueError(
                f"{reader.saved_name(swiglu)} is the output layer of a SwiGLU MLP (V-JEPA 2 with `use_silu=True`), "
                "which hf_jepa does not support: its blocks use the GELU MLP (fc1 -> GELU -> fc2) of the released "
                "models."
            )
    patch = "patch_embed.proj.weight"
    shape = target.shape(patch, needed_for="encoder.embeddings.patch_embeddings.projection.weight")
    if len(shape) != 5:
        raise ValueError(
            f"{target.saved_name(patch)} has shape {shape}, the Conv2d of an image V-JEPA model (`num_frames=1`), "
            "which hf_jepa does not support: its V-JEPA models are video models (Conv3d tubelets), and V-JEPA's "
            "2-D table puts the row index first where hf_jepa's image tables put the column first, so no hf_jepa "
            "model computes what it does. The released V-JEPA models are video models (Conv3d weight "
            "[width, channels, tubelet, patch, patch]); they take images as one-frame clips."
        )


def count_mask_tokens(predictor: StateDictReader) -> int:
    """Number of `mask_tokens.i` (the largest index + 1: a gap is then a missing key, reported as such)."""
    indices = [int(m.group(1)) for m in map(MASK_TOKEN.fullmatch, predictor.keys("mask_tokens.")) if m]
    if not indices:
        raise ValueError(
            "the checkpoint's `predictor` has no mask tokens (`mask_tokens.0`, ...): hf_jepa's V-JEPA predictor needs "
            "the learned mask tokens of `use_mask_tokens=True` (every official config)."
        )
    return max(indices) + 1


def detect_positions(
    readers: list[StateDictReader], predictor: StateDictReader, overrides: dict, num_tokens: int
) -> tuple[str, str]:
    """V-JEPA ("sincos") or V-JEPA 2 ("rope") -> (type, why). V-JEPA always saves both fixed tables (checked to be
    ours later) and one mask token per mask set (2 in its configs); V-JEPA 2's training checkpoints save no table,
    and its released files carry unused ones next to 10 mask tokens. `--config` decides what the file cannot."""
    if "position_embedding_type" in overrides:
        kind = overrides["position_embedding_type"]
        if kind not in POSITION_TYPES:
            raise ValueError(
                f'`--config` position_embedding_type must be "sincos" (V-JEPA) or "rope" (V-JEPA 2) for '
                f"`--from vjepa`, got {kind!r}."
            )
        return kind, f"{POSITION_TYPES[kind]}, as --config says"
    encoder_tables = [reader for reader in readers if "pos_embed" in reader]
    predictor_table = "predictor_pos_embed" in predictor
    if not encoder_tables and not predictor_table:
        return "rope", f"{POSITION_TYPES['rope']}: the checkpoint has no `pos_embed` and no `predictor_pos_embed`"
    recipe_tokens = len(VJEPA_MASK_SETS)
    if len(encoder_tables) == len(readers) and predictor_table:
        if num_tokens > recipe_tokens:
            raise ValueError(
                f"cannot tell V-JEPA from V-JEPA 2: the checkpoint has position tables, as V-JEPA saves them (and "
                f"V-JEPA 2's released files carry them unused), but {num_tokens} mask tokens where V-JEPA's configs "
                f"make {recipe_tokens} (one per mask set) and V-JEPA 2 makes mask sets x clip lengths. Say which "
                f'with --config \'{{"position_embedding_type": "sincos"}}\' (V-JEPA) or {ROPE_OVERRIDE} (V-JEPA 2).'
            )
        return "sincos", f"{POSITION_TYPES['sincos']}: the checkpoint has `pos_embed` and `predictor_pos_embed`"
    return "rope", (
        f"{POSITION_TYPES['rope']}: only some of its networks have a position table, and V-JEPA saves one in each "
        "(`pos_embed`, `predictor_pos_embed`)"
    )


def clip_size(kind: str, target: StateDictReader, overrides: dict, patch: int, tubelet: int) -> tuple[int, int, str]:
    """(image size, frames) of the model, and a note when they were not in the checkpoint. V-JEPA's table says
    them by its values; a rotary checkpoint does not say them at all."""
    if "image_size" in overrides and "num_frames" in overrides:
        return overrides["image_size"], overrides["num_frames"], ""
    if kind == "sincos":
        grid = fixed_3d_table_grid(target, "pos_embed")
        if grid is None:
            rows = target.shape("pos_embed")[1]
            raise ValueError(
                f"{target.saved_name('pos_embed')} is not the fixed 3-D sin-cos table hf_jepa computes for any "
                f"grid of {rows} tokens (frames x square frame). V-JEPA's `uniform_power=True` table (its configs) "
                "is the one hf_jepa reproduces; a table without uniform power (V-JEPA 2's absolute-position variant "
                "by default) is not supported. If this is a V-JEPA 2 checkpoint with rotary positions that carries "
                f"an unused table, say so with {ROPE_OVERRIDE}."
            )
        return grid[1] * patch, grid[0] * tubelet, ""
    image_size = overrides.get("image_size", VJEPA2_IMAGE_SIZE)
    num_frames = overrides.get("num_frames", VJEPA2_NUM_FRAMES)
    if ("image_size" not in overrides and image_size % patch) or (
        "num_frames" not in overrides and num_frames % tubelet
    ):
        raise ValueError(
            f"a rotary checkpoint does not record its clip size, and V-JEPA 2's ({image_size} px, {num_frames} "
            f"frames) does not fit patch {patch} and tubelet {tubelet}: give it with "
            '--config \'{"image_size": S, "num_frames": F}\'.'
        )
    note = (
        f"Rotary checkpoints do not record their clip size: `image_size` {image_size} and `num_frames` {num_frames} "
        "(V-JEPA 2's pretraining clips where --config did not say) set the video processor and the masks' grid "
        "only; rotary positions follow the size of every input."
    )
    return image_size, num_frames, note


def take_unused_tables(readers: list[StateDictReader], report: ConversionReport) -> None:
    """A rotary model has no position table: tables the checkpoint carries (V-JEPA 2's released files) are read,
    checked to be [1, N, width] tables, and left out, as the official code leaves them."""
    for reader in readers:
        for key in ("pos_embed", "predictor_pos_embed"):
            if key in reader:
                shape = reader.shape(key)
                if len(shape) != 3 or shape[0] != 1:
                    raise ValueError(f"{reader.saved_name(key)} has shape {shape}, not a [1, N, width] table.")
                reader.take(key)
                report.notes.append(
                    f"{reader.saved_name(key)} ignored: the model uses rotary positions (the official code loads "
                    "these files non-strictly and never reads the table)."
                )


def mask_sets_for(num_tokens: int, overrides: dict) -> tuple[list[dict], str]:
    """One mask set per mask token: the user's, or V-JEPA's two sets repeated to the number of tokens."""
    if "mask_sets" in overrides:
        if len(overrides["mask_sets"]) != num_tokens:
            raise ValueError(
                f"`--config` mask_sets has {len(overrides['mask_sets'])} entries, but the checkpoint's predictor has "
                f"{num_tokens} mask tokens and hf_jepa's predictor has one mask token per mask set: give "
                f"{num_tokens} mask sets."
            )
        return list(overrides["mask_sets"]), ""
    recipe = [mask_set.to_dict() for mask_set in VJEPA_MASK_SETS]
    mask_sets = [recipe[i % len(recipe)] for i in range(num_tokens)]
    if num_tokens == len(recipe):
        return mask_sets, ""
    return mask_sets, (
        f"`mask_sets`: V-JEPA's {len(recipe)} mask sets (8 blocks of 15% and 2 of 70% of the frame) repeated to "
        f"{num_tokens}, one per mask token (they only matter for further training; set them with --config)."
    )


def mask_token_note(kind: str, num_tokens: int) -> str:
    if kind == "sincos":
        return (
            f"The {num_tokens} mask tokens fill hf_jepa's mask sets in order (`mask_tokens.i` -> mask set i), as "
            "V-JEPA chooses them: by the index of the mask pair."
        )
    return (
        f"The {num_tokens} mask tokens fill hf_jepa's mask sets in order (`mask_tokens.i` -> mask set i, "
        "`predictor(..., mask_token_index=i)`). V-JEPA 2 chose them otherwise: by clip-length sequence, every mask "
        "pair of the s-th clip length of a batch using `mask_tokens.s` (the code makes mask sets x clip lengths of "
        "them, the released models 10), so a run at one clip length trained `mask_tokens.0` only. To predict as the "
        "official model for clip length s, pass `mask_token_index=s`."
    )


def convert_vjepa(checkpoint: dict, overrides: dict, report: ConversionReport) -> VJEPASSLForPreTraining:
    """The checkpoint's three networks in our pretraining model (`overrides`: config fields given by the user)."""
    context, predictor, target = (entry(checkpoint, part, EXPECTED) for part in PARTS)
    report.ignore_entries(checkpoint, PARTS)
    refuse_variants(target, [target, context, predictor])

    num_tokens = count_mask_tokens(predictor)
    kind, detected = detect_positions([target, context], predictor, overrides, num_tokens)
    report.origin = "vjepa2" if kind == "rope" else "vjepa"
    report.notes.append(f"Read as {detected}.")
    _, _, tubelet, patch, _ = target.shape("patch_embed.proj.weight")
    image_size, num_frames, size_note = clip_size(kind, target, overrides, patch, tubelet)
    report.notes += [size_note] if size_note else []

    fields = encoder_config(target, image_size=image_size)
    predictor_width = predictor.shape("predictor_embed.weight", needed_for="predictor.embed.weight")[0]
    hint = "V-JEPA checkpoints do not record the model's name."
    if kind == "sincos":
        fields.update(resolve_heads({"num_attention_heads": fields["hidden_size"]}, None, overrides, hint=hint))
        # The official V-JEPA predictor has as many heads as the encoder (ViT-L: 16 heads at width 384).
        fields["predictor_num_attention_heads"] = fields["num_attention_heads"]
    else:
        widths = {"num_attention_heads": fields["hidden_size"]}
        fields.update(resolve_heads(widths, None, overrides, hint=hint, table=VJEPA2_HEADS_BY_WIDTH))
        predictor_widths = {"predictor_num_attention_heads": predictor_width}
        predictor_hint = "V-JEPA 2's predictor has 12 heads at its released width 384; other widths are not known."
        table = VJEPA2_PREDICTOR_HEADS_BY_WIDTH
        fields.update(resolve_heads(predictor_widths, None, overrides, hint=predictor_hint, table=table))
        if fields["hidden_size"] == 1408 and "num_attention_heads" not in overrides:
            report.notes.append(
                "Width 1408: 22 heads, as V-JEPA 2's released ViT-g (`vit_giant_xformers`); its `vit_giant` has 16 "
                "(give --config '{\"num_attention_heads\": 16}' for such a model)."
            )

    mask_sets, mask_sets_note = mask_sets_for(num_tokens, overrides)
    report.notes += [mask_sets_note] if mask_sets_note else []
    fields.update(
        num_frames=num_frames,
        position_embedding_type=kind,
        predictor_hidden_size=predictor_width,
        predictor_num_hidden_layers=predictor.num_blocks("predictor_blocks."),
        mask_sets=mask_sets,
    )
    model = build_model(VJEPASSLConfig(**{**fields, **overrides}))

    weights = {}
    copy_encoder(weights, model.encoder, "encoder.", target)
    copy_encoder(weights, model.context_encoder, "context_encoder.", context)
    copy_weights(weights, model.predictor, "predictor.", predictor, "", PREDICTOR_NAMES, skip=("mask_tokens",))
    token_shape = (1, 1, model.config.predictor_hidden_size)
    tokens = [
        predictor.take(f"mask_tokens.{i}", token_shape, f"predictor.mask_tokens[{i}]") for i in range(num_tokens)
    ]
    weights["predictor.mask_tokens"] = torch.cat(tokens).flatten(0, 1)  # [num_tokens, D_pred]
    report.notes.append(mask_token_note(kind, num_tokens))
    if kind == "sincos":
        table = model.predictor.position_embeddings
        needed_for = "predictor.position_embeddings"
        check_fixed_table(predictor, "predictor_pos_embed", table, cls_row=False, needed_for=needed_for, kind="3-D")
    else:
        take_unused_tables([target, context, predictor], report)
    report.sources.update(encoder="target_encoder", context_encoder="encoder", predictor="predictor")
    return finish(model, weights, [target, context, predictor], report)


__all__ = ["convert_vjepa"]
