from .configuration_dino import DINOSSLConfig
from .configuration_ijepa import IJepaSSLConfig
from .configuration_mae import MAESSLConfig
from .configuration_vit_ssl import SSLViTConfig
from .heads import DINOHead, WeightNormLinear
from .image_processing_ssl import SSLImageProcessor
from .masking import MultiBlockMaskGenerator, RandomMask, RandomMaskGenerator
from .modeling_dino import (
    DINOSSLForImageClassification,
    DINOSSLForPreTraining,
    DINOSSLForPreTrainingOutput,
    DINOSSLModel,
    DINOSSLPreTrainedModel,
)
from .modeling_ijepa import (
    IJepaSSLForImageClassification,
    IJepaSSLForPreTraining,
    IJepaSSLForPreTrainingOutput,
    IJepaSSLModel,
    IJepaSSLPreTrainedModel,
)
from .modeling_mae import (
    MAESSLForImageClassification,
    MAESSLForPreTraining,
    MAESSLForPreTrainingOutput,
    MAESSLModel,
    MAESSLPreTrainedModel,
)
from .modeling_ssl_vit import SSLModelWithEMATarget, SSLPreTrainingOutput, SSLViTForImageClassification, SSLViTModel
from .predictor import MaskedTokenPredictor

__all__ = [
    "DINOHead",
    "DINOSSLConfig",
    "DINOSSLForImageClassification",
    "DINOSSLForPreTraining",
    "DINOSSLForPreTrainingOutput",
    "DINOSSLModel",
    "DINOSSLPreTrainedModel",
    "MAESSLConfig",
    "MAESSLForImageClassification",
    "MAESSLForPreTraining",
    "MAESSLForPreTrainingOutput",
    "MAESSLModel",
    "MAESSLPreTrainedModel",
    "WeightNormLinear",
    "IJepaSSLConfig",
    "IJepaSSLForImageClassification",
    "IJepaSSLForPreTraining",
    "IJepaSSLForPreTrainingOutput",
    "IJepaSSLModel",
    "IJepaSSLPreTrainedModel",
    "MaskedTokenPredictor",
    "MultiBlockMaskGenerator",
    "RandomMask",
    "RandomMaskGenerator",
    "SSLImageProcessor",
    "SSLModelWithEMATarget",
    "SSLPreTrainingOutput",
    "SSLViTConfig",
    "SSLViTForImageClassification",
    "SSLViTModel",
]
