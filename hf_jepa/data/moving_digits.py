"""The embedded default video data: scikit-learn's handwritten digits moving in straight lines on a black canvas,
written once as real mp4 files into a cache folder and reused afterwards."""

import csv
import json
import os
import shutil
import tempfile

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from PIL import Image as PILImage

from .cache import cache_root
from .video_decoding import write_video

MOVING_DIGITS = "moving_digits"
VERSION = "moving_digits_v1"  # bump when the clips change, so old caches are not reused
DIRECTIONS = ("right", "left", "down", "up")
_STEPS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}  # (dy, dx) per unit of travel
DEFAULT_SETTINGS = {"num_clips": 1797, "image_size": 32, "digit_size": 14, "num_frames": 16, "fps": 8}
_COMPLETE = "complete.json"


def moving_digit_clip(
    digit: np.ndarray, direction: str, image_size: int, num_frames: int, rng: np.random.Generator
) -> np.ndarray:
    """uint8 RGB [num_frames, image_size, image_size, 3]: the grey `digit` [d, d] on black, moving in a straight line
    in `direction` over 60-100 % of the free room (the speed varies per clip), from a random start."""
    room = image_size - digit.shape[0]
    travel = rng.uniform(0.6, 1.0) * room
    start = rng.uniform(0.0, room - travel)
    across = int(rng.integers(0, room + 1))  # position on the axis perpendicular to the motion
    along = start + travel * np.linspace(0.0, 1.0, num_frames)
    dy, dx = _STEPS[direction]
    if dy + dx < 0:  # left and up run the same positions backwards
        along = room - along
    clip = np.zeros((num_frames, image_size, image_size, 3), dtype=np.uint8)
    size = digit.shape[0]
    for t, position in enumerate(np.rint(along).astype(int)):
        top, left = (position, across) if dy else (across, position)
        clip[t, top : top + size, left : left + size] = digit[..., None]
    return clip


def _digit_images(digit_size: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    upscaled = [np.asarray(PILImage.fromarray(p).resize((digit_size,) * 2, PILImage.BICUBIC)) for p in pixels]
    return np.stack(upscaled), digits.target


def _split_indices(labels: np.ndarray, num_clips: int) -> dict[str, np.ndarray]:
    """The same stratified 80/20 split of the digit images as `digits_dataset`, so a digit is in the same split as an
    image and as a clip; fewer clips take the first ones of each split, in the 80/20 proportion."""
    from sklearn.model_selection import train_test_split

    train, evaluation = train_test_split(
        np.arange(len(labels)), test_size=0.2, random_state=0, stratify=labels.tolist()
    )
    num_train = min(len(train), max(1, round(0.8 * num_clips)), num_clips - 1)
    return {"train": train[:num_train], "eval": evaluation[: num_clips - num_train]}


def _write_clips(folder: str, settings: dict) -> None:
    images, labels = _digit_images(settings["digit_size"])
    rng = np.random.default_rng(0)
    for split, indices in _split_indices(labels, settings["num_clips"]).items():
        os.makedirs(os.path.join(folder, split))
        directions = rng.permutation(np.arange(len(indices)) % len(DIRECTIONS))  # balanced directions
        rows = []
        for index, direction in zip(indices, directions):
            name = DIRECTIONS[direction]
            clip = moving_digit_clip(images[index], name, settings["image_size"], settings["num_frames"], rng)
            file_name = f"digit_{index:04d}.mp4"
            write_video(os.path.join(folder, split, file_name), clip, fps=settings["fps"])
            rows.append({"file_name": file_name, "label": int(labels[index]), "direction": name})
        with open(os.path.join(folder, split, "metadata.csv"), "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["file_name", "label", "direction"])
            writer.writeheader()
            writer.writerows(rows)


def build_moving_digits(cache_dir: str | None = None, **settings) -> str:
    """The folder of moving-digit clips (`train/`, `eval/`, each with `metadata.csv`), built on first use. A folder
    without its completion marker (an interrupted build) is rebuilt; concurrent builders do not clash since each
    writes to a private folder that is renamed into place when complete. `settings` override `DEFAULT_SETTINGS`."""
    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        raise ValueError(f"Unknown moving-digits setting(s) {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}.")
    settings = {**DEFAULT_SETTINGS, **settings}
    if not 2 <= settings["num_clips"] <= DEFAULT_SETTINGS["num_clips"]:  # at least one clip per split
        raise ValueError(
            f"`num_clips` must be from 2 to {DEFAULT_SETTINGS['num_clips']}, got {settings['num_clips']}."
        )
    if settings["digit_size"] >= settings["image_size"] or settings["image_size"] % 2:
        raise ValueError(
            f"`image_size` must be even and larger than `digit_size`, got {settings['image_size']} and "
            f"{settings['digit_size']}."
        )
    changed = [f"{key}{value}" for key, value in settings.items() if value != DEFAULT_SETTINGS[key]]
    root = os.path.abspath(cache_dir or cache_root())
    folder = os.path.join(root, "-".join([VERSION, *changed]))
    if os.path.exists(os.path.join(folder, _COMPLETE)):
        return folder
    os.makedirs(root, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=os.path.basename(folder) + ".partial-", dir=root)
    try:
        _write_clips(partial, settings)
        with open(os.path.join(partial, _COMPLETE), "w", encoding="utf-8") as handle:
            json.dump(settings, handle)
        if os.path.exists(os.path.join(folder, _COMPLETE)):  # another process finished first
            return folder
        shutil.rmtree(folder, ignore_errors=True)  # a half-written cache from an interrupted build
        try:
            os.rename(partial, folder)
        except OSError:
            if not os.path.exists(os.path.join(folder, _COMPLETE)):  # not a concurrent builder's finished folder
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def moving_digits_dataset(cache_dir: str | None = None, **settings) -> DatasetDict:
    """`train` and `eval` splits of moving-digit clips: `video` (mp4 path), `label` (the digit) and `direction`
    (`DIRECTIONS`), both class labels. Built into `cache_dir` (default `cache_root()`) on first use; `settings`
    (e.g. `num_clips`) override `DEFAULT_SETTINGS`."""
    folder = build_moving_digits(cache_dir, **settings)
    features = Features(
        video=Value("string"),
        label=ClassLabel(names=[str(digit) for digit in range(10)]),
        direction=ClassLabel(names=list(DIRECTIONS)),
    )
    splits = {}
    for split in ("train", "eval"):
        with open(os.path.join(folder, split, "metadata.csv"), newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        splits[split] = Dataset.from_dict(
            {
                "video": [os.path.join(folder, split, row["file_name"]) for row in rows],
                "label": [int(row["label"]) for row in rows],
                "direction": [DIRECTIONS.index(row["direction"]) for row in rows],
            },
            features=features,
        )
    return DatasetDict(splits)
