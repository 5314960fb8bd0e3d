"""DINO: the loss and center against the official DINOLoss restated, the head, the teacher, the trainer's schedules
(teacher temperature, frozen last layer, EMA), save/load, every Auto class and clear errors."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import (
    TrainerCallback,
)

from hf_jepa import (
    DINOSSLConfig,
    DINOSSLForPreTraining,
    MultiCropViews,
)
from hf_jepa.engine.trainer import SSLTrainer
from hf_jepa.models.heads import DINOHead, WeightNormLinear
from hf_jepa.models.losses import dino_cross_entropy
from tests.tiny import tiny_dino_config as dino_config
from tests.tiny import tiny_training_args


# ---- the official DINOLoss, restated -------------------------------------------------------------------------------
def official_dino_loss(student_output, teacher_output, center, student_temp, teacher_temp, ncrops, n_global):
    """student_output [ncrops * B, K] and teacher_output [n_global * B, K], view-major, as in DINO's main_dino.py."""
    student_out = (student_output / student_temp).chunk(ncrops)
    teacher_out = F.softmax((teacher_output - center) / teacher_temp, dim=-1).chunk(n_global)
    total_loss, n_loss_terms = 0.0, 0
    for iq, q in enumerate(teacher_out):
        for v in range(len(student_out)):
            if v == iq:  # the teacher and the student operate on the same view
                continue
            loss = torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1)
            total_loss += loss.mean()
            n_loss_terms += 1
    return total_loss / n_loss_terms


def official_center(center, teacher_output, momentum, world_size=1):
    batch_center = torch.sum(teacher_output, dim=0, keepdim=True) / (len(teacher_output) * world_size)
    return center * momentum + batch_center * (1 - momentum)


def _loss_with_same_view_pairs(student, teacher_probs, student_temp):
    """The wrong variant (every pair, same view included): the tests make sure it gives a different number."""
    log_p = F.log_softmax(student / student_temp, dim=-1)
    terms = [(-q * log_p[v]).sum(-1).mean() for q in teacher_probs for v in range(len(student))]
    return sum(terms) / len(terms)


def _crops(batch=3, num_global=2, num_local=2, seed=0, channels=3):
    """Random crops, each with its own colour offset (as after colour jitter): views differ in what they show."""
    generator = torch.Generator().manual_seed(seed)

    def views(num, size):
        noise = torch.randn(batch, num, channels, size, size, generator=generator) * 0.5
        return noise + torch.randn(batch, num, channels, 1, 1, generator=generator) * 2

    return views(num_global, 32), (views(num_local, 16) if num_local else None)


# ---- the loss ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_global,num_local", [(2, 0), (2, 3), (3, 0), (3, 2)])
def test_dino_cross_entropy_equals_the_official_loop(num_global, num_local):
    batch, k, student_temp, teacher_temp = 4, 16, 0.1, 0.04
    generator = torch.Generator().manual_seed(num_global * 10 + num_local)
    student = torch.randn(num_global + num_local, batch, k, generator=generator) * 3
    teacher = torch.randn(num_global, batch, k, generator=generator) * 0.3
    center = torch.randn(1, k, generator=generator) * 0.1
    teacher_probs = F.softmax((teacher - center) / teacher_temp, dim=-1)
    got = dino_cross_entropy(student, teacher_probs, student_temp)
    expected = official_dino_loss(
        student.flatten(0, 1), teacher.flatten(0, 1), center, student_temp, teacher_temp, len(student), num_global
    )
    assert torch.allclose(got, expected, atol=1e-5)
    wrong = _loss_with_same_view_pairs(student, teacher_probs, student_temp)
    assert abs(wrong.item() - expected.item()) > 1e-2  # the same-view pairs really are left out


def test_same_view_pairs_are_excluded_in_a_case_built_for_it():
    # Teacher and student agree perfectly on the same view and disagree across views: including the same-view
    # pairs would lower the loss a lot.
    k = 8
    student = torch.stack([F.one_hot(torch.tensor([0, 1]), k), F.one_hot(torch.tensor([5, 6]), k)]).float() * 50
    teacher_probs = F.softmax(student, dim=-1)
    got = dino_cross_entropy(student, teacher_probs, 1.0)
    expected = official_dino_loss(student.flatten(0, 1), student.flatten(0, 1), torch.zeros(1, k), 1.0, 1.0, 2, 2)
    assert torch.allclose(got, expected, atol=1e-4)
    assert got.item() > 40  # every counted pair puts its mass on a wrong prototype
    assert _loss_with_same_view_pairs(student, teacher_probs, 1.0).item() < 0.6 * got.item()


@pytest.mark.parametrize("num_global,num_local", [(2, 0), (2, 2), (3, 0), (3, 2)])
def test_model_loss_and_center_follow_the_official_recipe(num_global, num_local):
    torch.manual_seed(0)
    model = DINOSSLForPreTraining(dino_config(center_momentum=0.8)).train()
    with torch.no_grad():
        # A teacher unlike the student, and sharper outputs than at init (prototype norm g = 10), so that views give
        # clearly different distributions and leaving out the same-view pairs changes the number (checked below).
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for head in (model.student_head, model.teacher_head):
            head.last_layer.weight_g.fill_(10.0)
    center = torch.randn(1, model.config.head_output_size) * 0.5
    model.center.copy_(center)
    global_crops, local_crops = _crops(num_global=num_global, num_local=num_local)
    out = model(global_crops, local_crops, teacher_temperature=0.05)

    # Each view on its own (no batching across views), then official order: view-major, global views first.
    with torch.no_grad():
        teacher_output = torch.cat(
            [model.teacher_head(model.encoder(global_crops[:, v]).pooler_output) for v in range(num_global)]
        )
        student_views = [model.student_encoder(global_crops[:, v]).pooler_output for v in range(num_global)]
        if local_crops is not None:
            student_views += [
                model.student_encoder(local_crops[:, v], interpolate_pos_encoding=True).pooler_output
                for v in range(num_local)
            ]
        student_output = torch.cat([model.student_head(f) for f in student_views])
    ncrops = num_global + num_local
    expected = official_dino_loss(student_output, teacher_output, center, 0.1, 0.05, ncrops, num_global)
    assert torch.allclose(out.loss, expected, atol=1e-5)
    assert out.student_logits.shape == (ncrops, 3, 64) and out.teacher_probs.shape == (num_global, 3, 64)
    probs = F.softmax((teacher_output - center) / 0.05, dim=-1).unflatten(0, (num_global, 3))
    wrong = _loss_with_same_view_pairs(student_output.unflatten(0, (ncrops, 3)), probs, 0.1)
    assert abs(wrong.item() - expected.item()) > 0.05  # measured: 0.1 to 1.3 for these four cases

    # The center moved once, by the official formula, after the loss used the old one.
    assert torch.allclose(model.center, official_center(center, teacher_output, 0.8), atol=1e-6)
    assert torch.allclose(out.logs["teacher_temperature"], torch.tensor(0.05))

    # The loss is differentiable for the student only.
    out.loss.backward()
    assert model.student_head.last_layer.weight_v.grad is not None
    assert model.student_encoder.layers[0].attn.qkv.weight.grad is not None
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.teacher_head.parameters())


def test_eval_mode_leaves_the_center_alone():
    model = DINOSSLForPreTraining(dino_config()).eval()
    model.center.copy_(torch.randn_like(model.center))
    before = model.center.clone()
    out = model(*_crops())
    assert torch.equal(model.center, before) and torch.isfinite(out.loss)
    # Default temperature is the config's (post warm-up) value.
    assert torch.allclose(out.logs["teacher_temperature"], torch.tensor(model.config.teacher_temperature))


def test_center_buffer_moves_with_the_model_and_is_saved(tmp_path):
    model = DINOSSLForPreTraining(dino_config())
    assert "center" in model.state_dict() and model.center.shape == (1, 64)
    assert torch.equal(model.center, torch.zeros(1, 64))  # official start
    model.center.copy_(torch.randn_like(model.center))
    model.save_pretrained(tmp_path)
    reloaded = DINOSSLForPreTraining.from_pretrained(tmp_path)
    assert torch.equal(reloaded.center, model.center)  # not re-zeroed by init on load

    model.to(torch.float64)
    assert model.center.dtype == torch.float64
    global_crops, local_crops = _crops()
    model.train()(global_crops.double(), local_crops.double())  # the update works in the model's dtype
    assert model.center.dtype == torch.float64
    model.to("meta")
    assert model.center.device.type == "meta"


# ---- the head ------------------------------------------------------------------------------------------------------
def test_head_structure_and_weight_norm():
    head = DINOHead(32, 64, hidden_size=24, bottleneck_size=16, num_layers=3, norm_last_layer=True)
    kinds = [type(m) for m in head.mlp]
    assert kinds == [nn.Linear, nn.GELU, nn.Linear, nn.GELU, nn.Linear]
    assert head.mlp[-1].out_features == 16
    nn.init.normal_(head.last_layer.weight_v)
    # weight = g * v / ||v|| per prototype row; with g = 1 every effective prototype has norm 1.
    effective = head.last_layer(torch.eye(16)).T  # [64, 16]
    assert torch.allclose(effective.norm(dim=1), torch.ones(64), atol=1e-5)
    # Same as torch's own weight norm, for any g.
    layer = WeightNormLinear(16, 64)
    nn.init.normal_(layer.weight_v)
    with torch.no_grad():
        layer.weight_g.copy_(torch.rand(64, 1) + 0.5)
    reference = nn.utils.parametrizations.weight_norm(nn.Linear(16, 64, bias=False))
    with torch.no_grad():
        reference.parametrizations.weight.original0.copy_(layer.weight_g)
        reference.parametrizations.weight.original1.copy_(layer.weight_v)
    x = torch.randn(5, 16)
    assert torch.allclose(layer(x), reference(x), atol=1e-5)
    # The bottleneck is L2-normalised before the last layer.
    features = torch.randn(5, 32)
    hidden = F.normalize(head.mlp(features), dim=-1)
    assert torch.allclose(head(features), head.last_layer(hidden), atol=1e-6)


@pytest.mark.parametrize("norm_last_layer", [True, False])
def test_weight_g_is_one_and_trained_only_without_norm_last_layer(norm_last_layer):
    model = DINOSSLForPreTraining(dino_config(head_norm_last_layer=norm_last_layer))
    for head in (model.student_head, model.teacher_head):
        assert torch.equal(head.last_layer.weight_g, torch.ones(64, 1))
    assert model.student_head.last_layer.weight_g.requires_grad is (not norm_last_layer)
    assert not model.teacher_head.last_layer.weight_g.requires_grad
    assert model.student_head.last_layer.weight_v.requires_grad
    last_layer = set(map(id, model.student_head.last_layer.parameters()))
    frozen = DINOSSLForPreTraining(dino_config(head_norm_last_layer=norm_last_layer, freeze_last_layer_steps=3))
    assert set(map(id, model.frozen_parameters(0))) == set() and not frozen.frozen_parameters(3)
    assert set(map(id, frozen.frozen_parameters(2))) == set(map(id, frozen.student_head.last_layer.parameters()))
    assert len(last_layer) == 2
    # Official init of the MLP: truncated normal std 0.02, zero bias.
    first = model.student_head.mlp[0]
    assert 0.015 < first.weight.std().item() < 0.025 and torch.equal(first.bias, torch.zeros_like(first.bias))


# ---- the teacher ---------------------------------------------------------------------------------------------------
def test_teacher_starts_as_an_exact_copy_and_is_frozen():
    model = DINOSSLForPreTraining(dino_config())
    pairs = [(model.student_encoder, model.encoder), (model.student_head, model.teacher_head)]
    for online, target in pairs:
        online_state, target_state = online.state_dict(), target.state_dict()
        assert online_state.keys() == target_state.keys()
        for name, value in online_state.items():
            assert torch.equal(value, target_state[name]), name
        assert not any(p.requires_grad for p in target.parameters())
    online, target = model.ema_parameters()
    assert (
        len(online)
        == len(target)
        == len(list(model.student_encoder.parameters())) + len(list(model.student_head.parameters()))
    )
    model.train()
    assert model.student_encoder.training and not model.encoder.training and not model.teacher_head.training


# ---- the trainer ---------------------------------------------------------------------------------------------------
_args = tiny_training_args


class _Crops(torch.utils.data.Dataset):
    """Fixed crops (no view sampling): the trainer's per-step behaviour can be checked exactly."""

    def __init__(self, n=4):
        self.global_crops, self.local_crops = _crops(batch=n, seed=1)

    def __len__(self):
        return len(self.global_crops)

    def __getitem__(self, i):
        # `pixel_values` only tells the trainer which device the batch is on.
        return {
            "pixel_values": self.global_crops[i, 0],
            "global_crops": self.global_crops[i],
            "local_crops": self.local_crops[i],
        }


class _Images(torch.utils.data.Dataset):
    def __init__(self, n=8):
        low = torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        self.pixels = F.interpolate(low, size=32, mode="bilinear", align_corners=False)

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        return {"pixel_values": self.pixels[i]}


def test_teacher_temperature_schedule(tmp_path):
    config = dino_config(warmup_teacher_temperature=0.04, teacher_temperature=0.07, teacher_temperature_warmup_steps=4)
    model = DINOSSLForPreTraining(config)
    expected = {0: 0.04, 1: 0.0475, 2: 0.055, 3: 0.0625, 4: 0.07, 5: 0.07, 100: 0.07}
    for step, value in expected.items():
        assert model.scheduled_inputs(step)["teacher_temperature"] == pytest.approx(value)
    no_warmup = DINOSSLForPreTraining(dino_config(warmup_teacher_temperature=0.04, teacher_temperature=0.07))
    assert no_warmup.scheduled_inputs(0)["teacher_temperature"] == pytest.approx(0.07)

    args = _args(tmp_path, max_steps=3, ema_momentum=0.99)
    trainer = SSLTrainer(model=model, args=args, train_dataset=_Crops())
    trainer.train()  # the value of each step reaches the model's forward
    logged = [entry["teacher_temperature"] for entry in trainer.state.log_history if "teacher_temperature" in entry]
    assert logged == pytest.approx([0.04, 0.0475, 0.055])
    assert [e for e in trainer.state.log_history if "teacher_entropy" in e]


class _Record(TrainerCallback):
    """Student weights right after each optimizer step (before the EMA), and the last layer after each step."""

    def __init__(self, model):
        self.model, self.online, self.last_layer, self.mlp = model, [], [], []

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.online.append([p.detach().clone() for p in self.model.ema_parameters()[0]])

    def on_step_end(self, args, state, control, **kwargs):
        last_layer = self.model.student_head.last_layer
        self.last_layer.append(torch.cat([last_layer.weight_v, last_layer.weight_g], dim=1).detach().clone())
        self.mlp.append(self.model.student_head.mlp[0].weight.detach().clone())


def test_last_layer_frozen_for_the_first_steps_and_teacher_moves_by_ema_only(tmp_path):
    model = DINOSSLForPreTraining(dino_config(head_norm_last_layer=False, freeze_last_layer_steps=2))
    last_layer = model.student_head.last_layer
    start_last = torch.cat([last_layer.weight_v, last_layer.weight_g], dim=1).detach().clone()
    start_mlp = model.student_head.mlp[0].weight.detach().clone()
    teacher = [p.detach().clone() for p in model.ema_parameters()[1]]
    record = _Record(model)
    args = _args(tmp_path, max_steps=4, ema_momentum=0.9, ema_schedule="constant")
    trainer = SSLTrainer(model=model, args=args, train_dataset=_Crops(), callbacks=[record])
    trainer.train()
    # Steps 0 and 1: the last layer (v and the trainable g) stays put while the rest of the head learns.
    assert torch.equal(record.last_layer[0], start_last) and torch.equal(record.last_layer[1], start_last)
    assert not torch.equal(record.mlp[0], start_mlp)
    # Steps 2 and 3: it moves.
    assert not torch.equal(record.last_layer[2][:, :-1], start_last[:, :-1])  # v
    assert not torch.equal(record.last_layer[2][:, -1], start_last[:, -1])  # g, trainable here
    # The teacher is the EMA of the student's post-step weights, nothing else (no gradient, no weight decay).
    for online in record.online:
        teacher = [0.9 * t + 0.1 * o for t, o in zip(teacher, online)]
    for got, want in zip(model.ema_parameters()[1], teacher):
        assert torch.allclose(got, want, atol=1e-6)


def test_norm_last_layer_keeps_g_at_one_through_training(tmp_path):
    model = DINOSSLForPreTraining(dino_config())
    trainer = SSLTrainer(model=model, args=_args(tmp_path, max_steps=2, weight_decay=0.1), train_dataset=_Crops())
    trainer.train()
    assert torch.equal(model.student_head.last_layer.weight_g, torch.ones(64, 1))
    assert all(
        p is not model.student_head.last_layer.weight_g for g in trainer.optimizer.param_groups for p in g["params"]
    )


def test_few_steps_with_multi_crop_views_reduce_the_loss(tmp_path):
    """The student, started away from a teacher and center held still (EMA momentum 1, center momentum 1), is
    trained on multi-crop views of 8 images and gets closer to the teacher on a fixed set of views. (With both
    moving, DINO's loss on a tiny random model is dominated by the teacher's entropy, which centering raises during
    the first steps: it is not a quantity that must fall within a few steps.)"""
    model = DINOSSLForPreTraining(dino_config(center_momentum=1.0))
    with torch.no_grad():
        for p in list(model.student_encoder.parameters()) + list(model.student_head.parameters()):
            p.add_(torch.randn_like(p) * 0.05)
    teacher = [p.detach().clone() for p in model.ema_parameters()[1]]
    data = _Images()
    views = MultiCropViews(32, 16, num_local_crops=2, mean=(0.5,) * 3, std=(0.5,) * 3)
    fixed = views(data.pixels, torch.Generator().manual_seed(123))
    assert fixed["global_crops"].shape == (8, 2, 3, 32, 32) and fixed["local_crops"].shape == (8, 2, 3, 16, 16)

    def loss():
        model.eval()
        with torch.no_grad():
            return model(**fixed).loss.item()

    before = loss()
    args = _args(
        tmp_path,
        per_device_train_batch_size=8,
        max_steps=10,
        lr_scheduler_type="constant",
        ema_momentum=1.0,
        ema_momentum_end=1.0,
    )
    trainer = SSLTrainer(model=model, args=args, train_dataset=data, train_views=views)
    trainer.train()
    after = loss()
    assert after < 0.8 * before, (before, after)  # measured: 4.80 -> 2.97
    assert all(torch.equal(p, t) for p, t in zip(model.ema_parameters()[1], teacher))
    assert [entry for entry in trainer.state.log_history if "loss_dino" in entry]


# ---- save / load ---------------------------------------------------------------------------------------------------
# ---- errors --------------------------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors_never_nan():
    model = DINOSSLForPreTraining(dino_config()).train()
    global_crops, local_crops = _crops()
    with pytest.raises(ValueError, match="global_crops"):
        model(global_crops[:, :1], local_crops)  # one global view: no pair of different views
    with pytest.raises(ValueError, match="global_crops"):
        model(global_crops[:, :1])
    with pytest.raises(ValueError, match="pixel_values"):
        model(pixel_values=global_crops[:, 0])
    with pytest.raises(ValueError, match="local_crops"):
        model(global_crops, local_crops[:2])
    with pytest.raises(ValueError, match="global_crops"):
        model(global_crops[:, :, :1], local_crops)
    with pytest.raises(ValueError, match="local_crops"):
        model(global_crops, local_crops[:, :, :1])
    with pytest.raises(ValueError, match="global_crops"):
        model(global_crops[:, 0], local_crops)  # 4-D
    with pytest.raises(ValueError, match="`global_crops` are 24x24 but the model's image size is 32x32"):
        model(global_crops[..., :24, :24], local_crops)  # wrong crop size
    with pytest.raises(ValueError, match="`local_crops` are 14x14, not a multiple of the patch size"):
        model(global_crops, local_crops[..., :14, :14])
    with pytest.raises(ValueError, match="two global"):
        dino_cross_entropy(torch.randn(3, 2, 8), torch.rand(1, 2, 8), 0.1)
    assert torch.equal(model.center, torch.zeros_like(model.center))  # failed calls left no trace
    with pytest.raises(ValueError, match="num_global_crops"):
        DINOSSLConfig(num_global_crops=1)
    with pytest.raises(ValueError, match="use_cls_token"):
        DINOSSLConfig(use_cls_token=False)


def _center_after_one_step(tmp_path, **args):
    torch.manual_seed(0)
    model = DINOSSLForPreTraining(dino_config())
    trainer = SSLTrainer(model=model, args=_args(tmp_path, max_steps=1, **args), train_dataset=_Crops(n=4))
    trainer.train()
    assert model.defer_batch_statistics is False  # a plain loop afterwards moves the center per forward again
    return model.center.clone(), [p.detach().clone() for p in model.student_encoder.parameters()]


def test_center_moves_once_per_optimizer_step_from_the_whole_accumulated_batch(tmp_path):
    """Official DINO moves the center once per step with the mean teacher output of the whole (global) batch: under
    gradient accumulation the micro-batches' teacher outputs are pooled, not applied one after the other."""
    center, student = _center_after_one_step(tmp_path / "full", per_device_train_batch_size=4)
    accumulated, accumulated_student = _center_after_one_step(
        tmp_path / "accumulated", per_device_train_batch_size=2, gradient_accumulation_steps=2
    )
    assert center.abs().sum() > 0
    torch.testing.assert_close(accumulated, center, atol=1e-6, rtol=0)
    for a, b in zip(accumulated_student, student):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # The center is 0.1 x the mean teacher output of all 4 images; the per-micro-batch update would have made two EMA
    # moves from the two half-batch means.
    torch.manual_seed(0)
    model = DINOSSLForPreTraining(dino_config())
    global_crops, _ = _crops(batch=4, seed=1)
    with torch.no_grad():
        teacher = model.teacher_head(model.encoder(global_crops.transpose(0, 1).flatten(0, 1)).pooler_output)
    halves = teacher.unflatten(0, (2, 4))  # [views, batch, K]
    first, second = halves[:, :2].flatten(0, 1).mean(0), halves[:, 2:].flatten(0, 1).mean(0)
    per_micro_batch = 0.1 * 0.9 * first + 0.1 * second
    torch.testing.assert_close(center[0], 0.1 * teacher.mean(0), atol=1e-6, rtol=0)
    assert not torch.allclose(center[0], per_micro_batch, atol=1e-4)
