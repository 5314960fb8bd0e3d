"""`hf-jepa export --format transformers` of SigLIP and CLIP: transformers' own `SiglipModel` / `CLIPModel` with
processor and tokenizer, which `pipeline("zero-shot-image-classification")` runs in a process where hf_jepa cannot
be imported, giving the probabilities our model gives."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from hf_jepa import METHODS
from hf_jepa.hub.export import export_to_transformers
from tests.methods import save_processors, tiny_config

LABELS = ["handwritten zero", "thick digit one", "thin digit two"]

# Runs in a fresh interpreter: any attempt to import hf_jepa fails, so only transformers' own classes can load.
NATIVE_PIPELINE = """
import json, sys
sys.modules["hf_jepa"] = None
import numpy as np
from PIL import Image
from transformers import AutoProcessor, pipeline
folders, labels, images = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
images = [Image.fromarray(np.array(image, dtype=np.uint8)) for image in images]
answers = {}
for folder in folders:
    classifier = pipeline("zero-shot-image-classification", model=folder)
    results = classifier(images, candidate_labels=labels)
    processor = AutoProcessor.from_pretrained(folder)
    answers[folder] = {"scores": [{r["label"]: r["score"] for r in result} for result in results],
                       "model": type(classifier.model).__name__, "processor": type(processor).__name__}
print(json.dumps(answers))
"""


def _images(count=3, seed=0) -> list[np.ndarray]:
    generator = np.random.default_rng(seed)
    low = generator.integers(0, 256, size=(count, 4, 4, 3)).astype(np.uint8)
    return [np.array(Image.fromarray(image).resize((32, 32), Image.BILINEAR)) for image in low]


@torch.no_grad()
def _our_probabilities(model, processor, images, method) -> list[dict]:
    """What our model says: the pipeline's prompts (its default template) through our processor and towers."""
    prompts = [f"This is a photo of {label}." for label in LABELS]
    pixels = processor(images=[Image.fromarray(image) for image in images])["pixel_values"]
    text = {k: v for k, v in processor.tokenize(prompts).items() if k in ("input_ids", "attention_mask")}
    image_embeds = torch.nn.functional.normalize(model.image_features(pixels), dim=-1)
    text_embeds = torch.nn.functional.normalize(model.text_features(**text), dim=-1)
    logits = model.logits(image_embeds, text_embeds)
    probabilities = logits.sigmoid() if method == "siglip" else logits.softmax(dim=-1)
    return [dict(zip(LABELS, row.tolist())) for row in probabilities]


def _exported(method_name: str, folder) -> tuple:
    """A tiny model with non-trivial weights (temperature and bias away from their init), saved with its processor and
    exported; returns the model, our processor and the export's result."""
    from transformers import AutoProcessor

    method = METHODS[method_name]
    config = tiny_config(method)
    torch.manual_seed(0)
    model = method.pretraining_class(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
        model.logit_scale.fill_(1.5)
        if hasattr(model, "logit_bias"):
            model.logit_bias.fill_(0.3)  # at -10 every sigmoid would be ~0
    model.save_pretrained(folder / "ours")
    save_processors(method, config, folder / "ours")
    result = export_to_transformers(str(folder / "ours"), str(folder / "native"))
    return model, AutoProcessor.from_pretrained(folder / "ours"), result


def test_exported_folders_give_our_zero_shot_probabilities_without_hf_jepa(tmp_path):
    images = _images()
    expected, folders = {}, []
    for method_name in ("siglip", "clip"):
        model, processor, result = _exported(method_name, tmp_path / method_name)
        assert result.target == ("SiglipModel" if method_name == "siglip" else "CLIPModel")
        expected[method_name] = _our_probabilities(model, processor, images, method_name)
        folders.append(str(tmp_path / method_name / "native"))
    # One fresh interpreter for both folders (importing the pipeline is most of the cost).
    command = [sys.executable, "-c", NATIVE_PIPELINE, json.dumps(folders), json.dumps(LABELS)]
    command.append(json.dumps([image.tolist() for image in images]))
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    answers = json.loads(completed.stdout.strip().splitlines()[-1])
    for method_name, folder in zip(("siglip", "clip"), folders):
        native, ours = answers[folder], expected[method_name]
        assert native["model"] == ("SiglipModel" if method_name == "siglip" else "CLIPModel")
        assert native["processor"] == ("SiglipProcessor" if method_name == "siglip" else "CLIPProcessor")
        for got, wanted in zip(native["scores"], ours, strict=True):
            assert got.keys() == wanted.keys()
            for label in LABELS:
                torch.testing.assert_close(got[label], wanted[label], rtol=1e-4, atol=1e-6, msg=label)
        # The probabilities really depend on the image and the prompt (a misplaced weight could not hide).
        assert len({round(score, 4) for row in ours for score in row.values()}) > 6
    assert all(abs(sum(row.values()) - 1) < 1e-5 for row in expected["clip"])  # CLIP: a softmax over labels
    assert not all(abs(sum(row.values()) - 1) < 1e-3 for row in expected["siglip"])  # SigLIP: independent sigmoids


def test_exporting_the_image_tower_alone_is_refused():
    from hf_jepa.hub.export_image_text import siglip_to_transformers

    model = METHODS["siglip"].model_class(tiny_config(METHODS["siglip"]))
    with pytest.raises(ValueError, match="holds both towers: export the pretraining model"):
        siglip_to_transformers(model)
