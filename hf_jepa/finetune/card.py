"""The model card of a fine-tuned classifier (`model_cards/finetune.md`), filled from the run's results, with the
metrics in the model-index as huggingface_hub parses them."""

import os

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..engine.run_files import atomic_write_text
from ..hub.cards import EMBEDDED_DATASETS, _dataset_label, _hub_dataset, template_path
from ..registry import Method

TEMPLATE = "finetune.md"
MODE_TITLES = {
    "full": ("full fine-tuning", "fine-tuned end to end"),
    "lora": ("LoRA", "fine-tuned with LoRA adapters on its attention projections (merged here) and a new head"),
    "linear": ("linear probe", "kept frozen, with a linear head on its BatchNorm-ed pooled features (MAE's protocol)"),
    "attentive": ("attentive probe", "kept frozen, with an attentive pooler and a linear head (V-JEPA's protocol)"),
}
CARD_METRICS = (("accuracy", "Top-1 accuracy"), ("top_k_accuracy", "Top-{k} accuracy"), ("macro_f1", "Macro F1"))


def _eval_results(results: dict, video: bool) -> list[EvalResult]:
    dataset = results.get("dataset")
    return [
        EvalResult(
            task_type="video-classification" if video else "image-classification",
            task_name=f"{MODE_TITLES[results['mode']][0]} classification",
            dataset_type=_hub_dataset(dataset)
            or (dataset if dataset in EMBEDDED_DATASETS else "videofolder" if video else "imagefolder"),
            dataset_name=_dataset_label(dataset),
            dataset_split="eval",
            metric_type=key if key != "top_k_accuracy" else f"top{results['top_k']}_accuracy",
            metric_name=name.format(k=results["top_k"]),
            metric_value=round(float(results[key]), 4),
        )
        for key, name in CARD_METRICS
    ]


def finetune_card(method: Method, config, results: dict, model_id: str) -> ModelCard:
    video = method.modality == "video"
    base = results["base_model"]
    is_hub_id = not os.path.exists(base)
    data = ModelCardData(
        library_name="hf_jepa",
        license="apache-2.0",
        pipeline_tag="video-classification" if video else "image-classification",
        tags=["hf_jepa", method.name, "vision", f"finetune-{results['mode']}", *(["video"] if video else [])],
        base_model=base if is_hub_id else None,
        datasets=[_hub_dataset(results.get("dataset"))] if _hub_dataset(results.get("dataset")) else None,
        metrics=["accuracy", "f1"],
        model_name=os.path.basename(os.path.normpath(model_id)),
        eval_results=_eval_results(results, video),
    )
    names = list(config.id2label.values())
    backbone = getattr(config, "backbone_config", None)
    if backbone is not None:
        encoder = f"transformers' {getattr(backbone, 'model_type', 'CNN')} backbone"
    else:
        encoder = f"ViT {config.hidden_size} wide, {config.num_hidden_layers} deep"
    with open(template_path(TEMPLATE), encoding="utf-8") as handle:
        template = handle.read()
    return ModelCard.from_template(
        data,
        template_str=template,
        title=method.title,
        video=video,
        unit="clip" if video else "image",
        mode_title=MODE_TITLES[results["mode"]][0],
        mode_description=MODE_TITLES[results["mode"]][1],
        encoder=encoder,
        dataset_label=_dataset_label(results.get("dataset")),
        class_names=", ".join(names[:20]) + (", ..." if len(names) > 20 else ""),
        results=results,
        provenance="hub model" if is_hub_id else "local folder",
        model_id=model_id,
        classification_class=method.classification_class.__name__,
    )


def write_finetune_card(output_dir: str, method: Method, config, results: dict, model_id: str | None = None) -> str:
    """Write the card as README.md into `output_dir` (checked to round-trip through huggingface_hub's parser)."""
    card = finetune_card(method, config, results, model_id or output_dir)
    if ModelCard(str(card)).data.to_dict() != card.data.to_dict():
        raise ValueError("The model card's metadata does not round-trip through huggingface_hub.")
    path = os.path.join(output_dir, "README.md")
    atomic_write_text(path, str(card))
    return path


__all__ = ["finetune_card", "write_finetune_card"]
