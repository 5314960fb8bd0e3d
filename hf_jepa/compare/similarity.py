"""How alike two representations are: linear CKA (Kornblith et al., 2019) between the frozen features two models give
the same images, invariant to rotations and isotropic scaling of either, and defined across feature widths."""

import torch


def linear_cka(first: torch.Tensor, second: torch.Tensor) -> float:
    """Linear CKA of features [N, D1] and [N, D2] of the same N inputs: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F
    ||Yc^T Yc||_F) with column-centred Xc, Yc. 1 for representations equal up to rotation and scale, near 0 for
    unrelated ones. Computed in float64 through the D x D cross products (cheap for N >> D)."""
    if first.ndim != 2 or second.ndim != 2 or first.shape[0] != second.shape[0]:
        raise ValueError(
            f"linear CKA compares features [N, D1] and [N, D2] of the same N inputs, got {tuple(first.shape)} and "
            f"{tuple(second.shape)}."
        )
    x = first.double() - first.double().mean(0)
    y = second.double() - second.double().mean(0)
    cross = (y.T @ x).pow(2).sum()
    norms = (x.T @ x).norm() * (y.T @ y).norm()
    if norms == 0:
        return 0.0  # a constant representation shares nothing with any other
    return float(cross / norms)


def cka_matrix(features: dict[str, torch.Tensor]) -> tuple[list[str], torch.Tensor]:
    """Names and the symmetric [M, M] linear-CKA matrix of every pair of named features (same inputs, same order)."""
    names = list(features)
    matrix = torch.eye(len(names), dtype=torch.float64)
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            matrix[i, j] = matrix[j, i] = linear_cka(features[a], features[names[j]])
    return names, matrix


__all__ = ["cka_matrix", "linear_cka"]
