"""Published equal-budget numbers to read ours against: stable-pretraining's Imagenette benchmark (ViT-S/16, 224 px,
200 epochs per method on one GPU), kNN / linear-probe top-1 in %. Shown in the report when the dataset is
Imagenette (`training/compare_vits16_imagenette.sh`)."""

IMAGENETTE_ANCHORS = {
    "source": "stable-pretraining's Imagenette benchmark (ViT-S/16, 224 px, 200 epochs)",
    "top1": {
        "dino": (83.8, 86.1),
        "mocov3": (82.6, 84.7),
        "mae": (72.1, 84.1),
        "simclr": (73.3, 74.9),
        "byol": (56.0, 63.9),
        "ijepa": (33.2, 34.0),
        "lejepa": (85.4, 87.1),
    },
}


def anchors_for(dataset: str | None) -> dict | None:
    """The published anchor numbers for `dataset`, or None when none are known for it."""
    return IMAGENETTE_ANCHORS if dataset and "imagenette" in dataset.lower() else None


__all__ = ["IMAGENETTE_ANCHORS", "anchors_for"]
