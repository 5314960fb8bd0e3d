"""Training views made on the batch's device from a seeded generator, so they are fast, batched and exactly
reproducible on resume (a collator drawing from the global RNG is not: data loaders prefetch ahead of checkpoints).
"""

import math

import torch
from torchvision.ops import roi_align


class RandomResizedCropFlip:
    """torchvision's `RandomResizedCrop` (+ optional horizontal flip) for a whole batch at once.

    Per sample, up to 10 (scale, log-uniform aspect ratio) draws; the first that fits the image is used, else the
    central crop clamped to the ratio range, exactly as torchvision decides. The crop is resampled with `roi_align`
    (bilinear, adaptive sampling that averages when shrinking, like antialiasing).
    """

    attempts = 10

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), horizontal_flip: bool = True):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.scale, self.ratio, self.horizontal_flip = tuple(scale), tuple(ratio), horizontal_flip
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"`crop_scale` must satisfy 0 < low <= high <= 1, got {self.scale}.")

    def sample_boxes(self, batch: int, height: int, width: int, device, generator=None):
        """Crop boxes [B, 4] as (x1, y1, x2, y2) in pixels, and flip flags [B]."""

        def uniform(low, high, shape):
            return low + (high - low) * torch.rand(shape, device=device, generator=generator, dtype=torch.float64)

        shape = (batch, self.attempts)
        area = height * width * uniform(*self.scale, shape)
        aspect = torch.exp(uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), shape))
        crop_w = torch.round(torch.sqrt(area * aspect))
        crop_h = torch.round(torch.sqrt(area / aspect))
        fits = (crop_w > 0) & (crop_w <= width) & (crop_h > 0) & (crop_h <= height)
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # first fitting attempt
        crop_w, crop_h = crop_w.gather(1, first)[:, 0], crop_h.gather(1, first)[:, 0]
        top = torch.floor(uniform(0, 1, batch) * (height - crop_h + 1))
        left = torch.floor(uniform(0, 1, batch) * (width - crop_w + 1))

        # torchvision's fallback when no attempt fits: the whole image cropped to the nearest allowed ratio.
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fallback_w, fallback_h = width, round(width / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            fallback_w, fallback_h = round(height * self.ratio[1]), height
        else:
            fallback_w, fallback_h = width, height
        none_fit = ~fits.any(dim=1)
        crop_w = torch.where(none_fit, float(fallback_w), crop_w)
        crop_h = torch.where(none_fit, float(fallback_h), crop_h)
        top = torch.where(none_fit, float((height - fallback_h) // 2), top)
        left = torch.where(none_fit, float((width - fallback_w) // 2), left)

        boxes = torch.stack([left, top, left + crop_w, top + crop_h], dim=1)
        flips = (
            uniform(0, 1, batch) < 0.5 if self.horizontal_flip else torch.zeros(batch, dtype=torch.bool, device=device)
        )
        return boxes, flips

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """images [B, C, H, W] (already normalised) -> views [B, C, size, size]."""
        batch, _, height, width = images.shape
        boxes, flips = self.sample_boxes(batch, height, width, images.device, generator)
        rois = torch.cat([torch.arange(batch, device=images.device, dtype=boxes.dtype)[:, None], boxes], dim=1)
        views = roi_align(
            images.float(), rois.to(torch.float32), self.size, spatial_scale=1.0, sampling_ratio=-1, aligned=True
        ).to(images.dtype)
        return torch.where(flips[:, None, None, None], views.flip(-1), views)
