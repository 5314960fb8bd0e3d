"""A narrow transformer that predicts tokens at given positions from visible ones (I-JEPA predictor, MAE decoder)."""

import torch
import torch.nn as nn

from .configuration_vit_ssl import SSLViTConfig
from .position_embeddings import resize_2d_table, sincos_2d
from .vit import build_blocks, gather_tokens


class MaskedTokenPredictor(nn.Module):
    """Embeds visible tokens, appends one mask token per target position, runs `depth` blocks and projects the
    mask tokens' outputs to `output_size`.

    Both the visible and the mask tokens get the predictor's own fixed sin-cos position of the patch they stand for,
    so what is predicted where is decided by `target_idx` alone.
    """

    def __init__(
        self,
        config: SSLViTConfig,
        hidden_size: int,
        num_hidden_layers: int,
        num_attention_heads: int,
        output_size: int,
        num_mask_tokens: int = 1,
    ):
        super().__init__()
        self.grid_size = config.grid_size
        self.hidden_size = hidden_size
        self.embed = nn.Linear(config.hidden_size, hidden_size)
        self.mask_tokens = nn.Parameter(torch.zeros(num_mask_tokens, hidden_size))
        self.register_buffer("position_embeddings", self.build_position_table(), persistent=False)
        self.layers = build_blocks(config, hidden_size, num_hidden_layers, num_attention_heads, int(hidden_size * 4))
        self.norm = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.proj = nn.Linear(hidden_size, output_size)

    def build_position_table(self) -> torch.Tensor:
        return sincos_2d(self.hidden_size, self.grid_size)

    def forward(
        self,
        context_tokens: torch.Tensor,
        context_idx: torch.Tensor,
        target_idx: torch.Tensor,
        mask_token_index: int = 0,
        grid_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """context_tokens [B, Kc, D_enc] at patches context_idx [B, Kc] -> predictions at target_idx.

        target_idx [B, Kt] gives [B, Kt, output]. target_idx [B, T, Kt] gives [B, T, Kt, output]: each of the T
        blocks is predicted in its own pass, seeing the context and its own mask tokens only (I-JEPA), batched as
        B * T sequences.
        """
        batch, num_blocks = context_tokens.shape[0], (target_idx.shape[1] if target_idx.ndim == 3 else 0)
        positions = resize_2d_table(self.position_embeddings, self.grid_size, grid_size or self.grid_size)
        positions = positions.to(context_tokens.dtype).unsqueeze(0).expand(batch, -1, -1)
        context = self.embed(context_tokens) + gather_tokens(positions, context_idx)  # [B, Kc, Dp]
        if num_blocks:  # repeat after embedding: the embedding of the context is the same for every block
            context = context.repeat_interleave(num_blocks, dim=0)  # [B * T, Kc, Dp]
            positions = positions.repeat_interleave(num_blocks, dim=0)
            target_idx = target_idx.flatten(0, 1)  # [B * T, Kt]
        queries = self.mask_tokens[mask_token_index].to(context.dtype) + gather_tokens(positions, target_idx)
        hidden = torch.cat([context, queries], dim=1)  # [B(*T), Kc + Kt, Dp]
        for layer in self.layers[:-1]:
            hidden = layer(hidden)
        if len(self.layers):  # only the mask tokens' outputs are read: the last block computes just those
            hidden = self.layers[-1](hidden, num_queries=queries.shape[1])
        else:
            hidden = hidden[:, context.shape[1] :]
        predictions = self.proj(self.norm(hidden))  # [B(*T), Kt, output]
        return predictions.unflatten(0, (batch, num_blocks)) if num_blocks else predictions
