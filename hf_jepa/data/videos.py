"""Video datasets (the embedded moving digits, video folders, saved or Hub `datasets`) and the collator that turns
rows into clips. The video counterpart of `data.py`, whose split logic it shares."""

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, Video, load_dataset, load_from_disk
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as tvF

from .images import EVAL_SPLIT_NAMES, _as_train_eval, _split, resolve_label_column
from .moving_digits import DEFAULT_SETTINGS, MOVING_DIGITS, moving_digits_dataset
from .streaming import STREAM_EPOCH
from .video_decoding import (
    TOO_SHORT,
    VIDEO_EXTENSIONS,
    VideoSource,
    check_video,
    clip_indices,
    clip_span,
    describe_skipped,
    read_clip,
    source_name,
)

logger = logging.getLogger(__name__)


def _folder_videos(folder: str) -> tuple[list[str], list[str]]:
    """Every video file under `folder` and its class: the sub-folder it is in, "." for files at the top."""
    paths, classes = [], []
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            if name.lower().endswith(VIDEO_EXTENSIONS):
                paths.append(os.path.join(root, name))
                classes.append(os.path.relpath(root, folder))
    return paths, classes


def _videos_split(paths: list[str], classes: list[str], class_names: list[str]) -> Dataset:
    if class_names == ["."]:  # a flat folder: no labels
        return Dataset.from_dict({"video": paths}, features=Features(video=Value("string")))
    features = Features(video=Value("string"), label=ClassLabel(names=class_names))
    return Dataset.from_dict({"video": paths, "label": [class_names.index(c) for c in classes]}, features=features)


def video_folder_dataset(folder: str, argument: str = "--dataset", eval_fraction: float = 0.2) -> DatasetDict:
    """A folder of videos (`VIDEO_EXTENSIONS`) whose sub-folders are the classes, or a flat folder (no labels).
    `train/` and `val/` (or test/...) sub-folders are used as splits when present; otherwise a fixed 80/20 split is
    made. Rows hold the file path in `video` and the class index in `label`."""
    entries = {e.lower(): e for e in os.listdir(folder)}
    eval_name = next((entries[n] for n in EVAL_SPLIT_NAMES if n in entries), None)
    split_folders = {"train": entries.get("train"), "eval": eval_name}
    if not all(split_folders.values()):
        split_folders = {"all": ""}
    listed = {split: _folder_videos(os.path.join(folder, name)) for split, name in split_folders.items()}
    for split, (paths, _) in listed.items():
        if not paths:
            where = os.path.join(folder, split_folders[split]) if split_folders[split] else folder
            raise ValueError(f"`{argument}` ({where}) contains no video files ({', '.join(VIDEO_EXTENSIONS)}).")
    # Class indices come from every split together, so a class missing from one split does not shift the others.
    class_names = sorted({c for _, classes in listed.values() for c in classes})
    splits = {split: _videos_split(paths, classes, class_names) for split, (paths, classes) in listed.items()}
    if "all" in splits:
        return _split(splits["all"], eval_fraction)
    return DatasetDict(splits)


def resolve_video_columns(dataset: Dataset, video_column: str | None, label_column: str | None):
    """Check (or find) the video and label columns; the label column may be absent (returns None). Found: the first
    `datasets.Video` column, else a column named `video`."""
    columns = dataset.column_names
    if video_column is None:
        video_column = next((c for c, f in dataset.features.items() if isinstance(f, Video)), None)
        video_column = video_column or ("video" if "video" in columns else None)
        if video_column is None:
            raise ValueError(f"No video column found among {columns}: pass `--video_column`.")
    elif video_column not in columns:
        raise ValueError(f"`--video_column {video_column}` is not a column of the dataset (columns: {columns}).")
    return video_column, resolve_label_column(dataset, label_column)


def _undecoded(split: Dataset) -> Dataset:
    """`datasets.Video` columns as `{"path", "bytes"}` values: decoding them needs torchcodec, and the collator
    decodes only the frames of its clip."""
    for name, feature in split.features.items():
        if isinstance(feature, Video) and feature.decode:
            split = split.cast_column(name, Video(decode=False))
    return split


def drop_unusable_videos(
    split: Dataset, video_column: str, frames_per_clip: int, frame_stride: int, description: str
) -> Dataset:
    """`split` without its corrupt, missing or too-short videos (each file checked once, see `check_video`); logs
    what was skipped, and raises ValueError naming `description` when nothing is left."""
    reasons = []
    for batch in split.select_columns([video_column]).iter(batch_size=64):
        reasons += [check_video(source, frames_per_clip, frame_stride) for source in batch[video_column]]
    if not any(reasons):
        return split
    skipped = {}
    for index, reason in enumerate(reasons):
        if reason is not None:
            skipped.setdefault(reason, []).append(source_name(split[index][video_column]))
    summary = describe_skipped(skipped, len(split), frames_per_clip, frame_stride)
    usable = [index for index, reason in enumerate(reasons) if reason is None]
    if not usable:
        hint = "; lower `--frames_per_clip` or `--frame_stride`" if TOO_SHORT in skipped else ""
        raise ValueError(f"{description} has no usable video: {summary}{hint}.")
    logger.warning("%s: %s", description, summary)
    return split.select(usable)


def load_video_dataset(
    dataset: str | Dataset | DatasetDict = MOVING_DIGITS,
    frames_per_clip: int = 1,
    frame_stride: int = 1,
    video_column: str | None = None,
    cache_dir: str | None = None,
    num_clips: int | None = None,
) -> DatasetDict:
    """`train` and `eval` splits from: "moving_digits" (embedded; `cache_dir` and `num_clips` apply to it only), a
    video folder (see `video_folder_dataset`), a folder written by `Dataset.save_to_disk`, a Hub dataset name, or a
    `datasets` object. Videos that cannot give a clip of `frames_per_clip` frames `frame_stride` apart are dropped up
    front and reported, so training never meets them. `datasets.Video` columns are kept undecoded."""
    if isinstance(dataset, Dataset | DatasetDict):
        data, name = _as_train_eval(dataset, "--dataset"), "the given dataset"
    elif dataset == MOVING_DIGITS:
        try:  # the clips are written here, all of one length: check the clip fits instead of opening every file
            clip_indices(DEFAULT_SETTINGS["num_frames"], frames_per_clip, frame_stride, random=False)
        except ValueError as error:
            raise ValueError(f"`--dataset {MOVING_DIGITS}`: {error}") from error
        return moving_digits_dataset(cache_dir, **({} if num_clips is None else {"num_clips": num_clips}))
    elif os.path.isdir(dataset):
        name = f"`--dataset {dataset}`"
        if any(os.path.exists(os.path.join(dataset, f)) for f in ("dataset_dict.json", "dataset_info.json")):
            try:
                saved = load_from_disk(dataset)
            except Exception as error:  # datasets fails on empty or damaged folders with assorted errors
                raise ValueError(f"{name} could not be read ({type(error).__name__}: {error}).") from error
            data = _as_train_eval(saved, "--dataset")
        else:
            data = video_folder_dataset(dataset)
    else:
        name = f"`--dataset {dataset}`"
        try:
            data = _as_train_eval(load_dataset(dataset), "--dataset")
        except Exception as error:
            raise ValueError(
                f"{name} is neither '{MOVING_DIGITS}', a local folder, nor a loadable Hub dataset "
                f"({type(error).__name__}: {error})."
            ) from error
    checked = {}
    for split_name, split in data.items():
        if len(split) == 0:
            raise ValueError(f"The `{split_name}` split of {name} is empty.")
        split = _undecoded(split)
        column, _ = resolve_video_columns(split, video_column, None)
        description = f"The `{split_name}` split of {name}"
        checked[split_name] = drop_unusable_videos(split, column, frames_per_clip, frame_stride, description)
    return DatasetDict(checked)


def _identity(source: VideoSource) -> bytes:
    """What tells one video from another: its path, or its content for in-memory files."""
    if isinstance(source, dict):
        source = source.get("bytes") or source.get("path") or b""
    if isinstance(source, bytes | bytearray):
        return hashlib.blake2b(source, digest_size=16).digest()
    return os.fspath(source).encode()


def clip_to_pixel_values(clip: torch.Tensor, size: int | tuple[int, int], mean, std) -> torch.Tensor:
    """uint8 RGB frames [T, H, W, 3] -> normalised float [T, 3, *size]: bilinear (antialiased) resize of the uint8
    frames, rescale to [0, 1], normalise; the same steps, in the same order, as `SSLVideoProcessor`."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    frames = clip.permute(0, 3, 1, 2)
    if tuple(frames.shape[-2:]) != size:
        frames = tvF.resize(frames, list(size), interpolation=InterpolationMode.BILINEAR, antialias=True)
    mean = torch.as_tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (frames.float() / 255.0 - mean) / std


@dataclass
class VideoClipCollator:
    """Rows -> {"pixel_values_videos": [B, T, 3, H, W]} (plus "labels" when `label_column` is set). Training: one
    random temporal window per video, drawn from a generator keyed by (`seed`, epoch, video), so a resumed run draws
    the same windows as an uninterrupted one (data loaders collate ahead of checkpoints, so the global RNG would not)
    and every epoch new ones; `SSLTrainer` sets the epoch (`set_epoch`), and streamed rows carry theirs (drawn in
    the data loader's workers). Evaluation: the centred clip. Frames are only resized; training views are cut on the
    device."""

    size: int | tuple[int, int]
    mean: Sequence[float]
    std: Sequence[float]
    frames_per_clip: int = 16
    frame_stride: int = 1
    train: bool = True
    video_column: str = "video"
    label_column: str | None = None
    seed: int = 0
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def window_generator(self, source: VideoSource, epoch: int | None = None) -> torch.Generator:
        """The generator of `source`'s training window in `epoch` (default: this epoch)."""
        epoch = self.epoch if epoch is None else epoch
        key = hashlib.blake2b(f"{self.seed}/{epoch}/".encode(), digest_size=8)
        key.update(_identity(source))
        return torch.Generator().manual_seed(int.from_bytes(key.digest(), "little") & ((1 << 63) - 1))

    def __post_init__(self):
        clip_span(self.frames_per_clip, self.frame_stride)  # fail at construction, not in the first batch

    def clip(self, source: VideoSource, epoch: int | None = None) -> torch.Tensor:
        """One normalised clip [T, 3, H, W] of `source` (training: its window of `epoch`, default this epoch)."""
        generator = self.window_generator(source, epoch) if self.train else None
        frames = read_clip(source, self.frames_per_clip, self.frame_stride, random=self.train, generator=generator)
        return clip_to_pixel_values(frames, self.size, self.mean, self.std)

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("Empty batch.")
        if self.video_column not in rows[0]:
            raise ValueError(
                f"Rows have no `{self.video_column}` column (keys: {sorted(rows[0])}); pass `--video_column`, and "
                "keep `remove_unused_columns=False`."
            )
        # A streamed row carries the stream's epoch: in data loader workers the collator's own would be stale.
        clips = [self.clip(row[self.video_column], row.get(STREAM_EPOCH)) for row in rows]
        batch = {"pixel_values_videos": torch.stack(clips)}
        if self.label_column is not None:
            batch["labels"] = torch.tensor([int(row[self.label_column]) for row in rows])
        return batch
