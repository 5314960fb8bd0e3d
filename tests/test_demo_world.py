"""The demo's world-model tab: its model-side functions (the latent rollout of executed actions, the position probe,
the chart, the request's checks), the message shown without stable-worldmodel, and, where stable-worldmodel is
installed (`pip install -e ".[world]"`), one planned Two-Room episode checked against a replay in the environment and
the running app's `/world_episode` and `/plan` endpoints."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from hf_jepa import LeWMForPreTraining, get_method
from hf_jepa.demo.loading import load_demo_model
from hf_jepa.demo.pictures import CATEGORY_COLORS, Curve, line_chart
from hf_jepa.demo.world import (
    WORLD_EXTRA,
    WorldRequest,
    WorldStore,
    episode_preview,
    plan_episode,
    position_chart,
    predicted_embeddings,
    world_unavailable,
)
from hf_jepa.registry import default_processor

from .test_demo import opened, random_image, save_tiny_models, serving
from .test_lewm import perturbed, tiny
from .test_lewm_data import dot_trajectories

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

HAS_WORLD = world_unavailable() is None
# A plan small enough for a test: 8 CEM samples, 2 iterations, 2 elites; 10 environment steps (2 model steps).
SMALL = dict(goal_offset=5, budget=10, horizon=2, receding_horizon=1, num_samples=8, num_iterations=2, num_elites=2)


def needs_world():
    pytest.importorskip("stable_worldmodel")  # and what its import needs (opencv)
    assert HAS_WORLD


def save_lewm(folder, **overrides) -> str:
    """A tiny LeWorldModel (16 px frames, actions of size 2, frameskip 5) with every weight off its init, so that the
    actions change its predictions, saved as `hf-jepa pretrain` saves it."""
    torch.manual_seed(0)
    config = tiny(**overrides)
    perturbed(LeWMForPreTraining(config)).save_pretrained(folder)
    default_processor(get_method("lewm"), config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def lewm_dir(tmp_path_factory):
    return save_lewm(tmp_path_factory.mktemp("lewm"))


def small_store() -> WorldStore:
    return WorldStore(probe_episodes=3, probe_episode_length=8)


def gif_steps(path) -> int:
    """Environment steps a GIF of `save_gif` shows (100 ms each; PIL merges repeated frames into longer ones)."""
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        total = 0
        for index in range(gif.n_frames):
            gif.seek(index)
            total += gif.info["duration"]
    return round(total / 100)


# --- model side, no environment needed ---------------------------------------------------------------------------


def test_predicted_embeddings_roll_the_executed_actions_out_in_model_steps(lewm_dir):
    world = load_demo_model(lewm_dir).model
    config = world.config
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(config.embedding_size, generator=generator)
    blocks = torch.randn(1, 2, config.action_input_size, generator=generator)  # 2 model steps of 5 actions of 2
    executed = blocks.reshape(10, config.action_dim).numpy()  # as the planner's queue hands them out, step by step
    trailing = np.concatenate([executed, np.ones((3, 2), np.float32)])  # 3 more steps: an incomplete model step
    got = predicted_embeddings(world, start, trailing)
    with torch.no_grad():
        expected = world.rollout(start.view(1, 1, -1), blocks)[0]
    assert got.shape == (3, config.embedding_size)
    torch.testing.assert_close(got[0], start)
    torch.testing.assert_close(got[1:], expected)
    other = predicted_embeddings(world, start, executed[::-1].copy())
    assert not torch.allclose(other[1:], got[1:], atol=1e-4)  # the actions matter, in their order
    torch.testing.assert_close(predicted_embeddings(world, start, executed[:4]), start.view(1, -1))
    with pytest.raises(ValueError, match=r"`actions` must be \[steps, 2\]"):
        predicted_embeddings(world, start, np.zeros((10, 3), np.float32))


def test_world_request_names_each_bad_setting():
    assert WorldRequest(env_id=" swm/TwoRoom-v1 ").env_id == "swm/TwoRoom-v1"
    for bad, message in (
        (dict(goal_offset=0), "`goal_offset` must be a positive integer, got 0"),
        (dict(budget=12.5), "`budget` must be a positive integer, got 12.5"),
        (dict(seed=-1), "`seed` must be an integer >= 0, got -1"),
        (dict(env_id=""), "`env_id` must name an environment"),
        (dict(horizon=2, receding_horizon=3), r"`receding_horizon` \(3\) must be at most `horizon` \(2\)"),
        (dict(num_samples=5, num_elites=10), r"`num_elites` \(10\) must be at most `num_samples` \(5\)"),
        (dict(num_iterations=0), "`num_iterations` must be a positive integer"),
    ):
        with pytest.raises(ValueError, match=message):
            WorldRequest(**bad)


def test_plan_episode_refuses_what_cannot_plan(lewm_dir, tmp_path):
    ijepa = load_demo_model(save_tiny_models(tmp_path)["ijepa"])
    with pytest.raises(ValueError, match="holds a I-JEPA model: the world-model tab plans with a LeWorldModel"):
        plan_episode(ijepa, WorldRequest(**SMALL), small_store())
    lewm = load_demo_model(lewm_dir)
    with pytest.raises(ValueError, match=r"`budget` \(9\) is shorter than one plan: horizon 2 x frameskip 5"):
        plan_episode(lewm, WorldRequest(**{**SMALL, "budget": 9}), small_store())


def test_the_probe_is_fitted_once_on_the_given_dataset(lewm_dir, tmp_path):
    from hf_jepa.world.probe import probe_frames

    dot_trajectories(lengths=(20,) * 10).save_to_disk(tmp_path / "dots")
    model = load_demo_model(lewm_dir)
    store = WorldStore(str(tmp_path / "dots"))
    fitted = store.probe(model, "swm/TwoRoom-v1")
    assert fitted.frames == 200 and fitted.state_size == 2 and np.isfinite(fitted.r2)
    assert str(tmp_path / "dots") in fitted.source
    assert store.probe(model, "swm/TwoRoom-v1") is fitted  # cached: one fit per model and dataset
    frames = probe_frames(str(tmp_path / "dots"), max_frames=50, seed=1)
    again = probe_frames(dot_trajectories(lengths=(20,) * 10), max_frames=50, seed=1)  # a loaded dataset works too
    np.testing.assert_array_equal(frames.targets, again.targets)
    np.testing.assert_array_equal(frames.held_out, again.held_out)
    assert frames.held_out.any() and not frames.held_out.all()
    probed = fitted.probe.predict(np.zeros((4, model.config.embedding_size)))
    assert probed.shape == (4, 2)
    with pytest.raises(ValueError, match="`probe_dataset` .*missing is not a folder"):
        WorldStore(str(tmp_path / "missing"))


def test_line_chart_draws_each_curve_where_its_values_are():
    rising = Curve("rising", np.arange(11), np.arange(11.0), CATEGORY_COLORS[0])
    flat = Curve("flat", np.array([0, 10]), np.array([5.0, 5.0]), CATEGORY_COLORS[1], dots=True)
    chart = line_chart([rising, flat], "title", "step", size=(200, 400))
    assert chart.shape == (200, 400, 3)

    def rows_of(color, column):
        return np.flatnonzero((chart[:, column] == color).all(-1))

    # 34 px above the plot, 30 below, the y range 0..10 padded by 5 %: y = 5 sits at the plot's middle row.
    middle = 34 + (200 - 34 - 30) / 2
    assert abs(rows_of(CATEGORY_COLORS[1], 200).mean() - middle) <= 1.5
    early, late = rows_of(CATEGORY_COLORS[0], 80), rows_of(CATEGORY_COLORS[0], 360)  # x = 1 and x = 9
    assert early.size and late.size and early.min() > middle > late.max()  # y grows upwards
    assert (chart[20:29, 52:61] == CATEGORY_COLORS[0]).all(-1).any()  # the first legend entry's square
    gaps = Curve("gaps", np.arange(3), np.array([1.0, np.nan, 3.0]), CATEGORY_COLORS[2])
    assert line_chart([gaps]).shape == (220, 480, 3)  # NaN leaves a gap, not an error


def test_position_chart_has_one_panel_per_coordinate():
    real = np.stack([np.linspace(0, 50, 11), np.linspace(100, 80, 11)], axis=1)
    chart = position_chart(real, real + 1, real[::5] - 1, np.arange(0, 11, 5), np.array([50.0, 80.0]), width=300)
    assert chart.shape == (220, 600, 3)  # x | y
    for panel in (chart[:, :300], chart[:, 300:]):  # each panel draws every curve
        for color in ((0, 0, 0), CATEGORY_COLORS[0], CATEGORY_COLORS[1], CATEGORY_COLORS[2]):
            assert (panel[34:190] == color).all(-1).any()

    def real_row(panel, column):  # mean row of the real (black) curve in a pixel column of the plot
        return np.flatnonzero((panel[34:190, column] == 0).all(-1)).mean()

    x_panel, y_panel = chart[:, :300], chart[:, 300:]
    assert real_row(x_panel, 70) > real_row(x_panel, 270)  # x rises: its curve climbs in the left panel
    assert real_row(y_panel, 70) < real_row(y_panel, 270)  # y falls
    three = np.concatenate([real, real[:, :1]], axis=1)  # a third coordinate: a second row, half of it blank
    chart = position_chart(three, three, three[::5], np.arange(0, 11, 5), np.zeros(3), width=300)
    assert chart.shape == (440, 600, 3) and (chart[220:, 300:] == 255).all()


@pytest.mark.skipif(HAS_WORLD, reason="checks what is shown without stable-worldmodel")
def test_without_stable_worldmodel_the_tab_says_what_to_install(lewm_dir):
    message = world_unavailable()
    assert WORLD_EXTRA == 'pip install -e ".[world]"' and WORLD_EXTRA in message and "not installed" in message
    with pytest.raises(ValueError, match=r'pip install -e "\.\[world\]"'):
        episode_preview(WorldRequest())
    with pytest.raises(ValueError, match=r'pip install -e "\.\[world\]"'):
        plan_episode(load_demo_model(lewm_dir), WorldRequest(**SMALL), small_store())


# --- the app -----------------------------------------------------------------------------------------------------


def _components(app, kind: str) -> list[dict]:
    return [c for c in app.config["components"] if c["type"] == kind]


def test_the_world_tab_appears_only_with_a_world_model(lewm_dir, tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    from hf_jepa.demo import app as demo_app

    mae = save_tiny_models(tmp_path)["mae"]

    def never(*_):
        raise AssertionError("stable-worldmodel imported for a demo without a world model")

    with monkeypatch.context() as patched:
        patched.setattr(demo_app, "world_unavailable", never)
        without = demo_app.build_app([mae], max_gallery_images=20, examples=[])
    (tab,) = [c for c in _components(without, "tabitem") if c["props"]["label"] == "World model"]
    assert tab["props"]["visible"] is False

    app = demo_app.build_app([mae, lewm_dir], max_gallery_images=20, examples=[])
    (tab,) = [c for c in _components(app, "tabitem") if c["props"]["label"] == "World model"]
    assert tab["props"]["visible"] is True
    (dropdown,) = [c for c in _components(app, "dropdown") if c["props"]["label"].startswith("World model")]
    assert dropdown["props"]["value"] == lewm_dir and [c[1] for c in dropdown["props"]["choices"]] == [lewm_dir]
    (notice,) = [c for c in _components(app, "markdown") if c["props"].get("elem_id") == "world-unavailable"]
    assert notice["props"]["visible"] is not HAS_WORLD
    if not HAS_WORLD:
        assert WORLD_EXTRA in notice["props"]["value"]
    names = {dependency.get("api_name") for dependency in app.config["dependencies"]}
    assert {"embed", "predict", "world_episode", "plan"} <= names


def test_hf_jepa_demo_passes_the_world_flags_on(monkeypatch):
    pytest.importorskip("gradio")
    from hf_jepa.demo import app as demo_app

    seen = {}

    class Built:
        def launch(self, **_):
            pass

    monkeypatch.setattr(demo_app, "build_app", lambda models, galleries, **kwargs: seen.update(kwargs) or Built())
    demo_app.demo(["--model", "m", "--world_env", "swm/Other-v0", "--probe_dataset", "data/tworoom"])
    assert seen["world_env"] == "swm/Other-v0" and seen["probe_dataset"] == "data/tworoom"
    demo_app.demo(["--model", "m"])
    assert seen["world_env"] == "swm/TwoRoom-v1" and seen["probe_dataset"] is None


@pytest.fixture(scope="module")
def world_client(lewm_dir, tmp_path_factory):
    pytest.importorskip("gradio")
    from gradio_client import Client

    from hf_jepa.demo.app import build_app

    mae = save_tiny_models(tmp_path_factory.mktemp("models"))["mae"]
    app = build_app([mae, lewm_dir], allow_loading=True, max_gallery_images=20, examples=[], world_store=small_store())
    with serving(app) as url:
        yield Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def test_a_world_model_leaves_the_other_tabs_working(world_client, lewm_dir, tmp_path):
    from gradio_client import handle_file

    path = tmp_path / "x.png"
    random_image().save(path)
    embedded = world_client.predict(handle_file(str(path)), "digits", 3, api_name="/embed")
    assert [embedded[k]["method"] for k in (3, 7)] == ["mae", "lewm"]  # the frame encoder embeds like any ViT
    predicted = world_client.predict(handle_file(str(path)), 0, 0.5, api_name="/predict")
    assert predicted[5] == {"method": "lewm"} and "World model tab" in predicted[4]


def test_loading_models_shows_the_world_tab_for_a_world_model(world_client, lewm_dir, tmp_path):
    from gradio_client import Client

    client = Client(world_client.src, verbose=False, download_files=str(tmp_path))
    mae = save_tiny_models(tmp_path)["mae"]
    picker = client.predict(mae, api_name="/load_models")[-1]  # the world model picker's update
    assert picker["choices"] == [] and picker["value"] is None
    picker = client.predict(f"{mae}\n{lewm_dir}", api_name="/load_models")[-1]
    assert picker["choices"] == [[lewm_dir, lewm_dir]] and picker["value"] == lewm_dir


@pytest.mark.skipif(HAS_WORLD, reason="checks what is shown without stable-worldmodel")
def test_plan_endpoint_without_stable_worldmodel_says_what_to_install(world_client, lewm_dir):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r'pip install -e "\.\[world\]"'):
        world_client.predict(lewm_dir, "swm/TwoRoom-v1", 0, 5, 10, 2, 1, 10, 2, 2, api_name="/plan")


# --- with stable-worldmodel: Two-Room ----------------------------------------------------------------------------


def _replay(env_id: str, seed: int, actions) -> np.ndarray:
    """The agent's state at every step when `actions` are executed from the reset with `seed`, in a fresh env."""
    from hf_jepa.world.envs import PixelEnv, proprio_of

    env = PixelEnv(env_id)
    _, info = env.reset(seed)
    states = [proprio_of(info)]
    for action in actions:
        _, _, info = env.step(np.asarray(action, dtype=np.float32))
        states.append(proprio_of(info))
    return np.stack(states)


def test_episode_preview_shows_the_start_and_where_the_expert_gets(lewm_dir):
    needs_world()
    from hf_jepa.world.envs import PixelEnv, proprio_of

    start, goal, states = episode_preview(WorldRequest(seed=3, goal_offset=6, display_size=64))
    assert start.shape == goal.shape == (64, 64, 3) and not np.array_equal(start, goal)
    env = PixelEnv("swm/TwoRoom-v1")
    _, info = env.reset(3)
    np.testing.assert_allclose(states["start"], proprio_of(info), atol=1e-4)
    expert = env.expert(noise=0.0, seed=3)
    for _ in range(6):
        _, _, info = env.step(np.asarray(expert.get_action(info), dtype=np.float32))
    np.testing.assert_allclose(states["goal"], proprio_of(info), atol=1e-4)


def test_plan_episode_executes_the_plan_and_shows_the_environments_positions(lewm_dir):
    needs_world()
    model, store = load_demo_model(lewm_dir), small_store()
    request = WorldRequest(seed=2, display_size=64, **SMALL)
    result = plan_episode(model, request, store)
    numbers, positions = result.numbers, result.numbers["positions"]
    steps = numbers["steps"]
    assert 1 <= steps <= 10 and numbers["success"] == (numbers["final_distance"] < 16.0)  # Two-Room's success test
    assert len(numbers["actions"]) == steps and all(-1 <= a <= 1 for step in numbers["actions"] for a in step)
    # The real curve is the environment's state: the same as replaying the executed actions in a fresh environment.
    np.testing.assert_allclose(positions["real"], _replay("swm/TwoRoom-v1", 2, numbers["actions"]), atol=1e-3)
    assert positions["predicted_steps"] == list(range(0, steps // 5 * 5 + 1, 5))
    from_frames = np.asarray(positions["probe_of_real_frames"])
    from_predicted = np.asarray(positions["probe_of_predicted_latents"])
    assert from_frames.shape == (steps + 1, 2) and from_predicted.shape == (steps // 5 + 1, 2)
    np.testing.assert_allclose(from_predicted[0], from_frames[0], atol=1e-2)  # both start from the start frame
    assert numbers["planning"]["plans"] == -(-steps // 5) and numbers["planning"]["seconds"] > 0  # one per block
    assert numbers["probe"]["frames"] == 24 and "recorded on the fly" in numbers["probe"]["source"]
    assert opened(result.gif).size == (128, 64) and gif_steps(result.gif) == steps + 1  # the frames | the goal
    assert result.start.shape == result.goal.shape == (64, 64, 3) and result.chart.shape == (220, 960, 3)
    assert "final distance to the goal" in result.summary and "CEM plans" in result.summary
    again = plan_episode(model, request, store)  # seeded: the same plan, and the probe is not refitted
    assert again.numbers["actions"] == numbers["actions"] and again.numbers["probe"] == numbers["probe"]


def test_plan_episode_explains_a_wrong_environment_or_model(tmp_path):
    needs_world()
    three = load_demo_model(save_lewm(tmp_path / "three", action_dim=3))
    with pytest.raises(ValueError, match="takes actions of size 2 but the model was trained on actions of size 3"):
        plan_episode(three, WorldRequest(**SMALL), small_store())
    two = load_demo_model(save_lewm(tmp_path / "two"))
    with pytest.raises(ValueError, match="Unknown environment `Environment swm/NoSuchRoom-v0`.*swm/TwoRoom-v1"):
        plan_episode(two, WorldRequest(env_id="swm/NoSuchRoom-v0", **SMALL), small_store())


def test_world_endpoints_answer_through_the_app(world_client, lewm_dir):
    needs_world()
    start, goal = world_client.predict("swm/TwoRoom-v1", 1, 5, api_name="/world_episode")
    assert opened(start).size == opened(goal).size == (224, 224)
    start, goal, gif, chart, summary, numbers = world_client.predict(
        lewm_dir, "swm/TwoRoom-v1", 1, 5, 10, 2, 1, 10, 2, 2, api_name="/plan"
    )
    assert numbers["env"] == "swm/TwoRoom-v1" and numbers["planning"]["num_samples"] == 10
    assert gif_steps(gif) == numbers["steps"] + 1
    assert opened(chart).size == (960, 220) and "final distance" in summary
