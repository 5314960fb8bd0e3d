"""DINO (Caron et al., 2021): a student matches the centred, sharpened output of its EMA teacher across views."""

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from transformers import initialization as init

from .configuration_dino import DINOSSLConfig
from .configuration_vit_ssl import _as_pair
from .heads import DINOHead, WeightNormLinear
from .losses import dino_cross_entropy
from .modeling_ssl_vit import (
    SSLModelWithEMATarget,
    SSLPreTrainedModel,
    SSLPreTrainingOutput,
    SSLViTForImageClassification,
    SSLViTModel,
)


class DINOSSLPreTrainedModel(SSLPreTrainedModel):
    config_class = DINOSSLConfig
    config: DINOSSLConfig

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, WeightNormLinear):  # official: nn.Linear's default init, then g filled with 1
            init.kaiming_uniform_(module.weight_v, a=5**0.5)
            init.ones_(module.weight_g)
        elif isinstance(module, DINOSSLForPreTraining):
            init.zeros_(module.center)


class DINOSSLModel(DINOSSLPreTrainedModel, SSLViTModel):
    """The DINO encoder. Loaded from a pretraining folder it is the EMA teacher, the network DINO evaluates."""


class DINOSSLForImageClassification(DINOSSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = DINOSSLModel


@dataclass
class DINOSSLForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): cross-entropy averaged over all (teacher view, other student view)
            pairs.
        student_logits (`torch.FloatTensor` of shape `(num_views, batch, head_output_size)`): student head outputs,
            global views first.
        teacher_probs (`torch.FloatTensor` of shape `(num_global_crops, batch, head_output_size)`): centred,
            sharpened teacher distributions.
    """

    student_logits: torch.FloatTensor | None = None
    teacher_probs: torch.FloatTensor | None = None


def _views_first(crops: torch.Tensor, argument: str) -> torch.Tensor:
    """[B, V, C, H, W] -> [V * B, C, H, W], view-major (the order DINO's loss chunks)."""
    if crops.ndim != 5:
        raise ValueError(f"`{argument}` must be [batch, views, channels, height, width], got {tuple(crops.shape)}.")
    return crops.transpose(0, 1).flatten(0, 1)


class DINOSSLForPreTraining(DINOSSLPreTrainedModel, SSLModelWithEMATarget):
    """Student (encoder + head, trained) and EMA teacher (`encoder`, published, + `teacher_head`)."""

    ema_pairs = (("student_encoder", "encoder"), ("student_head", "teacher_head"))

    def __init__(self, config: DINOSSLConfig):
        super().__init__(config)
        self.encoder = DINOSSLModel(config)  # EMA teacher: sees the global crops
        self.student_encoder = DINOSSLModel(config)
        self.student_head = self._build_head(config)
        self.teacher_head = self._build_head(config)
        # Saved with the model and moved by `.to()`: a center left on another device or lost on resume is a bug.
        self.register_buffer("center", torch.zeros(1, config.head_output_size))
        self.freeze_targets()
        self.post_init()

    @staticmethod
    def _build_head(config: DINOSSLConfig) -> DINOHead:
        return DINOHead(
            config.hidden_size,
            config.head_output_size,
            config.head_hidden_size,
            config.head_bottleneck_size,
            config.head_num_layers,
            config.head_norm_last_layer,
        )

    def get_encoder(self) -> DINOSSLModel:
        return self.encoder

    def last_layer_parameters(self) -> list[nn.Parameter]:
        """What `SSLTrainingArguments.freeze_last_layer_steps` keeps still early in training (official: 1 epoch)."""
        return list(self.student_head.last_layer.parameters())

    @torch.no_grad()
    def update_center(self, teacher_logits: torch.Tensor) -> None:
        """center <- m * center + (1 - m) * mean of the teacher logits over every view and every process."""
        total = teacher_logits.float().sum(dim=0, keepdim=True)  # [1, K]
        count = torch.full((), teacher_logits.shape[0], dtype=torch.float32, device=total.device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(total)
            dist.all_reduce(count)
        momentum = self.config.center_momentum
        self.center.mul_(momentum).add_(total / count, alpha=1.0 - momentum)

    def _check_crop_sizes(self, global_crops: torch.Tensor, local_crops: torch.Tensor | None) -> None:
        """Global crops at the model's image size (the teacher's positions are not interpolated), local crops any
        multiple of the patch size (their positions are)."""
        patch = _as_pair(self.config.patch_size, "patch_size")
        image = tuple(g * p for g, p in zip(self.config.grid_size, patch))
        if tuple(global_crops.shape[-2:]) != image:
            raise ValueError(
                f"`global_crops` are {global_crops.shape[-2]}x{global_crops.shape[-1]} but the model's image size is "
                f"{image[0]}x{image[1]} (config.image_size): make the global crops at that size."
            )
        if local_crops is not None and (local_crops.shape[-2] % patch[0] or local_crops.shape[-1] % patch[1]):
            raise ValueError(
                f"`local_crops` are {local_crops.shape[-2]}x{local_crops.shape[-1]}, not a multiple of the patch "
                f"size {patch} (config.local_crop_size should be one)."
            )

    def forward(
        self,
        global_crops: torch.Tensor | None = None,
        local_crops: torch.Tensor | None = None,
        teacher_temperature: float | None = None,
        pixel_values: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DINOSSLForPreTrainingOutput | tuple:
        """global_crops [B, Vg >= 2, C, H, W] at the model's image size; local_crops [B, Vl, C, h, w] (optional).
        Make them with `hf_jepa.MultiCropViews` (what `SSLTrainer(train_views=...)` does for `hf-jepa pretrain`).
        `teacher_temperature` defaults to `config.teacher_temperature` (the trainer passes its warm-up schedule).
        In training mode the center moves after the loss is computed."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if global_crops is None:
            given = "only `pixel_values`" if pixel_values is not None else "no images"
            raise ValueError(
                f"DINO trains on multi-crop views but got {given}: pass `global_crops` [batch, >=2 views, C, H, W] "
                "(and optionally `local_crops`), e.g. from `hf_jepa.MultiCropViews`."
            )
        if global_crops.ndim != 5 or global_crops.shape[1] < 2:
            raise ValueError(
                "`global_crops` must be [batch, views >= 2, channels, height, width] (DINO compares two global "
                f"views of each image), got {tuple(global_crops.shape)}."
            )
        batch, num_global = global_crops.shape[:2]
        if local_crops is not None and (local_crops.ndim != 5 or local_crops.shape[0] != batch):
            raise ValueError(
                f"`local_crops` must be [batch={batch}, views, channels, height, width], got "
                f"{tuple(local_crops.shape)}."
            )
        for name, crops in (("global_crops", global_crops), ("local_crops", local_crops)):
            if crops is not None and crops.shape[2] != self.config.num_channels:
                raise ValueError(
                    f"`{name}` has {crops.shape[2]} channels but the model expects {self.config.num_channels} "
                    f"(config.num_channels); got shape {tuple(crops.shape)}."
                )
        self._check_crop_sizes(global_crops, local_crops)
        temperature = self.config.teacher_temperature if teacher_temperature is None else float(teacher_temperature)

        globals_flat = _views_first(global_crops, "global_crops")
        with torch.no_grad():
            teacher_logits = self.teacher_head(self.encoder(globals_flat, return_dict=True).pooler_output)
        # One batched call per crop size (all global views together, all local views together), then one head call.
        features = [self.student_encoder(globals_flat, return_dict=True).pooler_output]
        if local_crops is not None and local_crops.shape[1] > 0:
            locals_flat = _views_first(local_crops, "local_crops")
            features.append(self.student_encoder(locals_flat, interpolate_pos_encoding=True).pooler_output)
        student_logits = self.student_head(torch.cat(features, dim=0)).unflatten(0, (-1, batch))  # [Vs, B, K]

        teacher_logits = teacher_logits.float()
        teacher_probs = F.softmax((teacher_logits - self.center) / temperature, dim=-1).unflatten(
            0, (num_global, batch)
        )
        loss = dino_cross_entropy(student_logits, teacher_probs, self.config.student_temperature)
        if self.training:
            self.update_center(teacher_logits)

        entropy = -(teacher_probs * torch.log(teacher_probs.clamp_min(1e-12))).sum(-1).mean()
        logs = {
            "loss_dino": loss.detach(),
            "teacher_entropy": entropy.detach(),  # collapse monitor: ~0 = one prototype, log(K) = uniform
            "teacher_temperature": torch.full((), temperature, device=loss.device),
        }
        if not return_dict:
            return (loss, student_logits, teacher_probs)
        return DINOSSLForPreTrainingOutput(
            loss=loss, logs=logs, student_logits=student_logits, teacher_probs=teacher_probs
        )


__all__ = [
    "DINOSSLPreTrainedModel",
    "DINOSSLModel",
    "DINOSSLForImageClassification",
    "DINOSSLForPreTraining",
    "DINOSSLForPreTrainingOutput",
]
