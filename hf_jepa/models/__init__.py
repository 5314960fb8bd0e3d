from .configuration_dino import DINOSSLConfig
from .configuration_ijepa import IJEPASSLConfig, IJepaSSLConfig
from .configuration_jepa import JEPAConfig
from .configuration_mae import MAESSLConfig
from .configuration_ssl_vit import SSLViTConfig
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
    IJEPASSLForImageClassification,
    IJepaSSLForImageClassification,
    IJEPASSLForPreTraining,
    IJepaSSLForPreTraining,
    IJEPASSLForPreTrainingOutput,
    IJepaSSLForPreTrainingOutput,
    IJEPASSLModel,
    IJepaSSLModel,
    IJEPASSLPreTrainedModel,
    IJepaSSLPreTrainedModel,
)
from .modeling_jepa import JEPAForPreTrainingBase, JEPAPreTrainedModel
from .modeling_mae import (
    MAESSLForImageClassification,
    MAESSLForPreTraining,
    MAESSLForPreTrainingOutput,
    MAESSLModel,
    MAESSLPreTrainedModel,
)
from .modeling_ssl_vit import (
    SSLModelWithEMATarget,
    SSLPreTrainedModel,
    SSLPreTrainingOutput,
    SSLViTForImageClassification,
    SSLViTModel,
)
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
    "IJEPASSLConfig",
    "IJEPASSLForImageClassification",
    "IJEPASSLForPreTraining",
    "IJEPASSLForPreTrainingOutput",
    "IJEPASSLModel",
    "IJEPASSLPreTrainedModel",
    "IJepaSSLConfig",
    "IJepaSSLForImageClassification",
    "IJepaSSLForPreTraining",
    "IJepaSSLForPreTrainingOutput",
    "IJepaSSLModel",
    "IJepaSSLPreTrainedModel",
    "JEPAConfig",
    "JEPAForPreTrainingBase",
    "JEPAPreTrainedModel",
    "MAESSLConfig",
    "MAESSLForImageClassification",
    "MAESSLForPreTraining",
    "MAESSLForPreTrainingOutput",
    "MAESSLModel",
    "MAESSLPreTrainedModel",
    "MaskedTokenPredictor",
    "MultiBlock3DMaskGenerator",
    "MultiBlockMaskGenerator",
    "RandomMask",
    "RandomMaskGenerator",
    "SSLImageProcessor",
    "SSLModelWithEMATarget",
    "SSLPreTrainedModel",
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
    "WeightNormLinear",
]
