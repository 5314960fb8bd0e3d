"""The `hf-jepa` main job at a few steps, `evaluate`, and the errors a user sees."""

import json
import subprocess
import sys

import pytest
import torch
from transformers import AutoImageProcessor, AutoModel, ViTConfig, ViTModel

from hf_jepa.cli import main

TINY = (
    "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,predictor_hidden_size=16,predictor_num_hidden_layers=1"
)


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(
        [
            "pretrain",
            "--output_dir",
            str(out),
            "--max_steps",
            "3",
            "--per_device_train_batch_size",
            "16",
            "--config_overrides",
            TINY,
            "--disable_tqdm",
            "true",
            "--logging_steps",
            "1",
            "--eval_strategy",
            "steps",
            "--eval_steps",
            "2",
        ]
    )
    assert code == 0
    return out


def test_pretrain_writes_results_model_and_processor(trained_dir, capsys):
    results = json.loads((trained_dir / "eval_results.json").read_text())
    for key in ("knn_top1", "linear_probe_top1", "random_init_knn_top1", "random_init_linear_probe_top1"):
        assert 0.0 <= results[key] <= 1.0
    assert results["steps"] == 3 and results["method"] == "ijepa" and results["num_eval"] == 360
    encoder = AutoModel.from_pretrained(trained_dir)
    processor = AutoImageProcessor.from_pretrained(trained_dir)
    assert encoder.config.hidden_size == 32 and processor.size == {"height": 32, "width": 32}
    pixels = processor(images=[torch.zeros(3, 8, 8, dtype=torch.uint8)], return_tensors="pt")["pixel_values"]
    assert encoder(pixels).pooler_output.shape == (1, 32)


def test_evaluate_prints_the_same_metrics(trained_dir, capsys):
    assert main(["evaluate", "--model", str(trained_dir)]) == 0
    printed = capsys.readouterr().out
    results = json.loads(printed[printed.index("{") : printed.rindex("}") + 1])
    saved = json.loads((trained_dir / "eval_results.json").read_text())
    assert results["knn_top1"] == pytest.approx(saved["knn_top1"], abs=1e-6)
    assert "random init" in printed


def test_continue_from_a_saved_folder(trained_dir, tmp_path):
    code = main(
        [
            "pretrain",
            "--model_name_or_path",
            str(trained_dir),
            "--output_dir",
            str(tmp_path),
            "--max_steps",
            "1",
            "--per_device_train_batch_size",
            "8",
            "--disable_tqdm",
            "true",
        ]
    )
    assert code == 0 and (tmp_path / "eval_results.json").exists()


METHOD_OVERRIDES = {
    "mae": "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,decoder_hidden_size=16,"
    "decoder_num_hidden_layers=1,decoder_num_attention_heads=2",
    "dino": "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,head_hidden_size=32,head_bottleneck_size=16,"
    "head_output_size=64,num_local_crops=2",
}


@pytest.mark.parametrize("method", ["mae", "dino"])
def test_every_method_runs_the_main_job_and_exports(method, tmp_path):
    out = tmp_path / method
    argv = ["pretrain", "--method", method, "--output_dir", str(out), "--max_steps", "2"]
    argv += ["--per_device_train_batch_size", "8", "--config_overrides", METHOD_OVERRIDES[method]]
    argv += ["--disable_tqdm", "true", "--eval_strategy", "steps", "--eval_steps", "2"]
    assert main(argv) == 0
    results = json.loads((out / "eval_results.json").read_text())
    assert results["method"] == method and results["steps"] == 2
    assert 0.0 <= results["knn_top1"] <= 1.0 and "random_init_knn_top1" in results
    encoder = AutoModel.from_pretrained(out)
    assert encoder.config.model_type == f"{method}_ssl" and encoder.config.hidden_size == 32
    assert main(["export", "--model", str(out), "--format", "transformers", "--output_dir", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / "model.safetensors").exists()


def test_unknown_method_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", "--method", "byol2", "--output_dir", str(tmp_path)])
    assert "invalid choice: 'byol2'" in capsys.readouterr().err


def test_folder_of_another_model_is_refused(tmp_path, capsys):
    ViTModel(
        ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(tmp_path / "vit")
    assert main(["evaluate", "--model", str(tmp_path / "vit")]) == 1
    assert "holds a `vit` model, not an hf_jepa one" in capsys.readouterr().err
    code = main(["pretrain", "--model_name_or_path", str(tmp_path / "vit"), "--output_dir", str(tmp_path / "o")])
    assert code == 1 and "holds a `vit` model" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "missing")]) == 1
    assert "no config.json" in capsys.readouterr().err


def test_bad_overrides_and_empty_folder_are_clear_errors(tmp_path, capsys):
    assert main(["pretrain", "--output_dir", str(tmp_path), "--config_overrides", "hiden_size=3"]) == 1
    assert "has no field 'hiden_size'" in capsys.readouterr().err
    (tmp_path / "images").mkdir()
    assert main(["pretrain", "--output_dir", str(tmp_path / "o"), "--dataset", str(tmp_path / "images")]) == 1
    assert "no image files" in capsys.readouterr().err


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "hf_jepa.cli", "pretrain", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for flag in ("--method", "--dataset", "--learning_rate", "--ema_momentum", "--config_overrides"):
        assert flag in out.stdout
    top = subprocess.run([sys.executable, "-m", "hf_jepa.cli"], capture_output=True, text=True)
    assert top.returncode == 2 and "pretrain" in top.stdout


def recipe_arguments(name: str):
    """The `hf-jepa pretrain` arguments of a full-scale recipe in training/, parsed as the CLI would."""
    import shlex
    from pathlib import Path

    from hf_jepa.cli import parse_pretrain_args

    script = (Path(__file__).parents[1] / "training" / name).read_text()
    command = script[script.index("pretrain \\") :].replace("\\\n", " ")
    argv = shlex.split(command.split("\n")[0])[1:]
    substitutions = {"$IMAGENET": "/data/imagenet", "$VIDEOS": "/data/videos", "$PER_DEVICE_BATCH": "256"}
    argv = ["out" if a.startswith("${OUTPUT_DIR") else substitutions.get(a, a) for a in argv]
    return parse_pretrain_args(argv + ["--use_cpu"])  # bf16 needs it without a GPU


def recipe_config(name: str):
    from hf_jepa import get_method
    from hf_jepa.cli.arguments import parse_overrides

    model_args, data_args, training_args = recipe_arguments(name)
    config_class = get_method(model_args.method).config_class
    fields = parse_overrides(model_args.config_overrides, config_class)
    if model_args.backbone:
        fields["backbone_config"] = model_args.backbone
    return config_class(**fields), data_args, training_args


def test_full_scale_recipe_parses_to_the_official_configuration():
    config, data_args, training_args = recipe_config("ijepa_vith14_in1k.sh")
    assert config.grid_size == (16, 16) and config.hidden_size == 1280 and config.num_hidden_layers == 32
    assert (config.predictor_hidden_size, config.predictor_num_hidden_layers) == (384, 12)
    assert (training_args.weight_decay, training_args.weight_decay_end) == (0.04, 0.4)
    assert (training_args.ema_momentum, training_args.ema_momentum_end) == (0.996, 1.0)
    assert training_args.bf16 and training_args.max_steps == 187500 and training_args.warmup_steps == 25000
    assert tuple(data_args.crop_scale) == (0.3, 1.0) and data_args.horizontal_flip is False


def test_mae_recipe_parses_to_the_official_configuration():
    config, data_args, training_args = recipe_config("mae_vitb16_in1k.sh")
    assert config.model_type == "mae_ssl" and config.grid_size == (14, 14) and config.hidden_size == 768
    assert (config.decoder_hidden_size, config.decoder_num_hidden_layers, config.decoder_num_attention_heads) == (
        512,
        8,
        16,
    )
    assert config.mask_ratio == 0.75 and config.norm_pix_loss is True
    assert (training_args.adam_beta2, training_args.weight_decay, training_args.weight_decay_end) == (0.95, 0.05, None)
    assert training_args.max_steps == 249600 and training_args.warmup_steps == 12480
    assert tuple(data_args.crop_scale) == (0.2, 1.0) and data_args.horizontal_flip is True


def test_dino_recipe_parses_to_the_official_configuration():
    config, data_args, training_args = recipe_config("dino_vitb16_in1k.sh")
    assert config.model_type == "dino_ssl" and config.hidden_size == 768 and config.head_output_size == 65536
    assert (config.head_hidden_size, config.head_bottleneck_size) == (2048, 256)
    assert (config.num_local_crops, config.local_crop_size, config.drop_path_rate) == (8, 96, 0.1)
    assert (config.warmup_teacher_temperature, config.teacher_temperature) == (0.04, 0.07)
    assert training_args.ema_schedule == "cosine" and training_args.max_grad_norm == 3.0
    assert config.teacher_temperature_warmup_steps == 37530 and config.freeze_last_layer_steps == 1251
    assert (training_args.weight_decay, training_args.weight_decay_end) == (0.04, 0.4)
    assert tuple(data_args.crop_scale) == (0.4, 1.0)


def test_vjepa2_recipe_parses_to_the_official_configuration():
    config, data_args, training_args = recipe_config("vjepa2_vitl16_256px_16f.sh")
    assert config.model_type == "vjepa_ssl" and config.token_grid_size == (8, 16, 16)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (1024, 24, 16)
    assert config.position_embedding_type == "rope" and config.tubelet_size == 2
    assert (
        config.predictor_hidden_size,
        config.predictor_num_hidden_layers,
        config.predictor_num_attention_heads,
    ) == (
        384,
        12,
        12,
    )
    assert [m["num_blocks"] for m in config.mask_sets] == [8, 2] and config.loss_exponent == 1.0
    assert (training_args.ema_momentum, training_args.ema_momentum_end) == (0.99925, 0.99925)
    assert (training_args.learning_rate, training_args.warmup_steps) == (5.25e-4, 12000)
    assert (training_args.weight_decay, training_args.weight_decay_end) == (0.04, 0.04)
    assert training_args.per_device_train_batch_size == 24 and training_args.gradient_checkpointing
    assert data_args.frames_per_clip == 16 and tuple(data_args.crop_scale) == (0.3, 1.0)


def test_method_defaults_follow_each_official_recipe():
    from hf_jepa import get_method
    from hf_jepa.cli import parse_pretrain_args

    _, _, ijepa = parse_pretrain_args(["--output_dir", "out"])
    _, _, mae = parse_pretrain_args(["--output_dir", "out", "--method", "mae"])
    _, _, dino = parse_pretrain_args(["--method=dino", "--output_dir", "out"])
    assert ijepa.ema_schedule == "linear" and ijepa.weight_decay_end == 0.4 and ijepa.adam_beta2 == 0.999
    assert mae.weight_decay == 0.05 and mae.weight_decay_end is None and mae.adam_beta2 == 0.95
    assert dino.ema_schedule == "cosine" and dino.max_grad_norm == 3.0
    dino_defaults = get_method("dino").default_config
    assert dino_defaults["freeze_last_layer_steps"] > 0 and dino_defaults["teacher_temperature_warmup_steps"] > 0
    _, _, overridden = parse_pretrain_args(["--method", "dino", "--output_dir", "out", "--max_grad_norm", "1"])
    assert overridden.max_grad_norm == 1.0  # the command line wins over the method's defaults
