"""V-JEPA (Bardes et al., 2024; V-JEPA 2, Assran et al., 2025): predict the EMA encoder's embeddings of masked
spatio-temporal blocks of a clip from the rest of it."""

from dataclasses import dataclass

import torch
import torch.nn as nn
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput

from .configuration_vjepa import VJEPASSLConfig
from .heads import AttentivePooler
from .losses import latent_power_loss, normalized_targets
from .masking_3d import MultiBlock3DMaskGenerator
from .modeling_ssl_vit import (
    SSLModelWithEMATarget,
    SSLPreTrainedModel,
    SSLPreTrainingOutput,
    SSLViTModel,
    classification_output,
)
from .predictor import MaskedTokenPredictor
from .vit import TransformerBlock, gather_tokens


def clip_or_image(pixel_values_videos: torch.Tensor | None, pixel_values: torch.Tensor | None) -> torch.Tensor:
    """The one input of a V-JEPA model: a clip [B, T, C, H, W], or images [B, C, H, W] (one-frame clips; the patch
    embedding checks shapes)."""
    if (pixel_values_videos is None) == (pixel_values is None):
        raise ValueError(
            "Pass either `pixel_values_videos` [batch, frames, channels, height, width] or "
            "`pixel_values` [batch, channels, height, width], not both or neither."
        )
    return pixel_values_videos if pixel_values_videos is not None else pixel_values


class VJEPASSLPreTrainedModel(SSLPreTrainedModel):
    config_class = VJEPASSLConfig
    config: VJEPASSLConfig
    main_input_name = "pixel_values_videos"
    input_modalities = ("video", "image")
    _keys_to_ignore_on_load_unexpected = SSLPreTrainedModel._keys_to_ignore_on_load_unexpected + [r"^probe\."]

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, TransformerBlock):
            self._rescale_residual_projections(module)  # official V-JEPA init, as I-JEPA's
        elif isinstance(module, MaskedTokenPredictor):
            init.zeros_(module.mask_tokens)  # official `zero_init_mask_tokens`
        elif isinstance(module, AttentivePooler):
            init.trunc_normal_(module.query_token, std=self.config.initializer_range)


class VJEPASSLModel(VJEPASSLPreTrainedModel, SSLViTModel):
    """The V-JEPA encoder (clips or images). Loaded from a pretraining folder it is the EMA target encoder."""

    def forward(
        self,
        pixel_values_videos: torch.Tensor | None = None,
        keep_indices: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        **kwargs,
    ):
        """pixel_values_videos [B, T, C, H, W] (or images as `pixel_values` [B, C, H, W]); keep_indices [B, K] token
        positions to encode. Returns `last_hidden_state [B, K, D]` and `pooler_output [B, D]` (mean of tokens)."""
        return super().forward(
            clip_or_image(pixel_values_videos, pixel_values),
            keep_indices=keep_indices,
            interpolate_pos_encoding=interpolate_pos_encoding,
            output_hidden_states=output_hidden_states,
            return_dict=return_dict,
        )


class VJEPASSLForVideoClassification(VJEPASSLPreTrainedModel):
    """Encoder + V-JEPA's attentive probe (a cross-attention pooler) + linear classifier; `labels` [B] give a
    cross-entropy loss. For frozen evaluation, freeze `encoder` and train `probe` and `classifier`."""

    def __init__(self, config: VJEPASSLConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.encoder = VJEPASSLModel(config)
        heads = config.probe_num_attention_heads or config.num_attention_heads
        self.probe = AttentivePooler(config.hidden_size, heads, config.layer_norm_eps)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels else nn.Identity()
        self.post_init()

    def forward(
        self,
        pixel_values_videos: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        **kwargs,
    ) -> ImageClassifierOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.encoder(
            pixel_values_videos, output_hidden_states=output_hidden_states, return_dict=True, pixel_values=pixel_values
        )
        logits = self.classifier(self.probe(outputs.last_hidden_state))  # [B, num_labels]
        return classification_output(logits, labels, outputs.hidden_states, return_dict)


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


class VJEPASSLForPreTraining(VJEPASSLPreTrainedModel, SSLModelWithEMATarget):
    """Context encoder (trained) + predictor (one mask token per mask set) + EMA target encoder (`encoder`)."""

    ema_pairs = (("context_encoder", "encoder"),)

    def __init__(self, config: VJEPASSLConfig):
        super().__init__(config)
        self.encoder = VJEPASSLModel(config)  # EMA target: sees the whole clip
        self.context_encoder = VJEPASSLModel(config)
        self.predictor = MaskedTokenPredictor.for_latent_prediction(config, num_mask_tokens=len(config.mask_sets))
        self.freeze_targets()
        self.post_init()

    def get_encoder(self) -> VJEPASSLModel:
        return self.encoder

    def mask_generator(self, grid_size: tuple[int, int, int]) -> MultiBlock3DMaskGenerator:
        return MultiBlock3DMaskGenerator(grid_size, self.config.mask_sets)

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
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        clip = clip_or_image(pixel_values_videos, pixel_values)
        batch = clip.shape[0]
        grid = self.encoder.embeddings.patch_embeddings.grid_size(clip)
        if masks is None:
            masks = self.mask_generator(grid)(batch, clip.device, generator)
        if len(masks) != len(self.config.mask_sets):
            raise ValueError(f"`masks` has {len(masks)} mask sets, the model has {len(self.config.mask_sets)}.")

        with torch.no_grad():
            full = normalized_targets(self.encoder(clip, return_dict=True).last_hidden_state)  # [B, N, D]

        predictions, targets, losses = [], [], []
        for index, (context_idx, target_idx) in enumerate(masks):  # one pass per mask set, as officially
            if context_idx.ndim != 2 or target_idx.ndim != 2 or len(context_idx) != batch or len(target_idx) != batch:
                raise ValueError(
                    f"mask set {index}: `context_idx` and `target_idx` must be [batch, K] with batch {batch}, got "
                    f"{tuple(context_idx.shape)} and {tuple(target_idx.shape)}."
                )
            context = self.context_encoder(clip, keep_indices=context_idx, return_dict=True).last_hidden_state
            predicted = self.predictor(context, context_idx, target_idx, mask_token_index=index, grid_size=grid)
            target = gather_tokens(full, target_idx)
            predictions.append(predicted)
            targets.append(target)
            losses.append(latent_power_loss(predicted, target, self.config.loss_exponent))
        loss = torch.stack(losses).mean()

        logs = {f"loss_mask_set_{i}": part.detach() for i, part in enumerate(losses)}
        logs["target_std"] = full.detach().float().std(dim=(0, 1)).mean()  # collapse monitor
        if not return_dict:
            return (loss, tuple(predictions), tuple(targets), tuple(masks))
        return VJEPASSLForPreTrainingOutput(
            loss=loss, logs=logs, predictions=tuple(predictions), targets=tuple(targets), masks=tuple(masks)
        )


__all__ = [
    "VJEPASSLPreTrainedModel",
    "VJEPASSLModel",
    "VJEPASSLForVideoClassification",
    "VJEPASSLForPreTraining",
    "VJEPASSLForPreTrainingOutput",
]
