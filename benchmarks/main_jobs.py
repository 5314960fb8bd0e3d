"""The default main job of each method (`hf-jepa pretrain --method M`, nothing else on the command line), timed, with
what its evaluation says: kNN and linear-probe top-1 next to the run's own initial weights, the spread over other
random inits, and the raw pixels. The README's table of default runs is this script's output.

Run: `python benchmarks/main_jobs.py` (all methods, a few minutes each on 2 CPU cores) or `--methods ijepa mae`.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _results import make_parser, markdown_table, report

from hf_jepa import METHODS


def run_main_job(method: str, output_dir: Path) -> tuple[dict, float]:
    start = time.monotonic()
    command = [sys.executable, "-m", "hf_jepa.cli", "pretrain", "--method", method, "--output_dir", str(output_dir)]
    subprocess.run([*command, "--disable_tqdm", "true"], check=True, stdout=subprocess.DEVNULL)
    return json.loads((output_dir / "eval_results.json").read_text()), time.monotonic() - start


def _pair(results: dict, prefix: str = "") -> str:
    return f"{results[prefix + 'knn_top1']:.3f} / {results[prefix + 'linear_probe_top1']:.3f}"


def _spread(results: dict) -> str:
    spread = results["random_init_spread"]
    return " / ".join(f"{spread[k]['mean']:.3f} ± {spread[k]['std']:.3f}" for k in ("knn_top1", "linear_probe_top1"))


def row(method: str, results: dict, seconds: float, label: str | None = None) -> list[str]:
    minutes, rest = divmod(round(seconds), 60)
    verdict = "kNN beats every init" if results["beats_random_init"] else "kNN **does not beat** every init"
    verdict += ", beats raw pixels" if results["beats_raw_pixels"] else ", **not** raw pixels"
    if results.get("features_collapsing"):
        verdict += "; **collapsing**"
    return [
        f"`{method}`" + (f" ({label})" if label else ""),
        f"{results['steps']} × {results['train_batch_size']}",
        f"{minutes} min {rest} s" if label is None else "",
        _pair(results),
        _pair(results, "random_init_"),
        _spread(results),
        _pair(results, "raw_pixels_"),
        f"{results['feature_std']:.4f} ({results['random_init_feature_std']:.4f})",
        verdict,
    ]


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for method in args.methods:
            results, seconds = run_main_job(method, Path(folder) / method)
            rows.append(row(method, results, seconds))
            for column, extra in results.items():  # other label columns (the moving digits' motion direction)
                if isinstance(extra, dict) and isinstance(extra.get("knn_top1"), float):
                    rows.append(row(method, {**results, **extra}, seconds, label=column))
            print(rows[-1], flush=True)
    headers = ["method", "steps × batch", "wall time", "kNN / probe", "own init", "inits mean ± std", "raw pixels",
               "feature std (init)", "verdict"]  # fmt: skip
    body = (
        "`hf-jepa pretrain --method M` with its defaults, on the embedded data; kNN top-1 (k = 20, cosine) / "
        "linear-probe top-1 of the frozen features on the held-out split, next to the run's own initial weights, "
        "the mean ± std over 3 random inits (the run's own and two others) and the raw normalised pixels; feature "
        "std = spread of the L2-normalised features across images (collapse monitor).\n\n"
        + markdown_table(headers, rows)
    )
    report(args, "Default main job of each method", [torch.device("cpu")], body)


if __name__ == "__main__":
    main()
