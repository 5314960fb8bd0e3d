"""kNN, linear probe and representation statistics against hand computations."""

import math

import torch

from hf_jepa.evaluation import knn_top1, linear_probe_top1, representation_stats


def test_knn_weighted_votes_by_hand():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.0, 1.2]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    # Query close to class 0 but with k=5 the three class-1 points vote too: weights decide.
    query = torch.tensor([[1.0, 0.35]])
    sims = torch.nn.functional.normalize(query, dim=1) @ torch.nn.functional.normalize(train, dim=1).T
    votes = [float((sims[0, labels == c] / 0.07).exp().sum()) for c in (0, 1)]
    expected = int(votes[1] > votes[0])
    assert knn_top1(train, labels, query, torch.tensor([expected]), k=5) == 1.0
    assert knn_top1(train, labels, query, torch.tensor([1 - expected]), k=5) == 0.0
    # With a high temperature every neighbour weighs about the same: the majority (class 1) wins.
    assert knn_top1(train, labels, query, torch.tensor([1]), k=5, temperature=100.0) == 1.0


def test_linear_probe_separable_and_chance():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=generator)
    y = (x[:, 0] > 0).long()
    assert linear_probe_top1(x[:150], y[:150], x[150:], y[150:]) > 0.95
    noise_labels = torch.randint(0, 2, (200,), generator=generator)
    assert linear_probe_top1(x[:150], noise_labels[:150], x[150:], noise_labels[150:]) < 0.75


def test_representation_stats_detects_collapse():
    collapsed = torch.ones(50, 8) + 1e-7 * torch.randn(50, 8)
    stats = representation_stats(collapsed)
    assert stats["feature_std"] < 1e-5
    isotropic = representation_stats(torch.randn(4000, 8, generator=torch.Generator().manual_seed(0)))
    assert math.isclose(isotropic["feature_std"], 1 / math.sqrt(8), rel_tol=0.05)
    assert isotropic["effective_rank"] > 7.5
