"""The package's layers: imports run one way (models at the ground; engine and data above them and blind to the
method table, the Hub and the CLI; registry, evaluation, hub and demo above; cli on top), and `import hf_jepa` stays
light."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hf_jepa"
# What each layer may import from the package (besides itself).
ALLOWED = {
    "models": set(),
    "engine": set(),
    "data": {"models"},  # the image-text processor (tokenizer + image processor) the collators use
    "registry": {"models", "engine"},
    "evaluation": {"data"},
    "hub": {"models", "registry", "data", "engine"},
    "demo": {"models", "registry", "data", "engine", "evaluation", "world"},  # world: the World model tab
    "evaluation_image_text": {"data", "evaluation"},
    "cli": {"models", "engine", "data", "registry", "evaluation", "evaluation_image_text", "hub", "demo"},
    # Commands that drive `hf-jepa pretrain` itself or its argument helpers sit above the CLI (which names them by
    # import path only).
    "finetune": {"models", "engine", "data", "registry", "evaluation", "hub", "cli"},
    "compare": {"models", "engine", "data", "registry", "evaluation", "hub", "cli"},
    # World models in environments (collect, plan): above the models, data and method table; the CLI names them by
    # import path only.
    "world": {"models", "data", "registry"},
}


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_layers(path: Path) -> set[str]:
    """The top-level parts of hf_jepa that the file imports (relative or absolute)."""
    layers = set()
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]  # e.g. ("hf_jepa", "hub", "converters")
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                parts = (*base, *(node.module or "").split(".")) if node.module else base
                names = [(*parts, a.name) for a in node.names] if not node.module else [parts]
            else:
                names = [tuple((node.module or "").split("."))]
        elif isinstance(node, ast.Import):
            names = [tuple(a.name.split(".")) for a in node.names]
        else:
            continue
        for parts in names:
            if len(parts) > 1 and parts[0] == "hf_jepa":
                layers.add(parts[1])
    return layers


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_imports_run_one_way(path):
    layer = _layer(path)
    assert layer in ALLOWED, f"{path}: a new top-level module; give it a place in the layers (README, ALLOWED)"
    wrong = _imported_layers(path) - ALLOWED[layer] - {layer}
    assert not wrong, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(wrong)}, above or beside it"


def test_models_folder_is_flat_for_remote_code():
    assert not [p for p in (PACKAGE / "models").iterdir() if p.is_dir() and p.name != "__pycache__"]


def test_import_hf_jepa_loads_no_trainer_data_video_or_demo():
    heavy = ["gradio", "av", "datasets", "transformers.trainer", "hf_jepa.engine.trainer", "hf_jepa.hub", "sklearn"]
    code = f"import sys, hf_jepa; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    # The lazy public names still resolve.
    code = "import hf_jepa; print(hf_jepa.SSLTrainer.__name__, hf_jepa.MultiCropViews.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["SSLTrainer", "MultiCropViews"]
