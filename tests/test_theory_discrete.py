"""Theory versus library: the sympy closed forms of ``theory/discrete.py`` evaluated against
``l2m_sim.processes.discrete.HierarchicalDiscrete`` at random parameters (fixed seeds).

The library computes I_1 from the base table numerically (table marginals), I_BP by the
cut reduction, the entropy from the latent entropies, log-probabilities by inverting the
rows; the sympy side gives closed forms in the parameters. A wrong closed form or a wrong
library routine fails.
"""

import math

import numpy as np
import pytest
import sympy as sp

from l2m_sim.processes.discrete import TUPLES_MAX, HierarchicalDiscrete
from theory import discrete as td
from theory import render

REL = 1e-12


def num(expr, subs):
    """Evaluate a sympy expression at float parameters with 30 digits (floats taken exactly)."""
    exact = {s: (sp.Rational(v) if isinstance(v, float) else v) for s, v in subs.items()}
    return float(sp.N(expr.subs(exact), 30))


def _random_params(seed, n):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        b = int(rng.integers(2, 9))
        M = int(rng.integers(2, 6))
        if M**b > TUPLES_MAX:
            continue
        k = int(rng.integers(1, b))
        eps = float(rng.uniform(0.01, 0.95))
        out.append((b, k, M, eps))
    return out


@pytest.mark.parametrize("derivation", td.all_derivations(), ids=lambda d: d.key)
def test_all_sympy_checks_hold(derivation):
    assert derivation.checks
    for desc, ok in derivation.checks:
        assert ok is True, desc


def test_renders():
    for n, d in enumerate(td.all_derivations(), 1):
        md = render.render_derivation(d, n)
        assert d.title in md and "FAILS" not in md
    assert "{version}" in td.HEADER


@pytest.mark.parametrize("b,k,M,eps", _random_params(1, 12))
def test_pair_and_level1_closed_form(b, k, M, eps):
    res = td.derive_level1().results
    pr = td.derive_pair_mi().results
    p = HierarchicalDiscrete(b, k, 1, M, noise=eps)
    ipair = num(pr["closed"], {pr["M"]: M, pr["eps"]: eps})
    for j in range(1, b):
        expect = num(res["I1"], {res["j"]: j, td.b_sym: b, td.M_sym: M, td.eps: eps})
        assert p.base_mi(j) == pytest.approx(expect, rel=REL, abs=1e-15)
        assert expect == pytest.approx(td.split_pairs(b, j) * ipair, rel=REL)
    assert p.base_mi() == pytest.approx(
        num(res["I1_middle"], {td.b_sym: b, td.M_sym: M, td.eps: eps}), rel=REL)


def test_default_noise_value():
    pr = td.derive_pair_mi().results
    p = HierarchicalDiscrete(4, 3, 1, 2)
    assert p.base_mi() == pytest.approx(2 * float(pr["default_M2"]), rel=REL)


@pytest.mark.parametrize("b,k,M,eps", _random_params(2, 10))
def test_recursion_and_beta(b, k, M, eps):
    rec = td.derive_recursion().results
    lvmax = max(2, min(8, int(math.log(2**20) / math.log(b))))
    I1 = HierarchicalDiscrete(b, k, 1, M, noise=eps).base_mi(b // 2)
    for lv in range(1, lvmax + 1):
        p = HierarchicalDiscrete(b, k, lv, M, noise=eps)
        subs = {rec["t"]: lv, rec["k"]: k, rec["b"]: b, rec["I1"]: I1}
        expect = num(rec["I_t"], subs)
        cut = (b // 2) * b ** (lv - 1)
        assert p.bipartite_mi(cut) == pytest.approx(expect, rel=REL)
        assert float(rec["in_L"].subs(subs).subs(rec["L"], b**lv)) == pytest.approx(expect, rel=1e-10)
        if b % 2 == 0:
            assert p.bipartite_mi() == pytest.approx(expect, rel=REL)
        assert p.beta == pytest.approx(float(rec["beta"].subs(subs)), rel=1e-14)
        # every cut j b^(l-1): k^(l-1) I_1(j) with the level-1 closed form
        l1 = td.derive_level1().results
        for j in range(1, b):
            i1j = num(l1["I1"], {l1["j"]: j, td.b_sym: b, td.M_sym: M, td.eps: eps})
            assert p.bipartite_mi(j * b ** (lv - 1)) == pytest.approx(k ** (lv - 1) * i1j, rel=REL, abs=1e-14)


def test_study_beta():
    rec = td.derive_recursion().results
    assert HierarchicalDiscrete(4, 3, 3, 2).beta == pytest.approx(float(rec["beta_study"]), rel=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entropy_closed_form_custom_laws(seed):
    rng = np.random.default_rng(seed)
    b, k, M, lv = [(3, 2, 3, 3), (4, 1, 2, 4), (2, 1, 4, 5)][seed]
    base = rng.random((M,) * b) ** 3
    base /= base.sum()
    fresh = rng.random(M) + 0.1
    fresh /= fresh.sum()
    p = HierarchicalDiscrete(b, k, lv, M, base=base, fresh=fresh, seed=seed)
    ent = td.derive_entropy().results
    H1 = float(-np.sum(base * np.log(base)))
    Hf = float(-np.sum(fresh * np.log(fresh)))
    expect = float(ent["H"].subs({ent["t"]: lv, ent["b"]: b, ent["k"]: k, ent["Hf"]: Hf, ent["H1"]: H1}))
    assert p.entropy() == pytest.approx(expect, rel=REL)
    # independent route: Monte-Carlo mean of exact -log p(W)
    x = p.sample(3000, rng=seed)
    nlp = -p.log_prob(x)
    assert abs(nlp.mean() - expect) < 5 * nlp.std() / math.sqrt(len(nlp))


def test_pair_closed_form_symbolic_limits():
    pr = td.derive_pair_mi().results
    for M in (2, 3, 7):
        f = sp.lambdify(pr["eps"], pr["closed"].subs(pr["M"], M))
        assert f(1e-12) == pytest.approx(math.log(M), rel=1e-9)
        assert abs(f(1 - 1e-12)) < 1e-9
