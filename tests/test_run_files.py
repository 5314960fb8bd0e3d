"""Run folders: refused when they hold another run, cleared on request, locked while written; checkpoints and models
that appear only when complete; resumption from the newest complete checkpoint."""

import json
import logging
import os

import pytest
import torch
from safetensors.torch import save_file

from hf_jepa.engine.run_files import (
    LOCK_NAME,
    OutputFolderError,
    atomic_write_text,
    check_distinct_folders,
    checkpoint_problems,
    locked_output_dir,
    prepare_output_dir,
    resolve_resume_checkpoint,
    safetensors_problem,
    staged_folder,
    zip_problem,
)


def _checkpoint(folder, step, broken=None):
    """A checkpoint folder with the files Trainer writes; `broken` names one to truncate."""
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "ijepa_ssl"}))
    save_file({"w": torch.randn(64, 64)}, path / "model.safetensors")
    torch.save({"state": {0: {"exp_avg": torch.randn(64, 64)}}}, path / "optimizer.pt")
    torch.save({"last_epoch": step}, path / "scheduler.pt")
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if broken:
        data = (path / broken).read_bytes()
        (path / broken).write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("broken", ["model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"])
def test_truncated_files_make_a_checkpoint_incomplete(tmp_path, broken):
    complete = _checkpoint(tmp_path, 2)
    assert checkpoint_problems(str(complete)) == []
    problems = checkpoint_problems(str(_checkpoint(tmp_path, 4, broken)))
    assert len(problems) == 1 and problems[0].startswith(broken), problems


def test_latest_resumes_from_the_newest_complete_checkpoint_saying_what_it_skipped(tmp_path, caplog):
    _checkpoint(tmp_path, 2)
    _checkpoint(tmp_path, 4, broken="optimizer.pt")
    (tmp_path / "checkpoint-6").mkdir()  # killed while written, before any file
    with caplog.at_level(logging.INFO):
        assert resolve_resume_checkpoint("latest", str(tmp_path)) == str(tmp_path / "checkpoint-2")
    assert "Skipping" in caplog.text and "checkpoint-4" in caplog.text and "optimizer.pt" in caplog.text
    assert "checkpoint-6" in caplog.text and "no model.safetensors" in caplog.text
    for value in ("true", "True", "last"):
        assert resolve_resume_checkpoint(value, str(tmp_path)) == str(tmp_path / "checkpoint-2")
    assert resolve_resume_checkpoint(None, str(tmp_path)) is None


def test_an_explicit_incomplete_checkpoint_is_a_clear_error_naming_the_usable_one(tmp_path):
    _checkpoint(tmp_path, 2)
    broken = _checkpoint(tmp_path, 4, broken="model.safetensors")
    with pytest.raises(ValueError, match="model.safetensors: truncated") as error:
        resolve_resume_checkpoint(str(broken), str(tmp_path))
    assert "checkpoint-2" in str(error.value)


def test_latest_without_checkpoints_starts_afresh(tmp_path, caplog):
    assert resolve_resume_checkpoint("latest", str(tmp_path)) is None
    assert "starts from the beginning" in caplog.text


def test_safetensors_and_archive_checks(tmp_path):
    save_file({"a": torch.zeros(10)}, tmp_path / "ok.safetensors")
    assert safetensors_problem(str(tmp_path / "ok.safetensors")) is None
    (tmp_path / "short.safetensors").write_bytes((tmp_path / "ok.safetensors").read_bytes()[:-4])
    assert "truncated" in safetensors_problem(str(tmp_path / "short.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 16)
    assert "header" in safetensors_problem(str(tmp_path / "junk.safetensors"))
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "BadZipFile" in zip_problem(str(tmp_path / "empty.pt"))


def test_a_folder_holding_files_is_refused_cleared_only_of_what_runs_write(tmp_path):
    out = tmp_path / "run"
    prepare_output_dir(str(out), overwrite=False)  # absent: fine
    _checkpoint(out, 2)
    for name in ("config.json", "model.safetensors", "eval_results.json", "README.md"):
        (out / name).write_text("old run")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="not empty .*--overwrite_output_dir"):
        prepare_output_dir(str(out), overwrite=False)
    prepare_output_dir(str(out), overwrite=False, resuming=True)  # resuming in it is what the folder is for
    assert (out / "eval_results.json").exists()
    prepare_output_dir(str(out), overwrite=True)
    assert sorted(os.listdir(out)) == ["notes.txt"]  # another run's files gone, the user's own kept


def test_one_writer_per_folder(tmp_path):
    with locked_output_dir(str(tmp_path / "run")):
        assert (tmp_path / "run" / LOCK_NAME).read_text() == str(os.getpid())
        with pytest.raises(OutputFolderError, match=f"in use by another hf-jepa process \\(pid {os.getpid()}\\)"):
            with locked_output_dir(str(tmp_path / "run")):
                pass
    with locked_output_dir(str(tmp_path / "run")):  # released afterwards
        (tmp_path / "run" / "file").write_text("x")
    with locked_output_dir(str(tmp_path / "unused")):
        pass
    assert not (tmp_path / "unused").exists()  # a command that wrote nothing leaves no folder


def test_staged_folders_appear_complete_or_not_at_all(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with staged_folder(str(out)) as staging:
            (open(os.path.join(staging, "model.safetensors"), "w")).write("partial")
            raise RuntimeError("killed midway")
    assert os.listdir(out) == []  # nothing half-written, no staging folder left
    with staged_folder(str(out)) as staging:
        for name in ("model.safetensors", "config.json"):
            (open(os.path.join(staging, name), "w")).write(name)
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]
    atomic_write_text(str(out / "README.md"), "card")
    assert (out / "README.md").read_text() == "card" and sorted(os.listdir(out))[0] == "README.md"


def test_an_output_in_or_at_the_input_is_refused(tmp_path):
    check_distinct_folders(str(tmp_path / "a"), str(tmp_path / "b"))
    for output in (tmp_path / "a", tmp_path / "a" / "sub"):
        with pytest.raises(OutputFolderError, match="would overwrite what is being read"):
            check_distinct_folders(str(tmp_path / "a"), str(output))
