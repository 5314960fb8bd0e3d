"""Runs a worker script in N CPU processes (torchrun, gloo) and collects what each rank saved.

Reusable by every method that reduces or gathers across processes: the worker writes `rank{R}.pt` into the folder
given as `--out`, the test compares ranks with each other and with a single-process run.
"""

import os
import subprocess
import sys
from pathlib import Path

import torch


def run_distributed(worker: Path, out: Path, nprocs: int = 2, args: tuple[str, ...] = (), timeout: int = 300):
    out.mkdir(parents=True, exist_ok=True)
    repo = str(Path(__file__).parents[2])  # workers import `tests.tiny`
    path = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": path}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nprocs}",
        str(worker),
        "--out",
        str(out),
        *args,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(
            f"distributed run failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in range(nprocs)]
