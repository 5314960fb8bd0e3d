"""MAE: random masks, the loss against the official recipe restated, reconstruction, official init, save/load,
every Auto class, a few trainer steps and clear errors."""

import math

import pytest
import torch
import torch.nn as nn

from hf_jepa import (
    MAESSLConfig,
    MAESSLForPreTraining,
    RandomMaskGenerator,
)
from hf_jepa.engine.trainer import SSLTrainer
from hf_jepa.models.patches import normalize_patches, patchify, unpatchify
from tests.tiny import tiny_mae_config as mae_config
from tests.tiny import tiny_training_args

GRID, PATCH, CHANNELS = 8, 4, 3  # the tiny config: 32x32 images, 4x4 patches
NUM_PATCHES = GRID * GRID


# ---- the official MAE code, restated -------------------------------------------------------------------------------
def official_patchify(imgs: torch.Tensor, p: int) -> torch.Tensor:
    n, c, height, width = imgs.shape
    h, w = height // p, width // p
    x = imgs.reshape(n, c, h, p, w, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(n, h * w, p * p * c)


def official_unpatchify(x: torch.Tensor, p: int, h: int, w: int, c: int = 3) -> torch.Tensor:
    x = x.reshape(x.shape[0], h, w, p, p, c)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(x.shape[0], c, h * p, w * p)


def official_masking(noise: torch.Tensor, mask_ratio: float):
    """MAE's random_masking: (ids_keep, mask with 1 = removed, ids_restore)."""
    n, length = noise.shape
    len_keep = int(length * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(n, length)
    mask[:, :len_keep] = 0
    return ids_shuffle[:, :len_keep], torch.gather(mask, 1, ids_restore), ids_restore


def official_loss(imgs, pred, mask, p, norm_pix_loss):
    target = official_patchify(imgs, p)
    if norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)  # unbiased, as torch's default
        target = (target - mean) / (var + 1.0e-6) ** 0.5
    loss = ((pred - target) ** 2).mean(dim=-1)
    return (loss * mask).sum() / mask.sum()


def _noise(batch=2, seed=0):
    return torch.rand(batch, NUM_PATCHES, generator=torch.Generator().manual_seed(seed))


# ---- masks ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 0.6, 0.75, 0.9])
@pytest.mark.parametrize("num_patches", [16, 49, 64, 196])
def test_random_masks_keep_the_requested_ratio_and_partition_the_patches(ratio, num_patches):
    batch = 5
    noise = torch.rand(batch, num_patches, generator=torch.Generator().manual_seed(num_patches))
    masks = RandomMaskGenerator(ratio)(batch, num_patches, noise=noise)
    len_keep = int(num_patches * (1 - ratio))  # the official count
    assert masks.keep_idx.shape == (batch, len_keep)
    assert masks.masked_idx.shape == (batch, num_patches - len_keep)
    everything = torch.cat([masks.keep_idx, masks.masked_idx], dim=1).sort(dim=1).values
    assert torch.equal(everything, torch.arange(num_patches).expand(batch, -1))  # a partition, no repeats
    ids_keep, _, ids_restore = official_masking(noise, ratio)
    assert torch.equal(masks.keep_idx, ids_keep)  # the smallest noise is kept, in noise order
    assert torch.equal(masks.ids_restore, ids_restore)
    # Drawn without given noise: the same counts, per-sample different sets.
    drawn = RandomMaskGenerator(ratio)(batch, num_patches, generator=torch.Generator().manual_seed(1))
    assert drawn.keep_idx.shape == (batch, len_keep)
    if 0 < len_keep < num_patches:
        assert len({tuple(sorted(row.tolist())) for row in drawn.keep_idx}) > 1


@pytest.mark.parametrize("ratio", [0.25, 0.75])
def test_model_mask_marks_exactly_the_hidden_patches(ratio):
    model = MAESSLForPreTraining(mae_config(mask_ratio=ratio)).eval()
    noise = _noise(3)
    out = model(torch.randn(3, 3, 32, 32), noise=noise)
    ids_keep, mask, ids_restore = official_masking(noise, ratio)
    assert torch.equal(out.mask, mask)
    assert torch.equal(out.keep_idx, ids_keep) and torch.equal(out.ids_restore, ids_restore)
    assert torch.equal(out.mask.sum(1), torch.full((3,), float(NUM_PATCHES - int(NUM_PATCHES * (1 - ratio)))))
    assert bool((out.mask.gather(1, out.keep_idx) == 0).all())


# ---- loss, logits, reconstruction ----------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_pix_loss", [True, False])
def test_loss_equals_the_official_computation(norm_pix_loss):
    model = MAESSLForPreTraining(mae_config(norm_pix_loss=norm_pix_loss)).eval()
    pixels, noise = torch.randn(2, 3, 32, 32), _noise()
    out = model(pixels, noise=noise)
    assert out.logits.shape == (2, NUM_PATCHES, PATCH * PATCH * CHANNELS)
    _, mask, _ = official_masking(noise, model.config.mask_ratio)
    expected = official_loss(pixels, out.logits, mask, PATCH, norm_pix_loss)
    assert torch.allclose(out.loss, expected, atol=1e-6)
    assert torch.allclose(out.logs["loss_reconstruction"], expected, atol=1e-6)
    # The same numbers from a plain loop over samples and hidden patches.
    target = official_patchify(pixels, PATCH)
    total, count = 0.0, 0
    for b in range(2):
        for n in range(NUM_PATCHES):
            if mask[b, n]:
                t = target[b, n]
                if norm_pix_loss:
                    t = (t - t.mean()) / math.sqrt(t.var().item() + 1e-6)
                total += ((out.logits[b, n] - t) ** 2).mean()
                count += 1
    assert torch.allclose(out.loss, total / count, atol=1e-6)
    # Visible patches do not enter the loss: changing their predictions would not change it.
    assert not torch.allclose(official_loss(pixels, out.logits, torch.ones_like(mask), PATCH, norm_pix_loss), out.loss)


def test_logits_are_the_decoder_output_of_every_patch_in_raster_order():
    model = MAESSLForPreTraining(mae_config()).eval()
    pixels, noise = torch.randn(2, 3, 32, 32), _noise()
    out = model(pixels, noise=noise)
    keep = out.keep_idx
    masked = torch.argsort(noise, dim=1)[:, keep.shape[1] :]
    with torch.no_grad():
        encoded = model.encoder(pixels, keep_indices=keep).last_hidden_state  # [B, 1 + K, D], CLS first
        visible_out, masked_out = model.decoder(
            encoded[:, 1:], keep, masked, prefix_tokens=encoded[:, :1], return_context=True
        )
    expected = torch.empty_like(out.logits)
    for b in range(2):  # scatter by hand: the output at sequence position j belongs to patch idx[b, j]
        for j, n in enumerate(keep[b].tolist()):
            expected[b, n] = visible_out[b, j]
        for j, n in enumerate(masked[b].tolist()):
            expected[b, n] = masked_out[b, j]
    assert torch.allclose(out.logits, expected, atol=1e-6)

    # Keep the same set of patches in another order: raster-order logits must not change.
    ranks = noise.argsort(1).argsort(1).float()
    reordered = noise.clone()
    for b in range(2):
        kept = keep[b]
        reordered[b, kept] = noise[b, kept].flip(0)  # the kept values permuted among themselves
    assert torch.equal(torch.argsort(reordered, 1)[:, : keep.shape[1]].sort(1).values, keep.sort(1).values)
    assert not torch.equal(reordered.argsort(1).argsort(1).float(), ranks)
    again = model(pixels, noise=reordered)
    assert torch.allclose(again.logits, out.logits, atol=1e-5)
    assert torch.allclose(again.loss, out.loss, atol=1e-6)


def test_patchify_matches_the_official_einsum_and_round_trips():
    images = torch.randn(2, 3, 32, 48)
    assert torch.equal(patchify(images, (4, 4)), official_patchify(images, 4))
    assert torch.equal(unpatchify(patchify(images, (4, 4)), (4, 4), (8, 12)), images)
    patches = torch.randn(2, 64, 48)
    assert torch.equal(unpatchify(patches, (4, 4), (8, 8)), official_unpatchify(patches, 4, 8, 8))
    rectangular = torch.randn(1, 1, 6, 8)  # non-square patches keep (row, column, channel) order
    assert torch.equal(unpatchify(patchify(rectangular, (2, 4)), (2, 4), (3, 2)), rectangular)
    normed, mean, std = normalize_patches(patches)
    assert torch.allclose(normed * std + mean, patches, atol=1e-5)
    assert torch.allclose(std**2, patches.var(-1, keepdim=True) + 1e-6)


@pytest.mark.parametrize("norm_pix_loss", [True, False])
def test_reconstruct_inverts_a_perfect_prediction(norm_pix_loss):
    model = MAESSLForPreTraining(mae_config(norm_pix_loss=norm_pix_loss)).eval()
    pixels = torch.randn(2, 3, 32, 32)
    out = model(pixels, noise=_noise())
    image = model.reconstruct(pixels, out)
    assert image.shape == pixels.shape and torch.isfinite(image).all()
    target = official_patchify(pixels, PATCH)
    if norm_pix_loss:
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
    out.logits = target  # what a perfect decoder would output
    assert torch.allclose(model.reconstruct(pixels, out), pixels, atol=1e-5)


# ---- initialisation and save/load ----------------------------------------------------------------------------------
def _xavier_bound(fan_in: int, fan_out: int) -> float:
    return math.sqrt(6.0 / (fan_in + fan_out))


def test_official_init():
    config = mae_config(hidden_size=128, decoder_hidden_size=128, decoder_num_attention_heads=2)
    model = MAESSLForPreTraining(config)
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert any(n.startswith("decoder.") for n, _ in linears) and any(n.startswith("encoder.") for n, _ in linears)
    for name, linear in linears:  # xavier-uniform everywhere: decoder (embed, blocks, proj) and encoder
        fan_out, fan_in = linear.weight.shape
        bound = _xavier_bound(fan_in, fan_out)
        assert linear.weight.abs().max() <= bound + 1e-6, name
        if linear.weight.numel() >= 16384:  # the std of a uniform(-a, a) is a / sqrt(3)
            assert abs(linear.weight.std().item() / (bound / math.sqrt(3)) - 1) < 0.03, name
        if linear.bias is not None:
            assert torch.equal(linear.bias, torch.zeros_like(linear.bias)), name
    # The large decoder MLP layer (128 -> 512) pins the decoder down; it is not at a default or std-0.02 init.
    fc1 = model.decoder.layers[0].mlp.fc1.weight
    assert fc1.shape == (512, 128)
    assert abs(fc1.std().item() / (_xavier_bound(128, 512) / math.sqrt(3)) - 1) < 0.03
    # Patch projection: xavier of the conv seen as a [hidden, C*p*p] linear, not of the 4-D conv (fan_out * p * p).
    projection = model.encoder.embeddings.patch_embeddings.projection.weight
    flat = projection.reshape(projection.shape[0], -1)
    bound = _xavier_bound(flat.shape[1], flat.shape[0])
    assert projection.abs().max() <= bound + 1e-6
    assert abs(flat.std().item() / (bound / math.sqrt(3)) - 1) < 0.05
    # Mask token and CLS token: normal(std 0.02), in particular not zero.
    for token in (model.decoder.mask_tokens, model.encoder.embeddings.cls_token):
        assert token.abs().sum() > 0
        assert 0.01 < token.std().item() < 0.03
    # No I-JEPA-style residual rescaling in MAE: the last block's projections are plain xavier.
    fc2 = model.encoder.layers[-1].mlp.fc2.weight
    assert abs(fc2.std().item() / (_xavier_bound(fc2.shape[1], fc2.shape[0]) / math.sqrt(3)) - 1) < 0.03


def test_save_load_does_not_reinitialise(tmp_path):
    model = MAESSLForPreTraining(mae_config()).eval()
    model.save_pretrained(tmp_path)
    reloaded = MAESSLForPreTraining.from_pretrained(tmp_path).eval()
    before, after = model.state_dict(), reloaded.state_dict()
    assert before.keys() == after.keys()
    for name, value in before.items():
        assert torch.equal(value, after[name]), name
    pixels, noise = torch.randn(2, 3, 32, 32), _noise()
    first, second = model(pixels, noise=noise), reloaded(pixels, noise=noise)
    assert torch.equal(first.loss, second.loss) and torch.equal(first.logits, second.logits)


# ---- training ------------------------------------------------------------------------------------------------------
class _Images(torch.utils.data.Dataset):
    def __init__(self, n=8):
        # Smooth images (a low-resolution pattern upsampled): something a tiny decoder can learn to fill in.
        low = torch.randn(n, 3, 4, 4, generator=torch.Generator().manual_seed(0))
        self.pixels = torch.nn.functional.interpolate(low, size=32, mode="bilinear", align_corners=False)

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        return {"pixel_values": self.pixels[i]}


def test_few_trainer_steps_reduce_the_loss(tmp_path):
    model = MAESSLForPreTraining(mae_config(norm_pix_loss=False))
    data = _Images()
    noise = torch.rand(len(data), NUM_PATCHES, generator=torch.Generator().manual_seed(3))
    model.eval()
    with torch.no_grad():
        before = model(data.pixels, noise=noise).loss.item()
    args = tiny_training_args(
        tmp_path, per_device_train_batch_size=8, lr_scheduler_type="constant", max_steps=15, logging_steps=5
    )
    trainer = SSLTrainer(model=model, args=args, train_dataset=data)
    trainer.train()
    model.eval()
    with torch.no_grad():
        after = model(data.pixels, noise=noise).loss.item()
    assert after < 0.8 * before, (before, after)  # measured: 0.92 -> 0.61
    logged = [entry for entry in trainer.state.log_history if "loss_reconstruction" in entry]
    assert logged and "ema_momentum" not in logged[0]  # MAE has no EMA target


# ---- errors --------------------------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    model = MAESSLForPreTraining(mae_config())
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="patch grid"):
        model(torch.randn(2, 3, 48, 48))
    with pytest.raises(ValueError, match="multiple of the patch size"):
        model(torch.randn(2, 3, 30, 30))
    with pytest.raises(ValueError, match="noise"):
        model(torch.randn(2, 3, 32, 32), noise=torch.rand(2, NUM_PATCHES - 1))
    with pytest.raises(ValueError, match="noise"):
        model(torch.randn(2, 3, 32, 32), noise=torch.rand(3, NUM_PATCHES))
    with pytest.raises(ValueError, match="use_cls_token"):
        MAESSLForPreTraining(mae_config(use_cls_token=False))
    with pytest.raises(ValueError, match="mask_ratio"):
        MAESSLConfig(mask_ratio=1.0)
    with pytest.raises(ValueError, match="mask_ratio"):  # nothing hidden: the loss would be 0/0
        MAESSLConfig(mask_ratio=0.0)


def test_samples_its_own_masks_reproducibly():
    model = MAESSLForPreTraining(mae_config())
    pixels = torch.randn(4, 3, 32, 32)
    a = model(pixels, generator=torch.Generator().manual_seed(5))
    b = model(pixels, generator=torch.Generator().manual_seed(5))
    c = model(pixels, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a.keep_idx, b.keep_idx) and torch.equal(a.loss, b.loss)
    assert not torch.equal(a.keep_idx, c.keep_idx)
    assert a.keep_idx.shape == (4, int(NUM_PATCHES * 0.25)) and torch.isfinite(a.loss)
