"""The `hf-jepa` command: parses the command line and calls the library (pretrain, evaluate, export, push, demo,
convert). Each command's heavy imports happen when it runs."""

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass, field

import torch
from transformers import AutoConfig, AutoModel, HfArgumentParser, set_seed

from .engine.arguments import SSLTrainingArguments
from .registry import (
    METHODS,
    default_processor,
    get_method,
    load_object,
    method_of_model_type,
    methods_help,
    model_processor,
    saved_processor,
)

# What `hf-jepa export` writes (`--format`); the exporters themselves load with the command.
FORMATS = ("transformers", "remote-code")

logger = logging.getLogger("hf_jepa")

# What `hf-jepa pretrain` uses unless the command line says otherwise: a run of a few minutes on 2 CPU cores.
PRETRAIN_DEFAULTS = dict(
    max_steps=300,
    per_device_train_batch_size=128,
    learning_rate=1e-3,
    warmup_steps=30,
    lr_scheduler_type="cosine_with_min_lr",
    lr_scheduler_kwargs={"min_lr_rate": 0.01},
    weight_decay=0.04,
    weight_decay_end=0.4,
    logging_steps=25,
    save_strategy="no",
    dataloader_num_workers=0,
    report_to="none",
    dataloader_pin_memory=torch.cuda.is_available(),
)


@dataclass
class DataArguments:
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "Image methods: 'digits' (embedded default), an image folder (sub-folders = classes), a folder "
            "saved with datasets' save_to_disk, or a Hub dataset name. V-JEPA: 'moving_digits' (embedded default: "
            "moving-digit mp4 clips), a folder of video files (mp4, webm, avi, ...; sub-folders = classes), a "
            "save_to_disk folder or a Hub dataset with a video column."
        },
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column (default: the first image one)."})
    video_column: str | None = field(default=None, metadata={"help": "V-JEPA: video column (default: 'video')."})
    frames_per_clip: int | None = field(
        default=None, metadata={"help": "V-JEPA: frames per training clip (default: the model's num_frames)."}
    )
    frame_stride: int = field(
        default=2, metadata={"help": "V-JEPA: take every n-th frame of a video for a clip (official: 4 at 30 fps)."}
    )
    label_column: str = field(default="label", metadata={"help": "Label column, used by the evaluation only."})
    crop_scale: list[float] | None = field(
        default=None,
        metadata={
            "help": "Scale range of the random resized crop (multi-crop methods: of the global crops). Default: the "
            "method's official views (" + "; ".join(f"{m.title}: {m.views_help}" for m in METHODS.values()) + ")."
        },
    )
    horizontal_flip: bool | None = field(
        default=None,
        metadata={
            "help": "Random horizontal flips in training views: true or false. Default: the method's official "
            "choice (see --crop_scale)."
        },
    )
    load_size: int | None = field(
        default=None,
        metadata={
            "help": "Images are resized to this square size before the on-device random crop "
            "(default: the model's image size; e.g. 256 for 224 crops)."
        },
    )
    eval_batch_size: int = field(default=256, metadata={"help": "Batch size of feature extraction."})


@dataclass
class ModelArguments:
    method: str = field(
        default="ijepa",
        metadata={
            "help": "Pretraining method (its official recipe sets the defaults it needs): "
            + "; ".join(f"{m.name} = {m.title}, {m.summary}" for m in METHODS.values()).replace("%", "%%")
            + ".",
            "choices": list(METHODS),
        },
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Continue from a folder saved by hf-jepa for the same method."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Comma-separated config fields, e.g. 'hidden_size=192,num_hidden_layers=6,image_size=64'."},
    )


def parse_overrides(text: str | None, config_class) -> dict:
    if not text:
        return {}
    known = {f for f in config_class.__dataclass_fields__}
    overrides = {}
    for item in text.split(","):
        if "=" not in item:
            raise ValueError(f"`--config_overrides` expects key=value pairs, got {item!r}.")
        key, value = (part.strip() for part in item.split("=", 1))
        if key not in known:
            raise ValueError(f"`--config_overrides`: {config_class.__name__} has no field {key!r}.")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def build_model(model_args: ModelArguments):
    method = get_method(model_args.method)
    if model_args.model_name_or_path:
        config = method.config_class.from_pretrained(model_args.model_name_or_path)  # refuses other methods
        for key, value in parse_overrides(model_args.config_overrides, method.config_class).items():
            setattr(config, key, value)
        model = method.pretraining_class.from_pretrained(model_args.model_name_or_path, config=config)
        processor = saved_processor(method, model_args.model_name_or_path)
    else:
        config = method.config_class(
            **{**method.default_config, **parse_overrides(model_args.config_overrides, method.config_class)}
        )
        model = method.pretraining_class(config)
        processor = default_processor(method, config)
    return method, config, model, processor


def random_init_encoder(method, config, seed: int):
    """The same architecture at random init, reproducible from `seed`."""
    torch.manual_seed(seed)
    return method.model_class(config)


def write_results(output_dir: str, results: dict) -> str:
    path = os.path.join(output_dir, "eval_results.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    return path


def summary(results: dict) -> str:
    verdict = "beat" if results.get("beats_random_init") else "did NOT beat"
    return (
        f"kNN top-1 {results['knn_top1']:.3f} (random init {results['random_init_knn_top1']:.3f}), "
        f"linear probe top-1 {results['linear_probe_top1']:.3f} "
        f"(random init {results['random_init_linear_probe_top1']:.3f}): the pretrained features {verdict} "
        "random init on kNN."
    )


def parse_pretrain_args(argv: list[str]) -> tuple[ModelArguments, DataArguments, SSLTrainingArguments]:
    parser = HfArgumentParser(
        (ModelArguments, DataArguments, SSLTrainingArguments),
        prog="hf-jepa pretrain",
        description="Pretrain a self-supervised method with a tiny ViT (a few minutes on a CPU) on the embedded data "
        "(digits for image methods, moving-digit clips for video ones; default I-JEPA), then evaluate the frozen "
        "features (kNN, linear probe) next to the same architecture at random init. Writes model, processor and "
        "eval_results.json to --output_dir. Every transformers TrainingArguments flag is accepted; defaults below "
        "are this command's (and the method's).",
    )
    parser.set_defaults(**{**PRETRAIN_DEFAULTS, **method_training_defaults(argv)})
    return parser.parse_args_into_dataclasses(argv)


def method_training_defaults(argv: list[str]) -> dict:
    """The chosen method's official-recipe defaults (e.g. DINO's cosine EMA), read before the full parse."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--method", default=ModelArguments.method)
    known, _ = probe.parse_known_args(argv)
    return dict(METHODS[known.method].training_defaults) if known.method in METHODS else {}


def pretrain(argv: list[str]) -> dict:
    from .data.training_data import default_dataset, load_training_data
    from .engine.trainer import SSLTrainer
    from .evaluation import evaluate_encoder
    from .hub.cards import write_model_card
    from .hub.push import push_training_run, training_push_repo

    model_args, data_args, training_args = parse_pretrain_args(argv)
    set_seed(training_args.seed)
    method, config, model, processor = build_model(model_args)
    hub_repo_id = training_push_repo(training_args, config.model_type)  # --push_to_hub: Hub checked before training
    inputs = load_training_data(
        method.modality,
        config,
        processor,
        data_args.dataset,
        data_args.image_column or data_args.video_column,
        data_args.label_column,
        data_args.load_size,
        data_args.frames_per_clip,
        data_args.frame_stride,
        seed=training_args.seed,
    )
    data, label_column = inputs.data, inputs.label_column
    dataset_name = data_args.dataset or default_dataset(method.modality)
    views = method.train_views(config, processor, data_args.crop_scale, data_args.horizontal_flip)
    trainer = SSLTrainer(
        model=model,
        args=training_args,
        train_dataset=data["train"],
        eval_dataset=data["eval"] if training_args.eval_strategy != "no" else None,  # eval loss with fixed masks
        data_collator=inputs.train_collator,
        processing_class=processor,
        train_views=views,
        model_card_writer=write_model_card,
    )
    logger.info(
        "Pretraining %s (%.2fM parameters) on %s: %d train %s.",
        method.name,
        sum(p.numel() for p in model.parameters()) / 1e6,
        dataset_name,
        len(data["train"]),
        inputs.unit,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)

    if label_column is None:
        print("No label column: skipping the kNN / linear-probe evaluation.")
        write_model_card(training_args.output_dir)  # the card, without numbers
        push_training_run(training_args, hub_repo_id)
        return {}
    encoder = model.get_encoder()

    def evaluate_with(collate) -> dict:
        return evaluate_encoder(
            encoder,
            processor,
            data,
            random_init_encoder=random_init_encoder(method, config, training_args.seed).to(encoder.device),
            batch_size=data_args.eval_batch_size,
            progress=not training_args.disable_tqdm,
            collate=collate,
        )

    results = evaluate_with(inputs.eval_collator)
    for column in inputs.extra_label_columns:  # e.g. the moving digits' motion direction
        extra = evaluate_with(inputs.eval_collator_for(column))
        results[column] = {k: v for k, v in extra.items() if "top1" in k or k == "beats_random_init"}
    results.update(
        method=method.name,
        dataset=dataset_name,
        steps=trainer.state.global_step,
        train_batch_size=training_args.per_device_train_batch_size * training_args.world_size,
    )
    path = write_results(training_args.output_dir, results)
    write_model_card(training_args.output_dir, results)  # README.md: the model card, filled from this run
    print(json.dumps(results, indent=2))
    print(summary(results))
    for column in inputs.extra_label_columns:
        print(f"Labels `{column}`: " + summary(results[column]))
    print(f"Saved model, processor and {os.path.basename(path)} to {training_args.output_dir}")
    push_training_run(training_args, hub_repo_id)  # once, with the evaluated card (not the Trainer's own push)
    return results


@dataclass
class EvaluateArguments:
    model: str = field(metadata={"help": "A folder saved by `hf-jepa pretrain` (or any hf_jepa model folder)."})
    dataset: str | None = field(
        default=None, metadata={"help": "Same choices as for pretrain (default: the method's embedded data)."}
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column (default: the first one)."})
    video_column: str | None = field(default=None, metadata={"help": "Video column (default: 'video')."})
    label_column: str = field(default="label", metadata={"help": "Label column."})
    frames_per_clip: int | None = field(default=None, metadata={"help": "Video: frames per clip (model's default)."})
    frame_stride: int = field(default=2, metadata={"help": "Video: take every n-th frame for a clip."})
    batch_size: int = field(default=256, metadata={"help": "Batch size of feature extraction."})
    seed: int = field(default=42, metadata={"help": "Seed of the random-init baseline."})


def evaluate(argv: list[str]) -> dict:
    from .data.training_data import default_dataset, load_training_data
    from .evaluation import evaluate_encoder

    parser = HfArgumentParser(
        EvaluateArguments,
        prog="hf-jepa evaluate",
        description="kNN (cosine, k=20) and linear-probe top-1 of a saved model's frozen features, next to the same "
        "architecture at random init. Prints the results as JSON.",
    )
    (args,) = parser.parse_args_into_dataclasses(argv)
    if not os.path.isfile(os.path.join(args.model, "config.json")):
        raise ValueError(f"`--model {args.model}` is not a saved model folder (no config.json).")
    config = AutoConfig.from_pretrained(args.model)
    method = method_of_model_type(config.model_type)
    encoder = AutoModel.from_pretrained(args.model)
    processor = model_processor(method, args.model, config)
    inputs = load_training_data(
        method.modality,
        config,
        processor,
        args.dataset,
        args.image_column or args.video_column,
        args.label_column,
        frames_per_clip=args.frames_per_clip,
        frame_stride=args.frame_stride,
    )
    if inputs.label_column is None:
        raise ValueError("Evaluation needs labels: the dataset has no label column (pass `--label_column`).")
    results = evaluate_encoder(
        encoder,
        processor,
        inputs.data,
        random_init_encoder=random_init_encoder(method, config, args.seed),
        batch_size=args.batch_size,
        collate=inputs.eval_collator,
    )
    results.update(method=method.name, dataset=args.dataset or default_dataset(method.modality))
    print(json.dumps(results, indent=2))
    print(summary(results))
    return results


@dataclass
class ExportArguments:
    model: str = field(metadata={"help": "A folder saved by `hf-jepa pretrain` (or any hf_jepa model folder)."})
    output_dir: str = field(metadata={"help": "Where to write the exported model and image processor."})
    format: str = field(
        default="transformers",
        metadata={
            "help": "'transformers': transformers' own classes ({native_classes}), loadable with AutoModel without "
            "hf_jepa. 'remote-code': the full pretraining model with our model files and auto_map, loadable with "
            "trust_remote_code=True without hf_jepa.",
            "choices": list(FORMATS),
        },
    )


def fill_help(parser: argparse.ArgumentParser, **values: str) -> None:
    """Fill `{name}` placeholders of the parser's help texts with what is known only once the command runs (e.g.
    the exporters' native classes, loaded with the command)."""
    for action in parser._actions:
        for name, value in values.items():
            if action.help and f"{{{name}}}" in action.help:
                action.help = action.help.replace(f"{{{name}}}", value)


def export(argv: list[str]):
    from .hub.cards import load_results, write_model_card
    from .hub.export import export_to_transformers, native_targets_help
    from .hub.remote_code import export_remote_code

    parser = HfArgumentParser(
        ExportArguments,
        prog="hf-jepa export",
        description="Export a saved hf_jepa model (weights in safetensors) and its image processor to a format that "
        "loads without hf_jepa.",
    )
    fill_help(parser, native_classes=native_targets_help())
    (args,) = parser.parse_args_into_dataclasses(argv)
    if args.format == "remote-code":
        files = export_remote_code(args.model, args.output_dir)
        write_model_card(args.output_dir, load_results(args.model))  # README.md: the card, with the run's numbers
        files = sorted(set(files) | {"README.md"})
        print(f"Wrote the full model as remote code to {args.output_dir}: {', '.join(files)}")
        print(
            "Load it without hf_jepa (this runs the copied model files: read them first):\n"
            "  from transformers import AutoModel, AutoModelForPreTraining\n"
            f"  encoder = AutoModel.from_pretrained({args.output_dir!r}, trust_remote_code=True)\n"
            f"  full = AutoModelForPreTraining.from_pretrained({args.output_dir!r}, trust_remote_code=True)"
        )
        return files
    result = export_to_transformers(args.model, args.output_dir)
    write_model_card(args.model, export=result)  # README.md: the exported folder's card, plain transformers first
    print(f"Wrote {result.target} to {result.output_dir}: {', '.join(result.files)}")
    print(
        "Load it without hf_jepa:\n"
        "  from transformers import AutoImageProcessor, AutoModel\n"
        f"  model = AutoModel.from_pretrained({result.output_dir!r})\n"
        f"  processor = AutoImageProcessor.from_pretrained({result.output_dir!r})\n"
        f"Note: {result.load_hint}"
    )
    return result


# Command -> its function ("module:function" loads with the command, so `hf-jepa --help` stays quick).
COMMANDS = {
    "pretrain": pretrain,
    "evaluate": evaluate,
    "export": export,
    "push": "hf_jepa.hub.push:push",
    "demo": "hf_jepa.demo.app:demo",
    "convert": "hf_jepa.hub.converters:convert_command",
}
USAGE = f"""usage: hf-jepa {{{",".join(COMMANDS)}}} [options]

  pretrain   Pretrain a method (--method NAME; tiny ViTs on the embedded digits, or moving-digit clips for video
             methods), evaluate its frozen features against random init and save model + processor +
             eval_results.json to --output_dir. Accepts every transformers TrainingArguments flag. Methods:
{methods_help()}
  evaluate   kNN / linear-probe evaluation of a saved model folder (--model DIR).
  export     Write a saved model folder (--model DIR) as transformers' own classes (--format transformers)
             or as remote code with our model files (--format remote-code) to --output_dir, loadable with
             AutoModel.from_pretrained without hf_jepa.
  push       Publish a saved model folder (--model DIR) to the Hub repo --repo_id NAME with a generated model card,
             safetensors only, in one commit (--format native|transformers|remote-code, --private, --token T).
             --dry-run OUT_DIR writes and lists the exact upload folder without touching the network.
  demo       Serve the Gradio demo of saved models side by side (--model DIR [--model DIR2 ...]): PCA of patch
             features, nearest neighbours, a 2-D map of a gallery, and each method's predictions.
  convert    Convert a checkpoint of the official code (--from METHOD CKPT) into an hf_jepa folder with processor
             and model card (--output_dir OUT; --config JSON for what the file does not tell).
             Weights-only loading: nothing in the file is executed.

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
    from .engine.trainer import TrainingDivergedError

    try:
        run(rest)
    except (ValueError, TrainingDivergedError) as error:
        print(f"hf-jepa {command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
