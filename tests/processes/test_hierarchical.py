"""Tests of ``l2m_sim.processes.hierarchical``: every exact algorithm against an independent computation.

The references here are deliberately naive and written from the mathematics of the construction,
not from the library code:

* ``ref_factor``    -- the linear map ``W = A eps`` built densely level by level (copies as
  independent blocks of normals, fresh columns as identity blocks, the boundary coupling
  from ``scipy.linalg.sqrtm`` of 2x2 correlation matrices);
* ``ref_digit_corr`` -- the two-point digit-product formula in pure Python;
* dense log-determinants (LU, ``numpy.linalg.slogdet``), dense Cholesky and eigen-based
  whitening for bipartite MI, conditionals and canonical correlations.

Sample-based checks use fixed seeds and tolerances derived from standard errors.
"""

from __future__ import annotations

import functools
import math
import tracemalloc

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import scipy.linalg
import scipy.stats

import l2m_sim
from l2m_sim import HierarchicalGaussian, hadamard_mixing, paper_family

LOG4_3 = math.log(3) / math.log(4)


# ------------------------------------------------------------------------------------------
# Independent references
# ------------------------------------------------------------------------------------------


def _corr2(r):
    return np.array([[1.0, r], [r, 1.0]])


def ref_factor(levels, coupling=None):
    """Dense ``A`` with ``W = A eps`` for a schedule ``[(M_t, k_t), ...]`` (level 1 first).

    Level t: row r of the ``(n, b)`` matrix is ``M @ (copy_0[r], .., copy_{k-1}[r], fresh..)``;
    copy i is the level-(t-1) map acting on its own block of normals, fresh column j uses
    ``n`` new normals. Coupling: the pair ``(r b + b - 1, (r + 1) b)`` is multiplied by
    ``C(rho*)^{1/2} C(rho)^{-1/2}`` with rho its correlation before the map.
    """
    A = np.ones((1, 1))
    for M, k in levels:
        M = np.asarray(M, dtype=float)
        b = M.shape[0]
        n, m = A.shape  # level-(t-1) length and number of its normals (n == m)
        total = k * m + (b - k) * n
        Z = np.zeros((n, b, total))  # Z[r, column, :] = coefficients of column entry r
        for i in range(k):
            Z[:, i, i * m:(i + 1) * m] = A
        for j in range(b - k):
            Z[np.arange(n), k + j, k * m + j * n + np.arange(n)] = 1.0
        W = np.einsum("jc,rcz->rjz", M, Z).reshape(n * b, total)
        if coupling is not None:
            for r in range(n - 1):
                a, c = r * b + b - 1, (r + 1) * b
                pair = W[[a, c]]
                S2 = pair @ pair.T
                rho = S2[0, 1] / math.sqrt(S2[0, 0] * S2[1, 1])
                Kr = np.real(scipy.linalg.sqrtm(_corr2(coupling))) @ np.linalg.inv(
                    np.real(scipy.linalg.sqrtm(_corr2(rho))))
                W[[a, c]] = Kr @ pair
        A = W
    return A


def ref_levels(p):
    """The schedule of ``p`` as ``[(M_t, k_t)]`` read from its public ``schedule``."""
    return [(np.array(lev.mixing), lev.copies) for lev in p.schedule]


def ref_digit_corr(p_pos, q_pos, levels):
    """Uncoupled two-point correlation by the digit product, in pure Python.

    Digits are mixed radix with the top level least significant. Walk from level 1
    (most significant) down: at the first differing digit multiply ``(M M^T)[d_p, d_q]``,
    at every less significant level ``P[d_p, d_q]`` with ``P = M_c M_c^T``.
    """
    if p_pos == q_pos:
        return 1.0
    bs = [len(M) for M, _ in levels]
    dp, dq = [], []
    for b in reversed(bs):
        dp.append(p_pos % b)
        dq.append(q_pos % b)
        p_pos //= b
        q_pos //= b
    dp.reverse()
    dq.reverse()  # dp[0] is the level-1 digit

    def entry(M, i, j, upto):  # (M[:, :upto] M[:, :upto]^T)[i, j]
        return sum(M[i][m] * M[j][m] for m in range(upto))

    first = next(t for t in range(len(bs)) if dp[t] != dq[t])
    M, _ = levels[first]
    rho = entry(M, dp[first], dq[first], len(M))
    for t in range(first + 1, len(bs)):
        M, k = levels[t]
        rho *= entry(M, dp[t], dq[t], k)
    return rho


def dense_bipartite_mi(S, cut, logdet_S=None):
    """``1/2 (logdet S_XX + logdet S_YY - logdet S)`` by LU (slogdet)."""
    def logdet(A):
        sign, ld = np.linalg.slogdet(A)
        assert sign > 0
        return ld

    if logdet_S is None:
        logdet_S = logdet(S)
    return 0.5 * (logdet(S[:cut, :cut]) + logdet(S[cut:, cut:]) - logdet_S)


def dense_conditionals(S, X):
    """Conditional means/stds of every row of X (n, L) from the Cholesky factor of S."""
    Lc = np.linalg.cholesky(S)
    E = scipy.linalg.solve_triangular(Lc, X.T, lower=True)  # innovations (L, n)
    mean = (np.tril(Lc, -1) @ E).T
    return mean, np.broadcast_to(np.diag(Lc), X.shape)


def _inv_sqrt(S):
    w, V = np.linalg.eigh(S)
    return (V / np.sqrt(w)) @ V.T


def dense_canonical(S, cut):
    """Singular values of ``S_XX^{-1/2} S_XY S_YY^{-1/2}`` (symmetric square roots)."""
    T = _inv_sqrt(S[:cut, :cut]) @ S[:cut, cut:] @ _inv_sqrt(S[cut:, cut:])
    return np.linalg.svd(T, compute_uv=False)


def sampler_factor(p):
    """``A^T`` from the private sampling kernel applied to unit vectors (rows = columns of A)."""
    return p._transform(np.eye(p.length))


@functools.lru_cache(maxsize=None)
def coupled_subvolume(levels):
    """Shared (cached) coupled study family: its dense factors are expensive at L = 4096."""
    return paper_family("subvolume", levels, coupling=True)


# ------------------------------------------------------------------------------------------
# Designs used across tests
# ------------------------------------------------------------------------------------------

# (id, constructor); all small enough for dense checks at every cut
SMALL_DESIGNS = [
    ("b2k1l6", lambda: HierarchicalGaussian(2, 1, 6)),
    ("b4k3l4", lambda: HierarchicalGaussian(4, 3, 4)),
    ("b4k1l4-paper", lambda: paper_family("log", 4)),
    ("b4k2l3", lambda: HierarchicalGaussian(4, 2, 3)),
    ("b8k3l2", lambda: HierarchicalGaussian(8, 3, 2)),
    ("b8k7l2", lambda: HierarchicalGaussian(8, 7, 2)),
    ("b3k2l4-sign", lambda: HierarchicalGaussian(3, 2, 4)),
    ("b2k1l7-rho0.6", lambda: HierarchicalGaussian(2, 1, 7, coupling=0.6)),
    ("b4k3l4-rho-0.4", lambda: HierarchicalGaussian(4, 3, 4, coupling=-0.4)),
    ("b4k1l4-paper-rho0.5", lambda: paper_family("log", 4, coupling=True)),
    ("b4k2l3-rho0.95", lambda: HierarchicalGaussian(4, 2, 3, coupling=0.95)),
    ("b8k3l2-rho0.9", lambda: HierarchicalGaussian(8, 3, 2, coupling=0.9)),
    ("b8k6l2-rho-0.7", lambda: HierarchicalGaussian(8, 6, 2, coupling=-0.7)),
    ("mixed-432", lambda: HierarchicalGaussian.from_schedule([(4, 3), (2, 1), (4, 2)])),
    ("mixed-432-rho0.3",
     lambda: HierarchicalGaussian.from_schedule([(4, 3), (2, 1), (4, 2)], coupling=0.3)),
]
SMALL_IDS = [d[0] for d in SMALL_DESIGNS]
SMALL_MAKERS = [d[1] for d in SMALL_DESIGNS]
UNCOUPLED = [d for d in SMALL_DESIGNS if "rho" not in d[0]]


# ------------------------------------------------------------------------------------------
# Covariance
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", SMALL_MAKERS, ids=SMALL_IDS)
def test_fused_bottom_levels_equal_level_by_level(make):
    """The sampler's fused dense bottom map is the same linear map as the level passes."""
    p = make()
    eps = np.random.default_rng(3).standard_normal((5, p.length))
    fused = p._transform(eps.copy())
    plain = p._transform(eps.copy(), fused=False)
    np.testing.assert_allclose(fused, plain, rtol=0, atol=1e-13)
    # chunking (the parallel split of rows) does not change a single bit
    np.testing.assert_array_equal(p._transform(eps.copy(), nchunk=3), fused)


@pytest.mark.parametrize("make", SMALL_MAKERS, ids=SMALL_IDS)
def test_covariance_equals_sampler_factor(make):
    p = make()
    At = sampler_factor(p)  # rows are the columns of A
    S = p.covariance()
    assert S.shape == (p.length, p.length)
    np.testing.assert_allclose(S, At.T @ At, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diag(S), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", SMALL_MAKERS, ids=SMALL_IDS)
def test_covariance_equals_independent_dense_construction(make):
    p = make()
    A = ref_factor(ref_levels(p), p.coupling)
    np.testing.assert_allclose(p.covariance(), A @ A.T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", [d[1] for d in UNCOUPLED], ids=[d[0] for d in UNCOUPLED])
def test_uncoupled_covariance_equals_digit_product(make):
    p = make()
    assert not p.coupled
    levels = [(lev.mixing.tolist(), lev.copies) for lev in p.schedule]
    L = p.length
    ref = np.array([[ref_digit_corr(i, j, levels) for j in range(L)] for i in range(L)])
    np.testing.assert_allclose(p.covariance(), ref, rtol=0, atol=1e-12)
    # the public two-point correlation agrees as well (vectorised path)
    ii, jj = np.triu_indices(L, 1)
    np.testing.assert_allclose(p.two_point_correlation(ii, jj), ref[ii, jj], rtol=0, atol=1e-12)


@pytest.mark.parametrize("rho", [-0.8, -0.2, 0.3, 0.5, 0.95])
@pytest.mark.parametrize("b,k,levels", [(2, 1, 6), (4, 3, 3), (4, 1, 3), (8, 5, 2)])
def test_coupling_sets_boundary_pairs_to_target(b, k, levels, rho):
    p = HierarchicalGaussian(b, k, levels, coupling=rho)
    S = p.covariance()
    L = p.length
    a = np.arange(L // b - 1) * b + b - 1
    np.testing.assert_allclose(S[a, a + 1], rho, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diag(S), 1.0, rtol=0, atol=1e-12)
    # every lower level has the same property
    for t in range(1, levels):
        St = p.sublevel(t).covariance()
        a = np.arange(St.shape[0] // b - 1) * b + b - 1
        np.testing.assert_allclose(St[a, a + 1], rho, rtol=0, atol=1e-12)


def test_coupled_two_point_correlation_equals_covariance():
    p = HierarchicalGaussian.from_schedule([(4, 3), (2, 1), (4, 2)], coupling=-0.45)
    S = p.covariance()
    ii, jj = np.triu_indices(p.length, 1)
    np.testing.assert_allclose(p.two_point_correlation(ii, jj), S[ii, jj], rtol=0, atol=1e-12)


@st.composite
def small_designs(draw):
    """Random (b, k, levels, weights, coupling) with L <= 256."""
    b = draw(st.integers(2, 6))
    k = draw(st.integers(1, b - 1))
    levels = draw(st.integers(1, max(1, int(math.log(256, b) + 1e-9))))
    w = draw(st.lists(st.floats(0.05, 1.0), min_size=b, max_size=b))
    rho = draw(st.one_of(st.none(), st.floats(-0.95, 0.95)))
    M = hadamard_mixing(b, k, w)
    # an equal-weight Hadamard design is orthogonal (white noise) and is rejected
    if np.allclose(M @ M.T, np.eye(b), atol=1e-9):
        M = hadamard_mixing(b, k)
    cut = draw(st.integers(1, max(1, b**levels - 1)))
    return HierarchicalGaussian(b, k, levels, mixing=M, coupling=rho), cut


@settings(max_examples=40, deadline=None, derandomize=True)
@given(small_designs())
def test_random_designs_against_dense_references(design):
    """Random designs: covariance, MI at a random cut and conditionals vs dense references."""
    p, cut = design
    A = ref_factor(ref_levels(p), p.coupling)
    S = A @ A.T
    np.testing.assert_allclose(p.covariance(), S, rtol=0, atol=1e-11)
    assert p.bipartite_mi(cut) == pytest.approx(dense_bipartite_mi(S, cut), rel=1e-8)
    x = p.sample(2, rng=0)
    mean, sd = p.conditional_moments(x)
    rmean, rsd = dense_conditionals(S, x)
    np.testing.assert_allclose(mean, rmean, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sd, rsd, rtol=1e-8)


# ------------------------------------------------------------------------------------------
# Bipartite MI
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", SMALL_MAKERS, ids=SMALL_IDS)
def test_bipartite_mi_all_cuts_equals_dense_logdet(make):
    p = make()
    S = p.covariance()
    L = p.length
    ld = np.linalg.slogdet(S)[1]
    ref = np.array([dense_bipartite_mi(S, c, ld) for c in range(1, L)])
    assert np.all(ref > 0)
    got = np.array([p.bipartite_mi(c) for c in range(1, L)])
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=0)
    np.testing.assert_allclose(p.bipartite_mi_profile(), ref, rtol=1e-8, atol=0)
    # integer arrays of cuts (any shape, any integer dtype) return arrays
    cuts = np.array([[1, L // 2], [L - 1, 2]], dtype=np.int32)
    np.testing.assert_allclose(p.bipartite_mi(cuts), ref[cuts - 1], rtol=1e-8, atol=0)
    assert p.bipartite_mi() == pytest.approx(ref[L // 2 - 1], rel=1e-8)
    assert isinstance(p.bipartite_mi(), float)
    assert isinstance(p.bipartite_mi(np.int64(3)), float)


# A 0-d integer array is a valid cut (regression: it used to raise TypeError).
def test_bipartite_mi_zero_dim_array_cut():
    p = HierarchicalGaussian(4, 3, 2)
    assert p.bipartite_mi(np.array(3)) == pytest.approx(p.bipartite_mi(3), rel=1e-14)


@pytest.mark.parametrize(
    "make,cuts",
    [
        (lambda: HierarchicalGaussian(2, 1, 10), [1, 3, 100, 341, 512, 777, 1000, 1023]),
        (lambda: HierarchicalGaussian(8, 5, 3), [1, 7, 8, 63, 64, 100, 256, 300, 511]),
        (lambda: HierarchicalGaussian(4, 2, 5, coupling=0.8), [1, 255, 333, 512, 700, 1023]),
        (lambda: HierarchicalGaussian(8, 3, 3, coupling=-0.6), [5, 64, 200, 256, 449]),
        (lambda: HierarchicalGaussian(4, 3, 6), [2048, 2731]),
        (lambda: coupled_subvolume(6), [1365, 2048, 2731]),
    ],
    ids=["b2l10", "b8k5l3", "b4k2l5-rho0.8", "b8k3l3-rho-0.6", "b4k3l6-L4096",
         "paper-subvolume-coupled-L4096"],
)
def test_bipartite_mi_selected_cuts_large(make, cuts):
    p = make()
    S = p.covariance()
    ld = np.linalg.slogdet(S)[1]
    ref = np.array([dense_bipartite_mi(S, c, ld) for c in cuts])
    got = np.array([p.bipartite_mi(c) for c in cuts])
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=0)
    np.testing.assert_allclose(p.bipartite_mi(np.array(cuts)), ref, rtol=1e-8, atol=0)


def test_bipartite_mi_time_reversal_and_channels():
    for p in (HierarchicalGaussian(4, 3, 4), HierarchicalGaussian(4, 2, 3, coupling=0.4)):
        L = p.length
        rev = p.reversed()
        cuts = np.arange(1, L)
        np.testing.assert_allclose(rev.bipartite_mi(L - cuts), p.bipartite_mi(cuts), rtol=1e-9)
        np.testing.assert_allclose(rev.covariance(), p.covariance()[::-1, ::-1], atol=1e-12)
        p3 = HierarchicalGaussian.from_schedule(p.schedule, coupling=p.coupling, channels=3)
        np.testing.assert_allclose(p3.bipartite_mi(cuts), 3 * p.bipartite_mi(cuts), rtol=1e-12)
        assert p3.bipartite_mi() == pytest.approx(3 * p.bipartite_mi(), rel=1e-12)


# ------------------------------------------------------------------------------------------
# Two-point MI
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", SMALL_MAKERS, ids=SMALL_IDS)
def test_two_point_mi_equals_covariance_formula(make):
    p = make()
    S = p.covariance()
    L = p.length
    rng = np.random.default_rng(7)
    i = rng.integers(0, L, size=60)
    j = rng.integers(0, L, size=60)
    keep = i != j
    i, j = i[keep], j[keep]
    ref = -0.5 * np.log(1 - S[i, j] ** 2)
    for a, c, r in zip(i[:10], j[:10], ref[:10]):
        got = p.two_point_mi(int(a), int(c))
        assert isinstance(got, float)
        assert got == pytest.approx(r, rel=1e-9, abs=1e-14)
    np.testing.assert_allclose(p.two_point_mi(i, j), ref, rtol=1e-9, atol=1e-14)
    # broadcasting: a column of positions against a row of positions
    ii = np.array([[0], [1], [L - 1]])
    jj = np.array([2, L // 2, L - 2])
    full = -0.5 * np.log(1 - S[ii, jj] ** 2)
    got = p.two_point_mi(ii, jj)
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got, full, rtol=1e-9, atol=1e-14)


def test_two_point_mi_same_position_is_infinite():
    for p in (HierarchicalGaussian(4, 3, 4), HierarchicalGaussian.from_schedule([(4, 3), (2, 1)])):
        assert p.two_point_mi(3, 3) == math.inf
        assert np.all(p.two_point_mi(np.arange(5), np.arange(5)) == math.inf)


# Regression: the coupled recursion gave rho = 1 only up to rounding (18.02 nats, not inf).
def test_two_point_mi_same_position_is_infinite_coupled():
    p = HierarchicalGaussian(4, 3, 4, coupling=-0.4)
    assert p.two_point_mi(3, 3) == math.inf


def test_two_point_mi_sums_over_channels():
    p1 = HierarchicalGaussian(4, 3, 3, coupling=0.2)
    p4 = HierarchicalGaussian(4, 3, 3, coupling=0.2, channels=4)
    assert p4.two_point_mi(0, 63) == pytest.approx(4 * p1.two_point_mi(0, 63), rel=1e-12)


def test_first_versus_last_same_for_both_study_families():
    """Same antipodal correlation magnitude at every L, while I_BP differs completely."""
    for levels in range(1, 9):
        sub = paper_family("subvolume", levels)
        log = paper_family("log", levels)
        L = sub.length
        rs = sub.two_point_correlation(0, L - 1)
        rl = log.two_point_correlation(0, L - 1)
        expected = 0.25 * (5 / 16) ** (levels - 1)  # |(M M^T)[0, 3]| * |P[0, 3]|^(l-1)
        assert abs(rs) == pytest.approx(expected, rel=1e-12)
        assert abs(rl) == pytest.approx(expected, rel=1e-12)
        assert sub.two_point_mi(0, L - 1) == pytest.approx(log.two_point_mi(0, L - 1), rel=1e-12)
        if levels >= 2:
            assert sub.bipartite_mi() > 2.5 * log.bipartite_mi()
    # the dense covariance agrees at small L
    for levels in (2, 3):
        for name in ("subvolume", "log"):
            S = paper_family(name, levels).covariance()
            assert abs(S[0, -1]) == pytest.approx(0.25 * (5 / 16) ** (levels - 1), rel=1e-12)


# ------------------------------------------------------------------------------------------
# Conditionals and log-density
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", SMALL_MAKERS, ids=SMALL_IDS)
def test_conditional_moments_equal_dense_cholesky(make):
    p = make()
    S = p.covariance()
    L = p.length
    X = p.sample(5, rng=11)
    assert X.shape == (5, L)
    mean, sd = p.conditional_moments(X)
    rmean, rsd = dense_conditionals(S, X)
    assert mean.shape == X.shape and sd.shape == X.shape
    np.testing.assert_allclose(mean, rmean, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sd, rsd, rtol=1e-8, atol=0)
    np.testing.assert_allclose(p.conditional_stds(), rsd[0], rtol=1e-8)
    # the conditionals hold for any input, not only samples of the process
    Y = np.random.default_rng(3).standard_normal((2, L)) * 3.0
    np.testing.assert_allclose(p.conditional_moments(Y)[0], dense_conditionals(S, Y)[0],
                               rtol=0, atol=1e-8)
    # a single (L,) sequence
    m1, s1 = p.conditional_moments(X[2])
    assert m1.shape == (L,) and s1.shape == (L,)
    np.testing.assert_allclose(m1, rmean[2], rtol=0, atol=1e-8)
    np.testing.assert_allclose(s1, rsd[2], rtol=1e-8)


@pytest.mark.parametrize("coupling", [None, 0.7])
def test_conditional_moments_multichannel(coupling):
    p = HierarchicalGaussian(4, 2, 3, coupling=coupling, channels=3)
    one = HierarchicalGaussian(4, 2, 3, coupling=coupling)
    S = one.covariance()
    X = p.sample(4, rng=5)
    assert X.shape == (4, 64, 3)
    mean, sd = p.conditional_moments(X)
    assert mean.shape == X.shape and sd.shape == X.shape
    for c in range(3):
        rmean, rsd = dense_conditionals(S, X[:, :, c])
        np.testing.assert_allclose(mean[:, :, c], rmean, rtol=0, atol=1e-8)
        np.testing.assert_allclose(sd[:, :, c], rsd, rtol=1e-8)
    # a single (L, C) sequence
    m1, s1 = p.conditional_moments(X[1])
    assert m1.shape == (64, 3)
    np.testing.assert_allclose(m1, mean[1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(s1, sd[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("coupling", [None, -0.5])
def test_conditional_means_are_causal(coupling):
    """Changing x_t.. leaves the predictions of positions <= t unchanged."""
    p = HierarchicalGaussian(4, 3, 4, coupling=coupling)
    x = p.sample(1, rng=1)[0]
    mean = p.conditional_moments(x)[0]
    for t in (1, 37, 128, 200):
        y = x.copy()
        y[t:] = np.random.default_rng(t).standard_normal(p.length - t) * 5
        np.testing.assert_array_equal(p.conditional_moments(y)[0][: t + 1], mean[: t + 1])
        assert not np.allclose(p.conditional_moments(y)[0][t + 1:], mean[t + 1:])


def test_innovations_of_samples_are_white_at_scale():
    """At L = 4^7 (no dense check) the standardised innovations are iid N(0, 1)."""
    p = HierarchicalGaussian(4, 3, 7)
    x = p.sample(16, rng=2024)
    mean, sd = p.conditional_moments(x)
    z = (x - mean) / sd
    N = z.size
    assert abs(z.mean()) < 5 / math.sqrt(N)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / N)
    lag1 = np.mean(z[:, 1:] * z[:, :-1])
    assert abs(lag1) < 5 / math.sqrt(N)
    # the stds are data independent; position 0 is unpredictable, later ones are not
    np.testing.assert_array_equal(sd, np.broadcast_to(p.conditional_stds(), x.shape))
    assert sd[0, 0] == pytest.approx(1.0, rel=1e-12)
    assert sd.min() < 0.7


LOG_PROB_IDS = ["b4k3l4", "b4k1l4-paper", "b3k2l4-sign", "b4k3l4-rho-0.4", "b4k1l4-paper-rho0.5",
                "mixed-432", "mixed-432-rho0.3"]


@pytest.mark.parametrize("make", [SMALL_MAKERS[SMALL_IDS.index(i)] for i in LOG_PROB_IDS],
                         ids=LOG_PROB_IDS)
def test_log_prob_equals_scipy(make):
    p = make()
    mvn = scipy.stats.multivariate_normal(mean=np.zeros(p.length), cov=p.covariance())
    x = p.sample(6, rng=9)
    lp = p.log_prob(x)
    assert lp.shape == (6,)
    np.testing.assert_allclose(lp, mvn.logpdf(x), rtol=1e-9)
    assert float(p.log_prob(x[0])) == pytest.approx(mvn.logpdf(x[0]), rel=1e-9)


def test_log_prob_multichannel_sums_channels():
    p = HierarchicalGaussian(4, 3, 3, coupling=0.25, channels=2)
    mvn = scipy.stats.multivariate_normal(mean=np.zeros(64), cov=p.covariance())
    x = p.sample(3, rng=4)
    np.testing.assert_allclose(p.log_prob(x), mvn.logpdf(x[:, :, 0]) + mvn.logpdf(x[:, :, 1]),
                               rtol=1e-9)


# ------------------------------------------------------------------------------------------
# Sampling
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda: HierarchicalGaussian(4, 3, 3), lambda: HierarchicalGaussian(4, 3, 3, coupling=0.7),
     lambda: HierarchicalGaussian(2, 1, 6, coupling=-0.6),
     lambda: HierarchicalGaussian.from_schedule([(4, 3), (2, 1), (8, 5)])],
    ids=["b4k3", "b4k3-rho0.7", "b2k1-rho-0.6", "mixed"],
)
def test_sample_covariance_matches_exact(make):
    p = make()
    n = 20000
    x = p.sample(n, rng=123)
    assert x.shape == (n, p.length) and x.dtype == np.float64
    S = p.covariance()
    C = x.T @ x / n  # the mean is known to be 0
    # exact standard error of a sample covariance of unit-variance Gaussians
    se = np.sqrt((1 + S**2) / n)
    dev = np.abs(C - S) / se
    assert dev.max() < 5.0, f"max standardised deviation {dev.max():.2f}"
    # unit variance, zero mean
    np.testing.assert_allclose(np.diag(C), 1.0, atol=5 * math.sqrt(2 / n))
    assert np.abs(x.mean(axis=0)).max() < 5 / math.sqrt(n)


def test_sample_channels_are_independent_copies():
    p = HierarchicalGaussian(4, 3, 3, coupling=0.5, channels=3)
    n = 20000
    x = p.sample(n, rng=77)
    assert x.shape == (n, 64, 3)
    S = p.covariance()
    for c in range(3):
        C = x[:, :, c].T @ x[:, :, c] / n
        assert (np.abs(C - S) / np.sqrt((1 + S**2) / n)).max() < 5.0
    cross = x[:, :, 0].T @ x[:, :, 1] / n
    assert np.abs(cross).max() < 5 / math.sqrt(n)
    cross = x[:, :, 1].T @ x[:, :, 2] / n
    assert np.abs(cross).max() < 5 / math.sqrt(n)


def test_coupled_sampler_beyond_cache_block():
    """L = 4^7 > 8192 takes the sampler's breadth-first path for the top level.

    No dense check is affordable there, so compare lag-1 products pooled by class with
    the exact correlations from the covariance recursion; the standard error comes from
    the spread of the per-sequence averages (positions within a sequence are dependent).
    """
    p = HierarchicalGaussian(4, 3, 7, coupling=0.5)
    L = p.length
    n = 200
    x = p.sample(n, rng=31)
    i = np.arange(L - 1)
    rho = p.two_point_correlation(i, i + 1)
    np.testing.assert_allclose(rho[i % 4 == 3], 0.5, atol=1e-12)  # boundary pairs hit rho*
    prod = x[:, :-1] * x[:, 1:] - rho
    for cls in range(4):
        d = prod[:, i % 4 == cls].mean(axis=1)  # one average per sequence
        assert abs(d.mean()) < 5 * d.std(ddof=1) / math.sqrt(n), f"class {cls}"
    v = (x**2).mean(axis=1) - 1
    assert abs(v.mean()) < 5 * v.std(ddof=1) / math.sqrt(n)
    # the uncoupled boundary correlation differs, so the class test has power
    unc = HierarchicalGaussian(4, 3, 7).two_point_correlation(i[i % 4 == 3], i[i % 4 == 3] + 1)
    assert np.abs(unc - 0.5).min() > 0.1


@pytest.mark.parametrize("coupling", [None, 0.5])
def test_sample_reproducible(coupling):
    p = HierarchicalGaussian(4, 3, 5, coupling=coupling)
    a = p.sample(7, rng=42)
    b = p.sample(7, rng=42)
    np.testing.assert_array_equal(a, b)
    # an int seed is the generator default_rng(seed)
    np.testing.assert_array_equal(p.sample(7, rng=np.random.default_rng(42)), a)
    assert not np.array_equal(p.sample(7, rng=43), a)
    g = np.random.default_rng(0)
    assert not np.array_equal(p.sample(2, rng=g), p.sample(2, rng=g))
    # a fresh default generator when rng is None
    assert p.sample(1).shape == (1, p.length)


def test_sample_independent_of_thread_count():
    p = HierarchicalGaussian(4, 3, 5, coupling=0.3)
    q = HierarchicalGaussian(8, 3, 3)
    before = numba.get_num_threads()
    nmax = numba.config.NUMBA_NUM_THREADS
    try:
        numba.set_num_threads(1)
        a1, b1 = p.sample(7, rng=5), q.sample(5, rng=6)
        numba.set_num_threads(min(2, nmax))
        a2, b2 = p.sample(7, rng=5), q.sample(5, rng=6)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)


# ------------------------------------------------------------------------------------------
# Growth of the bipartite MI (beta)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("b,k", [(2, 1), (3, 2), (4, 1), (4, 2), (4, 3), (5, 3), (8, 3), (8, 7)])
def test_uncoupled_beta_is_log_b_k_exactly(b, k):
    rng = np.random.default_rng(100 * b + k)
    for trial in range(3):
        w = rng.uniform(0.05, 1.0, size=b)
        M = hadamard_mixing(b, k, w)
        cut_digit = b // 2
        vals = []
        for levels in range(1, 6):
            if b**levels > 40000:
                break
            p = HierarchicalGaussian(b, k, levels, mixing=M)
            # a cut c * b^(l-1) falls between rows at every level above 1 (= L // 2 for even b)
            vals.append(p.bipartite_mi(cut_digit * b ** (levels - 1)))
        vals = np.array(vals)
        assert vals[0] > 0
        slopes = np.log(vals[1:] / vals[:-1]) / math.log(b)
        np.testing.assert_allclose(slopes, math.log(k) / math.log(b), rtol=0, atol=1e-6)


def test_coupled_subvolume_keeps_beta():
    """Coupling adds a boundary term but keeps beta = log_4 3.

    Observed (rho* = 0.5): I_{l+1} / I_l = 3.551, 3.165, 3.0454, 3.0142, 3.0045 for
    l = 1..5, i.e. slopes log_4(ratio) = 0.914, 0.831, 0.8033, 0.7959, 0.7936 against
    log_4 3 = 0.7925 (gap 0.011, 0.0034, 0.0011 for l = 3, 4, 5).
    """
    vals = np.array([coupled_subvolume(levels).bipartite_mi() for levels in range(1, 7)])
    ratios = vals[1:] / vals[:-1]
    assert np.all(np.diff(ratios) < 0)  # the boundary term's share shrinks
    assert np.all(ratios > 3)
    slopes = np.log(ratios) / math.log(4)
    # tolerances from the observed values above (about 1.5x the observed gaps)
    assert np.all(np.abs(slopes[2:] - LOG4_3) < 0.015)
    assert abs(slopes[-1] - LOG4_3) < 0.002
    assert abs(ratios[-1] - 3) < 0.01
    # the uncoupled design is exactly 3 per level and below the coupled one
    unc = np.array([paper_family("subvolume", levels).bipartite_mi() for levels in range(1, 7)])
    assert np.all(vals[1:] > unc[1:])
    assert vals[0] == pytest.approx(unc[0], rel=1e-12)  # one row: no boundary to couple


def test_coupled_log_family_grows_like_log_L():
    """Observed increments (rho* = 0.5): 0.1842, 0.1504, 0.14795, 0.14783 (then 0.14789 at l = 6)."""
    coupled = np.array([paper_family("log", levels, coupling=True).bipartite_mi()
                        for levels in range(1, 6)])
    uncoupled = np.array([paper_family("log", levels).bipartite_mi() for levels in range(1, 8)])
    # uncoupled: exactly constant in l (an area law)
    np.testing.assert_allclose(uncoupled, uncoupled[0], rtol=1e-12)
    # coupled: I_BP increases by an (asymptotically) constant amount per level, i.e. ~ log L
    inc = np.diff(coupled)
    assert np.all(inc > 0.1)
    assert np.ptp(inc[1:]) / inc[1:].mean() < 0.03
    assert np.ptp(inc[2:]) / inc[2:].mean() < 0.002
    # and it is not a power law: the ratios tend to 1
    assert coupled[-1] / coupled[-2] < 1.25
    assert paper_family("log", 3, coupling=True).exponents().growth == "log"
    assert paper_family("log", 3).exponents().growth == "constant"


# ------------------------------------------------------------------------------------------
# Canonical correlations and the linear-state bound
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [2, 3, 4, 6])
def test_canonical_correlations_study_middle_cut(levels):
    p = paper_family("subvolume", levels)
    sig = p.canonical_correlations()
    assert len(sig) == 3 ** (levels - 1)
    np.testing.assert_allclose(sig, sig[0], rtol=1e-12)
    # at level 1 the cross-covariance is -1/4 * ones(2, 2): one canonical correlation of 2/3
    assert sig[0] == pytest.approx(2 / 3, rel=1e-12)
    mi = -0.5 * np.sum(np.log1p(-sig**2))
    assert mi == pytest.approx(p.bipartite_mi(), rel=1e-10)


@pytest.mark.parametrize(
    "make,cuts",
    [
        (lambda: paper_family("subvolume", 4), [128, 64, 192, 16, 100, 37, 1, 255, 129]),
        (lambda: HierarchicalGaussian(2, 1, 7), [64, 32, 33, 1, 127, 90]),
        (lambda: HierarchicalGaussian(8, 5, 2), [32, 8, 9, 63, 17]),
        (lambda: HierarchicalGaussian(4, 3, 4, coupling=0.5), [128, 64, 37, 1, 200]),
        (lambda: HierarchicalGaussian.from_schedule([(4, 3), (2, 1), (4, 2)]), [16, 4, 8, 5, 31]),
    ],
    ids=["paper", "b2k1", "b8k5", "b4k3-coupled", "mixed"],
)
def test_canonical_correlations_equal_dense(make, cuts):
    p = make()
    S = p.covariance()
    for c in cuts:
        got = p.canonical_correlations(c)
        assert np.all(np.diff(got) <= 0)
        ref = dense_canonical(S, c)
        ref = ref[ref > 1e-7]
        assert len(got[got > 1e-7]) == len(ref), f"cut {c}"
        np.testing.assert_allclose(got[got > 1e-7], ref, rtol=0, atol=1e-9)
        mi = -0.5 * np.sum(np.log1p(-got**2))
        assert mi == pytest.approx(p.bipartite_mi(c), rel=1e-9)


def test_linear_state_mi():
    p = paper_family("subvolume", 3)
    for cut in (None, 9, 37):
        count = len(p.canonical_correlations(cut))
        full = p.bipartite_mi(cut)
        vals = np.array([p.linear_state_mi(d, cut) for d in range(count + 3)])
        assert vals[0] == 0.0
        assert np.all(np.diff(vals[: count + 1]) > 0)
        np.testing.assert_allclose(vals[count:], full, rtol=1e-10)
    # the study's middle cut: each dimension carries the same -1/2 ln(1 - 4/9) nats
    per_dim = -0.5 * math.log(1 - 4 / 9)
    assert paper_family("subvolume", 5).linear_state_mi(50) == pytest.approx(50 * per_dim, rel=1e-12)
    # channels add canonical correlations
    p2 = paper_family("subvolume", 3, channels=2)
    assert len(p2.canonical_correlations()) == 2 * 9
    assert p2.linear_state_mi(100) == pytest.approx(p2.bipartite_mi(), rel=1e-10)


# ------------------------------------------------------------------------------------------
# Closed-form exponents
# ------------------------------------------------------------------------------------------


def test_exponents_study_matrix():
    e = paper_family("subvolume", 5).exponents()
    log4 = math.log(4)
    assert e.beta == pytest.approx(LOG4_3, rel=1e-14)
    assert e.alpha_env == pytest.approx(-2 * math.log(15 / 16) / log4, rel=1e-12)
    assert e.alpha_avg == pytest.approx(-math.log(3 * 25 / 256) / log4, rel=1e-12)
    assert e.alpha_antipodal == pytest.approx(-2 * math.log(5 / 16) / log4, rel=1e-12)
    assert e.growth == "power"
    # the exponents do not depend on levels or on coupling
    e2 = paper_family("subvolume", 2, coupling=True).exponents()
    for field in ("beta", "alpha_avg", "alpha_env", "alpha_antipodal"):
        assert getattr(e2, field) == pytest.approx(getattr(e, field), rel=1e-12)
    # the antipodal exponent is the decay of the first-versus-last correlation
    r = [abs(paper_family("subvolume", lv).two_point_correlation(0, 4**lv - 1)) for lv in (3, 4)]
    assert -2 * math.log(r[1] / r[0]) / log4 == pytest.approx(e.alpha_antipodal, rel=1e-12)


def test_exponents_growth_kinds():
    assert HierarchicalGaussian(4, 1, 3).exponents().growth == "constant"
    assert HierarchicalGaussian(4, 1, 3).exponents().beta == 0.0
    assert HierarchicalGaussian(4, 1, 3, coupling=0.3).exponents().growth == "log"
    assert HierarchicalGaussian(2, 1, 3, coupling=-0.3).exponents().growth == "log"
    assert HierarchicalGaussian(8, 2, 2).exponents().beta == pytest.approx(1 / 3, rel=1e-14)


@pytest.mark.parametrize("b,k", [(4, 2), (8, 3), (2, 1)])
def test_exponents_hadamard_weights(b, k):
    w = np.random.default_rng(b + k).uniform(0.1, 1.0, size=b)
    w = w / w.sum()
    e = HierarchicalGaussian(b, k, 2, mixing=hadamard_mixing(b, k, w)).exponents()
    assert e.alpha_env == pytest.approx(-2 * math.log(w[:k].sum()) / math.log(b), rel=1e-10)
    assert e.alpha_avg == pytest.approx(-math.log(np.sum(w[:k] ** 2)) / math.log(b), rel=1e-10)


# ------------------------------------------------------------------------------------------
# Mixed schedules
# ------------------------------------------------------------------------------------------


def test_mixed_schedule_structure_and_beta():
    sched = [(4, 3), (2, 1), (4, 2)]
    p = HierarchicalGaussian.from_schedule(sched)
    assert p.length == 32
    assert p.levels == 3
    assert p.branching == (4, 2, 4) and p.copies == (3, 1, 2)
    e = p.exponents()
    assert e.beta == pytest.approx((math.log(3) + math.log(2)) / (math.log(4) + math.log(2) + math.log(4)),
                                   rel=1e-14)
    # explicit matrices and Level objects give the same process
    q = HierarchicalGaussian.from_schedule(
        [(4, 3, hadamard_mixing(4, 3)), l2m_sim.Level(2, 1, hadamard_mixing(2, 1)), (4, 2, None)])
    np.testing.assert_allclose(q.covariance(), p.covariance(), atol=1e-14)
    # exact dense conditionals and MI at every cut
    S = p.covariance()
    ld = np.linalg.slogdet(S)[1]
    ref = np.array([dense_bipartite_mi(S, c, ld) for c in range(1, 32)])
    np.testing.assert_allclose(p.bipartite_mi_profile(), ref, rtol=1e-8)
    # a uniform schedule equals the plain constructor
    u = HierarchicalGaussian.from_schedule([(4, 3)] * 3)
    np.testing.assert_array_equal(u.covariance(), HierarchicalGaussian(4, 3, 3).covariance())


# ------------------------------------------------------------------------------------------
# Performance-scale smoke (no timing asserts)
# ------------------------------------------------------------------------------------------


def test_large_L_bipartite_mi():
    p10 = HierarchicalGaussian(4, 3, 10)
    p9 = HierarchicalGaussian(4, 3, 9)
    assert p10.length == 4**10
    assert p10.bipartite_mi() == pytest.approx(3 * p9.bipartite_mi(), rel=1e-9)
    v = p10.bipartite_mi(cut=123457)
    assert math.isfinite(v) and v > 0
    # a cut at a row boundary of the top level equals the level-9 cut times k
    assert p10.bipartite_mi(cut=4 * 30000) == pytest.approx(3 * p9.bipartite_mi(30000), rel=1e-9)


def test_dense_methods_refused_above_dense_max_without_allocating():
    from l2m_sim.processes.hierarchical import DENSE_MAX

    p = HierarchicalGaussian(4, 3, 8, coupling=0.5)
    assert p.length > DENSE_MAX
    x = np.zeros((1, p.length))
    tracemalloc.start()
    try:
        for call in (p.covariance, p.bipartite_mi, lambda: p.bipartite_mi(5),
                     lambda: p.bipartite_mi(np.array([5, 6])), p.bipartite_mi_profile,
                     p.conditional_stds, lambda: p.conditional_moments(x),
                     lambda: p.log_prob(x), p.canonical_correlations,
                     lambda: p.linear_state_mi(3)):
            with pytest.raises(ValueError, match=str(DENSE_MAX)):
                call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    # sampling and single covariances need no dense matrix
    assert p.sample(1, rng=0).shape == (1, p.length)
    assert 0 < p.two_point_mi(0, p.length - 1) < math.inf


# ------------------------------------------------- accuracy against extended precision


def _mp_bipartite(M, k, levels, dps=80):
    """I_BP at the middle cut from the row recursion evaluated in ``dps``-digit arithmetic
    (forward and reversed conditional variances, each row's covariance Q + v P factored in
    mpmath)."""
    import mpmath as mp

    mp.mp.dps = dps

    def variances(M):
        b = M.shape[0]
        Mm = [[mp.mpf(float(x)) for x in row] for row in M]
        P = [[mp.fsum(Mm[i][m] * Mm[j][m] for m in range(k)) for j in range(b)] for i in range(b)]
        Q = [[mp.fsum(Mm[i][m] * Mm[j][m] for m in range(k, b)) for j in range(b)]
             for i in range(b)]
        var = [mp.mpf(1)]
        for _ in range(levels):
            new = []
            for v in var:
                S = [[Q[i][j] + v * P[i][j] for j in range(b)] for i in range(b)]
                F = [[mp.mpf(0)] * b for _ in range(b)]
                for j in range(b):
                    F[j][j] = mp.sqrt(S[j][j] - mp.fsum(F[j][m] ** 2 for m in range(j)))
                    for i in range(j + 1, b):
                        F[i][j] = (S[i][j] - mp.fsum(F[i][m] * F[j][m] for m in range(j))) / F[j][j]
                new.extend(F[j][j] ** 2 for j in range(b))
            var = new
        return var

    vf, vr = variances(M), variances(M[::-1])[::-1]
    c = len(vf) // 2
    return float(mp.fsum(mp.log(vr[q]) - mp.log(vf[q]) for q in range(c, len(vf))) / 2)


def _mixing_with_cond(b, cond, seed):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((b, b)))
    V, _ = np.linalg.qr(rng.standard_normal((b, b)))
    M = U @ np.diag(np.logspace(0, -np.log10(cond), b)) @ V.T
    return M / np.linalg.norm(M, axis=1, keepdims=True)


def test_mp_reference_matches_a_dense_extended_precision_covariance():
    # the reference recursion against a 40-digit dense covariance (3 levels, L = 27)
    import mpmath as mp

    M = _mixing_with_cond(3, 300.0, 1)
    h = HierarchicalGaussian(3, 2, 3, mixing=M)
    mp.mp.dps = 40
    Mm = mp.matrix(M.tolist())
    S = mp.matrix([[1]])
    for _ in range(3):  # Sigma_t = kron(Sigma, P) + kron(I, Q), in mpmath
        n = S.rows
        P = Mm[:, 0:2] * Mm[:, 0:2].T
        Q = Mm[:, 2:3] * Mm[:, 2:3].T
        T = mp.zeros(3 * n, 3 * n)
        for a in range(n):
            for c in range(n):
                for i in range(3):
                    for j in range(3):
                        T[3 * a + i, 3 * c + j] = S[a, c] * P[i, j] + (Q[i, j] if a == c else 0)
        S = T
    c = 13
    dense = (mp.log(mp.det(S[:c, :c])) + mp.log(mp.det(S[c:, c:])) - mp.log(mp.det(S))) / 2
    assert abs(_mp_bipartite(M, 2, 3) - float(dense)) < 1e-25 + 1e-25 * abs(float(dense))
    assert h.bipartite_mi() == pytest.approx(float(dense), rel=1e-13)


@pytest.mark.parametrize("b,k,cond,levels,seed", [
    (4, 2, 1e3, 5, 0), (4, 3, 1e4, 5, 1), (3, 1, 1e4, 6, 2), (2, 1, 1e4, 10, 3),
    (2, 1, 20.0, 12, 4)])
def test_bipartite_accurate_up_to_the_condition_limit(b, k, cond, levels, seed):
    from l2m_sim.processes.mixing import MIXING_COND_MAX

    M = _mixing_with_cond(b, min(cond, MIXING_COND_MAX / 1.5), seed)
    assert np.linalg.cond(M) <= MIXING_COND_MAX
    got = HierarchicalGaussian(b, k, levels, mixing=M).bipartite_mi()
    assert got == pytest.approx(_mp_bipartite(M, k, levels), rel=1e-12)


@pytest.mark.parametrize("weights,k", [
    ([26244.0, 26244.0, 26244.0, 1.0], 3),   # fresh weight tiny: condition 162
    ([1e-6, 1e-6, 0.5, 0.5], 2),             # copy weights tiny (design alpha = 20): 707
])
def test_ill_conditioned_hadamard_designs_exact(weights, k):
    from l2m_sim.processes.mixing import hadamard_mixing

    M = hadamard_mixing(4, k, np.array(weights))
    for levels in (4, 5):
        got = HierarchicalGaussian(4, k, levels, mixing=M).bipartite_mi()
        assert got == pytest.approx(_mp_bipartite(M, k, levels), rel=1e-13)


def test_condition_limit_refused_with_the_reason():
    from l2m_sim.processes.mixing import MIXING_COND_MAX

    M = _mixing_with_cond(4, 1e6, 0)
    with pytest.raises(ValueError, match=r"condition number .* exceeds 1e\+04"):
        HierarchicalGaussian(4, 2, 2, mixing=M)
    assert MIXING_COND_MAX == 1e4


def test_design_alpha_20_and_near_one_coupling():
    d = l2m_sim.design(beta=0.5, alpha=20)
    assert d.beta_fit == pytest.approx(0.5, abs=1e-9)
    with pytest.raises(ValueError, match="coupling=0.99999 at length"):
        l2m_sim.paper_family("subvolume", 5, coupling=0.99999).bipartite_mi()


def test_orthogonal_zeros_are_exact_zeros():
    """Equal-weight k = 2 Hadamard designs: pairs whose correlation factor is zero by
    orthogonality have exactly zero MI (0.0, not 1e-35 rounding), so tables print 0."""
    p = l2m_sim.make_process("hierarchical:copies=2", 64)
    assert p.two_point_mi(0, 1) == 0.0 and p.two_point_mi(0, 16) == 0.0
    lev = p.schedule[0]
    assert lev.P[0, 1] == 0.0 and lev.P[0, 3] == 0.0
