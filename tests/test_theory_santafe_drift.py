"""Theory versus library: the sympy closed forms of ``theory/santafe_drift.py`` evaluated
against ``l2m_sim.processes.santafe.DriftingSantaFe`` (fixed parameters, float64 against the library)."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.special
import sympy as sp

from l2m_sim.processes.santafe import DriftingSantaFe, SantaFe, _bsc_mi
from theory import render
from theory import santafe_drift as td

LN2 = math.log(2)


@pytest.mark.parametrize("d", td.all_derivations(), ids=lambda d: d.key)
def test_all_sympy_checks_hold(d):
    assert d.checks, d.key
    for desc, ok in d.checks:
        assert ok is True, desc


def test_render_santafe_drift():
    text = render.render("santafe_drift")
    assert text.startswith("# Closed forms of the drifting Santa Fe process")
    assert text.count("\n## ") == len(td.all_derivations())
    assert "FAILS" not in text
    assert render.failed_checks("santafe_drift") == []


def gap_density(proc, d):
    """``J(d) = sum_k p_k^2 q_k^(d-1) f(rho_k^d)`` in float64 without ``0 * log 0`` (the
    lambdified gap term, checked against the library at small K above, loses ``f(1)``)."""
    p = np.asarray(proc.weights)
    return float(np.sum(p * p * np.exp((d - 1) * proc._lq) * _bsc_mi(np.exp(d * proc._lr))))


def _lambdas():
    res = td.derive_bipartite().results
    gap = sp.lambdify((td.p_sym, td.r_sym, td.d_sym), res["gap_term"], "numpy")
    two = sp.lambdify((td.p_sym, td.r_sym, td.d_sym), res["two_point_term"], "numpy")
    return gap, two


@pytest.mark.parametrize("a,K,L,e0,g", [(1.5, 40, 30, 0.1, 1.0), (2.0, 300, 64, 0.25, 2.0),
                                        (1.2, 7, 9, 0.5, 0.0)])
def test_gap_sum_is_the_library_bipartite_and_two_point_mi(a, K, L, e0, g):
    gap, two = _lambdas()
    proc = DriftingSantaFe(a, K, L, e0, g)
    p, rho = np.asarray(proc.weights), 1 - 2 * np.asarray(proc.flips)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.array([np.sum(np.nan_to_num(gap(p, rho, d))) for d in range(1, L)])
    for c in (1, L // 3, L // 2, L - 1):
        N = np.array([td.multiplicity(c, L, d) for d in range(1, L)])
        assert proc.bipartite_mi(c) == pytest.approx(float(N @ terms), rel=1e-10)
    for d in (1, 2, L // 2, L - 1):
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = float(np.sum(np.nan_to_num(two(p, rho, d))))
        assert proc.two_point_mi(0, d) == pytest.approx(ref, rel=1e-10, abs=1e-300)


def test_block_entropy_formula_is_the_library_entropy():
    res = td.derive_entropy().results
    gs = sp.Symbol("g", integer=True, positive=True)
    term = sp.lambdify((td.p_sym, td.r_sym, gs), res["block_term"], "numpy")
    proc = DriftingSantaFe(1.5, 60, 40, 0.2, 1.0)
    p, rho = np.asarray(proc.weights), 1 - 2 * np.asarray(proc.flips)
    for n in (1, 2, 17, 40):
        ref = n * proc.fact_entropy() + LN2 * proc.expected_facts_seen(n)
        ref += sum((n - g) * float(np.sum(term(p, rho, g))) for g in range(1, n))
        assert proc.entropy(n) == pytest.approx(ref, rel=1e-11)
    # I_BP = H(X) + H(Y) - H(X, Y), and the conditional entropy decreases towards the rate
    for c in (1, 13, 39):
        assert proc.entropy(c) + proc.entropy(40 - c) - proc.entropy() == pytest.approx(
            proc.bipartite_mi(c), rel=1e-9, abs=1e-12)
    cond = np.diff([proc.entropy(n) for n in range(1, 41)])
    assert np.all(np.diff(cond) < 0)
    assert cond[-1] > proc.fact_entropy()
    with pytest.raises(NotImplementedError, match="entropy\\(n \\+ 1\\) - entropy\\(n\\)"):
        proc.entropy_rate()
    # no drift: the Santa Fe entropy
    assert DriftingSantaFe(2.0, 50, 30, 1e-14, 0.0).entropy() == pytest.approx(
        SantaFe(2.0, 50, 30).entropy(), rel=1e-11)


def test_two_point_asymptote_and_alpha():
    """Library two-point MI at K = 2^20 against the K = inf closed form inside its window."""
    res = td.derive_alpha().results
    a, g, e0 = 1.5, 1.0, 0.25
    proc = DriftingSantaFe(a, 2**20, 2**20, e0, g)
    alpha = float(res["alpha"].subs({td.a_sym: a, td.g_sym: g}))
    assert alpha == pytest.approx(proc.exponents().alpha, rel=1e-15)
    f = sp.lambdify((td.d_sym, sp.Symbol("M")), res["asymptote"].subs(
        {td.a_sym: a, td.g_sym: g, td.e0_sym: e0, td.Z_sym: proc.normalization}), "numpy")
    M = float(td.mellin_f(alpha))
    # M(alpha) as the integral of u^(alpha-1) f(e^-u), independently of the series
    with mp.workdps(20):
        integral = mp.quad(lambda u: u ** (alpha - 1) * (
            (2 + mp.expm1(-u)) * mp.log(2 + mp.expm1(-u)) + (-mp.expm1(-u)) * mp.log(-mp.expm1(-u))) / 2,
            [0, 1, 10, mp.inf])
    assert M == pytest.approx(float(integral), rel=1e-10)
    for d in (300, 3000, 30000):
        exact = proc.two_point_mi(0, d)
        assert exact == pytest.approx(f(d, M), rel=0.02), d


@pytest.mark.parametrize("a,e0,g", [(2.0, 0.25, 3.0), (2.0, 0.25, 2.0), (2.0, 0.25, 1.75),
                                    (1.25, 0.25, 5.0), (2.0, 0.01, 1.0)])
def test_gap_density_exponent_sets_beta(a, e0, g):
    """The exact gap density J(d) at K = 2^20, d = 1e5..1e6, falls like d^-(2 - beta) (or
    d^-alpha with alpha > 2: bounded I_BP), the exponent design_beta and exponents() give."""
    proc = DriftingSantaFe(a, 2**20, 2**10, e0, g)
    d = np.array([1e5, 1e6])
    J = np.array([gap_density(proc, x) for x in d])
    s = -np.diff(np.log(J))[0] / np.log(10)
    ex = proc.exponents()
    assert ex.beta == pytest.approx(td.design_beta(a, g), rel=1e-12)
    want = 2 - ex.beta if ex.growth == "power" else ex.alpha
    assert s == pytest.approx(want, abs=0.03), (s, want)
    assert ex.growth == ("constant" if (2 * a - 1) / g > 2 else "power")


def test_exact_bipartite_slope_moves_towards_design_beta():
    """The exact I_BP itself (O(K L) per cut): local slopes fall towards beta = 2 - alpha."""
    proc = DriftingSantaFe(2.0, 2**12, 2**8, 0.25, 1.75)
    Ls = [2**8, 2**10, 2**12]
    I = [proc.at_length(L).bipartite_mi() for L in Ls]
    slopes = np.diff(np.log(I)) / np.diff(np.log(Ls))
    beta = proc.exponents().beta
    assert beta == pytest.approx(2 - 12 / 7)
    assert slopes[1] < slopes[0] and abs(slopes[1] - beta) < abs(slopes[0] - beta)
    assert 0 < slopes[1] - beta < 0.1
    # bounded design (alpha = 3): the slope falls towards 0
    bounded = DriftingSantaFe(2.0, 2**12, 2**8, 0.01, 1.0)
    Ib = [bounded.at_length(L).bipartite_mi() for L in Ls]
    sb = np.diff(np.log(Ib)) / np.diff(np.log(Ls))
    assert sb[1] < sb[0] < 0.3 and bounded.exponents().growth == "constant"


def test_santa_fe_gap_density_constant():
    """gamma >> a: J(d) -> ln 2 Gamma(2 - 1/a) Z^(-1/a) d^-(2 - 1/a) / a (section 4)."""
    a = 2.0
    proc = DriftingSantaFe(a, 2**20, 2**10, 0.25, 8.0)
    d = 1e5
    J = gap_density(proc, d)
    ref = LN2 * scipy.special.gamma(2 - 1 / a) * proc.normalization ** (-1 / a) * d ** (-(2 - 1 / a)) / a
    assert J == pytest.approx(ref, rel=0.02)
