"""Official MAE checkpoints (facebookresearch/mae, `main_pretrain.py` and the released `mae_pretrain_vit_*.pth`)
-> `MAESSLForPreTraining`.

`model` is the unwrapped `MaskedAutoencoderViT` state dict: encoder keys as timm names them, decoder keys prefixed
`decoder_` plus `mask_token`. The released files hold the encoder only; the decoder is then left at our init.
"""

from ...models import MAESSLConfig, MAESSLForPreTraining
from .checkpoint import entry
from .config_inference import NamedModel, config_from_args, encoder_config, named_model, resolve_heads
from .official_vit import build_model, check_fixed_table, copy_encoder, copy_weights, finish
from .report import ConversionReport

# `args.model` of the official factories.
MODELS = {
    "mae_vit_base_patch16": NamedModel(768, {"num_attention_heads": 12, "decoder_num_attention_heads": 16}),
    "mae_vit_large_patch16": NamedModel(1024, {"num_attention_heads": 16, "decoder_num_attention_heads": 16}),
    "mae_vit_huge_patch14": NamedModel(1280, {"num_attention_heads": 16, "decoder_num_attention_heads": 16}),
}
ARGS_TO_CONFIG = {"mask_ratio": "mask_ratio", "norm_pix_loss": "norm_pix_loss"}
# Official decoder names around the blocks -> our `MaskedTokenPredictor`.
DECODER_NAMES = (
    ("embed.", "decoder_embed."),
    ("layers.", "decoder_blocks."),
    ("norm.", "decoder_norm."),
    ("proj.", "decoder_pred."),
)
EXPECTED = "an official MAE checkpoint keeps its state dict under `model`"


def has_decoder(keys: list[str]) -> bool:
    return any(key.startswith("decoder_") or key == "mask_token" for key in keys)


def convert_mae(checkpoint: dict, overrides: dict, report: ConversionReport) -> MAESSLForPreTraining:
    """The checkpoint's encoder (and decoder, when it has one) in our pretraining model."""
    state = entry(checkpoint, "model", EXPECTED)
    report.ignore_entries(checkpoint, ("model", "args"))
    args = checkpoint.get("args")
    decoder = has_decoder(state.keys())

    fields = encoder_config(state, prefix_rows=1, image_size=overrides.get("image_size"))
    fields.update(config_from_args(args, ARGS_TO_CONFIG), use_cls_token=True)
    widths = {"num_attention_heads": fields["hidden_size"]}
    if decoder:
        fields.update(
            decoder_hidden_size=state.shape("decoder_embed.weight")[0],
            decoder_num_hidden_layers=state.num_blocks("decoder_blocks."),
        )
        widths["decoder_num_attention_heads"] = fields["decoder_hidden_size"]
    model_name, note = named_model(getattr(args, "model", None), MODELS, fields["hidden_size"])
    report.notes += [note] if note else []
    fields.update(resolve_heads(widths, model_name, overrides, hint=note))
    model = build_model(MAESSLConfig(**{**fields, **overrides}))

    weights = {}
    copy_encoder(weights, model.encoder, "encoder.", state)
    report.sources["encoder"] = "model"
    if decoder:
        copy_weights(weights, model.decoder, "decoder.", state, "", DECODER_NAMES, skip=("mask_tokens",))
        token_shape = (1, 1, model.config.decoder_hidden_size)
        weights["decoder.mask_tokens"] = state.take("mask_token", token_shape, "decoder.mask_tokens")[0]
        table = model.decoder.position_embeddings
        check_fixed_table(state, "decoder_pos_embed", table, cls_row=True, needed_for="decoder.position_embeddings")
        report.sources["decoder"] = "model"
    else:
        config = model.config
        report.notes.append(
            f"The checkpoint holds the encoder only (no `decoder_*` keys, as in the released files): the decoder "
            f"({config.decoder_hidden_size} wide, {config.decoder_num_hidden_layers} deep) is at hf_jepa's "
            "initialisation, untrained."
        )
    return finish(model, weights, [state], report, initialize=() if decoder else ("decoder",))


__all__ = ["convert_mae"]
