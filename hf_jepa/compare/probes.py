"""The compare harness's protocols beyond `hf_jepa.evaluation`'s kNN and linear probe: few-shot linear probes
(a fraction of the labels) and the attentive probe of V-JEPA and I-JEPA, trained on cached frozen tokens."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..evaluation import linear_probe_top1
from ..models.heads import AttentivePooler

FEW_SHOT_FRACTIONS = (0.01, 0.1)


def few_shot_indices(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of a class-stratified `fraction` of the rows: round(fraction * n_c) of each class c, at least one."""
    if not 0 < fraction <= 1:
        raise ValueError(f"the few-shot `fraction` must be in (0, 1], got {fraction}.")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in labels.unique():
        rows = (labels == label).nonzero().flatten()
        count = max(1, round(fraction * len(rows)))
        chosen.append(rows[torch.randperm(len(rows), generator=generator)[:count]])
    return torch.cat(chosen).sort().values


def few_shot_linear_probe(train_x, train_y, test_x, test_y, fraction: float, seed: int = 0) -> float:
    """The linear probe of `hf_jepa.evaluation` fitted on a stratified `fraction` of the training labels."""
    rows = few_shot_indices(train_y, fraction, seed)
    return linear_probe_top1(train_x[rows], train_y[rows], test_x, test_y, seed=seed)


def few_shot_probes(train_x, train_y, test_x, test_y, seed: int = 0) -> dict[str, float]:
    """`few_shot_<p>pct_linear_probe_top1` for each fraction of `FEW_SHOT_FRACTIONS`."""
    return {
        f"few_shot_{round(fraction * 100)}pct_linear_probe_top1": few_shot_linear_probe(
            train_x, train_y, test_x, test_y, fraction, seed
        )
        for fraction in FEW_SHOT_FRACTIONS
    }


def attentive_probe_top1(
    train_tokens: torch.Tensor,
    train_labels: torch.Tensor,
    test_tokens: torch.Tensor,
    test_labels: torch.Tensor,
    num_heads: int,
    steps: int = 300,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.01,
    seed: int = 0,
) -> float:
    """Top-1 of V-JEPA's attentive probe (a learned query cross-attending to the frozen tokens, then a linear
    classifier) trained for `steps` AdamW steps with a cosine schedule on cached tokens [N, L, D], batches drawn
    from reshuffled epochs. Much shorter than the papers' schedules and without augmentation: a protocol for comparing
    encoders on equal terms, not a recipe."""
    torch.manual_seed(seed)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    width = train_tokens.shape[-1]
    probe = nn.Sequential(AttentivePooler(width, num_heads), nn.Linear(width, num_classes))
    nn.init.trunc_normal_(probe[0].query_token, std=0.02)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(steps):
        if not batches:
            batches = list(torch.randperm(len(train_tokens), generator=generator).split(batch_size))
        rows = batches.pop(0)
        loss = F.cross_entropy(probe(train_tokens[rows]), train_labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        predictions = torch.cat([probe(chunk).argmax(-1) for chunk in test_tokens.split(512)])
    return (predictions == test_labels).float().mean().item()


__all__ = [
    "FEW_SHOT_FRACTIONS",
    "few_shot_probes",
    "attentive_probe_top1",
    "few_shot_indices",
    "few_shot_linear_probe",
]
