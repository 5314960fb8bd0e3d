"""Heads on top of the encoder: DINO's projection head, V-JEPA's attentive probe."""

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


class AttentivePooler(nn.Module):
    """V-JEPA's attentive probe: a learned query token cross-attends to the frozen tokens (one pre-norm
    cross-attention block with an MLP), giving one pooled feature per clip.

    tokens [B, L, D] -> [B, D]. The query itself is not normalised and is not among the keys, as officially.
    """

    def __init__(self, hidden_size: int, num_heads: int, layer_norm_eps: float = 1e-6, mlp_ratio: float = 4.0):
        super().__init__()
        self.num_heads = num_heads
        self.query_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.norm1 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.q = nn.Linear(hidden_size, hidden_size)
        self.kv = nn.Linear(hidden_size, 2 * hidden_size)
        self.proj = nn.Linear(hidden_size, hidden_size)
        self.norm2 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.mlp = build_mlp(hidden_size, int(hidden_size * mlp_ratio), hidden_size, num_layers=2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, length, dim = tokens.shape
        head_dim = dim // self.num_heads
        query = self.query_token.expand(batch, -1, -1).to(tokens.dtype)  # [B, 1, D]
        q = self.q(query).reshape(batch, 1, self.num_heads, head_dim).transpose(1, 2)
        kv = self.kv(self.norm1(tokens)).reshape(batch, length, 2, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
        key, value = kv.unbind(0)
        attended = F.scaled_dot_product_attention(q, key, value).transpose(1, 2).reshape(batch, 1, dim)
        query = query + self.proj(attended)
        query = query + self.mlp(self.norm2(query))
        return query[:, 0]
