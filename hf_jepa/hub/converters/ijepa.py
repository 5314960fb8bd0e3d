"""Official I-JEPA training checkpoints (facebookresearch/ijepa, `src/train.py`) -> `IJEPASSLForPreTraining`.

The file holds three DDP-wrapped state dicts: `encoder` (the trained context encoder), `target_encoder` (its EMA,
the network I-JEPA evaluates and we publish as `encoder`) and `predictor`.
"""

from ...models import IJEPASSLConfig, IJEPASSLForPreTraining, MultiBlockMaskGenerator
from .checkpoint import entry
from .config_inference import encoder_config, resolve_heads
from .official_vit import build_model, check_fixed_table, copy_encoder, copy_weights, finish
from .report import ConversionReport

PARTS = ("encoder", "predictor", "target_encoder")
# Official predictor names around the blocks -> our `MaskedTokenPredictor`.
PREDICTOR_NAMES = (
    ("embed.", "predictor_embed."),
    ("layers.", "predictor_blocks."),
    ("norm.", "predictor_norm."),
    ("proj.", "predictor_proj."),
)
EXPECTED = "an official I-JEPA training checkpoint has `encoder`, `predictor` and `target_encoder`"


def fitting_min_keep(config: IJEPASSLConfig) -> int:
    """The recipe's `min_keep` (official 10), lowered until the mask sampler accepts the grid: a small model's target
    blocks may hold fewer tokens (sampling would never end)."""
    for min_keep in range(config.min_keep, 0, -1):
        try:
            MultiBlockMaskGenerator(
                config.grid_size,
                config.num_targets,
                target_scale=config.target_scale,
                target_aspect_ratio=config.target_aspect_ratio,
                context_scale=config.context_scale,
                min_keep=min_keep,
            )
            return min_keep
        except ValueError:
            continue
    return 0


def convert_ijepa(checkpoint: dict, overrides: dict, report: ConversionReport) -> IJEPASSLForPreTraining:
    """The checkpoint's three networks in our pretraining model (`overrides`: config fields given by the user)."""
    context, predictor, target = (entry(checkpoint, part, EXPECTED) for part in PARTS)
    report.ignore_entries(checkpoint, PARTS)

    fields = encoder_config(target, image_size=overrides.get("image_size"))
    predictor_width = predictor.shape("predictor_embed.weight")[0]
    fields.update(
        predictor_hidden_size=predictor_width,
        predictor_num_hidden_layers=predictor.num_blocks("predictor_blocks."),
        **resolve_heads(
            {"num_attention_heads": fields["hidden_size"]},
            None,
            overrides,
            hint="I-JEPA checkpoints do not record the model's name.",
        ),
    )
    # The official predictor always has as many heads as the encoder (ViT-H/14: 16 heads at width 384).
    fields["predictor_num_attention_heads"] = fields["num_attention_heads"]
    config = IJEPASSLConfig(**{**fields, **overrides})
    min_keep = fitting_min_keep(config)
    if "min_keep" not in overrides and min_keep != config.min_keep:
        report.notes.append(
            f"`min_keep` lowered from {config.min_keep} to {min_keep}: target blocks of a {config.grid_size} grid "
            "are too small for it (used in training only)."
        )
        config.min_keep = min_keep
    model = build_model(config)

    weights = {}
    copy_encoder(weights, model.encoder, "encoder.", target)
    copy_encoder(weights, model.context_encoder, "context_encoder.", context)
    copy_weights(weights, model.predictor, "predictor.", predictor, "", PREDICTOR_NAMES, skip=("mask_tokens",))
    mask_token_shape = (1, 1, model.config.predictor_hidden_size)  # one learned token for every target position
    weights["predictor.mask_tokens"] = predictor.take("mask_token", mask_token_shape, "predictor.mask_tokens")[0]
    table = model.predictor.position_embeddings
    check_fixed_table(
        predictor, "predictor_pos_embed", table, cls_row=False, needed_for="predictor.position_embeddings"
    )
    report.sources.update(encoder="target_encoder", context_encoder="encoder", predictor="predictor")
    return finish(model, weights, [target, context, predictor], report)


__all__ = ["convert_ijepa"]
