"""Tests of the stationary Gaussian family (``l2m_sim.processes.stationary``).

Every structured algorithm is held equal to a plain dense reference: the exact MI at every
cut to ``slogdet`` of the Toeplitz covariance, conditional moments to the dense Cholesky
factor, ``log_prob`` to scipy's multivariate normal, the reflection coefficients to
Yule-Walker solves, and both samplers (circulant embedding and the Levinson innovations
recursion) to the covariance *exactly*, through the linear map they apply to the normals.
Closed forms (AR(1), AR(p), fGn) and bad input (hypothesis) are checked too.
"""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_sim.protocol import GaussianProcess
from l2m_sim.processes.stationary import (
    AR1,
    ARMA,
    DENSE_MAX,
    LEVINSON_MAX,
    FractionalGaussianNoise,
    StationaryGaussian,
    arma_autocovariance,
    fgn_autocovariance,
)

FAST = settings(max_examples=30, deadline=None, derandomize=True)
REL = 1e-8
# the "oscillating" process samples by the Levinson fallback and says so; tested explicitly below
pytestmark = pytest.mark.filterwarnings("ignore:circulant embedding has negative:RuntimeWarning")


def _user_acov(L=23, seed=3, scale=2.5):
    """A positive definite autocovariance with no family structure (random MA filter)."""
    h = np.random.default_rng(seed).standard_normal(9)
    full = np.correlate(h, h, "full")[h.size - 1:]
    acov = np.zeros(L)
    acov[: full.size] = full[:L]
    acov[0] += 0.3  # white part: strictly positive definite
    return scale * acov / acov[0]


def _oscillating_acov(L=32):
    """PD (Lorentzian-pair spectrum) but truncated so abruptly that no circulant embedding is >= 0."""
    d = np.arange(L)
    return np.exp(-d / 50.0) * np.cos(0.3 * d)


PROCESSES = {
    "user": lambda: StationaryGaussian(_user_acov()),
    "user_2ch": lambda: StationaryGaussian(_user_acov(17, seed=5), channels=2),
    "ar1": lambda: AR1(0.8, 31),
    "ar1_neg": lambda: AR1(-0.65, 20),
    "ar3": lambda: ARMA(ar=(1.2, -0.5, 0.1), length=30),
    "arma": lambda: ARMA(ar=(0.5, -0.3), ma=(0.4, 0.2), length=26),
    "ma": lambda: ARMA(ma=(0.7, -0.2), length=18),
    "fgn_low": lambda: FractionalGaussianNoise(0.3, 40),
    "fgn_high": lambda: FractionalGaussianNoise(0.85, 33, channels=3),
    "oscillating": lambda: StationaryGaussian(_oscillating_acov()),
}


@pytest.fixture(params=sorted(PROCESSES), scope="module")
def proc(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return PROCESSES[request.param]()


def dense_mi(S, c):
    ld = lambda A: np.linalg.slogdet(A)[1]  # noqa: E731
    return 0.5 * (ld(S[:c, :c]) + ld(S[c:, c:]) - ld(S))


def assert_rel(a, b, rel=REL, atol=1e-12):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.all(np.abs(a - b) <= rel * np.abs(b) + atol), np.max(np.abs(a - b))


# ------------------------------------------------------------------------------------------
# Exact versus dense
# ------------------------------------------------------------------------------------------


def test_protocol(proc):
    assert isinstance(proc, GaussianProcess)
    assert proc.covariance().shape == (proc.length, proc.length)


def test_mi_every_cut_equals_dense_logdet(proc):
    S = proc.covariance()
    L = proc.length
    dense = np.array([dense_mi(S, c) for c in range(1, L)])
    assert_rel(proc.bipartite_mi_profile(), proc.channels * dense)
    cuts = np.array([1, 2, L // 3, L // 2, L - 2, L - 1])
    assert_rel(proc.bipartite_mi(cuts), proc.channels * dense[cuts - 1])
    for c in cuts:
        assert_rel(proc.bipartite_mi(int(c)), proc.channels * dense[c - 1])
    assert proc.bipartite_mi() == proc.bipartite_mi(L // 2)
    assert np.all(proc.bipartite_mi_profile() >= 0)


def test_conditional_moments_equal_dense_cholesky(proc):
    S = proc.covariance()
    Lc = np.linalg.cholesky(S)
    x = proc.sample(3, rng=11)
    mean, sd = proc.conditional_moments(x)
    assert mean.shape == x.shape and sd.shape == x.shape
    X = x if proc.channels == 1 else np.moveaxis(x, 2, 1).reshape(-1, proc.length)
    e = scipy.linalg.solve_triangular(Lc, X.T, lower=True)
    mean_dense = (np.tril(Lc, -1) @ e).T
    M = mean if proc.channels == 1 else np.moveaxis(mean, 2, 1).reshape(-1, proc.length)
    scale = np.sqrt(S[0, 0])
    assert np.max(np.abs(M - mean_dense)) < 1e-8 * scale
    assert_rel(proc.conditional_stds(), np.diag(Lc))
    assert_rel(proc.innovation_variances(), np.diag(Lc) ** 2)
    assert_rel(sd.reshape(-1, proc.length) if proc.channels == 1 else sd[0, :, 0], np.diag(Lc))
    # one sequence: shape (L,) / (L, C)
    m1, s1 = proc.conditional_moments(x[0])
    np.testing.assert_allclose(m1, mean[0], rtol=0, atol=1e-13 * scale)
    np.testing.assert_array_equal(s1, sd[0])


def test_log_prob_equals_scipy(proc):
    S = proc.covariance()
    x = proc.sample(4, rng=2)
    lp = proc.log_prob(x)
    assert lp.shape == (4,)
    mvn = scipy.stats.multivariate_normal(mean=np.zeros(proc.length), cov=S)
    if proc.channels == 1:
        ref = mvn.logpdf(x)
    else:
        ref = sum(mvn.logpdf(x[:, :, c]) for c in range(proc.channels))
    assert_rel(lp, ref, rel=1e-9)
    assert_rel(proc.log_prob(x[1]), ref[1], rel=1e-9)


def test_reflection_coefficients_equal_yule_walker(proc):
    r = proc.autocorrelation()
    k = proc.reflection_coefficients()
    for t in (1, 2, 3, proc.length // 2, proc.length - 1):
        coeffs = np.linalg.solve(scipy.linalg.toeplitz(r[:t]), r[1 : t + 1])
        assert abs(k[t - 1] - coeffs[-1]) < 1e-9


def test_two_point(proc):
    L, C = proc.length, proc.channels
    rho = proc.autocovariance / proc.autocovariance[0]
    for i, j in ((0, 1), (3, 1), (0, L - 1), (L - 1, 2)):
        assert proc.two_point_correlation(i, j) == rho[abs(i - j)]
        assert_rel(proc.two_point_mi(i, j), -0.5 * C * math.log(1 - rho[abs(i - j)] ** 2), rel=1e-14)
        S = proc.covariance()
        assert_rel(proc.two_point_mi(i, j), C * dense_mi(S[np.ix_([i, j], [i, j])], 1), rel=1e-10)
    assert proc.two_point_mi(2, 2) == math.inf
    ii = np.arange(L)
    arr = proc.two_point_mi(ii[:, None], ii[None, :])
    assert arr.shape == (L, L)
    np.testing.assert_array_equal(arr, arr.T)
    assert np.all(np.isinf(np.diag(arr)))


# ------------------------------------------------------------------------------------------
# Sampling
# ------------------------------------------------------------------------------------------


def _linear_map(p, method):
    """The matrix A with x = A eps for one channel, read off by feeding unit normals."""
    if method == "circulant":
        M, lam = p.circulant_embedding
        X = p._circulant_transform(np.eye(M), M, lam)[:, : p.length]
    else:
        X = p._levinson_transform(np.eye(p.length))
    return X.T


@pytest.mark.parametrize("method", ["circulant", "levinson"])
def test_sampler_is_exact(proc, method):
    """x = A eps with A A^T equal to the covariance (no statistics needed)."""
    if method == "circulant" and proc.circulant_embedding is None:
        pytest.skip("no non-negative embedding for this autocovariance")
    A = _linear_map(proc, method)
    S = proc.covariance()
    assert np.max(np.abs(A @ A.T - S)) < 1e-10 * S[0, 0]


@pytest.mark.parametrize("name,method", [("fgn_high", "auto"), ("user", "auto"), ("ar3", "levinson"),
                                         ("arma", "circulant")])
def test_sample_covariance_within_sampling_error(name, method):
    p = PROCESSES[name]()
    n = 20000
    x = p.sample(n, rng=7, method=method)
    X = x if p.channels == 1 else x[:, :, 0]
    S = p.covariance()
    emp = X.T @ X / n
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / n)
    assert np.max(np.abs(emp - S) / se) < 5.0
    if p.channels > 1:  # channels are independent copies
        cross = x[:, :, 0].T @ x[:, :, 1] / n
        assert np.max(np.abs(cross) / np.sqrt(np.outer(np.diag(S), np.diag(S)) / n)) < 5.0


def test_fallback_to_levinson_with_warning():
    p = StationaryGaussian(_oscillating_acov())
    assert p.circulant_embedding is None
    with pytest.warns(RuntimeWarning, match="negative eigenvalues"):
        x = p.sample(20000, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.sample(2, rng=0)  # warned once per object
    S = p.covariance()
    emp = x.T @ x / x.shape[0]
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / x.shape[0])
    assert np.max(np.abs(emp - S) / se) < 5.0
    np.testing.assert_array_equal(x[:5], p.sample(5, rng=0, method="levinson")[:5])
    with pytest.raises(ValueError, match="circulant"):
        p.sample(2, rng=0, method="circulant")


def test_padding_with_the_true_autocovariance():
    # an AR(2) whose minimal embedding has negative eigenvalues; the padded one is >= 0
    p = ARMA(ar=(1.16435496, -0.82239171), length=11)
    r = p.autocovariance
    c = np.concatenate([r, r[-2:0:-1]])
    assert np.fft.rfft(c).real.min() < -1e-3
    M, lam = p.circulant_embedding
    assert M > 2 * (p.length - 1) and lam.min() >= 0
    A = _linear_map(p, "circulant")
    assert np.max(np.abs(A @ A.T - p.covariance())) < 1e-10


@pytest.mark.parametrize("hurst", [0.02, 0.3, 0.5, 0.75, 0.98])
@pytest.mark.parametrize("L", [2, 3, 17, 1000])
def test_fgn_and_ar1_minimal_embedding_is_nonnegative(hurst, L):
    assert FractionalGaussianNoise(hurst, L).circulant_embedding[0] == 2 * (L - 1)
    phi = 2 * hurst - 1
    assert AR1(phi, L).circulant_embedding[0] == 2 * (L - 1)


@pytest.mark.parametrize("C", [1, 3])
def test_randomness_is_documented_and_reproducible(C):
    p = FractionalGaussianNoise(0.7, 50, channels=C)
    M = p.circulant_embedding[0]
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    x = p.sample(4, rng=g1)
    eps = g2.standard_normal((4 * C, M))
    assert g1.bit_generator.state == g2.bit_generator.state
    ref = p._circulant_transform(eps, M, p.circulant_embedding[1])[:, :50]
    ref = ref if C == 1 else ref.reshape(4, C, 50).transpose(0, 2, 1)
    np.testing.assert_array_equal(x, ref)
    np.testing.assert_array_equal(p.sample(4, rng=9), p.sample(4, rng=9))
    assert not np.array_equal(p.sample(4, rng=9), p.sample(4, rng=10))
    # Levinson: exactly (n * C, L) normals
    g1, g2 = np.random.default_rng(6), np.random.default_rng(6)
    p.sample(3, rng=g1, method="levinson")
    g2.standard_normal((3 * C, 50))
    assert g1.bit_generator.state == g2.bit_generator.state
    assert p.sample(3, rng=0).shape == ((3, 50) if C == 1 else (3, 50, C))


def test_length_one():
    p = StationaryGaussian([4.0])
    x = p.sample(5, rng=0)
    np.testing.assert_array_equal(x, 2.0 * np.random.default_rng(0).standard_normal((5, 1)))
    mean, sd = p.conditional_moments(x)
    assert np.all(mean == 0) and np.all(sd == 2.0)
    assert p.bipartite_mi_profile().shape == (0,)
    with pytest.raises(ValueError, match="length"):
        p.bipartite_mi()


# ------------------------------------------------------------------------------------------
# Closed forms
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phi", [-0.95, -0.3, 0.0, 0.5, 0.9, 0.999])
def test_ar1_closed_forms(phi):
    L = 40
    p = AR1(phi, L, channels=2)
    target = -0.5 * math.log1p(-phi * phi)
    assert_rel(p.bipartite_mi_profile(), np.full(L - 1, 2 * target), rel=1e-12)
    np.testing.assert_allclose(p.autocovariance, phi ** np.arange(L), rtol=1e-15, atol=0)
    x = p.sample(2, rng=1)
    mean, sd = p.conditional_moments(x)
    np.testing.assert_allclose(mean[:, 1:], phi * x[:, :-1], rtol=1e-13, atol=1e-15)
    assert np.all(mean[:, 0] == 0) and np.all(sd[:, 0] == 1)
    np.testing.assert_allclose(sd[:, 1:], math.sqrt(1 - phi * phi), rtol=1e-14)
    for d in (1, 5, 39):
        assert_rel(p.two_point_mi(0, d), -0.5 * 2 * math.log1p(-phi ** (2 * d)), rel=1e-13)


def test_ar1_large_length_is_linear_time():
    p = AR1(0.9, 2**16)
    x = p.sample(2, rng=0)
    assert x.shape == (2, 2**16) and np.all(np.isfinite(x))
    mean, sd = p.conditional_moments(x)
    np.testing.assert_allclose(mean[:, 1:], 0.9 * x[:, :-1], rtol=1e-12, atol=1e-14)
    cuts = np.array([1, 12345, 2**15, 2**16 - 1])
    assert_rel(p.bipartite_mi(cuts), -0.5 * math.log1p(-0.81), rel=1e-12)
    z = (x - mean) / sd
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


@pytest.mark.parametrize("ar", [(0.5, 0.3), (1.2, -0.5, 0.1), (-0.4, 0.2, 0.1, -0.3)])
def test_ar_p_mi_constant_and_pacf_formula(ar):
    p_ord, L = len(ar), 24
    p = ARMA(ar=ar, length=L)
    prof = p.bipartite_mi_profile()
    k = p.reflection_coefficients()
    # step-down of the AR polynomial = PACF of the process; zero beyond order p (dense check)
    from l2m_sim.processes.stationary import _ar_step_down
    assert_rel(k[:p_ord], _ar_step_down(np.array(ar)), rel=1e-10)
    r = p.autocorrelation()
    for t in range(p_ord + 1, p_ord + 4):
        coeffs = np.linalg.solve(scipy.linalg.toeplitz(r[:t]), r[1 : t + 1])
        assert abs(coeffs[-1]) < 1e-12 and k[t - 1] == 0.0
    s = np.arange(1, p_ord + 1)
    const = -0.5 * np.sum(s * np.log1p(-k[:p_ord] ** 2))
    c = np.arange(1, L)
    inside = np.minimum(c, L - c) >= p_ord
    assert_rel(prof[inside], const, rel=1e-12)
    assert np.all(prof[~inside] < const - 1e-6)  # strictly below while one side is shorter than p
    S = p.covariance()
    assert_rel(const, dense_mi(S, L // 2), rel=1e-9)


@pytest.mark.parametrize("ar,ma", [((0.6, -0.4, 0.2), (0.5, -0.3)), ((0.5,), (0.3, 0.2, -0.4, 0.1)),
                                   ((), (0.9, -0.5)), ((1.1, -0.3), ())])
def test_arma_autocovariance_vs_truncated_ma_infinity(ar, ma):
    ar, ma = np.array(ar, dtype=float), np.array(ma, dtype=float)
    n_psi = 3000
    psi = np.zeros(n_psi)
    for j in range(n_psi):
        psi[j] = (1.0 if j == 0 else 0.0) + (ma[j - 1] if 1 <= j <= ma.size else 0.0)
        psi[j] += sum(ar[i] * psi[j - 1 - i] for i in range(ar.size) if j - 1 - i >= 0)
    ref = np.array([psi[: n_psi - k] @ psi[k:] for k in range(40)])
    assert_rel(arma_autocovariance(ar, ma, 40), ref, rel=1e-12, atol=1e-14)
    p = ARMA(ar=ar, ma=ma, length=40)
    assert_rel(p.autocovariance, ref / ref[0], rel=1e-12, atol=1e-14)
    assert_rel(p.innovation_variance, 1 / ref[0], rel=1e-12)
    # the infinite-past prediction-error variance is the innovation variance (Kolmogorov)
    # when the MA part is invertible; otherwise it is larger
    long = ARMA(ar=ar, ma=ma, length=400)
    ma_roots = np.roots(np.concatenate([ma[::-1], [1.0]])) if ma.size else np.array([np.inf])
    if np.min(np.abs(ma_roots)) > 1.1:
        assert_rel(long.innovation_variances()[-1], p.innovation_variance, rel=1e-12)
    else:
        assert long.innovation_variances()[-1] > 1.01 * p.innovation_variance


def test_white_noise_cases():
    for p in (FractionalGaussianNoise(0.5, 64), ARMA(length=30), AR1(0.0, 30)):
        L = p.length
        assert np.all(p.autocovariance[1:] == 0)
        assert np.all(p.bipartite_mi_profile() == 0)
        assert p.two_point_mi(0, 5) == 0
        x = p.sample(2, rng=0)
        mean, sd = p.conditional_moments(x)
        assert np.all(mean == 0) and np.all(sd == 1)
        assert p._max_order == 0 and L > 1


@pytest.mark.parametrize("hurst", [0.05, 0.3, 0.5, 0.7, 0.95])
def test_fgn_autocovariance_full_precision(hurst):
    lags = np.array([0, 1, 2, 3, 7, 8, 9, 50, 1000, 65535, 10**7])
    got = fgn_autocovariance(hurst, lags)
    mpmath.mp.dps = 50
    H = mpmath.mpf(hurst)
    for d, g in zip(lags, got):
        d = mpmath.mpf(int(d))
        ref = (abs(d + 1) ** (2 * H) - 2 * abs(d) ** (2 * H) + abs(d - 1) ** (2 * H)) / 2
        if ref == 0:
            assert g == 0
        else:
            assert abs(g - float(ref)) <= 1e-13 * abs(float(ref)), (d, g, ref)
    assert FractionalGaussianNoise(hurst, 10).autocovariance[0] == 1.0


def test_fgn_mi_symmetry_growth_and_two_point_exponent():
    H = 0.8
    ps = [FractionalGaussianNoise(H, 2**k) for k in (9, 11)]
    prof = ps[1].bipartite_mi_profile()
    np.testing.assert_allclose(prof, prof[::-1], rtol=1e-10)  # I(c) = I(L - c)
    half = prof[: 2**10]
    assert np.all(np.diff(half) > 0)  # grows towards the middle
    # middle-cut growth per ln L approaches (H - 1/2)^2 / 2 (reflection coefficients ~ (H-1/2)/s)
    slope = (ps[1].bipartite_mi() - ps[0].bipartite_mi()) / math.log(4)
    assert abs(slope / ((H - 0.5) ** 2 / 2) - 1) < 0.01
    p = ps[1]
    assert p.two_point_exponent() == p.exponents().alpha == pytest.approx(4 - 4 * H)
    d = np.array([1000, 2000])
    mi = p.two_point_mi(0, d)
    assert abs(math.log(mi[1] / mi[0]) / math.log(2) + (4 - 4 * H)) < 0.01


def test_channels_multiply_information():
    p1, p3 = FractionalGaussianNoise(0.7, 40), FractionalGaussianNoise(0.7, 40, channels=3)
    assert_rel(p3.bipartite_mi_profile(), 3 * p1.bipartite_mi_profile(), rel=1e-14)
    assert_rel(p3.two_point_mi(0, 7), 3 * p1.two_point_mi(0, 7), rel=1e-14)
    x = p3.sample(2, rng=0)
    assert_rel(p3.log_prob(x), sum(p1.log_prob(x[:, :, c]) for c in range(3)), rel=1e-12)


def test_scale_does_not_change_information():
    a = StationaryGaussian(_user_acov(scale=1.0))
    b = StationaryGaussian(_user_acov(scale=37.0))
    assert_rel(a.bipartite_mi_profile(), b.bipartite_mi_profile(), rel=1e-12)
    assert_rel(b.conditional_stds(), math.sqrt(37.0) * a.conditional_stds(), rel=1e-12)


def test_large_fgn_sampling_and_size_limits():
    p = FractionalGaussianNoise(0.75, 2**16)
    x = p.sample(2, rng=0)
    assert x.shape == (2, 2**16) and np.all(np.isfinite(x))
    with pytest.raises(ValueError, match="dense"):
        p.covariance()
    assert p.length > DENSE_MAX
    big = FractionalGaussianNoise(0.75, LEVINSON_MAX + 1)
    assert big.sample(1, rng=0).shape == (1, LEVINSON_MAX + 1)
    for call in (big.bipartite_mi, big.conditional_stds, lambda: big.conditional_moments(np.zeros(big.length))):
        with pytest.raises(ValueError, match="Levinson"):
            call()
    # AR(p) stays O(L p): no limit below LENGTH_MAX
    assert ARMA(ar=(0.5, 0.2), length=LEVINSON_MAX + 1).bipartite_mi() > 0


# ------------------------------------------------------------------------------------------
# Bad input (hypothesis)
# ------------------------------------------------------------------------------------------


@FAST
@given(phi=st.one_of(st.floats(1.0, 1e6), st.floats(-1e6, -1.0), st.just(float("nan")),
                     st.just(float("inf"))))
def test_ar1_bad_phi(phi):
    with pytest.raises(ValueError, match="phi"):
        AR1(phi, 10)


@FAST
@given(hurst=st.one_of(st.floats(1.0, 1e6), st.floats(-1e6, 0.0), st.just(float("nan"))))
def test_fgn_bad_hurst(hurst):
    with pytest.raises(ValueError, match="hurst"):
        FractionalGaussianNoise(hurst, 10)


@FAST
@given(length=st.integers(-1000, 0))
def test_bad_length(length):
    for make in (lambda: AR1(0.5, length), lambda: FractionalGaussianNoise(0.6, length),
                 lambda: ARMA(ar=(0.5,), length=length)):
        with pytest.raises(ValueError, match="length"):
            make()


@pytest.mark.parametrize("make", [lambda v: AR1(v, 10), lambda v: FractionalGaussianNoise(v, 10),
                                  lambda v: AR1(0.5, v), lambda v: StationaryGaussian([1.0, 0.5], channels=v)])
@pytest.mark.parametrize("value", ["0.5", None, [0.5], True])
def test_bad_types(make, value):
    with pytest.raises((TypeError, ValueError)):
        make(value)


@FAST
@given(seed=st.integers(0, 2**32 - 1), L=st.integers(2, 30), pos=st.integers(0, 29),
       bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_acov_not_finite(seed, L, pos, bad):
    acov = _user_acov(L, seed=seed % 100)
    acov[pos % L] = bad
    with pytest.raises(ValueError, match="autocovariance"):
        StationaryGaussian(acov)


@FAST
@given(seed=st.integers(0, 2**32 - 1), L=st.integers(2, 40))
def test_acov_not_positive_definite(seed, L):
    rng = np.random.default_rng(seed)
    acov = _user_acov(L, seed=seed % 1000)
    # make it indefinite: a lag correlation beyond 1, or a valid one pushed past the PD boundary
    if seed % 2:
        acov[rng.integers(1, L)] = acov[0] * rng.uniform(1.0, 3.0) * rng.choice([-1, 1])
    else:
        S = scipy.linalg.toeplitz(acov)
        acov[0] -= np.linalg.eigvalsh(S)[0] + rng.uniform(1e-6, 1.0)
        if acov[0] <= 0:
            acov[0] = 1e-3 if L > 1 else -1.0
            acov[1] = 1.0
    with pytest.raises(ValueError, match="positive definite|autocovariance"):
        StationaryGaussian(acov)


@pytest.mark.parametrize("acov", [[0.0], [-1.0, 0.2], [1.0, 1.0], [1.0, -1.0, 1.0], np.ones(5),
                                  np.cos(0.4 * np.arange(12)), [], [[1.0, 0.5]], ["a", "b"]])
def test_acov_bad_values(acov):
    with pytest.raises((ValueError, TypeError), match="autocovariance"):
        StationaryGaussian(acov)


@FAST
@given(modulus=st.floats(0.05, 1.0), angle=st.floats(0.0, math.pi), extra=st.floats(-0.9, 0.9))
def test_arma_non_stationary_rejected(modulus, angle, extra):
    # an AR polynomial with a root of modulus <= 1 (and a harmless extra factor)
    z = modulus * complex(math.cos(angle), math.sin(angle))
    roots = [z, z.conjugate(), 1 / extra if abs(extra) > 1e-3 else 100.0]
    poly = np.poly(roots)  # monic in z, highest power first
    coef = np.real(poly[::-1] / poly[-1])  # 1 + c1 z + ... -> ar = -c
    with pytest.raises(ValueError, match="ar coefficients"):
        ARMA(ar=-coef[1:], length=10)


@pytest.mark.parametrize("ar,ma", [((np.nan,), ()), ((0.5,), (np.inf,)), ("ab", ()), ((0.5,), [[0.1, 0.2]])])
def test_arma_bad_coefficients(ar, ma):
    with pytest.raises((ValueError, TypeError), match="ar|ma"):
        ARMA(ar=ar, ma=ma, length=10)


@FAST
@given(cut=st.one_of(st.integers(-100, 0), st.integers(20, 1000)))
def test_cut_out_of_range(cut):
    p = AR1(0.5, 20)
    with pytest.raises(ValueError, match="cut"):
        p.bipartite_mi(cut)
    with pytest.raises(ValueError, match="cut"):
        p.bipartite_mi(np.array([3, cut]))


def test_cut_bad_type():
    p = AR1(0.5, 20)
    for cut in (2.5, "3", np.array([1.5, 2.0])):
        with pytest.raises((ValueError, TypeError), match="cut"):
            p.bipartite_mi(cut)


@FAST
@given(n=st.integers(1, 3), L=st.integers(1, 40), C=st.integers(1, 3), extra=st.integers(0, 1))
def test_wrong_x_shape(n, L, C, extra):
    p = FractionalGaussianNoise(0.7, 20, channels=2)
    shape = (n, L, C) if extra else (n, L)
    if shape[-2:] == (20, 2) or shape == (20, 2):
        return
    with pytest.raises(ValueError, match="x"):
        p.conditional_moments(np.zeros(shape))
    with pytest.raises(ValueError, match="x"):
        p.log_prob(np.zeros(shape))


def test_x_not_finite_or_not_real():
    p = AR1(0.5, 8)
    x = np.zeros((2, 8))
    x[1, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        p.conditional_moments(x)
    with pytest.raises(TypeError, match="x"):
        p.conditional_moments(np.zeros((2, 8), dtype=complex))


@FAST
@given(i=st.integers(-50, 50), j=st.integers(-50, 50))
def test_two_point_positions(i, j):
    p = AR1(0.5, 20)
    if 0 <= i < 20 and 0 <= j < 20:
        assert p.two_point_mi(i, j) >= 0
    else:
        with pytest.raises(ValueError, match="i|j"):
            p.two_point_mi(i, j)


def test_sample_bad_arguments():
    p = AR1(0.5, 8)
    with pytest.raises(ValueError, match="n"):
        p.sample(0)
    with pytest.raises(ValueError, match="method"):
        p.sample(2, method="cholesky")
    with pytest.raises(TypeError, match="rng"):
        p.sample(2, rng="seed")


def test_reversed_is_the_same_law_and_gives_exact_block_marginals():
    """Time reversal leaves a stationary Gaussian law unchanged, so ``reversed()`` is the
    process itself and the direct estimator gets exact block marginals from it."""
    from l2m_sim.estimators import direct_bipartite

    p = FractionalGaussianNoise(0.8, 24)
    assert p.reversed() is p
    S = p.covariance()
    np.testing.assert_allclose(S[::-1, ::-1], S, atol=1e-14)
    x = p.sample(4000, rng=2)
    est = direct_bipartite(p, x, 10)
    assert abs(est.value - p.bipartite_mi(10)) < 4 * est.se
