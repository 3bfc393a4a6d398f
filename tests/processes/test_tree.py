"""Tree processes (l2m_sim.processes.tree) against brute-force enumeration.

Ground truth is the full joint law of all ``M**L`` sequences (``_markov_reference``: every
assignment of the internal nodes). Two-point MI, bipartite MI at every cut, conditionals,
log-probabilities and the entropy bound are compared with it; samplers against exact pair
laws within sampling error (fixed seeds); bad sizes and shapes are probed with hypothesis.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_sim.processes.tree import ENUM_MAX, HierarchicalMarkov
from l2m_sim.protocol import NoExactValue, TokenProcess

from _markov_reference import (  # tests/ is on sys.path (as for _sweep_jobs)
    _sym_kernel,
    check_against_joint,
    entropy,
    mi_table,
    random_stochastic,
    tree_joint,
)

FAST = settings(max_examples=30, deadline=None, derandomize=True)


# ------------------------------------------------------------------------------ tree process


TREE_CASES = {
    "b2-l3-M2-sym": (2, 3, _sym_kernel(0.15), None),
    "b2-l3-M3-shared": (2, 3, random_stochastic(np.random.default_rng(7), 3), None),
    "b2-l3-M3-perchild-root": (2, 3, np.stack([random_stochastic(np.random.default_rng(8), 3),
                                               random_stochastic(np.random.default_rng(9), 3, 0.3)]),
                               np.array([0.5, 0.1, 0.4])),
    "b3-l2-M3-zeros": (3, 2, random_stochastic(np.random.default_rng(10), 3, zeros=0.4), None),
    "b3-l2-M2-perchild": (3, 2, np.stack([_sym_kernel(0.1), _sym_kernel(0.3),
                                          np.array([[0.6, 0.4], [0.05, 0.95]])]), np.array([0.3, 0.7])),
    "b2-l2-M3": (2, 2, random_stochastic(np.random.default_rng(11), 3), np.array([0.0, 0.2, 0.8])),
    "b10-l1-M2": (10, 1, np.array([[0.8, 0.2], [0.3, 0.7]]), None),
    "b2-l1-M3-identity": (2, 1, np.eye(3), np.array([0.2, 0.3, 0.5])),
}


@pytest.mark.parametrize("name", list(TREE_CASES))
def test_tree_exact_vs_enumeration(name):
    b, lv, Kr, root = TREE_CASES[name]
    t = HierarchicalMarkov(b, lv, Kr, root=root)
    Ks = t.kernels
    P = tree_joint(b, lv, Ks, t.root)
    check_against_joint(t, P, np.random.default_rng(4))
    # bound: I(X; Y) <= H(straddling ancestors), H(root) at the root's boundaries
    for c in range(1, t.length):
        assert t.bipartite_mi(c) <= t.bipartite_mi_bound(c) + 1e-12
        if c % b ** (lv - 1) == 0:
            assert t.bipartite_mi_bound(c) == pytest.approx(entropy(t.root), abs=1e-14)
            assert t.bipartite_mi(c) <= entropy(t.root) + 1e-12
    # leaf marginals
    for p in range(t.length):
        np.testing.assert_allclose(t.marginal(p), P.sum(axis=tuple(a for a in range(t.length) if a != p)),
                                   atol=1e-14)


def test_tree_middle_cut_bounded_by_root_entropy():
    for eps in (0.0, 0.01, 0.1, 0.3):
        t = HierarchicalMarkov(2, 4, _sym_kernel(eps), root=[0.5, 0.5])  # 2**16 sequences
        assert t.bipartite_mi() <= t.root_entropy() + 1e-12
        assert t.bipartite_mi_bound() == pytest.approx(math.log(2))
    # eps = 0: every leaf copies the root, so the bound is attained
    assert HierarchicalMarkov(2, 4, _sym_kernel(0.0)).bipartite_mi() == pytest.approx(math.log(2), rel=1e-12)


def test_tree_default_root_rule():
    K3 = random_stochastic(np.random.default_rng(12), 3)
    t = HierarchicalMarkov(2, 2, K3)
    np.testing.assert_allclose(t.root @ K3, t.root, atol=1e-14)  # stationary law of the kernel
    for p in range(4):
        np.testing.assert_allclose(t.marginal(p), t.root, atol=1e-14)
    # doubly stochastic reducible kernel: uniform
    np.testing.assert_allclose(HierarchicalMarkov(2, 2, np.eye(3)).root, 1 / 3)
    # per-child kernels: stationary law of the mean kernel
    Ks = TREE_CASES["b3-l2-M2-perchild"][2]
    t = HierarchicalMarkov(3, 2, Ks)
    np.testing.assert_allclose(t.root @ Ks.mean(0), t.root, atol=1e-14)
    assert not t.shared_kernel and t.kernel is None


def naive_pair_law(t, i, j):
    """Pair law by direct products along the tree paths (no deviation tricks)."""
    di, dj = t._digits(i), t._digits(j)
    D = 0
    while D < t.levels and di[D] == dj[D]:
        D += 1
    pi = t.root.copy()
    for d in di[:D]:
        pi = pi @ t.kernels[d]
    Ai, Aj = np.eye(t.vocab_size), np.eye(t.vocab_size)
    for d in di[D:]:
        Ai = Ai @ t.kernels[d]
    for d in dj[D:]:
        Aj = Aj @ t.kernels[d]
    return Ai.T @ (pi[:, None] * Aj)


def test_tree_two_point_vs_naive_products_larger_trees():
    rng = np.random.default_rng(13)
    for b, lv, M in [(3, 5, 4), (4, 4, 3), (2, 9, 2)]:
        Ks = np.stack([random_stochastic(rng, M) for _ in range(b)])
        t = HierarchicalMarkov(b, lv, Ks, root=rng.dirichlet(np.ones(M)))
        for _ in range(25):
            i, j = (int(v) for v in rng.integers(t.length, size=2))
            P2 = naive_pair_law(t, i, j) if i != j else None
            ref = mi_table(P2) if i != j else entropy(t.marginal(i))
            assert t.two_point_mi(i, j) == pytest.approx(ref, rel=1e-8, abs=1e-14)


def test_tree_two_point_exponent_at_large_distances():
    """MI(h + 1) / MI(h) -> |lambda_2|^4 for LCA heights far beyond float cancellation."""
    rng = np.random.default_rng(14)
    A = rng.uniform(0.2, 1, (3, 3))
    A = A + A.T  # symmetric weights: reversible kernel, real eigenvalues
    Kr = A / A.sum(axis=1, keepdims=True)
    for b in (2, 3):
        levels = 40 if b == 2 else 26
        t = HierarchicalMarkov(b, levels, Kr)
        lam = t.second_eigenvalue()
        assert isinstance(lam, float)
        alpha = t.two_point_exponent()
        assert alpha == pytest.approx(-4 * math.log(abs(lam)) / math.log(b), rel=1e-12)
        hs = list(range(levels - 8, levels))
        mis = [t.two_point_mi(b ** (h - 1) - 1, b ** (h - 1)) for h in hs]  # LCA height h
        assert all(t.lca_height(b ** (h - 1) - 1, b ** (h - 1)) == h for h in hs)
        assert mis[-1] < 1e-25
        ratios = np.log(np.array(mis[1:]) / np.array(mis[:-1])) / math.log(b)
        np.testing.assert_allclose(-ratios, alpha, rtol=1e-6)
        # the same envelope in terms of distance: I(d) ~ d^(-alpha) with h = ceil(log_b(d + 1))
        d1, d2 = b ** (levels - 10), b ** (levels - 3)
        i1, i2 = d1 - d1 // 2, d2 - d2 // 2  # inside one block of b*d leaves: LCA height log_b(d) + 1
        assert t.lca_height(i1, i1 + d1) == levels - 9 and t.lca_height(i2, i2 + d2) == levels - 2
        slope = math.log(t.two_point_mi(i2, i2 + d2) / t.two_point_mi(i1, i1 + d1)) / math.log(d2 / d1)
        assert -slope == pytest.approx(alpha, rel=1e-3)


def test_tree_two_point_exponent_edge_cases():
    assert HierarchicalMarkov(2, 3, np.eye(2)).two_point_exponent() == 0.0
    assert HierarchicalMarkov(2, 3, np.full((3, 3), 1 / 3)).two_point_exponent() == math.inf
    t = HierarchicalMarkov(2, 3, np.full((3, 3), 1 / 3))
    assert t.two_point_mi(0, 7) == 0.0
    with pytest.raises(ValueError, match="shared kernel"):
        HierarchicalMarkov(3, 2, TREE_CASES["b3-l2-M2-perchild"][2]).two_point_exponent()


def test_tree_sampler_pair_laws():
    rng = np.random.default_rng(15)
    b, lv, M = 3, 4, 3
    Ks = np.stack([random_stochastic(rng, M, zeros=0.2) for _ in range(b)])
    t = HierarchicalMarkov(b, lv, Ks, root=[0.2, 0.5, 0.3])
    n = 4000
    x = t.sample(n, rng=3)
    assert x.shape == (n, 81) and x.dtype == np.int64
    for i, j in [(0, 1), (0, 80), (26, 27), (5, 49), (40, 40)]:
        emp = np.zeros((M, M))
        np.add.at(emp, (x[:, i], x[:, j]), 1)
        exact = naive_pair_law(t, i, j) if i != j else np.diag(t.marginal(i))
        assert np.all(np.abs(emp / n - exact) <= 5 * np.sqrt(exact * (1 - exact) / n) + 1e-12), (i, j)
        assert np.all(emp[exact == 0] == 0)


def test_tree_sampler_full_law_small_tree():
    b, lv, Kr, root = TREE_CASES["b2-l2-M3"]
    t = HierarchicalMarkov(b, lv, Kr, root=root)
    P = tree_joint(b, lv, t.kernels, t.root).ravel()
    x = t.sample(40000, rng=9)
    idx = np.ravel_multi_index(x.T, (3,) * 4)
    f = np.bincount(idx, minlength=P.size) / len(x)
    assert np.all(f[P == 0] == 0)
    assert np.all(np.abs(f - P) <= 5 * np.sqrt(P * (1 - P) / len(x)) + 1e-12)


def test_tree_reproducible():
    t = HierarchicalMarkov(4, 4, random_stochastic(np.random.default_rng(16), 5))
    a = t.sample(17, rng=2)
    np.testing.assert_array_equal(a, t.sample(17, rng=2))
    np.testing.assert_array_equal(a, t.sample(17, rng=np.random.default_rng(2)))
    assert not np.array_equal(a, t.sample(17, rng=3))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        c = t.sample(17, rng=2)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a, c)


def test_tree_likelihood_forward_equals_reversed_large():
    """Forward BP of the process and of its mirror image give the same joint probability."""
    rng = np.random.default_rng(17)
    for b, lv, M in [(3, 5, 3), (2, 8, 4), (5, 3, 2)]:
        Ks = np.stack([random_stochastic(rng, M, zeros=0.2) for _ in range(b)])
        t = HierarchicalMarkov(b, lv, Ks, root=rng.dirichlet(np.ones(M)))
        w = t.sample(20, rng=1)
        lp = t.log_prob(w)
        lr = t.reversed().log_prob(np.ascontiguousarray(w[:, ::-1]))
        np.testing.assert_allclose(lp, lr, rtol=1e-11)
        cp = t.conditional_probs(w)
        np.testing.assert_allclose(cp.sum(axis=2), 1.0, atol=1e-12)
        np.testing.assert_allclose(cp[:, 0, :], np.broadcast_to(t.marginal(0), (20, M)), atol=1e-14)
        lc = np.log(np.take_along_axis(cp, w[:, :, None], 2)[:, :, 0])
        np.testing.assert_allclose(lc.sum(axis=1), lp, rtol=1e-12)
        np.testing.assert_allclose(t.conditional_log_probs(w), lc, rtol=1e-12, atol=1e-12)


def test_tree_impossible_sequences():
    t = HierarchicalMarkov(2, 2, np.eye(2), root=[0.5, 0.5])  # all leaves equal the root
    assert t.log_prob(np.array([0, 0, 0, 1])) == -np.inf
    assert t.log_prob(np.array([1, 1, 1, 1])) == pytest.approx(math.log(0.5))
    with pytest.raises(ValueError, match="probability zero"):
        t.conditional_probs(np.array([[0, 0, 0, 0], [0, 1, 0, 0]]))
    # an impossible last token leaves every conditional defined
    cp = t.conditional_probs(np.array([0, 0, 0, 1]))
    np.testing.assert_allclose(cp[3], [1, 0])
    lc = t.conditional_log_probs(np.array([0, 1, 0, 0]))
    assert lc[0] == pytest.approx(math.log(0.5)) and np.all(lc[1:] == -np.inf)


def test_tree_bipartite_mc_agrees_with_exact():
    b, lv, Kr, root = TREE_CASES["b2-l3-M3-perchild-root"]
    t = HierarchicalMarkov(b, lv, Kr, root=root)
    cuts = np.arange(1, 8)
    est, err = t.bipartite_mi_mc(cuts, n=6000, rng=1)
    exact = t.bipartite_mi(cuts)
    assert np.all(err > 0)
    assert np.all(np.abs(est - exact) <= 5 * err)
    e1, s1 = t.bipartite_mi_mc(4, n=6000, rng=1)
    assert (e1, s1) == (est[3], err[3])


def test_tree_bipartite_large_raises_and_mc_runs():
    t = HierarchicalMarkov(2, 6, _sym_kernel(0.1))  # 2**64 sequences
    assert 2**t.length > ENUM_MAX
    with pytest.raises(NoExactValue, match="bipartite_mi_estimate"):
        t.bipartite_mi()
    est, err = t.bipartite_mi_mc(n=400, rng=0)
    assert 0 < est < math.log(2) + 5 * err and err > 0
    assert t.bipartite_mi_bound() == pytest.approx(math.log(2))
    # a cut deep in the tree straddles more ancestors: a larger bound
    assert t.bipartite_mi_bound(5) > t.bipartite_mi_bound(32)


def test_tree_protocol_and_shapes():
    t = HierarchicalMarkov(3, 2, random_stochastic(np.random.default_rng(18), 4))
    assert isinstance(t, TokenProcess) and t.channels == 1 and t.length == 9 and t.vocab_size == 4
    w = t.sample(2, rng=0)
    assert t.conditional_probs(w[1]).shape == (9, 4)
    np.testing.assert_array_equal(t.conditional_probs(w[1]), t.conditional_probs(w)[1])
    assert isinstance(t.log_prob(w[1]), float)
    assert t.two_point_mi(np.arange(9), 4).shape == (9,)


# ------------------------------------------------------------------------------ bad input


@FAST
@given(b=st.one_of(st.integers(-50, 1), st.integers(1025, 10**6)), lv=st.integers(-5, 0))
def test_tree_sizes(b, lv):
    with pytest.raises(ValueError, match="branching"):
        HierarchicalMarkov(b, 2, np.eye(2))
    with pytest.raises(ValueError, match="levels"):
        HierarchicalMarkov(2, lv, np.eye(2))


def test_tree_shape_errors():
    with pytest.raises(ValueError, match="levels"):
        HierarchicalMarkov(2, 63, np.eye(2))  # 2**63 leaves
    with pytest.raises(ValueError, match=r"kernel.*\(3, M, M\)"):
        HierarchicalMarkov(3, 2, np.stack([np.eye(2)] * 2))
    with pytest.raises(ValueError, match="root"):
        HierarchicalMarkov(2, 2, np.eye(2), root=[1.0])
    with pytest.raises(TypeError, match="kernel"):
        HierarchicalMarkov(2, 2, "identity")
