"""Theory versus library: the sympy closed forms of ``theory/santafe.py`` evaluated against
``l2m_sim.processes.santafe`` (fixed parameters, float64 against the library's exact sums)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import sympy as sp

from l2m_sim.processes.santafe import SantaFe
from theory import render
from theory import santafe as ts

LN2 = math.log(2)


@pytest.mark.parametrize("d", ts.all_derivations(), ids=lambda d: d.key)
def test_all_sympy_checks_hold(d):
    assert d.checks, d.key
    for desc, ok in d.checks:
        assert ok is True, desc


def test_render_santafe():
    text = render.render("santafe")
    assert text.startswith("# Closed forms of the Santa Fe process")
    assert text.count("\n## ") == len(ts.all_derivations())
    assert "FAILS" not in text
    assert render.failed_checks("santafe") == []


@pytest.mark.parametrize("a,K,L", [(1.3, 50, 40), (2.0, 1000, 300), (3.0, 7, 9)])
def test_fact_term_summed_is_the_library_bipartite_mi(a, K, L):
    term = sp.lambdify((ts.p_sym, ts.c_sym, ts.m_sym), ts.derive_bipartite().results["term"], "numpy")
    proc = SantaFe(a, K, L)
    for c in (1, L // 3, L // 2, L - 1):
        ref = LN2 * float(np.sum(term(proc.weights, c, L - c)))
        assert proc.bipartite_mi(c) == pytest.approx(ref, rel=1e-10)
    tp = sp.lambdify(ts.p_sym, ts.derive_bipartite().results["two_point_term"], "numpy")
    assert proc.two_point_mi(0, L - 1) == pytest.approx(LN2 * np.sum(tp(proc.weights)), rel=1e-12)
    seen = sp.lambdify((ts.p_sym, ts.n_sym), ts.derive_bipartite().results["entropy_seen_term"], "numpy")
    H = L * proc.fact_entropy() + LN2 * np.sum(seen(proc.weights, L))
    assert proc.entropy() == pytest.approx(H, rel=1e-12)


@pytest.mark.parametrize("a", [1.25, 2.0, 10 / 3])
def test_asymptote_matches_library_and_exact_curve(a):
    res = ts.derive_asymptote().results
    f = sp.lambdify((ts.a_sym, ts.c_sym, ts.m_sym, ts.Z_sym), res["asymptote"], "mpmath")
    proc = SantaFe(a, 2**22, 2**18)
    for c in (1000, 2**17, 2**18 - 5):
        ref = LN2 * float(f(a, c, 2**18 - c, proc.normalization))
        assert proc.bipartite_mi_asymptotic(c) == pytest.approx(ref, rel=1e-12)
    # K = inf constant with Z = zeta(a), evaluated from the sympy expression
    const = float(res["constant"].subs({ts.a_sym: a, ts.Z_sym: scipy.special.zeta(a)}).evalf(30))
    expect = (LN2 * math.gamma(1 - 1 / a) * (2 - 2 ** (1 / a))
              / (2 * scipy.special.zeta(a)) ** (1 / a))
    assert const == pytest.approx(expect, rel=1e-12)
    assert float(res["beta"].subs(ts.a_sym, a)) == pytest.approx(proc.exponents().beta, rel=1e-15)
    # the exact finite-K curve approaches the asymptote: absolute gap bounded (sum vs integral
    # is at most 1 fact, times ln 2), so the relative gap shrinks as L grows
    gaps = []
    for L in (2**8, 2**12, 2**16, 2**18):
        p = proc.at_length(L)
        exact, asym = p.bipartite_mi(), p.bipartite_mi_asymptotic()
        assert abs(exact - asym) <= LN2 * 1.05
        gaps.append(abs(exact / asym - 1))
    assert gaps[-1] < gaps[0]


def test_slope_formula_is_the_library_beta_local():
    res = ts.derive_slope().results
    u = sp.lambdify((ts.p_sym, ts.L_sym), res["u"], "numpy")
    d = sp.lambdify((ts.p_sym, ts.L_sym), res["dterm"], "numpy")
    proc = SantaFe(1.5, 5000, 64)
    p = proc.weights
    for L in (16.0, 1000.0, 2.0**20):
        ref = L * np.sum(d(p, L)) / np.sum(u(p, L) ** 2)
        assert proc.beta_local(L) == pytest.approx(ref, rel=1e-9)
