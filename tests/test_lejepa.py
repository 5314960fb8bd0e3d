"""LeJEPA: the loss is (1 - lambda) * prediction to the global views' mean + lambda * SIGReg per view; one network,
no EMA, no stop-gradient; the slices of a step are the same whatever the process's generator."""

import pytest
import torch

from hf_jepa import METHODS, LeJEPASSLConfig, LeJEPASSLForPreTraining, SIGReg
from tests.methods import pretraining_inputs, tiny_config

METHOD = METHODS["lejepa"]


def model_and_inputs(batch=4, **overrides):
    config = tiny_config(METHOD, **overrides)
    torch.manual_seed(0)
    return LeJEPASSLForPreTraining(config), pretraining_inputs(METHOD, config, batch=batch)


def test_loss_is_the_weighted_prediction_and_per_view_sigreg():
    model, inputs = model_and_inputs(sigreg_weight=0.3)
    generator = inputs.pop("generator")
    out = model(**inputs, generator=torch.Generator().manual_seed(7))
    projections = out.projections.transpose(0, 1)  # [V, B, P], global views first
    num_global = inputs["global_crops"].shape[1]
    assert projections.shape[0] == num_global + inputs["local_crops"].shape[1]
    center = projections[:num_global].mean(0)  # the global views only
    prediction = ((projections - center) ** 2).mean()
    slices = torch.randn(
        projections.shape[-1], model.config.sigreg_num_slices, generator=torch.Generator().manual_seed(7)
    )
    per_view = torch.stack([SIGReg(model.config.sigreg_num_slices)(view, slices=slices) for view in projections])
    expected = 0.7 * prediction + 0.3 * per_view.mean()
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.logs["loss_prediction"], prediction.detach(), rtol=1e-5, atol=1e-7)
    del generator


def test_one_network_and_gradients_through_the_target_too():
    model, inputs = model_and_inputs()
    assert not hasattr(model, "ema_pairs") and all(p.requires_grad for p in model.parameters())
    model.config.sigreg_weight = 0.0  # the prediction term alone: its target (the global mean) is not detached
    captured, project = {}, model.project

    def keep(*args, **kwargs):
        captured["z"] = project(*args, **kwargs)
        captured["z"].retain_grad()
        return captured["z"]

    model.project = keep
    model(**inputs).loss.backward()
    z, grad = captured["z"].detach(), captured["z"].grad  # [V, B, P]
    num_global = inputs["global_crops"].shape[1]
    assert z.shape[0] > num_global
    # d/dz of the mean over (V, B, P) of (z_v - mean_g z_g)^2: a stop-gradient on the center would drop the second
    # term, which every global view receives.
    diff = z - z[:num_global].mean(0)
    scale = 2 / diff.numel()
    expected = scale * diff
    expected[:num_global] -= scale * diff.sum(0) / num_global
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-8)


def test_a_step_gives_the_same_slices_whatever_the_generator():
    model, inputs = model_and_inputs()
    inputs.pop("generator")
    first = model(**inputs, sigreg_step=5, generator=torch.Generator().manual_seed(1)).loss
    second = model(**inputs, sigreg_step=5, generator=torch.Generator().manual_seed(2)).loss
    other_step = model(**inputs, sigreg_step=6).loss
    assert torch.equal(first, second) and not torch.equal(first, other_step)
    assert model.scheduled_inputs(11) == {"sigreg_step": 11}


def test_sigreg_keeps_the_projections_from_collapsing():
    """With lambda 0 the prediction loss alone is minimised by a constant projection; SIGReg's term pushes back."""
    model, inputs = model_and_inputs(batch=8, sigreg_weight=0.5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = None
    for step in range(15):
        out = model(**inputs, sigreg_step=step)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        first = first if first is not None else out.logs["loss_sigreg"].item()
    assert out.logs["loss_sigreg"].item() < first
    assert 0 < out.logs["isotropy"].item() <= 1


@pytest.mark.parametrize("field, value", [("sigreg_weight", -0.1), ("sigreg_weight", 1.5), ("num_local_crops", -1)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"`{field}`"):
        LeJEPASSLConfig(**{field: value})


def test_bad_inputs_are_clear_errors():
    model, inputs = model_and_inputs()
    with pytest.raises(ValueError, match="holds one image"):
        model(global_crops=inputs["global_crops"][:1])
    with pytest.raises(ValueError, match="views >= 2"):
        model(global_crops=inputs["global_crops"][:, :1])
    with pytest.raises(ValueError, match="pass `global_crops`"):
        model(pixel_values=inputs["global_crops"][:, 0])
    broken = inputs["global_crops"].clone()
    broken[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        model(global_crops=broken)


def test_recipe_parses_to_the_official_minimal_script():
    from tests.test_cli import recipe_config

    config, data_args, training_args = recipe_config("lejepa_vits8_imagenette.sh")
    assert config.model_type == "lejepa_ssl" and (config.hidden_size, config.patch_size, config.image_size) == (
        384,
        8,
        128,
    )
    assert (config.sigreg_weight, config.projection_size, config.num_global_crops, config.num_local_crops) == (
        0.02,
        16,
        4,
        0,
    )
    assert training_args.learning_rate == 2e-3 and training_args.per_device_train_batch_size == 256
    assert training_args.weight_decay == 0.05 and training_args.max_steps == 800 * (9469 // 256)
    assert tuple(data_args.crop_scale) == (0.08, 1.0)
