"""Peak memory of a training step, measured in a fresh subprocess per row of a benchmark's table.

A script that reports memory takes a hidden `--memory-worker ROW` option, next to `--models`, `--device`,
`--batch-size` and `--bf16`. `measure_memory` runs the script again with it, once per model and row, before anything
is timed; the worker builds that row's step, measures it with `step_memory` and prints the result as JSON on its last
line. A fresh process per row keeps one row's allocations (and the allocator's cached memory) out of the next one's
peak. On Linux the peak is VmHWM of /proc/self/status, on CUDA `torch.cuda.max_memory_allocated`.
"""

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable

import _results
import torch
from _results import parameter_counts

from hf_jepa.compare.memory import proc_status_kib, reset_peak_rss

# Fixed (not dynamic) glibc mmap threshold in the memory subprocesses: every allocation of 128 KiB or more gets its
# own mapping, returned to the OS when freed, so RSS follows the live tensors instead of keeping freed heap memory.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
MIB = 2**20


def resident_bytes(model: torch.nn.Module) -> int:
    """What a training step keeps between steps, computed: fp32 weights (+ EMA target) and AdamW's two moments."""
    total, trained = parameter_counts(model)
    return 4 * (total + 2 * trained)


def step_memory(device: torch.device, build_step: Callable[[], tuple[Callable[[], object], int]]) -> dict:
    """Runs in the worker process: bytes in use before `build_step()` (`base`), between two steps (`resident`:
    weights, EMA target, AdamW moments) and at the peak of the second step (`peak`). `build_step` makes the step
    (model, optimizer) and returns it with the resident bytes it expects (`computed`, 0 for none); whatever exists
    before the call, such as the inputs (the data loader's, not the step's), counts in `base`."""
    cuda = device.type == "cuda"

    def current() -> int:
        if cuda:
            torch.cuda.synchronize()
            return torch.cuda.memory_allocated(device)
        return 1024 * proc_status_kib("VmRSS")

    gc.collect()
    base = current()
    fn, computed = build_step()
    fn()  # allocates AdamW's state
    gc.collect()
    resident = current()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated(device)
        return {"how": "cuda", "base": base, "resident": resident, "peak": peak, "computed": computed}
    how = "VmHWM" if reset_peak_rss() else "ru_maxrss"
    fn()
    if how == "VmHWM":
        peak = 1024 * proc_status_kib("VmHWM")
    else:  # the peak of the whole process: model construction and the first step included
        peak = 1024 * resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"how": how, "base": base, "resident": resident, "peak": peak, "computed": computed}


def _run_worker(script: str, row: str, name: str, args: argparse.Namespace) -> dict | None:
    command = [sys.executable, os.path.abspath(script), "--memory-worker", row, "--models", name]
    command += ["--device", str(args.device), "--no-write"]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if args.bf16:
        command.append("--bf16")
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **MALLOC_ENV}, check=False)
    if result.returncode != 0:
        print(f"memory subprocess for {row} ({name}) failed:\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_memory(script: str, rows: tuple[str, ...], args: argparse.Namespace) -> dict[str, dict[str, dict | None]]:
    """{model: {row: step_memory's dict, or None where the worker failed}} for every model of `args.models`, one
    fresh process of `script` at a time, so nothing else runs while the steps are timed afterwards."""
    memory = {}
    for name in args.models:
        memory[name] = {row: _run_worker(script, row, name, args) for row in rows}
        print(f"memory measured for {name}: {sorted(k for k, v in memory[name].items() if v)}", flush=True)
    # The subprocesses' CPU time would count as "other processes" in the machine line: the share reported covers
    # the timed part of the run only.
    _results.restart_load_measurement()
    return memory


MEMORY_HEADERS = ["peak memory MiB", "resident between steps MiB: measured / computed", "step adds MiB"]


def memory_cells(memory: dict | None) -> list[str]:
    """The cells under MEMORY_HEADERS: peak, resident between steps (measured / computed), what the step adds; MiB
    above the process's baseline."""
    if not memory:
        return ["—", "—", "—"]
    peak, resident = (memory["peak"] - memory["base"]) / MIB, (memory["resident"] - memory["base"]) / MIB
    computed = f" / {memory['computed'] / MIB:.0f}" if memory.get("computed") else ""
    added = f"{(memory['peak'] - memory['resident']) / MIB:.0f}" if memory["how"] != "ru_maxrss" else "—"
    return [f"{peak:.0f}", f"{resident:.0f}{computed}", added]


def memory_how(memory: dict[str, dict[str, dict | None]]) -> str:
    """How the peak memory of `measure_memory`'s rows was measured, for the results' prose."""
    hows = {m["how"] for per_model in memory.values() for m in per_model.values() if m}
    if hows == {"cuda"}:
        return "`torch.cuda.max_memory_allocated` during the second step, minus what was allocated before"
    how = (
        "peak RSS of the second step (VmHWM of /proc/self/status, reset through /proc/self/clear_refs after the "
        f"first step; glibc's mmap threshold fixed at {int(MALLOC_ENV['MALLOC_MMAP_THRESHOLD_']) // 1024} KiB so "
        "freed tensors leave RSS), minus the RSS before the model was built"
    )
    if "ru_maxrss" in hows:
        how += " (where VmHWM could not be reset: `ru_maxrss` of the whole process, construction included)"
    return how
