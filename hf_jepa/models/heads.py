"""Projection heads on top of the encoder's pooled feature (DINO now; the joint-embedding family later)."""

import torch
import torch.nn as nn
import torch.nn.functional as F


def build_mlp(in_size: int, hidden_size: int, out_size: int, num_layers: int) -> nn.Sequential:
    """`num_layers` linears with GELU between them (no activation after the last): DINO's projection MLP."""
    if num_layers < 1:
        raise ValueError(f"`head_num_layers` must be >= 1, got {num_layers}.")
    sizes = [in_size] + [hidden_size] * (num_layers - 1) + [out_size]
    layers: list[nn.Module] = []
    for i in range(num_layers):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < num_layers - 1:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class WeightNormLinear(nn.Module):
    """Bias-free linear layer with weight normalisation, `weight = g * v / ||v||` per output unit.

    The parameters keep the names of `torch.nn.utils.weight_norm` (`weight_g` [out, 1], `weight_v` [out, in]) so
    official DINO checkpoints map onto them one to one.
    """

    def __init__(self, in_size: int, out_size: int):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(out_size, 1))
        self.weight_v = nn.Parameter(torch.empty(out_size, in_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Scale the outputs rather than the weight: same values, without building a second [out, in] matrix (64 MiB
        # for DINO's 65,536 prototypes) in the forward and again in the backward.
        scale = (self.weight_g / self.weight_v.norm(dim=1, keepdim=True)).squeeze(1)  # [out]
        return F.linear(x, self.weight_v) * scale


class DINOHead(nn.Module):
    """MLP -> bottleneck -> L2 normalisation -> weight-normed linear to `output_size` prototypes (DINO).

    With `norm_last_layer` the norm `g` of every prototype is fixed at 1 (not trained), as in the official ViT runs.
    """

    def __init__(
        self,
        in_size: int,
        output_size: int,
        hidden_size: int = 2048,
        bottleneck_size: int = 256,
        num_layers: int = 3,
        norm_last_layer: bool = True,
    ):
        super().__init__()
        self.mlp = build_mlp(in_size, hidden_size, bottleneck_size, num_layers)
        self.last_layer = WeightNormLinear(bottleneck_size, output_size)
        self.last_layer.weight_g.requires_grad_(not norm_last_layer)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """[..., in_size] -> [..., output_size] logits."""
        hidden = F.normalize(self.mlp(features), dim=-1, p=2)
        return self.last_layer(hidden)
