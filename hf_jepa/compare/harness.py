"""`run_comparison`: calibrate every variant to the budget, train every (variant, seed) run that is not done yet,
then measure, compare and write the tables, pictures and report."""

import json
import logging
import time

import torch
from tqdm.auto import tqdm

from ..engine.run_files import atomic_write_text
from . import plots
from .presets import Variant
from .report import claims, markdown_table, report_markdown, summarize
from .runs import CompareSettings, random_init_rows, run_data, steps_for, train_and_measure
from .similarity import cka_matrix

logger = logging.getLogger("hf_jepa.compare")

RANDOM_INIT_SEEDS = 3


def run_comparison(variants: list[Variant], settings: CompareSettings) -> dict:
    started = time.monotonic()
    output_dir = settings.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    has_labels = run_data(variants[0], settings).label_column is not None
    if not has_labels:
        print(
            "The dataset has no labels: only the label-free analyses run (similarity, feature maps, collapse "
            "monitors, losses); no kNN, probes or accuracy curves."
        )
    # Every variant's steps first: a budget too small for any of them stops here, before anything trains.
    plan = {}
    for variant in tqdm(variants, desc="calibrating", disable=not settings.budget.needs_calibration):
        plan[variant.label] = steps_for(variant, settings)
    print(
        "Plan ("
        + settings.budget.describe()
        + " each): "
        + ", ".join(f"{label} {steps} steps" for label, (steps, _) in plan.items())
    )

    runs = [(variant, seed) for variant in variants for seed in range(settings.seeds)]
    records = []
    for variant, seed in tqdm(runs, desc="compare: runs", unit="run", position=0):
        steps, calibration = plan[variant.label]
        records.append(train_and_measure(variant, seed, steps, settings, calibration))
    return write_outputs(variants, records, settings, has_labels, started)


def baseline_rows(variant: Variant, settings: CompareSettings) -> list[dict]:
    """The random-init rows of `variant`'s architecture, cached in runs/random-init-<modality>.json."""
    path = settings.output_dir / "runs" / f"random-init-{variant.modality}.json"
    if path.is_file():
        return json.loads(path.read_text())
    rows = random_init_rows(variant, settings, RANDOM_INIT_SEEDS)
    atomic_write_text(path, json.dumps(rows, indent=2))
    return rows


def write_outputs(
    variants: list[Variant], records: list[dict], settings: CompareSettings, has_labels: bool, started: float
) -> dict:
    output_dir = settings.output_dir
    modalities = list(dict.fromkeys(variant.modality for variant in variants))
    tables, pictures, everything, summaries, similarities = {}, {}, {}, [], {}
    for modality in modalities:
        chosen = [r for r in records if r["modality"] == modality]
        first = next(v for v in variants if v.modality == modality)
        baseline = baseline_rows(first, settings)
        summary = summarize(chosen) + summarize(
            [{**row, "label": f"random-init ({first.method}'s ViT)"} for row in baseline]
        )
        summaries += summary
        tables[modality] = markdown_table(summary)
        suffix = "" if len(modalities) == 1 else f"_{modality}"
        features = {}
        for record in chosen:
            if record["seed"] == 0:
                saved = torch.load(output_dir / record["features_path"])
                features[record["label"]] = (saved["features"], saved["labels"])
        control = baseline[0].get("features_path")
        if control and (output_dir / control).is_file():  # the untrained encoder, as a reference point
            saved = torch.load(output_dir / control)
            features["random-init"] = (saved["features"], saved["labels"])
        names, matrix = cka_matrix({name: values for name, (values, _) in features.items()})
        similarity = {"names": names, "matrix": matrix.tolist()}
        similarities[modality] = similarity
        if len(names) > 1:
            pictures[f"Linear CKA between the methods ({modality})"] = plots.cka_heatmap(
                names, matrix, output_dir / f"cka{suffix}.png"
            ).name
        pictures[f"Feature maps ({modality})"] = plots.feature_maps(
            features, output_dir / f"features{suffix}.png"
        ).name
        if has_labels:
            curve = plots.accuracy_curves(chosen, output_dir / f"accuracy_curves{suffix}.png")
            if curve:
                pictures[f"kNN along training ({modality})"] = curve.name
        pictures[f"Loss and collapse monitors ({modality})"] = plots.training_curves(
            chosen, output_dir / f"training_curves{suffix}.png"
        ).name
        everything[modality] = {"summary": summary, "cka": similarity, "random_init": baseline}

    said = claims(summaries, next(iter(similarities.values())) if len(similarities) == 1 else merged(similarities))
    settings_text = (
        f"Every variant trained with the same budget ({settings.budget.describe()}), backbone "
        f"({settings.backbone or 'the tiny ViT of each method'}), data ({settings.dataset or 'embedded default'}) and "
        f"evaluation; {settings.seeds} seed(s) per variant (mean ± std over seeds where more than one). Model folders "
        "in `models/` load with `AutoModel.from_pretrained` and push with `hf-jepa push`."
    )
    # Wall time of every invocation that worked on this folder, added up (a resumed comparison keeps the earlier part).
    previous = output_dir / "results.json"
    earlier = json.loads(previous.read_text()).get("command_seconds", 0.0) if previous.is_file() else 0.0
    results = {
        "command_seconds": earlier + time.monotonic() - started,
        "budget": {"kind": settings.budget.kind, "value": settings.budget.value},
        "dataset": settings.dataset,
        "backbone": settings.backbone,
        "seeds": settings.seeds,
        "runs": records,
        "by_modality": everything,
        "claims": [{"claim": claim, "finding": text} for claim, text in said],
    }
    atomic_write_text(output_dir / "results.json", json.dumps(results, indent=2))
    body = "\n\n".join(f"## {modality}\n\n{table}" for modality, table in tables.items())
    atomic_write_text(output_dir / "results.md", f"# hf-jepa compare: results\n\n{settings_text}\n\n{body}\n")
    report = report_markdown(settings_text, tables, said, pictures, settings.dataset, summaries)
    atomic_write_text(output_dir / "report.md", report)
    print(f"\n{body}\n")
    for claim, text in said:
        print(f"- {claim}\n  {text}")
    print(f"\nWrote results.json, results.md, report.md and {len(pictures)} pictures to {output_dir}.")
    return results


def merged(similarities: dict) -> dict:
    """The per-modality similarity results as one lookup (pairs across modalities are absent)."""
    names, lookup = [], {}
    for similarity in similarities.values():
        for i, a in enumerate(similarity["names"]):
            for j, b in enumerate(similarity["names"]):
                lookup[(a, b)] = similarity["matrix"][i][j]
            names.append(a)
    matrix = [[lookup.get((a, b), float("nan")) for b in names] for a in names]
    return {"names": names, "matrix": matrix}


__all__ = ["run_comparison"]
