"""The drifting Santa Fe process: exact values against brute-force enumeration over all
index sequences and all bit paths, sampler against the law, two-point decay exponent."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
import scipy.stats

from l2m_sim.processes.santafe import DriftingSantaFe, SantaFe


def enumerate_law(proc):
    """Exact law of the token sequences: sum over index sequences and every fact's bit path."""
    K, L, a = proc.facts, proc.length, proc.exponent
    w = np.array([k ** -a for k in range(1, K + 1)])
    p = w / w.sum()
    eps = [proc.flip_scale * k ** -proc.flip_exponent for k in range(1, K + 1)]

    def path_prob(k, path):
        pr = 0.5
        for u, v in zip(path[:-1], path[1:]):
            pr *= eps[k] if u != v else 1 - eps[k]
        return pr

    paths = list(itertools.product((0, 1), repeat=L))
    pp = [[path_prob(k, z) for z in paths] for k in range(K)]
    law = defaultdict(float)
    for ks in itertools.product(range(K), repeat=L):
        pk = float(np.prod(p[list(ks)]))
        for combo in itertools.product(range(len(paths)), repeat=K):
            pr = pk * np.prod([pp[k][combo[k]] for k in range(K)])
            law[tuple(2 * k + paths[combo[k]][t] for t, k in enumerate(ks))] += pr
    return dict(law)


def mi_split(law, c):
    px, py = defaultdict(float), defaultdict(float)
    for x, pr in law.items():
        px[x[:c]] += pr
        py[x[c:]] += pr
    return sum(pr * math.log(pr / (px[x[:c]] * py[x[c:]])) for x, pr in law.items() if pr > 0)


def pair_mi(law, i, j):
    pij, pi, pj = defaultdict(float), defaultdict(float), defaultdict(float)
    for x, pr in law.items():
        pij[x[i], x[j]] += pr
        pi[x[i]] += pr
        pj[x[j]] += pr
    return sum(pr * math.log(pr / (pi[u] * pj[v])) for (u, v), pr in pij.items() if pr > 0)


TINY = [(1.5, 2, 4, 0.1, 1.0), (2.0, 2, 5, 0.3, 0.5), (1.3, 3, 3, 0.05, 2.0), (2.0, 1, 5, 0.2, 1.0)]


@pytest.fixture(scope="module", params=TINY, ids=lambda t: "a=%g,K=%d,L=%d,e=%g,g=%g" % t)
def tiny(request):
    proc = DriftingSantaFe(*request.param)
    return proc, enumerate_law(proc)


def test_bipartite_and_two_point_equal_enumeration(tiny):
    proc, law = tiny
    assert sum(law.values()) == pytest.approx(1.0, abs=1e-13)
    L = proc.length
    ref = [mi_split(law, c) for c in range(1, L)]
    np.testing.assert_allclose(proc.bipartite_mi(np.arange(1, L)), ref, rtol=1e-10, atol=1e-14)
    for i in range(L):
        for j in range(L):
            assert proc.two_point_mi(i, j) == pytest.approx(pair_mi(law, i, j), rel=1e-10, abs=1e-14)


def test_conditionals_and_log_prob_equal_enumeration(tiny):
    proc, law = tiny
    L, V = proc.length, proc.vocab_size
    seqs = np.array(sorted(law), dtype=np.int64)
    lp = proc.log_prob(seqs)
    np.testing.assert_allclose(lp, [math.log(law[tuple(s)]) for s in seqs], rtol=1e-11)
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-12)
    pre = [defaultdict(float) for _ in range(L + 1)]
    for x, pr in law.items():
        for t in range(L + 1):
            pre[t][x[:t]] += pr
    cond = proc.conditional_probs(seqs)
    for r, s in enumerate(seqs[:: max(1, len(seqs) // 60)]):
        r = int(np.flatnonzero((seqs == s).all(axis=1))[0])
        for t in range(L):
            ref = np.array([pre[t + 1].get(tuple(s[:t]) + (v,), 0.0) for v in range(V)])
            np.testing.assert_allclose(cond[r, t], ref / pre[t][tuple(s[:t])], rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(proc.position_log_probs(seqs),
                               np.log(np.take_along_axis(cond, seqs[:, :, None], 2)[..., 0]), rtol=1e-11)


def test_sampler_chi_square():
    proc = DriftingSantaFe(1.5, 2, 3, 0.2, 1.0)
    law = enumerate_law(proc)
    n = 40000
    x = proc.sample(n, rng=5)
    np.testing.assert_array_equal(x, proc.sample(n, rng=5))
    seqs = sorted(law)
    idx = {q: i for i, q in enumerate(seqs)}
    counts = np.zeros(len(seqs))
    for row in map(tuple, x):
        counts[idx[row]] += 1
    assert scipy.stats.chisquare(counts, n * np.array([law[q] for q in seqs])).pvalue > 1e-3
    # the no-drift law is rejected (the bits do flip)
    still = enumerate_law(DriftingSantaFe(1.5, 2, 3, 1e-12, 1.0))
    exp0 = n * np.array([still.get(q, 0.0) for q in seqs])
    assert counts[exp0 < 1e-6].sum() > 1000  # thousands of sequences that need a flip


def test_slow_drift_recovers_santa_fe_and_decay_exponent():
    sf = SantaFe(2.0, 200, 64)
    dr = DriftingSantaFe(2.0, 200, 64, 1e-13, 0.0)
    assert dr.bipartite_mi(np.arange(1, 64)) == pytest.approx(sf.bipartite_mi(np.arange(1, 64)), rel=1e-9)
    # two-point MI ~ d^-alpha, alpha = (2a - 1)/gamma, over two decades of d (large K)
    a, g = 1.5, 1.0
    proc = DriftingSantaFe(a, 2**20, 2**20, 0.25, g)
    d = np.array([100, 1000, 10000])
    I = proc.two_point_mi(np.zeros(3, dtype=np.int64), d)
    slopes = -np.diff(np.log(I)) / np.diff(np.log(d))
    alpha = proc.exponents().alpha
    assert alpha == pytest.approx(2.0)
    assert np.all(np.abs(slopes - alpha) < 0.1), slopes


def test_bad_drift_parameters():
    with pytest.raises(ValueError, match=r"flip_scale must be in \(0, 0.5\]"):
        DriftingSantaFe(2.0, 4, 8, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"flip_scale must be in"):
        DriftingSantaFe(2.0, 4, 8, 0.6, 1.0)
    with pytest.raises(ValueError, match="flip_exponent must be"):
        DriftingSantaFe(2.0, 4, 8, 0.1, -1.0)
    with pytest.raises(TypeError, match="flip_scale"):
        DriftingSantaFe(2.0, 4, 8, "x", 1.0)
