"""Frozen-feature evaluation: kNN (as in DINO), a linear probe, and representation statistics, always reported
next to two baselines: the same architecture at random initialisation (the run's own starting weights, and the
spread over several inits) and the raw input pixels."""

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


def collated_batches(dataset, collate, batch_size: int, progress: bool = False) -> Iterator[dict]:
    """The rows of a `datasets.Dataset`, `batch_size` at a time, through `collate` (rows -> inputs and "labels")."""
    for start in tqdm(range(0, len(dataset), batch_size), desc="features", disable=not progress, leave=False):
        rows = dataset[start : start + batch_size]
        yield collate([dict(zip(rows, values)) for values in zip(*rows.values())])


@torch.no_grad()
def encode_split(encoder, dataset, collate, batch_size: int = 256, tokens: bool = False, progress: bool = False):
    """One pass of the frozen encoder over a `datasets.Dataset` whose rows `collate` turns into the encoder's input
    (an `ImageCollator`, or a `VideoClipCollator` in eval mode): pooled features [N, D], every output token [N, L, D]
    (prefix tokens included; None unless `tokens`) and the labels [N] (None when the collator gives none)."""
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    pooled, hidden, labels = [], [], []
    for batch in collated_batches(dataset, collate, batch_size, progress):
        inputs = batch[encoder.main_input_name].to(device)  # pixel_values, or pixel_values_videos for clips
        output = encoder(inputs, return_dict=True)
        pooled.append(output.pooler_output.float().cpu())
        if tokens:
            hidden.append(output.last_hidden_state.float().cpu())
        if "labels" in batch:
            labels.append(batch["labels"])
    encoder.train(was_training)
    return torch.cat(pooled), torch.cat(hidden) if tokens else None, torch.cat(labels) if labels else None


def extract_features(encoder, dataset, collate, batch_size=256, progress: bool = True):
    """Pooled encoder features [N, D] and labels [N] (see `encode_split`)."""
    features, _, labels = encode_split(encoder, dataset, collate, batch_size, progress=progress)
    return features, labels


def knn_top1(
    train_features, train_labels, test_features, test_labels, k: int = 20, temperature: float = 0.07, chunk: int = 1024
) -> float:
    """Weighted kNN on cosine similarity (DINO): each of the k neighbours votes exp(sim / T) for its class."""
    train = F.normalize(train_features.float(), dim=1)
    test = F.normalize(test_features.float(), dim=1)
    k = min(k, train.shape[0])
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    correct = 0
    for start in range(0, test.shape[0], chunk):
        similarity = test[start : start + chunk] @ train.T  # [n, N_train]
        top_sim, top_idx = similarity.topk(k, dim=1)
        votes = torch.zeros(top_sim.shape[0], num_classes)
        votes.scatter_add_(1, train_labels[top_idx], (top_sim / temperature).exp())
        correct += (votes.argmax(dim=1) == test_labels[start : start + chunk]).sum().item()
    return correct / test.shape[0]


def linear_probe_top1(train_features, train_labels, test_features, test_labels, seed: int = 0) -> float:
    """Multinomial logistic regression on standardised frozen features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    probe.fit(train_features.numpy(), train_labels.numpy())
    return float(probe.score(test_features.numpy(), test_labels.numpy()))


def representation_stats(features: torch.Tensor) -> dict[str, float]:
    """Collapse indicators: mean per-dimension std of L2-normalised features (0 when collapsed) and effective rank
    (exp of the entropy of the normalised singular values)."""
    normalized = F.normalize(features.float(), dim=1)
    singular = torch.linalg.svdvals(features.float() - features.float().mean(0))
    p = singular / singular.sum().clamp_min(1e-12)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return {"feature_std": normalized.std(dim=0).mean().item(), "effective_rank": entropy.exp().item()}


def evaluate_features(train, test) -> dict[str, float]:
    (train_x, train_y), (test_x, test_y) = train, test
    return {
        "knn_top1": knn_top1(train_x, train_y, test_x, test_y),
        "linear_probe_top1": linear_probe_top1(train_x, train_y, test_x, test_y),
        **representation_stats(test_x),
    }


def extract_pixels(dataset, collate, input_name: str, batch_size=256):
    """The encoder's input itself as features: normalised pixels (or clip voxels) flattened [N, C*H*W], and labels."""
    batches = list(collated_batches(dataset, collate, batch_size))
    return torch.cat([b[input_name].float().flatten(1) for b in batches]), torch.cat([b["labels"] for b in batches])


BASELINE_METRICS = ("knn_top1", "linear_probe_top1")


def evaluate_encoder(
    encoder,
    data,
    collate,
    random_init_encoders=(),
    raw_pixels: bool = True,
    batch_size=256,
    progress: bool = True,
) -> dict:
    """kNN / linear-probe accuracy of `encoder`'s frozen features on `data` ("train" fits, "eval" scores), with
    `collate` turning rows into the encoder's input and "labels", next to two baselines that say what pretraining
    gave:

    - `random_init_*`: the same architecture at random initialisation. `random_init_encoders[0]` should be the
      pretraining run's own starting weights (the exact reference); all of them give `random_init_spread`, the mean
      and standard deviation of each metric over those inits (different draws differ a lot at this scale).
    - `raw_pixels_*`: the same protocols on the normalised input pixels (a strong baseline on small, centred images:
      features that do not beat it did not learn anything the input did not already show).
    """

    def run(model):
        splits = [extract_features(model, data[s], collate, batch_size, progress) for s in ("train", "eval")]
        return evaluate_features(*splits)

    results = run(encoder)
    inits = [run(model) for model in random_init_encoders]
    if inits:
        results.update({f"random_init_{key}": value for key, value in inits[0].items()})
        spread = {}
        for key in BASELINE_METRICS:
            values = torch.tensor([scores[key] for scores in inits], dtype=torch.float64)
            std = values.std().item() if len(values) > 1 else 0.0
            spread[key] = {"mean": values.mean().item(), "std": std, "max": values.max().item(), "n": len(values)}
        results["random_init_spread"] = spread
        # A gain is a gain only above every random init tried, the run's own included.
        results["beats_random_init"] = bool(results["knn_top1"] > spread["knn_top1"]["max"])
    if raw_pixels:
        input_name = encoder.main_input_name
        splits = [extract_pixels(data[s], collate, input_name, batch_size) for s in ("train", "eval")]
        (train_x, train_y), (test_x, test_y) = splits
        results["raw_pixels_knn_top1"] = knn_top1(train_x, train_y, test_x, test_y)
        results["raw_pixels_linear_probe_top1"] = linear_probe_top1(train_x, train_y, test_x, test_y)
        results["beats_raw_pixels"] = bool(results["knn_top1"] > results["raw_pixels_knn_top1"])
    if inits:
        results["features_collapsing"] = collapsing(results)
    results["num_train"], results["num_eval"] = len(data["train"]), len(data["eval"])
    return results


def verdict(results: dict) -> str:
    """One plain sentence on what the numbers say: did pretraining beat its own initial weights (and every other
    random init tried), and the raw pixels?"""
    spread = results.get("random_init_spread", {}).get("knn_top1")
    parts = [f"kNN top-1 {results['knn_top1']:.3f}, linear probe {results['linear_probe_top1']:.3f}"]
    if spread:
        parts.append(
            f"random init: {results['random_init_knn_top1']:.3f} / {results['random_init_linear_probe_top1']:.3f} "
            f"for the run's own initial weights, kNN {spread['mean']:.3f} ± {spread['std']:.3f} over "
            f"{spread['n']} inits"
        )
    if "raw_pixels_knn_top1" in results:
        parts.append(
            f"raw pixels: {results['raw_pixels_knn_top1']:.3f} / {results['raw_pixels_linear_probe_top1']:.3f}"
        )
    said = "; ".join(parts) + "."
    if spread:
        beat_inits = results["beats_random_init"]
        said += " On kNN the pretrained features " + ("beat" if beat_inits else "did NOT beat") + " every random init"
        if "beats_raw_pixels" in results:
            beat_pixels = results["beats_raw_pixels"]
            said += (" and " if beat_pixels == beat_inits else " but ") + ("beat" if beat_pixels else "did NOT beat")
            said += " the raw pixels"
        said += "."
    if collapsing(results):
        said += (
            f" Collapse: the features' spread across images (feature_std {results['feature_std']:.4f}) is under half "
            f"of the initial weights' ({results['random_init_feature_std']:.4f}); a cosine kNN can hide it, a "
            "fine-tuning start from these weights may be worse than from random init."
        )
    return said


def collapsing(results: dict) -> bool:
    """The pretrained features spread across images less than half as much as the initial weights' did."""
    initial = results.get("random_init_feature_std")
    return bool(initial) and results.get("feature_std", initial) < 0.5 * initial
