"""V-JEPA (Bardes et al., 2024; V-JEPA 2, Assran et al., 2025): predict the EMA encoder's embeddings of masked
spatio-temporal blocks of a clip from the rest of it."""

from dataclasses import dataclass

import torch
import torch.nn as nn
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput

from .configuration_vjepa import VJEPASSLConfig
from .losses import latent_power_loss
from .masking_3d import MultiBlock3DMaskGenerator
from .modeling_jepa import JEPAForPreTrainingBase, JEPAPreTrainedModel, target_std
from .modeling_ssl_vit import SSLPreTrainingOutput, SSLViTForImageClassification, SSLViTModel
from .predictor import MaskedTokenPredictor
from .vit import gather_tokens


def clip_or_image(pixel_values_videos: torch.Tensor | None, pixel_values: torch.Tensor | None) -> torch.Tensor:
    """The one input of a V-JEPA model: a clip [B, T, C, H, W], or images [B, C, H, W] (one-frame clips; the patch
    embedding checks shapes)."""
    if (pixel_values_videos is None) == (pixel_values is None):
        raise ValueError(
            "Pass either `pixel_values_videos` [batch, frames, channels, height, width] or "
            "`pixel_values` [batch, channels, height, width], not both or neither."
        )
    return pixel_values_videos if pixel_values_videos is not None else pixel_values


class VJEPASSLPreTrainedModel(JEPAPreTrainedModel):
    config_class = VJEPASSLConfig
    config: VJEPASSLConfig
    main_input_name = "pixel_values_videos"
    input_modalities = ("video", "image")

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, MaskedTokenPredictor):
            init.zeros_(module.mask_tokens)  # official `zero_init_mask_tokens`


class VJEPASSLModel(VJEPASSLPreTrainedModel, SSLViTModel):
    """The V-JEPA encoder (clips or images). Loaded from a pretraining folder it is the EMA target encoder."""

    def forward(
        self,
        pixel_values_videos: torch.Tensor | None = None,
        keep_indices: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        """pixel_values_videos [B, T, C, H, W] (or images as `pixel_values` [B, C, H, W]); keep_indices [B, K] token
        positions to encode. Returns `last_hidden_state [B, K, D]` and `pooler_output [B, D]` (mean of tokens)."""
        return super().forward(
            clip_or_image(pixel_values_videos, pixel_values),
            keep_indices=keep_indices,
            interpolate_pos_encoding=interpolate_pos_encoding,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=return_dict,
        )


class VJEPASSLForVideoClassification(VJEPASSLPreTrainedModel, SSLViTForImageClassification):
    """Encoder + V-JEPA's attentive probe (a cross-attention pooler) + linear classifier; `labels` give the loss of
    `config.problem_type`, as the image classifiers. For frozen evaluation, freeze `encoder` and train `probe` and
    `classifier`. `classifier_pooling="pooler"` classifies the mean of the tokens instead (a linear probe)."""

    encoder_class = VJEPASSLModel
    default_classifier_pooling = "attentive"

    def forward(
        self,
        pixel_values_videos: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        **kwargs,
    ) -> ImageClassifierOutput | tuple:
        return self.classify(
            dict(pixel_values_videos=pixel_values_videos, pixel_values=pixel_values),
            labels,
            output_attentions,
            output_hidden_states,
            return_dict,
        )


@dataclass
class VJEPASSLForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): the loss averaged over mask sets.
        predictions (`tuple` of `torch.FloatTensor` `(batch, Kt_i, hidden_size)`): predicted embeddings per mask set.
        targets (`tuple` of `torch.FloatTensor` `(batch, Kt_i, hidden_size)`): layer-normed EMA-encoder embeddings.
        masks (`tuple` of `(context_idx [batch, Kc_i], target_idx [batch, Kt_i])`): the token indices of each set.
    """

    predictions: tuple[torch.FloatTensor, ...] | None = None
    targets: tuple[torch.FloatTensor, ...] | None = None
    masks: tuple[tuple[torch.LongTensor, torch.LongTensor], ...] | None = None


class VJEPASSLForPreTraining(VJEPASSLPreTrainedModel, JEPAForPreTrainingBase):
    """Context encoder (trained) + predictor (one mask token per mask set) + EMA target encoder (`encoder`)."""

    encoder_class = VJEPASSLModel

    def __init__(self, config: VJEPASSLConfig):
        super().__init__(config, num_mask_tokens=len(config.mask_sets))
        self.post_init()

    def mask_generator(self, grid_size: tuple[int, int, int]) -> MultiBlock3DMaskGenerator:
        return MultiBlock3DMaskGenerator(grid_size, self.config.mask_sets)

    def sample_masks(self, inputs: dict, generator: torch.Generator | None = None) -> dict:
        """The mask sets the forward would draw (none if `inputs` bring them); see
        `IJEPASSLForPreTraining.sample_masks`."""
        if inputs.get("masks") is not None:
            return {}
        media = clip_or_image(inputs.get("pixel_values_videos"), inputs.get("pixel_values"))
        grid = self.encoder.embeddings.patch_embeddings.grid_size(media)
        return {"masks": self.mask_generator(grid)(media.shape[0], media.device, generator)}

    def forward(
        self,
        pixel_values_videos: torch.Tensor | None = None,
        masks: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        generator: torch.Generator | None = None,
        return_dict: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        **kwargs,
    ) -> VJEPASSLForPreTrainingOutput | tuple:
        """pixel_values_videos [B, T, C, H, W] (or images as `pixel_values`); `masks` a list with one
        `(context_idx [B, Kc], target_idx [B, Kt])` per mask set, sampled with `generator` on the batch's device
        when not given."""
        clip = clip_or_image(pixel_values_videos, pixel_values)
        batch = clip.shape[0]
        grid = self.encoder.embeddings.patch_embeddings.grid_size(clip)
        if masks is None:
            masks = self.sample_masks({"pixel_values_videos": clip}, generator)["masks"]
        if len(masks) != len(self.config.mask_sets):
            raise ValueError(f"`masks` has {len(masks)} mask sets, the model has {len(self.config.mask_sets)}.")

        full, pooled = self.target_pass(clip)  # [B, N, D], [B, D]
        predictions, targets, losses = [], [], []
        for index, (context_idx, target_idx) in enumerate(masks):  # one pass per mask set, as officially
            if context_idx.ndim != 2 or target_idx.ndim != 2 or len(context_idx) != batch or len(target_idx) != batch:
                raise ValueError(
                    f"mask set {index}: `context_idx` and `target_idx` must be [batch, K] with batch {batch}, got "
                    f"{tuple(context_idx.shape)} and {tuple(target_idx.shape)}."
                )
            context = self.context_embeddings(clip, context_idx)
            predicted = self.predictor(context, context_idx, target_idx, mask_token_index=index, grid_size=grid)
            target = gather_tokens(full, target_idx)
            predictions.append(predicted)
            targets.append(target)
            losses.append(latent_power_loss(predicted, target, self.config.loss_exponent))
        loss = torch.stack(losses).mean()

        logs = {f"loss_mask_set_{i}": part.detach() for i, part in enumerate(losses)}
        logs["target_std"] = target_std(full)
        loss = self.with_sigreg(loss, logs, pooled, kwargs.get("sigreg_step"), generator)
        output = VJEPASSLForPreTrainingOutput(
            loss=loss, logs=logs, predictions=tuple(predictions), targets=tuple(targets), masks=tuple(masks)
        )
        return self.as_return_type(output, return_dict)


__all__ = [
    "VJEPASSLPreTrainedModel",
    "VJEPASSLModel",
    "VJEPASSLForVideoClassification",
    "VJEPASSLForPreTraining",
    "VJEPASSLForPreTrainingOutput",
]
