"""V-JEPA 3-D multi-block masks for a batch: hf_jepa's batched sampler vs the official per-sample collator loop.

Times both on the CPU (and ours on the GPU when there is one) with the official two mask sets, then checks over a
few hundred batches that the two draw the same distribution, per mask set, of equalised context lengths, target
lengths and target positions.
"""

import dataclasses
import math

import torch
from _results import busy_note, compare_means, make_parser, markdown_table, report, time_samplers
from reference_multiblock3d import OFFICIAL_MASK_SETS, collate_masks

from hf_jepa.models.masking_3d import VJEPA_MASK_SETS, MultiBlock3DMaskGenerator

# 16 frames of 224 px in 2 x 16 x 16 tubelets.
GRID = (8, 14, 14)
SET_NAMES = ("short-range (8 blocks of 15%)", "long-range (2 blocks of 70%)")
# Differences of means beyond 4.5 standard errors are not sampling noise: the chance that one of the 2 x 1,568 token
# probabilities crosses it by chance is about 2% (normal tails), that a length does, about 1e-5.
MAX_Z = 4.5


def reference_masks(batch_size: int, device: torch.device, generator: torch.Generator, grid=GRID):
    """The official collator (CPU only) with our sampler's call and output: one (context [B, Kc], target [B, Kt])
    per mask set."""
    contexts, targets = collate_masks(batch_size, generator, grid, OFFICIAL_MASK_SETS)
    return list(zip(contexts, targets))


def mask_statistics(sampler, batch_size: int, batches: int, seed: int, grid=GRID) -> list[dict[str, torch.Tensor]]:
    """Per mask set and batch: context length Kc, target length Kt (both equalised over the batch) and, per token,
    the share of the batch's samples whose equalised target holds it."""
    num_tokens = math.prod(grid)
    generator = torch.Generator().manual_seed(seed)
    stats = None
    for _ in range(batches):
        masks = sampler(batch_size, device=torch.device("cpu"), generator=generator)
        stats = stats or [{"Kc": [], "Kt": [], "coverage": []} for _ in masks]
        for per_set, (context, target) in zip(stats, masks):
            per_set["Kc"].append(torch.tensor(context.shape[-1]))
            per_set["Kt"].append(torch.tensor(target.shape[-1]))
            per_set["coverage"].append(torch.bincount(target.flatten(), minlength=num_tokens) / batch_size)
    return [{name: torch.stack(values).double() for name, values in per_set.items()} for per_set in stats]


def compare(ours: list[dict], official: list[dict], names=SET_NAMES) -> tuple[list[list[object]], bool]:
    """Table rows (mask set, statistic, official, ours, difference, similar) and whether every statistic is similar:
    the difference of the means over batches is within MAX_Z standard errors (for coverage, at every token)."""
    labels = {"Kc": "context length Kc", "Kt": "target length Kt", "coverage": "P(token in the target), all tokens"}
    rows, ok = [], True
    for set_name, stats_ours, stats_official in zip(names, ours, official):
        set_rows, set_ok = compare_means(stats_official, stats_ours, labels, MAX_Z)
        rows += [[set_name, *row] for row in set_rows]
        ok &= set_ok
    return rows, ok


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--batch-size", type=int, default=24, help="Clips per batch.")
    parser.add_argument("--reps", type=int, default=100, help="Timed calls of each sampler (median reported).")
    parser.add_argument("--check-batches", type=int, default=300, help="Batches per sampler for the statistics.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the generators.")
    args = parser.parse_args()

    official_sets = [
        {"temporal_scale": (1.0, 1.0), "aspect_ratio": (0.75, 1.5), "max_temporal_keep": 1.0, **m}
        for m in OFFICIAL_MASK_SETS
    ]
    if official_sets != [dataclasses.asdict(m) for m in VJEPA_MASK_SETS]:
        raise SystemExit(f"hf_jepa's VJEPA_MASK_SETS {VJEPA_MASK_SETS} differ from the official {OFFICIAL_MASK_SETS}.")
    ours = MultiBlock3DMaskGenerator(GRID, VJEPA_MASK_SETS)
    official_name = "official MaskCollator loop (reference_multiblock3d.py)"
    devices, timings = time_samplers(
        (official_name, reference_masks), ("hf_jepa MultiBlock3DMaskGenerator", ours), args
    )
    official = next(iter(timings.values()))

    rows = []
    for (name, device), timing in timings.items():
        rows.append([name, device.type, str(timing), f"{official.median / timing.median:.2f}×"])
    speed = markdown_table(
        ["sampler", "device", f"ms / batch of {args.batch_size}: median (IQR)", "speed-up vs official (CPU)"], rows
    )

    stats_official = mask_statistics(reference_masks, args.batch_size, args.check_batches, args.seed + 1)
    stats_ours = mask_statistics(ours, args.batch_size, args.check_batches, args.seed + 2)
    check_rows, ok = compare(stats_ours, stats_official)
    check = markdown_table(["mask set", "statistic", "official", "hf_jepa", "difference", "similar"], check_rows)

    body = (
        f"Grid {'x'.join(map(str, GRID))} (16 frames of 224 px in 2×16×16 tubelets), the official two mask sets: 8 "
        "blocks of 15% of the frame and 2 blocks of 70%, both over every frame, aspect 0.75–1.5; context = "
        "complement of the union of a set's blocks, lengths equalised to the batch's shortest. "
        f"{args.reps} timed calls of each sampler, taking turns in blocks of 5 (first call of a block untimed), "
        f"after 5 warm-up calls.{busy_note()}\n\n"
        f"{speed}\n\nSame distribution? {args.check_batches} batches of {args.batch_size} from each sampler "
        f"(different seeds; similar = means within {MAX_Z:g} standard errors): "
        f"**{'similar' if ok else 'DIFFERENT'}**. In both, the mask sets of one batch share their three block-size "
        "draws, as officially."
        f"\n\n{check}"
    )
    report(args, "3-D multi-block masks: hf_jepa vs official V-JEPA collator", devices, body)
    if not ok:
        raise SystemExit("The sampler's statistics differ from the official collator's.")


if __name__ == "__main__":
    main()
