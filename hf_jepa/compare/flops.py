"""Training FLOPs counted on the real step (torch's `FlopCounterMode`), not estimated from a formula: the compare
harness's compute axis and its `--budget_flops`."""

import time

import torch
from torch.utils import flop_counter
from transformers import TrainerCallback

_aten = torch.ops.aten


def _cpu_attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out, query, key, value)


# torch counts the CUDA attention kernels but not the CPU one that `scaled_dot_product_attention` runs on a CPU: the
# same formulas (two matmuls forward, four backward) for it.
CPU_ATTENTION_FLOPS = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flops,
}


def flop_counter_mode() -> flop_counter.FlopCounterMode:
    """A `FlopCounterMode` that also counts attention on the CPU (matmuls, convolutions and attention: what
    dominates a training step; element-wise ops are not counted, as usual)."""
    return flop_counter.FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)


class StepCostCallback(TrainerCallback):
    """Times every optimizer step (forward, backward, update, views: the trainer's step, not the evaluations or
    checkpoint writes between steps) and counts the FLOPs of steps `counted_steps` (1-based, after the first, whose
    lazy initialisations are not the run's cost). `flops_per_step` is their mean; `train_seconds` the sum of step
    times (plus `seconds_before`, for a resumed run)."""

    def __init__(self, counted_steps: tuple[int, ...] = (2, 3), seconds_before: float = 0.0):
        self.counted_steps = set(counted_steps)
        self.train_seconds = seconds_before
        self.step_flops: list[int] = []
        self._counter = None
        self._started = None

    @property
    def flops_per_step(self) -> float | None:
        return sum(self.step_flops) / len(self.step_flops) if self.step_flops else None

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step + 1 in self.counted_steps:
            self._counter = flop_counter_mode()
            self._counter.__enter__()
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the step's time, not the time to queue it
        if self._started is not None:
            self.train_seconds += time.perf_counter() - self._started
            self._started = None
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            # Every process counts its own micro-batches: the global step costs world_size times as much.
            self.step_flops.append(self._counter.get_total_flops() * max(args.world_size, 1))
            self._counter = None


__all__ = ["CPU_ATTENTION_FLOPS", "StepCostCallback", "flop_counter_mode"]
