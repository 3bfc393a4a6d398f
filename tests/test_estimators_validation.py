"""Bad input to the estimators raises ValueError/TypeError naming the parameter.

Property-based (hypothesis, derandomized) where the bad region is a range. No estimator
may crash in numba, hang, or return a silent NaN.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import l2m_sim
from l2m_sim import estimators as E

FAST = settings(max_examples=30, deadline=None, derandomize=True)
ENTROPIES = [E.plugin_entropy, E.miller_madow_entropy, E.grassberger_entropy]
XY_ESTIMATORS = [
    ("gaussian", lambda x, y, **kw: E.gaussian(x, y, **kw)),
    ("ksg", lambda x, y, **kw: E.ksg(x, y, **kw)),
    ("ksg_kdtree", lambda x, y, **kw: E.ksg(x, y, method="kdtree", **kw)),
    ("infonce", lambda x, y, **kw: E.infonce(x, y, steps=1, **kw)),
    ("nwj", lambda x, y, **kw: E.nwj(x, y, steps=1, **kw)),
]


def _xy(n=40, dx=2, dy=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dx)), rng.standard_normal((n, dy))


# ------------------------------------------------------------------------------------------
# Entropies
# ------------------------------------------------------------------------------------------


@FAST
@given(counts=st.lists(st.integers(0, 50), min_size=1, max_size=20), neg=st.integers(-100, -1),
       pos=st.integers(0, 19))
def test_entropy_negative_counts(counts, neg, pos):
    counts[pos % len(counts)] = neg
    for fn in ENTROPIES:
        with pytest.raises(ValueError, match="counts"):
            fn(counts)


@FAST
@given(size=st.integers(1, 30))
def test_entropy_all_zero(size):
    for fn in ENTROPIES:
        with pytest.raises(ValueError, match="counts"):
            fn(np.zeros(size, dtype=int))


@FAST
@given(v=st.floats(0.01, 100).filter(lambda f: f != int(f)))
def test_entropy_non_integer_counts(v):
    for fn in ENTROPIES:
        with pytest.raises(ValueError, match="counts"):
            fn([1.0, v])


@pytest.mark.parametrize("bad", [[np.nan, 1.0], [np.inf, 2.0], [[1, 2], [3, 4]], [], "abc", None,
                                 [True, False], [1 + 2j]])
def test_entropy_bad_shapes_and_types(bad):
    for fn in ENTROPIES:
        with pytest.raises((ValueError, TypeError), match="counts"):
            fn(bad)


def test_entropy_se_method_and_single_observation():
    with pytest.raises(ValueError, match="se_method"):
        E.grassberger_entropy([1, 2], return_se=True, se_method="bootstrap")
    with pytest.raises(ValueError, match="at least 2"):
        E.plugin_entropy([1, 0], return_se=True)
    assert E.plugin_entropy([1, 0]) == 0.0


# ------------------------------------------------------------------------------------------
# Two-point MI and the power-law fit
# ------------------------------------------------------------------------------------------


@FAST
@given(L=st.integers(2, 40), d=st.one_of(st.integers(-50, 0), st.integers(1, 200)))
def test_two_point_distance_range(L, d):
    tok = np.zeros((3, L), dtype=int)
    tok[:, ::2] = 1
    if 1 <= d <= L - 1:
        mi = E.two_point_mi(tok, [d])
        assert np.all(np.isfinite(mi))
    else:
        with pytest.raises(ValueError, match="distances"):
            E.two_point_mi(tok, [d])


@FAST
@given(neg=st.integers(-10**6, -1))
def test_two_point_negative_tokens(neg):
    tok = np.ones((2, 10), dtype=int)
    tok[1, 3] = neg
    with pytest.raises(ValueError, match="tokens"):
        E.two_point_mi(tok, 1)


@FAST
@given(M=st.integers(1, 5))
def test_two_point_vocab_too_small(M):
    tok = np.full((2, 10), 5)
    with pytest.raises(ValueError, match="vocab_size"):
        E.two_point_mi(tok, 1, vocab_size=M)


@pytest.mark.parametrize("bad,exc", [(np.ones((2, 5)) * 0.5, TypeError), (np.ones((2, 2, 5), int), ValueError),
                                     (np.ones((3, 1), int), ValueError), ("ab", TypeError),
                                     (np.ones((2, 5), bool), TypeError)])
def test_two_point_bad_tokens(bad, exc):
    with pytest.raises(exc, match="tokens"):
        E.two_point_mi(bad, 1)


def test_two_point_bad_method_groups_distances():
    tok = np.ones((2, 10), dtype=int)
    with pytest.raises(ValueError, match="method"):
        E.two_point_mi(tok, 1, method="nsb")
    with pytest.raises(ValueError, match="groups"):
        E.two_point_mi(tok, 1, groups=1)
    with pytest.raises(TypeError, match="distances"):
        E.two_point_mi(tok, [1.5])


@FAST
@given(n=st.integers(3, 30), k=st.integers(0, 29))
def test_fit_power_law_bad_input(n, k):
    d = np.arange(1.0, n + 1)
    I = d**-0.5
    with pytest.raises(ValueError, match="same length"):
        E.fit_power_law(d, I[:-1])
    bad = d.copy()
    bad[k % n] = -abs(bad[k % n])
    with pytest.raises(ValueError, match="d must"):
        E.fit_power_law(bad, I)
    nanI = I.copy()
    nanI[k % n] = np.nan
    with pytest.raises(ValueError, match="finite"):
        E.fit_power_law(d, nanI)
    with pytest.raises(ValueError, match="positive"):
        E.fit_power_law(d, -I)


# ------------------------------------------------------------------------------------------
# (x, y) estimators
# ------------------------------------------------------------------------------------------


@FAST
@given(i=st.integers(0, 39), j=st.integers(0, 2), which=st.sampled_from(["x", "y"]),
       val=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_xy_non_finite(i, j, which, val):
    x, y = _xy()
    a = x if which == "x" else y
    a[i, j % a.shape[1]] = val
    for name, f in XY_ESTIMATORS:
        with pytest.raises(ValueError, match="finite"):
            f(x, y)


@FAST
@given(nx=st.integers(5, 60), ny=st.integers(5, 60))
def test_xy_mismatched_rows(nx, ny):
    if nx == ny:
        ny += 1
    x, _ = _xy(nx)
    _, y = _xy(ny)
    for name, f in XY_ESTIMATORS:
        with pytest.raises(ValueError, match="same number of samples"):
            f(x, y)


@pytest.mark.parametrize("shape", [(), (4, 3, 2), (40, 0)])
def test_xy_wrong_dims(shape):
    x, y = _xy()
    bad = np.zeros(shape)
    for name, f in XY_ESTIMATORS:
        with pytest.raises(ValueError, match="x"):
            f(bad, y)


@pytest.mark.parametrize("bad", ["abc", None, np.array(["a", "b"]), np.ones((40, 2), dtype=complex),
                                 np.ones((40, 2), dtype=bool)])
def test_xy_wrong_types(bad):
    x, y = _xy()
    for name, f in XY_ESTIMATORS:
        with pytest.raises(TypeError, match="y"):
            f(x, bad)


@FAST
@given(n=st.integers(2, 50), k=st.one_of(st.integers(-20, 0), st.integers(0, 80)))
def test_ksg_k_range(n, k):
    x, y = _xy(n, 1, 1)
    if 1 <= k <= n - 1:
        assert np.isfinite(E.ksg(x, y, k=k))
    else:
        with pytest.raises(ValueError, match="k must be in"):
            E.ksg(x, y, k=k)


@FAST
@given(alg=st.integers(-5, 10).filter(lambda a: a not in (1, 2)))
def test_ksg_algorithm_range(alg):
    x, y = _xy()
    with pytest.raises(ValueError, match="algorithm"):
        E.ksg(x, y, algorithm=alg)


@FAST
@given(noise=st.one_of(st.floats(-10, -1e-12), st.just(np.nan), st.just(np.inf)))
def test_ksg_noise_range(noise):
    x, y = _xy()
    with pytest.raises(ValueError, match="noise"):
        E.ksg(x, y, noise=noise)


def test_ksg_other_bad_options():
    x, y = _xy()
    with pytest.raises(TypeError, match="k"):
        E.ksg(x, y, k=2.5 + 0j)
    with pytest.raises(ValueError, match="method"):
        E.ksg(x, y, method="ball")
    with pytest.raises(ValueError, match="standardize"):
        E.ksg(np.ones((40, 1)), y, standardize=True)


@FAST
@given(dx=st.integers(1, 6), dy=st.integers(1, 6), extra=st.integers(0, 5))
def test_gaussian_too_few_samples(dx, dy, extra):
    n = max(dx + dy + 1 - extra, 2)
    x, y = _xy(n, dx, dy)
    with pytest.raises(ValueError, match="n >= dx"):
        E.gaussian(x, y)


def test_gaussian_singular_and_bias_name():
    x, y = _xy(50, 2, 2)
    x[:, 1] = 2 * x[:, 0]
    with pytest.raises(ValueError, match="singular"):
        E.gaussian(x, y)
    with pytest.raises(ValueError, match="constant"):
        E.gaussian(np.ones((50, 1)), y)
    with pytest.raises(ValueError, match="bias"):
        E.gaussian(*_xy(), bias="second_order")


@FAST
@given(steps=st.integers(-5, 0), frac=st.one_of(st.floats(-1, 0), st.floats(1, 2)))
def test_neural_bad_options(steps, frac):
    x, y = _xy(20, 1, 1)
    for f in (E.infonce, E.nwj):
        with pytest.raises(ValueError, match="steps"):
            f(x, y, steps=steps)
        with pytest.raises(ValueError, match="test_fraction"):
            f(x, y, test_fraction=frac)
        with pytest.raises(ValueError, match="batch_size"):
            f(x, y, batch_size=1)
        with pytest.raises(ValueError, match="lr"):
            f(x, y, lr=-1e-3)
        with pytest.raises(ValueError, match="held-out"):
            f(x[:4], y[:4], test_fraction=0.1)


# ------------------------------------------------------------------------------------------
# Model-based and sequence helpers
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hier():
    p = l2m_sim.paper_family("subvolume", 2)
    return p, p.sample(8, rng=0)


@FAST
@given(cut=st.one_of(st.integers(-20, 0), st.integers(16, 100)))
def test_model_based_cut_range(hier, cut):
    p, x = hier
    for f in (E.direct_bipartite, E.vclub_bipartite):
        with pytest.raises(ValueError, match="cut"):
            f(p, x, cut=cut)


@FAST
@given(i=st.integers(0, 7), t=st.integers(0, 15))
def test_model_based_nan_samples(hier, i, t):
    p, x = hier
    x = x.copy()
    x[i, t] = np.nan
    for f in (E.direct_bipartite, E.vclub_bipartite):
        with pytest.raises(ValueError, match="finite"):
            f(p, x)


def test_model_based_bad_arguments(hier):
    p, x = hier
    with pytest.raises(ValueError, match="samples"):
        E.direct_bipartite(p, x[0])
    with pytest.raises(ValueError, match="at least 2"):
        E.direct_bipartite(p, x[:1])
    with pytest.raises(TypeError, match="model must provide"):
        E.direct_bipartite(object(), x)
    with pytest.raises(ValueError, match="marginal"):
        E.direct_bipartite(p, x, marginal="prefix")
    with pytest.raises(TypeError, match="block_log_prob"):
        E.direct_bipartite(p, x, marginal="block")
    with pytest.raises(ValueError, match="shuffles"):
        E.vclub_bipartite(p, x, shuffles=0)
    with pytest.raises(ValueError, match="x must have shape"):
        E.direct_bipartite(p, x[:, :8])  # the process checks its own length


@FAST
@given(width=st.one_of(st.integers(-5, 0), st.integers(9, 40)))
def test_split_blocks_width(width):
    w = np.zeros((3, 16))
    with pytest.raises(ValueError, match="width"):
        E.split_blocks(w, cut=8, width=width)
