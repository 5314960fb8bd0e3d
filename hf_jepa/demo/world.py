"""The world-model tab's model side: one goal-reaching episode planned by a LeWorldModel in a stable-worldmodel
environment, built as `hf-jepa plan` builds its episodes (the start: a reset with the episode seed; the goal: where
the environment's expert gets in `goal_offset` steps), and what to show of it: the executed frames next to the goal
(plan.py's GIF), and the agent's position over time, real (the environment's state) against the position a linear
probe reads from the embeddings of the real frames and from the latents the model predicts for the executed
actions. Plain functions (no UI; `demo.app` wires them); every error a user can cause is a ValueError."""

import importlib.util
import os
import tempfile
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..world.cem import CEMPlanner
from ..world.collect import record_trajectories
from ..world.envs import import_stable_worldmodel, proprio_of
from ..world.plan import Episodes, LatentPlanner, run_episodes, save_gif
from ..world.probe import PositionProbe, fit_position_probe, probe_frames
from .loading import DemoModel, _is_local_path
from .pictures import CATEGORY_COLORS, Curve, line_chart, resize_image

DEFAULT_ENV = "swm/TwoRoom-v1"
WORLD_EXTRA = 'pip install -e ".[world]"'
ENV_ARGUMENT = "Environment"  # how errors name the tab's environment field
GIF_DIR = os.path.join(tempfile.gettempdir(), "hf_jepa_demo_world")
# Without a probe dataset the probe is fitted on episodes recorded on the fly as `hf-jepa collect` records them,
# seeded away from the episode seeds typed in. 40 x 30 steps: about 4 s of Two-Room on the 2-core CPU, and a probe of
# the 64 px model with R^2 0.98 on held-out episodes (12 x 30 gave 0.74; 2,000 recorded frames 0.99).
PROBE_EPISODES, PROBE_EPISODE_LENGTH, PROBE_SEED = 40, 30, 100_000
REAL_COLOR, GOAL_COLOR = (0, 0, 0), CATEGORY_COLORS[2]
FRAMES_COLOR, PREDICTED_COLOR = CATEGORY_COLORS[0], CATEGORY_COLORS[1]


def world_unavailable() -> str | None:
    """None when stable-worldmodel's environments can be made here, else what the tab shows instead."""
    try:
        import_stable_worldmodel()
    except ValueError as error:
        installed = importlib.util.find_spec("stable_worldmodel") is not None
        state = f"is installed but does not import ({error})" if installed else "is not installed"
        return (
            f"**The world-model tab needs stable-worldmodel**, an optional extra that {state}: install it with "
            f"`{WORLD_EXTRA}` (in the repository) and restart `hf-jepa demo`. The other tabs work without it."
        )
    return None


def require_world() -> None:
    if (message := world_unavailable()) is not None:
        raise ValueError(message)


def check_world_model(model: DemoModel) -> None:
    if model.method.name != "lewm":
        raise ValueError(
            f"`{model.name}` holds a {model.method.title} model: the world-model tab plans with a LeWorldModel "
            "(a folder saved by `hf-jepa pretrain --method lewm`)."
        )
    if not model.has_pretraining_head:
        raise ValueError(f"`{model.name}` holds only the encoder of a LeWorldModel, not its predictor: no planning.")


@dataclass
class WorldRequest:
    """One episode to plan and how: the tab's fields, with its defaults."""

    env_id: str = DEFAULT_ENV
    seed: int = 0  # the start: the environment reset with this seed
    goal_offset: int = 25  # the goal: where the expert gets in this many steps from the start
    budget: int = 50  # environment steps before the episode counts as failed
    horizon: int = 5  # action blocks (of `frameskip` environment steps) each CEM plan looks ahead
    receding_horizon: int = 5  # blocks executed before replanning
    # CEM: far below the paper's 300 samples x 30 iterations x 30 elites, so that a click answers in seconds on a CPU.
    num_samples: int = 100
    num_iterations: int = 10
    num_elites: int = 10
    display_size: int = 224

    def __post_init__(self):
        if not isinstance(self.env_id, str) or not self.env_id.strip():
            raise ValueError(f"`env_id` must name an environment (e.g. {DEFAULT_ENV}), got {self.env_id!r}.")
        self.env_id = self.env_id.strip()
        names = ("goal_offset", "budget", "horizon", "receding_horizon", "display_size")
        for name in ("seed", *names):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                expected = "an integer >= 0" if name == "seed" else "a positive integer"
                raise ValueError(f"`{name}` must be {expected}, got {value!r}.")
        if self.receding_horizon > self.horizon:
            raise ValueError(
                f"`receding_horizon` ({self.receding_horizon}) must be at most `horizon` ({self.horizon}): only "
                "planned blocks can be executed."
            )
        self.planner()  # CEM's own checks (num_samples, num_iterations, num_elites)

    def planner(self) -> CEMPlanner:
        return CEMPlanner(self.num_samples, self.num_iterations, self.num_elites)


def _episodes(request: WorldRequest):
    """The request's episode (plan.py's `Episodes` with one episode)."""
    require_world()
    return Episodes(request.env_id, 1, request.goal_offset, request.seed, argument=ENV_ARGUMENT)


def _display(frame: np.ndarray, size: int) -> np.ndarray:
    return resize_image(np.asarray(frame, dtype=np.uint8), (size, size))


def episode_preview(request: WorldRequest) -> tuple[np.ndarray, np.ndarray, dict]:
    """The start and goal frames of the request's episode (uint8 [S, S, 3] each) and the agent's state at both."""
    episodes = _episodes(request)
    frames, infos = episodes.reset()
    numbers = {"start": proprio_of(infos[0]).tolist(), "goal": proprio_of(episodes.goal_infos[0]).tolist()}
    return _display(frames[0], request.display_size), _display(episodes.goal_frames[0], request.display_size), numbers


@dataclass
class FittedProbe:
    probe: PositionProbe
    r2: float  # on the held-out episodes
    frames: int
    state_size: int  # numbers in the state it reads (Two-Room: the position, 2)
    source: str


class WorldStore:
    """Position probes, fitted once per (model, frames), and the frames recorded on the fly for them, once per
    (environment, frame size); thread-safe. With `probe_dataset` (a folder of `hf-jepa collect`) the probe is fitted
    on its frames, else on `probe_episodes` episodes of `probe_episode_length` steps recorded when first needed."""

    def __init__(
        self,
        probe_dataset: str | None = None,
        probe_episodes: int = PROBE_EPISODES,
        probe_episode_length: int = PROBE_EPISODE_LENGTH,
        max_probe_frames: int = 2000,
    ):
        if probe_dataset and _is_local_path(probe_dataset) and not os.path.isdir(os.path.expanduser(probe_dataset)):
            raise ValueError(
                f"`probe_dataset` {probe_dataset} is not a folder: give one recorded by `hf-jepa collect` in the "
                "world-model tab's environment (or none, to record frames on the fly)."
            )
        self.probe_dataset = probe_dataset and os.path.expanduser(probe_dataset)
        self.probe_episodes, self.probe_episode_length = probe_episodes, probe_episode_length
        self.max_probe_frames = max_probe_frames
        self._recorded: dict[tuple[str, int], object] = {}
        self._probes: dict[tuple[str, str], FittedProbe] = {}
        self._lock = threading.Lock()

    def probe(self, model: DemoModel, env_id: str) -> FittedProbe:
        source = self.probe_dataset or env_id
        with self._lock:
            if (model.name, source) not in self._probes:
                if self.probe_dataset:
                    data, shown = self.probe_dataset, f"`{self.probe_dataset}`"
                else:
                    data = self._record(env_id, max(model.image_size))
                    shown = f"{self.probe_episodes} episodes of {env_id} recorded on the fly"
                frames = probe_frames(data, self.max_probe_frames)
                probe, r2 = fit_position_probe(model.model, frames, model.processor)
                targets = frames.targets
                self._probes[model.name, source] = FittedProbe(probe, r2, len(targets), targets.shape[1], shown)
            return self._probes[model.name, source]

    def _record(self, env_id: str, image_size: int):
        key = (env_id, image_size)
        if key not in self._recorded:
            self._recorded[key] = record_trajectories(
                env_id, self.probe_episodes, self.probe_episode_length, image_size, seed=PROBE_SEED
            )
        return self._recorded[key]


@torch.no_grad()
def predicted_embeddings(world, start_embedding: torch.Tensor, actions: np.ndarray) -> torch.Tensor:
    """The latent trajectory a LeWorldModel (`LeWMForPreTraining`) predicts for executed actions: the start embedding
    [D], then `rollout` from it of the actions [T, action_dim] grouped into model steps of `frameskip` (an incomplete
    last step is left out) -> [1 + T // frameskip, D]; row k is the embedding predicted `k * frameskip` steps in."""
    config = world.config
    actions = np.asarray(actions, dtype=np.float32)
    if actions.ndim != 2 or actions.shape[1] != config.action_dim:
        raise ValueError(
            f"`actions` must be [steps, {config.action_dim}] (config.action_dim), got shape {actions.shape}."
        )
    blocks = len(actions) // config.frameskip
    start = start_embedding.reshape(1, -1)
    if blocks == 0:
        return start
    steps = torch.from_numpy(actions[: blocks * config.frameskip]).to(start.device)
    rolled = world.rollout(start.unsqueeze(1), steps.reshape(1, blocks, config.action_input_size))  # [1, K, D]
    return torch.cat([start, rolled[0]])


@dataclass
class WorldPlan:
    start: np.ndarray  # uint8 [S, S, 3]: the start frame
    goal: np.ndarray  # uint8 [S, S, 3]: the goal frame
    gif: str  # GIF file: the executed frames next to the goal, one GIF frame per environment step
    chart: np.ndarray  # uint8: the agent's position over time, one panel per coordinate, two side by side
    summary: str  # markdown: success, final distance, planning time, probe quality
    numbers: dict


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    return float(np.linalg.norm(a - b, axis=-1).mean()) if len(a) else None


def position_chart(real, from_frames, from_predicted, predicted_steps, goal, width: int = 480) -> np.ndarray:
    """One panel per coordinate of the state, two side by side: real [T + 1, P], probed from the real frames
    [T + 1, P] and from the predicted latents [K + 1, P] at `predicted_steps` [K + 1], the goal's [P] as a flat
    line."""
    steps = np.arange(len(real))
    names = ("x", "y") if real.shape[1] == 2 else tuple(f"state[{i}]" for i in range(real.shape[1]))
    panels = []
    for axis, name in enumerate(names):
        curves = [
            Curve("goal", np.array([0, steps[-1]]), np.full(2, goal[axis]), GOAL_COLOR),
            Curve("real (environment)", steps, real[:, axis], REAL_COLOR),
            Curve("probe of real frames", steps, from_frames[:, axis], FRAMES_COLOR),
            Curve("probe of predicted latents", predicted_steps, from_predicted[:, axis], PREDICTED_COLOR, dots=True),
        ]
        panels.append(line_chart(curves, f"agent {name}", "environment step", size=(220, width)))
    if len(panels) % 2:
        panels.append(np.full_like(panels[0], 255))
    return np.concatenate([np.concatenate(panels[i : i + 2], axis=1) for i in range(0, len(panels), 2)], axis=0)


def plan_episode(model: DemoModel, request: WorldRequest, store: WorldStore, gif_dir: str = GIF_DIR) -> WorldPlan:
    """Plan the request's episode with `model` (receding-horizon CEM in latent space, as `hf-jepa plan`), execute it
    in the environment, and compare the real positions with the probed ones."""
    check_world_model(model)
    config = model.config
    if request.budget < request.horizon * config.frameskip:
        raise ValueError(
            f"`budget` ({request.budget}) is shorter than one plan: horizon {request.horizon} x frameskip "
            f"{config.frameskip} environment steps."
        )
    episodes = _episodes(request)
    episodes.check_actions(config)
    goal_state = proprio_of(episodes.goal_infos[0])
    if not len(goal_state):
        raise ValueError(
            f"`{ENV_ARGUMENT} {request.env_id}` reports no agent state (info['proprio']) to compare with."
        )
    fitted = store.probe(model, request.env_id)
    if fitted.state_size != len(goal_state):
        raise ValueError(
            f"The probe's frames ({fitted.source}) record states of size {fitted.state_size}, `{ENV_ARGUMENT} "
            f"{request.env_id}` of size {len(goal_state)}: give a probe dataset recorded in this environment."
        )
    planner = LatentPlanner(
        model.model, model.processor, request.planner(), request.horizon, request.receding_horizon, request.seed
    )
    planner.set_goals(episodes.goal_frames)
    began = time.perf_counter()
    run = run_episodes(episodes, request.budget, planner, videos=1)
    seconds = time.perf_counter() - began
    frames, actions, real = run["film"][0], run["actions"][0], run["proprio"][0].astype(np.float64)

    embeddings = planner.embed(frames)  # [T + 1, D]
    predicted = predicted_embeddings(model.model, embeddings[0], actions)  # [K + 1, D]
    from_frames = fitted.probe.predict(embeddings.float().cpu().numpy())
    from_predicted = fitted.probe.predict(predicted.float().cpu().numpy())
    predicted_steps = np.arange(len(predicted)) * config.frameskip

    os.makedirs(gif_dir, exist_ok=True)
    handle, gif = tempfile.mkstemp(suffix=".gif", prefix="plan_", dir=gif_dir)  # one file per click: no clashes
    os.close(handle)
    save_gif(run["film"], episodes.goal_frames, gif, size=request.display_size)

    plan_seconds = planner.plan_seconds
    errors = {
        "probe_of_real_frames": _mean_distance(from_frames, real),
        "probe_of_predicted_latents": _mean_distance(from_predicted[1:], real[predicted_steps[1:]]),
    }
    numbers = {
        "env": request.env_id,
        "seed": request.seed,
        "goal_offset": request.goal_offset,
        "budget": request.budget,
        "success": bool(run["success"][0]),
        "steps": int(run["lengths"][0]),
        "final_distance": float(run["final_distance"][0]),
        "planning": {
            "plans": len(plan_seconds),
            "seconds": round(float(sum(plan_seconds)), 3),
            "seconds_per_plan": round(float(np.mean(plan_seconds)), 3),
            "episode_seconds": round(seconds, 3),
            "horizon": request.horizon,
            "receding_horizon": request.receding_horizon,
            "frameskip": config.frameskip,
            "num_samples": request.num_samples,
            "num_iterations": request.num_iterations,
            "num_elites": request.num_elites,
        },
        "probe": {"frames": fitted.frames, "held_out_r2": round(fitted.r2, 4), "source": fitted.source},
        "mean_probe_error": errors,
        "positions": {
            "real": real.round(3).tolist(),
            "goal": goal_state.tolist(),
            "probe_of_real_frames": from_frames.round(3).tolist(),
            "probe_of_predicted_latents": from_predicted.round(3).tolist(),
            "predicted_steps": predicted_steps.tolist(),
        },
        "actions": actions.tolist(),  # as executed (clipped to the action space), one per environment step
    }
    return WorldPlan(
        start=_display(frames[0], request.display_size),
        goal=_display(episodes.goal_frames[0], request.display_size),
        gif=gif,
        chart=position_chart(real, from_frames, from_predicted, predicted_steps, goal_state),
        summary=_summary(numbers),
        numbers=numbers,
    )


def _summary(numbers: dict) -> str:
    """The numbers of `plan_episode` in one markdown line."""
    steps, planning, probe = numbers["steps"], numbers["planning"], numbers["probe"]
    outcome = f"**Reached the goal** in {steps} steps" if numbers["success"] else f"**Not reached** in {steps} steps"
    errors = numbers["mean_probe_error"]
    predicted = errors["probe_of_predicted_latents"]
    plans = f"{planning['plans']} CEM plan" + ("s" if planning["plans"] != 1 else "")
    return (
        f"{outcome}; final distance to the goal {numbers['final_distance']:.1f}. Planning: {plans}, "
        f"{planning['seconds']:.1f} s ({planning['seconds_per_plan']:.2f} s each). Probe fitted on {probe['source']} "
        f"(R² {probe['held_out_r2']:.3f} on its held-out episodes): mean error "
        f"{errors['probe_of_real_frames']:.1f} from the real frames, "
        + (
            "no complete model step predicted."
            if predicted is None
            else f"{predicted:.1f} from the predicted latents."
        )
    )
