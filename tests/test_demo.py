"""The Gradio demo: its picture functions against hand computations, the model-side helpers, and the running app
called endpoint by endpoint through `gradio_client`."""

import os
import re
import socket
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import ViTConfig, ViTModel

from hf_jepa import DINOSSLForPreTraining, IJEPASSLForPreTraining, MAESSLForPreTraining, get_method
from hf_jepa.demo.loading import cls_attention, load_demo_model, load_gallery, prepare_image
from hf_jepa.demo.pictures import (
    CATEGORY_COLORS,
    DIVERGING,
    HIDDEN_PATCH_GREY,
    VIRIDIS,
    apply_colormap,
    draw_blocks,
    fill_patches,
    fit_pca,
    heat_map,
    mean_per_patch,
    paste_patches,
    patches_to_pixels,
    pca_colors,
    project,
    scatter_map,
)
from hf_jepa.demo.predictions import PredictionRequest, predict
from hf_jepa.registry import default_processor
from tests.tiny import tiny_dino_config, tiny_ijepa_config, tiny_mae_config

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls from the app under test

GALLERY_SIZE = 60  # the first digits: enough for neighbours and a map, quick to embed
TINY_MODELS = {"ijepa": tiny_ijepa_config, "mae": tiny_mae_config, "dino": tiny_dino_config}
PRETRAINING = {"ijepa": IJEPASSLForPreTraining, "mae": MAESSLForPreTraining, "dino": DINOSSLForPreTraining}


def save_tiny_models(folder) -> dict[str, str]:
    """A tiny I-JEPA, MAE and DINO saved as `hf-jepa pretrain` saves them (model + processor), one folder each."""
    paths = {}
    for name, make_config in TINY_MODELS.items():
        torch.manual_seed(0)
        config = make_config()
        path = os.path.join(folder, name)
        PRETRAINING[name](config).save_pretrained(path)
        default_processor(get_method(name), config).save_pretrained(path)
        paths[name] = path
    return paths


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(app):
    """The app launched in a background thread on a free localhost port; yields its URL."""
    _, url, _ = app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        yield url
    finally:
        app.close()


def opened(path) -> Image.Image:
    """The image file at `path`, read in full and closed."""
    with Image.open(path) as image:
        image.load()
        return image


def random_image(size=(224, 224), seed=0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


# --- picture functions -------------------------------------------------------------------------------------------


def test_patches_to_pixels_repeats_each_patch_over_its_rectangle():
    values = np.array([[1, 2], [3, 4]])
    expected = np.array([[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2], [3, 3, 3, 4, 4, 4], [3, 3, 3, 4, 4, 4]])
    np.testing.assert_array_equal(patches_to_pixels(values, (4, 6)), expected)


def test_mean_per_patch_averages_repeats_and_leaves_the_rest_empty():
    grid = mean_per_patch(np.array([[0, 1], [1, 2]]), np.array([[1.0, 2.0], [4.0, 6.0]]), (2, 2))
    np.testing.assert_array_equal(grid, [[1.0, 3.0], [6.0, np.nan]])


def test_fit_pca_matches_sklearn_up_to_sign_and_is_sign_stable():
    from sklearn.decomposition import PCA

    features = np.random.default_rng(0).normal(size=(50, 8)) * np.arange(1, 9)
    mean, components = fit_pca(features, 3)
    reference = PCA(3).fit(features)
    np.testing.assert_allclose(mean, reference.mean_)
    np.testing.assert_allclose(np.abs((components * reference.components_).sum(1)), 1.0, atol=1e-8)
    flipped_mean, flipped = fit_pca(-features, 3)  # same axes: the sign rule depends on the data, not the SVD
    coords, flipped_coords = project(features, (mean, components)), project(-features, (flipped_mean, flipped))
    for axis in range(3):
        assert coords[np.abs(coords[:, axis]).argmax(), axis] > 0
        assert flipped_coords[np.abs(flipped_coords[:, axis]).argmax(), axis] > 0


def test_pca_colors_span_zero_to_one_and_equal_features_get_equal_colors():
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(4, 16))
    features = prototypes[np.repeat(np.arange(4), 4)]  # 4 groups of 4 identical patches
    colors = pca_colors(features, (4, 4))
    assert colors.shape == (4, 4, 3)
    np.testing.assert_allclose(colors.reshape(-1, 3).min(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(colors.reshape(-1, 3).max(0), 1.0, atol=1e-12)
    for group in range(4):
        np.testing.assert_allclose(colors[group], colors[group][:1].repeat(4, 0))
    np.testing.assert_allclose(pca_colors(features + 5.0, (4, 4)), colors, atol=1e-9)  # centred: offsets ignored
    np.testing.assert_allclose(pca_colors(np.ones((4, 16)), (2, 2)), 0.5)  # nothing varies: mid grey


def test_apply_colormap_hits_its_anchors():
    np.testing.assert_array_equal(
        apply_colormap(np.array([0.0, 0.5, 1.0]), VIRIDIS), [VIRIDIS[0], VIRIDIS[2], VIRIDIS[4]]
    )
    np.testing.assert_array_equal(apply_colormap(np.array([-3.0, 7.0]), DIVERGING), [DIVERGING[0], DIVERGING[-1]])


def test_fill_and_paste_patches_touch_exactly_the_marked_patches():
    image = np.full((8, 8, 3), 10, dtype=np.uint8)
    other = np.full((8, 8, 3), 200, dtype=np.uint8)
    marked = np.array([[True, False], [False, True]])
    filled = fill_patches(image, marked)
    assert (filled[:4, :4] == HIDDEN_PATCH_GREY).all() and (filled[4:, 4:] == HIDDEN_PATCH_GREY).all()
    assert (filled[:4, 4:] == 10).all() and (filled[4:, :4] == 10).all()
    pasted = paste_patches(image, other, marked)
    assert (pasted[:4, :4] == 200).all() and (pasted[4:, 4:] == 200).all() and (pasted[:4, 4:] == 10).all()


def test_draw_blocks_keeps_the_context_darkens_the_rest_and_outlines_targets():
    image = np.full((16, 16, 3), 200, dtype=np.uint8)
    context = np.zeros((4, 4), dtype=bool)
    context[:2] = True  # top half
    target = np.zeros((4, 4), dtype=bool)
    target[2:4, 1:3] = True  # rows 8-15, columns 4-11
    drawn = draw_blocks(image, context, [target], line_width=1)
    assert (drawn[:8] == 200).all()  # context untouched
    np.testing.assert_array_equal(drawn[12, 0], [70, 70, 70])  # 0.35 * 200, outside context and target outline
    np.testing.assert_array_equal(drawn[8, 6], CATEGORY_COLORS[0])  # the target's top edge
    np.testing.assert_array_equal(drawn[15, 11], CATEGORY_COLORS[0])  # its bottom-right corner


def test_heat_map_colours_valued_patches_and_dims_the_others():
    image = np.full((4, 4, 3), 100, dtype=np.uint8)
    values = np.array([[1.0, np.nan], [-1.0, 0.0]])
    shown = heat_map(image, values, (-1.0, 1.0), DIVERGING, alpha=1.0)
    np.testing.assert_array_equal(shown[0, 0], DIVERGING[-1])
    np.testing.assert_array_equal(shown[2, 0], DIVERGING[0])
    np.testing.assert_array_equal(shown[2, 2], DIVERGING[2])
    np.testing.assert_array_equal(shown[0, 2], [50, 50, 50])


def test_scatter_map_draws_points_in_their_label_colour_and_rings_the_highlight():
    points = np.array([[0.0, 0.0], [1.0, 1.0]])
    shown = scatter_map(points, [0, 1], ["a", "b"], highlight=np.array([0.5, 0.5]), size=200)
    assert shown.shape == (200, 200, 3)
    margin, plot_w, plot_h = 12, 200 - 24 - 64, 200 - 24
    np.testing.assert_array_equal(shown[margin + plot_h, margin], CATEGORY_COLORS[0])  # (0, 0): bottom left
    np.testing.assert_array_equal(shown[margin, margin + plot_w], CATEGORY_COLORS[1])  # (1, 1): top right
    np.testing.assert_array_equal(shown[margin + plot_h // 2, margin + plot_w // 2], [0, 0, 0])
    outlier = scatter_map(points, [0, 1], ["a", "b"], highlight=np.array([9.0, 0.5]), size=200)
    np.testing.assert_array_equal(outlier[margin + plot_h, margin], CATEGORY_COLORS[0])  # the map is not rescaled
    np.testing.assert_array_equal(outlier[margin + plot_h // 2, margin + plot_w], [0, 0, 0])  # clamped to the edge


# --- model-side helpers ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("demo_models"))


def test_prepare_image_converts_what_has_a_meaning_and_refuses_the_rest():
    transparent = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert prepare_image(transparent).getpixel((0, 0)) == (255, 255, 255)  # laid on white
    assert prepare_image(Image.new("RGBA", (4, 4), (255, 0, 0, 255))).getpixel((0, 0)) == (255, 0, 0)
    assert prepare_image(Image.new("L", (4, 4), 77)).getpixel((0, 0)) == (77, 77, 77)
    assert prepare_image(Image.new("CMYK", (4, 4), (0, 255, 255, 0))).getpixel((0, 0)) == (255, 0, 0)
    sixteen_bit = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert sixteen_bit.mode.startswith("I;16") and prepare_image(sixteen_bit).getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(ValueError, match="mode 'F' are not supported"):
        prepare_image(Image.new("F", (4, 4)))
    with pytest.raises(ValueError, match="No image"):
        prepare_image(None)


def test_load_demo_model_explains_folders_of_the_wrong_kind(tmp_path, model_dirs):
    with pytest.raises(ValueError, match="no config.json"):
        load_demo_model(str(tmp_path))
    with pytest.raises(ValueError, match="is not a folder"):
        load_demo_model(str(tmp_path / "missing"))
    vit = tmp_path / "vit"
    config = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ViTModel(config).save_pretrained(vit)
    with pytest.raises(ValueError, match="holds a `vit` model, not an hf_jepa one"):
        load_demo_model(str(vit))
    model = load_demo_model(model_dirs["mae"])
    assert model.method.name == "mae" and model.has_pretraining_head and model.image_size == (32, 32)


def test_an_encoder_only_folder_embeds_but_has_nothing_to_predict_with(tmp_path, model_dirs):
    full = load_demo_model(model_dirs["ijepa"])
    full.encoder.save_pretrained(tmp_path / "encoder")
    encoder_only = load_demo_model(str(tmp_path / "encoder"))
    assert not encoder_only.has_pretraining_head
    torch.testing.assert_close(
        encoder_only.encoder.embeddings.patch_embeddings.projection.weight,
        full.encoder.embeddings.patch_embeddings.projection.weight,
    )
    prediction = predict(encoder_only, PredictionRequest(random_image()))
    assert not prediction.images and "only the encoder" in prediction.note


def test_cls_attention_reproduces_the_last_block(model_dirs):
    """Weights recomputed from norm1 + qkv, applied to the values, must give the block's own output for CLS."""
    encoder = load_demo_model(model_dirs["dino"]).encoder
    pixel_values = torch.randn(2, 3, 32, 32)
    attention = cls_attention(encoder, pixel_values)  # [B, heads, N] over patches
    hidden = encoder(pixel_values, output_hidden_states=True, return_dict=True).hidden_states
    block, tokens = encoder.layers[-1], encoder.layers[-1].norm1(hidden[-2])
    dim, heads = tokens.shape[-1], block.attn.num_heads
    values = F.linear(tokens, block.attn.qkv.weight[2 * dim :], block.attn.qkv.bias[2 * dim :])
    values = values.view(2, -1, heads, dim // heads).transpose(1, 2)  # [B, heads, L, d]
    # The CLS column is the rest of each row (one prefix token here).
    weights = torch.cat([1 - attention.sum(-1, keepdim=True), attention], dim=-1)  # [B, heads, L]
    mixed = (weights.unsqueeze(-2) @ values).transpose(1, 2).reshape(2, 1, dim)
    after_attention = hidden[-2][:, :1] + block.attn.proj(mixed)
    expected = after_attention + block.mlp(block.norm2(after_attention))
    torch.testing.assert_close(expected, hidden[-1][:, :1], atol=1e-5, rtol=1e-5)
    assert attention.shape == (2, 2, 64) and (attention >= 0).all() and (attention.sum(-1) < 1).all()


def test_mae_prediction_uses_the_requested_ratio_and_leaves_the_model_as_it_was(model_dirs):
    model = load_demo_model(model_dirs["mae"])
    first = predict(model, PredictionRequest(random_image(), seed=3, mask_ratio=0.5))
    again = predict(model, PredictionRequest(random_image(), seed=3, mask_ratio=0.5))
    assert len(first.numbers["hidden_patches"]) == 32 and first.numbers == again.numbers
    assert model.model.mask_generator.mask_ratio == model.config.mask_ratio
    with pytest.raises(ValueError, match="leaves no visible or no hidden patch"):
        predict(model, PredictionRequest(random_image(), mask_ratio=0.999))


def test_ijepa_prediction_reports_the_models_own_masks_and_similarities(model_dirs):
    model = load_demo_model(model_dirs["ijepa"])
    prediction = predict(model, PredictionRequest(random_image(), seed=5))
    outputs = model.model(model.pixel_values([random_image()]), generator=torch.Generator().manual_seed(5))
    assert prediction.numbers["context_idx"] == outputs.context_idx[0].tolist()
    assert prediction.numbers["target_idx"] == outputs.target_idx[0].tolist()
    cosine = F.cosine_similarity(outputs.predictions[0], outputs.targets[0], dim=-1).mean(-1)
    np.testing.assert_allclose(prediction.numbers["cosine_per_target"], cosine.tolist(), atol=1e-5)


def test_a_video_model_embeds_an_image_as_a_still_clip(tmp_path):
    from hf_jepa.demo.embeddings import embedding_view
    from hf_jepa.demo.loading import DemoStore
    from tests.tiny import tiny_vjepa_config

    config = tiny_vjepa_config()
    get_method("vjepa").pretraining_class(config).save_pretrained(tmp_path)
    default_processor(get_method("vjepa"), config).save_pretrained(tmp_path)
    store = DemoStore(max_gallery_images=20)
    model = store.model(str(tmp_path))
    assert model.pixel_values([random_image()]).shape == (1, 1, 3, *model.image_size)
    view = embedding_view(model, random_image(), store.gallery("digits"), store.gallery_embedding(model, "digits"), 3)
    assert view.pca.shape == (224, 224, 3) and view.numbers["patch_grid"] == list(config.grid_size)
    assert len(view.neighbours) == 3


def test_vjepa_prediction_hides_each_mask_sets_targets_and_times_their_error(tmp_path):
    from hf_jepa.data.video_decoding import write_video
    from hf_jepa.demo.loading import DemoStore
    from hf_jepa.demo.predictions import PredictionRequest, panning_clip, predict
    from tests.tiny import tiny_vjepa_config

    config = tiny_vjepa_config()  # 4 frames in tubelets of 2: 2 time steps of 4 x 4 tokens
    get_method("vjepa").pretraining_class(config).save_pretrained(tmp_path / "model")
    default_processor(get_method("vjepa"), config).save_pretrained(tmp_path / "model")
    model = DemoStore(max_gallery_images=4).model(str(tmp_path / "model"))

    prediction = predict(model, PredictionRequest(random_image(), seed=3, display_size=64))
    assert len(prediction.images) == 4 and "panning" in prediction.note  # masks and errors of both mask sets
    for (picture, caption), mask_set in zip(prediction.images[::2], (0, 1)):
        assert picture.shape == (32, 64, 3) and f"mask set {mask_set}" in caption  # 2 time steps side by side
        shown = prediction.numbers[f"mask_set_{mask_set}"]
        hidden = (picture.reshape(4, 8, 8, 8, 3)[:, 3, :, 3] == 128).all(-1)  # patch centres painted grey
        assert hidden.sum() == shown["target_tokens"] and len(shown["error_per_time_step"]) == 2
    other = predict(model, PredictionRequest(random_image(), seed=4, display_size=64))
    assert not np.array_equal(other.images[0][0], prediction.images[0][0])

    # A still image pans: each frame is a shifted window of it.
    rows, cols = np.meshgrid(np.arange(100), np.arange(100), indexing="ij")
    coordinates = np.stack([rows, cols, rows], axis=-1).astype(np.uint8)  # each pixel holds its (row, column)
    frames = panning_clip(coordinates, 3)  # a window of 100 / 1.25 = 80 px moving from (0, 0) to (20, 20)
    assert [f.shape for f in frames] == [(80, 80, 3)] * 3
    assert [tuple(f[0, 0, :2]) for f in frames] == [(0, 0), (10, 10), (20, 20)]
    clip = np.stack([np.full((16, 16, 3), 40 * i, np.uint8) for i in range(5)])
    write_video(tmp_path / "clip.mp4", clip)
    from_video = predict(model, PredictionRequest(random_image(), video=str(tmp_path / "clip.mp4")))
    assert "centred 4 frames of the video" in from_video.note
    write_video(tmp_path / "short.mp4", clip[:2])
    with pytest.raises(ValueError, match="short.mp4"):  # a clear error naming the video that is too short
        predict(model, PredictionRequest(random_image(), video=str(tmp_path / "short.mp4")))


def test_folder_gallery_is_labelled_by_sub_folder(tmp_path):
    for name, shade in (("cat", 0), ("dog", 255)):
        (tmp_path / name).mkdir()
        for number in range(3):
            Image.new("RGB", (8, 8), (shade, number, 0)).save(tmp_path / name / f"{number}.png")
    gallery = load_gallery(str(tmp_path))
    assert len(gallery) == 6 and gallery.label_names == ["cat", "dog"]
    for image, label in zip(gallery.images(range(6)), gallery.labels):
        assert image.getpixel((0, 0))[0] == (0 if gallery.label_names[label] == "cat" else 255)


def test_bundled_examples_are_photos_and_digits_that_open():
    from hf_jepa.demo.app import bundled_examples

    paths = bundled_examples()
    names = {os.path.splitext(os.path.basename(path))[0]: path for path in paths}
    assert {"astronaut", "camera", "china", "flower", "digit_0", "digit_3", "digit_7"} <= set(names)
    assert opened(names["camera"]).mode == "L" and opened(names["astronaut"]).size == (512, 512)
    assert opened(names["digit_3"]).size == (32, 32)
    assert paths == bundled_examples()  # the second call reuses the files


# --- the running app, through gradio_client ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_client(model_dirs, tmp_path_factory):
    pytest.importorskip("gradio")
    from gradio_client import Client

    from hf_jepa.demo.app import build_app

    models = [model_dirs["ijepa"], model_dirs["mae"], model_dirs["dino"]]
    app = build_app(models, allow_loading=True, max_gallery_images=GALLERY_SIZE)
    with serving(app) as url:
        yield Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def upload(path):
    from gradio_client import handle_file

    return handle_file(str(path))


def saved(image: Image.Image, folder, name: str, **save_args) -> str:
    path = os.path.join(folder, name)
    image.save(path, **save_args)
    return path


def columns(outputs, per_column: int) -> list[tuple]:
    return [tuple(outputs[i : i + per_column]) for i in range(0, len(outputs), per_column)]


def test_embed_endpoint_finds_the_image_itself_first(demo_client, tmp_path):
    query = load_gallery("digits", GALLERY_SIZE).images([7])[0]
    outputs = demo_client.predict(upload(saved(query, tmp_path, "q.png")), "digits", 5, api_name="/embed")
    shown = columns(outputs, 4)
    assert len(shown) == 4 and shown[3] == (None, [], None, None)  # three models, one free column
    for (pca, neighbours, gallery_map, numbers), method in zip(shown, ("ijepa", "mae", "dino")):
        assert opened(pca).size == (224, 224) and opened(gallery_map).size == (320, 320)
        assert numbers["method"] == method and numbers["gallery_size"] == GALLERY_SIZE
        assert len(neighbours) == 5 and all(opened(n["image"]).size == (96, 96) for n in neighbours)
        found = numbers["neighbours"]
        assert found[0]["index"] == 7 and found[0]["similarity"] == pytest.approx(1.0, abs=1e-5)
        similarities = [n["similarity"] for n in found]
        assert similarities == sorted(similarities, reverse=True) and all(-1 <= s <= 1.0 + 1e-6 for s in similarities)
        for neighbour, entry in zip(neighbours, found):
            label, similarity = re.fullmatch(r"(\d) · cos (-?[\d.]+)", neighbour["caption"]).groups()
            assert label == entry["label"] and float(similarity) == pytest.approx(entry["similarity"], abs=1e-3)


def test_embed_endpoint_takes_other_modes_and_refuses_float_images(demo_client, tmp_path):
    rgba = Image.fromarray(np.dstack([np.asarray(random_image((64, 48)))] + [np.full((64, 48), 128, np.uint8)]))
    cmyk = random_image((40, 40)).convert("CMYK")
    for path in (
        saved(rgba, tmp_path, "a.png"),
        saved(cmyk, tmp_path, "c.jpg"),
        saved(cmyk.convert("L"), tmp_path, "l.png"),
    ):
        pca = demo_client.predict(upload(path), "digits", 1, api_name="/embed")[0]
        assert opened(pca).size == (224, 224)
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="mode 'F' are not supported"):
        demo_client.predict(upload(saved(Image.new("F", (32, 32)), tmp_path, "f.tiff")), api_name="/embed")


def test_embed_endpoint_explains_a_gallery_that_is_not_one(demo_client, tmp_path):
    from gradio_client.exceptions import AppError

    image = upload(saved(random_image(), tmp_path, "x.png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AppError, match="contains no image files"):
        demo_client.predict(image, str(tmp_path / "empty"), 3, api_name="/embed")
    with pytest.raises(AppError, match="is not a folder"):
        demo_client.predict(image, str(tmp_path / "missing"), 3, api_name="/embed")


def _hidden_patches_shown(path, grid=8) -> set[int]:
    """Patches whose centre pixel is the hidden-patch grey, in a 224 px masked input."""
    pixels = np.asarray(opened(path).convert("RGB"))
    step = pixels.shape[0] // grid
    centres = pixels[step // 2 :: step, step // 2 :: step][:grid, :grid]
    return set(np.flatnonzero((centres == HIDDEN_PATCH_GREY).all(-1)).tolist())


def test_predict_endpoint_draws_each_method_and_follows_seed_and_ratio(demo_client, tmp_path):
    image = upload(saved(random_image(), tmp_path, "noise.png"))
    (ijepa, _, ijepa_numbers), (mae, _, mae_numbers), (dino, dino_note, dino_numbers), empty = columns(
        demo_client.predict(image, 0, 0.5, api_name="/predict"), 3
    )
    assert empty == ([], "", None)
    assert [opened(item["image"]).size for item in mae + ijepa + dino] == [(224, 224)] * 8
    assert len(mae_numbers["hidden_patches"]) == 32 and mae_numbers["mask_ratio"] == 0.5
    assert _hidden_patches_shown(mae[0]["image"]) == set(mae_numbers["hidden_patches"])
    masked, pasted = np.asarray(opened(mae[0]["image"])), np.asarray(opened(mae[2]["image"]))
    visible = ~patches_to_pixels(np.isin(np.arange(64), mae_numbers["hidden_patches"]).reshape(8, 8), (224, 224))
    np.testing.assert_array_equal(masked[visible], pasted[visible])  # the visible patches are the input's
    assert len(ijepa_numbers["target_idx"]) == 4 and -1 <= ijepa_numbers["mean_cosine"] <= 1
    assert not set(ijepa_numbers["context_idx"]) & {i for block in ijepa_numbers["target_idx"] for i in block}
    assert [item["caption"] for item in dino] == ["head 1", "head 2", "mean of the heads"] and "scaled" in dino_note
    assert all(0 < mass <= 1 for mass in dino_numbers["patch_attention_mass"])

    mae_75 = columns(demo_client.predict(image, 0, 0.75, api_name="/predict"), 3)[1][2]
    assert len(mae_75["hidden_patches"]) == 48
    reseeded = columns(demo_client.predict(image, 1, 0.5, api_name="/predict"), 3)
    assert reseeded[1][2]["hidden_patches"] != mae_numbers["hidden_patches"]
    assert reseeded[0][2]["target_idx"] != ijepa_numbers["target_idx"]
    repeated = columns(demo_client.predict(image, 0, 0.5, api_name="/predict"), 3)
    assert repeated[1][2]["hidden_patches"] == mae_numbers["hidden_patches"]


def test_load_models_endpoint_shows_clear_errors_and_loads_good_folders(demo_client, model_dirs, tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(demo_client.src, verbose=False, download_files=str(tmp_path))  # its own session: own models
    with pytest.raises(AppError, match="no config.json"):
        client.predict(str(tmp_path), api_name="/load_models")
    vit = tmp_path / "vit"
    config = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ViTModel(config).save_pretrained(vit)
    with pytest.raises(AppError, match="holds a `vit` model, not an hf_jepa one"):
        client.predict(str(vit), api_name="/load_models")
    with pytest.raises(AppError, match="At most 4 models"):
        client.predict("\n".join([model_dirs["mae"]] * 5), api_name="/load_models")
    titles = client.predict(f"{model_dirs['dino']}\n{model_dirs['mae']}", api_name="/load_models")
    assert titles[:4] == (f"### dino\n`{model_dirs['dino']}`", f"### mae\n`{model_dirs['mae']}`", "", "")
    shown = columns(client.predict(upload(saved(random_image(), tmp_path, "x.png")), api_name="/embed"), 4)
    assert [numbers and numbers["method"] for *_, numbers in shown] == ["dino", "mae", None, None]


def test_space_metadata_parses_and_points_at_the_app():
    from pathlib import Path

    from huggingface_hub import SpaceCard

    demos = Path(__file__).parents[1] / "demos"
    card = SpaceCard.load(demos / "README.md")
    assert card.data.sdk == "gradio" and (demos / card.data.app_file).is_file()
    assert {"ijepa", "mae", "dino", "vjepa"} <= set(card.data.tags)
    assert len(card.data.short_description) <= 60  # the Hub's limit
