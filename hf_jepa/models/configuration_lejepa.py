"""LeJEPA configuration: the shared ViT (or a CNN backbone) plus the projector, the multi-crop views and SIGReg's
weight and sketch."""

from .configuration_joint_embedding import JointEmbeddingConfig, check_positive
from .configuration_ssl_vit import check_local_crop_size


class LeJEPASSLConfig(JointEmbeddingConfig):
    r"""
    Configuration of [`LeJEPASSLForPreTraining`] (Balestriero and LeCun, 2025). Defaults follow the official minimal
    script (rbalestr-lab/lejepa `MINIMAL.md`) and the paper's full recipe for the loss weight.

    Args:
        projection_hidden_size (`int`, defaults to 2048): hidden width of the projector (official: torchvision `MLP`
            with BatchNorm, 2048 -> 2048).
        projection_size (`int`, defaults to 128): the embedding SIGReg shapes (official script: `proj_dim`, 128 by
            default, 16 in its ImageNette command).
        projection_num_layers (`int`, defaults to 3): linear layers of the projector (linear -> BatchNorm -> ReLU per
            hidden layer, a plain last linear).
        sigreg_weight (`float`, defaults to 0.05): lambda in `(1 - lambda) * prediction + lambda * SIGReg`, in
            [0, 1] (the paper's recipe: 0.05; the minimal script's command: 0.02).
        sigreg_num_slices (`int`, defaults to 256): random directions the embedding is projected on (official script:
            256; `SIGReg`'s own default 1024).
        sigreg_num_knots (`int`, defaults to 17): quadrature knots of the Epps-Pulley integral.
        num_global_crops (`int`, defaults to 2): global views at `image_size`; their mean is every view's target
            (the minimal script makes 4 views of one size and uses them all as global views).
        num_local_crops (`int`, defaults to 6): local views, predicted too but not part of the target.
        local_crop_size (`int`, defaults to 96): side of the local views.
        crop_scale (pair, defaults to (0.3, 1.0)): area range of the global crops.
        local_crop_scale (pair, defaults to (0.05, 0.3)): area range of the local crops.
    """

    model_type = "lejepa_ssl"

    projection_hidden_size: int | None = 2048
    projection_size: int = 128
    projection_num_layers: int = 3
    sigreg_weight: float = 0.05
    sigreg_num_slices: int = 256
    sigreg_num_knots: int = 17
    num_global_crops: int = 2
    num_local_crops: int = 6
    local_crop_size: int = 96
    crop_scale: list[float] | tuple[float, float] = (0.3, 1.0)
    local_crop_scale: list[float] | tuple[float, float] = (0.05, 0.3)

    def __post_init__(self, **kwargs):
        if not 0.0 <= self.sigreg_weight <= 1.0:
            raise ValueError(f"`sigreg_weight` (lambda) must be in [0, 1], got {self.sigreg_weight}.")
        check_positive(self, "sigreg_num_slices", "sigreg_num_knots", "num_global_crops")
        if self.num_local_crops < 0:
            raise ValueError(f"`num_local_crops` must be >= 0, got {self.num_local_crops}.")
        super().__post_init__(**kwargs)
        check_local_crop_size(self)


__all__ = ["LeJEPASSLConfig"]
