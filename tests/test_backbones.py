"""CNN encoders through `backbone_config`: the joint-embedding methods train a transformers ResNet / ConvNeXt, which
saves, reloads and exports as that transformers class."""

import pytest
import torch
from transformers import AutoModel, IJepaConfig, ResNetConfig, ResNetModel

from hf_jepa import METHODS
from hf_jepa.hub.export import export_to_transformers, to_transformers
from hf_jepa.models.configuration_backbones import BACKBONES, backbone_config_from

JOINT = [pytest.param(METHODS[name], id=name) for name in ("simclr", "mocov3", "byol")]


def tiny_resnet() -> ResNetConfig:
    return ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")


def cnn_config(method, backbone=None, **overrides):
    heads = dict(projection_hidden_size=32, projection_size=16)
    if "prediction_hidden_size" in method.config_class.__dataclass_fields__:
        heads["prediction_hidden_size"] = 32
    fields = {**method.default_config, **heads, "backbone_config": backbone or tiny_resnet(), **overrides}
    return method.config_class(**fields)


def crops(batch=4, seed=0):
    return torch.randn(batch, 2, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", JOINT)
def test_cnn_encoder_trains_saves_and_reloads(method, tmp_path):
    config = cnn_config(method)
    assert config.pooled_size == 16 and config.projection_hidden_size == 32
    torch.manual_seed(0)
    model = method.pretraining_class(config)
    assert isinstance(model.encoder.backbone, ResNetModel) and model.projector[0].in_features == 16
    # MoCo v3's frozen patch projection is a ViT option: every CNN weight trains.
    assert all(p.requires_grad for p in model.encoder.parameters())
    outputs = model(global_crops=crops())
    outputs.loss.backward()
    assert torch.isfinite(outputs.loss)
    assert model.encoder.backbone.embedder.embedder.convolution.weight.grad.abs().sum() > 0

    model.save_pretrained(tmp_path)
    encoder = AutoModel.from_pretrained(tmp_path)
    assert type(encoder) is method.model_class and isinstance(encoder.backbone, ResNetModel)
    assert isinstance(encoder.config.backbone_config, ResNetConfig) and encoder.config.backbone_config.depths == [1, 1]
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(encoder.state_dict()[name], value), name
    images = torch.randn(3, 3, 32, 32)
    pooled = encoder.eval()(pixel_values=images).pooler_output
    assert pooled.shape == (3, 16)
    assert torch.allclose(encoder.backbone(images).pooler_output.flatten(1), pooled)

    classifier = method.classification_class.from_pretrained(tmp_path, num_labels=5)
    assert classifier.classifier.in_features == 16 and classifier(pixel_values=images).logits.shape == (3, 5)


@pytest.mark.parametrize("method", JOINT)
def test_cnn_export_is_a_plain_transformers_model(method, tmp_path):
    torch.manual_seed(0)
    model = method.pretraining_class(cnn_config(method))
    model(global_crops=crops())  # moves the BatchNorm running statistics off their init
    model.save_pretrained(tmp_path / "run")
    result = export_to_transformers(str(tmp_path / "run"), str(tmp_path / "native"))
    assert result.target == "ResNetModel"
    native = AutoModel.from_pretrained(tmp_path / "native")
    assert type(native) is ResNetModel
    images = torch.randn(2, 3, 32, 32)
    ours = model.encoder.eval()(pixel_values=images).pooler_output
    assert torch.allclose(native.eval()(images).pooler_output.flatten(1), ours, atol=1e-6)
    assert type(to_transformers(model)) is ResNetModel


@pytest.mark.parametrize("method", [p for p in JOINT if p.id != "simclr"])
def test_cnn_target_normalises_with_batch_statistics(method):
    """The EMA target's BatchNorm is not EMA'd: it runs in training mode (batch statistics, its own running ones),
    as the official momentum / target encoders, instead of normalising with running statistics stuck at init."""
    model = method.pretraining_class(cnn_config(method)).train()
    target_name = dict(model.ema_pairs)["encoder"]
    target = model.get_submodule(target_name)
    assert target.training and model.encoder.training
    bn = target.backbone.embedder.embedder.normalization
    before = bn.running_mean.clone()
    model(global_crops=crops())
    assert not torch.equal(bn.running_mean, before)
    model.eval()
    assert not target.training


def test_backbone_config_forms_and_errors():
    config = backbone_config_from({"model_type": "resnet", "depths": [1, 1], "hidden_sizes": [8, 16]})
    assert isinstance(config, ResNetConfig) and config.hidden_sizes == [8, 16]
    assert backbone_config_from("resnet50").hidden_sizes[-1] == 2048
    assert backbone_config_from("resnet18").layer_type == "basic"
    assert set(BACKBONES) >= {"resnet18", "resnet50", "convnext_tiny"}
    with pytest.raises(ValueError, match="`backbone` must be one of"):
        backbone_config_from("resnet7")
    with pytest.raises(ValueError, match="`backbone_config` must be"):
        backbone_config_from(["resnet"])


def test_a_backbone_without_pooled_output_is_refused():
    method = METHODS["byol"]
    vit = IJepaConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=32)
    model = method.pretraining_class(cnn_config(method, backbone=vit))
    with pytest.raises(ValueError, match="`backbone_config` \\(IJepaConfig\\) gives no pooled output"):
        model(global_crops=crops())


def test_backbone_on_the_command_line(tmp_path):
    from hf_jepa.cli import parse_pretrain_args
    from hf_jepa.cli.pretrain import build_model

    model_args, _, _ = parse_pretrain_args(["--method", "byol", "--backbone", "resnet18", "--output_dir", "out"])
    _, config, model, _ = build_model(model_args)
    assert config.backbone_config.layer_type == "basic" and config.pooled_size == 512
    assert isinstance(model.target_encoder.backbone, ResNetModel)
    model_args, _, _ = parse_pretrain_args(["--method", "ijepa", "--backbone", "resnet18", "--output_dir", "out"])
    with pytest.raises(ValueError, match="`--backbone`: I-JEPA trains the ViT only"):
        build_model(model_args)


def test_resnet50_recipes_parse_to_the_official_lars_configurations():
    from tests.test_cli import recipe_config

    simclr, _, simclr_args = recipe_config("simclr_resnet50_in1k.sh")
    byol, _, byol_args = recipe_config("byol_resnet50_in1k.sh")
    for config in (simclr, byol):
        resnet = config.backbone_config
        assert (resnet.layer_type, resnet.depths, config.pooled_size) == ("bottleneck", [3, 4, 6, 3], 2048)
    # SimCLR v2's README: lr 0.075 x sqrt(4096), weight decay 1e-4, 100 epochs with 10 of warm-up, temperature 0.1.
    assert simclr_args.optim == "lars" and simclr_args.learning_rate == 0.075 * 4096**0.5
    assert (simclr_args.weight_decay, simclr_args.max_steps, simclr_args.warmup_steps) == (1e-4, 31200, 3120)
    assert (simclr.temperature, simclr.projection_num_layers, simclr.projection_hidden_size) == (0.1, 3, 2048)
    # BYOL's 300-epoch preset: lr 0.3 x 4096 / 256, weight decay 1e-6, EMA 0.99 -> 1 on a cosine.
    assert byol_args.optim == "lars" and byol_args.learning_rate == 0.3 * 4096 / 256
    assert (byol_args.weight_decay, byol_args.max_steps, byol_args.warmup_steps) == (1e-6, 93600, 3120)
    assert (byol_args.ema_momentum, byol_args.ema_momentum_end, byol_args.ema_schedule) == (0.99, 1.0, "cosine")
    assert (byol.projection_hidden_size, byol.projection_size, byol.prediction_hidden_size) == (4096, 256, 4096)


def test_card_of_a_cnn_run_describes_the_cnn_and_its_export(tmp_path):
    from hf_jepa.hub.cards import model_card

    method = METHODS["simclr"]
    method.pretraining_class(cnn_config(method)).save_pretrained(tmp_path)
    card = str(model_card(str(tmp_path), results={}))
    assert "# SimCLR ResNet (16 features)" in card and "transformers' `ResNetModel` (a CNN: `resnet`" in card
    assert "from transformers import AutoImageProcessor, ResNetModel  # no hf_jepa needed" in card
    assert "Vision Transformer" not in card


def test_dino_takes_a_cnn_backbone_too(tmp_path):
    method = METHODS["dino"]
    config = method.config_class(**{**method.default_config, "backbone_config": tiny_resnet(), "head_output_size": 64})
    model = method.pretraining_class(config).train()
    assert config.pooled_size == 16 and isinstance(model.encoder.backbone, ResNetModel)
    assert model.encoder.training  # the CNN teacher normalises with batch statistics
    global_crops = torch.randn(4, 2, 3, 32, 32)
    local_crops = torch.randn(4, 2, 3, 16, 16)
    outputs = model(global_crops=global_crops, local_crops=local_crops)
    outputs.loss.backward()
    assert torch.isfinite(outputs.loss)
    model.save_pretrained(tmp_path / "run")
    assert export_to_transformers(str(tmp_path / "run"), str(tmp_path / "native")).target == "ResNetModel"
