"""LARS (`--optim lars`): the official SimCLR update rule, step by step against a plain-math reference; biases and
norms spared decay and trust ratio; zero norms; and through `SSLTrainer`, with its schedules and resume."""

import math

import pytest
import torch
import torch.nn as nn
from transformers import HfArgumentParser
from transformers.training_args import OptimizerNames

from hf_jepa import METHODS, SSLTrainer, SSLTrainingArguments
from hf_jepa.engine.lars import LARS
from hf_jepa.registry import default_processor
from tests.methods import MediaDataset, tiny_config
from tests.tiny import tiny_training_args


class _Net(nn.Module):
    """Weights, biases, a BatchNorm inside a Sequential (named `head.1.*`: no "norm" in its name) and a LayerNorm."""

    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(6, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        return self.norm(self.head(x))


def _loss(outputs: torch.Tensor, step: int) -> torch.Tensor:
    return ((outputs - math.sin(step)) ** 2).mean() + outputs[:, 0].mean()


def _reference(weights: dict, groups: list[dict], lrs: list[float], inputs: list, momentum, eeta, nesterov) -> tuple:
    """The official rule (SimCLR's `LARSOptimizer`, classic momentum), one tensor at a time, on a copy of the weights:
    its own forward and gradients, so its trajectory owes nothing to the optimizer under test."""
    model = _Net()
    weights = {name: value.clone() for name, value in weights.items()}
    velocity = {name: torch.zeros_like(value) for name, value in weights.items()}
    for step, (lr, x) in enumerate(zip(lrs, inputs)):
        for value in weights.values():
            value.requires_grad_(True)
        outputs = torch.func.functional_call(model, weights, (x,))
        grads = dict(zip(weights, torch.autograd.grad(_loss(outputs, step), list(weights.values()))))
        for group in groups:
            for name in group["names"]:
                w = weights[name].detach()
                g = grads[name] + group["weight_decay"] * w  # decay first: it is part of ||g||
                trust = 1.0
                if group["lars_adaptation"]:
                    w_norm, g_norm = w.pow(2).sum().sqrt().item(), g.pow(2).sum().sqrt().item()
                    if w_norm > 0 and g_norm > 0:
                        trust = eeta * w_norm / g_norm
                velocity[name] = momentum * velocity[name] + lr * trust * g
                update = momentum * velocity[name] + lr * trust * g if nesterov else velocity[name]
                weights[name] = w - update
    return {k: v.detach() for k, v in weights.items()}, velocity


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_steps_equal_the_official_rule(nesterov):
    torch.manual_seed(0)
    model = _Net()
    start = {name: value.detach().clone() for name, value in model.named_parameters()}
    decayed = ["head.0.weight", "head.3.weight"]
    groups = [
        dict(names=decayed, weight_decay=0.1, lars_adaptation=True),
        dict(names=[name for name in start if name not in decayed], weight_decay=0.0, lars_adaptation=False),
    ]
    parameters = dict(model.named_parameters())
    optimizer = LARS(
        [{**g, "params": [parameters[n] for n in g.pop("names")]} for g in [dict(g) for g in groups]],
        lr=0.0,
        momentum=0.8,
        eeta=0.02,
        nesterov=nesterov,
    )
    # A learning rate that moves every step (warmup, then decay): SimCLR puts it inside the momentum buffer.
    lrs, inputs = [0.5, 1.0, 2.0, 0.25, 1.5], [torch.randn(5, 6) for _ in range(5)]
    for step, (lr, x) in enumerate(zip(lrs, inputs)):
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        _loss(model(x), step).backward()
        optimizer.step()
    want, want_velocity = _reference(start, groups, lrs, inputs, momentum=0.8, eeta=0.02, nesterov=nesterov)
    for name, parameter in model.named_parameters():
        # Compared as displacements from the start, so that an error in the small LARS steps cannot hide.
        assert torch.allclose(parameter - start[name], want[name] - start[name], rtol=1e-4, atol=1e-7), name
        assert torch.allclose(optimizer.state[parameter]["momentum_buffer"], want_velocity[name], rtol=1e-4, atol=1e-8)


def test_biases_and_norms_get_momentum_sgd_and_weights_get_lars(tmp_path):
    torch.manual_seed(0)
    trainer = SSLTrainer(model=_Net(), args=tiny_training_args(tmp_path, optim="lars", weight_decay=0.1))
    optimizer = trainer.create_optimizer()
    assert isinstance(optimizer, LARS)
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    spared = {"head.1.weight", "head.1.bias", "head.3.bias", "norm.weight", "norm.bias"}
    for name, parameter in trainer.model.named_parameters():
        group = group_of[id(parameter)]
        want = (0.0, False) if name in spared else (0.1, True)
        assert (group["weight_decay"], group["lars_adaptation"]) == want, name

    sgd_copy = {name: p.detach().clone().requires_grad_(True) for name, p in trainer.model.named_parameters()}
    sgd = torch.optim.SGD([sgd_copy[name] for name in sorted(spared)], lr=0.3, momentum=0.9)
    for group in optimizer.param_groups:
        group["lr"] = 0.3
    for _ in range(3):
        for name, parameter in trainer.model.named_parameters():
            parameter.grad = torch.randn_like(parameter)
            sgd_copy[name].grad = parameter.grad.clone()
        optimizer.step()
        sgd.step()
    for name, parameter in trainer.model.named_parameters():
        same = torch.allclose(parameter, sgd_copy[name], atol=1e-6)
        assert same == (name in spared), name  # the weights do get the trust ratio and the decay


def test_zero_weights_or_gradients_give_trust_ratio_one():
    gradient = torch.randn(3, 4)
    zero_weights = nn.Parameter(torch.zeros(3, 4))
    zero_weights.grad = gradient.clone()
    weights = nn.Parameter(torch.randn(3, 4))
    weights.grad = torch.zeros(3, 4)
    start = weights.detach().clone()
    LARS([zero_weights, weights], lr=0.5, momentum=0.9, weight_decay=0.0).step()
    assert torch.equal(zero_weights.detach(), -0.5 * gradient)  # the plain learning rate, no NaN from 0 / ||g||
    assert torch.equal(weights.detach(), start)  # no gradient, no move, no NaN from ||w|| / 0

    both = nn.Parameter(torch.zeros(2))
    both.grad = torch.zeros(2)
    LARS([both], lr=1.0, weight_decay=0.1).step()
    assert torch.equal(both.detach(), torch.zeros(2))


def test_optim_lars_is_an_argument_like_transformers_optimizers(tmp_path):
    (args,) = HfArgumentParser(SSLTrainingArguments).parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--optim", "lars", "--optim_args", "momentum=0.8, eeta=0.01,nesterov=true"]
    )
    assert args.optim == "lars" and args.to_dict()["optim"] == "lars"
    assert SSLTrainer.get_optimizer_cls_and_kwargs(args) == (
        LARS,
        {"lr": args.learning_rate, "momentum": 0.8, "eeta": 0.01, "nesterov": True},
    )
    with pytest.raises(ValueError, match="optim_args"):
        SSLTrainingArguments(output_dir=str(tmp_path), optim="lars", optim_args="trust=0.01")
    assert SSLTrainingArguments(output_dir=str(tmp_path), optim="sgd").optim == OptimizerNames.SGD
    with pytest.raises(ValueError):
        SSLTrainingArguments(output_dir=str(tmp_path), optim="larss")


def _trainer(output_dir, **args):
    method = METHODS["ijepa"]
    config = tiny_config(method)
    torch.manual_seed(0)
    model = method.pretraining_class(config)
    data = MediaDataset(method, config, size=8)
    views = method.train_views(config, default_processor(method, config))
    base = dict(optim="lars", learning_rate=2.0, warmup_steps=2, weight_decay=0.05, weight_decay_end=0.2)
    args = tiny_training_args(output_dir, **{"max_steps": 4, **base, **args})
    return SSLTrainer(model=model, args=args, train_dataset=data, train_views=views)


def _lars(trainer) -> LARS:
    return getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # accelerate wraps it


def test_trainer_trains_with_lars_and_resumes_exactly(tmp_path):
    initial = {k: v.clone() for k, v in _trainer(tmp_path / "unused").model.state_dict().items()}
    straight = _trainer(tmp_path / "run", save_strategy="steps", save_steps=2)
    straight.train()
    optimizer = _lars(straight)
    assert isinstance(optimizer, LARS)
    losses = [log["loss"] for log in straight.state.log_history if "loss" in log]
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)
    trained = straight.model.state_dict()
    assert any(not torch.equal(initial[name], value) for name, value in trained.items())
    decay, spared = sorted(optimizer.param_groups, key=lambda group: not group["lars_adaptation"])
    # The weight-decay schedule reaches LARS's decayed group (its value at the last step), never the spared one.
    assert decay["lars_adaptation"] and decay["weight_decay"] == pytest.approx(straight.weight_decay_at(3))
    assert not spared["lars_adaptation"] and spared["weight_decay"] == 0.0
    assert decay["lr"] != 2.0  # transformers' warmup and decay drive it

    resumed = _trainer(tmp_path / "resumed")
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    assert resumed.state.global_step == 4
    got = resumed.model.state_dict()
    for name, value in trained.items():
        assert torch.allclose(got[name], value, atol=1e-6), name
    for want, have in zip(optimizer.param_groups, _lars(resumed).param_groups):
        for p, q in zip(want["params"], have["params"]):  # the momentum came back from the checkpoint
            assert torch.allclose(_lars(resumed).state[q]["momentum_buffer"], optimizer.state[p]["momentum_buffer"])
