"""Training throughput of MAE and DINO next to I-JEPA at the same backbone and image size (224 px), timed in turns
in the same run. One step = what SSLTrainer does per optimizer step: forward (masks or noise sampled by the model
from a seeded generator), backward, fused AdamW step, and the EMA update of the target (`ema_update_` over
`model.ema_parameters()`) for the methods that have one (I-JEPA, DINO; MAE has none).

Configs at DESIGN.md's speed-target settings: I-JEPA predictor 384 wide x 6 deep; MAE decoder 512 wide x 8 deep,
16 heads, mask ratio 0.75; DINO head 65,536 prototypes (MLP 2048, bottleneck 256), 2 global crops at 224 + 8 local
crops at 96 (random tensors made once, so the model step is timed), teacher temperature 0.04. The data-side cost of
DINO, `hf_jepa.MultiCropViews` on a batch of 256 px images, is timed as its own row.

Reports seconds per step, images/s, each step's time relative to I-JEPA's in the same run, the ratio to DESIGN.md's
reference time of the official code, parameter counts, and peak memory: measured in a fresh subprocess per method
(peak RSS from /proc/self/status VmHWM with glibc's mmap threshold fixed, so freed tensors leave RSS; on CUDA
`torch.cuda.max_memory_allocated`).
"""

import argparse
import gc
import json
import statistics

import torch
from _memory import MEMORY_HEADERS, measure_memory, memory_cells, memory_how, resident_bytes, step_memory
from _results import default_device, make_parser, markdown_table, parameter_counts, report, time_ms, training_step

from hf_jepa import (
    DINOSSLConfig,
    DINOSSLForPreTraining,
    IJEPASSLConfig,
    IJEPASSLForPreTraining,
    MAESSLConfig,
    MAESSLForPreTraining,
    MultiCropViews,
)

# name: (hidden size, layers, heads, default batch size), all with 16 px patches.
MODELS = {"tiny": (192, 12, 3, 16), "small": (384, 12, 6, 16), "base": (768, 12, 12, 64)}
METHODS = ("ijepa", "mae", "dino")
VIEWS = "views"  # the DINO data-side row
LABELS = {
    "ijepa": "I-JEPA (predictor 384 × 6)",
    "mae": "MAE (decoder 512 × 8, ratio 0.75)",
    "dino": "DINO (head 65,536; 2×224 + 8×96 crops)",
    VIEWS: "DINO data side: `MultiCropViews` (256 px → 2×224 + 8×96)",
}
# DESIGN.md "Speed targets": s / step of the official code on these 2-core machines, ViT-Tiny/16, batch 16, fp32.
REFERENCE = {"ijepa": 3.5, "mae": 3.7, "dino": 4.5}
GOAL = 0.8  # our time at most 0.8x the reference's
IMAGE_SIZE, LOCAL_SIZE, NUM_LOCAL, VIEWS_SOURCE_SIZE = 224, 96, 8, 256
TEACHER_TEMPERATURE, EMA_MOMENTUM = 0.04, 0.996


def build_model(method: str, name: str, device: torch.device) -> torch.nn.Module:
    hidden, layers, heads, _ = MODELS[name]
    backbone = {
        "image_size": IMAGE_SIZE,
        "patch_size": 16,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
    }
    if method == "ijepa":
        config = IJEPASSLConfig(
            **backbone,
            predictor_hidden_size=384,
            predictor_num_hidden_layers=6,
            predictor_num_attention_heads=heads,  # officially the encoder's head count
        )
        model = IJEPASSLForPreTraining(config)
    elif method == "mae":
        config = MAESSLConfig(
            **backbone,
            decoder_hidden_size=512,
            decoder_num_hidden_layers=8,
            decoder_num_attention_heads=16,
            mask_ratio=0.75,
        )
        model = MAESSLForPreTraining(config)
    else:
        config = DINOSSLConfig(
            **backbone,
            head_output_size=65536,
            head_hidden_size=2048,
            head_bottleneck_size=256,
            num_global_crops=2,
            num_local_crops=NUM_LOCAL,
            local_crop_size=LOCAL_SIZE,
        )
        model = DINOSSLForPreTraining(config)
    return model.to(device).train()


def make_inputs(method: str, batch: int, device: torch.device) -> dict:
    """The step's batch, made once: images for I-JEPA and MAE, precomputed random crops for DINO."""
    generator = torch.Generator(device=device).manual_seed(1)

    def images(*shape):
        return torch.randn(batch, *shape, device=device, generator=generator)

    if method == "dino":
        return {
            "global_crops": images(2, 3, IMAGE_SIZE, IMAGE_SIZE),
            "local_crops": images(NUM_LOCAL, 3, LOCAL_SIZE, LOCAL_SIZE),
            "teacher_temperature": TEACHER_TEMPERATURE,
        }
    return {"pixel_values": images(3, IMAGE_SIZE, IMAGE_SIZE)}


def make_views(batch: int, device: torch.device):
    """DINO's multi-crop views of a batch of normalised 256 px images, from a seeded generator."""
    views = MultiCropViews(IMAGE_SIZE, LOCAL_SIZE, num_local_crops=NUM_LOCAL)
    mean = torch.tensor(views.mean, device=device).reshape(1, 3, 1, 1)
    std = torch.tensor(views.std, device=device).reshape(1, 3, 1, 1)
    generator = torch.Generator(device=device).manual_seed(2)
    pixels = torch.rand(batch, 3, VIEWS_SOURCE_SIZE, VIEWS_SOURCE_SIZE, device=device, generator=generator)
    images = (pixels - mean) / std

    def make():
        return views(images, generator)

    return make


def memory_worker(method: str, args: argparse.Namespace) -> dict:
    """Runs in its own process (see _memory.py): the memory of one row's step."""
    name = args.models[0]
    batch = args.batch_size or MODELS[name][3]
    if method == VIEWS:
        views = make_views(batch, args.device)
        return step_memory(args.device, lambda: (views, 0))
    inputs = make_inputs(method, batch, args.device)

    def build_step():
        model = build_model(method, name, args.device)
        return training_step(model, inputs, args, EMA_MOMENTUM), resident_bytes(model)

    return step_memory(args.device, build_step)


def benchmark(name: str, args: argparse.Namespace, memory: dict) -> tuple[list[list[object]], str]:
    batch = args.batch_size or MODELS[name][3]
    models = {method: build_model(method, name, args.device) for method in METHODS}
    counts = {method: parameter_counts(model) for method, model in models.items()}
    fns = {m: training_step(models[m], make_inputs(m, batch, args.device), args, EMA_MOMENTUM) for m in METHODS}
    fns[VIEWS] = make_views(batch, args.device)
    # Turns in blocks of 2 (ijepa x2, mae x2, dino x2, views x2, ijepa x2, ...), the first call of each untimed: a
    # step right after another model's can be slower (its memory went cold), and a training run never switches.
    timings = time_ms(fns, warmup=args.warmup, reps=args.steps, block=2)
    del models, fns
    gc.collect()

    same_setup = args.device.type == "cpu" and not args.bf16 and name == "tiny" and batch == 16
    ijepa = timings["ijepa"]
    rows = []
    for method in (*METHODS, VIEWS):
        timing = timings[method]
        seconds = timing.median / 1e3
        # Paired within each round of turns (the i-th timed call of every method), so a slow spell of the shared
        # machine cancels out.
        ratio = statistics.median(t / i for t, i in zip(timing.times, ijepa.times))
        reference = REFERENCE.get(method) if same_setup else None
        vs_reference = "—"
        if reference:
            vs_reference = f"{seconds / reference:.2f}× ({'met' if seconds <= GOAL * reference else 'NOT met'})"
        total, trained = counts.get(method, (0, 0))
        rows.append(
            [
                LABELS[method],
                f"ViT-{name.capitalize()}/16",
                batch,
                f"{total / 1e6:.1f}M ({trained / 1e6:.1f}M)" if total else "—",
                f"{seconds:.3g} ({timing.q1 / 1e3:.3g}–{timing.q3 / 1e3:.3g})",
                f"{batch / seconds:.1f}",
                f"{ratio:.2f}×",
                *memory_cells(memory.get(method)),
                f"{reference:g}" if reference else "—",
                vs_reference,
            ]
        )
    dino, views = timings["dino"].median / 1e3, timings[VIEWS].median / 1e3
    note = (
        f"ViT-{name.capitalize()}/16: DINO step + its views = {dino + views:.3g} s per batch of {batch} images "
        f"(views {100 * views / dino:.0f}% of the DINO step)"
    )
    if same_setup:
        note += f", {(dino + views) / REFERENCE['dino']:.2f}× the official DINO step"
    return rows, note + "."


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["tiny"], help="Backbones (ViT-*/16).")
    parser.add_argument(
        "--batch-size", "--batch_size", type=int, help="Override the per-model default (tiny 16, small 16, base 64)."
    )
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (meant for GPUs; fp32 weights).")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed steps of each method, before the turns.")
    parser.add_argument("--steps", type=int, default=5, help="Timed steps of each method (median reported).")
    parser.add_argument("--device", type=torch.device, default=default_device(), help="cuda when available.")
    parser.add_argument("--memory-worker", choices=[*METHODS, VIEWS], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker, args)))
        return

    memory = measure_memory(__file__, (*METHODS, VIEWS), args)  # first, so nothing else runs while steps are timed

    rows, notes = [], []
    for name in args.models:
        model_rows, note = benchmark(name, args, memory[name])
        rows += model_rows
        notes.append(note)
    table = markdown_table(
        [
            "step",
            "backbone",
            "batch",
            "parameters (trained)",
            "s / step: median (IQR)",
            "images / s",
            "time vs I-JEPA (same run)",
            *MEMORY_HEADERS,
            "DESIGN.md official s / step",
            f"ours / official (goal ≤ {GOAL})",
        ],
        rows,
    )
    precision = "bf16 autocast" if args.bf16 else "fp32"
    body = (
        f"{IMAGE_SIZE} px, {precision} on {args.device.type}; one step = forward (masks or noise sampled by the "
        f"model from a seeded generator) + backward + fused AdamW (wd 0.04, none on biases and norms) + EMA update "
        f"(I-JEPA, DINO; momentum {EMA_MOMENTUM}). DINO's crops are random tensors made once (teacher temperature "
        f"{TEACHER_TEMPERATURE}); its data side, `MultiCropViews` on {VIEWS_SOURCE_SIZE} px images (colour jitter, "
        "grayscale, blur, solarize as the official recipe), is its own row. Images/s counts source images (a DINO "
        f"image is 10 crops). Methods timed in the same process after {args.warmup} warm-up step(s) each: "
        f"{args.steps} timed steps each, taking turns in blocks of 2 (first of a block untimed); time vs I-JEPA is "
        "the median of the ratios within each round of turns. Peak memory, one fresh process per row: "
        f"{memory_how(memory)}; so it counts weights, EMA target, "
        "gradients, AdamW state and activations but not the input batch; 'resident' is what stays between steps "
        "(computed: 4 bytes × (parameters + 2 × trained ones)), 'step adds' the activations and gradients. The "
        "official times come from DESIGN.md (measured earlier on this machine class, not in this run), so that "
        "ratio is indicative; the same-run ratio to I-JEPA is the reliable number. The other processes' share of the "
        f"CPU above covers the timed part (the memory subprocesses run before it).\n\n{table}\n\n"
        + "\n".join(f"- {note}" for note in notes)
    )
    report(args, "Training throughput: I-JEPA, MAE, DINO", [args.device], body)


if __name__ == "__main__":
    main()
