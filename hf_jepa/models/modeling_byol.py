"""BYOL (Grill et al., 2020): the online network's prediction of one view regresses the target network's projection
of the other view (2 - 2 cos), the target being an EMA of the online encoder and projector; no negatives."""

from dataclasses import dataclass

import torch
import torch.nn as nn
from transformers import initialization as init

from .configuration_byol import BYOLSSLConfig
from .losses import byol_regression_loss, normalized_std
from .modeling_backbones import SSLEncoder
from .modeling_joint_embedding import (
    JointEmbeddingPreTrainedModel,
    OnlineAndTargetNetworks,
    check_two_views,
)
from .modeling_ssl_vit import (
    SSLPreTrainingOutput,
    SSLViTForImageClassification,
)


class BYOLSSLPreTrainedModel(JointEmbeddingPreTrainedModel):
    config_class = BYOLSSLConfig
    config: BYOLSSLConfig

    def init_head_linear(self, linear: nn.Linear) -> None:
        # Official haiku `hk.Linear` default: weights truncated normal (at 2 std) with std 1 / sqrt(fan_in), bias 0.
        std = linear.in_features**-0.5
        init.trunc_normal_(linear.weight, std=std, a=-2 * std, b=2 * std)
        if linear.bias is not None:
            init.zeros_(linear.bias)


class BYOLSSLModel(BYOLSSLPreTrainedModel, SSLEncoder):
    """The BYOL encoder. Loaded from a pretraining folder it is the online encoder f_theta, the network BYOL keeps
    and evaluates."""


class BYOLSSLForImageClassification(BYOLSSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = BYOLSSLModel


@dataclass
class BYOLSSLForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): mean over the images of (2 - 2 cos(p1, z'2)) + (2 - 2 cos(p2, z'1)).
        predictions (`torch.FloatTensor` of shape `(batch, 2, projection_size)`): the online predictor's outputs of
            both views.
        targets (`torch.FloatTensor` of shape `(batch, 2, projection_size)`): the target projector's outputs of both
            views (no gradient).
    """

    predictions: torch.FloatTensor | None = None
    targets: torch.FloatTensor | None = None


class BYOLSSLForPreTraining(BYOLSSLPreTrainedModel, OnlineAndTargetNetworks):
    """Online encoder (published) + projector + predictor; target encoder + projector, EMA copies of the first two
    (the trainer moves them once per optimizer step)."""

    main_input_name = "global_crops"
    compared_output = "target projection"  # what `embed_views`' second output is, in words (demo captions)
    ema_pairs = (("encoder", "target_encoder"), ("projector", "target_projector"))
    # Official `networks.MLP`: linear with bias -> BatchNorm -> ReLU -> linear without bias, no output norm.
    head_options = {"hidden_bias": True, "last_norm": None}

    def __init__(self, config: BYOLSSLConfig):
        super().__init__(config)
        self.build_networks(BYOLSSLModel)
        self.post_init()

    def forward(
        self,
        global_crops: torch.Tensor | None = None,
        local_crops: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BYOLSSLForPreTrainingOutput | tuple:
        """global_crops [B, 2, C, H, W] at the model's image size, view 1 and view 2 made with BYOL's asymmetric
        augmentations (`hf-jepa pretrain` makes them with `hf_jepa.MultiCropViews`)."""
        check_two_views(self.config, global_crops, local_crops, pixel_values, "BYOL", needs_negatives=False)
        predictions, targets = self.embed_views(global_crops)  # [B, 2, P]
        loss_12 = byol_regression_loss(predictions[:, 0], targets[:, 1])  # [B]
        loss_21 = byol_regression_loss(predictions[:, 1], targets[:, 0])
        loss = (loss_12 + loss_21).mean()
        logs = {
            "loss_byol": loss.detach(),
            "prediction_std": normalized_std(predictions.flatten(0, 1)),  # collapse monitors
            "target_std": normalized_std(targets.flatten(0, 1)),
        }
        output = BYOLSSLForPreTrainingOutput(loss=loss, logs=logs, predictions=predictions, targets=targets)
        return self.as_return_type(output, return_dict)


__all__ = [
    "BYOLSSLPreTrainedModel",
    "BYOLSSLModel",
    "BYOLSSLForImageClassification",
    "BYOLSSLForPreTraining",
    "BYOLSSLForPreTrainingOutput",
]
