"""Checks that need CUDA (run with `pytest -m gpu`; benchmarks/gpu_check.sh does on a GPU machine)."""

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
