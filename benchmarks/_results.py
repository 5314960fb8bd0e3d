"""Helpers shared by the benchmark scripts: timing, the machine's description, Markdown tables, RESULTS.md, and the
training step the throughput scripts time.

Every script writes one section `## <title>` of RESULTS.md and replaces only that section when re-run.
"""

import argparse
import datetime
import functools
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from hf_jepa.engine.schedules import ema_update_

RESULTS_PATH = Path(__file__).with_name("RESULTS.md")
_HEADER = (
    "# Benchmark results\n\n"
    "Written by the scripts in `benchmarks/` (see README.md there); each script replaces only its own section.\n"
)


def _cpu_seconds() -> tuple[float, float, float] | None:
    """(busy CPU seconds of the whole machine, of this process, wall clock), or None off Linux."""
    try:
        with open("/proc/stat", encoding="utf-8") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    own = os.times()
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.monotonic()


_START = _cpu_seconds()


def restart_load_measurement() -> None:
    """Measure the other processes' share from now on (e.g. after this script's own subprocesses finished)."""
    global _START
    _START = _cpu_seconds()


def other_load() -> float | None:
    """Share of the machine's cores that other processes kept busy since this script started."""
    end = _cpu_seconds()
    if _START is None or end is None:
        return None
    machine, own, wall = (b - a for a, b in zip(_START, end))
    return max(machine - own, 0.0) / (wall * (os.cpu_count() or 1))


def busy_note() -> str:
    """A warning for the results when other processes kept more than 5% of the CPU busy during the run."""
    other = other_load()
    if other is None or other <= 0.05:
        return ""
    return (
        f"\n\n**The machine was busy: other processes used {100 * other:.0f}% of the CPU during this run, so the "
        "times are inflated and noisy (multi-threaded kernels suffer most); rerun on a quiet machine for reference "
        "numbers.**"
    )


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the script's docstring as written and shows every option's default."""


def make_parser(description: str) -> argparse.ArgumentParser:
    """The scripts' argument parser, with the options every benchmark shares."""
    parser = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    parser.add_argument(
        "--results", type=Path, default=RESULTS_PATH, help="Markdown file whose section this script updates."
    )
    parser.add_argument("--no-write", action="store_true", help="Only print, leave the results file alone.")
    return parser


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


@dataclass
class Timing:
    """Milliseconds per call: median and interquartile range of the timed calls `times`."""

    median: float
    q1: float
    q3: float
    times: list[float]

    @classmethod
    def of(cls, times: list[float]) -> "Timing":
        q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else times * 3
        return cls(statistics.median(times), q1, q3, times)

    def __str__(self) -> str:
        return f"{self.median:.3g} ({self.q1:.3g}–{self.q3:.3g})"


def time_ms(fns: dict[str, Callable[[], object]], warmup: int, reps: int, block: int = 5) -> dict[str, Timing]:
    """Wall time per call of each function after `warmup` untimed calls. Candidates take turns in blocks of `block`
    calls (a×5, b×5, a×5, ...) so that a slow spell of a shared machine hits every candidate alike; the first call of
    each block is not timed, since it pays for switching (idle OpenMP workers waking up after the other candidate's
    single-threaded Python loop). CUDA is synchronised around each call so the device's work is counted."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    while any(len(values) < reps for values in times.values()):
        for name, fn in fns.items():
            for call in range(block):
                _synchronize()
                start = time.perf_counter()
                fn()
                _synchronize()
                if (call > 0 or block == 1) and len(times[name]) < reps:
                    times[name].append((time.perf_counter() - start) * 1e3)
    return {name: Timing.of(values) for name, values in times.items()}


def time_samplers(
    official: tuple[str, Callable], ours: tuple[str, Callable], args: argparse.Namespace, warmup: int = 5
) -> tuple[list[torch.device], dict[tuple[str, torch.device], Timing]]:
    """Mask samplers, each given as (name, sampler) and called as `sampler(args.batch_size, device=, generator=)`
    with its own generator seeded `args.seed`, timed in turns (`args.reps` calls each after `warmup`): the official
    one on the CPU (first: the baseline), ours on the CPU and, when there is one, on the GPU. Returns the devices and
    {(name, device): timing}."""
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    calls = {}
    for name, sampler, device in [(*official, devices[0])] + [(*ours, device) for device in devices]:
        generator = torch.Generator(device=device).manual_seed(args.seed)
        calls[name, device] = functools.partial(sampler, args.batch_size, device=device, generator=generator)
    return devices, time_ms(calls, warmup=warmup, reps=args.reps)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(devices: list[torch.device]) -> str:
    """Date, torch, every device used, threads, and how busy other processes kept the CPU during the run (more
    than a few percent means the timings were skewed: rerun on a quiet machine)."""
    names = {device_name(torch.device("cpu"))} | {device_name(d) for d in devices}
    other = other_load()
    load = f" · other processes used {100 * other:.0f}% of the CPU during the run" if other is not None else ""
    return (
        f"{datetime.date.today().isoformat()} · torch {torch.__version__} · {' + '.join(sorted(names))} · "
        f"{torch.get_num_threads()} threads of {os.cpu_count()} cores{load}"
    )


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def compare_means(
    official: dict[str, torch.Tensor], ours: dict[str, torch.Tensor], labels: dict[str, str], max_z: float
) -> tuple[list[list[object]], bool]:
    """Same distribution? For each statistic of `labels` (per batch: [batches] or [batches, positions]), a table row
    (label, official, ours, difference, similar) and whether every statistic is similar: the difference of the means
    over batches is within `max_z` standard errors (at every position, for per-position statistics)."""
    rows, ok = [], True
    for name, label in labels.items():
        a, b = official[name], ours[name]
        mean_a, mean_b = a.mean(0), b.mean(0)
        standard_error = (a.var(0) / len(a) + b.var(0) / len(b)).sqrt().clamp(min=1e-12)
        z = float(((mean_a - mean_b).abs() / standard_error).max())
        diff = float((mean_a - mean_b).abs().max())
        ok &= z < max_z
        summary = "mean" if mean_a.ndim == 0 else "average"
        rows.append([label, f"{summary} {mean_a.mean():.4g}", f"{summary} {mean_b.mean():.4g}"])
        rows[-1] += [f"max abs {diff:.3g}, max z {z:.2f}", "yes" if z < max_z else "NO"]
    return rows, ok


def section_title(base: str) -> str:
    """GPU machines get their own sections, so a run there never overwrites the CPU numbers."""
    return f"{base} ({'CUDA' if torch.cuda.is_available() else 'CPU'} machine)"


def write_section(path: Path, title: str, body: str) -> None:
    """Replace `## title` (up to the next `## ` heading) in `path`, or append it; other sections stay as they are."""
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    section = f"## {title}\n\n{body.strip()}\n\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def report(args: argparse.Namespace, title: str, devices: list[torch.device], body: str) -> None:
    """Print the section and, unless `--no-write`, store it in the results file."""
    title = section_title(title)
    body = f"_{machine_line(devices)}_\n\n{body.strip()}"
    print(f"\n## {title}\n\n{body}\n")
    if not args.no_write:
        write_section(args.results, title, body)
        print(f"updated section '{title}' of {args.results}")


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(all parameters, trained parameters)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def fused_adamw(model: torch.nn.Module, weight_decay: float = 0.04, betas=(0.9, 0.999)) -> torch.optim.Optimizer:
    """The optimizer SSLTrainer runs: Trainer's default `adamw_torch_fused`, no decay on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=1e-4,
        betas=betas,
        weight_decay=weight_decay,
        fused=True,
    )


def training_step(
    model: torch.nn.Module,
    inputs: dict,
    args: argparse.Namespace,
    ema_momentum: float,
    on_outputs: Callable[[object], object] | None = None,
) -> Callable[[], None]:
    """One training step as SSLTrainer runs it (on `args.device`, bf16 autocast with `args.bf16`): forward with a
    seeded generator (the model samples its masks or noise from it), backward, fused AdamW, and the EMA update of the
    target for the models that have one (`ema_parameters`). `on_outputs` gets each step's outputs, after the step."""
    optimizer = fused_adamw(model)
    online, target = model.ema_parameters() if hasattr(model, "ema_parameters") else ([], [])
    generator = torch.Generator(device=args.device).manual_seed(0)

    def train_step():
        with torch.autocast(args.device.type, dtype=torch.bfloat16, enabled=args.bf16):
            outputs = model(**inputs, generator=generator, return_dict=True)
        outputs.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if target:
            with torch.no_grad():
                ema_update_(target, online, ema_momentum)
        if on_outputs is not None:
            on_outputs(outputs)

    return train_step
