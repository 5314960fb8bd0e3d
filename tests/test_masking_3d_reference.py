"""hf_jepa's batched V-JEPA masks against the official collator's algorithm, restated in
benchmarks/reference_multiblock3d.py: same block-size arithmetic, same distribution of masks."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_masking_3d import compare, mask_statistics  # noqa: E402
from reference_multiblock3d import OFFICIAL_MASK_SETS, block_size, collate_masks  # noqa: E402

from hf_jepa.models.masking_3d import BlockMaskSet, MultiBlock3DMaskGenerator  # noqa: E402

# The official two sets, and one that uses every option: blocks shorter than the clip, a wider aspect range and a
# context limited to the first 3 of 4 time steps.
MASK_SETS = [
    *OFFICIAL_MASK_SETS,
    dict(
        num_blocks=2,
        spatial_scale=(0.2, 0.4),
        temporal_scale=(0.5, 1.0),
        aspect_ratio=(0.5, 2.0),
        max_temporal_keep=0.75,
    ),
]


@pytest.mark.parametrize("grid", [(8, 14, 14), (4, 6, 6), (3, 5, 9), (16, 16, 16)])
def test_block_size_matches_the_reference_arithmetic(grid):
    """`_block_size` on given uniform draws equals the official Python arithmetic, draw for draw."""
    generator = MultiBlock3DMaskGenerator(grid, MASK_SETS)
    draws = torch.rand(3, 1000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    draws[:, :65] = torch.linspace(0, 1, 65, dtype=torch.float64)  # both ends and an even grid of values
    for mask_set in generator.mask_sets:
        sizes = torch.stack(generator._block_size(draws, mask_set), dim=1).tolist()
        ranges = (mask_set.temporal_scale, mask_set.spatial_scale, mask_set.aspect_ratio)
        expected = [list(block_size(grid, tuple(u), *ranges)) for u in draws.T.tolist()]
        assert sizes == expected


@pytest.fixture
def one_thread():
    """Tensors this small gain nothing from threads, and lose much when other processes keep the cores busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_same_distribution_as_the_reference(one_thread):
    """Context and target lengths (equalised over the batch) and per-token target probabilities of 200 batches agree
    with the official algorithm's within sampling noise (fixed seeds, so the outcome is fixed)."""
    grid = (4, 6, 6)  # small enough that the long-range blocks sometimes cover every token: the redraw is exercised

    def reference(batch_size, device, generator):
        contexts, targets = collate_masks(batch_size, generator, grid, MASK_SETS)
        return list(zip(contexts, targets))

    ours = MultiBlock3DMaskGenerator(grid, [BlockMaskSet.from_dict(m) for m in MASK_SETS])
    stats_reference = mask_statistics(reference, 8, 200, seed=1, grid=grid)
    stats_ours = mask_statistics(ours, 8, 200, seed=2, grid=grid)
    rows, ok = compare(stats_ours, stats_reference, names=[str(m) for m in MASK_SETS])
    assert ok, "\n".join(" | ".join(map(str, row)) for row in rows if row[-1] != "yes")
