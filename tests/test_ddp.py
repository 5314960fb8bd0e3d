"""SSLTrainer under DDP with 2 CPU processes (gloo): ranks stay identical, EMA targets included."""

from pathlib import Path

import torch

from tests.distributed.harness import run_distributed

WORKERS = Path(__file__).parent / "distributed"


def test_ijepa_ranks_agree_after_ddp_steps(tmp_path):
    ranks = run_distributed(WORKERS / "ijepa_worker.py", tmp_path)
    assert all(r["world_size"] == 2 for r in ranks)
    first, second = ranks[0]["state"], ranks[1]["state"]
    for name, value in first.items():
        assert torch.allclose(value, second[name], atol=1e-6), name  # gradients were all-reduced
    moved = [n for n in first if n.startswith("encoder.") and not torch.equal(first[n], ranks[0]["initial"][n])]
    assert moved, "the EMA target did not move"
    assert ranks[0]["mask_seed"] != ranks[1]["mask_seed"]  # each process draws its own masks
