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


def test_dino_center_loss_and_gradients_under_ddp_equal_one_process(tmp_path):
    from tests.distributed import dino_worker

    ranks = run_distributed(WORKERS / "dino_worker.py", tmp_path)
    assert all(r["world_size"] == 2 for r in ranks)
    module = dino_worker.build_model()
    reference = dino_worker.step(module, module, *dino_worker.global_batch())  # one process, the whole batch
    first, second = ranks[0]["phase1"], ranks[1]["phase1"]

    # The center is all-reduced: each rank's equals the one-process center (official: sum / (len * world_size)).
    for rank in (first, second):
        assert torch.allclose(rank["center"], reference["center"], atol=1e-6)
    # Each rank's loss is the mean over its half: their mean is the whole batch's loss.
    assert torch.allclose((first["loss"] + second["loss"]) / 2, reference["loss"], atol=1e-6)
    assert not torch.allclose(first["loss"], second["loss"])  # the halves really differ
    # DDP's averaged gradients are the whole batch's gradients, on every rank.
    assert first["grads"].keys() == reference["grads"].keys() == second["grads"].keys()
    assert any(n.startswith("student_head.last_layer") for n in reference["grads"])
    for name, grad in reference["grads"].items():
        assert torch.allclose(first["grads"][name], grad, rtol=1e-4, atol=1e-6), name
        assert torch.equal(first["grads"][name], second["grads"][name]), name
    # After the optimizer and EMA steps the teachers are identical across ranks and equal to the one-process one.
    for name, value in reference["teacher"].items():
        assert torch.equal(first["teacher"][name], second["teacher"][name]), name
        assert torch.allclose(first["teacher"][name], value, atol=1e-6), name

    # Real SSLTrainer steps: every rank ends with the same student, teacher and center, having drawn its own views.
    state0, state1 = ranks[0]["state"], ranks[1]["state"]
    for name, value in state0.items():
        assert torch.allclose(value, state1[name], atol=1e-6), name
    assert not torch.allclose(state0["center"], dino_worker.build_model().center)  # the trainer's forwards moved it
    moved = [n for n in ranks[0]["initial_teacher"] if not torch.equal(state0[n], ranks[0]["initial_teacher"][n])]
    assert moved, "the EMA teacher did not move"
    assert ranks[0]["mask_seed"] != ranks[1]["mask_seed"]
