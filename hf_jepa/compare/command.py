"""`hf-jepa compare`: train every listed method (or a preset of the blog's ablations) on equal terms and write the
model folders, results.json / results.md, the pictures and a report that answers the blog's claims in numbers."""

import argparse
from pathlib import Path

# What the harness sets for every run itself: refused among the flags passed on to `hf-jepa pretrain`.
HARNESS_FLAGS = ("--method", "--output_dir", "--seed", "--max_steps", "--resume_from_checkpoint", "--save_steps")
DEFAULT_BUDGET_FLOPS = 1e13


def compare_parser() -> argparse.ArgumentParser:
    from .presets import PRESETS, default_methods

    parser = argparse.ArgumentParser(
        prog="hf-jepa compare",
        allow_abbrev=False,  # `--seed` (a pretrain flag the harness sets) must not read as `--seeds`
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train several methods with the same backbone, data, resolution and budget, evaluate them with "
        "the same protocols (kNN, linear probe, few-shot probes with 1 %% and 10 %% of the labels, the attentive "
        "probe where the method's paper uses it), and compare them: a table with mean ± std over seeds next to the "
        "random-init baseline, linear CKA between every pair of methods, accuracy along training, feature maps, "
        "loss and collapse curves, and a report on the blog's claims. A re-run with the same --output_dir resumes: "
        "finished runs are kept, an interrupted one continues from its last checkpoint.\n\nPresets:\n"
        + "\n".join(f"  {name:<10} {about}" for name, (about, _) in PRESETS.items()),
        epilog="Other flags are passed on to every `hf-jepa pretrain` run (any TrainingArguments flag, e.g. "
        "--per_device_train_batch_size 64); the harness sets " + ", ".join(HARNESS_FLAGS) + " itself.",
    )
    parser.add_argument(
        "--methods",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help=f"Comma-separated methods (default: every image method: {','.join(default_methods())}). One modality "
        "per compare: `--methods vjepa` compares video methods on the moving-digit clips.",
    )
    parser.add_argument("--preset", help=f"A named ablation instead of --methods: {', '.join(PRESETS)}.")
    parser.add_argument(
        "--output_dir", default="outputs/compare", help="Where everything is written (default: %(default)s)."
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--max_steps", type=int, help="Budget: the same number of optimizer steps for every method.")
    budget.add_argument(
        "--budget_seconds",
        type=float,
        help="Budget: seconds of training steps per method (steps from a timed calibration).",
    )
    budget.add_argument(
        "--budget_flops",
        type=float,
        help="Budget: training FLOPs per method, counted on each method's real step (default: "
        f"{DEFAULT_BUDGET_FLOPS:g}: about 20 minutes for the default compare on 2 CPU cores).",
    )
    parser.add_argument(
        "--seeds", type=int, default=1, help="Seeds per method (default: %(default)s; 3 gives a spread)."
    )
    parser.add_argument("--dataset", help="As `hf-jepa pretrain --dataset` (default: the modality's embedded data).")
    parser.add_argument("--image_column", help="Image (or video) column of --dataset.")
    parser.add_argument(
        "--label_column",
        default="label",
        help="Label column ('none': label-free analyses only; default: %(default)s).",
    )
    parser.add_argument(
        "--backbone",
        help="A CNN for every method that takes one (as `hf-jepa pretrain --backbone`); default: the ViT.",
    )
    parser.add_argument(
        "--config_overrides",
        help="Config fields for every method, e.g. 'image_size=224,patch_size=16,hidden_size=384' (a ViT-S/16); "
        "fields a method's config lacks are skipped for it, saying so; a preset's own overrides win.",
    )
    parser.add_argument(
        "--eval_points", type=int, default=4, help="Evaluations along each run (default: %(default)s)."
    )
    return parser


def parse_compare_args(argv: list[str]):
    from .budget import Budget
    from .runs import CompareSettings

    parser = compare_parser()
    args, extra = parser.parse_known_args(argv)
    for flag in extra:
        if flag.split("=")[0] in HARNESS_FLAGS:
            raise ValueError(f"`{flag}` is set by the harness for every run; see `hf-jepa compare --help`.")
    if args.seeds < 1 or args.eval_points < 1:
        raise ValueError(f"`--seeds` and `--eval_points` must be >= 1, got {args.seeds} and {args.eval_points}.")
    if args.max_steps is not None:
        budget = Budget("steps", args.max_steps)
    elif args.budget_seconds is not None:
        budget = Budget("seconds", args.budget_seconds)
    else:
        budget = Budget("flops", args.budget_flops or DEFAULT_BUDGET_FLOPS)
    label_column = None if args.label_column in ("", "none", "None") else args.label_column
    settings = CompareSettings(
        output_dir=Path(args.output_dir),
        budget=budget,
        seeds=args.seeds,
        dataset=args.dataset,
        media_column=args.image_column,
        label_column=label_column,
        backbone=args.backbone,
        eval_points=args.eval_points,
        extra_args=extra,
    )
    return args, settings


def compare(argv: list[str]) -> dict:
    from ..cli.arguments import parse_overrides
    from ..engine.launch import launched_world_size
    from .harness import run_comparison
    from .presets import resolve_variants, with_common_overrides

    if launched_world_size() > 1:  # each process would run the whole comparison into the same folder
        raise ValueError(
            "hf-jepa compare runs its pretraining runs one after another in one process and cannot be launched as "
            "several processes (torchrun, accelerate launch): run it as a plain command."
        )
    args, settings = parse_compare_args(argv)
    variants = resolve_variants(args.methods, args.preset)
    if args.config_overrides:
        variants = with_common_overrides(variants, parse_overrides(args.config_overrides))
    return run_comparison(variants, settings)


__all__ = ["compare", "compare_parser", "parse_compare_args"]
