"""The I-JEPA main-job training step (tiny ViT, batch 128 of 32 px digits-sized images) three ways, each against
its baseline in the same run:

- `torch.compile` against eager, one process: the masks are drawn before the forward (`sample_masks`, as SSLTrainer
  does), so the compiled forward is one graph; compile time is reported apart from the step time.
- FSDP2 (`fully_shard` of every transformer block, then the root) against DDP, 2 processes (torchrun, gloo on CPU,
  nccl on CUDA), each taking half the batch.

Run: `python benchmarks/bench_distributed_step.py` (about 3 minutes on 2 CPU cores).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _results import default_device, make_parser, markdown_table, report, time_ms
from _sharded_step_worker import main_job_model, training_step

WORKER = Path(__file__).with_name("_sharded_step_worker.py")


def compile_step(compiled: bool, batch: int, device: torch.device):
    model = main_job_model().to(device)
    pixels = torch.randn(batch, 3, 32, 32, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    return training_step(model, torch.compile(model) if compiled else model, pixels, generator)


def compile_rows(batch: int, reps: int, device: torch.device) -> list[list]:
    steps = {"eager": compile_step(False, batch, device), "torch.compile": compile_step(True, batch, device)}
    start = time.perf_counter()
    for _ in range(3):  # compiles, and recompiles once as the mask lengths vary (then their sizes are dynamic)
        steps["torch.compile"]()
    compile_seconds = time.perf_counter() - start
    timings = time_ms(steps, warmup=2, reps=reps)
    eager = timings["eager"].median
    return [
        ["eager", str(timings["eager"]), "1.00", ""],
        ["torch.compile", str(timings["torch.compile"]), f"{eager / timings['torch.compile'].median:.2f}",
         f"{compile_seconds:.0f} s"],
    ]  # fmt: skip


def sharded_rows(batch: int, reps: int) -> list[list]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "times.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   str(WORKER), "--out", str(out), "--batch", str(batch), "--reps", str(reps)]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(max((os.cpu_count() or 2) // 2, 1))}
        subprocess.run(command, check=True, env=env)
        times = json.loads(out.read_text())["times_ms"]
    ddp = statistics.median(times["ddp"])
    return [[wrap, f"{statistics.median(values):.3g}", f"{ddp / statistics.median(values):.2f}"]
            for wrap, values in times.items()]  # fmt: skip


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    device = default_device()
    compiled = compile_rows(args.batch, args.reps, device)
    sharded = sharded_rows(args.batch, args.reps)
    body = (
        f"I-JEPA main-job step (tiny ViT 96 wide, 4 deep; batch {args.batch} of 32 px images; AdamW and the EMA "
        "update included), ms per step, median (quartiles). Speed-up = baseline / candidate.\n\n"
        "**torch.compile against eager** (one process):\n\n"
        + markdown_table(["step", "ms", "speed-up", "compile time"], compiled)
        + "\n\n**FSDP2 against DDP** (2 processes, half the batch each; the medians of rank 0's steps, timed between "
        "barriers):\n\n" + markdown_table(["wrapping", "ms", "speed-up"], sharded)
    )
    report(args, "Distributed and compiled steps", [device], body)


if __name__ == "__main__":
    main()
