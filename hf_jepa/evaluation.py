"""Frozen-feature evaluation: kNN (as in DINO), a linear probe, and representation statistics, always reported
next to the same architecture at random initialisation."""

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data.images import ImageCollator, image_transform, resolve_columns


@torch.no_grad()
def extract_features(encoder, dataset, collate, batch_size=256, progress: bool = True):
    """Pooled encoder features [N, D] and labels [N] of a `datasets.Dataset` whose rows `collate` turns into the
    encoder's input and "labels" (an `ImageCollator`, or a `VideoClipCollator` in eval mode)."""
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    features, labels = [], []
    batches = range(0, len(dataset), batch_size)
    for start in tqdm(batches, desc="features", disable=not progress, leave=False):
        rows = dataset[start : start + batch_size]
        rows = [dict(zip(rows, values)) for values in zip(*rows.values())]
        batch = collate(rows)
        inputs = batch[encoder.main_input_name].to(device)  # pixel_values, or pixel_values_videos for clips
        features.append(encoder(inputs, return_dict=True).pooler_output.float().cpu())
        labels.append(batch["labels"])
    encoder.train(was_training)
    return torch.cat(features), torch.cat(labels)


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


def evaluate_encoder(
    encoder,
    processor,
    data,
    image_column=None,
    label_column="label",
    random_init_encoder=None,
    batch_size=256,
    progress: bool = True,
    collate=None,
) -> dict[str, float]:
    """kNN / linear-probe accuracy of `encoder`'s frozen features on `data` ("train" fits, "eval" scores), and the
    same numbers for `random_init_encoder` with a `random_init_` prefix. Images are prepared as `processor` does;
    pass `collate` (rows -> inputs and "labels") for other inputs such as clips."""
    if collate is None:
        image_column, label_column = resolve_columns(data["train"], image_column, label_column)
        if label_column is None:
            raise ValueError("Evaluation needs labels: the dataset has no label column (pass `--label_column`).")
        size = (processor.size["height"], processor.size["width"])
        transform = image_transform(size, processor.image_mean, processor.image_std)
        collate = ImageCollator(transform, image_column, label_column)

    def run(model):
        splits = [extract_features(model, data[s], collate, batch_size, progress) for s in ("train", "eval")]
        return evaluate_features(*splits)

    results = run(encoder)
    if random_init_encoder is not None:
        results.update({f"random_init_{k}": v for k, v in run(random_init_encoder).items()})
        results["beats_random_init"] = bool(results["knn_top1"] > results["random_init_knn_top1"])
    results["num_train"], results["num_eval"] = len(data["train"]), len(data["eval"])
    return results
