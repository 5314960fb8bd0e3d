"""The image-text objectives: CLIP's symmetric softmax cross-entropy and SigLIP's pairwise sigmoid loss, each exactly
the single-process loss on the global (concatenated) batch when run across processes.

Both take this process's L2-normalised image and text embeddings [B, D] (row i of each is a matching pair) and return
this process's share of the loss; DDP's average of the per-process losses and gradients is then the loss and gradient
of the global batch (every process must hold the same B, as accelerate's `even_batches` gives).
"""

import torch
import torch.nn.functional as F

from .distributed import gather_with_grad, rank, ring_pass_with_grad, world_size


def check_pairs(image_embeds: torch.Tensor, text_embeds: torch.Tensor, title: str) -> None:
    """Clear errors for what neither loss can take: mismatched pairs, or a global batch of one pair (no negatives)."""
    if image_embeds.ndim != 2 or image_embeds.shape != text_embeds.shape:
        raise ValueError(
            f"{title}: image and text embeddings must both be [batch, dim] of one shape, got "
            f"{tuple(image_embeds.shape)} and {tuple(text_embeds.shape)}."
        )
    if image_embeds.shape[0] * world_size() < 2:
        raise ValueError(
            f"{title} needs at least 2 image-text pairs in the (global) batch: the other pairs are its negatives, "
            f"got {image_embeds.shape[0] * world_size()}."
        )


def clip_contrastive_loss(
    image_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """CLIP: (CE(image -> texts) + CE(text -> images)) / 2 over the global batch of N pairs, logits = exp(logit_scale)
    * cosine. As open_clip's `ClipLoss(local_loss=True, gather_with_grad=True)`: every process gathers all N embeddings
    of both modalities WITH gradient and scores only its own B rows against them (a [B, N] matrix, not [N, N]); its
    positives sit at columns rank * B + i. The mean over processes is the global loss."""
    check_pairs(image_embeds, text_embeds, "CLIP")
    all_images, all_texts = gather_with_grad(image_embeds), gather_with_grad(text_embeds)  # [N, D]
    scale = logit_scale.exp()
    labels = torch.arange(image_embeds.shape[0], device=image_embeds.device) + rank() * image_embeds.shape[0]
    logits_per_image = scale * image_embeds @ all_texts.T  # [B, N]
    logits_per_text = scale * text_embeds @ all_images.T  # [B, N]
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


def _sigmoid_terms(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
    positives: bool,
) -> torch.Tensor:
    """sum over the [B, B'] block of -log sigmoid(z_ij * (t * cos_ij + b)), z = +1 on the diagonal when `positives`
    (this process's own pairs), -1 everywhere else."""
    logits = logit_scale.exp() * image_embeds @ text_embeds.T + logit_bias  # [B, B']
    signs = -torch.ones_like(logits)
    if positives:
        signs = signs + 2 * torch.eye(*logits.shape, dtype=logits.dtype, device=logits.device)
    return -F.logsigmoid(signs * logits).sum()


def siglip_sigmoid_loss(
    image_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor
) -> torch.Tensor:
    """SigLIP: -1/N sum_ij log sigmoid(z_ij (t cos_ij + b)) over the global N x N pairs (z = +1 for matching pairs,
    -1 otherwise; t = exp(logit_scale)), as big_vision's sigmoid loss (sum over texts, mean over images).

    Across processes, the paper's chunked implementation: each process scores its B images against its own B texts
    (positives and negatives), then passes its texts around the ring (`world_size - 1` passes, gradient flowing back
    along the ring) and adds the negative-only terms of each neighbour's block. Only [B, B] blocks are ever built,
    never the global [N, N] matrix and never a gathered [N, D]. Returns this process's sum / B; the mean over
    processes is the global loss."""
    check_pairs(image_embeds, text_embeds, "SigLIP")
    total = _sigmoid_terms(image_embeds, text_embeds, logit_scale, logit_bias, positives=True)
    texts = text_embeds
    for _ in range(world_size() - 1):
        texts = ring_pass_with_grad(texts)  # the texts of rank - 1, then rank - 2, ...
        total = total + _sigmoid_terms(image_embeds, texts, logit_scale, logit_bias, positives=False)
    return total / image_embeds.shape[0]


__all__ = ["check_pairs", "clip_contrastive_loss", "siglip_sigmoid_loss"]
