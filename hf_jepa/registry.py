"""The methods hf_jepa trains, and their registration with transformers' Auto classes."""

from dataclasses import dataclass

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    PreTrainedConfig,
    PreTrainedModel,
)

from .models import (
    IJepaSSLConfig,
    IJepaSSLForImageClassification,
    IJepaSSLForPreTraining,
    IJepaSSLModel,
    SSLImageProcessor,
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
    ),
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}: choose one of {sorted(METHODS)}.")
    return METHODS[name]


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
        AutoModelForImageClassification.register(method.config_class, method.classification_class, exist_ok=True)
        AutoImageProcessor.register(
            method.config_class, image_processor_classes={"torchvision": method.processor_class}, exist_ok=True
        )
