"""Catching a run that blows up, on the device: a non-finite loss, or a loss or gradient norm that grows by orders of
magnitude over the lowest level its running value has reached (`--learning_rate 10`: the loss goes from 0.4 to a
few hundred within the warm-up, and stays there). Every step only updates small tensors; the host reads them when
the trainer logs or saves, so no step waits."""

import math

import torch

# Growth by these factors over the lowest running (exponential) mean of the log value is a blow-up, not noise: losses
# of healthy runs move by a few times at most, gradient norms by tens of times during warm-up.
JUMP_FACTORS = {"loss": 100.0, "grad_norm": 1e4}
WARMUP_STEPS = 3  # steps before the reference level is trusted
SMOOTHING = 0.1  # weight of the newest value in the running mean of log values


class DivergenceWatch:
    """Watches named positive scalars (`loss`, `grad_norm`) step by step and remembers the first step where one was
    non-finite or had grown by its factor over its reference level (the lowest its running mean has been), with the
    value and the reference then."""

    def __init__(self, factors: dict[str, float] | None = None, warmup: int = WARMUP_STEPS):
        self.factors = dict(JUMP_FACTORS if factors is None else factors)
        self.warmup = warmup
        self._state: dict[str, dict[str, torch.Tensor]] = {}

    def observe(self, name: str, value: torch.Tensor, step: int) -> None:
        value = value.detach().float().reshape(())
        if name not in self._state:
            zero = torch.zeros((), device=value.device)
            self._state[name] = dict(mean=zero.clone(), lowest=zero.clone(), count=zero.clone(),
                                     bad_step=torch.full_like(zero, -1), bad_value=zero.clone(),
                                     reference=zero.clone())  # fmt: skip
        state = self._state[name]
        log_value = value.abs().clamp_min(1e-30).log()
        grown = (state["count"] >= self.warmup) & (log_value - state["lowest"] > math.log(self.factors[name]))
        bad = (~torch.isfinite(value) | grown) & (state["bad_step"] < 0)
        state["bad_step"] = torch.where(bad, torch.full_like(state["bad_step"], step), state["bad_step"])
        state["bad_value"] = torch.where(bad, value, state["bad_value"])
        state["reference"] = torch.where(bad, state["lowest"].exp(), state["reference"])
        # The running mean only learns from finite values that are not blow-ups themselves.
        healthy = torch.isfinite(log_value) & ~grown
        first = state["count"] == 0
        updated = torch.where(first, log_value, (1 - SMOOTHING) * state["mean"] + SMOOTHING * log_value)
        state["mean"] = torch.where(healthy, updated, state["mean"])
        state["lowest"] = torch.where(first, state["mean"], torch.minimum(state["lowest"], state["mean"]))
        state["count"] = state["count"] + healthy.float()

    def problem(self) -> str | None:
        """The first blow-up seen, in words (one host read per watched value), or None."""
        found = []
        for name, state in self._state.items():
            step = int(state["bad_step"].item())
            if step >= 0:
                value, reference = state["bad_value"].item(), state["reference"].item()
                if not math.isfinite(value):
                    found.append((step, f"the {name} became non-finite ({value}) at step {step}"))
                else:
                    grown = f"{value / reference:.3g} times its earlier level {reference:.3g}"
                    found.append((step, f"the {name} grew to {value:.3g} at step {step}, {grown}"))
        return min(found)[1] if found else None


__all__ = ["DivergenceWatch", "JUMP_FACTORS"]
