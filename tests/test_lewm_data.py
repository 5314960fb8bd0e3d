"""LeWorldModel's trajectory data: windows of frames and actions, clear errors for unusable datasets, and
`hf-jepa pretrain --method lewm` on a recorded dataset."""

import json

import numpy as np
import pytest
import torch
from datasets import Dataset
from PIL import Image as PILImage

from hf_jepa import LeWMConfig
from hf_jepa.data.trajectories import trajectory_features, trajectory_windows, window_starts
from hf_jepa.models import SSLImageProcessor

from .test_lewm import TINY


def dot_trajectories(lengths=(30, 30, 30, 12), size=16, action_dim=2, seed=0, drop=()) -> Dataset:
    """A dot moved by its actions on a `size` canvas: one row per step, as `hf-jepa collect` writes them."""
    rng = np.random.default_rng(seed)
    rows = {"episode_index": [], "frame_index": [], "image": [], "action": [], "proprio": []}
    for episode, length in enumerate(lengths):
        position = rng.uniform(3, size - 3, 2)
        for step in range(length):
            action = rng.uniform(-1, 1, action_dim).astype(np.float32)
            canvas = np.zeros((size, size, 3), np.uint8)
            x, y = np.clip(position.round().astype(int), 0, size - 1)
            canvas[y, x] = 255
            rows["episode_index"].append(episode)
            rows["frame_index"].append(step)
            rows["image"].append(PILImage.fromarray(canvas))
            rows["action"].append(action.tolist())
            rows["proprio"].append(position.astype(np.float32).tolist())
            position = np.clip(position + action[:2], 1, size - 2)
    data = Dataset.from_dict(rows, features=trajectory_features(policy=False))
    return data.remove_columns(list(drop)) if drop else data


def test_window_starts_stay_inside_episodes():
    episodes = np.array([0] * 5 + [1] * 2 + [2] * 4)
    starts, count, short = window_starts(episodes, span=3)
    assert starts.tolist() == [0, 1, 2, 7, 8] and count == 3 and short == 1


def test_windows_hold_frames_frameskip_apart_and_their_actions(tmp_path):
    data = dot_trajectories()
    data.save_to_disk(tmp_path / "data")
    config = LeWMConfig(**TINY, frameskip=2, history_size=3, num_preds=1)
    processor = SSLImageProcessor(size={"height": 16, "width": 16}, image_mean=[0, 0, 0], image_std=[1, 1, 1])
    windows = trajectory_windows(str(tmp_path / "data"), config, processor, eval_fraction=0.25)
    # span (4 - 1) * 2 + 1 = 7 rows: 24 windows in each 30-step episode, 6 in the 12-step one; one episode held out.
    assert len(windows["train"]) + len(windows["eval"]) == 3 * 24 + 6
    item = windows["train"][0]
    start = int(windows["train"].starts[0])
    assert item["pixel_values"].shape == (4, 3, 16, 16) and item["actions"].shape == (4, 4)
    expected = torch.stack(
        [torch.tensor(np.asarray(data[start + 2 * t]["image"]), dtype=torch.float32) for t in range(4)]
    )
    torch.testing.assert_close(item["pixel_values"], expected.permute(0, 3, 1, 2) / 255)
    actions = np.asarray(data["action"][start : start + 8], dtype=np.float32).reshape(4, 4)
    torch.testing.assert_close(item["actions"], torch.from_numpy(actions))
    # The last window of episode 0 starts at row 23: its last frame's second action (row 30) is in episode 1, so NaN.
    split = next(w for w in windows.values() if 23 in w.starts)
    last = split[int(np.flatnonzero(split.starts == 23)[0])]["actions"]
    assert torch.isnan(last[-1, 2:]).all() and not torch.isnan(last[-1, :2]).any() and not torch.isnan(last[:-1]).any()


@pytest.mark.parametrize(
    "problem, match",
    [
        ("no_action", "no action column"),
        ("action_dim", "action_dim"),
        ("short", "shorter than a training window"),
    ],
)
def test_unusable_datasets_are_refused_clearly(problem, match, tmp_path):
    data = dot_trajectories(
        lengths=(5, 6) if problem == "short" else (20,),
        action_dim=3 if problem == "action_dim" else 2,
        drop=("action",) if problem == "no_action" else (),
    )
    data.save_to_disk(tmp_path / "data")
    config = LeWMConfig(**TINY)
    with pytest.raises(ValueError, match=match):
        trajectory_windows(str(tmp_path / "data"), config, SSLImageProcessor(size={"height": 16, "width": 16}))


def test_pretrain_command_trains_lewm_on_a_recorded_dataset(tmp_path):
    from hf_jepa.cli import main

    dot_trajectories(lengths=(40, 40, 40)).save_to_disk(tmp_path / "data")
    overrides = ",".join(f"{k}={json.dumps(v)}" for k, v in TINY.items())
    code = main(
        [
            "pretrain",
            "--method", "lewm",
            "--dataset", str(tmp_path / "data"),
            "--config_overrides", overrides + ",frameskip=2",
            "--max_steps", "3",
            "--per_device_train_batch_size", "8",
            "--logging_steps", "1",
            "--output_dir", str(tmp_path / "run"),
        ]
    )  # fmt: skip
    assert code == 0
    from transformers import AutoModelForPreTraining

    model = AutoModelForPreTraining.from_pretrained(tmp_path / "run")
    assert type(model).__name__ == "LeWMForPreTraining" and model.config.frameskip == 2
    assert (tmp_path / "run" / "README.md").exists() and (tmp_path / "run" / "preprocessor_config.json").exists()


def test_rows_out_of_order_give_the_same_windows(tmp_path):
    data = dot_trajectories(lengths=(20, 20, 20))
    data.save_to_disk(tmp_path / "ordered")
    data.shuffle(seed=0).save_to_disk(tmp_path / "shuffled")
    config = LeWMConfig(**TINY, frameskip=2)
    processor = SSLImageProcessor(size={"height": 16, "width": 16})
    ordered = trajectory_windows(str(tmp_path / "ordered"), config, processor)
    shuffled = trajectory_windows(str(tmp_path / "shuffled"), config, processor)
    assert len(ordered["train"]) == len(shuffled["train"]) == 3 * 14
    for index in (0, 13, 41):
        for key in ("pixel_values", "actions"):
            torch.testing.assert_close(shuffled["train"][index][key], ordered["train"][index][key], equal_nan=True)
