"""CLIP (Radford et al., 2021): an image tower and a text tower trained with a symmetric softmax cross-entropy over
the global batch (each image classifies its caption among all captions, and each caption its image), with a
learnable temperature. Image tower: the shared ViT's CLS token, linearly projected; text tower: transformers'
`CLIPTextModel` (EOS-token pooling), linearly projected."""

import torch
import torch.nn as nn
from transformers import CLIPTextModel

from .configuration_clip import CLIPSSLConfig
from .image_text_losses import clip_contrastive_loss
from .modeling_image_text import ImageTextForPreTrainingBase, ImageTextPreTrainingOutput
from .modeling_ssl_vit import SSLPreTrainedModel, SSLViTForImageClassification, SSLViTModel
from .vit import ViTEmbeddings


class PreNormViTEmbeddings(ViTEmbeddings):
    """The shared embeddings (patches + positions, CLS token), then a LayerNorm: the official CLIP ViT's `ln_pre`
    (transformers' `CLIPVisionModel.pre_layrnorm`)."""

    def __init__(self, config: CLIPSSLConfig):
        super().__init__(config)
        self.pre_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, *args, **kwargs) -> torch.Tensor:
        return self.pre_layernorm(super().forward(*args, **kwargs))


class CLIPSSLPreTrainedModel(SSLPreTrainedModel):
    config_class = CLIPSSLConfig
    config: CLIPSSLConfig


class CLIPSSLModel(CLIPSSLPreTrainedModel, SSLViTModel):
    """CLIP's image tower: the shared ViT with `ln_pre`; `pooler_output` is the final-normed CLS token (before the
    projection, which lives in the pretraining model as in transformers' `CLIPModel`)."""

    def __init__(self, config: CLIPSSLConfig):
        super().__init__(config)
        self.embeddings = PreNormViTEmbeddings(config)
        self.post_init()


class CLIPSSLForImageClassification(CLIPSSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = CLIPSSLModel


class CLIPSSLForPreTraining(CLIPSSLPreTrainedModel, ImageTextForPreTrainingBase):
    """Image tower (published) + `visual_projection`, `CLIPTextModel` + `text_projection` (linear, no bias, as the
    paper), t' = `logit_scale` (clamped at log 100); loss: symmetric cross-entropy over the global batch."""

    encoder_class = CLIPSSLModel
    text_model_class = CLIPTextModel
    loss_name = "clip"

    def build_projections(self, config: CLIPSSLConfig) -> None:
        self.visual_projection = nn.Linear(config.hidden_size, config.projection_dim, bias=False)
        self.text_projection = nn.Linear(config.text_config.hidden_size, config.projection_dim, bias=False)

    def project_image(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.visual_projection(pooled)

    def project_text(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.text_projection(pooled)

    def contrastive_loss(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        return clip_contrastive_loss(image_embeds, text_embeds, self.clamped_logit_scale())


CLIPSSLForPreTrainingOutput = ImageTextPreTrainingOutput

__all__ = [
    "CLIPSSLForImageClassification",
    "CLIPSSLForPreTraining",
    "CLIPSSLForPreTrainingOutput",
    "CLIPSSLModel",
    "CLIPSSLPreTrainedModel",
    "PreNormViTEmbeddings",
]
