"""I-JEPA configuration: the shared ViT plus predictor and multi-block masking hyper-parameters."""

from .configuration_vit_ssl import SSLViTConfig


class IJepaSSLConfig(SSLViTConfig):
    r"""
    Configuration of [`IJepaSSLForPreTraining`]. Defaults follow the official I-JEPA recipe with a ViT-B/16
    encoder (the paper's ViT-H/14 is `hidden_size=1280, num_hidden_layers=32, num_attention_heads=16,
    patch_size=14`).

    Args:
        predictor_hidden_size (`int`, defaults to 384): predictor width (official 384).
        predictor_num_hidden_layers (`int`, defaults to 12): predictor depth (official 12).
        predictor_num_attention_heads (`int`, defaults to 12): predictor heads (officially the encoder's).
        num_targets (`int`, defaults to 4): target blocks per image.
        target_scale (pair, defaults to (0.15, 0.2)): area of each target block, as a fraction of the grid.
        target_aspect_ratio (pair, defaults to (0.75, 1.5)): height/width of target blocks.
        context_scale (pair, defaults to (0.85, 1.0)): area of the context block (aspect ratio 1).
        min_keep (`int`, defaults to 10): a context must keep more than this many tokens.
        loss_type (`str`, defaults to `"smooth_l1"`): `"smooth_l1"` (official code), `"l2"` (paper) or `"l1"`.
    """

    model_type = "ijepa_ssl"

    predictor_hidden_size: int = 384
    predictor_num_hidden_layers: int = 12
    predictor_num_attention_heads: int = 12
    num_targets: int = 4
    target_scale: list[float] | tuple[float, float] = (0.15, 0.2)
    target_aspect_ratio: list[float] | tuple[float, float] = (0.75, 1.5)
    context_scale: list[float] | tuple[float, float] = (0.85, 1.0)
    min_keep: int = 10
    loss_type: str = "smooth_l1"

    def __post_init__(self, **kwargs):
        if self.predictor_hidden_size % self.predictor_num_attention_heads:
            raise ValueError(
                f"`predictor_hidden_size` ({self.predictor_hidden_size}) must be divisible by "
                f"`predictor_num_attention_heads` ({self.predictor_num_attention_heads})."
            )
        super().__post_init__(**kwargs)


__all__ = ["IJepaSSLConfig"]
