"""I-JEPA configuration: the shared ViT plus predictor and multi-block masking hyper-parameters."""

from .configuration_jepa import JEPAConfig

PREDICTION_TARGETS = ("embeddings", "pixels")


class IJEPASSLConfig(JEPAConfig):
    r"""
    Configuration of [`IJEPASSLForPreTraining`]. Defaults follow the official I-JEPA recipe with a ViT-B/16
    encoder (the paper's ViT-H/14 is `hidden_size=1280, num_hidden_layers=32, num_attention_heads=16,
    patch_size=14`).

    Args:
        predictor_num_attention_heads (`int`, defaults to 12): predictor heads (officially the encoder's); the
            other predictor fields are [`JEPAConfig`]'s.
        num_targets (`int`, defaults to 4): target blocks per image.
        target_scale (pair, defaults to (0.15, 0.2)): area of each target block, as a fraction of the grid.
        target_aspect_ratio (pair, defaults to (0.75, 1.5)): height/width of target blocks.
        context_scale (pair, defaults to (0.85, 1.0)): area of the context block (aspect ratio 1).
        min_keep (`int`, defaults to 10): a context must keep more than this many tokens.
        loss_type (`str`, defaults to `"smooth_l1"`): `"smooth_l1"` (official code), `"l2"` (paper) or `"l1"`.
        prediction_target (`str`, defaults to `"embeddings"`): what the predictor predicts at the target blocks:
            the EMA encoder's layer-normed embeddings (I-JEPA), or `"pixels"`, the ablation of the paper's Table 7:
            the per-patch normalised pixels of the target patches (MAE's `norm_pix_loss` targets) through a linear
            layer after the predictor, with the `loss_type` loss (`"l2"` is MAE's). The EMA encoder is still kept and
            published, so that only the target changes.
    """

    model_type = "ijepa_ssl"

    num_targets: int = 4
    target_scale: list[float] | tuple[float, float] = (0.15, 0.2)
    target_aspect_ratio: list[float] | tuple[float, float] = (0.75, 1.5)
    context_scale: list[float] | tuple[float, float] = (0.85, 1.0)
    min_keep: int = 10
    loss_type: str = "smooth_l1"
    prediction_target: str = "embeddings"

    def __post_init__(self, **kwargs):
        if self.prediction_target not in PREDICTION_TARGETS:
            raise ValueError(
                f"`prediction_target` must be one of {PREDICTION_TARGETS}, got {self.prediction_target!r}."
            )
        if self.prediction_target == "pixels" and self.sigreg_weight > 0:
            raise ValueError("`prediction_target='pixels'` keeps the EMA encoder: set `sigreg_weight=0`.")
        super().__post_init__(**kwargs)


# The name before the naming scheme became the paper's spelling (I-JEPA -> IJEPA).
IJepaSSLConfig = IJEPASSLConfig

__all__ = ["IJEPASSLConfig", "IJepaSSLConfig"]
