"""MoCo v3 (Chen, Xie and He, 2021): the query encoder's predictions of one view are contrasted (InfoNCE) with the
momentum encoder's keys of the other view, the keys of the whole global batch being the candidates."""

from dataclasses import dataclass

import torch
import torch.nn as nn
from transformers import initialization as init

from .configuration_mocov3 import MoCoV3SSLConfig
from .losses import moco_contrastive_loss, normalized_std
from .modeling_backbones import SSLEncoder
from .modeling_joint_embedding import (
    JointEmbeddingPreTrainedModel,
    OnlineAndTargetNetworks,
    check_two_views,
)
from .modeling_ssl_vit import (
    SSLPreTrainingOutput,
    SSLViTForImageClassification,
)
from .vit import PatchEmbeddings, TransformerBlock, ViTEmbeddings


class MoCoV3SSLPreTrainedModel(JointEmbeddingPreTrainedModel):
    """The official `VisionTransformerMoCo` init (`vits.py`): linear layers Xavier-uniform with zero bias, the fused
    qkv projection Xavier-uniform per Q / K / V, the patch projection Xavier-uniform as a linear map (it stays frozen
    at this init with `freeze_patch_projection`), the CLS token N(0, 1e-6^2). The heads keep torch's `nn.Linear`
    init: the official code builds them after the ViT's init."""

    config_class = MoCoV3SSLConfig
    config: MoCoV3SSLConfig

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, TransformerBlock):  # after its children: replaces the shared ViT init of its linears
            for linear in (module.attn.proj, module.mlp.fc1, module.mlp.fc2):
                init.xavier_uniform_(linear.weight)
                init.zeros_(linear.bias)
            qkv = module.attn.qkv
            bound = (6.0 / (qkv.weight.shape[0] // 3 + qkv.weight.shape[1])) ** 0.5
            init.uniform_(qkv.weight, -bound, bound)
            if qkv.bias is not None:
                init.zeros_(qkv.bias)
        elif isinstance(module, PatchEmbeddings):
            projection = module.projection
            fan_in = projection.weight[0].numel()  # channels * patch area
            bound = (6.0 / (fan_in + projection.out_channels)) ** 0.5
            init.uniform_(projection.weight, -bound, bound)
            init.zeros_(projection.bias)
        elif isinstance(module, ViTEmbeddings) and module.cls_token is not None:
            init.normal_(module.cls_token, std=1e-6)


class MoCoV3SSLModel(MoCoV3SSLPreTrainedModel, SSLEncoder):
    """The MoCo v3 encoder. Loaded from a pretraining folder it is the query encoder (official `base_encoder`), the
    network MoCo v3's linear evaluation keeps."""


class MoCoV3SSLForImageClassification(MoCoV3SSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = MoCoV3SSLModel


@dataclass
class MoCoV3SSLForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): ctr(q1, k2) + ctr(q2, k1), each InfoNCE times 2 * temperature.
        queries (`torch.FloatTensor` of shape `(batch, 2, projection_size)`): predictor outputs of both views (before
            L2 normalisation).
        momentum_keys (`torch.FloatTensor` of shape `(batch, 2, projection_size)`): the keys, momentum projector
            outputs of both views (no gradient). Not called `keys`: a `ModelOutput` is a dict, whose `keys()` method
            DDP and `torch.utils._pytree` call.
    """

    queries: torch.FloatTensor | None = None
    momentum_keys: torch.FloatTensor | None = None


class MoCoV3SSLForPreTraining(MoCoV3SSLPreTrainedModel, OnlineAndTargetNetworks):
    """Query encoder (published) + projector + predictor; momentum encoder + momentum projector, EMA copies of the
    first two (the trainer moves them once per optimizer step)."""

    main_input_name = "global_crops"
    compared_output = "momentum key"  # what `embed_views`' second output is, in words (demo captions)
    ema_pairs = (("encoder", "momentum_encoder"), ("projector", "momentum_projector"))
    # Official `_build_mlp`: linears without bias, BatchNorm + ReLU between them, a last BatchNorm without scale or
    # shift (kept for the ViT's predictor too).
    head_options = {"last_norm": "plain"}

    def __init__(self, config: MoCoV3SSLConfig):
        super().__init__(config)
        self.build_networks(MoCoV3SSLModel)
        if config.freeze_patch_projection and config.backbone_config is None:  # official --stop-grad-conv1
            self.encoder.embeddings.patch_embeddings.projection.requires_grad_(False)
        self.post_init()

    def forward(
        self,
        global_crops: torch.Tensor | None = None,
        local_crops: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MoCoV3SSLForPreTrainingOutput | tuple:
        """global_crops [B, 2, C, H, W] at the model's image size (BYOL's asymmetric augmentations, as the official
        MoCo v3; `hf-jepa pretrain` makes them). Under torch.distributed each query meets the keys of every
        process (gathered without gradient)."""
        check_two_views(self.config, global_crops, local_crops, pixel_values, "MoCo v3", needs_negatives=True)
        queries, keys = self.embed_views(global_crops)  # [B, 2, P]
        temperature = self.config.temperature
        loss_12 = moco_contrastive_loss(queries[:, 0], keys[:, 1], temperature)
        loss_21 = moco_contrastive_loss(queries[:, 1], keys[:, 0], temperature)
        loss = loss_12 + loss_21
        logs = {
            "loss_moco": loss.detach(),
            "query_std": normalized_std(queries.flatten(0, 1)),  # collapse monitors
            "key_std": normalized_std(keys.flatten(0, 1)),
        }
        output = MoCoV3SSLForPreTrainingOutput(loss=loss, logs=logs, queries=queries, momentum_keys=keys)
        return self.as_return_type(output, return_dict)


__all__ = [
    "MoCoV3SSLPreTrainedModel",
    "MoCoV3SSLModel",
    "MoCoV3SSLForImageClassification",
    "MoCoV3SSLForPreTraining",
    "MoCoV3SSLForPreTrainingOutput",
]
