"""The shared PreTrainedModel pieces: weight init, the encoder model, the classification head, EMA targets.

Each method subclasses these with its own config class; nothing here knows about a particular objective.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.utils import ModelOutput

from .configuration_vit_ssl import SSLViTConfig
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
    # A pretraining folder also holds the online network and heads; `AutoModel` keeps only the encoder.
    _keys_to_ignore_on_load_unexpected = [
        r"^(context_encoder|student_encoder|student_head|teacher_head|predictor|decoder|classifier)\.",
        r"^center$",
    ]
    # Our losses are means over their own elements: let Trainer average micro-batches under gradient accumulation.
    accepts_loss_kwargs = False

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
        elif isinstance(module, ViTEmbeddings):
            if isinstance(module.position_embeddings, nn.Parameter):  # learned positions
                init.trunc_normal_(module.position_embeddings, std=std)
            elif module.position_embeddings is not None:  # fixed sin-cos
                init.copy_(module.position_embeddings, module.build_position_table())
            for token in (module.cls_token, module.register_tokens):
                if token is not None:
                    init.trunc_normal_(token, std=std)
        elif isinstance(module, MaskedTokenPredictor):
            if module.position_embeddings is not None:
                init.copy_(module.position_embeddings, module.build_position_table())
            init.trunc_normal_(module.mask_tokens, std=std)

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
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        """pixel_values [B, C, H, W] (a video model also takes clips [B, T, C, H, W]); keep_indices [B, K] token
        positions to encode (others are dropped).

        Returns `last_hidden_state [B, prefix + K, D]` (prefix = CLS/register tokens) and `pooler_output [B, D]`.
        """
        if keep_indices is not None and (keep_indices.ndim != 2 or keep_indices.shape[0] != pixel_values.shape[0]):
            raise ValueError(
                f"`keep_indices` must be [batch, kept] with batch {pixel_values.shape[0]}, got "
                f"{tuple(keep_indices.shape)}."
            )
        output_hidden_states = output_hidden_states if output_hidden_states is not None else False
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        hidden = self.embeddings(pixel_values, keep_indices, interpolate_pos_encoding)
        grid = self.embeddings.patch_embeddings.grid_size(pixel_values)
        rope = self.embeddings.rope(grid, keep_indices, hidden.device)  # None unless rotary positions
        all_hidden = (hidden,) if output_hidden_states else None
        for layer in self.layers:
            hidden = layer(hidden, rope=rope)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden,)
        hidden = self.layernorm(hidden)
        pooled = self.pool(hidden)
        if not return_dict:
            return tuple(v for v in (hidden, pooled, all_hidden) if v is not None)
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled, hidden_states=all_hidden)


class SSLViTForImageClassification(SSLPreTrainedModel):
    """Encoder + linear classifier on the pooled feature (`labels` [B] give a cross-entropy loss)."""

    encoder_class = SSLViTModel

    def __init__(self, config: SSLViTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.encoder = self.encoder_class(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels else nn.Identity()
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.encoder(
            pixel_values,
            interpolate_pos_encoding=interpolate_pos_encoding,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        return classification_output(
            self.classifier(outputs.pooler_output), labels, outputs.hidden_states, return_dict
        )


def classification_output(logits, labels, hidden_states, return_dict: bool) -> ImageClassifierOutput | tuple:
    """Logits [B, num_labels] with their cross-entropy loss when `labels` [B] are given, as transformers returns
    them."""
    loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
    if not return_dict:
        output = (logits, hidden_states) if hidden_states is not None else (logits,)
        return ((loss,) + output) if loss is not None else output
    return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)


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
        for _, target_name in self.ema_pairs:  # targets never use dropout / drop-path
            self.get_submodule(target_name).eval()
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
