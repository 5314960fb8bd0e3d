"""What the configurations of SimCLR, MoCo v3 and BYOL share: the pooled feature their heads read, the BatchNorm
projection MLP and the crop scale of their two views; each method's config subclasses it with its own defaults."""

from transformers import AutoConfig, PreTrainedConfig

from .configuration_backbones import backbone_config_from, pooled_width
from .configuration_ssl_vit import SSLViTConfig


class JointEmbeddingConfig(SSLViTConfig):
    r"""
    Base of the two-view joint-embedding configs (never registered on its own).

    Args:
        use_cls_token (`bool`, defaults to `True`): the heads read the CLS token, as MoCo v3's ViT (the official code
            of the three methods with a ViT) and DINO.
        pooling (`str`, defaults to `"cls"`): `pooler_output`, the heads' input and the published feature.
        projection_hidden_size (`int`, *optional*): width of the projector's hidden layers; `None`: the encoder's
            `hidden_size` (SimCLR's choice).
        projection_size (`int`): output size of the projector.
        projection_num_layers (`int`): linear layers of the projector.
        crop_scale (pair, defaults to (0.08, 1.0)): area range of the random resized crops of both views.
        backbone_config (`PreTrainedConfig`, `dict` or `str`, *optional*): a transformers vision model with a pooled
            output to use as the encoder instead of the shared ViT (e.g. `ResNetConfig()`, `ConvNextConfig()`, or a
            name of `hf_jepa.models.backbones.BACKBONES` such as `"resnet50"`); the ViT fields then only set the
            image size. Its export is that transformers model itself.
    """

    sub_configs = {"backbone_config": AutoConfig}

    use_cls_token: bool = True
    pooling: str = "cls"
    projection_hidden_size: int | None = 4096
    projection_size: int = 256
    projection_num_layers: int = 2
    crop_scale: list[float] | tuple[float, float] = (0.08, 1.0)
    backbone_config: dict | PreTrainedConfig | str | None = None

    def __post_init__(self, **kwargs):
        self.backbone_config = backbone_config_from(self.backbone_config)
        if self.backbone_config is not None:
            pooled_width(self.backbone_config)  # a clear error now for a backbone without a feature width
        if self.projection_hidden_size is None:
            self.projection_hidden_size = self.pooled_size
        check_positive(self, "projection_hidden_size", "projection_size", "projection_num_layers")
        scale = tuple(self.crop_scale)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"`crop_scale` must be (low, high) with 0 < low <= high <= 1, got {self.crop_scale}.")
        super().__post_init__(**kwargs)

    @property
    def pooled_size(self) -> int:
        """Width of the encoder's pooled feature, what the heads and a classifier read."""
        return self.hidden_size if self.backbone_config is None else pooled_width(self.backbone_config)


def check_positive(config, *names: str) -> None:
    """Each named field must be a positive number: a clear error naming it otherwise."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"`{name}` must be > 0, got {value!r}.")


__all__ = ["JointEmbeddingConfig", "check_positive"]
