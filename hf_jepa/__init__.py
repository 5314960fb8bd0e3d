"""hf_jepa: self-supervised vision pretraining (I-JEPA and family) native to the Hugging Face ecosystem.

`import hf_jepa` registers every method's config, models and processor with transformers' Auto classes (and PEFT's
default LoRA targets). It loads the models and the method table only: the trainer, the training views, data,
publishing and the demo load on first use (`hf_jepa.SSLTrainer` imports the Trainer then).
"""

import importlib

from .models import (
    BYOLSSLConfig,
    BYOLSSLForImageClassification,
    BYOLSSLForPreTraining,
    BYOLSSLModel,
    CLIPSSLConfig,
    CLIPSSLForImageClassification,
    CLIPSSLForPreTraining,
    CLIPSSLModel,
    DINOSSLConfig,
    DINOSSLForImageClassification,
    DINOSSLForPreTraining,
    DINOSSLModel,
    IJEPASSLConfig,
    IJepaSSLConfig,
    IJEPASSLForImageClassification,
    IJepaSSLForImageClassification,
    IJEPASSLForPreTraining,
    IJepaSSLForPreTraining,
    IJEPASSLModel,
    IJepaSSLModel,
    ImageTextProcessor,
    LeJEPASSLConfig,
    LeJEPASSLForImageClassification,
    LeJEPASSLForPreTraining,
    LeJEPASSLModel,
    LeWMConfig,
    LeWMForImageClassification,
    LeWMForPreTraining,
    LeWMModel,
    MAESSLConfig,
    MAESSLForImageClassification,
    MAESSLForPreTraining,
    MAESSLModel,
    MoCoV3SSLConfig,
    MoCoV3SSLForImageClassification,
    MoCoV3SSLForPreTraining,
    MoCoV3SSLModel,
    MultiBlock3DMaskGenerator,
    MultiBlockMaskGenerator,
    RandomMask,
    RandomMaskGenerator,
    SiglipSSLConfig,
    SiglipSSLForImageClassification,
    SiglipSSLForPreTraining,
    SiglipSSLModel,
    SIGReg,
    SimCLRSSLConfig,
    SimCLRSSLForImageClassification,
    SimCLRSSLForPreTraining,
    SimCLRSSLModel,
    SSLImageProcessor,
    SSLVideoProcessor,
    VJEPASSLConfig,
    VJEPASSLForPreTraining,
    VJEPASSLForVideoClassification,
    VJEPASSLModel,
)
from .registry import METHODS, Method, get_method, register_auto_classes, register_peft_targets

register_auto_classes()
register_peft_targets()

__version__ = "0.1.0"

# Public names whose modules are heavy (the Trainer, torchvision ops): imported when first used.
_LAZY = {
    "SSLTrainer": "hf_jepa.engine.trainer",
    "TrainingDivergedError": "hf_jepa.engine.trainer",
    "SSLTrainingArguments": "hf_jepa.engine.arguments",
    "MultiCropViews": "hf_jepa.engine.views",
    "RandomResizedCropFlip": "hf_jepa.engine.views",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hf_jepa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CLIPSSLConfig",
    "CLIPSSLForImageClassification",
    "CLIPSSLForPreTraining",
    "CLIPSSLModel",
    "ImageTextProcessor",
    "SiglipSSLConfig",
    "SiglipSSLForImageClassification",
    "SiglipSSLForPreTraining",
    "SiglipSSLModel",
    "BYOLSSLConfig",
    "BYOLSSLForImageClassification",
    "BYOLSSLForPreTraining",
    "BYOLSSLModel",
    "DINOSSLConfig",
    "DINOSSLForImageClassification",
    "DINOSSLForPreTraining",
    "DINOSSLModel",
    "IJEPASSLConfig",
    "IJEPASSLForImageClassification",
    "IJEPASSLForPreTraining",
    "IJEPASSLModel",
    "IJepaSSLConfig",
    "IJepaSSLForImageClassification",
    "IJepaSSLForPreTraining",
    "IJepaSSLModel",
    "LeJEPASSLConfig",
    "LeJEPASSLForImageClassification",
    "LeJEPASSLForPreTraining",
    "LeJEPASSLModel",
    "LeWMConfig",
    "LeWMForImageClassification",
    "LeWMForPreTraining",
    "LeWMModel",
    "MAESSLConfig",
    "MAESSLForImageClassification",
    "MAESSLForPreTraining",
    "MAESSLModel",
    "METHODS",
    "Method",
    "MoCoV3SSLConfig",
    "MoCoV3SSLForImageClassification",
    "MoCoV3SSLForPreTraining",
    "MoCoV3SSLModel",
    "MultiBlock3DMaskGenerator",
    "MultiBlockMaskGenerator",
    "MultiCropViews",
    "RandomMask",
    "RandomMaskGenerator",
    "SIGReg",
    "RandomResizedCropFlip",
    "SSLImageProcessor",
    "SSLTrainer",
    "SSLTrainingArguments",
    "SSLVideoProcessor",
    "SimCLRSSLConfig",
    "SimCLRSSLForImageClassification",
    "SimCLRSSLForPreTraining",
    "SimCLRSSLModel",
    "TrainingDivergedError",
    "VJEPASSLConfig",
    "VJEPASSLForPreTraining",
    "VJEPASSLForVideoClassification",
    "VJEPASSLModel",
    "get_method",
]
