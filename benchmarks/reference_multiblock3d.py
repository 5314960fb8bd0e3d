"""The official V-JEPA 3-D multi-block mask collator (facebookresearch/jepa, src/masks/multiblock3d.py, `MaskCollator`
and `_MaskGenerator`), restated as plain functions: the per-sample Python loop that `bench_masking_3d.py` measures
our sampler against.

Kept as in the original, since it is what costs time: per batch and mask set one block size (duration, height,
width) from three uniform draws; then for every sample a loop that, for each of the set's blocks, draws a top, left
and start with `torch.randint`, paints an int32 T x H x W mask of ones with the block zeroed (and every time step past
`max_temporal_keep` zeroed) and multiplies it into the sample's context mask; the target is `torch.argwhere` of the
zeros, the context `torch.nonzero` of the ones, and a sample whose blocks leave no context is drawn again. Lists are
truncated to the batch's shortest and `default_collate`d, per mask set.

Changed without changing the algorithm: one `generator` drives every draw (the original draws positions from the
global RNG, and block sizes from a generator seeded per step with a counter that every mask set advances once per
batch, so the sets of one batch share their three size draws: reproduced here by drawing them once per batch, see
`shared_size_draws`), `[K, 1] -> [K]` squeezes only the last dimension, the optional `max_keep` cap on the context
length (unset in the official configs) is left out, and no clips are collated.
"""

import math

import torch
from torch.utils.data import default_collate

# The official V-JEPA mask config: 8 short-range blocks of 15% of the frame and 2 long-range blocks of 70%, both over
# the whole clip, aspect ratio 0.75-1.5, context over every time step.
OFFICIAL_MASK_SETS = (
    dict(num_blocks=8, spatial_scale=(0.15, 0.15), temporal_scale=(1.0, 1.0), aspect_ratio=(0.75, 1.5)),
    dict(num_blocks=2, spatial_scale=(0.7, 0.7), temporal_scale=(1.0, 1.0), aspect_ratio=(0.75, 1.5)),
)


def block_size(
    grid: tuple[int, int, int],
    draws: tuple[float, float, float],
    temporal_scale: tuple[float, float],
    spatial_scale: tuple[float, float],
    aspect_ratio: tuple[float, float],
) -> tuple[int, int, int]:
    """(duration, height, width) of a block from three uniform draws, in Python arithmetic as officially: the first
    sets the duration, the second the area, the third the aspect ratio (height / width)."""
    duration, height, width = grid
    u_t, u_s, u_a = draws
    t = max(1, int(duration * (temporal_scale[0] + u_t * (temporal_scale[1] - temporal_scale[0]))))
    area = int(height * width * (spatial_scale[0] + u_s * (spatial_scale[1] - spatial_scale[0])))
    ratio = aspect_ratio[0] + u_a * (aspect_ratio[1] - aspect_ratio[0])
    h = int(round(math.sqrt(area * ratio)))
    w = int(round(math.sqrt(area / ratio)))
    return t, min(h, height), min(w, width)


def size_draws(generator: torch.Generator) -> tuple[float, float, float]:
    """The three uniform draws of a block size, one `torch.rand(1).item()` each."""
    return tuple(torch.rand(1, generator=generator).item() for _ in range(3))


def sample_block_mask(
    generator: torch.Generator, grid: tuple[int, int, int], size: tuple[int, int, int], context_duration: int
) -> torch.Tensor:
    """int32 T x H x W mask of ones with one block (top, left, start uniform over the positions where it fits) set
    to zero, and every time step from `context_duration` on."""
    duration, height, width = grid
    t, h, w = size
    top = torch.randint(0, height - h + 1, (1,), generator=generator)
    left = torch.randint(0, width - w + 1, (1,), generator=generator)
    start = torch.randint(0, duration - t + 1, (1,), generator=generator)
    mask = torch.ones(grid, dtype=torch.int32)
    mask[start : start + t, top : top + h, left : left + w] = 0
    if context_duration < duration:
        mask[context_duration:, :, :] = 0
    return mask


def sample_mask_set(
    batch_size: int,
    generator: torch.Generator,
    grid: tuple[int, int, int],
    draws: tuple[float, float, float],
    num_blocks: int,
    spatial_scale: tuple[float, float],
    temporal_scale: tuple[float, float] = (1.0, 1.0),
    aspect_ratio: tuple[float, float] = (0.75, 1.5),
    max_temporal_keep: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One mask set for a batch, as the official `_MaskGenerator.__call__`: context [B, Kc] and target [B, Kt] int64
    token indices (raster order over T x H x W), each truncated to the batch's shortest."""
    size = block_size(grid, draws, temporal_scale, spatial_scale, aspect_ratio)
    context_duration = max(1, int(grid[0] * max_temporal_keep))
    contexts, targets = [], []
    shortest_context = shortest_target = math.prod(grid)
    for _ in range(batch_size):
        while True:  # drawn again while the blocks leave no context
            kept = torch.ones(grid, dtype=torch.int32)
            for _ in range(num_blocks):
                kept *= sample_block_mask(generator, grid, size, context_duration)
            kept = kept.flatten()
            target = torch.argwhere(kept == 0).squeeze(1)
            context = torch.nonzero(kept).squeeze(1)
            if len(context) > 0:
                break
        shortest_target = min(shortest_target, len(target))
        shortest_context = min(shortest_context, len(context))
        targets.append(target)
        contexts.append(context)
    contexts = default_collate([c[:shortest_context] for c in contexts])
    targets = default_collate([t[:shortest_target] for t in targets])
    return contexts, targets


def collate_masks(
    batch_size: int,
    generator: torch.Generator,
    grid_size: tuple[int, int, int] = (8, 14, 14),
    mask_sets=OFFICIAL_MASK_SETS,
    shared_size_draws: bool = True,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(context masks, target masks) as the official collator returns them: one [B, Kc] and one [B, Kt] int64 tensor
    per mask set. With `shared_size_draws` every set uses the same three size draws of the batch, as the official
    per-step seeding gives; otherwise each set draws its own."""
    draws = size_draws(generator) if shared_size_draws else None
    contexts, targets = [], []
    for mask_set in mask_sets:
        set_draws = draws if shared_size_draws else size_draws(generator)
        context, target = sample_mask_set(batch_size, generator, tuple(grid_size), set_draws, **mask_set)
        contexts.append(context)
        targets.append(target)
    return contexts, targets
