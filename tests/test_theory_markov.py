"""Theory versus library: the sympy closed forms of ``theory/markov.py`` evaluated against
``l2m_sim.processes.markov`` at random parameters (fixed seeds).

The closed forms are evaluated in extended precision (mpmath, 80 digits), so the
comparisons also hold where the MI is far below machine epsilon (large distances).
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from l2m_sim.processes.markov import MarkovChain
from l2m_sim.processes.tree import HierarchicalMarkov
from theory import markov as tm
from theory import render

REL = 1e-9


def mpf_eval(expr, subs):
    """Evaluate a sympy expression at float parameters (taken as exact binary values), 80 digits."""
    syms = sorted(subs, key=str)
    f = sp.lambdify(syms, expr, modules="mpmath")
    with mp.workdps(80):
        return f(*[mp.mpf(subs[s]) if isinstance(subs[s], int) else mp.mpf(float(subs[s])) for s in syms])


def mi_of_height(eps):
    """``h -> I_h`` of the binary symmetric tree (lambdified once, 80 digits)."""
    f = sp.lambdify((tm.eps_sym, tm.h_sym), tm.derive_tree_two_point().results["mi_h"], modules="mpmath")

    def g(h):
        with mp.workdps(80):
            return f(mp.mpf(float(eps)), mp.mpf(int(h)))

    return g


def two_state_params(seed, count=6):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        p, q = rng.uniform(0.02, 0.9, 2)
        out.append((float(p), float(q)))
    return out


def sym_kernel(eps):
    return np.array([[1 - eps, eps], [eps, 1 - eps]])


# ------------------------------------------------------------------------------ exact checks


@pytest.mark.parametrize("d", tm.all_derivations(), ids=lambda d: d.key)
def test_all_sympy_checks_hold(d):
    assert d.checks, d.key
    for desc, ok in d.checks:
        assert ok is True, desc


def test_render_markov():
    text = render.render("markov")
    assert text.startswith("# Closed forms of the discrete Markov families")
    assert text.count("\n## ") == len(tm.all_derivations())
    assert "FAILS" not in text
    assert render.failed_checks("markov") == []


# ------------------------------------------------------------------------------ two-state chain


@pytest.mark.parametrize("p,q", two_state_params(1))
def test_two_state_two_point_mi(p, q):
    m = MarkovChain([[1 - p, p], [q, 1 - q]], length=10**6)
    res = tm.derive_two_state_chain().results
    lam = 1 - p - q
    assert m.second_eigenvalue() == pytest.approx(lam, abs=1e-15)
    np.testing.assert_allclose(m.initial, [q / (p + q), p / (p + q)], rtol=1e-14)
    for d in (1, 2, 7, 30, 100, 400):
        r = tm.r_sym
        expr = res["mi"].subs(r, (1 - tm.p_sym - tm.q_sym) ** d)
        ref = mpf_eval(expr, {tm.p_sym: p, tm.q_sym: q})
        got = m.two_point_mi(1234, 1234 + d)
        if abs(lam) ** (2 * d) < 1e-300:
            assert got < 1e-290
            continue
        assert got == pytest.approx(float(ref), rel=REL), d
        # the small-correlation law MI = lambda^(2d) / 2 (1 + O(lambda^d))
        if abs(lam) ** d < 1e-6:
            assert got / (lam ** (2 * d) / 2) == pytest.approx(1.0, abs=10 * abs(lam) ** d + 1e-9)


@pytest.mark.parametrize("p,q", two_state_params(2))
def test_two_state_bipartite_and_entropy_rate(p, q):
    res = tm.derive_two_state_chain().results
    m = MarkovChain([[1 - p, p], [q, 1 - q]], length=500)
    ref = float(mpf_eval(res["bipartite"], {tm.p_sym: p, tm.q_sym: q}))
    cuts = np.array([1, 2, 17, 250, 499])
    np.testing.assert_allclose(m.bipartite_mi(cuts), ref, rtol=REL)
    assert m.bipartite_mi() == pytest.approx(ref, rel=REL)
    h = float(mpf_eval(res["entropy_rate"], {tm.p_sym: p, tm.q_sym: q}))
    assert m.entropy_rate() == pytest.approx(h, rel=1e-12)


def test_two_state_indicator_correlation_by_sampling():
    """corr(1[W_0 = 1], 1[W_d = 1]) = lambda^d, estimated from the sampler."""
    p, q = 0.3, 0.15
    m = MarkovChain([[1 - p, p], [q, 1 - q]], length=12)
    x = m.sample(40000, rng=4).astype(float)
    for d in (1, 3, 6):
        c = np.corrcoef(x[:, 2], x[:, 2 + d])[0, 1]
        assert c == pytest.approx((1 - p - q) ** d, abs=5 / math.sqrt(40000))


# ------------------------------------------------------------------------------ all equal


@pytest.mark.parametrize("M", [2, 3, 7, 64])
def test_all_equal_chain(M):
    res = tm.derive_all_equal().results
    ref = float(res["two_point"].subs(tm.M_sym, M))
    m = MarkovChain.all_equal(M, 100)
    rng = np.random.default_rng(M)
    for _ in range(10):
        i, j = (int(v) for v in rng.integers(100, size=2))
        assert m.two_point_mi(i, j) == pytest.approx(ref, rel=1e-14)
    np.testing.assert_allclose(m.bipartite_mi(np.arange(1, 100)), float(res["bipartite"].subs(tm.M_sym, M)),
                               rtol=1e-14)
    assert m.entropy_rate() == float(res["entropy_rate"])


# ------------------------------------------------------------------------------ tree process


def tree_eps(seed, count=4):
    return [float(e) for e in np.random.default_rng(seed).uniform(0.01, 0.45, count)]


@pytest.mark.parametrize("b,levels", [(2, 40), (3, 25), (4, 20)])
@pytest.mark.parametrize("eps", tree_eps(3, 2))
def test_tree_two_point_closed_form(b, levels, eps):
    res = tm.derive_tree_two_point().results
    t = HierarchicalMarkov(b, levels, sym_kernel(eps))
    np.testing.assert_allclose(t.root, 0.5)
    mi_h = mi_of_height(eps)
    for h in range(1, levels + 1):
        i = b ** (h - 1) - 1  # the last leaf of the first child block and its right neighbour
        assert t.lca_height(i, i + 1) == h
        ref = mi_h(h)
        got = t.two_point_mi(i, i + 1)
        if ref < mp.mpf("1e-300"):
            assert got < 1e-290
            continue
        assert got == pytest.approx(float(ref), rel=REL), h
        # any pair with the same LCA height has the same MI (stationary, symmetric kernel)
        j = b**h - 1
        assert t.two_point_mi(0, j) == pytest.approx(got, rel=1e-10)
    alpha = float(res["alpha"].subs({tm.eps_sym: eps, tm.b_sym: b}))
    assert t.two_point_exponent() == pytest.approx(alpha, rel=1e-12)
    assert alpha == pytest.approx(-4 * math.log(1 - 2 * eps) / math.log(b), rel=1e-14)


def test_tree_envelope_is_minimal_lca_height():
    """max_i I(W_i; W_{i+d}) = I_h at h = ceil(log_b(d + 1)) for every distance d."""
    eps, b, levels = 0.12, 2, 6
    t = HierarchicalMarkov(b, levels, sym_kernel(eps))
    L = t.length
    f = mi_of_height(eps)
    mi_h = {h: float(f(h)) for h in range(1, levels + 1)}
    for d in range(1, L):
        env = max(t.two_point_mi(i, i + d) for i in range(L - d))
        hmin = 1
        while b**hmin < d + 1:
            hmin += 1
        assert env == pytest.approx(mi_h[hmin], rel=1e-10), d
    # envelope exponent: I(b^k) / I(b^(k+1)) -> b^alpha
    alpha = t.two_point_exponent()
    big = HierarchicalMarkov(b, 60, sym_kernel(eps))
    ratio = big.two_point_mi(2**49 - 1, 2**50 - 1) / big.two_point_mi(2**48 - 1, 2**49 - 1)
    assert -math.log(ratio) / math.log(b) == pytest.approx(alpha, rel=1e-9)


@pytest.mark.parametrize("eps", tree_eps(5, 4) + [0.0, 0.5])
def test_tree_bipartite_closed_forms(eps):
    res = tm.derive_tree_bipartite().results
    ln2 = math.log(2)
    t1 = HierarchicalMarkov(2, 1, sym_kernel(eps))
    t2 = HierarchicalMarkov(2, 2, sym_kernel(eps))
    if 0 < eps < 0.5:
        ref1 = float(mpf_eval(res["I_one_level"], {tm.eps_sym: eps}))
        ref2 = float(mpf_eval(res["I_two_levels"], {tm.eps_sym: eps}))
    else:  # the closed forms' limits: eps = 0 copies the root, eps = 1/2 is independent
        ref1 = ref2 = ln2 if eps == 0 else 0.0
    assert t1.bipartite_mi(1) == pytest.approx(ref1, rel=REL, abs=1e-15)
    assert t2.bipartite_mi(2) == pytest.approx(ref2, rel=REL, abs=1e-15)
    assert t2.bipartite_mi(2) <= ln2 + 1e-15
    assert t2.bipartite_mi_bound(2) == pytest.approx(float(res["bound"]))
    # one level: the bipartite MI is the two-point MI of the siblings
    assert t1.bipartite_mi(1) == pytest.approx(t1.two_point_mi(0, 1), rel=1e-12, abs=1e-15)
