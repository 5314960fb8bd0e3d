"""I-JEPA training step of hf_jepa against the official training step (restated in `reference_ijepa.py`), same
architecture, batch, masks and machine, timed in turns in the same run.

Both steps: target encoder on the full image, context encoder on the context block, predictor per target block,
smooth-L1 loss, backward, AdamW, EMA update of the target. Before timing, the official step is loaded with our
weights and must give the same loss on the same masks, so both compute the same thing.
"""

import torch
from _results import fused_adamw, make_parser, markdown_table, report, time_ms
from reference_ijepa import OfficialIJepaStep

from hf_jepa import IJEPASSLConfig, IJEPASSLForPreTraining
from hf_jepa.engine.schedules import ema_update_

GOAL = 0.8  # DESIGN.md: at most 0.8x the official step time on the same hardware


def copy_weights(model: IJEPASSLForPreTraining, official: OfficialIJepaStep) -> None:
    """Our state dict under the official module names."""

    def encoder_state(prefix):
        state = {}
        for name, value in model.state_dict().items():
            if not name.startswith(prefix):
                continue
            name = name[len(prefix) :]
            name = name.replace("embeddings.patch_embeddings.projection", "patch_embed").replace("layers.", "blocks.")
            name = name.replace("mlp.fc1", "mlp.0").replace("mlp.fc2", "mlp.2").replace("layernorm", "norm")
            state[name] = value
        return state

    for module, prefix in ((official.encoder, "context_encoder."), (official.target_encoder, "encoder.")):
        module.load_state_dict(encoder_state(prefix), strict=False)  # pos_embed: the same fixed table
    predictor = {
        k.replace("embed.", "predictor_embed.", 1).replace("proj.", "predictor_proj.", 1)
        if k.startswith(("embed.", "proj."))
        else k: v
        for k, v in encoder_state("predictor.").items()
    }
    predictor["mask_token"] = predictor.pop("mask_tokens")[:1][None]
    official.predictor.load_state_dict(predictor, strict=False)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--hidden", type=int, nargs=3, default=[192, 12, 3], help="width, depth, heads (ViT-Tiny)")
    parser.add_argument("--predictor", type=int, nargs=2, default=[384, 6], help="predictor width and depth")
    parser.add_argument("--steps", type=int, default=8, help="Timed steps of each (median reported).")
    args = parser.parse_args()

    (dim, depth, heads), (pred_dim, pred_depth) = args.hidden, args.predictor
    config = IJEPASSLConfig(
        min_keep=min(10, (args.image_size // 16) ** 2 // 8),
        image_size=args.image_size,
        hidden_size=dim,
        num_hidden_layers=depth,
        num_attention_heads=heads,
        predictor_hidden_size=pred_dim,
        predictor_num_hidden_layers=pred_depth,
        predictor_num_attention_heads=heads,
    )
    torch.manual_seed(0)
    model = IJEPASSLForPreTraining(config).train()
    official = OfficialIJepaStep(args.image_size, 16, dim, depth, heads, pred_dim, pred_depth)
    copy_weights(model, official)

    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=generator)
    masks = [model.mask_generator(args.batch_size, generator=generator) for _ in range(64)]

    def official_masks(i):
        context_idx, target_idx = masks[i % len(masks)]
        return [context_idx], list(target_idx.unbind(1))

    with torch.no_grad():  # the same function of the same weights
        ours_loss = model(images, *masks[0]).loss
        theirs = official.predictor(official.encoder(images, official_masks(0)[0]), *official_masks(0))
        target = official.target_encoder(images)
        target = torch.nn.functional.layer_norm(target, target.shape[-1:])
        from reference_ijepa import apply_masks  # noqa: PLC0415

        theirs_loss = torch.nn.functional.smooth_l1_loss(theirs, apply_masks(target, official_masks(0)[1]))
    agree = torch.allclose(ours_loss, theirs_loss, rtol=1e-4, atol=1e-6)

    online, target_params = model.ema_parameters()
    optimizer = fused_adamw(model)
    counter = {"ours": 0, "official": 0}

    def our_step():
        context_idx, target_idx = masks[counter["ours"] % len(masks)]
        counter["ours"] += 1
        model(images, context_idx, target_idx).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            ema_update_(target_params, online, 0.996)

    def official_step():
        official(images, *official_masks(counter["official"]))
        counter["official"] += 1

    timings = time_ms({"official": official_step, "hf_jepa": our_step}, warmup=1, reps=args.steps, block=2)
    base, ours = timings["official"].median / 1e3, timings["hf_jepa"].median / 1e3
    ratio = ours / base
    rows = [
        [
            "official I-JEPA step (reference_ijepa.py)",
            f"{base:.3g}",
            f"{args.batch_size / base:.2f}",
            "1.00×",
            "baseline",
        ],
        [
            "hf_jepa IJEPASSLForPreTraining step",
            f"{ours:.3g}",
            f"{args.batch_size / ours:.2f}",
            f"{ratio:.2f}×",
            f"≤ {GOAL}×: {'met' if ratio <= GOAL else 'NOT met'}",
        ],
    ]
    body = (
        f"ViT {dim}/{depth}/{heads} (patch 16) at {args.image_size} px, batch {args.batch_size}, predictor "
        f"{pred_dim} wide × {pred_depth} deep, fp32; the same {len(masks)} sampled masks cycled through by both; "
        f"{args.steps} timed steps each, taking turns in blocks of 2 (first of a block untimed). Same loss on the "
        f"same weights and masks before timing: **{'yes' if agree else 'NO'}** "
        f"(ours {ours_loss.item():.6f}, official {theirs_loss.item():.6f}).\n\n"
        + markdown_table(["step", "s / step (median)", "images / s", "time vs official", "goal"], rows)
    )
    report(args, "I-JEPA step: hf_jepa vs official", [torch.device("cpu")], body)


if __name__ == "__main__":
    main()
