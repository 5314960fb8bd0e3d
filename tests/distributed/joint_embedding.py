"""What the SimCLR, MoCo v3 and BYOL DDP workers share (gloo, 2 CPU processes; see test_ddp_joint.py).

Phase 1 (no trainer): each rank wraps the same tiny model in `DistributedDataParallel`, takes its half of a fixed
global batch of two-view crops, runs one training forward + backward, an SGD step and an EMA step, and saves its loss,
outputs, the (all-reduced) gradients, the heads' BatchNorm running statistics and the networks after the step.
`train_step` is also what the test runs in one process on the whole batch. Phase 2: a few real `SSLTrainer` steps
with the method's own training views (each rank draws its own), then the whole state.
"""

import argparse
import os

import torch

from hf_jepa import METHODS, SSLTrainer
from hf_jepa.engine.schedules import ema_update_
from hf_jepa.registry import default_processor
from tests.tiny import TINY_VIT, tiny_training_args

GLOBAL_BATCH = 8
LEARNING_RATE = 0.1
EMA_MOMENTUM = 0.9


def build_model(method_name: str, **overrides):
    """The same model on every rank and in the test: seeded init (small heads), then a seeded perturbation so that
    target networks differ from online ones and BatchNorm affine parameters are not at identity."""
    method = METHODS[method_name]
    sizes = {"projection_hidden_size": 32, "projection_size": 16}
    if method_name != "simclr":
        sizes["prediction_hidden_size"] = 32
    torch.manual_seed(0)
    model = method.pretraining_class(method.config_class(**{**TINY_VIT, "num_hidden_layers": 1, **sizes, **overrides}))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.05)
    return model


def global_batch() -> torch.Tensor:
    """The fixed global batch: 2 views at 32 px of each of 8 images, each view with its own colour offset."""
    generator = torch.Generator().manual_seed(2)
    crops = torch.randn(GLOBAL_BATCH, 2, 3, 32, 32, generator=generator) * 0.5
    return crops + torch.randn(GLOBAL_BATCH, 2, 3, 1, 1, generator=generator)


def train_step(model, module, crops: torch.Tensor) -> dict:
    """One training step of `model` (DDP-wrapped or not; `module` is the bare model): forward + backward, SGD on what
    trains, EMA of the targets. Returns the loss, the output tensors, the gradients, the running statistics after the
    forward, and every weight after the step."""
    module.train()
    out = model(global_crops=crops)
    out.loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}
    running = {n: b.detach().clone() for n, b in module.named_buffers() if n.endswith(("running_mean", "running_var"))}
    outputs = {k: v.detach().clone() for k, v in out.items() if k not in ("loss", "logs")}
    torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=LEARNING_RATE).step()
    if getattr(module, "ema_pairs", ()):
        online, target = module.ema_parameters()
        with torch.no_grad():
            ema_update_(target, online, EMA_MOMENTUM)
    weights = {n: p.detach().clone() for n, p in module.named_parameters()}
    return {"loss": out.loss.detach(), "outputs": outputs, "grads": grads, "running": running, "weights": weights}


class Images(torch.utils.data.Dataset):
    def __init__(self, n=16):
        low = torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        self.pixels = torch.nn.functional.interpolate(low, size=32, mode="bilinear", align_corners=False)

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        return {"pixel_values": self.pixels[i]}


def halves(rank: int, world_size: int) -> slice:
    half = GLOBAL_BATCH // world_size
    return slice(rank * half, (rank + 1) * half)


def run(method_name: str, extra_phases=None) -> None:
    """The worker: phase 1, any `extra_phases(rank, world_size) -> dict` of the method, phase 2, saved per rank."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.distributed.init_process_group("gloo")

    module = build_model(method_name)
    ddp = torch.nn.parallel.DistributedDataParallel(module)
    result = {"world_size": world_size, "phase1": train_step(ddp, module, global_batch()[halves(rank, world_size)])}
    if extra_phases is not None:
        result.update(extra_phases(rank, world_size))

    # Phase 2: real SSLTrainer steps (accelerate wraps the model in DDP), each rank drawing its own views.
    method = METHODS[method_name]
    model = build_model(method_name)
    views = method.train_views(model.config, default_processor(method, model.config))
    args = tiny_training_args(out, max_steps=2, ddp_backend="gloo", ema_momentum=0.9, ema_schedule="constant")
    trainer = SSLTrainer(model=model, args=args, train_dataset=Images(), train_views=views)
    trainer.train()
    trained = trainer.accelerator.unwrap_model(trainer.model)
    result["state"] = {k: v.detach().clone() for k, v in trained.state_dict().items()}
    result["initial"] = {k: v.detach().clone() for k, v in build_model(method_name).state_dict().items()}
    result["converted_batch_norm"] = any(isinstance(m, torch.nn.SyncBatchNorm) for m in trainer.model.modules())
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()
