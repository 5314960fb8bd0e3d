"""The config options behind the compare presets: BYOL without its predictor, DINO with a student predictor, I-JEPA
predicting pixels. Each changes exactly what its ablation changes."""

import pytest
import torch
import torch.nn as nn

from hf_jepa import BYOLSSLConfig, BYOLSSLForPreTraining, DINOSSLForPreTraining, IJEPASSLForPreTraining
from hf_jepa.models.losses import byol_regression_loss
from hf_jepa.models.patches import normalize_patches, patchify
from hf_jepa.models.vit import gather_tokens
from tests.tiny import TINY_VIT, tiny_dino_config, tiny_ijepa_config


def tiny_byol(**overrides) -> BYOLSSLForPreTraining:
    config = BYOLSSLConfig(
        **TINY_VIT, projection_hidden_size=32, projection_size=16, prediction_hidden_size=32, **overrides
    )
    return BYOLSSLForPreTraining(config)


def test_byol_without_predictor_regresses_the_online_projection_on_the_target():
    model = tiny_byol(prediction_num_layers=0)
    assert isinstance(model.predictor, nn.Identity)
    views = torch.randn(4, 2, 3, 32, 32)
    output = model(global_crops=views)
    online = torch.stack([model.projector(model.encoder(views[:, v]).pooler_output) for v in range(2)], 1)
    assert torch.allclose(output.predictions, online, atol=1e-5)  # predictions are the projections themselves
    expected = (byol_regression_loss(online[:, 0], output.targets[:, 1]) + byol_regression_loss(
        online[:, 1], output.targets[:, 0])).mean()  # fmt: skip
    assert torch.allclose(output.loss, expected, atol=1e-5)


@pytest.mark.parametrize("layers", [-1, 1.5, True])
def test_predictor_layers_must_be_a_whole_number_from_zero(layers):
    with pytest.raises(ValueError, match="prediction_num_layers"):
        tiny_byol(prediction_num_layers=layers)


def test_dino_predictor_is_student_only_and_changes_the_student_logits():
    plain = DINOSSLForPreTraining(tiny_dino_config())
    with_predictor = DINOSSLForPreTraining(tiny_dino_config(predictor_num_layers=2))
    with_predictor.load_state_dict(plain.state_dict(), strict=False)  # same encoders and heads
    assert [n for n in with_predictor.state_dict() if n not in plain.state_dict()] == [
        f"student_predictor.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")
    ]
    # The EMA pairs are unchanged: the teacher has no predictor.
    assert with_predictor.ema_pairs == plain.ema_pairs
    views = torch.randn(3, 2, 3, 32, 32)
    out_plain, out_predictor = plain(global_crops=views), with_predictor(global_crops=views)
    assert torch.allclose(out_plain.teacher_probs, out_predictor.teacher_probs)
    assert not torch.allclose(out_plain.student_logits, out_predictor.student_logits)
    out_predictor.loss.backward()
    assert with_predictor.student_predictor[0].weight.grad.abs().sum() > 0


def test_ijepa_pixel_targets_are_the_normalised_target_patches():
    model = IJEPASSLForPreTraining(tiny_ijepa_config(prediction_target="pixels", loss_type="l2"))
    pixels = torch.randn(2, 3, 32, 32)
    output = model(pixels, generator=torch.Generator().manual_seed(0))
    batch, blocks, length = output.target_idx.shape
    patches = normalize_patches(patchify(pixels, (4, 4)))[0]  # independent of the model: 4x4x3 = 48 per patch
    expected = gather_tokens(patches, output.target_idx.flatten(1)).view(batch, blocks, length, 48)
    assert torch.allclose(output.targets, expected)
    assert output.predictions.shape == expected.shape
    assert torch.allclose(output.loss, (output.predictions - expected).pow(2).mean())
    output.loss.backward()
    assert model.pixel_head.weight.grad.abs().sum() > 0


def test_ijepa_prediction_target_is_checked():
    with pytest.raises(ValueError, match="prediction_target"):
        tiny_ijepa_config(prediction_target="voxels")
    with pytest.raises(ValueError, match="sigreg_weight"):
        tiny_ijepa_config(prediction_target="pixels", sigreg_weight=0.1)
