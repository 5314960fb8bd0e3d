"""The building blocks of the one Vision Transformer every method uses (timm's vocabulary, SDPA attention)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer

from .configuration_vit_ssl import SSLViTConfig, _as_pair
from .position_embeddings import resize_2d_table, sincos_2d


def gather_tokens(tokens: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """tokens [B, N, D], indices [B, K] (int64) -> [B, K, D]."""
    return torch.gather(tokens, 1, indices.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Attention(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=qkv_bias)
        self.proj = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: torch.Tensor, num_queries: int | None = None) -> torch.Tensor:
        """x [B, L, D] -> [B, L, D]; with `num_queries` only the last `num_queries` tokens query (all tokens still
        serve as keys and values) -> [B, num_queries, D]."""
        batch, length, dim = x.shape
        head_dim = dim // self.num_heads
        if num_queries is None:
            qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
            query, key, value = qkv.unbind(0)  # indexing would make backward build 3 zero-filled qkv-sized grads
        else:
            weight, bias = self.qkv.weight, self.qkv.bias
            query = F.linear(x[:, length - num_queries :], weight[:dim], None if bias is None else bias[:dim])
            query = query.reshape(batch, num_queries, self.num_heads, head_dim).transpose(1, 2)
            kv = F.linear(x, weight[dim:], None if bias is None else bias[dim:])
            kv = kv.reshape(batch, length, 2, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
            key, value = kv.unbind(0)
        out = F.scaled_dot_product_attention(query, key, value)  # [B, heads, queries, D/heads]
        return self.proj(out.transpose(1, 2).reshape(batch, query.shape[2], dim))


class Mlp(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int, hidden_act: str = "gelu"):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.act = ACT2FN[hidden_act]
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(GradientCheckpointingLayer):
    """Pre-norm block. `layer_id` (1-based) lets I-JEPA's init rescale the residual projections by depth."""

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        layer_id: int,
        qkv_bias: bool = True,
        hidden_act: str = "gelu",
        layer_norm_eps: float = 1e-6,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.layer_id = layer_id
        self.norm1 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.attn = Attention(hidden_size, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.mlp = Mlp(hidden_size, intermediate_size, hidden_act)
        self.drop_path = DropPath(drop_path)

    def forward(self, hidden_states: torch.Tensor, num_queries: int | None = None) -> torch.Tensor:
        """[B, L, D] -> [B, L, D], or only the last `num_queries` tokens' outputs [B, num_queries, D] (a last block
        whose other outputs nobody reads need not compute them)."""
        residual = hidden_states if num_queries is None else hidden_states[:, hidden_states.shape[1] - num_queries :]
        hidden_states = residual + self.drop_path(self.attn(self.norm1(hidden_states), num_queries))
        return hidden_states + self.drop_path(self.mlp(self.norm2(hidden_states)))


def build_blocks(
    config: SSLViTConfig, hidden_size: int, depth: int, num_heads: int, intermediate_size: int
) -> nn.ModuleList:
    """`depth` blocks with drop-path rising linearly from 0 to `config.drop_path_rate`."""
    rates = torch.linspace(0, config.drop_path_rate, depth).tolist() if depth else []
    return nn.ModuleList(
        TransformerBlock(
            hidden_size,
            num_heads,
            intermediate_size,
            layer_id=i + 1,
            qkv_bias=config.qkv_bias,
            hidden_act=config.hidden_act,
            layer_norm_eps=config.layer_norm_eps,
            drop_path=rates[i],
        )
        for i in range(depth)
    )


class PatchEmbeddings(nn.Module):
    """Non-overlapping patches -> tokens: [B, C, H, W] -> [B, (H/p)(W/p), D]."""

    def __init__(self, num_channels: int, hidden_size: int, patch_size: tuple[int, int]):
        super().__init__()
        self.num_channels = num_channels
        self.patch_size = patch_size
        self.projection = nn.Conv2d(num_channels, hidden_size, kernel_size=patch_size, stride=patch_size)

    def grid_size(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        return (pixel_values.shape[-2] // self.patch_size[0], pixel_values.shape[-1] // self.patch_size[1])

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        self.validate(pixel_values)
        return self.projection(pixel_values).flatten(2).transpose(1, 2)

    def validate(self, pixel_values: torch.Tensor) -> None:
        """Clear errors for the wrong rank, channel count or a size that is not a multiple of the patch."""
        if pixel_values.ndim != 4:
            raise ValueError(
                f"`pixel_values` must be a 4-D tensor [batch, channels, height, width], got shape "
                f"{tuple(pixel_values.shape)}."
            )
        if pixel_values.shape[1] != self.num_channels:
            raise ValueError(
                f"`pixel_values` has {pixel_values.shape[1]} channels but the model expects {self.num_channels} "
                f"(config.num_channels); convert the images (e.g. to RGB) with the model's image processor."
            )
        height, width = pixel_values.shape[-2:]
        if height % self.patch_size[0] or width % self.patch_size[1]:
            raise ValueError(
                f"`pixel_values` of size {height}x{width} is not a multiple of the patch size {self.patch_size}."
            )


class ViTEmbeddings(nn.Module):
    """Patch tokens + fixed sin-cos positions, optional token dropping, then CLS/register tokens in front."""

    def __init__(self, config: SSLViTConfig):
        super().__init__()
        self.config = config
        self.grid_size = config.grid_size
        self.patch_embeddings = PatchEmbeddings(
            config.num_channels, config.hidden_size, _as_pair(config.patch_size, "patch_size")
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size)) if config.use_cls_token else None
        self.register_tokens = (
            nn.Parameter(torch.zeros(1, config.num_register_tokens, config.hidden_size))
            if config.num_register_tokens
            else None
        )
        # Fixed, so not saved: _init_weights recomputes it, also after loading on the meta device.
        self.register_buffer("position_embeddings", self.build_position_table(), persistent=False)

    def build_position_table(self) -> torch.Tensor:
        return sincos_2d(self.config.hidden_size, self.grid_size)

    def positions_for(self, grid_size: tuple[int, int], interpolate_pos_encoding: bool) -> torch.Tensor:
        if tuple(grid_size) != tuple(self.grid_size) and not interpolate_pos_encoding:
            size = tuple(g * p for g, p in zip(self.grid_size, self.patch_embeddings.patch_size))
            raise ValueError(
                f"`pixel_values` gives a {grid_size} patch grid but the model was built for {self.grid_size} "
                f"(images of {size[0]}x{size[1]}); resize with the image processor or pass "
                f"`interpolate_pos_encoding=True`."
            )
        return resize_2d_table(self.position_embeddings, self.grid_size, grid_size)

    def forward(
        self,
        pixel_values: torch.Tensor,
        keep_indices: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
    ) -> torch.Tensor:
        tokens = self.patch_embeddings(pixel_values)  # [B, N, D]
        positions = self.positions_for(self.patch_embeddings.grid_size(pixel_values), interpolate_pos_encoding)
        tokens = tokens + positions.to(tokens.dtype)
        if keep_indices is not None:
            tokens = gather_tokens(tokens, keep_indices)  # [B, K, D]: dropped tokens are never computed on
        prefix = [t for t in (self.cls_token, self.register_tokens) if t is not None]
        if prefix:
            batch = tokens.shape[0]
            tokens = torch.cat([t.expand(batch, -1, -1).to(tokens.dtype) for t in prefix] + [tokens], dim=1)
        return tokens
