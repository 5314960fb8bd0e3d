"""Worker of bench_distributed_step.py (run by torchrun): times the I-JEPA main-job training step of this process's
share of the batch under DDP and under FSDP2 (`fully_shard` of every transformer block, then the root), in turns,
and rank 0 writes the times to --out as JSON."""

import argparse
import json
import time

import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel

from hf_jepa import METHODS
from hf_jepa.engine.schedules import ema_update_
from hf_jepa.models.vit import TransformerBlock


def main_job_model():
    entry = METHODS["ijepa"]
    torch.manual_seed(0)
    return entry.pretraining_class(entry.config_class(**entry.default_config))


def training_step(model, forward, pixels: torch.Tensor, generator: torch.Generator):
    """SSLTrainer's step: masks drawn before the forward (`sample_masks`), AdamW, then the EMA update; `forward` is
    the model or its wrapper (DDP, FSDP2, torch.compile)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    online, target = model.ema_parameters()

    def step():
        masks = model.sample_masks({"pixel_values": pixels}, generator)
        forward(pixels, **masks).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            ema_update_(target, online, 0.996)

    return step


def wrapped_step(wrap: str, batch: int):
    model = main_job_model()
    if wrap == "fsdp2":
        for module in model.modules():
            if isinstance(module, TransformerBlock):
                fully_shard(module)
        fully_shard(model)  # the parameters, EMA target's too, are now sharded DTensors
        forward = model
    else:
        forward = DistributedDataParallel(model)
    pixels = torch.randn(batch, 3, 32, 32)
    return training_step(model, forward, pixels, torch.Generator().manual_seed(dist.get_rank()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch", type=int, default=128, help="Global batch, split over the processes.")
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    dist.init_process_group("gloo")

    steps = {wrap: wrapped_step(wrap, args.batch // dist.get_world_size()) for wrap in ("ddp", "fsdp2")}
    times = {wrap: [] for wrap in steps}
    for step in steps.values():  # warm up
        step()
        step()
    for _ in range(args.reps):  # in turns, so that a slow spell of the machine hits both alike
        for wrap, step in steps.items():
            dist.barrier()
            start = time.perf_counter()
            step()
            dist.barrier()
            times[wrap].append((time.perf_counter() - start) * 1e3)
    if dist.get_rank() == 0:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump({"world_size": dist.get_world_size(), "times_ms": times}, handle)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
