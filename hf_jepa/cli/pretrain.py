"""`hf-jepa pretrain`: pretrain a method, then evaluate its frozen features against its own initial weights, other
random inits and the raw pixels, and write model, card and numbers to a folder that holds nothing else."""

import argparse
import contextlib
import copy
import json
import logging
import os
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser, set_seed

from ..data.workers import loader_defaults
from ..engine.arguments import SSLTrainingArguments
from ..engine.run_files import (
    STAGING_PREFIX,
    atomic_write_text,
    locked_output_dir,
    prepare_output_dir,
    publish_staged,
    remove_stale_staging,
    resolve_resume_checkpoint,
)
from ..models.configuration_backbones import BACKBONES
from ..registry import METHODS, Method, default_processor, get_method, saved_method, saved_processor
from .arguments import check_positive, parse_overrides, resume_without_value, set_help

logger = logging.getLogger("hf_jepa")

# What `hf-jepa pretrain` uses unless the command line says otherwise: a run of a few minutes on 2 CPU cores.
# Checkpoints every 500 steps (and at the end): a run longer than a few minutes can always be resumed.
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
    save_strategy="steps",
    save_steps=500,
    save_total_limit=2,
    report_to="none",
    dataloader_pin_memory=torch.cuda.is_available(),
)
NO_LABELS = ("", "none", "None")


def default_output_dir(method: str) -> str:
    return os.path.join("outputs", method)


@dataclass
class DataArguments:
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "Image methods: 'digits' (embedded default), an image folder (sub-folders = classes; a flat "
            "folder has no labels), a folder saved with datasets' save_to_disk, or a Hub dataset name. Video "
            "methods: 'moving_digits' (embedded default: moving-digit mp4 clips), a folder of video files (mp4, "
            "webm, avi, ...; sub-folders = classes), a save_to_disk folder or a Hub dataset with a video column."
        },
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column (default: the first image one)."})
    video_column: str | None = field(
        default=None, metadata={"help": "Video methods: video column (default: 'video')."}
    )
    frames_per_clip: int | None = field(
        default=None, metadata={"help": "Video methods: frames per training clip (default: the model's num_frames)."}
    )
    frame_stride: int = field(
        default=2, metadata={"help": "Video methods: take every n-th frame for a clip (official V-JEPA: 4 at 30 fps)."}
    )
    label_column: str | None = field(
        default="label",
        metadata={"help": "Label column, used by the evaluation only ('none': no evaluation)."},
    )
    caption_column: str | None = field(
        default=None,
        metadata={
            "help": "Image-text methods (siglip, clip): the caption column (default: the first of caption, text, "
            "captions, sentence). The embedded digits are captioned from their labels and pixels."
        },
    )
    tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "Image-text methods: a tokenizer folder for the captions (its vocabulary and special tokens must "
            "fit the text tower's config). Default: a WordPiece tokenizer trained on the run's training captions."
        },
    )
    crop_scale: list[float] | None = field(
        default=None,
        metadata={
            "help": "Scale range of the random resized crop (multi-crop methods: of the global crops): two numbers, "
            "low high. Default: the method's official views ("
            + "; ".join(f"{m.title}: {m.views_help}" for m in METHODS.values())
            + ")."
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
    random_init_baselines: int = field(
        default=3,
        metadata={
            "help": "Random inits the evaluation's baseline is measured on: the run's own initial weights, then "
            "others (seeds after --seed); their spread is reported."
        },
    )
    # ---- data at scale (hf_jepa.data.streaming) ----
    streaming: bool = field(
        default=False,
        metadata={
            "help": "Read --dataset as a stream (a Hub dataset, or a folder or glob of parquet / WebDataset tar "
            "shards), never whole in memory or on disk; needs --max_steps. Shards are dealt to the data loader "
            "workers, rows shuffled in a buffer, every draw keyed by --seed, so a resumed run sees the "
            "batches an uninterrupted one would. Rows or shards that do not decode are skipped and counted. The "
            "evaluation uses the first --streaming_eval_size rows of the train and eval splits."
        },
    )
    shuffle_buffer_size: int = field(
        default=1000, metadata={"help": "--streaming: rows each data loader worker shuffles in memory."}
    )
    streaming_eval_size: int = field(
        default=1000,
        metadata={"help": "--streaming: rows of each split (train, eval) held in memory for the evaluation."},
    )

    def __post_init__(self):
        check_positive(
            frames_per_clip=self.frames_per_clip,
            frame_stride=self.frame_stride,
            load_size=self.load_size,
            eval_batch_size=self.eval_batch_size,
            random_init_baselines=self.random_init_baselines,
            shuffle_buffer_size=self.shuffle_buffer_size,
            streaming_eval_size=self.streaming_eval_size,
        )
        if self.crop_scale is not None:
            if len(self.crop_scale) != 2 or not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
                raise ValueError(
                    f"`--crop_scale` takes two numbers, low high, with 0 < low <= high <= 1 (e.g. `--crop_scale 0.3 "
                    f"1.0`), got {self.crop_scale}."
                )
        if self.label_column in NO_LABELS:
            self.label_column = None

    def streaming_options(self, training_args):
        """`data.streaming.StreamingOptions` for `--streaming` (checked against the training arguments), or None."""
        if not self.streaming:
            return None
        from ..data.streaming import StreamingOptions, check_streaming_run

        check_streaming_run(training_args.max_steps, training_args.dataloader_num_workers)
        # Every process reads its own shards (the trainer then keeps accelerate from dispatching or re-sharding).
        return StreamingOptions(
            self.shuffle_buffer_size,
            self.streaming_eval_size,
            training_args.seed,
            rank=training_args.process_index,
            world_size=training_args.world_size,
        )


def _takes_backbone(method) -> bool:
    return "backbone_config" in method.config_class.__dataclass_fields__


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
    backbone: str | None = field(
        default=None,
        metadata={
            "help": "A CNN encoder instead of the ViT, for the methods whose config has a `backbone_config` ("
            + ", ".join(m.name for m in METHODS.values() if _takes_backbone(m))
            + "): one of "
            + ", ".join(BACKBONES)
            + " (transformers' ResNet / ConvNeXt, randomly initialised; the export is that transformers class)."
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated config fields, e.g. 'hidden_size=192,num_hidden_layers=6,image_size=64' or "
            "'target_scale=[0.15,0.2]' (values are JSON)."
        },
    )


def build_model(model_args: ModelArguments):
    method = get_method(model_args.method)
    overrides = parse_overrides(model_args.config_overrides, method.config_class)
    if model_args.backbone is not None:
        if not _takes_backbone(method):
            takers = [m.name for m in METHODS.values() if _takes_backbone(m)]
            raise ValueError(f"`--backbone`: {method.title} trains the ViT only; CNN backbones go with {takers}.")
        overrides["backbone_config"] = model_args.backbone
    if model_args.model_name_or_path:
        folder = model_args.model_name_or_path
        if saved_method(folder, "--model_name_or_path") is not method:
            raise ValueError(f"`--model_name_or_path {folder}` holds another method's model, not {method.title}.")
        saved = method.config_class.from_pretrained(folder)
        config = method.config_class(**{**saved.to_dict(), **overrides})  # overrides checked as at construction
        model = method.pretraining_class.from_pretrained(folder, config=config, trust_remote_code=False)
        processor = saved_processor(method, folder)
    else:
        config = method.config_class(**{**method.default_config, **overrides})
        model = method.pretraining_class(config)
        processor = default_processor(method, config)
    return method, config, model, processor


def parse_pretrain_args(argv: list[str]) -> tuple[ModelArguments, DataArguments, SSLTrainingArguments]:
    parser = HfArgumentParser(
        (ModelArguments, DataArguments, SSLTrainingArguments),
        prog="hf-jepa pretrain",
        description="Pretrain a self-supervised method with a tiny ViT (a few minutes on a CPU) on the embedded data "
        "(digits for image methods, moving-digit clips for video ones; default I-JEPA), then evaluate the frozen "
        "features (kNN, linear probe) next to the run's own initial weights, other random inits and the raw pixels. "
        "Writes model, processor, eval_results.json and the model card to --output_dir. Every transformers "
        "TrainingArguments flag is accepted; defaults below are this command's (and the method's).",
    )
    method = chosen_method(argv)
    loaders = loader_defaults(method.modality, requested_workers(argv))
    parser.set_defaults(
        **{
            **PRETRAIN_DEFAULTS,
            **loaders,
            **method.training_defaults,
            "output_dir": default_output_dir(method.name),
        }
    )
    set_help(
        parser,
        "dataloader_num_workers",
        "Processes that decode and resize the data (default: min(4, CPU cores - 1), here "
        f"{loaders['dataloader_num_workers']}, for image and video methods; 0 for the others, or where shared memory "
        "cannot carry batches). Safe: collators "
        "are deterministic and random views and masks are drawn on the device, so batches (and a resumed run's) do "
        "not depend on the number of workers.",
    )
    set_help(
        parser,
        "output_dir",
        "Where the run writes its model, processor, checkpoints, eval_results.json and card (default: outputs/METHOD, "
        "e.g. outputs/ijepa). A folder holding another run's files is refused: pass --overwrite_output_dir to replace "
        "them or --resume_from_checkpoint to continue the run saved there.",
    )
    set_help(
        parser,
        "resume_from_checkpoint",
        "Continue an interrupted run: a checkpoint folder, or `latest` (also the flag alone) for the newest complete "
        "checkpoint in --output_dir (incomplete ones are skipped, saying why; none starts from the beginning).",
    )
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(resume_without_value(argv))
    if training_args.dataloader_num_workers == 0:  # torch refuses persistent workers when there are none
        training_args.dataloader_persistent_workers = False
    return model_args, data_args, training_args


def requested_workers(argv: list[str]) -> int | None:
    """The `--dataloader_num_workers` of `argv` if given (read before the full parse: the default is chosen only
    when it is not), else None; a value that is not a number is left to the full parse to refuse."""
    probe = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    probe.add_argument("--dataloader_num_workers", default=None)
    known, _ = probe.parse_known_args(argv)
    value = known.dataloader_num_workers
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def chosen_method(argv: list[str]) -> Method:
    """The `--method` of `argv` (read before the full parse: its recipe sets defaults), the default one if absent or
    unknown (the full parse then names the valid choices)."""
    probe = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    probe.add_argument("--method", default=ModelArguments.method)
    known, _ = probe.parse_known_args(argv)
    return METHODS.get(known.method, METHODS[ModelArguments.method])


def pretrain(argv: list[str], callbacks: list | tuple = ()) -> dict:
    """`hf-jepa pretrain ARGV`; `callbacks`: `TrainerCallback`s added to the run's trainer (the compare harness
    times the steps, counts their FLOPs and evaluates along the way with them)."""
    model_args, data_args, training_args = parse_pretrain_args(argv)
    output_dir = training_args.output_dir
    with contextlib.ExitStack() as run:
        # The main process checks, clears and locks the folder (for the whole run: one run per folder at a time);
        # the other processes of a distributed run wait for it, then read the same checkpoint.
        with training_args.main_process_first(local=False, desc="preparing --output_dir"):
            if training_args.process_index == 0:
                run.enter_context(locked_output_dir(output_dir))
                resuming = bool(training_args.resume_from_checkpoint)
                prepare_output_dir(
                    output_dir, training_args.overwrite_output_dir, resuming, command="hf-jepa pretrain"
                )
                remove_stale_staging(output_dir)  # what a killed run was writing
            checkpoint = resolve_resume_checkpoint(training_args.resume_from_checkpoint, output_dir)
        return run_pretraining(model_args, data_args, training_args, checkpoint, callbacks)


def run_pretraining(model_args, data_args, training_args, checkpoint: str | None, callbacks=()) -> dict:
    from ..data.training_data import default_dataset, load_training_data
    from ..engine.trainer import SSLTrainer
    from ..hub.cards import write_model_card
    from ..hub.push import training_push_repo

    set_seed(training_args.seed)
    method, config, model, processor = build_model(model_args)
    # The baseline the evaluation compares with: exactly this run's starting weights (also when resuming: the same
    # seed builds the same initial model before the checkpoint is loaded).
    initial_encoder = copy.deepcopy(model.get_encoder()).cpu()
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
        caption_column=data_args.caption_column,
        tokenizer=data_args.tokenizer,
        streaming=data_args.streaming_options(training_args),
    )
    data = inputs.data
    if training_args.eval_strategy != "no" and "eval" not in data:
        raise ValueError(
            f"`--eval_strategy {training_args.eval_strategy.value}` computes the loss on the eval split, but "
            f"`--dataset {data_args.dataset}` gives no labelled eval rows (a stream keeps them only from a "
            "validation / test split with a label column; see the warning above): pass `--eval_strategy no`."
        )
    # Image-text runs save the processor with the tokenizer; their evaluation compares with the whole initial model.
    initial_model = copy.deepcopy(model).cpu() if inputs.processor is not None else None
    dataset_name = data_args.dataset or default_dataset(method.modality)
    views = method.train_views(config, processor, data_args.crop_scale, data_args.horizontal_flip)
    trainer = SSLTrainer(
        model=model,
        args=training_args,
        train_dataset=inputs.train_dataset,
        eval_dataset=data["eval"] if training_args.eval_strategy != "no" else None,  # eval loss with fixed masks
        data_collator=inputs.train_collator,
        processing_class=inputs.processor or processor,
        train_views=views,
        model_card_writer=write_model_card,
        callbacks=list(callbacks),
    )
    if not training_args.should_log:  # the replicas of a distributed run report nothing twice
        logger.setLevel(logging.WARNING)
    logger.info(
        "Pretraining %s (%.2fM parameters) on %s: %s%s.",
        method.title,
        sum(p.numel() for p in model.parameters()) / 1e6,
        dataset_name,
        inputs.train_size,
        f", resuming from {checkpoint}" if checkpoint else "",
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    output_dir = training_args.output_dir
    staging = os.path.join(output_dir, STAGING_PREFIX + "final")
    trainer.save_model(staging)  # every process (FSDP gathers the weights), written by the main one
    if trainer.is_world_process_zero():
        publish_staged(staging, output_dir)  # the final model appears only when complete
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        # One evaluation, one set of files, one report: the other processes wait for the main one, then return.
        trainer.accelerator.wait_for_everyone()
        return {}
    try:
        return evaluate_and_publish(
            method, config, model, initial_encoder, initial_model, inputs, model_args, data_args, training_args,
            trainer.state.global_step, dataset_name, hub_repo_id,
        )  # fmt: skip
    finally:
        trainer.accelerator.wait_for_everyone()


def evaluate_and_publish(
    method, config, model, initial_encoder, initial_model, inputs, model_args, data_args, training_args, steps,
    dataset_name, hub_repo_id,
) -> dict:  # fmt: skip
    """The main process's part after training: evaluate, write eval_results.json and the card, print, push."""
    from ..hub.cards import write_model_card
    from ..hub.push import push_training_run

    output_dir = training_args.output_dir
    data, label_column = inputs.data, inputs.label_column
    if label_column is None and initial_model is None:
        print("No label column: skipping the kNN / linear-probe evaluation.")
        write_model_card(output_dir)  # the card, without numbers
        push_training_run(training_args, hub_repo_id)
        return {}
    results = {}
    if label_column is not None:
        results = evaluate_run(
            method, config, model.get_encoder(), initial_encoder, inputs, data_args, training_args.seed, training_args
        )
    if initial_model is not None:  # zero-shot and retrieval, for the model and its own initial weights
        from ..evaluation_image_text import evaluate_image_text

        results.update(
            evaluate_image_text(
                model,
                data,
                inputs.eval_collator,
                inputs.processor,
                inputs.label_names,
                inputs.zero_shot_templates,
                initial_model.to(model.device),
                batch_size=data_args.eval_batch_size,
            )
        )
    results.update(
        method=method.name,
        dataset=dataset_name,
        steps=steps,
        train_batch_size=training_args.per_device_train_batch_size * training_args.world_size,
        init_seed=None if model_args.model_name_or_path else training_args.seed,
    )
    atomic_write_text(os.path.join(output_dir, "eval_results.json"), json.dumps(results, indent=2))
    write_model_card(output_dir, results)  # README.md: the model card, filled from this run
    print(json.dumps(results, indent=2))
    print_verdicts(results, inputs.extra_label_columns)
    print(f"Saved model, processor, eval_results.json and README.md to {output_dir}")
    push_training_run(training_args, hub_repo_id)  # once, with the evaluated card (not the Trainer's own push)
    return results


def random_init_encoders(method: Method, config, first, count: int, seed: int) -> list:
    """`first` (the run's own initial encoder) and `count - 1` others, built from seeds after `seed`."""
    encoders = [first]
    for offset in range(1, count):
        torch.manual_seed(seed + offset)
        encoders.append(method.pretraining_class(config).get_encoder())
    return encoders


def evaluate_run(method, config, encoder, initial_encoder, inputs, data_args, seed, training_args) -> dict:
    """The evaluation of `evaluate_encoder` on the run's label column and on its other label columns (e.g. the
    moving digits' motion direction)."""
    from ..evaluation import evaluate_encoder

    baselines = random_init_encoders(method, config, initial_encoder, data_args.random_init_baselines, seed)
    baselines = [model.to(encoder.device) for model in baselines]

    def evaluate_with(collate) -> dict:
        return evaluate_encoder(
            encoder,
            inputs.data,
            collate,
            random_init_encoders=baselines,
            batch_size=data_args.eval_batch_size,
            progress=not training_args.disable_tqdm,
        )

    results = evaluate_with(inputs.eval_collator)
    for column in inputs.extra_label_columns:
        extra = evaluate_with(inputs.eval_collator_for(column))
        results[column] = {k: v for k, v in extra.items() if "top1" in k or k.startswith(("beats_", "random_init_s"))}
    return results


def print_verdicts(results: dict, extra_label_columns=()) -> None:
    from ..evaluation import verdict

    if "knn_top1" in results:
        print(verdict(results))
    if "image_to_text_recall@1" in results:
        from ..evaluation_image_text import image_text_verdict

        print(image_text_verdict(results))
    for column in extra_label_columns:
        print(f"Labels `{column}`: " + verdict(results[column]))


__all__ = ["DataArguments", "ModelArguments", "PRETRAIN_DEFAULTS", "build_model", "parse_pretrain_args", "pretrain"]
