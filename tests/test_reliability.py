"""What a careless or hostile user can do to the commands, and what they must get: no code run from a folder, no run
lost or mixed with another, no diverged or stale model published, and clear errors before any training."""

import json
import os
import random
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from hf_jepa import METHODS
from hf_jepa.cli import evaluate, main, parse_pretrain_args
from hf_jepa.engine.divergence import DivergenceWatch
from hf_jepa.engine.run_files import locked_output_dir

REPO = Path(__file__).resolve().parents[1]
TINY = "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,predictor_hidden_size=16"
# A 6-step run that saves every 2 steps, with no evaluation (the tests are about the run's files).
RUN = ["--max_steps", "6", "--save_steps", "2", "--per_device_train_batch_size", "8", "--disable_tqdm", "true",
       "--logging_steps", "1", "--label_column", "none", "--config_overrides", TINY]  # fmt: skip


def weights(folder) -> dict:
    return load_file(os.path.join(folder, "model.safetensors"))


# ---- a folder's own code is never run ------------------------------------------------------------------------------
def _folder_with_code(folder: Path, marker: Path) -> Path:
    folder.mkdir()
    config = {"model_type": "evil_model", "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "preprocessor_config.json").write_text(json.dumps({"auto_map": {"AutoImageProcessor": "evil.E"}}))
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    return folder


@pytest.mark.parametrize("command", [["evaluate"], ["export", "--output_dir", "{out}"], ["push", "--repo_id", "a/b",
                                     "--dry-run", "{out}"], ["pretrain", "--model_name_or_path"]])  # fmt: skip
def test_a_folder_with_its_own_code_is_refused_and_never_run(command, tmp_path):
    marker = tmp_path / "code_ran"
    folder = _folder_with_code(tmp_path / "evil", marker)
    argv = [part.format(out=tmp_path / "out") for part in command]
    argv = argv + [str(folder)] if argv[-1] == "--model_name_or_path" else [*argv, "--model", str(folder)]
    if argv[0] == "pretrain":
        argv += ["--output_dir", str(tmp_path / "run")]
    run = subprocess.run(  # a user answering "y" to transformers' remote-code prompt, had there been one
        [sys.executable, "-m", "hf_jepa.cli", *argv], input="y\ny\n", capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 1, run.stderr[-2000:]
    assert "holds a `evil_model` model with its own code (auto_map), which hf_jepa never runs" in run.stderr
    assert not marker.exists()


def test_the_demo_refuses_a_folder_with_its_own_code(tmp_path):
    from hf_jepa.demo.loading import load_demo_model

    marker = tmp_path / "code_ran"
    with pytest.raises(ValueError, match="`evil_model` model"):
        load_demo_model(str(_folder_with_code(tmp_path / "evil", marker)))
    assert not marker.exists()


# ---- checkpoints, output folders, locks ----------------------------------------------------------------------------
def test_runs_checkpoint_by_default_and_resume_takes_latest_without_a_value():
    _, _, args = parse_pretrain_args(["--output_dir", "x"])
    assert args.save_strategy == "steps" and args.save_steps == 500 and args.save_total_limit == 2
    for argv in (["--resume_from_checkpoint"], ["--resume_from_checkpoint", "--max_steps", "3"]):
        _, _, args = parse_pretrain_args(["--output_dir", "x", *argv])
        assert args.resume_from_checkpoint == "latest"
    _, _, args = parse_pretrain_args(["--output_dir", "x", "--save_steps", "7"])
    assert (args.save_strategy, args.save_steps) == ("steps", 7)


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_has_its_own_default_output_folder(method):
    _, _, args = parse_pretrain_args(["--method", method])
    assert args.output_dir == os.path.join("outputs", method)


def test_a_used_folder_is_refused_cleared_on_request_and_locked_while_a_run_writes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "--output_dir", str(out), *RUN]) == 0
    first = weights(out)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint")) == ["checkpoint-4", "checkpoint-6"]
    assert main(["pretrain", "--method", "mae", "--output_dir", str(out), *RUN[:-2]]) == 1
    assert "is not empty" in capsys.readouterr().err and torch.equal(weights(out)["encoder.layernorm.weight"],
                                                                       first["encoder.layernorm.weight"])  # fmt: skip
    (out / "notes.txt").write_text("the user's own file")
    assert main(["pretrain", "--output_dir", str(out), "--overwrite_output_dir", "--seed", "1", *RUN]) == 0
    assert (out / "notes.txt").exists()  # the user's own file stays; the old run's are replaced by the new one's
    qkv = "encoder.layers.0.attn.qkv.weight"
    assert not torch.equal(weights(out)[qkv], first[qkv])
    assert json.loads((out / "config.json").read_text())["model_type"] == "ijepa_ssl"
    with locked_output_dir(str(out)):  # another run is writing there
        assert main(["pretrain", "--output_dir", str(out), "--overwrite_output_dir", *RUN]) == 1
    assert f"in use by another hf-jepa process (pid {os.getpid()})" in capsys.readouterr().err


def test_convert_and_export_refuse_a_used_folder(tmp_path, capsys):
    from tests.test_converters import OVERRIDES, official_file

    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "README.md").write_text("another model's card")
    convert = ["convert", "--from", "ijepa", str(official_file("ijepa")), "--config", json.dumps(OVERRIDES["ijepa"])]
    assert main([*convert, "--output_dir", str(tmp_path / "used")]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert main([*convert, "--output_dir", str(tmp_path / "m")]) == 0
    assert main(["export", "--model", str(tmp_path / "m"), "--output_dir", str(tmp_path / "used")]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path / "m"), "--output_dir", str(tmp_path / "m")]) == 1
    assert "would overwrite what is being read" in capsys.readouterr().err
    assert (tmp_path / "used" / "README.md").read_text() == "another model's card"


# ---- kills and full disks ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    assert main(["pretrain", "--output_dir", str(out), *RUN]) == 0
    return weights(out)


def _killed_then_resumed(point: str, out: Path) -> dict:
    driver = [sys.executable, str(REPO / "tests" / "fault_driver.py")]
    killed = subprocess.run([*driver, point, "--output_dir", str(out), *RUN], capture_output=True, text=True, cwd=REPO)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (out / "config.json").exists()  # no final model from a killed run
    for checkpoint in out.glob("checkpoint-*"):  # every checkpoint that exists is complete
        assert (checkpoint / "optimizer.pt").exists() and (checkpoint / "trainer_state.json").exists()
    assert main(["pretrain", "--output_dir", str(out), "--resume_from_checkpoint", *RUN]) == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]  # what the killed run was writing is gone
    return weights(out)


@pytest.mark.parametrize("point", ["step:3", "checkpoint:4"])
def test_a_killed_run_resumes_to_the_uninterrupted_weights(point, uninterrupted, tmp_path):
    resumed = _killed_then_resumed(point, tmp_path / "run")
    for name, value in uninterrupted.items():
        torch.testing.assert_close(resumed[name], value, atol=1e-6, rtol=0, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_a_run_killed_at_a_random_moment_resumes_to_the_uninterrupted_weights(seed, uninterrupted, tmp_path):
    resumed = _killed_then_resumed(f"after:{random.Random(seed).uniform(4.0, 9.0):.2f}", tmp_path / "run")
    for name, value in uninterrupted.items():
        torch.testing.assert_close(resumed[name], value, atol=1e-6, rtol=0, msg=name)


def test_a_full_disk_ends_with_a_clear_message_and_no_folder_that_looks_valid(tmp_path):
    def small_disk():  # every file this process writes stops at 64 KiB, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    out = tmp_path / "run"
    run = subprocess.run(
        [sys.executable, "-m", "hf_jepa.cli", "pretrain", "--output_dir", str(out), *RUN],
        capture_output=True, text=True, preexec_fn=small_disk, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr[-2000:]
    assert "could not read or write" in run.stderr and "File too large" in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists() or not [p for p in out.iterdir() if p.name in ("config.json", "model.safetensors")]
    assert not list(out.glob("checkpoint-*")) if out.exists() else True


# ---- divergence ----------------------------------------------------------------------------------------------------
def test_divergence_watch_names_the_first_blow_up_and_ignores_noise():
    watch = DivergenceWatch()
    for step, loss in enumerate([0.5, 0.45, 0.6, 0.4, 2.0, 0.3, 0.35, 0.9]):  # noise within a few times
        watch.observe("loss", torch.tensor(loss), step)
    assert watch.problem() is None
    for step, loss in enumerate([100.0, 400.0], start=8):
        watch.observe("loss", torch.tensor(loss), step)
    assert watch.problem().startswith("the loss grew to 100 at step 8")
    nan = DivergenceWatch()
    nan.observe("grad_norm", torch.tensor(1.0), 0)
    nan.observe("grad_norm", torch.tensor(float("nan")), 1)
    assert nan.problem() == "the grad_norm became non-finite (nan) at step 1"


def test_a_run_that_blows_up_stops_and_saves_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["pretrain", "--output_dir", str(out), "--learning_rate", "10", "--max_steps", "40", "--save_steps", "20"]
    argv += ["--per_device_train_batch_size", "32", "--disable_tqdm", "true", "--label_column", "none"]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert "Training diverged: the loss grew to" in error and "Lower --learning_rate" in error
    assert not out.exists()  # no checkpoint, no model, no card


# ---- clear errors before any training ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--config_overrides", "patch_size=0"], "must be positive"),
        (["--config_overrides", "target_scale=[0.1,0.2],hiden=1"], "has no field 'hiden'"),
        (["--gradient_accumulation_steps", "0"], "`--gradient_accumulation_steps` must be at least 1"),
        (["--crop_scale", "0.5"], "`--crop_scale` takes two numbers"),
        (["--eval_batch_size", "0"], "`--eval_batch_size` must be positive"),
        (["--max_steps", "0"], "`--max_steps` must be positive"),
        (["--load_size", "0"], "`--load_size` must be positive"),
        (["--method", "vjepa", "--frames_per_clip", "0"], "`--frames_per_clip` must be positive"),
        (["--method", "dino", "--config_overrides", "local_crop_size=64"], "`local_crop_size` (64) must be positive"),
    ],
)
def test_bad_arguments_are_clear_errors_before_training(argv, message, tmp_path, capsys):
    code = main(["pretrain", "--output_dir", str(tmp_path / "run"), *argv])
    assert code == 1 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_list_valued_config_overrides_parse():
    from hf_jepa.cli.arguments import parse_overrides

    config_class = METHODS["ijepa"].config_class
    parsed = parse_overrides("target_scale=[0.9, 1.0],context_scale=[0.8,1.0],min_keep=3", config_class)
    assert parsed == {"target_scale": [0.9, 1.0], "context_scale": [0.8, 1.0], "min_keep": 3}


def _image_folder(root: Path, classes: list[str]):
    for name in classes:
        folder = root / name if name else root
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(6):
            pixels = np.random.default_rng(i).integers(0, 255, (20, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"img{i}.png")


def test_a_single_class_is_refused_before_training_and_a_flat_folder_trains_unlabelled(tmp_path, capsys):
    _image_folder(tmp_path / "one_class", ["cats"])
    code = main(["pretrain", "--output_dir", str(tmp_path / "a"), "--dataset", str(tmp_path / "one_class")])
    assert code == 1 and "has 1 class in the training split" in capsys.readouterr().err
    _image_folder(tmp_path / "flat", [""])
    run = [*RUN[:1], "2", *RUN[2:]]
    assert main(["pretrain", "--output_dir", str(tmp_path / "b"), "--dataset", str(tmp_path / "flat"), *run]) == 0
    assert "No label column" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncated weights", "invalid config"])
def test_damaged_folders_are_clear_errors_in_every_command(damage, tmp_path, capsys):
    assert main(["pretrain", "--output_dir", str(tmp_path / "m"), *RUN]) == 0
    if damage == "truncated weights":
        data = (tmp_path / "m" / "model.safetensors").read_bytes()
        (tmp_path / "m" / "model.safetensors").write_bytes(data[: len(data) // 3])
        expected = "model.safetensors: truncated"
    else:
        (tmp_path / "m" / "config.json").write_text("{not json")
        expected = "cannot be read as JSON"
    for argv in (["evaluate"], ["export", "--output_dir", str(tmp_path / "x")], ["push", "--repo_id", "a/b",
                 "--dry-run", str(tmp_path / "y")]):  # fmt: skip
        assert main([*argv, "--model", str(tmp_path / "m")]) == 1
        error = capsys.readouterr().err
        assert expected in error and "Traceback" not in error, argv
    from hf_jepa.demo.loading import load_demo_model

    with pytest.raises(ValueError, match=expected):
        load_demo_model(str(tmp_path / "m"))


def test_push_names_a_linked_or_unreadable_results_file(tmp_path, capsys):
    assert main(["pretrain", "--output_dir", str(tmp_path / "m"), *RUN]) == 0
    (tmp_path / "elsewhere.json").write_text(json.dumps({"knn_top1": 0.99}))
    os.symlink(tmp_path / "elsewhere.json", tmp_path / "m" / "eval_results.json")
    assert main(["push", "--model", str(tmp_path / "m"), "--repo_id", "a/b", "--dry-run", str(tmp_path / "d")]) == 1
    assert "eval_results.json" in capsys.readouterr().err
    os.remove(tmp_path / "m" / "eval_results.json")
    (tmp_path / "m" / "eval_results.json").write_text("{broken")
    assert main(["push", "--model", str(tmp_path / "m"), "--repo_id", "a/b", "--dry-run", str(tmp_path / "d")]) == 1
    error = capsys.readouterr().err
    assert "eval_results.json` cannot be read" in error and "Traceback" not in error


def test_an_empty_checkpoint_file_is_a_clear_error_in_convert(tmp_path, capsys):
    (tmp_path / "empty.pth").write_bytes(b"")
    assert main(["convert", "--from", "mae", str(tmp_path / "empty.pth"), "--output_dir", str(tmp_path / "o")]) == 1
    error = capsys.readouterr().err
    assert "empty.pth" in error and "Traceback" not in error


def test_the_baseline_is_the_runs_own_initial_weights(tmp_path, capsys):
    """`hf-jepa evaluate` rebuilds the run's starting weights from the seed its eval_results.json records: its
    random-init numbers equal the run's own, which it measured on the snapshot taken before training."""
    out = tmp_path / "run"
    run = [*RUN[:1], "3", *RUN[2:8], "--eval_batch_size", "512", "--config_overrides", TINY]
    assert main(["pretrain", "--output_dir", str(out), *run]) == 0
    printed = capsys.readouterr().out
    recorded = json.loads((out / "eval_results.json").read_text())
    assert recorded["init_seed"] == 42 and recorded["random_init_spread"]["knn_top1"]["n"] == 3
    assert "raw pixels" in printed and 0.9 < recorded["raw_pixels_knn_top1"] <= 1.0
    evaluated = evaluate(["--model", str(out), "--batch_size", "512"])
    for key in ("knn_top1", "linear_probe_top1", "random_init_knn_top1", "random_init_linear_probe_top1"):
        assert evaluated[key] == recorded[key], key
    assert evaluated["random_init_is_the_runs_own"] is True
