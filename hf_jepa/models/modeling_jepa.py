"""What I-JEPA and V-JEPA share: the official residual-projection init, and the pretraining model made of a context
encoder (trained), a predictor and an EMA target encoder whose layer-normed outputs are the targets."""

import torch
import torch.nn as nn

from .configuration_jepa import JEPAConfig
from .losses import normalized_targets
from .modeling_ssl_vit import SSLModelWithEMATarget, SSLPreTrainedModel, SSLViTModel
from .predictor import MaskedTokenPredictor
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
    evaluate). A method sets `encoder_class` and writes its forward: masks, context pass, predictor, loss."""

    encoder_class: type[SSLViTModel] = SSLViTModel
    ema_pairs = (("context_encoder", "encoder"),)

    def __init__(self, config: JEPAConfig, num_mask_tokens: int = 1):
        super().__init__(config)
        self.encoder = self.encoder_class(config)  # EMA target: sees the whole input
        self.context_encoder = self.encoder_class(config)
        self.predictor = MaskedTokenPredictor.for_latent_prediction(config, num_mask_tokens=num_mask_tokens)
        self.freeze_targets()

    @torch.no_grad()
    def target_embeddings(self, inputs: torch.Tensor) -> torch.Tensor:
        """The targets of every token: layer-normed (no affine) EMA-encoder outputs of the whole input, prefix tokens
        dropped -> [B, N, D]."""
        hidden = self.encoder(inputs, return_dict=True).last_hidden_state
        return normalized_targets(hidden[:, self.config.num_prefix_tokens :])

    def context_embeddings(self, inputs: torch.Tensor, context_idx: torch.Tensor) -> torch.Tensor:
        """The context encoder's outputs at the kept tokens context_idx [B, Kc] -> [B, Kc, D]."""
        hidden = self.context_encoder(inputs, keep_indices=context_idx, return_dict=True).last_hidden_state
        return hidden[:, self.config.num_prefix_tokens :]


def target_std(targets: torch.Tensor) -> torch.Tensor:
    """Collapse monitor: the targets' per-dimension standard deviation over tokens and images, averaged (0 when
    every token has the same target)."""
    return targets.detach().float().flatten(0, -2).std(dim=0).mean()


__all__ = ["JEPAForPreTrainingBase", "JEPAPreTrainedModel", "target_std"]
