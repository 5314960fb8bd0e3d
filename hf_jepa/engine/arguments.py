"""`SSLTrainingArguments`: transformers' `TrainingArguments` plus the method-independent schedules of
self-supervised pretraining (EMA momentum, weight decay, mask seed)."""

from dataclasses import dataclass, field

from transformers import TrainingArguments
from transformers.training_args import OptimizerNames

from .lars import lars_options
from .launch import check_distributed_launch, choose_ddp_backend


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
    optim: str = field(
        default=TrainingArguments.default_optim,
        metadata={
            "help": "The optimizer: one of transformers' `OptimizerNames` (adamw_torch_fused, sgd, ...), or `lars`, "
            "the LARS of SimCLR and BYOL (hf_jepa.engine.lars; biases and norms get neither decay nor trust ratio). "
            "`lars` reads --weight_decay and --optim_args 'momentum=0.9,eeta=0.001,nesterov=False' (the defaults)."
        },
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
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "hf-jepa pretrain: replace the files a previous run left in --output_dir (its model, card, "
            "numbers and checkpoints; files no run writes are kept). Without it, a folder holding files is refused."
        },
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
    total_train_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "The effective batch of one optimizer step, whatever the number of processes: sets "
            "--per_device_train_batch_size to it / (processes x --gradient_accumulation_steps), which must divide "
            "it. The learning rate is not rescaled: give the one of this batch (the papers' rule, e.g. MAE's and "
            "MoCo v3's, is base_lr x batch / 256)."
        },
    )

    def __post_init__(self):
        lars = self.optim == "lars"
        if lars:  # transformers accepts only its own optimizer names; `lars` is restored after its checks
            lars_options(self.optim_args)  # a mistyped option fails here, not at the first step
            self.optim = OptimizerNames.SGD
        choose_ddp_backend(self)
        super().__post_init__()
        check_distributed_launch(self, "hf-jepa pretrain")
        if self.total_train_batch_size is not None:
            self.per_device_train_batch_size = per_device_batch(
                self.total_train_batch_size, self.world_size, self.gradient_accumulation_steps
            )
        if lars:
            self.optim = "lars"
        for name in ("ema_momentum", "ema_momentum_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1], got {getattr(self, name)}.")
        if self.ema_schedule not in ("linear", "cosine", "constant"):
            raise ValueError(f"`ema_schedule` must be linear, cosine or constant, got {self.ema_schedule!r}.")
        if self.schedule_horizon_scale <= 0:
            raise ValueError(f"`schedule_horizon_scale` must be > 0, got {self.schedule_horizon_scale}.")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"`--{name}` must be at least 1, got {getattr(self, name)}.")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(
                f"`--max_steps` must be positive (or -1 to train for --num_train_epochs), got {self.max_steps}."
            )
        if self.save_strategy == "steps" and self.save_steps <= 0:
            raise ValueError(f"`--save_steps` must be positive, got {self.save_steps}.")


def per_device_batch(total: int, world_size: int, accumulation: int) -> int:
    """The per-device batch that makes `total` images per optimizer step; refuses what does not divide it."""
    per_step = world_size * accumulation
    if total < 1 or total % per_step:
        raise ValueError(
            f"`--total_train_batch_size {total}` must be a positive multiple of the {world_size} process(es) x "
            f"{accumulation} accumulation step(s) = {per_step}: each process takes an equal share of every step. "
            f"Use {max(per_step, total // per_step * per_step)} or change the number of processes."
        )
    return total // per_step


__all__ = ["SSLTrainingArguments", "per_device_batch"]
