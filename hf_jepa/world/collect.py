"""`hf-jepa collect`: record trajectories of a stable-worldmodel environment (its expert policy with action noise, and
some fully random episodes, as the paper's datasets are made) into a `datasets` folder that `hf-jepa pretrain
--method lewm --dataset DIR` (or, once pushed, the Hub) reads: one row per step with `episode_index`, `frame_index`,
`image` (PNG), `action`, `proprio` and `policy`."""

import argparse
import json
import logging
import os
import time

import numpy as np

from .envs import PixelEnv, proprio_of, resize_frame

logger = logging.getLogger("hf_jepa")


def record_trajectories(
    env_id: str,
    episodes: int,
    episode_length: int,
    image_size: int,
    action_noise: float = 0.3,
    random_fraction: float = 0.2,
    seed: int = 0,
):
    """The recorded steps as a `datasets.Dataset` (frames resized to `image_size`)."""
    from datasets import Dataset

    from ..data.trajectories import trajectory_features

    env = PixelEnv(env_id)
    rng = np.random.default_rng(seed)
    expert = env.expert(action_noise, seed)
    if expert is None:
        logger.warning("%s has no expert policy in stable-worldmodel: every episode takes random actions.", env_id)
    rows = {k: [] for k in ("episode_index", "frame_index", "image", "action", "proprio", "policy")}
    for episode in range(episodes):
        frame, info = env.reset(seed=seed + episode)
        random_episode = expert is None or rng.random() < random_fraction
        for step in range(episode_length):
            if random_episode:
                action = env.random_action(rng)
            else:
                action = np.asarray(expert.get_action(info), dtype=np.float32)
            action = env.clip_action(action)
            rows["episode_index"].append(episode)
            rows["frame_index"].append(step)
            rows["image"].append(resize_frame(frame, image_size))
            rows["action"].append(action.tolist())
            rows["proprio"].append(proprio_of(info).tolist())
            rows["policy"].append("random" if random_episode else "expert")
            frame, _, info = env.step(action)
    return Dataset.from_dict(rows, features=trajectory_features())


def parse_collect_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hf-jepa collect",
        description="Record trajectories of a stable-worldmodel environment (expert policy + action noise, and some "
        "random-action episodes) as a `datasets` folder for `hf-jepa pretrain --method lewm --dataset DIR`.",
    )
    parser.add_argument("--env", default="swm/TwoRoom-v1", help="Environment id (default: swm/TwoRoom-v1).")
    parser.add_argument("--episodes", type=int, default=200, help="Episodes to record (default: 200).")
    parser.add_argument("--episode_length", type=int, default=60, help="Steps per episode (default: 60).")
    parser.add_argument(
        "--image_size", type=int, default=64, help="Side of the recorded frames (default 64; the paper: 224)."
    )
    parser.add_argument("--action_noise", type=float, default=0.3, help="Std of the expert's action noise.")
    parser.add_argument("--random_fraction", type=float, default=0.2, help="Share of random-action episodes.")
    parser.add_argument("--seed", type=int, default=0, help="Episode i is reset with seed + i.")
    parser.add_argument("--output_dir", required=True, help="Folder to write (must not hold files).")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="Replace what --output_dir holds.")
    args = parser.parse_args(argv)
    for name in ("episodes", "episode_length", "image_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"`--{name}` must be >= 1, got {getattr(args, name)}.")
    if args.action_noise < 0 or not 0 <= args.random_fraction <= 1:
        raise ValueError("`--action_noise` must be >= 0 and `--random_fraction` in [0, 1].")
    if os.path.isdir(args.output_dir) and os.listdir(args.output_dir) and not args.overwrite_output_dir:
        raise ValueError(f"`--output_dir {args.output_dir}` holds files: pass --overwrite_output_dir to replace them.")
    return args


def collect(argv: list[str]) -> None:
    args = parse_collect_args(argv)
    start = time.perf_counter()
    data = record_trajectories(
        args.env,
        args.episodes,
        args.episode_length,
        args.image_size,
        args.action_noise,
        args.random_fraction,
        args.seed,
    )
    data.save_to_disk(args.output_dir)
    info = {**vars(args), "steps": len(data), "seconds": round(time.perf_counter() - start, 1)}
    with open(os.path.join(args.output_dir, "collect_info.json"), "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
    print(f"Recorded {args.episodes} episodes ({len(data)} steps) of {args.env} to {args.output_dir}.")


__all__ = ["collect", "parse_collect_args", "record_trajectories"]
