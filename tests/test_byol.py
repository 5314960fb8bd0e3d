"""BYOL: the loss against the official `regression_loss` restated, the projector / predictor structure and init, the
target networks, the asymmetric views, the published encoder, the full-scale recipe and clear errors. (DDP:
test_ddp_joint.py.)"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import AutoModel

from hf_jepa import METHODS, BYOLSSLConfig, BYOLSSLForPreTraining
from hf_jepa.models.heads import GlobalBatchNorm
from hf_jepa.models.losses import byol_regression_loss
from hf_jepa.registry import default_processor
from tests.methods import pretraining_inputs, tiny_config

METHOD = METHODS["byol"]


# ---- the official loss, restated ------------------------------------------------------------------------------------
def official_regression_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """deepmind-research byol `helpers.regression_loss`: l2_normalize (x * rsqrt(max(sum x^2, 1e-12))) both, then the
    sum of squared differences per row."""

    def l2_normalize(v):
        return v * torch.rsqrt(torch.clamp((v * v).sum(-1, keepdim=True), min=1e-12))

    return ((l2_normalize(x) - l2_normalize(y)) ** 2).sum(-1)


def test_regression_loss_equals_the_official_one_and_two_minus_two_cos():
    generator = torch.Generator().manual_seed(0)
    p, z = torch.randn(6, 12, generator=generator), torch.randn(6, 12, generator=generator)
    got = byol_regression_loss(p, z)
    torch.testing.assert_close(got, official_regression_loss(p, z))
    torch.testing.assert_close(got, 2 - 2 * F.cosine_similarity(p, z, dim=-1))
    zero = torch.zeros(1, 12)  # the official floor on the norm: a zero vector stays finite
    assert torch.isfinite(byol_regression_loss(zero, z[:1])).all()


def _model(**overrides) -> BYOLSSLForPreTraining:
    torch.manual_seed(0)
    return BYOLSSLForPreTraining(tiny_config(METHOD, **overrides))


def _perturb_target(model):
    torch.manual_seed(3)
    with torch.no_grad():
        for name in ("target_encoder", "target_projector"):
            for p in getattr(model, name).parameters():
                p.add_(torch.randn_like(p) * 0.1)
    return model


def test_model_loss_is_the_official_loss_of_its_predictions_and_targets():
    model = _perturb_target(_model()).train()
    out = model(**pretraining_inputs(METHOD, model.config, batch=5))
    p, z = out.predictions.detach(), out.targets
    assert p.shape == z.shape == (5, 2, model.config.projection_size) and not z.requires_grad
    # Official: repr_loss = regression(p1, sg(z'2)) + regression(p2, sg(z'1)), then the mean over the batch.
    expected = (official_regression_loss(p[:, 0], z[:, 1]) + official_regression_loss(p[:, 1], z[:, 0])).mean()
    torch.testing.assert_close(out.loss.detach(), expected)
    assert set(out.logs) == {"loss_byol", "prediction_std", "target_std"}
    out.loss.backward()
    assert all(q.grad is None for q in model.target_encoder.parameters())
    assert all(q.grad is None for q in model.target_projector.parameters())
    assert model.predictor[0].weight.grad is not None and model.projector[0].weight.grad is not None


def test_heads_are_the_official_mlps():
    config = BYOLSSLConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=1, num_attention_heads=2)
    assert (config.projection_hidden_size, config.projection_size, config.prediction_hidden_size) == (4096, 256, 4096)
    config = BYOLSSLConfig(**{**config.to_diff_dict(), "projection_hidden_size": 512, "prediction_hidden_size": 256})
    model = BYOLSSLForPreTraining(config)
    for head, sizes in ((model.projector, [(64, 512), (512, 256)]), (model.predictor, [(256, 256), (256, 256)])):
        assert [type(layer) for layer in head] == [nn.Linear, GlobalBatchNorm, nn.ReLU, nn.Linear]
        assert [(layer.in_features, layer.out_features) for layer in head.linears()] == sizes
        hidden, last = head.linears()
        assert hidden.bias is not None and last.bias is None  # official: with_bias=True, then with_bias=False
        assert torch.equal(hidden.bias, torch.zeros_like(hidden.bias))
        norm = head[1]
        assert norm.weight is not None and norm.bias is not None  # create_scale, create_offset
        for layer in head.linears():  # haiku's default: truncated normal (2 std), std 1 / sqrt(fan_in)
            std = layer.in_features**-0.5
            assert float(layer.weight.detach().abs().max()) <= 2 * std
            # The std of N(0, 1) truncated at 2 is 0.88.
            assert abs(float(layer.weight.detach().std()) - 0.88 * std) < 0.1 * std


def test_target_networks_start_as_frozen_copies_and_use_batch_statistics():
    model = _model()
    assert model.ema_pairs == (("encoder", "target_encoder"), ("projector", "target_projector"))
    for online, target in model.ema_pairs:
        for (name, a), b in zip(getattr(model, online).named_parameters(), getattr(model, target).parameters()):
            assert torch.equal(a, b), name
            assert not b.requires_grad
    model.train()
    assert not model.target_encoder.training and model.target_projector.training  # official is_training=True


def test_asymmetric_views():
    config = tiny_config(METHOD)
    views = METHOD.train_views(config, default_processor(METHOD, config))
    assert views.global_blur_p == (1.0, 0.1) and views.global_solarize_p == (0.0, 0.2)
    assert views.color_jitter_params == (0.4, 0.4, 0.2, 0.1) and views.global_crop.scale == (0.08, 1.0)
    assert views.num_global_crops == 2 and views.num_local_crops == 0
    assert METHODS["mocov3"].train_views is METHOD.train_views  # MoCo v3 follows BYOL's recipe


def test_the_published_encoder_is_the_online_encoder(tmp_path):
    model = _perturb_target(_model())
    model.save_pretrained(tmp_path)
    encoder = AutoModel.from_pretrained(tmp_path)
    for name, value in encoder.state_dict().items():
        assert torch.equal(value, model.encoder.state_dict()[name]), name
    assert any(not torch.equal(v, model.target_encoder.state_dict()[n]) for n, v in encoder.state_dict().items())


def test_bad_inputs_are_clear_errors():
    model = _model().train()
    crops = pretraining_inputs(METHOD, model.config, batch=3)["global_crops"]
    with pytest.raises(ValueError, match="`global_crops` holds one image.*BatchNorm"):
        model(global_crops=crops[:1])
    with pytest.raises(ValueError, match="`global_crops` must be \\[batch, views >= 2"):
        model(global_crops=crops[:, :1])
    with pytest.raises(ValueError, match="exactly two views"):
        model(global_crops=torch.cat([crops, crops], dim=1))
    for field in ("prediction_hidden_size", "projection_size"):
        with pytest.raises(ValueError, match=f"`{field}`"):
            BYOLSSLConfig(**{field: 0})


def test_recipe_parses_to_the_official_objective():
    from tests.test_cli import recipe_config

    config, data_args, training_args = recipe_config("byol_vitb16_in1k.sh")
    assert config.model_type == "byol_ssl" and config.hidden_size == 768 and config.grid_size == (14, 14)
    assert (config.projection_hidden_size, config.projection_size, config.prediction_hidden_size) == (4096, 256, 4096)
    # The official preset for 300 epochs (0.996 is its 1000-epoch preset and the method's default).
    assert (training_args.ema_momentum, training_args.ema_momentum_end, training_args.ema_schedule) == (
        0.99,
        1.0,
        "cosine",
    )
    assert tuple(data_args.crop_scale) == (0.08, 1.0) and training_args.max_steps == 93600
