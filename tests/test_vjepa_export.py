"""V-JEPA -> transformers' `VJEPA2Model` (encoder and predictor), loaded where hf_jepa is not importable."""

import subprocess
import sys
import textwrap

import pytest
import torch

from hf_jepa import VJEPASSLForPreTraining
from hf_jepa.cli import main
from hf_jepa.hub.export import export_to_transformers
from hf_jepa.models.vit import gather_tokens
from hf_jepa.registry import METHODS, default_processor
from tests.tiny import tiny_vjepa_config

ATOL = 1e-5

LOAD_WITHOUT_HF_JEPA = textwrap.dedent(
    """
    import sys
    sys.modules["hf_jepa"] = None
    import torch
    from transformers import AutoModel, AutoVideoProcessor

    root = sys.argv[1]
    inputs = torch.load(f"{root}/inputs.pt")
    model = AutoModel.from_pretrained(f"{root}/out")
    processor = AutoVideoProcessor.from_pretrained(f"{root}/out")
    with torch.no_grad():
        features = model(pixel_values_videos=inputs["clips"], skip_predictor=True)
        clips, context, target = inputs["clips"], [inputs["context_idx"]], [inputs["target_idx"]]
        predicted = model(pixel_values_videos=clips, context_mask=context, target_mask=target)
        image = model(pixel_values_videos=inputs["clips"][:, :1], skip_predictor=True)
    torch.save(
        dict(
            model=type(model).__name__,
            processor=type(processor).__name__,
            crop_size=dict(processor.crop_size),
            last_hidden_state=features.last_hidden_state,
            image_last_hidden_state=image.last_hidden_state,
            predictions=predicted.predictor_output.last_hidden_state,
        ),
        f"{root}/outputs.pt",
    )
    """
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("vjepa_export")
    model = VJEPASSLForPreTraining(tiny_vjepa_config())
    with torch.no_grad():  # non-trivial values everywhere: the target differs from the online encoder, tokens != 0
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    model.eval()
    model.save_pretrained(root / "src")
    default_processor(METHODS["vjepa"], model.config).save_pretrained(root / "src")
    result = export_to_transformers(str(root / "src"), str(root / "out"))
    masks = model.mask_generator((2, 4, 4))(2, generator=torch.Generator().manual_seed(3))
    inputs = dict(clips=torch.randn(2, 4, 3, 16, 16), context_idx=masks[1][0], target_idx=masks[1][1])
    torch.save(inputs, root / "inputs.pt")
    run = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_HF_JEPA, str(root)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(root=root, model=model, inputs=inputs, result=result, native=torch.load(root / "outputs.pt"))


def test_encoder_outputs_match_vjepa2(exported):
    model, native, inputs = exported["model"], exported["native"], exported["inputs"]
    assert (native["model"], native["processor"]) == ("VJEPA2Model", "VJEPA2VideoProcessor")
    assert native["crop_size"]["height"] == 16
    with torch.no_grad():
        ours = model.encoder(inputs["clips"]).last_hidden_state  # the EMA target, the published encoder
        image = model.encoder(pixel_values=inputs["clips"][:, 0]).last_hidden_state
    torch.testing.assert_close(native["last_hidden_state"], ours, atol=ATOL, rtol=0)
    torch.testing.assert_close(native["image_last_hidden_state"], image, atol=ATOL, rtol=0)  # one-frame input


def test_predictor_outputs_match_vjepa2_for_the_mask_set_it_uses(exported):
    """VJEPA2Model's predictor takes its mask token 1: ours for mask set 1 gives the same predictions."""
    model, native, inputs = exported["model"], exported["native"], exported["inputs"]
    context_idx, target_idx = inputs["context_idx"], inputs["target_idx"]
    with torch.no_grad():
        full = model.encoder(inputs["clips"]).last_hidden_state
        ours = model.predictor(gather_tokens(full, context_idx), context_idx, target_idx, mask_token_index=1)
        other_token = model.predictor(gather_tokens(full, context_idx), context_idx, target_idx, mask_token_index=0)
    torch.testing.assert_close(native["predictions"], ours, atol=ATOL, rtol=0)
    assert not torch.allclose(native["predictions"], other_token, atol=ATOL)


def test_export_writes_safetensors_and_a_card(exported, tmp_path, capsys):
    files = set(exported["result"].files)
    assert {"model.safetensors", "config.json", "video_preprocessor_config.json"} <= files
    assert main(["export", "--model", str(exported["root"] / "src"), "--output_dir", str(tmp_path / "cli")]) == 0
    assert "VJEPA2Model" in capsys.readouterr().out
    card = (tmp_path / "cli" / "README.md").read_text()
    assert "pipeline_tag: video-classification" in card and "VJEPA2Model" in card


def test_sincos_model_is_refused(tmp_path):
    model = VJEPASSLForPreTraining(tiny_vjepa_config(position_embedding_type="sincos"))
    model.save_pretrained(tmp_path / "src")
    with pytest.raises(ValueError, match="only has rotary positions"):
        export_to_transformers(str(tmp_path / "src"), str(tmp_path / "out"))
