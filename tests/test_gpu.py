"""Checks that need CUDA (run with `pytest -m gpu`; benchmarks/gpu_check.sh does on a GPU machine)."""

import json
import subprocess
import sys

import pytest
import torch

from hf_jepa import IJEPASSLForPreTraining, MultiBlockMaskGenerator, RandomMaskGenerator, RandomResizedCropFlip

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_block_masks_are_built_on_device_without_host_sync():
    gen = MultiBlockMaskGenerator()
    generator = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.set_sync_debug_mode("error")  # any device-to-host copy raises
    try:
        context, targets = gen.sample_block_masks(256, device="cuda", generator=generator)
        RandomMaskGenerator(0.75)(256, 196, device="cuda", generator=generator)
        views = RandomResizedCropFlip(32, scale=(0.3, 1.0))(torch.randn(64, 3, 40, 40, device="cuda"), generator)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert context.is_cuda and targets.is_cuda and views.shape == (64, 3, 32, 32)
    assert not bool((context & targets.any(1)).any())


def test_cuda_masks_match_invariants():
    gen = MultiBlockMaskGenerator()
    for seed in range(20):
        context_idx, target_idx = gen(64, device="cuda", generator=torch.Generator(device="cuda").manual_seed(seed))
        assert context_idx.is_cuda and target_idx.is_cuda
        overlap = (context_idx[:, :, None, None] == target_idx[:, None]).any()
        assert not bool(overlap)


def test_bf16_training_step_on_cuda(tiny_ijepa_config):
    model = IJEPASSLForPreTraining(tiny_ijepa_config).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    pixels = torch.randn(8, 3, 32, 32, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(pixels, generator=torch.Generator(device="cuda").manual_seed(0)).loss
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)


def _launch_pretrain(launcher: list[str], folder, *extra: str) -> dict:
    argv = ["-m", "hf_jepa.cli", "pretrain", "--max_steps", "3", "--random_init_baselines", "1"]
    argv += ["--disable_tqdm", "true", "--output_dir", str(folder), *extra]
    result = subprocess.run([*launcher, *argv], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert IJEPASSLForPreTraining.from_pretrained(folder).encoder is not None  # the gathered full model
    return json.loads((folder / "eval_results.json").read_text())


def test_fsdp2_through_accelerate_trains_and_saves_a_full_model(tmp_path):
    processes = str(torch.cuda.device_count())
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "training/fsdp.yaml"]
    results = _launch_pretrain([*launcher, "--num_processes", processes], tmp_path / "fsdp")
    assert results["steps"] == 3


def test_deepspeed_zero2_config_trains(tmp_path):
    pytest.importorskip("deepspeed")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(torch.cuda.device_count())]
    results = _launch_pretrain(launcher, tmp_path / "zero2", "--deepspeed", "training/deepspeed_zero2.json")
    assert results["steps"] == 3
