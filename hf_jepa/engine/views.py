"""Training views made on the batch's device from a seeded generator, so they are fast, batched and exactly
reproducible on resume (a collator drawing from the global RNG is not: data loaders prefetch ahead of checkpoints).
"""

import math

import torch
from torchvision.ops import roi_align

from .augment import color_jitter as jitter_colors
from .augment import gaussian_blur, gaussian_kernel_size, rgb_to_grayscale, solarize, where_samples


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

    def crops(self, images: torch.Tensor, num_views: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """images [B, C, H, W] -> `num_views` independent crops per image [B, num_views, C, size, size]."""
        batch, channels, height, width = images.shape
        boxes, flips = self.sample_boxes(batch * num_views, height, width, images.device, generator)
        owner = torch.arange(batch, device=images.device, dtype=boxes.dtype).repeat_interleave(num_views)
        rois = torch.cat([owner[:, None], boxes], dim=1)  # one roi_align call for all views of the batch
        views = roi_align(
            images.float(), rois.to(torch.float32), self.size, spatial_scale=1.0, sampling_ratio=-1, aligned=True
        ).to(images.dtype)
        views = torch.where(flips[:, None, None, None], views.flip(-1), views)
        return views.reshape(batch, num_views, channels, *self.size)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """images [B, C, H, W] (already normalised) -> views [B, C, size, size]. Clips [B, T, C, H, W] get one crop
        and flip per clip, the same for all its frames (V-JEPA) -> [B, T, C, size, size]."""
        if images.ndim == 5:
            return self.crops(images.flatten(1, 2), 1, generator)[:, 0].unflatten(1, (images.shape[1], -1))
        return self.crops(images, 1, generator)[:, 0]


def _check_scale(name: str, scale) -> tuple[float, float]:
    """A crop-scale pair (low, high) with 0 < low <= high <= 1, else ValueError naming the argument."""
    scale = tuple(float(value) for value in scale)
    if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"`{name}` must be (low, high) with 0 < low <= high <= 1, got {scale}.")
    return scale


def _check_probabilities(name: str, probabilities) -> tuple[float, float]:
    """A pair of probabilities (first view, other views), each in [0, 1], else ValueError naming the argument."""
    probabilities = tuple(float(p) for p in probabilities)
    if len(probabilities) != 2 or not all(0.0 <= p <= 1.0 for p in probabilities):
        raise ValueError(f"`{name}` must be (first view, other views) probabilities in [0, 1], got {probabilities}.")
    return probabilities


class MultiCropViews:
    """DINO's multi-crop views (official `DataAugmentationDINO`) for a whole batch on its device.

    Per image: `num_global_crops` global crops (scale `global_scale`) and `num_local_crops` local crops (scale
    `local_scale`), each RandomResizedCrop -> horizontal flip (p 0.5) -> ColorJitter(0.4, 0.4, 0.2, 0.1) with p 0.8
    (per-view random op order) -> grayscale (p 0.2) -> Gaussian blur (sigma uniform in `blur_sigma` pixels) with
    p 1.0 for global crop 1, 0.1 for the other globals, 0.5 for locals -> solarize (p 0.2, other globals only; at
    0.5, i.e. uint8 128) -> normalise. Extra global crops (beyond 2) follow global crop 2's recipe.

    Simplifications against the official PIL pipeline: crops are resampled with `roi_align` (bilinear with area
    averaging when shrinking) instead of PIL bicubic; the blur is a Gaussian conv with one fixed odd kernel per crop
    size (`augment.gaussian_kernel_size` of the largest sigma: 11 for 2.0, capped by the crop size for reflect
    padding) instead of PIL's box-approximated Gaussian; photometric ops act on float pixels (no uint8 rounding).
    `color_jitter=False` turns off the whole colour distortion (jitter and grayscale); `blur_sigma=None` the blur.

    The same pipeline makes the two views of BYOL and MoCo v3 (their recipe is DINO's global crops: blur p 1.0 / 0.1,
    solarize p 0 / 0.2) and, with `color_jitter_params=(0.8, 0.8, 0.8, 0.2)` and `global_blur_p=(0.5, 0.5)`,
    `global_solarize_p=(0.0, 0.0)`, SimCLR's. `color_jitter_params`: ColorJitter's (brightness, contrast,
    saturation, hue) ranges; `global_blur_p`, `global_solarize_p`: probabilities of blur / solarize for (each image's
    first global crop, its other global crops); `local_blur_p`, `local_solarize_p` the same for the local crops.
    Their defaults are DINO's.

    Input `images` [B, C, H, W] are normalised with (mean, std), as the collator gives them; views come back
    normalised the same way: {"global_crops": [B, G, C, g, g], "local_crops": [B, L, C, l, l]} ("local_crops" absent
    when `num_local_crops` is 0). All randomness comes from `generator`, in a fixed order with fixed shapes.
    """

    apply_in_eval = True  # the trainer also makes views for evaluation batches (with a fixed generator)

    def __init__(
        self,
        global_size,
        local_size,
        num_local_crops: int = 8,
        global_scale=(0.4, 1.0),
        local_scale=(0.05, 0.4),
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        horizontal_flip: bool = True,
        color_jitter: bool = True,
        blur_sigma=(0.1, 2.0),
        num_global_crops: int = 2,
        color_jitter_params=(0.4, 0.4, 0.2, 0.1),
        global_blur_p=(1.0, 0.1),
        global_solarize_p=(0.0, 0.2),
        local_blur_p=(0.5, 0.5),
        local_solarize_p=(0.0, 0.0),
    ):
        for name, size in (("global_size", global_size), ("local_size", local_size)):
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                raise ValueError(f"`{name}` must be a positive int, got {size!r}.")
        if not isinstance(num_global_crops, int) or num_global_crops < 2:
            raise ValueError(
                f"`num_global_crops` must be an int >= 2 (DINO needs two global views), got {num_global_crops!r}."
            )
        if not isinstance(num_local_crops, int) or num_local_crops < 0:
            raise ValueError(f"`num_local_crops` must be an int >= 0, got {num_local_crops!r}.")
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        if len(self.mean) != 3 or len(self.std) != len(self.mean):
            raise ValueError(f"`mean` and `std` must have 3 values (RGB), got {self.mean} and {self.std}.")
        if min(self.std) <= 0:
            raise ValueError(f"`std` must be positive, got {self.std}.")
        if blur_sigma is not None:
            blur_sigma = tuple(float(s) for s in blur_sigma)
            if len(blur_sigma) != 2 or not 0 < blur_sigma[0] <= blur_sigma[1]:
                raise ValueError(f"`blur_sigma` must be (low, high) with 0 < low <= high, or None, got {blur_sigma}.")
        self.global_size, self.local_size = global_size, local_size
        self.num_global_crops, self.num_local_crops = num_global_crops, num_local_crops
        self.color_jitter, self.blur_sigma = bool(color_jitter), blur_sigma
        self.global_crop = RandomResizedCropFlip(
            global_size, scale=_check_scale("global_scale", global_scale), horizontal_flip=horizontal_flip
        )
        self.local_crop = RandomResizedCropFlip(
            local_size, scale=_check_scale("local_scale", local_scale), horizontal_flip=horizontal_flip
        )
        jitter = tuple(float(v) for v in color_jitter_params)
        if len(jitter) != 4 or min(jitter) < 0 or jitter[3] > 0.5:
            raise ValueError(
                "`color_jitter_params` must be (brightness, contrast, saturation, hue) >= 0 with hue <= 0.5, got "
                f"{jitter}."
            )
        self.color_jitter_params = jitter
        # Official probabilities as (first view, other views): global crop 1 always blurred, never solarized, the
        # other globals as crop 2; every local crop alike.
        self.global_blur_p = _check_probabilities("global_blur_p", global_blur_p)
        self.global_solarize_p = _check_probabilities("global_solarize_p", global_solarize_p)
        self.local_blur_p = _check_probabilities("local_blur_p", local_blur_p)
        self.local_solarize_p = _check_probabilities("local_solarize_p", local_solarize_p)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """images [B, C, H, W] (normalised) -> {"global_crops": [B, G, C, g, g], "local_crops": [B, L, C, l, l]}."""
        if images.ndim != 4 or images.shape[1] != len(self.mean):
            raise ValueError(f"`images` must be [B, {len(self.mean)}, H, W], got shape {tuple(images.shape)}.")
        views = {
            "global_crops": self._views(
                images, self.global_crop, self.num_global_crops, self.global_blur_p, self.global_solarize_p, generator
            )
        }
        if self.num_local_crops:
            views["local_crops"] = self._views(
                images, self.local_crop, self.num_local_crops, self.local_blur_p, self.local_solarize_p, generator
            )
        return views

    def _views(self, images, crop: RandomResizedCropFlip, num_views, blur_p, solarize_p, generator) -> torch.Tensor:
        """Crop `num_views` views per image and augment them: [B, C, H, W] -> [B, V, C, size, size].

        blur_p, solarize_p: probabilities (for each image's first view, for its other views).
        """
        batch, device = images.shape[0], images.device
        crops = crop.crops(images, num_views, generator).flatten(0, 1).float()  # [B*V, C, s, s], by image
        # Constants are filled on the device: torch.tensor([...], device=...) is a host-to-device copy (a sync).
        mean = torch.stack([torch.full((), m, device=device) for m in self.mean]).reshape(1, -1, 1, 1)
        std = torch.stack([torch.full((), s, device=device) for s in self.std]).reshape(1, -1, 1, 1)
        # Cropping is linear, so cropping normalised images then un-normalising equals the other order (fewer pixels).
        x = (crops * std + mean).clamp(0.0, 1.0)

        def draw(probs):  # one Bernoulli per view, with probs[0] for each image's first view and probs[1] after
            first = torch.arange(num_views, device=device).repeat(batch) == 0
            return torch.rand(batch * num_views, device=device, generator=generator) < torch.where(first, *probs)

        if self.color_jitter:
            brightness, contrast, saturation, hue = self.color_jitter_params
            x = jitter_colors(
                x, generator, p=0.8, brightness=brightness, contrast=contrast, saturation=saturation, hue=hue
            )
            x = where_samples(draw((0.2, 0.2)), rgb_to_grayscale(x), x)
        if self.blur_sigma is not None:
            low, high = self.blur_sigma
            sigma = low + (high - low) * torch.rand(batch * num_views, device=device, generator=generator)
            blur = draw(blur_p)
            # Reflect padding needs kernel_size // 2 < crop size.
            kernel_size = min(gaussian_kernel_size(high), 2 * min(crop.size) - 1)
            x = where_samples(blur, gaussian_blur(x, sigma, kernel_size), x)
        if any(solarize_p):
            x = where_samples(draw(solarize_p), solarize(x, 0.5), x)
        x = (x - mean) / std
        return x.reshape(batch, num_views, *x.shape[1:]).to(images.dtype)
