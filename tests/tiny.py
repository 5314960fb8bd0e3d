"""The tiny configurations the tests share (also imported by the distributed workers)."""

from hf_jepa import DINOSSLConfig, IJEPASSLConfig, MAESSLConfig, SSLTrainingArguments, VJEPASSLConfig

# A 2-layer ViT on 32x32 images with 4x4 patches: an 8x8 grid, the smallest that fits multi-block masks.
TINY_VIT = dict(image_size=32, patch_size=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2)


def tiny_ijepa_config(**overrides) -> IJEPASSLConfig:
    base = dict(
        TINY_VIT,
        predictor_hidden_size=16,
        predictor_num_hidden_layers=1,
        predictor_num_attention_heads=2,
        min_keep=4,
    )
    return IJEPASSLConfig(**{**base, **overrides})


def tiny_mae_config(**overrides) -> MAESSLConfig:
    base = dict(TINY_VIT, decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2)
    return MAESSLConfig(**{**base, **overrides})


def tiny_dino_config(**overrides) -> DINOSSLConfig:
    """Global views at 32 px, local views at 16 px (a 4x4 grid, positions interpolated)."""
    base = dict(
        TINY_VIT,
        head_hidden_size=32,
        head_bottleneck_size=16,
        head_output_size=64,
        num_local_crops=2,
        local_crop_size=16,
    )
    return DINOSSLConfig(**{**base, **overrides})


def tiny_vjepa_config(**overrides) -> VJEPASSLConfig:
    """4-frame 16 px clips in 2x4x4 tubelets: a 2 x 4 x 4 token grid. Head dimension 16, so the rotary layout has
    three 4-channel blocks and 4 unrotated channels."""
    base = dict(
        image_size=16,
        patch_size=4,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_frames=4,
        tubelet_size=2,
        predictor_hidden_size=16,
        predictor_num_hidden_layers=1,
        predictor_num_attention_heads=1,
    )
    return VJEPASSLConfig(**{**base, **overrides})


def tiny_training_args(output_dir, **overrides) -> SSLTrainingArguments:
    """SSLTrainingArguments for a few CPU steps that write nothing but what a test asks for."""
    base = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_steps=3,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
        logging_steps=1,
    )
    return SSLTrainingArguments(**{**base, **overrides})
