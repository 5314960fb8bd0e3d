"""A narrow transformer that predicts tokens at given positions from visible ones (I-JEPA predictor, MAE decoder)."""

import torch
import torch.nn as nn

from .configuration_ssl_vit import SSLViTConfig
from .position_embeddings import resize_table, sincos_table
from .vit import build_blocks, gather_tokens, rope_for_tokens


class MaskedTokenPredictor(nn.Module):
    """Embeds visible tokens, appends one mask token per target position, runs `depth` blocks and projects the
    mask tokens' outputs to `output_size`.

    Both the visible and the mask tokens get the predictor's own position of the patch they stand for (a fixed
    2-D / 3-D sin-cos table, or rotary embeddings in every block when the config uses RoPE), so what is predicted
    where is decided by `target_idx` alone.
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
        self.grid_size = config.token_grid_size
        self.hidden_size = hidden_size
        self.head_dim = hidden_size // num_attention_heads
        self.embed = nn.Linear(config.hidden_size, hidden_size)
        self.mask_tokens = nn.Parameter(torch.zeros(num_mask_tokens, hidden_size))
        if config.position_embedding_type == "rope":
            self.position_embeddings = None
        else:  # the official predictors and decoders use fixed tables, also behind a learned-position encoder
            self.register_buffer("position_embeddings", self.build_position_table(), persistent=False)
        self.layers = build_blocks(config, hidden_size, num_hidden_layers, num_attention_heads, int(hidden_size * 4))
        self.norm = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.proj = nn.Linear(hidden_size, output_size)

    @classmethod
    def for_latent_prediction(cls, config: SSLViTConfig, num_mask_tokens: int = 1) -> "MaskedTokenPredictor":
        """The JEPA predictor of a config with `predictor_hidden_size`, `predictor_num_hidden_layers` and
        `predictor_num_attention_heads`: it predicts encoder-width embeddings."""
        return cls(
            config,
            config.predictor_hidden_size,
            config.predictor_num_hidden_layers,
            config.predictor_num_attention_heads,
            output_size=config.hidden_size,
            num_mask_tokens=num_mask_tokens,
        )

    def build_position_table(self) -> torch.Tensor:
        return sincos_table(self.hidden_size, self.grid_size)

    def positions_for(self, grid_size: tuple[int, ...]) -> torch.Tensor:
        # The encoder already refused the grids it cannot take: whatever reaches the predictor is interpolated.
        return resize_table(self.position_embeddings, self.grid_size, grid_size, interpolate=True)

    def forward(
        self,
        context_tokens: torch.Tensor,
        context_idx: torch.Tensor,
        target_idx: torch.Tensor,
        mask_token_index: int = 0,
        grid_size: tuple[int, ...] | None = None,
        prefix_tokens: torch.Tensor | None = None,
        return_context: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """context_tokens [B, Kc, D_enc] at patches context_idx [B, Kc] -> predictions at target_idx.

        target_idx [B, Kt] gives [B, Kt, output]. target_idx [B, T, Kt] gives [B, T, Kt, output]: each of the T
        blocks is predicted in its own pass, seeing the context and its own mask tokens only (I-JEPA), batched as
        B * T sequences.

        `prefix_tokens` [B, P, D_enc] (e.g. the encoder's CLS token) join the sequence without a position, as MAE's
        decoder does. With `return_context=True` ([B, Kt] targets only) the outputs at the context positions are
        returned too, as `(context_out [B, Kc, output], target_out [B, Kt, output])`: MAE reconstructs every patch.
        """
        if return_context and target_idx.ndim != 2:
            raise ValueError("`return_context=True` needs `target_idx` of shape [batch, Kt].")
        batch, num_blocks = context_tokens.shape[0], (target_idx.shape[1] if target_idx.ndim == 3 else 0)
        grid = tuple(grid_size or self.grid_size)
        context = self.embed(context_tokens)  # [B, Kc, Dp]
        positions = None
        if self.position_embeddings is not None:
            positions = self.positions_for(grid).to(context.dtype).unsqueeze(0).expand(batch, -1, -1)
            context = context + gather_tokens(positions, context_idx)
        if num_blocks:  # repeat after embedding: the embedding of the context is the same for every block
            context = context.repeat_interleave(num_blocks, dim=0)  # [B * T, Kc, Dp]
            context_idx = context_idx.repeat_interleave(num_blocks, dim=0)
            positions = None if positions is None else positions.repeat_interleave(num_blocks, dim=0)
            target_idx = target_idx.flatten(0, 1)  # [B * T, Kt]
        queries = self.mask_tokens[mask_token_index].to(context.dtype).expand(*target_idx.shape, -1)
        if positions is not None:
            queries = queries + gather_tokens(positions, target_idx)
        rope = None
        if self.position_embeddings is None:  # rotary: each token rotated by the position of the patch it stands for
            grid3 = grid if len(grid) == 3 else (1, *grid)
            rope = rope_for_tokens(torch.cat([context_idx, target_idx], dim=1), grid3, self.head_dim)
        if prefix_tokens is not None:
            context = torch.cat([self.embed(prefix_tokens), context], dim=1)  # [B, P + Kc, Dp]
        hidden = torch.cat([context, queries], dim=1)  # [B(*T), (P +) Kc + Kt, Dp]
        # Attention is permutation-equivariant: the order of the sequence only has to be known to split it again.
        num_outputs = hidden.shape[1] - (0 if prefix_tokens is None else prefix_tokens.shape[1])
        if not return_context:
            num_outputs = queries.shape[1]
        for layer in self.layers[:-1]:
            hidden, _ = layer(hidden, rope=rope)
        if len(self.layers):  # outputs nobody reads (prefix, and context unless asked for) are not computed
            num_queries = None if num_outputs == hidden.shape[1] else num_outputs
            hidden, _ = self.layers[-1](hidden, num_queries=num_queries, rope=rope)
        else:
            hidden = hidden[:, hidden.shape[1] - num_outputs :]
        predictions = self.proj(self.norm(hidden))  # [B(*T), (Kc +) Kt, output]
        if return_context:
            return predictions[:, : context_idx.shape[1]], predictions[:, context_idx.shape[1] :]
        return predictions.unflatten(0, (batch, num_blocks)) if num_blocks else predictions
