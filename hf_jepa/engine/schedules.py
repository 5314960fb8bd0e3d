"""Per-step schedules of self-supervised pretraining, and the fused EMA update they drive."""

import math

import torch


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


__all__ = ["ema_update_", "scheduled_value"]
