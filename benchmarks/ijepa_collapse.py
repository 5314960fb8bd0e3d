"""Does the default I-JEPA main job collapse, and which setting of the same budget does not? Each variant is the main
job (`hf-jepa pretrain --method ijepa`, 300 steps of 128 digits, or `--max_steps`) with one change, among them SIGReg
instead of the EMA target (LeJEPA / LeWorldModel's anti-collapse); the table gives the collapse monitor (feature std
of the frozen features against the run's own initial weights), kNN / linear probe against the initial weights and
the raw pixels.

Run: `python benchmarks/ijepa_collapse.py` (about 2-3 minutes per variant on 2 CPU cores), e.g.
`--variants default sigreg --max_steps 1000` for the longer comparison.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from _results import make_parser, markdown_table, report

VARIANTS = {  # short name: (what the table says, the command-line change)
    "default": ("default (lr 1e-3, EMA 0.996 -> 1, wd 0.04 -> 0.4)", []),
    "sigreg": ("SIGReg (lambda 0.05) instead of the EMA", ["--config_overrides", "sigreg_weight=0.05"]),
    "lr": ("lr 5e-4", ["--learning_rate", "5e-4"]),
    "ema": ("EMA 0.999 -> 1", ["--ema_momentum", "0.999"]),
    "wd": ("weight decay 0.04 constant", ["--weight_decay_end", "0.04"]),
    "all": (
        "lr 5e-4, EMA 0.999 -> 1, wd 0.04 constant",
        ["--learning_rate", "5e-4", "--ema_momentum", "0.999", "--weight_decay_end", "0.04"],
    ),
}  # fmt: skip


def run(arguments: list[str], output_dir: Path) -> dict:
    command = [sys.executable, "-m", "hf_jepa.cli", "pretrain", "--method", "ijepa", "--output_dir", str(output_dir)]
    subprocess.run([*command, "--disable_tqdm", "true", *arguments], check=True, stdout=subprocess.DEVNULL)
    return json.loads((output_dir / "eval_results.json").read_text())


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--max_steps", type=int, default=300, help="Steps of every variant (the main job: 300).")
    args = parser.parse_args()
    steps = ["--max_steps", str(args.max_steps)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, short in enumerate(args.variants):
            name, change = VARIANTS[short]
            results = run(change + steps, Path(folder) / str(index))
            rows.append(
                [
                    name,
                    f"{results['feature_std']:.4f} ({results['random_init_feature_std']:.4f})",
                    "yes" if results["features_collapsing"] else "no",
                    f"{results['knn_top1']:.3f} / {results['linear_probe_top1']:.3f}",
                    f"{results['random_init_knn_top1']:.3f} / {results['random_init_linear_probe_top1']:.3f}",
                    f"{results['raw_pixels_knn_top1']:.3f} / {results['raw_pixels_linear_probe_top1']:.3f}",
                ]
            )
            print(rows[-1], flush=True)
    headers = ["variant", "feature std (own init)", "collapsing", "kNN / probe", "own init", "raw pixels"]
    body = (
        f"The I-JEPA main job with one change at a time (same data, {args.max_steps} steps × 128, seed 42); "
        "collapsing = the features' spread across images under half of the initial weights'.\n\n"
        + markdown_table(headers, rows)
    )
    title = "I-JEPA main job: collapse against the initial weights"
    report(args, title if args.max_steps == 300 else f"{title}, {args.max_steps} steps", [torch.device("cpu")], body)


if __name__ == "__main__":
    main()
