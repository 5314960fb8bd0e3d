"""I-JEPA multi-block masks for a batch: hf_jepa's batched sampler vs the official per-sample collator loop.

Times both on the CPU (and ours on the GPU when there is one), then checks over a few hundred batches that the two
draw the same distribution of target block sizes, equalised context lengths and target positions.
"""

import math

import torch
from _results import compare_means, make_parser, markdown_table, report, time_samplers
from reference_multiblock import collate_masks

from hf_jepa import MultiBlockMaskGenerator

# The official I-JEPA recipe at 224 px with 16 px patches.
RECIPE = dict(
    grid_size=(14, 14),
    num_targets=4,
    target_scale=(0.15, 0.2),
    target_aspect_ratio=(0.75, 1.5),
    context_scale=(0.85, 1.0),
    min_keep=10,
)
CPU_GOAL_RATIO, GPU_GOAL_MS = 20.0, 1.0
MAX_Z = 4.5  # differences of means beyond 4.5 standard errors are not sampling noise, even at the worst of 196 patches


def reference_masks(batch_size: int, device: torch.device, generator: torch.Generator):
    """The official collator (CPU only) with our sampler's call and output: context [B, Kc], targets [B, T, Kt]."""
    contexts, targets = collate_masks(batch_size, generator, **RECIPE)
    return contexts[0], torch.stack(targets, dim=1)


def mask_statistics(sampler, batch_size: int, batches: int, seed: int) -> dict[str, torch.Tensor]:
    """Per batch: target block size Kt, context length Kc, and how often each patch lies in a target block."""
    num_patches = math.prod(RECIPE["grid_size"])
    generator = torch.Generator().manual_seed(seed)
    stats = {"Kt": [], "Kc": [], "coverage": []}
    for _ in range(batches):
        context, targets = sampler(batch_size, device=torch.device("cpu"), generator=generator)
        stats["Kt"].append(torch.tensor(targets.shape[-1]))
        stats["Kc"].append(torch.tensor(context.shape[-1]))
        stats["coverage"].append(torch.bincount(targets.flatten(), minlength=num_patches) / targets[..., 0].numel())
    return {name: torch.stack(values).double() for name, values in stats.items()}


def compare(ours: dict, official: dict) -> tuple[list[list[object]], bool]:
    """Table rows (statistic, official, ours, difference, similar) and whether every statistic is similar: the
    difference of the means over batches is within MAX_Z standard errors (for coverage, at every patch)."""
    labels = {"Kt": "target block size Kt", "Kc": "context length Kc", "coverage": "P(patch in a target), all patches"}
    return compare_means(official, ours, labels, MAX_Z)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--batch-size", type=int, default=256, help="Samples per batch.")
    parser.add_argument("--reps", type=int, default=100, help="Timed calls of each sampler (median reported).")
    parser.add_argument("--check-batches", type=int, default=300, help="Batches per sampler for the statistics.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the generators.")
    args = parser.parse_args()

    ours = MultiBlockMaskGenerator(**RECIPE)
    official_name = "official MaskCollator loop (reference_multiblock.py)"
    devices, timings = time_samplers((official_name, reference_masks), ("hf_jepa MultiBlockMaskGenerator", ours), args)
    official = next(iter(timings.values()))

    rows = []
    for (name, device), timing in timings.items():
        ratio = official.median / timing.median
        if device.type == "cuda":
            goal = f"< {GPU_GOAL_MS:g} ms: {'met' if timing.median < GPU_GOAL_MS else 'NOT met'}"
        elif timing is official:
            goal = "baseline"
        else:
            goal = f"≥ {CPU_GOAL_RATIO:g}×: {'met' if ratio >= CPU_GOAL_RATIO else 'NOT met'}"
        rows.append([name, device.type, str(timing), f"{ratio:.1f}×", goal])
    speed = markdown_table(
        ["sampler", "device", f"ms / batch of {args.batch_size}: median (IQR)", "speed-up vs official", "goal"], rows
    )

    stats_official = mask_statistics(reference_masks, args.batch_size, args.check_batches, args.seed + 1)
    stats_ours = mask_statistics(ours, args.batch_size, args.check_batches, args.seed + 2)
    check_rows, ok = compare(stats_ours, stats_official)
    check = markdown_table(["statistic", "official", "hf_jepa", "difference", "similar"], check_rows)

    body = (
        f"Recipe: 14x14 grid, 4 targets of scale 0.15–0.2 and aspect 0.75–1.5, one context of scale 0.85–1.0, "
        f"min_keep 10; {args.reps} timed calls of each sampler, taking turns in blocks of 5 "
        "(first call of a block untimed), after 5 warm-up calls.\n\n"
        f"{speed}\n\nSame distribution? {args.check_batches} batches of {args.batch_size} from each sampler "
        f"(different seeds; similar = means within {MAX_Z:g} standard errors): "
        f"**{'similar' if ok else 'DIFFERENT'}**.\n\n{check}"
    )
    report(args, "Multi-block masks: hf_jepa vs official I-JEPA collator", devices, body)
    if not ok:
        raise SystemExit("The sampler's statistics differ from the official collator's.")


if __name__ == "__main__":
    main()
