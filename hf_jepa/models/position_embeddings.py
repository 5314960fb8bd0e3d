"""Fixed sin-cos position tables (the MAE / I-JEPA convention) and their resizing."""

import torch
import torch.nn.functional as F


def sincos_1d(embed_dim: int, positions: torch.Tensor) -> torch.Tensor:
    """[M] positions -> [M, embed_dim]: first half sines, second half cosines, computed in float64."""
    if embed_dim % 2:
        raise ValueError(f"sin-cos embeddings need an even width, got {embed_dim}.")
    omega = torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sincos_2d(embed_dim: int, grid_size: tuple[int, int]) -> torch.Tensor:
    """Table for a (height, width) grid in raster order -> [height * width, embed_dim] float32.

    As in the official MAE/I-JEPA code the first half of the channels encodes the column and the second half the
    row, so tables (and exported checkpoints) agree with theirs value for value.
    """
    if embed_dim % 4:
        raise ValueError(f"2-D sin-cos embeddings need a width divisible by 4, got {embed_dim}.")
    height, width = grid_size
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    table = torch.cat([sincos_1d(embed_dim // 2, cols.flatten()), sincos_1d(embed_dim // 2, rows.flatten())], dim=1)
    return table.float()


def resize_2d_table(table: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of a [old_h * old_w, D] table to [new_h * new_w, D] (as DINO and transformers do)."""
    if tuple(old_grid) == tuple(new_grid):
        return table
    dim = table.shape[-1]
    grid = table.reshape(1, old_grid[0], old_grid[1], dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=tuple(new_grid), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(new_grid[0] * new_grid[1], dim).to(table.dtype)
