"""I-JEPA (Assran et al., 2023): predict the EMA encoder's embeddings of target blocks from a context block."""

from dataclasses import dataclass

import torch
import torch.nn as nn

from .configuration_ijepa import IJepaSSLConfig
from .losses import latent_prediction_loss, normalized_targets
from .masking import MultiBlockMaskGenerator
from .modeling_ssl_vit import (
    SSLModelWithEMATarget,
    SSLPreTrainedModel,
    SSLPreTrainingOutput,
    SSLViTForImageClassification,
    SSLViTModel,
)
from .predictor import MaskedTokenPredictor
from .vit import TransformerBlock, gather_tokens


class IJepaSSLPreTrainedModel(SSLPreTrainedModel):
    config_class = IJepaSSLConfig
    config: IJepaSSLConfig

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, TransformerBlock):
            self._rescale_residual_projections(module)


class IJepaSSLModel(IJepaSSLPreTrainedModel, SSLViTModel):
    """The I-JEPA encoder. Loaded from a pretraining folder it is the EMA target encoder, the one the paper
    evaluates."""


class IJepaSSLForImageClassification(IJepaSSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = IJepaSSLModel


@dataclass
class IJepaSSLForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): smooth-L1 (or the configured) loss over all target tokens.
        predictions (`torch.FloatTensor` of shape `(batch, num_targets, Kt, hidden_size)`): predicted embeddings.
        targets (`torch.FloatTensor` of shape `(batch, num_targets, Kt, hidden_size)`): layer-normed EMA-encoder
            embeddings at the target positions.
        context_idx (`torch.LongTensor` of shape `(batch, Kc)`): patches the context encoder saw.
        target_idx (`torch.LongTensor` of shape `(batch, num_targets, Kt)`): patches of each target block.
    """

    predictions: torch.FloatTensor | None = None
    targets: torch.FloatTensor | None = None
    context_idx: torch.LongTensor | None = None
    target_idx: torch.LongTensor | None = None


class IJepaSSLForPreTraining(IJepaSSLPreTrainedModel, SSLModelWithEMATarget):
    """Context encoder (trained) + predictor + EMA target encoder (`encoder`, the published one)."""

    ema_pairs = (("context_encoder", "encoder"),)

    def __init__(self, config: IJepaSSLConfig):
        super().__init__(config)
        self.encoder = IJepaSSLModel(config)  # EMA target: sees the full image
        self.context_encoder = IJepaSSLModel(config)
        self.predictor = MaskedTokenPredictor.for_latent_prediction(config)
        self.mask_generator = MultiBlockMaskGenerator(
            grid_size=config.grid_size,
            num_targets=config.num_targets,
            target_scale=config.target_scale,
            target_aspect_ratio=config.target_aspect_ratio,
            context_scale=config.context_scale,
            min_keep=config.min_keep,
        )
        self.freeze_targets()
        self.post_init()

    def get_encoder(self) -> IJepaSSLModel:
        return self.encoder

    def forward(
        self,
        pixel_values: torch.Tensor,
        context_idx: torch.Tensor | None = None,
        target_idx: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> IJepaSSLForPreTrainingOutput | tuple:
        """pixel_values [B, C, H, W]; context_idx [B, Kc] and target_idx [B, num_targets, Kt] patch indices, sampled
        with `generator` on the batch's device when not given."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        batch = pixel_values.shape[0]
        if (context_idx is None) != (target_idx is None):
            raise ValueError("Pass both `context_idx` and `target_idx`, or neither to sample them.")
        if context_idx is None:
            context_idx, target_idx = self.mask_generator(batch, pixel_values.device, generator)
        if target_idx.ndim != 3 or target_idx.shape[0] != batch:
            raise ValueError(
                f"`target_idx` must be [batch, num_targets, Kt] with batch {batch}, got {tuple(target_idx.shape)}."
            )
        num_targets, target_len = target_idx.shape[1:]
        prefix = self.config.num_prefix_tokens

        with torch.no_grad():
            full = self.encoder(pixel_values, return_dict=True).last_hidden_state[:, prefix:]  # [B, N, D]
            targets = gather_tokens(normalized_targets(full), target_idx.flatten(1))
            targets = targets.view(batch, num_targets, target_len, -1)  # [B, T, Kt, D]

        context = self.context_encoder(pixel_values, keep_indices=context_idx, return_dict=True)
        context = context.last_hidden_state[:, prefix:]  # [B, Kc, D]
        # One predictor pass per target block, batched: each block only sees the context and its own queries.
        predictions = self.predictor(context, context_idx, target_idx)  # [B, T, Kt, D]

        loss = latent_prediction_loss(predictions, targets, self.config.loss_type)
        logs = {
            "loss_prediction": loss.detach(),
            "target_std": targets.detach().float().std(dim=(0, 1, 2)).mean(),  # collapse monitor
            "context_tokens": torch.full((), float(context_idx.shape[1]), device=loss.device),  # no host copy
        }
        if not return_dict:
            return (loss, predictions, targets, context_idx, target_idx)
        return IJepaSSLForPreTrainingOutput(
            loss=loss,
            logs=logs,
            predictions=predictions,
            targets=targets,
            context_idx=context_idx,
            target_idx=target_idx,
        )


__all__ = [
    "IJepaSSLPreTrainedModel",
    "IJepaSSLModel",
    "IJepaSSLForImageClassification",
    "IJepaSSLForPreTraining",
    "IJepaSSLForPreTrainingOutput",
]
