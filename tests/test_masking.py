"""Invariants of the on-device mask samplers, over many seeds."""

import math

import pytest
import torch

from hf_jepa import MultiBlockMaskGenerator, RandomMaskGenerator
from hf_jepa.models.masking import first_true_indices

SEEDS = range(40)


def _block_extent(mask: torch.Tensor):
    """(rows, cols) spanned by a boolean [H, W] mask, and whether it is a full rectangle."""
    rows = mask.any(1).nonzero().flatten()
    cols = mask.any(0).nonzero().flatten()
    height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
    return height, width, int(mask.sum()) == height * width


@pytest.mark.parametrize("grid", [(14, 14), (8, 8), (10, 16)])
def test_multiblock_invariants(grid):
    gen = MultiBlockMaskGenerator(grid_size=grid, min_keep=4 if min(grid) < 14 else 10)
    num_patches = grid[0] * grid[1]
    for seed in SEEDS:
        context_idx, target_idx = gen(16, generator=torch.Generator().manual_seed(seed))
        assert context_idx.dtype == torch.int64 and target_idx.dtype == torch.int64
        assert context_idx.ndim == 2 and context_idx.shape[0] == 16
        assert target_idx.shape[:2] == (16, gen.num_targets)
        assert context_idx.shape[1] > gen.min_keep
        for b in range(16):
            ctx = context_idx[b]
            assert ctx.min() >= 0 and ctx.max() < num_patches
            assert ctx.unique().numel() == ctx.numel()  # unique indices
            assert bool((ctx[1:] > ctx[:-1]).all())  # ascending, as from nonzero()
            for t in range(gen.num_targets):
                tgt = target_idx[b, t]
                assert tgt.unique().numel() == tgt.numel() and tgt.max() < num_patches
                assert not bool(torch.isin(ctx, tgt).any()), "context overlaps a target"


def test_blocks_have_official_scale_and_aspect_before_equalisation():
    grid = (14, 14)
    gen = MultiBlockMaskGenerator(grid_size=grid)
    official_sizes = set()
    for i in range(10001):
        u = i / 10000
        keep = int(196 * (0.15 + u * 0.05))
        ar = 0.75 + u * 0.75
        official_sizes.add((min(round(math.sqrt(keep * ar)), 13), min(round(math.sqrt(keep / ar)), 13)))
    for seed in SEEDS:
        context, targets = gen.sample_block_masks(8, generator=torch.Generator().manual_seed(seed))
        sizes = {_block_extent(targets[b, t])[:2] for b in range(8) for t in range(gen.num_targets)}
        assert len(sizes) == 1, "target block size must be shared by the whole batch"
        ((height, width),) = sizes
        for b in range(8):
            for t in range(gen.num_targets):
                assert _block_extent(targets[b, t])[2], "a target is not a rectangle"
        # The official size: keep = int(N * s), h = round(sqrt(keep * ar)), w = round(sqrt(keep / ar)) with one
        # uniform draw setting both s in [0.15, 0.2] and ar in [0.75, 1.5]: the block must be one of those sizes.
        assert (height, width) in official_sizes
        # Context: a square block of scale 0.85-1 (clamped below the grid) minus the targets, > min_keep tokens.
        for b in range(8):
            assert not bool((context[b] & targets[b].any(0)).any())
            assert int(context[b].sum()) > gen.min_keep


def test_block_size_matches_official_formula():
    """The device computation of the block size equals the reference's Python arithmetic for many draws."""
    gen = MultiBlockMaskGenerator(grid_size=(14, 14))
    draws = torch.rand(2000, dtype=torch.float64)
    heights, widths = gen._block_size(draws, gen.target_scale, gen.target_aspect_ratio)
    for u, h, w in zip(draws.tolist(), heights.tolist(), widths.tolist()):
        keep = int(196 * (0.15 + u * 0.05))
        ar = 0.75 + u * 0.75
        assert (h, w) == (min(round(math.sqrt(keep * ar)), 13), min(round(math.sqrt(keep / ar)), 13))


def test_same_seed_same_masks_and_different_seed_differs():
    gen = MultiBlockMaskGenerator()
    a = gen(32, generator=torch.Generator().manual_seed(3))
    b = gen(32, generator=torch.Generator().manual_seed(3))
    c = gen(32, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not (a[0].shape == c[0].shape and torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]))


def test_positions_vary_per_sample():
    gen = MultiBlockMaskGenerator()
    _, target_idx = gen(64, generator=torch.Generator().manual_seed(0))
    first_blocks = {tuple(t.tolist()) for t in target_idx[:, 0]}
    assert len(first_blocks) > 20


def test_context_equalised_to_shortest():
    gen = MultiBlockMaskGenerator()
    g = torch.Generator().manual_seed(11)
    context, targets = gen.sample_block_masks(16, generator=g)
    context_idx, target_idx = gen(16, generator=torch.Generator().manual_seed(11))
    assert context_idx.shape[1] == int(context.flatten(1).sum(1).min())
    # Each row keeps its own first Kc context positions in raster order.
    for b in range(16):
        expected = context[b].flatten().nonzero().flatten()[: context_idx.shape[1]]
        assert torch.equal(context_idx[b], expected)
        for t in range(gen.num_targets):  # target indices are the raster-order positions of each block
            assert torch.equal(target_idx[b, t], targets[b, t].flatten().nonzero().flatten())


def test_min_keep_too_large_is_a_clear_error():
    with pytest.raises(ValueError, match="min_keep"):
        MultiBlockMaskGenerator(grid_size=(8, 8), min_keep=10)


def test_generator_on_another_device_is_refused():
    gen = MultiBlockMaskGenerator()
    with pytest.raises(ValueError, match="generator"):
        gen(2, device="meta", generator=torch.Generator())


def test_first_true_indices():
    mask = torch.tensor([[True, False, True, True], [False, True, True, False]])
    assert first_true_indices(mask, 2).tolist() == [[0, 2], [1, 2]]


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.75, 0.9])
def test_random_mask_keeps_exact_ratio(ratio):
    gen = RandomMaskGenerator(mask_ratio=ratio)
    for seed in range(10):
        mask = gen(8, 196, generator=torch.Generator().manual_seed(seed))
        kept = int(196 * (1 - ratio))
        assert mask.keep_idx.shape == (8, kept) and mask.masked_idx.shape == (8, 196 - kept)
        everything = torch.cat([mask.keep_idx, mask.masked_idx], dim=1)
        assert torch.equal(everything.sort(dim=1).values, torch.arange(196).expand(8, -1))
        # ids_restore inverts the shuffle: gathering the shuffled order with it gives 0..N-1.
        assert torch.equal(torch.gather(everything, 1, mask.ids_restore), torch.arange(196).expand(8, -1))


def test_random_mask_follows_noise():
    noise = torch.tensor([[0.9, 0.1, 0.5, 0.3]])
    mask = RandomMaskGenerator(mask_ratio=0.5)(1, 4, noise=noise)
    assert mask.keep_idx.tolist() == [[1, 3]] and mask.masked_idx.tolist() == [[2, 0]]


def test_random_mask_bad_ratio():
    with pytest.raises(ValueError, match="mask_ratio"):
        RandomMaskGenerator(mask_ratio=1.0)
