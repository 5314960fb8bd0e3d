"""`hf-jepa collect` and `hf-jepa plan` on stable-worldmodel's Two-Room (skipped where stable-worldmodel is not
installed: `pip install "hf_jepa[world]"`), and the clear errors of both commands."""

import importlib.util
import json

import pytest

from hf_jepa.cli import main
from hf_jepa.world.envs import PixelEnv


def _has_stable_worldmodel() -> bool:
    if importlib.util.find_spec("stable_worldmodel") is None:
        return False
    try:
        from hf_jepa.world.envs import import_stable_worldmodel

        import_stable_worldmodel()
    except ValueError:  # installed without what its import needs (opencv)
        return False
    return True


needs_world = pytest.mark.skipif(
    not _has_stable_worldmodel(), reason='stable-worldmodel is not installed: pip install "hf_jepa[world]"'
)


@pytest.mark.skipif(_has_stable_worldmodel(), reason="checks the message shown without stable-worldmodel")
def test_missing_stable_worldmodel_says_how_to_install_it():
    with pytest.raises(ValueError, match=r"hf_jepa\[world\]"):
        PixelEnv("swm/TwoRoom-v1")


@needs_world
def test_unknown_environment_and_one_without_pixels_are_refused():
    with pytest.raises(ValueError, match="Unknown environment `--env swm/NoSuchRoom-v0`.*swm/TwoRoom-v1"):
        PixelEnv("swm/NoSuchRoom-v0")
    env = PixelEnv("Pendulum-v1")  # gymnasium's, made without a render mode: no frames
    with pytest.raises(ValueError, match="renders no pixels"):
        env.reset(seed=0)


@needs_world
@pytest.mark.slow
def test_collect_then_pretrain_then_plan_on_two_room(tmp_path):
    from datasets import load_from_disk

    from .test_lewm import TINY

    data = tmp_path / "data"
    args = ["--episodes", "3", "--episode_length", "20", "--image_size", "16", "--output_dir", str(data)]
    assert main(["collect", *args]) == 0
    rows = load_from_disk(str(data))
    assert len(rows) == 60 and set(rows["episode_index"]) == {0, 1, 2}
    assert len(rows[0]["action"]) == 2 and len(rows[0]["proprio"]) == 2 and rows[0]["image"].size == (16, 16)
    assert main(["collect", *args]) == 1  # an output folder with files is refused

    overrides = ",".join(f"{k}={json.dumps(v)}" for k, v in TINY.items())
    model = tmp_path / "model"
    pretrain = ["pretrain", "--method", "lewm", "--dataset", str(data), "--config_overrides", overrides]
    assert main([*pretrain, "--max_steps", "2", "--per_device_train_batch_size", "4", "--output_dir", str(model)]) == 0

    out = tmp_path / "plan"
    small = ["--episodes", "2", "--num_samples", "8", "--num_iterations", "2", "--num_elites", "2", "--videos", "1"]
    assert main(["plan", "--model", str(model), "--output_dir", str(out), *small]) == 0
    results = json.loads((out / "plan_results.json").read_text())
    assert results["lewm"]["plans"] == 2 and len(results["lewm"]["episode_lengths"]) == 2  # budget 50 = 2 x 25
    assert 0 <= results["random"]["success_rate"] <= 1 and (out / "plan_episodes.gif").exists()

    # Actions of another size than the environment's are refused before any planning.
    other = tmp_path / "other"
    three = ["--dataset", _three_dim_actions(tmp_path), "--config_overrides", overrides + ",action_dim=3"]
    run = ["--max_steps", "1", "--per_device_train_batch_size", "4", "--output_dir", str(other)]
    assert main(["pretrain", "--method", "lewm", *three, *run]) == 0
    from hf_jepa.world.plan import plan

    with pytest.raises(ValueError, match="actions of size 2 but the model was trained on actions of size 3"):
        plan(["--model", str(other), "--output_dir", str(tmp_path / "p2"), *small])
    with pytest.raises(ValueError, match="Unknown environment"):
        plan(["--model", str(model), "--env", "swm/NoSuchRoom-v0", "--output_dir", str(tmp_path / "p3")])


def _three_dim_actions(tmp_path) -> str:
    from .test_lewm_data import dot_trajectories

    path = tmp_path / "dot3"
    dot_trajectories(lengths=(30, 30), action_dim=3).save_to_disk(path)
    return str(path)
