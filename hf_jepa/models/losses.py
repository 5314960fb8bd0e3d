"""Objectives shared across methods."""

import torch
import torch.nn.functional as F

_LATENT_LOSSES = {"smooth_l1": F.smooth_l1_loss, "l1": F.l1_loss, "l2": F.mse_loss}


def normalized_targets(hidden_states: torch.Tensor) -> torch.Tensor:
    """JEPA targets: layer norm over the feature dimension without affine parameters."""
    return F.layer_norm(hidden_states, hidden_states.shape[-1:])


def latent_prediction_loss(predictions: torch.Tensor, targets: torch.Tensor, kind: str = "smooth_l1") -> torch.Tensor:
    """Mean element-wise regression loss between predicted and target embeddings (I-JEPA: smooth-L1, beta 1)."""
    if kind not in _LATENT_LOSSES:
        raise ValueError(f"`loss_type` must be one of {sorted(_LATENT_LOSSES)}, got {kind!r}.")
    return _LATENT_LOSSES[kind](predictions.float(), targets.float())
