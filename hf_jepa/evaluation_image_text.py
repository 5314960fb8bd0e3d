"""Evaluation of image-text models on the held-out split, next to the image tower's kNN / linear probe: zero-shot
classification (prompt templates over the class names; a class's embedding is the mean of its prompts' normalised
text embeddings, CLIP's prompt ensembling) and image <-> text retrieval recall@1/5.

Retrieval on captions that repeat (the digits' 83 distinct captions for 360 images) is scored against the distinct
captions: image -> text asks whether the image's own caption text is among the k best of the distinct captions;
text -> image whether one of the images carrying that caption is among the k best images (one query per distinct
caption). Exact duplicates would otherwise make the "right" row an arbitrary pick among equal scores."""

import torch
import torch.nn.functional as F

from .evaluation import collated_batches


@torch.no_grad()
def embed_image_text(model, dataset, collate, batch_size: int = 256) -> dict:
    """Normalised image and caption embeddings [N, E] of a split, its labels [N] (when the collator gives them) and
    its captions, from an image-text `...ForPreTraining` model."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    images, texts, labels = [], [], []
    for batch in collated_batches(dataset, collate, batch_size):
        text_inputs = {k: batch[k].to(device) for k in ("input_ids", "attention_mask") if k in batch}
        images.append(F.normalize(model.image_features(batch["pixel_values"].to(device)).float(), dim=-1).cpu())
        texts.append(F.normalize(model.text_features(**text_inputs).float(), dim=-1).cpu())
        if "labels" in batch:
            labels.append(batch["labels"])
    model.train(was_training)
    return {
        "image_embeds": torch.cat(images),
        "text_embeds": torch.cat(texts),
        "labels": torch.cat(labels) if labels else None,
        "captions": list(dataset[collate.caption_column]),
    }


def retrieval_recall(image_embeds, text_embeds, captions: list[str], ks=(1, 5)) -> dict[str, float]:
    """Recall@k both ways against the distinct captions (see the module docstring). image_embeds, text_embeds [N, E]
    normalised, row i of each a pair; captions [N]."""
    distinct = sorted(set(captions))
    index = {caption: i for i, caption in enumerate(distinct)}
    caption_ids = torch.tensor([index[c] for c in captions])  # [N]
    # One embedding per distinct caption (identical texts embed identically; the first occurrence is taken).
    first = torch.tensor([captions.index(c) for c in distinct])
    gallery = text_embeds[first]  # [M, E]
    similarity = image_embeds @ gallery.T  # [N, M]
    results = {}
    for k in ks:
        top = similarity.topk(min(k, len(distinct)), dim=1).indices  # [N, k]
        results[f"image_to_text_recall@{k}"] = (top == caption_ids[:, None]).any(dim=1).float().mean().item()
        top_images = similarity.T.topk(min(k, len(captions)), dim=1).indices  # [M, k]
        hits = caption_ids[top_images] == torch.arange(len(distinct))[:, None]
        results[f"text_to_image_recall@{k}"] = hits.any(dim=1).float().mean().item()
    return results


@torch.no_grad()
def zero_shot_top1(model, processor, image_embeds, labels, class_names, templates) -> float:
    """Top-1 accuracy of classifying each image as the class whose prompt-ensembled text embedding is closest
    (for SigLIP the sigmoid's argmax, for CLIP the softmax's: both are the largest cosine)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    classes = []
    for name in class_names:
        prompts = processor.tokenize([template.format(name) for template in templates])
        prompts = {k: v.to(device) for k, v in prompts.items() if k in ("input_ids", "attention_mask")}
        embeds = F.normalize(model.text_features(**prompts).float(), dim=-1).mean(dim=0)
        classes.append(F.normalize(embeds, dim=-1).cpu())
    model.train(was_training)
    predictions = (image_embeds @ torch.stack(classes).T).argmax(dim=1)
    return (predictions == labels).float().mean().item()


def evaluate_image_text(model, data, collate, processor, class_names, templates, initial_model=None, batch_size=256):
    """Zero-shot top-1 (with class names) and retrieval recall@1/5 on `data["eval"]`, for `model` and, as the
    baseline, `initial_model` (the run's own starting weights; keys prefixed `random_init_`), plus chance levels."""

    def scores(candidate) -> dict:
        embedded = embed_image_text(candidate, data["eval"], collate, batch_size)
        result = retrieval_recall(embedded["image_embeds"], embedded["text_embeds"], embedded["captions"])
        if class_names and embedded["labels"] is not None:
            result["zero_shot_top1"] = zero_shot_top1(
                candidate, processor, embedded["image_embeds"], embedded["labels"], class_names, templates
            )
        return result

    results = scores(model)
    if initial_model is not None:
        results.update({f"random_init_{key}": value for key, value in scores(initial_model).items()})
    if class_names:
        results["zero_shot_chance"] = 1 / len(class_names)
        results["zero_shot_templates"] = list(templates)
    results["num_distinct_captions"] = len(set(data["eval"][collate.caption_column]))
    return results


def image_text_verdict(results: dict) -> str:
    """One line: zero-shot top-1 and recall@1/5 both ways, each next to the run's initial weights."""

    def pair(key: str) -> str:
        return f"{results[key]:.3f} (initial weights {results['random_init_' + key]:.3f})"

    parts = []
    if "zero_shot_top1" in results:
        parts.append(f"zero-shot top-1 {pair('zero_shot_top1')}, chance {results['zero_shot_chance']:.3f}")
    for way in ("image_to_text", "text_to_image"):
        parts.append(f"{way.replace('_to_', '->')} recall@1 {pair(way + '_recall@1')}, @5 {pair(way + '_recall@5')}")
    return "Image-text: " + "; ".join(parts) + "."


__all__ = ["image_text_verdict", "embed_image_text", "evaluate_image_text", "retrieval_recall", "zero_shot_top1"]
