"""Brute-force references of the Markov-kernel processes (chains and trees), shared by
``test_markov.py`` and ``test_tree.py``: the full joint law of all ``M**L`` sequences, built
by literal enumeration (chains: product of transition probabilities of every sequence;
trees: every assignment of the internal nodes, each contributing the outer product of its
leaves' kernel rows), and the information quantities read off it."""

from __future__ import annotations

import itertools
from functools import reduce

import numpy as np
import pytest

TOL = 1e-11


def random_stochastic(rng, M, zeros=0.0):
    """Random row-stochastic matrix; a fraction ``zeros`` of entries set to 0 (rows stay valid)."""
    T = rng.uniform(0.05, 1.0, (M, M))
    if zeros:
        T[rng.uniform(size=(M, M)) < zeros] = 0.0
        for a in range(M):
            if T[a].sum() == 0:
                T[a, rng.integers(M)] = 1.0
    return T / T.sum(axis=1, keepdims=True)


def chain_joint(T, p0, L):
    """Literal enumeration: P[w_0, .., w_{L-1}] = p0[w_0] prod T[w_{t-1}, w_t]."""
    M = len(p0)
    P = np.zeros((M,) * L)
    for w in itertools.product(range(M), repeat=L):
        pr = p0[w[0]]
        for t in range(1, L):
            pr *= T[w[t - 1], w[t]]
        P[w] = pr
    return P


def tree_joint(b, levels, Ks, root):
    """Literal enumeration over the internal nodes of the tree (breadth-first order)."""
    M = len(root)
    L = b**levels
    internal = [(s, j) for s in range(levels) for j in range(b**s)]
    pos = {node: k for k, node in enumerate(internal)}
    P = np.zeros((M,) * L)
    for states in itertools.product(range(M), repeat=len(internal)):
        w = root[states[0]]
        for k, (s, j) in enumerate(internal[1:], 1):
            w *= Ks[j % b][states[pos[(s - 1, j // b)]], states[k]]
        if w == 0:
            continue
        vecs = [Ks[p % b][states[pos[(levels - 1, p // b)]]] for p in range(L)]
        P += w * reduce(np.multiply.outer, vecs)
    return P


def mi_table(P2):
    px, py = P2.sum(axis=1), P2.sum(axis=0)
    nz = P2 > 0
    return float(np.sum(P2[nz] * np.log(P2[nz] / np.outer(px, py)[nz])))


def entropy(p):
    p = np.asarray(p).ravel()
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def ref_two_point(P, i, j):
    L = P.ndim
    if i == j:
        return entropy(P.sum(axis=tuple(a for a in range(L) if a != i)))
    P2 = P.sum(axis=tuple(a for a in range(L) if a not in (i, j)))
    if i > j:
        P2 = P2.T
    return mi_table(P2)


def ref_bipartite(P, c):
    M, L = P.shape[0], P.ndim
    return mi_table(P.reshape(M**c, M ** (L - c)))


def ref_conditionals(P, w):
    """p(w_t = . | w_<t) from prefix marginals (NaN where the prefix is impossible)."""
    L, M = P.ndim, P.shape[0]
    out = np.empty((L, M))
    for t in range(L):
        pref = P.sum(axis=tuple(range(t + 1, L))) if t + 1 < L else P
        row = pref[tuple(w[:t])]
        out[t] = row / row.sum() if row.sum() > 0 else np.nan
    return out


def all_sequences(M, L):
    return np.array(list(itertools.product(range(M), repeat=L)), dtype=np.int64)


def check_against_joint(proc, P, rng, nseq=40):
    """Every exact quantity of ``proc`` against the enumerated joint ``P``."""
    L, M = proc.length, proc.vocab_size
    assert P.shape == (M,) * L and abs(P.sum() - 1) < 1e-12
    for i in range(L):
        for j in range(L):
            assert proc.two_point_mi(i, j) == pytest.approx(ref_two_point(P, i, j), abs=TOL)
    for c in range(1, L):
        assert proc.bipartite_mi(c) == pytest.approx(ref_bipartite(P, c), abs=TOL)
    np.testing.assert_allclose(proc.bipartite_mi(np.arange(1, L)),
                               [ref_bipartite(P, c) for c in range(1, L)], atol=TOL)
    assert proc.bipartite_mi() == pytest.approx(ref_bipartite(P, L // 2), abs=TOL)
    # likelihoods and conditionals on possible sequences (sampled) and random ones
    flat = P.ravel()
    seqs = all_sequences(M, L)
    possible = seqs[flat > 0]
    w = possible[rng.integers(len(possible), size=nseq)]
    lp = proc.log_prob(w)
    np.testing.assert_allclose(lp, np.log(flat[np.ravel_multi_index(w.T, P.shape)]), rtol=1e-12, atol=1e-12)
    cp = proc.conditional_probs(w)
    assert cp.shape == (nseq, L, M)
    for r in range(nseq):
        np.testing.assert_allclose(cp[r], ref_conditionals(P, w[r]), atol=1e-12)
    # the product of the conditionals of the observed tokens is the probability
    np.testing.assert_allclose(np.log(np.take_along_axis(cp, w[:, :, None], 2)[:, :, 0]).sum(1), lp,
                               rtol=1e-12, atol=1e-12)
    # log_prob of every sequence (impossible ones: -inf) sums to one
    allp = proc.log_prob(seqs)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(allp, np.log(flat), rtol=1e-11, atol=1e-12)
    assert np.exp(allp).sum() == pytest.approx(1.0, abs=1e-12)


def _sym_kernel(eps):
    """Binary symmetric kernel: keep the state with probability ``1 - eps``."""
    return np.array([[1 - eps, eps], [eps, 1 - eps]])
