"""`FineTuningTrainer`: transformers' `Trainer` with only what the fine-tuning recipes add to it, each off unless
asked: layer-wise learning-rate decay (MAE, BEiT), training views cut on the batch's device (random resized crop and
flip, the pretraining views' code), MixUp/CutMix on the device, a frozen encoder kept in eval mode (the probes), and
a deterministic evaluation collator. Loss, label smoothing (`--label_smoothing_factor`), schedules, checkpoints,
best-model selection and every TrainingArguments flag are Trainer's own."""

import hashlib
import re
from collections.abc import Callable

import torch
import torch.nn as nn
from transformers import Trainer, TrainerCallback

from ..engine.launch import sync_batch_norm
from .mixup import MixUpCutMix, soft_target_cross_entropy

MEDIA_KEYS = ("pixel_values_videos", "pixel_values")
_BLOCK = re.compile(r"(?:^|\.)encoder\.layers\.(\d+)\.")


def layer_id(name: str, num_layers: int) -> int:
    """Depth of a parameter for layer-wise lr decay (BEiT / MAE `get_layer_id_for_vit`): 0 for the embeddings
    (patch projection, positions, CLS / register tokens), i + 1 for block i, num_layers + 1 for the rest (final norm,
    probe, classifier)."""
    block = _BLOCK.search(name)
    if block:
        return int(block.group(1)) + 1
    if ".embeddings." in f".{name}":
        return 0
    return num_layers + 1


def layer_decay_groups(
    model: nn.Module, num_layers: int, layer_decay: float, weight_decay: float, decay_names: set[str]
) -> list[dict]:
    """Optimizer parameter groups of the trainable parameters: one per (depth, weight decay or not), each with the
    learning-rate scale `layer_decay ** (num_layers + 1 - depth)` in `lr_scale`."""
    groups: dict[tuple[int, bool], dict] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        depth, decays = layer_id(name, num_layers), name in decay_names
        group = groups.setdefault(
            (depth, decays),
            {"params": [], "weight_decay": weight_decay if decays else 0.0,
             "lr_scale": layer_decay ** (num_layers + 1 - depth)},
        )  # fmt: skip
        group["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]


def seeded(*parts) -> int:
    """A 63-bit seed from `parts` (seed, process, step, micro-batch)."""
    key = "/".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & ((1 << 63) - 1)


class _EpochToCollator(TrainerCallback):
    """Video collators draw other temporal windows each epoch."""

    def __init__(self, collator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.set_epoch(int(state.epoch + 1e-6))  # state.epoch = the epoch's index at its start


class FineTuningTrainer(Trainer):
    """`Trainer` plus:

    - `eval_collator`: rows -> inputs for evaluation and prediction (centred clips, no augmentation);
      `data_collator` is used for training only.
    - `train_views`: called on the training batch's media on its device with a seeded generator (e.g.
      `RandomResizedCropFlip`).
    - `mixup`: a `MixUpCutMix`; the loss is then the soft-target cross-entropy of its targets.
    - `layer_decay` < 1: learning rate of depth d scaled by `layer_decay ** (num_layers + 1 - d)`.
    - `frozen_encoder`: the model's `encoder` stays in eval mode (BatchNorm statistics, drop path) while training.
    """

    def __init__(
        self,
        *args,
        eval_collator: Callable | None = None,
        train_views: Callable | None = None,
        mixup: MixUpCutMix | None = None,
        layer_decay: float = 1.0,
        frozen_encoder: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if not 0 < layer_decay <= 1:
            raise ValueError(f"`--layer_decay` must be in (0, 1], got {layer_decay}.")
        self.eval_collator, self.train_views, self.mixup = eval_collator, train_views, mixup
        self.layer_decay, self.frozen_encoder = layer_decay, frozen_encoder
        self._micro_batches = 0
        # Every loss here (the model's, the label smoother's, the mixed targets') is a mean over its micro-batch.
        self.loss_is_scaled_for_ga = False
        if hasattr(self.data_collator, "set_epoch"):
            self.add_callback(_EpochToCollator(self.data_collator))
        sync_batch_norm(self)

    # ---- optimizer ----------------------------------------------------------------------------------------------
    def create_optimizer(self, model=None):
        model = self.model if model is None else model
        if self.optimizer is None and self.layer_decay < 1:
            num_layers = self.accelerator.unwrap_model(model).config.num_hidden_layers
            decay_names = set(self.get_decay_parameter_names(model))
            groups = layer_decay_groups(model, num_layers, self.layer_decay, self.args.weight_decay, decay_names)
            optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(self.args, model)
            for group in groups:
                group["lr"] = kwargs["lr"] * group["lr_scale"]
            self.optimizer = optimizer_cls(groups, **kwargs)
        return super().create_optimizer(model)

    # ---- data ---------------------------------------------------------------------------------------------------
    def _with_eval_collator(self, make):
        if self.eval_collator is None:
            return make()
        train_collator, self.data_collator = self.data_collator, self.eval_collator
        try:
            return make()
        finally:
            self.data_collator = train_collator

    def get_eval_dataloader(self, eval_dataset=None):
        return self._with_eval_collator(lambda: super(FineTuningTrainer, self).get_eval_dataloader(eval_dataset))

    def get_test_dataloader(self, test_dataset):
        return self._with_eval_collator(lambda: super(FineTuningTrainer, self).get_test_dataloader(test_dataset))

    # ---- the step -----------------------------------------------------------------------------------------------
    def _next_seed(self) -> int:
        self._micro_batches += 1
        return seeded(self.args.seed, self.args.process_index, self.state.global_step, self._micro_batches)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.frozen_encoder:
            self.frozen_module(model).eval()  # Trainer sets train mode on every step
        if not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        key = next(k for k in MEDIA_KEYS if k in inputs)
        if self.train_views is not None:
            media = inputs[key]
            generator = torch.Generator(device=media.device).manual_seed(self._next_seed())
            inputs = {**inputs, key: self.train_views(media, generator)}
        if self.mixup is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        media, targets = self.mixup(inputs[key], inputs.pop("labels"), seed=self._next_seed())
        outputs = model(**{**inputs, key: media})
        loss = soft_target_cross_entropy(outputs.logits, targets)
        return (loss, outputs) if return_outputs else loss

    def frozen_module(self, model) -> nn.Module:
        """The model's `encoder` (found once, wherever a wrapper put it)."""
        if getattr(self, "_frozen", None) is None:
            unwrapped = self.accelerator.unwrap_model(model)
            self._frozen = next(module for name, module in unwrapped.named_modules() if name.endswith("encoder"))
        return self._frozen


__all__ = ["FineTuningTrainer", "layer_decay_groups", "layer_id"]
