"""Pictures of what a model computed: PCA colours of patch features, masks, blocks, heat maps, attention maps, a 2-D
map of embeddings. Pure numpy/PIL functions on arrays (no model, no UI), so the demos and notebooks share them.

Images are uint8 arrays [H, W, 3]; per-patch values are arrays [grid_h, grid_w] in raster order of the patches.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

# Colour maps as anchor colours interpolated linearly: viridis for magnitudes, a blue-grey-red one for signed values.
VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
DIVERGING = ((59, 76, 192), (141, 176, 254), (221, 221, 221), (244, 154, 123), (180, 4, 38))
# Category colours (matplotlib's tab10) for labels and target blocks; cycled past ten.
CATEGORY_COLORS = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
HIDDEN_PATCH_GREY = (128, 128, 128)


def resize_image(image: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """uint8 [H, W, 3] -> [size[0], size[1], 3]; `nearest` keeps patches sharp when enlarging a model-sized view."""
    resample = Image.NEAREST if nearest else Image.BICUBIC
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), resample))


def patches_to_pixels(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Per-patch values [gh, gw, ...] -> per-pixel [H, W, ...], each patch a rectangle (nearest, any H, W)."""
    grid_h, grid_w = values.shape[:2]
    rows = np.arange(size[0]) * grid_h // size[0]
    cols = np.arange(size[1]) * grid_w // size[1]
    return values[rows[:, None], cols[None, :]]


def indices_to_grid(indices: Sequence[int] | np.ndarray, grid_size: tuple[int, int]) -> np.ndarray:
    """Raster-order patch indices -> boolean [gh, gw], True at those patches."""
    grid = np.zeros(grid_size[0] * grid_size[1], dtype=bool)
    grid[np.asarray(indices, dtype=np.int64)] = True
    return grid.reshape(grid_size)


def mean_per_patch(indices: np.ndarray, values: np.ndarray, grid_size: tuple[int, int]) -> np.ndarray:
    """Values given at raster-order patch indices (same shape, repeats allowed, e.g. overlapping I-JEPA target
    blocks) -> [gh, gw] mean per patch, NaN where no value was given."""
    total, count = np.zeros(grid_size[0] * grid_size[1]), np.zeros(grid_size[0] * grid_size[1])
    np.add.at(total, np.ravel(indices), np.ravel(values))
    np.add.at(count, np.ravel(indices), 1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan).reshape(grid_size)


def fit_pca(features: np.ndarray, num_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Principal axes of features [N, D] -> (mean [D], components [num_components, D]).

    Each axis' sign is fixed so that the projection with the largest magnitude is positive: the same features
    always give the same colours. Missing axes (N or D below `num_components`) are zero rows.
    """
    features = np.asarray(features, dtype=np.float64)
    mean = features.mean(axis=0)
    _, _, axes = np.linalg.svd(features - mean, full_matrices=False)
    axes = axes[:num_components]
    projections = (features - mean) @ axes.T  # [N, k]
    largest = projections[np.abs(projections).argmax(axis=0), np.arange(axes.shape[0])]
    axes = axes * np.where(largest < 0, -1.0, 1.0)[:, None]
    components = np.zeros((num_components, features.shape[1]))
    components[: axes.shape[0]] = axes
    return mean, components


def project(features: np.ndarray, pca: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """features [N, D] -> [N, k] on the axes of `fit_pca`."""
    mean, components = pca
    return (np.asarray(features, dtype=np.float64) - mean) @ components.T


def pca_colors(patch_features: np.ndarray, grid_size: tuple[int, int]) -> np.ndarray:
    """Patch features [gh * gw, D] -> RGB [gh, gw, 3] in [0, 1]: the first three principal components of the image's
    own patches, each min-max scaled (a constant component is 0.5), as in the DINO / DINOv2 figures."""
    coords = project(patch_features, fit_pca(patch_features, 3))  # [N, 3]
    low, high = coords.min(axis=0), coords.max(axis=0)
    span = high - low
    scaled = np.where(span > 1e-12, (coords - low) / np.where(span > 1e-12, span, 1.0), 0.5)
    return scaled.reshape(grid_size[0], grid_size[1], 3)


def apply_colormap(values: np.ndarray, anchors: Sequence[tuple[int, int, int]] = VIRIDIS) -> np.ndarray:
    """Values in [0, 1] (clipped) [...] -> uint8 colours [..., 3] interpolated between `anchors`."""
    values = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    positions = np.linspace(0.0, 1.0, len(anchors))
    anchors = np.asarray(anchors, dtype=np.float64)
    channels = [np.interp(values, positions, anchors[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8)


def blend(base: np.ndarray, overlay: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """(1 - alpha) * base + alpha * overlay, uint8; `alpha` a number or per pixel [H, W]."""
    alpha = np.asarray(alpha, dtype=np.float64)
    if alpha.ndim == 2:
        alpha = alpha[..., None]
    mixed = (1.0 - alpha) * base.astype(np.float64) + alpha * overlay.astype(np.float64)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def pca_overlay(image: np.ndarray, patch_features: np.ndarray, grid_size: tuple[int, int], alpha=0.7) -> np.ndarray:
    """The image [H, W, 3] under the PCA colours of its patch features [gh * gw, D], patch by patch."""
    colors = patches_to_pixels(pca_colors(patch_features, grid_size), image.shape[:2])
    return blend(image, np.round(colors * 255), alpha)


def fill_patches(image: np.ndarray, patches: np.ndarray, color=HIDDEN_PATCH_GREY) -> np.ndarray:
    """The image [H, W, 3] with the patches marked True in `patches` [gh, gw] painted `color`."""
    out = image.copy()
    out[patches_to_pixels(patches, image.shape[:2])] = color
    return out


def paste_patches(image: np.ndarray, replacement: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """`image` [H, W, 3] where `patches` [gh, gw] is False, `replacement` (same size) where it is True."""
    where = patches_to_pixels(patches, image.shape[:2])
    return np.where(where[..., None], replacement, image).astype(np.uint8)


def _patch_box(patches: np.ndarray, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixel box (left, top, right, bottom; inclusive) around the True patches of [gh, gw]."""
    rows, cols = np.nonzero(patches)
    grid_h, grid_w = patches.shape
    height, width = image_size
    top, bottom = rows.min() * height // grid_h, (rows.max() + 1) * height // grid_h - 1
    left, right = cols.min() * width // grid_w, (cols.max() + 1) * width // grid_w - 1
    return int(left), int(top), int(right), int(bottom)


def draw_blocks(image: np.ndarray, context: np.ndarray, targets: Sequence[np.ndarray], line_width=3) -> np.ndarray:
    """I-JEPA's masks on the image [H, W, 3]: patches outside the context [gh, gw] darkened, each target block
    [gh, gw] outlined in its own category colour."""
    dimmed = blend(image, np.zeros_like(image), 0.65)
    out = np.where(patches_to_pixels(context, image.shape[:2])[..., None], image, dimmed).astype(np.uint8)
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    for number, target in enumerate(targets):
        if target.any():
            color = CATEGORY_COLORS[number % len(CATEGORY_COLORS)]
            draw.rectangle(_patch_box(target, image.shape[:2]), outline=color, width=line_width)
    return np.asarray(canvas)


def heat_map(
    image: np.ndarray,
    values: np.ndarray,
    value_range: tuple[float, float] = (0.0, 1.0),
    anchors: Sequence[tuple[int, int, int]] = VIRIDIS,
    alpha: float = 0.75,
) -> np.ndarray:
    """Per-patch values [gh, gw] coloured over the image [H, W, 3]; NaN patches (no value) show the image dimmed."""
    low, high = value_range
    scaled = (np.asarray(values, dtype=np.float64) - low) / (high - low)
    colors = patches_to_pixels(apply_colormap(scaled, anchors), image.shape[:2])
    has_value = patches_to_pixels(~np.isnan(values), image.shape[:2])
    dimmed = blend(image, np.zeros_like(image), 0.5)
    return np.where(has_value[..., None], blend(image, colors, alpha), dimmed).astype(np.uint8)


def similarity_matrix(
    values: np.ndarray,
    value_range: tuple[float, float] = (-1.0, 1.0),
    size: int = 224,
    anchors: Sequence[tuple[int, int, int]] = DIVERGING,
) -> np.ndarray:
    """A matrix of values [N, M] (e.g. cosine similarities between embeddings) as a picture [size, size, 3]: one cell
    per entry coloured on `anchors` over `value_range`, row 0 at the top, white lines between the cells."""
    values = np.asarray(values, dtype=np.float64)
    low, high = value_range
    picture = patches_to_pixels(apply_colormap((values - low) / (high - low), anchors), (size, size)).copy()
    picture[np.arange(1, values.shape[0]) * size // values.shape[0], :] = 255
    picture[:, np.arange(1, values.shape[1]) * size // values.shape[1]] = 255
    return picture


def attention_overlays(image: np.ndarray, attention: np.ndarray, alpha: float = 0.7) -> list[np.ndarray]:
    """Attention [heads, gh, gw] -> one heat map per head over the image, each scaled by its own maximum (as in the
    DINO paper's figures, which compare where heads look rather than how much)."""
    peaks = attention.reshape(attention.shape[0], -1).max(axis=1)
    return [heat_map(image, head / max(peak, 1e-12), alpha=alpha) for head, peak in zip(attention, peaks)]


def scatter_map(
    points: np.ndarray,
    labels: Sequence[int],
    label_names: Sequence[str],
    highlight: np.ndarray | None = None,
    size: int = 320,
    dot_radius: int = 2,
) -> np.ndarray:
    """A 2-D map: points [N, 2] as dots coloured by label, a legend of `label_names`, and the `highlight` point [2]
    (e.g. the query image) as a ringed black dot, kept inside the frame (on its edge when it falls outside the
    points' range, so an outlier does not squash the map). x grows rightwards, y upwards. -> uint8 [size, size, 3]."""
    points = np.asarray(points, dtype=np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high - low > 1e-12, high - low, 1.0)
    margin, legend_width = 12, 64 if label_names else 0
    plot_w, plot_h = size - 2 * margin - legend_width, size - 2 * margin

    def to_pixel(coords: np.ndarray) -> np.ndarray:
        """[..., 2] map coordinates -> [..., 2] integer (x, y) pixels inside the frame."""
        unit = np.clip((np.asarray(coords) - low) / span, 0.0, 1.0)
        return np.round(np.stack([margin + unit[..., 0] * plot_w, margin + (1.0 - unit[..., 1]) * plot_h], -1))

    pixels = np.full((size, size, 3), 255, dtype=np.uint8)
    # Dots stamped with array indexing, in order (later points on top): a Python loop of ellipses is 10x slower.
    xs, ys = to_pixel(points).astype(np.int64).T
    colors = np.asarray(CATEGORY_COLORS, dtype=np.uint8)[np.asarray(labels, dtype=np.int64) % len(CATEGORY_COLORS)]
    reach = range(-dot_radius, dot_radius + 1)
    for dy, dx in ((dy, dx) for dy in reach for dx in reach if dx * dx + dy * dy <= dot_radius * dot_radius):
        pixels[ys + dy, xs + dx] = colors
    canvas = Image.fromarray(pixels)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((margin - 4, margin - 4, margin + plot_w + 4, margin + plot_h + 4), outline=(200, 200, 200))
    if highlight is not None:
        x, y = to_pixel(highlight)
        draw.ellipse((x - 7, y - 7, x + 7, y + 7), outline=(0, 0, 0), width=2)
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(0, 0, 0))
    for number, name in enumerate(label_names):
        top = margin + 14 * number
        if top + 10 > size:
            break
        left = size - legend_width + 4
        draw.rectangle((left, top + 2, left + 8, top + 10), fill=CATEGORY_COLORS[number % len(CATEGORY_COLORS)])
        draw.text((left + 12, top), str(name)[:8], fill=(0, 0, 0))
    return np.asarray(canvas)


@dataclass(frozen=True)
class Curve:
    """One line of `line_chart`: values ys [N] at xs [N] (NaN leaves a gap), in `color`; `dots` marks every point
    (for values known only at some steps)."""

    label: str
    xs: np.ndarray
    ys: np.ndarray
    color: tuple[int, int, int]
    dots: bool = False


# Room around the plot for tick labels (left), the title and legend (top) and the x label (bottom).
CHART_MARGINS = {"left": 52, "right": 12, "top": 34, "bottom": 30}


def line_chart(curves: Sequence[Curve], title: str = "", x_label: str = "", size=(220, 480)) -> np.ndarray:
    """Curves over a shared x axis -> uint8 [size[0], size[1], 3]: one range for all curves (the y range padded by
    5 %), three y ticks, the x range's ends as x ticks, a legend under the title. x grows rightwards, y upwards."""
    height, width = size
    left, right, top, bottom = (CHART_MARGINS[k] for k in ("left", "right", "top", "bottom"))
    xs = np.concatenate([np.asarray(c.xs, dtype=np.float64) for c in curves])
    ys = np.concatenate([np.asarray(c.ys, dtype=np.float64) for c in curves])
    ys = ys[np.isfinite(ys)]
    x_low, x_high = (xs.min(), xs.max()) if len(xs) else (0.0, 1.0)
    x_high = x_high if x_high > x_low else x_low + 1.0
    y_low, y_high = (ys.min(), ys.max()) if len(ys) else (0.0, 1.0)
    pad = 0.05 * (y_high - y_low) if y_high > y_low else 1.0
    y_low, y_high = y_low - pad, y_high + pad
    plot_w, plot_h = width - left - right, height - top - bottom

    def to_pixel(x, y) -> tuple[float, float]:
        return left + (x - x_low) / (x_high - x_low) * plot_w, top + (y_high - y) / (y_high - y_low) * plot_h

    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for value in np.linspace(y_low, y_high, 3):
        _, y = to_pixel(x_low, value)
        draw.line((left, y, left + plot_w, y), fill=(230, 230, 230))
        draw.text((4, y - 5), f"{value:.4g}"[:8], fill=(80, 80, 80))
    draw.rectangle((left, top, left + plot_w, top + plot_h), outline=(180, 180, 180))
    for value, anchor in ((x_low, left), (x_high, left + plot_w)):
        text = f"{value:.4g}"
        draw.text((anchor - 3 * len(text), top + plot_h + 4), text, fill=(80, 80, 80))
    draw.text((left + plot_w // 2 - 3 * len(x_label), height - 12), x_label, fill=(80, 80, 80))
    for curve in curves:
        points = [to_pixel(x, y) for x, y in zip(np.asarray(curve.xs, float), np.asarray(curve.ys, float))]
        for start, end in zip(points, points[1:]):
            if np.isfinite(start + end).all():
                draw.line((*start, *end), fill=curve.color, width=2)
        if curve.dots:
            for x, y in filter(lambda point: np.isfinite(point).all(), points):
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=curve.color)
    draw.text((left, 4), title, fill=(0, 0, 0))
    position = left
    for curve in curves:  # the legend, one row under the title
        draw.rectangle((position, 20, position + 8, 28), fill=curve.color)
        draw.text((position + 12, 18), curve.label, fill=(0, 0, 0))
        position += 24 + int(draw.textlength(curve.label))
    return np.asarray(canvas)
