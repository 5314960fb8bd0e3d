"""The image-text processor (image processor + tokenizer in one `ProcessorMixin`) and the tokenizer trained on a
run's own captions with the `tokenizers` library (nothing is downloaded)."""

from collections.abc import Iterable

from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast, ProcessorMixin

# The special tokens of a trained tokenizer, at these ids (the text configs' defaults in the method table): CLIP pools
# at the first EOS, so it must not be id 2 (transformers' legacy CLIP rule then pools at the largest id instead).
SPECIAL_TOKENS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
SPECIAL_TOKEN_IDS = {"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}


def train_caption_tokenizer(
    captions: Iterable[str],
    vocab_size: int,
    model_max_length: int,
    model_input_names: tuple[str, ...] = ("input_ids", "attention_mask"),
) -> PreTrainedTokenizerFast:
    """A lower-casing WordPiece tokenizer of at most `vocab_size` tokens trained on `captions`; every caption is
    wrapped as `<s> ... </s>` (the text towers pool at the EOS token or the last position). `model_input_names`:
    what it returns (SigLIP's official tokenizer returns `input_ids` only)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = list(SPECIAL_TOKENS.values())  # ids 0..3 in this order
    tokenizer = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    tokenizer.train_from_iterator((caption for caption in captions), trainer=trainer)
    bos, eos = SPECIAL_TOKENS["bos_token"], SPECIAL_TOKENS["eos_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, tokenizer.token_to_id(bos)), (eos, tokenizer.token_to_id(eos))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=model_max_length,
        padding_side="right",
        truncation_side="right",
        model_input_names=list(model_input_names),
        **SPECIAL_TOKENS,
    )


def check_tokenizer_fits(text_config, tokenizer: PreTrainedTokenizerBase, argument: str = "--tokenizer") -> None:
    """The tokenizer's ids must index the text tower's embeddings, and its EOS / padding must be the ones the text
    config pools and pads with: a clear error naming both otherwise."""
    size = len(tokenizer)
    if size > text_config.vocab_size:
        raise ValueError(
            f"`{argument}`: the tokenizer has {size} tokens but the text tower's `text_config.vocab_size` is "
            f"{text_config.vocab_size}: its ids would index past the embedding table. Use a tokenizer of at most "
            f"{text_config.vocab_size} tokens, or a text config with `vocab_size` >= {size}."
        )
    for name in ("eos_token_id", "pad_token_id"):
        ours, theirs = getattr(text_config, name), getattr(tokenizer, name)
        if theirs is None or ours != theirs:
            raise ValueError(
                f"`{argument}`: the tokenizer's `{name}` is {theirs} but the text config's is {ours}: the text tower "
                "pools / pads at that id. Give a tokenizer with that token, or set the text config's id to match."
            )
    if tokenizer.model_max_length > text_config.max_position_embeddings:
        raise ValueError(
            f"`{argument}`: the tokenizer's `model_max_length` ({tokenizer.model_max_length}) exceeds the text "
            f"tower's `max_position_embeddings` ({text_config.max_position_embeddings})."
        )


def image_text_processor(
    config, image_processor, captions: Iterable[str] | None = None, tokenizer: PreTrainedTokenizerBase | None = None
) -> "ImageTextProcessor":
    """The processor of an image-text config: `tokenizer` (checked against the text config), or one trained on
    `captions` with the text config's vocabulary bound, length and inputs."""
    text = config.text_config
    if tokenizer is None:
        if captions is None:
            raise ValueError("Give a `tokenizer`, or `captions` to train one on.")
        tokenizer = train_caption_tokenizer(
            captions, text.vocab_size, text.max_position_embeddings, config.text_input_names
        )
    check_tokenizer_fits(text, tokenizer)
    return ImageTextProcessor(image_processor, tokenizer, pad_to_max_length=config.pads_to_max_length)


class ImageTextProcessor(ProcessorMixin):
    """Image processor + tokenizer of an image-text model: `processor(images=..., text=...)` gives `pixel_values` and
    the tokenizer's outputs (padded to `model_max_length` for SigLIP, whose text tower pools the last position)."""

    def __init__(self, image_processor=None, tokenizer=None, pad_to_max_length: bool = False, **kwargs):
        self.pad_to_max_length = pad_to_max_length
        super().__init__(image_processor, tokenizer, **kwargs)

    def __call__(self, images=None, text=None, return_tensors="pt", **kwargs):
        if images is None and text is None:
            raise ValueError("`ImageTextProcessor` needs `images`, `text` or both.")
        output = {}
        if images is not None:
            output.update(self.image_processor(images, return_tensors=return_tensors))
        if text is not None:
            output.update(self.tokenize(text, return_tensors=return_tensors, **kwargs))
        return output

    def tokenize(self, text, return_tensors="pt", **kwargs):
        """Captions -> the text tower's inputs, padded and truncated as the model was trained."""
        if isinstance(text, str):
            text = [text]
        empty = [i for i, caption in enumerate(text) if not isinstance(caption, str) or not caption.strip()]
        if empty:
            raise ValueError(f"Captions must be non-empty strings: caption(s) at {empty[:10]} are empty or not text.")
        padding = "max_length" if self.pad_to_max_length else True
        options = dict(padding=padding, truncation=True, max_length=self.tokenizer.model_max_length)
        return self.tokenizer(list(text), return_tensors=return_tensors, **{**options, **kwargs})


__all__ = [
    "ImageTextProcessor",
    "SPECIAL_TOKENS",
    "SPECIAL_TOKEN_IDS",
    "check_tokenizer_fits",
    "train_caption_tokenizer",
]
