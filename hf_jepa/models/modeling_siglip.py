"""SigLIP (Zhai et al., 2023): an image tower and a text tower trained with a pairwise sigmoid loss, every
image-text pair of the batch an independent binary classification (matching or not), with a learnable temperature
and bias. Image tower: the shared ViT pooled by a multi-head attention-pooling head; text tower: transformers'
`SiglipTextModel` (its linear head on the last token)."""

import torch
import torch.nn as nn
from transformers import SiglipTextModel
from transformers import initialization as init

from .configuration_siglip import SiglipSSLConfig
from .heads import AttentionPoolingHead
from .image_text_losses import siglip_sigmoid_loss
from .modeling_image_text import ImageTextForPreTrainingBase, ImageTextPreTrainingOutput
from .modeling_ssl_vit import SSLPreTrainedModel, SSLViTForImageClassification, SSLViTModel


class SiglipSSLPreTrainedModel(SSLPreTrainedModel):
    config_class = SiglipSSLConfig
    config: SiglipSSLConfig

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, AttentionPoolingHead):
            init.trunc_normal_(module.probe, std=self.config.initializer_range)
            init.trunc_normal_(module.attention.in_proj_weight, std=self.config.initializer_range)
            init.zeros_(module.attention.in_proj_bias)


class SiglipSSLModel(SiglipSSLPreTrainedModel, SSLViTModel):
    """SigLIP's image tower: the shared ViT (no CLS token); `pooler_output` is its attention-pooling head's output,
    the image embedding the loss compares."""

    def __init__(self, config: SiglipSSLConfig):
        super().__init__(config)
        self.head = AttentionPoolingHead(config)
        self.post_init()

    def pool(self, last_hidden_state: torch.Tensor) -> torch.Tensor:
        return self.head(last_hidden_state)


class SiglipSSLForImageClassification(SiglipSSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = SiglipSSLModel


class SiglipSSLForPreTraining(SiglipSSLPreTrainedModel, ImageTextForPreTrainingBase):
    """Image tower (published) + `SiglipTextModel`, t' = `logit_scale` and b = `logit_bias`; loss: the pairwise
    sigmoid loss over the global batch, chunked across processes."""

    encoder_class = SiglipSSLModel
    text_model_class = SiglipTextModel
    has_logit_bias = True
    loss_name = "sigmoid"

    def contrastive_loss(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        return siglip_sigmoid_loss(image_embeds, text_embeds, self.clamped_logit_scale(), self.logit_bias)


SiglipSSLForPreTrainingOutput = ImageTextPreTrainingOutput

__all__ = [
    "SiglipSSLForImageClassification",
    "SiglipSSLForPreTraining",
    "SiglipSSLForPreTrainingOutput",
    "SiglipSSLModel",
    "SiglipSSLPreTrainedModel",
]
