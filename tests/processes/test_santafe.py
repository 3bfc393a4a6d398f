"""The Santa Fe process: exact values against brute-force enumeration of all sequences,
the sampler against the law, the exponent from the exact I_BP, and input validation."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
import scipy.stats

from l2m_sim.processes.santafe import FACTS_MAX, SantaFe

LN2 = math.log(2)


# ------------------------------------------------------------------------------ enumeration


def enumerate_law(proc):
    """Exact law of the token sequences: dict tuple -> probability, by summing over every
    index sequence (K**L) and every bit vector (2**K) independently of the code under test."""
    K, L, a = proc.facts, proc.length, proc.exponent
    w = np.array([k ** -a for k in range(1, K + 1)])
    p = w / w.sum()
    law = defaultdict(float)
    for ks in itertools.product(range(K), repeat=L):
        pk = float(np.prod(p[list(ks)]))
        for z in itertools.product((0, 1), repeat=K):
            law[tuple(2 * k + z[k] for k in ks)] += pk / 2**K
    return dict(law)


def mi_of_split(law, c):
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


def prefix_law(law, t):
    out = defaultdict(float)
    for x, pr in law.items():
        out[x[:t]] += pr
    return out


TINY = [(1.5, 2, 2), (2.0, 2, 3), (1.3, 3, 3), (2.5, 3, 4), (1.1, 2, 5), (3.0, 1, 4)]


@pytest.fixture(scope="module", params=TINY, ids=lambda t: "a=%g,K=%d,L=%d" % t)
def tiny(request):
    proc = SantaFe(*request.param)
    return proc, enumerate_law(proc)


def test_enumerated_law_sums_to_one(tiny):
    proc, law = tiny
    assert sum(law.values()) == pytest.approx(1.0, abs=1e-13)
    # every reachable token sequence states each fact with one bit only
    for x in law:
        seen = {}
        for tok in x:
            assert seen.setdefault(tok // 2, tok % 2) == tok % 2


def test_bipartite_mi_at_every_cut_equals_enumeration(tiny):
    proc, law = tiny
    L = proc.length
    ref = np.array([mi_of_split(law, c) for c in range(1, L)])
    got = proc.bipartite_mi(np.arange(1, L))
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-14)
    for c in range(1, L):
        assert proc.bipartite_mi(c) == pytest.approx(ref[c - 1], rel=1e-11, abs=1e-14)
    assert proc.bipartite_mi() == pytest.approx(ref[L // 2 - 1], rel=1e-11, abs=1e-14)


def test_two_point_mi_equals_enumeration(tiny):
    proc, law = tiny
    L = proc.length
    p = proc.weights
    for i in range(L):
        for j in range(L):
            ref = pair_mi(law, i, j)
            assert proc.two_point_mi(i, j) == pytest.approx(ref, rel=1e-11, abs=1e-14), (i, j)
            if i != j:  # the closed form ln 2 sum p_k^2 = ln 2 P(K_i = K_j), any distance
                assert ref == pytest.approx(LN2 * np.sum(p**2), rel=1e-11)
    ii, jj = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    arr = proc.two_point_mi(ii, jj)
    assert arr.shape == (L, L)
    np.testing.assert_allclose(arr, [[pair_mi(law, i, j) for j in range(L)] for i in range(L)],
                               rtol=1e-11, atol=1e-14)


def test_entropy_equals_enumeration(tiny):
    proc, law = tiny
    H = -sum(pr * math.log(pr) for pr in law.values())
    assert proc.entropy() == pytest.approx(H, rel=1e-12)
    for n in range(1, proc.length + 1):
        Hn = -sum(pr * math.log(pr) for pr in prefix_law(law, n).values())
        assert proc.entropy(n) == pytest.approx(Hn, rel=1e-12)


def test_conditionals_and_log_prob_equal_enumeration(tiny):
    proc, law = tiny
    L, V = proc.length, proc.vocab_size
    seqs = np.array(sorted(law), dtype=np.int64)
    lp = proc.log_prob(seqs)
    np.testing.assert_allclose(lp, [math.log(law[tuple(s)]) for s in seqs], rtol=1e-12)
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-12)  # log_prob sums to 1 over sequences
    cond = proc.conditional_probs(seqs)
    assert cond.shape == (len(seqs), L, V)
    prefixes = [prefix_law(law, t) for t in range(L + 1)]
    for r, s in enumerate(seqs):
        for t in range(L):
            ref = np.array([prefixes[t + 1].get(tuple(s[:t]) + (v,), 0.0) for v in range(V)])
            ref /= prefixes[t][tuple(s[:t])]
            np.testing.assert_allclose(cond[r, t], ref, rtol=1e-12, atol=1e-15)
    pos = proc.position_log_probs(seqs)
    np.testing.assert_allclose(pos, np.log(np.take_along_axis(cond, seqs[:, :, None], 2)[..., 0]),
                               rtol=1e-12)
    np.testing.assert_array_equal(proc.conditional_log_probs(seqs), pos)
    # one sequence as a 1-D array
    assert proc.log_prob(seqs[0]) == pytest.approx(lp[0], rel=1e-14)
    assert proc.conditional_probs(seqs[0]).shape == (L, V)


def test_impossible_sequences():
    proc = SantaFe(2.0, 3, 5)
    x = np.array([[0, 2, 1, 4, 4], [0, 0, 2, 3, 5]])  # row 0: fact 1 stated as 0 then 1
    pos = proc.position_log_probs(x)
    assert np.all(np.isfinite(pos[0, :2])) and np.all(np.isneginf(pos[0, 2:]))
    assert np.isneginf(pos[1, 3]) and np.all(np.isfinite(pos[1, :3]))
    lp = proc.log_prob(x)
    assert np.all(np.isneginf(lp))
    with pytest.raises(ValueError, match="sequence 0 has probability zero.*position 2"):
        proc.conditional_probs(x)


# ------------------------------------------------------------------------------ closed forms


def test_closed_forms_against_direct_sums():
    a, K, L = 1.7, 5000, 1000
    proc = SantaFe(a, K, L)
    k = np.arange(1, K + 1)
    p = k**-a / np.sum(k**-a)
    np.testing.assert_allclose(proc.weights, p, rtol=1e-13)
    cuts = np.array([1, 7, 500, 999])
    ref = [LN2 * np.sum((1 - (1 - p) ** c) * (1 - (1 - p) ** (L - c))) for c in cuts]
    np.testing.assert_allclose(proc.bipartite_mi(cuts), ref, rtol=1e-11)
    assert proc.two_point_mi(3, 900) == pytest.approx(LN2 * np.sum(p**2), rel=1e-12)
    assert proc.entropy_rate() == pytest.approx(-np.sum(p * np.log(p)), rel=1e-12)
    # one token reveals at most one bit of facts
    assert 0 < proc.bipartite_mi(1) <= LN2
    # symmetric in the cut, maximal at the middle
    np.testing.assert_allclose(proc.bipartite_mi(cuts), proc.bipartite_mi(L - cuts), rtol=1e-13)
    assert proc.bipartite_mi() == pytest.approx(proc.bipartite_mi(np.arange(1, L)).max(), rel=1e-14)


def test_small_weights_keep_full_precision():
    """(1 - p)^n as exp(n log1p(-p)): against an 50-digit reference where computing 1 - p in
    floats would already cost ~1e-11 relative accuracy (p ~ 1e-5)."""
    import mpmath as mp

    a, K, L = 1.0001, 2**14, 5
    proc = SantaFe(a, K, L)
    with mp.workdps(50):
        w = [mp.mpf(k) ** (-mp.mpf(a)) for k in range(1, K + 1)]
        Z = mp.fsum(w)
        p = [x / Z for x in w]
        for c in (1, 2):
            ref = mp.log(2) * mp.fsum((1 - (1 - q) ** c) * (1 - (1 - q) ** (L - c)) for q in p)
            assert proc.bipartite_mi(c) == pytest.approx(float(ref), rel=1e-13)
        ref = mp.log(2) * mp.fsum(q * q for q in p)
        assert proc.two_point_mi(0, 4) == pytest.approx(float(ref), rel=1e-13)
    big = SantaFe(1.0001, 2**20, 2**40)  # almost-flat weights, enormous length
    assert big.bipartite_mi() == pytest.approx(LN2 * 2**20, rel=1e-9)  # every fact on both sides
    assert 0 <= big.beta_local() < 1e-6


def test_single_fact_and_reversal():
    one = SantaFe(2.0, 1, 6)
    np.testing.assert_allclose(one.bipartite_mi(np.arange(1, 6)), LN2, rtol=1e-15)
    assert one.two_point_mi(0, 5) == pytest.approx(LN2, rel=1e-15)
    assert one.beta_local() == 0.0
    x = one.sample(50, rng=1)
    assert np.all((x == x[:, :1]))  # one fact, one bit per sequence
    assert set(np.unique(x[:, 0])) == {0, 1}
    proc = SantaFe(1.5, 30, 12)
    rev = proc.reversed()
    assert rev == proc and rev is not proc and hash(rev) == hash(proc)
    w = proc.sample(20, rng=2)
    np.testing.assert_allclose(rev.log_prob(w[:, ::-1]), proc.log_prob(w), rtol=1e-12)
    assert SantaFe(1.5, 30, 13) != proc


def test_from_beta_and_exponents():
    s = SantaFe.from_beta(0.4, 100, 64)
    assert s.exponent == pytest.approx(2.5, rel=1e-15)
    ex = s.exponents()
    assert ex.beta == pytest.approx(0.4, rel=1e-15) and ex.alpha == 0.0
    assert s.beta == ex.beta
    assert s.vocab == s.vocab_size == 200 and s.length == 64 and s.channels == 1


# ------------------------------------------------------------------------------ exponent


def test_beta_local_is_the_derivative_of_the_exact_curve():
    s = SantaFe(1.6, 3000, 2)
    lq = np.log1p(-s.weights)

    def I(x):
        return LN2 * np.sum((-np.expm1(0.5 * x * lq)) ** 2)

    h = 1e-4
    for L in (64.0, 4096.0, 2.0**18, 2.0**24):
        fd = (math.log(I(L * math.exp(h))) - math.log(I(L * math.exp(-h)))) / (2 * h)
        assert s.beta_local(L) == pytest.approx(fd, rel=1e-6, abs=1e-9)
    # at even L the curve is the exact bipartite MI at the middle cut
    t = s.at_length(4096)
    assert t.bipartite_mi() == pytest.approx(LN2 * np.sum((-np.expm1(2048 * lq)) ** 2), rel=1e-12)
    np.testing.assert_allclose(s.beta_local([64, 4096]), [s.beta_local(64), s.beta_local(4096)])


# (beta, facts): K used in the test; the smallest power of two K for which the slope over the
# last octave (2^19 -> 2^20) and beta_local(2^20) are both within 0.02 of beta is
# 2^7 (beta 0.3), 2^11 (0.5), 2^15 (0.7), 2^17 (0.8), 2^19 (0.9): K must grow like ~2 L^beta.
BETA_K = [(0.3, 2**10), (0.5, 2**14), (0.8, 2**20)]


@pytest.mark.parametrize("beta,facts", BETA_K)
def test_beta_from_exact_bipartite_mi(beta, facts):
    s = SantaFe.from_beta(beta, facts, 2**20)
    Ls = 2 ** np.arange(6, 21)
    I = np.array([s.at_length(int(L)).bipartite_mi() for L in Ls])
    slopes = np.diff(np.log(I)) / math.log(2)
    assert np.all(slopes > 0)
    assert abs(slopes[-1] - beta) < 0.02
    assert abs(s.beta_local(2.0**20) - beta) < 0.02
    # whole-range fit over the last 5 octaves
    fit = np.polyfit(np.log(Ls[-6:]), np.log(I[-6:]), 1)[0]
    assert abs(fit - beta) < 0.02
    # the integral form ln2 Gamma(1-1/a)(2 - 2^(1/a))(L/2)^(1/a)/H_K(a)^(1/a): its relative
    # error shrinks with L (sum versus integral, ~L^(-1/a)) while L p_K << 1
    err = [abs(s.at_length(int(L)).bipartite_mi_asymptotic() / v - 1) for L, v in zip(Ls, I)]
    assert err[-1] < 0.015 and err[-1] < err[0]


def test_too_few_facts_bend_the_exponent():
    """With 16x fewer facts than needed at beta = 0.8 the slope at 2^20 is off by > 0.2."""
    s = SantaFe.from_beta(0.8, 2**13, 2**20)
    assert s.beta_local() < 0.6
    I = s.bipartite_mi()
    assert I < LN2 * 2**13  # bounded by K ln 2
    assert s.at_length(2**40).bipartite_mi() == pytest.approx(LN2 * 2**13, rel=1e-6)


# ------------------------------------------------------------------------------ sampler


def test_sampler_seeded_and_matches_numpy_reference():
    s = SantaFe(1.5, 500, 40)
    a, b = s.sample(30, rng=7), s.sample(30, rng=np.random.default_rng(7))
    assert a.dtype == np.int64 and a.shape == (30, 40)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, s._sample_numpy(30, rng=7))
    assert not np.array_equal(a, s.sample(30, rng=8))
    assert a.min() >= 0 and a.max() < s.vocab_size
    assert np.all(np.isfinite(s.log_prob(a)))  # every sample is a possible sequence


def test_sampler_matches_the_law_chi_square():
    s = SantaFe(1.5, 2, 3)
    law = enumerate_law(s)
    n = 40000
    x = s.sample(n, rng=11)
    seqs = sorted(law)
    index = {q: i for i, q in enumerate(seqs)}
    counts = np.zeros(len(seqs))
    for row in map(tuple, x):
        counts[index[row]] += 1  # a KeyError would mean an impossible sequence
    expected = n * np.array([law[q] for q in seqs])
    assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3
    # pair counts of positions (0, 2)
    pairs = defaultdict(float)
    for q, pr in law.items():
        pairs[q[0], q[2]] += pr
    keys = sorted(pairs)
    pc = np.array([np.sum((x[:, 0] == u) & (x[:, 2] == v)) for u, v in keys])
    assert scipy.stats.chisquare(pc, n * np.array([pairs[k] for k in keys])).pvalue > 1e-3
    # a wrong law is rejected by the same statistic (the test has power)
    wrong = SantaFe(2.5, 2, 3)
    wl = enumerate_law(wrong)
    assert scipy.stats.chisquare(counts, n * np.array([wl[q] for q in seqs])).pvalue < 1e-6


def test_sampler_fact_frequencies_and_repeats():
    s = SantaFe(1.2, 40, 64)
    x = s.sample(4000, rng=3)
    k = (x // 2).ravel()
    counts = np.bincount(k, minlength=40)
    assert scipy.stats.chisquare(counts, counts.sum() * s.weights).pvalue > 1e-3
    # a fact repeats its bit within a sequence, and its bit is fair across sequences
    z = x % 2
    first_bits = []
    for r in range(200):
        for kk in np.unique(x[r] // 2):
            bits = z[r][x[r] // 2 == kk]
            assert np.all(bits == bits[0])
            first_bits.append(bits[0])
    assert abs(np.mean(first_bits) - 0.5) < 4 * 0.5 / math.sqrt(len(first_bits))
    # the Monte-Carlo average of -log_prob is the exact entropy
    lp = s.log_prob(x)
    assert -lp.mean() == pytest.approx(s.entropy(), abs=5 * lp.std() / math.sqrt(len(lp)))


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("exponent", [1.0, 0.5, -2.0, float("nan"), float("inf")])
def test_bad_exponent(exponent):
    with pytest.raises(ValueError, match=r"exponent must be in \(1, inf\)"):
        SantaFe(exponent, 10, 16)


def test_bad_parameters():
    with pytest.raises(TypeError, match="exponent"):
        SantaFe("2", 10, 16)
    with pytest.raises(TypeError, match="exponent"):
        SantaFe(True, 10, 16)
    with pytest.raises(ValueError, match=r"facts must be in \[1, 16777216\]"):
        SantaFe(2.0, FACTS_MAX + 1, 16)
    with pytest.raises(ValueError, match=r"facts must be in \[1"):
        SantaFe(2.0, 0, 16)
    with pytest.raises(ValueError, match="facts must be an integer"):
        SantaFe(2.0, 2.5, 16)
    with pytest.raises(TypeError, match="facts"):
        SantaFe(2.0, "10", 16)
    with pytest.raises(ValueError, match=r"length must be in \[2"):
        SantaFe(2.0, 10, 1)
    with pytest.raises(ValueError, match="beta must be in \\(0, 1\\)"):
        SantaFe.from_beta(1.0, 10, 16)
    with pytest.raises(ValueError, match="beta must be in"):
        SantaFe.from_beta(float("nan"), 10, 16)
    with pytest.raises(TypeError, match="beta"):
        SantaFe.from_beta(None, 10, 16)
    assert SantaFe(2.0, 10.0, 16).facts == 10  # an integral float is accepted


def test_bad_cuts_positions_and_lengths():
    s = SantaFe(2.0, 10, 16)
    for cut in (0, 16, -1):
        with pytest.raises(ValueError, match=r"cut must be in \[1, 15\]"):
            s.bipartite_mi(cut)
    with pytest.raises(ValueError, match=r"cut must be in \[1, 15\]"):
        s.bipartite_mi(np.array([1, 16]))
    with pytest.raises(TypeError, match="cut"):
        s.bipartite_mi(np.array([1.5]))
    with pytest.raises(ValueError, match="cut must be an integer"):
        s.bipartite_mi(float("nan"))
    with pytest.raises(ValueError, match=r"i must be in \[0, 15\]"):
        s.two_point_mi(16, 0)
    with pytest.raises(ValueError, match=r"j must be in \[0, 15\]"):
        s.two_point_mi(0, np.array([3, 20]))
    with pytest.raises(ValueError, match="length must be finite and >= 2"):
        s.beta_local(1.0)
    with pytest.raises(ValueError, match="length must be finite and >= 2"):
        s.beta_local(float("nan"))
    with pytest.raises(ValueError, match=r"n must be in \[1"):
        s.sample(0)
    with pytest.raises(TypeError, match="rng"):
        s.sample(2, rng="seed")


def test_bad_tokens():
    s = SantaFe(2.0, 3, 4)
    with pytest.raises(ValueError, match=r"tokens must be in \[0, 5\]"):
        s.log_prob(np.array([[0, 1, 6, 2]]))
    with pytest.raises(ValueError, match=r"tokens must be in \[0, 5\]"):
        s.conditional_probs(np.array([[0, -1, 2, 2]]))
    with pytest.raises(ValueError, match=r"tokens must have shape \(n, 4\)"):
        s.position_log_probs(np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(ValueError, match=r"tokens must have shape"):
        s.log_prob(np.zeros((1, 2, 4), dtype=np.int64))
    with pytest.raises(TypeError, match="tokens must be an integer array"):
        s.log_prob(np.array([[0.0, 1.0, np.nan, 2.0]]))
    with pytest.raises(TypeError, match="tokens must be an integer array"):
        s.conditional_probs(np.zeros((1, 4)))
