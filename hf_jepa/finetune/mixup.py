"""MixUp and CutMix for a whole batch on its device (timm's `Mixup` in its default "batch" mode, as the MAE, DeiT
and BEiT fine-tuning recipes use it): one mixing coefficient and, for CutMix, one box per batch; every image is mixed
with the batch reversed; targets become the same mix of (label-smoothed) one-hot vectors.

The per-batch scalars come from a NumPy generator keyed by the caller's seed, so a batch is mixed the same way on any
device and nothing waits for the device."""

import numpy as np
import torch
import torch.nn.functional as F


def smoothed_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """labels [B] -> [B, num_classes]: 1 - smoothing + smoothing / C on the label, smoothing / C elsewhere."""
    off = smoothing / num_classes
    return torch.full((labels.shape[0], num_classes), off, device=labels.device).scatter_(
        1, labels[:, None], 1.0 - smoothing + off
    )


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum_c target_c log softmax(logits)_c; logits and targets [B, C]."""
    return torch.sum(-targets * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


def cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A box (top, bottom, left, right) of area about (1 - lam) of the image, centred uniformly and clipped."""
    ratio = np.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
    top, bottom = np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h // 2, 0, height)
    left, right = np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w // 2, 0, width)
    return int(top), int(bottom), int(left), int(right)


class MixUpCutMix:
    """`mixup_alpha` / `cutmix_alpha`: Beta(alpha, alpha) parameters (0 turns one off); with both on, CutMix is used
    for a batch with probability `switch_prob` (timm's default 0.5); `prob`: chance a batch is mixed at all;
    `label_smoothing` applies to the targets (the loss is then the soft-target cross-entropy)."""

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
    ):
        if mixup_alpha < 0 or cutmix_alpha < 0 or (mixup_alpha == 0 and cutmix_alpha == 0):
            raise ValueError(
                f"`--mixup_alpha` ({mixup_alpha}) and `--cutmix_alpha` ({cutmix_alpha}) must be >= 0, one of them > 0."
            )
        for name, value in (("mixup_prob", prob), ("switch_prob", switch_prob), ("label_smoothing", label_smoothing)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`--{name}` must be in [0, 1], got {value}.")
        self.num_classes, self.prob, self.switch_prob = num_classes, prob, switch_prob
        self.mixup_alpha, self.cutmix_alpha, self.label_smoothing = mixup_alpha, cutmix_alpha, label_smoothing

    def sample(self, rng: np.random.Generator) -> tuple[float, bool]:
        """(lam, use_cutmix) of one batch; lam 1.0 leaves the batch as it is."""
        if rng.random() >= self.prob:
            return 1.0, False
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or rng.random() < self.switch_prob)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        return float(rng.beta(alpha, alpha)), use_cutmix

    def __call__(self, pixels: torch.Tensor, labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """pixels [B, C, H, W] (or clips [B, T, C, H, W]), labels [B] -> mixed pixels and targets [B, num_classes]."""
        rng = np.random.default_rng(seed)
        lam, use_cutmix = self.sample(rng)
        flipped = pixels.flip(0)
        if use_cutmix:
            top, bottom, left, right = cutmix_box(pixels.shape[-2], pixels.shape[-1], lam, rng)
            pixels = pixels.clone()
            pixels[..., top:bottom, left:right] = flipped[..., top:bottom, left:right]
            lam = 1.0 - (bottom - top) * (right - left) / (pixels.shape[-2] * pixels.shape[-1])  # the exact area
        elif lam < 1.0:
            pixels = pixels * lam + flipped * (1.0 - lam)
        one_hot = smoothed_one_hot(labels, self.num_classes, self.label_smoothing)
        return pixels, one_hot * lam + one_hot.flip(0) * (1.0 - lam)


__all__ = ["MixUpCutMix", "cutmix_box", "smoothed_one_hot", "soft_target_cross_entropy"]
