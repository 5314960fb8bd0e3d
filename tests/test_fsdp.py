"""FSDP2 on 2 CPU processes (gloo): the EMA update and its momentum schedule on sharded parameters give the
one-process result, a sharded checkpoint resumes exactly, and the gathered full model saves and reloads."""

from pathlib import Path

import torch

from tests.distributed import fsdp_worker
from tests.distributed.harness import run_distributed

WORKER = Path(fsdp_worker.__file__)


def one_process_reference():
    """The same steps without sharding, on the whole batch (FSDP averages the halves' gradients)."""
    batch = fsdp_worker.global_batch()
    model = fsdp_worker.build()
    optimizer = fsdp_worker.optimizer_for(model)
    states = []
    for step in range(fsdp_worker.STEPS):
        fsdp_worker.train_step(model, optimizer, step, *batch)
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return states


def test_fsdp2_ema_schedule_checkpoint_and_save_pretrained(tmp_path):
    from hf_jepa import IJEPASSLForPreTraining

    ranks = run_distributed(WORKER, tmp_path)
    first = ranks[0]
    assert first["world_size"] == 2 and first["sharded"]  # every parameter, the EMA target's too, is a DTensor
    assert max(first["local_sizes"]) < max(p.numel() for p in fsdp_worker.build().encoder.parameters())
    reference = one_process_reference()
    initial = fsdp_worker.build().state_dict()

    for name, value in reference[1].items():  # after two steps: the sharded run is the one-process run
        assert torch.allclose(first["after_two"][name], value, atol=1e-5), name
    target = [n for n in initial if n.startswith("encoder.")]
    assert target and any(not torch.equal(first["after_two"][n], initial[n]) for n in target)  # the EMA moved
    assert any(not torch.allclose(first["after_two"][n], first["after_two"]["context_" + n]) for n in target)

    assert first["final"].keys() == reference[2].keys()
    for name, value in first["final"].items():
        assert torch.equal(ranks[1]["final"][name], value), name
        assert torch.equal(first["final_resumed"][name], value), name  # the sharded checkpoint resumes exactly
        assert torch.allclose(value, reference[2][name], atol=1e-5), name

    saved = IJEPASSLForPreTraining.from_pretrained(tmp_path / "saved")
    for name, value in saved.state_dict().items():
        assert torch.equal(value, first["final"][name]), name
