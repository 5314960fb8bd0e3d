"""SimCLR, MoCo v3 and BYOL under DDP with 2 CPU processes (gloo): the losses, gradients and BatchNorm statistics of
each rank's half of a batch equal one process on the whole batch (negatives / keys gathered across processes,
BatchNorm over the global batch), and real SSLTrainer steps keep the ranks identical. Also the single-process
behaviour of the collectives and of `GlobalBatchNorm` (exactly `nn.BatchNorm1d`)."""

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from hf_jepa.models.distributed import all_reduce_sum_with_grad, gather_no_grad, gather_with_grad, rank, world_size
from hf_jepa.models.heads import GlobalBatchNorm
from tests.distributed import joint_embedding
from tests.distributed.harness import run_distributed

WORKERS = Path(__file__).parent / "distributed"


# ---- one process ----------------------------------------------------------------------------------------------------
def test_collectives_are_the_identity_in_one_process():
    x = torch.randn(3, 4, requires_grad=True)
    assert (rank(), world_size()) == (0, 1)
    assert gather_with_grad(x) is x and all_reduce_sum_with_grad(x) is x
    gathered = gather_no_grad(x)
    assert torch.equal(gathered, x) and not gathered.requires_grad


def test_global_batch_norm_is_batch_norm_1d_in_one_process():
    torch.manual_seed(0)
    ours, theirs = GlobalBatchNorm(6), nn.BatchNorm1d(6)
    with torch.no_grad():
        for module in (ours, theirs):
            module.weight.copy_(torch.linspace(0.5, 2, 6))
            module.bias.copy_(torch.linspace(-1, 1, 6))
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for _ in range(3):
        x = (torch.randn(5, 6) * 3 + 1).requires_grad_()
        y = x.detach().clone().requires_grad_()
        a, b = ours(x), theirs(y)
        torch.testing.assert_close(a, b)
        (a * torch.arange(6.0)).sum().backward()
        (b * torch.arange(6.0)).sum().backward()
        torch.testing.assert_close(x.grad, y.grad)
    for name, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[name], value, msg=name)
    ours.eval(), theirs.eval()
    x = torch.randn(4, 6)
    torch.testing.assert_close(ours(x), theirs(x))  # running statistics in eval mode
    assert not isinstance(ours, nn.modules.batchnorm._BatchNorm)  # nn.SyncBatchNorm conversion leaves it alone
    assert nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(ours))[0] is ours


def test_batch_statistics_in_eval_leave_the_running_statistics_alone():
    norm = GlobalBatchNorm(4, scale=False, center=False, batch_statistics_in_eval=True).eval()
    x = torch.randn(6, 4) * 5 + 2
    out = norm(x)
    torch.testing.assert_close(out, (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5))
    assert torch.equal(norm.running_mean, torch.zeros(4)) and int(norm.num_batches_tracked) == 0
    with pytest.raises(ValueError, match="at least 2"):
        norm(x[:1])


# ---- two processes --------------------------------------------------------------------------------------------------
def _one_process(method_name: str) -> dict:
    module = joint_embedding.build_model(method_name)
    return joint_embedding.train_step(module, module, joint_embedding.global_batch())


def _assert_close_dicts(got: dict, expected: dict):
    """Equal up to float32 summation order: an absolute tolerance relative to the largest entry of all tensors (some
    gradients are ~0 with float noise, e.g. of a norm right before BatchNorm)."""
    assert got.keys() == expected.keys()
    scale = max(float(value.abs().max()) for value in expected.values())
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, msg=name, rtol=1e-4, atol=max(1e-6, 1e-5 * scale))


def _check_ddp_equals_one_process(ranks: list[dict], reference: dict) -> None:
    assert all(r["world_size"] == 2 for r in ranks)
    first, second = ranks[0]["phase1"], ranks[1]["phase1"]
    # Each rank's loss is the mean over its half: their mean is the whole batch's loss.
    torch.testing.assert_close((first["loss"] + second["loss"]) / 2, reference["loss"], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(first["loss"], second["loss"])  # the halves really differ
    # DDP's averaged gradients are the whole batch's gradients, on every rank.
    _assert_close_dicts(first["grads"], reference["grads"])
    for name, grad in first["grads"].items():
        assert torch.equal(grad, second["grads"][name]), name
    # BatchNorm normalised over the global batch: the running statistics are the one-process ones, on both ranks.
    assert reference["running"]
    _assert_close_dicts(first["running"], reference["running"])
    _assert_close_dicts(second["running"], reference["running"])
    # After the SGD and EMA steps every network is the one-process one (targets included).
    _assert_close_dicts(first["weights"], reference["weights"])
    # Real SSLTrainer steps: every rank ends with the same weights and statistics, the model was trained, and its
    # BatchNorm was left as it is (it synchronises itself; torch's SyncBatchNorm refuses CPU tensors).
    state0, state1 = ranks[0]["state"], ranks[1]["state"]
    for name, value in state0.items():
        assert torch.allclose(value.float(), state1[name].float(), atol=1e-6), name
    assert any(not torch.equal(value, ranks[0]["initial"][name]) for name, value in state0.items())
    assert not ranks[0]["converted_batch_norm"]


def test_simclr_negatives_and_gradients_under_ddp_equal_one_process(tmp_path):
    ranks = run_distributed(WORKERS / "simclr_worker.py", tmp_path)
    reference = _one_process("simclr")
    _check_ddp_equals_one_process(ranks, reference)
    # Without the all-reduce of the gathered gradient each rank misses what the other's loss sends to its embeddings.
    wrong = ranks[0]["no_all_reduce"]
    torch.testing.assert_close((wrong["loss"] + ranks[1]["no_all_reduce"]["loss"]) / 2, reference["loss"])
    name = "encoder.layers.0.mlp.fc1.weight"
    assert not torch.allclose(wrong["grads"][name], reference["grads"][name], rtol=1e-3, atol=1e-5)


def test_mocov3_keys_of_every_process_reach_each_query(tmp_path):
    from hf_jepa.models.losses import moco_contrastive_loss
    from tests.test_mocov3 import official_contrastive_loss

    ranks = run_distributed(WORKERS / "mocov3_worker.py", tmp_path)
    reference = _one_process("mocov3")
    _check_ddp_equals_one_process(ranks, reference)
    # Each rank's loss is its queries against the keys of BOTH ranks, its own image's key at rank * B + i.
    keys = torch.cat([r["phase1"]["outputs"]["momentum_keys"] for r in ranks])  # [global batch, 2, P]
    temperature = joint_embedding.build_model("mocov3").config.temperature
    for index, r in enumerate(ranks):
        q = r["phase1"]["outputs"]["queries"]
        expected = official_contrastive_loss(q[:, 0], keys[:, 1], temperature, rank=index)
        expected = expected + official_contrastive_loss(q[:, 1], keys[:, 0], temperature, rank=index)
        torch.testing.assert_close(r["phase1"]["loss"], expected)
        local = r["phase1"]["outputs"]["momentum_keys"]
        only_local = moco_contrastive_loss(q[:, 0], local[:, 1], temperature)
        only_local = only_local + moco_contrastive_loss(q[:, 1], local[:, 0], temperature)
        assert not torch.allclose(only_local, r["phase1"]["loss"])
    # The momentum encoders stay identical across ranks through real trainer steps, and moved.
    moved = [n for n in ranks[0]["state"] if n.startswith("momentum_encoder.")]
    assert moved and all(torch.equal(ranks[0]["state"][n], ranks[1]["state"][n]) for n in moved)
    assert any(not torch.equal(ranks[0]["state"][n], ranks[0]["initial"][n]) for n in moved)


def test_byol_loss_gradients_and_batch_norm_under_ddp_equal_one_process(tmp_path):
    ranks = run_distributed(WORKERS / "byol_worker.py", tmp_path)
    _check_ddp_equals_one_process(ranks, _one_process("byol"))
    assert any(n.startswith("target_projector.") and n.endswith("running_var") for n in ranks[0]["phase1"]["running"])
