from .configuration_byol import BYOLSSLConfig
from .configuration_clip import CLIPSSLConfig
from .configuration_dino import DINOSSLConfig
from .configuration_ijepa import IJEPASSLConfig, IJepaSSLConfig
from .configuration_jepa import JEPAConfig
from .configuration_joint_embedding import JointEmbeddingConfig
from .configuration_lejepa import LeJEPASSLConfig
from .configuration_lewm import LeWMConfig
from .configuration_mae import MAESSLConfig
from .configuration_mocov3 import MoCoV3SSLConfig
from .configuration_siglip import SiglipSSLConfig
from .configuration_simclr import SimCLRSSLConfig
from .configuration_ssl_vit import SSLViTConfig
from .configuration_vjepa import VJEPASSLConfig
from .heads import AttentionPoolingHead, AttentivePooler, BatchNormMLP, DINOHead, GlobalBatchNorm, WeightNormLinear
from .image_processing_ssl import SSLImageProcessor
from .masking import MultiBlockMaskGenerator, RandomMask, RandomMaskGenerator
from .masking_3d import VJEPA_MASK_SETS, BlockMaskSet, MultiBlock3DMaskGenerator
from .modeling_byol import (
    BYOLSSLForImageClassification,
    BYOLSSLForPreTraining,
    BYOLSSLForPreTrainingOutput,
    BYOLSSLModel,
    BYOLSSLPreTrainedModel,
)
from .modeling_clip import (
    CLIPSSLForImageClassification,
    CLIPSSLForPreTraining,
    CLIPSSLForPreTrainingOutput,
    CLIPSSLModel,
    CLIPSSLPreTrainedModel,
)
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
from .modeling_image_text import ImageTextForPreTrainingBase, ImageTextPreTrainingOutput
from .modeling_jepa import JEPAForPreTrainingBase, JEPAPreTrainedModel
from .modeling_joint_embedding import JointEmbeddingPreTrainedModel
from .modeling_lejepa import (
    LeJEPASSLForImageClassification,
    LeJEPASSLForPreTraining,
    LeJEPASSLForPreTrainingOutput,
    LeJEPASSLModel,
    LeJEPASSLPreTrainedModel,
)
from .modeling_lewm import (
    LeWMForImageClassification,
    LeWMForPreTraining,
    LeWMForPreTrainingOutput,
    LeWMModel,
    LeWMPreTrainedModel,
)
from .modeling_mae import (
    MAESSLForImageClassification,
    MAESSLForPreTraining,
    MAESSLForPreTrainingOutput,
    MAESSLModel,
    MAESSLPreTrainedModel,
)
from .modeling_mocov3 import (
    MoCoV3SSLForImageClassification,
    MoCoV3SSLForPreTraining,
    MoCoV3SSLForPreTrainingOutput,
    MoCoV3SSLModel,
    MoCoV3SSLPreTrainedModel,
)
from .modeling_siglip import (
    SiglipSSLForImageClassification,
    SiglipSSLForPreTraining,
    SiglipSSLForPreTrainingOutput,
    SiglipSSLModel,
    SiglipSSLPreTrainedModel,
)
from .modeling_simclr import (
    SimCLRSSLForImageClassification,
    SimCLRSSLForPreTraining,
    SimCLRSSLForPreTrainingOutput,
    SimCLRSSLModel,
    SimCLRSSLPreTrainedModel,
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
from .processing_image_text import ImageTextProcessor, train_caption_tokenizer
from .sigreg import SIGReg
from .video_processing_ssl import SSLVideoProcessor

__all__ = [
    "AttentionPoolingHead",
    "CLIPSSLConfig",
    "CLIPSSLForImageClassification",
    "CLIPSSLForPreTraining",
    "CLIPSSLForPreTrainingOutput",
    "CLIPSSLModel",
    "CLIPSSLPreTrainedModel",
    "SiglipSSLConfig",
    "SiglipSSLForImageClassification",
    "SiglipSSLForPreTraining",
    "SiglipSSLForPreTrainingOutput",
    "SiglipSSLModel",
    "SiglipSSLPreTrainedModel",
    "ImageTextForPreTrainingBase",
    "ImageTextPreTrainingOutput",
    "ImageTextProcessor",
    "train_caption_tokenizer",
    "AttentivePooler",
    "BYOLSSLConfig",
    "BYOLSSLForImageClassification",
    "BYOLSSLForPreTraining",
    "BYOLSSLForPreTrainingOutput",
    "BYOLSSLModel",
    "BYOLSSLPreTrainedModel",
    "BatchNormMLP",
    "BlockMaskSet",
    "DINOHead",
    "DINOSSLConfig",
    "DINOSSLForImageClassification",
    "DINOSSLForPreTraining",
    "DINOSSLForPreTrainingOutput",
    "DINOSSLModel",
    "DINOSSLPreTrainedModel",
    "GlobalBatchNorm",
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
    "JointEmbeddingConfig",
    "JointEmbeddingPreTrainedModel",
    "LeJEPASSLConfig",
    "LeJEPASSLForImageClassification",
    "LeJEPASSLForPreTraining",
    "LeJEPASSLForPreTrainingOutput",
    "LeJEPASSLModel",
    "LeJEPASSLPreTrainedModel",
    "LeWMConfig",
    "LeWMForImageClassification",
    "LeWMForPreTraining",
    "LeWMForPreTrainingOutput",
    "LeWMModel",
    "LeWMPreTrainedModel",
    "MAESSLConfig",
    "MAESSLForImageClassification",
    "MAESSLForPreTraining",
    "MAESSLForPreTrainingOutput",
    "MAESSLModel",
    "MAESSLPreTrainedModel",
    "MaskedTokenPredictor",
    "MoCoV3SSLConfig",
    "MoCoV3SSLForImageClassification",
    "MoCoV3SSLForPreTraining",
    "MoCoV3SSLForPreTrainingOutput",
    "MoCoV3SSLModel",
    "MoCoV3SSLPreTrainedModel",
    "MultiBlock3DMaskGenerator",
    "MultiBlockMaskGenerator",
    "RandomMask",
    "RandomMaskGenerator",
    "SIGReg",
    "SSLImageProcessor",
    "SSLModelWithEMATarget",
    "SSLPreTrainedModel",
    "SSLPreTrainingOutput",
    "SSLViTConfig",
    "SSLViTForImageClassification",
    "SSLViTModel",
    "SSLVideoProcessor",
    "SimCLRSSLConfig",
    "SimCLRSSLForImageClassification",
    "SimCLRSSLForPreTraining",
    "SimCLRSSLForPreTrainingOutput",
    "SimCLRSSLModel",
    "SimCLRSSLPreTrainedModel",
    "VJEPASSLConfig",
    "VJEPASSLForPreTraining",
    "VJEPASSLForPreTrainingOutput",
    "VJEPASSLForVideoClassification",
    "VJEPASSLModel",
    "VJEPASSLPreTrainedModel",
    "VJEPA_MASK_SETS",
    "WeightNormLinear",
]
