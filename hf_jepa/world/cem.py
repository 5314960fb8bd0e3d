"""The cross-entropy method (CEM) over action sequences, batched over environments and samples, and the latent cost
LeWorldModel plans with: the squared distance between the last predicted embedding and the goal's."""

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CEMPlanner:
    """CEM as stable-worldmodel's solver runs it for LeWorldModel: `num_iterations` rounds of `num_samples` Gaussian
    action sequences per environment (the first one is the current mean), the `num_elites` cheapest refit the mean
    and standard deviation. The plan is the final mean. Defaults: the paper's 300 samples, 30 iterations, 30
    elites, initial std 1."""

    num_samples: int = 300
    num_iterations: int = 30
    num_elites: int = 30
    init_std: float = 1.0

    def __post_init__(self):
        for name in ("num_samples", "num_iterations", "num_elites"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.num_elites > self.num_samples:
            raise ValueError(f"`num_elites` ({self.num_elites}) must be at most `num_samples` ({self.num_samples}).")
        if not self.init_std > 0:
            raise ValueError(f"`init_std` must be > 0, got {self.init_std}.")

    @torch.no_grad()
    def solve(
        self,
        cost: Callable[[torch.Tensor], torch.Tensor],
        batch: int,
        horizon: int,
        action_size: int,
        init_mean: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`cost(candidates [B, S, horizon, action_size]) -> [B, S]` (lower is better) -> (the plan [B, horizon,
        action_size], the mean cost of the last elites [B]). `init_mean` [B, k <= horizon, action_size] warm-starts
        the first steps (the rest of the previous plan); the others start at 0."""
        mean = torch.zeros(batch, horizon, action_size, device=device)
        if init_mean is not None:
            mean[:, : init_mean.shape[1]] = init_mean.to(device)
        std = torch.full_like(mean, self.init_std)
        rows = torch.arange(batch, device=device).unsqueeze(1)
        for _ in range(self.num_iterations):
            noise = torch.randn(batch, self.num_samples, horizon, action_size, device=device, generator=generator)
            candidates = noise * std.unsqueeze(1) + mean.unsqueeze(1)  # [B, S, H, A]
            candidates[:, 0] = mean
            costs = cost(candidates)
            if costs.shape != (batch, self.num_samples):
                raise ValueError(
                    f"`cost` must return [batch, samples] = {[batch, self.num_samples]}, got {list(costs.shape)}."
                )
            elite_costs, elite_idx = costs.topk(self.num_elites, dim=1, largest=False)
            elites = candidates[rows, elite_idx]  # [B, K, H, A]
            mean, std = elites.mean(dim=1), elites.std(dim=1) if self.num_elites > 1 else std
        return mean, elite_costs.mean(dim=1)


def latent_goal_cost(model, context_embeddings: torch.Tensor, context_actions: torch.Tensor, goal: torch.Tensor):
    """The cost of LeWorldModel's planning (official `JEPA.criterion`): roll the predictor out from the observed
    embeddings context_embeddings [B, h, D] (with the actions context_actions [B, h - 1, A] taken between them) under
    each candidate [B, S, H, A], and sum the squared differences of the last predicted embedding and the goal's
    embedding goal [B, D]. Returns the cost function for `CEMPlanner.solve`."""

    def cost(candidates: torch.Tensor) -> torch.Tensor:
        batch, samples = candidates.shape[:2]
        context = context_embeddings.unsqueeze(1).expand(-1, samples, -1, -1).flatten(0, 1)  # [B*S, h, D]
        past = context_actions.unsqueeze(1).expand(-1, samples, -1, -1).flatten(0, 1)  # [B*S, h - 1, A]
        actions = torch.cat([past, candidates.flatten(0, 1)], dim=1)
        last = model.rollout(context, actions)[:, -1]  # [B*S, D]
        target = goal.unsqueeze(1).expand(-1, samples, -1).flatten(0, 1)
        return (last - target).square().sum(-1).view(batch, samples)

    return cost


__all__ = ["CEMPlanner", "latent_goal_cost"]
