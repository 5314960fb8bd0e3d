"""Worker for test_image_text_losses.py: CLIP's and SigLIP's losses on 2 CPU processes (gloo).

Phase "loss": each rank embeds its half of a fixed global batch with shared linear maps, takes its loss, backward;
the parameter gradients are then averaged over ranks (what DDP does). Phase "model" (with `--model`): the same for a
tiny `...ForPreTraining` wrapped in `DistributedDataParallel`. Each rank saves its loss and averaged gradients.
Extra phase "no_return" (SigLIP): the ring pass without sending the gradient back along the ring (each process then
misses what its neighbours' losses send to its captions), to show the test would catch it.
"""

import argparse
import os

import torch

from hf_jepa.models import image_text_losses
from tests.distributed.image_text_pairs import loss_step, model_step


def ring_pass_without_gradient_return(tensor: torch.Tensor) -> torch.Tensor:
    world, me = torch.distributed.get_world_size(), torch.distributed.get_rank()
    received = torch.empty_like(tensor)
    operations = [
        torch.distributed.P2POp(torch.distributed.isend, tensor.detach().contiguous(), (me + 1) % world),
        torch.distributed.P2POp(torch.distributed.irecv, received, (me - 1) % world),
    ]
    for request in torch.distributed.batch_isend_irecv(operations):
        request.wait()
    return received


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--method", required=True)
    args = parser.parse_args()
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.distributed.init_process_group("gloo")
    result = {"world_size": world_size, "loss": loss_step(args.method, rank, world_size)}
    result["model"] = model_step(args.method, rank, world_size)
    if args.method == "siglip":
        ring_pass, image_text_losses.ring_pass_with_grad = (
            image_text_losses.ring_pass_with_grad,
            ring_pass_without_gradient_return,
        )
        result["no_return"] = loss_step(args.method, rank, world_size)
        image_text_losses.ring_pass_with_grad = ring_pass
    torch.save(result, os.path.join(args.out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()
