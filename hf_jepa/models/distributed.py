"""Collectives of the joint-embedding objectives, written once: gathering embeddings from every process (with or
without gradient), summing across processes with gradient, and the rank / world-size helpers. Each is the identity
(rank 0 of a world of 1) when `torch.distributed` is not initialised, so a model runs unchanged in one process.

Flat on purpose (no hf_jepa imports): the remote-code export copies it next to the modeling files.
"""

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


class _GatherWithGrad(torch.autograd.Function):
    """all_gather forward; backward: all-reduce-sum of the gathered gradient, then this process's slice.

    Every process's loss reads every slice, so the gradient of a slice is the sum over processes of what each loss
    sends to it; DDP then averages the parameter gradients, which makes the update the gradient of the mean loss over
    the global batch (official SimCLR: the TPU cross-replica concat, whose gradient is a cross-replica sum).
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.batch = tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad.narrow(0, dist.get_rank() * ctx.batch, ctx.batch)


class _AllReduceSumWithGrad(torch.autograd.Function):
    """all-reduce-sum forward; backward: all-reduce-sum of the gradient (every output depends on every input)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class _RingPassWithGrad(torch.autograd.Function):
    """Send to the next rank and receive from the previous one; backward: the gradient goes back the other way (each
    tensor's gradient returns to the process that sent it)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        world, me = dist.get_world_size(), dist.get_rank()
        ctx.next_rank, ctx.previous_rank = (me + 1) % world, (me - 1) % world
        return _exchange(tensor, to_rank=ctx.next_rank, from_rank=ctx.previous_rank)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _exchange(grad, to_rank=ctx.previous_rank, from_rank=ctx.next_rank)


def _exchange(tensor: torch.Tensor, to_rank: int, from_rank: int) -> torch.Tensor:
    received = torch.empty_like(tensor)
    operations = [
        dist.P2POp(dist.isend, tensor.contiguous(), to_rank),
        dist.P2POp(dist.irecv, received, from_rank),
    ]
    for request in dist.batch_isend_irecv(operations):
        request.wait()
    return received


def ring_pass_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """[B, ...] of the previous rank (rank - 1, cyclically), this one's sent to the next; differentiable. After
    `world_size - 1` passes every process has seen every other's tensor, holding one [B, ...] at a time (SigLIP's
    chunked loss). The identity in one process."""
    return _RingPassWithGrad.apply(tensor) if is_distributed() else tensor


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """[B, ...] on each process -> [world_size * B, ...], rank-major, differentiable. Every process must pass the
    same B (accelerate's default `even_batches` gives that)."""
    return _GatherWithGrad.apply(tensor) if is_distributed() else tensor


@torch.no_grad()
def gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """[B, ...] on each process -> [world_size * B, ...], rank-major, detached (MoCo's keys)."""
    if not is_distributed():
        return tensor.detach()
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def all_reduce_sum_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of `tensor` over processes, on every process, differentiable."""
    return _AllReduceSumWithGrad.apply(tensor) if is_distributed() else tensor


__all__ = [
    "all_reduce_sum_with_grad",
    "gather_no_grad",
    "gather_with_grad",
    "is_distributed",
    "rank",
    "ring_pass_with_grad",
    "world_size",
]
