"""Worker for test_ddp.py: DINO under DDP (gloo), 2 CPU processes.

Phase 1 (no trainer): each rank wraps the same tiny DINO in `DistributedDataParallel`, takes its half of a fixed global
batch of crops, runs one training-mode forward + backward, an SGD step on the student and an EMA step
(`hf_jepa.engine.trainer.ema_update_`), and saves its loss, the (all-reduced) gradients, the center and the teacher.
`build_model`, `global_batch` and `step` are also what the test runs in one process on the whole batch.

Phase 2: a few real `SSLTrainer` steps with multi-crop views (each rank draws its own views), then the whole state.
"""

import argparse
import os

import torch

from hf_jepa import DINOSSLForPreTraining, MultiCropViews, SSLTrainer
from hf_jepa.engine.schedules import ema_update_
from tests.tiny import tiny_dino_config, tiny_training_args

GLOBAL_BATCH = 4
TEACHER_TEMPERATURE = 0.05
LEARNING_RATE = 0.1
EMA_MOMENTUM = 0.9


def build_model() -> DINOSSLForPreTraining:
    """The same model on every rank and in the test: seeded init, then a seeded perturbation so that the student
    differs from the teacher and views give different outputs, and a non-zero center."""
    torch.manual_seed(0)
    model = DINOSSLForPreTraining(tiny_dino_config(num_hidden_layers=1, center_momentum=0.8))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.1)
        model.center.copy_(torch.randn(model.center.shape, generator=generator) * 0.5)
    return model


def global_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed global batch: 2 global crops at 32 px and 2 local crops at 16 px for each of 4 images."""
    generator = torch.Generator().manual_seed(2)
    global_crops = torch.randn(GLOBAL_BATCH, 2, 3, 32, 32, generator=generator)
    local_crops = torch.randn(GLOBAL_BATCH, 2, 3, 16, 16, generator=generator)
    return global_crops, local_crops


def step(model, module: DINOSSLForPreTraining, global_crops, local_crops) -> dict:
    """One training step of `model` (DDP-wrapped or not; `module` is the bare model): forward + backward, SGD on the
    student, EMA of the teacher. Returns the loss, gradients, center after the forward, and teacher after the EMA."""
    module.train()
    out = model(global_crops=global_crops, local_crops=local_crops, teacher_temperature=TEACHER_TEMPERATURE)
    out.loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}
    center = module.center.detach().clone()
    optimizer = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=LEARNING_RATE)
    optimizer.step()
    online, target = module.ema_parameters()
    with torch.no_grad():
        ema_update_(target, online, EMA_MOMENTUM)
    teacher = {
        n: v.detach().clone() for n, v in module.state_dict().items() if n.startswith(("encoder.", "teacher_head."))
    }
    return {"loss": out.loss.detach(), "grads": grads, "center": center, "teacher": teacher}


class Images(torch.utils.data.Dataset):
    def __init__(self, n=16):
        low = torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        self.pixels = torch.nn.functional.interpolate(low, size=32, mode="bilinear", align_corners=False)

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        return {"pixel_values": self.pixels[i]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.distributed.init_process_group("gloo")

    # Phase 1: this rank's half of the global batch through DDP.
    module = build_model()
    ddp = torch.nn.parallel.DistributedDataParallel(module)
    global_crops, local_crops = global_batch()
    half = GLOBAL_BATCH // world_size
    part = slice(rank * half, (rank + 1) * half)
    phase1 = step(ddp, module, global_crops[part], local_crops[part])

    # Phase 2: real SSLTrainer steps (accelerate wraps the model in DDP), each rank drawing its own views.
    model = build_model()
    initial_teacher = {n: v.clone() for n, v in model.state_dict().items() if n.startswith("encoder.")}
    args = tiny_training_args(out, max_steps=2, ddp_backend="gloo", ema_momentum=0.9, ema_schedule="constant")
    views = MultiCropViews(32, 16, num_local_crops=2, mean=(0.5,) * 3, std=(0.5,) * 3)
    trainer = SSLTrainer(model=model, args=args, train_dataset=Images(), train_views=views)
    trainer.train()
    trained = trainer.accelerator.unwrap_model(trainer.model)
    torch.save(
        {
            "world_size": world_size,
            "phase1": phase1,
            "state": {k: v.detach().clone() for k, v in trained.state_dict().items()},
            "initial_teacher": initial_teacher,
            "mask_seed": trainer.mask_generator(torch.device("cpu")).initial_seed(),
        },
        os.path.join(out, f"rank{rank}.pt"),
    )
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
