"""V-JEPA training throughput of `VJEPASSLForPreTraining`, with the I-JEPA step of the same ViT at the same token
budget timed in turns in the same run as the baseline. One step = what SSLTrainer does per optimizer step: forward
(masks of both mask sets sampled by the model from a seeded generator), backward, fused AdamW step, and the EMA update
of the target encoder (`ema_update_` over `model.ema_parameters()`).

Models: `default` is `hf-jepa pretrain`'s tiny V-JEPA (`METHODS["vjepa"].default_config`: 8 frames of 32 px in 2x8x8
tubelets, 64 tokens a clip, batch 64) against the tiny I-JEPA default (32 px in 4 px patches, 64 tokens an image, the
same widths and depths); `tiny` is ViT-Tiny/16 on 16 frames of 224 px in 2x16x16 tubelets (1,568 tokens a clip) with
a 384-wide, 6-deep predictor (DESIGN.md's speed-target predictor), batch 2, against I-JEPA's ViT-Tiny/16 step at
224 px with the same predictor at batch 16 (196 tokens an image: 3,136 tokens a step either way, DESIGN.md's speed-
target configuration); `large` (CUDA only) is ViT-L/16 on 16 frames of 224 px with the official 384-wide, 12-deep
predictor at the official per-GPU batch of 24 clips, against I-JEPA ViT-L/16 at 192 images.

Why I-JEPA as the baseline: it shares the backbone, trainer and predictor code, and at the same token budget the
ratio says what V-JEPA's objective itself costs (two mask sets, each with its own context-encoder and predictor pass;
long predictor sequences: every token of the clip is a context or a target token); its ViT-Tiny/16 step is also the
one whose official time DESIGN.md records (3.5 s), which turns the ratio into an expected cost.

Reports seconds per step, clips (or images) and tokens per second, time relative to the I-JEPA step (median of the
ratios within each round of turns), parameter counts, the mean context and target lengths the model sampled, and peak
memory: measured in a fresh subprocess per row (peak RSS from /proc/self/status VmHWM with glibc's mmap threshold
fixed, so freed tensors leave RSS; on CUDA `torch.cuda.max_memory_allocated`), as `bench_methods_throughput.py`.
"""

import argparse
import gc
import json
import math
import statistics

import torch
from _memory import MEMORY_HEADERS, measure_memory, memory_cells, memory_how, resident_bytes, step_memory
from _results import (
    busy_note,
    default_device,
    make_parser,
    markdown_table,
    parameter_counts,
    report,
    time_ms,
    training_step,
)

from hf_jepa import IJEPASSLConfig, IJEPASSLForPreTraining, VJEPASSLConfig, VJEPASSLForPreTraining
from hf_jepa.registry import METHODS

# name: (label, encoder (hidden size, layers, heads) or None for the registry defaults, predictor depth, V-JEPA batch)
MODELS = {
    "default": ("registry default (tiny)", None, None, 64),
    "tiny": ("ViT-Tiny/16", (192, 12, 3), 6, 2),
    "large": ("ViT-L/16", (1024, 24, 16), 12, 24),
}
CUDA_ONLY = {"large"}
STEPS = ("vjepa", "ijepa")
EMA_MOMENTUM = {"vjepa": 0.998, "ijepa": 0.996}  # the official starting momenta
IMAGE_SIZE, NUM_FRAMES, TUBELET = 224, 16, 2


def build_config(step: str, name: str):
    """The V-JEPA config of model `name`, or the I-JEPA config of the same ViT."""
    _, encoder, predictor_depth, _ = MODELS[name]
    if encoder is None:
        return (VJEPASSLConfig if step == "vjepa" else IJEPASSLConfig)(**METHODS[step].default_config)
    hidden, layers, heads = encoder
    backbone = dict(image_size=IMAGE_SIZE, patch_size=16, hidden_size=hidden, num_hidden_layers=layers)
    backbone.update(num_attention_heads=heads, predictor_hidden_size=384, predictor_num_hidden_layers=predictor_depth)
    if step == "vjepa":  # predictor heads: the config's default, 12 (official V-JEPA 2)
        return VJEPASSLConfig(**backbone, num_frames=NUM_FRAMES, tubelet_size=TUBELET)
    return IJEPASSLConfig(**backbone, predictor_num_attention_heads=heads)  # officially the encoder's head count


def tokens_per_sample(config) -> int:
    return math.prod(config.token_grid_size)


def batch_sizes(name: str, args: argparse.Namespace) -> dict[str, int]:
    """V-JEPA's batch, and I-JEPA's batch with the same number of tokens."""
    clips = args.batch_size or MODELS[name][3]
    per_clip, per_image = (tokens_per_sample(build_config(step, name)) for step in STEPS)
    if clips * per_clip % per_image:
        raise SystemExit(
            f"{name}: {clips} clips of {per_clip} tokens are not a whole number of {per_image}-token images"
        )
    return {"vjepa": clips, "ijepa": clips * per_clip // per_image}


def build_model(step: str, name: str, device: torch.device) -> torch.nn.Module:
    config = build_config(step, name)
    model = (VJEPASSLForPreTraining if step == "vjepa" else IJEPASSLForPreTraining)(config)
    return model.to(device).train()


def make_inputs(step: str, config, batch: int, device: torch.device) -> dict:
    """The step's batch, made once: clips [B, T, C, H, W] for V-JEPA, images [B, C, H, W] for I-JEPA."""
    generator = torch.Generator(device=device).manual_seed(1)
    height, width = (config.image_size,) * 2 if isinstance(config.image_size, int) else config.image_size
    if step == "vjepa":
        shape, key = (batch, config.num_frames, config.num_channels, height, width), "pixel_values_videos"
    else:
        shape, key = (batch, config.num_channels, height, width), "pixel_values"
    return {key: torch.randn(shape, device=device, generator=generator)}


def make_step(step: str, model: torch.nn.Module, inputs: dict, args: argparse.Namespace, lengths: list | None = None):
    """One training step as SSLTrainer runs it (`_results.training_step`). With `lengths`, each step appends the
    context and target lengths of the masks the model sampled."""

    def record(outputs):
        if step == "vjepa":
            lengths.append([(context.shape[1], target.shape[1]) for context, target in outputs.masks])
        else:  # one context, [B, num_targets, Kt] targets
            lengths.append([(outputs.context_idx.shape[1], outputs.target_idx.shape[-1])])

    return training_step(model, inputs, args, EMA_MOMENTUM[step], record if lengths is not None else None)


def memory_worker(step: str, args: argparse.Namespace) -> dict:
    """Runs in its own process (see _memory.py): the memory of one row's step."""
    name = args.models[0]
    inputs = make_inputs(step, build_config(step, name), batch_sizes(name, args)[step], args.device)

    def build_step():
        model = build_model(step, name, args.device)
        return make_step(step, model, inputs, args), resident_bytes(model)

    return step_memory(args.device, build_step)


def mean_lengths(lengths: list, tokens: int) -> str:
    """'Kc / Kt' per mask set, averaged over the sampled steps."""
    per_set = zip(*lengths)
    return (
        ", ".join(
            f"{statistics.mean(c for c, _ in steps):.0f} / {statistics.mean(t for _, t in steps):.0f}"
            for steps in per_set
        )
        + f" of {tokens}"
    )


def benchmark(name: str, args: argparse.Namespace, memory: dict) -> tuple[list[list[object]], str]:
    label = MODELS[name][0]
    batches = batch_sizes(name, args)
    configs = {step: build_config(step, name) for step in STEPS}
    models = {step: build_model(step, name, args.device) for step in STEPS}
    counts = {step: parameter_counts(model) for step, model in models.items()}
    lengths = {step: [] for step in STEPS}
    fns = {
        step: make_step(
            step, models[step], make_inputs(step, configs[step], batches[step], args.device), args, lengths[step]
        )
        for step in STEPS
    }
    # Turns in blocks of 2 (vjepa x2, ijepa x2, ...), the first call of each untimed: a step right after the other
    # model's can be slower (its memory went cold), and a training run never switches.
    timings = time_ms(fns, warmup=args.warmup, reps=args.steps, block=2)
    del models, fns
    gc.collect()
    if args.device.type == "cuda":
        torch.cuda.empty_cache()

    baseline = timings["ijepa"]
    rows = []
    for step in STEPS:
        timing, batch = timings[step], batches[step]
        seconds = timing.median / 1e3
        ratio = statistics.median(t / b for t, b in zip(timing.times, baseline.times))
        tokens = tokens_per_sample(configs[step])
        total, trained = counts[step]
        rows.append(
            [
                "V-JEPA (2 mask sets)" if step == "vjepa" else "I-JEPA (baseline)",
                label,
                f"{batch} {'clips' if step == 'vjepa' else 'images'} × {tokens} tokens",
                f"{total / 1e6:.1f}M ({trained / 1e6:.1f}M)",
                f"{seconds:.3g} ({timing.q1 / 1e3:.3g}–{timing.q3 / 1e3:.3g})",
                f"{batch / seconds:.1f}",
                f"{batch * tokens / seconds:,.0f}",
                f"{ratio:.2f}×",
                mean_lengths(lengths[step], tokens),
                *memory_cells(memory.get(step)),
            ]
        )
    vjepa = timings["vjepa"].median / 1e3
    note = (
        f"{label}: {vjepa:.3g} s per V-JEPA step of {batches['vjepa']} clips, "
        f"{statistics.median(t / b for t, b in zip(timings['vjepa'].times, baseline.times)):.2f}× the I-JEPA step "
        f"at the same {batches['vjepa'] * tokens_per_sample(configs['vjepa'])} tokens"
    )
    return rows, note + "."


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=list(MODELS),
        default=["large"] if torch.cuda.is_available() else ["default", "tiny"],
        help="Models to time (large: CUDA only, skipped without it). Default: default tiny on a CPU, large on CUDA.",
    )
    parser.add_argument(
        "--batch-size", "--batch_size", type=int, help="V-JEPA clips per step (default 64 / 2 / 24); I-JEPA follows."
    )
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (meant for GPUs; fp32 weights).")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed steps of each model, before the turns.")
    parser.add_argument("--steps", type=int, default=5, help="Timed steps of each model (median reported).")
    parser.add_argument("--device", type=torch.device, default=default_device(), help="cuda when available.")
    parser.add_argument("--memory-worker", choices=STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker, args)))
        return

    skipped = [name for name in args.models if name in CUDA_ONLY and args.device.type != "cuda"]
    args.models = [name for name in args.models if name not in skipped]
    for name in skipped:
        print(f"{name}: skipped, it needs a CUDA device (found {args.device.type}).")
    if not args.models:
        return

    memory = measure_memory(__file__, STEPS, args)  # first, so nothing else runs while the steps are timed

    rows, notes = [], []
    for name in args.models:
        model_rows, note = benchmark(name, args, memory[name])
        rows += model_rows
        notes.append(note)
    table = markdown_table(
        [
            "step",
            "model",
            "batch",
            "parameters (trained)",
            "s / step: median (IQR)",
            "clips or images / s",
            "tokens / s",
            "time vs I-JEPA (same run)",
            "mean Kc / Kt sampled (per mask set)",
            *MEMORY_HEADERS,
        ],
        rows,
    )
    precision = "bf16 autocast" if args.bf16 else "fp32"
    body = (
        f"{precision} on {args.device.type}. V-JEPA: rotary positions, the official two mask sets (8 blocks of 15% "
        "and 2 of 70% of the frame, whole clip), L1 loss; ViT-Tiny/16 runs 16 frames of 224 px in 2×16×16 tubelets "
        "with a 384 × 6 predictor (12 heads), ViT-L/16 a 384 × 12 one; the registry default is "
        "`METHODS['vjepa'].default_config` (8 frames of 32 px, 2×8×8 tubelets). Baseline: the I-JEPA step of the "
        "same ViT at the same token budget (sin-cos positions, 4 target blocks, same predictor width and depth with "
        "the encoder's head count; for the registry default, `METHODS['ijepa'].default_config`), timed in turns with "
        "V-JEPA: it shares backbone, predictor and trainer code, so the ratio is what V-JEPA's objective costs (two "
        "context-encoder and predictor passes per step, predictor sequences as long as the clip). One step = forward "
        "(masks sampled by the model from a seeded generator) + backward + fused AdamW (wd 0.04, none on biases and "
        f"norms) + EMA update (momentum {EMA_MOMENTUM['vjepa']} / {EMA_MOMENTUM['ijepa']}); inputs are random "
        f"tensors made once. {args.warmup} warm-up step(s) each, then {args.steps} timed steps each, taking turns "
        "in blocks of 2 (first of a block untimed); time vs I-JEPA is the median of the ratios within each round of "
        "turns. Kc / Kt: context and target lengths (equalised over the batch) of the masks sampled in the timed "
        f"steps. Peak memory, one fresh process per row: {memory_how(memory)}; so it counts weights, EMA target, "
        "gradients, AdamW state and activations but not the input batch; 'resident' is what stays between steps "
        "(computed: 4 bytes × (parameters + 2 × trained ones)), 'step adds' the activations and gradients. The other "
        "processes' share of the CPU above covers the timed part (the memory subprocesses run before it)."
        f"{busy_note()}\n\n{table}\n\n" + "\n".join(f"- {note}" for note in notes)
    )
    report(args, "V-JEPA training throughput", [args.device], body)


if __name__ == "__main__":
    main()
