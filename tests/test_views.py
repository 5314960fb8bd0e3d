"""On-device training views against torchvision's RandomResizedCrop rules."""

import math

import pytest
import torch
from torchvision.transforms import v2

from hf_jepa.engine.views import RandomResizedCropFlip


def test_boxes_follow_scale_and_ratio():
    views = RandomResizedCropFlip(16, scale=(0.3, 1.0), ratio=(3 / 4, 4 / 3))
    boxes, flips = views.sample_boxes(512, 40, 40, "cpu", torch.Generator().manual_seed(0))
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert bool((boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 40).all() and (boxes[:, 3] <= 40).all())
    area = width * height / 1600
    assert area.min() >= 0.3 - 0.05 and area.max() <= 1.0  # rounding to whole pixels
    ratio = width / height
    assert ratio.min() >= 3 / 4 - 0.1 and ratio.max() <= 4 / 3 + 0.1
    assert 0.35 < flips.float().mean() < 0.65
    assert len({tuple(b.tolist()) for b in boxes}) > 400  # one crop per sample


def test_fallback_is_torchvision_central_crop():
    # A 10x100 strip: no crop of scale >= 0.9 with ratio in [3/4, 4/3] fits, so torchvision crops the centre.
    views = RandomResizedCropFlip(8, scale=(0.9, 1.0), ratio=(3 / 4, 4 / 3), horizontal_flip=False)
    boxes, _ = views.sample_boxes(4, 10, 100, "cpu", torch.Generator().manual_seed(0))
    reference = v2.RandomResizedCrop(8, scale=(0.9, 1.0), ratio=(3 / 4, 4 / 3)).make_params([torch.zeros(3, 10, 100)])
    top, left, h, w = (reference[k] for k in ("top", "left", "height", "width"))
    for box in boxes.tolist():
        assert box == [left, top, left + w, top + h]


def test_full_box_reproduces_the_image_and_flip_mirrors():
    images = torch.randn(2, 3, 12, 12)
    views = RandomResizedCropFlip(12, scale=(1.0, 1.0), ratio=(1.0, 1.0), horizontal_flip=False)
    assert torch.allclose(views(images, torch.Generator().manual_seed(0)), images, atol=1e-5)
    flipping = RandomResizedCropFlip(12, scale=(1.0, 1.0), ratio=(1.0, 1.0), horizontal_flip=True)
    generator = torch.Generator().manual_seed(3)
    _, flips = flipping.sample_boxes(2, 12, 12, "cpu", torch.Generator().manual_seed(3))
    out = flipping(images, generator)
    for b in range(2):
        expected = images[b].flip(-1) if flips[b] else images[b]
        assert torch.allclose(out[b], expected, atol=1e-5)


def test_crop_resamples_the_box():
    # A horizontal ramp: the crop's mean value is the mean of the box's columns.
    ramp = torch.arange(32, dtype=torch.float32).expand(1, 3, 32, 32).contiguous()
    views = RandomResizedCropFlip(8, scale=(0.25, 0.25), ratio=(1.0, 1.0), horizontal_flip=False)
    generator = torch.Generator().manual_seed(1)
    (box,), _ = views.sample_boxes(1, 32, 32, "cpu", torch.Generator().manual_seed(1))
    out = views(ramp, generator)
    assert math.isclose(out.mean().item(), (box[0] + box[2]).item() / 2 - 0.5, abs_tol=0.05)


def test_same_generator_same_views():
    images = torch.randn(4, 3, 20, 20)
    views = RandomResizedCropFlip(10, scale=(0.3, 1.0))
    first = views(images, torch.Generator().manual_seed(7))
    assert torch.equal(first, views(images, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, views(images, torch.Generator().manual_seed(8)))


# ---- Batched photometric ops (hf_jepa.engine.augment) against torchvision, sample by sample ----


def _test_images(batch=8, height=10, width=12):
    """Random [0, 1] images with some gray, black, white and saturated pixels (the edge cases of the HSV maths)."""
    images = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(0))
    images[0] = images[0, :1]  # all gray
    images[1, :, :2] = 0.0
    images[1, :, 2:4] = 1.0
    images[2, 0] = 1.0  # red channel saturated
    return images


def _per_sample_reference(op, images, factors):
    return torch.stack([op(image, float(factor)) for image, factor in zip(images, factors)])


def test_blend_ops_match_torchvision():
    from torchvision.transforms.v2 import functional as F

    from hf_jepa.engine import augment

    images = _test_images()
    factors = torch.linspace(0.0, 2.0, images.shape[0])  # includes 0 and values that clamp
    for ours, reference in [
        (augment.adjust_brightness, F.adjust_brightness),
        (augment.adjust_contrast, F.adjust_contrast),
        (augment.adjust_saturation, F.adjust_saturation),
    ]:
        expected = _per_sample_reference(reference, images, factors)
        assert torch.allclose(ours(images, factors), expected, atol=1e-6), ours.__name__
    gray = F.rgb_to_grayscale(images, num_output_channels=3)
    assert torch.allclose(augment.rgb_to_grayscale(images), gray, atol=1e-6)


def test_hue_matches_torchvision():
    from torchvision.transforms.v2 import functional as F

    from hf_jepa.engine import augment

    images = _test_images()
    factors = torch.linspace(-0.5, 0.5, images.shape[0])
    expected = _per_sample_reference(F.adjust_hue, images, factors)
    assert torch.allclose(augment.adjust_hue(images, factors), expected, atol=1e-5)
    assert torch.allclose(augment.adjust_hue(images, torch.zeros(images.shape[0])), images, atol=1e-5)
    assert torch.allclose(augment.adjust_hue(images, 0.25), F.adjust_hue(images, 0.25), atol=1e-5)  # one float for all


def test_solarize_matches_torchvision():
    from torchvision.transforms.v2 import functional as F

    from hf_jepa.engine import augment

    images = _test_images()
    thresholds = torch.linspace(0.1, 0.9, images.shape[0])
    images[:, 0, 0, 0], images[:, 1, 0, 0] = thresholds, 0.5  # pixels at the threshold are inverted too
    expected = _per_sample_reference(F.solarize, images, thresholds)
    assert torch.equal(augment.solarize(images, thresholds), expected)
    assert torch.equal(augment.solarize(images), F.solarize(images, 0.5))


def test_gaussian_blur_matches_torchvision():
    from torchvision.transforms.v2 import functional as F

    from hf_jepa.engine import augment

    assert augment.gaussian_kernel_size(2.0) == 11  # torchvision's default sigma for 11 is 0.15 * 11 + 0.35 = 2.0
    assert augment.gaussian_kernel_size(0.5) == 3 and augment.gaussian_kernel_size(2.1) == 13
    images = _test_images(batch=5, height=14, width=18)
    sigma = torch.tensor([0.1, 0.5, 1.0, 1.5, 2.0])
    blurred = augment.gaussian_blur(images, sigma, 11)
    for image, s, out in zip(images, sigma.tolist(), blurred):
        assert torch.allclose(out, F.gaussian_blur(image, [11, 11], [s, s]), atol=1e-5)
    assert torch.allclose(blurred[0], images[0], atol=1e-6)  # sigma 0.1 leaves pixels as they are
    with pytest.raises(ValueError, match="kernel_size"):
        augment.gaussian_blur(images[:, :, :4, :4], sigma, 11)  # reflect padding of 5 needs more than 5 pixels


def test_color_jitter_applies_each_samples_ops_in_its_order():
    from torchvision.transforms.v2 import functional as F

    from hf_jepa.engine import augment

    images = _test_images(batch=32, height=6, width=6)
    params = augment.sample_color_jitter(32, "cpu", torch.Generator().manual_seed(0), p=0.8)
    out = augment.apply_color_jitter(images, params)
    ops = [
        (F.adjust_brightness, params.brightness),
        (F.adjust_contrast, params.contrast),
        (F.adjust_saturation, params.saturation),
        (F.adjust_hue, params.hue),
    ]
    for b in range(32):
        expected = images[b]
        if params.applied[b]:
            for op in params.order[b].tolist():
                function, factors = ops[op]
                expected = function(expected, float(factors[b]))
        assert torch.allclose(out[b], expected, atol=1e-5), b
    # The order is drawn per sample, and it matters: the same factors in another order give other images.
    assert len({tuple(order) for order in params.order.tolist()}) >= 10
    reordered = params._replace(order=params.order.flip(1))
    assert not torch.allclose(augment.apply_color_jitter(images, reordered), out, atol=1e-4)
    # color_jitter = sample + apply, from the same generator.
    again = augment.color_jitter(images, torch.Generator().manual_seed(0), p=0.8)
    assert torch.equal(again, out)


def test_color_jitter_probability_and_ranges():
    from hf_jepa.engine import augment

    images = _test_images(batch=64, height=6, width=6)[4:]  # ordinary colourful images
    assert torch.equal(augment.color_jitter(images, torch.Generator().manual_seed(0), p=0.0), images)
    jittered = augment.color_jitter(images, torch.Generator().manual_seed(0), p=1.0)
    assert bool(((jittered - images).abs().amax(dim=(1, 2, 3)) > 0).all())
    assert float(jittered.min()) >= 0 and float(jittered.max()) <= 1
    params = augment.sample_color_jitter(4000, "cpu", torch.Generator().manual_seed(1))
    assert 0.77 < params.applied.float().mean() < 0.83
    on = params.applied
    for factors, low, high in [(params.brightness, 0.6, 1.4), (params.contrast, 0.6, 1.4)]:
        assert low <= float(factors[on].min()) < low + 0.01 and high - 0.01 < float(factors[on].max()) <= high
    assert 0.8 <= float(params.saturation[on].min()) and float(params.saturation[on].max()) <= 1.2
    assert -0.1 <= float(params.hue[on].min()) < -0.099 and 0.099 < float(params.hue[on].max()) <= 0.1
    assert bool((params.brightness[~on] == 1).all() and (params.hue[~on] == 0).all())


# ---- DINO multi-crop views ----

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _normalised(images, mean=MEAN, std=STD):
    return (images - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def _unnormalised(views, mean=MEAN, std=STD):
    return views * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]


def test_multicrop_shapes_and_values():
    from hf_jepa.engine.views import MultiCropViews

    images = _normalised(torch.rand(4, 3, 24, 20))
    views = MultiCropViews(16, 8, num_local_crops=6)
    assert MultiCropViews.apply_in_eval is True
    out = views(images, torch.Generator().manual_seed(0))
    assert set(out) == {"global_crops", "local_crops"}
    assert out["global_crops"].shape == (4, 2, 3, 16, 16) and out["global_crops"].dtype == torch.float32
    assert out["local_crops"].shape == (4, 6, 3, 8, 8) and out["local_crops"].dtype == torch.float32
    for crops in out.values():  # normalised views of [0, 1] pixels
        pixels = _unnormalised(crops)
        assert float(pixels.min()) > -1e-5 and float(pixels.max()) < 1 + 1e-5
        views_per_batch = crops.shape[0] * crops.shape[1]  # every view its own crop
        assert len({tuple(view.flatten()[:8].tolist()) for view in crops.flatten(0, 1)}) == views_per_batch
    three = MultiCropViews(16, 8, num_local_crops=0, num_global_crops=3)(images, torch.Generator().manual_seed(0))
    assert set(three) == {"global_crops"} and three["global_crops"].shape == (4, 3, 3, 16, 16)


def test_multicrop_same_seed_same_views():
    from hf_jepa.engine.views import MultiCropViews

    images = _normalised(torch.rand(3, 3, 20, 20))
    views = MultiCropViews(12, 6, num_local_crops=2)
    first = views(images, torch.Generator().manual_seed(5))
    second = views(images, torch.Generator().manual_seed(5))
    other = views(images, torch.Generator().manual_seed(6))
    for key in first:
        assert torch.equal(first[key], second[key])
        assert not torch.allclose(first[key], other[key])


def test_local_crops_cover_smaller_areas():
    from hf_jepa.engine.views import MultiCropViews

    # Channel 0 ramps along x, channel 1 along y: a view's value ranges are its box's width and height fractions.
    ramp = (torch.arange(64, dtype=torch.float32) + 0.5) / 64
    image = torch.stack([ramp.expand(64, 64), ramp[:, None].expand(64, 64), torch.full((64, 64), 0.25)])
    images = _normalised(image.expand(64, 3, 64, 64))
    views = MultiCropViews(16, 16, num_local_crops=4, color_jitter=False, blur_sigma=None)
    out = views(images, torch.Generator().manual_seed(0))

    def areas(crops):  # [B, V, C, S, S] -> approximate area fraction per view
        pixels = _unnormalised(crops)
        spans = pixels.amax(dim=(-2, -1)) - pixels.amin(dim=(-2, -1))
        return (spans[..., 0] * spans[..., 1]).flatten()

    global_areas, local_areas = areas(out["global_crops"][:, :1]), areas(out["local_crops"])  # crop 1: no solarize
    assert float(global_areas.min()) > 0.3 and float(local_areas.max()) < 0.45
    assert float(local_areas.mean()) < 0.5 * float(global_areas.mean())


def test_multicrop_blur_and_solarize_probabilities():
    from hf_jepa.engine.views import MultiCropViews

    # 8x8 views of whole 8x8 images (scale 1: the crop is the image) of a checkerboard in [0.6, 0.9]:
    # blurred <=> its contrast collapses (sigma >= 1), solarized <=> its mean drops below 0.5.
    checker = 0.6 + 0.3 * ((torch.arange(8)[:, None] + torch.arange(8)) % 2).float()
    images = checker.expand(2000, 3, 8, 8)
    views = MultiCropViews(
        8,
        8,
        num_local_crops=2,
        global_scale=(1.0, 1.0),
        local_scale=(1.0, 1.0),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        color_jitter=False,
        blur_sigma=(1.0, 2.0),
    )
    out = views(images, torch.Generator().manual_seed(0))

    def rates(crops):  # [B, V, C, S, S] -> blurred and solarized fractions per view slot
        blurred = crops.std(dim=(-3, -2, -1)) < 0.05
        solarized = crops.mean(dim=(-3, -2, -1)) < 0.5
        return blurred.float().mean(0), solarized.float().mean(0)

    (blur1, blur2), (solarize1, solarize2) = rates(out["global_crops"])
    assert blur1 == 1.0 and solarize1 == 0.0  # global crop 1: always blurred, never solarized
    assert 0.07 < blur2 < 0.13 and 0.16 < solarize2 < 0.24  # global crop 2: blur 0.1, solarize 0.2
    local_blur, local_solarize = rates(out["local_crops"])
    assert bool(((local_blur > 0.45) & (local_blur < 0.55)).all()) and bool((local_solarize == 0).all())


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_global_crops": 1}, "num_global_crops"),
        ({"global_size": 0}, "global_size"),
        ({"local_size": -4}, "local_size"),
        ({"num_local_crops": -1}, "num_local_crops"),
        ({"global_scale": (0.0, 1.0)}, "global_scale"),
        ({"local_scale": (0.4, 0.05)}, "local_scale"),
        ({"global_scale": (0.4, 1.5)}, "global_scale"),
        ({"blur_sigma": (0.0, 2.0)}, "blur_sigma"),
        ({"std": (0.2, 0.0, 0.2)}, "std"),
        ({"mean": (0.5, 0.5)}, "mean"),
    ],
)
def test_multicrop_rejects_bad_arguments(kwargs, name):
    from hf_jepa.engine.views import MultiCropViews

    with pytest.raises(ValueError, match=f"`{name}`"):
        MultiCropViews(**{"global_size": 16, "local_size": 8, **kwargs})
