from .configuration_ijepa import IJepaSSLConfig
from .configuration_vit_ssl import SSLViTConfig
from .image_processing_ssl import SSLImageProcessor
from .masking import MultiBlockMaskGenerator, RandomMask, RandomMaskGenerator
from .modeling_ijepa import (
    IJepaSSLForImageClassification,
    IJepaSSLForPreTraining,
    IJepaSSLForPreTrainingOutput,
    IJepaSSLModel,
    IJepaSSLPreTrainedModel,
)
from .modeling_ssl_vit import SSLModelWithEMATarget, SSLPreTrainingOutput, SSLViTForImageClassification, SSLViTModel
from .predictor import MaskedTokenPredictor

__all__ = [
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
