"""What the demos run: loading a saved hf_jepa model (folder or Hub id) with clear errors, preparing uploaded images,
encoding images, galleries to search, and DINO's CLS attention. No UI code here (see `demo_app.py`)."""

import os
import threading
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from datasets import ClassLabel, Dataset, concatenate_datasets
from datasets import Image as ImageFeature
from PIL import Image
from transformers import PreTrainedConfig, PreTrainedModel

from ..data.images import DIGITS, load_image_dataset, resolve_columns, to_rgb
from ..engine.run_files import model_folder_problems
from ..registry import METHODS, Method, method_of_model_type, model_processor, read_saved_config
from .pictures import fit_pca, project


def prepare_image(image: Image.Image | None) -> Image.Image:
    """An uploaded image as RGB, converted as training images are (`hf_jepa.data.images.to_rgb`)."""
    if image is None:
        raise ValueError("No image: upload one or pick an example first.")
    return to_rgb(image)


@dataclass
class DemoModel:
    """A loaded model, ready for the demos: the full pretraining model (its encoder, and the predictor / decoder /
    heads when the folder holds them) and the image processor."""

    name: str  # the folder or Hub id it was loaded from
    method: Method
    model: PreTrainedModel  # `<Method>ForPreTraining`, in eval mode
    processor: object
    has_pretraining_head: bool  # False for a folder that holds only the encoder
    # Held by calls that change the model for their duration (MAE's mask ratio lives on its sampler).
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def config(self):
        return self.model.config

    @property
    def encoder(self) -> PreTrainedModel:
        return self.model.get_encoder()

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.processor.size["height"], self.processor.size["width"])

    def pixel_values(self, images: list[Image.Image]) -> torch.Tensor:
        """RGB images -> [B, C, H, W] at the model's size, normalised by its processor; a video model's processor
        makes one-frame clips [B, 1, C, H, W] of them (its encoder takes an image as a still clip)."""
        if "pixel_values_videos" in self.processor.model_input_names:
            clips = [[np.asarray(image)] for image in images]
            return self.processor(videos=clips, return_tensors="pt")["pixel_values_videos"]
        return self.processor(images=images, return_tensors="pt")["pixel_values"]

    def model_view(self, pixel_values: torch.Tensor) -> np.ndarray:
        """pixel_values [1, C, H, W] (or a one-frame clip [1, 1, C, H, W]) back to the uint8 image [H, W, 3] the
        model saw (normalisation undone)."""
        mean = torch.tensor(self.processor.image_mean).view(-1, 1, 1)
        std = torch.tensor(self.processor.image_std).view(-1, 1, 1)
        return to_uint8_image(pixel_values.reshape(-1, *pixel_values.shape[-3:])[0].float() * std + mean)


def to_uint8_image(image: torch.Tensor) -> np.ndarray:
    """[C, H, W] in [0, 1] (clipped) -> uint8 [H, W, C]."""
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _is_local_path(name: str) -> bool:
    return os.path.isabs(name) or name.startswith((".", "~")) or os.path.exists(name)


def _model_location(name: str) -> str:
    """The checked folder, or the Hub id, that `name` points at."""
    if not _is_local_path(name):
        return name
    path = os.path.expanduser(name)
    if not os.path.isdir(path):
        raise ValueError(f"`{name}` is not a folder: give a folder saved by `hf-jepa pretrain` or a Hub model id.")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ValueError(
            f"`{name}` is not a saved model folder (no config.json): give a folder saved by `hf-jepa pretrain`."
        )
    return path


def load_demo_model(name: str) -> DemoModel:
    """Load a model saved by hf_jepa (`hf-jepa pretrain`, `save_pretrained`) from a folder or the Hub, through
    `from_pretrained` (never remote code). A folder of another kind (no config.json, a plain transformers model,
    an export to transformers' own classes) raises a ValueError that names what was found."""
    location = _model_location(name)
    if os.path.isdir(location):
        config = read_saved_config(location)  # clear errors for a missing or broken config.json
    else:
        try:
            config, _ = PreTrainedConfig.get_config_dict(location)
        except (OSError, ValueError) as error:
            raise ValueError(
                f"Could not read the config of `{name}` (no such model folder or Hub model): {error}"
            ) from error
    model_type = config.get("model_type")
    try:
        method = method_of_model_type(model_type)
    except ValueError:
        known = ", ".join(sorted(m.config_class.model_type for m in METHODS.values()))
        raise ValueError(
            f"`{name}` holds a `{model_type}` model, not an hf_jepa one ({known}). Give a folder saved by "
            "`hf-jepa pretrain` (an export to transformers' own classes is not one)."
        ) from None
    if os.path.isdir(location) and (problems := model_folder_problems(location)):
        raise ValueError(f"`{name}` cannot be loaded: {'; '.join(problems)}.")
    model, info = method.pretraining_class.from_pretrained(location, output_loading_info=True, trust_remote_code=False)
    prefix = model.base_model_prefix + "."
    if any(key.startswith(prefix) for key in info["missing_keys"]):
        raise ValueError(f"`{name}` does not hold the weights of a {method.name} encoder.")
    processor = model_processor(method, location, model.config)  # image or video processor, saved or default
    return DemoModel(name, method, model.eval(), processor, has_pretraining_head=not info["missing_keys"])


@torch.no_grad()
def encode_images(model: DemoModel, images: list[Image.Image], batch_size: int = 256):
    """RGB images -> (patch tokens [B, gh * gw, D], pooled features [B, D]), float32 on the CPU."""
    prefix = model.config.num_prefix_tokens
    patches, pooled = [], []
    for start in range(0, len(images), batch_size):
        pixel_values = model.pixel_values(images[start : start + batch_size])
        outputs = model.encoder(pixel_values.to(model.model.device), return_dict=True)
        patches.append(outputs.last_hidden_state[:, prefix:].float().cpu())
        pooled.append(outputs.pooler_output.float().cpu())
    return torch.cat(patches), torch.cat(pooled)


def patch_grid(model: DemoModel) -> tuple[int, int]:
    """Patches along (height, width) of an input at the model's image size."""
    return tuple(model.config.grid_size)


@dataclass
class ImageGallery:
    """Labelled images to search for neighbours: `dataset`'s `image` column, `labels` indices into `label_names`."""

    source: str
    dataset: Dataset
    labels: list[int]
    label_names: list[str]

    def __len__(self) -> int:
        return len(self.dataset)

    def images(self, indices) -> list[Image.Image]:
        return [prepare_image(image) for image in self.dataset.select(list(indices))["image"]]


def _folder_labels(dataset: Dataset, image_column: str, source: str) -> tuple[list[int], list[str]] | None:
    """Labels named after the sub-folder each file sits in (the rule of `data.image_folder_dataset`, whose int
    labels lose the names), or None when the images are not files under `source`."""
    if not os.path.isdir(source):
        return None
    files = dataset.cast_column(image_column, ImageFeature(decode=False))[image_column]
    root = os.path.abspath(source)
    if not all(f.get("path") and os.path.abspath(f["path"]).startswith(root + os.sep) for f in files):
        return None
    folders = [os.path.relpath(os.path.dirname(os.path.abspath(f["path"])), root) for f in files]
    names = sorted(set(folders))
    return [names.index(f) for f in folders], names


def _sorted_labels(values: list) -> tuple[list[int], list[str]]:
    distinct = sorted(set(values))
    return [distinct.index(v) for v in values], [str(v) for v in distinct]


def load_gallery(source: str = DIGITS, max_images: int | None = None) -> ImageGallery:
    """Every image of a dataset (`hf_jepa.data.load_image_dataset`'s choices: "digits", an image folder whose
    sub-folders are the classes, a saved dataset or a Hub name; train and eval splits together), with its labels;
    the first `max_images` only when given."""
    location = os.path.expanduser(source)
    if source != DIGITS and _is_local_path(source) and not os.path.isdir(location):
        raise ValueError(
            f"Gallery `{source}` is not a folder: give an image folder whose sub-folders are the classes."
        )
    splits = load_image_dataset(location)
    dataset = concatenate_datasets([splits["train"], splits["eval"]])
    image_column, label_column = resolve_columns(dataset, None, "label")
    if label_column is None:
        labels, names = [0] * len(dataset), [""]
    elif isinstance(dataset.features[label_column], ClassLabel):
        labels, names = dataset[label_column], list(dataset.features[label_column].names)
    else:
        labels, names = _folder_labels(dataset, image_column, location) or _sorted_labels(dataset[label_column])
    dataset = dataset.select_columns([image_column])
    if image_column != "image":
        dataset = dataset.rename_column(image_column, "image")
    if max_images is not None:
        dataset, labels = dataset.select(range(min(max_images, len(dataset)))), labels[:max_images]
    return ImageGallery(source, dataset, list(labels), names)


@dataclass
class GalleryEmbedding:
    """A gallery embedded by one model: L2-normalised pooled features and the 2-D PCA that maps them."""

    features: torch.Tensor  # [N, D], unit norm
    pca: tuple[np.ndarray, np.ndarray]
    points: np.ndarray  # [N, 2]

    @classmethod
    def of(cls, model: DemoModel, gallery: ImageGallery, batch_size: int = 256) -> "GalleryEmbedding":
        pooled = torch.cat(
            [
                encode_images(model, gallery.images(range(start, min(start + batch_size, len(gallery)))))[1]
                for start in range(0, len(gallery), batch_size)
            ]
        )
        features = F.normalize(pooled, dim=1)
        pca = fit_pca(features.numpy(), 2)
        return cls(features, pca, project(features.numpy(), pca))

    def nearest(self, query: torch.Tensor, k: int) -> tuple[list[int], list[float]]:
        """Indices and cosine similarities of the `k` gallery images closest to the pooled feature `query` [D]."""
        similarity = self.features @ F.normalize(query.float(), dim=0)
        top = similarity.topk(min(k, similarity.shape[0]))
        return top.indices.tolist(), top.values.tolist()


class DemoStore:
    """Models, galleries and gallery embeddings, each loaded or computed once per process (thread-safe)."""

    def __init__(self, max_gallery_images: int | None = None):
        self.max_gallery_images = max_gallery_images
        self._models: dict[str, DemoModel] = {}
        self._galleries: dict[str, ImageGallery] = {}
        self._embeddings: dict[tuple[str, str], GalleryEmbedding] = {}
        self._lock = threading.Lock()

    def model(self, name: str) -> DemoModel:
        name = name.strip()
        with self._lock:
            if name not in self._models:
                self._models[name] = load_demo_model(name)
            return self._models[name]

    def gallery(self, source: str) -> ImageGallery:
        source = source.strip()
        with self._lock:
            if source not in self._galleries:
                self._galleries[source] = load_gallery(source, self.max_gallery_images)
            return self._galleries[source]

    def gallery_embedding(self, model: DemoModel, source: str) -> GalleryEmbedding:
        gallery = self.gallery(source)
        key = (model.name, gallery.source)
        with self._lock:
            if key not in self._embeddings:
                self._embeddings[key] = GalleryEmbedding.of(model, gallery)
            return self._embeddings[key]


@torch.no_grad()
def cls_attention(encoder: PreTrainedModel, pixel_values: torch.Tensor) -> torch.Tensor:
    """Attention of the CLS token over the patch tokens in the encoder's last block, per head: [B, heads, N].

    The ViT runs `F.scaled_dot_product_attention`, which returns no weights, so they are recomputed from the last
    block's input, its `norm1` and the query/key part of `attn.qkv`: softmax(q_cls k^T / sqrt(d)) over all tokens
    (CLS and registers included, so the patch columns sum to at most 1).
    """
    config = encoder.config
    if not config.use_cls_token:
        raise ValueError("CLS attention needs a model with a CLS token (config.use_cls_token).")
    hidden_states = encoder(pixel_values, output_hidden_states=True, return_dict=True).hidden_states
    block = encoder.layers[-1]
    tokens = block.norm1(hidden_states[-2])  # the last block's input, [B, L, D]
    batch, length, dim = tokens.shape
    heads = block.attn.num_heads
    weight, bias = block.attn.qkv.weight, block.attn.qkv.bias
    query = F.linear(tokens[:, :1], weight[:dim], None if bias is None else bias[:dim])  # [B, 1, D]
    key = F.linear(tokens, weight[dim : 2 * dim], None if bias is None else bias[dim : 2 * dim])  # [B, L, D]
    query = query.view(batch, 1, heads, dim // heads).transpose(1, 2)  # [B, heads, 1, d]
    key = key.view(batch, length, heads, dim // heads).transpose(1, 2)  # [B, heads, L, d]
    attention = ((query @ key.transpose(-1, -2)) * (dim // heads) ** -0.5).softmax(dim=-1)  # [B, heads, 1, L]
    return attention[:, :, 0, config.num_prefix_tokens :]
