"""The comparison's pictures (PNG, matplotlib's file backend): accuracy against training time and images seen, the
CKA heat map, a 2-D PCA map of each model's features, and the loss and collapse-monitor curves."""

from pathlib import Path

import torch


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _by_label(records: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for record in records:
        grouped.setdefault(record["label"], []).append(record)
    return grouped


def _colors(labels):
    plt = _pyplot()
    cycle = plt.get_cmap("tab10")
    return {label: cycle(i % 10) for i, label in enumerate(labels)}


def accuracy_curves(records: list[dict], path: Path) -> Path | None:
    """kNN top-1 along training against training seconds and against images seen (one line per run)."""
    grouped = _by_label(records)
    if not any("knn_top1" in point for r in records for point in r["curve"]):
        return None
    plt = _pyplot()
    colors = _colors(grouped)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for label, runs in grouped.items():
        for index, run in enumerate(runs):
            points = [p for p in run["curve"] if "knn_top1" in p]
            for axis, key in zip(axes, ("train_seconds", "images_seen")):
                axis.plot(
                    [p[key] for p in points],
                    [p["knn_top1"] for p in points],
                    "o-",
                    color=colors[label],
                    alpha=1.0 if index == 0 else 0.4,
                    label=label if index == 0 else None,
                )
    axes[0].set_xlabel("training time (s, steps only)")
    axes[1].set_xlabel("images seen")
    axes[0].set_ylabel("kNN top-1 (eval split)")
    axes[1].legend(fontsize=8)
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.suptitle("Frozen-feature kNN along training")
    return _save(figure, path)


def cka_heatmap(names: list[str], matrix: torch.Tensor, path: Path) -> Path:
    plt = _pyplot()
    size = 1.0 + 0.7 * len(names)
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(matrix.numpy(), vmin=0, vmax=1, cmap="viridis")
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            value = matrix[i, j].item()
            axis.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black")
    figure.colorbar(image, ax=axis, label="linear CKA")
    axis.set_title("Similarity of frozen features (eval split)")
    return _save(figure, path)


def pca_2d(features: torch.Tensor) -> torch.Tensor:
    """The features' projection [N, 2] on their first two principal components."""
    centered = features.double() - features.double().mean(0)
    _, _, vectors = torch.linalg.svd(centered, full_matrices=False)
    return (centered @ vectors[:2].T).float()


def feature_maps(features: dict[str, tuple[torch.Tensor, torch.Tensor | None]], path: Path) -> Path:
    """One PCA scatter per model, points coloured by label (grey without labels)."""
    plt = _pyplot()
    columns = min(4, len(features))
    rows = -(-len(features) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for axis in axes.flat:
        axis.set_axis_off()
    for axis, (name, (values, labels)) in zip(axes.flat, features.items()):
        points = pca_2d(values)
        colors = labels.numpy() if labels is not None else "grey"
        axis.scatter(points[:, 0], points[:, 1], c=colors, cmap="tab10", s=5)
        axis.set_title(name, fontsize=9)
    figure.suptitle(
        "PCA of each model's frozen features (eval split)" + (", coloured by label" if labels is not None else "")
    )
    return _save(figure, path)


def training_curves(records: list[dict], path: Path) -> Path:
    """The training loss per logged step, and the collapse monitors (feature spread, effective rank) along training."""
    plt = _pyplot()
    grouped = _by_label(records)
    colors = _colors(grouped)
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for label, runs in grouped.items():
        run = runs[0]
        logs = run.get("log_history", [])
        axes[0].plot([e["step"] for e in logs], [e["loss"] for e in logs], color=colors[label], label=label)
        points = run["curve"]
        axes[1].plot([p["step"] for p in points], [p["feature_std"] for p in points], "o-", color=colors[label])
        axes[2].plot([p["step"] for p in points], [p["effective_rank"] for p in points], "o-", color=colors[label])
    axes[0].set_title("training loss (each method its own objective)")
    axes[1].set_title("feature spread (std of normalised features)")
    axes[2].set_title("effective rank of the features")
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)
    return path


__all__ = ["accuracy_curves", "cka_heatmap", "feature_maps", "pca_2d", "training_curves"]
