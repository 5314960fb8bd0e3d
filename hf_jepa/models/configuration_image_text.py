"""What the image-text configurations (SigLIP, CLIP) share: the shared ViT as the image tower, transformers' own
text-transformer config as `text_config`, and the learnable temperature (and bias) of the loss."""

import math
from typing import ClassVar

from transformers import PreTrainedConfig

from .configuration_ssl_vit import SSLViTConfig


class ImageTextConfig(SSLViTConfig):
    r"""
    Base of the image-text configs (never registered on its own). The ViT fields describe the image tower.

    Args:
        text_config (`dict` or `PreTrainedConfig`, *optional*): the text tower, a config of the method's transformers
            text model (`SiglipTextConfig` / `CLIPTextConfig`); a dict is read as that class's fields. Its
            `vocab_size` and special-token ids must fit the tokenizer (`hf-jepa pretrain` sets them from it).
        logit_scale_init (`float`): initial log-temperature t' of the logits `exp(t') * cosine`.
        max_logit_scale (`float`, *optional*): the log-temperature is clamped at this value in the forward (CLIP:
            log 100); `None`: no clamp.
    """

    text_config_class: ClassVar[type[PreTrainedConfig]] = PreTrainedConfig  # each method's text config class
    # How the text tower reads captions: padded to `max_position_embeddings` (SigLIP pools the last position) or to
    # the longest caption, and the tokenizer outputs it takes (SigLIP's official tokenizer gives no attention mask).
    pads_to_max_length: ClassVar[bool] = False
    text_input_names: ClassVar[tuple[str, ...]] = ("input_ids", "attention_mask")

    text_config: dict | PreTrainedConfig | None = None
    logit_scale_init: float = math.log(10.0)
    max_logit_scale: float | None = None

    def __post_init__(self, **kwargs):
        cls = type(self).text_config_class
        if self.text_config is None:
            self.text_config = cls(**self.text_config_defaults())
        elif isinstance(self.text_config, dict):
            fields = {k: v for k, v in self.text_config.items() if k != "model_type"}
            self.text_config = cls(**{**self.text_config_defaults(), **fields})
        elif not isinstance(self.text_config, cls):
            raise ValueError(
                f"`text_config` must be a {cls.__name__} (or its dict), got {type(self.text_config).__name__}."
            )
        if not math.isfinite(self.logit_scale_init):
            raise ValueError(f"`logit_scale_init` must be finite, got {self.logit_scale_init}.")
        super().__post_init__(**kwargs)

    def text_config_defaults(self) -> dict:
        """Fields of the text config that follow from this config unless the text config sets them."""
        return {}

    @property
    def embedding_size(self) -> int:
        """Width of the joint embedding space both towers map to."""
        raise NotImplementedError


__all__ = ["ImageTextConfig"]
