"""Bad input to the hierarchical family raises ValueError/TypeError naming the parameter.

Never a numba crash, a silent NaN or a hang. Property-based where the
bad region is a range (hypothesis, derandomized so the suite is reproducible).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import l2m_sim
from l2m_sim import HierarchicalGaussian, paper_family
from l2m_sim.processes.hierarchical import DENSE_MAX, Level

FAST = settings(max_examples=30, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def p():
    return HierarchicalGaussian(4, 3, 2)  # L = 16


@pytest.fixture(scope="module")
def pc():
    return HierarchicalGaussian(4, 3, 2, coupling=0.4, channels=2)  # L = 16, C = 2


# ------------------------------------------------------------------------------------------
# Constructor
# ------------------------------------------------------------------------------------------


@FAST
@given(b=st.integers(2, 64), extra=st.integers(0, 100))
def test_copies_at_least_branching(b, extra):
    with pytest.raises(ValueError, match="copies"):
        HierarchicalGaussian(b, b + extra, 1)


@FAST
@given(k=st.integers(-50, 0))
def test_copies_below_one(k):
    with pytest.raises(ValueError, match="copies"):
        HierarchicalGaussian(4, k, 1)


@FAST
@given(b=st.one_of(st.integers(-100, 1), st.integers(65, 10**6)))
def test_branching_out_of_range(b):
    with pytest.raises(ValueError, match="branching"):
        HierarchicalGaussian(b, 1, 1)


@FAST
@given(levels=st.integers(-100, 0))
def test_levels_below_one(levels):
    with pytest.raises(ValueError, match="levels"):
        HierarchicalGaussian(4, 3, levels)


def test_levels_too_long():
    with pytest.raises(ValueError, match="levels"):
        HierarchicalGaussian(4, 3, 16)  # 4^16 > 2^30
    with pytest.raises(ValueError, match="length"):
        HierarchicalGaussian.from_schedule([(64, 63)] * 5 + [(2, 1)])


@pytest.mark.parametrize("name,value", [("branching", 4.5), ("copies", 1.5), ("levels", 2.5)])
def test_non_integer_sizes(name, value):
    kw = {"branching": 4, "copies": 3, "levels": 2, name: value}
    with pytest.raises(ValueError, match=name):
        HierarchicalGaussian(**kw)
    kw[name] = "3"
    with pytest.raises(TypeError, match=name):
        HierarchicalGaussian(**kw)
    kw[name] = None
    with pytest.raises(TypeError, match=name):
        HierarchicalGaussian(**kw)


@pytest.mark.parametrize("channels", [0, -3, 2.5, "2", True])
def test_bad_channels(channels):
    with pytest.raises((ValueError, TypeError), match="channels"):
        HierarchicalGaussian(4, 3, 2, channels=channels)


# ----------------------------------------------------------------------------- mixing


def _unit_rows(M):
    return M / np.linalg.norm(M, axis=1, keepdims=True)


@FAST
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.2, 5.0).filter(lambda s: abs(s - 1) > 1e-3))
def test_mixing_non_unit_rows(seed, scale):
    M = _unit_rows(np.random.default_rng(seed).standard_normal((4, 4)))
    M[seed % 4] *= scale
    with pytest.raises(ValueError, match="mixing"):
        HierarchicalGaussian(4, 3, 2, mixing=M)


@FAST
@given(seed=st.integers(0, 2**32 - 1), b=st.integers(2, 8))
def test_mixing_singular(seed, b):
    rng = np.random.default_rng(seed)
    M = _unit_rows(rng.standard_normal((b, b)))
    M[-1] = M[0] if b == 2 else _unit_rows((M[0] + M[1])[None, :])[0]  # rank b - 1
    with pytest.raises(ValueError, match="mixing"):
        HierarchicalGaussian(b, 1, 2, mixing=M)


@FAST
@given(seed=st.integers(0, 2**32 - 1), b=st.integers(2, 8))
def test_mixing_orthogonal(seed, b):
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((b, b)))
    with pytest.raises(ValueError, match="mixing"):
        HierarchicalGaussian(b, 1, 2, mixing=Q)


@FAST
@given(rows=st.integers(1, 9), cols=st.integers(1, 9))
def test_mixing_wrong_shape(rows, cols):
    if (rows, cols) == (4, 4):
        return
    M = np.full((rows, cols), 1 / math.sqrt(cols))
    with pytest.raises(ValueError, match="mixing"):
        HierarchicalGaussian(4, 3, 2, mixing=M)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_mixing_not_finite(bad):
    M = l2m_sim.paper_mixing()
    M[1, 2] = bad
    with pytest.raises(ValueError, match="mixing"):
        HierarchicalGaussian(4, 3, 2, mixing=M)


@pytest.mark.parametrize("mixing", ["nonsense", [[1, 0], [0]], {"a": 1}, np.zeros((4, 4, 1))])
def test_mixing_bad_object(mixing):
    with pytest.raises((ValueError, TypeError), match="mixing"):
        HierarchicalGaussian(4, 3, 2, mixing=mixing)


def test_paper_mixing_needs_branching_4():
    with pytest.raises(ValueError, match="mixing"):
        HierarchicalGaussian(2, 1, 2, mixing="paper")


def test_level_validates():
    with pytest.raises(ValueError, match="copies"):
        Level(4, 4, l2m_sim.paper_mixing())
    with pytest.raises(ValueError, match="mixing"):
        Level(4, 3, np.eye(4))


# ----------------------------------------------------------------------------- coupling


@FAST
@given(rho=st.one_of(st.floats(1.0, 1e300), st.floats(-1e300, -1.0)))
def test_coupling_outside_open_interval(rho):
    with pytest.raises(ValueError, match="coupling"):
        HierarchicalGaussian(4, 3, 2, coupling=rho)


@pytest.mark.parametrize("rho", [np.nan, np.inf, -np.inf])
def test_coupling_not_finite(rho):
    with pytest.raises(ValueError, match="coupling"):
        HierarchicalGaussian(4, 3, 2, coupling=rho)


@pytest.mark.parametrize("rho", ["0.5", True, [0.5], object()])
def test_coupling_wrong_type(rho):
    with pytest.raises(TypeError, match="coupling"):
        HierarchicalGaussian(4, 3, 2, coupling=rho)


def test_coupling_accepts_numpy_and_int_zero():
    assert HierarchicalGaussian(4, 3, 2, coupling=np.float32(0.25)).coupling == 0.25
    assert HierarchicalGaussian(4, 3, 2, coupling=0).coupling == 0.0


# ----------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    "schedule,exc,match",
    [
        ([], ValueError, "schedule"),
        ("ab", TypeError, "schedule"),
        (42, TypeError, "schedule"),
        ([(4,)], TypeError, "schedule"),
        ([(4, 3, None, 1)], TypeError, "schedule"),
        ([(4, 4)], ValueError, "copies"),
        ([(1, 1)], ValueError, "branching"),
        ([(4, 3, np.eye(4))], ValueError, "mixing"),
    ],
)
def test_bad_schedule(schedule, exc, match):
    with pytest.raises(exc, match=match):
        HierarchicalGaussian.from_schedule(schedule)


def test_paper_family_name():
    with pytest.raises(ValueError, match="name"):
        paper_family("nonsense")
    with pytest.raises(ValueError, match="levels"):
        paper_family("log", levels=0)


# ------------------------------------------------------------------------------------------
# Methods
# ------------------------------------------------------------------------------------------


@FAST
@given(cut=st.one_of(st.integers(-10**6, 0), st.integers(16, 10**6)))
def test_cut_outside_range(p, cut):
    with pytest.raises(ValueError, match="cut"):
        p.bipartite_mi(cut)
    with pytest.raises(ValueError, match="cut"):
        p.bipartite_mi(np.array([3, cut]))
    with pytest.raises(ValueError, match="cut"):
        p.canonical_correlations(cut)
    with pytest.raises(ValueError, match="cut"):
        p.linear_state_mi(1, cut)


@pytest.mark.parametrize("cut", [0, 16, -1])
def test_cut_outside_range_coupled(pc, cut):
    with pytest.raises(ValueError, match="cut"):
        pc.bipartite_mi(cut)


@pytest.mark.parametrize("cut,exc", [(2.5, ValueError), ("3", TypeError),
                                      (np.array([1.0, 2.0]), TypeError), (True, TypeError)])
def test_cut_wrong_type(p, cut, exc):
    with pytest.raises(exc, match="cut"):
        p.bipartite_mi(cut)


@FAST
@given(pos=st.one_of(st.integers(-10**6, -1), st.integers(16, 10**6)))
def test_positions_outside_range(p, pc, pos):
    with pytest.raises(ValueError, match="i must"):
        p.two_point_mi(pos, 3)
    with pytest.raises(ValueError, match="j must"):
        p.two_point_mi(3, pos)
    with pytest.raises(ValueError, match="j must"):
        pc.two_point_mi(3, np.array([1, pos]))
    with pytest.raises(ValueError, match="i must"):
        p.two_point_correlation(pos, 0)


def test_positions_wrong_type(p):
    with pytest.raises(TypeError, match="i must"):
        p.two_point_mi(0.0, 1)
    with pytest.raises(TypeError, match="j must"):
        p.two_point_mi(0, "1")


@FAST
@given(n=st.integers(-10**6, 0))
def test_n_below_one(p, n):
    with pytest.raises(ValueError, match="n must"):
        p.sample(n)


@pytest.mark.parametrize("n,exc", [(2.5, ValueError), ("3", TypeError), (None, TypeError),
                                    ([2], TypeError), (True, TypeError), (np.nan, ValueError)])
def test_n_not_an_int(p, n, exc):
    with pytest.raises(exc, match="n must"):
        p.sample(n)


@pytest.mark.parametrize("rng,exc", [("seed", TypeError), (1.5, TypeError), (-1, ValueError),
                                      (True, TypeError), (np.random.RandomState(0), TypeError),
                                      ([1, 2], TypeError)])
def test_rng_bad(p, rng, exc):
    with pytest.raises(exc, match="rng"):
        p.sample(2, rng=rng)


@pytest.mark.parametrize(
    "shape", [(2, 15), (2, 17), (16, 2), (2, 16, 1), (1, 2, 16), (), (0,)],
)
def test_conditional_moments_wrong_shape_one_channel(p, shape):
    with pytest.raises(ValueError, match="x must"):
        p.conditional_moments(np.zeros(shape))
    with pytest.raises(ValueError, match="x must"):
        p.log_prob(np.zeros(shape))


@pytest.mark.parametrize("shape", [(2, 16), (2, 16, 3), (2, 2, 16), (16,), (3, 16, 2, 1)])
def test_conditional_moments_wrong_shape_channels(pc, shape):
    with pytest.raises(ValueError, match="x must"):
        pc.conditional_moments(np.zeros(shape))


@FAST
@given(idx=st.integers(0, 31), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_conditional_moments_not_finite(p, pc, idx, bad):
    x = np.zeros((2, 16))
    x.flat[idx] = bad
    with pytest.raises(ValueError, match="x must be finite"):
        p.conditional_moments(x)
    y = np.zeros((1, 16, 2))
    y.flat[idx] = bad
    with pytest.raises(ValueError, match="x must be finite"):
        pc.conditional_moments(y)


@pytest.mark.parametrize("x", ["abc", np.zeros((1, 16), dtype=complex), [["a"] * 16]])
def test_conditional_moments_wrong_type(p, x):
    with pytest.raises(TypeError, match="x must"):
        p.conditional_moments(x)


def test_linear_state_mi_bad_dim(p):
    with pytest.raises(ValueError, match="dim"):
        p.linear_state_mi(-1)
    with pytest.raises(ValueError, match="dim"):
        p.linear_state_mi(1.5)


def test_sublevel_range(p):
    for t in (0, 3):
        with pytest.raises(ValueError, match="t must"):
            p.sublevel(t)


# ------------------------------------------------------------------------------------------
# Dense limits
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["covariance", "bipartite_mi", "bipartite_mi_profile",
                                    "conditional_stds", "canonical_correlations"])
def test_coupled_dense_methods_refused_above_dense_max(method):
    p = HierarchicalGaussian(2, 1, 15, coupling=0.3)  # L = 32768 > DENSE_MAX
    assert p.length > DENSE_MAX
    with pytest.raises(ValueError, match="dense|length"):
        getattr(p, method)()


def test_uncoupled_dense_limits():
    p = HierarchicalGaussian(2, 1, 15)
    with pytest.raises(ValueError, match=str(DENSE_MAX)):
        p.covariance()
    # a cut inside a top-level row needs the dense full covariance
    with pytest.raises(ValueError, match=str(DENSE_MAX)):
        p.canonical_correlations(cut=3)
    # a row-aligned cut reduces to the small sub-problem and works
    assert len(p.canonical_correlations()) == 1
    # the O(L) algorithms have no dense limit
    assert p.bipartite_mi(3) > 0
