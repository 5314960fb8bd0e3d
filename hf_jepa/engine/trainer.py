"""SSLTrainer: one `transformers.Trainer` for every method. It owns what is per-step and method-independent: the EMA
target update, the momentum and weight-decay schedules, seeded on-device views and masks, logging of loss parts and
stopping on divergence. What a method schedules itself (DINO's teacher temperature, its frozen last layer, its
center) reaches the trainer through the model's hooks (`scheduled_inputs`, `frozen_parameters`,
`update_batch_statistics`); the trainer knows no method."""

import hashlib
import logging
import os
import shutil
from collections.abc import Callable

import torch
import torch.nn as nn
from safetensors import SafetensorError
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from .arguments import SSLTrainingArguments
from .divergence import DivergenceWatch
from .lars import LARS, lars_options
from .launch import own_part_loader, split_by_process, sync_batch_norm
from .run_files import STAGING_PREFIX
from .schedules import ema_update_, scheduled_value

logger = logging.getLogger(__name__)
# A collapse monitor (a logged `*_std`: the spread of representations across inputs) below this is at zero.
COLLAPSED_STD = 1e-4
# The batch keys a collator may give the raw media under (images, clips); the training views replace them.
MEDIA_KEYS = ("pixel_values", "pixel_values_videos")


class TrainingDivergedError(RuntimeError):
    """Raised when the loss became NaN or infinite."""


class _PerStepSchedules(TrainerCallback):
    """Sets the weight decay before each optimizer step, drops the gradients of the model's frozen parameters, and
    after the step updates the model's batch statistics and the EMA target; tells epoch-aware collators the
    epoch."""

    def __init__(self, trainer: "SSLTrainer"):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        # Collators that draw per-epoch randomness (video windows) key it by the epoch: a resumed run redraws the same.
        collator = self.trainer.data_collator
        if hasattr(collator, "set_epoch"):
            collator.set_epoch(int(state.epoch + 1e-6))  # state.epoch = epoch index at an epoch's start

    def on_step_begin(self, args, state, control, **kwargs):
        self.trainer.apply_weight_decay(state.global_step)

    def on_train_begin(self, args, state, control, **kwargs):
        # Statistics such as DINO's center move once per optimizer step, from the whole accumulated batch.
        model = self.trainer.unwrapped_model
        if hasattr(model, "defer_batch_statistics"):
            model.defer_batch_statistics = True

    def on_train_end(self, args, state, control, **kwargs):
        model = self.trainer.unwrapped_model
        if hasattr(model, "defer_batch_statistics"):
            model.defer_batch_statistics = False  # a plain loop after training moves them per forward again

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        # After clipping, before the step (the official order): a frozen parameter gets no update, not even decay.
        for parameter in getattr(self.trainer.unwrapped_model, "frozen_parameters", lambda step: [])(
            state.global_step
        ):
            parameter.grad = None

    def on_optimizer_step(self, args, state, control, **kwargs):
        getattr(self.trainer.unwrapped_model, "update_batch_statistics", lambda: None)()
        # fp16 skips steps whose gradients overflowed; the target must not move on those.
        if not self.trainer.accelerator.optimizer_step_was_skipped:
            self.trainer.update_ema(state.global_step)


class SSLTrainer(Trainer):
    """`Trainer` for hf_jepa's `...ForPreTraining` models (any model returning `loss` and optional `logs`)."""

    def __init__(self, *args, train_views=None, model_card_writer: Callable | None = None, **kwargs):
        """`train_views(pixel_values, generator)` makes the training views on device (e.g.
        `hf_jepa.RandomResizedCropFlip`); it draws from the same per-step generator as the masks.
        `model_card_writer(output_dir, model_id=...)` writes the README.md that `push_to_hub` uploads (`hf-jepa
        pretrain` passes hf_jepa's card writer); without one, transformers writes its own."""
        super().__init__(*args, **kwargs)
        self.train_views = train_views
        self.model_card_writer = model_card_writer
        if not isinstance(self.args, SSLTrainingArguments):
            raise TypeError(f"SSLTrainer needs `SSLTrainingArguments`, got {type(self.args).__name__}.")
        # Losses are means over their own micro-batch: Trainer divides them by the accumulation steps.
        self.loss_is_scaled_for_ga = False
        sync_batch_norm(self)
        self.add_callback(_PerStepSchedules(self))
        self._ema_tensors = None
        self._checkpoint_staging: str | None = None
        self._mask_step, self._micro_step = -1, 0
        self._eval_batch = 0
        self._log_sums: dict[str, torch.Tensor] = {}
        self._log_count = 0
        self._divergence = DivergenceWatch()
        self._collapse_warned: set[str] = set()

    @property
    def unwrapped_model(self):
        """The model without its DDP / accelerate wrappers (where the method's hooks live)."""
        return self.accelerator.unwrap_model(self.model)

    def _get_dataloader(self, dataset, description, batch_size, *args, **kwargs):
        if split_by_process(dataset):  # a stream every process reads its own shards of
            return own_part_loader(self, dataset, batch_size)
        return super()._get_dataloader(dataset, description, batch_size, *args, **kwargs)

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

    def get_decay_parameter_names(self, model: nn.Module) -> list[str]:
        # Transformers spares LayerNorms and biases; the scales of other norms (the heads' BatchNorm) are 1-D too.
        # No 1-D parameter decays: the rule of the official DINO, I-JEPA and MAE (timm) code, and for these models
        # SimCLR's and BYOL's "exclude biases and batch norm".
        ndim = {name: parameter.ndim for name, parameter in model.named_parameters()}
        return [name for name in super().get_decay_parameter_names(model) if ndim.get(name, 2) > 1]

    @staticmethod
    def get_optimizer_cls_and_kwargs(args, model=None):
        if args.optim == "lars":
            return LARS, {"lr": args.learning_rate, **lars_options(args.optim_args)}
        return Trainer.get_optimizer_cls_and_kwargs(args, model)

    def create_optimizer(self, model=None):
        built_here = self.optimizer is None
        optimizer = super().create_optimizer(model)
        for group in optimizer.param_groups:  # biases and norms stay at zero decay
            group.setdefault("wd_scheduled", group.get("weight_decay", 0.0) > 0)
        if built_here and isinstance(optimizer, LARS):
            # Transformers' groups, by membership (not by weight decay, which may be 0): SimCLR and BYOL spare
            # biases and norms the trust ratio as they spare them the decay.
            model = self.model if model is None else model
            decayed = {id(model.get_parameter(name)) for name in self.get_decay_parameter_names(model)}
            for group in optimizer.param_groups:
                group["lars_adaptation"] = all(id(parameter) in decayed for parameter in group["params"])
        return optimizer

    def apply_weight_decay(self, step: int) -> None:
        value = self.weight_decay_at(step)
        for group in self.optimizer.param_groups:
            if group.get("wd_scheduled"):
                group["weight_decay"] = value

    def update_ema(self, step: int) -> None:
        if self._ema_tensors is None:
            model = self.unwrapped_model
            self._ema_tensors = model.ema_parameters() if hasattr(model, "ema_parameters") else ([], [])
        online, target = self._ema_tensors
        with torch.no_grad():
            ema_update_(target, online, self.ema_momentum_at(step))

    # ---- the step ----------------------------------------------------------------------------------------------
    def mask_generator(self, device: torch.device, training: bool = True) -> torch.Generator:
        """A generator seeded by (seed, process, optimizer step, micro-batch): masks are reproducible, differ across
        processes and micro-batches, and a resumed run draws the same ones as an uninterrupted run. Evaluation
        batches get seeds of their own, fixed by their place in the evaluation (each batch draws other views, the
        same ones at every evaluation), so losses are comparable across evaluations and training draws are
        untouched."""
        seed = self.args.mask_seed if self.args.mask_seed is not None else self.args.seed
        if training:
            step = self.state.global_step
            if step != self._mask_step:
                self._mask_step, self._micro_step = step, 0
            key = f"{seed}/{self.args.process_index}/{step}/{self._micro_step}"
            self._micro_step += 1
        else:
            key = f"{seed}/{self.args.process_index}/eval/{self._eval_batch}"
            self._eval_batch += 1
        value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") & ((1 << 63) - 1)
        return torch.Generator(device=device).manual_seed(value)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        media_key = next((key for key in MEDIA_KEYS if key in inputs), None)
        if media_key is None:
            raise ValueError(
                f"The batch has none of {list(MEDIA_KEYS)} (keys: {sorted(inputs)}): use hf_jepa's collator, or keep "
                "the image/video column with `remove_unused_columns=False`."
            )
        generator = self.mask_generator(inputs[media_key].device, training=model.training)
        if self.train_views is not None and (model.training or getattr(self.train_views, "apply_in_eval", False)):
            views = self.train_views(inputs[media_key], generator)
            if isinstance(views, dict):  # several view tensors (DINO's global / local crops) replace the media
                inputs = {**{k: v for k, v in inputs.items() if k != media_key}, **views}
            else:
                inputs = {**inputs, media_key: views}
        unwrapped = self.unwrapped_model
        if hasattr(unwrapped, "scheduled_inputs"):  # e.g. DINO's teacher temperature at this step
            inputs = {**inputs, **unwrapped.scheduled_inputs(self.state.global_step)}
        if hasattr(unwrapped, "sample_masks"):  # drawn here, the draws the forward would make, outside its graph
            inputs = {**inputs, **unwrapped.sample_masks(inputs, generator)}
        outputs = model(**inputs, generator=generator, return_dict=True)
        loss = outputs.loss
        if model.training:
            self._track(loss, outputs.get("logs") or {})
        return (loss, outputs) if return_outputs else loss

    def evaluation_loop(self, *args, **kwargs):
        self._eval_batch = 0  # every evaluation draws the same views and masks
        return super().evaluation_loop(*args, **kwargs)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Evaluation of a pretraining objective is its loss (there are no labels or logits to return)."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def _track(self, loss: torch.Tensor, logs: dict[str, torch.Tensor]) -> None:
        """Accumulate loss parts and watch the loss for a blow-up, all on device (no host sync)."""
        self._divergence.observe("loss", loss, self.state.global_step)
        for name, value in logs.items():
            value = value.detach().float().to(loss.device)
            self._log_sums[name] = self._log_sums[name] + value if name in self._log_sums else value
        self._log_count += 1

    def _get_grad_norm(self, model, grad_norm=None):
        grad_norm = super()._get_grad_norm(model, grad_norm=grad_norm)
        if isinstance(grad_norm, torch.Tensor) and not self.accelerator.optimizer_step_was_skipped:
            self._divergence.observe("grad_norm", grad_norm, self.state.global_step)
        return grad_norm

    def check_finite(self) -> None:
        """Stop with a clear message if the loss became non-finite or the loss or gradient norm blew up (a few host
        reads, at logging and saving only): a diverged run is never saved or published as if it had trained."""
        problem = self._divergence.problem()
        if problem is not None:
            raise TrainingDivergedError(
                f"Training diverged: {problem}. Training stopped and nothing was saved from it. Lower "
                "--learning_rate, raise --warmup_steps, keep --max_grad_norm on, or use fp32 / bf16 instead of fp16."
            )

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            self.check_finite()
            for name, total in self._log_sums.items():
                logs[name] = round(total.item() / max(self._log_count, 1), 6)
                if name.endswith("_std") and logs[name] < COLLAPSED_STD and name not in self._collapse_warned:
                    self._collapse_warned.add(name)
                    logger.warning(
                        "Collapse monitor `%s` is %.2g at step %d: the representations are (nearly) the same for "
                        "every input, so the features will carry little information. Check the learning rate, the "
                        "EMA momentum or the method's anti-collapse settings.",
                        name,
                        logs[name],
                        self.state.global_step,
                    )
            self._log_sums, self._log_count = {}, 0
            if getattr(self.unwrapped_model, "ema_pairs", ()):
                logs["ema_momentum"] = self.ema_momentum_at(max(self.state.global_step - 1, 0))
            logs["weight_decay"] = self.weight_decay_at(max(self.state.global_step - 1, 0))
        super().log(logs, start_time)

    # ---- checkpoints: written under a temporary name, renamed when complete ------------------------------------
    def _get_output_dir(self, trial) -> str:
        return self._checkpoint_staging or super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial):
        """Transformers' checkpoint, written into `.tmp-checkpoint-N/` and renamed to `checkpoint-N` once every file
        of every process is there: a kill or a full disk midway leaves no folder that looks like a checkpoint."""
        self.check_finite()  # never write a checkpoint of a diverged run
        run_dir = super()._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        self._checkpoint_staging = os.path.join(run_dir, STAGING_PREFIX + name)
        try:
            try:
                super()._save_checkpoint(model, trial)
            except (RuntimeError, SafetensorError) as error:  # torch.save / safetensors on a full disk
                raise OSError(
                    f"writing {name} failed ({error}); it was left incomplete under a temporary name"
                ) from error
            self.accelerator.wait_for_everyone()  # every process's RNG state is in before the rename
            if self.args.should_save:
                final = os.path.join(run_dir, name)
                if os.path.isdir(final):  # the same step saved again (a resumed run)
                    shutil.rmtree(final)
                os.replace(os.path.join(self._checkpoint_staging, name), final)
                rotate_checkpoints(
                    output_dir=run_dir,
                    save_total_limit=self.args.save_total_limit,
                    best_model_checkpoint=self.state.best_model_checkpoint,
                    use_mtime=False,  # renamed folders: their step numbers order them
                )
        finally:
            if self.args.should_save:
                shutil.rmtree(self._checkpoint_staging, ignore_errors=True)
            self._checkpoint_staging = None

    def train(self, *args, **kwargs):
        if self.args.should_save and os.path.isdir(self.args.output_dir):  # what a killed run was writing
            for name in os.listdir(self.args.output_dir):
                if name.startswith(STAGING_PREFIX + PREFIX_CHECKPOINT_DIR):
                    shutil.rmtree(os.path.join(self.args.output_dir, name), ignore_errors=True)
        output = super().train(*args, **kwargs)
        self.check_finite()
        return output

    # ---- Hub ------------------------------------------------------------------------------------------------------
    def create_model_card(self, *args, **kwargs) -> None:
        """The README.md that `Trainer.push_to_hub` uploads (written after it saves the model to `output_dir`): the
        injected `model_card_writer`'s card (hf_jepa's, with the folder's numbers), else transformers' own."""
        if not self.is_world_process_zero():
            return
        if self.model_card_writer is None:
            return super().create_model_card(*args, **kwargs)
        self.model_card_writer(self.args.output_dir, model_id=self.hub_model_id or self.args.hub_model_id)


__all__ = ["MEDIA_KEYS", "SSLTrainer", "SSLTrainingArguments", "TrainingDivergedError"]
