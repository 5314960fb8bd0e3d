"""What the configurations of SimCLR, MoCo v3 and BYOL share: the pooled feature their heads read, the BatchNorm
projection MLP and the crop scale of their two views; each method's config subclasses it with its own defaults."""

from .configuration_backbones import BackboneViTConfig


class JointEmbeddingConfig(BackboneViTConfig):
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
        backbone_config: a CNN encoder instead of the ViT (`BackboneViTConfig`).
    """

    use_cls_token: bool = True
    pooling: str = "cls"
    projection_hidden_size: int | None = 4096
    projection_size: int = 256
    projection_num_layers: int = 2
    crop_scale: list[float] | tuple[float, float] = (0.08, 1.0)

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)  # first: the backbone's config, and so `pooled_size`
        if self.projection_hidden_size is None:
            self.projection_hidden_size = self.pooled_size
        check_positive(self, "projection_hidden_size", "projection_size", "projection_num_layers")
        scale = tuple(self.crop_scale)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"`crop_scale` must be (low, high) with 0 < low <= high <= 1, got {self.crop_scale}.")


def check_positive(config, *names: str) -> None:
    """Each named field must be a positive number: a clear error naming it otherwise."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"`{name}` must be > 0, got {value!r}.")


def check_predictor_layers(config) -> None:
    """`prediction_num_layers`: a whole number >= 0 (0: no predictor, the ablation)."""
    value = config.prediction_num_layers
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`prediction_num_layers` must be an integer >= 0 (0: no predictor), got {value!r}.")


__all__ = ["JointEmbeddingConfig", "check_positive", "check_predictor_layers"]
