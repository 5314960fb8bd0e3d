"""Heads on top of the encoder: DINO's projection head, the BatchNorm MLPs of SimCLR / MoCo v3 / BYOL (with their
BatchNorm over the global batch), V-JEPA's attentive probe, SigLIP's attention-pooling head."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .distributed import gather_with_grad, is_distributed
from .vit import Mlp


def torch_default_init_(linear: nn.Linear | nn.Conv1d) -> None:
    """PyTorch's own init of a linear layer (Kaiming-uniform weights, uniform biases within 1 / sqrt(fan_in)): what
    official code gets by not initialising a head itself. Through `transformers.initialization`, so that weights
    loaded from a checkpoint are not overwritten."""
    from transformers import initialization as init

    init.kaiming_uniform_(linear.weight, a=5**0.5)
    if linear.bias is not None:
        fan_in = linear.weight[0].numel()
        init.uniform_(linear.bias, -(fan_in**-0.5), fan_in**-0.5)


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

    def forward(self, features: torch.Tensor, predictor: nn.Module | None = None) -> torch.Tensor:
        """[..., in_size] -> [..., output_size] logits. `predictor` (DINO's student-only predictor ablation) maps the
        bottleneck output before its normalisation and the prototypes."""
        bottleneck = self.mlp(features)
        if predictor is not None:
            bottleneck = predictor(bottleneck)
        return self.last_layer(F.normalize(bottleneck, dim=-1, p=2))


class GlobalBatchNorm(nn.Module):
    """BatchNorm of features [N, C] whose training statistics are those of the *global* batch: under
    `torch.distributed` every process's (count, mean, variance) is gathered with gradient and combined, so the output,
    the gradients and the running statistics equal one process normalising the whole batch (what the official
    SimCLR, MoCo v3 and BYOL runs do with their cross-replica / synchronised BatchNorm). In one process it is
    `nn.BatchNorm1d` exactly (same state-dict names, momentum 0.1 = their decay 0.9, eps 1e-5).

    Not a subclass of torch's `_BatchNorm`: `nn.SyncBatchNorm.convert_sync_batchnorm` leaves it alone (torch's
    SyncBatchNorm refuses CPU tensors, so the gloo runs could not use it), and it already synchronises itself.
    `scale` / `center`: learn the per-feature scale (gamma, `weight`) / shift (beta, `bias`), as Keras names them
    (SimCLR's last layer has a scale and no shift; MoCo v3's last layer neither).
    `batch_statistics_in_eval`: in eval mode too, normalise with the statistics of the batch (without updating the
    running ones) instead of the running statistics.
    """

    def __init__(
        self,
        num_features: int,
        scale: bool = True,
        center: bool = True,
        eps: float = 1e-5,
        momentum: float = 0.1,
        batch_statistics_in_eval: bool = False,
    ):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.batch_statistics_in_eval = batch_statistics_in_eval
        self.weight = nn.Parameter(torch.ones(num_features)) if scale else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if center else None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    @property
    def affine(self) -> bool:
        """As `nn.BatchNorm1d.affine`: learned scale and shift."""
        return self.weight is not None and self.bias is not None

    def extra_repr(self) -> str:
        return f"{self.num_features}, scale={self.weight is not None}, center={self.bias is not None}"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """[N, C] -> [N, C]: batch statistics in training mode (global across processes, running statistics
        updated), running ones in eval mode (batch ones with `batch_statistics_in_eval`)."""
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(
                f"GlobalBatchNorm expects [batch, {self.num_features}] features, got {tuple(features.shape)}."
            )
        if not (self.training or self.batch_statistics_in_eval):
            return F.batch_norm(
                features, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        if self.training:
            self.num_batches_tracked.add_(1)
        if is_distributed():
            return self._global_batch_norm(features)
        if features.shape[0] < 2:
            raise ValueError(
                "BatchNorm in the projection / prediction head normalises over the batch and needs at least 2 "
                f"samples, got {features.shape[0]}."
            )
        running = (self.running_mean, self.running_var) if self.training else (None, None)
        return F.batch_norm(features, *running, self.weight, self.bias, True, self.momentum, self.eps)

    def _global_batch_norm(self, features: torch.Tensor) -> torch.Tensor:
        """Combine each process's (count, mean, biased variance), gathered with gradient (Chan et al.'s parallel
        variance: no E[x^2] - E[x]^2 cancellation)."""
        x = features.float()
        count = torch.full((1,), float(x.shape[0]), device=x.device)
        local = torch.cat([count, x.mean(dim=0), x.var(dim=0, unbiased=False)]).unsqueeze(0)  # [1, 1 + 2C]
        stats = gather_with_grad(local)  # [world, 1 + 2C]
        counts, means, variances = stats[:, :1], stats[:, 1 : 1 + self.num_features], stats[:, 1 + self.num_features :]
        total = counts.sum()
        mean = (counts * means).sum(dim=0) / total  # [C]
        variance = (counts * (variances + (means - mean) ** 2)).sum(dim=0) / total
        if self.training:  # running statistics as nn.BatchNorm1d: the variance unbiased over the global batch
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(variance.detach() * total / (total - 1).clamp_min(1.0), self.momentum)
        out = (x - mean) * torch.rsqrt(variance + self.eps)
        if self.weight is not None:
            out = out * self.weight
        if self.bias is not None:
            out = out + self.bias
        return out.to(features.dtype)


# What follows the last linear layer of a BatchNormMLP.
LAST_NORMS = ("affine", "scale", "plain", None)


class BatchNormMLP(nn.Sequential):
    """The projection / prediction MLP of SimCLR, MoCo v3 and BYOL: `num_layers` linear layers; each hidden one is
    followed by BatchNorm (scale and shift) and ReLU; the last one by `last_norm`: BatchNorm with scale and shift
    ("affine"), with a scale only ("scale", SimCLR), with neither ("plain", MoCo v3), or nothing (None, BYOL).
    `hidden_bias`: the hidden linears have a bias (BYOL; redundant before BatchNorm, but it is in the official
    code); the last linear never has one. [..., in_size] -> [..., out_size]. Every BatchNorm is a `GlobalBatchNorm`
    (`batch_statistics_in_eval` passed on).
    """

    def __init__(
        self,
        in_size: int,
        hidden_size: int,
        out_size: int,
        num_layers: int,
        hidden_bias: bool = False,
        last_norm: str | None = "affine",
        name: str = "num_layers",
        batch_statistics_in_eval: bool = False,
    ):
        if num_layers < 1:
            raise ValueError(f"`{name}` must be >= 1, got {num_layers}.")
        if last_norm not in LAST_NORMS:
            raise ValueError(f"`last_norm` must be one of {LAST_NORMS}, got {last_norm!r}.")
        sizes = [in_size] + [hidden_size] * (num_layers - 1) + [out_size]
        eval_statistics = batch_statistics_in_eval
        layers: list[nn.Module] = []
        for i in range(num_layers):
            last = i == num_layers - 1
            layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=hidden_bias and not last))
            if last and last_norm is None:
                continue
            affine = not last or last_norm == "affine"
            scale = affine or last_norm == "scale"
            layers.append(GlobalBatchNorm(sizes[i + 1], scale, affine, batch_statistics_in_eval=eval_statistics))
            if not last:
                layers.append(nn.ReLU())
        super().__init__(*layers)

    def linears(self) -> list[nn.Linear]:
        return [layer for layer in self if isinstance(layer, nn.Linear)]


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


class AttentionPoolingHead(nn.Module):
    """SigLIP's MAP head, sized by a ViT config (width, heads, MLP width and activation, norm epsilon): one learned
    probe cross-attends to the tokens (`nn.MultiheadAttention`), then a residual MLP (the ViT's `Mlp`) on its
    layer-normed output. tokens [B, L, D] -> [B, D]. The same computation and parameter layout as transformers'
    `SiglipMultiheadAttentionPoolingHead` (`probe`, `attention`, `layernorm`, `mlp.fc1/fc2`)."""

    def __init__(self, config):
        super().__init__()
        self.probe = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.attention = nn.MultiheadAttention(config.hidden_size, config.num_attention_heads, batch_first=True)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = Mlp(config.hidden_size, config.intermediate_size, config.hidden_act)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        probe = self.probe.expand(tokens.shape[0], -1, -1).to(tokens.dtype)  # [B, 1, D]
        pooled = self.attention(probe, tokens, tokens, need_weights=False)[0]
        pooled = pooled + self.mlp(self.layernorm(pooled))
        return pooled[:, 0]
