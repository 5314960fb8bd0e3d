"""The official I-JEPA training step (facebookresearch/ijepa: src/models/vision_transformer.py, src/train.py),
restated compactly as the baseline `bench_ijepa_vs_official.py` times our model against in the same run.

What costs time is kept as in the original: a timm-style ViT whose attention is computed explicitly
(`softmax(q @ k^T * scale) @ v`), masks applied by gathering once per mask and concatenating along the batch, the
predictor embedding the context, then running every block over context and mask tokens of each target block,
`torch.optim.AdamW` (its default implementation) and the EMA update as a Python loop over parameters.
Left out because it does not change the step's cost: drop-path (0 in the official configs), weight init, logging.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from hf_jepa.models.position_embeddings import sincos_2d


def apply_masks(x: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """x [B, N, D], masks: list of [B, K] -> [len(masks) * B, K, D], mask-major."""
    return torch.cat([torch.gather(x, 1, m.unsqueeze(-1).expand(-1, -1, x.shape[-1])) for m in masks], dim=0)


def repeat_interleave_batch(x: torch.Tensor, batch: int, repeat: int) -> torch.Tensor:
    chunks = len(x) // batch
    return torch.cat([torch.cat([x[i * batch : (i + 1) * batch]] * repeat, dim=0) for i in range(chunks)], dim=0)


class EagerAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), EagerAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Encoder(nn.Module):
    def __init__(self, image_size: int, patch: int, dim: int, depth: int, heads: int):
        super().__init__()
        grid = image_size // patch
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.pos_embed = nn.Parameter(sincos_2d(dim, (grid, grid))[None], requires_grad=False)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x, masks=None):
        x = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        if masks is not None:
            x = apply_masks(x, masks)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class Predictor(nn.Module):
    def __init__(self, grid: int, dim: int, pred_dim: int, depth: int, heads: int):
        super().__init__()
        self.predictor_embed = nn.Linear(dim, pred_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, pred_dim))
        self.pos_embed = nn.Parameter(sincos_2d(pred_dim, (grid, grid))[None], requires_grad=False)
        self.blocks = nn.ModuleList(Block(pred_dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(pred_dim, eps=1e-6)
        self.predictor_proj = nn.Linear(pred_dim, dim)

    def forward(self, x, masks_x, masks):
        batch = len(x) // len(masks_x)
        x = self.predictor_embed(x)
        x = x + apply_masks(self.pos_embed.repeat(batch, 1, 1), masks_x)
        context_len = x.shape[1]
        pos = repeat_interleave_batch(apply_masks(self.pos_embed.repeat(batch, 1, 1), masks), batch, len(masks_x))
        tokens = self.mask_token.repeat(pos.shape[0], pos.shape[1], 1) + pos
        x = torch.cat([x.repeat(len(masks), 1, 1), tokens], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.predictor_proj(self.norm(x)[:, context_len:])


class OfficialIJepaStep:
    """encoder, predictor, EMA target encoder and optimizer; `__call__(images, masks_enc, masks_pred)` is one step."""

    def __init__(self, image_size, patch, dim, depth, heads, pred_dim, pred_depth, momentum=0.996, device="cpu"):
        self.encoder = Encoder(image_size, patch, dim, depth, heads).to(device)
        self.predictor = Predictor(image_size // patch, dim, pred_dim, pred_depth, heads).to(device)
        self.target_encoder = Encoder(image_size, patch, dim, depth, heads).to(device)
        self.target_encoder.load_state_dict(self.encoder.state_dict())
        self.target_encoder.requires_grad_(False)
        params = [p for m in (self.encoder, self.predictor) for p in m.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in params if p.ndim > 1]},
                {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0},
            ],
            lr=1e-4,
            weight_decay=0.04,
        )
        self.momentum = momentum

    def __call__(self, images, masks_enc, masks_pred):
        with torch.no_grad():
            h = self.target_encoder(images)
            h = F.layer_norm(h, (h.size(-1),))
            h = repeat_interleave_batch(apply_masks(h, masks_pred), len(images), repeat=len(masks_enc))
        z = self.predictor(self.encoder(images, masks_enc), masks_enc, masks_pred)
        loss = F.smooth_l1_loss(z, h)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        with torch.no_grad():
            for online, target in zip(self.encoder.parameters(), self.target_encoder.parameters()):
                target.data.mul_(self.momentum).add_((1.0 - self.momentum) * online.detach().data)
        return loss


def parameter_count(step: OfficialIJepaStep) -> int:
    return sum(math.prod(p.shape) for m in (step.encoder, step.predictor) for p in m.parameters())
