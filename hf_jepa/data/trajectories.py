"""Trajectories for world models: one row per environment step (`episode_index`, `frame_index`, `image`, `action`,
optionally `proprio`), as `hf-jepa collect` writes them (a `datasets` folder or a Hub dataset), cut into training
windows of `history_size + num_preds` frames `frameskip` steps apart with the actions taken in between."""

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset, DatasetDict, Features, Image, Sequence, Value, load_dataset, load_from_disk
from torchvision.transforms import v2

logger = logging.getLogger(__name__)

EPISODE_COLUMNS = ("episode_index", "episode_idx", "ep_idx", "episode")
ACTION_COLUMNS = ("action", "actions")
IMAGE_COLUMNS = ("image", "pixels", "observation.image", "frame")


def trajectory_features(policy: bool = True) -> Features:
    """The columns `hf-jepa collect` writes, one row per environment step (`policy`: expert or random episode)."""
    columns = dict(
        episode_index=Value("int64"),
        frame_index=Value("int64"),
        image=Image(),
        action=Sequence(Value("float32")),
        proprio=Sequence(Value("float32")),
    )
    return Features(**columns, **({"policy": Value("string")} if policy else {}))


def load_trajectories(dataset: str) -> Dataset:
    """All rows of a trajectory dataset: a folder written by `hf-jepa collect` (`save_to_disk`) or a Hub name."""
    try:
        if os.path.isdir(dataset):
            loaded = load_from_disk(dataset)
        else:
            loaded = load_dataset(dataset)
    except Exception as error:  # datasets fails on damaged folders and unknown names with assorted errors
        raise ValueError(
            f"`--dataset {dataset}` is neither a trajectory folder written by `hf-jepa collect` nor a loadable Hub "
            f"dataset ({type(error).__name__}: {error})."
        ) from error
    if isinstance(loaded, DatasetDict):  # the splits are cut by episode here, so every split's rows count
        from datasets import concatenate_datasets

        loaded = concatenate_datasets(list(loaded.values()))
    if len(loaded) == 0:
        raise ValueError(f"`--dataset {dataset}` has no rows.")
    return loaded


@dataclass(frozen=True)
class TrajectoryColumns:
    image: str
    action: str
    episode: str


def resolve_trajectory_columns(data: Dataset, action_dim: int | None = None) -> TrajectoryColumns:
    """The image, action and episode columns (clear errors when one is missing or the actions have another size)."""
    columns = data.column_names
    image = next((c for c in IMAGE_COLUMNS if c in columns), None)
    image = image or next((c for c, f in data.features.items() if isinstance(f, Image)), None)
    if image is None:
        raise ValueError(f"The trajectory dataset has no image column (one of {IMAGE_COLUMNS}); columns: {columns}.")
    action = next((c for c in ACTION_COLUMNS if c in columns), None)
    if action is None:
        raise ValueError(
            f"The trajectory dataset has no action column (one of {ACTION_COLUMNS}): a world model is conditioned on "
            f"the actions taken. Columns: {columns}. Record trajectories with `hf-jepa collect`."
        )
    episode = next((c for c in EPISODE_COLUMNS if c in columns), None)
    if episode is None:
        raise ValueError(
            f"The trajectory dataset has no episode column (one of {EPISODE_COLUMNS}); columns: {columns}."
        )
    if action_dim is not None:
        size = len(data[0][action])
        if size != action_dim:
            raise ValueError(
                f"The dataset's actions have {size} numbers per step but the model's `action_dim` is {action_dim}: "
                f"pass `--config_overrides action_dim={size}` (or train on this environment's data)."
            )
    return TrajectoryColumns(image, action, episode)


def window_starts(episodes: np.ndarray, span: int) -> tuple[np.ndarray, int, int]:
    """Rows [N] of episode ids (each episode's rows contiguous, in time order) -> the rows where a window of `span`
    steps starts inside one episode, the number of episodes, and how many were too short for a window."""
    boundaries = np.flatnonzero(np.diff(episodes)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(episodes)]])
    windows = [np.arange(start, end - span + 1) for start, end in zip(starts, ends) if end - start >= span]
    short = sum(1 for start, end in zip(starts, ends) if end - start < span)
    return (np.concatenate(windows) if windows else np.zeros(0, dtype=np.int64)), len(starts), short


def frame_transform(size: tuple[int, int], mean, std) -> v2.Compose:
    """A recorded frame (PIL) -> [C, H, W] at the model's size, normalised with the processor's statistics: what
    training and planning both feed the encoder."""
    return v2.Compose(
        [v2.ToImage(), v2.Resize(size, antialias=True), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    )


class TrajectoryWindows(torch.utils.data.Dataset):
    """Windows of `num_steps` frames `frameskip` rows apart -> {"pixel_values": [T, C, H, W] normalised frames,
    "actions": [T, frameskip * action_dim]: the actions from each frame to the next (rows past the episode's end:
    NaN, which the model reads as 0, as officially)}."""

    def __init__(self, data: Dataset, columns: TrajectoryColumns, starts: np.ndarray, config, size, mean, std):
        self.data, self.columns, self.starts = data, columns, starts
        self.num_steps, self.frameskip = config.num_steps, config.frameskip
        self.actions = np.asarray(data[columns.action], dtype=np.float32)  # [N, A]: small, kept in memory
        self.episodes = np.asarray(data[columns.episode])
        self.transform = frame_transform(size, mean, std)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = int(self.starts[index])
        frames = [start + step * self.frameskip for step in range(self.num_steps)]
        images = self.data[frames][self.columns.image]
        pixel_values = torch.stack([self.transform(image.convert("RGB")) for image in images])
        rows = np.arange(start, start + self.num_steps * self.frameskip)
        inside = rows < len(self.actions)
        actions = np.full((len(rows), self.actions.shape[1]), np.nan, dtype=np.float32)
        actions[inside] = self.actions[rows[inside]]
        actions[inside] = np.where(
            (self.episodes[rows[inside]] == self.episodes[start])[:, None], actions[inside], np.nan
        )
        return {"pixel_values": pixel_values, "actions": torch.from_numpy(actions).view(self.num_steps, -1)}


def stack_windows(rows: list[dict]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([row[key] for row in rows]) for key in rows[0]}


def trajectory_windows(
    dataset: str, config, processor, eval_fraction: float = 0.1, seed: int = 0
) -> dict[str, TrajectoryWindows]:
    """ "train" and "eval" windows of the trajectory dataset, split by episode (official: 90/10)."""
    data = load_trajectories(dataset)
    columns = resolve_trajectory_columns(data, config.action_dim)
    episodes = np.asarray(data[columns.episode])
    frames = np.asarray(data["frame_index"]) if "frame_index" in data.column_names else np.arange(len(data))
    if (np.diff(episodes) < 0).any() or ((np.diff(episodes) == 0) & (np.diff(frames) <= 0)).any():
        # Rows out of order (a shuffled or merged dataset): sort them once (an index mapping; reads get slower).
        data = data.sort([columns.episode, "frame_index"] if "frame_index" in data.column_names else columns.episode)
        episodes = np.asarray(data[columns.episode])
    span = (config.num_steps - 1) * config.frameskip + 1  # rows from a window's first frame to its last
    starts, num_episodes, short = window_starts(episodes, span)
    if len(starts) == 0:
        raise ValueError(
            f"Every episode of `--dataset {dataset}` is shorter than a training window: {span} steps "
            f"((history_size {config.history_size} + num_preds {config.num_preds} - 1) x frameskip "
            f"{config.frameskip} + 1). Collect longer episodes or lower `frameskip` / `history_size`."
        )
    if short:
        logger.warning("%d of %d episodes are shorter than a window (%d steps): skipped.", short, num_episodes, span)
    unique = np.unique(episodes)
    held = np.random.default_rng(seed).permutation(unique)[: int(round(eval_fraction * len(unique)))]
    in_eval = np.isin(episodes[starts], held)
    size = (processor.size["height"], processor.size["width"])
    make = lambda s: TrajectoryWindows(  # noqa: E731
        data, columns, s, config, size, processor.image_mean, processor.image_std
    )
    return {"train": make(starts[~in_eval]), "eval": make(starts[in_eval] if in_eval.any() else starts[:1])}


__all__ = [
    "TrajectoryColumns",
    "frame_transform",
    "TrajectoryWindows",
    "load_trajectories",
    "resolve_trajectory_columns",
    "stack_windows",
    "trajectory_windows",
    "window_starts",
]
