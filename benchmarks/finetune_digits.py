"""Fine-tuning on the embedded digits: each image method's main job (`hf-jepa pretrain --method M` with its defaults,
or a folder given with --models) fine-tuned by `hf-jepa finetune` in each mode (full, lora, linear, attentive) with
the same short budget, next to the same ViT from random init with that budget (the honest baseline: does pretraining
help?), and the sklearn linear probe of the same frozen features (`hf_jepa.evaluation.linear_probe_top1`, what
`hf-jepa pretrain` / `evaluate` report) next to the Trainer's linear probe (`--mode linear`): the two should agree
within noise once the Trainer's probe has converged.

The random-init row is the mean ± standard deviation over `--scratch_seeds` inits, the spread a pretrained row has to
clear before it counts as a gain.

Run: `python benchmarks/finetune_digits.py` (every image method, about 6 minutes each on 2 quiet CPU cores) or
`--methods ijepa mae --epochs full=10 linear=20` or `--models mae=outputs/mae`.
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _results import make_parser, markdown_table, report

from hf_jepa import METHODS
from hf_jepa.finetune.modes import MODES

IMAGE_METHODS = [name for name, method in METHODS.items() if method.modality == "image"]
# Full fine-tuning and LoRA of the tiny ViT are still improving after the command's default 10 epochs on 1,437 images
# (0.62 from random init); 20 epochs each fit the 2-core machine. The probes keep the command's 20.
DEFAULT_EPOCHS = {"full": 20, "lora": 20, "linear": 20, "attentive": 20}
SCRATCH = "random init"


def hf_jepa(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "hf_jepa.cli", *argv, "--disable_tqdm", "true"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def pretrain(method: str, folder: Path) -> float:
    start = time.monotonic()
    hf_jepa("pretrain", "--method", method, "--output_dir", str(folder), "--random_init_baselines", "1")
    return time.monotonic() - start


def random_init_folder(method: str, folder: Path, seed: int = 0) -> None:
    """The method's main-job ViT at random init (the from-scratch baseline), saved as `hf-jepa pretrain` saves."""
    from hf_jepa.registry import default_processor

    entry = METHODS[method]
    config = entry.config_class(**entry.default_config)
    torch.manual_seed(seed)
    entry.pretraining_class(config).save_pretrained(folder)
    default_processor(entry, config).save_pretrained(folder)


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def finetune(model: Path, mode: str, epochs: int, folder: Path) -> dict:
    hf_jepa("finetune", "--model", str(model), "--mode", mode, "--num_train_epochs", str(epochs),
            "--output_dir", str(folder), "--per_device_eval_batch_size", "360")  # fmt: skip
    return json.loads((folder / "eval_results.json").read_text())


def sklearn_probe(model: Path) -> float:
    """`evaluation.linear_probe_top1` on the frozen features of the folder's encoder (as `hf-jepa evaluate`)."""
    from transformers import AutoModel

    from hf_jepa.data.training_data import load_training_data
    from hf_jepa.evaluation import extract_features, linear_probe_top1
    from hf_jepa.registry import model_processor, saved_method

    method = saved_method(str(model))
    encoder = AutoModel.from_pretrained(model).eval()
    processor = model_processor(method, str(model), encoder.config)
    inputs = load_training_data("image", encoder.config, processor)
    train, test = (extract_features(encoder, inputs.data[s], inputs.eval_collator, progress=False) for s in
                   ("train", "eval"))  # fmt: skip
    return linear_probe_top1(*train, *test)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--methods", nargs="+", default=IMAGE_METHODS, choices=IMAGE_METHODS)
    parser.add_argument("--models", nargs="*", default=[], metavar="METHOD=DIR", help="Use these pretrained folders.")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--epochs", nargs="*", default=[], metavar="MODE=N", help="Budget per mode.")
    parser.add_argument("--scratch_seeds", type=int, default=3, help="Random inits for the from-scratch row.")
    parser.add_argument("--section", default="Fine-tuning on the digits", help="Title of the RESULTS.md section.")
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.models)
    epochs = {**DEFAULT_EPOCHS, **{k: int(v) for k, v in (item.split("=", 1) for item in args.epochs)}}
    rows, counts = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(SCRATCH, None)] + [(method, given.get(method)) for method in args.methods]
        for name, folder in runs:
            seconds = None
            folders = [Path(folder)] if folder else []
            if not folders and name == SCRATCH:
                folders = [Path(tmp) / f"random-init-{seed}" for seed in range(args.scratch_seeds)]
                for seed, path in enumerate(folders):
                    random_init_folder(args.methods[0], path, seed)
            elif not folders:
                folders = [Path(tmp) / name]
                seconds = pretrain(name, folders[0])
            accuracy = {mode: [] for mode in args.modes}
            probes = []
            for index, path in enumerate(folders):
                for mode in args.modes:
                    out = Path(tmp) / f"{name}-{index}-{mode}".replace(" ", "-")
                    results = finetune(path, mode, epochs[mode], out)
                    accuracy[mode].append(results["accuracy"])
                    counts[mode] = (results["trainable_parameters"], results["total_parameters"])
                probes.append(sklearn_probe(path))
            pretraining = "" if seconds is None else f"{seconds / 60:.1f} min"
            label = f"{name} ({len(folders)} inits, no pretraining)" if name == SCRATCH else f"`{name}` main job"
            rows.append([label, pretraining, *(mean_std(accuracy[mode]) for mode in args.modes), mean_std(probes)])
            print(rows[-1], flush=True)
    headers = ["encoder", "pretraining", *(f"{mode} ({epochs[mode]} ep.)" for mode in args.modes),
               "sklearn probe"]  # fmt: skip
    trained = ", ".join(f"{mode} {counts[mode][0]:,}" for mode in args.modes)
    body = (
        "`hf-jepa finetune --mode M --num_train_epochs N` on the embedded digits (1,437 train / 360 eval images, 10 "
        "classes), top-1 accuracy of the best epoch on the eval split, with each method's default main job "
        "(`hf-jepa pretrain --method M`: the tiny ViT, 96 wide, 4 deep, 300 steps) and with the same ViT at random "
        "init, same budget (mean ± std over its inits). `sklearn probe`: the logistic-regression probe of "
        "`hf_jepa.evaluation` on the same frozen features, to set next to `linear` (the Trainer's probe). "
        f"Trainable parameters: {trained} "
        f"(of {counts[args.modes[0]][1]:,} for full).\n\n" + markdown_table(headers, rows)
    )
    report(args, args.section, [torch.device("cpu")], body)


if __name__ == "__main__":
    main()
