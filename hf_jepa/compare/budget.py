"""The equal budget every method of a comparison trains for: optimizer steps, wall-clock seconds of training steps, or
training FLOPs. Seconds and FLOPs become a number of steps per method from a short calibration run of that method (its
real training step, timed and counted), so that every run's learning-rate and EMA schedules complete."""

import math
from dataclasses import dataclass

BUDGET_KINDS = ("steps", "seconds", "flops")


@dataclass(frozen=True)
class Budget:
    kind: str  # one of BUDGET_KINDS
    value: float

    def __post_init__(self):
        if self.kind not in BUDGET_KINDS:
            raise ValueError(f"Unknown budget kind {self.kind!r}: choose one of {BUDGET_KINDS}.")
        if not self.value > 0:
            raise ValueError(f"The `--{self.flag}` budget must be positive, got {self.value}.")

    @property
    def flag(self) -> str:
        return {"steps": "max_steps", "seconds": "budget_seconds", "flops": "budget_flops"}[self.kind]

    @property
    def needs_calibration(self) -> bool:
        return self.kind != "steps"

    def describe(self) -> str:
        if self.kind == "steps":
            return f"{int(self.value)} optimizer steps"
        if self.kind == "seconds":
            return f"{self.value:g} s of training steps"
        return f"{self.value:.3g} training FLOPs"

    def steps(self, label: str, flops_per_step: float | None = None, seconds_per_step: float | None = None) -> int:
        """The optimizer steps this budget buys `label`, given its calibrated cost per step; a clear error when it
        does not buy the steps one evaluation needs."""
        if self.kind == "steps":
            steps = int(self.value)
        else:
            cost = flops_per_step if self.kind == "flops" else seconds_per_step
            if not cost:
                raise ValueError(f"`{label}`: its training step could not be measured for a {self.kind} budget.")
            steps = math.floor(self.value / cost)
        if steps < MIN_STEPS:
            per_step = "" if self.kind == "steps" else f" ({cost:.3g} {self.kind} per step)"
            raise ValueError(
                f"`--{self.flag} {self.value:g}` buys `{label}` only {steps} step(s){per_step}: at least {MIN_STEPS} "
                f"are needed to train and evaluate along the way; raise the budget (nothing was trained)."
            )
        return steps


# Fewest steps worth a comparison: a curve needs the initial weights and one evaluation after training started.
MIN_STEPS = 2


__all__ = ["BUDGET_KINDS", "Budget", "MIN_STEPS"]
