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


def test_unknown_method_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", "--method", "byol2", "--output_dir", str(tmp_path)])
    assert "invalid choice: 'byol2'" in capsys.readouterr().err


def test_folder_of_another_model_is_refused(tmp_path, capsys):
    ViTModel(
        ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(tmp_path / "vit")
    assert main(["evaluate", "--model", str(tmp_path / "vit")]) == 1
    assert "`vit` is not an hf_jepa model type" in capsys.readouterr().err
    code = main(["pretrain", "--model_name_or_path", str(tmp_path / "vit"), "--output_dir", str(tmp_path / "o")])
    assert code == 1 and "holds a `vit` model" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "missing")]) == 1
    assert "no config.json" in capsys.readouterr().err


def test_bad_overrides_and_empty_folder_are_clear_errors(tmp_path, capsys):
    assert main(["pretrain", "--output_dir", str(tmp_path), "--config_overrides", "hiden_size=3"]) == 1
    assert "has no field 'hiden_size'" in capsys.readouterr().err
    (tmp_path / "images").mkdir()
    assert main(["pretrain", "--output_dir", str(tmp_path), "--dataset", str(tmp_path / "images")]) == 1
    assert "no image files" in capsys.readouterr().err


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "hf_jepa.cli", "pretrain", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for flag in ("--method", "--dataset", "--learning_rate", "--ema_momentum", "--config_overrides"):
        assert flag in out.stdout
    top = subprocess.run([sys.executable, "-m", "hf_jepa.cli"], capture_output=True, text=True)
    assert top.returncode == 2 and "pretrain" in top.stdout


def test_full_scale_recipe_parses_to_the_official_configuration():
    import shlex
    from pathlib import Path

    from hf_jepa import IJepaSSLConfig
    from hf_jepa.cli import parse_overrides, parse_pretrain_args

    script = (Path(__file__).parents[1] / "training" / "ijepa_vith14_in1k.sh").read_text()
    command = script[script.index("pretrain \\") :].replace("\\\n", " ")
    argv = shlex.split(command.split("\n")[0])[1:]
    substitutions = {"$IMAGENET": "/data/imagenet", "$PER_DEVICE_BATCH": "256"}
    argv = ["out" if a.startswith("${OUTPUT_DIR") else substitutions.get(a, a) for a in argv]
    model_args, data_args, training_args = parse_pretrain_args(argv + ["--use_cpu"])  # bf16 needs it without a GPU
    config = IJepaSSLConfig(**parse_overrides(model_args.config_overrides, IJepaSSLConfig))
    assert config.grid_size == (16, 16) and config.hidden_size == 1280 and config.num_hidden_layers == 32
    assert (config.predictor_hidden_size, config.predictor_num_hidden_layers) == (384, 12)
    assert (training_args.weight_decay, training_args.weight_decay_end) == (0.04, 0.4)
    assert (training_args.ema_momentum, training_args.ema_momentum_end) == (0.996, 1.0)
    assert training_args.bf16 and training_args.max_steps == 187500 and training_args.warmup_steps == 25000
    assert tuple(data_args.crop_scale) == (0.3, 1.0) and data_args.horizontal_flip is False
