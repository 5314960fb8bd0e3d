"""The method table: ONE `Method` entry per method. Everything that differs between methods is read from it: the
Auto-class and PEFT registration, the CLI's `--method` choices, defaults and help, model cards (title, template
section), exports to transformers' classes, converters of official checkpoints, the demo's prediction view, the
training views, and the tests parametrised over the table.

Entries name the pieces that live above this module (exporters in `hub/`, converters, demo views) by import path,
resolved when first used: `import hf_jepa` stays light, and imports keep running one way (models, engine, data below;
registry; hub, demo, cli above).
"""

import importlib
import json
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
    AutoProcessor,
    AutoVideoProcessor,
    PreTrainedConfig,
    PreTrainedModel,
)

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
    IJEPASSLForImageClassification,
    IJEPASSLForPreTraining,
    IJEPASSLModel,
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
    SiglipSSLConfig,
    SiglipSSLForImageClassification,
    SiglipSSLForPreTraining,
    SiglipSSLModel,
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


def load_object(path: str) -> Any:
    """`"package.module:attribute"` -> the attribute (imported on first use)."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


# ---- training views: how each method's views are made from its config and processor ---------------------------------
def _image_size(processor) -> tuple[int, int]:
    return (processor.size["height"], processor.size["width"])


def crop_flip_views(
    default_scale: tuple[float, float], default_flip: bool, ratio: tuple[float, float] = (3 / 4, 4 / 3)
) -> Callable:
    """Training views of one random resized crop (+ optional flip) per image or clip: I-JEPA, MAE, V-JEPA."""

    def make(config, processor, crop_scale=None, horizontal_flip=None):
        from .engine.views import RandomResizedCropFlip

        flip = default_flip if horizontal_flip is None else horizontal_flip
        return RandomResizedCropFlip(_image_size(processor), crop_scale or default_scale, ratio, horizontal_flip=flip)

    return make


OFFICIAL_BLUR_SIGMA = (0.1, 2.0)


def _multi_crop(config, processor, global_scale, horizontal_flip, **photometric):
    """`config.num_global_crops` global crops at the model's size (area range `global_scale`) and the config's local
    crops, `MultiCropViews`' photometric pipeline with `photometric`'s settings (its defaults: DINO's)."""
    from .engine.views import MultiCropViews

    height, width = _image_size(processor)
    if height != width:
        raise ValueError(
            f"Multi-crop views are square: the image processor's size must be square, got {height}x{width}."
        )
    return MultiCropViews(
        global_size=height,
        local_size=config.local_crop_size,
        num_local_crops=config.num_local_crops,
        global_scale=tuple(global_scale),
        local_scale=tuple(config.local_crop_scale),
        mean=tuple(processor.image_mean),
        std=tuple(processor.image_std),
        horizontal_flip=True if horizontal_flip is None else horizontal_flip,
        num_global_crops=config.num_global_crops,
        # The official blur sigma (0.1-2 px) is for 224 px crops: scaled with the crop so small images keep a shape.
        blur_sigma=tuple(sigma * height / 224 for sigma in OFFICIAL_BLUR_SIGMA),
        **photometric,
    )


def multi_crop_views(config, processor, crop_scale=None, horizontal_flip=None):
    """DINO's 2 global + N local views with the official photometric augmentations; `crop_scale` sets the global
    crops' scale range."""
    return _multi_crop(config, processor, crop_scale or config.global_crop_scale, horizontal_flip)


def _two_views(config, processor, crop_scale, horizontal_flip, **photometric):
    """Two random resized crops per image at the model's size (no local crops), `MultiCropViews`' photometric
    pipeline with `photometric`'s settings (its defaults: BYOL's asymmetric recipe)."""
    from .engine.views import MultiCropViews

    height, width = _image_size(processor)
    if height != width:
        raise ValueError(f"Two-view crops are square: the processor's size must be square, got {height}x{width}.")
    return MultiCropViews(
        global_size=height,
        local_size=height,
        num_local_crops=0,
        global_scale=tuple(crop_scale or config.crop_scale),
        mean=tuple(processor.image_mean),
        std=tuple(processor.image_std),
        horizontal_flip=True if horizontal_flip is None else horizontal_flip,
        num_global_crops=2,
        **{"blur_sigma": tuple(sigma * height / 224 for sigma in OFFICIAL_BLUR_SIGMA), **photometric},
    )


def asymmetric_two_views(config, processor, crop_scale=None, horizontal_flip=None):
    """BYOL's two views, which MoCo v3 uses too: random resized crop (`config.crop_scale`) + flip, colour jitter
    (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale p 0.2, Gaussian blur p 1.0 on view 1 and 0.1 on view 2, solarisation p 0.2
    on view 2 only."""
    return _two_views(config, processor, crop_scale, horizontal_flip, global_blur_p=(1.0, 0.1))


def simclr_views(config, processor, crop_scale=None, horizontal_flip=None):
    """SimCLR's two views (official `preprocess_for_train` + `batch_random_blur`), alike for both: random resized crop
    (`config.crop_scale`) + flip, colour jitter (0.8 s, 0.8 s, 0.8 s, 0.2 s) p 0.8 for strength s =
    `config.color_jitter_strength`, grayscale p 0.2, Gaussian blur p `config.blur_probability`, no solarisation."""
    strength, blur = config.color_jitter_strength, config.blur_probability
    return _two_views(
        config,
        processor,
        crop_scale,
        horizontal_flip,
        color_jitter=strength > 0,
        color_jitter_params=(0.8 * strength, 0.8 * strength, 0.8 * strength, 0.2 * strength),
        global_blur_p=(blur, blur),
        global_solarize_p=(0.0, 0.0),
        **({} if blur > 0 else {"blur_sigma": None}),
    )


def lejepa_views(config, processor, crop_scale=None, horizontal_flip=None):
    """LeJEPA's views (official minimal script's augmentations) as multi-crop: `num_global_crops` global and
    `num_local_crops` local crops, every one with flip, colour jitter (0.8, 0.8, 0.8, 0.2) p 0.8, grayscale p 0.2,
    Gaussian blur p 0.5 and solarisation p 0.2."""
    return _multi_crop(
        config,
        processor,
        crop_scale or config.crop_scale,
        horizontal_flip,
        color_jitter_params=(0.8, 0.8, 0.8, 0.2),
        global_blur_p=(0.5, 0.5),
        global_solarize_p=(0.2, 0.2),
        local_blur_p=(0.5, 0.5),
        local_solarize_p=(0.2, 0.2),
    )


@dataclass(frozen=True)
class Method:
    """Everything hf_jepa knows about one method. Adding a method = its configuration/modeling files, its card
    section `model_cards/<name>.md`, and one entry in `METHODS`."""

    name: str  # the `--method` value and the card section's file name
    title: str  # as the paper writes it, for cards, help and logs
    summary: str  # one line for the CLI help: what the objective does
    config_class: type[PreTrainedConfig]
    model_class: type[PreTrainedModel]  # the published encoder
    pretraining_class: type[PreTrainedModel]
    classification_class: type[PreTrainedModel]
    processor_class: type
    # The model `hf-jepa pretrain` builds by default: sized for steps per minute on a laptop CPU (32 px digits).
    default_config: dict
    # train_views(config, processor, crop_scale=None, horizontal_flip=None): the on-device training views.
    train_views: Callable
    # `hf-jepa pretrain` defaults of this method's official recipe that differ from the command's common ones.
    training_defaults: dict = field(default_factory=dict)
    # One of `MODALITIES`: "image" (inputs `pixel_values`, image processor, image classification), "video"
    # (`pixel_values_videos`), "image-text" (`pixel_values` + the captions' `input_ids`; an image tower published
    # and classified as an image model, a text tower, a tokenizer) or "trajectory" (windows of frames
    # `pixel_values` [B, T, C, H, W] + `actions`, from `hf-jepa collect`; a frame encoder published and classified as
    # an image model).
    modality: str = "image"
    # `--format` name -> "module:attribute" of a `hub.export.Exporter` to transformers' own classes.
    exporters: dict[str, str] = field(default_factory=dict)
    # "module:function" converting an official checkpoint (see `hub.converters`); None: no converter yet.
    converter: str | None = None
    # "module:function" drawing the method's predictions in the demo (see `demo.predictions`); None: none yet.
    prediction_view: str | None = None
    # The official default crop scale and flip of `hf-jepa pretrain --help` (the views decide the real ones).
    views_help: str = ""
    # The frozen-feature protocol of the method's paper beyond kNN and the linear probe: "attentive" (V-JEPA's and
    # I-JEPA's attentive probe), which `hf-jepa compare` then runs too; None: linear probing only.
    paper_probe: str | None = None

    @property
    def model_type(self) -> str:
        return self.config_class.model_type

    @property
    def card_section(self) -> str:
        """File name of the method's section of the model card, in `model_cards/`."""
        return f"{self.name}.md"


MODALITIES = ("image", "video", "image-text", "trajectory")


def no_views(config, processor, crop_scale=None, horizontal_flip=None):
    """World models see the frames as recorded (the official LeWorldModel has no augmentation): identity views."""
    return keep_frames


def keep_frames(frames, generator=None):
    return frames


def image_text_views(config, processor, crop_scale=None, horizontal_flip=None):
    """The image-text recipes' light augmentation: one random resized crop of scale 0.9-1 (open_clip's) and no flip
    by default (a flip would contradict captions such as "slanted to the right")."""
    return crop_flip_views((0.9, 1.0), default_flip=False)(config, processor, crop_scale, horizontal_flip)


# The text towers of the main job: narrow and shallow, special tokens at the ids of a tokenizer trained on the captions
# (`models.processing_image_text.SPECIAL_TOKEN_IDS`), a vocabulary bound the trained tokenizer stays within.
_TINY_TEXT = dict(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=2,
    pad_token_id=0,
    bos_token_id=2,
    eos_token_id=3,
)

_TINY_VIT = dict(image_size=32, patch_size=4, hidden_size=96, num_hidden_layers=4, num_attention_heads=3)

METHODS: dict[str, Method] = {
    "ijepa": Method(
        name="ijepa",
        title="I-JEPA",
        summary="predict the EMA encoder's embeddings of target blocks from a context block",
        config_class=IJEPASSLConfig,
        model_class=IJEPASSLModel,
        pretraining_class=IJEPASSLForPreTraining,
        classification_class=IJEPASSLForImageClassification,
        processor_class=SSLImageProcessor,
        default_config=dict(
            _TINY_VIT,
            predictor_hidden_size=64,
            predictor_num_hidden_layers=2,
            predictor_num_attention_heads=4,
            min_keep=4,
        ),
        train_views=crop_flip_views((0.3, 1.0), default_flip=False),  # official I-JEPA: no flip
        views_help="crop scale 0.3-1, no flip",
        paper_probe="attentive",
        exporters={"transformers": "hf_jepa.hub.export:IJEPA_EXPORT"},
        converter="hf_jepa.hub.converters.ijepa:convert_ijepa",
        prediction_view="hf_jepa.demo.predictions:predict_ijepa",
    ),
    "mae": Method(
        name="mae",
        title="MAE",
        summary="reconstruct the pixels of 75% hidden patches from the visible ones",
        config_class=MAESSLConfig,
        model_class=MAESSLModel,
        pretraining_class=MAESSLForPreTraining,
        classification_class=MAESSLForImageClassification,
        processor_class=SSLImageProcessor,
        default_config=dict(
            _TINY_VIT, decoder_hidden_size=64, decoder_num_hidden_layers=2, decoder_num_attention_heads=4
        ),
        train_views=crop_flip_views((0.2, 1.0), default_flip=True),  # official MAE: RandomResizedCrop(0.2, 1) + flip
        views_help="crop scale 0.2-1, flip",
        # Official MAE: AdamW betas (0.9, 0.95), constant weight decay 0.05, no EMA network.
        training_defaults=dict(adam_beta2=0.95, weight_decay=0.05, weight_decay_end=None),
        # The encoder alone (deterministic features) and, for reconstruction, encoder + decoder.
        exporters={
            "transformers": "hf_jepa.hub.export:MAE_ENCODER_EXPORT",
            "transformers-pretraining": "hf_jepa.hub.export:MAE_EXPORT",
        },
        converter="hf_jepa.hub.converters.mae:convert_mae",
        prediction_view="hf_jepa.demo.predictions:predict_mae",
    ),
    "dino": Method(
        name="dino",
        title="DINO",
        summary="match the centred, sharpened output of an EMA teacher across global and local crops",
        config_class=DINOSSLConfig,
        model_class=DINOSSLModel,
        pretraining_class=DINOSSLForPreTraining,
        classification_class=DINOSSLForImageClassification,
        processor_class=SSLImageProcessor,
        # Official DINO warms the teacher temperature up (here over the first 30% of the default run) and freezes
        # the head's last layer for the first epoch (22 steps of 64 digits).
        default_config=dict(
            _TINY_VIT,
            head_hidden_size=256,
            head_bottleneck_size=64,
            head_output_size=1024,
            num_local_crops=4,
            local_crop_size=16,
            teacher_temperature_warmup_steps=90,
            freeze_last_layer_steps=22,
        ),
        train_views=multi_crop_views,
        views_help="global crop scale 0.4-1, flip, DINO's photometric augmentations",
        # Official DINO: cosine EMA 0.996 -> 1, gradient clipping 3.0. Batch 64: its 2 global + 4 local views per
        # image cost ~2.5x an I-JEPA step, and the default run must stay within minutes.
        training_defaults=dict(per_device_train_batch_size=64, ema_schedule="cosine", max_grad_norm=3.0),
        exporters={"transformers": "hf_jepa.hub.export:DINOV2_EXPORT"},
        converter="hf_jepa.hub.converters.dino:convert_dino",
        prediction_view="hf_jepa.demo.predictions:predict_dino",
    ),
    "vjepa": Method(
        name="vjepa",
        title="V-JEPA",
        summary="predict the EMA encoder's embeddings of masked spatio-temporal blocks of a clip",
        config_class=VJEPASSLConfig,
        model_class=VJEPASSLModel,
        pretraining_class=VJEPASSLForPreTraining,
        classification_class=VJEPASSLForVideoClassification,
        processor_class=SSLVideoProcessor,
        # 8-frame 32 px clips in 2x8x8 tubelets: 4 x 4 x 4 = 64 tokens; rotary positions (head dims 32 and 16).
        default_config=dict(
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
        train_views=crop_flip_views((0.3, 1.0), default_flip=True, ratio=(0.75, 1.35)),
        views_help="crop scale 0.3-1 per clip, flip",
        paper_probe="attentive",
        training_defaults=dict(per_device_train_batch_size=64),
        modality="video",
        exporters={"transformers": "hf_jepa.hub.export:VJEPA_EXPORT"},
        converter="hf_jepa.hub.converters.vjepa:convert_vjepa",  # V-JEPA and V-JEPA 2, told apart by their tables
        prediction_view="hf_jepa.demo.predictions:predict_vjepa",
    ),
    "simclr": Method(
        name="simclr",
        title="SimCLR",
        summary="pull two views of an image together and push away every other view in the batch (NT-Xent)",
        config_class=SimCLRSSLConfig,
        model_class=SimCLRSSLModel,
        pretraining_class=SimCLRSSLForPreTraining,
        classification_class=SimCLRSSLForImageClassification,
        processor_class=SSLImageProcessor,
        # Official CIFAR-10 command (the small-image recipe): temperature 0.5, colour strength 0.5, no blur.
        default_config=dict(_TINY_VIT, temperature=0.5, color_jitter_strength=0.5, blur_probability=0.0),
        train_views=simclr_views,
        views_help="crop scale 0.08-1, flip, SimCLR's colour distortion and blur",
        training_defaults=dict(),
        exporters={"transformers": "hf_jepa.hub.export:DINOV2_EXPORT"},
        prediction_view="hf_jepa.demo.predictions:predict_joint_embedding",
    ),
    "mocov3": Method(
        name="mocov3",
        title="MoCo v3",
        summary="contrast the query encoder's predictions with the momentum encoder's keys of the other view",
        config_class=MoCoV3SSLConfig,
        model_class=MoCoV3SSLModel,
        pretraining_class=MoCoV3SSLForPreTraining,
        classification_class=MoCoV3SSLForImageClassification,
        processor_class=SSLImageProcessor,
        default_config=dict(_TINY_VIT, projection_hidden_size=256, projection_size=64, prediction_hidden_size=256),
        train_views=asymmetric_two_views,
        views_help="crop scale 0.08-1, flip, BYOL's asymmetric photometric augmentations",
        # Official ViT recipe: momentum 0.99 -> 1 (cosine), AdamW weight decay 0.1 (constant).
        training_defaults=dict(ema_momentum=0.99, ema_schedule="cosine", weight_decay=0.1, weight_decay_end=None),
        exporters={"transformers": "hf_jepa.hub.export:DINOV2_EXPORT"},
        prediction_view="hf_jepa.demo.predictions:predict_joint_embedding",
    ),
    "byol": Method(
        name="byol",
        title="BYOL",
        summary="predict the EMA target network's projection of the other view (2 - 2 cos), no negatives",
        config_class=BYOLSSLConfig,
        model_class=BYOLSSLModel,
        pretraining_class=BYOLSSLForPreTraining,
        classification_class=BYOLSSLForImageClassification,
        processor_class=SSLImageProcessor,
        default_config=dict(_TINY_VIT, projection_hidden_size=256, projection_size=64, prediction_hidden_size=256),
        train_views=asymmetric_two_views,
        views_help="crop scale 0.08-1, flip, BYOL's asymmetric photometric augmentations",
        # Official: target EMA 0.996 -> 1 (cosine).
        training_defaults=dict(ema_momentum=0.996, ema_schedule="cosine"),
        exporters={"transformers": "hf_jepa.hub.export:DINOV2_EXPORT"},
        prediction_view="hf_jepa.demo.predictions:predict_joint_embedding",
    ),
    "lejepa": Method(
        name="lejepa",
        title="LeJEPA",
        summary="pull every view's projection to the mean of the global views' and keep each view's projections an "
        "isotropic Gaussian (SIGReg); no EMA, no stop-gradient",
        config_class=LeJEPASSLConfig,
        model_class=LeJEPASSLModel,
        pretraining_class=LeJEPASSLForPreTraining,
        classification_class=LeJEPASSLForImageClassification,
        processor_class=SSLImageProcessor,
        # DINO's tiny multi-crop (2 + 4 views, 16 px locals); the minimal script's small projection (16) and weights.
        default_config=dict(
            _TINY_VIT,
            projection_hidden_size=256,
            projection_size=16,
            num_local_crops=4,
            local_crop_size=16,
        ),
        train_views=lejepa_views,
        views_help="2 global (scale 0.3-1) + local crops, flip, SimCLR-strength colour, blur p 0.5, solarize p 0.2",
        # Official minimal script: AdamW, weight decay 0.05 (constant).
        training_defaults=dict(weight_decay=0.05, weight_decay_end=None),
        exporters={"transformers": "hf_jepa.hub.export:DINOV2_EXPORT"},
        prediction_view="hf_jepa.demo.predictions:predict_joint_embedding",
    ),
    "siglip": Method(
        name="siglip",
        title="SigLIP",
        summary="image and text towers; every image-caption pair of the global batch is a binary (match or not) "
        "classification: the pairwise sigmoid loss with learnable temperature and bias",
        config_class=SiglipSSLConfig,
        model_class=SiglipSSLModel,
        pretraining_class=SiglipSSLForPreTraining,
        classification_class=SiglipSSLForImageClassification,
        processor_class=SSLImageProcessor,
        # 64 text positions: what transformers' zero-shot pipeline pads SigLIP prompts to.
        default_config=dict(_TINY_VIT, text_config=dict(_TINY_TEXT, max_position_embeddings=64)),
        train_views=image_text_views,
        views_help="crop scale 0.9-1, no flip",
        # Paper: Adam beta2 0.95, decoupled weight decay 1e-4 at lr 1e-3 (0.1 in AdamW's terms). The tiny towers'
        # embeddings start nearly identical and collapse at the command's lr 1e-3: 2e-4.
        training_defaults=dict(learning_rate=2e-4, adam_beta2=0.95, weight_decay=0.1, weight_decay_end=None),
        modality="image-text",
        exporters={"transformers": "hf_jepa.hub.export_image_text:SIGLIP_EXPORT"},
        prediction_view="hf_jepa.demo.predictions:predict_image_text",
    ),
    "clip": Method(
        name="clip",
        title="CLIP",
        summary="image and text towers; each image classifies its caption among the global batch's captions and "
        "each caption its image (symmetric softmax cross-entropy, learnable temperature)",
        config_class=CLIPSSLConfig,
        model_class=CLIPSSLModel,
        pretraining_class=CLIPSSLForPreTraining,
        classification_class=CLIPSSLForImageClassification,
        processor_class=SSLImageProcessor,
        default_config=dict(
            _TINY_VIT,
            use_cls_token=True,
            pooling="cls",
            projection_dim=64,
            text_config=dict(_TINY_TEXT, max_position_embeddings=32),
        ),
        train_views=image_text_views,
        views_help="crop scale 0.9-1, no flip",
        # Paper (ViT): Adam beta2 0.98, eps 1e-6, weight decay 0.2; lr 2e-4 as SigLIP's (1e-3 collapses tiny towers).
        training_defaults=dict(
            learning_rate=2e-4, adam_beta2=0.98, adam_epsilon=1e-6, weight_decay=0.2, weight_decay_end=None
        ),
        modality="image-text",
        exporters={"transformers": "hf_jepa.hub.export_image_text:CLIP_EXPORT"},
        prediction_view="hf_jepa.demo.predictions:predict_image_text",
    ),
    "lewm": Method(
        name="lewm",
        title="LeWorldModel",
        summary="an action-conditioned world model: predict the next frame's embedding from a history of embeddings "
        "and actions (causal AdaLN-zero transformer), keep each step's embeddings Gaussian (SIGReg); no EMA",
        config_class=LeWMConfig,
        model_class=LeWMModel,
        pretraining_class=LeWMForPreTraining,
        classification_class=LeWMForImageClassification,
        processor_class=SSLImageProcessor,
        # 64 px frames, patch 8, a narrow ViT and predictor (0.79 M parameters; 300 steps took 17 min on the shared
        # 2-core machine under load). The paper: ViT-Tiny/14 at 224, a 6-layer predictor (training/lewm_*.sh).
        default_config=dict(
            image_size=64,
            patch_size=8,
            hidden_size=96,
            num_hidden_layers=4,
            num_attention_heads=3,
            embedding_size=64,
            projection_hidden_size=256,
            predictor_num_hidden_layers=3,
            predictor_num_attention_heads=4,
            predictor_head_size=16,
            predictor_intermediate_size=256,
            sigreg_num_slices=256,
        ),
        train_views=no_views,
        views_help="none (frames as recorded)",
        prediction_view="hf_jepa.demo.predictions:predict_world_model",
        # Official: AdamW, weight decay 1e-3 (constant), gradient clipping 1.0; lr 5e-5 at batch 128 over 100 epochs,
        # raised for the few-minute CPU run.
        training_defaults=dict(
            learning_rate=5e-4, weight_decay=1e-3, weight_decay_end=None, per_device_train_batch_size=64
        ),
        modality="trajectory",
        converter="hf_jepa.hub.converters.lewm:convert_lewm",  # weights.pt (+ config.json beside it)
    ),
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}: choose one of {sorted(METHODS)}.")
    return METHODS[name]


def method_of_model_type(model_type: str) -> Method:
    for method in METHODS.values():
        if method.model_type == model_type:
            return method
    known = sorted(m.model_type for m in METHODS.values())
    raise ValueError(f"`{model_type}` is not an hf_jepa model type (known: {known}).")


_MODALITY_UNITS = {
    "image": "images",
    "video": "videos",
    "image-text": "image-caption pairs",
    "trajectory": "trajectories",
}


def methods_help() -> str:
    """One line per method for the CLI help: name, title, modality and objective."""
    indent = " " * 15
    return "\n".join(
        textwrap.fill(
            f"{m.name:<8} {m.title} ({_MODALITY_UNITS.get(m.modality, m.modality)}): {m.summary}.",
            width=118,
            initial_indent=indent,
            subsequent_indent=indent + " " * 9,
        )
        for m in METHODS.values()
    )


# ---- processors and saved folders -----------------------------------------------------------------------------------
def default_processor(method: Method, config):
    """The method's image (or video) processor at the config's image size."""
    height, width = config.image_shape
    return method.processor_class(size={"height": height, "width": width})


def saved_processor(method: Method, model_dir: str):
    """The image (or, for video methods, video) processor saved in a model folder; OSError when it has none."""
    processor_class = AutoVideoProcessor if method.modality == "video" else AutoImageProcessor
    return processor_class.from_pretrained(model_dir, trust_remote_code=False)


def model_processor(method: Method, model_dir: str, config):
    """The folder's saved processor, or the method's default at the config's size for a folder saved without one."""
    try:
        return saved_processor(method, model_dir)
    except (OSError, ValueError):
        return default_processor(method, config)


def read_saved_config(model_dir: str) -> dict:
    """The config.json of a saved model folder, as a dict; a clear error for a folder that is not one."""
    path = os.path.join(str(model_dir), "config.json")
    if not os.path.isfile(path):
        raise ValueError(f"`{model_dir}` is not a saved model folder (no config.json).")
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as error:
        raise ValueError(f"`{path}` cannot be read as JSON ({type(error).__name__}: {error}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"`{path}` is not a config (a JSON object), got {type(config).__name__}.")
    return config


def saved_method(model_dir: str, argument: str = "--model") -> Method:
    """The method of a saved hf_jepa folder, read from its config.json without running anything from it: a clear
    error that says what the folder is otherwise (no config, another library's model, a model with its own code,
    which hf_jepa never runs)."""
    config = read_saved_config(model_dir)
    model_type = config.get("model_type", "<none>")
    try:
        return method_of_model_type(model_type)
    except ValueError:
        known = sorted(m.model_type for m in METHODS.values())
        code = " with its own code (auto_map), which hf_jepa never runs" if "auto_map" in config else ""
        raise ValueError(
            f"`{argument} {model_dir}` holds a `{model_type}` model{code}, not an hf_jepa one ({', '.join(known)}): "
            "give a folder saved by `hf-jepa pretrain` (an export to transformers' classes is not one)."
        ) from None


# ---- registration with transformers and PEFT ------------------------------------------------------------------------
def register_peft_targets() -> None:
    """PEFT has no default LoRA targets for model types it doesn't know: point it at our attention projections.
    Only when PEFT is already imported or importable without cost to `import hf_jepa` (see `hf_jepa/__init__`)."""
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as lora_targets
    except ImportError:  # peft is optional at import time
        return
    for method in METHODS.values():
        lora_targets.setdefault(method.model_type, ["qkv"])


def register_auto_classes() -> None:
    for method in METHODS.values():
        AutoConfig.register(method.model_type, method.config_class, exist_ok=True)
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
        if method.modality == "image-text":  # the image processor + the run's tokenizer
            from .models.processing_image_text import ImageTextProcessor

            AutoProcessor.register(method.config_class, ImageTextProcessor, exist_ok=True)
