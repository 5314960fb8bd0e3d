"""What each method predicts, drawn for the demos. One function per method, named by its `Method.prediction_view`:
it takes a loaded model and a `PredictionRequest` and returns a `Prediction` (captioned pictures + the numbers behind
them). A new method plugs in by writing its function and naming it in its method entry (and, for inputs other than
one image, adding a field to the request)."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.video_decoding import read_clip
from ..models import RandomMaskGenerator
from ..registry import load_object
from .loading import DemoModel, cls_attention, patch_grid
from .pictures import (
    DIVERGING,
    attention_overlays,
    draw_blocks,
    fill_patches,
    heat_map,
    indices_to_grid,
    mean_per_patch,
    paste_patches,
    patches_to_pixels,
    resize_image,
    similarity_matrix,
)


@dataclass
class PredictionRequest:
    image: Image.Image  # RGB, any size: each model's processor resizes it
    seed: int = 0  # seeds the mask sampler (MAE, I-JEPA)
    mask_ratio: float | None = None  # MAE's share of hidden patches; None: the model's `config.mask_ratio`
    display_size: int = 224  # side of the pictures
    video: str | None = None  # a video file for video models (V-JEPA); without one the image pans across the frame
    labels: str | None = None  # image-text models: comma-separated labels or captions to score (None: digit names)


@dataclass
class Prediction:
    images: list[tuple[np.ndarray, str]] = field(default_factory=list)  # uint8 [H, W, 3] and a caption
    numbers: dict = field(default_factory=dict)
    note: str = ""  # shown instead of, or under, the pictures


def _display_image(request: PredictionRequest) -> np.ndarray:
    """The uploaded image at the display size (squashed to a square like the processors' resize)."""
    side = request.display_size
    return np.asarray(request.image.resize((side, side), Image.BICUBIC))


def _enlarged(view: np.ndarray, request: PredictionRequest) -> np.ndarray:
    return resize_image(view, (request.display_size, request.display_size), nearest=True)


def _needs_head(model: DemoModel, part: str) -> Prediction | None:
    if model.has_pretraining_head:
        return None
    return Prediction(note=f"`{model.name}` holds only the encoder, not the {part}: nothing to predict with.")


@torch.no_grad()
def predict_mae(model: DemoModel, request: PredictionRequest) -> Prediction:
    """Masked input, reconstruction, and the reconstruction pasted into the hidden patches around the visible ones."""
    if missing := _needs_head(model, "decoder"):
        return missing
    grid = patch_grid(model)
    num_patches = grid[0] * grid[1]
    ratio = float(model.config.mask_ratio if request.mask_ratio is None else request.mask_ratio)
    sampler = RandomMaskGenerator(ratio) if 0.0 < ratio < 1.0 else None
    if sampler is None or not 0 < sampler.num_kept(num_patches) < num_patches:
        raise ValueError(f"MAE mask ratio {ratio} leaves no visible or no hidden patch of {num_patches}.")
    pixel_values = model.pixel_values([request.image])
    generator = torch.Generator().manual_seed(int(request.seed))
    with model.lock:  # the ratio lives on the model's sampler: swap it for this call only
        default_sampler, model.model.mask_generator = model.model.mask_generator, sampler
        try:
            outputs = model.model(pixel_values, generator=generator, return_dict=True)
        finally:
            model.model.mask_generator = default_sampler
    hidden = outputs.mask[0].bool().view(grid).numpy()
    view = model.model_view(pixel_values)
    reconstruction = model.model_view(model.model.reconstruct(pixel_values, outputs))
    hidden_pixels = patches_to_pixels(hidden, view.shape[:2])
    error = (reconstruction.astype(np.float64) - view.astype(np.float64)) / 255.0
    view, reconstruction = _enlarged(view, request), _enlarged(reconstruction, request)
    return Prediction(
        images=[
            (fill_patches(view, hidden), f"masked input ({hidden.sum()} of {num_patches} patches hidden)"),
            (reconstruction, "reconstruction of every patch"),
            (paste_patches(view, reconstruction, hidden), "reconstruction + visible patches"),
        ],
        numbers={
            "method": model.method.name,
            "seed": int(request.seed),
            "mask_ratio": ratio,
            "num_patches": num_patches,
            "hidden_patches": np.flatnonzero(hidden).tolist(),
            "loss": float(outputs.loss),
            "pixel_mse_hidden": float((error[hidden_pixels] ** 2).mean()),
        },
    )


@torch.no_grad()
def predict_ijepa(model: DemoModel, request: PredictionRequest) -> Prediction:
    """The sampled context and target blocks, and per target token the cosine similarity between the predictor's
    output and the EMA encoder's embedding."""
    if missing := _needs_head(model, "predictor"):
        return missing
    grid = patch_grid(model)
    generator = torch.Generator().manual_seed(int(request.seed))
    outputs = model.model(model.pixel_values([request.image]), generator=generator, return_dict=True)
    context_idx, target_idx = outputs.context_idx[0].numpy(), outputs.target_idx[0].numpy()  # [Kc], [T, Kt]
    cosine = F.cosine_similarity(outputs.predictions[0].float(), outputs.targets[0].float(), dim=-1).numpy()
    similarity = mean_per_patch(target_idx, cosine, grid)  # target blocks may overlap: their mean
    image = _display_image(request)
    targets = [indices_to_grid(block, grid) for block in target_idx]
    return Prediction(
        images=[
            (
                draw_blocks(image, indices_to_grid(context_idx, grid), targets),
                f"context ({len(context_idx)} patches, bright) and {len(targets)} target blocks (outlined)",
            ),
            (
                heat_map(image, similarity, (-1.0, 1.0), DIVERGING),
                f"cosine(predicted, actual) per target patch: blue -1 … red +1, mean {cosine.mean():.2f}",
            ),
        ],
        numbers={
            "method": model.method.name,
            "seed": int(request.seed),
            "context_idx": context_idx.tolist(),
            "target_idx": target_idx.tolist(),
            "cosine_per_target": cosine.mean(axis=1).tolist(),
            "mean_cosine": float(cosine.mean()),
            "loss": float(outputs.loss),
        },
    )


@torch.no_grad()
def predict_dino(model: DemoModel, request: PredictionRequest) -> Prediction:
    """Where the CLS token looks in the last block: one map per head, and their mean."""
    if getattr(model.config, "backbone_config", None) is not None:
        return Prediction(note=f"`{model.name}` has a CNN backbone: CLS attention maps are a ViT's, nothing to show.")
    grid = patch_grid(model)
    attention = cls_attention(model.encoder, model.pixel_values([request.image]))[0]  # [heads, N]
    maps = attention.view(-1, *grid).numpy()
    image = _display_image(request)
    overlays = attention_overlays(image, np.concatenate([maps, maps.mean(axis=0, keepdims=True)]))
    captions = [f"head {h + 1}" for h in range(maps.shape[0])] + ["mean of the heads"]
    return Prediction(
        images=list(zip(overlays, captions)),
        numbers={
            "method": model.method.name,
            "num_heads": maps.shape[0],
            "patch_attention_mass": attention.sum(dim=-1).tolist(),  # per head; the rest goes to prefix tokens
            "peak_patch": attention.argmax(dim=-1).tolist(),
        },
        note="Each map is scaled by its own maximum.",
    )


# Pairs of training views the joint-embedding demo draws of the uploaded image.
VIEW_PAIRS = 3


@torch.no_grad()
def predict_joint_embedding(model: DemoModel, request: PredictionRequest) -> Prediction:
    """SimCLR, MoCo v3 and BYOL: pairs of the method's own training views of the image (seeded by the request), and
    the cosine between the online output of each view (SimCLR's projection, MoCo v3's query, BYOL's prediction) and
    what the loss compares it with for every view (the projection, the momentum key, the target projection): high
    for the two views of a pair is what training asks for. The model runs in eval mode (BatchNorm on its running
    statistics), and its `embed_views` gives both outputs."""
    if missing := _needs_head(model, "projection heads"):
        return missing
    views = model.method.train_views(model.config, model.processor)
    generator = torch.Generator().manual_seed(int(request.seed))
    pixel_values = model.pixel_values([request.image]).expand(VIEW_PAIRS, -1, -1, -1)
    crops = views(pixel_values, generator)["global_crops"]  # [K, 2, C, H, W]
    online, compared = model.model.embed_views(crops.to(model.model.device))  # [K, 2, P] each
    online = F.normalize(online.flatten(0, 1).float().cpu(), dim=-1)  # [2K, P]: pair 0 view 1, pair 0 view 2, ...
    compared = F.normalize(compared.flatten(0, 1).float().cpu(), dim=-1)
    cosine = (online @ compared.T).numpy()  # [2K, 2K]
    pair_of = np.arange(2 * VIEW_PAIRS) // 2
    same_pair = pair_of[:, None] == pair_of[None, :]
    across_views = same_pair & ~np.eye(2 * VIEW_PAIRS, dtype=bool)  # view 1 with view 2 of the same pair and back
    side = max(request.display_size // 2, 32)
    target = getattr(model.model, "compared_output", "embedding")
    images = []
    for k in range(VIEW_PAIRS):
        first, second = (resize_image(model.model_view(crops[k, v : v + 1]), (side, side)) for v in (0, 1))
        images.append(
            (
                np.concatenate([first, second], axis=1),
                f"pair {k + 1}: view 1 | view 2, cosine(online 1, {target} 2) {cosine[2 * k, 2 * k + 1]:.2f}, "
                f"(online 2, {target} 1) {cosine[2 * k + 1, 2 * k]:.2f}",
            )
        )
    images.append(
        (
            similarity_matrix(cosine, (-1.0, 1.0), request.display_size),
            f"cosine of every view's online output (rows) with every view's {target} (columns), views in pair order: "
            "blue -1 … red +1",
        )
    )
    return Prediction(
        images=images,
        numbers={
            "method": model.method.name,
            "seed": int(request.seed),
            "view_pairs": VIEW_PAIRS,
            "cosine": cosine.round(4).tolist(),
            "mean_cosine_two_views": float(cosine[across_views].mean()),
            "mean_cosine_other_pairs": float(cosine[~same_pair].mean()),
        },
        note="Every view is of the same image: other pairs are other crops and colours of it, not other images.",
    )


DEMO_RETRIEVED = 5  # captions shown by the image-text view's retrieval


@torch.no_grad()
def predict_image_text(model: DemoModel, request: PredictionRequest) -> Prediction:
    """SigLIP and CLIP: the zero-shot probabilities of the typed labels for the image (SigLIP: each label's own
    sigmoid, independent; CLIP: a softmax over the labels), and image-to-text retrieval: the captions of the embedded
    digits closest to the image. Without typed labels the digit names are scored with the evaluation's prompt
    templates (their text embeddings averaged)."""
    from transformers import AutoProcessor

    from ..data.captions import DIGIT_NAMES, DIGIT_TEMPLATES, digit_captions
    from .loading import _model_location

    if missing := _needs_head(model, "text tower"):
        return missing
    processor = AutoProcessor.from_pretrained(_model_location(model.name), trust_remote_code=False)
    network = model.model
    device = network.device

    def text_embeddings(texts: list[str]) -> torch.Tensor:
        inputs = {
            k: v.to(device) for k, v in processor.tokenize(texts).items() if k in ("input_ids", "attention_mask")
        }
        return F.normalize(network.text_features(**inputs).float(), dim=-1)

    typed = [label.strip() for label in (request.labels or "").split(",") if label.strip()]
    labels = typed or list(DIGIT_NAMES)
    if typed:
        classes = text_embeddings(labels)
    else:
        classes = torch.stack([F.normalize(text_embeddings([t.format(n) for t in DIGIT_TEMPLATES]).mean(0), dim=-1)
                               for n in labels])  # fmt: skip
    image = F.normalize(network.image_features(model.pixel_values([request.image]).to(device)).float(), dim=-1)
    logits = network.logits(image, classes)[0].cpu()  # [labels]
    sigmoid = getattr(network, "has_logit_bias", False)
    probabilities = logits.sigmoid() if sigmoid else logits.softmax(dim=-1)
    order = probabilities.argsort(descending=True).tolist()
    from sklearn.datasets import load_digits

    digits = load_digits()
    gallery = sorted(set(digit_captions(digits.images, digits.target)))
    similarity = (image @ text_embeddings(gallery).T)[0].cpu()
    top = similarity.topk(min(DEMO_RETRIEVED, len(gallery)))
    retrieved = [(gallery[i], float(v)) for v, i in zip(top.values.tolist(), top.indices.tolist())]
    kind = "sigmoid per label (independent)" if sigmoid else "softmax over the labels"
    caption = f"{labels[order[0]]}: {probabilities[order[0]]:.2f} ({kind})"
    return Prediction(
        images=[(_display_image(request), caption)],
        numbers={
            "method": model.method.name,
            "probabilities": {labels[i]: round(float(probabilities[i]), 4) for i in order},
            "retrieved_captions": {text: round(score, 4) for text, score in retrieved},
        },
        note="Zero-shot: " + ", ".join(f"{labels[i]} {probabilities[i]:.2f}" for i in order[:5]) + ". Closest digit "
        "captions: " + "; ".join(f"“{text}”" for text, _ in retrieved) + ".",
    )


def panning_clip(image: np.ndarray, num_frames: int, travel: float = 0.25) -> list[np.ndarray]:
    """A still image as a clip: a window of 1 / (1 + travel) of the image sliding diagonally across it, frame by
    frame, so a video model sees motion."""
    height, width = image.shape[:2]
    crop_h, crop_w = round(height / (1 + travel)), round(width / (1 + travel))
    steps = max(num_frames - 1, 1)
    return [
        image[round(i * (height - crop_h) / steps) :][:crop_h, round(i * (width - crop_w) / steps) :][:, :crop_w]
        for i in range(num_frames)
    ]


def _request_clip(model: DemoModel, request: PredictionRequest) -> tuple[torch.Tensor, str]:
    """The model's clip [1, T, C, H, W] (T = its `num_frames`): the centred clip of the uploaded video, or the image
    panning across the frame; and where it came from."""
    frames = model.config.num_frames
    if request.video:
        clip = list(read_clip(request.video, frames, 1, random=False).numpy())  # too short: a clear ValueError
        source = f"the centred {frames} frames of the video"
    else:
        clip = panning_clip(np.asarray(request.image), frames)
        source = f"the image panning across {frames} frames (upload a video to use your own clip)"
    return model.processor(videos=[clip], return_tensors="pt")["pixel_values_videos"], source


@torch.no_grad()
def predict_vjepa(model: DemoModel, request: PredictionRequest) -> Prediction:
    """Per mask set: the clip with its target tokens hidden, one frame per time step, and the prediction error of
    every target token over time."""
    if missing := _needs_head(model, "predictor"):
        return missing
    clip, source = _request_clip(model, request)
    steps, *grid = model.encoder.embeddings.patch_embeddings.grid_size(clip)
    generator = torch.Generator().manual_seed(int(request.seed))
    outputs = model.model(pixel_values_videos=clip, generator=generator, return_dict=True)
    side = max(request.display_size // 2, 32)
    frames = [
        resize_image(model.model_view(clip[:, t * model.config.tubelet_size]), (side, side)) for t in range(steps)
    ]
    errors = [(p[0] - t[0]).abs().mean(-1).numpy() for p, t in zip(outputs.predictions, outputs.targets)]
    top = max(float(e.max()) for e in errors)
    images, numbers = [], {"method": model.method.name, "seed": int(request.seed), "clip": source}
    for index, ((_, target_idx), error) in enumerate(zip(outputs.masks, errors)):
        hidden = indices_to_grid(target_idx[0].numpy(), (steps * grid[0], grid[1])).reshape(steps, *grid)
        per_token = np.full(steps * grid[0] * grid[1], np.nan)
        per_token[target_idx[0].numpy()] = error
        per_token = per_token.reshape(steps, *grid)
        blocks = model.config.mask_sets[index]["num_blocks"]
        images.append(
            (
                np.concatenate([fill_patches(f, h) for f, h in zip(frames, hidden)], axis=1),
                f"mask set {index} ({blocks} blocks): hidden target tokens grey, one frame per time step",
            )
        )
        images.append(
            (
                np.concatenate([heat_map(f, e, (0.0, top)) for f, e in zip(frames, per_token)], axis=1),
                f"mask set {index}: prediction error |predicted - actual| per target token over time (0 … {top:.2f})",
            )
        )
        numbers[f"mask_set_{index}"] = {
            "target_tokens": int(target_idx.shape[1]),
            "loss": float(outputs.logs[f"loss_mask_set_{index}"]),
            "error_per_time_step": np.nanmean(per_token.reshape(steps, -1), axis=1).tolist(),
        }
    numbers["loss"] = float(outputs.loss)
    return Prediction(images=images, numbers=numbers, note=f"Clip: {source}.")


def predict_world_model(model: DemoModel, request: PredictionRequest) -> Prediction:
    """LeWorldModel predicts the next frame's embedding from frames and the actions taken in between, which one image
    does not give: its view is the world-model tab (`demo.world`)."""
    return Prediction(
        numbers={"method": model.method.name},
        note=f"{model.method.title} predicts from frames and actions, not from one image: plan with it in the "
        "World model tab.",
    )


def predict(model: DemoModel, request: PredictionRequest) -> Prediction:
    """The prediction view of the model's method (a note when it has none)."""
    if model.method.prediction_view is None:
        return Prediction(note=f"No prediction view for {model.method.title} models yet.")
    view: Callable[[DemoModel, PredictionRequest], Prediction] = load_object(model.method.prediction_view)
    return view(model, request)
