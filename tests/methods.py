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


# Shrinks a text tower (image-text methods' `text_config`) the same way; its vocabulary and positions stay.
TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)


def tiny_config(method: Method, **overrides):
    fields = {**method.default_config, **TINY}
    if isinstance(fields.get("text_config"), dict):
        fields["text_config"] = {**fields["text_config"], **TINY_TEXT}
    return method.config_class(**{**fields, **overrides})


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


def caption_inputs(method: Method, config, batch: int = 2, seed: int = 0) -> dict:
    """Image-text methods: captions as a tokenizer gives them, from the text config alone: `<bos> w.. <eos> <pad>..`
    with random words (distinct per row), and their attention mask. Other modalities: none."""
    if method.modality != "image-text":
        return {}
    text = config.text_config
    generator = torch.Generator().manual_seed(seed + 100)
    length = min(8, text.max_position_embeddings)
    input_ids = torch.full((batch, length), text.pad_token_id, dtype=torch.long)
    first_word = max(text.pad_token_id, text.bos_token_id, text.eos_token_id) + 1
    for row in range(batch):
        words = int(torch.randint(1, length - 1, (1,), generator=generator))
        input_ids[row, 0] = text.bos_token_id
        input_ids[row, 1 : 1 + words] = torch.randint(first_word, text.vocab_size, (words,), generator=generator)
        input_ids[row, 1 + words] = text.eos_token_id
    return {"input_ids": input_ids, "attention_mask": (input_ids != text.pad_token_id).long()}


def save_processors(method: Method, config, folder) -> None:
    """What `hf-jepa pretrain` saves next to a model: its image (or video) processor, and for image-text methods the
    processor with a tokenizer (here trained on a few made-up captions) that fits the text config."""
    image_processor = default_processor(method, config)
    image_processor.save_pretrained(folder)
    if method.modality == "image-text":
        from hf_jepa.models.processing_image_text import image_text_processor

        captions = [f"a {size} digit {name}" for size in ("thin", "thick") for name in ("zero", "one", "two", "three")]
        image_text_processor(config, image_processor, captions=captions).save_pretrained(folder)


def encoder_inputs(method: Method, config, batch: int = 2, seed: int = 0) -> dict:
    return {media_key(method): media(method, config, batch, seed)}


def trajectory_inputs(method: Method, config, batch: int = 2, seed: int = 0) -> dict:
    """World models (modality "trajectory"): windows of frames [B, T, 3, H, W] (T = the config's `num_steps`) and the
    actions between them [B, T, frameskip x action_dim]. Other modalities: none."""
    if method.modality != "trajectory":
        return {}
    frames = media(method, config, batch * config.num_steps, seed).unflatten(0, (batch, config.num_steps))
    generator = torch.Generator().manual_seed(seed + 200)
    return {
        "pixel_values": frames,
        "actions": torch.randn(batch, config.num_steps, config.action_input_size, generator=generator),
    }


def pretraining_inputs(method: Method, config, batch: int = 2, seed: int = 0) -> dict:
    """What `SSLTrainer` gives the pretraining model: the method's training views of `media`, and a generator for
    its masks (a fresh one per call, so the same seed gives the same outputs)."""
    if method.modality == "trajectory":
        return {**trajectory_inputs(method, config, batch, seed), "generator": torch.Generator().manual_seed(seed + 2)}
    views = method.train_views(config, default_processor(method, config))
    made = views(media(method, config, batch, seed), torch.Generator().manual_seed(seed + 1))
    inputs = made if isinstance(made, dict) else {media_key(method): made}
    inputs.update(caption_inputs(method, config, batch, seed))
    return {**inputs, "generator": torch.Generator().manual_seed(seed + 2)}


class MediaDataset(torch.utils.data.Dataset):
    """Rows of one modality's media for `SSLTrainer` (no collator needed: tensors stack)."""

    def __init__(self, method: Method, config, size: int = 8, seed: int = 0):
        self.key, self.items = media_key(method), media(method, config, size, seed)
        self.captions = caption_inputs(method, config, size, seed)
        if method.modality == "trajectory":  # windows of frames, and the actions as a second input like captions
            windows = trajectory_inputs(method, config, size, seed)
            self.items, self.captions = windows.pop("pixel_values"), windows

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return {self.key: self.items[index], **{name: value[index] for name, value in self.captions.items()}}
