"""The official I-JEPA multi-block mask collator (facebookresearch/ijepa, src/masks/multiblock.py, `MaskCollator`),
restated as plain functions: the per-sample Python loop that `bench_masking.py` measures our sampler against.

Kept as in the original, since it is what costs time: one block size per batch, then for every sample and every
block a rejection loop that draws a corner with `torch.randint`, paints an int32 H x W mask, multiplies it by the
acceptable regions and calls `torch.nonzero`; lists truncated to the batch minimum and `default_collate`d.
Changed without changing the algorithm: one `generator` drives every draw (the original seeds the block sizes per
step and draws positions from the global RNG), and no images are collated.
"""

import math

import torch
from torch.utils.data import default_collate


def sample_block_size(
    generator: torch.Generator, grid: tuple[int, int], scale: tuple[float, float], aspect: tuple[float, float]
) -> tuple[int, int]:
    """One uniform draw sets both the area fraction and the aspect ratio (height / width) of the block."""
    height, width = grid
    u = torch.rand(1, generator=generator).item()
    max_keep = int(height * width * (scale[0] + u * (scale[1] - scale[0])))
    ratio = aspect[0] + u * (aspect[1] - aspect[0])
    block_h = int(round(math.sqrt(max_keep * ratio)))
    block_w = int(round(math.sqrt(max_keep / ratio)))
    while block_h >= height:
        block_h -= 1
    while block_w >= width:
        block_w -= 1
    return block_h, block_w


def sample_block_mask(
    generator: torch.Generator,
    grid: tuple[int, int],
    size: tuple[int, int],
    min_keep: int,
    acceptable_regions: list[torch.Tensor] | None = None,
    timeout: int = 20,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token indices of one block (cut by the acceptable regions) and the int32 complement of the whole block.

    Corners are redrawn until more than `min_keep` tokens survive; every `timeout` failures the last region still
    in use is dropped."""
    height, width = grid
    block_h, block_w = size
    failures = dropped = 0
    while True:
        top = torch.randint(0, height - block_h, (1,), generator=generator)
        left = torch.randint(0, width - block_w, (1,), generator=generator)
        mask = torch.zeros(grid, dtype=torch.int32)
        mask[top : top + block_h, left : left + block_w] = 1
        if acceptable_regions is not None:
            for region in acceptable_regions[: max(len(acceptable_regions) - dropped, 0)]:
                mask *= region
        indices = torch.nonzero(mask.flatten())
        if len(indices) > min_keep:
            break
        failures += 1
        if failures == timeout:
            failures, dropped = 0, dropped + 1
    complement = torch.ones(grid, dtype=torch.int32)
    complement[top : top + block_h, left : left + block_w] = 0
    return indices.squeeze(), complement


def collate_masks(
    batch_size: int,
    generator: torch.Generator,
    grid_size: tuple[int, int] = (14, 14),
    num_targets: int = 4,
    target_scale: tuple[float, float] = (0.15, 0.2),
    target_aspect_ratio: tuple[float, float] = (0.75, 1.5),
    context_scale: tuple[float, float] = (0.85, 1.0),
    num_contexts: int = 1,
    min_keep: int = 10,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(context masks, target masks) as the official collator returns them: lists of `num_contexts` and
    `num_targets` int64 tensors [B, K] of token indices, K equalised to the shortest mask of the batch."""
    target_size = sample_block_size(generator, grid_size, target_scale, target_aspect_ratio)
    context_size = sample_block_size(generator, grid_size, context_scale, (1.0, 1.0))
    targets, contexts = [], []
    shortest_target = shortest_context = grid_size[0] * grid_size[1]
    for _ in range(batch_size):
        sample_targets, complements = [], []
        for _ in range(num_targets):
            indices, complement = sample_block_mask(generator, grid_size, target_size, min_keep)
            sample_targets.append(indices)
            complements.append(complement)
            shortest_target = min(shortest_target, len(indices))
        targets.append(sample_targets)
        sample_contexts = []
        for _ in range(num_contexts):  # the context avoids every target block of its sample
            indices, _ = sample_block_mask(
                generator, grid_size, context_size, min_keep, acceptable_regions=complements
            )
            sample_contexts.append(indices)
            shortest_context = min(shortest_context, len(indices))
        contexts.append(sample_contexts)
    targets = default_collate([[m[:shortest_target] for m in sample] for sample in targets])
    contexts = default_collate([[m[:shortest_context] for m in sample] for sample in contexts])
    return contexts, targets
