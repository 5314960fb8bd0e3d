"""DINO (Caron et al., 2021): a student matches the centred, sharpened output of its EMA teacher across views."""

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from transformers import initialization as init

from .configuration_dino import DINOSSLConfig
from .heads import DINOHead, WeightNormLinear, build_mlp
from .losses import dino_cross_entropy
from .modeling_backbones import SSLEncoder
from .modeling_ssl_vit import (
    SSLModelWithEMATarget,
    SSLPreTrainedModel,
    SSLPreTrainingOutput,
    SSLViTForImageClassification,
)
from .multi_crop import check_crops, views_first


class DINOSSLPreTrainedModel(SSLPreTrainedModel):
    config_class = DINOSSLConfig
    config: DINOSSLConfig

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, WeightNormLinear):  # official: nn.Linear's default init, then g filled with 1
            init.kaiming_uniform_(module.weight_v, a=5**0.5)
            init.ones_(module.weight_g)
        elif isinstance(module, DINOSSLForPreTraining):
            for buffer in (module.center, module.pending_center_sum, module.pending_center_count):
                init.zeros_(buffer)


class DINOSSLModel(DINOSSLPreTrainedModel, SSLEncoder):
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


class DINOSSLForPreTraining(DINOSSLPreTrainedModel, SSLModelWithEMATarget):
    """Student (encoder + head, trained; + `student_predictor` in the predictor ablation) and EMA teacher
    (`encoder`, published, + `teacher_head`)."""

    main_input_name = "global_crops"
    ema_pairs = (("student_encoder", "encoder"), ("student_head", "teacher_head"))

    def __init__(self, config: DINOSSLConfig):
        super().__init__(config)
        self.encoder = DINOSSLModel(config)  # EMA teacher: sees the global crops
        self.student_encoder = DINOSSLModel(config)
        self.student_head = self._build_head(config)
        self.teacher_head = self._build_head(config)
        if config.predictor_num_layers > 0:  # the Table 14 ablation: the student alone goes through a predictor
            size = config.head_bottleneck_size
            hidden = config.predictor_hidden_size or config.head_hidden_size
            self.student_predictor = build_mlp(size, hidden, size, config.predictor_num_layers)
        # Saved with the model and moved by `.to()`: a center left on another device or lost on resume is a bug.
        self.register_buffer("center", torch.zeros(1, config.head_output_size))
        # Teacher-logit sums of the training forwards since the center last moved (see `defer_batch_statistics`).
        self.register_buffer("pending_center_sum", torch.zeros(1, config.head_output_size), persistent=False)
        self.register_buffer("pending_center_count", torch.zeros(()), persistent=False)
        self.freeze_targets()
        self.post_init()

    @staticmethod
    def _build_head(config: DINOSSLConfig) -> DINOHead:
        return DINOHead(
            config.pooled_size,
            config.head_output_size,
            config.head_hidden_size,
            config.head_bottleneck_size,
            config.head_num_layers,
            config.head_norm_last_layer,
        )

    # ---- what the trainer schedules (official: teacher temperature warm-up, last layer frozen early) ----------------
    def scheduled_inputs(self, step: int) -> dict[str, float]:
        """The teacher temperature at this step: linear from `warmup_teacher_temperature` to `teacher_temperature`
        over `teacher_temperature_warmup_steps`, then constant."""
        config, warmup = self.config, self.config.teacher_temperature_warmup_steps
        if step >= warmup:
            return {"teacher_temperature": config.teacher_temperature}
        start, end = config.warmup_teacher_temperature, config.teacher_temperature
        return {"teacher_temperature": start + (end - start) * step / warmup}

    def frozen_parameters(self, step: int) -> list[nn.Parameter]:
        """The head's last layer gets no update for the first `freeze_last_layer_steps` steps (official: 1 epoch)."""
        return list(self.student_head.last_layer.parameters()) if step < self.config.freeze_last_layer_steps else []

    # ---- the center -------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def accumulate_center(self, teacher_logits: torch.Tensor) -> None:
        """Add this forward's teacher logits [N, K] to the pending center update."""
        self.pending_center_sum += teacher_logits.float().sum(dim=0, keepdim=True)
        self.pending_center_count += teacher_logits.shape[0]

    @torch.no_grad()
    def update_batch_statistics(self) -> None:
        """center <- m * center + (1 - m) * mean of the pending teacher logits over every view, every accumulated
        micro-batch and every process (official: once per step, over the global batch)."""
        total, count = self.pending_center_sum.clone(), self.pending_center_count.clone()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(total)
            dist.all_reduce(count)
        momentum = self.config.center_momentum
        update = self.center * momentum + total / count.clamp_min(1.0) * (1.0 - momentum)
        self.center.copy_(torch.where(count > 0, update, self.center))  # no host read: nothing pending, no move
        self.pending_center_sum.zero_()
        self.pending_center_count.zero_()

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
        In training mode the center moves after the loss is computed (after the optimizer step under `SSLTrainer`)."""
        check_crops(self.config, global_crops, local_crops, min_global_crops=2, pixel_values=pixel_values)
        batch, num_global = global_crops.shape[:2]
        temperature = self.config.teacher_temperature if teacher_temperature is None else float(teacher_temperature)

        globals_flat = views_first(global_crops)
        with torch.no_grad():
            teacher_logits = self.teacher_head(self.encoder(globals_flat, return_dict=True).pooler_output)
        # One batched call per crop size (all global views together, all local views together), then one head call.
        features = [self.student_encoder(globals_flat, return_dict=True).pooler_output]
        if local_crops is not None and local_crops.shape[1] > 0:
            locals_flat = views_first(local_crops)
            local = self.student_encoder(locals_flat, interpolate_pos_encoding=True, return_dict=True)
            features.append(local.pooler_output)
        predictor = getattr(self, "student_predictor", None)
        student_logits = self.student_head(torch.cat(features, dim=0), predictor).unflatten(0, (-1, batch))

        teacher_logits = teacher_logits.float()
        teacher_probs = F.softmax((teacher_logits - self.center) / temperature, dim=-1).unflatten(
            0, (num_global, batch)
        )
        loss = dino_cross_entropy(student_logits, teacher_probs, self.config.student_temperature)
        if self.training:
            self.accumulate_center(teacher_logits)
            if not self.defer_batch_statistics:
                self.update_batch_statistics()

        entropy = -(teacher_probs * torch.log(teacher_probs.clamp_min(1e-12))).sum(-1).mean()
        logs = {
            "loss_dino": loss.detach(),
            "teacher_entropy": entropy.detach(),  # collapse monitor: ~0 = one prototype, log(K) = uniform
            "teacher_temperature": torch.full((), temperature, device=loss.device),
        }
        output = DINOSSLForPreTrainingOutput(
            loss=loss, logs=logs, student_logits=student_logits, teacher_probs=teacher_probs
        )
        return self.as_return_type(output, return_dict)


__all__ = [
    "DINOSSLPreTrainedModel",
    "DINOSSLModel",
    "DINOSSLForImageClassification",
    "DINOSSLForPreTraining",
    "DINOSSLForPreTrainingOutput",
]
