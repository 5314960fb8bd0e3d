"""Encoders other than the shared ViT, as configs: any transformers vision model with a pooled output (ResNet,
ConvNeXt, ...) named by a method config's `backbone_config`, and the names `--backbone` accepts."""

from transformers import AutoConfig, ConvNextConfig, PreTrainedConfig, ResNetConfig

from .configuration_ssl_vit import SSLViTConfig


def _resnet(layer_type: str, depths: list[int], widths: list[int]) -> ResNetConfig:
    return ResNetConfig(layer_type=layer_type, depths=depths, hidden_sizes=widths, downsample_in_bottleneck=False)


_BASIC, _BOTTLENECK = [64, 128, 256, 512], [256, 512, 1024, 2048]
# `--backbone` names: torchvision's ResNets (v1.5: stride in the 3x3 convolution, as SimCLR's and BYOL's ResNet-50)
# and ConvNeXt-T.
BACKBONES = {
    "resnet18": lambda: _resnet("basic", [2, 2, 2, 2], _BASIC),
    "resnet34": lambda: _resnet("basic", [3, 4, 6, 3], _BASIC),
    "resnet50": lambda: _resnet("bottleneck", [3, 4, 6, 3], _BOTTLENECK),
    "resnet101": lambda: _resnet("bottleneck", [3, 4, 23, 3], _BOTTLENECK),
    "convnext_tiny": lambda: ConvNextConfig(depths=[3, 3, 9, 3], hidden_sizes=[96, 192, 384, 768]),
}


def backbone_config_from(value) -> PreTrainedConfig | None:
    """A `backbone_config` given as a config, its dict (as config.json stores it) or a `BACKBONES` name -> config."""
    if value is None or isinstance(value, PreTrainedConfig):
        return value
    if isinstance(value, str):
        if value not in BACKBONES:
            raise ValueError(f"`backbone` must be one of {sorted(BACKBONES)} (or a config), got {value!r}.")
        return BACKBONES[value]()
    if isinstance(value, dict) and "model_type" in value:
        fields = {k: v for k, v in value.items() if k != "model_type"}
        return AutoConfig.for_model(value["model_type"], **fields)
    raise ValueError(
        "`backbone_config` must be a transformers config (e.g. ResNetConfig()), its dict with a `model_type`, or one "
        f"of {sorted(BACKBONES)}, got {type(value).__name__}."
    )


def pooled_width(backbone_config: PreTrainedConfig) -> int:
    """Width of the backbone's pooled feature: the last stage's channels (ResNet, ConvNeXt) or `hidden_size`."""
    widths = getattr(backbone_config, "hidden_sizes", None)
    width = widths[-1] if widths else getattr(backbone_config, "hidden_size", None)
    if not isinstance(width, int):
        raise ValueError(
            f"`backbone_config` ({type(backbone_config).__name__}) states no feature width (`hidden_sizes` or "
            "`hidden_size`): use a vision backbone such as ResNetConfig or ConvNextConfig."
        )
    return width


class BackboneViTConfig(SSLViTConfig):
    r"""
    Base of the configs whose methods need no token masking and so take any encoder (never registered on its own).

    Args:
        backbone_config (`PreTrainedConfig`, `dict` or `str`, *optional*): a transformers vision model with a pooled
            output to use as the encoder instead of the shared ViT (e.g. `ResNetConfig()`, `ConvNextConfig()`, or a
            name of `BACKBONES` such as `"resnet50"`); the ViT fields then only set the image size. Its export is that
            transformers model itself.
    """

    sub_configs = {"backbone_config": AutoConfig}

    backbone_config: dict | PreTrainedConfig | str | None = None

    def __post_init__(self, **kwargs):
        self.backbone_config = backbone_config_from(self.backbone_config)
        if self.backbone_config is not None:
            pooled_width(self.backbone_config)  # a clear error now for a backbone without a feature width
        super().__post_init__(**kwargs)

    @property
    def pooled_size(self) -> int:
        """Width of the encoder's pooled feature, what the heads and a classifier read."""
        return self.hidden_size if self.backbone_config is None else pooled_width(self.backbone_config)


__all__ = ["BACKBONES", "BackboneViTConfig", "backbone_config_from", "pooled_width"]
