"""Export of the image-text models to transformers' own `SiglipModel` / `CLIPModel`, with a processor (image processor
+ the run's tokenizer): `AutoModel`, `AutoProcessor` and `pipeline("zero-shot-image-classification")` then work
without hf_jepa. Both text towers already are transformers' classes (copied as they are); the image tower's fused
qkv is split, our fixed sin-cos table is written into the native (learned) one, and CLIP's patch-projection bias,
which `CLIPVisionEmbeddings` lacks, is folded into the patch rows of its position table (CLS row: zero, as ours adds
no position to CLS)."""

import torch
from transformers import (
    AutoTokenizer,
    CLIPConfig,
    CLIPModel,
    CLIPProcessor,
    SiglipConfig,
    SiglipModel,
    SiglipProcessor,
)

from .export import Exporter, LayerNames, _build, _square_side, convert_block, native_image_processor

# transformers' SiglipEncoderLayer and CLIPEncoderLayer (the same names).
IMAGE_TEXT_LAYER = LayerNames(
    norm1="layer_norm1",
    query="self_attn.q_proj",
    key="self_attn.k_proj",
    value="self_attn.v_proj",
    attention_output="self_attn.out_proj",
    norm2="layer_norm2",
    fc1="mlp.fc1",
    fc2="mlp.fc2",
)


def _check_full_model(model, target: str) -> None:
    if not hasattr(model, "text_model"):
        raise ValueError(
            f"{target} holds both towers: export the pretraining model (`{type(model).__name__}` is the image tower "
            "alone); `hf-jepa export` does so from a folder saved by `hf-jepa pretrain`."
        )


def _vision_config(config) -> dict:
    return dict(
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_channels=config.num_channels,
        image_size=_square_side(config.image_size, "image_size", "transformers' vision towers"),
        patch_size=_square_side(config.patch_size, "patch_size", "transformers' vision towers"),
        hidden_act=config.hidden_act,
        layer_norm_eps=config.layer_norm_eps,
    )


def _blocks(encoder, prefix: str) -> dict[str, torch.Tensor]:
    state = {}
    for i, block in enumerate(encoder.layers):
        layer = convert_block(block, f"{prefix}.{i}", IMAGE_TEXT_LAYER)
        if block.attn.qkv.bias is None:  # the native projections always have a bias
            for name in (IMAGE_TEXT_LAYER.query, IMAGE_TEXT_LAYER.key, IMAGE_TEXT_LAYER.value):
                layer[f"{prefix}.{i}.{name}.bias"] = torch.zeros_like(block.norm1.weight)
        state.update(layer)
    return state


def _prefixed(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{key}": value for key, value in module.state_dict().items()}


def _position_table(encoder) -> torch.Tensor:
    """The [N, D] position table our forward adds (the sin-cos buffer or the learned parameter)."""
    table = encoder.embeddings.position_embeddings
    if table is None:
        raise ValueError("Rotary position embeddings have no transformers SigLIP / CLIP equivalent.")
    return table.detach()


def _build_native(model_class, native_config, state: dict[str, torch.Tensor]):
    """`export._build` (every weight from `state`, strictly), then the non-persistent `position_ids` buffers of the
    native embeddings, which a meta-device build leaves without values."""
    native = _build(model_class, native_config, state)
    for name, buffer in list(native.named_buffers()):
        if buffer.is_meta:
            if not name.endswith("position_ids"):
                raise RuntimeError(f"{model_class.__name__}: buffer `{name}` was left uninitialised by the export.")
            module_name, _, buffer_name = name.rpartition(".")
            values = torch.arange(buffer.shape[-1]).expand(buffer.shape).clone()
            native.get_submodule(module_name).register_buffer(buffer_name, values, persistent=False)
    return native


def siglip_to_transformers(model) -> SiglipModel:
    """`SiglipSSLForPreTraining` -> transformers' `SiglipModel` (vision tower + MAP head, the same text model)."""
    _check_full_model(model, "SiglipModel")
    config, encoder = model.config, model.encoder
    native_config = SiglipConfig(
        text_config=config.text_config.to_dict(),
        vision_config=dict(_vision_config(config), vision_use_head=True),
    )
    patch = encoder.embeddings.patch_embeddings.projection
    state = {
        "vision_model.embeddings.patch_embedding.weight": patch.weight,
        "vision_model.embeddings.patch_embedding.bias": patch.bias,
        "vision_model.embeddings.position_embedding.weight": _position_table(encoder),
        "vision_model.post_layernorm.weight": encoder.layernorm.weight,
        "vision_model.post_layernorm.bias": encoder.layernorm.bias,
        **_prefixed("vision_model.head", encoder.head),
        **_blocks(encoder, "vision_model.encoder.layers"),
        **_prefixed("text_model", model.text_model),
        "logit_scale": model.clamped_logit_scale().detach().reshape(1),
        "logit_bias": model.logit_bias.detach().reshape(1),
    }
    return _build_native(SiglipModel, native_config, state)


def clip_to_transformers(model) -> CLIPModel:
    """`CLIPSSLForPreTraining` -> transformers' `CLIPModel` (patch bias folded into the positions, `ln_pre` as
    `pre_layrnorm`, the same text model, both projections)."""
    _check_full_model(model, "CLIPModel")
    config, encoder = model.config, model.encoder
    native_config = CLIPConfig(
        text_config=config.text_config.to_dict(),
        vision_config=_vision_config(config),
        projection_dim=config.projection_dim,
        logit_scale_init_value=float(model.clamped_logit_scale().detach()),
    )
    embeddings = encoder.embeddings
    patch = embeddings.patch_embeddings.projection
    patch_rows = _position_table(encoder) + (patch.bias.detach() if patch.bias is not None else 0.0)
    positions = torch.cat([patch_rows.new_zeros(1, patch_rows.shape[-1]), patch_rows])  # [1 + N, D]
    state = {
        "vision_model.embeddings.class_embedding": embeddings.cls_token.detach().reshape(-1),
        "vision_model.embeddings.patch_embedding.weight": patch.weight,
        "vision_model.embeddings.position_embedding.weight": positions,
        "vision_model.pre_layrnorm.weight": embeddings.pre_layernorm.weight,
        "vision_model.pre_layrnorm.bias": embeddings.pre_layernorm.bias,
        "vision_model.post_layernorm.weight": encoder.layernorm.weight,
        "vision_model.post_layernorm.bias": encoder.layernorm.bias,
        **_blocks(encoder, "vision_model.encoder.layers"),
        **_prefixed("text_model", model.text_model),
        "visual_projection.weight": model.visual_projection.weight,
        "text_projection.weight": model.text_projection.weight,
        "logit_scale": model.clamped_logit_scale().detach().reshape(()),
    }
    return _build_native(CLIPModel, native_config, state)


def _siglip_tokens(native: SiglipModel, inputs: dict) -> torch.Tensor:
    return native.vision_model(**inputs).last_hidden_state


def _clip_tokens(native: CLIPModel, inputs: dict) -> torch.Tensor:
    """CLIP normalises only its pooled CLS token; ours normalises every token (the same per token)."""
    vision = native.vision_model
    return vision.post_layernorm(vision(**inputs).last_hidden_state)


def _processor_writer(processor_class):
    def write(model_dir: str, config, output_dir: str) -> None:
        """The native processor: transformers' image processor doing what ours does, and the run's tokenizer."""
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
        except (OSError, ValueError) as error:
            raise ValueError(
                f"`{model_dir}` has no tokenizer (tokenizer.json): an image-text export needs the run's tokenizer. "
                "Export a folder written by `hf-jepa pretrain` or save the tokenizer into it."
            ) from error
        processor_class(
            image_processor=native_image_processor(model_dir, config), tokenizer=tokenizer
        ).save_pretrained(output_dir)

    return write


SIGLIP_EXPORT = Exporter(
    "SiglipModel",
    siglip_to_transformers,
    needs_pretraining_model=True,
    load_hint="both towers: `get_image_features` is our image embedding (the MAP head's output), `get_text_features` "
    "the text tower's; `torch.sigmoid(outputs.logits_per_image)` are the pairwise match probabilities. "
    "Tokenize with `padding='max_length'` as trained (the processor and the zero-shot pipeline do).",
    encoder_tokens=_siglip_tokens,
    write_processor=_processor_writer(SiglipProcessor),
)
CLIP_EXPORT = Exporter(
    "CLIPModel",
    clip_to_transformers,
    needs_pretraining_model=True,
    load_hint="both towers and projections: `get_image_features` / `get_text_features` are our projected embeddings; "
    "`outputs.logits_per_image.softmax(-1)` are zero-shot probabilities. The vision tower's `last_hidden_state` "
    "is before its final LayerNorm (CLIP normalises only the pooled CLS).",
    encoder_tokens=_clip_tokens,
    write_processor=_processor_writer(CLIPProcessor),
)


__all__ = ["CLIP_EXPORT", "SIGLIP_EXPORT", "clip_to_transformers", "siglip_to_transformers"]
