"""I-JEPA (Assran et al., 2023): predict the EMA encoder's embeddings of target blocks from a context block."""

from dataclasses import dataclass

import torch
import torch.nn as nn

from .configuration_ijepa import IJEPASSLConfig
from .losses import latent_prediction_loss
from .masking import MultiBlockMaskGenerator
from .modeling_jepa import JEPAForPreTrainingBase, JEPAPreTrainedModel, target_std
from .modeling_ssl_vit import SSLPreTrainingOutput, SSLViTForImageClassification, SSLViTModel
from .patches import normalize_patches, patchify
from .vit import gather_tokens


class IJEPASSLPreTrainedModel(JEPAPreTrainedModel):
    config_class = IJEPASSLConfig
    config: IJEPASSLConfig


class IJEPASSLModel(IJEPASSLPreTrainedModel, SSLViTModel):
    """The I-JEPA encoder. Loaded from a pretraining folder it is the EMA target encoder, the one the paper
    evaluates."""


class IJEPASSLForImageClassification(IJEPASSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = IJEPASSLModel


@dataclass
class IJEPASSLForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): smooth-L1 (or the configured) loss over all target tokens.
        predictions (`torch.FloatTensor` of shape `(batch, num_targets, Kt, hidden_size)`): predicted embeddings
            (with `prediction_target="pixels"`: predicted patch pixels, last dimension p*p*C).
        targets (`torch.FloatTensor` of shape `(batch, num_targets, Kt, hidden_size)`): layer-normed EMA-encoder
            embeddings at the target positions (or the per-patch normalised pixels of the target patches).
        context_idx (`torch.LongTensor` of shape `(batch, Kc)`): patches the context encoder saw.
        target_idx (`torch.LongTensor` of shape `(batch, num_targets, Kt)`): patches of each target block.
    """

    predictions: torch.FloatTensor | None = None
    targets: torch.FloatTensor | None = None
    context_idx: torch.LongTensor | None = None
    target_idx: torch.LongTensor | None = None


class IJEPASSLForPreTraining(IJEPASSLPreTrainedModel, JEPAForPreTrainingBase):
    """Context encoder (trained) + predictor + EMA target encoder (`encoder`, the published one)."""

    encoder_class = IJEPASSLModel

    def __init__(self, config: IJEPASSLConfig):
        super().__init__(config)
        self.mask_generator = MultiBlockMaskGenerator(
            grid_size=config.grid_size,
            num_targets=config.num_targets,
            target_scale=config.target_scale,
            target_aspect_ratio=config.target_aspect_ratio,
            context_scale=config.context_scale,
            min_keep=config.min_keep,
        )
        if config.prediction_target == "pixels":  # the Table 7 ablation: predicted embeddings -> patch pixels
            patch_height, patch_width = config.patch_shape
            self.pixel_head = nn.Linear(config.hidden_size, patch_height * patch_width * config.num_channels)
        self.post_init()

    def sample_masks(self, inputs: dict, generator: torch.Generator | None = None) -> dict:
        """The mask inputs the forward would draw for the batch `inputs` (none if it brings its own), drawn as the
        forward draws them: the trainer samples them before the (maybe compiled) forward, so the sampler's host read
        stays out of the compiled graph."""
        if inputs.get("context_idx") is not None:
            return {}
        pixel_values = inputs["pixel_values"]
        context_idx, target_idx = self.mask_generator(pixel_values.shape[0], pixel_values.device, generator)
        return {"context_idx": context_idx, "target_idx": target_idx}

    def forward(
        self,
        pixel_values: torch.Tensor,
        context_idx: torch.Tensor | None = None,
        target_idx: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> IJEPASSLForPreTrainingOutput | tuple:
        """pixel_values [B, C, H, W]; context_idx [B, Kc] and target_idx [B, num_targets, Kt] patch indices, sampled
        with `generator` on the batch's device when not given."""
        batch = pixel_values.shape[0]
        if (context_idx is None) != (target_idx is None):
            raise ValueError("Pass both `context_idx` and `target_idx`, or neither to sample them.")
        if context_idx is None:
            masks = self.sample_masks({"pixel_values": pixel_values}, generator)
            context_idx, target_idx = masks["context_idx"], masks["target_idx"]
        if target_idx.ndim != 3 or target_idx.shape[0] != batch:
            raise ValueError(
                f"`target_idx` must be [batch, num_targets, Kt] with batch {batch}, got {tuple(target_idx.shape)}."
            )
        num_targets, target_len = target_idx.shape[1:]

        if self.config.prediction_target == "pixels":
            full, pooled = normalize_patches(patchify(pixel_values.float(), self.config.patch_shape))[0], None
        else:
            full, pooled = self.target_pass(pixel_values)  # [B, N, D], [B, D]
        targets = gather_tokens(full, target_idx.flatten(1)).view(batch, num_targets, target_len, -1)  # [B, T, Kt, D]
        context = self.context_embeddings(pixel_values, context_idx)  # [B, Kc, D]
        # One predictor pass per target block, batched: each block only sees the context and its own queries.
        predictions = self.predictor(context, context_idx, target_idx)  # [B, T, Kt, D]
        if self.config.prediction_target == "pixels":
            predictions = self.pixel_head(predictions)  # [B, T, Kt, p*p*C]

        loss = latent_prediction_loss(predictions, targets, self.config.loss_type)
        logs = {
            "loss_prediction": loss.detach(),
            "target_std": target_std(targets),
            "context_tokens": torch.full((), float(context_idx.shape[1]), device=loss.device),  # no host copy
        }
        loss = self.with_sigreg(loss, logs, pooled, kwargs.get("sigreg_step"), generator)
        output = IJEPASSLForPreTrainingOutput(
            loss=loss,
            logs=logs,
            predictions=predictions,
            targets=targets,
            context_idx=context_idx,
            target_idx=target_idx,
        )
        return self.as_return_type(output, return_dict)


# The names before the naming scheme became the paper's spelling (I-JEPA -> IJEPA).
IJepaSSLPreTrainedModel = IJEPASSLPreTrainedModel
IJepaSSLModel = IJEPASSLModel
IJepaSSLForImageClassification = IJEPASSLForImageClassification
IJepaSSLForPreTraining = IJEPASSLForPreTraining
IJepaSSLForPreTrainingOutput = IJEPASSLForPreTrainingOutput

__all__ = [
    "IJEPASSLPreTrainedModel",
    "IJEPASSLModel",
    "IJEPASSLForImageClassification",
    "IJEPASSLForPreTraining",
    "IJEPASSLForPreTrainingOutput",
]
