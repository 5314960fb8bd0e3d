"""Worker for test_ddp_joint.py: SimCLR under DDP (gloo), 2 CPU processes (see joint_embedding.py for the phases).

Extra phase: the same step with a gather whose backward does NOT all-reduce the gathered gradient (each process keeps
only what its own loss sends to its own embeddings, the bug peers shipped), to show the test would catch it.
"""

import torch

from hf_jepa.models import losses
from tests.distributed.joint_embedding import build_model, global_batch, halves, run, train_step


class _GatherWithoutGradientAllReduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor):
        ctx.batch = tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        return grad.narrow(0, torch.distributed.get_rank() * ctx.batch, ctx.batch)


def without_gradient_all_reduce(rank: int, world_size: int) -> dict:
    module = build_model("simclr")
    ddp = torch.nn.parallel.DistributedDataParallel(module)
    gather, losses.gather_with_grad = losses.gather_with_grad, _GatherWithoutGradientAllReduce.apply
    try:
        return {"no_all_reduce": train_step(ddp, module, global_batch()[halves(rank, world_size)])}
    finally:
        losses.gather_with_grad = gather


if __name__ == "__main__":
    run("simclr", without_gradient_all_reduce)
