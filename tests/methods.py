"""What the tests parametrised over the method table need, derived from each `Method` entry alone: a tiny config,
inputs of the method's modality, and the pretraining inputs its own training views make. A method added to the table
gets every common test with no code here."""

import pytest
import torch

from hf_jepa import METHODS
from hf_jepa.registry import Method, default_processor

# Shrinks any method's default (main-job) config: the method's own fields stay as the table sets them.
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2)

ALL_METHODS = [pytest.param(method, id=name) for name, method in METHODS.items()]


def tiny_config(method: Method, **overrides):
    return method.config_class(**{**method.default_config, **TINY, **overrides})


def media_key(method: Method) -> str:
    """The batch key a collator gives the method's raw media under."""
    return "pixel_values_videos" if method.modality == "video" else "pixel_values"


def media(method: Method, config, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Smooth random images [B, 3, H, W] (clips [B, T, 3, H, W] for video methods) at the config's size."""
    generator = torch.Generator().manual_seed(seed)
    height, width = config.image_shape
    frames = (config.num_frames,) if method.modality == "video" else ()
    low = torch.randn(batch, *frames, config.num_channels, height // 4, width // 4, generator=generator)
    return torch.nn.functional.interpolate(low.flatten(0, -4), size=(height, width), mode="bilinear").view(
        batch, *frames, config.num_channels, height, width
    )


def encoder_inputs(method: Method, config, batch: int = 2, seed: int = 0) -> dict:
    return {media_key(method): media(method, config, batch, seed)}


def pretraining_inputs(method: Method, config, batch: int = 2, seed: int = 0) -> dict:
    """What `SSLTrainer` gives the pretraining model: the method's training views of `media`, and a generator for
    its masks (a fresh one per call, so the same seed gives the same outputs)."""
    views = method.train_views(config, default_processor(method, config))
    made = views(media(method, config, batch, seed), torch.Generator().manual_seed(seed + 1))
    inputs = made if isinstance(made, dict) else {media_key(method): made}
    return {**inputs, "generator": torch.Generator().manual_seed(seed + 2)}


class MediaDataset(torch.utils.data.Dataset):
    """Rows of one modality's media for `SSLTrainer` (no collator needed: tensors stack)."""

    def __init__(self, method: Method, config, size: int = 8, seed: int = 0):
        self.key, self.items = media_key(method), media(method, config, size, seed)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return {self.key: self.items[index]}
