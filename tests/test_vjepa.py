"""V-JEPA: 3-D tubelets and positions, rotary embeddings, the 3-D multi-block sampler, the model and its loss."""

import os

import pytest
import torch
import torch.nn.functional as F
from transformers.models.vjepa2.modeling_vjepa2 import rotate_queries_or_keys

from hf_jepa import (
    MultiBlock3DMaskGenerator,
    SSLTrainer,
    VJEPASSLForPreTraining,
    VJEPASSLForVideoClassification,
    VJEPASSLModel,
)
from hf_jepa.models.heads import AttentivePooler
from hf_jepa.models.position_embeddings import rope_tables, sincos_1d, sincos_3d, token_coordinates
from hf_jepa.models.vit import gather_tokens
from tests.tiny import tiny_training_args, tiny_vjepa_config

REFERENCE = os.path.join(os.path.dirname(__file__), "fixtures", "official")
GRID = (2, 4, 4)  # tiny config: 4 frames / tubelet 2, 16 px / patch 4
NUM_TOKENS = 32


def clips(batch=2, frames=4, size=16, seed=0):
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---- positions -----------------------------------------------------------------------------------------------------
def test_3d_sincos_table_equals_the_official_one():
    """The tiny official V-JEPA checkpoint stores the table its code built (64 and 32 wide, 2 x 4 x 4 tokens)."""
    path = os.path.join(REFERENCE, "official_checkpoints", "vjepa_tiny_checkpoint.pth")
    checkpoint = torch.load(path, weights_only=True)
    encoder_table = checkpoint["encoder"]["module.backbone.pos_embed"][0]
    predictor_table = checkpoint["predictor"]["module.backbone.predictor_pos_embed"][0]
    torch.testing.assert_close(sincos_3d(64, GRID), encoder_table, atol=1e-6, rtol=0)
    torch.testing.assert_close(sincos_3d(32, GRID), predictor_table, atol=1e-6, rtol=0)


def test_3d_sincos_blocks_are_time_row_column_and_the_last_is_cut():
    table = sincos_3d(64, GRID)  # blocks of 2 * ceil(64 / 6) = 22 channels: t 0:22, h 22:44, w 44:64 (cut from 22)
    coords = token_coordinates(torch.arange(NUM_TOKENS), GRID)
    expected = torch.cat([sincos_1d(22, coords[:, axis]) for axis in range(3)], dim=1)[:, :64].float()
    torch.testing.assert_close(table, expected)
    assert coords[5].tolist() == [0, 1, 1] and coords[21].tolist() == [1, 1, 1]


def test_rotary_embeddings_equal_transformers_vjepa2_per_block():
    """An independent implementation: transformers' VJEPA2 rotates each of the (t, h, w) blocks separately."""
    head_dim = 16  # blocks of 2 * ((16 // 3) // 2) = 4 channels, 4 channels left unrotated
    x = torch.randn(2, 3, NUM_TOKENS, head_dim)
    coords = token_coordinates(torch.arange(NUM_TOKENS), GRID).float()
    cos, sin = rope_tables(coords, head_dim)
    ours = x * cos + torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2) * sin
    blocks = [rotate_queries_or_keys(x[..., 4 * a : 4 * a + 4], pos=coords[:, a]) for a in range(3)]
    torch.testing.assert_close(ours, torch.cat(blocks + [x[..., 12:]], dim=-1), atol=1e-6, rtol=0)
    assert torch.equal(cos[..., 12:], torch.ones_like(cos[..., 12:])) and not sin[..., 12:].any()


def test_tubelet_tokens_and_images_as_one_frame_clips():
    model = VJEPASSLModel(tiny_vjepa_config()).eval()
    video = clips()
    with torch.no_grad():
        out = model(pixel_values_videos=video)
        image = model(pixel_values=video[:, 0])
        repeated = model(pixel_values_videos=video[:, :1].expand(-1, 2, -1, -1, -1))
    assert out.last_hidden_state.shape == (2, NUM_TOKENS, 32) and out.pooler_output.shape == (2, 32)
    assert image.last_hidden_state.shape == (2, 16, 32)  # one time step of 4 x 4 tokens
    torch.testing.assert_close(image.last_hidden_state, repeated.last_hidden_state)
    torch.testing.assert_close(out.pooler_output, out.last_hidden_state.mean(1))


@pytest.mark.parametrize("position_embedding_type", ["sincos", "rope"])
def test_kept_tokens_keep_the_positions_of_their_ids(position_embedding_type):
    """Dropping tokens: each kept token is placed by its token id (table row or rotary angle), not by where it sits
    in the kept sequence: listing the same ids in another order permutes the outputs and changes nothing else."""
    model = VJEPASSLModel(tiny_vjepa_config(position_embedding_type=position_embedding_type)).eval()
    keep = torch.tensor([[0, 5, 17, 30], [3, 4, 20, 31]])
    order = torch.tensor([[2, 0, 3, 1], [1, 3, 0, 2]])
    with torch.no_grad():
        kept = model(clips(), keep_indices=keep).last_hidden_state
        shuffled = model(clips(), keep_indices=keep.gather(1, order)).last_hidden_state
        by_sequence_slot = model(clips(), keep_indices=torch.arange(4).expand(2, -1)).last_hidden_state
        model.layers = model.layers[:0]  # no attention: a token's output is its own embedding (+ table row)
        alone = model(clips(), keep_indices=keep).last_hidden_state
        full = model(clips()).last_hidden_state
    assert kept.shape == (2, 4, 32)
    torch.testing.assert_close(shuffled, gather_tokens(kept, order), atol=1e-5, rtol=0)
    assert not torch.allclose(kept, by_sequence_slot, atol=1e-3)  # other ids, other positions
    torch.testing.assert_close(alone, gather_tokens(full, keep))


def test_shorter_clips_take_the_first_positions_and_other_sizes_need_interpolation():
    model = VJEPASSLModel(tiny_vjepa_config(position_embedding_type="sincos")).eval()
    with torch.no_grad():
        short = model(clips(frames=2)).last_hidden_state
        assert short.shape == (2, 16, 32)
        with pytest.raises(ValueError, match="interpolate_pos_encoding"):
            model(clips(frames=8))
        longer = model(clips(frames=8), interpolate_pos_encoding=True).last_hidden_state
        bigger = model(clips(size=24), interpolate_pos_encoding=True).last_hidden_state
    assert longer.shape == (2, 64, 32) and bigger.shape == (2, 2 * 36, 32)


def test_bad_clips_raise_clear_errors():
    model = VJEPASSLForPreTraining(tiny_vjepa_config())
    with pytest.raises(ValueError, match="3 frames, not a multiple of the tubelet size 2"):
        model(clips(frames=3))
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(2, 4, 1, 16, 16))
    with pytest.raises(ValueError, match="multiple of the patch size"):
        model(clips(size=18))
    with pytest.raises(ValueError, match="either `pixel_values_videos`"):
        model()
    with pytest.raises(ValueError, match="mask sets"):
        model(clips(), masks=[(torch.tensor([[0, 1]] * 2), torch.tensor([[2, 3]] * 2))])
    with pytest.raises(ValueError, match="rope"):
        tiny_vjepa_config(use_cls_token=True)
    with pytest.raises(ValueError, match="multiple of `tubelet_size`"):
        tiny_vjepa_config(num_frames=5)


# ---- the 3-D multi-block sampler -----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_sampler_invariants(seed):
    sampler = MultiBlock3DMaskGenerator((8, 14, 14))
    generator = torch.Generator().manual_seed(seed)
    pairs = sampler(6, generator=generator)
    targets = MultiBlock3DMaskGenerator((8, 14, 14)).sample_block_masks(
        6, generator=torch.Generator().manual_seed(seed)
    )
    assert len(pairs) == 2
    for (context, target), union in zip(pairs, targets):
        assert context.dtype == torch.int64 and context.shape[0] == target.shape[0] == 6
        for c, t, u in zip(context, target, union.flatten(1)):
            assert torch.all(c[1:] > c[:-1]) and torch.all(t[1:] > t[:-1])  # ascending, no repeats
            assert not set(c.tolist()) & set(t.tolist())  # context excludes targets
            assert u[t].all() and not u[c].any()  # kept positions are the first of the sampled masks
            assert len(t) <= int(u.sum()) and len(c) <= int((~u).sum())
        # Equalised to the batch's shortest: some sample keeps all of its tokens.
        assert target.shape[1] == int(union.flatten(1).sum(1).min())
        assert context.shape[1] == int((~union).flatten(1).sum(1).min())
        # Full temporal extent: every block spans all time steps, so a target is the same in every frame.
        assert torch.equal(union, union[:, :1].expand_as(union))


def test_sampler_block_sizes_follow_the_official_arithmetic():
    """Set 0 (8 blocks of 15% of 14 x 14): area int(196 * 0.15) = 29, so each block is round(sqrt(29 a)) x
    round(sqrt(29 / a)) for the batch's aspect a in [0.75, 1.5]: between 5 x 6 and 7 x 4; a union of 8 such blocks."""
    sampler = MultiBlock3DMaskGenerator((1, 14, 14), [dict(num_blocks=1, spatial_scale=(0.15, 0.15))])
    for seed in range(20):
        union = sampler.sample_block_masks(4, generator=torch.Generator().manual_seed(seed))[0][:, 0]
        rows, cols = union.any(2).sum(1), union.any(1).sum(1)
        assert torch.equal(union.sum((1, 2)), rows * cols)  # one rectangle per sample
        assert len(set(zip(rows.tolist(), cols.tolist()))) == 1  # one block size per batch
        height, width = int(rows[0]), int(cols[0])
        assert (height, width) in {
            (round((29 * a) ** 0.5), round((29 / a) ** 0.5)) for a in torch.linspace(0.75, 1.5, 301).tolist()
        }


def test_sampler_is_seeded_and_max_temporal_keep_makes_the_end_a_target():
    sampler = MultiBlock3DMaskGenerator(
        (4, 6, 6), [dict(num_blocks=2, spatial_scale=(0.2, 0.2), max_temporal_keep=0.5)]
    )
    first = sampler(3, generator=torch.Generator().manual_seed(1))
    again = sampler(3, generator=torch.Generator().manual_seed(1))
    other = sampler(3, generator=torch.Generator().manual_seed(2))
    assert all(torch.equal(a, b) for pa, pb in zip(first, again) for a, b in zip(pa, pb))
    assert not all(torch.equal(a, b) for pa, pb in zip(first, other) for a, b in zip(pa, pb))
    context, _ = first[0]
    assert context.max() < 2 * 36  # context only in the first half of the time steps


def test_sampler_refuses_bad_mask_sets():
    with pytest.raises(ValueError, match="spatial_scale"):
        MultiBlock3DMaskGenerator((2, 4, 4), [dict(spatial_scale=(0.5, 0.2))])
    with pytest.raises(ValueError, match="num_blocks"):
        MultiBlock3DMaskGenerator((2, 4, 4), [dict(num_blocks=0)])
    with pytest.raises(ValueError, match="Unknown mask set keys"):
        MultiBlock3DMaskGenerator((2, 4, 4), [dict(blocks=3)])
    with pytest.raises(ValueError, match="no context"):  # one block as large as the frame covers every token
        MultiBlock3DMaskGenerator((2, 4, 4), [dict(num_blocks=1, spatial_scale=(1.0, 1.0), aspect_ratio=(1, 1))])(2)


# ---- the model -----------------------------------------------------------------------------------------------------
def _perturbed(model):
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return model.eval()


def test_loss_equals_a_hand_computation():
    model = _perturbed(VJEPASSLForPreTraining(tiny_vjepa_config()))
    video = clips()
    out = model(video, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        normed = F.layer_norm(model.encoder(video).last_hidden_state, (32,))
    losses = []
    for (_, target_idx), prediction, target in zip(out.masks, out.predictions, out.targets):
        torch.testing.assert_close(target, gather_tokens(normed, target_idx))
        assert prediction.shape == target.shape == (2, target_idx.shape[1], 32)
        losses.append((prediction - target).abs().mean())
    torch.testing.assert_close(out.loss, torch.stack(losses).mean())
    torch.testing.assert_close(out.logs["loss_mask_set_1"], losses[1].detach())


def test_predictions_depend_on_the_context_tokens_only():
    """The context encoder drops the target tokens: changing the pixels under them changes the targets only."""
    model = _perturbed(VJEPASSLForPreTraining(tiny_vjepa_config()))
    target_tubelet = torch.tensor(
        [[0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]] * 2
    )  # rows 0-1 of the frames
    context_idx = torch.tensor([[8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31]] * 2)
    masks = [(context_idx, target_tubelet)] * 2
    video = clips()
    changed = video.clone()
    changed[..., :8, :] = torch.randn_like(changed[..., :8, :])  # image rows 0-7 = token rows 0-1
    with torch.no_grad():
        a, b = model(video, masks=masks), model(changed, masks=masks)
    torch.testing.assert_close(a.predictions[0], b.predictions[0])
    assert not torch.allclose(a.targets[0], b.targets[0])
    assert not torch.allclose(a.predictions[0], a.predictions[1])  # one mask token per set


def test_mask_tokens_start_at_zero_and_the_target_is_a_copy():
    model = VJEPASSLForPreTraining(tiny_vjepa_config())
    assert model.predictor.mask_tokens.shape == (2, 16) and not model.predictor.mask_tokens.any()
    for online, target in zip(model.context_encoder.parameters(), model.encoder.parameters()):
        assert torch.equal(online, target) and not target.requires_grad


def test_attentive_probe_equals_a_hand_computation():
    pooler = _perturbed(AttentivePooler(32, num_heads=2))
    tokens = torch.randn(3, 10, 32)
    with torch.no_grad():
        pooled = pooler(tokens)
        query = pooler.query_token.expand(3, -1, -1)
        keys, values = pooler.kv(pooler.norm1(tokens)).chunk(2, dim=-1)
        q = pooler.q(query)
        heads = []
        for h in range(2):
            part = slice(16 * h, 16 * h + 16)
            weights = torch.softmax(q[..., part] @ keys[..., part].transpose(1, 2) / 4.0, dim=-1)
            heads.append(weights @ values[..., part])
        expected = query + pooler.proj(torch.cat(heads, dim=-1))
        expected = expected + pooler.mlp(pooler.norm2(expected))
    torch.testing.assert_close(pooled, expected[:, 0], atol=1e-5, rtol=0)


def test_video_classification_trains_its_head():
    model = VJEPASSLForVideoClassification(tiny_vjepa_config(num_labels=3))
    out = model(clips(), labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and out.loss.ndim == 0
    out.loss.backward()
    assert model.probe.query_token.grad.abs().sum() > 0


class _Clips(torch.utils.data.Dataset):
    def __init__(self, n=8):
        # Smooth, slowly changing clips: something a tiny predictor can learn to fill in.
        low = torch.randn(n, 3, 2, 2, 2, generator=torch.Generator().manual_seed(0))
        self.clips = F.interpolate(low, size=(4, 16, 16), mode="trilinear", align_corners=False).transpose(1, 2)

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return {"pixel_values_videos": self.clips[i]}


@pytest.mark.parametrize(
    "position_embedding_type, steps, most",
    # Measured: sin-cos 0.91 -> 0.34 in 40 steps; rotary 0.81 -> 0.76 (its zero-initialised mask tokens carry no
    # position of their own, so the tiny predictor only learns where a target is through the context: slower).
    [("sincos", 15, 0.7), ("rope", 30, 0.97)],
)
def test_few_trainer_steps_reduce_the_loss(tmp_path, position_embedding_type, steps, most):
    model = VJEPASSLForPreTraining(tiny_vjepa_config(position_embedding_type=position_embedding_type))
    data = _Clips()
    masks = model.mask_generator(GRID)(len(data), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = model(data.clips, masks=masks).loss.item()
    args = tiny_training_args(tmp_path, per_device_train_batch_size=8, max_steps=steps, learning_rate=3e-3)
    trainer = SSLTrainer(model=model, args=args, train_dataset=data)
    trainer.train()
    model.eval()
    with torch.no_grad():
        after = model(data.clips, masks=masks).loss.item()
    assert after < most * before, (before, after)
    logged = [entry for entry in trainer.state.log_history if "loss_mask_set_0" in entry]
    assert logged and {"loss_mask_set_1", "target_std", "ema_momentum"} <= set(logged[0])


def _video_trainer(output_dir, data, **overrides):
    from hf_jepa.data.videos import VideoClipCollator
    from hf_jepa.engine.views import RandomResizedCropFlip

    torch.manual_seed(0)
    model = VJEPASSLForPreTraining(tiny_vjepa_config())
    collator = VideoClipCollator(16, (0.5,) * 3, (0.5,) * 3, frames_per_clip=4, frame_stride=2, train=True)
    args = tiny_training_args(output_dir, max_steps=4, **overrides)
    views = RandomResizedCropFlip(16, (0.3, 1.0), (0.75, 1.35))
    return SSLTrainer(model=model, args=args, train_dataset=data, data_collator=collator, train_views=views)


def test_resume_on_real_clips_equals_uninterrupted(tmp_path):
    """Random temporal windows (collator, global RNG), clip crops and masks (per-step generator) all resume."""
    from hf_jepa.data.videos import load_video_dataset

    data = load_video_dataset(cache_dir=str(tmp_path / "cache"), num_clips=20, frames_per_clip=4, frame_stride=2)
    straight = _video_trainer(tmp_path / "run", data["train"], save_strategy="steps", save_steps=2)
    straight.train()
    resumed = _video_trainer(tmp_path / "resumed", data["train"])
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    expected, got = straight.model.state_dict(), resumed.model.state_dict()
    assert resumed.state.global_step == 4
    for name, value in expected.items():
        assert torch.allclose(got[name], value, atol=1e-6), name
