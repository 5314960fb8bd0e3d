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


class _PixelEncoder(torch.nn.Module):
    """An 'encoder' whose pooled feature is its input, flattened and scaled: it must score like the raw pixels."""

    main_input_name = "pixel_values"

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale))

    def forward(self, pixel_values, return_dict=True):
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        return BaseModelOutputWithPooling(pooler_output=pixel_values.flatten(1) * self.scale)


def _tiny_image_data():
    from datasets import Dataset, DatasetDict

    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    pixels = torch.randn(60, 3, 4, 4, generator=generator) + labels.view(-1, 1, 1, 1).float()
    rows = {"x": pixels.tolist(), "label": labels.tolist()}
    data = Dataset.from_dict(rows).train_test_split(test_size=0.25, seed=0)

    def collate(batch):
        return {
            "pixel_values": torch.tensor([r["x"] for r in batch]),
            "labels": torch.tensor([r["label"] for r in batch]),
        }

    return DatasetDict(train=data["train"], eval=data["test"]), collate


def test_baselines_are_the_given_inits_and_the_raw_pixels():
    from hf_jepa.evaluation import evaluate_encoder, verdict

    data, collate = _tiny_image_data()
    own, others = _PixelEncoder(0.5), [_PixelEncoder(-1.0), _PixelEncoder(2.0)]
    results = evaluate_encoder(_PixelEncoder(3.0), data, collate, random_init_encoders=[own, *others], batch_size=16)
    each = [evaluate_encoder(model, data, collate, raw_pixels=False, batch_size=7) for model in (own, *others)]
    assert results["random_init_knn_top1"] == each[0]["knn_top1"]  # the first init is the run's own
    spread = results["random_init_spread"]["knn_top1"]
    values = torch.tensor([scores["knn_top1"] for scores in each], dtype=torch.float64)
    assert spread["n"] == 3 and math.isclose(spread["mean"], values.mean().item())
    assert math.isclose(spread["std"], values.std().item()) and spread["max"] == values.max().item()
    # An encoder that passes the pixels through scores exactly like the raw-pixel baseline on kNN (cosine: scale-free).
    assert results["knn_top1"] == results["raw_pixels_knn_top1"] and not results["beats_raw_pixels"]
    assert results["beats_random_init"] == (results["knn_top1"] > spread["max"])
    said = verdict(results)
    assert "raw pixels" in said and "inits" in said and "did NOT beat the raw pixels" in said and "On kNN" in said
