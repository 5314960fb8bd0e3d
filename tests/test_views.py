"""On-device training views against torchvision's RandomResizedCrop rules."""

import math

import torch
from torchvision.transforms import v2

from hf_jepa.views import RandomResizedCropFlip


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
