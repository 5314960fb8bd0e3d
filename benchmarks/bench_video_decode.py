"""Video data pipeline throughput: `VideoClipCollator` (decode up to the clip's last frame, RGB-convert only the
clip's frames with one reusable reformatter, resize, normalise) on the moving-digits clips, against decoding every
frame of each file and then selecting the clip, in the same run.

Two baselines: PyAV as usually written (default decoder threads, `frame.to_ndarray(format="rgb24")` per frame), and
our decoder settings (one decoding and one swscale thread, one reformatter per clip, one open per file) with every
frame decoded and converted, so that its difference to ours is the early stop alone. All three use the same clip
indices and the same resize + normalisation, and must give identical batches.
"""

import av
import numpy as np
import torch
from _results import make_parser, markdown_table, report, time_ms

from hf_jepa import SSLVideoProcessor
from hf_jepa.data.moving_digits import moving_digits_dataset
from hf_jepa.data.video_decoding import clip_indices, read_frames, video_info
from hf_jepa.data.videos import VideoClipCollator, clip_to_pixel_values


def decode_all_pyav_defaults(path: str) -> torch.Tensor:
    with av.open(path) as container:
        return torch.from_numpy(np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]))


def decode_all_our_settings(path: str, num_frames: int) -> torch.Tensor:
    return read_frames(path, range(num_frames))  # the clips' length is known, so one open, as in ours


def full_decode_collator(decode, collator: VideoClipCollator):
    """Rows -> the same batch as `collator`, decoding every frame of each file before selecting the clip."""

    def collate(rows: list[dict]) -> torch.Tensor:
        clips = []
        for row in rows:
            frames = decode(row["video"])
            indices = clip_indices(len(frames), collator.frames_per_clip, collator.frame_stride, random=collator.train)
            clips.append(clip_to_pixel_values(frames[indices], collator.size, collator.mean, collator.std))
        return torch.stack(clips)

    return collate


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--batch", type=int, default=64, help="Clips per collator call.")
    parser.add_argument("--reps", type=int, default=8, help="Timed batches per candidate and clip length.")
    parser.add_argument("--size", type=int, default=32, help="Frame size the collator resizes to.")
    parser.add_argument("--clips", default="16x1,8x1,4x2", help="frames_per_clip x frame_stride, comma-separated.")
    parser.add_argument("--cache-dir", default=None, help="Where the moving digits are built (default: the cache).")
    args = parser.parse_args()

    rows = list(moving_digits_dataset(args.cache_dir)["train"].select(range(args.batch)))
    num_frames = video_info(rows[0]["video"])[0]
    processor = SSLVideoProcessor()
    table, identical = [], True
    for setting in args.clips.split(","):
        frames_per_clip, frame_stride = (int(v) for v in setting.split("x"))
        ours = VideoClipCollator(
            args.size, processor.image_mean, processor.image_std, frames_per_clip, frame_stride, train=True
        )
        candidates = {
            "decode all (PyAV defaults), select": full_decode_collator(decode_all_pyav_defaults, ours),
            "decode all (our settings), select": full_decode_collator(
                lambda path: decode_all_our_settings(path, num_frames), ours
            ),
            "VideoClipCollator": lambda batch, ours=ours: ours(batch)["pixel_values_videos"],
        }
        outputs = []
        for collate in candidates.values():
            torch.manual_seed(0)  # the same random clips for every candidate
            outputs.append(collate(rows))
        identical &= all(torch.equal(outputs[0], output) for output in outputs[1:])
        timings = time_ms({name: lambda c=c: c(rows) for name, c in candidates.items()}, warmup=1, reps=args.reps)
        baseline = timings["decode all (PyAV defaults), select"].median
        span = (frames_per_clip - 1) * frame_stride + 1
        for name, timing in timings.items():
            table.append(
                [
                    f"{frames_per_clip} × stride {frame_stride} (spans {span} of {num_frames})",
                    name,
                    str(timing),
                    f"{args.batch / (timing.median / 1e3):.0f}",
                    f"{baseline / timing.median:.2f}×",
                ]
            )
    headers = ["clip", "pipeline", "ms / batch: median (IQR)", "clips / s", "speed-up vs PyAV defaults"]
    body = (
        f"Moving-digits clips ({num_frames} frames of 32×32, H.264 crf 5, yuv420p), batches of {args.batch} random "
        f"training clips resized to {args.size} px and normalised, one process, no data-loader workers; "
        f"{args.reps} timed batches per row, taking turns in blocks of 5 (first of a block untimed), after 1 warm-up. "
        "The baselines decode every frame of each file, then select the clip: with PyAV as usually written "
        "(default decoder threads, `to_ndarray(format='rgb24')` per frame), and with our decoder settings (one "
        "decoding and one swscale thread, one reformatter per clip, one open per file), which isolates the early "
        "stop.\n\n"
        f"{markdown_table(headers, table)}\n\n"
        f"Same batches from all three (same seed): **{'yes' if identical else 'NO'}**."
    )
    report(args, "Video clip decoding: VideoClipCollator vs decoding whole files", [torch.device("cpu")], body)
    if not identical:
        raise SystemExit("The pipelines gave different batches.")


if __name__ == "__main__":
    main()
