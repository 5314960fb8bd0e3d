"""What transformers' own common model tests (ModelTesterMixin) expect of a model class, checked on every class of
every method in the table: meta-device building and buffer init, config-driven hidden states and attentions, eager
and SDPA attention, `problem_type` in the heads, tuple outputs equal to `to_tuple()`, the forward signature,
`get_encoder(modality=...)`, batching, and torch.export / ONNX."""

import inspect

import pytest
import torch
import torch.nn.functional as F

from hf_jepa import METHODS
from hf_jepa.models import SSLPreTrainedModel
from tests.methods import ALL_METHODS, encoder_inputs, pretraining_inputs, tiny_config

ROLES = ("model_class", "classification_class", "pretraining_class")
ALL_CLASSES = [
    pytest.param(method, role, id=f"{name}-{role.split('_')[0]}") for name, method in METHODS.items() for role in ROLES
]
ENCODER_CLASSES = [p for p in ALL_CLASSES if p.values[1] != "pretraining_class"]


def _inputs(method, role, config, batch=2, seed=0) -> dict:
    if role == "pretraining_class":
        return pretraining_inputs(method, config, batch, seed)
    return encoder_inputs(method, config, batch, seed)


def _build(method, role, config):
    torch.manual_seed(0)
    return getattr(method, role)(config).eval()


def _sequence_length(method, config) -> int:
    return config.num_prefix_tokens + int(torch.tensor(config.token_grid_size).prod())


@pytest.mark.parametrize("method, role", ALL_CLASSES)
def test_builds_on_the_meta_device_and_init_recreates_every_buffer(method, role):
    config = tiny_config(method)
    reference = _build(method, role, config)
    with torch.device("meta"):
        model = getattr(method, role)(config)
    model.to_empty(device="cpu")
    model.init_weights()
    assert not [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    expected = dict(reference.named_buffers())
    buffers = dict(model.named_buffers())  # persistent and not: position tables, DINO's center and its sums
    assert buffers.keys() == expected.keys()
    for name, value in buffers.items():
        assert torch.equal(value, expected[name]), name
    # Loading from nothing (all weights missing) initialises everything off the meta device too.
    loaded = getattr(method, role).from_pretrained(None, config=config, state_dict={})
    assert not [n for n, t in loaded.state_dict().items() if t.is_meta]


@pytest.mark.parametrize("method, role", ALL_CLASSES)
def test_forward_signature_and_get_encoder(method, role):
    cls = getattr(method, role)
    assert list(inspect.signature(cls.forward).parameters)[1] == cls.main_input_name
    # transformers calls get_encoder(modality=...) (its exporters do): never override it without that argument.
    assert all("get_encoder" not in vars(c) for c in cls.__mro__ if issubclass(c, SSLPreTrainedModel))
    model = _build(method, role, tiny_config(method))
    assert model.get_encoder() is (model if role == "model_class" else model.encoder)
    model.get_encoder(modality="image")


@pytest.mark.parametrize("method, role", ENCODER_CLASSES)
def test_hidden_states_from_the_argument_or_the_config(method, role):
    config = tiny_config(method)
    inputs = _inputs(method, role, config)
    expected_shape = (2, _sequence_length(method, config), config.hidden_size)
    with torch.no_grad():
        by_argument = _build(method, role, config)(**inputs, output_hidden_states=True).hidden_states
        config.output_hidden_states = True
        by_config = _build(method, role, config)(**inputs).hidden_states
    for states in (by_argument, by_config):
        assert len(states) == config.num_hidden_layers + 1
        assert all(tuple(s.shape) == expected_shape for s in states)
    assert _build(method, role, tiny_config(method))(**inputs).hidden_states is None


@pytest.mark.parametrize("method, role", ENCODER_CLASSES)
def test_eager_attention_returns_weights_and_matches_sdpa(method, role):
    config = tiny_config(method)
    inputs = _inputs(method, role, config)
    length = _sequence_length(method, config)
    sdpa = _build(method, role, config)
    assert sdpa.config._attn_implementation == "sdpa"
    eager = getattr(method, role)._from_config(tiny_config(method), attn_implementation="eager").eval()
    eager.load_state_dict(sdpa.state_dict())
    with torch.no_grad():
        reference = sdpa(**inputs)
        out = eager(**inputs, output_attentions=True)
        switched = sdpa.set_attn_implementation("eager") or sdpa(**inputs)
    assert sdpa.config._attn_implementation == "eager"
    assert reference.attentions is None
    assert len(out.attentions) == config.num_hidden_layers
    for weights in out.attentions:
        assert weights.shape == (2, config.num_attention_heads, length, length)
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))  # rows are distributions
    torch.testing.assert_close(out[0], reference[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(switched[0], reference[0], atol=1e-5, rtol=0)
    # Asked through the config of an eager model, as transformers' tests do.
    config = tiny_config(method, attn_implementation="eager")
    config.output_attentions = True
    assert len(_build(method, role, config)(**inputs).attentions) == config.num_hidden_layers
    with pytest.raises(ValueError, match="not supported"):
        sdpa.set_attn_implementation("foo")


@pytest.mark.parametrize("method, role", ENCODER_CLASSES)
def test_first_output_depends_on_the_first_hidden_state_and_attention(method, role):
    config = tiny_config(method, attn_implementation="eager")
    model = _build(method, role, config).train()
    out = model(**_inputs(method, role, config), output_hidden_states=True, output_attentions=True)
    out.hidden_states[0].retain_grad()
    out.attentions[0].retain_grad()
    out[0].flatten()[0].backward()
    assert out.hidden_states[0].grad is not None and out.attentions[0].grad is not None


def _assert_same(a, b, path="output"):
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0, msg=path)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


EXTRAS = [{}, {"output_hidden_states": True}, {"output_attentions": True}]


@pytest.mark.parametrize(
    "method, role, extra",
    [
        pytest.param(*p.values, extra, id=f"{p.id}-{'-'.join(extra) or 'plain'}")
        for p in ALL_CLASSES
        for extra in (EXTRAS if p.values[1] != "pretraining_class" else EXTRAS[:1])  # no hidden states there
    ],
)
def test_tuple_outputs_equal_to_tuple(method, role, extra):
    config = tiny_config(method)
    model = _build(method, role, config)
    with torch.no_grad():
        as_tuple = model(**_inputs(method, role, config), **extra, return_dict=False)
        as_dict = model(**_inputs(method, role, config), **extra, return_dict=True)
        config.return_dict = False
        by_config = model(**_inputs(method, role, config), **extra)
    assert isinstance(as_tuple, tuple) and isinstance(by_config, tuple)
    _assert_same(as_tuple, as_dict.to_tuple())
    _assert_same(by_config, as_dict.to_tuple())


@pytest.mark.parametrize("method, role", ENCODER_CLASSES)
def test_batching_gives_each_row_its_own_output(method, role):
    config = tiny_config(method)
    model = _build(method, role, config)
    inputs = _inputs(method, role, config, batch=3)
    with torch.no_grad():
        batched = model(**inputs)[0]
        single = model(**{k: v[1:2] for k, v in inputs.items()})[0]
    torch.testing.assert_close(batched[1:2], single, atol=1e-5, rtol=1e-5)


def _classifier(method, num_labels, problem_type=None):
    config = tiny_config(method, num_labels=num_labels, problem_type=problem_type)
    return _build(method, "classification_class", config), config


@pytest.mark.parametrize("method", ALL_METHODS)
def test_classification_heads_follow_problem_type(method):
    inputs = encoder_inputs(method, tiny_config(method), batch=4)
    model, config = _classifier(method, 3)
    labels = torch.tensor([0, 2, 1, 2])
    out = model(**inputs, labels=labels)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))
    assert config.problem_type == "single_label_classification"

    model, config = _classifier(method, 3)
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    out = model(**inputs, labels=targets)  # float labels of several classes: multi-label
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, targets))
    assert config.problem_type == "multi_label_classification"

    model, config = _classifier(method, 1)
    values = torch.tensor([0.5, -1.0, 2.0, 0.0])
    out = model(**inputs, labels=values)
    assert out.logits.shape == (4, 1) and config.problem_type == "regression"
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits.squeeze(), values))

    model, _ = _classifier(method, 3, problem_type="multi_label_classification")
    out = model(**inputs, labels=targets)
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, targets))
    out.loss.backward()
    assert model.classifier.weight.grad is not None


@pytest.mark.parametrize("method", ALL_METHODS)
def test_encoder_exports_with_torch_export(method):
    config = tiny_config(method)
    model = _build(method, "model_class", config)
    inputs = encoder_inputs(method, config, batch=2)
    exported = torch.export.export(model, args=(), kwargs=inputs, strict=False)
    other = encoder_inputs(method, config, batch=2, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(**other)[0], model(**other).last_hidden_state, atol=1e-5, rtol=0)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_encoder_exports_to_onnx_with_dynamic_shapes(method, tmp_path):
    """transformers' ONNX exporter path (torch.export, then onnxscript) with every input size symbolic: batch, frames
    and pixels. The rotary coordinates of video models used a remainder by a symbolic size, which ONNX cannot take."""
    onnxruntime = pytest.importorskip("onnxruntime")
    config = tiny_config(method)
    model = _build(method, "model_class", config)
    ((name, pixels),) = encoder_inputs(method, config).items()
    axes = {0: "batch", pixels.ndim - 2: "height", pixels.ndim - 1: "width"}
    if pixels.ndim == 5:
        axes[1] = "frames"
    path = tmp_path / "encoder.onnx"
    torch.onnx.export(model, args=(), kwargs={name: pixels}, f=str(path), dynamo=True, dynamic_shapes={name: axes})
    session = onnxruntime.InferenceSession(str(path))
    # Another batch size (and, for clips, half the frames) through the exported graph.
    other = encoder_inputs(method, config, batch=3, seed=1)[name]
    if other.ndim == 5:
        other = other[:, : config.num_frames // 2]
    (got, *_) = session.run(None, {session.get_inputs()[0].name: other.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model(other).last_hidden_state, atol=1e-4, rtol=1e-4)
