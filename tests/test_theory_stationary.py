"""Theory versus library for the stationary family: the sympy results of
``theory/stationary.py`` evaluated against ``l2m_sim.processes.stationary`` at random parameters
(fixed seeds). Each comparison pits a closed form against a number the library computes
by its own route (numba Levinson recursion, the binomial series for fGn, circulant
embedding), so a wrong closed form or a wrong kernel fails.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from l2m_sim.processes.stationary import AR1, ARMA, FractionalGaussianNoise, StationaryGaussian, fgn_autocovariance
from theory import render
from theory import stationary as th

RNG_SEED = 20240611


@pytest.fixture(scope="module")
def ar1():
    return th.derive_ar1()


@pytest.fixture(scope="module")
def fgn():
    return th.derive_fgn()


@pytest.fixture(scope="module")
def innov():
    return th.derive_innovations_mi()


@pytest.fixture(scope="module")
def arp():
    return th.derive_ar_p_and_log_growth()


def test_all_exact_checks_hold():
    ders = th.all_derivations()
    assert [d.key for d in ders] == ["ar1", "fgn", "innovations", "ar_p_log"]
    for d in ders:
        assert d.checks and all(ok is True for _, ok in d.checks), d.key
    assert render.failed_checks("stationary") == []
    text = render.render("stationary")
    assert text.startswith("# Closed forms of the stationary Gaussian family")
    assert "**FAILS**" not in text


def test_ar1_closed_forms_against_library(ar1):
    rng = np.random.default_rng(RNG_SEED)
    res = ar1.results
    two_point = sp.lambdify((res["phi"], res["d"]), res["two_point_mi"], "mpmath")
    bip = sp.lambdify(res["phi"], res["bipartite_mi"])
    cvar = sp.lambdify(res["phi"], res["conditional_variance"])
    for phi in rng.uniform(-0.99, 0.99, 8):
        L = int(rng.integers(5, 200))
        p = AR1(phi, L)
        cuts = rng.integers(1, L, 5)
        np.testing.assert_allclose(p.bipartite_mi(cuts), bip(phi), rtol=1e-12)
        for d in rng.integers(1, L, 4):
            with mpmath.workdps(400):  # phi^(2d) can be far below 1e-16
                ref = float(two_point(mpmath.mpf(phi), int(d)))
            assert p.two_point_mi(0, int(d)) == pytest.approx(ref, rel=1e-12, abs=0)
        np.testing.assert_allclose(p.conditional_stds()[1:] ** 2, cvar(phi), rtol=1e-13)
        assert p.conditional_stds()[0] == 1.0
        # the variance formula: the library's unit-variance scaling uses gamma_0 = 1/(1 - phi^2)
        assert p.innovation_variance == pytest.approx(
            1 / float(res["variance"].subs({sp.Symbol("sigma^2", positive=True): 1, res["phi"]: phi})),
            rel=1e-13)


def test_fgn_autocovariance_against_library(fgn):
    rng = np.random.default_rng(RNG_SEED + 1)
    res = fgn.results
    acov = sp.lambdify((res["H"], res["d"]), res["acov"], "mpmath")
    asym = sp.lambdify((res["H"], res["d"]), res["asymptotic"])
    lead = sp.lambdify(res["H"], res["leading"])
    mpmath.mp.dps = 40
    for H in rng.uniform(0.02, 0.98, 8):
        lags = np.concatenate([np.arange(1, 12), rng.integers(12, 10**6, 6)])
        lib = fgn_autocovariance(H, lags)
        ref = np.array([float(acov(mpmath.mpf(H), mpmath.mpf(int(d)))) for d in lags])
        np.testing.assert_allclose(lib, ref, rtol=1e-13)
        # two-term asymptotic series: relative error O(d^-4)
        big = np.array([300.0, 3000.0, 30000.0])
        np.testing.assert_allclose(fgn_autocovariance(H, big), asym(H, big), rtol=1e-8)
        assert lead(H) == pytest.approx(H * (2 * H - 1), rel=1e-14)
        p = FractionalGaussianNoise(H, 64)
        assert p.two_point_exponent() == pytest.approx(float(res["alpha"].subs(res["H"], H)))


def test_fgn_two_point_decay_against_library(fgn):
    res = fgn.results
    mi_lead = sp.lambdify((res["H"], res["d"]), res["two_point_mi_leading"])
    asym = sp.lambdify((res["H"], res["d"]), res["asymptotic"])
    for H in (0.15, 0.65, 0.9):
        p = FractionalGaussianNoise(H, 20001)
        d = np.array([500, 5000, 20000])
        mi = p.two_point_mi(0, d)
        # exact transform of the two-term series: O(d^-4) relative
        np.testing.assert_allclose(mi, -0.5 * np.log1p(-asym(H, d) ** 2), rtol=1e-8)
        # leading power law rho^2/2: relative correction -1/2 ln(1-x)/(x/2) - 1 ~ x/2 <= rho^2
        rho2 = p.two_point_correlation(0, d) ** 2
        assert np.all(np.abs(mi / mi_lead(H, d) - 1) < rho2 + 1e-5)


def test_levinson_symbolic_equals_library(innov):
    """Symbolic Levinson on a generic 4x4 Toeplitz, evaluated at random PD autocovariances."""
    rng = np.random.default_rng(RNG_SEED + 2)
    r = innov.results["r"]
    k_fun = sp.lambdify(r, innov.results["k"][1:])
    v_fun = sp.lambdify(r, innov.results["v"])
    for _ in range(6):
        h = rng.standard_normal(3)
        acov = np.array([h @ h + 0.5, h[:2] @ h[1:], h[0] * h[2], 0.0]) * rng.uniform(0.5, 3)
        p = StationaryGaussian(acov)
        np.testing.assert_allclose(p.reflection_coefficients(), k_fun(*acov), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(p.innovation_variances(), v_fun(*acov), rtol=1e-12)


def test_trapezoid_formula_equals_library(innov):
    rng = np.random.default_rng(RNG_SEED + 3)
    procs = [FractionalGaussianNoise(rng.uniform(0.05, 0.95), int(rng.integers(5, 40))) for _ in range(4)]
    procs += [ARMA(ar=(0.5, -0.2), ma=(0.6,), length=23), AR1(-0.7, 9)]
    for p in procs:
        L = p.length
        k = p.reflection_coefficients()
        lamv = {s: math.log1p(-k[s - 1] ** 2) for s in range(1, L)}
        for c in sorted(set(rng.integers(1, L, 4).tolist())):
            expr = innov.results["mi_from_reflections"](L, c, lamv)
            assert p.bipartite_mi(c) == pytest.approx(float(expr), rel=1e-11, abs=1e-14)
        # innovation form, from the library's own v_t
        logv = [math.log(x) for x in p.innovation_variances()]
        c = L // 2
        assert p.bipartite_mi(c) == pytest.approx(float(innov.results["mi_from_innovations"](logv, L, c)),
                                                  rel=1e-10, abs=1e-14)


def test_ar_p_plateau_against_library(arp):
    rng = np.random.default_rng(RNG_SEED + 4)
    a1, a2 = arp.results["a1"], arp.results["a2"]
    plateau2 = sp.lambdify((a1, a2), arp.results["ar2_plateau"])
    n = 0
    while n < 6:
        ar = rng.uniform(-1.5, 1.5, 2)
        try:
            p = ARMA(ar=ar, length=int(rng.integers(6, 60)))
        except ValueError:
            continue
        n += 1
        L = p.length
        cuts = np.arange(2, L - 1)
        np.testing.assert_allclose(p.bipartite_mi(cuts), plateau2(*ar), rtol=1e-11)
    # general p = 3: plateau from the library's own reflection coefficients
    p = ARMA(ar=(0.3, -0.4, 0.25), length=50)
    k = p.reflection_coefficients()
    lam = arp.results["plateau"].free_symbols
    assert lam  # uses lambda[1..3]
    val = arp.results["plateau"].subs({th.lam[s]: math.log1p(-k[s - 1] ** 2) for s in (1, 2, 3)})
    np.testing.assert_allclose(p.bipartite_mi(np.arange(3, 48)), float(val), rtol=1e-11)


@pytest.mark.parametrize("H", [0.2, 0.7, 0.9])
def test_fgn_log_growth_against_library(arp, H):
    growth = float(arp.results["growth"].subs(arp.results["H"], H))
    i1 = FractionalGaussianNoise(H, 2**9).bipartite_mi()
    i2 = FractionalGaussianNoise(H, 2**11).bipartite_mi()
    slope = (i2 - i1) / math.log(4)
    assert slope == pytest.approx(growth, rel=0.02)
    # the premise: s k_s -> H - 1/2
    k = FractionalGaussianNoise(H, 2**11).reflection_coefficients()
    s = np.arange(1, 2**11)
    assert abs(s[-1] * k[-1] - (H - 0.5)) < 1e-3


def test_weight_sum_constant(arp):
    m = 4000
    direct = sum(min(s, 2 * m - s) / s**2 for s in range(1, 2 * m))
    assert direct - math.log(m) == pytest.approx(float(arp.results["weight_constant"]), abs=1e-3)
