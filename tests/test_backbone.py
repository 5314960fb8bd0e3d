"""The shared ViT: positions, token dropping, prefix tokens, checkpointing, input checks."""

import numpy as np
import pytest
import torch

from hf_jepa.models import SSLViTConfig, SSLViTModel
from hf_jepa.models.position_embeddings import resize_2d_table, sincos_2d


def _mae_reference_table(dim, grid):
    """The official MAE numpy formula, written independently: meshgrid(grid_w, grid_h), first half from grid[0]."""
    grid_h, grid_w = np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32)
    mesh = np.stack(np.meshgrid(grid_w, grid_h)).reshape(2, 1, grid, grid)

    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one_d(dim // 2, mesh[0]), one_d(dim // 2, mesh[1])], axis=1)


def test_sincos_matches_official_formula():
    ours = sincos_2d(64, (7, 7)).numpy()
    assert np.allclose(ours, _mae_reference_table(64, 7), atol=1e-6)


def test_resize_table_identity_and_shape():
    table = sincos_2d(16, (4, 4))
    assert resize_2d_table(table, (4, 4), (4, 4)) is table
    assert resize_2d_table(table, (4, 4), (6, 8)).shape == (48, 16)


def _config(**kwargs):
    base = dict(image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2)
    return SSLViTConfig(**{**base, **kwargs})


def test_keep_indices_drops_tokens_and_is_permutation_equivariant():
    model = SSLViTModel(_config()).eval()
    pixels = torch.randn(2, 3, 16, 16)
    full = model(pixels).last_hidden_state  # [2, 16, 32]
    everything = torch.arange(16).expand(2, -1)
    assert torch.allclose(model(pixels, keep_indices=everything).last_hidden_state, full, atol=1e-6)
    perm = torch.stack([torch.randperm(16) for _ in range(2)])
    permuted = model(pixels, keep_indices=perm).last_hidden_state
    assert torch.allclose(permuted, torch.gather(full, 1, perm[..., None].expand(-1, -1, 32)), atol=1e-5)
    kept = model(pixels, keep_indices=perm[:, :5]).last_hidden_state
    assert kept.shape == (2, 5, 32)
    assert not torch.allclose(kept, permuted[:, :5], atol=1e-4)  # the dropped tokens no longer attend


def test_cls_and_register_tokens():
    model = SSLViTModel(_config(use_cls_token=True, num_register_tokens=2, pooling="cls")).eval()
    out = model(torch.randn(3, 3, 16, 16))
    assert out.last_hidden_state.shape == (3, 1 + 2 + 16, 32)
    assert torch.equal(out.pooler_output, out.last_hidden_state[:, 0])


def test_mean_pooling_excludes_prefix_tokens():
    model = SSLViTModel(_config(use_cls_token=True)).eval()
    out = model(torch.randn(2, 3, 16, 16))
    assert torch.allclose(out.pooler_output, out.last_hidden_state[:, 1:].mean(1))


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    model = SSLViTModel(_config()).train()
    pixels = torch.randn(2, 3, 16, 16)
    model(pixels).last_hidden_state.square().mean().backward()
    reference = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.activation_checkpointing_enable()
    assert all(layer.gradient_checkpointing for layer in model.layers)
    model(pixels).last_hidden_state.square().mean().backward()
    for ref, param in zip(reference, model.parameters()):
        assert torch.allclose(ref, param.grad, atol=1e-6)


def test_drop_path_only_in_training():
    model = SSLViTModel(_config(drop_path_rate=0.5))
    pixels = torch.randn(4, 3, 16, 16)
    model.eval()
    assert torch.equal(model(pixels).last_hidden_state, model(pixels).last_hidden_state)
    model.train()
    torch.manual_seed(1)
    first = model(pixels).last_hidden_state
    torch.manual_seed(2)
    assert not torch.allclose(first, model(pixels).last_hidden_state)


def test_interpolate_pos_encoding():
    model = SSLViTModel(_config()).eval()
    with pytest.raises(ValueError, match="interpolate_pos_encoding"):
        model(torch.randn(1, 3, 24, 24))
    out = model(torch.randn(1, 3, 24, 24), interpolate_pos_encoding=True)
    assert out.last_hidden_state.shape == (1, 36, 32)


@pytest.mark.parametrize(
    "shape, message",
    [((1, 1, 16, 16), "channels"), ((1, 3, 18, 16), "patch size"), ((3, 16, 16), "4-D"), ((1, 3, 8, 8), "16x16")],
)
def test_bad_pixel_values_are_clear_errors(shape, message):
    model = SSLViTModel(_config())
    with pytest.raises(ValueError, match="pixel_values") as info:
        model(torch.randn(shape))
    assert message in str(info.value)


def test_config_validation():
    with pytest.raises(ValueError, match="num_attention_heads"):
        _config(num_attention_heads=5)
    with pytest.raises(ValueError, match="patch_size"):
        _config(image_size=18)
    with pytest.raises(ValueError, match="use_cls_token"):
        _config(pooling="cls")


def test_query_only_block_equals_full_block_on_the_queries():
    from hf_jepa.models.vit import TransformerBlock

    block = TransformerBlock(_config(), 32, 4, 64, layer_id=1).eval()
    hidden = torch.randn(3, 10, 32)
    assert torch.allclose(block(hidden, num_queries=4)[0], block(hidden)[0][:, -4:], atol=1e-6)
    hidden.requires_grad_(True)
    block(hidden, num_queries=4)[0].sum().backward()
    reference = hidden.grad.clone()
    hidden.grad = None
    block(hidden)[0][:, -4:].sum().backward()
    assert torch.allclose(hidden.grad, reference, atol=1e-5)
