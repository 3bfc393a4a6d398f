"""Markov chains (l2m_sim.processes.markov) against brute-force enumeration.

Ground truth is the full joint law of all ``M**L`` sequences (``_markov_reference``).
Every exact quantity of the library (two-point MI, bipartite MI at every cut,
conditionals, log-probabilities, entropy rate) is compared with it. Samplers are checked
against exact transition laws within sampling error (fixed seeds); bad input (of chains and
of the shared validators) is probed with hypothesis.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_sim.processes.markov import MarkovChain, cesaro_projector
from l2m_sim.processes.tree import HierarchicalMarkov
from l2m_sim.protocol import TokenProcess

from _markov_reference import (  # tests/ is on sys.path (as for _sweep_jobs)
    _sym_kernel,
    chain_joint,
    check_against_joint,
    entropy,
    random_stochastic,
    ref_bipartite,
    ref_two_point,
    TOL,
)

FAST = settings(max_examples=30, deadline=None, derandomize=True)


# ------------------------------------------------------------------------------ Markov chain

CHAIN_CASES = {
    "M2-stationary": (np.array([[0.9, 0.1], [0.35, 0.65]]), None, 10),
    "M3-random": (random_stochastic(np.random.default_rng(1), 3), None, 10),
    "M3-zeros-nonstat": (random_stochastic(np.random.default_rng(2), 3, zeros=0.3),
                         np.array([0.7, 0.0, 0.3]), 9),
    "M3-transient": (np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8], [0.0, 0.6, 0.4]]),
                     np.array([1.0, 0.0, 0.0]), 8),
    "M2-periodic": (np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0.8, 0.2]), 10),
    "M3-reducible-default": (np.array([[1.0, 0, 0], [0, 0.3, 0.7], [0, 0.6, 0.4]]), None, 7),
}


@pytest.mark.parametrize("name", list(CHAIN_CASES))
def test_chain_exact_vs_enumeration(name):
    T, p0, L = CHAIN_CASES[name]
    m = MarkovChain(T, L, initial=p0)
    P = chain_joint(T, m.initial, L)
    check_against_joint(m, P, np.random.default_rng(3))


def test_chain_markov_conditionals_on_impossible_sequences():
    T = np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8], [0.0, 0.6, 0.4]])
    m = MarkovChain(T, 4, initial=[1.0, 0.0, 0.0])
    w = np.array([1, 0, 2, 1])
    assert m.log_prob(w) == -np.inf
    cp = m.conditional_probs(w)
    np.testing.assert_array_equal(cp[0], m.initial)
    np.testing.assert_array_equal(cp[1:], T[w[:-1]])
    assert np.all(np.isfinite(cp))


def test_chain_default_start_is_stationary():
    for T, _, _ in CHAIN_CASES.values():
        m = MarkovChain(T, 5)
        np.testing.assert_allclose(m.initial @ T, m.initial, atol=1e-14)
        assert m.initial.sum() == pytest.approx(1.0)
    # irreducible: the unique stationary law (left eigenvector of T)
    T = CHAIN_CASES["M3-random"][0]
    w, v = np.linalg.eig(T.T)
    pi = np.real(v[:, np.argmin(abs(w - 1))])
    np.testing.assert_allclose(MarkovChain(T, 5).initial, pi / pi.sum(), atol=1e-14)
    assert MarkovChain(T, 5).stationary_unique
    # reducible: uniform start averaged over time; the identity gives the uniform law
    np.testing.assert_allclose(MarkovChain(np.eye(4), 5).initial, 0.25)
    assert not MarkovChain(np.eye(4), 5).stationary_unique
    m = MarkovChain(CHAIN_CASES["M3-reducible-default"][0], 5)
    np.testing.assert_allclose(m.initial, [1 / 3, 2 / 3 * 6 / 13, 2 / 3 * 7 / 13], atol=1e-14)


def test_cesaro_projector_identities():
    rng = np.random.default_rng(5)
    mats = [T for T, _, _ in CHAIN_CASES.values()] + [random_stochastic(rng, 6, zeros=0.6) for _ in range(5)]
    for T in mats:
        Pi = cesaro_projector(T)
        np.testing.assert_allclose(T @ Pi, Pi, atol=1e-13)
        np.testing.assert_allclose(Pi @ T, Pi, atol=1e-13)
        np.testing.assert_allclose(Pi @ Pi, Pi, atol=1e-13)
        np.testing.assert_allclose(Pi.sum(axis=1), 1.0, atol=1e-13)
        # the Cesaro average itself: A_N = Pi + B / N + o(1/N), so 2 A_2N - A_N -> Pi
        acc, Tk, avg = np.zeros_like(T), np.eye(len(T)), {}
        for t in range(1, 4001):
            acc += Tk
            Tk = Tk @ T
            if t in (2000, 4000):
                avg[t] = acc / t
        np.testing.assert_allclose(2 * avg[4000] - avg[2000], Pi, atol=1e-9)


def test_chain_entropy_rate_and_block_entropy():
    T, _, L = CHAIN_CASES["M3-random"]
    m = MarkovChain(T, L)
    P = chain_joint(T, m.initial, L)
    h = m.entropy_rate()
    assert h == pytest.approx(-np.sum(m.initial[:, None] * T * np.log(T)), rel=1e-13)
    # stationary chain: H(W_{0:L}) = H(pi) + (L - 1) h exactly
    assert entropy(P) == pytest.approx(entropy(m.initial) + (L - 1) * h, rel=1e-12)
    # non-stationary start: the same rate (limit), identity chain: zero
    assert MarkovChain(T, L, initial=[1, 0, 0]).entropy_rate() == pytest.approx(h, rel=1e-12)
    assert MarkovChain.all_equal(5, 3).entropy_rate() == 0.0


def test_all_equal_chain():
    M, L = 5, 40
    m = MarkovChain.all_equal(M, L)
    for i, j in [(0, 0), (0, 1), (0, 39), (17, 3)]:
        assert m.two_point_mi(i, j) == pytest.approx(math.log(M), rel=1e-14)
    np.testing.assert_allclose(m.bipartite_mi(np.arange(1, L)), math.log(M), rtol=1e-14)
    x = m.sample(200, rng=0)
    assert np.all(x == x[:, :1])
    assert set(np.unique(x[:, 0])) == set(range(M))
    assert m.log_prob(x) == pytest.approx(np.full(200, -math.log(M)))


def test_chain_bipartite_is_one_step_mi_and_constant_when_stationary():
    T, _, _ = CHAIN_CASES["M3-random"]
    m = MarkovChain(T, 1000)
    vals = m.bipartite_mi(np.array([1, 2, 500, 999]))
    np.testing.assert_allclose(vals, m.two_point_mi(0, 1), rtol=1e-12)
    mn = MarkovChain(T, 1000, initial=[1, 0, 0])
    assert mn.bipartite_mi(1) == pytest.approx(mn.two_point_mi(0, 1), rel=1e-14)
    assert mn.bipartite_mi(1) != pytest.approx(mn.bipartite_mi(999), rel=1e-6)


def mp_two_point(T, p0, i, j):
    """Reference I(W_i; W_j), i < j, in 60-digit arithmetic (mpmath matrix powers)."""
    import mpmath as mp

    with mp.workdps(60):
        M = len(p0)
        Tm = mp.matrix([[mp.mpf(float(v)) for v in row] for row in T])
        pa = mp.matrix([[mp.mpf(float(v)) for v in p0]])
        for _ in range(i):
            pa = pa * Tm
        Td = mp.eye(M)
        for _ in range(j - i):
            Td = Td * Tm
        pb = pa * Td
        out = mp.mpf(0)
        for x in range(M):
            for y in range(M):
                P = pa[0, x] * Td[x, y]
                if P > 0:
                    out += P * mp.log(Td[x, y] / pb[0, y])
        return float(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chain_two_point_large_distance_accuracy(seed):
    """Tiny MI keeps its relative accuracy (no 1e-16 floor): 60-digit reference."""
    rng = np.random.default_rng(seed)
    T = random_stochastic(rng, 3)
    T[:, -1] = 1 - T[:, :-1].sum(axis=1)  # rows sum to 1 in floating point as well as possible
    p0 = rng.dirichlet(np.ones(3))
    lam = abs(MarkovChain(T, 10).second_eigenvalue())
    for start in (None, p0):
        m = MarkovChain(T, 10**6, initial=start)
        init = m.initial
        for i, d in [(0, 1), (0, 5), (3, 20), (7, 60), (2, 150)]:
            if lam ** (2 * d) < 1e-200:
                continue
            ref = mp_two_point(T, init, i, i + d)
            assert m.two_point_mi(i, i + d) == pytest.approx(ref, rel=1e-8), (i, d)
    assert m.two_point_mi(0, 150) < 1e-30 or lam > 0.6


def test_chain_two_point_symmetric_and_array():
    T, _, _ = CHAIN_CASES["M3-zeros-nonstat"]
    m = MarkovChain(T, 30, initial=[0.2, 0.5, 0.3])
    i = np.array([0, 3, 7, 29])
    j = np.array([[5], [29]])
    got = m.two_point_mi(i, j)
    assert got.shape == (2, 4)
    for a in range(2):
        for b in range(4):
            assert got[a, b] == m.two_point_mi(int(i[b]), int(j[a, 0])) == m.two_point_mi(int(j[a, 0]), int(i[b]))


@FAST
@given(seed=st.integers(0, 10**6), M=st.integers(2, 3), zeros=st.sampled_from([0.0, 0.4]))
def test_chain_random_matrices_vs_enumeration(seed, M, zeros):
    rng = np.random.default_rng(seed)
    T = random_stochastic(rng, M, zeros)
    p0 = rng.dirichlet(np.ones(M))
    L = 6
    m = MarkovChain(T, L, initial=p0)
    P = chain_joint(T, m.initial, L)
    for i, j in [(0, 5), (2, 3), (4, 1)]:
        assert m.two_point_mi(i, j) == pytest.approx(ref_two_point(P, i, j), abs=TOL)
    for c in range(1, L):
        assert m.bipartite_mi(c) == pytest.approx(ref_bipartite(P, c), abs=TOL)


def test_chain_sampler_law():
    rng = np.random.default_rng(11)
    T = random_stochastic(rng, 4, zeros=0.3)
    p0 = np.array([0.1, 0.2, 0.3, 0.4])
    m = MarkovChain(T, 200, initial=p0)
    x = m.sample(2000, rng=7)
    assert x.dtype == np.int64 and x.shape == (2000, 200)
    # initial law
    f0 = np.bincount(x[:, 0], minlength=4) / 2000
    assert np.all(np.abs(f0 - p0) <= 5 * np.sqrt(p0 * (1 - p0) / 2000))
    # transitions
    counts = np.zeros((4, 4))
    np.add.at(counts, (x[:, :-1].ravel(), x[:, 1:].ravel()), 1)
    Na = counts.sum(axis=1, keepdims=True)
    That = counts / Na
    assert np.all(counts[T == 0] == 0)
    assert np.all(np.abs(That - T) <= 5 * np.sqrt(T * (1 - T) / Na) + 1e-12)
    # pair law at distance 3 from position 5
    j3 = np.zeros((4, 4))
    np.add.at(j3, (x[:, 5], x[:, 8]), 1)
    exact = m.marginal(5)[:, None] * np.linalg.matrix_power(T, 3)
    assert np.all(np.abs(j3 / 2000 - exact) <= 5 * np.sqrt(exact * (1 - exact) / 2000) + 1e-12)


def test_chain_sampler_large_vocabulary_bisection():
    rng = np.random.default_rng(4)
    T = random_stochastic(rng, 40, zeros=0.7)  # > 8 states: bisection path
    m = MarkovChain(T, 400)
    x = m.sample(300, rng=1)
    counts = np.zeros((40, 40))
    np.add.at(counts, (x[:, :-1].ravel(), x[:, 1:].ravel()), 1)
    assert np.all(counts[T == 0] == 0)
    Na = counts.sum(axis=1, keepdims=True)
    ok = Na[:, 0] > 0
    dev = np.abs(counts[ok] / Na[ok] - T[ok]) / np.sqrt(T[ok] * (1 - T[ok]) / Na[ok] + 1e-300)
    assert np.nanmax(np.where(T[ok] > 0, dev, 0)) < 6
    f = np.bincount(x.ravel(), minlength=40) / x.size
    assert np.abs(f - m.initial).max() < 0.01


def test_chain_reproducible():
    m = MarkovChain(CHAIN_CASES["M3-random"][0], 257)
    a, b = m.sample(33, rng=5), m.sample(33, rng=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.sample(33, rng=np.random.default_rng(5)), a)
    assert not np.array_equal(a, m.sample(33, rng=6))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        c = m.sample(33, rng=5)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a, c)


def test_chain_one_dimensional_tokens_and_protocol():
    T = CHAIN_CASES["M2-stationary"][0]
    m = MarkovChain(T, 10)
    assert isinstance(m, TokenProcess) and m.channels == 1 and m.vocab_size == 2
    w = m.sample(3, rng=0)
    assert m.conditional_probs(w[0]).shape == (10, 2)
    np.testing.assert_array_equal(m.conditional_probs(w[0]), m.conditional_probs(w)[0])
    assert isinstance(m.log_prob(w[0]), float) and m.log_prob(w[0]) == m.log_prob(w)[0]
    assert m.log_prob(w).shape == (3,)
    # list input and other integer dtypes
    assert m.log_prob(w[0].tolist()) == m.log_prob(w[0].astype(np.uint8))
    # length-1 chain
    m1 = MarkovChain(T, 1)
    assert m1.sample(4, rng=0).shape == (4, 1)
    with pytest.raises(ValueError, match="length >= 2"):
        m1.bipartite_mi()


# ------------------------------------------------------------------------------ bad input


@FAST
@given(rows=st.integers(1, 5), cols=st.integers(1, 5))
def test_non_square_transition(rows, cols):
    if rows == cols:
        return
    T = np.full((rows, cols), 1.0 / cols)
    with pytest.raises(ValueError, match="transition"):
        MarkovChain(T, 5)
    with pytest.raises(ValueError, match="kernel"):
        HierarchicalMarkov(2, 2, T)


@FAST
@given(seed=st.integers(0, 10**6), M=st.integers(1, 6), scale=st.floats(0.5, 2.0))
def test_non_stochastic_rows(seed, M, scale):
    T = random_stochastic(np.random.default_rng(seed), M)
    T[0] *= scale
    if abs(T[0].sum() - 1) <= 1e-10:
        return
    with pytest.raises(ValueError, match="transition.*sums"):
        MarkovChain(T, 5)
    with pytest.raises(ValueError, match="kernel"):
        HierarchicalMarkov(2, 2, T)


@FAST
@given(seed=st.integers(0, 10**6), M=st.integers(2, 6), neg=st.floats(1e-9, 10.0))
def test_negative_probabilities(seed, M, neg):
    T = random_stochastic(np.random.default_rng(seed), M)
    T[0, 0] = -neg
    T[0, 1] += 1 - T[0].sum()  # the row still sums to 1
    with pytest.raises(ValueError, match="transition.*non-negative"):
        MarkovChain(T, 5)
    with pytest.raises(ValueError, match="root.*non-negative"):
        HierarchicalMarkov(2, 2, np.eye(M), root=T[0])
    with pytest.raises(ValueError, match="initial.*non-negative"):
        MarkovChain(np.eye(M), 5, initial=T[0])


@FAST
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]), pos=st.integers(0, 8))
def test_nan_inf(bad, pos):
    T = np.full((3, 3), 1 / 3)
    T.flat[pos] = bad
    with pytest.raises(ValueError, match="transition.*finite"):
        MarkovChain(T, 5)
    with pytest.raises(ValueError, match="kernel.*finite"):
        HierarchicalMarkov(2, 2, T)
    with pytest.raises(ValueError, match="initial.*finite"):
        MarkovChain(np.eye(3), 5, initial=T[pos // 3])


def test_type_errors():
    with pytest.raises(TypeError, match="transition"):
        MarkovChain([["a", "b"], ["c", "d"]], 5)
    with pytest.raises(TypeError, match="transition"):
        MarkovChain(np.eye(2, dtype=complex), 5)
    with pytest.raises(TypeError, match="length"):
        MarkovChain(np.eye(2), "5")
    with pytest.raises(ValueError, match="length"):
        MarkovChain(np.eye(2), 2.5)
    with pytest.raises(ValueError, match="transition"):
        MarkovChain(np.zeros((0, 0)), 5)
    with pytest.raises(ValueError, match="transition"):
        MarkovChain(np.ones(3) / 3, 5)
    with pytest.raises(ValueError, match="initial"):
        MarkovChain(np.eye(2), 5, initial=[0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="vocab_size"):
        MarkovChain.all_equal(0, 5)
    with pytest.raises(TypeError, match="rng"):
        MarkovChain(np.eye(2), 5).sample(2, rng="seed")


@FAST
@given(length=st.integers(-100, 0))
def test_length_below_one(length):
    with pytest.raises(ValueError, match="length"):
        MarkovChain(np.eye(2), length)






@FAST
@given(L=st.integers(2, 40), cut=st.integers(-1000, 1000))
def test_cut_out_of_range(L, cut):
    m = MarkovChain(np.full((2, 2), 0.5), L)
    t = HierarchicalMarkov(2, 2, np.full((2, 2), 0.5))
    if 1 <= cut <= L - 1:
        m.bipartite_mi(cut)
    else:
        with pytest.raises(ValueError, match="cut"):
            m.bipartite_mi(cut)
        with pytest.raises(ValueError, match="cut"):
            m.bipartite_mi(np.array([1, cut]))
    if not 1 <= cut <= 3:
        with pytest.raises(ValueError, match="cut"):
            t.bipartite_mi(cut)
        with pytest.raises(ValueError, match="cut"):
            t.bipartite_mi_bound(cut)
        with pytest.raises(ValueError, match="cut"):
            t.bipartite_mi_mc(cut, n=10, rng=0)


@FAST
@given(i=st.integers(-100, 100), j=st.integers(-100, 100))
def test_positions_out_of_range(i, j):
    m = MarkovChain(np.full((2, 2), 0.5), 16)
    t = HierarchicalMarkov(2, 4, np.full((2, 2), 0.5))
    for proc in (m, t):
        if 0 <= i < 16 and 0 <= j < 16:
            assert proc.two_point_mi(i, j) >= 0
        else:
            name = "i" if not 0 <= i < 16 else "j"
            with pytest.raises(ValueError, match=f"{name} must be"):
                proc.two_point_mi(i, j)


@FAST
@given(val=st.integers(-10**6, 10**6), pos=st.integers(0, 7))
def test_tokens_out_of_range(val, pos):
    m = MarkovChain(np.full((3, 3), 1 / 3), 8)
    t = HierarchicalMarkov(2, 3, np.full((3, 3), 1 / 3))
    w = np.zeros((2, 8), dtype=np.int64)
    w[1, pos] = val
    for proc in (m, t):
        if 0 <= val <= 2:
            assert np.all(np.isfinite(proc.log_prob(w)))
        else:
            for fn in (proc.log_prob, proc.conditional_probs):
                with pytest.raises(ValueError, match=r"tokens must be in \[0, 2\]"):
                    fn(w)


@pytest.mark.parametrize("bad,exc", [
    (np.zeros((2, 8)), TypeError),             # float tokens
    (np.zeros((2, 8), dtype=bool), TypeError),
    (np.zeros((2, 7), dtype=int), ValueError),  # wrong length
    (np.zeros((2, 2, 8), dtype=int), ValueError),
    (np.zeros((), dtype=int), ValueError),
    ("abc", TypeError),
])
def test_bad_tokens(bad, exc):
    for proc in (MarkovChain(np.full((3, 3), 1 / 3), 8), HierarchicalMarkov(2, 3, np.full((3, 3), 1 / 3))):
        for fn in (proc.log_prob, proc.conditional_probs, proc.conditional_log_probs):
            with pytest.raises(exc, match="tokens"):
                fn(bad)


def test_single_state_processes():
    m = MarkovChain([[1.0]], 6)
    t = HierarchicalMarkov(3, 2, [[1.0]])
    for proc in (m, t):
        assert proc.two_point_mi(0, 5) == 0.0 and proc.two_point_mi(2, 2) == 0.0
        assert proc.bipartite_mi(3) == 0.0
        x = proc.sample(3, rng=0)
        assert np.all(x == 0)
        assert np.all(proc.log_prob(x) == 0.0)
        np.testing.assert_array_equal(proc.conditional_probs(x), 1.0)
    assert m.entropy_rate() == 0.0 and m.second_eigenvalue() == 0.0


def test_huge_lengths_exact_but_not_sampleable():
    m = MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]), 2**40)
    assert m.two_point_mi(0, 2**40 - 1) == 0.0 or m.two_point_mi(0, 2**40 - 1) < 1e-300
    assert m.bipartite_mi() == pytest.approx(m.two_point_mi(5, 6))
    t = HierarchicalMarkov(2, 40, _sym_kernel(0.1))
    c = 0.8**80  # correlation of two leaves 40 levels below their LCA (the root)
    assert t.two_point_mi(0, 2**40 - 1) == pytest.approx(c**2 / 2 + c**4 / 12, rel=1e-10)
    for proc in (m, t):
        with pytest.raises(ValueError, match="length"):
            proc.sample(1, rng=0)


@FAST
@given(n=st.integers(-100, 0))
def test_sample_n_below_one(n):
    with pytest.raises(ValueError, match="n must be"):
        MarkovChain(np.eye(2), 4).sample(n, rng=0)
    with pytest.raises(ValueError, match="n must be"):
        HierarchicalMarkov(2, 2, np.eye(2)).sample(n, rng=0)
