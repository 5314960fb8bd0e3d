"""SimCLR configuration: the shared ViT plus the BatchNorm projection head, the NT-Xent temperature and SimCLR's
augmentation strengths."""

from .configuration_joint_embedding import JointEmbeddingConfig, check_positive


class SimCLRSSLConfig(JointEmbeddingConfig):
    r"""
    Configuration of [`SimCLRSSLForPreTraining`] (Chen et al., 2020; SimCLR v2, Chen et al., 2020b). Defaults follow
    the official code (google-research/simclr, `tf2/run.py` flags) on a ViT-B/16 encoder.

    Args:
        projection_hidden_size (`int`, *optional*): width of the projector's hidden layers; `None` (official) is the
            encoder's width.
        projection_size (`int`, defaults to 128): the projection the loss compares (official `proj_out_dim`).
        projection_num_layers (`int`, defaults to 3): linear layers of the projector (official `num_proj_layers`:
            3 in SimCLR v2's code, the v1 paper's head has 2); each is linear without bias -> BatchNorm, ReLU between
            them, and the last BatchNorm has a scale but no shift.
        temperature (`float`, defaults to 0.1): NT-Xent temperature. 0.1 is the official code's default and the
            ImageNet setting (large batches, LARS); the v1 paper's small-batch experiments and the official CIFAR-10
            command use 0.5, as does `hf-jepa pretrain`'s tiny default run (batch 128).
        color_jitter_strength (`float`, defaults to 1.0): strength s of the colour distortion: jitter of brightness,
            contrast, saturation 0.8 s and hue 0.2 s with p 0.8, grayscale p 0.2 (0 turns the distortion off;
            official CIFAR-10: 0.5).
        blur_probability (`float`, defaults to 0.5): probability of the Gaussian blur of each view (ImageNet; the
            official CIFAR-10 command turns the blur off).
        crop_scale (pair, defaults to (0.08, 1.0)): area range of the random resized crops.
    """

    model_type = "simclr_ssl"

    projection_hidden_size: int | None = None
    projection_size: int = 128
    projection_num_layers: int = 3
    temperature: float = 0.1
    color_jitter_strength: float = 1.0
    blur_probability: float = 0.5

    def __post_init__(self, **kwargs):
        check_positive(self, "temperature")
        if not 0.0 <= self.color_jitter_strength <= 2.5:  # hue jitter 0.2 s must stay within half the wheel
            raise ValueError(f"`color_jitter_strength` must be in [0, 2.5], got {self.color_jitter_strength}.")
        if not 0.0 <= self.blur_probability <= 1.0:
            raise ValueError(f"`blur_probability` must be in [0, 1], got {self.blur_probability}.")
        super().__post_init__(**kwargs)


__all__ = ["SimCLRSSLConfig"]
