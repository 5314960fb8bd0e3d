"""I-JEPA: the loss against a hand computation, EMA init, save/load and every Auto class."""

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    ViTConfig,
    ViTModel,
)

from hf_jepa import (
    IJEPASSLConfig,
    IJEPASSLForImageClassification,
    IJEPASSLForPreTraining,
    IJEPASSLModel,
    SSLImageProcessor,
)


def _masks(batch=2):
    context_idx = torch.tensor([[0, 1, 2, 8, 9, 10, 16, 17, 18, 24, 25, 26]] * batch)
    target_idx = torch.tensor([[[36, 37, 44, 45], [52, 53, 60, 61]]] * batch)  # 2 blocks of 2x2 on the 8x8 grid
    return context_idx, target_idx


def test_loss_equals_hand_computation(tiny_ijepa_config):
    model = IJEPASSLForPreTraining(tiny_ijepa_config).eval()
    pixels = torch.randn(2, 3, 32, 32)
    context_idx, target_idx = _masks()
    out = model(pixels, context_idx=context_idx, target_idx=target_idx)

    # Targets: layer norm (no affine) of the EMA encoder's output on the full image, gathered per block.
    full = model.encoder(pixels).last_hidden_state
    normed = (full - full.mean(-1, keepdim=True)) / torch.sqrt(full.var(-1, unbiased=False, keepdim=True) + 1e-5)
    # Predictions: the context encoder on the kept tokens, then the predictor once per target block.
    context = model.context_encoder(pixels, keep_indices=context_idx).last_hidden_state
    total, count = 0.0, 0
    for b in range(2):
        for t in range(2):
            pred = model.predictor(context[b : b + 1], context_idx[b : b + 1], target_idx[b : b + 1, t])[0]
            target = normed[b, target_idx[b, t]]
            assert torch.allclose(out.predictions[b, t], pred, atol=1e-5)
            assert torch.allclose(out.targets[b, t], target, atol=1e-5)
            diff = (pred - target).abs()
            total += torch.where(diff < 1, 0.5 * diff**2, diff - 0.5).sum()  # smooth-L1, beta = 1
            count += diff.numel()
    assert torch.allclose(out.loss, total / count, atol=1e-6)


def test_each_target_block_is_predicted_independently(tiny_ijepa_config):
    model = IJEPASSLForPreTraining(tiny_ijepa_config).eval()
    pixels = torch.randn(2, 3, 32, 32)
    context_idx, target_idx = _masks()
    first = model(pixels, context_idx=context_idx, target_idx=target_idx).predictions
    moved = target_idx.clone()
    moved[:, 1] = torch.tensor([54, 55, 62, 63])
    second = model(pixels, context_idx=context_idx, target_idx=moved).predictions
    assert torch.allclose(first[:, 0], second[:, 0], atol=1e-6)
    assert not torch.allclose(first[:, 1], second[:, 1], atol=1e-4)


def test_loss_types(tiny_ijepa_config):
    pixels = torch.randn(2, 3, 32, 32)
    for kind, fn in (("l1", F.l1_loss), ("l2", F.mse_loss)):
        tiny_ijepa_config.loss_type = kind
        out = IJEPASSLForPreTraining(tiny_ijepa_config)(pixels, *_masks())
        assert torch.allclose(out.loss, fn(out.predictions, out.targets))


def test_samples_masks_itself_reproducibly(tiny_ijepa_config):
    model = IJEPASSLForPreTraining(tiny_ijepa_config)
    pixels = torch.randn(4, 3, 32, 32)
    a = model(pixels, generator=torch.Generator().manual_seed(5))
    b = model(pixels, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.context_idx, b.context_idx) and torch.equal(a.target_idx, b.target_idx)
    assert a.target_idx.shape[:2] == (4, 4) and torch.isfinite(a.loss)


def test_target_starts_as_copy_and_is_frozen(tiny_ijepa_config):
    model = IJEPASSLForPreTraining(tiny_ijepa_config)
    online, target = model.ema_parameters()
    assert len(online) == len(target) > 0
    assert all(torch.equal(o, t) for o, t in zip(online, target))
    assert not any(t.requires_grad for t in target) and all(o.requires_grad for o in online)
    model.train()
    assert not model.encoder.training and model.context_encoder.training


def test_official_init_rescales_residual_projections(tiny_ijepa_config):
    tiny_ijepa_config.update(dict(num_hidden_layers=4, hidden_size=64, initializer_range=0.02))
    model = IJEPASSLModel(tiny_ijepa_config)
    stds = [layer.mlp.fc2.weight.std().item() for layer in model.layers]
    for layer_id, std in enumerate(stds, start=1):
        assert abs(std / (0.02 / (2 * layer_id) ** 0.5) - 1) < 0.15


def test_bad_mask_arguments(tiny_ijepa_config):
    model = IJEPASSLForPreTraining(tiny_ijepa_config)
    pixels = torch.randn(2, 3, 32, 32)
    context_idx, target_idx = _masks()
    with pytest.raises(ValueError, match="both"):
        model(pixels, context_idx=context_idx)
    with pytest.raises(ValueError, match="target_idx"):
        model(pixels, context_idx=context_idx, target_idx=target_idx[:, 0])


def test_processor_output(tmp_path):
    from PIL import Image

    processor = SSLImageProcessor(size={"height": 32, "width": 32})
    gray = Image.new("L", (50, 40), color=128)
    pixels = processor(images=[gray, gray.convert("RGB")], return_tensors="pt")["pixel_values"]
    assert pixels.shape == (2, 3, 32, 32)
    expected = (128 / 255 - torch.tensor(processor.image_mean)) / torch.tensor(processor.image_std)
    assert torch.allclose(pixels[0, :, 5, 5], expected, atol=1e-2)


def test_folder_of_another_model_type_is_refused(tmp_path):
    ViTModel(
        ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(tmp_path)
    for cls in (IJEPASSLForPreTraining, IJEPASSLModel, IJEPASSLConfig):
        with pytest.raises(ValueError, match="holds a `vit` model"):
            cls.from_pretrained(tmp_path)


def test_lora_without_naming_targets(tiny_ijepa_config):
    from peft import LoraConfig, get_peft_model

    tiny_ijepa_config.num_labels = 3
    classifier = IJEPASSLForImageClassification(tiny_ijepa_config)
    lora = get_peft_model(classifier, LoraConfig(r=4, modules_to_save=["classifier"]))
    trainable = {name for name, p in lora.named_parameters() if p.requires_grad}
    assert any("attn.qkv.lora_A" in name for name in trainable)
    assert not any("mlp.fc1.weight" in name for name in trainable)
    logits = lora(pixel_values=torch.randn(2, 3, 32, 32)).logits
    assert logits.shape == (2, 3)
