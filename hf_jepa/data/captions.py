"""Captions of the embedded digits, made from their labels and from what the pixels show: stroke thickness (ink
relative to the other images of the same digit) and slant (the shear of the ink's second moments), e.g. "a thick
handwritten seven, slanted to the right". Zero-shot classification then tests what the text tower learned about the
digit words, and the properties give captions that differ within a class."""

import numpy as np

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Prompt templates of the zero-shot evaluation on the digits (class embedding = mean of their text embeddings, as
# CLIP's prompt ensembling): phrased as the captions are.
DIGIT_TEMPLATES = ("a handwritten {}", "a thin handwritten {}", "a thick handwritten {}")
SLANT_WORDS = ("slanted to the left", "upright", "slanted to the right")
THICKNESS_WORDS = ("thin", "", "thick")


def ink_slant(image: np.ndarray) -> float:
    """Shear of the ink of one [H, W] grey image: how far x moves right per row up (> 0: the top leans right),
    -cov(x, y) / var(y) of the pixel coordinates weighted by ink (y grows downwards)."""
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    weights = image.astype(np.float64)
    total = weights.sum()
    if total <= 0:
        return 0.0
    mean_x, mean_y = (weights * xs).sum() / total, (weights * ys).sum() / total
    cov = (weights * (xs - mean_x) * (ys - mean_y)).sum() / total
    var_y = (weights * (ys - mean_y) ** 2).sum() / total
    return float(-cov / var_y) if var_y > 0 else 0.0


def _terciles(values: np.ndarray) -> np.ndarray:
    """0, 1, 2 for the lower, middle and upper third of `values`."""
    low, high = np.quantile(values, [1 / 3, 2 / 3])
    return (values > low).astype(int) + (values > high).astype(int)


def digit_captions(images: np.ndarray, labels: np.ndarray) -> list[str]:
    """images [N, H, W] (grey, ink bright), labels [N] -> one caption per image: thickness is the tercile of the total
    ink among images of the same digit (a one has less ink than an eight without being thin), slant the tercile of
    the ink's shear over all images."""
    ink = images.reshape(len(images), -1).sum(axis=1).astype(np.float64)
    thickness = np.zeros(len(images), dtype=int)
    for label in np.unique(labels):
        members = labels == label
        thickness[members] = _terciles(ink[members])
    slant = _terciles(np.array([ink_slant(image) for image in images]))
    captions = []
    for label, thick, lean in zip(labels.tolist(), thickness.tolist(), slant.tolist()):
        adjective = THICKNESS_WORDS[thick]
        captions.append(
            f"a {adjective + ' ' if adjective else ''}handwritten {DIGIT_NAMES[label]}, {SLANT_WORDS[lean]}"
        )
    return captions


__all__ = ["DIGIT_NAMES", "DIGIT_TEMPLATES", "digit_captions", "ink_slant"]
