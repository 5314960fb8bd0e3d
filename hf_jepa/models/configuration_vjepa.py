"""V-JEPA configuration: the shared ViT on 3-D tubelets plus predictor and 3-D multi-block masking."""

from .configuration_vit_ssl import SSLViTConfig
from .masking_3d import VJEPA_MASK_SETS, MultiBlock3DMaskGenerator


class VJEPASSLConfig(SSLViTConfig):
    r"""
    Configuration of [`VJEPASSLForPreTraining`]. Defaults follow the official V-JEPA 2 recipe at ViT-L/16: 16-frame
    clips of 224 px in 2x16x16 tubelets, 3-D rotary positions, a 384-wide 12-deep predictor, the two mask sets of
    V-JEPA (8 blocks of 15% and 2 blocks of 70% of the frame, full duration). `position_embedding_type="sincos"`
    gives V-JEPA (1)'s fixed 3-D sin-cos tables instead.

    Args:
        predictor_hidden_size (`int`, defaults to 384): predictor width.
        predictor_num_hidden_layers (`int`, defaults to 12): predictor depth.
        predictor_num_attention_heads (`int`, defaults to 12): predictor heads (V-JEPA 2: 12; V-JEPA: the encoder's).
        mask_sets (list of dicts, defaults to the official two): each with `num_blocks`, `spatial_scale`,
            `temporal_scale`, `aspect_ratio`, `max_temporal_keep` (see `BlockMaskSet`). The predictor has one mask
            token per mask set.
        loss_exponent (`float`, defaults to 1.0): loss `mean(|prediction - target| ** p) / p` (1: L1, official).
        probe_num_attention_heads (`int`, *optional*): heads of the attentive probe of
            [`VJEPASSLForVideoClassification`]; the encoder's when unset.
    """

    model_type = "vjepa_ssl"

    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    num_frames: int = 16
    tubelet_size: int = 2
    position_embedding_type: str = "rope"
    predictor_hidden_size: int = 384
    predictor_num_hidden_layers: int = 12
    predictor_num_attention_heads: int = 12
    mask_sets: list[dict] | tuple[dict, ...] = tuple(m.to_dict() for m in VJEPA_MASK_SETS)
    loss_exponent: float = 1.0
    probe_num_attention_heads: int | None = None

    def __post_init__(self, **kwargs):
        if self.predictor_hidden_size % self.predictor_num_attention_heads:
            raise ValueError(
                f"`predictor_hidden_size` ({self.predictor_hidden_size}) must be divisible by "
                f"`predictor_num_attention_heads` ({self.predictor_num_attention_heads})."
            )
        if self.loss_exponent <= 0:
            raise ValueError(f"`loss_exponent` must be > 0, got {self.loss_exponent}.")
        self.mask_sets = [dict(m) for m in self.mask_sets]
        super().__post_init__(**kwargs)
        MultiBlock3DMaskGenerator(self.token_grid_size, self.mask_sets)  # clear errors for bad mask sets now
        if self.probe_num_attention_heads is not None and self.hidden_size % self.probe_num_attention_heads:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `probe_num_attention_heads` "
                f"({self.probe_num_attention_heads})."
            )


__all__ = ["VJEPASSLConfig"]
