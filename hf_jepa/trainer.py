"""SSLTrainer: one `transformers.Trainer` for every method. It owns what is per-step and method-independent:
the EMA target update, the momentum and weight-decay schedules, seeded on-device mask sampling, logging of loss
parts and stopping on divergence."""

import hashlib
import math
from dataclasses import dataclass, field

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from .hub import write_model_card
from .registry import method_of_model_type


def ema_update_(target: list[torch.Tensor], online: list[torch.Tensor], momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online, for all tensors in one fused foreach call."""
    if target:
        torch._foreach_lerp_(target, online, 1.0 - momentum)


def scheduled_value(start: float, end: float, step: int, total: float, shape: str) -> float:
    """Value at `step` of a schedule going from `start` (step 0) to `end` (step `total`).

    `linear` is I-JEPA's EMA schedule, `cosine` DINO/BYOL's EMA and I-JEPA's weight-decay schedule."""
    progress = min(step / total, 1.0) if total > 0 else 1.0
    if shape == "constant":
        return start
    if shape == "linear":
        return start + (end - start) * progress
    if shape == "cosine":
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"Unknown schedule {shape!r}: expected 'constant', 'linear' or 'cosine'.")


@dataclass
class SSLTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the schedules of self-supervised pretraining.

    Defaults differ from `TrainingArguments` where SSL needs it: unused columns are kept (the collator reads the
    image column), and non-finite losses are not filtered from logs (training stops on them instead).
    """

    ema_momentum: float = field(default=0.996, metadata={"help": "EMA momentum of the target network at step 0."})
    ema_momentum_end: float = field(default=1.0, metadata={"help": "EMA momentum at the end of training."})
    ema_schedule: str = field(
        default="linear", metadata={"help": "Shape of the EMA momentum schedule: linear (I-JEPA), cosine, constant."}
    )
    weight_decay_end: float | None = field(
        default=None,
        metadata={"help": "Final weight decay of a cosine schedule starting at --weight_decay (I-JEPA: 0.04 -> 0.4)."},
    )
    schedule_horizon_scale: float = field(
        default=1.0,
        metadata={
            "help": "Stretch the EMA and weight-decay schedules over this many times the training steps "
            "(official I-JEPA: 1.25, so the momentum never reaches its end value)."
        },
    )
    teacher_temperature_warmup_steps: int = field(
        default=0,
        metadata={
            "help": "DINO: steps over which the teacher temperature rises linearly from the model's "
            "`warmup_teacher_temperature` to its `teacher_temperature` (official ViT-B: 30 epochs, 0.04 -> 0.07)."
        },
    )
    freeze_last_layer_steps: int = field(
        default=0,
        metadata={"help": "DINO: the head's last layer gets no update for this many steps (official: 1 epoch)."},
    )
    mask_seed: int | None = field(
        default=None, metadata={"help": "Seed of the per-step mask generators (defaults to --seed)."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Kept False: SSL collators need the raw image column."}
    )
    logging_nan_inf_filter: bool = field(
        default=False, metadata={"help": "Kept False: a non-finite loss stops training instead of being hidden."}
    )
    logging_steps: float = field(default=10, metadata={"help": "Log every X update steps."})

    def __post_init__(self):
        super().__post_init__()
        for name in ("ema_momentum", "ema_momentum_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1], got {getattr(self, name)}.")
        if self.ema_schedule not in ("linear", "cosine", "constant"):
            raise ValueError(f"`ema_schedule` must be linear, cosine or constant, got {self.ema_schedule!r}.")
        for name in ("teacher_temperature_warmup_steps", "freeze_last_layer_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}.")
        if self.schedule_horizon_scale <= 0:
            raise ValueError(f"`schedule_horizon_scale` must be > 0, got {self.schedule_horizon_scale}.")


class TrainingDivergedError(RuntimeError):
    """Raised when the loss became NaN or infinite."""


class _PerStepSchedules(TrainerCallback):
    """Sets the weight decay before each optimizer step and updates the EMA target after it; tells epoch-aware
    collators the epoch."""

    def __init__(self, trainer: "SSLTrainer"):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        # Collators that draw per-epoch randomness (video windows) key it by the epoch: a resumed run redraws the same.
        collator = self.trainer.data_collator
        if hasattr(collator, "set_epoch"):
            collator.set_epoch(int(state.epoch + 1e-6))  # state.epoch = epoch index at an epoch's start

    def on_step_begin(self, args, state, control, **kwargs):
        self.trainer.apply_weight_decay(state.global_step)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        # After clipping, before the step (the official order): a frozen layer gets no update, not even decay.
        if state.global_step < args.freeze_last_layer_steps:
            model = self.trainer.accelerator.unwrap_model(self.trainer.model)
            for parameter in getattr(model, "last_layer_parameters", list)():
                parameter.grad = None

    def on_optimizer_step(self, args, state, control, **kwargs):
        # fp16 skips steps whose gradients overflowed; the target must not move on those.
        if not self.trainer.accelerator.optimizer_step_was_skipped:
            self.trainer.update_ema(state.global_step)


class SSLTrainer(Trainer):
    """`Trainer` for hf_jepa's `...ForPreTraining` models (any model returning `loss` and optional `logs`)."""

    def __init__(self, *args, train_views=None, **kwargs):
        """`train_views(pixel_values, generator)` makes the training views on device (e.g.
        `hf_jepa.views.RandomResizedCropFlip`); it draws from the same per-step generator as the masks."""
        super().__init__(*args, **kwargs)
        self.train_views = train_views
        if not isinstance(self.args, SSLTrainingArguments):
            raise TypeError(f"SSLTrainer needs `SSLTrainingArguments`, got {type(self.args).__name__}.")
        # Losses are means over their own micro-batch: Trainer divides them by the accumulation steps.
        self.loss_is_scaled_for_ga = False
        self.add_callback(_PerStepSchedules(self))
        self._ema_tensors = None
        self._mask_step, self._micro_step = -1, 0
        self._log_sums: dict[str, torch.Tensor] = {}
        self._log_count = 0
        self._first_bad_step: torch.Tensor | None = None

    # ---- schedules -------------------------------------------------------------------------------------------
    def _schedule_total(self) -> float:
        return max(self.state.max_steps, 1) * self.args.schedule_horizon_scale

    def ema_momentum_at(self, step: int) -> float:
        args = self.args
        return scheduled_value(
            args.ema_momentum, args.ema_momentum_end, step, self._schedule_total(), args.ema_schedule
        )

    def weight_decay_at(self, step: int) -> float:
        args = self.args
        if args.weight_decay_end is None:
            return args.weight_decay
        return scheduled_value(args.weight_decay, args.weight_decay_end, step, self._schedule_total(), "cosine")

    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model)
        for group in optimizer.param_groups:  # biases and norms stay at zero decay
            group.setdefault("wd_scheduled", group.get("weight_decay", 0.0) > 0)
        return optimizer

    def apply_weight_decay(self, step: int) -> None:
        value = self.weight_decay_at(step)
        for group in self.optimizer.param_groups:
            if group.get("wd_scheduled"):
                group["weight_decay"] = value

    def teacher_temperature_at(self, step: int, config) -> float | None:
        """DINO's teacher temperature: linear warm-up from the config's start value, then constant; None for
        models without one."""
        if not hasattr(config, "teacher_temperature"):
            return None
        warmup = self.args.teacher_temperature_warmup_steps
        if step >= warmup:
            return config.teacher_temperature
        return scheduled_value(config.warmup_teacher_temperature, config.teacher_temperature, step, warmup, "linear")

    def update_ema(self, step: int) -> None:
        if self._ema_tensors is None:
            model = self.accelerator.unwrap_model(self.model)
            self._ema_tensors = model.ema_parameters() if hasattr(model, "ema_parameters") else ([], [])
        online, target = self._ema_tensors
        with torch.no_grad():
            ema_update_(target, online, self.ema_momentum_at(step))

    # ---- the step ----------------------------------------------------------------------------------------------
    def mask_generator(self, device: torch.device, training: bool = True) -> torch.Generator:
        """A generator seeded by (seed, process, optimizer step, micro-batch): masks are reproducible, differ across
        processes and micro-batches, and a resumed run draws the same ones as an uninterrupted run. Evaluation
        batches get a fixed seed of their own, so losses are comparable across evaluations and training draws are
        untouched."""
        seed = self.args.mask_seed if self.args.mask_seed is not None else self.args.seed
        if training:
            step = self.state.global_step
            if step != self._mask_step:
                self._mask_step, self._micro_step = step, 0
            key = f"{seed}/{self.args.process_index}/{step}/{self._micro_step}"
            self._micro_step += 1
        else:
            key = f"{seed}/{self.args.process_index}/eval"
        value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") & ((1 << 63) - 1)
        return torch.Generator(device=device).manual_seed(value)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        unwrapped = self.accelerator.unwrap_model(model)
        input_name = unwrapped.main_input_name  # pixel_values (images) or pixel_values_videos (clips)
        if input_name not in inputs:
            raise ValueError(
                f"The batch has no `{input_name}` (keys: {sorted(inputs)}): use hf_jepa's collator, or keep the "
                "image/video column with `remove_unused_columns=False`."
            )
        generator = self.mask_generator(inputs[input_name].device, training=model.training)
        if self.train_views is not None and (model.training or getattr(self.train_views, "apply_in_eval", False)):
            views = self.train_views(inputs[input_name], generator)
            if isinstance(views, dict):  # several view tensors (DINO's global / local crops) replace the images
                inputs = {**{k: v for k, v in inputs.items() if k != input_name}, **views}
            else:
                inputs = {**inputs, input_name: views}
        config = unwrapped.config
        temperature = self.teacher_temperature_at(self.state.global_step, config)
        if temperature is not None:
            inputs = {**inputs, "teacher_temperature": temperature}
        outputs = model(**inputs, generator=generator, return_dict=True)
        loss = outputs.loss
        if model.training:
            self._track(loss, outputs.get("logs") or {})
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Evaluation of a pretraining objective is its loss (there are no labels or logits to return)."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def _track(self, loss: torch.Tensor, logs: dict[str, torch.Tensor]) -> None:
        """Accumulate loss parts and remember the first non-finite step, all on device (no host sync)."""
        step = torch.full((), self.state.global_step, device=loss.device, dtype=torch.int64)  # a fill, not a copy
        if self._first_bad_step is None:
            self._first_bad_step = torch.full_like(step, -1)
        bad = ~torch.isfinite(loss.detach())
        self._first_bad_step = torch.where(bad & (self._first_bad_step < 0), step, self._first_bad_step)
        for name, value in logs.items():
            value = value.detach().float().to(loss.device)
            self._log_sums[name] = self._log_sums[name] + value if name in self._log_sums else value
        self._log_count += 1

    def check_finite(self) -> None:
        """Stop with a clear message if any step so far produced a non-finite loss (one host read)."""
        if self._first_bad_step is not None and (bad_step := int(self._first_bad_step.item())) >= 0:
            raise TrainingDivergedError(
                f"The loss became non-finite (NaN or inf) at step {bad_step}: training stopped. Lower "
                "--learning_rate, raise --warmup_steps, or use fp32 / bf16 instead of fp16."
            )

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            self.check_finite()
            for name, total in self._log_sums.items():
                logs[name] = round(total.item() / max(self._log_count, 1), 6)
            self._log_sums, self._log_count = {}, 0
            if getattr(self.accelerator.unwrap_model(self.model), "ema_pairs", ()):
                logs["ema_momentum"] = self.ema_momentum_at(max(self.state.global_step - 1, 0))
            logs["weight_decay"] = self.weight_decay_at(max(self.state.global_step - 1, 0))
        super().log(logs, start_time)

    def _save_checkpoint(self, model, trial):
        self.check_finite()  # never write a checkpoint of a diverged run
        super()._save_checkpoint(model, trial)

    def train(self, *args, **kwargs):
        output = super().train(*args, **kwargs)
        self.check_finite()
        return output

    # ---- Hub ------------------------------------------------------------------------------------------------------
    def create_model_card(self, *args, **kwargs) -> None:
        """The README.md that `Trainer.push_to_hub` uploads (written after it saves the model to `output_dir`):
        hf_jepa's card of the run, with the numbers of the folder's eval_results.json when it has one, instead of
        transformers' generic training summary. A model that is not hf_jepa's keeps transformers' card."""
        if not self.is_world_process_zero():
            return
        try:
            method_of_model_type(getattr(self.accelerator.unwrap_model(self.model).config, "model_type", "<none>"))
        except ValueError:
            return super().create_model_card(*args, **kwargs)
        write_model_card(self.args.output_dir, model_id=self.hub_model_id or self.args.hub_model_id)
