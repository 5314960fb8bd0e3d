"""Video files, clip sampling, the moving-digits data, video datasets, the clip collator and SSLVideoProcessor."""

import logging
import os
import re
from contextlib import contextmanager

import datasets
import huggingface_hub
import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict, Video
from sklearn.datasets import load_digits

from hf_jepa import SSLVideoProcessor
from hf_jepa.data import video_decoding as video
from hf_jepa.data.moving_digits import DIRECTIONS, _digit_images, build_moving_digits, moving_digit_clip
from hf_jepa.data.video_decoding import (
    CORRUPT,
    MISSING,
    TOO_SHORT,
    check_video,
    clip_indices,
    describe_skipped,
    read_clip,
    read_frames,
    scan_videos,
    video_info,
    write_video,
)
from hf_jepa.data.videos import (
    VideoClipCollator,
    clip_to_pixel_values,
    load_video_dataset,
    resolve_video_columns,
)

RAMP_FRAMES = 16


def ramp_levels(num_frames: int = RAMP_FRAMES) -> np.ndarray:
    return 8 + 15 * np.arange(num_frames)  # frame t is uniformly this grey level: the level tells the frame


def write_ramp(path, num_frames: int = RAMP_FRAMES, height: int = 16, width: int = 24) -> str:
    levels = ramp_levels(num_frames).astype(np.uint8)
    write_video(path, np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)))
    return str(path)


def frame_numbers(frames: torch.Tensor) -> list[int]:
    """Which ramp frames [T, H, W, 3] these are, from their mean grey level."""
    return [int(round((float(f.float().mean()) - 8) / 15)) for f in frames]


@pytest.fixture(scope="module")
def ramp(tmp_path_factory) -> str:
    return write_ramp(tmp_path_factory.mktemp("ramp") / "ramp.mp4")


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory) -> DatasetDict:
    """20 moving-digit clips (16 train, 4 eval) built into a temporary cache."""
    return load_video_dataset("moving_digits", cache_dir=str(tmp_path_factory.mktemp("cache")), num_clips=20)


def test_decoded_frames_match_written(tmp_path):
    digits, _ = _digit_images(14)
    clip = moving_digit_clip(digits[3], "right", 32, 16, np.random.default_rng(0))
    path = tmp_path / "clip.mp4"
    write_video(path, clip)
    decoded = read_frames(path, range(16))
    assert decoded.dtype == torch.uint8 and decoded.shape == (16, 32, 32, 3)
    error = (decoded.int() - torch.from_numpy(clip).int()).abs()
    # Measured over 200 moving-digit clips (H.264 crf 5, yuv420p): max 3 grey levels, mean 0.06.
    assert error.max() <= 12 and error.float().mean() <= 0.25


def test_read_frames_any_order_and_repeats(ramp):
    frames = read_frames(ramp, torch.tensor([9, 2, 9, 0]))
    assert frames.shape == (4, 16, 24, 3)
    assert frame_numbers(frames) == [9, 2, 9, 0]
    assert torch.equal(frames[0], frames[2])
    with pytest.raises(ValueError, match="only 16 decodable frames; frame 16"):
        read_frames(ramp, [16])
    with pytest.raises(ValueError, match="non-negative"):
        read_frames(ramp, [-1])
    with pytest.raises(ValueError, match="empty"):
        read_frames(ramp, [])


def test_read_frames_stops_at_the_last_needed_frame(ramp, monkeypatch):
    decoded = []
    open_video = video._open_video

    class CountingContainer:
        def __init__(self, container):
            self.container = container

        def decode(self, stream):
            for frame in self.container.decode(stream):
                decoded.append(frame)
                yield frame

    @contextmanager
    def counting_open(source):
        with open_video(source) as (container, stream):
            yield CountingContainer(container), stream

    monkeypatch.setattr(video, "_open_video", counting_open)
    assert frame_numbers(read_frames(ramp, [1, 5])) == [1, 5]
    assert len(decoded) == 6


def test_video_info(ramp, tmp_path):
    assert video_info(ramp) == (16, 16, 24, 8.0)
    # Matroska keeps no frame count in its header: the frames are counted instead.
    mkv = write_ramp(tmp_path / "ramp.mkv", num_frames=11)
    assert video_info(mkv)[:3] == (11, 16, 24)
    assert frame_numbers(read_clip(mkv, 4, 2, random=False)) == [2, 4, 6, 8]  # centred: starts 0..4
    with open(ramp, "rb") as handle:
        data = handle.read()
    assert video_info(data) == video_info({"path": "clip.mp4", "bytes": data}) == video_info(ramp)


def test_train_clips_are_random_valid_and_cover_every_start():
    num_frames, frames_per_clip, stride = 20, 4, 3  # spans 10 frames: starts 0..10
    starts = set()
    for seed in range(300):
        indices = clip_indices(
            num_frames, frames_per_clip, stride, random=True, generator=torch.Generator().manual_seed(seed)
        )
        assert indices.dtype == torch.long and indices.shape == (frames_per_clip,)
        assert torch.equal(indices.diff(), torch.full((frames_per_clip - 1,), stride))
        assert indices.min() >= 0 and indices.max() < num_frames
        starts.add(int(indices[0]))
    assert starts == set(range(11))
    first = [
        int(clip_indices(100, 4, 3, random=True, generator=torch.Generator().manual_seed(s))[0]) for s in range(5)
    ]
    assert len(set(first)) > 1
    same = torch.Generator().manual_seed(7)
    again = torch.Generator().manual_seed(7)
    assert torch.equal(
        clip_indices(100, 4, 3, random=True, generator=same), clip_indices(100, 4, 3, random=True, generator=again)
    )


def test_eval_clip_is_centred_and_deterministic():
    indices = clip_indices(16, 4, 3, random=False)
    assert indices.tolist() == [3, 6, 9, 12]  # 3 frames before, 3 after
    assert torch.equal(indices, clip_indices(16, 4, 3, random=False))
    assert clip_indices(10, 10, 1, random=False).tolist() == list(range(10))


def test_too_short_video_error_says_what_to_do(ramp):
    with pytest.raises(ValueError) as error:
        clip_indices(5, 4, 2, random=False)
    message = str(error.value)
    assert "5 frames" in message and "`frames_per_clip` 4" in message and "`frame_stride` 2" in message
    assert "spans 7 frames" in message and "lower" in message
    with pytest.raises(ValueError, match=r"ramp\.mp4: The video has 16 frames"):
        read_clip(ramp, 9, 2, random=True)
    with pytest.raises(ValueError, match="frames_per_clip"):
        clip_indices(16, 0, 1, random=False)
    with pytest.raises(ValueError, match="frame_stride"):
        clip_indices(16, 2, 0, random=False)


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 8, b"not a video at all\n"])
def test_corrupt_and_empty_files_name_the_file(tmp_path, content):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    for read in (video_info, lambda p: read_frames(p, [0])):
        with pytest.raises(ValueError, match="broken.mp4"):
            read(path)
    assert check_video(path) == CORRUPT


def test_scan_videos_sorts_out_bad_files(ramp, tmp_path):
    short = write_ramp(tmp_path / "short.mp4", num_frames=4)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(1000))
    empty = tmp_path / "empty.mp4"
    empty.touch()
    missing = str(tmp_path / "missing.mp4")
    usable, skipped = scan_videos([ramp, short, str(garbage), str(empty), missing], frames_per_clip=8, frame_stride=1)
    assert usable == [ramp]
    assert skipped == {TOO_SHORT: [short], CORRUPT: [str(garbage), str(empty)], MISSING: [missing]}
    summary = describe_skipped(skipped, 5, 8, 1)
    assert summary.startswith("skipped 4 of 5 videos: 1 shorter than the 8-frame clip, 2 corrupt, 1 missing")
    assert scan_videos([ramp, short], frames_per_clip=2, frame_stride=3) == ([ramp, short], {})


def test_moving_digits_dataset(small_digits):
    assert set(small_digits) == {"train", "eval"}
    assert (len(small_digits["train"]), len(small_digits["eval"])) == (16, 4)
    train = small_digits["train"]
    assert train.features["direction"].names == list(DIRECTIONS)
    assert train.features["label"].names == [str(d) for d in range(10)]
    targets = load_digits().target
    for row in train:
        assert os.path.isfile(row["video"])
        # Each clip is the digit image whose index is in the file name (digit_0042.mp4).
        assert row["label"] == targets[int(os.path.basename(row["video"])[6:10])]
    assert video_info(train[0]["video"]) == (16, 32, 32, 8.0)
    eval_names = {os.path.basename(v) for v in small_digits["eval"]["video"]}
    assert not eval_names & {os.path.basename(v) for v in train["video"]}


def test_moving_digit_moves_in_its_direction(small_digits):
    steps = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}
    seen = set()
    for row in small_digits["train"]:
        frames = read_frames(row["video"], [0, 15]).float().mean(-1)  # [2, H, W] grey
        grid = torch.arange(32.0)
        mass = frames.sum((1, 2))
        centroid = torch.stack([(frames.sum(2) * grid).sum(1) / mass, (frames.sum(1) * grid).sum(1) / mass], 1)
        shift = centroid[1] - centroid[0]  # (dy, dx)
        direction = DIRECTIONS[row["direction"]]
        expected = torch.tensor(steps[direction], dtype=torch.float32)
        along = float(shift @ expected)
        across = float(shift @ expected.flip(0))
        assert along >= 0.6 * (32 - 14) - 1.5, (direction, shift)  # travels 60-100 % of the free room
        assert abs(across) < 1.0, (direction, shift)
        seen.add(direction)
    assert seen == set(DIRECTIONS)


def test_moving_digits_cache_is_reused_and_half_written_cache_rebuilt(tmp_path):
    folder = build_moving_digits(str(tmp_path), num_clips=4)
    clip = os.path.join(folder, "train", sorted(os.listdir(os.path.join(folder, "train")))[0])
    stamp = os.path.getmtime(clip)
    assert build_moving_digits(str(tmp_path), num_clips=4) == folder and os.path.getmtime(clip) == stamp
    os.remove(os.path.join(folder, "complete.json"))  # as if the build had been interrupted
    os.remove(clip)
    assert build_moving_digits(str(tmp_path), num_clips=4) == folder
    assert os.path.isfile(clip) and os.path.isfile(os.path.join(folder, "complete.json"))
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(folder)]  # no partial folder left behind
    with pytest.raises(ValueError, match="num_clips"):
        build_moving_digits(str(tmp_path), num_clips=1)


def test_moving_digits_clip_longer_than_the_videos(tmp_path):
    with pytest.raises(ValueError, match="moving_digits.*16 frames.*lower"):
        load_video_dataset("moving_digits", frames_per_clip=9, frame_stride=2, cache_dir=str(tmp_path), num_clips=4)


def test_class_folder_dataset(tmp_path, caplog):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(5):
            write_ramp(tmp_path / name / f"{i}.mp4", num_frames=6 + i, height=8, width=8)
    (tmp_path / "dog" / "broken.webm").write_bytes(b"junk")
    (tmp_path / "dog" / "notes.txt").write_text("not a video")
    with caplog.at_level(logging.WARNING, logger="hf_jepa"):
        data = load_video_dataset(str(tmp_path), frames_per_clip=4, frame_stride=2)  # needs 7 frames
    # Each split is checked and reported on its own (a split with nothing to skip says nothing).
    counts = [int(re.search(r"skipped (\d+) of \d+ videos", r.getMessage()).group(1)) for r in caplog.records]
    assert sum(counts) == 3
    rows = [row for split in data.values() for row in split]
    assert len(rows) == 8  # the 6-frame videos (0.mp4) and broken.webm are dropped
    assert data["train"].features["label"].names == ["cat", "dog"]
    for row in rows:
        assert row["label"] == ["cat", "dog"].index(os.path.basename(os.path.dirname(row["video"])))
        assert not row["video"].endswith(("0.mp4", "broken.webm"))
    assert "corrupt" in caplog.text and "shorter than the 7-frame clip" in caplog.text


def test_train_eval_and_flat_folders(tmp_path):
    for split, classes in (("train", ("a", "b")), ("val", ("b",))):
        for name in classes:
            (tmp_path / "split" / split / name).mkdir(parents=True)
            write_ramp(tmp_path / "split" / split / name / "x.mp4", num_frames=4, height=8, width=8)
    data = load_video_dataset(str(tmp_path / "split"))
    assert (len(data["train"]), len(data["eval"])) == (2, 1)
    assert data["eval"][0]["label"] == 1  # "b" keeps its index although "a" has no eval video
    (tmp_path / "flat").mkdir()
    for i in range(5):
        write_ramp(tmp_path / "flat" / f"{i}.mp4", num_frames=4, height=8, width=8)
    flat = load_video_dataset(str(tmp_path / "flat"))
    assert (len(flat["train"]), len(flat["eval"])) == (4, 1) and flat["train"].column_names == ["video"]
    assert load_video_dataset(str(tmp_path / "flat"))["eval"]["video"] == flat["eval"]["video"]  # fixed seed


def test_folder_errors_name_the_argument(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"`--dataset` \(.*empty\) contains no video files"):
        load_video_dataset(str(tmp_path / "empty"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.mp4").write_bytes(b"junk")
    (tmp_path / "bad" / "b.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="`--dataset .*bad` has no usable video: skipped 1 of 1 videos: 1 corrupt"):
        load_video_dataset(str(tmp_path / "bad"))


def test_unknown_dataset_name_is_a_clear_error(monkeypatch):
    # Offline as the machines that run this are; the flags are read at import, so set them where they were read.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match="`--dataset no/such-dataset-here` is neither 'moving_digits'"):
        load_video_dataset("no/such-dataset-here")


def test_datasets_video_column_and_saved_dataset(ramp, tmp_path):
    with open(ramp, "rb") as handle:
        data = handle.read()
    by_path = Dataset.from_dict({"clip": [ramp] * 4, "y": [0, 1, 0, 1]}).cast_column("clip", Video())
    by_bytes = Dataset.from_dict({"clip": [{"path": "a.mp4", "bytes": data}] * 2}).cast_column("clip", Video())
    loaded = load_video_dataset(DatasetDict(train=by_path, test=by_bytes), frames_per_clip=4)
    assert loaded["train"].features["clip"] == Video(decode=False)
    assert loaded["train"][0]["clip"]["path"] == ramp and loaded["eval"][0]["clip"]["bytes"] == data
    assert resolve_video_columns(loaded["train"], None, "label") == ("clip", None)
    assert resolve_video_columns(loaded["train"], None, "y") == ("clip", "y")
    collate = VideoClipCollator(
        size=8, mean=[0.5] * 3, std=[0.5] * 3, frames_per_clip=2, train=False, video_column="clip"
    )
    assert torch.equal(
        collate(list(loaded["train"]))["pixel_values_videos"][0],
        collate(list(loaded["eval"]))["pixel_values_videos"][0],
    )
    saved = DatasetDict(
        train=Dataset.from_dict({"video": [ramp] * 3}), validation=Dataset.from_dict({"video": [ramp]})
    )
    saved.save_to_disk(str(tmp_path / "saved"))
    reloaded = load_video_dataset(str(tmp_path / "saved"))
    assert (len(reloaded["train"]), len(reloaded["eval"])) == (3, 1)
    with pytest.raises(ValueError, match="No video column found"):
        resolve_video_columns(Dataset.from_dict({"x": [1]}), None, None)
    with pytest.raises(ValueError, match="`--video_column nope`"):
        resolve_video_columns(loaded["train"], "nope", None)


def test_collator_shapes_labels_and_clip_choice(ramp):
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    rows = [{"video": ramp, "label": 3}, {"video": ramp, "label": 7}]
    evaluation = VideoClipCollator(
        (10, 12), mean, std, frames_per_clip=3, frame_stride=4, train=False, label_column="label"
    )
    batch = evaluation(rows)
    assert (
        batch["pixel_values_videos"].shape == (2, 3, 3, 10, 12) and batch["pixel_values_videos"].dtype == torch.float32
    )
    assert batch["labels"].tolist() == [3, 7]
    # Uniform grey frames: un-normalising gives back the grey level, which says which frames the clip holds.
    pixels = batch["pixel_values_videos"] * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)
    levels = (pixels * 255).mean((-1, -2, -3))  # [B, T]
    assert torch.allclose(levels, torch.tensor(ramp_levels()[[3, 7, 11]], dtype=torch.float32).expand(2, 3), atol=2.0)

    train = VideoClipCollator(8, mean, std, frames_per_clip=3, frame_stride=4, train=True)
    assert "labels" not in train(rows)
    torch.manual_seed(1)
    first = train(rows)["pixel_values_videos"]
    torch.manual_seed(2)
    assert torch.equal(train(rows)["pixel_values_videos"], first)  # the global RNG plays no part (resume is exact)
    assert torch.equal(first[0], first[1])  # one window per (seed, epoch, video)

    def start(clip):
        return round((float(clip[0].mean() * std[0] + mean[0]) * 255 - 8) / 15)

    def starts_over_epochs(collator):
        starts = []
        for epoch in range(12):
            collator.set_epoch(epoch)
            starts.append(start(collator(rows[:1])["pixel_values_videos"][0]))
        return starts

    starts = starts_over_epochs(train)
    assert len(set(starts)) > 1 and set(starts) <= set(range(16 - 8))  # a new window every epoch
    train.seed = 1
    assert starts_over_epochs(train) != starts  # and the seed decides them

    with pytest.raises(ValueError, match="no `video` column"):
        evaluation([{"clip": ramp}])
    with pytest.raises(ValueError, match="frames_per_clip"):
        VideoClipCollator(8, mean, std, frames_per_clip=0)


def test_collator_matches_the_processor(small_digits):
    processor = SSLVideoProcessor(size={"height": 24, "width": 20})
    collate = VideoClipCollator(
        (24, 20), processor.image_mean, processor.image_std, frames_per_clip=8, frame_stride=2, train=False
    )
    path = small_digits["eval"][0]["video"]
    frames = read_frames(path, clip_indices(16, 8, 2, random=False))
    expected = processor(videos=[frames.numpy()], return_tensors="pt")["pixel_values_videos"]
    assert torch.allclose(collate([{"video": path}])["pixel_values_videos"], expected, atol=1e-5)
    assert torch.allclose(
        clip_to_pixel_values(frames, (24, 20), processor.image_mean, processor.image_std), expected[0], atol=1e-5
    )


def _halve_bilinear(x: torch.Tensor) -> torch.Tensor:
    """Antialiased bilinear resize to half width, by hand: the triangle filter stretched by 2 gives taps 1,3,3,1 / 8
    around each pair of input pixels, renormalised where they fall off the border."""
    width = x.shape[-1]
    columns = []
    for i in range(width // 2):
        taps = {j: w for j, w in {2 * i - 1: 1, 2 * i: 3, 2 * i + 1: 3, 2 * i + 2: 1}.items() if 0 <= j < width}
        columns.append(sum(w * x[..., j] for j, w in taps.items()) / sum(taps.values()))
    return torch.stack(columns, -1)


def test_processor_matches_hand_computation_and_round_trips(tmp_path):
    clip = torch.randint(0, 256, (2, 3, 8, 12), dtype=torch.uint8)  # [T, C, H, W]
    processor = SSLVideoProcessor(size={"height": 4, "width": 6})
    resized = _halve_bilinear(_halve_bilinear(clip.double()).transpose(-1, -2)).transpose(-1, -2)
    mean, std = torch.tensor(processor.image_mean).view(3, 1, 1), torch.tensor(processor.image_std).view(3, 1, 1)
    expected = ((resized / 255 - mean) / std).float()
    output = processor(videos=[clip.float()], return_tensors="pt")["pixel_values_videos"]
    assert output.shape == (1, 2, 3, 4, 6)
    assert torch.allclose(output[0], expected, atol=1e-5)
    # uint8 frames are resized in uint8 (rounded, fixed-point weights): within one grey level.
    from_uint8 = processor(videos=[clip.permute(0, 2, 3, 1).numpy()], return_tensors="pt")["pixel_values_videos"]
    assert (from_uint8[0] - expected).abs().max() <= 1.0 / 255 / float(std.min()) + 1e-5

    processor.save_pretrained(tmp_path)
    loaded = SSLVideoProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()
    assert torch.equal(loaded(videos=[clip.float()], return_tensors="pt")["pixel_values_videos"], output)


def test_processor_loads_with_auto_video_processor(tmp_path, small_digits):
    from transformers import AutoVideoProcessor, PretrainedConfig
    from transformers.models.auto.video_processing_auto import VIDEO_PROCESSOR_MAPPING

    class ThrowawayVideoConfig(PretrainedConfig):
        model_type = "hf_jepa_test_video"

    AutoVideoProcessor.register(ThrowawayVideoConfig, SSLVideoProcessor)
    try:
        SSLVideoProcessor(size={"height": 16, "width": 16}).save_pretrained(tmp_path)
        loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    finally:
        VIDEO_PROCESSOR_MAPPING._extra_content.pop(ThrowawayVideoConfig, None)
    assert type(loaded) is SSLVideoProcessor and loaded.size.height == 16
    # File paths are decoded with PyAV: every frame unless asked to sample.
    path = small_digits["eval"][0]["video"]
    assert loaded(path, return_tensors="pt")["pixel_values_videos"].shape == (1, 16, 3, 16, 16)
    sampled = loaded([path], do_sample_frames=True, num_frames=4, return_tensors="pt")["pixel_values_videos"]
    assert sampled.shape == (1, 4, 3, 16, 16)
