"""`hf-jepa finetune`: a saved encoder -> a classifier trained on a dataset's labels by transformers' Trainer, in one
of the four modes of `modes.py`, written with its processor, numbers and card to a folder that holds nothing else."""

import contextlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import replace

import torch
from transformers import set_seed

from ..engine.run_files import (
    STAGING_PREFIX,
    atomic_write_text,
    check_distinct_folders,
    locked_output_dir,
    prepare_output_dir,
    publish_staged,
    remove_stale_staging,
    resolve_resume_checkpoint,
)
from ..registry import model_processor, read_saved_config, saved_method
from .arguments import parse_finetune_args
from .labels import check_enough_classes, check_modality, check_reused_head, resolve_labels
from .modes import check_mode, classifier_config, freeze_encoder, full_recipe, lora_model, parameter_counts

logger = logging.getLogger("hf_jepa")
TOP_K = 5
ADAPTER_DIR = "adapter"
PROBES = ("linear", "attentive")


def resolve_model(model: str) -> str:
    """A local folder as it is; a Hub id downloaded (config, weights, processor, card only: safetensors, no code)."""
    if os.path.isdir(model):
        return model
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(model, allow_patterns=["*.json", "*.safetensors", "README.md"])
    except Exception as error:  # huggingface_hub raises many types (offline, not found, no access)
        raise ValueError(
            f"`--model {model}` is neither a local folder nor a Hub model that could be downloaded "
            f"({type(error).__name__}: {error})."
        ) from None


def finetune(argv: list[str]) -> dict:
    args, training_args = parse_finetune_args(argv)
    output_dir = training_args.output_dir
    model_dir = resolve_model(args.model)
    check_distinct_folders(model_dir, output_dir)
    with contextlib.ExitStack() as run:
        with training_args.main_process_first(local=False, desc="preparing --output_dir"):
            if training_args.process_index == 0:
                run.enter_context(locked_output_dir(output_dir))
                resuming = bool(training_args.resume_from_checkpoint)
                prepare_output_dir(
                    output_dir, training_args.overwrite_output_dir, resuming, command="hf-jepa finetune"
                )
                remove_stale_staging(output_dir)
            checkpoint = resolve_resume_checkpoint(training_args.resume_from_checkpoint, output_dir)
        return run_finetuning(args, training_args, model_dir, checkpoint)


def build_classifier(method, model_dir: str, config, args, labels, saved_config: dict):
    """The classifier of `args.mode` on the folder's encoder (and head, when it is reused), ready for Trainer; with
    the drop-path rate and layer-wise lr decay it trains with."""
    reused = check_reused_head(saved_config, labels, model_dir, args.reset_head)
    recipe = full_recipe(method)
    drop_path = args.drop_path_rate
    if drop_path is None and args.mode == "full":
        drop_path = recipe.drop_path_rate
    config = classifier_config(config, labels, args.mode, drop_path, new_head=not reused)
    model = method.classification_class.from_pretrained(
        model_dir, config=config, ignore_mismatched_sizes=args.reset_head, trust_remote_code=False
    )
    if args.reset_head:  # also when the sizes agree: a new head, as asked
        torch.nn.init.trunc_normal_(model.classifier.weight, std=config.initializer_range)
        torch.nn.init.zeros_(model.classifier.bias)
    if args.mode in PROBES:
        freeze_encoder(model)
    if args.mode == "lora":
        model = lora_model(model, args.lora_r, args.lora_alpha, args.lora_dropout)
    layer_decay = args.layer_decay if args.layer_decay is not None else recipe.layer_decay
    if args.mode != "full":
        if args.layer_decay is not None and args.layer_decay != 1:
            raise ValueError(f"`--layer_decay` applies to `--mode full` only (got --mode {args.mode}).")
        layer_decay = 1.0
    logger.info(
        "%s: %s head on %s's encoder; %s.",
        args.mode,
        "reused" if reused else "new",
        method.title,
        recipe.source if args.mode == "full" else "frozen encoder" if args.mode in PROBES else "LoRA adapters",
    )
    return model, drop_path, layer_decay


def run_finetuning(args, training_args, model_dir: str, checkpoint: str | None) -> dict:
    from ..data.training_data import default_dataset, load_training_data
    from ..engine.views import RandomResizedCropFlip
    from .metrics import compute_metrics_fn
    from .mixup import MixUpCutMix
    from .trainer import FineTuningTrainer

    set_seed(training_args.seed)
    method = saved_method(model_dir)
    saved_config = read_saved_config(model_dir)
    check_modality(method.modality, args.dataset)
    config = method.config_class.from_pretrained(model_dir)
    check_mode(args.mode, config)
    processor = model_processor(method, model_dir, config)
    hub_repo_id = None
    if training_args.push_to_hub:  # the Hub checked before training; Trainer's own pushes turned off
        from ..hub.push import training_push_repo

        hub_repo_id = training_push_repo(training_args, config.model_type)
    inputs = load_training_data(
        method.modality,
        config,
        processor,
        args.dataset,
        args.image_column or args.video_column,
        args.label_column,
        args.load_size,
        args.frames_per_clip,
        args.frame_stride,
        seed=training_args.seed,
    )
    data, labels = resolve_labels(inputs.data, inputs.label_column)
    check_enough_classes(labels)
    model, drop_path, layer_decay = build_classifier(method, model_dir, config, args, labels, saved_config)
    counts = parameter_counts(model)

    crop_scale = args.train_crop_scale
    size = (processor.size["height"], processor.size["width"])
    views = RandomResizedCropFlip(size, crop_scale, horizontal_flip=args.horizontal_flip) if crop_scale else None
    mixup = None
    if args.mixup_alpha > 0 or args.cutmix_alpha > 0:
        mixup = MixUpCutMix(
            len(labels.names),
            args.mixup_alpha,
            args.cutmix_alpha,
            args.mixup_prob,
            args.mixup_switch_prob,
            training_args.label_smoothing_factor,
        )
    trainer = FineTuningTrainer(
        model=model,
        args=training_args,
        train_dataset=data["train"],
        eval_dataset=data["eval"],
        data_collator=replace(inputs.train_collator, label_column=labels.column),
        eval_collator=inputs.eval_collator,
        compute_metrics=compute_metrics_fn(TOP_K),
        processing_class=processor,
        train_views=views,
        mixup=mixup,
        layer_decay=layer_decay,
        frozen_encoder=args.mode in PROBES,
    )
    dataset_name = args.dataset or default_dataset(method.modality)
    logger.info(
        "Fine-tuning (%s) %s on %s: %d train / %d eval %s, %d classes; %s of %s parameters train.",
        args.mode,
        method.title,
        dataset_name,
        len(data["train"]),
        len(data["eval"]),
        inputs.unit,
        len(labels.names),
        f"{counts['trainable_parameters']:,}",
        f"{counts['total_parameters']:,}",
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    metrics = trainer.evaluate()  # the best checkpoint's (loaded at the end of training)

    output_dir = training_args.output_dir
    staging = os.path.join(output_dir, STAGING_PREFIX + "final")
    if trainer.is_world_process_zero():  # one writer: the other processes wait below
        save_classifier(trainer, processor, staging, lora=args.mode == "lora")
        publish_staged(staging, output_dir)
    trainer.accelerator.wait_for_everyone()

    results = dict(
        mode=args.mode,
        method=method.name,
        base_model=args.model,
        dataset=dataset_name,
        label_column=labels.column,
        labels_mapped_from_strings=labels.mapped_from_strings,
        num_classes=len(labels.names),
        top_k=TOP_K,
        accuracy=metrics["eval_accuracy"],
        top_k_accuracy=metrics[f"eval_top{TOP_K}_accuracy"],
        macro_f1=metrics["eval_macro_f1"],
        eval_loss=metrics.get("eval_loss"),
        best_checkpoint=os.path.basename(trainer.state.best_model_checkpoint or "") or None,
        epochs=round(float(trainer.state.epoch or 0), 2),
        steps=trainer.state.global_step,
        train_batch_size=training_args.per_device_train_batch_size * training_args.world_size,
        learning_rate=training_args.learning_rate,
        layer_decay=layer_decay,
        label_smoothing=training_args.label_smoothing_factor,
        drop_path_rate=drop_path if args.mode in ("full", "lora") else 0.0,
        mixup_alpha=args.mixup_alpha,
        cutmix_alpha=args.cutmix_alpha,
        num_train=len(data["train"]),
        num_eval=len(data["eval"]),
        **counts,
    )
    if trainer.is_world_process_zero():
        from .card import write_finetune_card

        atomic_write_text(os.path.join(output_dir, "eval_results.json"), json.dumps(results, indent=2))
        write_finetune_card(output_dir, method, trainer.model.config, results)
        print(json.dumps(results, indent=2))
        print(
            f"{method.title} {args.mode}: top-1 {results['accuracy']:.3f}, "
            f"top-{TOP_K} {results['top_k_accuracy']:.3f}, macro F1 {results['macro_f1']:.3f} on "
            f"{results['num_eval']} eval {inputs.unit}; "
            f"{counts['trainable_parameters']:,} trainable parameters. Saved to {output_dir}"
        )
        if hub_repo_id is not None:
            push_finetuned(output_dir, hub_repo_id, method, results, training_args)
    return results


def save_classifier(trainer, processor, folder: str, lora: bool) -> None:
    """The classifier (the best checkpoint's weights) and processor into `folder`; a LoRA run also writes its adapter
    to `folder/adapter` and saves the merged model (plain weights, loadable without PEFT)."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if lora:
        model.save_pretrained(os.path.join(folder, ADAPTER_DIR))
        model = model.merge_and_unload()
        trainer.model = model
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def push_finetuned(output_dir: str, repo_id: str, method, results: dict, training_args) -> str:
    """Upload the run's model files, adapter and a card naming the repo, in one commit (`hub.push`'s checks and
    upload); Trainer checkpoints and state never go."""
    from ..hub.push import _stage_native, _upload, check_push_access
    from .card import write_finetune_card

    access = check_push_access(repo_id, method.model_type, training_args.hub_token)
    with tempfile.TemporaryDirectory(prefix="hf_jepa-push-") as tmp:
        staged = os.path.join(tmp, repo_id.split("/")[-1])
        _stage_native(output_dir, staged)
        adapter = os.path.join(output_dir, ADAPTER_DIR)
        if os.path.isdir(adapter):
            shutil.copytree(adapter, os.path.join(staged, ADAPTER_DIR))
        config = method.config_class.from_pretrained(output_dir)
        write_finetune_card(staged, method, config, results, model_id=access.repo_id)
        url = _upload(access, staged, bool(training_args.hub_private_repo), f"Upload {results['mode']} classifier")
    print(f"Pushed to {url}.")
    return url


__all__ = ["build_classifier", "finetune", "resolve_model", "run_finetuning"]
