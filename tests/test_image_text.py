"""SigLIP and CLIP: the losses against independent formulas, the losses and gradients of 2 processes (gloo) against
one process on the concatenated batch, the models' pieces against transformers' own modules, the tokenizer, the
processor, and the clear errors of bad input."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image as PILImage

from hf_jepa import METHODS
from hf_jepa.models.image_text_losses import clip_contrastive_loss, siglip_sigmoid_loss
from tests.distributed.harness import run_distributed

WORKERS = Path(__file__).parent / "distributed"
IMAGE_TEXT = ["siglip", "clip"]
TINY_TEXT = dict(
    vocab_size=40,
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    max_position_embeddings=12,
    pad_token_id=0,
    bos_token_id=2,
    eos_token_id=3,
)


def tiny_image_text_config(method: str, **overrides):
    entry = METHODS[method]
    base = dict(entry.default_config, image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1)
    base.update(num_attention_heads=2, text_config=TINY_TEXT)
    if method == "clip":
        base["projection_dim"] = 16
    return entry.config_class(**{**base, **overrides})


def tiny_pairs(batch: int, seed: int = 0) -> dict:
    """Smooth random images and captions `<s> w w w </s> <pad>..` (every row has its EOS, as a tokenizer gives)."""
    generator = torch.Generator().manual_seed(seed)
    low = torch.randn(batch, 3, 8, 8, generator=generator)
    pixels = F.interpolate(low, size=32, mode="bilinear", align_corners=False)
    input_ids = torch.zeros(batch, 8, dtype=torch.long)
    lengths = torch.randint(1, 6, (batch,), generator=generator)
    for row, length in enumerate(lengths.tolist()):
        input_ids[row, 0] = 2
        input_ids[row, 1 : 1 + length] = torch.randint(4, 40, (length,), generator=generator)
        input_ids[row, 1 + length] = 3
    return {"pixel_values": pixels, "input_ids": input_ids, "attention_mask": (input_ids != 0).long()}


# ---- the losses in one process, against the formulas written out ----------------------------------------------------
def _embeddings(batch=6, dim=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = F.normalize(torch.randn(batch, dim, generator=generator), dim=-1)
    texts = F.normalize(torch.randn(batch, dim, generator=generator), dim=-1)
    return images, texts


def test_siglip_loss_is_the_mean_over_images_of_the_summed_pairwise_binary_cross_entropies():
    images, texts = _embeddings()
    scale, bias = torch.tensor(math.log(10.0)), torch.tensor(-3.0)
    logits = 10.0 * images @ texts.T - 3.0
    # Every pair a binary label: 1 for a matching pair, 0 otherwise; summed over texts, averaged over images.
    expected = F.binary_cross_entropy_with_logits(logits, torch.eye(6), reduction="sum") / 6
    torch.testing.assert_close(siglip_sigmoid_loss(images, texts, scale, bias), expected)
    # A hand computation of one entry's share: row 0 alone.
    row = sum(-math.log(1 / (1 + math.exp(-(1 if j == 0 else -1) * logits[0, j].item()))) for j in range(6))
    assert abs(row - (F.binary_cross_entropy_with_logits(logits[0], torch.eye(6)[0], reduction="sum")).item()) < 1e-5


def test_clip_loss_is_the_mean_of_both_directions_cross_entropies():
    images, texts = _embeddings()
    scale = torch.tensor(math.log(1 / 0.07))
    logits = images @ texts.T / 0.07
    labels = torch.arange(6)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(clip_contrastive_loss(images, texts, scale), expected)
    perfect = F.normalize(torch.eye(6), dim=-1)  # orthogonal pairs: the loss is log(1 + 5 e^-t) in both directions
    torch.testing.assert_close(
        clip_contrastive_loss(perfect, perfect, torch.tensor(0.0)), torch.tensor(math.log(math.e / (math.e + 5)) * -1)
    )


@pytest.mark.parametrize("loss", ["siglip", "clip"])
def test_a_batch_of_one_pair_is_refused(loss):
    images, texts = _embeddings(batch=1)
    with pytest.raises(ValueError, match="at least 2 image-text pairs"):
        if loss == "siglip":
            siglip_sigmoid_loss(images, texts, torch.tensor(0.0), torch.tensor(0.0))
        else:
            clip_contrastive_loss(images, texts, torch.tensor(0.0))
    with pytest.raises(ValueError, match="one shape"):
        clip_contrastive_loss(*_embeddings(batch=3)[:1], _embeddings(batch=2)[1], torch.tensor(0.0))


# ---- two processes: loss and gradients equal one process on the concatenated batch --------------------------------
def _assert_close_dicts(got: dict, expected: dict):
    assert got.keys() == expected.keys() and expected
    scale = max(float(v.abs().max()) for v in expected.values())
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, msg=name, rtol=1e-4, atol=max(1e-6, 1e-5 * scale))


@pytest.mark.parametrize("method", IMAGE_TEXT)
def test_two_processes_give_the_loss_and_gradients_of_the_concatenated_batch(method, tmp_path):
    from tests.distributed.image_text_pairs import loss_step, model_step

    ranks = run_distributed(WORKERS / "image_text_worker.py", tmp_path, args=("--method", method))
    assert [r["world_size"] for r in ranks] == [2, 2]
    for phase, step in (("loss", loss_step), ("model", model_step)):
        reference = step(method)  # one process, the whole batch
        first, second = ranks[0][phase], ranks[1][phase]
        torch.testing.assert_close((first["loss"] + second["loss"]) / 2, reference["loss"], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(first["loss"], second["loss"])  # the halves really differ
        _assert_close_dicts(first["grads"], reference["grads"])
        _assert_close_dicts(second["grads"], reference["grads"])
    if method == "siglip":  # without the gradient sent back along the ring, the loss is right and the gradient not
        reference, wrong = loss_step(method), ranks[0]["no_return"]
        torch.testing.assert_close((wrong["loss"] + ranks[1]["no_return"]["loss"]) / 2, reference["loss"])
        assert not torch.allclose(wrong["grads"]["text_map"], reference["grads"]["text_map"], rtol=1e-3, atol=1e-5)
    # Each rank's own share is NOT its half alone: the other rank's captions are among its negatives.
    from tests.distributed.image_text_pairs import loss_of, loss_parameters, pair_features

    parameters = loss_parameters()
    images, texts = pair_features()
    half = (
        F.normalize(images[:4] @ parameters["image_map"], dim=-1),
        F.normalize(texts[:4] @ parameters["text_map"], dim=-1),
    )
    assert not torch.allclose(loss_of(method, *half, parameters), ranks[0]["loss"]["loss"])


# ---- data: captions from labels and pixels, columns, collator, tokenizer -------------------------------------------
def test_slant_reads_the_lean_of_the_ink():
    from hf_jepa.data.captions import ink_slant

    right, left, upright = np.zeros((8, 8)), np.zeros((8, 8)), np.zeros((8, 8))
    for row in range(8):  # rows go down: a stroke whose top is further right leans right
        right[row, 7 - row] = left[row, row] = upright[row, 3] = 16
    assert ink_slant(right) > 0.9 and ink_slant(left) < -0.9 and abs(ink_slant(upright)) < 1e-9


def test_digit_captions_name_the_label_and_what_the_pixels_show():
    from sklearn.datasets import load_digits

    from hf_jepa.data.captions import DIGIT_NAMES, digit_captions, ink_slant

    digits = load_digits()
    captions = digit_captions(digits.images, digits.target)
    assert len(captions) == len(digits.target) and len(set(captions)) > 60
    ink = digits.images.reshape(len(captions), -1).sum(1)
    for label in range(10):
        members = [i for i in range(len(captions)) if digits.target[i] == label]
        assert all(f"handwritten {DIGIT_NAMES[label]}," in captions[i] for i in members)
        thick = [ink[i] for i in members if captions[i].startswith("a thick ")]
        thin = [ink[i] for i in members if captions[i].startswith("a thin ")]
        assert thick and thin and min(thick) >= max(thin)  # terciles of the class's ink
    slants = np.array([ink_slant(image) for image in digits.images])
    right = slants[[c.endswith("slanted to the right") for c in captions]]
    left = slants[[c.endswith("slanted to the left") for c in captions]]
    assert right.min() >= left.max()


def _pairs_dataset(captions):
    from datasets import Dataset, DatasetDict, Image

    images = [PILImage.new("RGB", (32, 32), (40 * i % 256, 0, 0)) for i in range(len(captions))]
    split = Dataset.from_dict({"image": images, "caption": captions, "label": [i % 2 for i in range(len(captions))]})
    split = split.cast_column("image", Image())
    return DatasetDict(train=split, eval=split)


def test_bad_data_and_tokenizers_are_refused_with_the_argument_named():
    from hf_jepa.data.image_text import resolve_image_text_columns
    from hf_jepa.models.processing_image_text import check_tokenizer_fits, train_caption_tokenizer

    data = _pairs_dataset(["a red square", "  ", "a dark square", "a square"])
    with pytest.raises(
        ValueError, match=r"--caption_column caption`: 1 of 4 captions of the `train` split.*rows \[1\]"
    ):
        resolve_image_text_columns(data, None, None, "label")
    with pytest.raises(ValueError, match="No caption column found.*pass `--caption_column`"):
        resolve_image_text_columns(data.remove_columns("caption"), None, None, "label")
    with pytest.raises(ValueError, match="--caption_column title` is not a column"):
        resolve_image_text_columns(data, None, "title", "label")
    config = tiny_image_text_config("clip")
    words = [f"word{i} thing{i}" for i in range(200)]
    big = train_caption_tokenizer(words, vocab_size=500, model_max_length=12)
    assert len(big) > config.text_config.vocab_size
    with pytest.raises(ValueError, match=r"--tokenizer`: the tokenizer has \d+ tokens but .*vocab_size` is 40"):
        check_tokenizer_fits(config.text_config, big)
    small = train_caption_tokenizer(["a b c"], vocab_size=40, model_max_length=12)
    check_tokenizer_fits(config.text_config, small)
    config.text_config.eos_token_id = 5
    with pytest.raises(ValueError, match="`eos_token_id` is 3 but the text config's is 5"):
        check_tokenizer_fits(config.text_config, small)


@pytest.mark.parametrize("method", IMAGE_TEXT)
def test_processor_and_collator_give_what_the_text_tower_was_built_for(method):
    from hf_jepa.data.image_text import ImageTextCollator
    from hf_jepa.data.images import image_transform
    from hf_jepa.models.processing_image_text import image_text_processor
    from hf_jepa.registry import default_processor

    config = tiny_image_text_config(method)
    captions = ["a red square", "a dark square", "a small red square"]
    processor = image_text_processor(config, default_processor(METHODS[method], config), captions=captions)
    collate = ImageTextCollator(image_transform(32, (0.5,) * 3, (0.5,) * 3), processor.tokenize, label_column="label")
    batch = collate([dict(row) for row in _pairs_dataset(captions)["train"]])
    ids = batch["input_ids"]
    assert batch["pixel_values"].shape == (3, 3, 32, 32) and batch["labels"].tolist() == [0, 1, 0]
    assert (ids[:, 0] == 2).all() and ((ids == 3).sum(1) == 1).all()  # <s> caption </s>, once
    if method == "siglip":  # padded to the text positions, no attention mask (as the official tokenizer)
        assert ids.shape[1] == config.text_config.max_position_embeddings and set(batch) == {
            "pixel_values",
            "input_ids",
            "labels",
        }
    else:  # padded to the longest caption, with its mask
        assert ids.shape[1] == int((ids != 0).sum(1).max()) and "attention_mask" in batch
    assert processor.tokenizer.decode(ids[2], skip_special_tokens=True) == "a small red square"
    with pytest.raises(ValueError, match="Captions must be non-empty"):
        processor.tokenize(["fine", ""])
    model = METHODS[method].pretraining_class(config)
    out = model(**{k: v for k, v in batch.items() if k != "labels"})
    assert out.loss.isfinite() and out.logits_per_image.shape == (3, 3)
    with pytest.raises(ValueError, match="pass `input_ids`"):
        model(pixel_values=batch["pixel_values"])
    with pytest.raises(ValueError, match="at least 2 image-text pairs"):
        model(**{k: v[:1] for k, v in batch.items() if k != "labels"})


# ---- models ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", IMAGE_TEXT)
def test_temperature_and_bias_start_as_the_papers(method):
    model = METHODS[method].pretraining_class(tiny_image_text_config(method))
    if method == "siglip":
        assert model.logit_scale.item() == pytest.approx(math.log(10)) and model.logit_bias.item() == -10
    else:
        assert model.logit_scale.item() == pytest.approx(math.log(1 / 0.07)) and not hasattr(model, "logit_bias")
        with torch.no_grad():
            model.logit_scale.fill_(10.0)
        assert model.clamped_logit_scale().exp().item() == pytest.approx(100.0)  # clamped at a factor of 100


def test_siglip_attention_pooling_head_is_transformers_head():
    from transformers import SiglipVisionConfig
    from transformers.models.siglip.modeling_siglip import SiglipMultiheadAttentionPoolingHead

    config = tiny_image_text_config("siglip", hidden_act="gelu_pytorch_tanh")
    torch.manual_seed(0)
    model = METHODS["siglip"].model_class(config).eval()
    native = SiglipMultiheadAttentionPoolingHead(
        SiglipVisionConfig(
            hidden_size=32, num_attention_heads=2, intermediate_size=128, hidden_act="gelu_pytorch_tanh"
        )
    ).eval()
    native.load_state_dict(model.head.state_dict(), strict=True)
    tokens = torch.randn(3, 16, 32)
    torch.testing.assert_close(model.head(tokens), native(tokens))
    pixels = tiny_pairs(3)["pixel_values"]
    with torch.no_grad():
        out = model(pixels)
    torch.testing.assert_close(out.pooler_output, model.head(out.last_hidden_state))


def test_card_reports_zero_shot_and_retrieval_next_to_the_initial_weights(tmp_path):
    import json

    from hf_jepa.hub.cards import model_card

    model = METHODS["siglip"].pretraining_class(tiny_image_text_config("siglip"))
    model.save_pretrained(tmp_path)
    results = dict(method="siglip", dataset="digits", steps=3, train_batch_size=8, zero_shot_chance=0.1)
    results.update({"zero_shot_top1": 0.42, "random_init_zero_shot_top1": 0.09, "num_distinct_captions": 7})
    for way in ("image_to_text", "text_to_image"):
        for k, value in ((1, 0.25), (5, 0.75)):
            results[f"{way}_recall@{k}"], results[f"random_init_{way}_recall@{k}"] = value, value / 5
    (tmp_path / "eval_results.json").write_text(json.dumps(results))
    text = str(model_card(str(tmp_path)))
    assert "| zero-shot top-1 (chance 0.100) | 0.420 | 0.090 |" in text
    assert "| image → text recall@5 | 0.750 | 0.150 |" in text and "| text → image recall@1 | 0.250 | 0.050 |" in text
    assert "against its 7 distinct captions" in text and "SiglipTextModel" in text


def test_retrieval_recall_against_distinct_captions_by_hand():
    from hf_jepa.evaluation_image_text import retrieval_recall

    # Two images share caption "a"; image 2 has "b". Text "a" embeds as e0, "b" as e1.
    images = F.normalize(torch.tensor([[1.0, 0.0], [0.2, 0.9], [0.0, 1.0]]), dim=-1)
    texts = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    recall = retrieval_recall(images, texts, ["a", "a", "b"], ks=(1,))
    # image -> text: image 0 finds "a" (right), image 1 finds "b" (wrong, its caption is "a"), image 2 "b" (right).
    assert recall["image_to_text_recall@1"] == pytest.approx(2 / 3)
    # text -> image: "a" finds image 0 (carries "a": right); "b" finds image 2 (cosine 1 > 0.98; carries "b": right).
    assert recall["text_to_image_recall@1"] == pytest.approx(1.0)
    # Scored against row indices instead, image 1 and text 1 ("a", like text 0) would make recall depend on ties.
    assert retrieval_recall(images, texts, ["a", "a", "b"], ks=(5,))["image_to_text_recall@5"] == 1.0


@pytest.mark.parametrize("method", IMAGE_TEXT)
def test_demo_view_scores_typed_labels_and_retrieves_digit_captions(method, tmp_path):
    from hf_jepa.demo.loading import load_demo_model
    from hf_jepa.demo.predictions import PredictionRequest, predict
    from tests.methods import save_processors, tiny_config

    entry = METHODS[method]
    config = tiny_config(entry)
    torch.manual_seed(0)
    entry.pretraining_class(config).save_pretrained(tmp_path)
    save_processors(entry, config, tmp_path)
    loaded = load_demo_model(str(tmp_path))
    image = PILImage.new("RGB", (40, 40), (200, 10, 10))
    prediction = predict(loaded, PredictionRequest(image, labels="thick digit two, thin digit three, one"))
    probabilities = prediction.numbers["probabilities"]
    assert list(probabilities) == sorted(probabilities, key=probabilities.get, reverse=True)  # best first
    assert set(probabilities) == {"thick digit two", "thin digit three", "one"}
    if method == "clip":  # a softmax over the labels; SigLIP's sigmoids are independent
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    # Recomputed by hand from the model: the sigmoid / softmax of the logits of the image with each label.
    network, processor = loaded.model, loaded_processor(tmp_path)
    text = {k: v for k, v in processor.tokenize(list(probabilities)).items() if k != "token_type_ids"}
    with torch.no_grad():
        logits = network.logits(
            F.normalize(network.image_features(loaded.pixel_values([image])), dim=-1),
            F.normalize(network.text_features(**text), dim=-1),
        )[0]
    expected = logits.sigmoid() if method == "siglip" else logits.softmax(-1)
    assert list(probabilities.values()) == pytest.approx(expected.tolist(), abs=1e-4)
    assert len(prediction.numbers["retrieved_captions"]) == 5
    assert all("handwritten" in caption for caption in prediction.numbers["retrieved_captions"])


def loaded_processor(folder):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(folder)


def test_pretrain_command_on_a_saved_dataset_with_a_named_caption_column(tmp_path):
    """`hf-jepa pretrain --method clip` on a `save_to_disk` folder whose captions are in `description`: trains, saves
    the tokenizer with the model, and reports zero-shot and retrieval next to kNN / probe; no caption column: error."""
    import json

    from datasets import ClassLabel, Dataset, Image

    from hf_jepa.cli.pretrain import pretrain

    colours = {"red": (220, 30, 30), "blue": (30, 30, 220)}
    rows = {"image": [], "description": [], "label": []}
    for i in range(40):
        name = list(colours)[i % 2]
        shade = tuple(min(255, c + 3 * i) for c in colours[name])
        rows["image"].append(PILImage.new("RGB", (32, 32), shade))
        rows["description"].append(f"a {'bright' if i % 4 < 2 else 'dark'} {name} square")
        rows["label"].append(i % 2)
    data = Dataset.from_dict(rows).cast_column("image", Image()).cast_column("label", ClassLabel(names=list(colours)))
    data.save_to_disk(str(tmp_path / "pairs"))
    common = ["--method", "clip", "--dataset", str(tmp_path / "pairs"), "--max_steps", "2"]
    common += ["--per_device_train_batch_size", "8", "--random_init_baselines", "1", "--report_to", "none"]
    common += ["--config_overrides", "hidden_size=32,num_hidden_layers=1,num_attention_heads=2", "--use_cpu", "true"]
    with pytest.raises(ValueError, match="No caption column found.*pass `--caption_column`"):
        pretrain([*common, "--output_dir", str(tmp_path / "none")])
    results = pretrain([*common, "--caption_column", "description", "--output_dir", str(tmp_path / "run")])
    saved = json.loads((tmp_path / "run" / "eval_results.json").read_text())
    assert saved == results and results["method"] == "clip" and 2 <= results["num_distinct_captions"] <= 4
    for key in ("knn_top1", "zero_shot_top1", "random_init_zero_shot_top1", "image_to_text_recall@5"):
        assert 0.0 <= results[key] <= 1.0, key
    assert results["zero_shot_chance"] == 0.5 and results["zero_shot_templates"] == ["a photo of a {}."]
    assert results["image_to_text_recall@5"] == 1.0  # at most 4 distinct captions: every one is in the top 5
    assert (tmp_path / "run" / "tokenizer.json").is_file() and (tmp_path / "run" / "processor_config.json").is_file()


def test_an_image_folder_with_a_metadata_file_gives_its_captions(tmp_path):
    import json

    from hf_jepa.data.image_text import load_image_text_dataset, resolve_image_text_columns

    captions = {}
    for i in range(10):
        name = f"img{i}.png"
        PILImage.new("RGB", (16, 16), (25 * i, 0, 0)).save(tmp_path / name)
        captions[name] = f"a square of red {i}"
    with open(tmp_path / "metadata.jsonl", "w") as handle:
        for name, caption in captions.items():
            handle.write(json.dumps({"file_name": name, "text": caption}) + "\n")
    data = load_image_text_dataset(str(tmp_path))
    assert len(data["train"]) + len(data["eval"]) == 10
    image_column, caption_column, label_column = resolve_image_text_columns(data, None, None, "label")
    assert (caption_column, label_column) == ("text", None)  # found by name; no labels: retrieval only
    for row in data["eval"]:  # each image with its own caption
        index = int(row[caption_column].split()[-1])
        assert row[image_column].convert("RGB").getpixel((0, 0))[0] == 25 * index
