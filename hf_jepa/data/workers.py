"""How many data loader workers `hf-jepa pretrain` uses by default, and why that is safe.

Safe: every collator is deterministic (images are decoded and resized only; random views and masks are drawn on the
device from per-step generators; video windows come from generators keyed by (seed, epoch, clip)), and the sampler
that orders a map-style dataset runs in the main process. So the batches, and a resumed run's batches, are the same
with any number of workers; workers only move decoding and resizing off the training process."""

import logging
import os

logger = logging.getLogger(__name__)

# More workers than this rarely pay for small models; `--dataloader_num_workers` raises it.
MAX_DEFAULT_WORKERS = 4
# The modalities whose collators are checked to draw nothing random (see the module's docstring).
WORKER_MODALITIES = ("image", "video")
# Workers hand their batches over in shared memory: at least this much must be writable (a few of the main job's
# 1.5 MB batches).
SHARED_MEMORY_PROBE = 8 << 20


def shared_memory_problem(size: int = SHARED_MEMORY_PROBE) -> str | None:
    """Why workers could not hand batches over, or None: too little free space in /dev/shm (small in containers), or
    a file-size limit (`ulimit -f`) below a batch. Torch's worker then fails in a feeder thread and the training
    process waits forever, so this is checked before choosing workers."""
    import torch

    try:
        stats = os.statvfs("/dev/shm")
        free = stats.f_bavail * stats.f_frsize
        if free < size:
            return f"/dev/shm has {free >> 20} MiB free"
    except OSError:
        pass  # no /dev/shm (not Linux): torch uses its own shared memory
    try:
        torch.empty(size // 4).share_memory_()
    except RuntimeError as error:
        return f"shared memory cannot hold a batch ({error})"
    return None


def default_num_workers(modality: str, cpu_count: int | None = None) -> int:
    """Image and video runs: min(4, cores - 1), so one core stays with the training step (a 2-core machine gets 1
    worker), unless shared memory cannot carry batches (0, said in a warning). Other modalities: 0 (image-text
    collators tokenize, and fast tokenizers drop their threads after a fork; trajectory collators are not checked
    for randomness drawn in the worker)."""
    if modality not in WORKER_MODALITIES:
        return 0
    problem = shared_memory_problem()
    if problem is not None:
        logger.warning("Default --dataloader_num_workers 0 (loading in the training process): %s.", problem)
        return 0
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(0, min(MAX_DEFAULT_WORKERS, cores - 1))


def loader_defaults(modality: str, requested_workers: int | None = None) -> dict:
    """`TrainingArguments` defaults for the data loader of a `modality` run whose command line asked for
    `requested_workers` (None: not given, so the default is chosen). Workers persist across epochs (a fork per epoch
    costs more than a small epoch), except for video: its collator's epoch is set in the training process before
    each epoch, and persistent workers would keep the first epoch's copy."""
    if requested_workers is None:
        workers = default_num_workers(modality)
    else:
        workers = requested_workers
        problem = shared_memory_problem() if workers > 0 else None
        if problem is not None:
            logger.warning(
                "--dataloader_num_workers %d: %s, so workers may fail to hand batches over and training would wait "
                "forever; pass --dataloader_num_workers 0 if it stalls.",
                workers,
                problem,
            )
    return {
        "dataloader_num_workers": workers,
        "dataloader_persistent_workers": workers > 0 and modality != "video",
    }


__all__ = ["MAX_DEFAULT_WORKERS", "default_num_workers", "loader_defaults", "shared_memory_problem"]
