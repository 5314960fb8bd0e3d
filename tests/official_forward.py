"""The official forward passes' building blocks restated in plain torch ops on checkpoint tensors: the independent
reference that the converter tests compare our converted models with."""

import re
from collections.abc import Callable

import torch
import torch.nn.functional as F


def layer_norm(x, state, name, eps=1e-6):
    return F.layer_norm(x, x.shape[-1:], state[f"{name}.weight"], state[f"{name}.bias"], eps)


def linear(x, state, name):
    return F.linear(x, state[f"{name}.weight"], state.get(f"{name}.bias"))


def gather(tokens, indices):
    return torch.gather(tokens, 1, indices.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def official_blocks(x, state, prefix: str, heads: int, rotate: Callable | None = None):
    """timm-style pre-norm blocks: fused qkv split as (3, heads, head_dim), `rotate` applied to q and k (V-JEPA 2's
    RoPE), explicit softmax attention, exact GELU."""
    batch, length, dim = x.shape
    depth = len({re.match(rf"{re.escape(prefix)}(\d+)\.", k).group(1) for k in state if k.startswith(prefix)})
    for i in range(depth):
        name = f"{prefix}{i}"
        qkv = linear(layer_norm(x, state, f"{name}.norm1"), state, f"{name}.attn.qkv")
        q, k, v = qkv.reshape(batch, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        if rotate is not None:
            q, k = rotate(q), rotate(k)
        attention = (q @ k.transpose(-2, -1) * (dim // heads) ** -0.5).softmax(dim=-1)
        x = x + linear((attention @ v).transpose(1, 2).reshape(batch, length, dim), state, f"{name}.attn.proj")
        hidden = F.gelu(linear(layer_norm(x, state, f"{name}.norm2"), state, f"{name}.mlp.fc1"))
        x = x + linear(hidden, state, f"{name}.mlp.fc2")
    return x


def assert_close(ours, official):
    torch.testing.assert_close(ours, official, atol=1e-5, rtol=1e-5)
