"""SIGReg instead of the EMA for I-JEPA and V-JEPA (`sigreg_weight > 0`): one trained encoder that is its own target,
gradients through the targets, the loss (1 - lambda) * prediction + lambda * SIGReg, and everything else unchanged."""

import pytest
import torch

from hf_jepa import METHODS
from tests.methods import MediaDataset, pretraining_inputs, tiny_config
from tests.tiny import tiny_training_args

JEPAS = [pytest.param(METHODS[name], id=name) for name in ("ijepa", "vjepa")]


@pytest.mark.parametrize("method", JEPAS)
def test_one_encoder_trained_through_its_targets(method):
    config = tiny_config(method, sigreg_weight=0.25)
    torch.manual_seed(0)
    model = method.pretraining_class(config).train()
    assert not hasattr(model, "context_encoder") and model.ema_parameters() == ([], [])
    assert all(p.requires_grad for p in model.encoder.parameters())
    out = model(**pretraining_inputs(method, config, batch=4), sigreg_step=3)  # a fresh generator: the same masks
    assert set(out.logs) >= {"loss_sigreg", "target_std"}
    out.loss.backward()
    through_targets = model.encoder.embeddings.patch_embeddings.projection.weight.grad.clone()
    # The same step with the targets detached (a stop-gradient) gives another gradient: the targets train too.
    model.zero_grad()
    target_pass = model.target_pass
    model.target_pass = lambda x: tuple(t.detach() for t in target_pass(x))
    model(**pretraining_inputs(method, config, batch=4), sigreg_step=3).loss.backward()
    model.target_pass = target_pass
    stopped = model.encoder.embeddings.patch_embeddings.projection.weight.grad
    assert not torch.allclose(through_targets, stopped)

    model.zero_grad()
    model.config.sigreg_weight = 1.0  # SIGReg alone: its value is the loss
    alone = model(**pretraining_inputs(method, config, batch=4), sigreg_step=3)
    torch.testing.assert_close(alone.loss, alone.logs["loss_sigreg"])
    model.config.sigreg_weight = 0.25
    weighted = model(**pretraining_inputs(method, config, batch=4), sigreg_step=3)
    prediction, sigreg = weighted.logs["loss_prediction"], weighted.logs["loss_sigreg"]
    torch.testing.assert_close(weighted.loss.detach(), 0.75 * prediction + 0.25 * sigreg)


def test_ema_jepa_keeps_its_frozen_target_and_no_sigreg():
    method = METHODS["ijepa"]
    model = method.pretraining_class(tiny_config(method))
    assert hasattr(model, "context_encoder") and not any(p.requires_grad for p in model.encoder.parameters())
    out = model(**pretraining_inputs(method, tiny_config(method), batch=4))
    assert "loss_sigreg" not in out.logs and model.scheduled_inputs(5) == {}


def test_sigreg_ijepa_trains_saves_and_resumes_exactly(tmp_path):
    from hf_jepa import SSLTrainer
    from hf_jepa.registry import default_processor

    method = METHODS["ijepa"]
    config = tiny_config(method, sigreg_weight=0.1)

    def trainer(output_dir, **args):
        torch.manual_seed(0)
        views = method.train_views(config, default_processor(method, config))
        arguments = tiny_training_args(output_dir, per_device_train_batch_size=4, max_steps=4, **args)
        return SSLTrainer(
            model=method.pretraining_class(config),
            args=arguments,
            train_dataset=MediaDataset(method, config, size=8),
            train_views=views,
        )

    straight = trainer(tmp_path / "run", save_strategy="steps", save_steps=2)
    straight.train()
    resumed = trainer(tmp_path / "resumed")
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    for name, value in straight.model.state_dict().items():
        assert torch.allclose(resumed.model.state_dict()[name], value, atol=1e-6), name
    straight.model.save_pretrained(tmp_path / "saved")
    loaded = method.pretraining_class.from_pretrained(tmp_path / "saved")
    assert loaded.uses_sigreg and not hasattr(loaded, "context_encoder")


def test_bad_sigreg_weight_is_refused():
    method = METHODS["ijepa"]
    with pytest.raises(ValueError, match="`sigreg_weight`"):
        tiny_config(method, sigreg_weight=1.5)
