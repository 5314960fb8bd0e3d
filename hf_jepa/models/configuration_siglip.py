"""SigLIP configuration: the shared ViT with the multi-head attention-pooling head as the image tower,
transformers' `SiglipTextConfig` as the text tower, and the sigmoid loss's temperature and bias."""

import math

from transformers import SiglipTextConfig

from .configuration_image_text import ImageTextConfig


class SiglipSSLConfig(ImageTextConfig):
    r"""
    Configuration of [`SiglipSSLForPreTraining`] (Zhai et al., 2023, "Sigmoid Loss for Language Image
    Pre-Training"). The image tower is the shared ViT without CLS token; its `pooler_output` is the multi-head
    attention-pooling ("MAP") head over the patch tokens (one learned probe, `num_attention_heads` heads, an MLP of
    `intermediate_size`), as the paper's and transformers' `SiglipVisionModel`; `pooling` is not used.

    Args:
        text_config (`SiglipTextConfig` or `dict`, *optional*): the text tower. Its `projection_size` (the linear head
            on the last token) must be the image tower's `hidden_size`: SigLIP compares the MAP output with it
            directly (set when left unset). `max_position_embeddings` 64 is what transformers' zero-shot pipeline pads
            SigLIP prompts to.
        logit_scale_init (`float`, defaults to log 10): t' at init (the paper).
        logit_bias_init (`float`, defaults to -10): b at init (the paper: the loss starts near its prior of mostly
            negative pairs).
    """

    model_type = "siglip_ssl"
    text_config_class = SiglipTextConfig
    sub_configs_defaults = {"text_config": SiglipTextConfig}
    pads_to_max_length = True
    text_input_names = ("input_ids",)

    logit_scale_init: float = math.log(10.0)
    logit_bias_init: float = -10.0

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.use_cls_token or self.num_register_tokens:
            raise ValueError(
                "SigLIP's image tower pools with its attention head: set `use_cls_token=False` and no registers."
            )
        if self.text_config.projection_size != self.hidden_size:
            raise ValueError(
                f"`text_config.projection_size` ({self.text_config.projection_size}) must equal `hidden_size` "
                f"({self.hidden_size}): SigLIP compares the text head's output with the image tower's pooled output."
            )
        if not math.isfinite(self.logit_bias_init):
            raise ValueError(f"`logit_bias_init` must be finite, got {self.logit_bias_init}.")

    def text_config_defaults(self) -> dict:
        return {"projection_size": self.hidden_size}

    @property
    def embedding_size(self) -> int:
        return self.hidden_size


__all__ = ["SiglipSSLConfig"]
