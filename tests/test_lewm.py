"""LeWorldModel: the loss against a hand computation, the predictor's causality, AdaLN-zero's no-op at init, the
latent rollout, save/load and clear errors."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining

from hf_jepa import LeWMConfig, LeWMForPreTraining, LeWMModel, SIGReg

TINY = dict(
    image_size=16,
    patch_size=8,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    embedding_size=16,
    projection_hidden_size=32,
    action_smoothed_size=6,
    predictor_num_hidden_layers=2,
    predictor_num_attention_heads=2,
    predictor_head_size=8,
    predictor_intermediate_size=32,
    sigreg_num_slices=32,
)


def tiny(**overrides) -> LeWMConfig:
    return LeWMConfig(**{**TINY, **overrides})


def windows(config: LeWMConfig, batch: int = 4, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randn(batch, config.num_steps, 3, *config.image_shape, generator=generator)
    actions = torch.randn(batch, config.num_steps, config.action_input_size, generator=generator)
    return {"pixel_values": frames, "actions": actions}


def perturbed(model: LeWMForPreTraining) -> LeWMForPreTraining:
    """Every weight moved off its init (AdaLN-zero's zeros included), so that the actions condition the predictor."""
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    return model


def test_defaults_are_the_official_recipe():
    config = LeWMConfig()
    assert (config.image_size, config.patch_size, config.hidden_size, config.num_hidden_layers) == (224, 14, 192, 12)
    assert (config.history_size, config.num_preds, config.frameskip, config.embedding_size) == (3, 1, 5, 192)
    assert (config.predictor_num_hidden_layers, config.predictor_num_attention_heads) == (6, 16)
    assert (config.sigreg_weight, config.sigreg_num_slices, config.sigreg_num_knots) == (0.09, 1024, 17)
    assert config.num_steps == 4 and config.action_input_size == 10


def test_loss_is_prediction_mse_plus_lambda_sigreg_per_step():
    config = tiny(history_size=3, num_preds=1)
    model = perturbed(LeWMForPreTraining(config)).eval()
    inputs = windows(config)
    with torch.no_grad():
        out = model(**inputs, sigreg_step=7)
        # By hand: CLS of the encoder -> projector, per frame; predictor on the first 3 steps; targets shifted by 1.
        cls = model.encoder(inputs["pixel_values"].flatten(0, 1)).last_hidden_state[:, 0]
        embeddings = model.projector(cls).view(4, config.num_steps, -1)
        hidden = model.predictor(embeddings[:, :3], model.action_encoder(inputs["actions"][:, :3]))
        predictions = model.prediction_projector(hidden.flatten(0, 1)).view(4, 3, -1)
        prediction = ((predictions - embeddings[:, 1:4]) ** 2).mean()
        sigreg = SIGReg(num_slices=32, num_knots=17)(embeddings.transpose(0, 1), step=7)
    assert out.embeddings.shape == (4, 4, 16) and out.predictions.shape == (4, 3, 16)
    torch.testing.assert_close(out.embeddings, embeddings)
    torch.testing.assert_close(out.predictions, predictions)
    torch.testing.assert_close(out.logs["loss_prediction"], prediction)
    torch.testing.assert_close(out.logs["loss_sigreg"], sigreg)
    torch.testing.assert_close(out.loss, prediction + 0.09 * sigreg)
    # SIGReg per time step = the mean of one SIGReg per step, each over the batch.
    per_step = torch.stack([SIGReg(num_slices=32)(embeddings[:, t], step=7) for t in range(4)]).mean()
    torch.testing.assert_close(sigreg, per_step)


def test_no_stop_gradient_and_no_ema():
    config = tiny()
    model = LeWMForPreTraining(config)
    model(**windows(config), sigreg_step=0).loss.backward()
    assert not hasattr(model, "ema_parameters")
    for name in ("encoder", "projector", "predictor", "prediction_projector"):
        grads = [p.grad for p in getattr(model, name).parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name
    # AdaLN-zero: the zero modulation gets a gradient, so the actions come in after the first step (not before).
    assert model.predictor.layers[0].modulation[-1].weight.grad.abs().sum() > 0
    assert model.action_encoder.fc2.weight.grad.abs().sum() == 0
    # The last frame is only a target: its gradient reaches the encoder through the prediction loss (and SIGReg).
    frames = windows(config)["pixel_values"].requires_grad_(True)
    out = model(pixel_values=frames, actions=windows(config)["actions"], sigreg_step=0)
    (grad,) = torch.autograd.grad(
        out.logs["loss_prediction"].requires_grad_() * 0 + out.loss - 0.09 * out.logs["loss_sigreg"], frames
    )
    assert grad[:, -1].abs().sum() > 0


@pytest.mark.parametrize("changed", ["embedding", "action"])
def test_predictor_is_causal(changed):
    config = tiny(history_size=4)
    model = perturbed(LeWMForPreTraining(config)).eval()
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(2, 4, 16, generator=generator)
    actions = torch.randn(2, 4, config.action_input_size, generator=generator)
    with torch.no_grad():
        before = model.predict(embeddings, actions)
        # Random changes (a constant added to every feature of an embedding would pass the LayerNorms unseen).
        if changed == "embedding":
            embeddings[:, 2] += torch.randn(2, 16, generator=generator)
        else:
            actions[:, 2] += torch.randn(2, config.action_input_size, generator=generator)
        after = model.predict(embeddings, actions)
    torch.testing.assert_close(after[:, :2], before[:, :2], rtol=0, atol=0)  # the past never sees the future
    assert (after[:, 2:] - before[:, 2:]).abs().amax(-1).min() > 1e-7  # step 2 and later do


def test_adaln_zero_makes_the_actions_a_no_op_at_init():
    config = tiny()
    model = LeWMForPreTraining(config).eval()
    for layer in model.predictor.layers:
        assert torch.equal(layer.modulation[-1].weight, torch.zeros_like(layer.modulation[-1].weight))
        assert torch.equal(layer.modulation[-1].bias, torch.zeros_like(layer.modulation[-1].bias))
    embeddings = torch.randn(2, 3, 16)
    actions = torch.randn(2, 3, config.action_input_size)
    with torch.no_grad():
        one = model.predictor(embeddings, model.action_encoder(actions))
        other = model.predictor(embeddings, model.action_encoder(actions * 5 + 1))
        torch.testing.assert_close(one, other, rtol=0, atol=0)
        # Every gate is 0: each block is the identity, the predictor is its final norm of input + positions.
        expected = model.predictor.norm(embeddings + model.predictor.position_embeddings[:, :3])
        torch.testing.assert_close(one, expected)
        moved = perturbed(model)
        assert not torch.allclose(
            moved.predictor(embeddings, moved.action_encoder(actions)),
            moved.predictor(embeddings, moved.action_encoder(actions * 5 + 1)),
        )


def test_heads_keep_pytorchs_default_init_and_the_encoder_the_vits():
    """Officially only the encoder (transformers' ViT) is initialised by its model; the projectors, action encoder
    and predictor keep PyTorch's default: weights uniform in +-1/sqrt(fan_in) (std 1/sqrt(3 fan_in)), not
    N(0, 0.02)."""
    torch.manual_seed(0)
    model = LeWMForPreTraining(tiny(hidden_size=64, projection_hidden_size=512))
    heads = [model.projector[0], model.prediction_projector[0], model.action_encoder.fc1]
    heads += [model.predictor.layers[0].attn.qkv, model.predictor.layers[0].mlp.fc1]
    for linear in heads:
        bound = linear.in_features**-0.5
        assert linear.weight.abs().max() <= bound and linear.weight.abs().max() > 0.9 * bound
        torch.testing.assert_close(linear.weight.std().item(), bound / 3**0.5, rtol=0.1, atol=0)
        if linear.bias is not None:
            assert linear.bias.abs().max() <= bound and linear.bias.abs().max() > 0
    encoder_linear = model.encoder.layers[0].mlp.fc1  # 128 x 64 weights: a tight std estimate
    torch.testing.assert_close(encoder_linear.weight.std().item(), model.config.initializer_range, rtol=0.1, atol=0)
    assert torch.count_nonzero(encoder_linear.bias) == 0


def test_rollout_feeds_its_own_predictions_back():
    config = tiny(history_size=2)
    model = perturbed(LeWMForPreTraining(config)).eval()
    generator = torch.Generator().manual_seed(3)
    context = torch.randn(3, 1, 16, generator=generator)
    actions = torch.randn(3, 4, config.action_input_size, generator=generator)  # 1 observed frame, horizon 4
    with torch.no_grad():
        rolled = model.rollout(context, actions)
        known = context
        for _ in range(4):
            start = max(0, known.shape[1] - 2)  # history 2
            step_actions = actions[:, start : known.shape[1]]
            nxt = model.predict(known[:, start:], step_actions)[:, -1:]
            known = torch.cat([known, nxt], dim=1)
    assert rolled.shape == (3, 4, 16)
    torch.testing.assert_close(rolled, known[:, 1:])


def test_save_load_round_trip_keeps_every_weight_and_the_loss(tmp_path):
    config = tiny()
    model = perturbed(LeWMForPreTraining(config)).eval()
    model.save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is LeWMConfig
    loaded = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert type(loaded) is LeWMForPreTraining
    for name, value in model.state_dict().items():  # AdaLN-zero's zeros must not overwrite loaded weights
        assert torch.equal(loaded.state_dict()[name], value), name
    inputs = windows(config)
    with torch.no_grad():
        assert torch.equal(loaded(**inputs, sigreg_step=1).loss, model(**inputs, sigreg_step=1).loss)
    encoder = AutoModel.from_pretrained(tmp_path)
    assert type(encoder) is LeWMModel
    with torch.no_grad():
        frames = inputs["pixel_values"][:, 0]
        torch.testing.assert_close(encoder.eval()(frames).pooler_output, model.encoder(frames).pooler_output)


def test_bad_inputs_are_named():
    config = tiny()
    model = LeWMForPreTraining(config)
    inputs = windows(config)
    with pytest.raises(ValueError, match="`actions` must be"):
        model(pixel_values=inputs["pixel_values"], actions=inputs["actions"][..., :3])
    with pytest.raises(ValueError, match="`actions` must be"):
        model(pixel_values=inputs["pixel_values"])
    with pytest.raises(ValueError, match="`pixel_values` must be windows"):
        model(pixel_values=inputs["pixel_values"][:, :2], actions=inputs["actions"][:, :2])
    with pytest.raises(ValueError, match="history_size"):
        model.predict(torch.randn(2, 5, 16), torch.randn(2, 5, config.action_input_size))
    with pytest.raises(ValueError, match="`action_dim` must be a positive integer"):
        tiny(action_dim=0)
    with pytest.raises(ValueError, match="CLS token"):
        tiny(pooling="mean")


def test_training_lowers_the_loss_on_fixed_windows():
    """The training-mode loss (batch statistics, SIGReg's slices of step 0) on fixed windows falls with AdamW."""
    config = tiny(predictor_dropout=0.0)
    torch.manual_seed(0)
    model = LeWMForPreTraining(config)
    inputs = windows(config, batch=8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss = model(**inputs, sigreg_step=0).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_full_scale_recipe_parses_to_the_official_configuration():
    from .test_cli import recipe_config

    config, _, training_args = recipe_config("lewm_vittiny14_tworoom.sh")
    official = LeWMConfig()  # the config's defaults are the official model
    names = ("image_size", "patch_size", "hidden_size", "num_hidden_layers", "embedding_size", "history_size")
    names += ("frameskip", "predictor_num_hidden_layers", "predictor_num_attention_heads", "sigreg_num_slices")
    for name in names:
        assert getattr(config, name) == getattr(official, name), name
    assert (training_args.learning_rate, training_args.weight_decay, training_args.max_grad_norm) == (5e-5, 1e-3, 1.0)
    assert training_args.per_device_train_batch_size == 128 and training_args.num_train_epochs == 100
    assert training_args.bf16 and training_args.weight_decay_end is None
