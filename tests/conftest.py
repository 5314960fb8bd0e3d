import pytest
import torch

import hf_jepa  # noqa: F401  (registers the Auto classes)
from hf_jepa import IJepaSSLConfig


@pytest.fixture
def tiny_ijepa_config():
    """A 2-layer ViT on 32x32 images with 4x4 patches: an 8x8 grid, the smallest that fits multi-block masks."""
    return IJepaSSLConfig(
        image_size=32,
        patch_size=4,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        predictor_hidden_size=16,
        predictor_num_hidden_layers=1,
        predictor_num_attention_heads=2,
        min_keep=4,
    )


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
