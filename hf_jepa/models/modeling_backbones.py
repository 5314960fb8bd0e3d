"""Encoders other than the shared ViT: any transformers vision model with a pooled output (ResNet, ConvNeXt, ...),
named by a `backbone_config` in the method's config. The methods that need no token masking (SimCLR, MoCo v3, BYOL)
take one; the pretraining model then trains the transformers model itself, and its export is that model, loadable
without hf_jepa."""

import torch
import torch.nn as nn
from transformers import AutoModel
from transformers.modeling_outputs import BaseModelOutputWithPooling

from .modeling_ssl_vit import SSLPreTrainedModel, SSLViTModel


class SSLEncoder(SSLViTModel):
    """The shared ViT, or with `config.backbone_config` the transformers model it names, whose pooled output
    (flattened: ResNet pools to [B, C, 1, 1]) is the published feature. Weights of a backbone live under
    `backbone.`; transformers initialises them as that model's own class does."""

    def __init__(self, config):
        if getattr(config, "backbone_config", None) is None:
            super().__init__(config)
            return
        SSLPreTrainedModel.__init__(self, config)  # no ViT parts
        self.backbone = AutoModel.from_config(config.backbone_config)
        self.post_init()

    @property
    def has_backbone(self) -> bool:
        return "backbone" in self._modules

    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.get_input_embeddings() if self.has_backbone else super().get_input_embeddings()

    def forward(
        self,
        pixel_values: torch.Tensor,
        keep_indices: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        """As `SSLViTModel.forward`; with a backbone, `last_hidden_state` is its last feature map and `pooler_output`
        [B, width] its pooled feature."""
        if not self.has_backbone:
            return super().forward(
                pixel_values,
                keep_indices,
                interpolate_pos_encoding,
                output_attentions,
                output_hidden_states,
                return_dict,
                **kwargs,
            )
        if keep_indices is not None:
            raise ValueError("`keep_indices`: a CNN backbone encodes whole images; it cannot drop tokens.")
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        outputs = self.backbone(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        pooled = outputs.get("pooler_output")
        if pooled is None:
            raise ValueError(
                f"`backbone_config` ({type(self.config.backbone_config).__name__}) gives no pooled output: use a "
                "backbone whose model has a pooling layer (e.g. ResNetConfig, ConvNextConfig)."
            )
        output = BaseModelOutputWithPooling(
            last_hidden_state=outputs.last_hidden_state,
            pooler_output=pooled.flatten(1),
            hidden_states=outputs.get("hidden_states"),
        )
        return self.as_return_type(output, return_dict)


__all__ = ["SSLEncoder"]
