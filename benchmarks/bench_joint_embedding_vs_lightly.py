"""SimCLR, MoCo v3 and BYOL training steps of hf_jepa against lightly's implementation of the same method (lightly
1.6's heads, losses and momentum update on a timm ViT, built the way lightly's own ViT benchmarks build theirs), same
backbone size, heads, batch, inputs, optimizer and machine, timed in turns in the same run.

Backbone: ViT-Tiny/16 (192 wide, 12 layers, 3 heads, MLP 768, qkv bias, LayerNorm eps 1e-6, exact GELU, no
drop-path) at 224 px, CLS token after the final LayerNorm as the pooled feature, fixed 2-D sin-cos positions (no
position for CLS), fp32. Ours: `hf_jepa`'s encoder. Lightly's: timm's `VisionTransformer` as `vit_tiny_patch16_224`
builds it (fused SDPA attention, `num_classes=0`) wrapped in `lightly.models.modules.MaskedVisionTransformerTIMM`
(lightly's default sin-cos positions, not trained), as in lightly's `benchmarks/imagenet/vitb16/` (without
`dynamic_img_size`: every view is 224 px, so there is no position table to resample).

Heads and losses at our configs' defaults (the official ones):
- SimCLR: projector of 3 linears 192 -> 192 -> 192 -> 128, BatchNorm after each, ReLU between; NT-Xent at
  temperature 0.1 over the 2B views. Ours: `SimCLRSSLForPreTraining`, both views in one encoder call. Lightly:
  `SimCLRProjectionHead(192, 192, 128, num_layers=3)` + `NTXentLoss(temperature=0.1)`, both views concatenated
  through backbone and head (lightly's `benchmarks/imagenet/resnet50/simclr.py`). Ours sums both directions, lightly
  averages them: our loss = 2 x lightly's.
- MoCo v3: projector 3 linears (4096, 4096, 256) and predictor 2 linears (4096, 256), BatchNorm after every linear,
  ReLU between; momentum encoder + projector; InfoNCE of each view's queries against the other view's keys,
  temperature 0.2, times 2T, symmetrised; frozen patch projection (official `--stop-grad-conv1`) on both sides.
  Lightly 1.6 has no MoCo v3 model, predictor or loss: its side uses `MoCoProjectionHead(192, 4096, 256,
  num_layers=3, batch_norm=True)` as projector, `MoCoProjectionHead(256, 4096, 256, num_layers=2, batch_norm=True)`
  as predictor (the head's docstring: "in MoCo v3 all layers in both MLPs have BN"), the momentum copies built as in
  lightly's `examples/pytorch/moco.py` (`copy.deepcopy` + `deactivate_requires_grad`), each view through the
  networks separately as there, and the official `contrastive_loss` (moco-v3 `builder.py`) written out in torch.
- BYOL: projector and predictor linear -> BatchNorm -> ReLU -> linear (4096 hidden, 256 out); target encoder +
  projector; 2 - 2 cos of each view's prediction against the other view's target. Lightly: `BYOLProjectionHead(192,
  4096, 256)`, `BYOLPredictionHead(256, 4096, 256)`, `NegativeCosineSimilarity`, each view through student and
  teacher separately (lightly's `benchmarks/imagenet/resnet50/byol.py`; loss 2 * criterion per direction, so our
  loss = 4 + lightly's).

One step, both sides: forward, backward, the same AdamW (`torch.optim.AdamW(fused=True)`, lr 1e-4, weight decay
0.04, none on biases and norms: what SSLTrainer runs), and for MoCo v3 / BYOL the momentum update of encoder and
projector (ours: `ema_update_`, one `torch._foreach_lerp_`, after the optimizer step as SSLTrainer does it; lightly:
`update_momentum` on backbone and projection head at the start of the step, as its examples do), momentum 0.99
(MoCo v3) / 0.996 (BYOL). No gradient clipping on either side. Views are random tensors made once (augmentation is
excluded from both); lightly gets them as the list of per-view batches its collate functions yield.

Before timing, lightly's modules are loaded with our weights (ViT, heads, momentum copies) and must give our loss on
the same views (after the conventions above), so both compute the same objective; then both are timed in turns.
Each step's minor page faults are counted too: with glibc's default (dynamic) malloc thresholds, memory of freed
tensors goes back to the OS and is mapped in afresh the next step, a cost that depends on the sizes of the step's
tensors. `--malloc-no-trim` fixes the thresholds (heap up to 32 MiB, never trimmed) and writes its own section.
"""

import copy
import ctypes
import gc
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from _results import default_device, fused_adamw, make_parser, markdown_table, report, time_ms, training_step

from hf_jepa import METHODS

GOAL = 1.0  # project goal: no slower than lightly
TOLERANCE = 1e-4  # relative and absolute, on the loss (fp32, the two ViTs order their sums differently)
VIT_TINY = dict(hidden_size=192, num_hidden_layers=12, num_attention_heads=3)
EMA_MOMENTUM = {"mocov3": 0.99, "byol": 0.996}
TITLES = {"simclr": "SimCLR", "mocov3": "MoCo v3", "byol": "BYOL"}


def import_lightly():
    try:
        import lightly
        import timm
        from lightly import loss
        from lightly.models import modules, utils
    except ImportError as error:
        raise SystemExit(
            f"This benchmark needs lightly and timm ({error}). Install them without touching torch: "
            "`pip install --no-deps lightly timm` (lightly's heads, losses and utils need nothing else that the "
            "project lacks)."
        ) from None
    return lightly, timm, loss, modules, utils


# ---- lightly's side -------------------------------------------------------------------------------------------------
class LightlyTwoView(nn.Module):
    """A ViT-Tiny/16 backbone as lightly's ViT benchmarks build it, and the method's lightly heads (subclasses)."""

    def __init__(self, image_size: int, hidden: tuple[int, int, int]):
        super().__init__()
        _, timm, _, modules, _ = import_lightly()
        from timm.models.vision_transformer import VisionTransformer

        dim, depth, heads = hidden
        vit = VisionTransformer(
            img_size=image_size, patch_size=16, embed_dim=dim, depth=depth, num_heads=heads, num_classes=0
        )
        self.backbone = modules.MaskedVisionTransformerTIMM(vit=vit)
        self.vit_name = f"timm {timm.__version__} VisionTransformer"

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return []


class LightlySimCLR(LightlyTwoView):
    def __init__(self, image_size, hidden, config):
        super().__init__(image_size, hidden)
        _, _, loss, modules, _ = import_lightly()
        self.projection_head = modules.SimCLRProjectionHead(
            hidden[0], config.projection_hidden_size, config.projection_size, num_layers=config.projection_num_layers
        )
        self.criterion = loss.NTXentLoss(temperature=config.temperature)

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        features = self.backbone(torch.cat(views)).flatten(start_dim=1)
        z0, z1 = self.projection_head(features).chunk(len(views))
        return self.criterion(z0, z1)


class LightlyMoCoV3(LightlyTwoView):
    def __init__(self, image_size, hidden, config):
        super().__init__(image_size, hidden)
        _, _, _, modules, utils = import_lightly()
        self.temperature = config.temperature
        self.projection_head = modules.MoCoProjectionHead(
            hidden[0],
            config.projection_hidden_size,
            config.projection_size,
            num_layers=config.projection_num_layers,
            batch_norm=True,
        )
        self.prediction_head = modules.MoCoProjectionHead(
            config.projection_size,
            config.prediction_hidden_size,
            config.projection_size,
            num_layers=config.prediction_num_layers,
            batch_norm=True,
        )
        utils.deactivate_requires_grad(self.backbone.vit.patch_embed)  # MoCo v3's frozen patch projection
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        utils.deactivate_requires_grad(self.backbone_momentum)
        utils.deactivate_requires_grad(self.projection_head_momentum)

    def momentum_pairs(self):
        return [(self.backbone, self.backbone_momentum), (self.projection_head, self.projection_head_momentum)]

    def contrastive_loss(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """moco-v3 `builder.py` `contrastive_loss` (one process)."""
        q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
        logits = torch.einsum("nc,mc->nm", q, k) / self.temperature
        labels = torch.arange(logits.shape[0], dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits, labels) * (2 * self.temperature)

    def forward(self, views):
        x0, x1 = views
        q0 = self.prediction_head(self.projection_head(self.backbone(x0).flatten(start_dim=1)))
        q1 = self.prediction_head(self.projection_head(self.backbone(x1).flatten(start_dim=1)))
        with torch.no_grad():
            k0 = self.projection_head_momentum(self.backbone_momentum(x0).flatten(start_dim=1))
            k1 = self.projection_head_momentum(self.backbone_momentum(x1).flatten(start_dim=1))
        return self.contrastive_loss(q0, k1) + self.contrastive_loss(q1, k0)


class LightlyBYOL(LightlyTwoView):
    def __init__(self, image_size, hidden, config):
        super().__init__(image_size, hidden)
        _, _, loss, modules, utils = import_lightly()
        self.projection_head = modules.BYOLProjectionHead(
            hidden[0], config.projection_hidden_size, config.projection_size
        )
        self.prediction_head = modules.BYOLPredictionHead(
            config.projection_size, config.prediction_hidden_size, config.projection_size
        )
        self.teacher_backbone = copy.deepcopy(self.backbone)
        self.teacher_projection_head = copy.deepcopy(self.projection_head)
        utils.deactivate_requires_grad(self.teacher_backbone)
        utils.deactivate_requires_grad(self.teacher_projection_head)
        self.criterion = loss.NegativeCosineSimilarity()

    def momentum_pairs(self):
        return [(self.backbone, self.teacher_backbone), (self.projection_head, self.teacher_projection_head)]

    def forward_student(self, x):
        return self.prediction_head(self.projection_head(self.backbone(x).flatten(start_dim=1)))

    @torch.no_grad()
    def forward_teacher(self, x):
        return self.teacher_projection_head(self.teacher_backbone(x).flatten(start_dim=1))

    def forward(self, views):
        x0, x1 = views
        teacher_0, teacher_1 = self.forward_teacher(x0), self.forward_teacher(x1)
        student_0, student_1 = self.forward_student(x0), self.forward_student(x1)
        return 2 * self.criterion(teacher_0, student_1) + 2 * self.criterion(teacher_1, student_0)


LIGHTLY = {"simclr": LightlySimCLR, "mocov3": LightlyMoCoV3, "byol": LightlyBYOL}
# our loss = scale * lightly's + offset (the conventions in the docstring)
LOSS_CONVENTION = {"simclr": (2.0, 0.0), "mocov3": (1.0, 0.0), "byol": (1.0, 4.0)}


# ---- our weights into lightly's modules -----------------------------------------------------------------------------
@torch.no_grad()
def load_vit(wrapper: nn.Module, encoder: nn.Module) -> None:
    """Our encoder's weights into lightly's timm ViT (same layout: fused qkv, norm1/attn/norm2/mlp blocks); the CLS
    token gets no position, as ours."""
    renames = [
        ("embeddings.cls_token", "cls_token"),
        ("embeddings.patch_embeddings.projection.", "patch_embed.proj."),
        ("layers.", "blocks."),
        ("layernorm.", "norm."),
    ]
    state = {}
    for name, value in encoder.state_dict().items():
        for old, new in renames:
            if name.startswith(old):
                name = new + name[len(old) :]
                break
        state[name] = value
    table = encoder.embeddings.position_embeddings  # [patches, D], fixed
    state["pos_embed"] = torch.cat([table.new_zeros(1, table.shape[1]), table])[None]
    wrapper.vit.load_state_dict(state, strict=True)


@torch.no_grad()
def load_head(theirs: nn.Module, ours: nn.Module) -> None:
    """Linears and BatchNorms in order. Where lightly has a bias we don't, it is zeroed (BYOL's last linear); where we
    have one lightly doesn't (BYOL's hidden linears, before BatchNorm), it cancels in the BatchNorm; BatchNorms
    without a learned scale / shift on our side are the identity affine on lightly's."""
    their_linears = [m for m in theirs.modules() if isinstance(m, nn.Linear)]
    our_linears = [m for m in ours.modules() if isinstance(m, nn.Linear)]
    their_norms = [m for m in theirs.modules() if isinstance(m, nn.BatchNorm1d)]
    our_norms = [m for m in ours.modules() if hasattr(m, "running_mean")]
    if len(their_linears) != len(our_linears) or len(their_norms) != len(our_norms):
        raise RuntimeError(f"heads differ in structure:\n{theirs}\n{ours}")
    for a, b in zip(their_linears, our_linears):
        a.weight.copy_(b.weight)
        if a.bias is not None:
            a.bias.copy_(b.bias if b.bias is not None else torch.zeros_like(a.bias))
    for a, b in zip(their_norms, our_norms):
        a.weight.copy_(b.weight if b.weight is not None else torch.ones_like(a.weight))
        a.bias.copy_(b.bias if b.bias is not None else torch.zeros_like(a.bias))
        a.running_mean.copy_(b.running_mean)
        a.running_var.copy_(b.running_var)


def load_ours(lightly_model: nn.Module, model: nn.Module, method: str) -> None:
    load_vit(lightly_model.backbone, model.encoder)
    load_head(lightly_model.projection_head, model.projector)
    if method == "mocov3":
        load_vit(lightly_model.backbone_momentum, model.momentum_encoder)
        load_head(lightly_model.projection_head_momentum, model.momentum_projector)
    if method != "simclr":
        load_head(lightly_model.prediction_head, model.predictor)
    if method == "byol":
        load_vit(lightly_model.teacher_backbone, model.target_encoder)
        load_head(lightly_model.teacher_projection_head, model.target_projector)


# ---- the comparison -------------------------------------------------------------------------------------------------
def build_pair(method: str, args) -> tuple[nn.Module, nn.Module]:
    dim, depth, heads = args.hidden
    config = METHODS[method].config_class(
        image_size=args.image_size,
        patch_size=16,
        hidden_size=dim,
        num_hidden_layers=depth,
        num_attention_heads=heads,
    )
    torch.manual_seed(0)
    model = METHODS[method].pretraining_class(config).to(args.device).train()
    lightly_model = LIGHTLY[method](args.image_size, tuple(args.hidden), config)
    load_ours(lightly_model, model, method)
    return model, lightly_model.to(args.device).train()


def heads_label(method: str, config) -> str:
    def mlp(kind: str, hidden: int) -> str:
        layers = getattr(config, f"{kind}_num_layers")
        return f"{kind[:-3]}or {layers} linears (hidden {hidden}, out {config.projection_size})"

    label = mlp("projection", config.projection_hidden_size)
    if method != "simclr":
        label += ", " + mlp("prediction", config.prediction_hidden_size)
    if method != "byol":
        label += f", T {config.temperature}"
    if method == "mocov3":
        label += ", frozen patch projection"
    return label + (f", momentum {EMA_MOMENTUM[method]}" if method in EMA_MOMENTUM else "")


def lightly_step(lightly_model: nn.Module, views: list[torch.Tensor], momentum: float):
    _, _, _, _, utils = import_lightly()
    optimizer = fused_adamw(lightly_model)
    pairs = lightly_model.momentum_pairs()

    def step():
        for online, target in pairs:  # lightly's examples: momentum update first, then forward
            utils.update_momentum(online, target, m=momentum)
        loss = lightly_model(views)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def compare(method: str, args, crops: torch.Tensor, views: list[torch.Tensor]):
    model, lightly_model = build_pair(method, args)
    with torch.no_grad():
        ours = model(global_crops=crops).loss
        theirs = lightly_model(views)
    scale, offset = LOSS_CONVENTION[method]
    expected = scale * theirs + offset
    diff = (ours - expected).abs().item()
    ok = bool(torch.isfinite(ours)) and bool(torch.isfinite(theirs)) and diff <= TOLERANCE * (1 + abs(ours.item()))
    convention = {"simclr": "2 × lightly", "mocov3": "lightly", "byol": "4 + lightly"}[method]
    detail = (
        f"ours {ours.item():.6f}, lightly {theirs.item():.6f} (→ {convention} = {expected.item():.6f}), "
        f"|difference| {diff:.1e}"
    )
    print(f"{TITLES[method]} loss at init on the same weights and views: {detail} -> {'OK' if ok else 'MISMATCH'}")

    our_step = training_step(model, {"global_crops": crops}, args, EMA_MOMENTUM.get(method, 0.0))
    their_step = lightly_step(lightly_model, views, EMA_MOMENTUM.get(method, 0.0))
    if args.profile:
        profile(method, {"hf_jepa": our_step, "lightly": their_step})
    faults = {"lightly": [], "hf_jepa": []}
    steps = {
        name: counting_faults(step, faults[name]) for name, step in (("lightly", their_step), ("hf_jepa", our_step))
    }
    timings = time_ms(steps, warmup=args.warmup, reps=args.steps, block=2)
    for name, timing in timings.items():  # page faults per step, median over the steps after the warm-up
        counts = faults[name][args.warmup :]
        timing.faults = statistics.median(counts) if counts and counts[0] is not None else None
    label = heads_label(method, model.config)
    vit_name = lightly_model.vit_name
    del model, lightly_model, our_step, their_step
    gc.collect()
    return timings, label, ok, detail, vit_name


def minor_faults() -> int | None:
    try:
        import resource
    except ImportError:  # not Unix
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def counting_faults(step, counts: list):
    """`step`, also appending the minor page faults it caused (fresh memory the OS had to map in) to `counts`."""

    def counted():
        before = minor_faults()
        step()
        counts.append(None if before is None else minor_faults() - before)

    return counted


def fix_malloc_thresholds() -> bool:
    """glibc only: fixed thresholds instead of the dynamic ones. Allocations up to 32 MiB come from the heap, and
    freed heap memory is never given back to the OS (no trimming), so tensors reuse pages already mapped instead of
    faulting in fresh ones every step."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


def profile(method: str, steps: dict) -> None:
    """Where each step's time goes (printed only): torch.profiler's top operators by self CPU time, one step each."""
    from torch.profiler import ProfilerActivity, profile

    for name, step in steps.items():
        step()  # warm
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        print(f"\n--- {TITLES[method]} / {name}: one step, top operators by self CPU time ---")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def faults(timing) -> str:
    return "–" if timing.faults is None else f"{timing.faults / 1e3:.0f} k"


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--methods", nargs="+", choices=list(LIGHTLY), default=list(LIGHTLY))
    parser.add_argument("--batch-size", type=int, default=16, help="Images per step (2 views each).")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--hidden", type=int, nargs=3, default=[192, 12, 3], help="width, depth, heads (ViT-Tiny)")
    parser.add_argument("--steps", type=int, default=4, help="Timed steps of each side (median reported).")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed steps of each side first.")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads.")
    parser.add_argument("--device", type=torch.device, default=default_device())
    parser.add_argument("--profile", action="store_true", help="Also print a profile of one step of each side.")
    parser.add_argument(
        "--malloc-no-trim",
        action="store_true",
        help="Fix glibc malloc's thresholds (heap up to 32 MiB, never trimmed): no page faults from memory handed "
        "back to the OS and mapped in again every step.",
    )
    args = parser.parse_args()
    args.bf16 = False
    malloc = "glibc malloc defaults (dynamic mmap and trim thresholds)"
    if args.malloc_no_trim:
        if not fix_malloc_thresholds():
            raise SystemExit("--malloc-no-trim needs glibc (mallopt).")
        malloc = "glibc malloc with fixed thresholds (`--malloc-no-trim`: heap up to 32 MiB, never trimmed)"
    torch.set_num_threads(args.threads)
    lightly, timm, *_ = import_lightly()

    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, 2, 3, args.image_size, args.image_size)
    crops = torch.randn(shape, generator=generator).to(args.device)
    views = [crops[:, i].contiguous() for i in range(2)]  # lightly's collate: a list of per-view batches

    rows, checks, start = [], [], time.monotonic()
    for method in args.methods:
        timings, label, ok, detail, vit_name = compare(method, args, crops, views)
        base, ours = timings["lightly"], timings["hf_jepa"]
        ratio = ours.median / base.median
        checks.append(f"- {TITLES[method]}: **{'yes' if ok else 'NO'}** ({detail}).")
        rows.append(
            [
                TITLES[method],
                label,
                f"{ours.median:.0f} ({ours.q1:.0f}–{ours.q3:.0f})",
                f"{base.median:.0f} ({base.q1:.0f}–{base.q3:.0f})",
                f"{ratio:.2f}×",
                f"{min(ours.times) / min(base.times):.2f}×",
                f"{faults(ours)} / {faults(base)}",
                f"≤ {GOAL:.2f}×: {'met' if round(ratio, 2) <= GOAL else 'NOT met'}",  # as shown, 2 decimals
            ]
        )
        print(f"{TITLES[method]}: hf_jepa {ours} ms, lightly {base} ms, ratio {ratio:.2f}")
    dim, depth, heads = args.hidden
    body = (
        f"ViT {dim}/{depth}/{heads} (patch 16) at {args.image_size} px, batch {args.batch_size} × 2 views, fp32, "
        f"{args.device.type}, torch.set_num_threads({args.threads}); lightly {lightly.__version__} on {vit_name} "
        f"(`MaskedVisionTransformerTIMM`); {malloc}. Per method: "
        f"{args.warmup} warm-up step each, then {args.steps} timed steps each, taking turns in blocks of 2 (first of "
        "a block untimed), on the same views (random tensors made once: augmentation excluded from both). One step: "
        "forward, backward, fused AdamW (lr 1e-4, decay 0.04, none on biases and norms) and, for MoCo v3 / BYOL, the "
        "momentum update of encoder + projector (ours `ema_update_`, lightly `update_momentum`); no clipping. "
        "Lightly's side: its heads and losses (`SimCLRProjectionHead` + `NTXentLoss`; `MoCoProjectionHead` as "
        "projector and predictor + the official MoCo v3 `contrastive_loss`, which lightly lacks; "
        "`BYOLProjectionHead`, `BYOLPredictionHead` + `NegativeCosineSimilarity`), views through the networks as "
        "lightly's benchmarks pass them (SimCLR concatenated, MoCo v3 / BYOL one call per view). Same loss on the "
        f"same weights and views before timing (lightly loaded with ours; tolerance {TOLERANCE:g} × (1 + |loss|)):"
        "\n\n" + "\n".join(checks) + "\n\n"
        f"Whole run {time.monotonic() - start:.0f} s. Times: median (interquartile range) of the timed steps; the "
        "goal is judged on the ratio of the medians as shown (2 decimals). The ratio of each side's fastest step is "
        "less sensitive to other processes on the machine. Page faults: minor faults of the process during a step "
        "(memory the OS maps in afresh, e.g. after glibc handed freed tensors' pages back), median over the steps "
        "after the warm-up.\n\n"
        + markdown_table(
            [
                "method",
                "heads (our config defaults)",
                "hf_jepa ms / step",
                "lightly ms / step",
                "hf_jepa / lightly",
                "fastest vs fastest step",
                "page faults / step: hf_jepa / lightly",
                "goal",
            ],
            rows,
        )
    )
    title = "SimCLR, MoCo v3 and BYOL steps: hf_jepa vs lightly"
    report(args, title + (", glibc malloc never trimmed" if args.malloc_no_trim else ""), [args.device], body)


if __name__ == "__main__":
    main()
