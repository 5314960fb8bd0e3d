"""SIGReg (LeJEPA's regulariser): its value against the Epps-Pulley integral computed independently (scipy's adaptive
quadrature of the complex empirical characteristic function), the quadrature rules ([0, t] doubled vs [-t, t], the
paper's Algorithm 1), invariances, Gaussian vs collapsed batches, views, slices, errors, and 2 processes (gloo)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate

from hf_jepa.models.sigreg import SIGReg
from tests.distributed import sigreg_worker as worker
from tests.distributed.harness import run_distributed

WORKERS = Path(__file__).parent / "distributed"


# ---- independent references, written from the formula ---------------------------------------------------------------
def _unit(slices: torch.Tensor) -> torch.Tensor:
    return slices / slices.norm(dim=0, keepdim=True)


def _integrand(x: np.ndarray, t: float) -> float:
    """|mean_n exp(i t x_n) - exp(-t^2/2)|^2 exp(-t^2/2) for one slice's projections x [N]."""
    ecf = np.exp(1j * t * x).mean()
    return abs(ecf - math.exp(-t * t / 2)) ** 2 * math.exp(-t * t / 2)


def reference_statistic(z: torch.Tensor, slices: torch.Tensor, low: float, high: float) -> float:
    """N * integral_low^high of the integrand, by adaptive quadrature, averaged over the unit slices."""
    x = (z.double() @ _unit(slices.double())).numpy()  # [N, M]
    values = [
        integrate.quad(lambda t, c=c: _integrand(x[:, c], t), low, high, limit=200)[0] for c in range(x.shape[1])
    ]
    return x.shape[0] * float(np.mean(values))


def trapezoid_statistic(z: torch.Tensor, slices: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """The paper's Algorithm 1 written with complex numbers: trapezoid over `knots` of the windowed |ECF - CF|^2,
    times N, mean over slices (differentiable)."""
    x = z @ _unit(slices)  # [N, M]
    ecf = torch.exp(1j * x.unsqueeze(-1) * knots).mean(dim=0)  # [M, K]
    gaussian = torch.exp(-knots.square() / 2)
    return (torch.trapezoid((ecf - gaussian).abs().square() * gaussian, knots, dim=-1) * z.shape[0]).mean()


def _data(n: int, d: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return 0.8 * x + 0.3 * x.square() - 0.2  # skewed, off-centre: clearly not N(0, I)


def _slices(d: int, m: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(d, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---- (1) the value --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "d"), [(2, 3), (40, 5), (300, 16)])
def test_value_equals_the_epps_pulley_integral(n, d):
    z, slices = _data(n, d), _slices(d, 4)
    half = SIGReg(num_slices=4, num_knots=3001, t_max=3.0)(z, slices=slices)
    full = SIGReg(num_slices=4, num_knots=4001, t_max=5.0, integration="full")(z, slices=slices)
    assert half.dtype == torch.float64
    torch.testing.assert_close(half.item(), reference_statistic(z, slices, -3.0, 3.0), rtol=1e-6, atol=0)
    torch.testing.assert_close(full.item(), reference_statistic(z, slices, -5.0, 5.0), rtol=1e-6, atol=0)


def test_default_rules_are_the_library_and_the_paper():
    """Defaults: 1024 slices, 17 knots on [0, 3] doubled (the library's); the paper's Algorithm 1 is 17 on [-5, 5].
    Both equal the complex-number trapezoid over their knots, value and gradient."""
    default = SIGReg()
    assert (default.num_slices, default.num_knots, default.t_max, default.integration) == (1024, 17, 3.0, "half")
    z, slices = _data(64, 8), _slices(8, 1024)
    cases = [
        (default, torch.linspace(-3, 3, 33, dtype=torch.float64)),
        (SIGReg(integration="full", t_max=5.0), torch.linspace(-5, 5, 17, dtype=torch.float64)),
    ]
    for module, knots in cases:
        ours, theirs = z.clone().requires_grad_(), z.clone().requires_grad_()
        value, expected = module(ours, slices=slices), trapezoid_statistic(theirs, slices, knots)
        torch.testing.assert_close(value, expected, rtol=1e-12, atol=0)
        value.backward(), expected.backward()
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-10, atol=1e-14)


# ---- (5) the two integration ranges ---------------------------------------------------------------------------------
def test_the_integrand_is_even_so_half_range_doubled_equals_full_range():
    z, slices = _data(50, 6), _slices(6, 3)
    x = (z @ _unit(slices)).numpy()
    for t in (0.3, 1.7, 2.9):  # |ECF(-t) - CF(-t)| = |ECF(t) - CF(t)|: CF is real, ECF(-t) its conjugate
        assert _integrand(x[:, 0], -t) == pytest.approx(_integrand(x[:, 0], t), rel=1e-12)
    half = 2 * reference_statistic(z, slices, 0.0, 3.0)
    assert half == pytest.approx(reference_statistic(z, slices, -3.0, 3.0), rel=1e-9)
    # The quadrature rules: K knots on [0, t] with doubled weights (t = 0 weighted dt, being its own mirror) are the
    # trapezoid on the 2K - 1 knots of [-t, t], exactly.
    for knots, t_max in ((17, 3.0), (9, 5.0), (2, 1.0), (6, 2.5)):
        doubled = SIGReg(num_slices=3, num_knots=knots, t_max=t_max)(z, slices=slices)
        mirrored = SIGReg(num_slices=3, num_knots=2 * knots - 1, t_max=t_max, integration="full")(z, slices=slices)
        torch.testing.assert_close(doubled, mirrored, rtol=1e-12, atol=0)
    # The library's weights: dt at t = 0 (its own mirror), 2 dt inside, dt at t_max; times the window. (The t = 0
    # knot adds nothing to the value, ECF(0) = CF(0) = 1, so only the weights themselves can show it.)
    knots, window, weights = SIGReg(num_slices=3)._grid
    dt = 3.0 / 16
    expected = torch.full((17,), 2 * dt, dtype=torch.float64)
    expected[0] = expected[-1] = dt
    torch.testing.assert_close(knots, torch.linspace(0, 3, 17, dtype=torch.float64))
    torch.testing.assert_close(weights, expected * torch.exp(-knots.square() / 2))
    torch.testing.assert_close(window, torch.exp(-knots.square() / 2))


# ---- (2) invariances ------------------------------------------------------------------------------------------------
def test_rotation_permutation_and_sign_invariance():
    z, slices = _data(30, 5), _slices(5, 8)
    module = SIGReg(num_slices=8)
    value = module(z, slices=slices)
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    assert not torch.allclose(rotation, torch.eye(5, dtype=torch.float64))
    torch.testing.assert_close(module(z @ rotation, slices=rotation.T @ slices), value, rtol=1e-12, atol=0)
    # a rotated batch seen through the SAME slices is a different statistic (the check above is not vacuous)
    assert not torch.allclose(module(z @ rotation, slices=slices), value, rtol=1e-3)
    torch.testing.assert_close(module(z[torch.randperm(30)], slices=slices), value, rtol=1e-12, atol=0)
    torch.testing.assert_close(module(-z, slices=slices), value, rtol=1e-12, atol=0)  # N(0, 1) is symmetric
    torch.testing.assert_close(module(z, slices=slices * torch.rand(8).add(0.5)), value, rtol=1e-12, atol=0)
    assert module(z + 0.5, slices=slices) > value * 1.5  # not translation-invariant: the target is centred


# ---- (3) Gaussian vs not, and training pushes towards Gaussian ------------------------------------------------------
def test_gaussian_batches_score_about_one_and_collapsed_ones_order_n():
    n, d = 1024, 8
    module = SIGReg(num_slices=256)
    generator = torch.Generator().manual_seed(4)
    gaussian = module(torch.randn(n, d, generator=generator), step=0).item()
    # For Gaussian samples E[N |ECF(t) - CF(t)|^2] = 1 - exp(-t^2): the statistic's mean is this integral.
    expected = integrate.quad(lambda t: (1 - math.exp(-t * t)) * math.exp(-t * t / 2), -3, 3)[0]
    assert 0.5 * expected < gaussian < 2 * expected, (gaussian, expected)
    collapsed = module(0.5 + 1e-3 * torch.randn(n, d, generator=generator), step=0).item()
    point = torch.randn(d, generator=generator)
    two_points = module(torch.where(torch.rand(n, 1, generator=generator) < 0.5, point, -point), step=0).item()
    uniform = module(torch.rand(n, d, generator=generator) * 2 * math.sqrt(3) - math.sqrt(3), step=0).item()
    scaled = module(3 * torch.randn(n, d, generator=generator), step=0).item()
    assert collapsed > 0.2 * n and two_points > 0.05 * n and scaled > 0.1 * n, (collapsed, two_points, scaled)
    assert gaussian < uniform < 0.02 * n  # unit-variance uniform coordinates: projections are nearly Gaussian


def test_gradient_descent_from_a_collapsed_start_lowers_the_statistic():
    generator = torch.Generator().manual_seed(5)
    z = (0.5 + 0.05 * torch.randn(256, 4, generator=generator)).requires_grad_()
    module, slices = SIGReg(num_slices=64), torch.randn(4, 64, generator=generator)
    unseen_before = module(z.detach(), step=99).item()  # slices the optimisation never sees
    optimizer = torch.optim.Adam([z], lr=0.1)
    values = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = module(z, slices=slices)
        loss.backward()
        optimizer.step()
        values.append(loss.item())
    assert values[0] > 50 and all(b < a for a, b in zip(values, values[1:])), values
    assert values[-1] < 0.1 * values[0], values
    assert module(z.detach(), step=99).item() < 0.1 * unseen_before  # the batch became Gaussian, not just its slices


# ---- (4) views ------------------------------------------------------------------------------------------------------
def test_views_are_the_mean_of_per_view_statistics():
    z = torch.stack([_data(20, 6, seed=s) * (1 + s) for s in range(3)])  # views of different spread
    slices, module = _slices(6, 10), SIGReg(num_slices=10)
    per_view = torch.stack([module(view, slices=slices) for view in z])
    assert per_view.std() > 0.1 * per_view.mean()
    torch.testing.assert_close(module(z, slices=slices), per_view.mean(), rtol=1e-12, atol=0)
    drawn = torch.stack([module(view, step=4) for view in z]).mean()  # drawn slices: shared by the views too
    torch.testing.assert_close(module(z, step=4), drawn, rtol=1e-12, atol=0)


# ---- slices ---------------------------------------------------------------------------------------------------------
def test_drawn_slices_are_unit_directions_fixed_by_seed_and_step():
    module = SIGReg(num_slices=32, seed=7)
    slices = module.draw_slices(5, step=3)
    assert slices.shape == (5, 32) and slices.dtype == torch.float32
    torch.testing.assert_close(slices.norm(dim=0), torch.ones(32))
    assert torch.equal(slices, SIGReg(num_slices=32, seed=7).draw_slices(5, step=3))
    assert not torch.allclose(slices, module.draw_slices(5, step=4))
    assert not torch.allclose(slices, SIGReg(num_slices=32, seed=8).draw_slices(5, step=3))
    z = _data(20, 5).float()
    torch.testing.assert_close(module(z, step=3), module(z, slices=slices), rtol=1e-6, atol=0)
    # Without `step` the internal call counter draws steps 0, 1, 2, ... (every rank calls equally often).
    counted = SIGReg(num_slices=32, seed=7)
    for step in range(3):
        torch.testing.assert_close(counted(z), module(z, step=step), rtol=1e-6, atol=0)
    # A generator passed in is used as is (the caller seeds it identically on every rank).
    expected = module(z, slices=module.draw_slices(5, generator=torch.Generator().manual_seed(11)))
    torch.testing.assert_close(module(z, generator=torch.Generator().manual_seed(11)), expected, rtol=1e-6, atol=0)


def test_half_precision_and_autocast_compute_in_float32():
    z, module = _data(40, 6).float(), SIGReg(num_slices=16)
    slices = module.draw_slices(6, step=0)
    value = module(z, slices=slices)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(module(z, slices=slices), value, rtol=0, atol=0)
    low = module(z.bfloat16(), slices=slices)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, module(z.bfloat16().float(), slices=slices), rtol=0, atol=0)
    module.half()  # the knots are not buffers: a cast of the model leaves them exact
    torch.testing.assert_close(module(z, slices=slices), value, rtol=0, atol=0)


# ---- (6) bad inputs -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_slices": 0}, "num_slices"),
        ({"num_slices": -3}, "num_slices"),
        ({"num_slices": 2.5}, "num_slices"),
        ({"num_knots": 1}, "num_knots"),
        ({"num_knots": 16, "integration": "full"}, "num_knots.*odd"),
        ({"t_max": 0.0}, "t_max"),
        ({"t_max": -1.0}, "t_max"),
        ({"t_max": float("inf")}, "t_max"),
        ({"t_max": float("nan")}, "t_max"),
        ({"integration": "simpson"}, "integration"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SIGReg(**kwargs)


def test_even_knots_are_fine_on_the_half_range():
    assert torch.isfinite(SIGReg(num_slices=4, num_knots=16)(_data(10, 3), slices=_slices(3, 4)))


def test_bad_inputs_raise():
    module, z = SIGReg(num_slices=4), _data(10, 3)
    for bad in (z[:1], z[:0], z[None, :1], z[0], z[None, None], z.long(), z[:, :0], z[None, :, :][:0], "z"):
        with pytest.raises(ValueError, match="`z`"):
            module(bad)
    for value in (float("nan"), float("inf"), -float("inf")):
        poisoned = z.clone()
        poisoned[3, 1] = value
        with pytest.raises(ValueError, match="non-finite"):
            module(poisoned)
        with pytest.raises(ValueError, match="non-finite"):
            module(torch.stack([z, poisoned]))
    for slices in (torch.randn(4, 4), torch.randn(3, 5), torch.randn(4, 3), torch.randn(3), torch.ones(3, 4).long()):
        with pytest.raises(ValueError, match="`slices`"):
            module(z, slices=slices)
    with pytest.raises(ValueError, match="`slices`"):
        module(z, slices=[[1.0] * 4] * 3)
    with pytest.raises(ValueError, match="non-finite"):
        module(z, slices=torch.cat([torch.randn(3, 3), torch.zeros(3, 1)], dim=1).double())  # a zero direction
    # Exactly 2 samples is fine, and validation can be turned off (no host read; a NaN then propagates).
    assert torch.isfinite(module(z[:2]))
    poisoned = z.clone()
    poisoned[0, 0] = float("nan")
    assert torch.isnan(SIGReg(num_slices=4, validate=False)(poisoned))


# ---- (7) two processes ----------------------------------------------------------------------------------------------
def test_two_processes_equal_one_process_on_the_whole_batch(tmp_path):
    ranks = run_distributed(WORKERS / "sigreg_worker.py", tmp_path)
    assert all(r["world_size"] == 2 for r in ranks)
    z, slices, module = worker.embeddings(), worker.given_slices(), worker.make_sigreg()

    def statistic_and_gradient(**kwargs):
        ours = z.clone().requires_grad_()
        value = module(ours, **kwargs)
        value.backward()
        return value.detach(), ours.grad

    # Slices passed in: every rank gets the whole batch's statistic; the gradient reaching each rank's samples is
    # world_size times the whole batch's (the backward sums over processes; DDP then divides by world_size).
    for phase, kwargs in (("given", {"slices": slices}), ("drawn", {"step": worker.STEP})):
        value, grad = statistic_and_gradient(**kwargs)
        for rank, share in enumerate(worker.SHARES):
            torch.testing.assert_close(ranks[rank][phase]["value"], value, rtol=1e-12, atol=0)
            torch.testing.assert_close(ranks[rank][phase]["grad"], 2 * grad[:, share], rtol=1e-10, atol=1e-14)
    # A rank's share alone is another statistic (the reduction is what makes them equal).
    share_alone = module(z[:, worker.SHARES[0]], slices=slices)
    assert not torch.allclose(share_alone, ranks[0]["given"]["value"], rtol=1e-3)
    # Slices drawn without being passed: identical on both ranks, from `step` and from the call counter.
    assert torch.equal(ranks[0]["drawn"]["slices"], ranks[1]["drawn"]["slices"])
    counter = worker.make_sigreg()
    expected = torch.stack([counter(z), counter(z)])
    assert not torch.allclose(expected[0], expected[1])
    for r in ranks:
        torch.testing.assert_close(r["drawn"]["counter"], expected, rtol=1e-12, atol=0)
    # DDP: the averaged parameter gradients are the one-process gradients of the whole batch.
    reference = worker.encoder()
    loss = module(reference(worker.inputs()), slices=slices)
    loss.backward()
    for r in ranks:
        torch.testing.assert_close(r["ddp"]["loss"], loss.detach(), rtol=1e-12, atol=0)
        for name, parameter in reference.named_parameters():
            torch.testing.assert_close(r["ddp"]["grads"][name], parameter.grad, rtol=1e-10, atol=1e-14, msg=name)
    # ... which a sum across processes that drops the gradient gets wrong (the value is still right).
    wrong = ranks[0]["no_grad_sum"]
    torch.testing.assert_close(wrong["loss"], loss.detach(), rtol=1e-12, atol=0)
    assert not torch.allclose(wrong["grads"]["weight"], reference.weight.grad, rtol=1e-2)
    # A rank with no sample at all contributes nothing and still gets the statistic.
    value, grad = statistic_and_gradient(slices=slices)
    torch.testing.assert_close(ranks[0]["empty"]["value"], value, rtol=1e-12, atol=0)
    torch.testing.assert_close(ranks[1]["empty"]["value"], value, rtol=1e-12, atol=0)
    torch.testing.assert_close(ranks[0]["empty"]["grad"], 2 * grad, rtol=1e-10, atol=1e-14)
    assert ranks[1]["empty"]["grad"].numel() == 0
    # A NaN on one rank: both raise the same ValueError (checked after the all-reduce), none hangs.
    assert "non-finite" in ranks[0]["nan"] and ranks[0]["nan"] == ranks[1]["nan"], (ranks[0]["nan"], ranks[1]["nan"])
