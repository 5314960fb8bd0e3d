"""CLIP configuration: the shared ViT (CLS token, a LayerNorm on the embeddings as CLIP's `ln_pre`) with a linear
projection as the image tower, transformers' `CLIPTextConfig` as the text tower, and the learnable temperature."""

import math

from transformers import CLIPTextConfig

from .configuration_image_text import ImageTextConfig
from .configuration_joint_embedding import check_positive


class CLIPSSLConfig(ImageTextConfig):
    r"""
    Configuration of [`CLIPSSLForPreTraining`] (Radford et al., 2021). The image tower is the shared ViT with a CLS
    token whose final-normed state, linearly projected (no bias), is the image embedding, and with a LayerNorm on the
    patch + position embeddings before the first block (the official ViT's `ln_pre`); the text tower is transformers'
    `CLIPTextModel` (causal, EOS-token pooling) with its own linear projection.

    Args:
        projection_dim (`int`, defaults to 512): width of the joint embedding space.
        logit_scale_init (`float`, defaults to log(1 / 0.07)): the paper's initial temperature 0.07.
        max_logit_scale (`float`, defaults to log 100): the paper clips the temperature so logits are scaled by at
            most 100 (here a clamp in the forward, no gradient above it; the official code clamps the parameter after
            each optimizer step).
    """

    model_type = "clip_ssl"
    text_config_class = CLIPTextConfig
    sub_configs_defaults = {"text_config": CLIPTextConfig}

    use_cls_token: bool = True
    pooling: str = "cls"
    projection_dim: int = 512
    logit_scale_init: float = math.log(1 / 0.07)
    max_logit_scale: float | None = math.log(100.0)

    def __post_init__(self, **kwargs):
        check_positive(self, "projection_dim")
        super().__post_init__(**kwargs)
        if not self.use_cls_token or self.pooling != "cls":
            raise ValueError('CLIP\'s image tower reads its CLS token: keep `use_cls_token=True` and `pooling="cls"`.')
        if self.text_config.projection_dim != self.projection_dim:
            raise ValueError(
                f"`text_config.projection_dim` ({self.text_config.projection_dim}) must equal `projection_dim` "
                f"({self.projection_dim}): both towers map to one embedding space."
            )

    def text_config_defaults(self) -> dict:
        return {"projection_dim": self.projection_dim}

    @property
    def embedding_size(self) -> int:
        return self.projection_dim


__all__ = ["CLIPSSLConfig"]
