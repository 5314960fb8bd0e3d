"""`--from vjepa`: the real tiny V-JEPA and V-JEPA 2 files against their official forward passes restated here with
plain torch ops (Conv3d tubelets, 3-D sin-cos tables or V-JEPA 2's rotary q/k, SDPA, the predictor with its mask
tokens), V-JEPA 1 / 2 detection, every key read, missing / extra / misshapen keys, and the refused variants."""

import copy
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard
from transformers import AutoModelForPreTraining, AutoVideoProcessor
from transformers.models.vjepa2.modeling_vjepa2 import rotate_queries_or_keys

from hf_jepa import VJEPASSLForPreTraining
from hf_jepa.cli import main
from hf_jepa.hub.converters import CONVERTERS, ConversionReport, convert
from hf_jepa.models.position_embeddings import sincos_1d, sincos_3d
from tests.official_forward import assert_close, gather, layer_norm, linear, official_blocks

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "official"
LAYOUTS, CHECKPOINTS = REFERENCE / "official_layouts", REFERENCE / "official_checkpoints"
LAYOUT_FILE = {"vjepa": "jepa.json", "vjepa2": "vjepa2.json"}
PREFIX = "module.backbone."
# The tiny official models: width 64 with 4 heads; V-JEPA's predictor has the encoder's heads, V-JEPA 2's is 48 wide
# with 3. Not released widths, so the heads are given.
OVERRIDES = {
    "vjepa": {"num_attention_heads": 4},
    "vjepa2": {"num_attention_heads": 4, "predictor_num_attention_heads": 3},
}
GRID = (2, 4, 4)  # 4-frame 32 px clips in 2x8x8 tubelets
NUM_TOKENS = 32


def official_file(variant: str) -> Path:
    return CHECKPOINTS / f"{variant}_tiny_checkpoint.pth"


def raw_checkpoint(variant: str) -> dict:
    return torch.load(official_file(variant), map_location="cpu", weights_only=True)


def layout(variant: str) -> dict:
    return json.loads((LAYOUTS / LAYOUT_FILE[variant]).read_text())


def unwrapped(state: dict) -> dict:
    return {key.removeprefix(PREFIX): value for key, value in state.items()}


def run_converter(checkpoint: dict, overrides: dict):
    report = ConversionReport(method="vjepa", checkpoint="<memory>")
    return CONVERTERS["vjepa"](checkpoint, overrides, report), report


def clip(batch=2):
    """[B, T, C, H, W], as our models take it; the official code takes [B, C, T, H, W]."""
    return torch.randn(batch, 4, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def split_masks(seed: int, num_context: int, batch=2):
    """A context / target split of the 32 tokens per sample (context = complement of target, as V-JEPA's masks)."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(NUM_TOKENS, generator=generator) for _ in range(batch)])
    return order[:, :num_context].sort(dim=1).values, order[:, num_context:].sort(dim=1).values


# ---------------------------------------------------------------- the official forward passes, restated


def tubelets(video, state):
    """video [B, C, T, H, W] -> Conv3d over (tubelet, patch, patch) -> tokens in t, h, w raster order."""
    weight = state["patch_embed.proj.weight"]
    tokens = F.conv3d(video, weight, state["patch_embed.proj.bias"], stride=weight.shape[2:])
    return tokens.flatten(2).transpose(1, 2)


def rotary(x, token_ids):
    """V-JEPA 2's RoPE on q or k [B, heads, L, hd]: per head [frame | row | column | rest], each rotated block
    2 * ((hd // 3) // 2) wide, positions from the token ids of the GRID."""
    width = 2 * ((x.shape[-1] // 3) // 2)
    per_frame = GRID[1] * GRID[2]
    positions = (token_ids // per_frame, (token_ids % per_frame) // GRID[2], token_ids % GRID[2])
    parts = [rotate_queries_or_keys(x[..., i * width : (i + 1) * width], pos[:, None].float())
             for i, pos in enumerate(positions)]  # fmt: skip
    return torch.cat(parts + [x[..., 3 * width :]], dim=-1)


def vjepa_encoder(video, state, keep=None):
    """V-JEPA: tubelets + the fixed table, kept tokens gathered, blocks, final norm."""
    tokens = tubelets(video, state) + state["pos_embed"]
    tokens = tokens if keep is None else gather(tokens, keep)
    return layer_norm(official_blocks(tokens, state, "blocks.", heads=4), state, "norm")


def vjepa_predictor(context, context_idx, target_idx, state, mask_index):
    """V-JEPA: embedded context + its positions, then mask_tokens[mask_index] + positions at the targets."""
    positions = state["predictor_pos_embed"].expand(context.shape[0], -1, -1)
    visible = linear(context, state, "predictor_embed") + gather(positions, context_idx)
    queries = state[f"mask_tokens.{mask_index}"] + gather(positions, target_idx)
    hidden = official_blocks(torch.cat([visible, queries], dim=1), state, "predictor_blocks.", heads=4)
    hidden = layer_norm(hidden, state, "predictor_norm")[:, visible.shape[1] :]
    return linear(hidden, state, "predictor_proj")


def vjepa2_encoder(video, state, keep=None):
    """V-JEPA 2: tubelets, kept tokens gathered (RoPE gets their ids), rotary blocks, final norm."""
    tokens = tubelets(video, state)
    ids = torch.arange(NUM_TOKENS).expand(tokens.shape[0], -1) if keep is None else keep
    tokens = tokens if keep is None else gather(tokens, keep)
    return layer_norm(
        official_blocks(tokens, state, "blocks.", heads=4, rotate=lambda t: rotary(t, ids)), state, "norm"
    )


def vjepa2_predictor(context, context_idx, target_idx, state, mask_index):
    """V-JEPA 2: [context, mask tokens] sorted by token id before the rotary blocks, unsorted after the norm."""
    visible = linear(context, state, "predictor_embed")
    queries = state[f"mask_tokens.{mask_index}"].expand(*target_idx.shape, -1)
    hidden, ids = torch.cat([visible, queries], dim=1), torch.cat([context_idx, target_idx], dim=1)
    order = ids.argsort(dim=1)
    sorted_ids = ids.gather(1, order)
    hidden = official_blocks(
        gather(hidden, order), state, "predictor_blocks.", heads=3, rotate=lambda t: rotary(t, sorted_ids)
    )
    hidden = gather(layer_norm(hidden, state, "predictor_norm"), order.argsort(dim=1))[:, visible.shape[1] :]
    return linear(hidden, state, "predictor_proj")


# ---------------------------------------------------------------- numerical equivalence on the real files


@torch.no_grad()
def test_vjepa_matches_the_official_forward(tmp_path):
    report = convert("vjepa", official_file("vjepa"), tmp_path, OVERRIDES["vjepa"])
    assert report.sources == {"encoder": "target_encoder", "context_encoder": "encoder", "predictor": "predictor"}
    model = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert isinstance(model, VJEPASSLForPreTraining)
    config = model.config
    assert config.position_embedding_type == "sincos" and config.predictor_num_attention_heads == 4
    # The table's 32 rows could be 2x4x4, 8x2x2 or 32x1x1 tokens: its values say 2x4x4 (4 frames of 32 px).
    assert (config.num_frames, config.image_size, config.tubelet_size, config.patch_size) == (4, 32, 2, 8)
    raw = raw_checkpoint("vjepa")
    target, context, predictor = (unwrapped(raw[part]) for part in ("target_encoder", "encoder", "predictor"))
    video, x = clip().transpose(1, 2), clip()

    full = vjepa_encoder(video, target)
    assert_close(model.encoder(x).last_hidden_state, full)

    # The training objective: per mask pair i the context encoder, then the predictor with mask_tokens.i; L1 to the
    # layer-normed target features, averaged over the pairs.
    masks = [split_masks(2, 20), split_masks(3, 9)]
    losses = []
    for index, (context_idx, target_idx) in enumerate(masks):
        encoded = vjepa_encoder(video, context, keep=context_idx)
        assert_close(model.context_encoder(x, keep_indices=context_idx).last_hidden_state, encoded)
        predicted = vjepa_predictor(encoded, context_idx, target_idx, predictor, mask_index=index)
        assert_close(model.predictor(encoded, context_idx, target_idx, mask_token_index=index), predicted)
        targets = gather(F.layer_norm(full, full.shape[-1:]), target_idx)
        losses.append((predicted - targets).abs().mean())
    out = model(x, masks=masks)
    assert_close(out.loss, torch.stack(losses).mean())

    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.license == "cc-by-nc-4.0" and "facebookresearch/jepa" in card.text


@torch.no_grad()
def test_vjepa2_matches_the_official_forward():
    model, report = run_converter(raw_checkpoint("vjepa2"), OVERRIDES["vjepa2"])
    assert model.config.position_embedding_type == "rope" and report.origin == "vjepa2"
    assert len(model.config.mask_sets) == 4  # one per official mask token
    raw = raw_checkpoint("vjepa2")
    target, context, predictor = (unwrapped(raw[part]) for part in ("target_encoder", "encoder", "predictor"))
    video, x = clip().transpose(1, 2), clip()

    assert_close(model.encoder(x).last_hidden_state, vjepa2_encoder(video, target))
    context_idx, target_idx = split_masks(4, 13)
    encoded = vjepa2_encoder(video, context, keep=context_idx)
    assert_close(model.context_encoder(x, keep_indices=context_idx).last_hidden_state, encoded)
    # Official mask_index s (a clip-length sequence) is our mask_token_index s: the tokens are mapped in order.
    for index in (0, 3):
        predicted = vjepa2_predictor(encoded, context_idx, target_idx, predictor, mask_index=index)
        ours = model.predictor(encoded, context_idx, target_idx, mask_token_index=index, grid_size=GRID)
        assert_close(ours, predicted)
    # The full model takes the token grid from the clip (its config's 256 px / 16 frames are the recipe's default).
    masks = [split_masks(5, 7), split_masks(6, 20), split_masks(7, 9), (context_idx, target_idx)]
    out = model(x, masks=masks)
    assert_close(out.predictions[3], vjepa2_predictor(encoded, context_idx, target_idx, predictor, mask_index=3))


# ---------------------------------------------------------------- every key, and clear errors


@pytest.mark.parametrize("variant", ["vjepa", "vjepa2"])
def test_every_key_is_read_and_other_entries_are_listed(variant):
    spec = layout(variant)
    _, report = run_converter(raw_checkpoint(variant), OVERRIDES[variant])
    parts = ("encoder", "predictor", "target_encoder")
    assert report.consumed == {part: len(spec["parts"][part]["state_dict"]) for part in parts}
    assert report.prefixes == dict.fromkeys(parts, PREFIX)
    assert set(report.ignored) == set(spec["top_level_keys"]) - set(parts)


SAMPLE_KEYS = [
    ("vjepa", "target_encoder", "blocks.1.mlp.fc1.weight"),
    ("vjepa", "predictor", "predictor_blocks.0.attn.qkv.weight"),
    ("vjepa2", "encoder", "blocks.0.attn.qkv.weight"),
    ("vjepa2", "predictor", "predictor_proj.weight"),
]


@pytest.mark.parametrize(("variant", "part", "key"), SAMPLE_KEYS)
def test_missing_key_is_named(variant, part, key):
    checkpoint = raw_checkpoint(variant)
    del checkpoint[part][PREFIX + key]
    with pytest.raises(ValueError, match=rf"`{part}` has no key `{re.escape(PREFIX + key)}`"):
        run_converter(checkpoint, OVERRIDES[variant])


def test_a_missing_mask_token_is_named():
    checkpoint = raw_checkpoint("vjepa2")
    del checkpoint["predictor"][PREFIX + "mask_tokens.1"]  # tokens 0, 2, 3 left
    with pytest.raises(ValueError, match=r"`predictor` has no key `module\.backbone\.mask_tokens\.1`"):
        run_converter(checkpoint, OVERRIDES["vjepa2"])


@pytest.mark.parametrize(("variant", "part", "key"), SAMPLE_KEYS)
def test_extra_key_is_refused(variant, part, key):
    checkpoint = raw_checkpoint(variant)
    extra = PREFIX + key.replace("weight", "scale")
    checkpoint[part][extra] = torch.ones(3)
    with pytest.raises(ValueError, match=rf"`{part}` has 1 key\(s\) .* `{re.escape(extra)}`"):
        run_converter(checkpoint, OVERRIDES[variant])


@pytest.mark.parametrize(("variant", "part", "key"), [*SAMPLE_KEYS, ("vjepa2", "predictor", "mask_tokens.2")])
def test_wrong_shape_names_key_and_both_shapes(variant, part, key):
    checkpoint = raw_checkpoint(variant)
    expected = tuple(checkpoint[part][PREFIX + key].shape)
    found = (*expected[:-1], expected[-1] + 1)
    checkpoint[part][PREFIX + key] = torch.zeros(found)
    message = (
        rf"`{part}` key `{re.escape(PREFIX + key)}` has shape {re.escape(str(found))}, but .* needs "
        + re.escape(str(expected))
    )
    with pytest.raises(ValueError, match=message):
        run_converter(checkpoint, OVERRIDES[variant])


@pytest.mark.parametrize(("part", "key"), [
    ("target_encoder", "pos_embed"), ("encoder", "pos_embed"), ("predictor", "predictor_pos_embed"),
])  # fmt: skip
def test_a_sincos_table_that_is_not_ours_is_refused(part, key):
    checkpoint = raw_checkpoint("vjepa")
    checkpoint[part][PREFIX + key][0, 5, 3] += 1e-3
    with pytest.raises(ValueError, match=rf"`{PREFIX}{key}` is not the fixed 3-D sin-cos table hf_jepa computes"):
        run_converter(checkpoint, OVERRIDES["vjepa"])


def test_unknown_heads_are_a_clear_error():
    with pytest.raises(ValueError, match=r"`num_attention_heads` \(layers 64 wide\).*--config"):
        run_converter(raw_checkpoint("vjepa"), {})
    with pytest.raises(ValueError, match=r"`predictor_num_attention_heads` \(layers 48 wide\).*12 heads at"):
        run_converter(raw_checkpoint("vjepa2"), {"num_attention_heads": 4})


def scaled(state: dict, dims: dict[int, int]) -> dict:
    """The same keys with every dimension in `dims` resized (random weights)."""
    generator = torch.Generator().manual_seed(7)
    return {key: 0.02 * torch.randn([dims.get(s, s) for s in value.shape], generator=generator)
            for key, value in state.items()}  # fmt: skip


def test_vjepa2_heads_come_from_the_released_widths():
    """Encoder 384 wide (ViT-S: 6 heads), predictor 384 wide (V-JEPA 2's: 12 heads), nothing given."""
    checkpoint = raw_checkpoint("vjepa2")
    for part in ("encoder", "target_encoder"):
        checkpoint[part] = scaled(checkpoint[part], {64: 384, 192: 1152, 256: 1536})
    checkpoint["predictor"] = scaled(checkpoint["predictor"], {64: 384, 48: 384, 144: 1152, 192: 1536})
    model, _ = run_converter(checkpoint, {"image_size": 32, "num_frames": 4})
    config = model.config
    assert (config.num_attention_heads, config.predictor_num_attention_heads) == (6, 12)
    assert (config.hidden_size, config.predictor_hidden_size, config.image_size) == (384, 384, 32)


# ---------------------------------------------------------------- telling V-JEPA from V-JEPA 2


def test_released_vjepa2_tables_are_read_and_ignored():
    """V-JEPA 2's released files carry unused tables: with only the encoders' (not V-JEPA's layout) they are ignored
    by themselves; with all of them and 4 mask tokens the converter asks, and --config decides."""
    clean, _ = run_converter(raw_checkpoint("vjepa2"), OVERRIDES["vjepa2"])
    checkpoint = raw_checkpoint("vjepa2")
    for part in ("encoder", "target_encoder"):
        checkpoint[part][PREFIX + "pos_embed"] = torch.randn(1, NUM_TOKENS, 64)
    model, report = run_converter(copy.deepcopy(checkpoint), OVERRIDES["vjepa2"])
    assert model.config.position_embedding_type == "rope" and report.consumed["target_encoder"] == 29
    assert sum("`module.backbone.pos_embed` ignored" in note for note in report.notes) == 2
    x = clip()
    assert torch.equal(model.encoder(x).last_hidden_state, clean.encoder(x).last_hidden_state)

    checkpoint["predictor"][PREFIX + "predictor_pos_embed"] = torch.randn(1, NUM_TOKENS, 48)
    with pytest.raises(ValueError, match=r"cannot tell V-JEPA from V-JEPA 2: .* 4 mask tokens"):
        run_converter(checkpoint, OVERRIDES["vjepa2"])
    model, report = run_converter(checkpoint, {**OVERRIDES["vjepa2"], "position_embedding_type": "rope"})
    assert report.consumed["predictor"] == 35 and "as --config says" in report.notes[0]


def test_vjepa_with_more_mask_tokens_needs_config():
    checkpoint = raw_checkpoint("vjepa")
    for index in (2, 3):
        checkpoint["predictor"][f"{PREFIX}mask_tokens.{index}"] = torch.full((1, 1, 32), float(index))
    with pytest.raises(ValueError, match=r"cannot tell V-JEPA from V-JEPA 2"):
        run_converter(copy.deepcopy(checkpoint), OVERRIDES["vjepa"])
    model, report = run_converter(checkpoint, {**OVERRIDES["vjepa"], "position_embedding_type": "sincos"})
    assert len(model.config.mask_sets) == 4 and torch.equal(model.predictor.mask_tokens[3], torch.full((32,), 3.0))
    assert model.config.mask_sets[2] == model.config.mask_sets[0]  # V-JEPA's two sets, repeated
    assert any("repeated to 4" in note for note in report.notes)
    with pytest.raises(ValueError, match=r"`--config` mask_sets has 2 entries, but .* 4 mask tokens"):
        run_converter(checkpoint, {**OVERRIDES["vjepa"], "position_embedding_type": "sincos",
                                   "mask_sets": model.config.mask_sets[:2]})  # fmt: skip
    with pytest.raises(ValueError, match=r'position_embedding_type must be "sincos" .* got \'learned\''):
        run_converter(checkpoint, {**OVERRIDES["vjepa"], "position_embedding_type": "learned"})


# ---------------------------------------------------------------- refused variants


def with_rows(rows: list[dict], prefix: str) -> dict:
    generator = torch.Generator().manual_seed(8)
    return {prefix + row["key"]: torch.randn(row["shape"], generator=generator) for row in rows}


def test_action_conditioned_predictor_is_refused():
    checkpoint = raw_checkpoint("vjepa2")
    checkpoint["predictor"] = with_rows(layout("vjepa2")["parts"]["ac_predictor"]["state_dict"], "")
    with pytest.raises(ValueError, match=r"`module\.action_encoder\.weight` belongs to V-JEPA 2's action-conditioned"):
        run_converter(checkpoint, OVERRIDES["vjepa2"])


def test_swiglu_blocks_are_refused():
    checkpoint = raw_checkpoint("vjepa2")
    state = {k: v for k, v in checkpoint["target_encoder"].items() if ".mlp." not in k or "blocks.0." not in k}
    rows = layout("vjepa2")["parts"]["block_variant_use_silu (SwiGLU)"]["state_dict"]
    checkpoint["target_encoder"] = state | with_rows(rows, PREFIX)
    with pytest.raises(ValueError, match=r"`module\.backbone\.blocks\.0\.mlp\.fc3\.(weight|bias)` .* SwiGLU"):
        run_converter(checkpoint, OVERRIDES["vjepa2"])


def test_image_model_is_refused():
    checkpoint = raw_checkpoint("vjepa")
    rows = layout("vjepa")["parts"]["image_encoder_variant_num_frames_1"]["state_dict"]
    checkpoint["target_encoder"] = with_rows(rows, PREFIX)
    with pytest.raises(ValueError, match=r"shape \(64, 3, 8, 8\), the Conv2d of an image V-JEPA model"):
        run_converter(checkpoint, OVERRIDES["vjepa"])


def test_vjepa2_absolute_positions_without_uniform_power_are_refused():
    """V-JEPA 2's `use_rope=False` variant saves V-JEPA's keys; with its code's default `uniform_power=False` the
    table (time D/2, rows D/4, columns D/4) is not the one hf_jepa reproduces."""
    checkpoint = raw_checkpoint("vjepa")
    t, h, w = (axis.flatten() for axis in torch.meshgrid(*(torch.arange(n) for n in GRID), indexing="ij"))
    table = torch.cat([sincos_1d(32, t), sincos_1d(16, h), sincos_1d(16, w)], dim=1)
    assert not torch.allclose(table.float(), sincos_3d(64, GRID), atol=1e-3)
    for part in ("encoder", "target_encoder"):
        checkpoint[part][PREFIX + "pos_embed"] = table[None].float()
    with pytest.raises(ValueError, match=r"not the fixed 3-D sin-cos table .* without uniform power"):
        run_converter(checkpoint, OVERRIDES["vjepa"])


# ---------------------------------------------------------------- the command line


def test_cli_writes_a_hub_ready_folder(tmp_path, capsys):
    out = tmp_path / "vjepa2"
    config = json.dumps({**OVERRIDES["vjepa2"], "image_size": 32, "num_frames": 4})
    argv = ["convert", "--from", "vjepa", str(official_file("vjepa2")), "--output_dir", str(out), "--config", config]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "read all 34 keys of `predictor`" in printed and "V-JEPA 2 (rotary positions)" in printed
    assert "4 frames in tubelets of 2" in printed
    model = AutoModelForPreTraining.from_pretrained(out)
    assert isinstance(model, VJEPASSLForPreTraining) and model.config.num_frames == 4
    assert AutoVideoProcessor.from_pretrained(out).size == {"height": 32, "width": 32}
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "mit" and card.data.library_name == "hf_jepa"
    assert ModelCard(str(card)).data.to_dict() == card.data.to_dict()
    assert "facebookresearch/vjepa2" in card.text and "vjepa2_tiny_checkpoint.pth" in card.text
    assert "clip-length sequence" in card.text  # the mask-token mapping is explained where the weights are used
