"""Hugging Face Space entry point of the hf_jepa demo (`python app.py`, or `python demos/app.py` locally).

The models come from the `HF_JEPA_DEMO_MODELS` environment variable (folders or Hub ids, separated by commas or
newlines) or else from the `models:` list in this folder's README.md metadata. `HF_JEPA_DEMO_ALLOW_LOADING=1` lets
visitors load other models and gallery folders (it reads the server's disk: leave it off on a public Space).
The app itself is `hf_jepa.demo.app.build_app`, shared with `hf-jepa demo`.
"""

import os
from pathlib import Path

from huggingface_hub import metadata_load

from hf_jepa.demo.app import build_app, parse_model_list

MODELS_VARIABLE = "HF_JEPA_DEMO_MODELS"
ALLOW_LOADING_VARIABLE = "HF_JEPA_DEMO_ALLOW_LOADING"
README = Path(__file__).with_name("README.md")


def space_models() -> list[str]:
    """The models to show: from the environment, else from the README's `models:` metadata."""
    models = parse_model_list(os.environ.get(MODELS_VARIABLE, ""))
    if not models and README.exists():
        models = list((metadata_load(README) or {}).get("models") or [])
    if not models:
        raise SystemExit(
            f"No models to show: set {MODELS_VARIABLE} (e.g. 'you/ijepa-digits,you/mae-digits') or list Hub ids "
            f"under `models:` in {README}."
        )
    return models


demo = build_app(space_models(), allow_loading=os.environ.get(ALLOW_LOADING_VARIABLE, "") == "1")

if __name__ == "__main__":
    demo.launch()
