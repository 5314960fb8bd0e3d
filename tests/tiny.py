"""The tiny configurations the tests share (also imported by the distributed workers)."""

from hf_jepa import IJepaSSLConfig


def tiny_ijepa_config(**overrides) -> IJepaSSLConfig:
    """A 2-layer ViT on 32x32 images with 4x4 patches: an 8x8 grid, the smallest that fits multi-block masks."""
    base = dict(
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
    return IJepaSSLConfig(**{**base, **overrides})
