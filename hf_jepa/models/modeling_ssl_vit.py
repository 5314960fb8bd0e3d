"""The shared PreTrainedModel pieces: weight init, the encoder model, the classification head, EMA targets, and
the hooks through which a method tells the (method-independent) trainer what it schedules per step.

Each method subclasses these with its own config class; nothing here knows about a particular objective.
"""

import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.utils import ModelOutput

from .configuration_ssl_vit import SSLViTConfig
from .heads import AttentivePooler, GlobalBatchNorm
from .predictor import MaskedTokenPredictor
from .vit import TransformerBlock, ViTEmbeddings, build_blocks


class SSLPreTrainedModel(PreTrainedModel):
    config_class = SSLViTConfig
    config: SSLViTConfig
    base_model_prefix = "encoder"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["TransformerBlock", "ViTEmbeddings"]
    _supports_sdpa = True
    # Our losses are means over their own elements: let Trainer average micro-batches under gradient accumulation.
    accepts_loss_kwargs = False
    # Statistics a method keeps besides its weights (DINO's center) move once per optimizer step. A plain training
    # loop moves them in every training forward; `SSLTrainer` sets this and calls `update_batch_statistics` after
    # each optimizer step, so they see the whole accumulated batch.
    defer_batch_statistics = False

    def post_init(self):
        super().post_init()
        # A folder of a bigger model holds modules this one lacks (an encoder loaded from a pretraining folder, a
        # classifier from a pretraining one): those keys are expected leftovers. Keys under this model's own modules
        # are still reported, so a real mismatch is never hidden.
        own = [name for name, _ in self.named_children()] + [name for name, _ in self.named_parameters(recurse=False)]
        own += [name for name, _ in self.named_buffers(recurse=False)] + [self.base_model_prefix]
        self._keys_to_ignore_on_load_unexpected = {rf"^(?!({'|'.join(map(re.escape, sorted(set(own))))})(\.|$))"}

    def as_return_type(self, output: ModelOutput, return_dict: bool | None) -> ModelOutput | tuple:
        """`output`, or `output.to_tuple()` when `return_dict` (default: `config.return_dict`) is False: tuples are
        always exactly the output's non-None fields in order, as transformers' tests expect."""
        return_dict = self.config.return_dict if return_dict is None else return_dict
        return output if return_dict else output.to_tuple()

    # ---- hooks for the trainer (a method overrides those it needs) --------------------------------------------------
    def scheduled_inputs(self, step: int) -> dict[str, Any]:
        """Forward inputs that follow a schedule over optimizer steps (DINO: the teacher temperature warm-up)."""
        return {}

    def frozen_parameters(self, step: int) -> list[nn.Parameter]:
        """Parameters that get no update at this optimizer step (DINO: the head's last layer early in training)."""
        return []

    def update_batch_statistics(self) -> None:
        """Apply what training forwards accumulated since the last call (with `defer_batch_statistics`)."""

    # ---- weights --------------------------------------------------------------------------------------------------
    def _initialize_weights(self, module: nn.Module, is_custom_code: bool = False) -> None:
        # transformers skips modules without direct parameters in custom code; ours must run (block rescaling, the
        # EMA copy), and our `_init_weights` only uses flag-aware `transformers.initialization` functions.
        super()._initialize_weights(module, is_custom_code=False)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, (ViTEmbeddings, MaskedTokenPredictor)):
            if isinstance(module.position_embeddings, nn.Parameter):  # learned positions
                init.trunc_normal_(module.position_embeddings, std=std)
            elif module.position_embeddings is not None:  # fixed sin-cos
                init.copy_(module.position_embeddings, module.build_position_table())
            for token in (getattr(module, "cls_token", None), getattr(module, "register_tokens", None)):
                if token is not None:
                    init.trunc_normal_(token, std=std)
            if isinstance(module, MaskedTokenPredictor):
                init.trunc_normal_(module.mask_tokens, std=std)
        elif isinstance(module, AttentivePooler):
            init.trunc_normal_(module.query_token, std=std)
        elif isinstance(module, (nn.BatchNorm1d, GlobalBatchNorm)):  # the probe's and the heads' normalisations
            if module.weight is not None:
                init.ones_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)

    @staticmethod
    def _rescale_residual_projections(block: TransformerBlock) -> None:
        """Official I-JEPA/V-JEPA init: residual output projections divided by sqrt(2 * layer_id)."""
        for weight in (block.attn.proj.weight, block.mlp.fc2.weight):
            if not getattr(weight, "_is_hf_initialized", False):  # never rescale loaded weights
                weight.div_((2.0 * block.layer_id) ** 0.5)


class SSLViTModel(SSLPreTrainedModel):
    """The encoder: tokens of the kept patches (all when `keep_indices` is None) and a pooled feature."""

    def __init__(self, config: SSLViTConfig):
        super().__init__(config)
        self.embeddings = ViTEmbeddings(config)
        self.layers = build_blocks(
            config, config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size
        )
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.patch_embeddings

    def pool(self, last_hidden_state: torch.Tensor) -> torch.Tensor:
        """[B, L, D] -> [B, D]: the CLS token, or the mean of the patch tokens (prefix tokens excluded)."""
        if self.config.pooling == "cls":
            return last_hidden_state[:, 0]
        return last_hidden_state[:, self.config.num_prefix_tokens :].mean(dim=1)

    def forward(
        self,
        pixel_values: torch.Tensor,
        keep_indices: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        """pixel_values [B, C, H, W] (a video model also takes clips [B, T, C, H, W]); keep_indices [B, K] token
        positions to encode (others are dropped).

        Returns `last_hidden_state [B, prefix + K, D]` (prefix = CLS/register tokens), `pooler_output [B, D]`, and
        when asked (argument or config) `hidden_states` (the embeddings and each block's output, before the final
        norm, as transformers' ViT) and `attentions` ([B, heads, L, L] per block).
        """
        if keep_indices is not None and (keep_indices.ndim != 2 or keep_indices.shape[0] != pixel_values.shape[0]):
            raise ValueError(
                f"`keep_indices` must be [batch, kept] with batch {pixel_values.shape[0]}, got "
                f"{tuple(keep_indices.shape)}."
            )
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        hidden = self.embeddings(pixel_values, keep_indices, interpolate_pos_encoding)
        grid = self.embeddings.patch_embeddings.grid_size(pixel_values)
        rope = self.embeddings.rope(grid, keep_indices, hidden.device)  # None unless rotary positions
        all_hidden = (hidden,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden, weights = layer(hidden, rope=rope, output_attentions=output_attentions)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden,)
            if output_attentions:
                all_attentions = all_attentions + (weights,)
        hidden = self.layernorm(hidden)
        output = BaseModelOutputWithPooling(
            last_hidden_state=hidden,
            pooler_output=self.pool(hidden),
            hidden_states=all_hidden,
            attentions=all_attentions,
        )
        return self.as_return_type(output, return_dict)


CLASSIFIER_POOLINGS = ("pooler", "attentive")


class SSLViTForImageClassification(SSLPreTrainedModel):
    """Encoder + linear classifier on the pooled feature. `labels` give the loss transformers' ViT classifier gives
    for `config.problem_type`: cross-entropy (integer labels [B]), BCE with logits (multi-label [B, num_labels]) or
    MSE (regression, `num_labels=1`).

    Two optional config fields (absent: the defaults) shape what the classifier reads, for the probing protocols:
    `classifier_pooling` is `"pooler"` (the encoder's `pooler_output`) or `"attentive"` (a learned query
    cross-attends to all tokens: V-JEPA's and I-JEPA's attentive probe, module `probe`); `classifier_batch_norm=True`
    puts a BatchNorm without affine parameters before the classifier (MAE's linear probe, module `classifier_norm`).
    """

    encoder_class = SSLViTModel
    default_classifier_pooling = "pooler"

    def __init__(self, config: SSLViTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.encoder = self.encoder_class(config)
        self.add_pooling_head(config)
        self.classifier = nn.Linear(config.pooled_size, config.num_labels) if config.num_labels else nn.Identity()
        self.post_init()

    def add_pooling_head(self, config: SSLViTConfig) -> None:
        """Modules between the encoder and the classifier, as `classifier_pooling` and `classifier_batch_norm` ask."""
        pooling = getattr(config, "classifier_pooling", None) or self.default_classifier_pooling
        if pooling not in CLASSIFIER_POOLINGS:
            raise ValueError(f"`classifier_pooling` must be one of {CLASSIFIER_POOLINGS}, got {pooling!r}.")
        if pooling == "attentive":
            heads = getattr(config, "probe_num_attention_heads", None) or config.num_attention_heads
            self.probe = AttentivePooler(config.hidden_size, heads, config.layer_norm_eps)
        if getattr(config, "classifier_batch_norm", False):
            # nn.BatchNorm1d's state dict, over the global batch under DDP on CPU (gloo) too, unlike SyncBatchNorm.
            self.classifier_norm = GlobalBatchNorm(config.pooled_size, scale=False, center=False, eps=1e-6)

    def pooled_features(self, outputs: BaseModelOutputWithPooling) -> torch.Tensor:
        """[B, D]: what the classifier reads."""
        probe = getattr(self, "probe", None)
        features = outputs.pooler_output if probe is None else probe(outputs.last_hidden_state)
        norm = getattr(self, "classifier_norm", None)
        return features if norm is None else norm(features)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput | tuple:
        return self.classify(
            dict(pixel_values=pixel_values, interpolate_pos_encoding=interpolate_pos_encoding),
            labels,
            output_attentions,
            output_hidden_states,
            return_dict,
        )

    def classify(
        self, encoder_inputs: dict, labels, output_attentions, output_hidden_states, return_dict
    ) -> ImageClassifierOutput | tuple:
        outputs = self.encoder(
            **encoder_inputs,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.pooled_features(outputs))  # [B, num_labels]
        loss = None if labels is None else self.loss_function(labels, logits, self.config)
        output = ImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return self.as_return_type(output, return_dict)


@dataclass
class SSLPreTrainingOutput(ModelOutput):
    """Common output of every `...ForPreTraining`.

    Args:
        loss (`torch.FloatTensor` of shape `()`): the training objective.
        logs (`dict[str, torch.Tensor]`): detached scalars the trainer logs next to the loss (loss parts,
            collapse monitors). Kept on device; read only when logged.
    """

    loss: torch.FloatTensor | None = None
    logs: dict[str, torch.Tensor] | None = None


class SSLModelWithEMATarget(SSLPreTrainedModel):
    """Base of pretraining models that keep a frozen EMA copy of an online network.

    `ema_pairs` names (online, target) module pairs; the trainer updates every target parameter as
    `target = m * target + (1 - m) * online` once per optimizer step. The target starts as an exact copy of the
    online module, made after weight init, so transformers' automatic init cannot leave the two different.
    """

    ema_pairs: tuple[tuple[str, str], ...] = ()

    def ema_parameters(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        online, target = [], []
        for online_name, target_name in self.ema_pairs:
            online += list(self.get_submodule(online_name).parameters())
            target += list(self.get_submodule(target_name).parameters())
        return online, target

    def freeze_targets(self) -> None:
        for _, target_name in self.ema_pairs:
            self.get_submodule(target_name).requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        cnn = getattr(self.config, "backbone_config", None) is not None
        for _, target_name in self.ema_pairs:
            # A ViT target never uses dropout / drop-path. A CNN target normalises with its batch's statistics, as
            # the online network and the official momentum / teacher encoders (run in training mode): its BatchNorm
            # running statistics are never EMA'd, so in eval mode they would stay at their init.
            self.get_submodule(target_name).train(mode and cnn)
        return self

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is not self:
            return
        # Runs last (after every child). Copy whichever side was loaded onto the side that was not: from a
        # checkpoint holding only the published encoder, the online network starts from it too.
        for online_name, target_name in self.ema_pairs:
            online, target = self.get_submodule(online_name), self.get_submodule(target_name)
            source, dest = online, target
            loaded = lambda m: all(getattr(p, "_is_hf_initialized", False) for p in m.parameters())  # noqa: E731
            if loaded(target) and not loaded(online):
                source, dest = target, online
            for src, dst in zip(source.parameters(), dest.parameters()):
                init.copy_(dst, src)
