"""Image-caption data for SigLIP and CLIP: the embedded captioned digits, an image folder with a captions file
(`metadata.jsonl` / `metadata.csv`, the `imagefolder` layout: a `file_name` column and the captions), a
`save_to_disk` folder or a Hub dataset; the caption column checked; and the collator that tokenizes the captions."""

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from datasets import ClassLabel, Dataset, DatasetDict

from .images import DIGITS, _as_train_eval, digits_dataset, load_image_dataset, resolve_columns, to_rgb

CAPTION_COLUMNS = ("caption", "text", "captions", "sentence")  # tried in this order when none is named
METADATA_FILES = ("metadata.jsonl", "metadata.csv")


def load_image_text_dataset(dataset: str = DIGITS, image_size: int = 32) -> DatasetDict:
    """`train` and `eval` splits of image-caption pairs: "digits" (embedded, captions from labels and pixels), a
    folder of images with a `metadata.jsonl` / `metadata.csv` naming each `file_name` and its caption, or what
    `load_image_dataset` reads (a `save_to_disk` folder, a Hub dataset)."""
    if dataset == DIGITS:
        return digits_dataset(image_size, with_captions=True)
    if os.path.isdir(dataset) and any(os.path.isfile(os.path.join(dataset, f)) for f in METADATA_FILES):
        from datasets import load_dataset

        try:  # datasets' packaged `imagefolder` builder: local files only
            data = load_dataset("imagefolder", data_dir=dataset)
        except Exception as error:  # datasets raises assorted types for malformed metadata
            raise ValueError(
                f"`--dataset {dataset}`: its metadata file could not be read as an image folder with captions "
                f"({type(error).__name__}: {error}). It needs a `file_name` column and a caption column."
            ) from error
        return _as_train_eval(data, "--dataset")
    return load_image_dataset(dataset, image_size)


def resolve_caption_column(dataset: Dataset, caption_column: str | None) -> str:
    """The caption column (named, or the first of `CAPTION_COLUMNS` present): a clear error when there is none."""
    columns = dataset.column_names
    if caption_column is None:
        caption_column = next((c for c in CAPTION_COLUMNS if c in columns), None)
        if caption_column is None:
            raise ValueError(
                f"No caption column found among {columns} (looked for {list(CAPTION_COLUMNS)}): image-text methods "
                "train on image-caption pairs; pass `--caption_column`."
            )
    elif caption_column not in columns:
        raise ValueError(f"`--caption_column {caption_column}` is not a column of the dataset (columns: {columns}).")
    return caption_column


def check_captions(data: DatasetDict, caption_column: str) -> None:
    """Every caption of every split must be a non-empty string: a clear error counting and locating the others."""
    for name, split in data.items():
        bad = [
            i for i, caption in enumerate(split[caption_column]) if not isinstance(caption, str) or not caption.strip()
        ]
        if bad:
            raise ValueError(
                f"`--caption_column {caption_column}`: {len(bad)} of {len(split)} captions of the `{name}` split are "
                f"empty or not text (rows {bad[:10]}{' ...' if len(bad) > 10 else ''}). Remove or caption them."
            )


def label_names(dataset: Dataset, label_column: str | None) -> list[str] | None:
    """Class names for zero-shot prompts: those of a ClassLabel column; None when the labels have no names."""
    if label_column is None:
        return None
    feature = dataset.features.get(label_column)
    return list(feature.names) if isinstance(feature, ClassLabel) else None


@dataclass
class ImageTextCollator:
    """Rows -> {"pixel_values": [B, 3, H, W], the tokenizer's "input_ids" (and "attention_mask") [B, T]} (plus
    "labels" when `label_column` is set). `tokenize(captions)` is the processor's (`ImageTextProcessor.tokenize`)."""

    transform: Callable
    tokenize: Callable
    image_column: str = "image"
    caption_column: str = "caption"
    label_column: str | None = None

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("Empty batch.")
        for column, argument in ((self.image_column, "--image_column"), (self.caption_column, "--caption_column")):
            if column not in rows[0]:
                raise ValueError(
                    f"Rows have no `{column}` column (keys: {sorted(rows[0])}); pass `{argument}`, and keep "
                    "`remove_unused_columns=False`."
                )
        batch = {"pixel_values": torch.stack([self.transform(to_rgb(row[self.image_column])) for row in rows])}
        batch.update(self.tokenize([row[self.caption_column] for row in rows]))
        if self.label_column is not None:
            batch["labels"] = torch.tensor([int(row[self.label_column]) for row in rows])
        return batch


def resolve_image_text_columns(data: DatasetDict, image_column, caption_column, label_column):
    """(image, caption, label) columns of the train split, the captions of every split checked."""
    image_column, label_column = resolve_columns(data["train"], image_column, label_column)
    caption_column = resolve_caption_column(data["train"], caption_column)
    check_captions(data, caption_column)
    return image_column, caption_column, label_column


__all__ = [
    "CAPTION_COLUMNS",
    "ImageTextCollator",
    "check_captions",
    "label_names",
    "load_image_text_dataset",
    "resolve_caption_column",
    "resolve_image_text_columns",
]
