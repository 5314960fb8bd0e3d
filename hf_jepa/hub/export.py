"""Export of hf_jepa models to transformers' own classes, loadable with `AutoModel` and no hf_jepa installed.

I-JEPA -> `IJepaModel`, MAE -> `ViTMAEForPreTraining` (encoder and decoder), DINO -> `Dinov2Model`, V-JEPA (rotary
positions) -> `VJEPA2Model` (encoder and predictor). The weights are copied, never retrained: the fused qkv
projection is split into query/key/value, our fixed sin-cos tables are written into the native (parameter) position
tables, and every native key must be filled (`load_state_dict(strict=True)`).
"""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import (
    AutoImageProcessor,
    AutoVideoProcessor,
    Dinov2Config,
    Dinov2Model,
    IJepaConfig,
    IJepaModel,
    PreTrainedModel,
    ViTConfig,
    ViTImageProcessor,
    ViTMAEConfig,
    ViTMAEForPreTraining,
    ViTModel,
    VJEPA2Config,
    VJEPA2Model,
    VJEPA2VideoProcessor,
)
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling
from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

from ..engine.run_files import check_distinct_folders, model_folder_problems, staged_folder
from ..models.configuration_ssl_vit import SSLViTConfig, _as_pair
from ..models.vit import TransformerBlock
from ..registry import METHODS, load_object, method_of_model_type, saved_method

# `--format` of `hf-jepa export` / `push`: transformers' own classes (the encoder for features, or the native
# pretraining class where transformers has one with more than the encoder), or remote code.
NATIVE_FORMATS = ("transformers", "transformers-pretraining")
FORMATS = (*NATIVE_FORMATS, "remote-code")


@dataclass(frozen=True)
class LayerNames:
    """Where the native layer keeps each piece of our `TransformerBlock` (names relative to the layer)."""

    norm1: str
    query: str
    key: str
    value: str
    attention_output: str
    norm2: str
    fc1: str
    fc2: str
    layer_scale1: str | None = None  # Dinov2's LayerScale: written as ones (our blocks have none)
    layer_scale2: str | None = None


# IJepaLayer and ViTMAELayer (transformers 5 names; `save_pretrained` writes them back as the legacy ViT names
# `attention.attention.query`, `intermediate.dense`, `output.dense`, ... and loading maps them again).
VIT_LAYER = LayerNames(
    norm1="layernorm_before",
    query="attention.q_proj",
    key="attention.k_proj",
    value="attention.v_proj",
    attention_output="attention.o_proj",
    norm2="layernorm_after",
    fc1="mlp.fc1",
    fc2="mlp.fc2",
)
VJEPA2_LAYER = LayerNames(
    norm1="norm1",
    query="attention.query",
    key="attention.key",
    value="attention.value",
    attention_output="attention.proj",
    norm2="norm2",
    fc1="mlp.fc1",
    fc2="mlp.fc2",
)
DINOV2_LAYER = LayerNames(
    norm1="norm1",
    query="attention.q_proj",
    key="attention.k_proj",
    value="attention.v_proj",
    attention_output="attention.o_proj",
    norm2="norm2",
    fc1="mlp.fc1",
    fc2="mlp.fc2",
    layer_scale1="layer_scale1.lambda1",
    layer_scale2="layer_scale2.lambda1",
)


def _linear(state: dict, name: str, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    state[f"{name}.weight"] = weight
    if bias is not None:
        state[f"{name}.bias"] = bias


def convert_block(block: TransformerBlock, prefix: str, names: LayerNames) -> dict[str, torch.Tensor]:
    """One of our pre-norm blocks -> the native layer's state dict entries under `prefix` (e.g. `layers.0`)."""
    state: dict[str, torch.Tensor] = {}
    dim = block.norm1.normalized_shape[0]
    qkv = block.attn.qkv
    weights = qkv.weight.split(dim, dim=0)  # fused [3D, D], order q, k, v
    biases = qkv.bias.split(dim, dim=0) if qkv.bias is not None else (None, None, None)
    for name, weight, bias in zip((names.query, names.key, names.value), weights, biases):
        _linear(state, f"{prefix}.{name}", weight, bias)
    for name, module in (
        (names.norm1, block.norm1),
        (names.attention_output, block.attn.proj),
        (names.norm2, block.norm2),
        (names.fc1, block.mlp.fc1),
        (names.fc2, block.mlp.fc2),
    ):
        _linear(state, f"{prefix}.{name}", module.weight, module.bias)
    for name in (names.layer_scale1, names.layer_scale2):
        if name is not None:
            state[f"{prefix}.{name}"] = torch.ones_like(block.norm1.weight)
    return state


def _with_zero_cls_row(table: torch.Tensor) -> torch.Tensor:
    """Our [N, D] position table -> the native [1, 1 + N, D] one whose CLS row is zero (no position on CLS)."""
    return torch.cat([table.new_zeros(1, table.shape[-1]), table], dim=0).unsqueeze(0)


def _encoder_state(encoder, names: LayerNames, layers_prefix: str, cls_row: bool) -> dict[str, torch.Tensor]:
    """Embeddings, blocks and final norm of our encoder in the native layout shared by the three targets."""
    embeddings = encoder.embeddings
    table = embeddings.position_embeddings  # [N, D], what our forward adds
    state = {
        "embeddings.position_embeddings": _with_zero_cls_row(table) if cls_row else table.unsqueeze(0),
        "embeddings.patch_embeddings.projection.weight": embeddings.patch_embeddings.projection.weight,
        "embeddings.patch_embeddings.projection.bias": embeddings.patch_embeddings.projection.bias,
        "layernorm.weight": encoder.layernorm.weight,
        "layernorm.bias": encoder.layernorm.bias,
    }
    if embeddings.cls_token is not None:
        state["embeddings.cls_token"] = embeddings.cls_token
    for i, block in enumerate(encoder.layers):
        state.update(convert_block(block, f"{layers_prefix}.{i}", names))
    return state


def _square_side(value, name: str, target: str) -> int:
    height, width = _as_pair(value, name)
    if height != width:
        raise ValueError(
            f"{target} needs a square `{name}`, but this model has {height}x{width}: the native class cannot "
            "represent it."
        )
    return height


def _side(value, name: str) -> int | list[int]:
    height, width = _as_pair(value, name)
    return height if height == width else [height, width]


def _check_prefix_tokens(config: SSLViTConfig, target: str, cls_token: bool) -> None:
    if config.num_register_tokens:
        raise ValueError(
            f"{target} has no register tokens, but this model has {config.num_register_tokens} "
            "(`num_register_tokens`): it cannot be exported to the native class."
        )
    if config.use_cls_token and not cls_token:
        raise ValueError(f"{target} has no CLS token, but this model has one (`use_cls_token=True`).")
    if cls_token and not config.use_cls_token:
        raise ValueError(f"{target} always has a CLS token, but this model has none (`use_cls_token=False`).")


def _common_config(config: SSLViTConfig) -> dict:
    return dict(
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        hidden_act=config.hidden_act,
        layer_norm_eps=config.layer_norm_eps,
        qkv_bias=config.qkv_bias,
        num_channels=config.num_channels,
        initializer_range=config.initializer_range,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def _build(model_class: type[PreTrainedModel], config, state: dict[str, torch.Tensor]) -> PreTrainedModel:
    """Instantiate `model_class` without initialising it and fill every key from `state` (strict: none missing,
    none left over)."""
    with torch.device("meta"):
        native = model_class(config)
    # Own every tensor: the q/k/v splits are views of one storage, which safetensors refuses to save.
    state = {key: value.detach().clone().contiguous() for key, value in state.items()}
    native.load_state_dict(state, strict=True, assign=True)
    return native.eval()


def ijepa_to_transformers(encoder) -> IJepaModel:
    """Our I-JEPA encoder (`IJEPASSLModel`) -> transformers' `IJepaModel` (no pooler: its `pooler_output` is None;
    ours is the mean of `last_hidden_state` over tokens)."""
    config = encoder.config
    _check_prefix_tokens(config, "IJepaModel", cls_token=False)
    native_config = IJepaConfig(
        **_common_config(config),
        intermediate_size=config.intermediate_size,
        image_size=_side(config.image_size, "image_size"),
        patch_size=_side(config.patch_size, "patch_size"),
    )
    return _build(IJepaModel, native_config, _encoder_state(encoder, VIT_LAYER, "layers", cls_row=False))


def mae_to_transformers(model) -> ViTMAEForPreTraining:
    """Our `MAESSLForPreTraining` (encoder + decoder) -> transformers' `ViTMAEForPreTraining`."""
    config = model.config
    if not hasattr(model, "decoder"):
        raise ValueError(
            f"{type(model).__name__} is an MAE encoder without its decoder: `ViTMAEForPreTraining` needs both; "
            "export the `MAESSLForPreTraining` model (a folder saved by pretraining)."
        )
    _check_prefix_tokens(config, "ViTMAEForPreTraining", cls_token=True)
    image_size = _square_side(config.image_size, "image_size", "ViTMAEForPreTraining")
    patch_size = _square_side(config.patch_size, "patch_size", "ViTMAEForPreTraining")
    decoder = model.decoder
    native_config = ViTMAEConfig(
        **_common_config(config),
        intermediate_size=config.intermediate_size,
        image_size=image_size,
        patch_size=patch_size,
        decoder_hidden_size=config.decoder_hidden_size,
        decoder_num_hidden_layers=config.decoder_num_hidden_layers,
        decoder_num_attention_heads=config.decoder_num_attention_heads,
        decoder_intermediate_size=4 * config.decoder_hidden_size,  # our decoder blocks' MLP width
        mask_ratio=config.mask_ratio,
        norm_pix_loss=config.norm_pix_loss,
    )
    state = {f"vit.{k}": v for k, v in _encoder_state(model.encoder, VIT_LAYER, "layers", cls_row=True).items()}
    state.update(
        {
            "decoder.decoder_embed.weight": decoder.embed.weight,
            "decoder.decoder_embed.bias": decoder.embed.bias,
            "decoder.mask_token": decoder.mask_tokens.reshape(1, 1, -1),
            "decoder.decoder_pos_embed": _with_zero_cls_row(decoder.position_embeddings),
            "decoder.decoder_norm.weight": decoder.norm.weight,
            "decoder.decoder_norm.bias": decoder.norm.bias,
            "decoder.decoder_pred.weight": decoder.proj.weight,
            "decoder.decoder_pred.bias": decoder.proj.bias,
        }
    )
    for i, block in enumerate(decoder.layers):
        state.update(convert_block(block, f"decoder.decoder_layers.{i}", VIT_LAYER))
    return _build(ViTMAEForPreTraining, native_config, state)


def mae_encoder_to_transformers(encoder) -> ViTModel:
    """Our MAE encoder (`MAESSLModel`, or the encoder of `MAESSLForPreTraining`) -> transformers' `ViTModel`: every
    patch in raster order, no masking, so its features are deterministic (`ViTMAEModel` hides 75% of the patches at
    random on every call). Its pooler is the identity on the layer-normed CLS token (ours pools the mean of the
    patch tokens: `last_hidden_state[:, 1:].mean(1)`)."""
    config = encoder.config
    _check_prefix_tokens(config, "ViTModel", cls_token=True)
    native_config = ViTConfig(
        **_common_config(config),
        intermediate_size=config.intermediate_size,
        image_size=_square_side(config.image_size, "image_size", "ViTModel"),
        patch_size=_square_side(config.patch_size, "patch_size", "ViTModel"),
        pooler_act="linear",
    )
    state = _encoder_state(encoder, VIT_LAYER, "layers", cls_row=True)
    identity = torch.eye(config.hidden_size, dtype=encoder.layernorm.weight.dtype)
    state.update({"pooler.dense.weight": identity, "pooler.dense.bias": torch.zeros(config.hidden_size)})
    return _build(ViTModel, native_config, state)


def dino_to_transformers(encoder) -> Dinov2Model:
    """Our DINO encoder (`DINOSSLModel`) -> transformers' `Dinov2Model` (layer scales 1, mask token zero)."""
    config = encoder.config
    _check_prefix_tokens(config, "Dinov2Model", cls_token=True)
    if config.pooling != "cls":
        raise ValueError(
            f"Dinov2Model's `pooler_output` is the CLS token, but this model pools with {config.pooling!r} "
            "(`pooling`): the exported model's pooled feature would differ from ours."
        )
    image_size = _square_side(config.image_size, "image_size", "Dinov2Model")
    patch_size = _square_side(config.patch_size, "patch_size", "Dinov2Model")
    if config.intermediate_size % config.hidden_size:
        raise ValueError(
            f"Dinov2Model sets its MLP width as an integer `mlp_ratio` times `hidden_size`, but this model has "
            f"intermediate_size={config.intermediate_size} for hidden_size={config.hidden_size}."
        )
    native_config = Dinov2Config(
        **_common_config(config),
        mlp_ratio=config.intermediate_size // config.hidden_size,
        image_size=image_size,
        patch_size=patch_size,
        layerscale_value=1.0,
        use_swiglu_ffn=False,
        use_mask_token=True,
        drop_path_rate=config.drop_path_rate,
    )
    state = _encoder_state(encoder, DINOV2_LAYER, "encoder.layer", cls_row=True)
    state["embeddings.mask_token"] = torch.zeros_like(encoder.embeddings.cls_token).reshape(1, -1)
    return _build(Dinov2Model, native_config, state)


def cls_vit_or_backbone_to_transformers(encoder) -> PreTrainedModel:
    """A DINO / SimCLR / MoCo v3 / BYOL / LeJEPA encoder -> `Dinov2Model` (the shared ViT, CLS-pooled) or, with a CNN
    `backbone_config`, that transformers model itself (e.g. `ResNetModel`: its `pooler_output` flattened is ours)."""
    if getattr(encoder.config, "backbone_config", None) is None:
        return dino_to_transformers(encoder)
    backbone = encoder.backbone
    return _build(type(backbone), backbone.config, backbone.state_dict())


def _mlp_ratio(hidden_size: int, intermediate_size: int, name: str) -> float:
    ratio = intermediate_size / hidden_size
    if int(hidden_size * ratio) != intermediate_size:
        raise ValueError(f"VJEPA2Model cannot represent an MLP {name} of {intermediate_size} for width {hidden_size}.")
    return ratio


def vjepa_to_transformers(model) -> VJEPA2Model:
    """Our `VJEPASSLForPreTraining` -> transformers' `VJEPA2Model`: the EMA target encoder and the predictor.

    Both predictors embed the context, append one mask token per target position, rotate queries and keys by each
    token's (time, row, column) and project the targets' outputs; `VJEPA2Model` always uses its mask token 1 (ours:
    the token of the mask set being predicted), so the two agree for mask set 1 and for any set whose token equals it.
    VJEPA2Model also sorts the tokens by position before its blocks (attention does not depend on the order: equal
    up to float rounding) and decomposes token ids on the config's grid, so inputs must have the exported size.
    """
    config = model.config
    if not hasattr(model, "predictor"):
        raise ValueError(
            f"{type(model).__name__} is a V-JEPA encoder without its predictor: `VJEPA2Model` holds both; export the "
            "`VJEPASSLForPreTraining` model (a folder saved by pretraining)."
        )
    if config.position_embedding_type != "rope":
        raise ValueError(
            "VJEPA2Model only has rotary positions, but this model uses "
            f"`position_embedding_type={config.position_embedding_type!r}` (V-JEPA 1): it cannot be exported to it."
        )
    _check_prefix_tokens(config, "VJEPA2Model", cls_token=False)
    predictor = model.predictor
    native_config = VJEPA2Config(
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        mlp_ratio=_mlp_ratio(config.hidden_size, config.intermediate_size, "width"),
        hidden_act=config.hidden_act,
        layer_norm_eps=config.layer_norm_eps,
        qkv_bias=config.qkv_bias,
        in_chans=config.num_channels,
        initializer_range=config.initializer_range,
        crop_size=_square_side(config.image_size, "image_size", "VJEPA2Model"),
        patch_size=_square_side(config.patch_size, "patch_size", "VJEPA2Model"),
        frames_per_clip=config.num_frames,
        tubelet_size=config.tubelet_size,
        pred_hidden_size=config.predictor_hidden_size,
        pred_num_hidden_layers=config.predictor_num_hidden_layers,
        pred_num_attention_heads=config.predictor_num_attention_heads,
        pred_num_mask_tokens=predictor.mask_tokens.shape[0],
        pred_mlp_ratio=_mlp_ratio(predictor.hidden_size, predictor.layers[0].mlp.fc1.out_features, "predictor width")
        if len(predictor.layers)
        else 4.0,
    )
    encoder = model.encoder  # the published one: the EMA target
    projection = encoder.embeddings.patch_embeddings.projection
    state = {
        "encoder.embeddings.patch_embeddings.proj.weight": projection.weight,
        "encoder.embeddings.patch_embeddings.proj.bias": projection.bias,
        "encoder.layernorm.weight": encoder.layernorm.weight,
        "encoder.layernorm.bias": encoder.layernorm.bias,
        "predictor.embeddings.mask_tokens": predictor.mask_tokens.reshape(-1, 1, 1, predictor.hidden_size),
        "predictor.embeddings.predictor_embeddings.weight": predictor.embed.weight,
        "predictor.embeddings.predictor_embeddings.bias": predictor.embed.bias,
        "predictor.layernorm.weight": predictor.norm.weight,
        "predictor.layernorm.bias": predictor.norm.bias,
        "predictor.proj.weight": predictor.proj.weight,
        "predictor.proj.bias": predictor.proj.bias,
    }
    for prefix, blocks in (("encoder.layer", encoder.layers), ("predictor.layer", predictor.layers)):
        for i, block in enumerate(blocks):
            state.update(convert_block(block, f"{prefix}.{i}", VJEPA2_LAYER))
    return _build(VJEPA2Model, native_config, state)


def _last_hidden_state(native: PreTrainedModel, inputs: dict) -> torch.Tensor:
    return native(**inputs).last_hidden_state


def _mae_encoder_tokens(native: ViTMAEForPreTraining, inputs: dict) -> torch.Tensor:
    """ViTMAE's encoder without masking, patches in raster order (mask ratio 0, noise = the patch index)."""
    pixel_values = inputs["pixel_values"]
    num_patches = native.vit.embeddings.patch_embeddings.num_patches
    noise = torch.arange(num_patches, device=pixel_values.device, dtype=torch.float32).expand(len(pixel_values), -1)
    ratio, native.config.mask_ratio = native.config.mask_ratio, 0.0
    try:
        return native.vit(pixel_values=pixel_values, noise=noise).last_hidden_state
    finally:
        native.config.mask_ratio = ratio


def _vjepa2_encoder_tokens(native: VJEPA2Model, inputs: dict) -> torch.Tensor:
    return native(**inputs, skip_predictor=True).last_hidden_state


@dataclass(frozen=True)
class Exporter:
    """How one of our model types becomes a native one."""

    target: str  # the native class
    convert: Callable  # our model -> native model
    needs_pretraining_model: bool  # load the `...ForPreTraining` class (decoder needed) rather than the encoder
    load_hint: str
    # encoder_tokens(native, inputs) -> what our published encoder's `last_hidden_state` is, from the native model
    # given our encoder's inputs (`{"pixel_values": ...}` or `{"pixel_values_videos": ...}`): the export's contract.
    encoder_tokens: Callable[[PreTrainedModel, dict], torch.Tensor] = _last_hidden_state
    # A model with a CNN `backbone_config` exports as that backbone's own transformers class instead of `target`.
    exports_backbone: bool = False
    # write_processor(model_dir, config, output_dir): the native processor files, where the image (or video)
    # processor alone is not enough (image-text models: the processor with the run's tokenizer).
    write_processor: Callable[[str, SSLViTConfig, str], None] | None = None

    def target_of(self, config: dict) -> str:
        """The native class a saved model (its config.json as a dict) exports to."""
        backbone = config.get("backbone_config") if self.exports_backbone else None
        return MODEL_MAPPING_NAMES[backbone["model_type"]] if backbone else self.target


IJEPA_EXPORT = Exporter(
    "IJepaModel",
    ijepa_to_transformers,
    needs_pretraining_model=False,
    load_hint="`pooler_output` is None (IJepaModel has no pooler): our pooled feature is "
    "`outputs.last_hidden_state.mean(dim=1)`.",
)
MAE_ENCODER_EXPORT = Exporter(
    "ViTModel",
    mae_encoder_to_transformers,
    needs_pretraining_model=False,
    load_hint="the MAE encoder as a plain `ViTModel`: every patch in raster order, no masking, so the same image "
    "always gives the same features (use it for `pipeline('image-feature-extraction')`). `pooler_output` is the "
    "layer-normed CLS token; our pooled feature is `outputs.last_hidden_state[:, 1:].mean(dim=1)`. For "
    "reconstruction, export with `--format transformers-pretraining` (ViTMAEForPreTraining, encoder + decoder).",
)
MAE_EXPORT = Exporter(
    "ViTMAEForPreTraining",
    mae_to_transformers,
    needs_pretraining_model=True,
    load_hint="`AutoModel` gives `ViTMAEModel`, which hides `mask_ratio` of the patches at random; for features "
    "of every patch in raster order load it with `mask_ratio=0.0` and pass "
    "`noise=torch.arange(num_patches).expand(batch, -1)`. The full model with the decoder: "
    "`AutoModelForPreTraining.from_pretrained(...)` (ViTMAEForPreTraining).",
    encoder_tokens=_mae_encoder_tokens,
)
DINOV2_EXPORT = Exporter(
    "Dinov2Model",
    cls_vit_or_backbone_to_transformers,
    needs_pretraining_model=False,
    load_hint="for the ViT, `pooler_output` is the layer-normed CLS token, as ours; a CNN backbone exports as its own "
    "class (e.g. ResNetModel), whose `pooler_output.flatten(1)` is our pooled feature.",
    exports_backbone=True,
)
VJEPA_EXPORT = Exporter(
    "VJEPA2Model",
    vjepa_to_transformers,
    needs_pretraining_model=True,
    load_hint="inputs are `pixel_values_videos` [batch, frames, channels, height, width] of the exported size; "
    "`last_hidden_state` equals our encoder's and its mean over tokens our pooled feature. Pass "
    "`skip_predictor=True` for features only. The video processor is VJEPA2VideoProcessor (the official "
    "evaluation transform: resize to 256/224 of the crop, centre crop); ours resizes the whole frame: call it "
    "with `do_center_crop=False, size={'height': H, 'width': W}` for the same pixels.",
    encoder_tokens=_vjepa2_encoder_tokens,
)


def exporter_for(model_type: str, format: str = "transformers") -> Exporter:
    """The method's exporter to transformers' own classes (its `Method.exporters[format]`); a clear error when it
    has none."""
    method = method_of_model_type(model_type)
    if format not in method.exporters:
        exportable = sorted(m.model_type for m in _methods_with_exporters(format))
        raise ValueError(
            f"Cannot export a `{model_type}` model to a native transformers class (`--format {format}`): the "
            f"exportable model types are {exportable}."
        )
    return load_object(method.exporters[format])


def _methods_with_exporters(format: str):
    return [m for m in METHODS.values() if format in m.exporters]


def native_targets_help(format: str = "transformers") -> str:
    """ "I-JEPA -> IJepaModel, ..." for every method with a `format` export (help texts)."""

    def target(exporter: Exporter) -> str:
        return exporter.target + (" (a CNN backbone: its own class)" if exporter.exports_backbone else "")

    methods = _methods_with_exporters(format)
    return ", ".join(f"{m.title} -> {target(load_object(m.exporters[format]))}" for m in methods)


def to_transformers(model: PreTrainedModel, format: str = "transformers") -> PreTrainedModel:
    """An in-memory hf_jepa model -> the native transformers model with the same weights. Pretraining models give
    their published encoder (I-JEPA, DINO: the EMA target), or for targets that hold more (MAE's
    `transformers-pretraining`, V-JEPA's predictor) the parts they need."""
    exporter = exporter_for(model.config.model_type, format)
    method = method_of_model_type(model.config.model_type)
    if not isinstance(model, (method.model_class, method.pretraining_class)):
        raise ValueError(
            f"Only {method.model_class.__name__} and {method.pretraining_class.__name__} export to "
            f"{exporter.target}, got {type(model).__name__}."
        )
    if isinstance(model, method.pretraining_class) and not exporter.needs_pretraining_model:
        model = model.get_encoder()  # the published encoder: the EMA target
    return exporter.convert(model)


def load_for_export(model_dir: str, format: str = "transformers") -> PreTrainedModel:
    """Our model from a saved folder: the pretraining class where the native target needs more than the encoder
    (MAE's decoder, V-JEPA's predictor), else the encoder (from a pretraining folder, the published one)."""
    method = saved_method(model_dir)  # reads config.json only: never runs a folder's code
    model_type = method.model_type
    exporter = exporter_for(model_type, format)
    problems = model_folder_problems(model_dir)
    if problems:
        raise ValueError(f"`--model {model_dir}` cannot be loaded: {'; '.join(problems)}.")
    model_class = method.pretraining_class if exporter.needs_pretraining_model else method.model_class
    model, info = model_class.from_pretrained(model_dir, output_loading_info=True, trust_remote_code=False)
    missing = sorted(info["missing_keys"])
    if exporter.needs_pretraining_model and any(key.startswith("decoder.") for key in missing):
        raise ValueError(
            f"{model_dir!r} holds an encoder-only `{model_type}` model (no decoder weights): it cannot give "
            f"`{exporter.target}`, which needs the decoder. Export the folder saved by pretraining "
            f"(`{method.pretraining_class.__name__}.save_pretrained`)."
        )
    if missing:
        raise ValueError(f"{model_dir!r} lacks weights of {model_class.__name__}: {missing[:5]}.")
    return model.eval()


def native_video_processor(model_dir: str, config: SSLViTConfig) -> VJEPA2VideoProcessor:
    """transformers' `VJEPA2VideoProcessor` at the model's frame size, with our processor's mean and std."""
    crop = _square_side(config.image_size, "image_size", "VJEPA2VideoProcessor")
    mean, std = IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
    if os.path.isfile(os.path.join(model_dir, "video_preprocessor_config.json")):
        ours = AutoVideoProcessor.from_pretrained(model_dir, trust_remote_code=False)
        mean, std = ours.image_mean, ours.image_std
    return VJEPA2VideoProcessor(crop_size=crop, image_mean=list(mean), image_std=list(std))


def native_image_processor(model_dir: str, config: SSLViTConfig) -> ViTImageProcessor:
    """transformers' `ViTImageProcessor` doing what our processor does: from the folder's preprocessor_config when
    it has one, else the config's image size, ImageNet mean/std and bicubic resize."""
    if os.path.isfile(os.path.join(model_dir, "preprocessor_config.json")):
        ours = AutoImageProcessor.from_pretrained(model_dir, trust_remote_code=False)
        return ViTImageProcessor(
            size=dict(ours.size),
            image_mean=list(ours.image_mean),
            image_std=list(ours.image_std),
            resample=ours.resample,
            do_resize=ours.do_resize,
            do_rescale=ours.do_rescale,
            rescale_factor=ours.rescale_factor,
            do_normalize=ours.do_normalize,
            do_convert_rgb=ours.do_convert_rgb,
        )
    height, width = config.image_shape
    return ViTImageProcessor(
        size={"height": height, "width": width},
        image_mean=list(IMAGENET_DEFAULT_MEAN),
        image_std=list(IMAGENET_DEFAULT_STD),
        resample=PILImageResampling.BICUBIC,
        do_convert_rgb=True,
    )


# transformers 5.24 saves in the legacy (transformers 4 / Hub) key layout by reverting its load-time renamings, and the
# reverse of ViT's `encoder.layer.` -> `layers.` also hits the substring in ViTMAE's `decoder_layers.`: the decoder
# blocks come out as `decoder.decoder_encoder.layer.{i}` instead of the official `decoder.decoder_layers.{i}`.
# transformers 5.24 loads either, older versions only the official one. A no-op once transformers saves them right.
_KEY_FIXES = (("decoder.decoder_encoder.layer.", "decoder.decoder_layers."),)


def _official_key(key: str) -> str:
    for wrong, right in _KEY_FIXES:
        key = key.replace(wrong, right)
    return key


def _restore_official_key_names(output_dir: str) -> None:
    for name in sorted(os.listdir(output_dir)):
        path = os.path.join(output_dir, name)
        if name.endswith(".safetensors"):
            with safe_open(path, framework="pt") as handle:
                if all(_official_key(key) == key for key in handle.keys()):
                    continue
                metadata = handle.metadata()
                tensors = {_official_key(key): handle.get_tensor(key) for key in handle.keys()}
            save_file(tensors, path, metadata=metadata)
        elif name.endswith(".safetensors.index.json"):
            with open(path, encoding="utf-8") as handle:
                index = json.load(handle)
            index["weight_map"] = {_official_key(key): file for key, file in index["weight_map"].items()}
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(index, handle, indent=2, sort_keys=True)


@dataclass
class ExportResult:
    target: str  # the native class written
    output_dir: str
    files: list[str] = field(default_factory=list)
    load_hint: str = ""


def export_to_transformers(model_dir: str, output_dir: str, format: str = "transformers") -> ExportResult:
    """Write the native transformers model of `format` (safetensors) and its image (or video) processor for the
    hf_jepa folder `model_dir` to `output_dir`; `AutoModel` / `AutoImageProcessor.from_pretrained(output_dir)` then
    work without hf_jepa. The files appear only when complete (written aside, then moved in)."""
    check_distinct_folders(model_dir, output_dir)
    model = load_for_export(model_dir, format)
    exporter = exporter_for(model.config.model_type, format)
    native = exporter.convert(model)
    video = method_of_model_type(model.config.model_type).modality == "video"
    native_processor = native_video_processor if video else native_image_processor
    with staged_folder(output_dir) as staging:
        native.save_pretrained(staging)
        _restore_official_key_names(staging)
        if exporter.write_processor is not None:
            exporter.write_processor(model_dir, model.config, staging)
        else:
            native_processor(model_dir, model.config).save_pretrained(staging)
    return ExportResult(
        target=type(native).__name__,
        output_dir=output_dir,
        files=sorted(os.listdir(output_dir)),
        load_hint=exporter.load_hint,
    )


__all__ = [
    "DINOV2_EXPORT",
    "FORMATS",
    "IJEPA_EXPORT",
    "MAE_ENCODER_EXPORT",
    "MAE_EXPORT",
    "VJEPA_EXPORT",
    "ExportResult",
    "LayerNames",
    "convert_block",
    "dino_to_transformers",
    "export_to_transformers",
    "exporter_for",
    "ijepa_to_transformers",
    "cls_vit_or_backbone_to_transformers",
    "load_for_export",
    "mae_encoder_to_transformers",
    "mae_to_transformers",
    "native_image_processor",
    "native_targets_help",
    "native_video_processor",
    "to_transformers",
    "vjepa_to_transformers",
]
