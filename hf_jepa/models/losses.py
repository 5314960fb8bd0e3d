"""Objectives shared across methods."""

import torch
import torch.nn.functional as F

from .distributed import gather_no_grad, gather_with_grad, is_distributed, rank

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


# SimCLR masks each embedding's similarity with itself by subtracting this from its logit (official LARGE_NUM).
_SELF_MASK = 1e9


def nt_xent_loss(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent as the official `add_contrastive_loss`: first, second [B, P] are the projections of two views
    of the same B images (this process's share of the batch).

    Both are L2-normalised and gathered from every process WITH gradient; each local embedding of view 1 is
    classified among the 2N - 1 other embeddings of the global batch (N = B * world size): all N of view 2 (its own
    image's is the positive) and the N - 1 others of view 1, logits = cosine / temperature; the same for view 2.
    Returns the mean over the local images of loss_a + loss_b (the official sum of both directions, twice the
    paper's per-view average).
    """
    first, second = F.normalize(first.float(), dim=-1), F.normalize(second.float(), dim=-1)
    batch = first.shape[0]
    first_all, second_all = gather_with_grad(first), gather_with_grad(second)  # [N, P]
    labels = torch.arange(batch, device=first.device) + rank() * batch  # the positive's column in the second view
    self_mask = F.one_hot(labels, first_all.shape[0]).to(first.dtype) * _SELF_MASK  # [B, N]
    logits_aa = first @ first_all.T / temperature - self_mask
    logits_bb = second @ second_all.T / temperature - self_mask
    logits_ab = first @ second_all.T / temperature
    logits_ba = second @ first_all.T / temperature
    loss_a = F.cross_entropy(torch.cat([logits_ab, logits_aa], dim=1), labels, reduction="none")
    loss_b = F.cross_entropy(torch.cat([logits_ba, logits_bb], dim=1), labels, reduction="none")
    return (loss_a + loss_b).mean()


def moco_contrastive_loss(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """MoCo v3's `contrastive_loss`: queries [B, P] (predictor outputs of one view), keys [B, P] (momentum projector
    outputs of the other view). Both L2-normalised; keys gathered from every process WITHOUT gradient; each query is
    classified among all N keys (its own image's is the positive, at rank * B + i), logits = q . k / temperature;
    cross-entropy averaged over the local queries, times 2 * temperature (official)."""
    queries, keys = F.normalize(queries.float(), dim=-1), F.normalize(keys.float(), dim=-1)
    keys = gather_no_grad(keys)  # [N, P]
    labels = torch.arange(queries.shape[0], device=queries.device) + rank() * queries.shape[0]
    return F.cross_entropy(queries @ keys.T / temperature, labels) * (2 * temperature)


def byol_regression_loss(predictions: torch.Tensor, targets: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """BYOL's `regression_loss` per sample: ||p / |p| - z / |z|||^2 = 2 - 2 cos(p, z); predictions, targets [B, P]
    -> [B]. The norms are floored as officially (`rsqrt(max(sum(x^2), 1e-12))`); `targets` should be detached."""

    def normalized(x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True).clamp_min(eps))

    return (normalized(predictions) - normalized(targets)).pow(2).sum(dim=-1)


def normalized_std(embeddings: torch.Tensor) -> torch.Tensor:
    """Collapse monitor: the std over the batch of the L2-normalised embeddings [B, P], averaged over dimensions
    (0 when every image maps to one point; about 1 / sqrt(P) when they spread over the sphere)."""
    return F.normalize(embeddings.detach().float(), dim=-1).std(dim=0).mean()


def sigreg_of_step(sigreg, z: torch.Tensor, step: int | None = None, generator=None) -> torch.Tensor:
    """SIGReg of z with the slices of optimizer `step` (the same on every process: what `SSLTrainer` passes). Without
    a step, a `generator` in one process draws them (the same generator, the same value); else SIGReg's own call
    counter does. A generator is never used under torch.distributed: it may differ per process."""
    if step is None and generator is not None and not is_distributed():
        return sigreg(z, generator=generator)
    return sigreg(z, step=step)
