"""Tests of design by target (l2m_sim.design): achieved exponents against the targets."""

import math

import numpy as np
import pytest

import l2m_sim
from l2m_sim.processes.design import copy_schedule, copy_weights_for_alpha


@pytest.mark.parametrize("b,k", [(2, 1), (4, 1), (4, 2), (4, 3), (8, 3), (8, 7), (16, 5)])
def test_integer_beta_is_exact(b, k):
    beta = math.log(k) / math.log(b)
    d = l2m_sim.design(beta, alpha=1.3, branching=b, levels=3)
    assert d.copies == (k,) * 3
    assert d.exponents.beta == pytest.approx(beta, abs=1e-12)
    # uncoupled: I_BP(middle) multiplies by k at every level, so the fit is exact too
    if k > 1:
        assert d.beta_fit == pytest.approx(beta, abs=1e-9)


@pytest.mark.parametrize("beta", [0.1, 0.3, 0.45, 0.6, 0.77])
def test_fractional_beta_tracks_target(beta):
    levels = 8
    ks = copy_schedule(beta, 4, levels)
    running = np.cumsum(np.log(ks)) / (np.arange(1, levels + 1) * math.log(4))
    # the running exponent after t levels stays within ln(k_hi / k_lo) / (2 t ln b) of beta
    k_lo = math.floor(4**beta)
    bound = math.log((k_lo + 1) / k_lo) / (2 * np.arange(1, levels + 1) * math.log(4))
    assert np.all(np.abs(running - beta) <= bound + 1e-12)
    d = l2m_sim.design(beta, alpha=1.0, branching=4, levels=levels)
    assert abs(d.exponents.beta - beta) <= bound[-1] + 1e-12
    # the exact I_BP grows by the scheduled k_t at every level
    I = [d.process.sublevel(t).bipartite_mi() for t in range(1, levels + 1)]
    assert np.allclose(np.array(I[1:]) / np.array(I[:-1]), ks[1:], rtol=1e-9)


@pytest.mark.parametrize("alpha", [0.05, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("b,k", [(4, 1), (4, 3), (8, 2), (8, 6)])
def test_alpha_avg_is_met_exactly(alpha, b, k):
    d = l2m_sim.design(math.log(k) / math.log(b), alpha, branching=b, levels=2)
    assert d.exponents.alpha_avg == pytest.approx(alpha, rel=1e-10)
    w = copy_weights_for_alpha(alpha, b, k)
    assert w.sum() == pytest.approx(1.0) and np.all(w > 0)
    # Hadamard identity: mean of P_ij^2 over digit pairs == sum of the copy weights squared
    P = d.process.schedule[0].P
    assert np.mean(P**2) == pytest.approx(np.sum(w[:k] ** 2), rel=1e-12)


def test_alpha_env_is_met_exactly():
    d = l2m_sim.design(0.5, 0.7, branching=4, levels=3, alpha_kind="env")
    assert d.exponents.alpha_env == pytest.approx(0.7, rel=1e-12)


def test_alpha_avg_matches_position_averaged_two_point_decay():
    """The log-binned average of rho^2 over pairs at digit distance m decays like b^(-alpha m)."""
    b, alpha = 4, 1.2
    d = l2m_sim.design(0.5, alpha, branching=b, levels=5)
    p = d.process
    S = p.covariance()
    idx = np.arange(p.length)
    # pairs whose most significant differing base-b digit is m (m = 1..4), all such pairs
    means = []
    for m in range(1, 5):
        blk = b ** (m + 1)
        same_block = (idx[:, None] // blk) == (idx[None, :] // blk)
        diff_digit = (idx[:, None] // b**m) != (idx[None, :] // b**m)
        mask = same_block & diff_digit
        means.append(np.mean(S[mask] ** 2))
    ratios = np.array(means[1:]) / np.array(means[:-1])
    assert np.allclose(ratios, b ** (-alpha), rtol=1e-10)


def test_default_branching_reaches_high_beta():
    d = l2m_sim.design(0.9, 1.0)
    assert d.process.schedule[0].branching == 8
    assert d.exponents.beta == pytest.approx(0.9, abs=0.02)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(beta=1.0, alpha=1.0), "beta"),
        (dict(beta=-0.1, alpha=1.0), "beta"),
        (dict(beta=0.5, alpha=0.0), "alpha"),
        (dict(beta=0.5, alpha=-1.0), "alpha"),
        (dict(beta=float("nan"), alpha=1.0), "beta"),
        (dict(beta=0.5, alpha=float("inf")), "alpha"),
        (dict(beta=0.9, alpha=1.0, branching=4), "branching"),
        (dict(beta=0.5, alpha=1.0, branching=6), "branching"),
        (dict(beta=0.5, alpha=1.0, branching=1), "branching"),
        (dict(beta=0.5, alpha=1.0, alpha_kind="max"), "alpha_kind"),
    ],
)
def test_impossible_targets_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        l2m_sim.design(**kwargs)


def test_bad_types():
    with pytest.raises(TypeError, match="beta"):
        l2m_sim.design("0.5", 1.0)
    with pytest.raises(ValueError, match="branching must be an integer"):  # as check_int everywhere
        l2m_sim.design(0.5, 1.0, branching=4.5)
    with pytest.raises(TypeError, match="branching"):
        l2m_sim.design(0.5, 1.0, branching="4")


@pytest.mark.parametrize("beta,alpha,kind", [(0.0, 2.0, "avg"), (0.5, 1.0, "env"), (0.0, 2.0, "env")])
def test_white_noise_target_named_with_what_works(beta, alpha, kind):
    with pytest.raises(ValueError, match=r"design\(beta=.*white noise.*for example alpha="):
        l2m_sim.design(beta=beta, alpha=alpha, alpha_kind=kind)
    l2m_sim.design(beta=beta, alpha=alpha + 0.05, alpha_kind=kind, levels=2)
