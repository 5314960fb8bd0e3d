"""Several processes train one model: `torchrun` and `accelerate launch --multi_gpu` on CPU give real data parallelism
(gloo), only the main process evaluates, prints and writes, and a launch that would train copies is refused."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from transformers.training_args import ParallelMode

from hf_jepa.engine.launch import (
    DistributedLaunchError,
    check_distributed_launch,
    choose_ddp_backend,
    launched_world_size,
)

RUN = ["pretrain", "--max_steps", "2", "--per_device_train_batch_size", "16", "--random_init_baselines", "1"]
RUN += ["--config_overrides", "hidden_size=48,num_hidden_layers=1", "--disable_tqdm", "true", "--seed", "3"]
LAUNCHERS = {
    "torchrun": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    "accelerate": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"],
}


def clean_environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR")}
    return {**env, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", **extra}


def hf_jepa(launcher: list[str], *argv: str) -> subprocess.CompletedProcess:
    command = [*launcher, "-m", "hf_jepa.cli", *argv]
    result = subprocess.run(command, env=clean_environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.fixture(scope="module")
def single_process_half_batch(tmp_path_factory):
    """What each process of a launch that silently trained copies would have written."""
    folder = tmp_path_factory.mktemp("single") / "run"
    hf_jepa([sys.executable], *RUN, "--output_dir", str(folder))
    return SimpleNamespace(weights=load_file(folder / "model.safetensors"), files=files(folder), folder=folder)


def files(folder) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_two_processes_train_one_model_and_write_once(launcher, tmp_path, single_process_half_batch):
    single_weights, single_files = single_process_half_batch.weights, single_process_half_batch.files
    folder = tmp_path / "run"
    result = hf_jepa(LAUNCHERS[launcher], *RUN, "--output_dir", str(folder))
    assert result.stdout.count("Saved model, processor") == 1  # one report, by the main process
    assert result.stdout.count("kNN top-1") == 1
    # The same files as one process writes (nothing staged or left aside by a second writer); a checkpoint holds
    # one RNG state per process, so that a resumed run redraws each process's views.
    rng_states = {"checkpoint-2/rng_state_0.pth", "checkpoint-2/rng_state_1.pth"}
    assert files(folder) - rng_states == single_files - {"checkpoint-2/rng_state.pth"}
    assert rng_states <= files(folder)
    assert json.loads((folder / "eval_results.json").read_text())["train_batch_size"] == 32  # 2 x 16
    weights = load_file(folder / "model.safetensors")
    assert weights.keys() == single_weights.keys()
    differing = [k for k, v in weights.items() if not torch.allclose(v, single_weights[k])]
    assert differing, "the 2-process run equals a one-process run of half the batch: the processes trained copies"


def test_launched_world_size_reads_the_launchers_variables(monkeypatch):
    for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert launched_world_size() == 1
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")  # mpirun
    assert launched_world_size() == 4
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun first
    assert launched_world_size() == 2


def test_several_processes_on_a_cpu_machine_train_on_cpu_with_gloo(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    args = SimpleNamespace(ddp_backend=None, use_cpu=False, deepspeed=None)
    choose_ddp_backend(args)
    assert (args.use_cpu, args.ddp_backend) == (True, "gloo")
    given = SimpleNamespace(ddp_backend="mpi", use_cpu=True, deepspeed=None)
    choose_ddp_backend(given)
    assert given.ddp_backend == "mpi"  # a backend the user chose is kept
    monkeypatch.setenv("WORLD_SIZE", "1")
    alone = SimpleNamespace(ddp_backend=None, use_cpu=False, deepspeed=None)
    choose_ddp_backend(alone)
    assert (alone.use_cpu, alone.ddp_backend) == (False, None)  # one process: nothing changes


def test_a_launch_that_would_train_copies_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    copies = SimpleNamespace(parallel_mode=ParallelMode.NOT_PARALLEL, world_size=2, ddp_backend=None)
    with pytest.raises(DistributedLaunchError, match="2 processes.*--ddp_backend"):
        check_distributed_launch(copies, "hf-jepa pretrain")
    check_distributed_launch(SimpleNamespace(parallel_mode=ParallelMode.DISTRIBUTED, world_size=2), "x")


def test_accelerates_one_process_cpu_launch_of_several_is_refused(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    args = SimpleNamespace(parallel_mode=ParallelMode.NOT_PARALLEL, world_size=1, ddp_backend=None)
    check_distributed_launch(args, "hf-jepa pretrain")  # `accelerate launch --cpu` of one process: fine
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # what it sets when asked for several, then starts one
    with pytest.raises(DistributedLaunchError, match="torchrun --nproc_per_node N -m hf_jepa.cli pretrain"):
        check_distributed_launch(args, "hf-jepa pretrain")


def test_finetune_under_torchrun_is_one_data_parallel_run(tmp_path, single_process_half_batch):
    model = single_process_half_batch.folder
    folder = tmp_path / "probe"
    argv = ["finetune", "--model", str(model), "--mode", "linear", "--num_train_epochs", "1"]
    argv += ["--per_device_train_batch_size", "32", "--disable_tqdm", "true", "--output_dir", str(folder)]
    result = hf_jepa(LAUNCHERS["torchrun"], *argv)
    assert result.stdout.count("Saved to") == 1
    assert json.loads((folder / "eval_results.json").read_text())["train_batch_size"] == 64


def test_total_train_batch_size_sets_the_per_device_batch_or_says_what_divides(tmp_path, monkeypatch):
    from hf_jepa import SSLTrainingArguments
    from hf_jepa.engine.arguments import per_device_batch

    args = SSLTrainingArguments(tmp_path, total_train_batch_size=64, gradient_accumulation_steps=2, report_to="none")
    assert args.per_device_train_batch_size == 32  # one process here
    assert per_device_batch(256, world_size=8, accumulation=2) == 16
    with pytest.raises(ValueError, match=r"total_train_batch_size 100.*multiple of the 8 process\(es\).*Use 96"):
        per_device_batch(100, world_size=8, accumulation=1)
    with pytest.raises(ValueError, match="total_train_batch_size 64"):
        SSLTrainingArguments(tmp_path, total_train_batch_size=64, gradient_accumulation_steps=3, report_to="none")
