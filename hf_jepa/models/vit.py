"""The building blocks of the one Vision Transformer every method uses (timm's vocabulary, SDPA attention)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer

from .configuration_ssl_vit import SSLViTConfig
from .position_embeddings import apply_rope, resize_table, rope_tables, sincos_table, token_coordinates

Rope = tuple[torch.Tensor, torch.Tensor]  # cos, sin [B or 1, 1, L, head_dim] for the L tokens of a sequence


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


def eager_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor):
    """softmax(q k^T / sqrt(d)) v with the weights returned: [B, h, Lq, d], [B, h, L, d] -> out [B, h, Lq, d], weights
    [B, h, Lq, L]. The softmax runs in float32, as transformers' eager attention."""
    scores = torch.matmul(query, key.transpose(-2, -1)) * query.shape[-1] ** -0.5
    weights = scores.softmax(dim=-1, dtype=torch.float32).to(query.dtype)
    return torch.matmul(weights, value), weights


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection. `F.scaled_dot_product_attention` unless the config asks
    for `attn_implementation="eager"` or the caller wants the attention weights (SDPA does not return them)."""

    def __init__(self, config: SSLViTConfig, hidden_size: int, num_heads: int):
        super().__init__()
        self.config = config  # read at call time: `set_attn_implementation` changes it on the shared config
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(hidden_size, hidden_size)

    def forward(
        self,
        x: torch.Tensor,
        num_queries: int | None = None,
        rope: Rope | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [B, L, D] -> ([B, L, D], weights [B, heads, L, L] or None); with `num_queries` only the last
        `num_queries` tokens query (all tokens still serve as keys and values) -> [B, num_queries, D]. `rope` rotates
        queries and keys (not values)."""
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
        if rope is not None:
            cos, sin = rope
            query = apply_rope(query, cos[..., length - query.shape[2] :, :], sin[..., length - query.shape[2] :, :])
            key = apply_rope(key, cos, sin)
        weights = None
        if output_attentions or self.config._attn_implementation == "eager":
            out, weights = eager_attention(query, key, value)
        else:
            out = F.scaled_dot_product_attention(query, key, value)  # [B, heads, queries, D/heads]
        out = self.proj(out.transpose(1, 2).reshape(batch, query.shape[2], dim))
        return out, (weights if output_attentions else None)


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
        config: SSLViTConfig,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        layer_id: int,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.layer_id = layer_id
        self.norm1 = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.attn = Attention(config, hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.mlp = Mlp(hidden_size, intermediate_size, config.hidden_act)
        self.drop_path = DropPath(drop_path)

    def forward(
        self,
        hidden_states: torch.Tensor,
        num_queries: int | None = None,
        rope: Rope | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[B, L, D] -> ([B, L, D], attention weights or None), or only the last `num_queries` tokens' outputs
        [B, num_queries, D] (a last block whose other outputs nobody reads need not compute them)."""
        residual = hidden_states if num_queries is None else hidden_states[:, hidden_states.shape[1] - num_queries :]
        attended, weights = self.attn(self.norm1(hidden_states), num_queries, rope, output_attentions)
        hidden_states = residual + self.drop_path(attended)
        return hidden_states + self.drop_path(self.mlp(self.norm2(hidden_states))), weights


def drop_path_rates(max_rate: float, depth: int) -> list[float]:
    """Stochastic depth rising linearly from 0 to `max_rate` over `depth` blocks (plain Python: it must also run
    while a model is built on the meta device)."""
    return [max_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]


def build_blocks(
    config: SSLViTConfig, hidden_size: int, depth: int, num_heads: int, intermediate_size: int
) -> nn.ModuleList:
    """`depth` blocks with drop-path rising linearly from 0 to `config.drop_path_rate`."""
    return nn.ModuleList(
        TransformerBlock(config, hidden_size, num_heads, intermediate_size, layer_id=i + 1, drop_path=rate)
        for i, rate in enumerate(drop_path_rates(config.drop_path_rate, depth))
    )


class PatchEmbeddings(nn.Module):
    """Non-overlapping patches -> tokens in raster order. Images: [B, C, H, W] -> [B, (H/p)(W/p), D]. With
    `tubelet_size` (a video model): clips [B, T, C, H, W] -> [B, (T/t)(H/p)(W/p), D] through 3-D tubelets; an image
    is a one-frame clip, its frame repeated over the tubelet."""

    def __init__(
        self, num_channels: int, hidden_size: int, patch_size: tuple[int, int], tubelet_size: int | None = None
    ):
        super().__init__()
        self.num_channels = num_channels
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        if tubelet_size is None:
            self.projection = nn.Conv2d(num_channels, hidden_size, kernel_size=patch_size, stride=patch_size)
        else:
            kernel = (tubelet_size, *patch_size)
            self.projection = nn.Conv3d(num_channels, hidden_size, kernel_size=kernel, stride=kernel)

    def grid_size(self, pixel_values: torch.Tensor) -> tuple[int, ...]:
        """(height, width) patches of an image model; (time, height, width) tokens of a video model."""
        spatial = (pixel_values.shape[-2] // self.patch_size[0], pixel_values.shape[-1] // self.patch_size[1])
        if self.tubelet_size is None:
            return spatial
        frames = pixel_values.shape[1] if pixel_values.ndim == 5 else 1
        return (max(frames // self.tubelet_size, 1), *spatial)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        self.validate(pixel_values)
        if self.tubelet_size is not None:
            if pixel_values.ndim == 4:
                pixel_values = pixel_values.unsqueeze(1)
            if pixel_values.shape[1] == 1:
                pixel_values = pixel_values.expand(-1, self.tubelet_size, -1, -1, -1)
            pixel_values = pixel_values.transpose(1, 2)  # [B, C, T, H, W]
        return self.projection(pixel_values).flatten(2).transpose(1, 2)

    def validate(self, pixel_values: torch.Tensor) -> None:
        """Clear errors for the wrong rank, channel count or a size that is not a multiple of the patch."""
        video = self.tubelet_size is not None
        name = "pixel_values_videos" if video and pixel_values.ndim == 5 else "pixel_values"
        if pixel_values.ndim != 4 and not (video and pixel_values.ndim == 5):
            expected = "[batch, channels, height, width]"
            expected = f"[batch, frames, channels, height, width] or {expected}" if video else f"4-D {expected}"
            raise ValueError(f"`{name}` must be a tensor of shape {expected}, got shape {tuple(pixel_values.shape)}.")
        channels = pixel_values.shape[-3]
        if channels != self.num_channels:
            raise ValueError(
                f"`{name}` has {channels} channels but the model expects {self.num_channels} "
                f"(config.num_channels); convert the inputs (e.g. to RGB) with the model's processor."
            )
        if (
            video
            and pixel_values.ndim == 5
            and pixel_values.shape[1] > 1
            and pixel_values.shape[1] % self.tubelet_size
        ):
            raise ValueError(
                f"`{name}` has {pixel_values.shape[1]} frames, not a multiple of the tubelet size "
                f"{self.tubelet_size} (config.tubelet_size)."
            )
        height, width = pixel_values.shape[-2:]
        if height % self.patch_size[0] or width % self.patch_size[1]:
            raise ValueError(
                f"`{name}` of size {height}x{width} is not a multiple of the patch size {self.patch_size}."
            )


class ViTEmbeddings(nn.Module):
    """Patch tokens + positions (fixed sin-cos, learned, or none for rotary models), optional token dropping, then
    CLS/register tokens in front."""

    def __init__(self, config: SSLViTConfig):
        super().__init__()
        self.config = config
        self.grid_size = config.token_grid_size
        self.patch_embeddings = PatchEmbeddings(
            config.num_channels,
            config.hidden_size,
            config.patch_shape,
            tubelet_size=config.tubelet_size if config.is_video else None,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size)) if config.use_cls_token else None
        self.register_tokens = (
            nn.Parameter(torch.zeros(1, config.num_register_tokens, config.hidden_size))
            if config.num_register_tokens
            else None
        )
        if config.position_embedding_type == "learned":
            self.position_embeddings = nn.Parameter(self.build_position_table())
        elif config.position_embedding_type == "sincos":
            # Fixed, so not saved: _init_weights recomputes it, also after loading on the meta device.
            self.register_buffer("position_embeddings", self.build_position_table(), persistent=False)
        else:  # rotary: positions enter in every attention layer
            self.position_embeddings = None

    def build_position_table(self) -> torch.Tensor:
        return sincos_table(self.config.hidden_size, self.grid_size)

    def positions_for(self, grid_size: tuple[int, ...], interpolate_pos_encoding: bool) -> torch.Tensor:
        if len(grid_size) == 2 and tuple(grid_size) != tuple(self.grid_size) and not interpolate_pos_encoding:
            size = tuple(g * p for g, p in zip(self.grid_size, self.patch_embeddings.patch_size))
            raise ValueError(
                f"`pixel_values` gives a {grid_size} patch grid but the model was built for {self.grid_size} "
                f"(images of {size[0]}x{size[1]}); resize with the image processor or pass "
                f"`interpolate_pos_encoding=True`."
            )
        return resize_table(self.position_embeddings, self.grid_size, grid_size, interpolate_pos_encoding)

    def rope(self, grid_size: tuple[int, ...], keep_indices: torch.Tensor | None, device) -> Rope | None:
        """Rotary tables for the encoded tokens (all, or `keep_indices` [B, K]); None without rotary positions."""
        if self.position_embeddings is not None or self.config.position_embedding_type != "rope":
            return None
        grid = tuple(grid_size) if len(grid_size) == 3 else (1, *grid_size)
        ids = torch.arange(math.prod(grid), device=device) if keep_indices is None else keep_indices
        return rope_for_tokens(ids, grid, self.config.hidden_size // self.config.num_attention_heads)

    def forward(
        self,
        pixel_values: torch.Tensor,
        keep_indices: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
    ) -> torch.Tensor:
        tokens = self.patch_embeddings(pixel_values)  # [B, N, D]
        if self.position_embeddings is not None:
            grid = self.patch_embeddings.grid_size(pixel_values)
            tokens = tokens + self.positions_for(grid, interpolate_pos_encoding).to(tokens.dtype)
        if keep_indices is not None:
            tokens = gather_tokens(tokens, keep_indices)  # [B, K, D]: dropped tokens are never computed on
        prefix = [t for t in (self.cls_token, self.register_tokens) if t is not None]
        if prefix:
            batch = tokens.shape[0]
            tokens = torch.cat([t.expand(batch, -1, -1).to(tokens.dtype) for t in prefix] + [tokens], dim=1)
        return tokens


def rope_for_tokens(token_ids: torch.Tensor, grid_size: tuple[int, int, int], head_dim: int) -> Rope:
    """Rotary tables for raster-order token ids [L] or [B, L] of a (time, height, width) grid, shaped to broadcast
    over attention heads: [1 or B, 1, L, head_dim]."""
    cos, sin = rope_tables(token_coordinates(token_ids, grid_size), head_dim)
    if token_ids.ndim == 1:
        cos, sin = cos.unsqueeze(0), sin.unsqueeze(0)
    return cos.unsqueeze(1), sin.unsqueeze(1)
