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


def latent_power_loss(predictions: torch.Tensor, targets: torch.Tensor, exponent: float = 1.0) -> torch.Tensor:
    """V-JEPA's loss: mean(|prediction - target| ** p) / p (p = 1: L1)."""
    return (predictions.float() - targets.float()).abs().pow(exponent).mean() / exponent


def dino_cross_entropy(
    student_logits: torch.Tensor, teacher_probs: torch.Tensor, student_temperature: float
) -> torch.Tensor:
    """DINO's loss: cross-entropy H(teacher_t, student_s) averaged over every pair of *different* views.

    student_logits [Vs, B, K] (all crops, the teacher's views first), teacher_probs [Vt, B, K] (centred, sharpened
    softmax of the teacher on the global crops). Pair (t, s) is skipped when s == t: a view never predicts itself.
    """
    num_student, num_teacher = student_logits.shape[0], teacher_probs.shape[0]
    if num_teacher < 2 or num_student < num_teacher:
        raise ValueError(
            f"DINO needs at least two global views seen by both networks, got {num_teacher} teacher and "
            f"{num_student} student views."
        )
    log_probs = F.log_softmax(student_logits.float() / student_temperature, dim=-1)
    # [Vt, Vs]: mean over the batch of -sum_k q_t log p_s
    cross = -torch.einsum("tbk,sbk->ts", teacher_probs.float(), log_probs) / student_logits.shape[1]
    same_view = torch.eye(num_teacher, num_student, dtype=torch.bool, device=cross.device)
    return cross.masked_fill(same_view, 0.0).sum() / (num_teacher * num_student - num_teacher)
