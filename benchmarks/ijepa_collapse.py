"""Does the default I-JEPA main job collapse, and which setting of the same budget does not? Each variant is the main
job (`hf-jepa pretrain --method ijepa`, 300 steps of 128 digits) with one change; the table gives the collapse
monitor (feature std of the frozen features against the run's own initial weights), kNN / linear probe against the
initial weights and the raw pixels.

Run: `python benchmarks/ijepa_collapse.py` (about 2-3 minutes per variant on 2 CPU cores).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from _results import make_parser, markdown_table, report

VARIANTS = {
    "default (lr 1e-3, EMA 0.996 -> 1, wd 0.04 -> 0.4)": [],
    "lr 5e-4": ["--learning_rate", "5e-4"],
    "EMA 0.999 -> 1": ["--ema_momentum", "0.999"],
    "weight decay 0.04 constant": ["--weight_decay_end", "0.04"],
    "lr 5e-4, EMA 0.999 -> 1, wd 0.04 constant": [
        "--learning_rate", "5e-4", "--ema_momentum", "0.999", "--weight_decay_end", "0.04",
    ],
}  # fmt: skip


def run(arguments: list[str], output_dir: Path) -> dict:
    command = [sys.executable, "-m", "hf_jepa.cli", "pretrain", "--method", "ijepa", "--output_dir", str(output_dir)]
    subprocess.run([*command, "--disable_tqdm", "true", *arguments], check=True, stdout=subprocess.DEVNULL)
    return json.loads((output_dir / "eval_results.json").read_text())


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, name in enumerate(args.variants):
            results = run(VARIANTS[name], Path(folder) / str(index))
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
        "The I-JEPA main job with one change at a time (same data, 300 steps × 128, seed 42); collapsing = the "
        "features' spread across images under half of the initial weights'.\n\n" + markdown_table(headers, rows)
    )
    report(args, "I-JEPA main job: collapse against the initial weights", [torch.device("cpu")], body)


if __name__ == "__main__":
    main()
