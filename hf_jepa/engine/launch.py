"""Several processes must train one model, never several copies of it.

transformers (through accelerate) starts data parallelism only when it finds a distributed backend for the device:
under `torchrun` on a machine without an accelerator it finds none, runs every process as a single-process training
(each writing the same folder) and only warns. `choose_ddp_backend` turns on accelerate's CPU data parallelism with
gloo there (on CUDA accelerate picks nccl itself) before the arguments set up their devices, so every launcher gives
real data parallelism, and `check_distributed_launch` refuses a launch of several processes that still would not train
one model.
"""

import logging
import os

import torch
import torch.nn as nn

logger = logging.getLogger(__name__)


class DistributedLaunchError(ValueError):
    """Several processes were launched that would not train one model together."""


# Environment variables through which launchers (torchrun, accelerate, mpirun, SLURM via srun) give the world size.
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launched_world_size() -> int:
    """The number of processes the launcher says it started (1 without a launcher)."""
    for name in WORLD_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.strip().isdigit():
            return int(value)
    return 1


def default_ddp_backend() -> str:
    """gloo on CPU, nccl on CUDA: the backends torch supports for each."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def choose_ddp_backend(args) -> None:
    """With several launched processes on a machine without an accelerator, train on the CPU with gloo: accelerate
    starts CPU data parallelism only for `use_cpu`. On an accelerator, accelerate picks its backend itself (nccl on
    CUDA). Must run before the arguments set up their devices (the first `args.device`)."""
    if launched_world_size() <= 1 or args.deepspeed:  # DeepSpeed brings its own
        return
    if not args.use_cpu and not torch.accelerator.is_available():
        args.use_cpu = True
    if args.use_cpu and args.ddp_backend is None:
        args.ddp_backend = "gloo"


def check_distributed_launch(args, command: str) -> None:
    """Refuse a launch that asked for several processes but would train as one (or several independent ones)."""
    from transformers.training_args import ParallelMode

    launched = launched_world_size()
    if launched > 1 and (args.parallel_mode != ParallelMode.DISTRIBUTED or args.world_size != launched):
        raise DistributedLaunchError(
            f"{command}: the launcher started {launched} processes, but they would not train as one (parallel mode "
            f"{args.parallel_mode.value}, --ddp_backend {args.ddp_backend}): each would train its own copy into "
            f"the same --output_dir. Pass --ddp_backend {default_ddp_backend()} (gloo on CPU, nccl on CUDA), or "
            "launch one process."
        )
    if launched == 1 and _one_of_several_without_ranks():
        raise DistributedLaunchError(
            f"{command}: `accelerate launch --cpu --num_processes N` starts one process unless it runs through "
            "mpirun (--mpirun_hostfile). For several CPU processes use `torchrun --nproc_per_node N -m hf_jepa.cli "
            f"{command.split()[-1]} ...` or `accelerate launch --multi_gpu --num_processes N -m hf_jepa.cli ...` "
            "(torch's launcher, which also runs on CPU with gloo)."
        )


def sync_batch_norm(trainer) -> None:
    """Under data parallelism torch's BatchNorm layers (a CNN backbone's) normalise over the global batch, as in the
    official runs: `SyncBatchNorm`, which runs on CUDA only. On CPU (gloo) they keep per-process statistics, said
    once. The heads' and the linear probe's `GlobalBatchNorm` synchronise themselves on every device."""
    from transformers.training_args import ParallelMode

    if trainer.args.parallel_mode != ParallelMode.DISTRIBUTED:
        return
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in trainer.model.modules()):
        return
    if trainer.args.device.type == "cuda":
        trainer.model = nn.SyncBatchNorm.convert_sync_batchnorm(trainer.model)
    elif trainer.args.process_index == 0:
        logger.warning("BatchNorm layers keep per-process batch statistics: SyncBatchNorm needs CUDA devices.")


def split_by_process(dataset) -> bool:
    """Whether `dataset` is a stream every process reads its own part of (`ShardStream` with a world size): accelerate
    must then neither dispatch the main process's batches nor shard them again."""
    return getattr(getattr(dataset, "options", None), "world_size", 1) > 1


def own_part_loader(trainer, dataset, batch_size: int):
    """The data loader of a process that reads its own part of a stream: accelerate places the batches on the device
    and tracks the end of data as usual, but as if alone (one process, no dispatching). Under its default for
    iterable datasets the main process would read and decode every batch of every process."""
    from accelerate.data_loader import prepare_data_loader
    from torch.utils.data import DataLoader

    world_size, rank = dataset.options.world_size, dataset.options.rank
    if (world_size, rank) != (trainer.args.world_size, trainer.args.process_index):
        raise ValueError(
            f"The training stream is split for process {rank} of {world_size}, but this is process "
            f"{trainer.args.process_index} of {trainer.args.world_size}: build its `StreamingOptions` from the "
            "training arguments' `process_index` and `world_size`."
        )
    args = trainer.args
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        collate_fn=trainer._get_collator_with_removed_columns(trainer.data_collator, description="training"),
        num_workers=args.dataloader_num_workers,
        pin_memory=args.dataloader_pin_memory,
        persistent_workers=args.dataloader_persistent_workers,
        prefetch_factor=args.dataloader_prefetch_factor,
        multiprocessing_context=args.dataloader_multiprocessing_context,
        in_order=args.dataloader_in_order,
    )
    accelerator = trainer.accelerator
    prepared = prepare_data_loader(
        loader,
        accelerator.device,
        num_processes=1,
        process_index=0,
        put_on_device=accelerator.device_placement,
        rng_types=accelerator.rng_types.copy(),
        dispatch_batches=False,
        non_blocking=accelerator.non_blocking,
    )
    accelerator._dataloaders.append(prepared)  # as `Accelerator.prepare_data_loader` does, for its checkpoints
    return prepared


def _one_of_several_without_ranks() -> bool:
    """accelerate's simple launcher asked for several CPU processes: it sets the rendezvous address but no ranks."""
    cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    has_ranks = any(name in os.environ for name in (*WORLD_SIZE_VARIABLES, "LOCAL_RANK", "RANK"))
    return cpu and "MASTER_ADDR" in os.environ and not has_ranks


__all__ = [
    "DistributedLaunchError",
    "check_distributed_launch",
    "choose_ddp_backend",
    "default_ddp_backend",
    "launched_world_size",
    "own_part_loader",
    "split_by_process",
    "sync_batch_norm",
]
