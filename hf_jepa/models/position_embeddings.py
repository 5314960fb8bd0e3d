"""Position information: fixed sin-cos tables (2-D as in MAE / I-JEPA, 3-D as in V-JEPA), their resizing, and 3-D
rotary embeddings (V-JEPA 2)."""

import math

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


def sincos_3d(embed_dim: int, grid_size: tuple[int, int, int]) -> torch.Tensor:
    """Table for a (time, height, width) token grid in raster order -> [T * H * W, embed_dim] float32.

    The V-JEPA convention ("uniform power"): three blocks [time | row | column], each `2 * ceil(D / 6)` channels of
    [sin | cos], concatenated and cut to `embed_dim` (so at some widths the column block loses its last channels).
    """
    if embed_dim % 2:
        raise ValueError(f"3-D sin-cos embeddings need an even width, got {embed_dim}.")
    block = 2 * math.ceil(embed_dim / 6)
    frames, height, width = grid_size
    t, h, w = torch.meshgrid(torch.arange(frames), torch.arange(height), torch.arange(width), indexing="ij")
    table = torch.cat([sincos_1d(block, axis.flatten()) for axis in (t, h, w)], dim=1)
    return table[:, :embed_dim].float()


def resize_3d_table(
    table: torch.Tensor, old_grid: tuple[int, int, int], new_grid: tuple[int, int, int], interpolate: bool
) -> torch.Tensor:
    """A [T * H * W, D] table for another token grid. A shorter clip at the same frame size takes the first time
    steps (its frames keep their positions: a single image is time step 0); anything else is resized trilinearly,
    as the official V-JEPA code does, when `interpolate` is set."""
    if tuple(old_grid) == tuple(new_grid):
        return table
    frames, height, width = new_grid
    if frames <= old_grid[0] and (height, width) == tuple(old_grid[1:]):
        return table[: frames * height * width]
    if not interpolate:
        raise ValueError(
            f"the input gives a {tuple(new_grid)} (time, height, width) token grid but the model was built for "
            f"{tuple(old_grid)}; resize the clip with the video processor or pass `interpolate_pos_encoding=True`."
        )
    dim = table.shape[-1]
    grid = table.reshape(1, *old_grid, dim).permute(0, 4, 1, 2, 3)
    grid = F.interpolate(grid.float(), size=tuple(new_grid), mode="trilinear", align_corners=False)
    return grid.permute(0, 2, 3, 4, 1).reshape(-1, dim).to(table.dtype)


def sincos_table(embed_dim: int, grid_size: tuple[int, ...]) -> torch.Tensor:
    """The fixed table of a (height, width) patch grid (2-D, MAE / I-JEPA) or a (time, height, width) token grid (3-D,
    V-JEPA): [prod(grid_size), embed_dim] float32. One helper for encoders and predictors."""
    return sincos_3d(embed_dim, grid_size) if len(grid_size) == 3 else sincos_2d(embed_dim, grid_size)


def resize_table(
    table: torch.Tensor, old_grid: tuple[int, ...], new_grid: tuple[int, ...], interpolate: bool
) -> torch.Tensor:
    """A [prod(old_grid), D] table for another grid: unchanged for the same grid; 2-D tables are resized bicubically,
    3-D ones as `resize_3d_table` does (which needs `interpolate` for anything but a shorter clip)."""
    if len(new_grid) == 3:
        return resize_3d_table(table, old_grid, new_grid, interpolate)
    return resize_2d_table(table, old_grid, new_grid)


def token_coordinates(token_ids: torch.Tensor, grid_size: tuple[int, int, int]) -> torch.Tensor:
    """Raster-order token ids [...] of a (time, height, width) grid -> their (t, row, column) [..., 3].

    Looked up in a table of every token's coordinates rather than computed with `//` and `%`: with symbolic grid
    sizes (a dynamic-shape ONNX export) the remainder by a symbolic size has no ONNX translation."""
    axes = [torch.arange(size, device=token_ids.device) for size in grid_size]
    table = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)  # [T * H * W, 3]
    return table[token_ids]


def rope_tables(coordinates: torch.Tensor, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos / sin tables [..., head_dim] for 3-D rotary embeddings at (t, row, column) `coordinates` [..., 3].

    V-JEPA 2's layout: each head's channels are [time | row | column | rest], the three rotated blocks
    `d = 2 * ((head_dim // 3) // 2)` wide, the rest unrotated (cos 1, sin 0). In a block, angle k is
    `pos / 10000 ** (k / (d / 2))` for k < d / 2, and the d / 2 angles are *tiled* twice across the block while the
    rotation pairs adjacent channels (see `apply_rope`): an odd pairing the released weights depend on, kept as is.
    """
    block = 2 * ((head_dim // 3) // 2)
    if block < 2:
        raise ValueError(f"3-D rotary embeddings need a head dimension of at least 6, got {head_dim}.")
    omega = 1.0 / 10000 ** (torch.arange(block // 2, dtype=torch.float64, device=coordinates.device) / (block / 2))
    angles = coordinates.to(torch.float64).unsqueeze(-1) * omega  # [..., 3, d/2]
    angles = torch.cat([angles, angles], dim=-1).flatten(-2)  # tiled per block: [..., 3 * d]
    rest = head_dim - 3 * block
    cos = F.pad(angles.cos(), (0, rest), value=1.0)
    sin = F.pad(angles.sin(), (0, rest), value=0.0)
    return cos.float(), sin.float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys x [..., head_dim]: `x * cos + swap(x) * sin`, swap(x) = (-x1, x0, -x3, x2, ...)."""
    pairs = x.unflatten(-1, (-1, 2))
    swapped = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return x * cos.to(x.dtype) + swapped * sin.to(x.dtype)
