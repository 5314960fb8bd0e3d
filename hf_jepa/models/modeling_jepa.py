"""What I-JEPA and V-JEPA share: the official residual-projection init, and the pretraining model made of a context
encoder (trained), a predictor and an EMA target encoder whose layer-normed outputs are the targets."""

import torch
import torch.nn as nn

from .configuration_jepa import JEPAConfig
from .losses import normalized_targets, sigreg_of_step
from .modeling_ssl_vit import SSLModelWithEMATarget, SSLPreTrainedModel, SSLViTModel
from .predictor import MaskedTokenPredictor
from .sigreg import SIGReg
from .vit import TransformerBlock


class JEPAPreTrainedModel(SSLPreTrainedModel):
    config_class = JEPAConfig
    config: JEPAConfig

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, TransformerBlock):
            self._rescale_residual_projections(module)  # official I-JEPA / V-JEPA init


class JEPAForPreTrainingBase(JEPAPreTrainedModel, SSLModelWithEMATarget):
    """Context encoder (trained) + predictor + EMA target encoder (`encoder`, the published one, what the papers
    evaluate). With `config.sigreg_weight > 0` there is one encoder (`encoder`, trained, its own target) and SIGReg
    instead of the EMA. A method sets `encoder_class` and writes its forward: masks, context pass, predictor, loss
    (`with_sigreg` adds the regulariser)."""

    encoder_class: type[SSLViTModel] = SSLViTModel
    ema_pairs = (("context_encoder", "encoder"),)

    def __init__(self, config: JEPAConfig, num_mask_tokens: int = 1):
        super().__init__(config)
        self.encoder = self.encoder_class(config)  # the target: sees the whole input
        if self.uses_sigreg:
            self.ema_pairs = ()  # no EMA copy: the encoder is trained, context and target alike
            self.sigreg = SIGReg(num_slices=config.sigreg_num_slices)
        else:
            self.context_encoder = self.encoder_class(config)
        self.predictor = MaskedTokenPredictor.for_latent_prediction(config, num_mask_tokens=num_mask_tokens)
        self.freeze_targets()

    @property
    def uses_sigreg(self) -> bool:
        return self.config.sigreg_weight > 0

    def scheduled_inputs(self, step: int) -> dict[str, int]:
        """SIGReg's slices of this optimizer step (the same on every process)."""
        return {"sigreg_step": step} if self.uses_sigreg else {}

    def target_pass(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The targets of every token -> [B, N, D]: layer-normed (no affine) target-encoder outputs of the whole input,
        prefix tokens dropped; and its pooled feature [B, D]. Without gradient under the EMA; with SIGReg the targets
        train end to end (LeWorldModel)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.uses_sigreg):
            output = self.encoder(inputs, return_dict=True)
            targets = normalized_targets(output.last_hidden_state[:, self.config.num_prefix_tokens :])
        return targets, output.pooler_output

    def context_embeddings(self, inputs: torch.Tensor, context_idx: torch.Tensor) -> torch.Tensor:
        """The context encoder's outputs at the kept tokens context_idx [B, Kc] -> [B, Kc, D]."""
        encoder = self.encoder if self.uses_sigreg else self.context_encoder
        hidden = encoder(inputs, keep_indices=context_idx, return_dict=True).last_hidden_state
        return hidden[:, self.config.num_prefix_tokens :]

    def with_sigreg(self, loss, logs: dict, pooled: torch.Tensor, step: int | None, generator) -> torch.Tensor:
        """The loss itself under the EMA; with SIGReg (1 - lambda) * loss + lambda * SIGReg(pooled), logged."""
        if not self.uses_sigreg:
            return loss
        sigreg = sigreg_of_step(self.sigreg, pooled, step, generator)
        logs.setdefault("loss_prediction", loss.detach())
        logs["loss_sigreg"] = sigreg.detach()
        weight = self.config.sigreg_weight
        return (1 - weight) * loss + weight * sigreg


def target_std(targets: torch.Tensor) -> torch.Tensor:
    """Collapse monitor: the targets' per-dimension standard deviation over tokens and images, averaged (0 when
    every token has the same target)."""
    return targets.detach().float().flatten(0, -2).std(dim=0).mean()


__all__ = ["JEPAForPreTrainingBase", "JEPAPreTrainedModel", "target_std"]
