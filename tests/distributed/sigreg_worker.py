"""Worker for test_sigreg.py: SIGReg under torch.distributed (gloo), 2 CPU processes, each holding an UNEVEN share of
one fixed global batch of two-view embeddings (5 and 3 samples; then 8 and 0). Saves, per rank:

- `given`: the statistic of its share with slices passed in, and the gradient that reaches its embeddings;
- `drawn`: the statistic with slices drawn from `step` and from the internal call counter, and the slices drawn;
- `ddp`: one backward through a `DistributedDataParallel` linear encoder (DDP averages the parameter gradients);
- `no_grad_sum`: the same with a sum across processes that does not carry the gradient (the bug peers shipped);
- `empty`: rank 1 holds no sample at all;
- `nan`: rank 1's share holds a NaN: both ranks must raise the ValueError (no hang, no NaN loss).
"""

import argparse
import os

import torch
import torch.distributed as dist

from hf_jepa.models import sigreg as sigreg_module
from hf_jepa.models.sigreg import SIGReg

VIEWS, SAMPLES, DIM, IN_DIM, NUM_SLICES, STEP = 2, 8, 6, 4, 16, 7
SHARES = (slice(0, 5), slice(5, 8))  # uneven on purpose: the ECF is a sum over the global batch / the global N


def make_sigreg() -> SIGReg:
    return SIGReg(num_slices=NUM_SLICES, seed=3)


def inputs() -> torch.Tensor:
    """The global batch of encoder inputs [V, N, IN_DIM] (float64), skewed so that it is clearly not Gaussian."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(VIEWS, SAMPLES, IN_DIM, generator=generator, dtype=torch.float64)
    return x + 0.4 * x.square()


def encoder() -> torch.nn.Linear:
    torch.manual_seed(1)
    return torch.nn.Linear(IN_DIM, DIM).double()


def embeddings() -> torch.Tensor:
    """The global batch of embeddings [V, N, D]: the encoder applied to `inputs()`."""
    with torch.no_grad():
        return encoder()(inputs())


def given_slices() -> torch.Tensor:
    return torch.randn(DIM, NUM_SLICES, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


def _statistic_and_gradient(z: torch.Tensor, **kwargs) -> dict:
    z = z.clone().requires_grad_()
    value = make_sigreg()(z, **kwargs)
    value.backward()
    return {"value": value.detach(), "grad": z.grad.detach()}


def _ddp_step(share: slice) -> dict:
    module = encoder()
    model = torch.nn.parallel.DistributedDataParallel(module)
    loss = make_sigreg()(model(inputs()[:, share]), slices=given_slices())
    loss.backward()
    return {"loss": loss.detach(), "grads": {n: p.grad.detach().clone() for n, p in module.named_parameters()}}


def _sum_without_gradient(tensor: torch.Tensor) -> torch.Tensor:
    """The global sum as the value, but the gradient only reaches this process's own terms."""
    total = tensor.detach().clone()
    dist.all_reduce(total)
    return tensor + (total - tensor.detach())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo")
    share = SHARES[rank]
    z = embeddings()[:, share]
    result = {"world_size": world_size, "given": _statistic_and_gradient(z, slices=given_slices())}

    counter = make_sigreg()
    result["drawn"] = {
        **_statistic_and_gradient(z, step=STEP),
        "slices": make_sigreg().draw_slices(DIM, step=STEP),
        "counter": torch.stack([counter(z), counter(z)]).detach(),  # steps 0 and 1 of the internal counter
    }
    result["ddp"] = _ddp_step(share)
    summed, sigreg_module.all_reduce_sum_with_grad = sigreg_module.all_reduce_sum_with_grad, _sum_without_gradient
    try:
        result["no_grad_sum"] = _ddp_step(share)
    finally:
        sigreg_module.all_reduce_sum_with_grad = summed
    everything = (slice(0, SAMPLES), slice(SAMPLES, SAMPLES))[rank]
    result["empty"] = _statistic_and_gradient(embeddings()[:, everything], slices=given_slices())

    poisoned = z.clone()
    if rank == 1:
        poisoned[0, 0, 0] = float("nan")
    try:
        make_sigreg()(poisoned, slices=given_slices())
        result["nan"] = "no error"
    except ValueError as error:
        result["nan"] = str(error)
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
