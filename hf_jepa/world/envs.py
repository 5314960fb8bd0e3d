"""stable-worldmodel's environments as hf_jepa uses them: made by id (clear errors for unknown ids and environments
without pixels), their frames resized as recorded, and their expert policies."""

import importlib
import warnings

import numpy as np
from PIL import Image as PILImage

INSTALL_HINT = 'pip install "hf_jepa[world]" (stable-worldmodel and opencv-python-headless)'
# Environment id -> "module:class" of its expert policy in stable-worldmodel (the policies its datasets are made with).
EXPERTS = {"swm/TwoRoom-v1": "stable_worldmodel.envs.two_room.expert_policy:ExpertPolicy"}


def import_stable_worldmodel():
    """stable-worldmodel (it registers the `swm/...` gymnasium environments), or a clear error saying how to get it."""
    try:
        with warnings.catch_warnings():  # it warns about optional simulators (ALE, ...) it cannot find
            warnings.simplefilter("ignore")
            return importlib.import_module("stable_worldmodel")
    except ImportError as error:
        raise ValueError(
            f"Environments come from stable-worldmodel, which is not installed ({error}): {INSTALL_HINT}."
        ) from None


def world_env_ids() -> list[str]:
    import_stable_worldmodel()
    from stable_worldmodel.envs import WORLDS

    return sorted(WORLDS)


def resize_frame(frame: np.ndarray, size: int) -> PILImage.Image:
    """An environment frame [H, W, 3] uint8 -> a `size` x `size` RGB image (area-averaged, as recorded)."""
    return PILImage.fromarray(np.asarray(frame, dtype=np.uint8)).convert("RGB").resize((size, size), PILImage.BOX)


def proprio_of(info: dict) -> np.ndarray:
    """The agent's state an environment reports (`info["proprio"]`, Two-Room: its position) as a flat float32 copy
    (environments may hand out views of their live state); empty when it reports none."""
    return np.array(info.get("proprio", []), dtype=np.float32).reshape(-1)


class PixelEnv:
    """One gymnasium environment seen through its rendered frames: `reset(seed)` and `step(action)` give (frame
    [H, W, 3] uint8, info); `step` also says whether the task is solved (the environment's `terminated`)."""

    def __init__(self, env_id: str, argument: str = "--env"):
        import_stable_worldmodel()
        import gymnasium as gym

        if env_id not in gym.registry:
            raise ValueError(
                f"Unknown environment `{argument} {env_id}`: stable-worldmodel registers {world_env_ids()}."
            )
        self.env_id = env_id
        try:
            self.env = gym.make(env_id)
        except Exception as error:  # a registered environment whose simulator is not installed
            raise ValueError(f"`{argument} {env_id}` cannot be made ({type(error).__name__}: {error}).") from error
        space = self.env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"`{argument} {env_id}` has {space} actions: only continuous (Box) actions are planned.")
        self.action_dim = int(space.shape[0])
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        self.argument = argument

    def reset(self, seed: int) -> tuple[np.ndarray, dict]:
        _, info = self.env.reset(seed=seed)
        return self.frame(), info

    def clip_action(self, action: np.ndarray) -> np.ndarray:
        """The action [action_dim] the environment executes for `action`: clipped to its action space."""
        return np.clip(np.asarray(action, dtype=np.float32).reshape(self.action_dim), self.low, self.high)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, bool, dict]:
        _, _, terminated, _, info = self.env.step(self.clip_action(action))
        return self.frame(), bool(terminated), info

    def frame(self) -> np.ndarray:
        frame = self.env.render()
        frame = frame.cpu().numpy() if hasattr(frame, "cpu") else frame
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[-1] != 3:
            shown = type(frame).__name__ if not isinstance(frame, np.ndarray) else f"an array of shape {frame.shape}"
            raise ValueError(
                f"`{self.argument} {self.env_id}` renders no pixels (render() gave {shown}, not an RGB frame "
                "[H, W, 3]): a world model learns from frames."
            )
        return frame

    def random_action(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.low, self.high).astype(np.float32)

    def expert(self, noise: float, seed: int):
        """stable-worldmodel's expert policy of this environment (with Gaussian action noise), None if it has none."""
        path = EXPERTS.get(self.env_id)
        if path is None:
            return None
        module, _, name = path.partition(":")
        policy = getattr(importlib.import_module(module), name)(action_noise=noise, seed=seed)
        policy.set_env(self.env)
        return policy

    def set_goal(self, goal_info: dict) -> None:
        """Make the environment's own success test (its `terminated`) about the goal state, as the official
        evaluation does (`_set_goal_state`)."""
        setter = getattr(self.env.unwrapped, "_set_goal_state", None)
        if setter is None:
            raise ValueError(
                f"`{self.argument} {self.env_id}` has no goal to set: planning needs a goal-reaching task."
            )
        setter(np.asarray(goal_info["state"], dtype=np.float32))


__all__ = ["EXPERTS", "PixelEnv", "import_stable_worldmodel", "proprio_of", "resize_frame", "world_env_ids"]
