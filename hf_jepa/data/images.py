"""Datasets: the embedded default (scikit-learn digits), image folders, saved or Hub `datasets`; and the collator
that turns rows into training views."""

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Image, load_dataset, load_from_disk
from PIL import Image as PILImage
from torchvision.transforms import v2

from .cache import cache_root

logger = logging.getLogger(__name__)

DIGITS = "digits"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
EVAL_SPLIT_NAMES = ("validation", "val", "valid", "test", "eval")


def digits_dataset(image_size: int = 32, with_captions: bool = False) -> DatasetDict:
    """scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels) upscaled to RGB `image_size` squares, with a
    fixed stratified 80/20 train/eval split. `with_captions`: a `caption` column (`data.captions.digit_captions`) and
    the label as a ClassLabel named "zero" ... "nine" (for zero-shot prompts)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    images = [
        PILImage.fromarray(p, mode="L").resize((image_size, image_size), PILImage.BICUBIC).convert("RGB")
        for p in pixels
    ]
    labels = digits.target.tolist()
    train_idx, eval_idx = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=0, stratify=labels)

    captions = None
    if with_captions:
        from .captions import digit_captions

        captions = digit_captions(digits.images, digits.target)

    def subset(indices):
        rows = {"image": [images[i] for i in indices], "label": [labels[i] for i in indices]}
        if captions is None:
            return Dataset.from_dict(rows).cast_column("image", Image())
        from datasets import ClassLabel

        from .captions import DIGIT_NAMES

        rows["caption"] = [captions[i] for i in indices]
        return (
            Dataset.from_dict(rows).cast_column("image", Image()).cast_column("label", ClassLabel(names=DIGIT_NAMES))
        )

    return DatasetDict(train=subset(train_idx), eval=subset(eval_idx))


def image_problem(path: str) -> str | None:
    """Why the image file at `path` cannot be a training image, or None: empty, unreadable, truncated (a full decode,
    not just the header), or a mode with no defined colour range."""
    try:
        if os.path.getsize(path) == 0:
            return "empty file"
        with PILImage.open(path) as image:
            image.load()  # decodes every pixel: a truncated JPEG fails here, not mid-training
            to_rgb(image)
    except Exception as error:  # PIL raises many types for broken files
        return f"{type(error).__name__}: {error}"
    return None


def _check_cache_path() -> str:
    return os.path.join(cache_root(), "image_checks.json")


def check_image_files(paths: list[str], workers: int | None = None) -> dict[str, str]:
    """{path: problem} for the files of `paths` that cannot be decoded. Every file is decoded in full, on a pool of
    threads (PIL decodes without the GIL); results are cached by (path, size, modification time), so a folder is
    checked once."""
    cache_file = _check_cache_path()
    try:
        with open(cache_file, encoding="utf-8") as handle:
            cache = json.load(handle)
    except (OSError, ValueError):
        cache = {}

    def key(path: str) -> str:
        stat = os.stat(path)
        return f"{os.path.realpath(path)}|{stat.st_size}|{stat.st_mtime_ns}"

    keys = {path: key(path) for path in paths}
    unknown = [path for path in paths if keys[path] not in cache]
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for path, problem in zip(unknown, pool.map(image_problem, unknown)):
            cache[keys[path]] = problem
    if unknown:
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(cache_file), exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=os.path.dirname(cache_file))
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(cache, stream)
            os.replace(temporary, cache_file)
    return {path: cache[keys[path]] for path in paths if cache[keys[path]] is not None}


def _usable_images(paths: list[str], argument: str) -> list[str]:
    """`paths` without the files that do not decode, which are counted and named in one warning; an error when none
    is left."""
    bad = check_image_files(paths)
    if bad:
        listed = "\n  ".join(f"{path} ({problem})" for path, problem in list(bad.items())[:10])
        message = f"`{argument}`: skipped {len(bad)} of {len(paths)} image files that do not decode:\n  {listed}"
        if len(bad) > 10:
            message += "\n  ..."
        if len(bad) == len(paths):
            raise ValueError(message.replace("skipped", "none of the files can be used:", 1))
        logger.warning(message)
    return [path for path in paths if path not in bad]


def _folder_images(folder: str, argument: str) -> tuple[list[str], list[str]]:
    """Image paths under `folder` and their class (the sub-folder they are in); files that do not decode are
    skipped (counted in a warning)."""
    paths, labels = [], []
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(root, name))
                labels.append(os.path.relpath(root, folder))
    if not paths:
        raise ValueError(f"`{argument}` ({folder}) contains no image files ({', '.join(IMAGE_EXTENSIONS)}).")
    usable = set(_usable_images(paths, argument))
    kept = [(path, label) for path, label in zip(paths, labels) if path in usable]
    return [path for path, _ in kept], [label for _, label in kept]


def _labelled(paths: list[str], labels: list[str], classes: list[str]) -> Dataset:
    """Rows of images with their class index; images at the top of a folder with no class sub-folders have no
    label (an unlabelled dataset: pretraining without evaluation), not one class of their own."""
    if classes == ["."]:
        return Dataset.from_dict({"image": paths}).cast_column("image", Image())
    rows = {"image": paths, "label": [classes.index(label) for label in labels]}
    # The class folders' names travel with the ids (a fine-tuned model's id2label).
    return Dataset.from_dict(rows).cast_column("image", Image()).cast_column("label", ClassLabel(names=classes))


def image_folder_dataset(folder: str, argument: str = "--dataset", eval_fraction: float = 0.2) -> DatasetDict:
    """A folder of images whose sub-folders are the classes (a flat folder: no labels). `train/` and `val/` (or
    test/...) sub-folders are used as splits when present (classes numbered over both, so a class missing from one
    split shifts nothing); otherwise a fixed 80/20 split is made."""
    entries = {e.lower(): e for e in os.listdir(folder)}
    eval_name = next((entries[n] for n in EVAL_SPLIT_NAMES if n in entries), None)
    if "train" in entries and eval_name:
        train = _folder_images(os.path.join(folder, entries["train"]), argument)
        evaluation = _folder_images(os.path.join(folder, eval_name), argument)
        classes = sorted(set(train[1]) | set(evaluation[1]))
        return DatasetDict(train=_labelled(*train, classes), eval=_labelled(*evaluation, classes))
    paths, labels = _folder_images(folder, argument)
    return _split(_labelled(paths, labels, sorted(set(labels))), eval_fraction)


def _split(dataset: Dataset, eval_fraction: float) -> DatasetDict:
    if len(dataset) < 2:
        raise ValueError(f"The dataset has {len(dataset)} example(s); at least 2 are needed for a train/eval split.")
    parts = dataset.train_test_split(test_size=eval_fraction, seed=0)
    return DatasetDict(train=parts["train"], eval=parts["test"])


def _as_train_eval(data, argument: str) -> DatasetDict:
    if isinstance(data, Dataset):
        return _split(data, 0.2)
    if "train" not in data:
        raise ValueError(f"`{argument}` has splits {list(data)} but no 'train' split.")
    eval_name = next((n for n in (*EVAL_SPLIT_NAMES,) if n in data), None)
    if eval_name is None:
        return _split(data["train"], 0.2)
    return DatasetDict(train=data["train"], eval=data[eval_name])


def load_image_dataset(dataset: str = DIGITS, image_size: int = 32) -> DatasetDict:
    """`train` and `eval` splits from: "digits" (embedded), an image folder, a folder written by
    `Dataset.save_to_disk`, or a Hub dataset name."""
    if dataset == DIGITS:
        return digits_dataset(image_size)
    if os.path.isdir(dataset):
        if any(os.path.exists(os.path.join(dataset, f)) for f in ("dataset_dict.json", "dataset_info.json")):
            try:
                saved = load_from_disk(dataset)
            except Exception as error:  # datasets fails on empty or damaged folders with assorted errors
                raise ValueError(
                    f"`--dataset {dataset}` could not be read ({type(error).__name__}: {error})."
                ) from error
            data = _as_train_eval(saved, "--dataset")
        else:
            data = image_folder_dataset(dataset)
    else:
        try:
            data = _as_train_eval(load_dataset(dataset), "--dataset")
        except Exception as error:
            raise ValueError(
                f"`--dataset {dataset}` is neither 'digits', a local folder, nor a loadable Hub dataset "
                f"({type(error).__name__}: {error})."
            ) from error
    for name, split in data.items():
        if len(split) == 0:
            raise ValueError(f"The `{name}` split of `--dataset {dataset}` is empty.")
    return data


def resolve_columns(dataset: Dataset, image_column: str | None, label_column: str | None):
    """Check (or find) the image and label columns; the label column may be absent (returns None)."""
    columns = dataset.column_names
    if image_column is None:
        image_column = next((c for c, f in dataset.features.items() if isinstance(f, Image)), None)
        if image_column is None:
            raise ValueError(f"No image column found among {columns}: pass `--image_column`.")
    elif image_column not in columns:
        raise ValueError(f"`--image_column {image_column}` is not a column of the dataset (columns: {columns}).")
    return image_column, resolve_label_column(dataset, label_column)


def resolve_label_column(dataset: Dataset, label_column: str | None) -> str | None:
    """The label column, or None when the default `label` is absent (an unlabelled dataset); any other missing
    column is an error."""
    columns = dataset.column_names
    if label_column is not None and label_column not in columns:
        if label_column != "label":
            raise ValueError(f"`--label_column {label_column}` is not a column of the dataset (columns: {columns}).")
        return None
    return label_column


# Modes PIL converts to RGB without a choice to make (alpha is composited on white first).
_CONVERTIBLE_MODES = ("RGB", "RGBA", "RGBa", "RGBX", "L", "LA", "La", "1", "P", "PA", "CMYK", "YCbCr")


def to_rgb(image) -> PILImage.Image:
    """An image as 8-bit RGB, the same way for training, evaluation and the demo: grayscale, palette, CMYK and YCbCr
    are converted, transparency is laid on white, 16-bit images (`I;16*`, or `I` holding values up to 65535, as
    16-bit PNGs decode) are scaled by their range (/257, never clipped); float images and wider integers have no
    defined range and are refused, as are colour spaces PIL cannot map to RGB (LAB, HSV), with a ValueError that
    says what to do."""
    if not isinstance(image, PILImage.Image):
        raise ValueError(f"Expected a PIL image in the image column, got {type(image).__name__}.")
    if image.mode.startswith("I;16") or image.mode == "I":
        pixels = np.asarray(image, dtype=np.float64)
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise ValueError(
                f"Images in mode {image.mode!r} with values outside 0..65535 have no defined range: convert them to "
                "8- or 16-bit first."
            )
        return PILImage.fromarray(np.round(pixels / 257.0).astype(np.uint8)).convert("RGB")
    if image.mode not in _CONVERTIBLE_MODES:
        raise ValueError(
            f"Images in mode {image.mode!r} are not supported: the models take RGB images. Convert it to an 8-bit "
            "RGB or grayscale image (e.g. PNG or JPEG) first."
        )
    if "A" in image.mode or "a" in image.mode or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def image_transform(image_size: int | tuple[int, int], mean, std) -> Callable:
    """PIL image -> normalised [3, H, W] float tensor of `image_size` (training views are cut later, on device)."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize(size, interpolation=v2.InterpolationMode.BICUBIC, antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(mean), std=list(std)),
        ]
    )


@dataclass
class ImageCollator:
    """Rows -> {"pixel_values": [B, 3, H, W]} (plus "labels" when `label_column` is set)."""

    transform: Callable
    image_column: str = "image"
    label_column: str | None = None

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("Empty batch.")
        if self.image_column not in rows[0]:
            raise ValueError(
                f"Rows have no `{self.image_column}` column (keys: {sorted(rows[0])}); pass `--image_column`, and "
                "keep `remove_unused_columns=False`."
            )
        batch = {"pixel_values": torch.stack([self.transform(to_rgb(row[self.image_column])) for row in rows])}
        if self.label_column is not None:
            batch["labels"] = torch.tensor([int(row[self.label_column]) for row in rows])
        return batch
