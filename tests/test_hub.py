"""Model cards filled from a run: metadata, numbers, loading snippets, round-trip through huggingface_hub."""

import json

import pytest
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from hf_jepa.cli import main
from hf_jepa.hub.cards import model_card, template_path, write_model_card
from hf_jepa.registry import METHODS
from tests.tiny import tiny_dino_config, tiny_ijepa_config, tiny_mae_config

CONFIGS = {"ijepa": tiny_ijepa_config, "mae": tiny_mae_config, "dino": tiny_dino_config}
# What `hf-jepa export --format transformers` writes, which the card's plain-transformers snippet must load.
NATIVE = {"ijepa": "IJepaModel", "mae": "ViTModel", "dino": "Dinov2Model"}
ARXIV = {"ijepa": "2301.08243", "mae": "2111.06377", "dino": "2104.14294"}


def results_for(method: str) -> dict:
    return {
        "knn_top1": 0.6721,
        "linear_probe_top1": 0.9061,
        "random_init_knn_top1": 0.5061,
        "random_init_linear_probe_top1": 0.8441,
        "feature_std": 0.41,
        "effective_rank": 17.2,
        "beats_random_init": True,
        "num_train": 1437,
        "num_eval": 360,
        "method": method,
        "dataset": "digits",
        "steps": 300,
        "train_batch_size": 128,
    }


def saved(tmp_path, method: str, with_results: bool = True):
    folder = tmp_path / method
    METHODS[method].pretraining_class(CONFIGS[method]()).save_pretrained(folder)
    if with_results:
        (folder / "eval_results.json").write_text(json.dumps(results_for(method)))
    return folder


def metrics_by_name(card: ModelCard) -> dict:
    return {result.metric_name: result.metric_value for result in card.data.eval_results}


@pytest.mark.parametrize("method", ["ijepa", "mae", "dino"])
def test_card_from_a_run(method, tmp_path):
    folder = saved(tmp_path, method)
    card = model_card(str(folder))
    data = card.data
    assert data.library_name == "hf_jepa" and data.license == "apache-2.0"
    assert data.pipeline_tag == "image-feature-extraction"
    assert {"self-supervised", method, "vision", "image-feature-extraction"} <= set(data.tags)
    assert data.datasets is None  # the embedded digits are not a Hub dataset
    # The run's numbers, in the model-index and in the body; the random-init baseline named as such.
    metrics = metrics_by_name(card)
    assert metrics["kNN top-1 (k=20, cosine)"] == 0.6721 and metrics["Linear-probe top-1"] == 0.9061
    baseline = {name: value for name, value in metrics.items() if name.startswith("Random-init baseline")}
    assert sorted(baseline.values()) == [0.5061, 0.8441]
    assert {r.metric_config for r in data.eval_results if r.metric_value in (0.5061, 0.8441)} == {"random_init"}
    for number in ("0.672", "0.906", "0.506", "0.844", "300 optimizer steps of batch 128", "1,437"):
        assert number in card.text
    # Method, architecture from the config, the loading snippets with the folder's classes, citation.
    method_class = METHODS[method]
    assert f"arxiv.org/abs/{ARXIV[method]}" in card.text and "@inproceedings" in card.text
    assert "width 32" in card.text and "depth 2" in card.text and "4 px patches" in card.text
    assert "import hf_jepa" in card.text and f'AutoModel.from_pretrained("{folder}")' in card.text
    for cls in (method_class.model_class, method_class.pretraining_class, NATIVE[method]):
        assert (cls if isinstance(cls, str) else cls.__name__) in card.text
    assert card.text.index("import hf_jepa") < card.text.index(f"{NATIVE[method]}.from_pretrained")
    assert "{{" not in str(card) and "{%" not in str(card)
    # Round-trips through huggingface_hub's parser; the model-index parses back into the same EvalResults.
    reparsed = ModelCard(str(card))
    assert reparsed.data.to_dict() == data.to_dict()
    _, parsed = model_index_to_eval_results(reparsed.data.to_dict()["model-index"])
    assert parsed == data.eval_results


def test_method_specific_facts(tmp_path):
    assert "uniform" in model_card(str(saved(tmp_path, "dino"))).text  # DINO's teacher collapse at tiny scale
    assert "decoder" in model_card(str(saved(tmp_path, "mae"))).text.lower()
    assert "Predictor:** a narrow ViT of width 16" in model_card(str(saved(tmp_path, "ijepa"))).text


def test_no_results_no_numbers(tmp_path):
    card = model_card(str(saved(tmp_path, "ijepa", with_results=False)))
    assert card.data.eval_results is None and "model-index" not in str(card)
    assert "No evaluation was recorded" in card.text and "0." not in card.text.split("## Evaluation")[1][:200]
    assert ModelCard(str(card)).data.to_dict() == card.data.to_dict()


def test_explicit_results_and_hub_dataset(tmp_path):
    folder = saved(tmp_path, "mae", with_results=False)
    results = dict(results_for("mae"), dataset="someone/cats")
    path = write_model_card(str(folder), results)
    card = ModelCard.load(path)
    assert card.data.datasets == ["someone/cats"] and card.data.eval_results[0].dataset_type == "someone/cats"


def test_unknown_model_type_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(ValueError, match="not an hf_jepa model type"):
        model_card(str(tmp_path))
    with pytest.raises(ValueError, match="no config.json"):
        model_card(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="no_such_method.md"):
        template_path("no_such_method.md")


@pytest.mark.parametrize("method", ["ijepa", "dino"])
def test_exported_folder_has_a_plain_transformers_card(method, tmp_path):
    folder = saved(tmp_path, method)
    assert (
        main(
            ["export", "--model", str(folder), "--format", "transformers", "--output_dir", str(tmp_path / "exported")]
        )
        == 0
    )
    card = ModelCard.load(tmp_path / "exported" / "README.md")
    assert card.data.library_name == "transformers" and method in card.data.tags
    assert metrics_by_name(card)["kNN top-1 (k=20, cosine)"] == 0.6721
    text = card.text
    assert text.index(f"{NATIVE[method]}.from_pretrained") < text.index("import hf_jepa")
    assert str(tmp_path / "exported") in text


def test_pretrain_writes_the_card(tmp_path):
    argv = ["pretrain", "--output_dir", str(tmp_path), "--max_steps", "2", "--per_device_train_batch_size", "8"]
    argv += ["--config_overrides", "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,predictor_hidden_size=16"]
    argv += ["--disable_tqdm", "true", "--save_strategy", "no", "--report_to", "none"]
    assert main(argv) == 0
    results = json.loads((tmp_path / "eval_results.json").read_text())
    card = ModelCard.load(tmp_path / "README.md")
    assert metrics_by_name(card)["kNN top-1 (k=20, cosine)"] == round(results["knn_top1"], 4)
    assert "2 optimizer steps of batch 8" in card.text and "ijepa" in card.data.tags
