"""MAE and DINO training steps of hf_jepa against the official training steps (restated in `reference_mae.py` and
`reference_dino.py`), same architecture, batch, inputs and machine, timed in turns in the same run.

MAE: ViT encoder on the 25% visible patches, decoder 512 wide x 8 deep (16 heads) over every patch, per-patch
normalised pixel loss on the hidden ones, backward, AdamW (betas 0.9 / 0.95). Both use the same per-step `noise`
(cycled through a list made once), so they hide the same patches.
DINO: teacher on the 2 global crops (224 px), student on those and 8 local crops (96 px), head of 65,536 prototypes
(MLP 2048, bottleneck 256), teacher temperature 0.04, center update, backward, gradient clipping 3.0, AdamW (no decay
on biases and norms), EMA of the teacher. Crops are random tensors made once.

Before timing, each official step is loaded with our weights and must give the same loss on the same inputs, so both
compute the same thing. Our step is what SSLTrainer runs: forward, backward, `clip_grad_norm_` (Trainer's global-norm
clipping at `max_grad_norm`: its default 1.0 for MAE, 3.0 in our DINO recipe), fused AdamW, and for DINO the fused EMA
update `ema_update_`.
"""

import gc

import reference_dino
import reference_mae
import torch
from _results import fused_adamw, make_parser, markdown_table, report, time_ms

from hf_jepa import DINOSSLConfig, DINOSSLForPreTraining, MAESSLConfig, MAESSLForPreTraining
from hf_jepa.engine.schedules import ema_update_

GOAL = 0.8  # DESIGN.md: at most 0.8x the official step time on the same hardware
TOLERANCE = 1e-5  # relative and absolute, on the loss
NUM_LOCAL, LOCAL_SIZE, TEACHER_TEMPERATURE, EMA_MOMENTUM = 8, 96, 0.04, 0.996


def agreement(ours: torch.Tensor, theirs: torch.Tensor) -> tuple[bool, str]:
    diff = (ours - theirs).abs().item()
    ok = diff <= TOLERANCE * (1 + abs(theirs.item()))
    return ok, f"ours {ours.item():.6f}, official {theirs.item():.6f}, |difference| {diff:.1e}"


def compare_mae(args) -> tuple[dict, tuple]:
    dim, depth, heads = args.hidden
    config = MAESSLConfig(
        image_size=args.image_size,
        patch_size=16,
        hidden_size=dim,
        num_hidden_layers=depth,
        num_attention_heads=heads,
        decoder_hidden_size=512,
        decoder_num_hidden_layers=8,
        decoder_num_attention_heads=16,
        mask_ratio=0.75,
    )
    torch.manual_seed(0)
    model = MAESSLForPreTraining(config).train()
    official = reference_mae.OfficialMAEStep(args.image_size, 16, dim, depth, heads, 512, 8, 16, mask_ratio=0.75)
    reference_mae.load_ours(official.model, model)

    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=generator)
    num_patches = (args.image_size // 16) ** 2
    noises = [torch.rand(args.batch_size, num_patches, generator=generator) for _ in range(16)]
    with torch.no_grad():  # the same function of the same weights
        ok, detail = agreement(model(images, noise=noises[0]).loss, official.model(images, noise=noises[0])[0])

    optimizer = fused_adamw(model, 0.05, betas=(0.9, 0.95))
    params = [p for p in model.parameters() if p.requires_grad]
    counter = {"ours": 0, "official": 0}

    def our_step():
        noise = noises[counter["ours"] % len(noises)]
        counter["ours"] += 1
        model(images, noise=noise).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def official_step():
        official(images, noises[counter["official"] % len(noises)])
        counter["official"] += 1

    timings = time_ms({"official": official_step, "hf_jepa": our_step}, warmup=1, reps=args.steps, block=2)
    return timings, ("MAE", "decoder 512 × 8 (16 heads), mask ratio 0.75, norm_pix_loss", ok, detail)


def compare_dino(args) -> tuple[dict, tuple]:
    dim, depth, heads = args.hidden
    config = DINOSSLConfig(
        image_size=args.image_size,
        patch_size=16,
        hidden_size=dim,
        num_hidden_layers=depth,
        num_attention_heads=heads,
        head_output_size=65536,
        head_hidden_size=2048,
        head_bottleneck_size=256,
        num_global_crops=2,
        num_local_crops=NUM_LOCAL,
        local_crop_size=LOCAL_SIZE,
    )
    torch.manual_seed(0)
    model = DINOSSLForPreTraining(config).train()
    official = reference_dino.OfficialDINOStep(
        args.image_size, 16, dim, depth, heads, ncrops=2 + NUM_LOCAL, teacher_temp=TEACHER_TEMPERATURE
    )
    reference_dino.load_ours(official, model)

    generator = torch.Generator().manual_seed(1)
    global_crops = torch.randn(args.batch_size, 2, 3, args.image_size, args.image_size, generator=generator)
    local_crops = torch.randn(args.batch_size, NUM_LOCAL, 3, LOCAL_SIZE, LOCAL_SIZE, generator=generator)
    # The official loader yields a list of per-crop batches, global crops first.
    crops = [global_crops[:, i].contiguous() for i in range(2)] + [
        local_crops[:, i].contiguous() for i in range(NUM_LOCAL)
    ]

    backbones = (official.student.backbone, official.teacher.backbone)
    model.eval()  # eval only so that this check leaves our center where it is (drop-path is 0)
    with torch.no_grad():
        ours_loss = model(global_crops, local_crops, teacher_temperature=TEACHER_TEMPERATURE).loss
        for backbone in backbones:  # resize the position table as we do: the same function, checked on all crops
            backbone.pos_interpolation = "size"
        ok, detail = agreement(ours_loss, official.loss(crops, update_center=False))
        for backbone in backbones:  # timed as the official code resizes it (same cost, slightly other values)
            backbone.pos_interpolation = "official"
        official_interp = official.loss(crops, update_center=False).item()
    model.train()
    detail += (
        f"; with the official `scale_factor` interpolation of the position table for the 96 px crops the official "
        f"loss is {official_interp:.6f}"
    )

    optimizer = fused_adamw(model, 0.04)
    params = [p for p in model.parameters() if p.requires_grad]
    online, target = model.ema_parameters()

    def our_step():
        model(global_crops, local_crops, teacher_temperature=TEACHER_TEMPERATURE).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 3.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            ema_update_(target, online, EMA_MOMENTUM)

    def official_step():
        official(crops)

    timings = time_ms({"official": official_step, "hf_jepa": our_step}, warmup=1, reps=args.steps, block=2)
    views = f"head 65,536 (MLP 2048, bottleneck 256), 2×{args.image_size} + {NUM_LOCAL}×{LOCAL_SIZE} crops"
    return timings, ("DINO", views, ok, detail)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--hidden", type=int, nargs=3, default=[192, 12, 3], help="width, depth, heads (ViT-Tiny)")
    parser.add_argument("--steps", type=int, default=4, help="Timed steps of each (median reported).")
    parser.add_argument("--methods", nargs="+", choices=["mae", "dino"], default=["mae", "dino"])
    args = parser.parse_args()

    rows, checks = [], []
    for method in args.methods:
        timings, (name, recipe, ok, detail) = (compare_mae if method == "mae" else compare_dino)(args)
        gc.collect()  # free this method's two models before building the next pair
        base, ours = timings["official"], timings["hf_jepa"]
        ratio = ours.median / base.median
        checks.append(f"- {name}: **{'yes' if ok else 'NO'}** ({detail}).")

        def seconds(timing):
            return f"{timing.median / 1e3:.3g} ({timing.q1 / 1e3:.3g}–{timing.q3 / 1e3:.3g})"

        rows += [
            [
                f"official {name} step (reference_{method}.py)",
                recipe,
                seconds(base),
                f"{args.batch_size / (base.median / 1e3):.2f}",
                "1.00×",
                "baseline",
            ],
            [
                f"hf_jepa {name}SSLForPreTraining step",
                recipe,
                seconds(ours),
                f"{args.batch_size / (ours.median / 1e3):.2f}",
                f"{ratio:.2f}×",
                f"≤ {GOAL}×: {'met' if ratio <= GOAL else 'NOT met'}",
            ],
        ]
    dim, depth, heads = args.hidden
    body = (
        f"ViT {dim}/{depth}/{heads} (patch 16) at {args.image_size} px, batch {args.batch_size}, fp32; per method "
        f"1 warm-up step each, then {args.steps} timed steps each, taking turns in blocks of 2 (first of a block "
        "untimed), on the same inputs (MAE: the same noise, so the same hidden patches; DINO: the same crops, random "
        "tensors made once). Ours: forward, backward, Trainer's global-norm clipping, fused AdamW (+ fused EMA for "
        "DINO). Official: as restated in the reference files (explicit attention, default AdamW, per-parameter "
        "loops). Same loss on the same weights and inputs before timing (tolerance 1e-5 × (1 + |loss|)):\n\n"
        + "\n".join(checks)
        + "\n\n"
        + markdown_table(["step", "config", "s / step: median (IQR)", "images / s", "time vs official", "goal"], rows)
    )
    report(args, "MAE and DINO steps: hf_jepa vs official", [torch.device("cpu")], body)


if __name__ == "__main__":
    main()
