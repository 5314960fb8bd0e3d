"""MoCo v3: the loss against the official `contrastive_loss` restated, the projector / predictor structure and init,
the momentum networks, the frozen random patch projection (stop-grad-conv1) through a trainer step, the published
encoder, the full-scale recipe and clear errors. (DDP: test_ddp_joint.py.)"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import AutoModel

from hf_jepa import METHODS, MoCoV3SSLConfig, MoCoV3SSLForPreTraining, SSLTrainer
from hf_jepa.models.heads import GlobalBatchNorm
from hf_jepa.models.losses import moco_contrastive_loss
from hf_jepa.registry import default_processor
from tests.methods import MediaDataset, pretraining_inputs, tiny_config
from tests.tiny import tiny_training_args

METHOD = METHODS["mocov3"]


# ---- the official loss, restated ------------------------------------------------------------------------------------
def official_contrastive_loss(q: torch.Tensor, k: torch.Tensor, temperature: float, rank: int = 0) -> torch.Tensor:
    """facebookresearch/moco-v3 `MoCo.contrastive_loss`: q [N, C] local queries, k [W * N, C] all keys (already
    gathered); logits by einsum, labels offset by N * rank, cross-entropy times 2T."""
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    logits = torch.einsum("nc,mc->nm", [q, k]) / temperature
    n = logits.shape[0]
    labels = torch.arange(n, dtype=torch.long) + n * rank
    return nn.CrossEntropyLoss()(logits, labels) * (2 * temperature)


@pytest.mark.parametrize("batch, temperature", [(2, 0.2), (7, 1.0)])
def test_contrastive_loss_equals_the_official_one(batch, temperature):
    generator = torch.Generator().manual_seed(batch)
    q, k = torch.randn(batch, 16, generator=generator), torch.randn(batch, 16, generator=generator)
    torch.testing.assert_close(moco_contrastive_loss(q, k, temperature), official_contrastive_loss(q, k, temperature))


def _model(**overrides) -> MoCoV3SSLForPreTraining:
    torch.manual_seed(0)
    return MoCoV3SSLForPreTraining(tiny_config(METHOD, **overrides))


def _perturb_momentum(model):
    """A momentum network that differs from the query one (as after training), so outputs tell them apart."""
    torch.manual_seed(3)
    with torch.no_grad():
        for name in ("momentum_encoder", "momentum_projector"):
            for p in getattr(model, name).parameters():
                p.add_(torch.randn_like(p) * 0.1)
    return model


def test_model_loss_is_the_symmetrised_official_loss_of_its_queries_and_keys():
    model = _perturb_momentum(_model()).train()
    out = model(**pretraining_inputs(METHOD, model.config, batch=5))
    q, k, t = out.queries.detach(), out.momentum_keys, model.config.temperature
    assert q.shape == k.shape == (5, 2, model.config.projection_size) and not k.requires_grad
    expected = official_contrastive_loss(q[:, 0], k[:, 1], t) + official_contrastive_loss(q[:, 1], k[:, 0], t)
    torch.testing.assert_close(out.loss.detach(), expected)
    assert set(out.logs) == {"loss_moco", "query_std", "key_std"}
    out.loss.backward()
    assert all(p.grad is None for p in model.momentum_encoder.parameters())
    assert all(p.grad is None for p in model.momentum_projector.parameters())
    assert model.predictor[0].weight.grad is not None and model.encoder.layers[0].mlp.fc1.weight.grad is not None


def test_heads_are_the_official_vit_mlps():
    config = MoCoV3SSLConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=1, num_attention_heads=2)
    assert (config.projection_hidden_size, config.projection_size, config.prediction_hidden_size) == (4096, 256, 4096)
    assert (config.projection_num_layers, config.prediction_num_layers, config.temperature) == (3, 2, 0.2)
    assert config.freeze_patch_projection and config.pooling == "cls"
    config = MoCoV3SSLConfig(**{**config.to_diff_dict(), "projection_hidden_size": 256, "prediction_hidden_size": 128})
    model = MoCoV3SSLForPreTraining(config)
    for head, sizes in (
        (model.projector, [(64, 256), (256, 256), (256, 256)]),
        (model.predictor, [(256, 128), (128, 256)]),
    ):
        assert [type(layer) for layer in head][-2:] == [nn.Linear, GlobalBatchNorm]
        assert [(layer.in_features, layer.out_features) for layer in head.linears()] == sizes
        assert all(layer.bias is None for layer in head.linears())
        norms = [layer for layer in head if isinstance(layer, GlobalBatchNorm)]
        assert len(norms) == len(sizes)  # BatchNorm after every linear, the predictor's last one included
        assert all(n.weight is not None and n.bias is not None for n in norms[:-1])
        assert norms[-1].weight is None and norms[-1].bias is None  # official: BatchNorm1d(affine=False)
        for layer in head.linears():  # torch's nn.Linear init (the heads are built after the ViT's init)
            bound = 1 / layer.in_features**0.5
            assert float(layer.weight.detach().abs().max()) <= bound
            assert abs(float(layer.weight.detach().std()) - bound / 3**0.5) < 0.1 * bound


def test_official_vit_init_and_frozen_patch_projection():
    config = MoCoV3SSLConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=1, num_attention_heads=2)
    model = MoCoV3SSLForPreTraining(config)
    projection = model.encoder.embeddings.patch_embeddings.projection
    bound = (6 / (3 * 8 * 8 + 64)) ** 0.5  # official: Xavier-uniform of the patch embedding as a linear map
    largest = float(projection.weight.detach().abs().max())
    assert 0.9 * bound < largest <= bound
    assert torch.equal(projection.bias, torch.zeros_like(projection.bias))
    assert not projection.weight.requires_grad and not projection.bias.requires_grad
    qkv = model.encoder.layers[0].attn.qkv.weight  # Q, K and V each Xavier-uniform: bound sqrt(6 / (64 + 64))
    assert 0.9 * (6 / 128) ** 0.5 < float(qkv.detach().abs().max()) <= (6 / 128) ** 0.5
    fc1 = model.encoder.layers[0].mlp.fc1.weight  # Xavier-uniform: bound sqrt(6 / (64 + 256))
    assert float(fc1.detach().abs().max()) <= (6 / 320) ** 0.5
    assert float(model.encoder.embeddings.cls_token.detach().abs().max()) < 1e-5  # N(0, 1e-6^2)
    trained = MoCoV3SSLForPreTraining(MoCoV3SSLConfig(**{**config.to_diff_dict(), "freeze_patch_projection": False}))
    assert trained.encoder.embeddings.patch_embeddings.projection.weight.requires_grad


def test_momentum_networks_start_as_frozen_copies_and_use_batch_statistics():
    model = _model()
    assert model.ema_pairs == (("encoder", "momentum_encoder"), ("projector", "momentum_projector"))
    for online, target in (("encoder", "momentum_encoder"), ("projector", "momentum_projector")):
        for (name, a), b in zip(getattr(model, online).named_parameters(), getattr(model, target).parameters()):
            assert torch.equal(a, b), name
            assert not b.requires_grad
    model.train()
    assert not model.momentum_encoder.training  # no drop-path in the momentum encoder
    assert model.momentum_projector.training  # its BatchNorm on batch statistics, as the official train-mode forward
    before = model.momentum_projector[1].running_mean.clone()
    model(**pretraining_inputs(METHOD, model.config, batch=4))
    assert not torch.equal(model.momentum_projector[1].running_mean, before)


def test_stop_grad_conv1_keeps_the_patch_projection_through_a_trainer_step(tmp_path):
    def trained(freeze: bool):
        config = tiny_config(METHOD, freeze_patch_projection=freeze)
        torch.manual_seed(0)
        model = MoCoV3SSLForPreTraining(config)
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        args = tiny_training_args(tmp_path, max_steps=2, ema_momentum=0.5, ema_schedule="constant")
        views = METHOD.train_views(config, default_processor(METHOD, config))
        SSLTrainer(model=model, args=args, train_dataset=MediaDataset(METHOD, config), train_views=views).train()
        return initial, model.state_dict()

    name = "encoder.embeddings.patch_embeddings.projection.weight"
    initial, state = trained(freeze=True)
    for key in (name, name.replace("weight", "bias"), "momentum_" + name):
        assert torch.equal(state[key], initial[key]), key
    fc1 = "encoder.layers.0.mlp.fc1.weight"
    assert not torch.equal(state[fc1], initial[fc1]) and not torch.equal(state["momentum_" + fc1], initial[fc1])
    initial, state = trained(freeze=False)
    assert not torch.equal(state[name], initial[name])


def test_the_published_encoder_is_the_query_encoder(tmp_path):
    model = _perturb_momentum(_model())
    model.save_pretrained(tmp_path)
    encoder = AutoModel.from_pretrained(tmp_path)
    for name, value in encoder.state_dict().items():
        assert torch.equal(value, model.encoder.state_dict()[name]), name
    assert any(not torch.equal(v, model.momentum_encoder.state_dict()[n]) for n, v in encoder.state_dict().items())


def test_official_momentum_schedule_is_the_method_default():
    from hf_jepa.cli import parse_pretrain_args

    _, _, args = parse_pretrain_args(["--method", "mocov3", "--output_dir", "out"])
    assert (args.ema_momentum, args.ema_momentum_end, args.ema_schedule) == (0.99, 1.0, "cosine")
    assert (args.weight_decay, args.weight_decay_end) == (0.1, None)


def test_bad_inputs_are_clear_errors():
    model = _model().train()
    crops = pretraining_inputs(METHOD, model.config, batch=3)["global_crops"]
    with pytest.raises(ValueError, match="`global_crops` holds one image.*negatives"):
        model(global_crops=crops[:1])
    with pytest.raises(ValueError, match="`global_crops` must be \\[batch, views >= 2"):
        model(global_crops=crops[:, :1])
    with pytest.raises(ValueError, match="`local_crops=None`"):
        model(global_crops=crops, local_crops=crops[..., :16, :16])
    for field, value in (("temperature", 0), ("prediction_hidden_size", 0), ("prediction_num_layers", -1)):
        with pytest.raises(ValueError, match=f"`{field}`"):
            MoCoV3SSLConfig(**{field: value})


def test_recipe_parses_to_the_official_configuration():
    from tests.test_cli import recipe_config

    config, data_args, training_args = recipe_config("mocov3_vitb16_in1k.sh")
    assert config.model_type == "mocov3_ssl" and config.hidden_size == 768 and config.grid_size == (14, 14)
    assert (config.projection_hidden_size, config.projection_size, config.prediction_hidden_size) == (4096, 256, 4096)
    assert config.temperature == 0.2 and config.freeze_patch_projection and tuple(data_args.crop_scale) == (0.08, 1)
    assert training_args.learning_rate == pytest.approx(1.5e-4 * 4096 / 256)
    assert (training_args.weight_decay, training_args.weight_decay_end) == (0.1, None)
    assert (training_args.ema_momentum, training_args.ema_momentum_end, training_args.ema_schedule) == (
        0.99,
        1.0,
        "cosine",
    )
    steps_per_epoch = 1281167 // 4096
    assert training_args.max_steps == 300 * steps_per_epoch and training_args.warmup_steps == 40 * steps_per_epoch
    assert training_args.max_grad_norm == 0 and training_args.bf16  # official: no gradient clipping
