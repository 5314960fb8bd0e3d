"""SimCLR: NT-Xent against the official `add_contrastive_loss` restated, the projection head's structure and init, the
views of its recipe, the demo view, the full-scale recipe and clear errors. (Save / load / Auto classes / training /
resume / remote code / card: tests/test_common.py and tests/test_transformers_contract.py; DDP: test_ddp_joint.py.)"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hf_jepa import METHODS, SimCLRSSLConfig, SimCLRSSLForPreTraining
from hf_jepa.models.heads import BatchNormMLP, GlobalBatchNorm
from hf_jepa.models.losses import nt_xent_loss
from hf_jepa.registry import default_processor
from tests.methods import pretraining_inputs, tiny_config

METHOD = METHODS["simclr"]


# ---- the official loss, restated ------------------------------------------------------------------------------------
def official_nt_xent(hidden: torch.Tensor, temperature: float) -> torch.Tensor:
    """google-research/simclr `add_contrastive_loss` in one process: hidden [2N, P] = view 1 of the N images, then
    view 2; one-hot labels over [logits_ab | logits_aa] with the self-similarity masked by 1e9; loss_a + loss_b
    averaged over the images."""
    hidden = F.normalize(hidden, dim=-1)
    hidden1, hidden2 = hidden.chunk(2)
    n = hidden1.shape[0]
    labels = F.one_hot(torch.arange(n), 2 * n).float()
    masks = F.one_hot(torch.arange(n), n).float()
    logits_aa = hidden1 @ hidden1.T / temperature - masks * 1e9
    logits_bb = hidden2 @ hidden2.T / temperature - masks * 1e9
    logits_ab = hidden1 @ hidden2.T / temperature
    logits_ba = hidden2 @ hidden1.T / temperature
    loss_a = -(labels * F.log_softmax(torch.cat([logits_ab, logits_aa], 1), dim=1)).sum(1)
    loss_b = -(labels * F.log_softmax(torch.cat([logits_ba, logits_bb], 1), dim=1)).sum(1)
    return (loss_a + loss_b).mean()


def paper_nt_xent(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """The paper's loss, a loop over the 2N anchors: -log softmax of the positive among the 2N - 1 others, averaged."""
    z = F.normalize(torch.cat([first, second]), dim=-1)
    n, similarity = first.shape[0], z @ z.T / temperature
    terms = []
    for i in range(2 * n):
        others = [k for k in range(2 * n) if k != i]
        terms.append(torch.logsumexp(similarity[i, others], 0) - similarity[i, (i + n) % (2 * n)])
    return torch.stack(terms).mean()


@pytest.mark.parametrize("batch, temperature", [(2, 0.1), (5, 0.5), (16, 0.2)])
def test_nt_xent_equals_the_official_loss(batch, temperature):
    generator = torch.Generator().manual_seed(batch)
    first, second = torch.randn(batch, 8, generator=generator), torch.randn(batch, 8, generator=generator)
    got = nt_xent_loss(first, second, temperature)
    torch.testing.assert_close(got, official_nt_xent(torch.cat([first, second]), temperature))
    # The official loss sums the two directions: twice the paper's average over the 2N anchors.
    torch.testing.assert_close(got, 2 * paper_nt_xent(first, second, temperature))
    # The positive matters: views of the same image close together give a lower loss.
    close = nt_xent_loss(first, first + 0.01 * second, temperature)
    assert close < got


def _model(**overrides) -> SimCLRSSLForPreTraining:
    torch.manual_seed(0)
    return SimCLRSSLForPreTraining(tiny_config(METHOD, **overrides))


def test_model_loss_is_the_official_loss_of_its_projections():
    model = _model().train()
    inputs = pretraining_inputs(METHOD, model.config, batch=6)
    out = model(**inputs)
    assert out.projections.shape == (6, 2, model.config.projection_size)
    hidden = torch.cat([out.projections[:, 0], out.projections[:, 1]]).detach()
    torch.testing.assert_close(out.loss.detach(), official_nt_xent(hidden, model.config.temperature))
    assert set(out.logs) == {"loss_nt_xent", "projection_std"} and 0 < out.logs["projection_std"] < 1
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())  # one network: everything trains


def test_projection_head_is_the_official_one():
    config = SimCLRSSLConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=1, num_attention_heads=2)
    assert (config.projection_hidden_size, config.projection_size, config.projection_num_layers) == (64, 128, 3)
    assert config.temperature == 0.1 and config.crop_scale == (0.08, 1.0)
    head = SimCLRSSLForPreTraining(config).projector
    assert isinstance(head, BatchNormMLP)
    kinds = [type(layer) for layer in head]
    assert kinds == [nn.Linear, GlobalBatchNorm, nn.ReLU] * 2 + [nn.Linear, GlobalBatchNorm]
    assert [(layer.in_features, layer.out_features) for layer in head.linears()] == [(64, 64), (64, 64), (64, 128)]
    assert all(layer.bias is None for layer in head.linears())  # official: no bias before BatchNorm
    norms = [layer for layer in head if isinstance(layer, GlobalBatchNorm)]
    assert [(n.weight is not None, n.bias is not None) for n in norms] == [(True, True), (True, True), (True, False)]
    weights = torch.cat([layer.weight.flatten() for layer in head.linears()])
    assert abs(weights.std().item() - 0.01) < 0.001 and abs(weights.mean().item()) < 0.001  # N(0, 0.01^2)
    assert all(torch.equal(n.weight, torch.ones_like(n.weight)) for n in norms)
    v1 = SimCLRSSLForPreTraining(SimCLRSSLConfig(**{**config.to_diff_dict(), "projection_num_layers": 2}))
    assert len(v1.projector.linears()) == 2


def test_views_follow_the_official_recipe():
    config = SimCLRSSLConfig(image_size=32, patch_size=4, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    views = METHOD.train_views(config, default_processor(METHOD, config))
    assert views.color_jitter_params == pytest.approx((0.8, 0.8, 0.8, 0.2))  # strength 1
    assert views.global_blur_p == (0.5, 0.5) and views.global_solarize_p == (0.0, 0.0)
    assert views.global_crop.scale == (0.08, 1.0) and views.num_global_crops == 2 and views.num_local_crops == 0
    cifar = SimCLRSSLConfig(**{**config.to_diff_dict(), "color_jitter_strength": 0.5, "blur_probability": 0.0})
    views = METHOD.train_views(cifar, default_processor(METHOD, cifar), crop_scale=(0.2, 1.0))
    assert views.color_jitter_params == pytest.approx((0.4, 0.4, 0.4, 0.1)) and views.blur_sigma is None
    assert views.global_crop.scale == (0.2, 1.0)
    made = views(torch.randn(3, 3, 32, 32), torch.Generator().manual_seed(0))
    assert set(made) == {"global_crops"} and made["global_crops"].shape == (3, 2, 3, 32, 32)


@pytest.mark.parametrize(
    "field, value", [("temperature", 0.0), ("color_jitter_strength", 3.0), ("blur_probability", 1.5)]
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"`{field}`"):
        SimCLRSSLConfig(**{field: value})
    with pytest.raises(ValueError, match="`projection_num_layers`"):
        SimCLRSSLConfig(projection_num_layers=0)
    with pytest.raises(ValueError, match="`crop_scale`"):
        SimCLRSSLConfig(crop_scale=(0.5, 0.2))


def test_bad_inputs_are_clear_errors():
    model = _model()
    crops = pretraining_inputs(METHOD, model.config, batch=3)["global_crops"]
    with pytest.raises(ValueError, match="`global_crops` holds one image.*negatives"):
        model.eval()(global_crops=crops[:1])
    with pytest.raises(ValueError, match="`global_crops` must be \\[batch, views >= 2"):
        model(global_crops=crops[:, :1])
    with pytest.raises(ValueError, match="exactly two views.*`global_crops`"):
        model(global_crops=torch.cat([crops, crops[:, :1]], dim=1))
    with pytest.raises(ValueError, match="`local_crops=None`"):
        model(global_crops=crops, local_crops=crops[..., :16, :16])
    with pytest.raises(ValueError, match="only `pixel_values`"):
        model(pixel_values=crops[:, 0])
    with pytest.raises(ValueError, match="BatchNorm.*at least 2"):
        model.projector[1](torch.randn(1, model.config.projection_hidden_size))


def test_demo_draws_view_pairs_and_their_similarities(tmp_path):
    from PIL import Image

    from hf_jepa.demo.loading import load_demo_model
    from hf_jepa.demo.predictions import VIEW_PAIRS, PredictionRequest, predict

    model = _model()
    model.save_pretrained(tmp_path)
    default_processor(METHOD, model.config).save_pretrained(tmp_path)
    demo = load_demo_model(str(tmp_path))
    image = Image.fromarray((torch.rand(40, 48, 3) * 255).to(torch.uint8).numpy())
    first = predict(demo, PredictionRequest(image, seed=1, display_size=64))
    again = predict(demo, PredictionRequest(image, seed=1, display_size=64))
    other = predict(demo, PredictionRequest(image, seed=2, display_size=64))
    assert len(first.images) == VIEW_PAIRS + 1 and first.images[-1][0].shape == (64, 64, 3)
    assert first.images[0][0].shape == (32, 64, 3)  # view 1 | view 2
    cosine = torch.tensor(first.numbers["cosine"])
    assert cosine.shape == (2 * VIEW_PAIRS, 2 * VIEW_PAIRS) and bool((cosine.abs() <= 1 + 1e-4).all())
    torch.testing.assert_close(cosine, cosine.T)  # SimCLR compares projections with projections
    assert first.numbers == again.numbers and first.numbers != other.numbers


def test_recipe_parses_to_the_official_objective():
    from tests.test_cli import recipe_config

    config, data_args, training_args = recipe_config("simclr_vitb16_in1k.sh")
    assert config.model_type == "simclr_ssl" and config.hidden_size == 768 and config.grid_size == (14, 14)
    assert (config.projection_num_layers, config.projection_size, config.temperature) == (3, 128, 0.1)
    assert (config.color_jitter_strength, config.blur_probability) == (1.0, 0.5)
    assert tuple(data_args.crop_scale) == (0.08, 1.0) and training_args.bf16 and training_args.max_grad_norm == 0
