"""`hf-jepa finetune` end to end on tiny saved models and small subsets of the embedded data: each mode trains what it
should and nothing else, the saved folder holds the best checkpoint's model with its numbers and card, transformers'
pipelines and PEFT load it, and wrong inputs are clear errors."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModel, AutoModelForImageClassification, pipeline

import hf_jepa  # noqa: F401
from hf_jepa.cli import main
from hf_jepa.data.images import ImageCollator, digits_dataset, image_transform
from hf_jepa.finetune.run import finetune
from hf_jepa.registry import METHODS, default_processor
from tests.tiny import TINY_VIT, tiny_vjepa_config

FAST = ["--per_device_train_batch_size", "32", "--disable_tqdm", "true", "--use_cpu", "true"]


def save_pretrained_folder(folder, method_name: str, config=None) -> str:
    """A folder as `hf-jepa pretrain` writes it (untrained weights): the pretraining model and its processor."""
    method = METHODS[method_name]
    config = config or method.config_class(**{**method.default_config, **TINY_VIT})
    method.pretraining_class(config).save_pretrained(folder)
    default_processor(method, config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def digits_subset(tmp_path_factory) -> str:
    """120 training and 60 evaluation digits, saved with `save_to_disk` (a `--dataset` folder)."""
    data = digits_dataset(32)
    data["train"], data["eval"] = data["train"].select(range(120)), data["eval"].select(range(60))
    folder = tmp_path_factory.mktemp("digits")
    data.save_to_disk(folder)
    return str(folder)


@pytest.fixture(scope="module")
def mae_folder(tmp_path_factory) -> str:
    torch.manual_seed(0)
    return save_pretrained_folder(tmp_path_factory.mktemp("mae"), "mae")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, mae_folder, digits_subset):
    out = str(tmp_path_factory.mktemp("full") / "out")
    argv = ["--model", mae_folder, "--dataset", digits_subset, "--output_dir", out, "--num_train_epochs", "3"]
    results = finetune(argv + FAST + ["--learning_rate", "3e-3"])
    return out, results


def eval_logits(folder: str, dataset_folder: str):
    """Logits and labels of the saved classifier on the evaluation split, computed here without the command."""
    from datasets import load_from_disk

    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    processor = default_processor(METHODS["mae"], model.config)
    collate = ImageCollator(image_transform(32, processor.image_mean, processor.image_std), "image", "label")
    batch = collate(list(load_from_disk(dataset_folder)["eval"]))
    with torch.no_grad():
        return model(pixel_values=batch["pixel_values"]).logits, batch["labels"]


def test_full_finetune_saves_the_best_checkpoint_with_its_numbers(full_run, digits_subset, mae_folder):
    out, results = full_run
    logits, labels = eval_logits(out, digits_subset)
    assert results["accuracy"] == pytest.approx((logits.argmax(1) == labels).float().mean().item())
    top5 = (logits.topk(5, dim=1).indices == labels[:, None]).any(1).float().mean().item()
    assert results["top_k_accuracy"] == pytest.approx(top5)
    # the best epoch is the one kept, not the last
    (checkpoint,) = [name for name in os.listdir(out) if name.startswith("checkpoint-")]
    with open(os.path.join(out, checkpoint, "trainer_state.json")) as handle:
        history = json.load(handle)["log_history"]
    assert results["accuracy"] == max(entry["eval_accuracy"] for entry in history if "eval_accuracy" in entry)
    # the recipe: MAE's layer decay, drop path, label smoothing; every parameter trained
    assert (results["layer_decay"], results["drop_path_rate"], results["label_smoothing"]) == (0.65, 0.1, 0.1)
    assert results["trainable_parameters"] == results["total_parameters"]
    config = AutoModelForImageClassification.from_pretrained(out).config
    assert config.id2label == {i: str(i) for i in range(10)} and config.problem_type == "single_label_classification"
    with open(os.path.join(out, "README.md")) as handle:
        card = handle.read()
    assert f"value: {round(results['accuracy'], 4)}" in card and "image-classification" in card
    with open(os.path.join(out, "eval_results.json")) as handle:
        assert json.load(handle) == json.loads(json.dumps(results))


def test_pipelines_load_the_saved_classifier(full_run):
    out, _ = full_run
    image = Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
    model = AutoModelForImageClassification.from_pretrained(out).eval()
    processor = default_processor(METHODS["mae"], model.config)
    with torch.no_grad():
        probabilities = model(**processor(images=[image], return_tensors="pt")).logits.softmax(-1)[0]
    predictions = pipeline("image-classification", model=out, top_k=3)(image)
    assert [p["label"] for p in predictions] == [model.config.id2label[i.item()] for i in probabilities.topk(3)[1]]
    assert predictions[0]["score"] == pytest.approx(probabilities.max().item(), abs=1e-5)
    features = pipeline("image-feature-extraction", model=out)(image)
    encoder = AutoModel.from_pretrained(out).eval()
    with torch.no_grad():
        expected = encoder(**processor(images=[image], return_tensors="pt")).last_hidden_state
    torch.testing.assert_close(torch.tensor(features), expected, atol=1e-5, rtol=1e-5)


def encoder_state(folder: str) -> dict:
    return {k: v for k, v in AutoModel.from_pretrained(folder).state_dict().items()}


@pytest.mark.parametrize("mode", ["linear", "attentive"])
def test_probes_train_the_head_on_a_frozen_encoder(tmp_path, mae_folder, digits_subset, mode):
    out = str(tmp_path / "out")
    results = finetune(
        ["--model", mae_folder, "--dataset", digits_subset, "--output_dir", out, "--mode", mode, "--max_steps", "4"]
        + FAST
    )
    before, after = encoder_state(mae_folder), encoder_state(out)
    assert before.keys() == after.keys()
    for key in before:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0)
    model = AutoModelForImageClassification.from_pretrained(out)
    head = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("encoder."))
    assert results["trainable_parameters"] == head
    if mode == "linear":  # MAE's probe: BatchNorm without affine parameters, statistics of the training features
        assert not model.classifier_norm.affine and not hasattr(model, "probe")
        running_var = model.classifier_norm.running_var
        assert not torch.allclose(running_var, torch.ones_like(running_var))
    else:
        assert hasattr(model, "probe") and not hasattr(model, "classifier_norm")


def test_lora_adapter_reloads_and_merges_into_the_saved_model(tmp_path, mae_folder, digits_subset):
    from peft import PeftModel

    out = str(tmp_path / "out")
    results = finetune(
        ["--model", mae_folder, "--dataset", digits_subset, "--output_dir", out, "--mode", "lora", "--max_steps", "4"]
        + FAST
    )
    config = AutoModelForImageClassification.from_pretrained(out).config
    width, depth, classes, rank = config.hidden_size, config.num_hidden_layers, 10, 8
    # LoRA on each block's qkv projection (width -> 3 * width): A [r, width] + B [3 width, r]; the head trains fully
    assert results["trainable_parameters"] == depth * rank * (width + 3 * width) + width * classes + classes
    base = AutoModelForImageClassification.from_pretrained(mae_folder, num_labels=classes)
    merged = PeftModel.from_pretrained(base, os.path.join(out, "adapter")).merge_and_unload().eval()
    saved = AutoModelForImageClassification.from_pretrained(out).eval()
    pixels = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(merged(pixel_values=pixels).logits, saved(pixel_values=pixels).logits)
    before, after = encoder_state(mae_folder), encoder_state(out)
    assert not torch.equal(before["layers.0.attn.qkv.weight"], after["layers.0.attn.qkv.weight"])  # merged update
    torch.testing.assert_close(after["layers.0.mlp.fc1.weight"], before["layers.0.mlp.fc1.weight"])  # not a target


def readme_block(after_heading: str) -> str:
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", readme[readme.index(after_heading) :], re.S).group(1)


def test_video_model_attentive_probe_and_video_pipeline(tmp_path, full_run):
    from hf_jepa.data.moving_digits import MOVING_DIGITS
    from hf_jepa.data.videos import load_video_dataset

    data = load_video_dataset(MOVING_DIGITS, frames_per_clip=4, frame_stride=2)
    data["train"], data["eval"] = data["train"].select(range(32)), data["eval"].select(range(16))
    data.save_to_disk(tmp_path / "clips")
    model_dir = save_pretrained_folder(tmp_path / "vjepa", "vjepa", tiny_vjepa_config())
    out = str(tmp_path / "out")
    argv = ["--model", model_dir, "--dataset", str(tmp_path / "clips"), "--output_dir", out, "--mode", "attentive"]
    results = finetune(argv + ["--max_steps", "2", "--per_device_train_batch_size", "16"] + FAST[2:])
    assert results["num_eval"] == 16 and 0 <= results["accuracy"] <= 1
    classify = pipeline("video-classification", model=out, top_k=10)
    predictions = classify(data["eval"][0]["video"])
    names = AutoModel.from_pretrained(out).config.id2label.values()
    assert sorted(p["label"] for p in predictions) == sorted(names)
    assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-4)
    # the README's pipeline example, on these folders
    code = readme_block("The saved folders work with transformers' pipelines")
    code = code.replace("outputs/mae-full", full_run[0]).replace("outputs/vjepa-attentive", out)
    image = Image.new("RGB", (40, 40), (200, 30, 90))
    exec(compile(code.replace('"clip.mp4"', repr(data["eval"][0]["video"])), "README.md", "exec"), {"image": image})


def run_cli(argv, capsys) -> str:
    assert main(["finetune", *argv, *FAST]) == 1
    return capsys.readouterr().err


def test_bad_inputs_are_clear_errors(tmp_path, capsys, mae_folder, digits_subset):
    out = ["--output_dir", str(tmp_path / "out")]
    flat = tmp_path / "flat"  # images without class folders: no labels
    flat.mkdir()
    for index in range(4):
        Image.fromarray(np.full((32, 32, 3), index * 40, np.uint8)).save(flat / f"{index}.png")
    assert "--label_column" in run_cli(["--model", mae_folder, "--dataset", str(flat), *out], capsys)
    video_model = save_pretrained_folder(tmp_path / "vjepa", "vjepa", tiny_vjepa_config())
    error = run_cli(["--model", video_model, "--dataset", "digits", *out], capsys)
    assert "holds images, but `--model` is a video model" in error
    cnn_config = METHODS["dino"].config_class(**METHODS["dino"].default_config, backbone_config="resnet18")
    cnn = save_pretrained_folder(tmp_path / "cnn", "dino", cnn_config)
    assert "`--mode lora` cannot be used" in run_cli(["--model", cnn, "--mode", "lora", *out], capsys)
    assert "--crop_scale" in run_cli(["--model", mae_folder, "--crop_scale", "0.5", *out], capsys)


def test_string_labels_and_a_reused_head_of_another_size(tmp_path, capsys, mae_folder, digits_subset):
    from datasets import load_from_disk

    parity = load_from_disk(digits_subset)
    parity = parity.map(lambda row: {"kind": "even" if row["label"] % 2 == 0 else "odd"}).remove_columns("label")
    parity.save_to_disk(tmp_path / "parity")
    first = str(tmp_path / "first")
    argv = ["--model", mae_folder, "--dataset", str(tmp_path / "parity"), "--label_column", "kind", "--mode", "linear"]
    results = finetune(argv + ["--output_dir", first, "--max_steps", "2"] + FAST)
    assert results["labels_mapped_from_strings"] and results["num_classes"] == 2
    assert AutoModelForImageClassification.from_pretrained(first).config.id2label == {0: "even", 1: "odd"}
    error = run_cli(["--model", first, "--dataset", digits_subset, "--output_dir", str(tmp_path / "second")], capsys)
    assert "classifier for 2 classes" in error and "has 10" in error and "--reset_head" in error


def test_class_folder_names_become_the_label_names(tmp_path, mae_folder):
    rng = np.random.default_rng(0)
    for name in ("circle", "square"):
        (tmp_path / "images" / name).mkdir(parents=True)
        for index in range(6):
            pixels = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / name / f"{index}.png")
    out = str(tmp_path / "out")
    argv = ["--model", mae_folder, "--dataset", str(tmp_path / "images"), "--output_dir", out, "--mode", "linear"]
    finetune(argv + ["--max_steps", "1"] + FAST)
    assert AutoModelForImageClassification.from_pretrained(out).config.id2label == {0: "circle", 1: "square"}


def test_push_uploads_model_files_and_a_card_naming_the_repo(tmp_path, monkeypatch, full_run):
    import shutil
    from types import SimpleNamespace

    import hf_jepa.hub.push as push
    from hf_jepa.finetune.run import push_finetuned

    checked = []

    def access(repo_id, model_type, token=None):
        checked.append((repo_id, model_type))
        return push.HubAccess(api=None, repo_id=f"me/{repo_id}", repo_exists=False)

    def upload(hub_access, staged, private, message):
        shutil.copytree(staged, tmp_path / "uploaded")
        return f"https://huggingface.co/{hub_access.repo_id}"

    monkeypatch.setattr(push, "check_push_access", access)
    monkeypatch.setattr(push, "_upload", upload)
    out, results = full_run
    training_args = SimpleNamespace(hub_token=None, hub_private_repo=False)
    url = push_finetuned(out, "mae-digits", METHODS["mae"], results, training_args)
    assert url.endswith("me/mae-digits") and checked == [("mae-digits", "mae_ssl")]
    files = sorted(os.listdir(tmp_path / "uploaded"))
    assert files == ["README.md", "config.json", "eval_results.json", "model.safetensors", "preprocessor_config.json"]
    card = (tmp_path / "uploaded" / "README.md").read_text()
    assert 'model="me/mae-digits"' in card and f"value: {round(results['accuracy'], 4)}" in card


@pytest.mark.slow
def test_trainer_linear_probe_matches_the_sklearn_probe(tmp_path, mae_folder):
    """`--mode linear` (Trainer, BatchNorm + linear head, its default 20 epochs) against `evaluation`'s logistic
    regression on the same frozen features of the whole digits split: equal within the noise of 360 test images."""
    from hf_jepa.data.training_data import load_training_data
    from hf_jepa.evaluation import extract_features, linear_probe_top1

    results = finetune(["--model", mae_folder, "--mode", "linear", "--output_dir", str(tmp_path / "out")] + FAST[2:])
    encoder = AutoModel.from_pretrained(mae_folder).eval()
    inputs = load_training_data("image", encoder.config, default_processor(METHODS["mae"], encoder.config))
    train, test = (extract_features(encoder, inputs.data[s], inputs.eval_collator, progress=False) for s in
                   ("train", "eval"))  # fmt: skip
    sklearn = linear_probe_top1(*train, *test)
    noise = 2 * (sklearn * (1 - sklearn) / results["num_eval"]) ** 0.5  # two standard errors
    assert abs(results["accuracy"] - sklearn) <= max(noise, 0.02), (results["accuracy"], sklearn)


def test_help_explains_the_modes(capsys):
    from hf_jepa.cli import USAGE

    assert "finetune" in USAGE.splitlines()[0] and "--mode full" in USAGE
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("layer-wise lr decay", "PEFT LoRA", "MAE's linear probe", "attentive pooler", "--push_to_hub"):
        assert phrase in text
