"""Backbone configuration shared by every method: one ViT, described once."""

import json
import os

from transformers import PreTrainedConfig

_POOLINGS = ("mean", "cls")
POSITION_EMBEDDING_TYPES = ("sincos", "learned", "rope")


def _as_pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints as (height, width); a clear error naming `name` otherwise."""
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"`{name}` must be an int or a pair of ints, got {value!r}.")


def check_heads(config, width_field: str, heads_field: str) -> None:
    """A transformer's width must split evenly over its heads: a clear error naming both fields otherwise."""
    width, heads = getattr(config, width_field), getattr(config, heads_field)
    if heads < 1 or width < 1 or width % heads:
        raise ValueError(f"`{width_field}` ({width}) must be a positive multiple of `{heads_field}` ({heads}).")


class SSLViTConfig(PreTrainedConfig):
    r"""
    Vision Transformer hyper-parameters common to all hf_jepa methods. Method configs subclass it and add their
    objective's fields; this class is never registered on its own.

    Args:
        image_size (`int` or pair, defaults to 224): input resolution the fixed position table is built for.
        patch_size (`int` or pair, defaults to 16): side of the square patches.
        num_channels (`int`, defaults to 3): input channels.
        hidden_size (`int`, defaults to 768): token width.
        num_hidden_layers (`int`, defaults to 12): transformer blocks.
        num_attention_heads (`int`, defaults to 12): heads per block.
        intermediate_size (`int`, *optional*): MLP width; `4 * hidden_size` when unset.
        hidden_act (`str`, defaults to `"gelu"`): MLP activation.
        qkv_bias (`bool`, defaults to `True`): bias on the query/key/value projection.
        layer_norm_eps (`float`, defaults to 1e-6): epsilon of every LayerNorm.
        drop_path_rate (`float`, defaults to 0.0): stochastic depth, linearly increasing over blocks.
        use_cls_token (`bool`, defaults to `False`): prepend a learned CLS token.
        num_register_tokens (`int`, defaults to 0): learned register tokens after the CLS token.
        pooling (`str`, defaults to `"mean"`): `pooler_output` is the mean of patch tokens or the CLS token.
        initializer_range (`float`, defaults to 0.02): std of the truncated-normal init.
        num_frames (`int`, defaults to 1): frames per clip the model is built for; 1 for image models.
        tubelet_size (`int`, defaults to 1): frames per token. A model with `num_frames > 1` or `tubelet_size > 1` is
            a video model (3-D tubelet patches, [B, T, C, H, W] inputs); images pass through it as one frame repeated
            over the tubelet.
        position_embedding_type (`str`, defaults to `"sincos"`): `"sincos"` (fixed table, 2-D or 3-D, not saved),
            `"learned"` (a trained table, e.g. for converted official DINO checkpoints) or `"rope"` (3-D rotary
            embeddings on queries and keys in every attention layer, as V-JEPA 2; no CLS/register tokens).
    """

    model_type = "ssl_vit"

    image_size: int | list[int] | tuple[int, int] = 224
    patch_size: int | list[int] | tuple[int, int] = 16
    num_channels: int = 3
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int | None = None
    hidden_act: str = "gelu"
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-6
    drop_path_rate: float = 0.0
    use_cls_token: bool = False
    num_register_tokens: int = 0
    pooling: str = "mean"
    initializer_range: float = 0.02
    num_frames: int = 1
    tubelet_size: int = 1
    position_embedding_type: str = "sincos"

    def __post_init__(self, **kwargs):
        if self.intermediate_size is None:
            self.intermediate_size = 4 * self.hidden_size
        check_heads(self, "hidden_size", "num_attention_heads")
        image, patch = self.image_shape, self.patch_shape
        if min(image) < 1 or min(patch) < 1:
            raise ValueError(f"`image_size` {image} and `patch_size` {patch} must be positive.")
        if image[0] % patch[0] or image[1] % patch[1]:
            raise ValueError(f"`image_size` {image} must be a multiple of `patch_size` {patch}.")
        if self.pooling not in _POOLINGS:
            raise ValueError(f"`pooling` must be one of {_POOLINGS}, got {self.pooling!r}.")
        if self.pooling == "cls" and not self.use_cls_token:
            raise ValueError('`pooling="cls"` needs `use_cls_token=True`.')
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(
                f"`position_embedding_type` must be one of {POSITION_EMBEDDING_TYPES}, got "
                f"{self.position_embedding_type!r}."
            )
        if self.position_embedding_type == "rope" and self.num_prefix_tokens:
            raise ValueError("`position_embedding_type='rope'` has no position for CLS/register tokens: disable them.")
        if self.num_frames < 1 or self.tubelet_size < 1 or self.num_frames % self.tubelet_size:
            raise ValueError(
                f"`num_frames` ({self.num_frames}) must be a positive multiple of `tubelet_size` "
                f"({self.tubelet_size})."
            )
        super().__post_init__(**kwargs)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of the images the model is built for."""
        return _as_pair(self.image_size, "image_size")

    @property
    def patch_shape(self) -> tuple[int, int]:
        """(height, width) of a patch."""
        return _as_pair(self.patch_size, "patch_size")

    @property
    def grid_size(self) -> tuple[int, int]:
        """Patches along (height, width) at `image_size`."""
        (image_h, image_w), (patch_h, patch_w) = self.image_shape, self.patch_shape
        return (image_h // patch_h, image_w // patch_w)

    @property
    def pooled_size(self) -> int:
        """Width of the encoder's pooled feature (`pooler_output`)."""
        return self.hidden_size

    @property
    def is_video(self) -> bool:
        return self.num_frames > 1 or self.tubelet_size > 1

    @property
    def token_grid_size(self) -> tuple[int, ...]:
        """Tokens along (time, height, width) for a video model, (height, width) for an image model."""
        return (self.num_frames // self.tubelet_size, *self.grid_size) if self.is_video else self.grid_size

    @property
    def num_prefix_tokens(self) -> int:
        return int(self.use_cls_token) + self.num_register_tokens

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        # transformers only warns when a folder holds another model type; loading an MAE folder into an I-JEPA
        # class would then silently build a wrong model, so refuse it here.
        config_file = os.path.join(str(pretrained_model_name_or_path), "config.json")
        if cls.model_type != SSLViTConfig.model_type and os.path.isfile(config_file):
            with open(config_file, encoding="utf-8") as handle:
                found = json.load(handle).get("model_type")
            if found != cls.model_type:
                raise ValueError(
                    f"{pretrained_model_name_or_path!r} holds a `{found}` model, not `{cls.model_type}`: "
                    f"load it with the class of its own method, or with `AutoModel` after `import hf_jepa`."
                )
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)


def check_local_crop_size(config: SSLViTConfig) -> None:
    """Multi-crop configs: local crops are the small views, at most the global crops' (`image_size`) side."""
    if config.num_local_crops and not 0 < config.local_crop_size <= min(config.image_shape):
        raise ValueError(
            f"`local_crop_size` ({config.local_crop_size}) must be positive and at most the global crops' size "
            f"{min(config.image_shape)} (`image_size`): local crops are the small views."
        )


__all__ = ["POSITION_EMBEDDING_TYPES", "SSLViTConfig", "check_heads", "check_local_crop_size"]
