"""Datasets: the embedded default (scikit-learn digits), image folders, saved or Hub `datasets`; and the collator
that turns rows into training views."""

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset, DatasetDict, Image, load_dataset, load_from_disk
from PIL import Image as PILImage
from torchvision.transforms import v2

DIGITS = "digits"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
EVAL_SPLIT_NAMES = ("validation", "val", "valid", "test", "eval")


def digits_dataset(image_size: int = 32) -> DatasetDict:
    """scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels) upscaled to RGB `image_size` squares, with a
    fixed stratified 80/20 train/eval split."""
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

    def subset(indices):
        rows = {"image": [images[i] for i in indices], "label": [labels[i] for i in indices]}
        return Dataset.from_dict(rows).cast_column("image", Image())

    return DatasetDict(train=subset(train_idx), eval=subset(eval_idx))


def _check_image_files(paths: list[str], argument: str) -> None:
    corrupt = []
    for path in paths:
        try:
            if os.path.getsize(path) == 0:
                raise OSError("empty file")
            with PILImage.open(path) as image:
                image.verify()
        except Exception as error:  # PIL raises many types for broken files
            corrupt.append(f"{path} ({type(error).__name__}: {error})")
    if corrupt:
        listed = "\n  ".join(corrupt[:10]) + ("\n  ..." if len(corrupt) > 10 else "")
        raise ValueError(
            f"`{argument}` contains {len(corrupt)} unreadable image file(s); remove or fix them:\n  {listed}"
        )


def _folder_images(folder: str, argument: str) -> tuple[list[str], list[str]]:
    """Image paths under `folder` and their class (the sub-folder they are in), checked to open."""
    paths, labels = [], []
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(root, name))
                labels.append(os.path.relpath(root, folder))
    if not paths:
        raise ValueError(f"`{argument}` ({folder}) contains no image files ({', '.join(IMAGE_EXTENSIONS)}).")
    _check_image_files(paths, argument)
    return paths, labels


def _labelled(paths: list[str], labels: list[str], classes: list[str]) -> Dataset:
    rows = {"image": paths, "label": [classes.index(label) for label in labels]}
    return Dataset.from_dict(rows).cast_column("image", Image())


def image_folder_dataset(folder: str, argument: str = "--dataset", eval_fraction: float = 0.2) -> DatasetDict:
    """A folder of images whose sub-folders are the classes. `train/` and `val/` (or test/...) sub-folders are used
    as splits when present (classes numbered over both, so a class missing from one split shifts nothing);
    otherwise a fixed 80/20 split is made."""
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


def to_rgb(image) -> PILImage.Image:
    if not isinstance(image, PILImage.Image):
        raise ValueError(f"Expected a PIL image in the image column, got {type(image).__name__}.")
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
