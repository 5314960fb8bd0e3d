"""Streaming training data (`--streaming`): Hub datasets and local parquet / WebDataset tar shards read as
`datasets` streams, never held in memory or on disk as a whole.

`ShardStream` is the training dataset: a never-ending, deterministic stream of decoded rows. Every epoch it shuffles
the shard order with a generator keyed by (seed, epoch), deals the shards to its readers (the data loader's workers,
times the processes when it is given a rank and a world size; with fewer shards than readers, each keeps one row in
N: the rule of `datasets.distributed.split_dataset_by_node`), shuffles rows in a buffer keyed by (seed, epoch,
reader), and decodes each row in the worker. Because every draw is keyed and the stream never
ends, the batches a run sees depend only on the seed and the step: a resumed run that skips the batches it already
trained on (what `Trainer` does when resuming) sees exactly the batches an uninterrupted run would, with or without
workers. A row that does not decode is skipped and counted; a shard that fails mid-stream (a truncated tar, a damaged
parquet file) is skipped from that point and counted; a worker whose shards give nothing at all stops the run with
the reasons."""

import hashlib
import io
import itertools
import logging
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict, Value, load_dataset
from PIL import Image as PILImage

from .images import DIGITS, EVAL_SPLIT_NAMES, IMAGE_EXTENSIONS, to_rgb
from .moving_digits import MOVING_DIGITS
from .video_decoding import VIDEO_EXTENSIONS, check_video

logger = logging.getLogger(__name__)

SHARD_EXTENSIONS = (".parquet", ".tar", ".arrow", ".jsonl", ".csv")
# The row key under which a stream tells the video collator the epoch a row was drawn in (its temporal window is
# keyed by it).
STREAM_EPOCH = "__stream_epoch__"
# Rows read from the stream per `datasets` call (rows are still decoded one by one); a shard that fails mid-stream
# loses the rows of the batch being read.
READ_BATCH = 8


@dataclass
class StreamingOptions:
    """How `--streaming` reads its training stream: `buffer_size` rows shuffled in memory per worker, `eval_size`
    rows of each split materialised for the evaluation, draws keyed by `seed`; the stream is read by process `rank`
    of `world_size`, each process reading its own shards (`SSLTrainer` then builds that process's data loader
    without accelerate's batch dispatching, see `engine.launch.own_part_loader`)."""

    buffer_size: int = 1000
    eval_size: int = 1000
    seed: int = 0
    rank: int = 0
    world_size: int = 1


def _refuse(dataset: str, why: str) -> ValueError:
    return ValueError(
        f"`--streaming` reads parquet / WebDataset tar shards (a folder or glob of them) or a Hub dataset, but "
        f"`--dataset {dataset}` {why}: drop `--streaming`."
    )


def _local_files(dataset: str) -> list[str]:
    if os.path.isdir(dataset):
        return [os.path.join(root, name) for root, _, names in os.walk(dataset) for name in names]
    import glob

    return glob.glob(dataset, recursive=True)


def open_stream(dataset: str) -> IterableDatasetDict:
    """The splits of `dataset` as streams: a Hub dataset name, or a local folder / glob of parquet or WebDataset tar
    shards (splits from the file names, as `datasets` infers them: train-*.parquet, validation-*.tar, ...).
    Map-only sources (the embedded data, image or video folders, `save_to_disk` folders) are refused, saying why."""
    if dataset in (DIGITS, MOVING_DIGITS):
        raise _refuse(dataset, "is embedded data, built in memory (map-style)")
    files = _local_files(dataset) if (os.path.isdir(dataset) or any(c in dataset for c in "*?[")) else None
    if files is not None:
        names = {os.path.basename(f) for f in files}
        if {"dataset_dict.json", "dataset_info.json", "state.json"} & names:
            raise _refuse(dataset, "is a `save_to_disk` folder: memory-mapped Arrow, already read with random access")
        shards = [f for f in files if f.lower().endswith(SHARD_EXTENSIONS)]
        if not shards:
            media = [f for f in files if f.lower().endswith(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)]
            why = "is a folder of media files, read with random access" if media else "holds no parquet or tar shards"
            raise _refuse(dataset, why)
    try:
        if files is not None and not os.path.isdir(dataset):  # a glob: one split of the matching shards
            builder = "webdataset" if shards[0].lower().endswith(".tar") else shards[0].rsplit(".", 1)[-1]
            builder = {"jsonl": "json"}.get(builder, builder)
            streams = load_dataset(builder, data_files={"train": sorted(shards)}, streaming=True)
        else:
            streams = load_dataset(dataset, streaming=True)
    except Exception as error:  # datasets raises assorted types for unknown names and unreadable files
        raise ValueError(
            f"`--dataset {dataset}` with `--streaming` is neither a loadable Hub dataset nor a folder or glob of "
            f"parquet / tar shards ({type(error).__name__}: {error})."
        ) from error
    if not isinstance(streams, IterableDatasetDict) or "train" not in streams:
        raise ValueError(f"`--dataset {dataset}` has splits {list(streams)} but no 'train' split.")
    return streams


def eval_split_name(streams: IterableDatasetDict) -> str | None:
    return next((name for name in EVAL_SPLIT_NAMES if name in streams), None)


def undecoded(stream: IterableDataset) -> IterableDataset:
    """Image and video columns as raw `{"bytes", "path"}` values: rows are decoded one by one by the stream (so a
    broken one is skipped, not fatal) and in the data loader's workers."""
    features = stream.features or {}
    for name, feature in features.items():
        if getattr(feature, "decode", False) and type(feature).__name__ in ("Image", "Video"):
            stream = stream.cast_column(name, type(feature)(decode=False))
    return stream


def media_column(stream: IterableDataset, column: str | None, kind: str, argument: str) -> str:
    """The image (kind "Image") or video ("Video") column of a stream: `column` checked, or the first of its kind
    (a WebDataset's `jpg` / `png` / `mp4` ...)."""
    features = stream.features or {}
    if column is not None:
        if column not in features:
            raise ValueError(f"`{argument} {column}` is not a column of the stream (columns: {list(features)}).")
        return column
    found = next((name for name, feature in features.items() if type(feature).__name__ == kind), None)
    if found is None and kind == "Video" and isinstance(features.get("video"), Value):
        found = "video"  # video paths as strings
    if found is None:
        raise ValueError(f"No {kind.lower()} column found among {list(features)}: pass `{argument}`.")
    return found


def stream_label_column(stream: IterableDataset, label_column: str | None) -> str | None:
    """The label column; the default `label` falls back to a WebDataset's `cls`, else None (no labels)."""
    columns = list(stream.features or {})
    if label_column is None or label_column in columns:
        return label_column
    if label_column == "label":
        return "cls" if "cls" in columns else None
    raise ValueError(f"`--label_column {label_column}` is not a column of the stream (columns: {columns}).")


def decode_image(value) -> PILImage.Image:
    """A raw image value (`{"bytes", "path"}`, bytes, a path or a PIL image) -> a fully decoded RGB image."""
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, bytes | bytearray):
        value = io.BytesIO(value)
    if value is None:
        raise ValueError("the image value has neither bytes nor a path")
    image = value if isinstance(value, PILImage.Image) else PILImage.open(value)
    image.load()  # every pixel now, so a truncated file fails here and is skipped, not in the collator
    return to_rgb(image)


def image_row_decoder(column: str) -> Callable[[dict], dict]:
    def decode(row: dict) -> dict:
        return {**row, column: decode_image(row[column])}

    return decode


def video_row_decoder(column: str, frames_per_clip: int, frame_stride: int) -> Callable[[dict], dict]:
    """Checks that a row's video opens and is long enough (frames are read later, by the collator, for its window)."""

    def decode(row: dict) -> dict:
        problem = check_video(row[column], frames_per_clip, frame_stride)
        if problem is not None:
            raise ValueError(f"video is {problem}")
        return row

    return decode


def _key(*parts) -> int:
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class ShardStream(torch.utils.data.IterableDataset):
    """A never-ending, deterministic stream of decoded rows of `source` (see the module's docstring). `decode(row)`
    turns a raw row into the collator's input, raising on a broken row (skipped and counted). `name` is how
    messages call the data (e.g. "`--dataset shards/`")."""

    def __init__(self, source: IterableDataset, decode: Callable[[dict], dict], options: StreamingOptions, name: str):
        super().__init__()
        self.source, self.decode, self.options, self.name = source, decode, options, name
        self.skipped_rows = 0
        self.skipped_shards = 0

    @property
    def num_shards(self) -> int:
        return self.source.n_shards

    def _rows(self, shard: int, epoch: int) -> Iterator[dict]:
        """The raw rows of one shard; a shard that fails mid-stream ends there, skipped and counted."""
        read = 0
        try:
            # `.iter` reads the shard as it is; iterating the dataset itself would split it again among workers.
            one_shard = self.source.shard(num_shards=self.num_shards, index=shard)
            for batch in one_shard.iter(batch_size=READ_BATCH):
                for values in zip(*batch.values()):
                    read += 1
                    yield dict(zip(batch, values))
        except Exception as error:  # parquet / tar / network readers raise assorted types
            self.skipped_shards += 1
            logger.warning(
                "%s: shard %d failed after %d rows in epoch %d (%s: %s); skipped the rest of it (%d shards and %d "
                "rows skipped so far by this reader).",
                self.name,
                shard,
                read,
                epoch,
                type(error).__name__,
                error,
                self.skipped_shards,
                self.skipped_rows,
            )

    def _decode(self, row: dict, where: str, problems: list[str]) -> dict | None:
        try:
            return self.decode(row)
        except Exception as error:  # PIL / FFmpeg raise many types for broken files
            self.skipped_rows += 1
            problems.append(f"{where}: {type(error).__name__}: {error}")
            logger.warning(
                "%s: skipped %s, which does not decode (%s: %s); %d rows skipped so far by this reader.",
                self.name,
                where,
                type(error).__name__,
                error,
                self.skipped_rows,
            )
            return None

    def reader_shards(self, epoch: int, reader: int, readers: int) -> tuple[list[int], bool]:
        """The shards reader `reader` of `readers` (processes x data loader workers) reads in `epoch`, and whether
        it keeps every row of them. The epoch's shard order (keyed by seed and epoch) is dealt round-robin when there
        are enough shards; otherwise every reader reads them all and keeps every `readers`-th row (the rule of
        `datasets.distributed.split_dataset_by_node`, which is not called itself: it acts at iteration time and
        would split each single shard read here again)."""
        order = np.random.default_rng(_key(self.options.seed, "shards", epoch)).permutation(self.num_shards)
        order = [int(shard) for shard in order]
        if self.num_shards >= readers:
            return order[reader::readers], True
        return order, False

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        readers = self.options.world_size * num_workers
        reader = self.options.rank * num_workers + worker
        if readers > self.num_shards:
            logger.info(
                "%s: %d shards for %d readers (processes x workers): every reader reads every shard and keeps 1 row "
                "in %d; more shards than readers avoid the extra reading.",
                self.name,
                self.num_shards,
                readers,
                readers,
            )
        for epoch in itertools.count():
            shards, whole = self.reader_shards(epoch, reader, readers)
            produced, problems = 0, []
            buffer: list[dict] = []
            shuffle = random.Random(_key(self.options.seed, "rows", epoch, reader, readers))
            counter = 0
            for shard in shards:
                for index, raw in enumerate(self._rows(shard, epoch)):
                    counter += 1
                    if not whole and (counter - 1) % readers != reader:
                        continue
                    row = self._decode(raw, f"row {index} of shard {shard}", problems)
                    if row is None:
                        continue
                    row[STREAM_EPOCH] = epoch
                    if len(buffer) < self.options.buffer_size:
                        buffer.append(row)
                        continue
                    # A random row of the buffer goes out and the new one takes its place (datasets' buffer shuffle).
                    slot = shuffle.randrange(len(buffer))
                    buffer[slot], row = row, buffer[slot]
                    produced += 1
                    yield row
            shuffle.shuffle(buffer)
            produced += len(buffer)
            yield from buffer
            if produced == 0:
                listed = "; ".join(problems[:5]) or "the shards are empty or failed to read (see the warnings above)"
                raise ValueError(
                    f"{self.name}: nothing decodes in shards {shards} (reader {reader} of {readers}): {listed}."
                )


def materialise(stream: IterableDataset, decode: Callable[[dict], dict], size: int, name: str) -> Dataset | None:
    """The first `size` decodable rows of `stream`, in memory (the evaluation's train and eval sets), or None when
    none decodes."""
    rows = []
    for batch in stream.iter(batch_size=READ_BATCH):
        for values in zip(*batch.values()):
            try:
                rows.append(decode(dict(zip(batch, values))))
            except Exception as error:  # broken rows are skipped here as in training
                logger.warning("%s: skipped a row that does not decode (%s: %s).", name, type(error).__name__, error)
            if len(rows) == size:
                break
        if len(rows) == size:
            break
    if not rows:
        return None
    return Dataset.from_list(rows)


@dataclass
class StreamingData:
    train: ShardStream  # the training stream
    evaluation: DatasetDict | None  # "train" / "eval" rows in memory for the kNN / probe evaluation, or None
    column: str
    label_column: str | None


def load_streaming_data(
    dataset: str,
    modality: str,
    options: StreamingOptions,
    column: str | None = None,
    label_column: str | None = "label",
    frames_per_clip: int = 1,
    frame_stride: int = 1,
) -> StreamingData:
    """The training stream of `dataset` and, when it has labels and an eval split, `options.eval_size` rows of its
    train and eval splits in memory for the evaluation (a stream without an eval split pretrains without it)."""
    streams = open_stream(dataset)
    name = f"`--dataset {dataset}`"
    train = undecoded(streams["train"])
    if modality == "video":
        column = media_column(train, column, "Video", "--video_column")
        decode = video_row_decoder(column, frames_per_clip, frame_stride)
    else:
        column = media_column(train, column, "Image", "--image_column")
        decode = image_row_decoder(column)
    label_column = stream_label_column(train, label_column)
    eval_name = eval_split_name(streams)
    evaluation = None
    if label_column is not None and eval_name is not None:
        keep = [column, label_column]
        parts = {
            split: materialise(undecoded(streams[source]).select_columns(keep), decode, options.eval_size, name)
            for split, source in (("train", "train"), ("eval", eval_name))
        }
        if all(part is not None for part in parts.values()):
            evaluation = DatasetDict(parts)
    if evaluation is None:
        if eval_name is None:
            why = f"no eval split ({', '.join(EVAL_SPLIT_NAMES)})"
        else:
            why = "no label column" if label_column is None else "no row of its train or eval split decodes"
        logger.warning("%s: %s; pretraining without the kNN / linear-probe evaluation.", name, why)
        label_column = None
    return StreamingData(ShardStream(train, decode, options, name), evaluation, column, label_column)


def check_streaming_run(max_steps: int, num_workers: int) -> None:
    """A stream has no length: training must say how long it runs."""
    if max_steps is None or max_steps <= 0:
        raise ValueError(
            f"`--streaming` needs `--max_steps` (a positive number of optimizer steps): a stream has no length, so "
            f"epochs cannot be counted (got --max_steps {max_steps})."
        )
    if num_workers < 0:
        raise ValueError(f"`--dataloader_num_workers` must be 0 or more, got {num_workers}.")


__all__ = [
    "STREAM_EPOCH",
    "ShardStream",
    "StreamingData",
    "StreamingOptions",
    "check_streaming_run",
    "load_streaming_data",
    "open_stream",
]
