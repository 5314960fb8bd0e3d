"""LARS (You et al., 2017, arXiv:1708.03888) as the official SimCLR code runs it for its ResNet recipes (BYOL's
optax LARS is the same rule with the learning rate applied after the momentum instead of inside it)."""

import torch

# `--optim_args` keys of `--optim lars`, and how each is read.
LARS_OPTIONS = {"momentum": float, "eeta": float, "nesterov": lambda value: value.lower() in ("true", "1", "yes")}


class LARS(torch.optim.Optimizer):
    """Layer-wise Adaptive Rate Scaling with classic momentum, per parameter tensor `w` with gradient `g`:

        g = g + weight_decay * w                                  (before the norms: decay counts in ||g||)
        trust = eeta * ||w|| / ||g||  if both norms > 0, else 1   (1 where `lars_adaptation` is False)
        v = momentum * v + lr * trust * g                         (the learning rate inside the buffer)
        w = w - v        (nesterov: w = w - (momentum * v + lr * trust * g))

    Biases and norm parameters get neither decay nor adaptation in SimCLR and BYOL: give them a group with
    `weight_decay=0` and `lars_adaptation=False` (`SSLTrainer` does, with `--optim lars`). Their update is then
    momentum SGD. `lr` and `weight_decay` are read from the groups at every step, so schedulers can move them.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eeta: float = 1e-3,
        nesterov: bool = False,
        lars_adaptation: bool = True,
    ):
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay), ("eeta", eeta)):
            if value < 0:
                raise ValueError(f"LARS `{name}` must be >= 0, got {value}.")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            eeta=eeta,
            nesterov=nesterov,
            lars_adaptation=lars_adaptation,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            momentum, eeta = group["momentum"], group["eeta"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(param, alpha=group["weight_decay"])
                step = grad * group["lr"]
                if group["lars_adaptation"]:
                    param_norm, grad_norm = torch.linalg.vector_norm(param), torch.linalg.vector_norm(grad)
                    # On device (no host sync); a zero norm (fresh zero init, no gradient) leaves the rate as is.
                    usable = (param_norm > 0) & (grad_norm > 0)
                    step = step * torch.where(usable, eeta * param_norm / grad_norm, 1.0)
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param)
                buffer = state["momentum_buffer"]
                buffer.mul_(momentum).add_(step)
                param.sub_(buffer.mul(momentum).add_(step) if group["nesterov"] else buffer)
        return loss


def lars_options(optim_args: str | None) -> dict:
    """The LARS keyword arguments in `--optim_args` ("momentum=0.9,eeta=0.001,nesterov=False"), as transformers
    reads it for its own optimizers; an unknown key is an error (transformers would ignore it silently)."""
    options = {}
    for item in (optim_args or "").replace(" ", "").split(","):
        if not item:
            continue
        key, _, value = item.partition("=")
        if key not in LARS_OPTIONS or not value:
            raise ValueError(
                f"`--optim lars` takes `--optim_args` among {sorted(LARS_OPTIONS)} as key=value, got {item!r} "
                "(its weight decay is --weight_decay)."
            )
        options[key] = LARS_OPTIONS[key](value)
    return options


__all__ = ["LARS", "lars_options"]
