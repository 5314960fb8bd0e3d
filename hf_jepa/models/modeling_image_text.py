"""What SigLIP and CLIP share: an image tower (the shared ViT, pooled the method's way), transformers' own text
model as the text tower, a learnable temperature, and one forward that embeds both modalities and takes the
method's loss. Each method's file keeps its pooling, projections and objective."""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import initialization as init

from .modeling_ssl_vit import SSLPreTrainedModel, SSLPreTrainingOutput


@dataclass
class ImageTextPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): this process's share of the objective over the global batch.
        logits_per_image (`torch.FloatTensor` of shape `(batch, batch)`): scaled (and, for SigLIP, biased) cosines of
            this process's images (rows) with its texts (columns); pair i is on the diagonal.
        image_embeds (`torch.FloatTensor` of shape `(batch, embedding_size)`): L2-normalised image embeddings.
        text_embeds (`torch.FloatTensor` of shape `(batch, embedding_size)`): L2-normalised text embeddings.
    """

    logits_per_image: torch.FloatTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None


class ImageTextForPreTrainingBase(SSLPreTrainedModel):
    """Image tower `encoder` (published; `encoder_class`), text tower `text_model` (`text_model_class`, built from
    `config.text_config`), `logit_scale` (t'), and the method's `image_projection` / `text_projection` (identity
    where the method has none). A method sets the classes and `contrastive_loss`."""

    input_modalities = ("image", "text")
    encoder_class: type[nn.Module]
    text_model_class: type[nn.Module]
    has_logit_bias = False

    def __init__(self, config):
        super().__init__(config)
        self.encoder = self.encoder_class(config)
        self.text_model = self.text_model_class(config.text_config)
        self.build_projections(config)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init)))
        if self.has_logit_bias:
            self.logit_bias = nn.Parameter(torch.tensor(float(config.logit_bias_init)))
        self.post_init()

    def build_projections(self, config) -> None:
        """The linear maps into the joint space, if the method has them (CLIP)."""

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is self:  # the paper's initial temperature and bias, not a random draw
            init.constant_(self.logit_scale, float(self.config.logit_scale_init))
            if self.has_logit_bias:
                init.constant_(self.logit_bias, float(self.config.logit_bias_init))

    def get_text_encoder(self) -> nn.Module:
        return self.text_model

    def clamped_logit_scale(self) -> torch.Tensor:
        maximum = self.config.max_logit_scale
        return self.logit_scale if maximum is None else self.logit_scale.clamp(max=maximum)

    # ---- embeddings --------------------------------------------------------------------------------------------
    def image_features(self, pixel_values: torch.Tensor, **kwargs) -> torch.Tensor:
        """pixel_values [B, C, H, W] -> image embeddings [B, E] (not normalised)."""
        return self.project_image(self.encoder(pixel_values, return_dict=True, **kwargs).pooler_output)

    def text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids [B, T] -> text embeddings [B, E] (not normalised)."""
        pooled = self.text_model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).pooler_output
        return self.project_text(pooled)

    def project_image(self, pooled: torch.Tensor) -> torch.Tensor:
        return pooled

    def project_text(self, pooled: torch.Tensor) -> torch.Tensor:
        return pooled

    def logits(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        """Normalised embeddings [B, E], [M, E] -> [B, M]: exp(t') * cosine (+ b)."""
        logits = self.clamped_logit_scale().exp() * image_embeds @ text_embeds.T
        return logits + self.logit_bias if self.has_logit_bias else logits

    def contrastive_loss(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageTextPreTrainingOutput | tuple:
        """pixel_values [B, C, H, W] (the method's training views of the images) and input_ids [B, T] (with
        attention_mask [B, T] where the tokenizer gives one) of the B matching captions. Under torch.distributed the
        loss is over the global batch (see `hf_jepa.models.image_text_losses`)."""
        if pixel_values is None or input_ids is None:
            missing = [n for n, v in (("pixel_values", pixel_values), ("input_ids", input_ids)) if v is None]
            raise ValueError(
                f"{type(self).__name__} trains on image-caption pairs: pass {' and '.join(f'`{m}`' for m in missing)} "
                "(the collator of `hf_jepa.data.image_text` makes both)."
            )
        if input_ids.ndim != 2 or input_ids.shape[0] != pixel_values.shape[0]:
            raise ValueError(
                f"`input_ids` must be [batch, length] with one caption per image ({pixel_values.shape[0]}), got "
                f"{tuple(input_ids.shape)}."
            )
        image_embeds = F.normalize(self.image_features(pixel_values).float(), dim=-1)  # [B, E]
        text_embeds = F.normalize(self.text_features(input_ids, attention_mask).float(), dim=-1)  # [B, E]
        loss = self.contrastive_loss(image_embeds, text_embeds)
        logits = self.logits(image_embeds, text_embeds)
        positives = logits.diagonal()
        logs = {
            f"loss_{self.loss_name}": loss.detach(),
            "logit_scale": self.clamped_logit_scale().detach().exp(),
            "pair_logit": positives.detach().mean(),
            "image_embedding_std": image_embeds.detach().std(dim=0).mean(),  # collapse monitors
            "text_embedding_std": text_embeds.detach().std(dim=0).mean(),
        }
        if self.has_logit_bias:
            logs["logit_bias"] = self.logit_bias.detach()
        output = ImageTextPreTrainingOutput(
            loss=loss, logs=logs, logits_per_image=logits, image_embeds=image_embeds, text_embeds=text_embeds
        )
        return self.as_return_type(output, return_dict)


__all__ = ["ImageTextForPreTrainingBase", "ImageTextPreTrainingOutput"]
