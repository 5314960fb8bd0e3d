"""Images as rows of patch pixels: MAE's reconstruction targets, and I-JEPA's pixel-target ablation."""

import torch

# Official MAE's epsilon in the per-patch target normalisation.
_NORM_PIX_EPS = 1e-6


def patchify(pixel_values: torch.Tensor, patch_size: tuple[int, int]) -> torch.Tensor:
    """[B, C, H, W] -> [B, (H/p)(W/p), p*p*C] in raster order, pixels within a patch as (row, column, channel)."""
    batch, channels, height, width = pixel_values.shape
    (ph, pw), (gh, gw) = patch_size, (height // patch_size[0], width // patch_size[1])
    patches = pixel_values.reshape(batch, channels, gh, ph, gw, pw).permute(0, 2, 4, 3, 5, 1)
    return patches.reshape(batch, gh * gw, ph * pw * channels)


def unpatchify(patches: torch.Tensor, patch_size: tuple[int, int], grid_size: tuple[int, int]) -> torch.Tensor:
    """Inverse of `patchify`: [B, gh*gw, p*p*C] -> [B, C, gh*p, gw*p]."""
    batch = patches.shape[0]
    (ph, pw), (gh, gw) = patch_size, grid_size
    channels = patches.shape[-1] // (ph * pw)
    images = patches.reshape(batch, gh, gw, ph, pw, channels).permute(0, 5, 1, 3, 2, 4)
    return images.reshape(batch, channels, gh * ph, gw * pw)


def normalize_patches(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-patch standardisation of MAE's `norm_pix_loss` -> (normalised, mean, std), stats over the last dim
    (unbiased variance, as the official code)."""
    mean = patches.mean(dim=-1, keepdim=True)
    std = (patches.var(dim=-1, keepdim=True) + _NORM_PIX_EPS) ** 0.5
    return (patches - mean) / std, mean, std


__all__ = ["normalize_patches", "patchify", "unpatchify"]
