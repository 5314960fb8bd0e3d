"""`--torch_compile`: the trainer draws the masks before the forward (`sample_masks`, the draws the forward would
make), so the masked models' forward traces as one graph, without breaks from the samplers' host reads."""

import pytest
import torch

from hf_jepa import IJEPASSLForPreTraining, MAESSLForPreTraining, VJEPASSLForPreTraining
from tests.tiny import tiny_ijepa_config, tiny_mae_config, tiny_vjepa_config

MODELS = {
    "ijepa": (IJEPASSLForPreTraining, tiny_ijepa_config, (4, 3, 32, 32)),
    "mae": (MAESSLForPreTraining, tiny_mae_config, (4, 3, 32, 32)),
    "vjepa": (VJEPASSLForPreTraining, tiny_vjepa_config, (4, 4, 3, 16, 16)),
}


def build(name):
    cls, config, shape = MODELS[name]
    torch.manual_seed(0)
    model = cls(config()).eval()
    media = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    key = "pixel_values_videos" if name == "vjepa" else "pixel_values"
    return model, media, key


@pytest.mark.parametrize("name", list(MODELS))
def test_sampled_masks_are_the_draws_the_forward_makes(name):
    model, media, key = build(name)
    with torch.no_grad():
        inside = model(**{key: media}, generator=torch.Generator().manual_seed(7)).loss
        masks = model.sample_masks({key: media}, torch.Generator().manual_seed(7))
        outside = model(**{key: media}, **masks).loss
        other = model(**{key: media}, **model.sample_masks({key: media}, torch.Generator().manual_seed(8))).loss
    assert torch.equal(inside, outside)
    assert not torch.equal(inside, other)  # the masks decide the loss: the comparison above is not vacuous


@pytest.mark.parametrize("name", ["ijepa", "mae"])
def test_forward_with_sampled_masks_traces_as_one_graph(name):
    model, media, key = build(name)
    masks = model.sample_masks({key: media}, torch.Generator().manual_seed(0))
    explanation = torch._dynamo.explain(model)(**{key: media}, **masks)
    assert explanation.graph_break_count == 0, [reason.reason for reason in explanation.break_reasons]
    assert explanation.graph_count == 1
    torch._dynamo.reset()


@pytest.mark.slow
def test_pretrain_with_torch_compile_trains(tmp_path):
    """Inductor compiles the step on the CPU (a C++ compiler is needed; about a minute here)."""
    import json

    from hf_jepa.cli import pretrain

    argv = ["--max_steps", "4", "--per_device_train_batch_size", "16", "--torch_compile", "true"]
    argv += ["--random_init_baselines", "1", "--logging_steps", "1", "--output_dir", str(tmp_path / "run")]
    pretrain(argv)
    state = json.loads(next((tmp_path / "run").glob("checkpoint-*/trainer_state.json")).read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
