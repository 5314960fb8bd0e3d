"""`hf-jepa convert --from lewm`: a tiny checkpoint written by the official LeWorldModel code (tests/fixtures/
lewm_official, with the official forward's outputs on seeded inputs) against our converted model, the other names the
official code saves under (transformers 5, Lightning), and the refusals."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoImageProcessor, AutoModel, AutoModelForPreTraining

from hf_jepa import LeWMForPreTraining, LeWMModel
from hf_jepa.cli import main
from hf_jepa.hub.converters import CONVERTERS, ConversionReport, convert
from tests.official_forward import assert_close

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "lewm_official"
WEIGHTS = FIXTURE / "weights.pt"
OFFICIAL_IJEPA = Path(__file__).resolve().parent / "fixtures" / "official" / "official_checkpoints"


def official_state() -> dict:
    return torch.load(WEIGHTS, map_location="cpu", weights_only=True)


def reference() -> dict:
    return torch.load(FIXTURE / "reference_outputs.pt", map_location="cpu", weights_only=True)


def official_config() -> dict:
    return json.loads((FIXTURE / "config.json").read_text())


def write(folder: Path, checkpoint: dict, config: dict | None = None, name: str = "weights.pt") -> Path:
    """A checkpoint file (and, when given, the config.json beside it) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, folder / name)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder / name


def run_converter(checkpoint: dict, path: Path = WEIGHTS, overrides: dict | None = None):
    """The converter on a checkpoint dict, reading config.json beside `path` as `convert` would (nothing written)."""
    report = ConversionReport(method="lewm", checkpoint=str(path))
    return CONVERTERS["lewm"](checkpoint, overrides or {}, report), report


# ---------------------------------------------------------------- numerical equivalence on the official file


@torch.no_grad()
def test_lewm_matches_the_official_forward(tmp_path):
    report = convert("lewm", WEIGHTS, tmp_path)
    assert report.consumed == {"state_dict": len(official_state())} == {"state_dict": 91}
    assert not report.ignored and not report.prefixes
    assert set(report.sources) == {"encoder", "projector", "action_encoder", "predictor", "prediction_projector"}
    model = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert isinstance(model, LeWMForPreTraining)
    config = model.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (16, 2, 2)
    assert (config.predictor_num_attention_heads, config.predictor_head_size, config.history_size) == (2, 10, 3)
    assert (config.frameskip, config.action_dim, config.action_smoothed_size, config.action_mlp_ratio) == (5, 2, 6, 3)
    assert config.position_embedding_type == "learned" and config.layer_norm_eps == 1e-12
    assert config.predictor_dropout == 0.1
    ref = reference()

    # The frame encoder: the CLS token of transformers' ViT, then the BatchNorm projector.
    frames = ref["pixels"]  # [2, 4, 3, 14, 14]
    assert_close(model.encoder(frames.flatten(0, 1)).pooler_output, ref["cls"])
    embeddings = model.encode(frames)
    assert_close(embeddings, ref["embeddings"])
    # Another resolution: the official encoder always interpolates its (learned) position table.
    large = model.encoder(ref["large_pixels"].flatten(0, 1), interpolate_pos_encoding=True).pooler_output
    assert_close(model.projector(large), ref["large_embeddings"].flatten(0, 1))

    # Actions, then the causal AdaLN-zero predictor and the prediction projector on the first 3 steps.
    assert_close(model.action_encoder(ref["actions"]), ref["action_embeddings"])
    assert_close(model.predict(embeddings[:, :3], ref["actions"][:, :3]), ref["predictions"])

    # The autoregressive rollout of planning: 2 context frames, 3 candidate sequences of 5 actions, 4 predictions
    # (the last ones from a window of the last history_size = 3 steps).
    context = model.encode(ref["rollout_pixels"][:, 0])  # [B, 2, D]
    batch, candidates = ref["rollout_actions"].shape[:2]
    context = context.unsqueeze(1).expand(batch, candidates, -1, -1).flatten(0, 1)
    predicted = model.rollout(context, ref["rollout_actions"].flatten(0, 1))
    official = ref["rollout_embeddings"].flatten(0, 1)  # the 2 context embeddings, then the 4 predictions
    assert predicted.shape == (6, 4, 12)
    assert_close(predicted, official[:, 2:])


def test_every_official_tensor_is_in_the_converted_model():
    """Each saved tensor is found in ours: as it is, fused (q, k, v), squeezed (the kernel-1 Conv1d), or split (the
    position table's CLS row added to the CLS token); the BatchNorm statistics included."""
    model, _ = run_converter(official_state())
    ours = model.state_dict()
    state = official_state()
    table = state["encoder.embeddings.position_embeddings"]
    for key, tensor in state.items():
        if key.startswith("encoder.encoder.layer.") and ".attention.attention." in key:
            assert any(torch.equal(tensor, block) for block in ours[key_qkv(key)].split(tensor.shape[0])), key
        elif key == "encoder.embeddings.position_embeddings":
            assert torch.equal(ours["encoder.embeddings.position_embeddings"], tensor[0, 1:])
        elif key == "encoder.embeddings.cls_token":
            assert torch.equal(ours["encoder.embeddings.cls_token"], tensor + table[:, :1])
        elif key == "action_encoder.patch_embed.weight":
            assert torch.equal(ours["action_encoder.smooth.weight"], tensor[..., 0])
        else:
            assert any(value.shape == tensor.shape and torch.equal(value, tensor) for value in ours.values()), key
    assert ours["projector.1.num_batches_tracked"].item() == 17 == state["projector.net.1.num_batches_tracked"]


def key_qkv(key: str) -> str:
    layer, param = key.split(".")[3], key.split(".")[-1]
    return f"encoder.layers.{layer}.attn.qkv.{param}"


# ---------------------------------------------------------------- the other ways the official code saves


def test_transformers_5_names_convert_to_the_same_model(tmp_path):
    """The same model saved under transformers 5 (its ViT renamed): keys as the official code under 5.24 names them."""
    saved_key_of = json.loads((FIXTURE / "transformers5_keys.json").read_text())["saved_key_of"]
    state = official_state()
    renamed = {new: state[old] for new, old in saved_key_of.items()}
    renamed.update({k: v for k, v in state.items() if not k.startswith("encoder.")})
    assert len(renamed) == len(state) and "encoder.layers.0.attention.q_proj.weight" in renamed
    path = write(tmp_path, renamed, official_config())
    model, report = run_converter(torch.load(path, weights_only=True), path)
    reference_model, _ = run_converter(state)
    assert "transformers 5.x" in report.notes[0] and report.consumed == {"state_dict": 91}
    for key, value in reference_model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_lightning_checkpoint_reads_the_model_and_drops_sigreg(tmp_path):
    knots = torch.linspace(0, 3, 17)
    lightning = {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.6.0",
        "optimizer_states": [{"state": {}, "param_groups": []}],
        "state_dict": {
            **{f"model.{k}": v for k, v in official_state().items()},
            "sigreg.t": knots,
            "sigreg.phi": torch.exp(-knots.square() / 2),
            "sigreg.weights": torch.ones(17),
        },
    }
    path = write(tmp_path, lightning, official_config(), name="lewm_weights.ckpt")
    model, report = run_converter(torch.load(path, weights_only=True), path)
    reference_model, _ = run_converter(official_state())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference_model.state_dict().items())
    assert set(report.ignored) == {"epoch", "global_step", "pytorch-lightning_version", "optimizer_states"}
    assert report.prefixes == {"state_dict": "model."} and report.consumed == {"state_dict": 91}
    assert any("sigreg.t" in note and "dropped" in note for note in report.notes)

    lightning["state_dict"]["callbacks_modules.probe.weight"] = torch.zeros(2)
    with pytest.raises(ValueError, match=r"outside the world model .*callbacks_modules\.probe\.weight"):
        run_converter(lightning, path)
    del lightning["state_dict"]["callbacks_modules.probe.weight"]
    lightning["state_dict"]["model.predictor.transformer.layers.0.attn.to_qkv.weight"] = torch.zeros(60, 13)
    with pytest.raises(ValueError, match=r"`model\.predictor\.transformer\.layers\.0\.attn\.to_qkv\.weight`"):
        run_converter(lightning, path)


def test_without_config_json_heads_come_from_config_or_the_released_model(tmp_path):
    path = write(tmp_path, official_state())  # no config.json beside it
    with pytest.raises(ValueError, match=r"`num_attention_heads` \(layers 16 wide\).*--config"):
        run_converter(official_state(), path)
    with pytest.raises(ValueError, match=r"q, k, v are 20 wide.*predictor_num_attention_heads"):
        run_converter(official_state(), path, {"num_attention_heads": 2})
    overrides = {"num_attention_heads": 2, "predictor_num_attention_heads": 2, "frameskip": 2}
    model, report = run_converter(official_state(), path, overrides)
    assert (model.config.predictor_head_size, model.config.action_dim) == (10, 5)
    assert model.config.predictor_dropout == 0.1  # the released models', said in the notes
    assert any("No config.json" in note for note in report.notes)
    assert any("`predictor_dropout` 0.1" in note for note in report.notes)


def test_released_predictor_width_gives_sixteen_heads_of_sixty_four(tmp_path):
    """Without config.json, q, k, v 1024 wide are the released 16 x 64 (every released model)."""
    state = official_state()
    generator = torch.Generator().manual_seed(0)
    for i in range(2):
        state[f"predictor.transformer.layers.{i}.attn.to_qkv.weight"] = torch.randn(3 * 1024, 12, generator=generator)
        state[f"predictor.transformer.layers.{i}.attn.to_out.0.weight"] = torch.randn(12, 1024, generator=generator)
    path = write(tmp_path, state)
    model, report = run_converter(state, path, {"num_attention_heads": 2})
    assert (model.config.predictor_num_attention_heads, model.config.predictor_head_size) == (16, 64)
    assert any("16 heads of 64" in note for note in report.notes)


@torch.no_grad()
def test_one_head_as_wide_as_the_embedding_has_no_output_projection(tmp_path):
    """The official attention drops `to_out` for one head of the embedding's width: ours gets the identity."""
    state = {k: v for k, v in official_state().items() if ".attn.to_out." not in k}
    generator = torch.Generator().manual_seed(0)
    for i in range(2):
        state[f"predictor.transformer.layers.{i}.attn.to_qkv.weight"] = torch.randn(36, 12, generator=generator)
    config = official_config()
    config["predictor"].update(heads=1, dim_head=12)
    path = write(tmp_path, state, config)
    model, report = run_converter(state, path)
    assert torch.equal(model.predictor.layers[0].attn.proj.weight, torch.eye(12))
    assert not model.predictor.layers[1].attn.proj.bias.any()
    assert any("identity" in note for note in report.notes) and report.consumed == {"state_dict": len(state)}


# ---------------------------------------------------------------- refusals


def test_checkpoint_of_another_method_is_refused():
    ijepa = torch.load(OFFICIAL_IJEPA / "ijepa_tiny_checkpoint.pth", map_location="cpu", weights_only=True)
    with pytest.raises(ValueError, match=r"not an official LeWorldModel checkpoint.*--from ijepa"):
        run_converter(ijepa)
    vit_only = {k: v for k, v in official_state().items() if k.startswith("encoder.")}
    with pytest.raises(ValueError, match="not an official LeWorldModel checkpoint"):
        run_converter(vit_only)


def test_missing_extra_and_misshapen_keys_are_named():
    state = official_state()
    del state["predictor.transformer.layers.1.adaLN_modulation.1.weight"]
    with pytest.raises(ValueError, match=r"no key `predictor\.transformer\.layers\.1\.adaLN_modulation\.1\.weight`"):
        run_converter(state)
    state = official_state()
    state["predictor.transformer.layers.0.attn.extra.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"1 key\(s\) that LeWMForPreTraining has no place for.*attn\.extra"):
        run_converter(state)
    state = official_state()
    state["encoder.encoder.layer.1.attention.attention.key.weight"] = torch.zeros(16, 15)
    with pytest.raises(
        ValueError, match=r"layer\.1\.attention\.attention\.key\.weight` has shape \(16, 15\).*\(16, 16\)"
    ):
        run_converter(state)


def test_unused_encoder_keys_are_read_and_reported():
    state = official_state()
    state["encoder.embeddings.mask_token"] = torch.zeros(1, 1, 16)
    _, report = run_converter(state)
    assert report.consumed == {"state_dict": 92}
    assert any("mask_token` dropped" in note for note in report.notes)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"predictor.transformer.input_proj.weight": torch.zeros(8, 12)}, "another width than the embedding"),
        ({"projector.net.1.running_mean": None, "projector.net.1.running_var": None}, "no BatchNorm statistics"),
        ({"pred_proj.net.0.weight": torch.zeros(24, 12)}, "one `projection_hidden_size` for both"),
    ],
)
def test_official_options_we_cannot_represent_are_refused(change, message):
    state = official_state()
    for key, value in change.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    with pytest.raises(ValueError, match=message):
        run_converter(state)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(_target_="stable_worldmodel.wm.pldm.PLDM"), "does not describe an official LeWorldModel"),
        (lambda c: c["projector"].update(norm_fn={"_target_": "torch.nn.LayerNorm"}), "cannot be represented"),
        (lambda c: c["encoder"].update(attention_type="linear"), r"ViTConfig fields \['attention_type'\]"),
        (lambda c: c["predictor"].update(depth=3), r"predictor\.depth = 3, but the weights give 2"),
    ],
)
def test_config_json_of_another_model_is_refused(tmp_path, edit, message):
    config = official_config()
    edit(config)
    path = write(tmp_path, official_state(), config)
    with pytest.raises(ValueError, match=message):
        run_converter(official_state(), path)


def test_a_pickled_model_object_is_refused_unexecuted(tmp_path):
    """le-wm's `<name>_object.ckpt` is the whole module pickled: weights-only loading refuses it."""
    model, _ = run_converter(official_state())
    torch.save(model, tmp_path / "lewm_object.ckpt")
    assert main(["convert", "--from", "lewm", str(tmp_path / "lewm_object.ckpt"), "--output_dir", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- the command line


def test_cli_writes_a_hub_ready_folder(tmp_path, capsys):
    folder = tmp_path / "hf_pusht"  # as `hf download quentinll/lewm-pusht` lays it out: weights.pt + config.json
    folder.mkdir()
    shutil.copy(WEIGHTS, folder / "weights.pt")
    shutil.copy(FIXTURE / "config.json", folder / "config.json")
    out = tmp_path / "lewm"
    assert main(["convert", "--from", "lewm", str(folder / "weights.pt"), "--output_dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "read all 91 keys of `state_dict`" in printed and "transformers 4.x" in printed
    assert isinstance(AutoModelForPreTraining.from_pretrained(out), LeWMForPreTraining)
    assert isinstance(AutoModel.from_pretrained(out), LeWMModel)
    assert AutoImageProcessor.from_pretrained(out).size == {"height": 14, "width": 14}
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "mit" and "lucas-maes/le-wm" in card.text and "weights.pt" in card.text
