"""Video files: decoding frames, writing clips, sampling a clip's frame indices, and checking files up front.

Decoding uses PyAV, whose wheels bundle FFmpeg (torchcodec needs system FFmpeg libraries and a torch-matched build;
torchvision's video reader is deprecated and removed from recent releases).

A video *source* is a file path, the bytes of a file, or a `datasets.Video(decode=False)` value
(`{"path": ..., "bytes": ...}`, where the bytes win when present).
"""

import io
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from fractions import Fraction

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov")
CORRUPT = "corrupt"
MISSING = "missing"
TOO_SHORT = "too short"

VideoSource = str | os.PathLike | bytes | dict


def source_name(source: VideoSource) -> str:
    """How a source is named in messages: its path, or `<N bytes>` for in-memory files."""
    if isinstance(source, dict):
        return str(source.get("path") or f"<{len(source.get('bytes') or b'')} bytes>")
    if isinstance(source, bytes | bytearray):
        return f"<{len(source)} bytes>"
    return os.fspath(source)


def _file_like(source: VideoSource):
    if isinstance(source, dict):
        if source.get("bytes"):
            return io.BytesIO(source["bytes"])
        if not source.get("path"):
            raise ValueError(f"The video value {source!r} has neither `path` nor `bytes`.")
        return source["path"]
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source)
    return os.fspath(source)


@contextmanager
def _open_video(source: VideoSource) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """The opened container and its first video stream; FFmpeg's errors become ValueErrors naming the file."""
    name = source_name(source)
    file = _file_like(source)
    if isinstance(file, str):
        if not os.path.isfile(file):
            raise FileNotFoundError(f"Video file {name} does not exist.")
        if os.path.getsize(file) == 0:
            raise ValueError(f"Video file {name} is empty (0 bytes).")
    try:
        with av.open(file) as container:
            if not container.streams.video:
                raise ValueError(f"{name} has no video stream.")
            stream = container.streams.video[0]
            # One decoding thread: clips are small and the data loader's workers already use the cores.
            stream.codec_context.thread_count = 1
            yield container, stream
    except av.FFmpegError as error:
        raise ValueError(f"{name} is not a readable video file ({type(error).__name__}: {error}).") from error


def _count_frames(source: VideoSource) -> int:
    """Frames counted by demuxing (no decoding), for containers whose header has no frame count (webm, mkv)."""
    with _open_video(source) as (container, stream):
        return sum(1 for packet in container.demux(stream) if packet.size > 0)


def video_info(source: VideoSource) -> tuple[int, int, int, float]:
    """(num_frames, height, width, fps) from the stream's metadata, counting packets where the container has no
    frame count. Raises ValueError naming the file when it is empty, corrupt, or not a video."""
    with _open_video(source) as (_, stream):
        num_frames = stream.frames
        height, width = stream.codec_context.height, stream.codec_context.width
        rate = stream.average_rate or stream.guessed_rate
    if num_frames <= 0:
        num_frames = _count_frames(source)
    if num_frames <= 0:
        raise ValueError(f"{source_name(source)} contains no video frames.")
    return num_frames, height, width, float(rate or 0.0)


def _decode_frames(container, stream, indices: list[int], name: str) -> torch.Tensor:
    wanted, last = set(indices), max(indices)
    frames: dict[int, torch.Tensor] = {}
    decoded = 0
    # One reformatter for the clip, one swscale thread: its default (a thread pool per call) and
    # `frame.to_ndarray(format="rgb24")` are several times slower on small frames.
    reformatter = VideoReformatter()
    try:
        for index, frame in enumerate(container.decode(stream)):
            decoded = index + 1
            if index in wanted:
                rgb = reformatter.reformat(frame, format="rgb24", threads=1)
                frames[index] = torch.from_numpy(rgb.to_ndarray())
            if index == last:
                break
    except av.FFmpegError as error:
        raise ValueError(
            f"{name} failed to decode after {decoded} frames ({type(error).__name__}: {error})."
        ) from error
    if last not in frames:
        raise ValueError(f"{name} has only {decoded} decodable frames; frame {last} was requested.")
    return torch.stack([frames[i] for i in indices])


def read_frames(source: VideoSource, indices: Iterable[int] | torch.Tensor) -> torch.Tensor:
    """The frames at `indices` (any order, repeats allowed) as uint8 RGB [len(indices), H, W, 3]. Decodes
    sequentially and stops at the last needed frame; only the needed frames are converted to RGB."""
    indices = [int(i) for i in (indices.tolist() if isinstance(indices, torch.Tensor) else indices)]
    if not indices:
        raise ValueError("`indices` is empty: pass at least one frame index.")
    if min(indices) < 0:
        raise ValueError(f"`indices` must be non-negative frame indices, got {min(indices)}.")
    with _open_video(source) as (container, stream):
        return _decode_frames(container, stream, indices, source_name(source))


def clip_span(frames_per_clip: int, frame_stride: int) -> int:
    """Number of consecutive frames a clip covers."""
    if frames_per_clip < 1:
        raise ValueError(f"`frames_per_clip` must be at least 1, got {frames_per_clip}.")
    if frame_stride < 1:
        raise ValueError(f"`frame_stride` must be at least 1, got {frame_stride}.")
    return (frames_per_clip - 1) * frame_stride + 1


def clip_indices(
    num_frames: int,
    frames_per_clip: int,
    frame_stride: int,
    *,
    random: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Frame indices [frames_per_clip] of one clip, `frame_stride` apart. Training (`random=True`): a random temporal
    crop, its start uniform over every valid start (drawn from `generator`, or torch's global RNG). Evaluation: the
    centred clip."""
    span = clip_span(frames_per_clip, frame_stride)
    if span > num_frames:
        raise ValueError(
            f"The video has {num_frames} frames, but a clip of `frames_per_clip` {frames_per_clip} at `frame_stride` "
            f"{frame_stride} spans {span} frames; lower `frames_per_clip` or `frame_stride`."
        )
    num_starts = num_frames - span + 1
    if random:
        start = int(torch.randint(num_starts, (1,), generator=generator))
    else:
        start = (num_starts - 1) // 2
    return start + frame_stride * torch.arange(frames_per_clip)


def read_clip(
    source: VideoSource,
    frames_per_clip: int,
    frame_stride: int,
    *,
    random: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One clip of `source` as uint8 RGB [frames_per_clip, H, W, 3] (see `clip_indices`); opens the file once when
    its header has the frame count."""

    def indices_for(num_frames: int) -> list[int]:
        try:
            return clip_indices(num_frames, frames_per_clip, frame_stride, random=random, generator=generator).tolist()
        except ValueError as error:
            raise ValueError(f"{source_name(source)}: {error}") from error

    with _open_video(source) as (container, stream):
        if stream.frames > 0:
            return _decode_frames(container, stream, indices_for(stream.frames), source_name(source))
    return read_frames(source, indices_for(video_info(source)[0]))


def write_video(path: str | os.PathLike, frames: torch.Tensor | np.ndarray, fps: float = 8.0, crf: int = 5) -> None:
    """Write uint8 RGB frames [T, H, W, 3] (even H and W) as H.264 mp4, yuv420p. The default `crf` 5 decodes back
    within a few grey levels of the input and stays in a profile browsers play (crf 0, lossless, does not)."""
    frames = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"`frames` must be uint8 [T, H, W, 3], got {frames.dtype} {list(frames.shape)}.")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"`frames` must have even height and width for yuv420p, got {height}x{width}.")
    with av.open(os.fspath(path), "w") as container:
        rate = Fraction(fps).limit_denominator(1001)  # PyAV wants a rational frame rate (29.97 = 30000/1001)
        stream = container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        container.mux(stream.encode())


def check_video(source: VideoSource, frames_per_clip: int = 1, frame_stride: int = 1) -> str | None:
    """Why `source` cannot give a clip (`MISSING`, `CORRUPT` or `TOO_SHORT`), or None when it can. Opens the file
    once, reads its frame count and decodes its first frame (which also catches codecs FFmpeg cannot decode)."""
    span = clip_span(frames_per_clip, frame_stride)
    try:
        with _open_video(source) as (container, stream):
            num_frames = stream.frames
            first_frame = next(container.decode(stream), None)
        if first_frame is None:
            return CORRUPT
        if num_frames <= 0:
            num_frames = _count_frames(source)
    except FileNotFoundError:
        return MISSING
    except ValueError:
        return CORRUPT
    return TOO_SHORT if num_frames < span else None


def scan_videos(
    paths: Iterable[VideoSource], frames_per_clip: int, frame_stride: int
) -> tuple[list[VideoSource], dict[str, list[VideoSource]]]:
    """Split `paths` into the usable ones and the skipped ones by reason (see `check_video`), each file checked
    once; `describe_skipped` words the result."""
    usable, skipped = [], {}
    for path in paths:
        reason = check_video(path, frames_per_clip, frame_stride)
        if reason is None:
            usable.append(path)
        else:
            skipped.setdefault(reason, []).append(path)
    return usable, skipped


def describe_skipped(skipped: dict[str, list], total: int, frames_per_clip: int, frame_stride: int) -> str:
    """E.g. "skipped 3 of 120 videos: 2 corrupt, 1 shorter than the 16-frame clip (first: a.mp4, b.mp4, c.mp4)"."""
    span = clip_span(frames_per_clip, frame_stride)
    reasons = {CORRUPT: "corrupt", MISSING: "missing", TOO_SHORT: f"shorter than the {span}-frame clip"}
    parts = [f"{len(items)} {reasons.get(reason, reason)}" for reason, items in skipped.items()]
    examples = [source_name(item) for items in skipped.values() for item in items][:3]
    count = sum(len(items) for items in skipped.values())
    return f"skipped {count} of {total} videos: {', '.join(parts)} (first: {', '.join(examples)})"
