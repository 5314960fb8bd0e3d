"""Batched photometric augmentations with per-sample parameters, for float images in [0, 1] of shape [B, 3, H, W].

Each op takes its parameter as a tensor [B] (one value per sample) and matches the formula of the same op in
`torchvision.transforms.v2.functional` applied sample by sample. Random application is a `torch.where` over the
batch: no Python loop over samples and no host synchronisation, so these run on the batch's device from a
`torch.Generator` (see `hf_jepa.views`).
"""

import math
from typing import NamedTuple

import torch

# ITU-R 601-2 luma, as torchvision and PIL.
_LUMA = (0.2989, 0.587, 0.114)


def _per_sample(values, images: torch.Tensor):
    """A tensor [B] -> [B, 1, 1, 1] in the images' dtype, to broadcast over C, H, W; a Python number stays one
    (making it a device tensor would be a host-to-device copy, which synchronises)."""
    if isinstance(values, (int, float)):
        return values
    return values.to(images.dtype).reshape(-1, 1, 1, 1)


def where_samples(mask: torch.Tensor, when_true: torch.Tensor, when_false: torch.Tensor) -> torch.Tensor:
    """Pick per sample: mask [B] (bool), images [B, C, H, W] -> [B, C, H, W]."""
    return torch.where(mask.reshape(-1, 1, 1, 1), when_true, when_false)


def _blend(images: torch.Tensor, other: torch.Tensor, factor) -> torch.Tensor:
    """factor * images + (1 - factor) * other, clamped to [0, 1] (torchvision's `_blend`); factor [B]."""
    factor = _per_sample(factor, images)
    return (images * factor + other * (1.0 - factor)).clamp(0.0, 1.0)


def luma(images: torch.Tensor) -> torch.Tensor:
    """images [B, 3, H, W] -> luma [B, 1, H, W]."""
    red, green, blue = images.unbind(dim=-3)
    return (red * _LUMA[0] + green * _LUMA[1] + blue * _LUMA[2]).unsqueeze(-3)


def rgb_to_grayscale(images: torch.Tensor) -> torch.Tensor:
    """images [B, 3, H, W] -> grayscale repeated on 3 channels [B, 3, H, W] (`num_output_channels=3`)."""
    return luma(images).expand_as(images).contiguous()


def adjust_brightness(images: torch.Tensor, factor) -> torch.Tensor:
    """Scale by factor [B] (>= 0) and clamp to [0, 1]: images [B, C, H, W] -> [B, C, H, W]."""
    return (images * _per_sample(factor, images)).clamp(0.0, 1.0)


def adjust_contrast(images: torch.Tensor, factor) -> torch.Tensor:
    """Blend with the per-image mean luma by factor [B] (>= 0): images [B, 3, H, W] -> [B, 3, H, W]."""
    return _blend(images, luma(images).mean(dim=(-3, -2, -1), keepdim=True), factor)


def adjust_saturation(images: torch.Tensor, factor) -> torch.Tensor:
    """Blend with the grayscale image by factor [B] (>= 0): images [B, 3, H, W] -> [B, 3, H, W]."""
    return _blend(images, luma(images), factor)


def adjust_hue(images: torch.Tensor, factor) -> torch.Tensor:
    """Rotate the HSV hue by factor [B] in [-0.5, 0.5] (fraction of the wheel): [B, 3, H, W] -> [B, 3, H, W].

    torchvision's RGB -> HSV -> RGB, with the closed form `v * (1 - s * clamp(min(k, 4 - k), 0, 1))`,
    k = (n + 6 * hue) mod 6 with n = 5, 3, 1 for R, G, B, in place of its sector table (same values, fewer ops).
    """
    red, green, blue = images.unbind(dim=-3)
    low, high = torch.aminmax(images, dim=-3)
    spread = high - low
    flat = spread == 0  # gray pixels: hue and saturation 0; guard the divisions instead of fixing NaNs afterwards
    saturation = spread / torch.where(flat, 1.0, high)
    spread = torch.where(flat, 1.0, spread)
    # Hue in sixths of the wheel, from whichever channel is the max (red first, then green, as PIL).
    hue = torch.where(
        high == red,
        (green - blue) / spread,
        torch.where(high == green, 2.0 + (blue - red) / spread, 4.0 + (red - green) / spread),
    )
    shift = _per_sample(factor, images)
    hue = hue + 6.0 * (shift if isinstance(shift, (int, float)) else shift[:, 0])
    # 5, 3, 1 for R, G, B, made on the device (torch.tensor([...]) would be a synchronising host-to-device copy).
    offsets = 5.0 - 2.0 * torch.arange(3, device=images.device, dtype=images.dtype).reshape(1, 3, 1, 1)
    k = torch.remainder(offsets + hue.unsqueeze(-3), 6.0)
    return high.unsqueeze(-3) * (1.0 - saturation.unsqueeze(-3) * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0))


def solarize(images: torch.Tensor, threshold=0.5) -> torch.Tensor:
    """Invert pixels >= threshold (a float or [B]): images [B, C, H, W] in [0, 1] -> [B, C, H, W]."""
    return torch.where(images >= _per_sample(threshold, images), 1.0 - images, images)


def gaussian_kernel_size(max_sigma: float) -> int:
    """The odd kernel size for blurs with sigma up to `max_sigma` pixels.

    Inverts torchvision's convention `sigma = 0.15 * kernel_size + 0.35` (what `gaussian_blur` uses when given no
    sigma): the smallest odd size whose default sigma reaches `max_sigma`, at least 3. For DINO's 2.0 this is 11,
    i.e. the kernel reaches 2.5 sigma out (it is renormalised to sum to 1, as torchvision does).
    """
    size = max(3, math.ceil(round((max_sigma - 0.35) / 0.15, 6)))
    return size if size % 2 else size + 1


def gaussian_kernels(sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels: sigma [B] (pixels, > 0) -> [B, kernel_size]."""
    offsets = torch.arange(kernel_size, device=sigma.device, dtype=sigma.dtype) - (kernel_size - 1) / 2
    return torch.softmax(-0.5 * (offsets / sigma[:, None]) ** 2, dim=1)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Separable Gaussian blur with per-sample sigma [B]: images [B, C, H, W] -> [B, C, H, W].

    `kernel_size` is odd and shared by the batch (a fixed size keeps shapes static; see `gaussian_kernel_size`);
    borders are reflected like torchvision's, which needs `kernel_size // 2 < min(H, W)`.
    """
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"`kernel_size` must be odd and positive, got {kernel_size}.")
    batch, channels, height, width = images.shape
    half = kernel_size // 2
    if half >= min(height, width):
        raise ValueError(f"`kernel_size` {kernel_size} is too large for reflect padding of {height}x{width} images.")
    kernels = gaussian_kernels(sigma.to(images.dtype), kernel_size)  # [B, K]
    # One group per (sample, channel): depthwise convs, first along W then along H.
    weight = kernels.repeat_interleave(channels, dim=0)  # [B*C, K]
    padded = torch.nn.functional.pad(images, (half, half, half, half), mode="reflect")
    flat = padded.reshape(1, batch * channels, height + 2 * half, width + 2 * half)
    flat = torch.nn.functional.conv2d(flat, weight[:, None, None, :], groups=batch * channels)
    flat = torch.nn.functional.conv2d(flat, weight[:, None, :, None], groups=batch * channels)
    return flat.reshape(batch, channels, height, width)


class ColorJitterParams(NamedTuple):
    """Per-sample color-jitter draws; samples not jittered hold identity factors (1, 1, 1, 0).

    order [B, 4]: the op applied in each of 4 rounds (0 brightness, 1 contrast, 2 saturation, 3 hue);
    brightness, contrast, saturation, hue [B]; applied [B] bool.
    """

    order: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor
    saturation: torch.Tensor
    hue: torch.Tensor
    applied: torch.Tensor


def sample_color_jitter(
    batch: int, device, generator=None, p=0.8, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1
) -> ColorJitterParams:
    """Draw torchvision's ColorJitter parameters per sample, applied with probability p.

    Factors are uniform in [max(0, 1 - x), 1 + x] (hue in [-hue, hue]); the order of the four ops is a uniform
    random permutation per sample (torchvision draws one `randperm(4)` per call, i.e. per image).
    """
    if not 0 <= hue <= 0.5:
        raise ValueError(f"`hue` must be in [0, 0.5], got {hue}.")
    for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if value < 0:
            raise ValueError(f"`{name}` must be >= 0, got {value}.")

    def uniform(low, high):
        return low + (high - low) * torch.rand(batch, device=device, generator=generator)

    applied = torch.rand(batch, device=device, generator=generator) < p
    order = torch.rand(batch, 4, device=device, generator=generator).argsort(dim=1)  # uniform permutations
    factors = [uniform(max(0.0, 1 - value), 1 + value) for value in (brightness, contrast, saturation)]
    factors = [torch.where(applied, factor, 1.0) for factor in factors]
    hue_shift = torch.where(applied, uniform(-hue, hue), 0.0)
    return ColorJitterParams(order, *factors, hue_shift, applied)


def _blend_round(images: torch.Tensor, params: "ColorJitterParams", op: torch.Tensor, active: torch.Tensor):
    """One of brightness (op 0), contrast (1), saturation (2) per sample, where active [B]; else identity.

    All three are `f * x + (1 - f) * target` (target 0, mean luma, luma); an inactive sample gets f = 1, which
    leaves it exactly unchanged. images [B, 3, H, W], op [B] in {0, 1, 2}, active [B] bool -> [B, 3, H, W].
    """
    gray = luma(images)
    is_brightness, is_contrast = (op == 0).reshape(-1, 1, 1, 1), (op == 1).reshape(-1, 1, 1, 1)
    target = torch.where(is_brightness, 0.0, torch.where(is_contrast, gray.mean(dim=(-2, -1), keepdim=True), gray))
    factor = torch.where(op == 0, params.brightness, torch.where(op == 1, params.contrast, params.saturation))
    return _blend(images, target, torch.where(active, factor, 1.0))


def apply_color_jitter(images: torch.Tensor, params: ColorJitterParams, use_hue: bool = True) -> torch.Tensor:
    """Apply drawn jitter, each sample in its own op order: images [B, 3, H, W] in [0, 1] -> [B, 3, H, W].

    Hue is the costly op, so it runs once for the whole batch: each sample's order is split into the blend ops
    before its hue (3 rounds, the unused ones identity), hue, and the blend ops after it (3 rounds). That is the
    sample's exact op sequence. `use_hue=False` skips hue (a zero hue range), keeping the order of the others.
    """
    order = params.order
    hue_at = (order == 3).to(torch.uint8).argmax(dim=1)  # [B] position of hue in each sample's order
    out = images
    for step in range(3):  # ops before hue: order[:, step] while step < hue_at
        out = _blend_round(out, params, order[:, step], step < hue_at)
    if use_hue:
        out = adjust_hue(out, params.hue)
    for step in range(3):  # ops after hue: order[:, hue_at + 1 + step] while that is < 4
        slot = hue_at + 1 + step
        out = _blend_round(out, params, order.gather(1, slot.clamp(max=3)[:, None])[:, 0], slot < 4)
    # Untouched samples stay bit-identical (hue's HSV round trip is only exact up to float error).
    return where_samples(params.applied, out, images)


def color_jitter(
    images: torch.Tensor, generator=None, p=0.8, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1
) -> torch.Tensor:
    """torchvision's `RandomApply([ColorJitter(...)], p)` per sample: images [B, 3, H, W] in [0, 1] -> same shape."""
    params = sample_color_jitter(images.shape[0], images.device, generator, p, brightness, contrast, saturation, hue)
    return apply_color_jitter(images, params, use_hue=hue > 0)
