"""The methods hf_jepa trains, and their registration with transformers' Auto classes."""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
    AutoVideoProcessor,
    PreTrainedConfig,
    PreTrainedModel,
)

from .models import (
    DINOSSLConfig,
    DINOSSLForImageClassification,
    DINOSSLForPreTraining,
    DINOSSLModel,
    IJepaSSLConfig,
    IJepaSSLForImageClassification,
    IJepaSSLForPreTraining,
    IJepaSSLModel,
    MAESSLConfig,
    MAESSLForImageClassification,
    MAESSLForPreTraining,
    MAESSLModel,
    SSLImageProcessor,
    SSLVideoProcessor,
    VJEPASSLConfig,
    VJEPASSLForPreTraining,
    VJEPASSLForVideoClassification,
    VJEPASSLModel,
)
from .models.configuration_vit_ssl import _as_pair
from .views import MultiCropViews, RandomResizedCropFlip


def _image_size(processor) -> tuple[int, int]:
    return (processor.size["height"], processor.size["width"])


def crop_flip_views(
    default_scale: tuple[float, float], default_flip: bool, ratio: tuple[float, float] = (3 / 4, 4 / 3)
) -> Callable:
    """Training views of one random resized crop (+ optional flip) per image or clip: I-JEPA, MAE, V-JEPA."""

    def make(config, processor, crop_scale=None, horizontal_flip=None):
        flip = default_flip if horizontal_flip is None else horizontal_flip
        return RandomResizedCropFlip(_image_size(processor), crop_scale or default_scale, ratio, horizontal_flip=flip)

    return make


OFFICIAL_BLUR_SIGMA = (0.1, 2.0)


def multi_crop_views(config, processor, crop_scale=None, horizontal_flip=None):
    """DINO's 2 global + N local views with the official photometric augmentations; `crop_scale` sets the global
    crops' scale range."""
    height, width = _image_size(processor)
    if height != width:
        raise ValueError(
            f"DINO's multi-crop views are square: the image processor's size must be square, got {height}x{width}."
        )
    return MultiCropViews(
        global_size=height,
        local_size=config.local_crop_size,
        num_local_crops=config.num_local_crops,
        global_scale=tuple(crop_scale or config.global_crop_scale),
        local_scale=tuple(config.local_crop_scale),
        mean=tuple(processor.image_mean),
        std=tuple(processor.image_std),
        horizontal_flip=True if horizontal_flip is None else horizontal_flip,
        num_global_crops=config.num_global_crops,
        # The official blur sigma (0.1-2 px) is for 224 px crops: scaled with the crop so small images keep a shape.
        blur_sigma=tuple(sigma * height / 224 for sigma in OFFICIAL_BLUR_SIGMA),
    )


@dataclass(frozen=True)
class Method:
    name: str
    config_class: type[PreTrainedConfig]
    model_class: type[PreTrainedModel]
    pretraining_class: type[PreTrainedModel]
    classification_class: type[PreTrainedModel]
    processor_class: type
    # The model `hf-jepa pretrain` builds by default: sized for steps per minute on a laptop CPU (32 px digits).
    default_config: dict
    # train_views(config, processor, crop_scale=None, horizontal_flip=None): the on-device training views.
    train_views: Callable
    # `hf-jepa pretrain` defaults of this method's official recipe that differ from the command's common ones.
    training_defaults: dict = field(default_factory=dict)
    # "image" (inputs `pixel_values`, image processor, image classification) or "video" (`pixel_values_videos`).
    modality: str = "image"


_TINY_VIT = dict(image_size=32, patch_size=4, hidden_size=96, num_hidden_layers=4, num_attention_heads=3)

METHODS: dict[str, Method] = {
    "ijepa": Method(
        "ijepa",
        IJepaSSLConfig,
        IJepaSSLModel,
        IJepaSSLForPreTraining,
        IJepaSSLForImageClassification,
        SSLImageProcessor,
        dict(
            _TINY_VIT,
            predictor_hidden_size=64,
            predictor_num_hidden_layers=2,
            predictor_num_attention_heads=4,
            min_keep=4,
        ),
        crop_flip_views((0.3, 1.0), default_flip=False),  # official I-JEPA: no flip
    ),
    "mae": Method(
        "mae",
        MAESSLConfig,
        MAESSLModel,
        MAESSLForPreTraining,
        MAESSLForImageClassification,
        SSLImageProcessor,
        dict(_TINY_VIT, decoder_hidden_size=64, decoder_num_hidden_layers=2, decoder_num_attention_heads=4),
        crop_flip_views((0.2, 1.0), default_flip=True),  # official MAE: RandomResizedCrop(0.2, 1) + flip
        # Official MAE: AdamW betas (0.9, 0.95), constant weight decay 0.05, no EMA network.
        dict(adam_beta2=0.95, weight_decay=0.05, weight_decay_end=None),
    ),
    "dino": Method(
        "dino",
        DINOSSLConfig,
        DINOSSLModel,
        DINOSSLForPreTraining,
        DINOSSLForImageClassification,
        SSLImageProcessor,
        dict(
            _TINY_VIT,
            head_hidden_size=256,
            head_bottleneck_size=64,
            head_output_size=1024,
            num_local_crops=4,
            local_crop_size=16,
        ),
        multi_crop_views,
        # Official DINO: cosine EMA 0.996 -> 1, gradient clipping 3.0, teacher temperature warm-up (here over the first
        # 30% of the default run), last layer frozen for the first epoch (22 steps of 64 digits). Batch 64: its
        # 2 global + 4 local views per image cost ~2.5x an I-JEPA step, and the default run must stay within minutes.
        dict(
            per_device_train_batch_size=64,
            ema_schedule="cosine",
            max_grad_norm=3.0,
            teacher_temperature_warmup_steps=90,
            freeze_last_layer_steps=22,
        ),
    ),
    "vjepa": Method(
        "vjepa",
        VJEPASSLConfig,
        VJEPASSLModel,
        VJEPASSLForPreTraining,
        VJEPASSLForVideoClassification,
        SSLVideoProcessor,
        # 8-frame 32 px clips in 2x8x8 tubelets: 4 x 4 x 4 = 64 tokens; rotary positions (head dims 32 and 16).
        dict(
            image_size=32,
            patch_size=8,
            hidden_size=96,
            num_hidden_layers=4,
            num_attention_heads=3,
            num_frames=8,
            tubelet_size=2,
            predictor_hidden_size=64,
            predictor_num_hidden_layers=2,
            predictor_num_attention_heads=4,
        ),
        # Official V-JEPA: one random resized crop per clip (scale 0.3-1, aspect 0.75-1.35) + flip, all frames alike.
        crop_flip_views((0.3, 1.0), default_flip=True, ratio=(0.75, 1.35)),
        dict(per_device_train_batch_size=64),
        modality="video",
    ),
}


def default_processor(method: Method, config):
    """The method's image (or video) processor at the config's image size."""
    height, width = (g * p for g, p in zip(config.grid_size, _as_pair(config.patch_size, "patch_size")))
    return method.processor_class(size={"height": height, "width": width})


def saved_processor(method: Method, model_dir: str):
    """The image (or, for video methods, video) processor saved in a model folder; OSError when it has none."""
    processor_class = AutoVideoProcessor if method.modality == "video" else AutoImageProcessor
    return processor_class.from_pretrained(model_dir)


def model_processor(method: Method, model_dir: str, config):
    """The folder's saved processor, or the method's default at the config's size for a folder saved without one."""
    try:
        return saved_processor(method, model_dir)
    except (OSError, ValueError):
        return default_processor(method, config)


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}: choose one of {sorted(METHODS)}.")
    return METHODS[name]


def read_saved_config(model_dir: str) -> dict:
    """The config.json of a saved model folder, as a dict; a clear error for a folder that is not one."""
    path = os.path.join(str(model_dir), "config.json")
    if not os.path.isfile(path):
        raise ValueError(f"`{model_dir}` is not a saved model folder (no config.json).")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def method_of_model_type(model_type: str) -> Method:
    for method in METHODS.values():
        if method.config_class.model_type == model_type:
            return method
    known = sorted(m.config_class.model_type for m in METHODS.values())
    raise ValueError(f"`{model_type}` is not an hf_jepa model type (known: {known}).")


def register_peft_targets() -> None:
    """PEFT has no default LoRA targets for model types it doesn't know: point it at our attention projections."""
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as lora_targets
    except ImportError:  # peft is optional at import time
        return
    for method in METHODS.values():
        lora_targets.setdefault(method.config_class.model_type, ["qkv"])


def register_auto_classes() -> None:
    for method in METHODS.values():
        AutoConfig.register(method.config_class.model_type, method.config_class, exist_ok=True)
        AutoModel.register(method.config_class, method.model_class, exist_ok=True)
        AutoModelForPreTraining.register(method.config_class, method.pretraining_class, exist_ok=True)
        if method.modality == "video":
            AutoModelForVideoClassification.register(method.config_class, method.classification_class, exist_ok=True)
            AutoVideoProcessor.register(method.config_class, method.processor_class, exist_ok=True)
            continue
        AutoModelForImageClassification.register(method.config_class, method.classification_class, exist_ok=True)
        AutoImageProcessor.register(
            method.config_class, image_processor_classes={"torchvision": method.processor_class}, exist_ok=True
        )
