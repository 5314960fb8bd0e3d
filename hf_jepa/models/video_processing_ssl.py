"""Inference video processor shared by the video methods: resize every frame, rescale to [0, 1], normalise."""

from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import load_video


class SSLVideoProcessor(BaseVideoProcessor):
    r"""
    Turns videos (arrays or tensors of frames, [T, H, W, C] or [T, C, H, W]; or file paths, decoded with PyAV) into
    `pixel_values_videos` [B, T, C, H, W] of the model's frame size. Every frame is resized (bilinear, antialiased,
    as V-JEPA's evaluation) to `size`, rescaled to [0, 1] and normalised with the ImageNet statistics. Frames are not
    sampled unless `do_sample_frames=True` (with `num_frames` or `fps`): the model takes the clip it is given.
    """

    resample = PILImageResampling.BILINEAR
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"height": 224, "width": 224}
    do_resize = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True
    do_center_crop = False
    do_sample_frames = False
    model_input_names = ["pixel_values_videos"]

    def fetch_videos(self, video_url_or_urls, sample_indices_fn=None):
        """Decode video files with PyAV (the base class asks for torchcodec, which needs system FFmpeg libraries)."""
        if isinstance(video_url_or_urls, list):
            return list(zip(*[self.fetch_videos(x, sample_indices_fn=sample_indices_fn) for x in video_url_or_urls]))
        return load_video(video_url_or_urls, backend="pyav", sample_indices_fn=sample_indices_fn)


__all__ = ["SSLVideoProcessor"]
