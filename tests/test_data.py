"""Datasets: embedded digits, image folders (with bad files), saved datasets, columns."""

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict, Image
from PIL import Image as PILImage

from hf_jepa.data import images as data_module
from hf_jepa.data.images import (
    ImageCollator,
    digits_dataset,
    image_transform,
    load_image_dataset,
    resolve_columns,
    to_rgb,
)


def test_digits_dataset_is_fixed_rgb_and_stratified():
    data = digits_dataset(32)
    assert len(data["train"]) + len(data["eval"]) == 1797 and len(data["eval"]) == 360
    image = data["train"][0]["image"]
    assert image.mode == "RGB" and image.size == (32, 32)
    counts = np.bincount(data["eval"]["label"], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified 20 %
    again = digits_dataset(32)
    assert again["eval"]["label"] == data["eval"]["label"]


def _write_folder(root, classes=("cat", "dog"), per_class=3, size=(20, 16)):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            PILImage.new("RGB", size, color=(40 * c, 10 * i, 0)).save(root / name / f"{i}.png")


def test_image_folder_with_classes(tmp_path):
    _write_folder(tmp_path, per_class=5)
    data = load_image_dataset(str(tmp_path))
    assert len(data["train"]) == 8 and len(data["eval"]) == 2
    assert set(data["train"]["label"]) | set(data["eval"]["label"]) == {0, 1}


def test_image_folder_with_train_and_val_splits(tmp_path):
    _write_folder(tmp_path / "train")
    _write_folder(tmp_path / "val", per_class=1)
    data = load_image_dataset(str(tmp_path))
    assert len(data["train"]) == 6 and len(data["eval"]) == 2


def _truncated_jpeg(path):
    PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=95)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])  # the header is intact: PIL's verify() accepts it


def test_files_that_do_not_decode_are_skipped_counted_and_named(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HF_JEPA_CACHE", str(tmp_path / "cache"))
    _write_folder(tmp_path / "data")
    (tmp_path / "data" / "cat" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "data" / "dog" / "empty.png").write_bytes(b"")
    _truncated_jpeg(tmp_path / "data" / "dog" / "truncated.jpg")
    with PILImage.open(tmp_path / "data" / "dog" / "truncated.jpg") as image:
        image.verify()  # what the header check used to accept
    data = load_image_dataset(str(tmp_path / "data"))
    assert len(data["train"]) + len(data["eval"]) == 6  # the six good images
    warning = caplog.text
    assert "skipped 3 of 9" in warning and "--dataset" in warning
    assert all(name in warning for name in ("broken.jpg", "empty.png", "truncated.jpg"))
    for split in data.values():  # every remaining image decodes in full
        for row in split:
            row["image"].load()


def test_a_folder_where_nothing_decodes_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_JEPA_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data" / "cat").mkdir(parents=True)
    _truncated_jpeg(tmp_path / "data" / "cat" / "a.jpg")
    with pytest.raises(ValueError, match="none of the files can be used") as info:
        load_image_dataset(str(tmp_path / "data"))
    assert "a.jpg" in str(info.value)


def test_decode_checks_are_cached_by_path_size_and_time(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_JEPA_CACHE", str(tmp_path / "cache"))
    _write_folder(tmp_path / "data")
    decoded = []
    original = data_module.image_problem
    monkeypatch.setattr(data_module, "image_problem", lambda path: decoded.append(path) or original(path))
    load_image_dataset(str(tmp_path / "data"))
    assert len(decoded) == 6
    load_image_dataset(str(tmp_path / "data"))
    assert len(decoded) == 6  # the second load decodes nothing
    _truncated_jpeg(tmp_path / "data" / "cat" / "img0.png")  # a changed file is checked again
    load_image_dataset(str(tmp_path / "data"))
    assert len(decoded) == 7


def test_sixteen_bit_and_float_images_are_scaled_by_their_range_or_refused():
    ramp = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    sixteen = PILImage.fromarray(ramp)
    assert sixteen.mode.startswith("I;16")
    converted = np.asarray(to_rgb(sixteen))[..., 0]
    np.testing.assert_array_equal(converted, np.round(ramp / 257.0).astype(np.uint8))  # not clipped at 255
    assert (converted == 255).mean() < 0.01
    as_int32 = PILImage.fromarray(ramp.astype(np.int32))  # how some decoders give 16-bit PNGs
    assert as_int32.mode == "I" and np.array_equal(np.asarray(to_rgb(as_int32))[..., 0], converted)
    with pytest.raises(ValueError, match="mode 'F' are not supported"):
        to_rgb(PILImage.new("F", (4, 4)))
    with pytest.raises(ValueError, match="no defined range"):
        to_rgb(PILImage.fromarray(np.full((4, 4), 2**20, dtype=np.int32)))
    # The collator gives the network the scaled image: a 16-bit white is 1.0, mid-grey about 0.5.
    collate = ImageCollator(image_transform(16, [0.0] * 3, [1.0] * 3), "image")
    pixels = collate([{"image": sixteen}])["pixel_values"][0, 0]
    assert abs(pixels[-1, -1].item() - 1.0) < 1e-3 and abs(pixels.mean().item() - 0.5) < 0.02


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="no image files"):
        load_image_dataset(str(tmp_path))


def test_saved_dataset_folder_and_empty_split(tmp_path):
    images = [PILImage.new("RGB", (8, 8), color=(i, i, i)) for i in range(10)]
    data = Dataset.from_dict({"img": images, "y": list(range(10))}).cast_column("img", Image())
    DatasetDict(train=data.select(range(8)), test=data.select(range(8, 10))).save_to_disk(str(tmp_path / "saved"))
    loaded = load_image_dataset(str(tmp_path / "saved"))
    assert len(loaded["train"]) == 8 and len(loaded["eval"]) == 2
    assert resolve_columns(loaded["train"], None, "y") == ("img", "y")


def test_empty_hub_split_is_an_error(monkeypatch):
    images = Dataset.from_dict({"image": [PILImage.new("RGB", (8, 8))] * 3}).cast_column("image", Image())
    empty = Dataset.from_dict({"image": []}, features=images.features)
    monkeypatch.setattr(data_module, "load_dataset", lambda name: DatasetDict(train=empty, validation=images))
    with pytest.raises(ValueError, match="`train` split of `--dataset user/name` is empty"):
        load_image_dataset("user/name")


def test_unknown_dataset_name_is_a_clear_error(monkeypatch):
    import datasets
    import huggingface_hub

    # The libraries read the offline variables at import: set their constants, or the lookup waits on the network.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match="--dataset no-such-user/no-such-dataset"):
        load_image_dataset("no-such-user/no-such-dataset")


def test_column_errors():
    data = Dataset.from_dict({"text": ["a"], "label": [0]})
    with pytest.raises(ValueError, match="--image_column"):
        resolve_columns(data, None, "label")
    with pytest.raises(ValueError, match="--image_column picture"):
        resolve_columns(data, "picture", "label")
    with pytest.raises(ValueError, match="--label_column klass"):
        resolve_columns(data, "text", "klass")
    assert resolve_columns(data.remove_columns("label"), "text", "label") == ("text", None)


def test_collator_converts_modes_and_normalises():
    collate = ImageCollator(image_transform(8, [0.5] * 3, [0.5] * 3), "image", "label")
    rows = [
        {"image": PILImage.new("L", (16, 16), color=255), "label": 1},
        {"image": PILImage.new("RGBA", (10, 12), color=(0, 0, 0, 0)), "label": 0},
    ]
    batch = collate(rows)
    assert batch["pixel_values"].shape == (2, 3, 8, 8)
    assert torch.allclose(batch["pixel_values"][0], torch.ones(3, 8, 8))
    assert torch.allclose(batch["pixel_values"][1], torch.ones(3, 8, 8))  # transparency is laid on white
    assert batch["labels"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="image_column"):
        ImageCollator(image_transform(8, [0.5] * 3, [0.5] * 3), "pixels")(rows)


def test_train_and_eval_folders_number_classes_alike(tmp_path):
    for split, classes in (("train", ("ant", "bee", "cat")), ("val", ("bee", "cat"))):  # no ant to evaluate
        for name in classes:
            (tmp_path / split / name).mkdir(parents=True)
            PILImage.new("RGB", (8, 8), (len(name), 0, 0)).save(tmp_path / split / name / "0.png")
    data = data_module.image_folder_dataset(str(tmp_path))

    def classes(split):
        files = data[split].cast_column("image", Image(decode=False))["image"]
        return {file["path"].split("/")[-2]: label for file, label in zip(files, data[split]["label"])}

    assert classes("train") == {"ant": 0, "bee": 1, "cat": 2} and classes("eval") == {"bee": 1, "cat": 2}
