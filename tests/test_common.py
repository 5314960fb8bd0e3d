"""Every method in the method table, through the same checks: a complete entry, the save / load / Auto round trip,
training that lowers the loss against held targets, resume equal to an uninterrupted run, exports to transformers'
own classes, and the model card. Nothing here names a method: a method added to `METHODS` is tested as it lands."""

import json

import pytest
import torch
from huggingface_hub import ModelCard
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
    AutoVideoProcessor,
)

from hf_jepa import METHODS, SSLTrainer
from hf_jepa.hub.cards import model_card, template_path
from hf_jepa.hub.export import export_to_transformers, exporter_for, to_transformers
from hf_jepa.registry import MODALITIES, default_processor, load_object
from tests.methods import (
    ALL_METHODS,
    MediaDataset,
    encoder_inputs,
    pretraining_inputs,
    save_processors,
    tiny_config,
)
from tests.tiny import tiny_training_args


def _perturbed(model):
    """Non-trivial values everywhere (norms, biases, a target that differs from the online network), so that a
    weight saved, loaded or exported to the wrong place cannot go unnoticed."""
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return model.eval()


@pytest.mark.parametrize("method", ALL_METHODS)
def test_method_entry_is_complete(method):
    assert METHODS[method.name] is method and method.modality in MODALITIES
    assert method.title and method.summary and method.views_help
    for cls in (method.model_class, method.pretraining_class, method.classification_class):
        assert cls.config_class is method.config_class, cls
    assert template_path(method.card_section).endswith(method.card_section)
    for path in [*method.exporters.values(), method.converter, method.prediction_view]:
        assert path is None or load_object(path) is not None, path
    config = method.config_class(**method.default_config)  # the main job's model is a valid config
    views = method.train_views(config, default_processor(method, config))
    assert callable(views)
    with pytest.raises(ValueError, match="Unknown method"):
        from hf_jepa import get_method

        get_method(method.name + "_nope")


@pytest.mark.parametrize("method", ALL_METHODS)
def test_save_load_and_every_auto_class(method, tmp_path):
    config = tiny_config(method)
    model = _perturbed(method.pretraining_class(config))
    model.save_pretrained(tmp_path)
    default_processor(method, config).save_pretrained(tmp_path)

    assert type(AutoConfig.from_pretrained(tmp_path)) is method.config_class
    loaded = AutoModelForPreTraining.from_pretrained(tmp_path)
    assert type(loaded) is method.pretraining_class
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    inputs = pretraining_inputs(method, config)
    with torch.no_grad():
        expected = model(**inputs).loss
        assert torch.equal(loaded.eval()(**pretraining_inputs(method, config)).loss, expected)

    # AutoModel gives the published encoder (the EMA target where there is one), its weights exactly.
    encoder = AutoModel.from_pretrained(tmp_path)
    assert type(encoder) is method.model_class
    published = model.get_encoder()
    for name, value in published.state_dict().items():
        assert torch.equal(encoder.state_dict()[name], value), name
    with torch.no_grad():
        features = encoder.eval()(**encoder_inputs(method, config))
        torch.testing.assert_close(features.last_hidden_state, published(**encoder_inputs(method, config))[0])
    assert features.pooler_output.shape == (2, config.hidden_size)

    auto_classifier = (
        AutoModelForVideoClassification if method.modality == "video" else AutoModelForImageClassification
    )
    classifier = auto_classifier.from_pretrained(tmp_path, num_labels=3)
    assert type(classifier) is method.classification_class
    assert torch.equal(classifier.encoder.embeddings.patch_embeddings.projection.weight,
                       published.embeddings.patch_embeddings.projection.weight)  # fmt: skip
    assert classifier(**encoder_inputs(method, config)).logits.shape == (2, 3)
    auto_processor = AutoVideoProcessor if method.modality == "video" else AutoImageProcessor
    assert type(auto_processor.from_pretrained(tmp_path)) is method.processor_class

    # A pretraining model started from an encoder-only folder starts every copy of the encoder from it.
    encoder.save_pretrained(tmp_path / "encoder")
    restarted = method.pretraining_class.from_pretrained(tmp_path / "encoder")
    for module in restarted.children():
        if isinstance(module, method.model_class):
            for name, value in encoder.state_dict().items():
                assert torch.equal(module.state_dict()[name], value), name


@pytest.mark.parametrize("method", ALL_METHODS)
def test_another_methods_folder_is_refused(method, tmp_path):
    other = next(m for m in METHODS.values() if m is not method)
    other.pretraining_class(tiny_config(other)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=other.model_type):
        method.pretraining_class.from_pretrained(tmp_path)


def _trainer(method, config, output_dir, **args):
    torch.manual_seed(0)
    model = method.pretraining_class(config)
    data = MediaDataset(method, config, size=8)
    views = method.train_views(config, default_processor(method, config))
    args = tiny_training_args(output_dir, **{"per_device_train_batch_size": 4, "max_steps": 4, **args})
    return SSLTrainer(model=model, args=args, train_dataset=data, eval_dataset=data, train_views=views)


# The test images are smooth random colour fields: what tells them apart is their colours and layout, which small
# crops and a colour distortion erase; where a config sets those, the loss test turns them down.
_LEARNABLE_VIEWS = dict(crop_scale=(0.5, 1.0), color_jitter_strength=0.0)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_training_lowers_the_loss_against_held_targets(method, tmp_path):
    """With the targets held still (EMA momentum 1, no batch-statistic updates such as DINO's center), the trained
    network must get closer to them: the loss on fixed evaluation views and masks (four draws of each image) falls."""
    if method.modality == "trajectory":
        pytest.skip(
            "LeWorldModel's eval-mode loss at init is no baseline: its BatchNorm projectors' initial running "
            "statistics collapse the embeddings, whose next step is then trivially predicted (test_lewm.py checks "
            "that training lowers the loss on fixed windows)."
        )
    fields = method.config_class().to_dict()
    config = tiny_config(method, **{k: v for k, v in _LEARNABLE_VIEWS.items() if k in fields})
    trainer = _trainer(
        method,
        config,
        tmp_path,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        max_steps=30,
        learning_rate=2e-3,
        ema_momentum=1.0,
        ema_momentum_end=1.0,
    )
    trainer.eval_dataset = torch.utils.data.ConcatDataset([trainer.eval_dataset] * 4)
    trainer.model.update_batch_statistics = lambda: None
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert after < 0.99 * before, (before, after)


def test_each_evaluation_batch_draws_its_own_views_the_same_at_every_evaluation(tmp_path):
    method = METHODS["simclr"]
    trainer = _trainer(method, tiny_config(method), tmp_path, per_device_eval_batch_size=8)
    once = trainer.evaluate()["eval_loss"]
    assert trainer.evaluate()["eval_loss"] == once
    trainer.eval_dataset = torch.utils.data.ConcatDataset([trainer.eval_dataset] * 2)
    twice = trainer.evaluate()["eval_loss"]  # the same 8 images, a second draw of views: another loss
    assert twice != once


@pytest.mark.parametrize("method", ALL_METHODS)
def test_resume_equals_uninterrupted(method, tmp_path):
    """Views, masks, EMA targets, schedules and method statistics all come back exactly from a checkpoint."""
    config = tiny_config(method)
    straight = _trainer(method, config, tmp_path / "run", save_strategy="steps", save_steps=2, ema_schedule="cosine")
    straight.train()
    expected = straight.model.state_dict()
    resumed = _trainer(method, config, tmp_path / "resumed", ema_schedule="cosine")
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    got = resumed.model.state_dict()
    assert resumed.state.global_step == 4
    for name, value in expected.items():
        assert torch.allclose(got[name], value, atol=1e-6), name
    initial = _trainer(method, config, tmp_path / "unused").model.state_dict()
    assert any(not torch.equal(initial[name], value) for name, value in got.items())  # it did train


def _exports(method):
    return [pytest.param(method, fmt, id=f"{method.name}-{fmt}") for fmt in method.exporters]


@pytest.mark.parametrize("method, format", [p for m in METHODS.values() for p in _exports(m)])
def test_native_export_gives_our_encoder_outputs(method, format, tmp_path):
    config = tiny_config(method)
    model = _perturbed(method.pretraining_class(config))
    exporter = exporter_for(method.model_type, format)
    native = to_transformers(model, format)
    assert type(native).__name__ == exporter.target
    inputs = encoder_inputs(method, config)
    with torch.no_grad():
        ours = model.get_encoder()(**inputs).last_hidden_state
        torch.testing.assert_close(exporter.encoder_tokens(native, inputs), ours, atol=1e-5, rtol=0)

    # The written folder loads with transformers' own Auto classes into the same native class and numbers.
    model.save_pretrained(tmp_path / "ours")
    save_processors(method, config, tmp_path / "ours")
    result = export_to_transformers(str(tmp_path / "ours"), str(tmp_path / "native"), format)
    auto = AutoModelForPreTraining if exporter.target.endswith("ForPreTraining") else AutoModel
    reloaded = auto.from_pretrained(result.output_dir)
    assert type(reloaded).__name__ == exporter.target
    with torch.no_grad():
        torch.testing.assert_close(exporter.encoder_tokens(reloaded, inputs), ours, atol=1e-5, rtol=0)


@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("with_results", [True, False])
def test_model_card(method, with_results, tmp_path):
    config = tiny_config(method)
    method.pretraining_class(config).save_pretrained(tmp_path)
    results = None
    if with_results:
        scores = dict(knn_top1=0.61, linear_probe_top1=0.82, random_init_knn_top1=0.40)
        results = dict(scores, random_init_linear_probe_top1=0.70, feature_std=0.1, effective_rank=9.5)
        results.update(method=method.name, dataset="digits", steps=300, train_batch_size=128)
        (tmp_path / "eval_results.json").write_text(json.dumps(results))
    card = model_card(str(tmp_path), model_id="alice/run")
    text = str(card)
    assert "{{" not in text and "{%" not in text and "Undefined" not in text
    assert text.startswith("---") and f"# {method.title} ViT ({config.hidden_size} wide" in text
    for heading in ("## The method", "## Architecture", "## Training", "## Evaluation", "## How to load it",
                    "## Limitations", "## Differences from the official code", "## Citation"):  # fmt: skip
        body = text.split(heading, 1)[1].split("\n## ", 1)[0].strip()
        assert body, f"{heading} is empty"
    assert ModelCard(text).data.to_dict() == card.data.to_dict()  # the metadata round-trips
    assert method.name in card.data.tags and card.data.library_name == "hf_jepa"
    assert 'from_pretrained("alice/run")' in text and method.model_class.__name__ in text
    if with_results:
        assert [r.metric_value for r in card.data.eval_results][:2] == [0.61, 0.82]
        assert "| kNN top-1 (k = 20, cosine, as in DINO) | 0.610 | 0.400 |" in text
    else:
        assert card.data.eval_results is None and "No evaluation was recorded" in text
