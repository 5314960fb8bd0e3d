"""What SimCLR, MoCo v3 and BYOL share: two views per image through the encoder, BatchNorm MLP heads run once per
view, the weight init of those heads, and the checks of their inputs. Each method's file keeps its own objective."""

import torch
import torch.nn as nn

from .distributed import world_size
from .heads import BatchNormMLP, torch_default_init_
from .modeling_ssl_vit import SSLModelWithEMATarget, SSLPreTrainedModel
from .multi_crop import check_crops, views_first


class JointEmbeddingPreTrainedModel(SSLPreTrainedModel):
    """Weight init of the BatchNorm heads: BatchNorm at identity with fresh running statistics, head linears as the
    method's official code initialises them (`init_head_linear`)."""

    def init_head_linear(self, linear: nn.Linear) -> None:
        """Official init of a head's linear layer; the default is torch's `nn.Linear` init."""
        torch_default_init_(linear)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, BatchNormMLP):  # after its children: replaces the encoder-style init of its linears
            for linear in module.linears():
                self.init_head_linear(linear)


def build_head(config, kind: str, **options) -> BatchNormMLP:
    """The projector (`kind="projection"`: encoder width -> `projection_size`) or the predictor (`"prediction"`:
    `projection_size` -> `projection_size`), sized by the config's `<kind>_hidden_size` and `<kind>_num_layers`;
    `options` (bias, last norm) as `BatchNormMLP`.

    Its BatchNorm normalises with the batch's statistics in eval mode too (running statistics are still tracked in
    training): the objective is defined on batch statistics, the official code never evaluates it otherwise, and a
    loss on held-out batches should measure what training optimises rather than how far the running averages (decay
    0.9) have caught up with the batch statistics."""
    in_size = config.pooled_size if kind == "projection" else config.projection_size
    hidden, layers = getattr(config, f"{kind}_hidden_size"), getattr(config, f"{kind}_num_layers")
    if kind == "prediction" and layers == 0:
        return nn.Identity()
    return BatchNormMLP(
        in_size,
        hidden,
        config.projection_size,
        layers,
        name=f"{kind}_num_layers",
        batch_statistics_in_eval=True,
        **options,
    )


def check_two_views(
    config,
    global_crops: torch.Tensor | None,
    local_crops: torch.Tensor | None,
    pixel_values: torch.Tensor | None,
    title: str,
    needs_negatives: bool = False,
    exact: bool = True,
) -> None:
    """Clear errors, naming the argument, for what the joint-embedding objectives cannot take: fewer than two views
    (with `exact`: other than exactly two, or local crops), or a global batch of one image (no negatives to contrast
    with; nothing for the heads' BatchNorm to normalise over)."""
    check_crops(config, global_crops, local_crops, min_global_crops=2, pixel_values=pixel_values)
    if exact and global_crops.shape[1] != 2:
        raise ValueError(
            f"{title} compares exactly two views of each image: `global_crops` must be [batch, 2, channels, height, "
            f"width], got {global_crops.shape[1]} views."
        )
    if exact and local_crops is not None and local_crops.shape[1] > 0:
        raise ValueError(f"{title} uses two views of each image and no local crops: pass `local_crops=None`.")
    if global_crops.shape[0] * world_size() < 2:
        why = "its contrastive loss needs the other images as negatives" if needs_negatives else ""
        raise ValueError(
            f"`global_crops` holds one image: {title} needs at least 2 images in the (global) batch "
            f"({why or 'the BatchNorm of its heads normalises over the batch'})."
        )


def pooled_views(encoder: nn.Module, global_crops: torch.Tensor, one_call: bool = True) -> torch.Tensor:
    """global_crops [B, V, C, H, W] -> pooled features [V, B, D]: one batched encoder call for every view, or with
    `one_call=False` one call per view (MoCo v3's and BYOL's official forwards: a CNN's BatchNorm then takes each
    view's statistics, and the largest activations are half as big)."""
    batch, num_views = global_crops.shape[:2]
    if not one_call:
        return torch.stack([encoder(view, return_dict=True).pooler_output for view in global_crops.unbind(1)])
    return encoder(views_first(global_crops), return_dict=True).pooler_output.unflatten(0, (num_views, batch))


def per_view(head: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """[V, B, D] -> [V, B, P], the head run once per view: its BatchNorm takes the statistics of each view's batch
    separately, as the official MoCo v3 and BYOL (which call their networks once per view)."""
    return torch.stack([head(view) for view in features.unbind(0)])


class OnlineAndTargetNetworks(SSLModelWithEMATarget):
    """MoCo v3's and BYOL's two networks: online encoder (published) + projector + predictor, and EMA copies of the
    encoder and projector named by the second members of `ema_pairs` (the trainer moves them once per optimizer
    step). `head_options`: the method's official MLP shape (`BatchNormMLP` options)."""

    head_options: dict = {}

    def build_networks(self, encoder_class: type[nn.Module]) -> None:
        (_, target_encoder), (_, target_projector) = self.ema_pairs
        self.encoder = encoder_class(self.config)
        self.projector = build_head(self.config, "projection", **self.head_options)
        self.predictor = build_head(self.config, "prediction", **self.head_options)
        self.add_module(target_encoder, encoder_class(self.config))
        self.add_module(target_projector, build_head(self.config, "projection", **self.head_options))
        self.freeze_targets()

    def train(self, mode: bool = True):
        super().train(mode)  # a ViT target encoder stays in eval mode (no drop-path)
        # The target projector's BatchNorm normalises with batch statistics, as the official target / momentum
        # network (run in training mode); its running statistics come from its own forwards (the EMA moves parameters).
        self.get_submodule(self.ema_pairs[1][1]).train(mode)
        return self

    def embed_views(self, global_crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """global_crops [B, 2, C, H, W] -> online predictions and target projections (no gradient), each [B, 2, P].
        Encoders and heads run once per view, as the official forwards."""
        (_, target_encoder), (_, target_projector) = self.ema_pairs
        features = pooled_views(self.encoder, global_crops, one_call=False)
        online = per_view(self.predictor, per_view(self.projector, features))
        with torch.no_grad():
            target_features = pooled_views(self.get_submodule(target_encoder), global_crops, one_call=False)
            target = per_view(self.get_submodule(target_projector), target_features)
        return online.transpose(0, 1), target.transpose(0, 1)


__all__ = [
    "JointEmbeddingPreTrainedModel",
    "OnlineAndTargetNetworks",
    "build_head",
    "check_two_views",
    "per_view",
    "pooled_views",
]
