"""The fine-tuning metrics as `evaluate` modules that never touch the network.

`evaluate.load("accuracy")` fetches a script from the Hub on first use (and only finds it offline when an earlier,
online run left it in the modules cache). These modules are `evaluate.Metric` subclasses defined here, in the package,
so they work on a machine that has never been online; `evaluate.combine` runs them together, as with loaded ones.
Every module takes the same inputs, the class scores (logits) [N, C] and the integer references [N], so one
`combine(...).compute(predictions=logits, references=labels)` gives all of them.
"""

import datasets
import evaluate
import numpy as np


def _features() -> datasets.Features:
    return datasets.Features(
        {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
    )


class _ScoreMetric(evaluate.Metric):
    """A metric of class scores [N, C] against integer labels [N]."""

    description = ""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.description,
            citation="",
            inputs_description="predictions: class scores (logits) [N, num_classes]; references: class ids [N].",
            features=_features(),
        )


class Accuracy(_ScoreMetric):
    description = "Top-1 accuracy: the fraction of examples whose highest-scoring class is the reference."

    def _compute(self, predictions, references):
        scores, labels = np.asarray(predictions), np.asarray(references)
        return {"accuracy": float((scores.argmax(axis=1) == labels).mean())}


class TopKAccuracy(_ScoreMetric):
    """Top-k accuracy (k at most the number of classes); the result is named `top{k}_accuracy`."""

    description = "Top-k accuracy: the fraction of examples whose reference is among the k highest-scoring classes."

    def __init__(self, k: int = 5, **kwargs):
        if k < 1:
            raise ValueError(f"`k` must be a positive number of classes, got {k}.")
        self.k = k
        super().__init__(**kwargs)

    def _compute(self, predictions, references):
        scores, labels = np.asarray(predictions), np.asarray(references)
        k = min(self.k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        return {f"top{self.k}_accuracy": float((top == labels[:, None]).any(axis=1).mean())}


class MacroF1(_ScoreMetric):
    description = "F1 of the top-1 prediction per class, averaged over the classes present (sklearn, average='macro')."

    def _compute(self, predictions, references):
        from sklearn.metrics import f1_score

        predicted = np.asarray(predictions).argmax(axis=1)
        return {"macro_f1": float(f1_score(references, predicted, average="macro"))}


def classification_metrics(top_k: int = 5) -> evaluate.CombinedEvaluations:
    """Accuracy, top-`top_k` accuracy and macro F1, combined (kept in memory: no cache files)."""
    return evaluate.combine([Accuracy(keep_in_memory=True), TopKAccuracy(top_k, keep_in_memory=True),
                             MacroF1(keep_in_memory=True)])  # fmt: skip


def compute_metrics_fn(top_k: int = 5):
    """`Trainer(compute_metrics=...)`: an `EvalPrediction` (logits, labels) -> {"accuracy", "top5_accuracy",
    "macro_f1"}."""

    def compute(prediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return classification_metrics(top_k).compute(predictions=logits, references=prediction.label_ids)

    return compute


__all__ = ["Accuracy", "MacroF1", "TopKAccuracy", "classification_metrics", "compute_metrics_fn"]
