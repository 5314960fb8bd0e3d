"""SSLTrainer: EMA, schedules, gradient accumulation, resume, divergence, bf16."""

import math

import pytest
import torch
from datasets import Dataset
from transformers import TrainerCallback

from hf_jepa import DINOSSLForPreTraining, IJEPASSLForPreTraining
from hf_jepa.data.images import ImageCollator, digits_dataset, image_transform
from hf_jepa.engine.schedules import ema_update_, scheduled_value
from hf_jepa.engine.trainer import SSLTrainer, TrainingDivergedError
from hf_jepa.engine.views import MultiCropViews, RandomResizedCropFlip
from tests.tiny import tiny_training_args


def test_fused_ema_equals_per_parameter_reference():
    torch.manual_seed(0)
    online = [torch.randn(7, 5), torch.randn(3), torch.randn(2, 2, 2)]
    target = [torch.randn_like(t) for t in online]
    expected = [t.clone().mul_(0.9).add_(o, alpha=0.1) for t, o in zip(target, online)]
    ema_update_(target, online, 0.9)
    for got, want in zip(target, expected):
        assert torch.allclose(got, want, atol=1e-7)


def test_schedules():
    assert scheduled_value(0.996, 1.0, 0, 100, "linear") == 0.996
    assert math.isclose(scheduled_value(0.996, 1.0, 50, 100, "linear"), 0.998)
    assert scheduled_value(0.04, 0.4, 0, 10, "cosine") == pytest.approx(0.04)
    assert scheduled_value(0.04, 0.4, 5, 10, "cosine") == pytest.approx(0.22)
    assert scheduled_value(0.04, 0.4, 10, 10, "cosine") == pytest.approx(0.4)
    assert scheduled_value(0.5, 1.0, 7, 10, "constant") == 0.5
    with pytest.raises(ValueError, match="schedule"):
        scheduled_value(0, 1, 0, 1, "step")


def _args(tmp_path, **kwargs):
    return tiny_training_args(tmp_path, **{"per_device_train_batch_size": 8, "max_steps": 2, **kwargs})


class _FixedMaskDataset(torch.utils.data.Dataset):
    """Random images with the same explicit masks in every row: micro-batches see identical masks."""

    def __init__(self, n=8, nan=False):
        generator = torch.Generator().manual_seed(0)
        self.pixels = torch.randn(n, 3, 32, 32, generator=generator)
        if nan:
            self.pixels[:] = float("nan")
        self.context_idx = torch.tensor([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19])
        self.target_idx = torch.tensor([[36, 37, 44, 45], [54, 55, 62, 63]])

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        return {"pixel_values": self.pixels[i], "context_idx": self.context_idx, "target_idx": self.target_idx}


class _Snapshots(TrainerCallback):
    def __init__(self, model):
        self.model, self.online = model, []

    def on_optimizer_step(self, args, state, control, **kwargs):
        # The online weights right after each optimizer step: what the EMA update of that step must mix in.
        self.online.append([p.detach().clone() for p in self.model.context_encoder.parameters()])


def test_trainer_moves_target_exactly_by_the_ema_formula(tiny_ijepa_config, tmp_path):
    model = IJEPASSLForPreTraining(tiny_ijepa_config)
    start = [p.detach().clone() for p in model.encoder.parameters()]
    snapshots = _Snapshots(model)
    args = _args(tmp_path, ema_momentum=0.9, ema_momentum_end=1.0, ema_schedule="linear")
    trainer = SSLTrainer(model=model, args=args, train_dataset=_FixedMaskDataset(), callbacks=[snapshots])
    trainer.train()
    # Linear schedule over 2 steps: momentum 0.9 at step 0, 0.95 at step 1.
    expected = start
    for online, momentum in zip(snapshots.online, (0.9, 0.95)):
        expected = [momentum * t + (1 - momentum) * o for t, o in zip(expected, online)]
    for got, want in zip(model.encoder.parameters(), expected):
        assert torch.allclose(got, want, atol=1e-6)
    assert not torch.equal(snapshots.online[0][0], snapshots.online[1][0])


def test_few_steps_reduce_the_loss_on_a_fixed_batch(tiny_ijepa_config, tmp_path):
    model = IJEPASSLForPreTraining(tiny_ijepa_config)
    data = _FixedMaskDataset()
    batch = torch.utils.data.default_collate([data[i] for i in range(len(data))])
    with torch.no_grad():
        before = model(**batch).loss.item()
    trainer = SSLTrainer(model=model, args=_args(tmp_path, max_steps=15, learning_rate=3e-3), train_dataset=data)
    trainer.train()
    model.eval()
    with torch.no_grad():
        after = model(**batch).loss.item()
    assert after < 0.7 * before
    logged = [entry for entry in trainer.state.log_history if "loss_prediction" in entry]
    assert logged and {"target_std", "ema_momentum", "weight_decay"} <= set(logged[0])


def test_weight_decay_schedule_is_applied(tiny_ijepa_config, tmp_path):
    model = IJEPASSLForPreTraining(tiny_ijepa_config)
    seen = []

    class Record(TrainerCallback):
        def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
            seen.append(sorted({g["weight_decay"] for g in trainer.optimizer.param_groups}))

    args = _args(tmp_path, max_steps=3, weight_decay=0.04, weight_decay_end=0.4)
    trainer = SSLTrainer(model=model, args=args, train_dataset=_FixedMaskDataset(), callbacks=[Record()])
    trainer.train()
    expected = [scheduled_value(0.04, 0.4, s, 3, "cosine") for s in range(3)]
    assert [values[1] for values in seen] == pytest.approx(expected)
    assert all(values[0] == 0.0 for values in seen)  # biases and norms are never decayed


def _train_params(config, tmp_path, **kwargs):
    torch.manual_seed(0)
    model = IJEPASSLForPreTraining(config)
    trainer = SSLTrainer(model=model, args=_args(tmp_path, max_steps=1, **kwargs), train_dataset=_FixedMaskDataset())
    trainer.train()
    return [p.detach().clone() for p in model.parameters()]


def test_gradient_accumulation_equals_full_batch(tiny_ijepa_config, tmp_path):
    full = _train_params(tiny_ijepa_config, tmp_path / "a", per_device_train_batch_size=8)
    accumulated = _train_params(
        tiny_ijepa_config, tmp_path / "b", per_device_train_batch_size=4, gradient_accumulation_steps=2
    )
    for a, b in zip(full, accumulated):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.fixture(scope="module")
def digits_subset():
    return digits_dataset(32)["train"].select(range(64))


def _digits_trainer(config, tmp_path, data, **kwargs):
    torch.manual_seed(0)
    model = IJEPASSLForPreTraining(config) if config.model_type == "ijepa_ssl" else DINOSSLForPreTraining(config)
    collator = ImageCollator(image_transform(32, [0.5] * 3, [0.5] * 3))
    args = _args(tmp_path, **{"max_steps": 4, "per_device_train_batch_size": 16, **kwargs})
    views = RandomResizedCropFlip(32, scale=(0.3, 1.0))
    if config.model_type == "dino_ssl":
        views = MultiCropViews(32, config.local_crop_size, config.num_local_crops, mean=[0.5] * 3, std=[0.5] * 3)
    return SSLTrainer(model=model, args=args, train_dataset=data, data_collator=collator, train_views=views)


def test_resume_equals_uninterrupted(tiny_ijepa_config, tmp_path, digits_subset):
    straight = _digits_trainer(tiny_ijepa_config, tmp_path / "run", digits_subset, save_strategy="steps", save_steps=2)
    straight.train()
    expected = straight.model.state_dict()

    resumed = _digits_trainer(tiny_ijepa_config, tmp_path / "resumed", digits_subset)
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    got = resumed.model.state_dict()
    assert resumed.state.global_step == 4
    for name, value in expected.items():
        assert torch.allclose(got[name], value, atol=1e-6), name
    # The EMA target moved during the resumed half, so this compares real EMA state, not the initial copy.
    assert not torch.equal(got["encoder.layers.0.attn.qkv.weight"], got["context_encoder.layers.0.attn.qkv.weight"])


def test_image_column_survives_with_default_arguments(tiny_ijepa_config, tmp_path, digits_subset):
    # transformers' default remove_unused_columns=True would drop "image" before the collator runs.
    trainer = _digits_trainer(tiny_ijepa_config, tmp_path, digits_subset, max_steps=1)
    assert trainer.args.remove_unused_columns is False
    trainer.train()
    assert trainer.state.global_step == 1


def test_bf16_autocast_step(tiny_ijepa_config, tmp_path, digits_subset):
    trainer = _digits_trainer(tiny_ijepa_config, tmp_path, digits_subset, max_steps=2, bf16=True, logging_steps=1)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)


def test_non_finite_loss_stops_training_naming_the_step(tiny_ijepa_config, tmp_path):
    model = IJEPASSLForPreTraining(tiny_ijepa_config)
    trainer = SSLTrainer(
        model=model, args=_args(tmp_path, max_steps=3, logging_steps=1), train_dataset=_FixedMaskDataset(nan=True)
    )
    with pytest.raises(TrainingDivergedError, match="non-finite .* at step 0"):
        trainer.train()


def test_masks_differ_between_steps_and_repeat_across_runs(tiny_ijepa_config, tmp_path):
    def masks_of_run(path):
        trainer = _digits_trainer(tiny_ijepa_config, path, digits_subset_small, max_steps=1)
        return [trainer.mask_generator(torch.device("cpu")).initial_seed() for _ in range(2)]

    digits_subset_small = digits_dataset(32)["train"].select(range(16))
    first, second = masks_of_run(tmp_path / "a"), masks_of_run(tmp_path / "b")
    assert first == second and first[0] != first[1]


def test_requires_ssl_training_arguments(tiny_ijepa_config, tmp_path):
    from transformers import TrainingArguments

    with pytest.raises(TypeError, match="SSLTrainingArguments"):
        SSLTrainer(model=IJEPASSLForPreTraining(tiny_ijepa_config), args=TrainingArguments(str(tmp_path)))


def test_missing_pixel_values_is_explained(tiny_ijepa_config, tmp_path):
    data = Dataset.from_dict({"text": ["a", "b"]})
    trainer = SSLTrainer(
        model=IJEPASSLForPreTraining(tiny_ijepa_config),
        args=_args(tmp_path, per_device_train_batch_size=2, max_steps=1),
        train_dataset=data,
        data_collator=lambda rows: {"text_ids": torch.zeros(len(rows))},
    )
    with pytest.raises(ValueError, match="pixel_values"):
        trainer.train()


def test_evaluation_does_not_shift_training_masks(tiny_ijepa_config, tmp_path, digits_subset):
    trainer = _digits_trainer(tiny_ijepa_config, tmp_path, digits_subset, max_steps=1)
    first = trainer.mask_generator(torch.device("cpu")).initial_seed()
    trainer._mask_step = -1  # back to the start of step 0
    evaluation = [trainer.mask_generator(torch.device("cpu"), training=False).initial_seed() for _ in range(2)]
    assert trainer.mask_generator(torch.device("cpu")).initial_seed() == first
    assert len({first, *evaluation}) == 3  # each evaluation batch draws its own views and masks
    trainer._eval_batch = 0  # as at the start of every evaluation
    assert trainer.mask_generator(torch.device("cpu"), training=False).initial_seed() == evaluation[0]


def test_eval_loss_is_reported(tiny_ijepa_config, tmp_path, digits_subset):
    trainer = _digits_trainer(tiny_ijepa_config, tmp_path, digits_subset, max_steps=1)
    trainer.eval_dataset = digits_subset.select(range(16))
    metrics = trainer.evaluate()
    assert math.isfinite(metrics["eval_loss"])
    assert metrics["eval_loss"] == pytest.approx(trainer.evaluate()["eval_loss"])  # fixed evaluation masks
