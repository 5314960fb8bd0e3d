"""Official checkpoint converters: the real tiny files in each official format against the official forward pass
restated here with plain torch ops, and synthetic checkpoints built from the documented layouts (every key read, a
missing key, an extra key, a wrong shape, refused pickles, the DINO variants)."""

import argparse
import copy
import json
import os
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard
from transformers import AutoImageProcessor, AutoModel, AutoModelForPreTraining

from hf_jepa import DINOSSLForPreTraining, IJEPASSLForPreTraining, MAESSLForPreTraining
from hf_jepa.cli import main
from hf_jepa.hub.converters import CONVERTERS, ConversionReport, convert, load_checkpoint
from hf_jepa.models.position_embeddings import sincos_2d
from tests.official_forward import assert_close, gather, layer_norm, linear, official_blocks

# Copies of the official layouts and tiny checkpoints (written by the official code at tiny sizes), kept here.
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "official"
LAYOUTS, CHECKPOINTS = REFERENCE / "official_layouts", REFERENCE / "official_checkpoints"

HEADS = 4  # the tiny official models: width 64, 4 heads (not a released width, so the heads are given)
OVERRIDES = {
    "ijepa": {"num_attention_heads": HEADS},
    "mae": {"num_attention_heads": HEADS, "decoder_num_attention_heads": HEADS},
    "dino": {"num_attention_heads": HEADS},
}
# A block of each official part whose keys the error tests remove or reshape, as saved.
SAMPLE_KEY = {
    "ijepa": ("target_encoder", "module.blocks.1.mlp.fc1.weight"),
    "mae": ("model", "decoder_blocks.0.attn.qkv.weight"),
    "dino": ("student", "module.head.mlp.2.weight"),
}


def official_file(method: str) -> Path:
    return CHECKPOINTS / f"{method}_tiny_checkpoint.pth"


def raw_checkpoint(method: str) -> dict:
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(official_file(method), map_location="cpu", weights_only=True)


def layout(method: str) -> dict:
    return json.loads((LAYOUTS / f"{method}.json").read_text())


def random_state(rows: list[dict], generator: torch.Generator, prefix: str = "") -> dict:
    """A state dict with exactly the documented keys and shapes, random values (weight_g at 1, as DINO freezes it)."""
    state = {}
    for row in rows:
        key = prefix + row["key"]
        state[key] = (
            torch.ones(row["shape"])
            if key.endswith("weight_g")
            else 0.2 * torch.randn(row["shape"], generator=generator)
        )
    return state


def synthetic_checkpoint(method: str, seed: int = 0) -> dict:
    """The layout file's state dicts (keys, shapes) with random weights; the fixed sin-cos tables and the entries
    that are not state dicts (optimizer, epoch, args, ...) as in the official tiny file of the same size."""
    spec, real, generator = layout(method), raw_checkpoint(method), torch.Generator().manual_seed(seed)
    checkpoint = {}
    for key in spec["top_level_keys"]:
        if key not in spec["parts"]:
            checkpoint[key] = copy.deepcopy(real[key])
            continue
        rows = spec["parts"][key]["state_dict"]
        checkpoint[key] = random_state(rows, generator)
        for row in rows:
            if row["kind"].startswith("frozen") and "pos_embed" in row["key"]:
                checkpoint[key][row["key"]] = real[key][row["key"]].clone()
    return checkpoint


def run_converter(method: str, checkpoint: dict, overrides: dict | None = None):
    report = ConversionReport(method=method, checkpoint="<memory>")
    model = CONVERTERS[method](checkpoint, OVERRIDES[method] if overrides is None else overrides, report)
    return model, report


# ---------------------------------------------------------------- the official forward pass, restated


def patch_tokens(images, state, prefix=""):
    weight = state[f"{prefix}patch_embed.proj.weight"]
    tokens = F.conv2d(images, weight, state[f"{prefix}patch_embed.proj.bias"], stride=weight.shape[-1])
    return tokens.flatten(2).transpose(1, 2)  # [B, N, D], row-major


def images(batch=2, size=32):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


# ---------------------------------------------------------------- numerical equivalence on the real files


@torch.no_grad()
def test_ijepa_matches_the_official_forward(tmp_path):
    report = convert("ijepa", official_file("ijepa"), tmp_path, OVERRIDES["ijepa"])
    assert report.sources == {"encoder": "target_encoder", "context_encoder": "encoder", "predictor": "predictor"}
    model = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert isinstance(model, IJEPASSLForPreTraining)
    raw = raw_checkpoint("ijepa")  # every key under DDP's `module.`
    target, context, predictor = (
        {k[len("module.") :]: v for k, v in raw[part].items()} for part in report.sources.values()
    )
    x = images()

    # Target encoder on the full image: what the targets (and the published encoder) are.
    official = layer_norm(
        official_blocks(patch_tokens(x, target) + target["pos_embed"], target, "blocks.", HEADS), target, "norm"
    )
    assert_close(model.encoder(x).last_hidden_state, official)

    # Context encoder on kept tokens (positions added before the tokens are dropped), then the predictor.
    context_idx = torch.tensor([[0, 3, 9, 17, 40, 63], [1, 2, 8, 30, 31, 50]])
    target_idx = torch.tensor([[4, 5, 12, 13], [20, 21, 28, 29]])
    tokens = gather(patch_tokens(x, context) + context["pos_embed"], context_idx)
    encoded = layer_norm(official_blocks(tokens, context, "blocks.", heads=HEADS), context, "norm")
    ours = model.context_encoder(x, keep_indices=context_idx).last_hidden_state
    assert_close(ours, encoded)

    positions = predictor["predictor_pos_embed"].expand(2, -1, -1)
    visible = linear(encoded, predictor, "predictor_embed") + gather(positions, context_idx)
    queries = predictor["mask_token"] + gather(positions, target_idx)
    hidden = official_blocks(torch.cat([visible, queries], dim=1), predictor, "predictor_blocks.", HEADS)
    official = linear(
        layer_norm(hidden, predictor, "predictor_norm")[:, visible.shape[1] :], predictor, "predictor_proj"
    )
    assert_close(model.predictor(ours, context_idx, target_idx), official)


@torch.no_grad()
def test_mae_matches_the_official_forward(tmp_path):
    convert("mae", official_file("mae"), tmp_path, OVERRIDES["mae"])
    model = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert isinstance(model, MAESSLForPreTraining)
    state = raw_checkpoint("mae")["model"]
    x, noise = images(), torch.rand(2, 64, generator=torch.Generator().manual_seed(2))

    # Encoder: per-sample argsort of the noise keeps the first 25%, CLS (+ its zero position) prepended after.
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    kept = gather(patch_tokens(x, state) + state["pos_embed"][:, 1:], ids_shuffle[:, :16])
    cls = (state["cls_token"] + state["pos_embed"][:, :1]).expand(2, -1, -1)
    latent = layer_norm(official_blocks(torch.cat([cls, kept], dim=1), state, "blocks.", HEADS), state, "norm")
    keep_idx = model.mask_generator(2, 64, noise=noise).keep_idx
    assert_close(model.encoder(x, keep_indices=keep_idx).last_hidden_state, latent)

    # Decoder: mask tokens appended, unshuffled (CLS kept first), positions added, blocks, norm, pixel head.
    hidden = linear(latent, state, "decoder_embed")
    patches = torch.cat([hidden[:, 1:], state["mask_token"].expand(2, 64 - 16, -1)], dim=1)
    hidden = torch.cat([hidden[:, :1], gather(patches, ids_restore)], dim=1) + state["decoder_pos_embed"]
    hidden = layer_norm(official_blocks(hidden, state, "decoder_blocks.", heads=HEADS), state, "decoder_norm")
    official = linear(hidden, state, "decoder_pred")[:, 1:]
    assert_close(model(x, noise=noise).logits, official)


def official_dino_feature(x, state, prefix, heads=HEADS):
    """CLS output of a DINO ViT: CLS token prepended, then the learned positions (CLS row first) added."""
    cls = state[f"{prefix}cls_token"].expand(x.shape[0], -1, -1)
    tokens = torch.cat([cls, patch_tokens(x, state, prefix)], dim=1) + state[f"{prefix}pos_embed"]
    return layer_norm(official_blocks(tokens, state, f"{prefix}blocks.", heads), state, f"{prefix}norm")[:, 0]


def official_dino_head(feature, state, prefix):
    """DINOHead (3 layers, no batch norm): MLP -> L2 normalisation -> weight-normed linear, g * v / ||v||."""
    hidden = F.gelu(linear(F.gelu(linear(feature, state, f"{prefix}mlp.0")), state, f"{prefix}mlp.2"))
    hidden = F.normalize(linear(hidden, state, f"{prefix}mlp.4"), dim=-1)
    v, g = state[f"{prefix}last_layer.weight_v"], state[f"{prefix}last_layer.weight_g"]
    return F.linear(hidden, g * v / v.norm(dim=1, keepdim=True))


@torch.no_grad()
def test_dino_matches_the_official_forward(tmp_path):
    convert("dino", official_file("dino"), tmp_path, OVERRIDES["dino"])
    model = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert isinstance(model, DINOSSLForPreTraining)
    raw = raw_checkpoint("dino")
    x = images()
    for encoder, head, state, prefix in (
        (model.encoder, model.teacher_head, raw["teacher"], ""),
        (model.student_encoder, model.student_head, raw["student"], "module."),
    ):
        feature = official_dino_feature(x, state, f"{prefix}backbone.")
        ours = encoder(x).pooler_output
        assert_close(ours, feature)
        assert_close(head(ours), official_dino_head(feature, state, f"{prefix}head."))
    assert torch.equal(model.center, raw["dino_loss"]["center"])
    # The published encoder alone (AutoModel) is the teacher.
    teacher_feature = official_dino_feature(x, raw["teacher"], "backbone.")
    assert_close(AutoModel.from_pretrained(tmp_path)(x).pooler_output, teacher_feature)
    # The student's prototype norms were trained (not all 1): norm_last_layer is off.
    assert model.config.head_norm_last_layer is False and model.student_head.last_layer.weight_g.requires_grad


# ---------------------------------------------------------------- layout-faithful synthetic checkpoints


@pytest.mark.parametrize("method", ["ijepa", "mae", "dino"])
def test_every_key_is_read_and_other_entries_are_listed(method):
    checkpoint = synthetic_checkpoint(method)
    spec = layout(method)
    _, report = run_converter(method, checkpoint)
    model_parts = {part: len(spec["parts"][part]["state_dict"]) for part in spec["parts"] if part in checkpoint}
    assert {part: report.consumed[part] for part in model_parts} == model_parts
    used = set(model_parts) | {"args", "dino_loss"}
    assert set(report.ignored) == set(spec["top_level_keys"]) - used


@pytest.mark.parametrize("method", ["ijepa", "mae", "dino"])
def test_missing_key_is_named(method):
    checkpoint = synthetic_checkpoint(method)
    part, key = SAMPLE_KEY[method]
    del checkpoint[part][key]
    with pytest.raises(ValueError, match=rf"`{part}` has no key `{key}`"):
        run_converter(method, checkpoint)


@pytest.mark.parametrize("method", ["ijepa", "mae", "dino"])
def test_extra_key_is_refused(method):
    checkpoint = synthetic_checkpoint(method)
    part, key = SAMPLE_KEY[method]
    extra = key.replace("weight", "scale")
    checkpoint[part][extra] = torch.ones(3)
    with pytest.raises(ValueError, match=rf"`{part}` has 1 key\(s\) .* `{extra}`"):
        run_converter(method, checkpoint)


@pytest.mark.parametrize("method", ["ijepa", "mae", "dino"])
def test_wrong_shape_names_key_and_both_shapes(method):
    checkpoint = synthetic_checkpoint(method)
    part, key = SAMPLE_KEY[method]
    expected = tuple(checkpoint[part][key].shape)
    checkpoint[part][key] = torch.zeros(expected[0] + 1, expected[1])
    found = (expected[0] + 1, expected[1])
    message = rf"`{part}` key `{key}` has shape {re.escape(str(found))}, but .* needs {re.escape(str(expected))}"
    with pytest.raises(ValueError, match=message):
        run_converter(method, checkpoint)


@pytest.mark.parametrize(("method", "part", "key"), [
    ("ijepa", "target_encoder", "module.pos_embed"),
    ("ijepa", "predictor", "module.predictor_pos_embed"),
    ("mae", "model", "decoder_pos_embed"),
])  # fmt: skip
def test_a_fixed_table_that_is_not_ours_is_refused(method, part, key):
    checkpoint = synthetic_checkpoint(method)
    checkpoint[part][key] = checkpoint[part][key].clone()
    checkpoint[part][key][0, 0, 0] += 1e-3  # row 0: MAE's CLS row, which must be zero
    with pytest.raises(ValueError, match=rf"`{key}` is not the fixed 2-D sin-cos table"):
        run_converter(method, checkpoint)


def test_unknown_heads_are_a_clear_error():
    with pytest.raises(ValueError, match=r"args name `mae_vit_large_patch16` \(1024 wide\).*--config") as error:
        run_converter("mae", raw_checkpoint("mae"), overrides={})
    assert "`num_attention_heads` (layers 64 wide), `decoder_num_attention_heads` (layers 32 wide)" in str(error.value)


def test_mae_encoder_only_leaves_the_decoder_at_our_init():
    checkpoint = raw_checkpoint("mae")
    encoder_only = {k: v for k, v in checkpoint["model"].items() if not k.startswith(("decoder_", "mask_token"))}
    model, report = run_converter("mae", {"model": encoder_only}, {"num_attention_heads": HEADS})
    assert report.consumed == {"model": len(encoder_only)} and "decoder" not in report.sources
    assert any("encoder only" in note for note in report.notes)
    decoder = model.decoder
    assert torch.equal(decoder.norm.weight, torch.ones_like(decoder.norm.weight))  # initialised, not garbage
    assert torch.equal(decoder.embed.bias, torch.zeros_like(decoder.embed.bias))
    assert 0 < decoder.embed.weight.std() < 1 and torch.isfinite(decoder.mask_tokens).all()
    torch.testing.assert_close(decoder.position_embeddings, sincos_2d(512, (8, 8)))
    full, _ = run_converter("mae", checkpoint)
    x = images()
    assert_close(model.encoder(x).last_hidden_state, full.encoder(x).last_hidden_state)


def scaled_backbone(width: int, generator: torch.Generator) -> dict:
    """DINO's released backbone-only layout (tiny: width 64, 65 positions) at another width."""
    dims = {64: width, 192: 3 * width, 256: 4 * width}
    rows = [{**row, "shape": [dims.get(s, s) for s in row["shape"]]}
            for row in layout("dino")["parts"]["released_backbone_only_file"]["state_dict"]]  # fmt: skip
    return random_state(rows, generator)


@torch.no_grad()
def test_dino_backbone_only_file_fills_both_networks():
    state = scaled_backbone(192, torch.Generator().manual_seed(3))
    model, report = run_converter("dino", state, overrides={})  # ViT-Ti width: 3 heads from the released table
    assert model.config.num_attention_heads == 3 and model.config.position_embedding_type == "learned"
    assert report.consumed == {"backbone": len(state)} and report.ignored == {}
    x = images()
    feature = official_dino_feature(x, state, "", heads=3)
    assert_close(model.encoder(x).pooler_output, feature)
    assert_close(model.student_encoder(x).pooler_output, feature)
    # No head anywhere: our init for the student, the teacher a copy of it; the center at zero.
    for ours, copied in zip(model.student_head.parameters(), model.teacher_head.parameters()):
        assert torch.equal(ours, copied)
    assert torch.equal(model.student_head.last_layer.weight_g, torch.ones_like(model.student_head.last_layer.weight_g))
    assert not model.center.any()
    assert any("no DINO head" in note for note in report.notes)
    assert any("`student_encoder` is a copy of the backbone" in note for note in report.notes)


def test_dino_batch_norm_head_is_refused():
    checkpoint = synthetic_checkpoint("dino")
    rows = layout("dino")["parts"]["head_variant_use_bn_in_head"]["state_dict"]
    teacher = {k: v for k, v in checkpoint["teacher"].items() if not k.startswith("head.")}
    checkpoint["teacher"] = teacher | random_state(rows, torch.Generator().manual_seed(4), prefix="head.")
    checkpoint.pop("student")
    with pytest.raises(ValueError, match=r"`teacher` uses batch norm .* `head\.mlp\.1\.running_mean`"):
        run_converter("dino", checkpoint)


@torch.no_grad()
def test_dino_one_layer_head():
    checkpoint = synthetic_checkpoint("dino")
    rows = layout("dino")["parts"]["head_variant_nlayers_1"]["state_dict"]
    for network, prefix in (("teacher", ""), ("student", "module.")):
        state = {k: v for k, v in checkpoint[network].items() if not k.startswith(f"{prefix}head.")}
        checkpoint[network] = state | random_state(rows, torch.Generator().manual_seed(5), prefix=f"{prefix}head.")
    model, report = run_converter("dino", checkpoint)
    assert model.config.head_num_layers == 1 and report.consumed["teacher"] == len(checkpoint["teacher"])
    teacher = checkpoint["teacher"]
    feature = torch.randn(3, 64, generator=torch.Generator().manual_seed(6))
    hidden = F.normalize(linear(feature, teacher, "head.mlp"), dim=-1)
    v = teacher["head.last_layer.weight_v"]
    assert_close(model.teacher_head(feature), F.linear(hidden, v / v.norm(dim=1, keepdim=True)))


# ---------------------------------------------------------------- loading safely


class Payload:
    """Unpickling this would run `os.makedirs(marker)`: weights-only loading must refuse it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


class Custom:
    pass


@pytest.mark.parametrize("payload", ["code", "class"])
def test_pickles_that_need_more_than_tensors_are_refused(tmp_path, payload):
    marker = tmp_path / "code_ran"
    checkpoint = raw_checkpoint("mae")
    checkpoint["extra"] = Payload(str(marker)) if payload == "code" else Custom()
    torch.save(checkpoint, tmp_path / "evil.pth")
    blocked = "os.makedirs" if payload == "code" else "Custom"
    with pytest.raises(ValueError, match=rf"refusing checkpoint .*needs `[\w.]*{blocked}`.*never does"):
        load_checkpoint(tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="refusing"):
        convert("mae", tmp_path / "evil.pth", tmp_path / "out", OVERRIDES["mae"])
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_argparse_namespace_is_the_only_extra_class():
    checkpoint = load_checkpoint(official_file("dino"))
    assert isinstance(checkpoint["args"], argparse.Namespace) and checkpoint["args"].arch == "vit_small"


# ---------------------------------------------------------------- the command line


def test_cli_writes_a_hub_ready_folder(tmp_path, capsys):
    config = tmp_path / "heads.json"
    config.write_text(json.dumps(OVERRIDES["mae"]))
    out = tmp_path / "mae"
    assert (
        main(
            ["convert", "--from", "mae", str(official_file("mae")), "--output_dir", str(out), "--config", str(config)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "read all 62 keys of `model`" in printed and "optimizer" in printed
    assert isinstance(AutoModelForPreTraining.from_pretrained(out), MAESSLForPreTraining)
    assert AutoImageProcessor.from_pretrained(out).size == {"height": 32, "width": 32}
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "cc-by-nc-4.0" and card.data.library_name == "hf_jepa"
    assert ModelCard(str(card)).data.to_dict() == card.data.to_dict()  # what huggingface_hub parses back
    assert "## Source of the weights" in card.text and "mae_tiny_checkpoint.pth" in card.text
    assert card.text.index("## Source of the weights") < card.text.index("## The method")
    assert "converted to hf_jepa" in card.text and "pretrained with hf_jepa" not in card.text


def test_cli_errors(tmp_path, capsys):
    args = [str(official_file("ijepa")), "--output_dir", str(tmp_path / "out")]
    assert main(["convert", "--from", "vjepa", *args]) == 1  # an I-JEPA file: 2-D patches, not a V-JEPA video model
    assert "the Conv2d of an image V-JEPA model" in capsys.readouterr().err
    assert main(["convert", "--from", "ijepa", *args, "--config", '{"heads": 4}']) == 1
    assert "IJEPASSLConfig has no field 'heads'" in capsys.readouterr().err
    assert main(["convert", "--from", "ijepa", *args]) == 1
    assert "Give it with --config" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
