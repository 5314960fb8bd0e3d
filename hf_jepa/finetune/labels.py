"""The labels a fine-tuning run learns: the dataset's label column as class ids 0..N-1 with their names (saved as the
config's `id2label` / `label2id`), and the checks that make a wrong dataset or model a clear error before training."""

import logging
import os
from dataclasses import dataclass

from datasets import ClassLabel, DatasetDict, Value

logger = logging.getLogger("hf_jepa")


@dataclass
class Labels:
    column: str
    names: list[str]  # names[i] is class i
    mapped_from_strings: bool = False

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.names)}


def resolve_labels(data: DatasetDict, label_column: str | None, columns_help: str = "") -> tuple[DatasetDict, Labels]:
    """`data` with its label column as integer class ids, and the class names: a `ClassLabel` column's names; integer
    labels' own values as names ("0".."N-1", N = largest + 1); string labels mapped to ids in sorted order over
    all splits (logged, so the mapping is never a surprise). Anything else is a clear error."""
    if label_column is None:
        columns = data["train"].column_names
        raise ValueError(
            f"`--label_column`: the dataset has no `label` column (columns: {columns}): fine-tuning learns labels. "
            f"Pass `--label_column NAME` for the column that holds them{columns_help}."
        )
    feature = data["train"].features[label_column]
    if isinstance(feature, ClassLabel):
        return data, Labels(label_column, list(feature.names))
    values = {split: data[split][label_column] for split in data}
    every = [value for split_values in values.values() for value in split_values]
    if not every:
        raise ValueError(f"`--label_column {label_column}` is empty.")
    if isinstance(feature, Value) and feature.dtype in ("string", "large_string"):
        names = sorted(set(every))
        shown = ", ".join(f"{name!r} -> {index}" for index, name in enumerate(names[:10]))
        logger.warning(
            "The labels in `%s` are strings: mapped to class ids in sorted order (%s%s); the names are saved as the "
            "model's id2label.",
            label_column,
            shown,
            ", ..." if len(names) > 10 else "",
        )
        encoded = data.cast_column(label_column, ClassLabel(names=names))
        return encoded, Labels(label_column, names, mapped_from_strings=True)
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in every) or min(every) < 0:
        example = next(v for v in every if not (isinstance(v, int) and not isinstance(v, bool)) or v < 0)
        raise ValueError(
            f"`--label_column {label_column}` must hold one class per example, as non-negative integer ids or as "
            f"strings (names), got {type(example).__name__} {example!r} (feature {feature}). Multi-label and "
            "regression targets are supported by the classification models (`config.problem_type`), not by this "
            "command."
        )
    return data, Labels(label_column, [str(index) for index in range(max(every) + 1)])


def check_enough_classes(labels: Labels) -> None:
    if len(labels.names) < 2:
        raise ValueError(
            f"`--label_column {labels.column}` has {len(labels.names)} class: a classifier needs at least two."
        )


def check_reused_head(saved_config: dict, labels: Labels, model_dir: str, reset_head: bool) -> bool:
    """Whether the folder's classification head is reused: the folder was saved by a classifier (`architectures`).
    A head for another number of classes is an error unless `--reset_head` asks for a new one."""
    architectures = saved_config.get("architectures") or []
    has_head = any(name.endswith(("ForImageClassification", "ForVideoClassification")) for name in architectures)
    if not has_head or reset_head:
        return False
    saved = saved_config.get("id2label") or {}
    saved_num = len(saved) if saved else saved_config.get("num_labels", 2)
    if saved_num != len(labels.names):
        raise ValueError(
            f"`--model {model_dir}` holds a classifier for {saved_num} classes, but `--label_column {labels.column}` "
            f"has {len(labels.names)}: pass `--reset_head` to train a new head (the encoder is kept), or give a "
            "dataset with the same classes."
        )
    saved_names = [saved[key] for key in sorted(saved, key=int)] if saved else []
    if saved_names and saved_names != labels.names:
        logger.warning(
            "`--model %s`'s head was trained on classes %s; this dataset's are %s: class i of the head is reused for "
            "class i of the data (pass --reset_head for a new head).",
            model_dir,
            saved_names,
            labels.names,
        )
    return True


def check_modality(modality: str, dataset: str | None) -> None:
    """A video model needs clips and an image model images: refuse the other embedded dataset, and a folder of the
    other kind, before anything is loaded."""
    from ..data.images import IMAGE_EXTENSIONS
    from ..data.training_data import default_dataset
    from ..data.videos import VIDEO_EXTENSIONS

    if dataset is None:
        return
    other = "image" if modality == "video" else "video"
    wrong_files = IMAGE_EXTENSIONS if modality == "video" else VIDEO_EXTENSIONS
    if dataset == default_dataset(other):
        mismatch = True
    elif os.path.isdir(dataset) and not os.path.exists(os.path.join(dataset, "dataset_dict.json")):
        names = [name.lower() for _, _, files in os.walk(dataset) for name in files]
        mismatch = bool(names) and all(name.endswith(wrong_files) for name in names)
    else:
        return
    if mismatch:
        article = "an" if other == "image" else "a"
        raise ValueError(
            f"`--dataset {dataset}` holds {other}s, but `--model` is a {modality} model: give a {modality} dataset "
            f"(default: {default_dataset(modality)}), or {article} {other} model."
        )


__all__ = ["Labels", "check_enough_classes", "check_modality", "check_reused_head", "resolve_labels"]
