"""The README's comparison tables: `hf-jepa compare` with its defaults (every image method, equal training FLOPs, the
embedded digits) and, with `--presets`, the blog's ablations at the same budget; each run's results.md table and
claims go to RESULTS.md, its wall time measured.

Run: `python benchmarks/compare_digits.py --output_dir outputs/compare_digits` (about 20 minutes on 2 CPU cores),
`--presets predictor targets collapse` for the ablations. An interrupted run resumes when re-run with the same
--output_dir (finished methods are not retrained).
"""

import json
from pathlib import Path

import torch
from _results import make_parser, report

from hf_jepa.compare import PRESETS


def run(output_dir: Path, *extra: str) -> dict:
    """`hf-jepa compare` in this process (its CPU time is this script's, not another process's load)."""
    from hf_jepa.compare.command import compare

    compare(["--output_dir", str(output_dir), *extra])
    return json.loads((output_dir / "results.json").read_text())


def section(title: str, output_dir: Path, results: dict) -> str:
    # results.md's per-modality headings, one level under this comparison's (RESULTS.md sections are "## ").
    table = (output_dir / "results.md").read_text().split("\n", 3)[-1].strip().replace("## ", "#### ")
    claims = "\n".join(f"- {item['claim']} {item['finding']}" for item in results["claims"])
    runs = sum(run.get("wall_seconds", 0.0) for run in results["runs"]) / 60
    timing = f"Whole command: {results['command_seconds'] / 60:.1f} min (its runs, as they happened: {runs:.1f} min)."
    return f"### {title}\n\n{timing}\n\n{table}\n\n{claims}\n"


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--output_dir", type=Path, default=Path("outputs/compare_digits"))
    parser.add_argument("--presets", nargs="*", default=[], choices=list(PRESETS))
    parser.add_argument("--skip_default", action="store_true", help="Only the presets.")
    args = parser.parse_args()
    parts = []
    if not args.skip_default:
        results = run(args.output_dir / "default")
        parts.append(section("`hf-jepa compare` (defaults)", args.output_dir / "default", results))
    for preset in args.presets:
        results = run(args.output_dir / preset, "--preset", preset)
        parts.append(section(f"`hf-jepa compare --preset {preset}`", args.output_dir / preset, results))
    report(args, "Compare: every method on equal terms", [torch.device("cpu")], "\n".join(parts))


if __name__ == "__main__":
    main()
