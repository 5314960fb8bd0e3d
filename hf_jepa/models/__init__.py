from .configuration_dino import DINOSSLConfig
from .configuration_ijepa import IJepaSSLConfig
from .configuration_mae import MAESSLConfig
from .configuration_vit_ssl import SSLViTConfig
from .configuration_vjepa import VJEPASSLConfig
from .heads import AttentivePooler, DINOHead, WeightNormLinear
from .image_processing_ssl import SSLImageProcessor
from .masking import MultiBlockMaskGenerator, RandomMask, RandomMaskGenerator
from .masking_3d import VJEPA_MASK_SETS, BlockMaskSet, MultiBlock3DMaskGenerator
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
from .modeling_vjepa import (
    VJEPASSLForPreTraining,
    VJEPASSLForPreTrainingOutput,
    VJEPASSLForVideoClassification,
    VJEPASSLModel,
    VJEPASSLPreTrainedModel,
)
from .predictor import MaskedTokenPredictor
from .video_processing_ssl import SSLVideoProcessor

__all__ = [
    "AttentivePooler",
    "BlockMaskSet",
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
    "MultiBlock3DMaskGenerator",
    "MultiBlockMaskGenerator",
    "RandomMask",
    "RandomMaskGenerator",
    "SSLImageProcessor",
    "SSLModelWithEMATarget",
    "SSLPreTrainingOutput",
    "SSLViTConfig",
    "SSLViTForImageClassification",
    "SSLViTModel",
    "SSLVideoProcessor",
    "VJEPA_MASK_SETS",
    "VJEPASSLConfig",
    "VJEPASSLForPreTraining",
    "VJEPASSLForPreTrainingOutput",
    "VJEPASSLForVideoClassification",
    "VJEPASSLModel",
    "VJEPASSLPreTrainedModel",
]
