"""Token estimators: entropies, two-point MI with jackknife errors, the power-law bias fit.

References are written from the formulas (pure Python / scipy.special) and compared with
the vectorised implementations; the two-point estimator is checked against the exact
two-point MI of a symmetric binary Markov chain simulated here with numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import digamma

from l2m_sim import estimators as E
from l2m_sim.estimators import twopoint

TABLES = [
    [1],
    [5],
    [1, 1],
    [3, 0, 5, 1, 1],
    [10, 20, 30, 0, 0, 7],
    [1] * 17,
    [1000, 1, 2, 3],
    list(range(0, 40)),
]


def ref_G(n):
    """Grassberger's G(n), scalar, written out."""
    return digamma(n) + 0.5 * (-1) ** n * (digamma((n + 1) / 2) - digamma(n / 2))


def ref_entropies(counts):
    N = sum(counts)
    nz = [c for c in counts if c > 0]
    plug = math.log(N) - sum(c * math.log(c) for c in nz) / N
    mm = plug + (len(nz) - 1) / (2 * N)
    gr = math.log(N) - sum(c * ref_G(c) for c in nz) / N
    return plug, mm, gr


@pytest.mark.parametrize("counts", TABLES)
def test_entropies_equal_their_formulas(counts):
    plug, mm, gr = ref_entropies(counts)
    assert E.plugin_entropy(counts) == pytest.approx(plug, abs=1e-12)
    assert E.miller_madow_entropy(counts) == pytest.approx(mm, abs=1e-12)
    g = E.grassberger_entropy(counts)
    assert isinstance(g, float)
    assert g == pytest.approx(gr, abs=1e-12)


def test_grassberger_G_known_values():
    # G(1) = psi(1) - 1/2 (psi(1) - psi(1/2)) = -gamma - log 2 ;  G(2) = psi(2) + 1/2(psi(3/2) - psi(1))
    gamma = 0.5772156649015329
    assert E.grassberger_G(1) == pytest.approx(-gamma - math.log(2), abs=1e-13)
    assert E.grassberger_G(2) == pytest.approx((1 - gamma) + 0.5 * (2 - 2 * math.log(2)), abs=1e-13)
    n = np.arange(1, 60)
    assert np.allclose(E.grassberger_G(n), [ref_G(int(v)) for v in n], atol=1e-13)
    # G(n) -> log n (and the correction vanishes): the estimator is consistent
    assert abs(E.grassberger_G(10**6) - math.log(10**6)) < 1e-6


def test_float_counts_and_int_counts_agree():
    c = np.array([4, 0, 7, 2])
    assert E.grassberger_entropy(c.astype(float)) == E.grassberger_entropy(c)


@pytest.mark.parametrize("counts", [[3, 0, 5, 1, 1], [10, 20, 30, 0, 7], [1, 1, 1, 2], [2, 9]])
@pytest.mark.parametrize("fn", [E.plugin_entropy, E.miller_madow_entropy, E.grassberger_entropy])
def test_jackknife_se_equals_brute_force(counts, fn):
    """The O(K) jackknife equals deleting each of the N observations in turn."""
    counts = np.asarray(counts)
    obs = np.repeat(np.arange(counts.size), counts)
    N = obs.size
    loo = np.array([fn(np.bincount(np.delete(obs, j), minlength=counts.size)) for j in range(N)])
    se_ref = math.sqrt((N - 1) / N * np.sum((loo - loo.mean()) ** 2))
    est = fn(counts, return_se=True, se_method="jackknife")
    assert isinstance(est, E.Estimate)
    assert est.value == fn(counts)
    assert est.se == pytest.approx(se_ref, rel=1e-10, abs=1e-14)


def test_delta_se_formula_and_calibration():
    p = np.array([0.5, 0.3, 0.15, 0.05])
    H = -np.sum(p * np.log(p))
    rng = np.random.default_rng(3)
    N = 2000
    counts = rng.multinomial(N, p, size=400)
    vals = np.array([E.grassberger_entropy(c) for c in counts])
    se_delta = np.median([E.grassberger_entropy(c, return_se=True).se for c in counts])
    se_jack_plug = np.median([E.plugin_entropy(c, True, "jackknife").se for c in counts])
    se_jack_gr = np.median([E.grassberger_entropy(c, True, "jackknife").se for c in counts])
    se_true = math.sqrt((np.sum(p * np.log(p) ** 2) - H**2) / N)
    assert se_delta == pytest.approx(se_true, rel=0.05)
    assert se_delta == pytest.approx(vals.std(), rel=0.15)
    assert se_jack_plug == pytest.approx(vals.std(), rel=0.15)
    # documented caveat: the parity oscillation of G(n) inflates Grassberger's jackknife
    assert se_jack_gr > 1.3 * vals.std()
    assert abs(vals.mean() - H) < 3 * vals.std() / math.sqrt(len(vals))


def test_bias_ordering_on_undersampled_table():
    """Many bins, few samples: plug-in < Miller-Madow and Grassberger, all below log K."""
    rng = np.random.default_rng(0)
    K, N = 200, 150
    truth = math.log(K)
    errs = {f: [] for f in ("plugin", "mm", "gr")}
    for _ in range(50):
        c = np.bincount(rng.integers(0, K, N), minlength=K)
        errs["plugin"].append(E.plugin_entropy(c) - truth)
        errs["mm"].append(E.miller_madow_entropy(c) - truth)
        errs["gr"].append(E.grassberger_entropy(c) - truth)
    m = {k: abs(np.mean(v)) for k, v in errs.items()}
    assert m["gr"] < m["mm"] < m["plugin"]


# ------------------------------------------------------------------------------------------
# Two-point MI
# ------------------------------------------------------------------------------------------


def binary_chain(n, L, flip, rng):
    """Symmetric binary Markov chain, stationary start."""
    x = np.empty((n, L), dtype=np.int64)
    x[:, 0] = rng.integers(0, 2, n)
    flips = (rng.random((n, L)) < flip).astype(np.int64)
    for t in range(1, L):
        x[:, t] = x[:, t - 1] ^ flips[:, t]
    return x


def exact_binary_mi(d, flip):
    c = (1 - 2 * flip) ** np.asarray(d, dtype=float)
    p = (1 + c) / 2
    return np.log(2) + p * np.log(p) + (1 - p) * np.log1p(-p)


def ref_two_point(tokens, d, method):
    """Pool all pairs, count with numpy.unique, entropies from the formulas."""
    tokens = np.atleast_2d(tokens)
    a = tokens[:, :-d].ravel()
    b = tokens[:, d:].ravel()
    H = {"plugin": E.plugin_entropy, "miller_madow": E.miller_madow_entropy,
         "grassberger": E.grassberger_entropy}[method]
    cnt = lambda v: np.unique(v, return_counts=True)[1]  # noqa: E731
    return H(cnt(a)) + H(cnt(b)) - H(cnt(a * (tokens.max() + 1) + b))


@pytest.mark.parametrize("method", ["grassberger", "plugin", "miller_madow"])
def test_two_point_equals_plain_reference(method):
    rng = np.random.default_rng(1)
    tok = rng.integers(0, 5, size=(7, 300))
    tok[:, 1:] = np.where(rng.random((7, 299)) < 0.5, tok[:, :-1], tok[:, 1:])
    ds = np.array([1, 2, 3, 10, 299])
    got = E.two_point_mi(tok, ds, method=method)
    ref = [ref_two_point(tok, int(d), method) for d in ds]
    assert np.allclose(got, ref, atol=1e-12)


def test_two_point_sparse_path_equals_dense(monkeypatch):
    rng = np.random.default_rng(2)
    tok = rng.integers(0, 30, size=(40, 120))
    tok[:, 2:] = np.where(rng.random((40, 118)) < 0.4, tok[:, :-2], tok[:, 2:])
    ds = [1, 2, 5]
    dense = E.two_point_mi(tok, ds, return_se=True)
    monkeypatch.setattr(twopoint, "_DENSE_CELLS", 0)
    sparse = E.two_point_mi(tok, ds, return_se=True)
    assert np.allclose(dense[0], sparse[0], atol=1e-12)
    assert np.allclose(dense[1], sparse[1], atol=1e-12)


@pytest.mark.parametrize("by_rows", [True, False])
def test_two_point_group_jackknife_equals_brute_force(by_rows):
    """The O(nnz) leave-one-group-out entropies equal recounting without the group.

    (The standard error is the grouped jackknife of the plug-in MI, as documented.)
    """
    rng = np.random.default_rng(4)
    n = 24 if by_rows else 3
    G = 6
    tok = binary_chain(n, 90, 0.2, rng) + 2 * binary_chain(n, 90, 0.3, rng)
    d = 3
    mi, se = E.two_point_mi(tok, [d], return_se=True, groups=G)
    m = tok.shape[1] - d
    loo = []
    for g in range(G):
        if by_rows:
            keep = np.ones(n, bool)
            keep[(g * n) // G:((g + 1) * n) // G] = False
            a, b = tok[keep, :m].ravel(), tok[keep, d:].ravel()
        else:
            t = np.arange(m)
            keep = ~((t >= (g * m) // G) & (t < ((g + 1) * m) // G))
            a, b = tok[:, :m][:, keep].ravel(), tok[:, d:][:, keep].ravel()
        cnt = lambda v: np.unique(v, return_counts=True)[1]  # noqa: E731
        loo.append(E.plugin_entropy(cnt(a)) + E.plugin_entropy(cnt(b))
                   - E.plugin_entropy(cnt(a * 4 + b)))
    loo = np.array(loo)
    assert se[0] == pytest.approx(math.sqrt((G - 1) / G * np.sum((loo - loo.mean()) ** 2)), rel=1e-9)
    assert mi[0] == pytest.approx(ref_two_point(tok, d, "grassberger"), abs=1e-12)


def test_two_point_markov_chain_bias_within_standard_errors():
    """Binary chain, flip 0.1, >= 1e5 pairs per distance, d = 1..16, 10 replicates.

    The mean error over replicates is within 2.5 standard errors of the mean (bias ~ 0),
    and the jackknife standard error matches the spread across replicates.
    """
    flip, R = 0.1, 10
    ds = np.arange(1, 17)
    truth = exact_binary_mi(ds, flip)
    rng = np.random.default_rng(12345)
    est, ses = [], []
    for _ in range(R):
        tok = binary_chain(100, 1016, flip, rng)  # 100 * (1016 - d) >= 1e5 pairs
        mi, se = E.two_point_mi(tok, ds, return_se=True)
        est.append(mi)
        ses.append(se)
    est, ses = np.array(est), np.array(ses)
    err = est.mean(axis=0) - truth
    se_mean = ses.mean(axis=0) / math.sqrt(R)
    z = err / se_mean
    assert np.all(np.abs(z) < 2.5), z
    ratio = ses.mean(axis=0) / est.std(axis=0, ddof=1)
    assert 0.6 < np.median(ratio) < 1.6, ratio
    # the estimator does see the decay: d = 1 is far from d = 16
    assert est[:, 0].mean() > 100 * se_mean[0]


def test_two_point_single_sequence_groups_by_position():
    rng = np.random.default_rng(7)
    tok = binary_chain(1, 200_000, 0.1, rng)[0]
    mi, se = E.two_point_mi(tok, [1, 4], return_se=True)
    truth = exact_binary_mi([1, 4], 0.1)
    assert np.all(np.abs(mi - truth) < 4 * se)
    assert np.all(se > 0) and np.all(np.isfinite(se))


def test_two_point_scalar_distance_and_vocab_size():
    tok = np.array([[0, 1, 0, 1, 1, 0, 0, 1]] * 3)
    a = E.two_point_mi(tok, 2)
    assert a.shape == (1,)
    b = E.two_point_mi(tok, [2], vocab_size=10)
    assert np.allclose(a, b)


def test_two_point_constant_chain_gives_log_M():
    """All tokens equal along a sequence: two-point MI -> log M (plug-in exactly)."""
    rng = np.random.default_rng(0)
    tok = np.repeat(rng.integers(0, 4, size=(4000, 1)), 10, axis=1)
    mi = E.two_point_mi(tok, [1, 9], method="plugin")
    p = np.bincount(tok[:, 0], minlength=4) / 4000
    assert np.allclose(mi, -np.sum(p * np.log(p)), atol=1e-12)
    assert np.allclose(mi, math.log(4), atol=0.01)


# ------------------------------------------------------------------------------------------
# Power-law fit
# ------------------------------------------------------------------------------------------


def test_fit_power_law_recovers_exact_parameters():
    d = np.arange(1, 300)
    fit = E.fit_power_law(d, 0.4 * d**-0.8 + 0.002)
    assert fit.alpha == pytest.approx(0.8, abs=1e-6)
    assert fit.A == pytest.approx(0.4, rel=1e-6)
    assert fit.C == pytest.approx(0.002, rel=1e-5)
    assert np.allclose(fit.corrected, 0.4 * d**-0.8, rtol=1e-5)
    assert np.allclose(fit.predict(d), fit.fitted)
    assert fit.n_excluded == 0


def test_fit_power_law_without_constant_and_excluding_nonpositive():
    d = np.arange(1, 50, dtype=float)
    I = 2.0 * d**-1.3
    I_bad = I.copy()
    I_bad[[5, 20]] = [-1e-4, 0.0]
    fit = E.fit_power_law(d, I_bad, fit_constant=False)
    assert fit.C == 0.0 and fit.n_excluded == 2
    assert fit.alpha == pytest.approx(1.3, abs=1e-8)


def test_fit_power_law_on_markov_tail_bias():
    """A biased estimate (constant offset) is absorbed by C; without C alpha is wrong."""
    d = np.arange(1, 100, dtype=float)
    I = 0.3 * d**-0.5 + 0.01
    with_c = E.fit_power_law(d, I)
    without = E.fit_power_law(d, I, fit_constant=False)
    assert abs(with_c.alpha - 0.5) < 1e-5
    assert abs(without.alpha - 0.5) > 0.05


def test_fit_power_law_weighted():
    d = np.arange(1, 80, dtype=float)
    I = 0.5 * d**-0.6 + 0.001
    rng = np.random.default_rng(0)
    se = 0.01 * I
    fit = E.fit_power_law(d, I * (1 + 0.01 * rng.standard_normal(d.size)), se=se)
    assert abs(fit.alpha - 0.6) < 0.05


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None, derandomize=True)
@given(n=st.integers(1, 30), L=st.integers(2, 40), M=st.integers(1, 6), seed=st.integers(0, 10**6),
       method=st.sampled_from(["grassberger", "plugin", "miller_madow"]))
def test_two_point_property_equals_reference(n, L, M, seed, method):
    rng = np.random.default_rng(seed)
    tok = rng.integers(0, M, size=(n, L))
    ds = np.unique(rng.integers(1, L, size=3))
    mi, se = E.two_point_mi(tok, ds, method=method, return_se=True, groups=4)
    assert np.allclose(mi, [ref_two_point(tok, int(d), method) for d in ds], atol=1e-10)
    assert np.all(se >= 0)
