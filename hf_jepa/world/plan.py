"""`hf-jepa plan`: goal-reaching with a trained LeWorldModel, as the paper evaluates it. Each episode starts from a
reset of the environment; its goal is where the environment's expert policy gets in `goal_offset` steps (the frame
there is the goal image, its state the environment's success test). Every `receding_horizon` action blocks the
planner encodes the current frame and the goal frame, and CEM searches `horizon` blocks of `frameskip` actions whose
latent rollout ends closest to the goal embedding; all episodes are planned together in one batched call. Random
actions on the same episodes are the baseline. Writes plan_results.json and a GIF of a few episodes."""

import argparse
import json
import logging
import os
import time

import numpy as np
import torch

from ..data.trajectories import frame_transform
from ..models import LeWMForPreTraining
from ..registry import model_processor, saved_method
from .cem import CEMPlanner, latent_goal_cost
from .envs import PixelEnv, proprio_of, resize_frame

logger = logging.getLogger("hf_jepa")


def parse_plan_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hf-jepa plan",
        description="Plan with a trained LeWorldModel (CEM in latent space, receding horizon) on goal-reaching "
        "episodes of a stable-worldmodel environment, next to random actions; writes plan_results.json and a GIF.",
    )
    parser.add_argument("--model", required=True, help="A folder saved by `hf-jepa pretrain --method lewm`.")
    parser.add_argument("--env", default="swm/TwoRoom-v1", help="Environment id (default: swm/TwoRoom-v1).")
    parser.add_argument("--episodes", type=int, default=50, help="Goal-reaching episodes (default 50, as the paper).")
    parser.add_argument("--output_dir", required=True, help="Where plan_results.json and the GIF go.")
    parser.add_argument("--horizon", type=int, default=5, help="Action blocks planned (default 5).")
    parser.add_argument("--receding_horizon", type=int, default=5, help="Blocks executed before replanning (5).")
    parser.add_argument("--num_samples", type=int, default=300, help="CEM samples per iteration (default 300).")
    parser.add_argument("--num_iterations", type=int, default=30, help="CEM iterations (default 30).")
    parser.add_argument("--num_elites", type=int, default=30, help="CEM elites (default 30).")
    parser.add_argument("--goal_offset", type=int, default=25, help="Expert steps from start to goal (default 25).")
    parser.add_argument("--eval_budget", type=int, default=50, help="Environment steps per episode (default 50).")
    parser.add_argument("--seed", type=int, default=42, help="Episode i resets with seed + i; CEM draws from seed.")
    parser.add_argument("--videos", type=int, default=4, help="Episodes drawn in plan_episodes.gif (default 4).")
    parser.add_argument("--no_random_baseline", action="store_true", help="Skip the random-action baseline.")
    parser.add_argument(
        "--probe_dataset",
        default=None,
        help="A recorded dataset (hf-jepa collect): also fit a linear probe from the embedding to the agent's state "
        "(proprio) on its frames, for the model and its architecture at random init (R^2 on held-out episodes), and "
        "the surprise (prediction error) of real windows against windows whose last frame is teleported.",
    )
    args = parser.parse_args(argv)
    for name in ("episodes", "horizon", "receding_horizon", "num_samples", "num_iterations", "num_elites"):
        if getattr(args, name) < 1:
            raise ValueError(f"`--{name}` must be >= 1, got {getattr(args, name)}.")
    if args.receding_horizon > args.horizon:
        raise ValueError(
            f"`--receding_horizon` ({args.receding_horizon}) must be at most `--horizon` ({args.horizon})."
        )
    if args.goal_offset < 1 or args.eval_budget < 1:
        raise ValueError("`--goal_offset` and `--eval_budget` must be >= 1.")
    return args


def load_world_model(folder: str) -> tuple[LeWMForPreTraining, object]:
    method = saved_method(folder)
    if method.name != "lewm":
        raise ValueError(f"`--model {folder}` holds a {method.title} model: planning needs a LeWorldModel (lewm).")
    model = LeWMForPreTraining.from_pretrained(folder).eval()
    return model, model_processor(method, folder, model.config)


class Episodes:
    """The evaluation's episodes, one environment each, stepped in lockstep: starts, goals and goal frames.
    `argument` is how errors name the environment (the command's `--env`, or a demo field)."""

    def __init__(self, env_id: str, count: int, goal_offset: int, seed: int, argument: str = "--env"):
        self.envs = [PixelEnv(env_id, argument) for _ in range(count)]
        self.seeds = [seed + i for i in range(count)]
        self.goal_frames, self.goal_infos = [], []
        guide = PixelEnv(env_id, argument)
        expert = guide.expert(noise=0.0, seed=seed)
        if expert is None:
            raise ValueError(f"`{argument} {env_id}` has no expert policy to place reachable goals with.")
        for episode_seed in self.seeds:
            frame, info = guide.reset(episode_seed)
            for _ in range(goal_offset):
                frame, _, info = guide.step(np.asarray(expert.get_action(info), dtype=np.float32))
            self.goal_frames.append(frame)
            self.goal_infos.append(info)

    def reset(self) -> tuple[list[np.ndarray], list[dict]]:
        """Every episode back at its start: (frames, infos)."""
        frames, infos = [], []
        for env, episode_seed, goal in zip(self.envs, self.seeds, self.goal_infos):
            frame, info = env.reset(episode_seed)
            env.set_goal(goal)
            frames.append(frame)
            infos.append(info)
        return frames, infos

    def check_actions(self, config) -> None:
        """Refuse a model trained on actions of another size than the environment's."""
        env = self.envs[0]
        if env.action_dim != config.action_dim:
            raise ValueError(
                f"`{env.argument} {env.env_id}` takes actions of size {env.action_dim} but the model was trained on "
                f"actions of size {config.action_dim} (config.action_dim): plan with a model trained on this "
                "environment's data."
            )


def run_episodes(episodes: Episodes, budget: int, choose_actions, videos: int = 0) -> dict:
    """Steps every episode until it succeeds or spends `budget` steps. `choose_actions(frames, step, active)` gives
    the next action [action_dim] of every episode. Returns successes, lengths, final distances and, for the first
    `videos` episodes, their frames (`film`), the actions the environment executed (`actions`, [T, action_dim] each)
    and the agent's state at every frame (`proprio`, [T + 1, P] each)."""
    frames, infos = episodes.reset()
    count = len(frames)
    success = np.zeros(count, dtype=bool)
    lengths = np.full(count, budget)
    distance = np.full(count, np.nan)
    film = [[frames[i]] for i in range(min(videos, count))]
    executed = [[] for _ in film]
    states = [[proprio_of(infos[i])] for i in range(len(film))]
    for step in range(budget):
        active = ~success
        if not active.any():
            break
        actions = choose_actions(frames, step, active)
        for i in np.flatnonzero(active):
            frames[i], solved, info = episodes.envs[i].step(actions[i])
            distance[i] = info.get("distance_to_target", np.nan)
            if i < len(film):
                film[i].append(frames[i])
                executed[i].append(episodes.envs[i].clip_action(actions[i]))
                states[i].append(proprio_of(info))
            if solved:
                success[i], lengths[i] = True, step + 1
    action_dim = episodes.envs[0].action_dim if episodes.envs else 0
    return {
        "success": success,
        "lengths": lengths,
        "final_distance": distance,
        "film": film,
        "actions": [np.asarray(a, dtype=np.float32).reshape(-1, action_dim) for a in executed],
        "proprio": [np.stack(s) for s in states],
    }


class LatentPlanner:
    """Receding-horizon CEM with a LeWorldModel: replans every `receding_horizon` blocks from the current frame."""

    def __init__(self, model, processor, planner: CEMPlanner, horizon: int, receding_horizon: int, seed: int):
        self.model, self.planner = model, planner
        self.horizon, self.receding = horizon, receding_horizon
        self.config = model.config
        self.device = next(model.parameters()).device
        size = (processor.size["height"], processor.size["width"])
        self.size = size
        self.transform = frame_transform(size, processor.image_mean, processor.image_std)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.plan_seconds: list[float] = []
        self.queue = None

    @torch.no_grad()
    def embed(self, frames: list[np.ndarray]) -> torch.Tensor:
        pixels = torch.stack([self.transform(resize_frame(frame, max(self.size))) for frame in frames])
        return self.model.encode(pixels.to(self.device))  # [B, D]

    def set_goals(self, goal_frames: list[np.ndarray]) -> None:
        self.goals = self.embed(goal_frames)
        self.queue = None

    def __call__(self, frames, step: int, active) -> np.ndarray:
        frameskip, action_dim = self.config.frameskip, self.config.action_dim
        block_steps = self.receding * frameskip
        if step % block_steps == 0:
            start = time.perf_counter()
            context = self.embed(frames).unsqueeze(1)  # [B, 1, D]: one observed frame, as the official evaluation
            no_past = context.new_zeros(context.shape[0], 0, self.config.action_input_size)
            cost = latent_goal_cost(self.model, context, no_past, self.goals)
            plan, _ = self.planner.solve(
                cost, len(frames), self.horizon, self.config.action_input_size, generator=self.generator,
                device=self.device,
            )  # fmt: skip
            self.plan_seconds.append(time.perf_counter() - start)
            logger.info(
                "Plan %d (step %d): %.1f s for %d episodes.",
                len(self.plan_seconds),
                step,
                self.plan_seconds[-1],
                len(frames),
            )
            self.queue = plan[:, : self.receding].reshape(len(frames), block_steps, action_dim).cpu().numpy()
        return self.queue[:, step % block_steps]


def summary(run: dict, budget: int) -> dict:
    return {
        "success_rate": float(run["success"].mean()),
        "successes": int(run["success"].sum()),
        "episode_lengths": run["lengths"].tolist(),
        "mean_episode_length": float(run["lengths"].mean()),
        "mean_final_distance": float(np.nanmean(run["final_distance"])),
        "budget": budget,
    }


def save_gif(film: list[list[np.ndarray]], goal_frames: list[np.ndarray], path: str, size: int = 112) -> None:
    """Each episode's frames next to its goal frame, episodes side by side, one GIF frame per step."""
    from PIL import Image

    if not film:
        return
    steps = max(len(frames) for frames in film)
    pictures = []
    for t in range(steps):
        canvas = Image.new("RGB", (2 * size * len(film), size), "white")
        for i, frames in enumerate(film):
            canvas.paste(resize_frame(frames[min(t, len(frames) - 1)], size), (2 * size * i, 0))
            canvas.paste(resize_frame(goal_frames[i], size), (2 * size * i + size, 0))
        pictures.append(canvas)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=100, loop=0)


def plan(argv: list[str]) -> dict:
    args = parse_plan_args(argv)
    model, processor = load_world_model(args.model)
    config = model.config
    if args.eval_budget < args.horizon * config.frameskip:
        raise ValueError(
            f"`--eval_budget` ({args.eval_budget}) is shorter than one plan: horizon {args.horizon} x frameskip "
            f"{config.frameskip} environment steps."
        )
    episodes = Episodes(args.env, args.episodes, args.goal_offset, args.seed)
    episodes.check_actions(config)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    cem = CEMPlanner(args.num_samples, args.num_iterations, args.num_elites)
    planner = LatentPlanner(model, processor, cem, args.horizon, args.receding_horizon, args.seed)
    planner.set_goals(episodes.goal_frames)
    start = time.perf_counter()
    lewm = run_episodes(episodes, args.eval_budget, planner, videos=args.videos)
    plans = len(planner.plan_seconds)
    results = {
        "env": args.env,
        "model": args.model,
        "episodes": args.episodes,
        "goal_offset": args.goal_offset,
        "device": device,
        "planner": {
            k: getattr(args, k) for k in ("horizon", "receding_horizon", "num_samples", "num_iterations", "num_elites")
        }
        | {"frameskip": config.frameskip},  # fmt: skip
        "lewm": summary(lewm, args.eval_budget)
        | {
            "plans": plans,
            # One CEM solve plans every episode at once: its time, and that time per episode.
            "mean_seconds_per_plan_batched": float(np.mean(planner.plan_seconds)),
            "mean_seconds_per_plan_per_episode": float(np.mean(planner.plan_seconds)) / args.episodes,
            "seconds": round(time.perf_counter() - start, 1),
        },
    }
    if not args.no_random_baseline:
        rng = np.random.default_rng(args.seed)
        random = run_episodes(
            episodes,
            args.eval_budget,
            lambda frames, step, active: [episodes.envs[0].random_action(rng) for _ in frames],
        )
        results["random"] = summary(random, args.eval_budget)
    if args.probe_dataset:
        from .probe import position_probe, surprise

        torch.manual_seed(args.seed)
        random_init = LeWMForPreTraining(config).to(device)
        results["position_probe"] = position_probe(
            {"lewm": model, "random_init": random_init}, args.probe_dataset, processor, seed=args.seed
        )
        results["surprise"] = {
            name: surprise(m, args.probe_dataset, processor, seed=args.seed)
            for name, m in (("lewm", model), ("random_init", random_init))
        }
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "plan_results.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    save_gif(lewm["film"], episodes.goal_frames, os.path.join(args.output_dir, "plan_episodes.gif"))
    line = f"LeWorldModel: {results['lewm']['success_rate']:.0%} success"
    if "random" in results:
        line += f"; random actions: {results['random']['success_rate']:.0%}"
    print(f"{line} over {args.episodes} episodes of {args.env}. Wrote {args.output_dir}/plan_results.json.")
    return results


__all__ = ["Episodes", "LatentPlanner", "load_world_model", "parse_plan_args", "plan", "run_episodes"]
