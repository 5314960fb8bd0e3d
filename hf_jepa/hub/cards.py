"""Model cards filled from a run: one base template (`model_cards/base.md`) with the method's section
(`model_cards/<method>.md`: its description, architecture, limitations, differences from the official code,
citation), the folder's config and its eval_results.json.

The templates are Jinja, rendered by `huggingface_hub.ModelCard.from_template` from the section followed by the base
(the section defines the macros and variables the base calls); the YAML front matter is `{{ card_data }}`, built here
as a `ModelCardData` (metadata and the model-index with `EvalResult`s), so the metadata is always what huggingface_hub
parses back. Nothing here touches the network (`ModelCard.validate` would).
"""

import json
import os
import sys
import sysconfig

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..data.moving_digits import MOVING_DIGITS
from ..engine.run_files import atomic_write_text
from ..registry import load_object, method_of_model_type, read_saved_config

# Where the templates are: the repository's top-level `model_cards/` (a source checkout or an editable install),
# else the copy a wheel installs under `<prefix>/share/hf_jepa/model_cards` (pyproject's `data-files`).
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # hf_jepa/
_SOURCE_TEMPLATES = os.path.join(os.path.dirname(_PACKAGE), "model_cards")
_INSTALLED_TEMPLATES = [
    os.path.join(prefix, "share", "hf_jepa", "model_cards")
    for prefix in dict.fromkeys([sysconfig.get_path("data"), sys.prefix, sys.base_prefix])
]

BASE_TEMPLATE = "base.md"
DIGITS = "digits"
# The embedded datasets (nothing downloaded), by the name `--dataset` gives them.
EMBEDDED_DATASETS = {
    DIGITS: "scikit-learn digits (32 px RGB)",
    MOVING_DIGITS: "moving digits (scikit-learn digits moving across 32 px frames, mp4 clips)",
}
# The metrics of eval_results.json that go into the model-index, with their names on the Hub.
METRICS = (
    ("knn_top1", "kNN top-1 (k=20, cosine)", None),
    ("linear_probe_top1", "Linear-probe top-1", None),
    ("random_init_knn_top1", "Random-init baseline: kNN top-1 (same architecture, untrained)", "random_init"),
    ("random_init_linear_probe_top1", "Random-init baseline: linear-probe top-1 (same architecture, untrained)",
     "random_init"),
    ("raw_pixels_knn_top1", "Raw-pixel baseline: kNN top-1 (the normalised input pixels)", "raw_pixels"),
    ("raw_pixels_linear_probe_top1", "Raw-pixel baseline: linear-probe top-1 (the normalised input pixels)",
     "raw_pixels"),
)  # fmt: skip


def template_path(name: str) -> str:
    """The path of the card template file `name` (`base.md`, or a method's section such as `ijepa.md`)."""
    for folder in [_SOURCE_TEMPLATES, *_INSTALLED_TEMPLATES]:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"No model card template `{name}` in {[_SOURCE_TEMPLATES, *_INSTALLED_TEMPLATES]}: reinstall hf_jepa."
    )


def card_template(method) -> str:
    """The Jinja source of a method's card: its section (macros and variables) followed by the base template."""
    parts = []
    for name in (method.card_section, BASE_TEMPLATE):
        with open(template_path(name), encoding="utf-8") as handle:
            parts.append(handle.read())
    return "\n".join(parts)


def load_results(model_dir: str) -> dict | None:
    """The folder's eval_results.json (written by `hf-jepa pretrain`), or None; a clear error naming the file when it
    is a link (a card is built from the folder's own files) or cannot be read."""
    path = os.path.join(model_dir, "eval_results.json")
    if os.path.islink(path):
        raise ValueError(f"`{path}` is a symbolic link: a card is filled from the folder's own files; copy it in.")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            results = json.load(handle)
    except (OSError, ValueError) as error:
        raise ValueError(f"`{path}` cannot be read ({type(error).__name__}: {error}).") from None
    if not isinstance(results, dict):
        raise ValueError(f"`{path}` is not a JSON object of results.")
    return results


def _hub_dataset(dataset: str | None) -> str | None:
    """The dataset's Hub name, if it is one (not an embedded dataset, not a local folder)."""
    if not dataset or dataset in EMBEDDED_DATASETS or os.path.isabs(dataset) or os.path.exists(dataset):
        return None
    return dataset


def _dataset_label(dataset: str | None) -> str:
    if dataset is None:
        return "unknown"
    if dataset in EMBEDDED_DATASETS:
        return EMBEDDED_DATASETS[dataset]
    return dataset if _hub_dataset(dataset) else os.path.basename(os.path.normpath(dataset))


def _eval_results(results: dict, video: bool = False) -> list[EvalResult]:
    dataset = results.get("dataset")
    evals = []
    for key, name, metric_config in METRICS:
        if results.get(key) is None:
            continue
        evals.append(
            EvalResult(
                task_type="video-classification" if video else "image-classification",
                task_name="Frozen-feature evaluation (kNN and linear probe)",
                dataset_type=_hub_dataset(dataset)
                or (dataset if dataset in EMBEDDED_DATASETS else "videofolder" if video else "imagefolder"),
                dataset_name=_dataset_label(dataset),
                dataset_split="eval",
                metric_type="accuracy",
                metric_name=name,
                metric_value=round(float(results[key]), 4),
                metric_config=metric_config,
            )
        )
    return evals


def model_card(
    model_dir: str,
    results: dict | None = None,
    export=None,
    model_id: str | None = None,
    source: str | None = None,
    license: str | None = None,
) -> ModelCard:
    """The model card of the hf_jepa folder `model_dir`, filled from its config.json and `results` (default: its
    eval_results.json; no results, no model-index: nothing is invented).

    `export`: an `ExportResult` of `export_to_transformers(model_dir, ...)`; the card then describes the exported
    folder (native transformers class, `library_name: transformers`, plain-transformers loading first).
    `model_id`: the name the loading snippets use (default: the folder as given, or the export's folder).
    `source`: Markdown saying where the weights came from when hf_jepa did not train them (e.g. a converted official
    checkpoint), put first under "Source of the weights"; `license`: their license (default apache-2.0).
    """
    config = read_saved_config(model_dir)
    method = method_of_model_type(config.get("model_type", "<none>"))
    results = load_results(model_dir) if results is None else results
    out_dir = export.output_dir if export is not None else model_dir
    model_id = model_id or str(out_dir)
    model_name = os.path.basename(os.path.normpath(str(out_dir))) or f"hf_jepa-{method.name}"
    dataset = (results or {}).get("dataset")
    hub_dataset = _hub_dataset(dataset)
    # An hf_jepa folder needs `import hf_jepa` (its model types are ours), so its library is hf_jepa; an exported
    # folder is plain transformers.
    video = method.modality == "video"
    # The Hub has no video feature-extraction task: video encoders (as transformers' VJEPA2) use video-classification.
    pipeline_tag = "video-classification" if video else "image-feature-extraction"
    data = ModelCardData(
        library_name="transformers" if export is not None else "hf_jepa",
        license=license or "apache-2.0",
        pipeline_tag=pipeline_tag,
        tags=["self-supervised", method.name, "vision", *(["video"] if video else []), pipeline_tag, "hf_jepa"],
        datasets=[hub_dataset] if hub_dataset else None,
        metrics=["accuracy"] if results else None,
        model_name=model_name if results else None,
        eval_results=_eval_results(results, video) if results else None,
    )
    backbone = config.get("backbone_config")
    native = method.exporters.get("transformers")
    exporter = load_object(native) if native else None
    native_target = exporter.target_of(config) if exporter else None
    widths = (backbone or {}).get("hidden_sizes")
    pooled_size = widths[-1] if widths else config.get("hidden_size")
    if backbone:
        encoder_title = f"{native_target.removesuffix('Model')} ({pooled_size} features)"
    else:
        encoder_title = f"ViT ({config.get('hidden_size')} wide, {config.get('num_hidden_layers')} deep)"
    image_size = config.get("image_size")
    patch_size = config.get("patch_size")
    card = ModelCard.from_template(
        data,
        template_str=card_template(method),
        title=method.title,
        method=method.name,
        model_id=model_id,
        config=config,
        native_target=native_target,
        native_hint=exporter.load_hint if exporter else "",
        encoder_title=encoder_title,
        pooled_size=pooled_size,
        image_size=image_size if isinstance(image_size, int) else "×".join(map(str, image_size)),
        patch_size=patch_size if isinstance(patch_size, int) else "×".join(map(str, patch_size)),
        results=results,
        dataset=dataset,
        dataset_label=_dataset_label(dataset),
        is_digits=dataset == DIGITS,
        is_moving_digits=dataset == MOVING_DIGITS,
        video=video,
        # Evaluations of other label columns (the moving digits' motion direction), as (column, results) pairs.
        extra_evaluations=[
            (key, value)
            for key, value in (results or {}).items()
            if isinstance(value, dict) and isinstance(value.get("knn_top1"), float)
        ],
        classes={
            "model": method.model_class.__name__,
            "pretraining": method.pretraining_class.__name__,
            "classification": method.classification_class.__name__,
        },
        export=export,
        # A converted checkpoint was trained by its authors, not by hf_jepa: the title says so.
        provenance="converted to hf_jepa" if source else "pretrained with hf_jepa",
    )
    if source:  # before the method's description: the first thing a reader should know
        title, heading, body = card.text.partition("\n## ")
        card.text = f"{title}\n## Source of the weights\n\n{source.strip()}\n{heading}{body}"
    return card


def write_model_card(model_dir: str, results: dict | None = None, export=None, **card_args) -> str:
    """Write `model_card(model_dir, results, export, **card_args)` as README.md into `model_dir` (or the export's
    folder); returns its path."""
    card = model_card(model_dir, results, export=export, **card_args)
    # Check the metadata round-trips through huggingface_hub's parser (offline; `card.validate()` needs the network).
    parsed = ModelCard(str(card)).data
    if parsed.to_dict() != card.data.to_dict():
        raise ValueError("The model card's metadata does not round-trip through huggingface_hub.")
    path = os.path.join(export.output_dir if export is not None else model_dir, "README.md")
    atomic_write_text(path, str(card))
    return path


__all__ = ["card_template", "load_results", "model_card", "template_path", "write_model_card"]
