"""LeJEPA (Balestriero and LeCun, 2025): the projections of every view of an image are pulled to the mean of its
global views' projections, and SIGReg keeps each view's projections an isotropic Gaussian; one encoder, no EMA
target, no stop-gradient, no predictor."""

from dataclasses import dataclass

import torch

from .configuration_lejepa import LeJEPASSLConfig
from .losses import normalized_std, sigreg_of_step
from .modeling_backbones import SSLEncoder
from .modeling_joint_embedding import JointEmbeddingPreTrainedModel, build_head, check_two_views
from .modeling_ssl_vit import SSLPreTrainingOutput, SSLViTForImageClassification
from .multi_crop import views_first
from .sigreg import SIGReg


class LeJEPASSLPreTrainedModel(JointEmbeddingPreTrainedModel):
    config_class = LeJEPASSLConfig
    config: LeJEPASSLConfig


class LeJEPASSLModel(LeJEPASSLPreTrainedModel, SSLEncoder):
    """The LeJEPA encoder (the only one: the projector is dropped)."""


class LeJEPASSLForImageClassification(LeJEPASSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = LeJEPASSLModel


@dataclass
class LeJEPASSLForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): (1 - sigreg_weight) * prediction + sigreg_weight * SIGReg.
        projections (`torch.FloatTensor` of shape `(batch, views, projection_size)`): the projector's outputs, global
            views first, then local ones.
    """

    projections: torch.FloatTensor | None = None


def isotropy(embeddings: torch.Tensor) -> torch.Tensor:
    """Collapse monitor: tr(C)^2 / (P tr(C^2)) of the covariance C of embeddings [N, P], 1 when the embedding spreads
    equally in every direction, 1/P when it lies on one line (the participation ratio of C's eigenvalues over P)."""
    x = embeddings.detach().float()
    cov = torch.cov(x.T).reshape(x.shape[1], x.shape[1])
    return cov.trace().square() / (x.shape[1] * (cov * cov).sum()).clamp_min(1e-12)


class LeJEPASSLForPreTraining(LeJEPASSLPreTrainedModel):
    """Encoder (published) + projector, and SIGReg on the projections."""

    main_input_name = "global_crops"
    compared_output = "mean of the global views"  # what `embed_views`' second output is, in words (demo captions)

    def __init__(self, config: LeJEPASSLConfig):
        super().__init__(config)
        self.encoder = LeJEPASSLModel(config)
        # Official: torchvision's MLP with BatchNorm (linear -> BatchNorm -> ReLU per hidden layer, then a linear; its
        # last linear has a bias, ours none: a constant shift the prediction loss ignores and SIGReg removes).
        self.projector = build_head(config, "projection", hidden_bias=True, last_norm=None)
        self.sigreg = SIGReg(num_slices=config.sigreg_num_slices, num_knots=config.sigreg_num_knots)
        self.post_init()

    def scheduled_inputs(self, step: int) -> dict[str, int]:
        """SIGReg's slices of this optimizer step: the same on every process, new each step, back on resume."""
        return {"sigreg_step": step}

    def project(self, global_crops: torch.Tensor, local_crops: torch.Tensor | None = None) -> torch.Tensor:
        """Views -> projections [V, B, P], global views first: one batched encoder call per crop size, one
        projector call over every view (BatchNorm over all views, as the official script's flattened batch)."""
        batch = global_crops.shape[0]
        features = [self.encoder(views_first(global_crops), return_dict=True).pooler_output]
        if local_crops is not None and local_crops.shape[1] > 0:
            local = self.encoder(views_first(local_crops), interpolate_pos_encoding=True, return_dict=True)
            features.append(local.pooler_output)
        return self.projector(torch.cat(features)).unflatten(0, (-1, batch))

    def embed_views(self, global_crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """global_crops [B, V, C, H, W] -> (projections, the mean of the views' projections), each [B, V, P]: what
        the prediction loss compares."""
        projections = self.project(global_crops)
        return projections.transpose(0, 1), projections.mean(0, keepdim=True).expand_as(projections).transpose(0, 1)

    def forward(
        self,
        global_crops: torch.Tensor | None = None,
        local_crops: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        sigreg_step: int | None = None,
        generator: torch.Generator | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> LeJEPASSLForPreTrainingOutput | tuple:
        """global_crops [B, Vg, C, H, W] at the model's image size, local_crops [B, Vl, C, h, w] (optional), as
        `hf_jepa.MultiCropViews` makes them. `sigreg_step` picks SIGReg's random slices (the trainer passes its
        optimizer step; the same on every process); without it, a `generator` in one process draws them (the same
        generator, the same loss), else SIGReg's own call counter does."""
        check_two_views(self.config, global_crops, local_crops, pixel_values, "LeJEPA", exact=False)
        projections = self.project(global_crops, local_crops)  # [V, B, P]
        center = projections[: global_crops.shape[1]].mean(0)  # the global views' mean: every view's target
        prediction = (projections - center).square().mean()
        sigreg = sigreg_of_step(self.sigreg, projections, sigreg_step, generator)
        weight = self.config.sigreg_weight
        loss = (1 - weight) * prediction + weight * sigreg
        flat = projections.flatten(0, 1)
        logs = {
            "loss_prediction": prediction.detach(),
            "loss_sigreg": sigreg.detach(),
            "isotropy": isotropy(flat),  # collapse monitors
            "projection_std": normalized_std(flat),
        }
        output = LeJEPASSLForPreTrainingOutput(loss=loss, logs=logs, projections=projections.transpose(0, 1))
        return self.as_return_type(output, return_dict)


__all__ = [
    "LeJEPASSLPreTrainedModel",
    "LeJEPASSLModel",
    "LeJEPASSLForImageClassification",
    "LeJEPASSLForPreTraining",
    "LeJEPASSLForPreTrainingOutput",
]
