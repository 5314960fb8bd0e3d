"""Remote-code export: the full model with our own model files, loaded where `import hf_jepa` fails."""

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_jepa import DINOSSLForPreTraining, IJEPASSLForPreTraining, MAESSLForPreTraining, SSLImageProcessor
from hf_jepa.cli import main
from hf_jepa.hub.remote_code import export_remote_code, module_closure, relative_imports
from hf_jepa.registry import default_processor
from tests.methods import ALL_METHODS, encoder_inputs, pretraining_inputs, tiny_config
from tests.tiny import tiny_dino_config, tiny_ijepa_config, tiny_mae_config

BUILDERS = {
    "ijepa": (IJEPASSLForPreTraining, tiny_ijepa_config),
    "mae": (MAESSLForPreTraining, tiny_mae_config),
    "dino": (DINOSSLForPreTraining, tiny_dino_config),
}

# Runs in a fresh interpreter in which hf_jepa cannot be imported at all.
LOADER = """
import sys
sys.modules["hf_jepa"] = None
import torch
from transformers import AutoImageProcessor, AutoModel, AutoModelForPreTraining, AutoVideoProcessor
folder, inputs, out = sys.argv[1:4]
saved = torch.load(inputs, weights_only=True)
encoder = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
full = AutoModelForPreTraining.from_pretrained(folder, trust_remote_code=True).eval()
processor_class = AutoVideoProcessor if "pixel_values_videos" in saved["encoder"] else AutoImageProcessor
processor = processor_class.from_pretrained(folder, trust_remote_code=True)
generator = torch.Generator().manual_seed(int(saved["seed"]))
with torch.no_grad():
    result = {"hidden": encoder(**saved["encoder"]).last_hidden_state, "full_class": type(full).__name__}
    result["loss"] = full(**saved["pretraining"], generator=generator).loss
result["processor_size"] = torch.tensor([processor.size["height"], processor.size["width"]])
assert not any(name == "hf_jepa" or name.startswith("hf_jepa.") for name in sys.modules if sys.modules[name])
torch.save(result, out)
"""


def _saved(method, tmp_path):
    model_class, config = BUILDERS[method]
    torch.manual_seed(0)
    model = model_class(config()).eval()
    folder = tmp_path / method
    model.save_pretrained(folder)
    SSLImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return model, folder


@pytest.mark.parametrize("method", ALL_METHODS)
def test_remote_code_loads_without_hf_jepa_and_gives_our_outputs(method, tmp_path):
    config = tiny_config(method)
    torch.manual_seed(0)
    model = method.pretraining_class(config).eval()
    folder = tmp_path / "ours"
    model.save_pretrained(folder)
    default_processor(method, config).save_pretrained(folder)
    out = tmp_path / "remote"
    files = export_remote_code(str(folder), str(out))
    assert "model.safetensors" in files and Path(inspect.getfile(method.pretraining_class)).name in files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)  # weights in safetensors only

    pretraining = pretraining_inputs(method, config)
    generator = pretraining.pop("generator")
    seed = generator.initial_seed()
    inputs = {"encoder": encoder_inputs(method, config), "pretraining": pretraining, "seed": torch.tensor(seed)}
    torch.save(inputs, tmp_path / "inputs.pt")
    run = subprocess.run(
        [sys.executable, "-c", LOADER, str(out), str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = torch.load(tmp_path / "out.pt", weights_only=True)
    with torch.no_grad():
        expected = model.get_encoder()(**inputs["encoder"]).last_hidden_state
        torch.testing.assert_close(got["hidden"], expected, atol=1e-6, rtol=0)
        assert got["full_class"] == type(model).__name__
        loss = model(**pretraining, generator=torch.Generator().manual_seed(seed)).loss
        torch.testing.assert_close(got["loss"], loss, atol=1e-6, rtol=0)
    assert got["processor_size"].tolist() == list(config.image_shape)


def test_only_our_flat_model_files_are_copied(tmp_path):
    _, folder = _saved("mae", tmp_path)
    out = tmp_path / "remote"
    export_remote_code(str(folder), str(out))
    copied = sorted(p.name for p in out.glob("*.py"))
    # Exactly the closure of relative imports of the classes named in auto_map (no DINO or I-JEPA files).
    assert "modeling_mae.py" in copied and "modeling_dino.py" not in copied and "modeling_ijepa.py" not in copied
    for path in out.glob("*.py"):
        tree = ast.parse(path.read_text())
        absolute = [
            n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and not getattr(n, "level", 0)
        ]
        names = [a.name for n in absolute for a in n.names] + [
            n.module or "" for n in absolute if isinstance(n, ast.ImportFrom)
        ]
        assert not any(name.split(".")[0] == "hf_jepa" for name in names), path.name  # would need hf_jepa installed
        assert all(f"{module}.py" in copied for module in relative_imports(path)), path.name
    auto_map = json.loads((out / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModel"] == "modeling_mae.MAESSLModel"
    assert auto_map["AutoModelForPreTraining"] == "modeling_mae.MAESSLForPreTraining"
    assert json.loads((out / "preprocessor_config.json").read_text())["auto_map"] == {
        "AutoImageProcessor": "image_processing_ssl.SSLImageProcessor"
    }


def test_module_closure_follows_relative_imports_and_refuses_nested_ones(tmp_path):
    (tmp_path / "a.py").write_text("from .b import thing\nimport torch\n")
    (tmp_path / "b.py").write_text("thing = 1\n")
    (tmp_path / "c.py").write_text("from .sub.d import other\n")
    assert [p.name for p in module_closure([tmp_path / "a.py"])] == ["a.py", "b.py"]
    with pytest.raises(ValueError, match="flat folder"):
        module_closure([tmp_path / "c.py"])


def test_never_turns_on_trust_remote_code_for_the_user(tmp_path):
    from transformers import AutoModel

    _, folder = _saved("ijepa", tmp_path)
    out = tmp_path / "remote"
    export_remote_code(str(folder), str(out))
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['hf_jepa'] = None\nfrom transformers import AutoModel\n"
            f"AutoModel.from_pretrained({str(out)!r}, trust_remote_code=False)",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "trust_remote_code" in run.stderr
    assert AutoModel.from_pretrained(out).config.model_type == "ijepa_ssl"  # with hf_jepa imported: no remote code


def test_cli_remote_code_format(tmp_path, capsys):
    _, folder = _saved("dino", tmp_path)
    out = tmp_path / "remote"
    assert main(["export", "--model", str(folder), "--format", "remote-code", "--output_dir", str(out)]) == 0
    assert "trust_remote_code=True" in capsys.readouterr().out
    assert (out / "modeling_dino.py").exists() and (out / "heads.py").exists()
    assert main(["export", "--model", str(tmp_path / "missing"), "--format", "remote-code", "--output_dir", "x"]) == 1
    assert "no config.json" in capsys.readouterr().err
