"""One run of the comparison: a variant trained with one seed by `hf-jepa pretrain` itself (so each model folder is
a normal hf_jepa output), timed, its FLOPs counted, evaluated along the way, then measured with the compare
protocols. Every run writes its record last; a record on disk means the run is done and is never retrained, and an
interrupted run continues from its newest checkpoint."""

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import TrainerCallback

from ..engine.run_files import atomic_write_text
from ..evaluation import encode_split, evaluate_features, knn_top1, representation_stats
from ..registry import get_method
from .budget import Budget
from .flops import StepCostCallback
from .memory import PeakMemory
from .presets import Variant
from .probes import attentive_probe_top1, few_shot_probes

logger = logging.getLogger("hf_jepa.compare")


@dataclass
class CompareSettings:
    """What every run of one comparison shares."""

    output_dir: Path
    budget: Budget
    seeds: int = 1
    dataset: str | None = None
    media_column: str | None = None
    label_column: str | None = "label"
    backbone: str | None = None
    eval_points: int = 4  # evaluations along each run (and one of the initial weights)
    eval_batch_size: int = 256
    extra_args: list[str] = field(default_factory=list)  # more `hf-jepa pretrain` flags, the same for every run

    def run_id(self, variant: Variant, seed: int) -> str:
        return f"{variant.label}-seed{seed}"

    def model_dir(self, run_id: str) -> Path:
        return self.output_dir / "models" / run_id

    def record_path(self, run_id: str) -> Path:
        return self.output_dir / "runs" / f"{run_id}.json"

    def features_path(self, run_id: str) -> Path:
        return self.output_dir / "features" / f"{run_id}.pt"


def variant_config(variant: Variant, settings: CompareSettings):
    """The variant's config as `hf-jepa pretrain` builds it (default tiny config, backbone, overrides)."""
    from ..cli.pretrain import ModelArguments, build_model

    arguments = ModelArguments(variant.method, None, settings.backbone, variant.overrides_argument())
    _, config, _, processor = build_model(arguments)
    return config, processor


def run_data(variant: Variant, settings: CompareSettings, seed: int = 0):
    """The dataset and collators the variant trains and is evaluated on (decoded once, then cached)."""
    from ..data.training_data import load_training_data

    config, processor = variant_config(variant, settings)
    return load_training_data(
        variant.modality,
        config,
        processor,
        settings.dataset,
        settings.media_column,
        settings.label_column,
        seed=seed,
    )


def pretrain_arguments(variant: Variant, settings: CompareSettings, seed: int, output_dir: Path) -> list[str]:
    argv = ["--method", variant.method, "--output_dir", str(output_dir), "--seed", str(seed)]
    if settings.dataset:
        argv += ["--dataset", settings.dataset]
    if settings.media_column:
        argv += ["--video_column" if variant.modality == "video" else "--image_column", settings.media_column]
    argv += ["--label_column", settings.label_column or "none"]
    if settings.backbone:
        argv += ["--backbone", settings.backbone]
    if variant.overrides_argument():
        argv += ["--config_overrides", variant.overrides_argument()]
    return argv + list(variant.training_args) + list(settings.extra_args)


def calibrate(variant: Variant, settings: CompareSettings) -> dict:
    """Seconds and FLOPs of one training step of `variant`: a 5-step run in a scratch folder, steps 2-3 counted and
    2-5 timed (the first step pays for lazy initialisation). Cached in `runs/<label>.calibration.json`."""
    from ..cli.pretrain import pretrain

    path = settings.output_dir / "runs" / f"{variant.label}.calibration.json"
    if path.is_file():
        return json.loads(path.read_text())
    scratch = settings.output_dir / ".calibration" / variant.label
    shutil.rmtree(scratch, ignore_errors=True)
    cost = StepCostCallback(counted_steps=(2, 3))
    first_step = FirstStepTimer()
    argv = pretrain_arguments(variant, settings, 0, scratch)
    argv += ["--max_steps", "5", "--label_column", "none", "--save_strategy", "no", "--disable_tqdm", "true"]
    argv += ["--report_to", "none", "--push_to_hub", "false"]
    pretrain(argv, callbacks=[first_step, cost])
    shutil.rmtree(scratch, ignore_errors=True)
    calibration = {
        "flops_per_step": cost.flops_per_step,
        "seconds_per_step": (cost.train_seconds - first_step.seconds) / 4,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(calibration, indent=2))
    return calibration


class FirstStepTimer(TrainerCallback):
    """The wall time of the first optimizer step (left out of the calibration's mean)."""

    def __init__(self):
        self.seconds = 0.0
        self._start = None

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == 0:
            self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._start is not None:
            self.seconds = time.perf_counter() - self._start
            self._start = None


class CurveCallback(TrainerCallback):
    """kNN top-1 and the collapse monitors of the published encoder at the initial weights and at `eval_steps`,
    against steps, images seen and training seconds (from the `StepCostCallback`); appended to a JSON-lines file as
    they are made, so a resumed run keeps the points before its checkpoint."""

    def __init__(self, path: Path, eval_steps: list[int], data, cost: StepCostCallback, batch_size: int):
        self.path, self.eval_steps, self.data, self.cost, self.batch_size = (
            path,
            set(eval_steps),
            data,
            cost,
            batch_size,
        )
        self.points: list[dict] = []

    def restore(self, resumed_step: int) -> float:
        """Keep the points up to `resumed_step` (those of the run being resumed); their training seconds."""
        if self.path.is_file():
            points = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            self.points = [point for point in points if point["step"] <= resumed_step]
        self.path.write_text("".join(json.dumps(point) + "\n" for point in self.points))
        return self.points[-1]["train_seconds"] if self.points else 0.0

    def evaluate(self, model, args, state) -> None:
        data = self.data
        encoder = model.get_encoder()
        point = {
            "step": state.global_step,
            "images_seen": state.global_step
            * args.per_device_train_batch_size
            * args.gradient_accumulation_steps
            * max(args.world_size, 1),
            "train_seconds": self.cost.train_seconds,
        }
        eval_features, _, eval_labels = encode_split(encoder, data.data["eval"], data.eval_collator, self.batch_size)
        point.update(representation_stats(eval_features))
        if eval_labels is not None:
            train_features, _, train_labels = encode_split(
                encoder, data.data["train"], data.eval_collator, self.batch_size
            )
            point["knn_top1"] = knn_top1(train_features, train_labels, eval_features, eval_labels)
        self.points.append(point)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(point) + "\n")

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0 and not self.points and args.process_index == 0:
            self.evaluate(model, args, state)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step in self.eval_steps and args.process_index == 0:
            self.evaluate(model, args, state)


def evaluation_steps(max_steps: int, points: int) -> list[int]:
    """`points` steps evenly spread over the run, the last one included."""
    return sorted({max(1, round(max_steps * k / points)) for k in range(1, points + 1)})


def train_and_measure(variant: Variant, seed: int, max_steps: int, settings: CompareSettings, calibration) -> dict:
    """Train one run (or finish an interrupted one) and measure it; returns and writes its record."""
    from ..cli.pretrain import pretrain
    from ..engine.run_files import resolve_resume_checkpoint

    run_id = settings.run_id(variant, seed)
    record_path = settings.record_path(run_id)
    if record_path.is_file():
        logger.info("%s: already done, not retrained (%s).", run_id, record_path)
        return json.loads(record_path.read_text())
    started = time.monotonic()
    model_dir = settings.model_dir(run_id)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    data = run_data(variant, settings, seed)
    eval_steps = evaluation_steps(max_steps, settings.eval_points)
    interval = eval_steps[0] if len(eval_steps) == 1 else eval_steps[1] - eval_steps[0]
    checkpoint = resolve_resume_checkpoint("latest", str(model_dir)) if model_dir.is_dir() else None
    resumed_step = int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0
    cost = StepCostCallback(counted_steps=(resumed_step + 2, resumed_step + 3))
    batch_size = settings.eval_batch_size
    curve = CurveCallback(settings.output_dir / "runs" / f"{run_id}.curve.jsonl", eval_steps, data, cost, batch_size)
    cost.train_seconds = curve.restore(resumed_step)
    memory = PeakMemory()
    argv = pretrain_arguments(variant, settings, seed, model_dir)
    # Two checkpoints kept: the newest one may be the one a kill interrupted mid-write.
    argv += ["--max_steps", str(max_steps), "--save_steps", str(interval), "--save_total_limit", "2"]
    argv += ["--random_init_baselines", "1", "--logging_steps", str(max(1, max_steps // 25))]
    if checkpoint:
        argv += ["--resume_from_checkpoint", checkpoint]
        logger.info("%s: resuming from %s.", run_id, checkpoint)
    with memory:
        results = pretrain(argv, callbacks=[memory.callback, cost, curve])
    record = {
        "run": run_id,
        "label": variant.label,
        "method": variant.method,
        "modality": variant.modality,
        "note": variant.note,
        "config_overrides": variant.config_overrides,
        "seed": seed,
        "model_dir": os.path.relpath(model_dir, settings.output_dir),
        "steps": max_steps,
        "images_seen": curve.points[-1]["images_seen"] if curve.points else None,
        "train_seconds": cost.train_seconds,
        "flops_per_step": calibration.get("flops_per_step") or cost.flops_per_step,
        "peak_memory_bytes": memory.peak_bytes,
        "peak_memory_kind": memory.kind,
        "curve": curve.points,
        "log_history": training_logs(model_dir),
        **{key: value for key, value in results.items() if not isinstance(value, dict) or key == "random_init_spread"},
        # Other label columns (the moving digits' motion direction): their kNN and probe, flattened.
        "extra_labels": [
            column for column, extra in results.items() if isinstance(extra, dict) and "knn_top1" in extra
        ],
        **{
            f"{column}_{metric}": extra[metric]
            for column, extra in results.items()
            if isinstance(extra, dict)
            for metric in ("knn_top1", "linear_probe_top1")
            if isinstance(extra.get(metric), float)
        },
    }
    record["train_flops"] = record["flops_per_step"] * max_steps if record["flops_per_step"] else None
    record.update(frozen_feature_protocols(variant, model_dir, data, seed, settings))
    # The whole run as the user waits for it (training, checkpoints, every evaluation); after a resume, this part.
    record["wall_seconds"] = time.monotonic() - started
    atomic_write_text(record_path, json.dumps(record, indent=2))  # last: the run counts as done from here
    return record


def training_logs(model_dir: Path) -> list[dict]:
    """The loss and collapse-monitor logs of the run (`trainer_state.json` of its last checkpoint)."""
    states = sorted(model_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    if not states:
        return []
    return [entry for entry in json.loads(states[-1].read_text())["log_history"] if "loss" in entry]


def frozen_feature_protocols(variant: Variant, model_dir: Path, data, seed: int, settings: CompareSettings) -> dict:
    """The compare protocols on the published encoder: few-shot linear probes, the attentive probe where the method's
    paper uses it, and the features of the eval split kept for the similarity analysis and the maps."""
    method = get_method(variant.method)
    encoder = method.model_class.from_pretrained(model_dir)
    attentive = method.paper_probe == "attentive" and data.label_column is not None
    eval_features, eval_tokens, eval_labels = encode_split(
        encoder, data.data["eval"], data.eval_collator, settings.eval_batch_size, tokens=attentive
    )
    path = settings.features_path(settings.run_id(variant, seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"features": eval_features, "labels": eval_labels}, path)
    measured = {"features_path": os.path.relpath(path, settings.output_dir)}
    if eval_labels is None:
        measured.update(representation_stats(eval_features))
        return measured
    train_features, train_tokens, train_labels = encode_split(
        encoder, data.data["train"], data.eval_collator, settings.eval_batch_size, tokens=attentive
    )
    measured.update(few_shot_probes(train_features, train_labels, eval_features, eval_labels, seed))
    if attentive:
        heads = getattr(encoder.config, "num_attention_heads", 1)
        measured["attentive_probe_top1"] = attentive_probe_top1(
            train_tokens, train_labels, eval_tokens, eval_labels, heads, seed=seed
        )
    return measured


def random_init_rows(variant: Variant, settings: CompareSettings, seeds: int) -> list[dict]:
    """The baseline rows: the first variant's architecture at random initialisation, `seeds` inits, measured with the
    same protocols (no training, no attentive probe)."""
    method = get_method(variant.method)
    data = run_data(variant, settings)
    config, _ = variant_config(variant, settings)
    rows = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        encoder = method.pretraining_class(config).get_encoder()
        eval_features, _, eval_labels = encode_split(
            encoder, data.data["eval"], data.eval_collator, settings.eval_batch_size
        )
        row = {"label": "random-init", "method": variant.method, "seed": seed, **representation_stats(eval_features)}
        if seed == 0:  # the similarity analysis's control: what an untrained encoder shares with each method
            path = settings.output_dir / "features" / f"random-init-{variant.modality}.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"features": eval_features, "labels": eval_labels}, path)
            row["features_path"] = os.path.relpath(path, settings.output_dir)
        if eval_labels is not None:
            train_features, _, train_labels = encode_split(
                encoder, data.data["train"], data.eval_collator, settings.eval_batch_size
            )
            train, test = (train_features, train_labels), (eval_features, eval_labels)
            row.update(evaluate_features(train, test))  # kNN, linear probe (statistics as above)
            row.update(few_shot_probes(*train, *test))
        rows.append(row)
    return rows


def steps_for(variant: Variant, settings: CompareSettings) -> tuple[int, dict]:
    """The optimizer steps of `variant` under the budget, and its calibration (empty for a step budget)."""
    calibration = calibrate(variant, settings) if settings.budget.needs_calibration else {}
    steps = settings.budget.steps(
        variant.label, calibration.get("flops_per_step"), calibration.get("seconds_per_step")
    )
    return steps, calibration


__all__ = [
    "CompareSettings",
    "calibrate",
    "evaluation_steps",
    "random_init_rows",
    "steps_for",
    "train_and_measure",
]
