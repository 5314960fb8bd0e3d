"""The four ways `hf-jepa finetune` trains a classifier on a saved encoder, and the model each one builds:

- `full`: every weight trains (the papers' fine-tuning recipe: layer-wise lr decay, drop path, label smoothing).
- `lora`: PEFT LoRA adapters on the attention projections registered for our model types; the head trains fully.
- `linear`: frozen encoder, BatchNorm without affine parameters, linear head (MAE's linear probe).
- `attentive`: frozen encoder, attentive pooler + linear head (V-JEPA's and I-JEPA's attentive probe).
"""

from dataclasses import dataclass

from ..registry import Method, register_peft_targets
from .labels import Labels

MODES = ("full", "lora", "linear", "attentive")
# What trains besides the encoder: the modules that `modules_to_save` keeps whole under LoRA.
HEAD_MODULES = ("probe", "classifier_norm", "classifier")


@dataclass(frozen=True)
class Recipe:
    """Full fine-tuning defaults of a method's paper: layer-wise lr decay, drop path, label smoothing."""

    layer_decay: float
    drop_path_rate: float
    label_smoothing: float
    source: str


# MAE (He et al. 2022, fine-tuning of ViT-B): layer decay 0.65 (0.75 for ViT-L), drop path 0.1, label smoothing 0.1,
# MixUp 0.8 / CutMix 1.0 (options here, off by default: on a few thousand small images they cost more than they give).
MAE_RECIPE = Recipe(0.65, 0.1, 0.1, "MAE's fine-tuning recipe (ViT-B: layer decay 0.65, drop path 0.1, smoothing 0.1)")
# DINO and MoCo v3 fine-tune with DeiT's recipe: no layer decay, drop path 0.1, label smoothing 0.1.
DEIT_RECIPE = Recipe(1.0, 0.1, 0.1, "DeiT's recipe, as DINO and MoCo v3 fine-tune (no layer decay, drop path 0.1)")
FULL_RECIPES = {"dino": DEIT_RECIPE, "mocov3": DEIT_RECIPE}


def full_recipe(method: Method) -> Recipe:
    """The method's own fine-tuning recipe; MAE's (the one BEiT, data2vec and the JEPA papers' fine-tuning follow)
    for the others."""
    return FULL_RECIPES.get(method.name, MAE_RECIPE)


def classifier_config(config, labels: Labels, mode: str, drop_path_rate: float | None, new_head: bool = True):
    """The saved config turned into the classifier's: labels, single-label problem, and the head of `mode` (a
    reused head of `full` / `lora` keeps the pooling it was trained with; a new one gets the model's default)."""
    config.num_labels = len(labels.names)
    config.id2label, config.label2id = labels.id2label, labels.label2id
    config.problem_type = "single_label_classification"
    if mode in ("linear", "attentive"):
        config.drop_path_rate = 0.0  # a frozen encoder runs deterministically
        config.classifier_pooling = "attentive" if mode == "attentive" else "pooler"
        config.classifier_batch_norm = mode == "linear"
        return config
    if new_head:
        config.classifier_pooling, config.classifier_batch_norm = None, False
    if drop_path_rate is not None:
        config.drop_path_rate = drop_path_rate
    return config


def check_mode(mode: str, config) -> None:
    """Refuse what a mode cannot do with this model, naming the argument."""
    if mode not in MODES:
        raise ValueError(f"`--mode` must be one of {MODES}, got {mode!r}.")
    backbone = getattr(config, "backbone_config", None)
    if backbone is not None and mode in ("lora", "attentive"):
        kind = getattr(backbone, "model_type", None) or (backbone or {}).get("model_type", "CNN")
        why = (
            "PEFT's LoRA targets (registered for our ViT: the attention projections `qkv`) do not exist in it"
            if mode == "lora"
            else "the attentive probe attends over tokens, a CNN gives a feature map"
        )
        raise ValueError(
            f"`--mode {mode}` cannot be used on a `{config.model_type}` model with a {kind} backbone: {why}. Use "
            "`--mode full` or `--mode linear`."
        )


def freeze_encoder(model) -> None:
    """Linear and attentive probes: only the head trains."""
    model.encoder.requires_grad_(False)


def head_modules(model) -> list[str]:
    return [name for name in HEAD_MODULES if hasattr(model, name)]


def lora_model(model, r: int, alpha: float, dropout: float):
    """`model` wrapped by PEFT with LoRA on the targets registered for its model type (no names needed) and its
    head trained fully (`modules_to_save`)."""
    from peft import LoraConfig, get_peft_model
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as lora_targets

    register_peft_targets()
    targets = lora_targets.get(model.config.model_type)
    present = targets and any(name.split(".")[-1] in targets for name, _ in model.named_modules())
    if not present:
        raise ValueError(
            f"`--mode lora`: PEFT has no LoRA targets for a `{model.config.model_type}` model "
            f"(registered: {targets}); use `--mode full`."
        )
    for name, value in (("lora_r", r), ("lora_alpha", alpha)):
        if value <= 0:
            raise ValueError(f"`--{name}` must be positive, got {value}.")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, modules_to_save=head_modules(model))
    return get_peft_model(model, config)


def parameter_counts(model) -> dict[str, int]:
    """Trainable and total parameters (PEFT's count for a PEFT model: LoRA matrices + the saved head)."""
    total = sum(p.numel() for p in model.parameters())
    if hasattr(model, "get_nb_trainable_parameters"):
        trainable, total = model.get_nb_trainable_parameters()
    else:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_parameters": int(trainable), "total_parameters": int(total)}


__all__ = [
    "MODES",
    "Recipe",
    "check_mode",
    "classifier_config",
    "freeze_encoder",
    "full_recipe",
    "lora_model",
    "parameter_counts",
]
