"""What `hf-jepa pretrain` and `hf-jepa evaluate` feed a model: its dataset and collators, per modality ("image" or
"video"; the method table says which a method has)."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from datasets import DatasetDict

from .images import DIGITS, ImageCollator, image_transform, load_image_dataset, resolve_columns
from .moving_digits import MOVING_DIGITS
from .streaming import StreamingOptions
from .videos import VideoClipCollator, load_video_dataset, resolve_video_columns

MOTION_LABEL = "direction"  # the moving digits' second label


MODALITIES = ("image", "video", "image-text", "trajectory")


def default_dataset(modality: str) -> str:
    """The embedded default data of a modality: digits, or moving-digit clips."""
    if modality not in MODALITIES:
        raise ValueError(f"`modality` must be one of {MODALITIES}, got {modality!r}.")
    if modality == "trajectory":  # recorded from an environment: nothing embedded to default to
        raise ValueError("World models train on recorded trajectories: pass `--dataset DIR` from `hf-jepa collect`.")
    return MOVING_DIGITS if modality == "video" else DIGITS


@dataclass
class TrainingData:
    data: DatasetDict  # "train" and "eval" splits
    train_collator: Callable  # rows -> model inputs (random temporal crops for clips)
    eval_collator: Callable  # rows -> model inputs + labels, deterministic (centred clips)
    label_column: str | None  # None: the dataset has no labels, so no kNN / probe evaluation
    unit: str  # "images" or "clips", for logs
    # Other label columns worth a second evaluation: the moving digits' motion `direction`, which a video objective
    # should capture and an image one cannot.
    extra_label_columns: list[str] = field(default_factory=list)
    # Image-text data: the processor (image processor + tokenizer) the collators use, the class names for zero-shot
    # prompts (None: no names, no zero-shot) and the prompt templates.
    processor: Any = None
    label_names: list[str] | None = None
    zero_shot_templates: tuple[str, ...] = ()
    # `--streaming`: the training stream (`data` then holds only the evaluation's rows, or nothing).
    train_stream: Any = None

    @property
    def train_dataset(self):
        """What the trainer trains on: the stream, or the `train` split."""
        return self.train_stream if self.train_stream is not None else self.data["train"]

    @property
    def train_size(self) -> str:
        """The training set's size for logs ("1437 images", "a stream of images from 8 shards")."""
        if self.train_stream is not None:
            return f"a stream of {self.unit} from {self.train_stream.num_shards} shard(s)"
        return f"{len(self.data['train'])} train {self.unit}"

    def eval_collator_for(self, label_column: str) -> Callable:
        """The evaluation collator with another label column."""
        return replace(self.eval_collator, label_column=label_column)


def load_training_data(
    modality: str,
    config,
    processor,
    dataset: str | None = None,
    media_column: str | None = None,
    label_column: str | None = "label",
    load_size: int | tuple[int, int] | None = None,
    frames_per_clip: int | None = None,
    frame_stride: int = 1,
    seed: int = 0,
    caption_column: str | None = None,
    tokenizer: str | None = None,
    streaming: StreamingOptions | None = None,
) -> TrainingData:
    """The dataset (default: the modality's embedded one) and its collators at the processor's size and statistics.
    Images are loaded at `load_size` (default: the model's size) and cropped on device; clips take
    `frames_per_clip` frames (default: the config's `num_frames`) `frame_stride` apart, training windows keyed by
    `seed`. Image-text data (`caption_column`) tokenizes its captions with the tokenizer folder `tokenizer`, or one
    trained on the training captions (`processor` is then the image processor; the returned data's `processor` is
    the image-text one). `streaming`: read `dataset` as a stream (see `data.streaming`)."""
    dataset = dataset or default_dataset(modality)
    if modality == "trajectory":  # world models: windows of frames and actions (data/trajectories.py)
        from .trajectories import stack_windows, trajectory_windows

        windows = trajectory_windows(dataset, config, processor, seed=seed)
        return TrainingData(windows, stack_windows, stack_windows, None, "windows")
    if streaming is not None:
        return load_streaming_training_data(
            modality, config, processor, dataset, media_column, label_column, load_size, frames_per_clip,
            frame_stride, seed, streaming,
        )  # fmt: skip
    if modality == "image-text":
        return load_image_text_training_data(
            config, processor, dataset, media_column, caption_column, label_column, load_size, tokenizer
        )
    size = (processor.size["height"], processor.size["width"])
    mean, std = processor.image_mean, processor.image_std
    if modality == "video":
        frames = frames_per_clip or config.num_frames
        data = load_video_dataset(
            dataset, frames_per_clip=frames, frame_stride=frame_stride, video_column=media_column
        )
        column, label_column = resolve_video_columns(data["train"], media_column, label_column)

        def collator(train: bool, labels: str | None) -> VideoClipCollator:
            return VideoClipCollator(size, mean, std, frames, frame_stride, train, column, labels, seed=seed)

        extra = [c for c in (MOTION_LABEL,) if c in data["train"].column_names and c != label_column]
        check_classes(data, label_column)
        return TrainingData(data, collator(True, None), collator(False, label_column), label_column, "clips", extra)
    data = load_image_dataset(dataset, image_size=max(size))
    column, label_column = resolve_columns(data["train"], media_column, label_column)
    check_classes(data, label_column)
    train = ImageCollator(image_transform(load_size or size, mean, std), column)
    evaluation = ImageCollator(image_transform(size, mean, std), column, label_column)
    return TrainingData(data, train, evaluation, label_column, "images")


def load_streaming_training_data(
    modality, config, processor, dataset, column, label_column, load_size, frames_per_clip, frame_stride, seed, options
) -> TrainingData:
    """`load_training_data` for `--streaming`: the training stream, and the evaluation's rows in memory."""
    from .streaming import load_streaming_data

    if modality not in ("image", "video"):
        raise ValueError(f"`--streaming` reads image and video data; {modality} methods train on in-memory data.")
    size = (processor.size["height"], processor.size["width"])
    mean, std = processor.image_mean, processor.image_std
    frames = (frames_per_clip or config.num_frames) if modality == "video" else 1
    stream = load_streaming_data(dataset, modality, options, column, label_column, frames, frame_stride)
    data = stream.evaluation if stream.evaluation is not None else DatasetDict()
    label_column = stream.label_column
    check_classes(data, label_column)
    if modality == "video":

        def collator(train: bool, labels: str | None) -> VideoClipCollator:
            return VideoClipCollator(size, mean, std, frames, frame_stride, train, stream.column, labels, seed=seed)

        train, evaluation, unit = collator(True, None), collator(False, label_column), "clips"
    else:
        train = ImageCollator(image_transform(load_size or size, mean, std), stream.column)
        evaluation = ImageCollator(image_transform(size, mean, std), stream.column, label_column)
        unit = "images"
    return TrainingData(data, train, evaluation, label_column, unit, train_stream=stream.train)


def load_image_text_training_data(
    config, image_processor, dataset, image_column, caption_column, label_column, load_size, tokenizer
) -> TrainingData:
    from transformers import AutoTokenizer

    from ..models.processing_image_text import image_text_processor
    from .captions import DIGIT_TEMPLATES
    from .image_text import ImageTextCollator, label_names, load_image_text_dataset, resolve_image_text_columns

    size = (image_processor.size["height"], image_processor.size["width"])
    mean, std = image_processor.image_mean, image_processor.image_std
    data = load_image_text_dataset(dataset, image_size=max(size))
    image_column, caption_column, label_column = resolve_image_text_columns(
        data, image_column, caption_column, label_column
    )
    check_classes(data, label_column)
    if tokenizer is not None:
        try:
            loaded = AutoTokenizer.from_pretrained(tokenizer, trust_remote_code=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"`--tokenizer {tokenizer}` is not a tokenizer folder ({error}).") from error
        processor = image_text_processor(config, image_processor, tokenizer=loaded)
    else:
        processor = image_text_processor(config, image_processor, captions=data["train"][caption_column])
    train = ImageTextCollator(
        image_transform(load_size or size, mean, std), processor.tokenize, image_column, caption_column
    )
    evaluation = ImageTextCollator(
        image_transform(size, mean, std), processor.tokenize, image_column, caption_column, label_column
    )
    names = label_names(data["train"], label_column)
    templates = DIGIT_TEMPLATES if dataset == DIGITS else ("a photo of a {}.",)
    return TrainingData(
        data,
        train,
        evaluation,
        label_column,
        "image-caption pairs",
        processor=processor,
        label_names=names,
        zero_shot_templates=templates,
    )


def check_classes(data: DatasetDict, label_column: str | None) -> None:
    """Before any training: the evaluation (kNN, linear probe) needs at least two classes in the training split."""
    if label_column is None:
        return
    classes = set(data["train"][label_column])
    if len(classes) < 2:
        raise ValueError(
            f"The label column `{label_column}` has {len(classes)} class in the training split: the kNN and "
            "linear-probe evaluation need at least two. Pass `--label_column none` to pretrain without evaluation, "
            "or another label column."
        )


__all__ = ["TrainingData", "default_dataset", "load_training_data"]
