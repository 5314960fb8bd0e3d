"""The `hf-jepa` command: parses the command line and calls the library. One file per command (`pretrain`,
`evaluate`, `export`; `push`, `demo`, `convert`, `finetune` and `compare` live with what they drive); each loads what
it needs when it runs, so `hf-jepa --help` stays quick."""

import logging
import sys

from safetensors import SafetensorError

from ..engine.run_files import OutputFolderError
from ..registry import load_object, methods_help
from .evaluate import evaluate
from .export import export
from .pretrain import PRETRAIN_DEFAULTS, build_model, parse_pretrain_args, pretrain

# Command -> its function ("module:function" loads with the command).
COMMANDS = {
    "pretrain": pretrain,
    "evaluate": evaluate,
    "export": export,
    "finetune": "hf_jepa.finetune.run:finetune",
    "push": "hf_jepa.hub.push:push",
    "demo": "hf_jepa.demo.app:demo",
    "convert": "hf_jepa.hub.converters:convert_command",
    "compare": "hf_jepa.compare.command:compare",
    "collect": "hf_jepa.world.collect:collect",
    "plan": "hf_jepa.world.plan:plan",
}
USAGE = f"""usage: hf-jepa {{{",".join(COMMANDS)}}} [options]

  pretrain   Pretrain a method (--method NAME; tiny ViTs on the embedded digits, or moving-digit clips for video
             methods), evaluate its frozen features against random init and save model + processor +
             eval_results.json to --output_dir. Accepts every transformers TrainingArguments flag. Methods:
{methods_help()}
  evaluate   kNN / linear-probe evaluation of a saved model folder (--model DIR).
  finetune   Train a classifier on a saved encoder (--model DIR_OR_HUB_ID) with transformers' Trainer on a dataset's
             labels (default: the embedded digits or moving digits): --mode full (the paper's recipe), lora (PEFT),
             linear or attentive (frozen-encoder probes); evaluates each epoch (accuracy, top-5, macro F1), keeps
             the best checkpoint, writes model, card and eval_results.json to --output_dir.
  export     Write a saved model folder (--model DIR) as transformers' own classes (--format transformers)
             or as remote code with our model files (--format remote-code) to --output_dir, loadable with
             AutoModel.from_pretrained without hf_jepa.
  push       Publish a saved model folder (--model DIR) to the Hub repo --repo_id NAME with a generated model card,
             safetensors only, in one commit (--format native|transformers|remote-code, --private, --token T).
             --dry-run OUT_DIR writes and lists the exact upload folder without touching the network.
  demo       Serve the Gradio demo of saved models side by side (--model DIR [--model DIR2 ...]): PCA of patch
             features, nearest neighbours, a 2-D map of a gallery, and each method's predictions; for a LeWorldModel,
             a world-model tab that plans towards a goal in its environment (--world_env ID, --probe_dataset DIR).
  convert    Convert a checkpoint of the official code (--from METHOD CKPT) into an hf_jepa folder with processor
             and model card (--output_dir OUT; --config JSON for what the file does not tell).
             Weights-only loading: nothing in the file is executed.

  compare    Train several methods on equal terms (same backbone, data and budget: --max_steps, --budget_seconds or
             --budget_flops) and compare them: kNN, linear / few-shot / attentive probes over --seeds, linear CKA
             between methods, plots and a report on the blog's claims (--methods a,b,c or --preset
             predictor|targets|collapse; --output_dir DIR, resumable).

  collect    Record trajectories of a stable-worldmodel environment (--env swm/TwoRoom-v1 --episodes N; expert policy
             + noise and random episodes) as a datasets folder (--output_dir DIR) for `pretrain --method lewm`.
  plan       Plan with a trained LeWorldModel (--model DIR --env ID --episodes N): CEM in latent space towards a goal
             frame, receding horizon, next to random actions; writes plan_results.json and a GIF (--output_dir OUT).

Run `hf-jepa COMMAND --help` for the options of a command."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"hf-jepa: unknown command {command!r}.\n\n{USAGE}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    run = COMMANDS[command]
    run = load_object(run) if isinstance(run, str) else run
    from ..engine.trainer import TrainingDivergedError

    try:
        run(rest)
    except (ValueError, TrainingDivergedError, OutputFolderError) as error:
        print(f"hf-jepa {command}: error: {error}", file=sys.stderr)
        return 1
    except (OSError, SafetensorError) as error:  # a full disk, a file-size limit, a folder that cannot be written
        where = f" {error.filename}" if getattr(error, "filename", None) else ""
        reason = getattr(error, "strerror", None) or error
        print(
            f"hf-jepa {command}: error: could not read or write{where}: {reason}. Files are written "
            "aside and moved in when complete, so nothing half-written was left as a model or checkpoint; free "
            "space (or fix the permission) and run again (`--resume_from_checkpoint latest` continues a run).",
            file=sys.stderr,
        )
        return 1
    return 0


__all__ = [
    "COMMANDS",
    "PRETRAIN_DEFAULTS",
    "USAGE",
    "build_model",
    "evaluate",
    "export",
    "main",
    "parse_pretrain_args",
    "pretrain",
]
