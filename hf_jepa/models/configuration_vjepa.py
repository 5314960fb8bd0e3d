"""V-JEPA configuration: the shared ViT on 3-D tubelets plus predictor and 3-D multi-block masking."""

from .configuration_jepa import JEPAConfig
from .configuration_ssl_vit import check_heads
from .masking_3d import VJEPA_MASK_SETS, MultiBlock3DMaskGenerator


class VJEPASSLConfig(JEPAConfig):
    r"""
    Configuration of [`VJEPASSLForPreTraining`]. Defaults follow the official V-JEPA 2 recipe at ViT-L/16: 16-frame
    clips of 224 px in 2x16x16 tubelets, 3-D rotary positions, a 384-wide 12-deep predictor, the two mask sets of
    V-JEPA (8 blocks of 15% and 2 blocks of 70% of the frame, full duration). `position_embedding_type="sincos"`
    gives V-JEPA (1)'s fixed 3-D sin-cos tables instead.

    Args:
        predictor_num_attention_heads (`int`, defaults to 12): predictor heads (V-JEPA 2: 12; V-JEPA: the encoder's);
            the other predictor fields are [`JEPAConfig`]'s.
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
    mask_sets: list[dict] | tuple[dict, ...] = tuple(m.to_dict() for m in VJEPA_MASK_SETS)
    loss_exponent: float = 1.0
    probe_num_attention_heads: int | None = None

    def __post_init__(self, **kwargs):
        if self.loss_exponent <= 0:
            raise ValueError(f"`loss_exponent` must be > 0, got {self.loss_exponent}.")
        self.mask_sets = [dict(m) for m in self.mask_sets]
        super().__post_init__(**kwargs)
        MultiBlock3DMaskGenerator(self.token_grid_size, self.mask_sets)  # clear errors for bad mask sets now
        if self.probe_num_attention_heads is not None:
            check_heads(self, "hidden_size", "probe_num_attention_heads")


__all__ = ["VJEPASSLConfig"]
