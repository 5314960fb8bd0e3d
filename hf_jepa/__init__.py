"""hf_jepa: self-supervised vision pretraining (I-JEPA and family) native to the Hugging Face ecosystem."""

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
    MultiBlock3DMaskGenerator,
    MultiBlockMaskGenerator,
    RandomMask,
    RandomMaskGenerator,
    SSLImageProcessor,
    SSLVideoProcessor,
    VJEPASSLConfig,
    VJEPASSLForPreTraining,
    VJEPASSLForVideoClassification,
    VJEPASSLModel,
)
from .registry import METHODS, get_method, register_auto_classes, register_peft_targets
from .trainer import SSLTrainer, SSLTrainingArguments, TrainingDivergedError
from .views import MultiCropViews, RandomResizedCropFlip

register_auto_classes()
register_peft_targets()

__version__ = "0.1.0"

__all__ = [
    "DINOSSLConfig",
    "DINOSSLForImageClassification",
    "DINOSSLForPreTraining",
    "DINOSSLModel",
    "IJepaSSLConfig",
    "IJepaSSLForImageClassification",
    "IJepaSSLForPreTraining",
    "IJepaSSLModel",
    "MAESSLConfig",
    "MAESSLForImageClassification",
    "MAESSLForPreTraining",
    "MAESSLModel",
    "METHODS",
    "MultiBlock3DMaskGenerator",
    "MultiBlockMaskGenerator",
    "MultiCropViews",
    "RandomMask",
    "RandomMaskGenerator",
    "RandomResizedCropFlip",
    "SSLImageProcessor",
    "SSLTrainer",
    "SSLTrainingArguments",
    "SSLVideoProcessor",
    "TrainingDivergedError",
    "VJEPASSLConfig",
    "VJEPASSLForPreTraining",
    "VJEPASSLForVideoClassification",
    "VJEPASSLModel",
    "get_method",
]
