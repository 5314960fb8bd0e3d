"""LeWorldModel's action encoder and its causal, action-conditioned predictor (a transformer over a short history of
frame embeddings whose blocks are modulated by the actions through AdaLN-zero, as in DiT)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .vit import Mlp


class ActionEncoder(nn.Module):
    """Per-step action MLP: [B, T, frameskip * action_dim] -> [B, T, embedding_size]. The official first layer is a
    kernel-1 Conv1d over time, i.e. the same linear map at every step: a Linear here."""

    def __init__(self, input_size: int, smoothed_size: int, embedding_size: int, mlp_ratio: int):
        super().__init__()
        self.input_size = input_size
        self.smooth = nn.Linear(input_size, smoothed_size)
        self.fc1 = nn.Linear(smoothed_size, mlp_ratio * embedding_size)
        self.act = nn.SiLU()
        self.fc2 = nn.Linear(mlp_ratio * embedding_size, embedding_size)

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        if actions.shape[-1] != self.input_size:
            raise ValueError(
                f"`actions` must have {self.input_size} numbers per step (frameskip x action_dim), got shape "
                f"{tuple(actions.shape)}."
            )
        return self.fc2(self.act(self.fc1(self.smooth(actions.float()))))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class CausalSelfAttention(nn.Module):
    """Pre-normed multi-head attention in which step t attends to steps <= t only (SDPA's causal mask). Its inner
    width (heads x head size) need not equal the model width, as officially (16 x 64 for a 192-wide model)."""

    def __init__(self, dim: int, num_heads: int, head_size: int, dropout: float, eps: float = 1e-5):
        super().__init__()
        self.num_heads, self.dropout = num_heads, dropout
        inner = num_heads * head_size
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.proj = nn.Linear(inner, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = x.shape
        qkv = self.qkv(self.norm(x)).reshape(batch, steps, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)  # [B, heads, T, head_size]
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(query, key, value, dropout_p=drop, is_causal=True)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(batch, steps, -1)))


class AdaLNZeroBlock(nn.Module):
    """Transformer block whose two branches are shifted, scaled and gated per step by the condition c (the action
    embedding). The modulation's last linear starts at zero: every gate is 0, so at init each block is the identity
    and the actions change nothing until training moves them in (DiT's AdaLN-zero)."""

    def __init__(self, dim: int, num_heads: int, head_size: int, intermediate_size: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = CausalSelfAttention(dim, num_heads, head_size, dropout)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        # The official feed-forward normalises its input again (a LayerNorm with affine) before the MLP.
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, intermediate_size)
        self.mlp_drop = nn.Dropout(dropout)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """x, condition [B, T, D] -> [B, T, D]."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(condition).chunk(6, dim=-1)
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1))
        mlp_in = self.mlp_norm(modulate(self.norm2(x), shift2, scale2))
        return x + gate2 * self.mlp_drop(self.mlp(mlp_in))


class ActionConditionedPredictor(nn.Module):
    """embeddings [B, T, D] and action embeddings [B, T, D] (T <= max_steps) -> [B, T, D]: output t is the
    prediction of the embedding num_preds steps after t, from steps <= t only."""

    def __init__(
        self,
        dim: int,
        max_steps: int,
        depth: int,
        num_heads: int,
        head_size: int,
        intermediate_size: int,
        dropout: float,
    ):
        super().__init__()
        self.max_steps = max_steps
        self.position_embeddings = nn.Parameter(torch.zeros(1, max_steps, dim))  # learned, per history step
        self.layers = nn.ModuleList(
            AdaLNZeroBlock(dim, num_heads, head_size, intermediate_size, dropout) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, embeddings: torch.Tensor, action_embeddings: torch.Tensor) -> torch.Tensor:
        steps = embeddings.shape[1]
        if steps > self.max_steps or action_embeddings.shape[:2] != embeddings.shape[:2]:
            raise ValueError(
                f"The predictor takes at most {self.max_steps} steps (config.history_size) of embeddings and one "
                f"action per step: got embeddings {tuple(embeddings.shape)}, actions {tuple(action_embeddings.shape)}."
            )
        x = embeddings + self.position_embeddings[:, :steps].to(embeddings.dtype)
        for layer in self.layers:
            x = layer(x, action_embeddings)
        return self.norm(x)


__all__ = ["ActionConditionedPredictor", "ActionEncoder", "AdaLNZeroBlock", "CausalSelfAttention"]
