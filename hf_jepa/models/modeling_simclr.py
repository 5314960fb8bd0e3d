"""SimCLR (Chen et al., 2020): two views of each image are pulled together and pushed away from every other view in
the (global) batch by a normalised-temperature cross-entropy on the projections."""

from dataclasses import dataclass

import torch
import torch.nn as nn
from transformers import initialization as init

from .configuration_simclr import SimCLRSSLConfig
from .losses import normalized_std, nt_xent_loss
from .modeling_backbones import SSLEncoder
from .modeling_joint_embedding import JointEmbeddingPreTrainedModel, build_head, check_two_views, pooled_views
from .modeling_ssl_vit import SSLPreTrainingOutput, SSLViTForImageClassification


class SimCLRSSLPreTrainedModel(JointEmbeddingPreTrainedModel):
    config_class = SimCLRSSLConfig
    config: SimCLRSSLConfig

    def init_head_linear(self, linear: nn.Linear) -> None:
        # Official `LinearLayer`: kernel ~ N(0, 0.01^2); no bias before BatchNorm.
        init.normal_(linear.weight, std=0.01)
        if linear.bias is not None:
            init.zeros_(linear.bias)


class SimCLRSSLModel(SimCLRSSLPreTrainedModel, SSLEncoder):
    """The SimCLR encoder (the network SimCLR evaluates; the projection head is dropped)."""


class SimCLRSSLForImageClassification(SimCLRSSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = SimCLRSSLModel


@dataclass
class SimCLRSSLForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): NT-Xent, the official sum over both views of the mean over images.
        projections (`torch.FloatTensor` of shape `(batch, 2, projection_size)`): the projector's outputs of both views
            (before L2 normalisation).
    """

    projections: torch.FloatTensor | None = None


class SimCLRSSLForPreTraining(SimCLRSSLPreTrainedModel):
    """Encoder (published) + BatchNorm projection head; no second network."""

    main_input_name = "global_crops"
    compared_output = "projection"  # what `embed_views`' second output is, in words (demo captions)

    def __init__(self, config: SimCLRSSLConfig):
        super().__init__(config)
        self.encoder = SimCLRSSLModel(config)
        # Official `ProjectionHead` ("nonlinear"): linear -> BatchNorm -> ReLU per hidden layer, the last linear ->
        # BatchNorm with a scale and no shift; no linear has a bias.
        self.projector = build_head(config, "projection", last_norm="scale")
        self.post_init()

    def embed_views(self, global_crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """global_crops [B, 2, C, H, W] -> (projections, projections), each [B, 2, P]: what the loss compares (the
        shared vocabulary of the joint-embedding models: online outputs, and what they are compared with)."""
        features = pooled_views(self.encoder, global_crops)  # [2, B, D]
        # Official: both views in one batch through the network, so the BatchNorm statistics span both.
        projections = self.projector(features.flatten(0, 1)).unflatten(0, features.shape[:2]).transpose(0, 1)
        return projections, projections

    def forward(
        self,
        global_crops: torch.Tensor | None = None,
        local_crops: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SimCLRSSLForPreTrainingOutput | tuple:
        """global_crops [B, 2, C, H, W] at the model's image size (make them with the method's training views, e.g.
        `hf_jepa.MultiCropViews` with SimCLR's augmentations, as `hf-jepa pretrain` does). Under torch.distributed
        the negatives are every view of every process (gathered with gradient)."""
        check_two_views(self.config, global_crops, local_crops, pixel_values, "SimCLR", needs_negatives=True)
        projections, _ = self.embed_views(global_crops)  # [B, 2, P]
        loss = nt_xent_loss(projections[:, 0], projections[:, 1], self.config.temperature)
        logs = {
            "loss_nt_xent": loss.detach(),
            "projection_std": normalized_std(projections.flatten(0, 1)),  # collapse monitor
        }
        output = SimCLRSSLForPreTrainingOutput(loss=loss, logs=logs, projections=projections)
        return self.as_return_type(output, return_dict)


__all__ = [
    "SimCLRSSLPreTrainedModel",
    "SimCLRSSLModel",
    "SimCLRSSLForImageClassification",
    "SimCLRSSLForPreTraining",
    "SimCLRSSLForPreTrainingOutput",
]
