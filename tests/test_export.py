"""`hf-jepa export --format transformers`: native transformers models with our weights, loaded without hf_jepa."""

import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors import safe_open
from transformers import ViTConfig, ViTMAEForPreTraining

from hf_jepa import (
    DINOSSLForPreTraining,
    IJEPASSLForPreTraining,
    IJEPASSLModel,
    MAESSLForPreTraining,
    MAESSLModel,
    SSLImageProcessor,
)
from hf_jepa.cli import main
from hf_jepa.hub.export import export_to_transformers, to_transformers
from tests.tiny import tiny_dino_config, tiny_ijepa_config, tiny_mae_config

ATOL = 1e-5
NUM_PATCHES = 64  # tiny configs: 32 px images, 4 px patches

# Runs in a fresh interpreter in which `import hf_jepa` fails: only transformers' own classes can load the folders.
LOAD_WITHOUT_HF_JEPA = textwrap.dedent(
    """
    import sys
    sys.modules["hf_jepa"] = None
    import torch
    from transformers import AutoImageProcessor, AutoModel, AutoModelForPreTraining

    root = sys.argv[1]
    inputs = torch.load(f"{root}/inputs.pt")
    pixels, small, noise = inputs["pixel_values"], inputs["small"], inputs["noise"]
    results = {}
    with torch.no_grad():
        for name in ("ijepa", "dino"):
            model = AutoModel.from_pretrained(f"{root}/out/{name}")
            out = model(pixel_values=pixels)
            small_out = model(pixel_values=small, interpolate_pos_encoding=True) if name == "ijepa" else model(small)
            results[name] = dict(
                model=type(model).__name__,
                last_hidden_state=out.last_hidden_state,
                pooler_output=out.pooler_output,
                small_last_hidden_state=small_out.last_hidden_state,
            )
        model = AutoModelForPreTraining.from_pretrained(f"{root}/out/mae")
        out = model(pixel_values=pixels, noise=noise)
        encoder = AutoModel.from_pretrained(f"{root}/out/mae", mask_ratio=0.0)
        in_order = torch.arange(noise.shape[1]).expand(noise.shape[0], -1)
        results["mae"] = dict(
            model=type(model).__name__,
            encoder=type(encoder).__name__,
            loss=out.loss,
            logits=out.logits,
            mask=out.mask,
            position_embeddings=model.vit.embeddings.position_embeddings.detach(),
            decoder_pos_embed=model.decoder.decoder_pos_embed.detach(),
            encoder_last_hidden_state=encoder(pixel_values=pixels, noise=in_order).last_hidden_state,
        )
    for name in ("ijepa", "mae", "dino"):
        processor = AutoImageProcessor.from_pretrained(f"{root}/out/{name}")
        results[name]["processor"] = type(processor).__name__
        results[name]["processed"] = processor(images=[inputs["image"]], return_tensors="pt")["pixel_values"]
    torch.save(results, f"{root}/outputs.pt")
    """
)


def _perturbed(model):
    """Random non-trivial values everywhere (norms, biases, EMA target != online network), so that a weight
    copied to the wrong place cannot go unnoticed."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("export")
    models = {
        "ijepa": _perturbed(IJEPASSLForPreTraining(tiny_ijepa_config())),
        "mae": _perturbed(MAESSLForPreTraining(tiny_mae_config())),
        "dino": _perturbed(DINOSSLForPreTraining(tiny_dino_config())),
    }
    processor = SSLImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5, 0.4, 0.3], image_std=[0.2] * 3)
    for name, model in models.items():
        model.save_pretrained(root / "src" / name)
        if name != "dino":  # DINO's folder has none: the export falls back on the config and ImageNet statistics
            processor.save_pretrained(root / "src" / name)
        # MAE: the pretraining export (encoder + decoder); its encoder-only export is checked in test_common.
        format = "transformers-pretraining" if name == "mae" else "transformers"
        export_to_transformers(str(root / "src" / name), str(root / "out" / name), format)
    inputs = dict(
        pixel_values=torch.randn(2, 3, 32, 32),
        small=torch.randn(2, 3, 16, 16),
        noise=torch.rand(2, NUM_PATCHES),
        image=torch.randint(0, 256, (3, 40, 24), dtype=torch.uint8),
    )
    torch.save(inputs, root / "inputs.pt")
    run = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_HF_JEPA, str(root)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(root=root, models=models, inputs=inputs, native=torch.load(root / "outputs.pt"))


@pytest.mark.parametrize("name", ["ijepa", "dino"])
def test_encoder_outputs_match_native_model(exported, name):
    model, native, inputs = exported["models"][name], exported["native"][name], exported["inputs"]
    assert native["model"] == {"ijepa": "IJepaModel", "dino": "Dinov2Model"}[name]
    with torch.no_grad():
        ours = model.encoder(inputs["pixel_values"])  # the EMA target, the published encoder
        small = model.encoder(inputs["small"], interpolate_pos_encoding=True)
    torch.testing.assert_close(native["last_hidden_state"], ours.last_hidden_state, atol=ATOL, rtol=0)
    # Other resolutions: both resize the position table bicubically.
    torch.testing.assert_close(native["small_last_hidden_state"], small.last_hidden_state, atol=ATOL, rtol=0)
    if name == "dino":  # the layer-normed CLS token in both
        torch.testing.assert_close(native["pooler_output"], ours.pooler_output, atol=ATOL, rtol=0)
    else:  # IJepaModel has no pooler; ours is the mean of the patch tokens
        assert native["pooler_output"] is None
        torch.testing.assert_close(native["last_hidden_state"].mean(1), ours.pooler_output, atol=ATOL, rtol=0)


def test_mae_pretraining_outputs_match_native_model(exported):
    model, native, inputs = exported["models"]["mae"], exported["native"]["mae"], exported["inputs"]
    assert (native["model"], native["encoder"]) == ("ViTMAEForPreTraining", "ViTMAEModel")
    with torch.no_grad():
        ours = model(inputs["pixel_values"], noise=inputs["noise"])
        encoder = model.encoder(inputs["pixel_values"])
    torch.testing.assert_close(native["loss"], ours.loss, atol=ATOL, rtol=0)
    torch.testing.assert_close(native["logits"], ours.logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(native["mask"], ours.mask.float(), atol=0, rtol=0)
    # Without masking and with the patches kept in raster order, ViTMAEModel is our encoder.
    torch.testing.assert_close(native["encoder_last_hidden_state"], encoder.last_hidden_state, atol=ATOL, rtol=0)


def test_mae_position_tables_are_the_ones_vitmae_computes(exported):
    native = exported["native"]["mae"]
    reference = ViTMAEForPreTraining.from_pretrained(exported["root"] / "out" / "mae")
    # transformers 5.24 leaves both tables at zero after `ViTMAEForPreTraining(config)` (the encoder's sin-cos init
    # returns early once the patch projection is initialised; `_init_weights` zeroes `decoder_pos_embed`), so run
    # its sin-cos routines explicitly.
    embeddings, decoder = reference.vit.embeddings, reference.decoder
    embeddings.patch_embeddings.projection._is_hf_initialized = False
    for parameter in (embeddings.position_embeddings, decoder.decoder_pos_embed):
        parameter._is_hf_initialized = False
    with torch.no_grad():
        embeddings.position_embeddings.zero_()
        decoder.decoder_pos_embed.zero_()
        embeddings.initialize_weights()
        decoder.initialize_weights(NUM_PATCHES)
    assert embeddings.position_embeddings.abs().sum() > 0 and decoder.decoder_pos_embed.abs().sum() > 0
    torch.testing.assert_close(native["position_embeddings"], embeddings.position_embeddings, atol=1e-6, rtol=0)
    torch.testing.assert_close(native["decoder_pos_embed"], decoder.decoder_pos_embed, atol=1e-6, rtol=0)


def test_native_image_processor_matches_ours(exported):
    image = exported["inputs"]["image"]
    for name in ("ijepa", "mae", "dino"):
        native = exported["native"][name]
        assert native["processor"] == "ViTImageProcessor"
        folder = exported["root"] / "src" / name
        ours = (
            SSLImageProcessor.from_pretrained(folder)
            if name != "dino"
            else SSLImageProcessor(size={"height": 32, "width": 32})
        )
        expected = ours(images=[image], return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(native["processed"], expected, atol=1e-6, rtol=0)


def test_export_writes_safetensors_in_the_official_key_layout(exported):
    folder = exported["root"] / "out" / "mae"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    with safe_open(folder / "model.safetensors", framework="pt") as handle:
        keys = set(handle.keys())
    # The layout of facebook/vit-mae-base, which transformers 4 loads too (5.24 alone writes `decoder_encoder.layer`).
    for key in (
        "vit.encoder.layer.1.attention.attention.query.weight",
        "decoder.decoder_layers.0.attention.attention.query.weight",
        "decoder.decoder_layers.0.output.dense.bias",
        "decoder.decoder_pos_embed",
    ):
        assert key in keys
    assert not any("decoder_encoder" in key for key in keys)


def test_non_square_ijepa_exports():
    model = _perturbed(IJEPASSLModel(tiny_ijepa_config(image_size=[32, 16])))
    pixels = torch.randn(2, 3, 32, 16)
    with torch.no_grad():
        torch.testing.assert_close(
            to_transformers(model)(pixel_values=pixels).last_hidden_state,
            model(pixels).last_hidden_state,
            atol=ATOL,
            rtol=0,
        )


@pytest.mark.parametrize(
    "model, format, message",
    [
        (lambda: IJEPASSLModel(tiny_ijepa_config(num_register_tokens=2)), "transformers", "no register tokens"),
        (lambda: IJEPASSLModel(tiny_ijepa_config(use_cls_token=True)), "transformers", "IJepaModel has no CLS"),
        (lambda: MAESSLForPreTraining(tiny_mae_config(image_size=[32, 16])), "transformers", "square `image_size`"),
        (lambda: MAESSLModel(tiny_mae_config()), "transformers-pretraining", "without its decoder"),
        (lambda: DINOSSLForPreTraining(tiny_dino_config(patch_size=[4, 2])), "transformers", "square `patch_size`"),
        (lambda: DINOSSLForPreTraining(tiny_dino_config(pooling="mean")), "transformers", "pools with 'mean'"),
        (lambda: DINOSSLForPreTraining(tiny_dino_config(intermediate_size=48)), "transformers", "mlp_ratio"),
        (lambda: IJEPASSLModel(tiny_ijepa_config()), "transformers-pretraining", "exportable model types"),
    ],
)
def test_what_the_native_class_cannot_represent_is_refused(model, format, message):
    with pytest.raises(ValueError, match=message):
        to_transformers(model(), format)


def test_encoder_only_mae_folder_is_refused(tmp_path):
    MAESSLModel(tiny_mae_config()).save_pretrained(tmp_path / "encoder")
    with pytest.raises(ValueError, match="encoder-only .* cannot give `ViTMAEForPreTraining`"):
        export_to_transformers(str(tmp_path / "encoder"), str(tmp_path / "out"), "transformers-pretraining")


def test_mae_encoder_export_gives_deterministic_features_in_the_feature_pipeline(exported, tmp_path):
    """`--format transformers` of MAE is the encoder alone as a plain ViTModel: transformers' feature-extraction
    pipeline gives every patch of the image, the same on every call and equal to our encoder (ViTMAEModel would hide
    75% of the patches at random)."""
    from PIL import Image
    from transformers import pipeline

    result = export_to_transformers(str(exported["root"] / "src" / "mae"), str(tmp_path / "mae-encoder"))
    assert result.target == "ViTModel"
    extractor = pipeline("image-feature-extraction", model=result.output_dir, framework="pt")
    image = Image.fromarray(torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8).numpy())
    first, second = torch.tensor(extractor(image)), torch.tensor(extractor(image))
    assert first.shape == (1, 1 + NUM_PATCHES, 32) and torch.equal(first, second)
    model = exported["models"]["mae"]
    pixels = extractor.image_processor(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        torch.testing.assert_close(first, model.encoder(pixels).last_hidden_state, atol=ATOL, rtol=0)


def test_export_refuses_its_own_input_folder(exported, tmp_path):
    source = exported["root"] / "src" / "ijepa"
    for output in (source, source / "inside"):
        with pytest.raises(ValueError, match="would overwrite what is being read"):
            export_to_transformers(str(source), str(output))
    assert (source / "model.safetensors").exists()


def test_unknown_model_type_is_refused(tmp_path):
    ViTConfig().save_pretrained(tmp_path / "vit")
    with pytest.raises(ValueError, match=r"holds a `vit` model, not an hf_jepa one"):
        export_to_transformers(str(tmp_path / "vit"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="no config.json"):
        export_to_transformers(str(tmp_path / "missing"), str(tmp_path / "out"))


def test_cli_export(exported, tmp_path, capsys):
    out = tmp_path / "native"
    code = main(
        ["export", "--model", str(exported["root"] / "src" / "dino"), "--format", "transformers"]
        + ["--output_dir", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Wrote Dinov2Model" in printed and f"AutoModel.from_pretrained({str(out)!r})" in printed
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {p.name for p in out.iterdir()}


def test_cli_export_errors(tmp_path, capsys):
    ViTConfig().save_pretrained(tmp_path / "vit")
    assert main(["export", "--model", str(tmp_path / "vit"), "--output_dir", str(tmp_path / "out")]) == 1
    assert "hf-jepa export: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "--model", str(tmp_path / "vit"), "--output_dir", str(tmp_path), "--format", "onnx"])
