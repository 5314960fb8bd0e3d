"""The pieces of `hf-jepa finetune`, each against an independent computation: the offline `evaluate` metrics,
MixUp/CutMix, layer-wise lr decay, label resolution, and the heads' probe options."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import ClassLabel, Dataset, DatasetDict

import hf_jepa  # noqa: F401
from hf_jepa.finetune.labels import check_reused_head, resolve_labels
from hf_jepa.finetune.metrics import classification_metrics
from hf_jepa.finetune.mixup import MixUpCutMix, smoothed_one_hot, soft_target_cross_entropy
from hf_jepa.finetune.trainer import layer_decay_groups, layer_id
from hf_jepa.registry import METHODS
from tests.tiny import TINY_VIT


def test_metrics_match_a_hand_computation():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 7)).astype(np.float32)
    labels = rng.integers(0, 7, size=200)
    scores[:60, :] += 3 * np.eye(7, dtype=np.float32)[labels[:60]]  # some right answers
    results = classification_metrics(top_k=5).compute(predictions=scores, references=labels)

    predicted = scores.argmax(1)
    rank = (scores > scores[np.arange(200), labels][:, None]).sum(1)  # classes scoring above the label
    f1s = []
    for c in range(7):
        tp = np.sum((predicted == c) & (labels == c))
        precision = tp / max(np.sum(predicted == c), 1)
        recall = tp / max(np.sum(labels == c), 1)
        f1s.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    assert results["accuracy"] == pytest.approx(np.mean(predicted == labels))
    assert results["top5_accuracy"] == pytest.approx(np.mean(rank < 5))
    assert results["macro_f1"] == pytest.approx(np.mean(f1s))
    # k larger than the number of classes: every label is in the top k
    few = classification_metrics(top_k=5).compute(predictions=scores[:, :3], references=np.minimum(labels, 2))
    assert few["top5_accuracy"] == 1.0


def test_mixup_mixes_images_and_targets_by_the_same_coefficient():
    torch.manual_seed(0)
    images, labels = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 4, 0])
    mix = MixUpCutMix(num_classes=5, mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.1)
    mixed, targets = mix(images, labels, seed=3)
    lam, _ = mix.sample(np.random.default_rng(3))
    torch.testing.assert_close(mixed, lam * images + (1 - lam) * images.flip(0))
    smooth = smoothed_one_hot(labels, 5, 0.1)
    torch.testing.assert_close(targets, lam * smooth + (1 - lam) * smooth.flip(0))
    torch.testing.assert_close(targets.sum(1), torch.ones(6))
    assert smooth[0, 0] == pytest.approx(0.92) and smooth[0, 1] == pytest.approx(0.02)


def test_cutmix_pastes_a_box_and_weighs_targets_by_its_area():
    images, labels = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 2, 16, 16).contiguous(), torch.arange(4)
    mix = MixUpCutMix(num_classes=4, mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0)
    mixed, targets = mix(images, labels, seed=1)
    pasted = (mixed[0, 0] != 0).float().mean().item()  # image 0 is all zeros; image 3 (all threes) pasted in
    assert torch.all((mixed[0] == 0) | (mixed[0] == 3))
    assert 0 < pasted < 1
    torch.testing.assert_close(targets[0], torch.tensor([1 - pasted, 0.0, 0.0, pasted]))
    # the loss of soft targets: cross-entropy against the mixed one-hot vectors, by hand
    logits = torch.randn(4, 4)
    expected = -(targets * F.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(soft_target_cross_entropy(logits, targets), expected)


def test_mixup_options_are_checked():
    with pytest.raises(ValueError, match="--mixup_alpha"):
        MixUpCutMix(num_classes=3, mixup_alpha=0.0, cutmix_alpha=0.0)
    with pytest.raises(ValueError, match="--label_smoothing"):
        MixUpCutMix(num_classes=3, label_smoothing=1.5)


def test_layer_decay_scales_the_learning_rate_by_depth():
    method = METHODS["mae"]
    config = method.config_class(**{**method.default_config, **TINY_VIT}, num_labels=3)
    model = method.classification_class(config)
    depth = config.num_hidden_layers
    assert layer_id("encoder.embeddings.patch_embeddings.projection.weight", depth) == 0
    assert layer_id("encoder.layers.1.attn.qkv.weight", depth) == 2
    assert layer_id("classifier.weight", depth) == depth + 1
    groups = layer_decay_groups(model, depth, 0.5, 0.05, decay_names={"classifier.weight"})
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert scale[id(named["encoder.embeddings.patch_embeddings.projection.weight"])] == 0.5 ** (depth + 1)
    assert scale[id(named["encoder.layers.0.mlp.fc1.weight"])] == 0.5**depth
    assert scale[id(named["classifier.weight"])] == 1.0 and decay[id(named["classifier.weight"])] == 0.05
    assert decay[id(named["classifier.bias"])] == 0.0
    assert sum(len(g["params"]) for g in groups) == len(named)  # every trainable parameter, once


def _labelled(values, feature=None) -> DatasetDict:
    train = Dataset.from_dict({"label": values[:4]})
    evaluation = Dataset.from_dict({"label": values[4:]})
    data = DatasetDict(train=train, eval=evaluation)
    return data.cast_column("label", feature) if feature is not None else data


def test_string_labels_are_mapped_in_sorted_order_over_all_splits(caplog):
    data, labels = resolve_labels(_labelled(["dog", "cat", "dog", "cat", "emu", "cat"]), "label")
    assert labels.names == ["cat", "dog", "emu"] and labels.mapped_from_strings
    assert data["train"]["label"] == [1, 0, 1, 0] and data["eval"]["label"] == [2, 0]
    assert "strings" in caplog.text and "'cat' -> 0" in caplog.text


def test_label_names_come_from_the_dataset():
    _, named = resolve_labels(_labelled([0, 1, 1, 0, 2, 1], ClassLabel(names=["a", "b", "c"])), "label")
    assert named.id2label == {0: "a", 1: "b", 2: "c"}
    _, numbered = resolve_labels(_labelled([0, 3, 1, 0, 2, 1]), "label")
    assert numbered.names == ["0", "1", "2", "3"]


def test_bad_labels_are_clear_errors():
    with pytest.raises(ValueError, match="--label_column.*no `label` column"):
        resolve_labels(DatasetDict(train=Dataset.from_dict({"image": [1]})), None)
    with pytest.raises(ValueError, match="non-negative integer ids or as strings.*float"):
        resolve_labels(_labelled([0.5, 1.0, 0.0, 1.0, 0.0, 1.0]), "label")
    _, labels = resolve_labels(_labelled([0, 1, 1, 0, 1, 0]), "label")
    saved = {"architectures": ["MAESSLForImageClassification"], "id2label": {"0": "a", "1": "b", "2": "c"}}
    with pytest.raises(ValueError, match="classifier for 3 classes.*has 2.*--reset_head"):
        check_reused_head(saved, labels, "some/folder", reset_head=False)
    assert check_reused_head(saved, labels, "some/folder", reset_head=True) is False
    assert check_reused_head({"architectures": ["MAESSLForPreTraining"]}, labels, "f", reset_head=False) is False


@pytest.mark.parametrize("pooling", ["attentive", "pooler"])
def test_probe_heads_follow_problem_type_and_round_trip(tmp_path, pooling):
    method = METHODS["ijepa"]
    config = method.config_class(
        **{**method.default_config, **TINY_VIT},
        num_labels=3,
        problem_type="multi_label_classification",
        classifier_pooling=pooling,
        classifier_batch_norm=True,
    )
    model = method.classification_class(config).eval()
    pixels, labels = torch.randn(4, 3, 32, 32), torch.randint(0, 2, (4, 3)).float()
    out = model(pixel_values=pixels, labels=labels, output_hidden_states=True, output_attentions=True)
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, labels))
    assert len(out.hidden_states) == config.num_hidden_layers + 1 and len(out.attentions) == config.num_hidden_layers
    assert hasattr(model, "probe") == (pooling == "attentive")
    norm = model.classifier_norm  # BatchNorm without affine parameters, nn.BatchNorm1d's state dict
    assert norm.weight is None and norm.bias is None
    assert set(norm.state_dict()) == set(torch.nn.BatchNorm1d(3, affine=False).state_dict())
    model.save_pretrained(tmp_path)
    again = method.classification_class.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(again(pixel_values=pixels).logits, out.logits)
    with pytest.raises(ValueError, match="classifier_pooling"):
        method.classification_class(method.config_class(**TINY_VIT, num_labels=2, classifier_pooling="max"))


def test_trainer_mixes_the_batch_on_device_and_evaluates_with_its_own_collator(tmp_path):
    from transformers import TrainingArguments

    from hf_jepa.finetune.trainer import FineTuningTrainer, seeded

    method = METHODS["mae"]
    model = method.classification_class(method.config_class(**TINY_VIT, num_labels=4)).train()
    mix = MixUpCutMix(num_classes=4, mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1)
    args = TrainingArguments(str(tmp_path), report_to="none", use_cpu=True, seed=7, remove_unused_columns=False)
    eval_collator = object()
    data = dict(data_collator=lambda rows: rows, train_dataset=[1, 2], eval_dataset=[1, 2])
    trainer = FineTuningTrainer(model=model, args=args, mixup=mix, eval_collator=eval_collator, **data)
    pixels, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    loss = trainer.compute_loss(model, {"pixel_values": pixels, "labels": labels})
    mixed, targets = mix(pixels, labels, seed=seeded(7, 0, 0, 1))  # the first micro-batch of step 0
    expected = soft_target_cross_entropy(model(pixel_values=mixed).logits, targets)
    torch.testing.assert_close(loss, expected)
    assert trainer.get_eval_dataloader().collate_fn is eval_collator
    assert trainer.get_train_dataloader().collate_fn is not eval_collator


def test_trainer_optimizer_gets_the_layer_decayed_learning_rates(tmp_path):
    from transformers import TrainingArguments

    from hf_jepa.finetune.trainer import FineTuningTrainer

    method = METHODS["ijepa"]
    model = method.classification_class(method.config_class(**TINY_VIT, num_labels=3))
    args = TrainingArguments(str(tmp_path), report_to="none", use_cpu=True, learning_rate=0.1, weight_decay=0.05)
    trainer = FineTuningTrainer(model=model, args=args, layer_decay=0.5)
    optimizer = trainer.create_optimizer()
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    decay_of = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    depth = model.config.num_hidden_layers
    assert lr_of[id(named["classifier.weight"])] == pytest.approx(0.1)
    assert lr_of[id(named["encoder.layers.0.attn.qkv.weight"])] == pytest.approx(0.1 * 0.5**depth)
    assert lr_of[id(named["encoder.embeddings.patch_embeddings.projection.weight"])] == pytest.approx(
        0.1 * 0.5 ** (depth + 1)
    )
    assert decay_of[id(named["encoder.layers.0.attn.qkv.weight"])] == 0.05
    assert decay_of[id(named["encoder.layers.0.attn.qkv.bias"])] == 0.0
    with pytest.raises(ValueError, match="--layer_decay"):
        FineTuningTrainer(model=model, args=args, layer_decay=1.5)
