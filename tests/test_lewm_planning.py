"""CEM planning: a toy whose optimum is known, and LeWorldModel's latent goal cost against a hand rollout."""

import pytest
import torch

from hf_jepa import LeWMForPreTraining
from hf_jepa.world import CEMPlanner, latent_goal_cost

from .test_lewm import perturbed, tiny


def test_cem_finds_a_known_optimum_for_every_environment_of_the_batch():
    target = torch.tensor([[[0.5, -0.3]] * 5, [[-1.2, 0.8]] * 5])  # [B=2, H=5, A=2]: another optimum per env
    target[1, 2] = torch.tensor([2.0, 2.0])
    calls = []

    def cost(candidates):
        calls.append(candidates.shape)
        return (candidates - target.unsqueeze(1)).square().sum(dim=(2, 3))

    plan, final = CEMPlanner().solve(
        cost, batch=2, horizon=5, action_size=2, generator=torch.Generator().manual_seed(0)
    )
    assert calls[0] == (2, 300, 5, 2) and len(calls) == 30  # the paper's 300 samples, 30 iterations, batched
    torch.testing.assert_close(plan, target, atol=0.05, rtol=0)
    assert (final < 0.01).all()


def test_cem_keeps_the_mean_among_the_candidates_and_warm_starts():
    seen = []

    def cost(candidates):
        seen.append(candidates[:, 0].clone())
        return candidates.square().sum(dim=(2, 3))

    init = torch.full((1, 3, 2), 0.7)
    CEMPlanner(num_samples=20, num_iterations=1, num_elites=5).solve(cost, 1, 4, 2, init_mean=init)
    expected = torch.zeros(1, 4, 2)
    expected[:, :3] = 0.7  # the rest of the previous plan, then zeros
    torch.testing.assert_close(seen[0], expected)


def test_cem_arguments_are_checked():
    with pytest.raises(ValueError, match="num_elites"):
        CEMPlanner(num_samples=10, num_elites=20)
    with pytest.raises(ValueError, match="num_samples"):
        CEMPlanner(num_samples=0)


def test_latent_goal_cost_is_the_squared_distance_of_the_rolled_out_last_embedding():
    config = tiny(history_size=2)
    model = perturbed(LeWMForPreTraining(config)).eval()
    generator = torch.Generator().manual_seed(0)
    context = torch.randn(2, 1, 16, generator=generator)
    goal = torch.randn(2, 16, generator=generator)
    candidates = torch.randn(2, 3, 4, config.action_input_size, generator=generator)  # B 2, S 3, horizon 4
    cost = latent_goal_cost(model, context, torch.zeros(2, 0, config.action_input_size), goal)
    with torch.no_grad():
        got = cost(candidates)
        for b in range(2):
            for s in range(3):
                last = model.rollout(context[b : b + 1], candidates[b, s : s + 1])[0, -1]
                torch.testing.assert_close(got[b, s], (last - goal[b]).square().sum(), rtol=1e-4, atol=1e-5)


class _Stub(torch.nn.Module):
    """An 'encoder' whose embedding is the bright pixel's coordinates (or noise): a known answer for the probe."""

    def __init__(self, noise: bool):
        super().__init__()
        self.noise, self.weight = noise, torch.nn.Parameter(torch.zeros(1))

    def encode(self, pixels):  # [..., C, H, W] -> [..., features], as LeWMForPreTraining.encode
        leading, pixels = pixels.shape[:-3], pixels.flatten(0, -4)
        return self._features(pixels).unflatten(0, leading)

    def _features(self, pixels):
        if self.noise:
            return torch.randn(pixels.shape[0], 4)
        brightness = pixels.sum(1)  # [N, H, W]
        ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
        total = brightness.flatten(1).sum(1)
        return torch.stack(
            [(brightness * xs).flatten(1).sum(1) / total, (brightness * ys).flatten(1).sum(1) / total], 1
        )


def test_position_probe_reads_the_state_from_an_embedding_that_holds_it(tmp_path):
    from hf_jepa.models import SSLImageProcessor
    from hf_jepa.world.probe import position_probe

    from .test_lewm_data import dot_trajectories

    dot_trajectories(lengths=(40,) * 10).save_to_disk(tmp_path / "data")
    processor = SSLImageProcessor(size={"height": 16, "width": 16}, image_mean=[0, 0, 0], image_std=[1, 1, 1])
    torch.manual_seed(0)
    scores = position_probe({"pos": _Stub(False), "noise": _Stub(True)}, str(tmp_path / "data"), processor)
    assert scores["frames"] == 400 and scores["held_out_frames"] == 80  # 2 of 10 episodes held out
    assert scores["pos_r2"] > 0.9 and scores["noise_r2"] < 0.2


class _StillWorld(_Stub):
    """A world model that predicts no motion, on the bright pixel's coordinates: teleports surprise it, steps less."""

    def __init__(self):
        super().__init__(noise=False)
        self.config = tiny(frameskip=1)

    def predict(self, embeddings, actions):
        return embeddings


def test_surprise_is_higher_for_teleported_frames_than_for_real_ones(tmp_path):
    from hf_jepa.models import SSLImageProcessor
    from hf_jepa.world.probe import surprise

    from .test_lewm_data import dot_trajectories

    dot_trajectories(lengths=(30,) * 8).save_to_disk(tmp_path / "data")
    processor = SSLImageProcessor(size={"height": 16, "width": 16}, image_mean=[0, 0, 0], image_std=[1, 1, 1])
    scores = surprise(_StillWorld(), str(tmp_path / "data"), processor, windows=64)
    assert scores["windows"] == 64 and scores["teleport_surprise"] > 3 * scores["real_surprise"]
    assert scores["teleport_more_surprising"] > 0.7
