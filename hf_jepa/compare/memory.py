"""Peak memory of a training run: CUDA's peak allocated bytes on a GPU; on a CPU the process's peak resident set
(Linux VmHWM, reset before the run through /proc/self/clear_refs), which also holds the data and the interpreter."""

import torch
from transformers import TrainerCallback


def proc_status_kib(field: str) -> int | None:
    """A field of /proc/self/status in KiB (e.g. VmRSS, VmHWM), None off Linux."""
    try:
        with open("/proc/self/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Set VmHWM (peak RSS) back to the current RSS (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class _TrainEnd(TrainerCallback):
    def __init__(self, owner: "PeakMemory"):
        self.owner = owner

    def on_train_end(self, args, state, control, **kwargs):
        self.owner.read()  # training's peak, before the evaluation allocates its features


class PeakMemory:
    """`with PeakMemory() as memory: ...` around a run whose trainer has `memory.callback`: `peak_bytes` is the
    training's peak (None where it cannot be measured), `kind` says which measure it is."""

    def __init__(self):
        self.peak_bytes: int | None = None
        self.kind = "cuda_max_allocated" if torch.cuda.is_available() else "peak_rss"
        self.callback = _TrainEnd(self)
        self._resettable = False

    def __enter__(self):
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        else:
            self._resettable = reset_peak_rss()
        return self

    def read(self) -> None:
        if torch.cuda.is_available():
            self.peak_bytes = torch.cuda.max_memory_allocated()
        elif self._resettable and proc_status_kib("VmHWM") is not None:
            self.peak_bytes = 1024 * proc_status_kib("VmHWM")

    def __exit__(self, *exc_info):
        if self.peak_bytes is None:
            self.read()
        return False


__all__ = ["PeakMemory", "proc_status_kib", "reset_peak_rss"]
