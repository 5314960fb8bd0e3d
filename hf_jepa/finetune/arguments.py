"""The options of `hf-jepa finetune` and its per-mode TrainingArguments defaults."""

import argparse
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser, TrainingArguments

from ..cli.arguments import check_positive, resume_without_value, set_help
from ..engine.launch import check_distributed_launch, choose_ddp_backend
from .modes import MODES

# Every mode: evaluate and checkpoint each epoch, keep the best checkpoint (top-1 accuracy) and load it at the end.
COMMON_DEFAULTS = dict(
    per_device_train_batch_size=64,
    per_device_eval_batch_size=128,
    eval_strategy="epoch",
    save_strategy="epoch",
    save_total_limit=1,
    load_best_model_at_end=True,
    metric_for_best_model="accuracy",
    greater_is_better=True,
    lr_scheduler_type="cosine",
    warmup_steps=0.1,
    logging_steps=10,
    report_to="none",
    remove_unused_columns=False,  # the collators read the image / video column
    dataloader_num_workers=0,
    dataloader_pin_memory=torch.cuda.is_available(),
)
# Sized for a few minutes on a CPU with the tiny models; the papers run 50-100 epochs at their scale.
MODE_DEFAULTS = {
    "full": dict(num_train_epochs=10, learning_rate=1e-3, weight_decay=0.05, label_smoothing_factor=0.1),
    "lora": dict(num_train_epochs=10, learning_rate=2e-3, weight_decay=0.0),
    "linear": dict(num_train_epochs=20, learning_rate=0.1, weight_decay=0.0),  # MAE: LARS, base lr 0.1
    "attentive": dict(num_train_epochs=20, learning_rate=1e-2, weight_decay=0.01),
}


@dataclass
class FinetuneArguments:
    model: str = field(
        metadata={
            "help": "A folder saved by `hf-jepa pretrain` (or `finetune`, or `convert`), or the Hub id of one: its "
            "encoder is fine-tuned; a classifier's head is reused when the classes agree."
        }
    )
    mode: str = field(
        default="full",
        metadata={
            "help": "full: every weight trains, with the paper's recipe (layer-wise lr decay, drop path, label "
            "smoothing; see --layer_decay). lora: PEFT LoRA adapters on the attention projections + the head; the "
            "adapter is saved in OUT/adapter and merged into OUT. linear: frozen encoder, BatchNorm without affine "
            "+ linear head (MAE's linear probe). attentive: frozen encoder, attentive pooler + linear head (V-JEPA's "
            "and I-JEPA's probe).",
            "choices": list(MODES),
        },
    )
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "Image models: 'digits' (embedded default), an image folder (sub-folders = classes), a "
            "save_to_disk folder or a Hub dataset name. Video models: 'moving_digits' (embedded default), a folder "
            "of videos (sub-folders = classes), a save_to_disk folder or a Hub dataset with a video column."
        },
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column (default: the first image one)."})
    video_column: str | None = field(default=None, metadata={"help": "Video models: video column (default: video)."})
    label_column: str = field(
        default="label",
        metadata={"help": "Label column: class ids (ClassLabel or integers) or strings (mapped to ids, sorted)."},
    )
    frames_per_clip: int | None = field(
        default=None, metadata={"help": "Video models: frames per clip (default: the model's num_frames)."}
    )
    frame_stride: int = field(default=2, metadata={"help": "Video models: take every n-th frame for a clip."})
    load_size: int | None = field(
        default=None, metadata={"help": "Images are resized to this square size before the on-device random crop."}
    )
    crop_scale: list[str] | None = field(
        default=None,
        metadata={
            "help": "Training views: random resized crop with this area range (two numbers, low high), cut on the "
            "device. Default: 0.5 1.0 for full and lora; none for the probes (frozen features of the whole image, "
            "as the evaluation's sklearn probe). 'none' turns it off."
        },
    )
    horizontal_flip: bool = field(
        default=False, metadata={"help": "Random horizontal flips in the training views (off: digits are not "
                                         "symmetric)."}
    )  # fmt: skip
    layer_decay: float | None = field(
        default=None,
        metadata={
            "help": "full: layer-wise learning-rate decay; block i of L trains at lr * decay^(L - i). Default: the "
            "method's recipe (MAE's 0.65; 1.0 for DINO and MoCo v3, which use DeiT's recipe)."
        },
    )
    drop_path_rate: float | None = field(
        default=None, metadata={"help": "full and lora: stochastic depth of the encoder (default: the recipe's 0.1)."}
    )
    mixup_alpha: float = field(default=0.0, metadata={"help": "MixUp Beta parameter (MAE's recipe: 0.8; 0: off)."})
    cutmix_alpha: float = field(default=0.0, metadata={"help": "CutMix Beta parameter (MAE's recipe: 1.0; 0: off)."})
    mixup_prob: float = field(default=1.0, metadata={"help": "Probability that a batch is mixed."})
    mixup_switch_prob: float = field(default=0.5, metadata={"help": "With both on: probability of CutMix."})
    lora_r: int = field(default=8, metadata={"help": "lora: rank of the adapters."})
    lora_alpha: float = field(default=16, metadata={"help": "lora: scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "lora: dropout on the adapters' input."})
    reset_head: bool = field(
        default=False, metadata={"help": "Train a new head even when --model holds a classifier."}
    )

    def __post_init__(self):
        check_positive(frames_per_clip=self.frames_per_clip, frame_stride=self.frame_stride, load_size=self.load_size)
        _ = self.train_crop_scale  # checked now, not after the model is loaded
        if self.drop_path_rate is not None and not 0 <= self.drop_path_rate < 1:
            raise ValueError(f"`--drop_path_rate` must be in [0, 1), got {self.drop_path_rate}.")

    @property
    def train_crop_scale(self) -> tuple[float, float] | None:
        """The training views' crop scale range; None: no training views."""
        if self.crop_scale is None:
            return (0.5, 1.0) if self.mode in ("full", "lora") else None
        if [value.lower() for value in self.crop_scale] == ["none"]:
            return None
        try:
            low, high = (float(value) for value in self.crop_scale)
        except ValueError:
            low = high = -1.0  # refused below
        if not 0 < low <= high <= 1:
            raise ValueError(
                "`--crop_scale` takes two numbers, low high, with 0 < low <= high <= 1 (e.g. `--crop_scale 0.5 1`), "
                f"or `none`; got {' '.join(self.crop_scale)}."
            )
        return (low, high)


@dataclass
class FinetuneTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the output-folder safety flag of every hf-jepa command (transformers 5 removed it)."""

    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Replace the files a previous run left in --output_dir (model, card, numbers, checkpoints; files "
            "no run writes are kept). Without it, a folder holding files is refused."
        },
    )

    def __post_init__(self):
        choose_ddp_backend(self)  # several launched processes train one model (gloo on CPU, nccl on CUDA)
        super().__post_init__()
        check_distributed_launch(self, "hf-jepa finetune")


def chosen_mode(argv: list[str]) -> str:
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--mode", default="full")
    known, _ = probe.parse_known_args(argv)
    return known.mode if known.mode in MODES else "full"


def parse_finetune_args(argv: list[str]) -> tuple[FinetuneArguments, FinetuneTrainingArguments]:
    parser = HfArgumentParser(
        (FinetuneArguments, FinetuneTrainingArguments),
        prog="hf-jepa finetune",
        description="Fine-tune or probe a saved encoder as a classifier with transformers' Trainer, on the dataset's "
        "labels (default: the embedded digits, or moving digits for a video model). Evaluates each epoch (accuracy, "
        "top-5 accuracy, macro F1 through `evaluate`, offline), keeps the best checkpoint, and writes the model "
        "(AutoModelForImageClassification / AutoModelForVideoClassification and pipelines load it after `import "
        "hf_jepa`), its processor, eval_results.json and a model card to --output_dir. Every transformers "
        "TrainingArguments flag is accepted; the defaults below are this command's, per --mode.",
    )
    mode = chosen_mode(argv)
    parser.set_defaults(**COMMON_DEFAULTS, **MODE_DEFAULTS[mode], output_dir=f"outputs/finetune-{mode}")
    set_help(
        parser,
        "output_dir",
        "Where the classifier, processor, checkpoints, eval_results.json and card go (default: outputs/finetune-"
        "MODE). A folder holding another run's files is refused: --overwrite_output_dir replaces them.",
    )
    set_help(
        parser,
        "label_smoothing_factor",
        "Label smoothing (full mode default: the recipes' 0.1, MAE's and DeiT's; with MixUp/CutMix it smooths the "
        "mixed targets).",
    )
    return tuple(parser.parse_args_into_dataclasses(resume_without_value(argv)))


__all__ = ["COMMON_DEFAULTS", "FinetuneArguments", "FinetuneTrainingArguments", "MODE_DEFAULTS", "parse_finetune_args"]
