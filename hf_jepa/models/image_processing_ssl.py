"""Inference image processor shared by every image method: resize, rescale to [0, 1], normalise."""

from transformers.image_processing_backends import TorchvisionBackend
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling


class SSLImageProcessor(TorchvisionBackend):
    r"""
    Turns images (PIL, numpy or tensors; grayscale is converted to RGB) into `pixel_values` of the model's size.
    Defaults are the ImageNet statistics and bicubic resize used by the official I-JEPA, MAE and DINO evaluations.
    """

    resample = PILImageResampling.BICUBIC
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"height": 224, "width": 224}
    do_resize = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True
    model_input_names = ["pixel_values"]


__all__ = ["SSLImageProcessor"]
