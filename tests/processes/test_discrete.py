"""Tests of ``l2m_sim.processes.discrete.HierarchicalDiscrete`` against brute-force enumeration.

The reference here is written from the construction, not from the library code: enumerate
every latent configuration (base rows and fresh symbols), build the sequence by the
plain recursive definition (copies as independent sub-sequences, each row the bijection of
(copies, fresh)), and weight it by the product of base and fresh probabilities. The law of
the whole sequence, all prefix/suffix marginals, pair laws, conditionals and mutual
informations then follow from that table. Sample-based checks use fixed seeds and
tolerances from standard errors or chi-square tests.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_sim.processes.discrete import (DEFAULT_NOISE, ENUM_MAX, TUPLES_MAX, HierarchicalDiscrete,
                              noisy_copy_base)
from l2m_sim.protocol import Process, TokenProcess

FAST = settings(max_examples=30, deadline=None, derandomize=True)


# ------------------------------------------------------------------------------------------
# Brute-force reference
# ------------------------------------------------------------------------------------------


def brute_force(p):
    """Exact law of every sequence of ``p`` by enumerating all latent configurations.

    Returns ``P`` with ``P[index(w)] = p(w)`` (C order, ``w_0`` most significant) and checks
    on the way that the latent -> sequence map is a bijection.
    """
    b, k, M, l = p.branching, p.copies, p.alphabet, p.levels
    L = b**l
    nbase = k ** (l - 1)
    nz = M**L
    z = np.arange(nz, dtype=np.int64)
    # latent digits: nbase base rows (b digits each), then fresh symbols; L digits in all
    lat = [(z // M ** (L - 1 - d)) % M for d in range(L)]
    base = np.asarray(p.base)
    fresh = np.asarray(p.fresh)
    perm = np.asarray(p.bijection)
    prob = np.ones(nz)
    cursor = {"base": 0, "fresh": nbase * b}

    def take_base():
        i0 = cursor["base"]
        cursor["base"] += b
        row = lat[i0:i0 + b]
        prob[:] *= base[tuple(row)]
        return list(row)

    def take_fresh():
        i0 = cursor["fresh"]
        cursor["fresh"] += 1
        prob[:] *= fresh[lat[i0]]
        return lat[i0]

    def build(t):
        if t == 1:
            return take_base()
        copies = [build(t - 1) for _ in range(k)]
        out = []
        for r in range(b ** (t - 1)):
            u = np.zeros(nz, dtype=np.int64)
            for m in range(k):
                u = u * M + copies[m][r]
            for _ in range(b - k):
                u = u * M + take_fresh()
            v = perm[u]
            out.extend((v // M ** (b - 1 - i)) % M for i in range(b))
        return out

    seq = build(l)
    assert cursor["base"] == nbase * b and cursor["fresh"] == L
    idx = np.zeros(nz, dtype=np.int64)
    for s in seq:
        idx = idx * M + s
    assert np.unique(idx).size == nz  # the construction is a bijection of A^L
    P = np.zeros(nz)
    P[idx] = prob
    return P


def all_sequences(M, L):
    z = np.arange(M**L, dtype=np.int64)
    return np.stack([(z // M ** (L - 1 - d)) % M for d in range(L)], axis=1)


def table_mi(P2):
    px, py = P2.sum(1), P2.sum(0)
    m = P2 > 0
    return float(np.sum(P2[m] * np.log(P2[m] / np.multiply.outer(px, py)[m])))


def pair_table(P, M, L, i, j):
    T = P.reshape((M,) * L)
    axes = tuple(a for a in range(L) if a not in (i, j))
    R = T.sum(axis=axes)
    return R if i < j else R.T


def entropy(P):
    P = P[P > 0]
    return float(-np.sum(P * np.log(P)))


# Small designs: (b, k, M, levels, kwargs). Each has at most 2**16 sequences.
SMALL = [
    (2, 1, 2, 3, {}),
    (2, 1, 2, 4, {}),
    (3, 2, 2, 2, {}),
    (3, 1, 2, 2, {"noise": 0.4, "seed": 3}),
    (2, 1, 3, 2, {"seed": 7}),
    (4, 3, 2, 2, {}),
    (4, 2, 2, 2, {"seed": 11}),
]
IDS = [f"b{b}k{k}M{M}l{lv}" + ("_" + "_".join(f"{a}{v}" for a, v in kw.items()) if kw else "")
       for b, k, M, lv, kw in SMALL]


def _custom(seed=0):
    """A design with a random base table, a non-uniform fresh law and a custom permutation."""
    rng = np.random.default_rng(seed)
    b, M = 3, 2
    base = rng.random((M,) * b) ** 2
    base /= base.sum()
    fresh = np.array([0.7, 0.3])
    perm = rng.permutation(M**b)
    return HierarchicalDiscrete(b, 2, 2, M, base=base, fresh=fresh, bijection=perm)


_CACHE = {}


def case(param):
    key = str(param)
    if key not in _CACHE:
        if param == "custom":
            p = _custom()
        elif param == "identity":
            p = HierarchicalDiscrete(3, 2, 2, 2, bijection="identity", fresh=[0.2, 0.8])
        else:
            b, k, M, lv, kw = param
            p = HierarchicalDiscrete(b, k, lv, M, **kw)
        _CACHE[key] = (p, brute_force(p))
    return _CACHE[key]


ALL = SMALL + ["custom", "identity"]
ALL_IDS = IDS + ["custom", "identity"]


# ------------------------------------------------------------------------------------------
# Exact quantities against enumeration
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("param", ALL, ids=ALL_IDS)
def test_log_prob_matches_enumeration(param):
    p, P = case(param)
    W = all_sequences(p.alphabet, p.length)
    lp = p.log_prob(W)
    assert lp.shape == (W.shape[0],)
    np.testing.assert_allclose(np.exp(lp), P, rtol=1e-12, atol=1e-300)
    assert abs(np.exp(lp).sum() - 1.0) < 1e-12
    assert p.log_prob(W[5]) == pytest.approx(lp[5], rel=1e-14)  # 1-D input -> float


@pytest.mark.parametrize("param", ALL, ids=ALL_IDS)
def test_conditional_probs_match_enumeration(param):
    p, P = case(param)
    M, L = p.alphabet, p.length
    W = all_sequences(M, L)
    sel = np.random.default_rng(0).choice(W.shape[0], size=min(W.shape[0], 600), replace=False)
    Ws = W[sel]
    C = p.conditional_probs(Ws)
    assert C.shape == (len(sel), L, M)
    pref = [P.reshape(M**t, -1).sum(axis=1) for t in range(L + 1)]
    ref = np.empty_like(C)
    pre = np.zeros(len(sel), dtype=np.int64)
    for t in range(L):
        num = pref[t + 1].reshape(-1, M)[pre]  # (n, M)
        ref[:, t, :] = num / pref[t][pre][:, None]
        pre = pre * M + Ws[:, t]
    np.testing.assert_allclose(C, ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(C.sum(axis=2), 1.0, rtol=1e-12)
    # chain rule: log_prob = sum of log conditionals; position_log_probs gathers them
    lc = np.log(np.take_along_axis(C, Ws[:, :, None], axis=2)[..., 0])
    np.testing.assert_allclose(p.position_log_probs(Ws), lc, rtol=1e-12)
    np.testing.assert_allclose(lc.sum(axis=1), p.log_prob(Ws), rtol=1e-11)
    np.testing.assert_allclose(p.conditional_probs(Ws[0]), C[0], rtol=0, atol=0)


@pytest.mark.parametrize("param", ALL, ids=ALL_IDS)
def test_bipartite_mi_all_cuts(param):
    p, P = case(param)
    M, L = p.alphabet, p.length
    ref = np.array([table_mi(P.reshape(M**c, -1)) for c in range(1, L)])
    got = p.bipartite_mi(np.arange(1, L))
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert p.bipartite_mi() == pytest.approx(ref[L // 2 - 1], rel=1e-10, abs=1e-12)
    # every cut of these small designs is supported
    np.testing.assert_array_equal(p.supported_cuts(), np.arange(1, L))


@pytest.mark.parametrize("param", ALL, ids=ALL_IDS)
def test_two_point_mi_and_pair_laws(param):
    p, P = case(param)
    M, L = p.alphabet, p.length
    T = P.reshape((M,) * L)
    for i in range(L):
        mu = T.sum(axis=tuple(a for a in range(L) if a != i))
        np.testing.assert_allclose(p.marginal(i), mu, rtol=1e-11, atol=1e-15)
        assert p.two_point_mi(i, i) == pytest.approx(entropy(mu), rel=1e-12)
        np.testing.assert_allclose(p.pair_law(i, i), np.diag(mu), rtol=1e-11, atol=1e-15)
    pairs = [(i, j) for i in range(L) for j in range(L) if i != j]
    if len(pairs) > 60:
        pairs = [pairs[s] for s in np.random.default_rng(1).choice(len(pairs), 60, replace=False)]
    for i, j in pairs:
        R = pair_table(P, M, L, i, j)
        np.testing.assert_allclose(p.pair_law(i, j), R, rtol=1e-10, atol=1e-15)
        assert p.two_point_mi(i, j) == pytest.approx(table_mi(R), rel=1e-9, abs=1e-13)
    ii = np.array([pp[0] for pp in pairs])
    jj = np.array([pp[1] for pp in pairs])
    np.testing.assert_allclose(p.two_point_mi(ii, jj),
                               [p.two_point_mi(int(a), int(c)) for a, c in zip(ii, jj)], rtol=0)


@pytest.mark.parametrize("param", ALL, ids=ALL_IDS)
def test_entropy_matches_enumeration(param):
    p, P = case(param)
    assert p.entropy() == pytest.approx(entropy(P), rel=1e-12)


@pytest.mark.parametrize("param", ALL, ids=ALL_IDS)
def test_reversed_is_time_reversal(param):
    p, P = case(param)
    W = all_sequences(p.alphabet, p.length)
    r = p.reversed()
    np.testing.assert_allclose(r.log_prob(np.ascontiguousarray(W[:, ::-1])), p.log_prob(W),
                               rtol=1e-12)


def test_brute_force_reference_detects_a_wrong_law():
    """The reference is sensitive: a different bijection gives a different law."""
    p, P = case(SMALL[0])
    q = HierarchicalDiscrete(2, 1, 3, 2, seed=1)
    assert not np.array_equal(p.bijection, q.bijection)
    assert np.max(np.abs(brute_force(q) - P)) > 1e-3


# ------------------------------------------------------------------------------------------
# The recursion I_t = k I_{t-1} and the closed forms
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("b,k,M", [(2, 1, 2), (4, 3, 2), (4, 2, 3), (6, 5, 2), (4, 1, 4)])
def test_bipartite_ratio_is_k(b, k, M):
    vals = [HierarchicalDiscrete(b, k, lv, M).bipartite_mi() for lv in range(1, 7)]
    I1 = HierarchicalDiscrete(b, k, 1, M).base_mi()
    assert I1 > 0
    for lv, v in enumerate(vals, start=1):
        assert v == pytest.approx(k ** (lv - 1) * I1, rel=1e-12)
    ratios = np.array(vals[1:]) / np.array(vals[:-1])
    np.testing.assert_allclose(ratios, k, rtol=1e-12)
    p = HierarchicalDiscrete(b, k, 6, M)
    assert p.beta == pytest.approx(math.log(k) / math.log(b), rel=1e-15)


def test_default_base_closed_form():
    for b in (2, 3, 4, 5, 6):
        for M in (2, 3):
            if M**b > TUPLES_MAX:
                continue
            for eps in (0.0, 0.1, DEFAULT_NOISE, 0.9):
                T = noisy_copy_base(b, M, eps)
                assert T.shape == (M,) * b and abs(T.sum() - 1) < 1e-14
                a, e = 1 - eps + eps / M, eps / M
                ipair = math.log(M) + a * math.log(a) + (M - 1) * (e * math.log(e) if e > 0 else 0)
                p = HierarchicalDiscrete(b, 1, 1, M, noise=eps)
                h = b // 2
                for j in range(1, b):
                    nj = sum(1 for i in range(h) if i < j <= i + b - h)
                    assert p.base_mi(j) == pytest.approx(nj * ipair, rel=1e-11, abs=1e-14)


def test_recursion_checked_by_enumeration():
    """Closed-form cuts of a level-3 design equal a brute-force computation (L = 8, 27)."""
    for b, k in ((2, 1), (3, 2)):
        p = HierarchicalDiscrete(b, k, 3, 2, seed=5)
        if 2 ** p.length > 2**16:
            sub = p.sublevel(2)
            P = brute_force(sub)
            # level 3 at cut j b^2 = k^2 I_1(j); at cut c b = k I_2(c): check via level 2 table
            for c in range(1, sub.length):
                ref = table_mi(P.reshape(2**c, -1))
                assert p.bipartite_mi(c * b) == pytest.approx(k * ref, rel=1e-10, abs=1e-12)
        else:
            P = brute_force(p)
            for c in range(1, p.length):
                assert p.bipartite_mi(c) == pytest.approx(table_mi(P.reshape(2**c, -1)),
                                                          rel=1e-10, abs=1e-12)


def test_unsupported_cut_raises_and_mc_estimate():
    p = HierarchicalDiscrete(4, 3, 4, 2)  # L = 256; level 3 (64 positions) is not enumerable
    cuts = p.supported_cuts()
    np.testing.assert_array_equal(cuts, np.arange(16, 256, 16))  # level 2 has 2**16 sequences
    with pytest.raises(ValueError, match="cut"):
        p.bipartite_mi(33)
    assert p.bipartite_mi(64) == pytest.approx(27 * p.base_mi(1), rel=1e-12)
    assert p.bipartite_mi(128) == pytest.approx(27 * p.base_mi(2), rel=1e-12)
    assert p.bipartite_mi(192) == pytest.approx(27 * p.base_mi(3), rel=1e-12)
    # Monte-Carlo from exact log-probabilities agrees with the exact values (4 standard errors)
    test_cuts = np.array([16, 64, 128, 160])
    est, se = p.bipartite_mi_mc(test_cuts, n=400, rng=0)
    exact = p.bipartite_mi(test_cuts)
    assert np.all(se > 0)
    assert np.all(np.abs(est - exact) < 4 * se + 1e-9), (est, exact, se)
    e1, s1 = p.bipartite_mi_mc(None, n=50, rng=3)
    assert isinstance(e1, float) and isinstance(s1, float)


def test_bipartite_mi_mc_matches_enumeration_inside_a_row():
    p, P = case(SMALL[2])  # b=3, k=2, L=9: cut 4 is inside a row
    ref = table_mi(P.reshape(2**4, -1))
    est, se = p.bipartite_mi_mc(4, n=4000, rng=1)
    assert abs(est - ref) < 4 * se


def test_odd_branching_middle_cut_needs_enumeration():
    p = HierarchicalDiscrete(3, 2, 4, 2)  # L = 81, middle cut 40 is inside a row
    with pytest.raises(ValueError, match="multiples of"):
        p.bipartite_mi()
    assert p.bipartite_mi(27) == pytest.approx(8 * p.base_mi(1), rel=1e-12)
    assert p.bipartite_mi(54) == pytest.approx(8 * p.base_mi(2), rel=1e-12)


def test_entropy_closed_form_large():
    for b, k, M, lv in ((4, 3, 2, 6), (3, 1, 3, 5)):
        p = HierarchicalDiscrete(b, k, lv, M)
        L = b**lv
        hb = -np.sum(p.base * np.log(p.base))
        assert p.entropy() == pytest.approx(L * math.log(M) - k ** (lv - 1) * (b * math.log(M) - hb),
                                            rel=1e-13)
        x = p.sample(400, rng=2)
        lp = -p.log_prob(x)
        assert abs(lp.mean() - p.entropy()) < 5 * lp.std() / math.sqrt(len(lp))


# ------------------------------------------------------------------------------------------
# Sampling
# ------------------------------------------------------------------------------------------


def test_sampler_law_full_distribution():
    p, P = case(SMALL[0])  # 256 sequences
    n = 100_000
    x = p.sample(n, rng=123)
    idx = (x * (2 ** np.arange(p.length - 1, -1, -1))).sum(axis=1)
    counts = np.bincount(idx, minlength=P.size)
    keep = P > 0
    assert counts[~keep].sum() == 0
    chi = scipy.stats.chisquare(counts[keep], n * P[keep])
    assert chi.pvalue > 1e-4


def test_sampler_law_custom_design():
    p, P = case("custom")  # non-uniform fresh, random base, custom permutation, L = 9
    n = 100_000
    x = p.sample(n, rng=5)
    idx = (x * (2 ** np.arange(p.length - 1, -1, -1))).sum(axis=1)
    counts = np.bincount(idx, minlength=P.size)
    expected = n * P
    big = expected > 5
    chi = scipy.stats.chisquare(np.append(counts[big], counts[~big].sum()),
                                np.append(expected[big], expected[~big].sum()))
    assert chi.pvalue > 1e-4


def test_sampler_marginals_and_pairs_large():
    p = HierarchicalDiscrete(4, 3, 4, 3, seed=2, fresh=[0.5, 0.3, 0.2])
    n = 20_000
    x = p.sample(n, rng=9)
    assert x.dtype == np.int64 and x.shape == (n, 256)
    assert x.min() >= 0 and x.max() <= 2
    for i in (0, 17, 128, 255):
        mu = p.marginal(i)
        f = np.bincount(x[:, i], minlength=3) / n
        assert np.all(np.abs(f - mu) < 5 * np.sqrt(mu * (1 - mu) / n) + 1e-12)
    for i, j in ((0, 1), (0, 255), (5, 6), (63, 64), (100, 200)):
        R = p.pair_law(i, j)
        f = np.bincount(x[:, i] * 3 + x[:, j], minlength=9).reshape(3, 3) / n
        assert np.all(np.abs(f - R) < 5 * np.sqrt(R * (1 - R) / n) + 1e-12)


def test_sampler_matches_numpy_reference():
    for b, k, M, lv, kw in SMALL + [(4, 3, 3, 4, {"fresh": [0.1, 0.6, 0.3]}), (5, 2, 2, 3, {})]:
        p = HierarchicalDiscrete(b, k, lv, M, **kw)
        np.testing.assert_array_equal(p.sample(7, rng=4), p._sample_numpy(7, rng=4))


def test_reproducibility():
    p = HierarchicalDiscrete(4, 3, 5, 2)
    a = p.sample(6, rng=42)
    np.testing.assert_array_equal(a, p.sample(6, rng=42))
    np.testing.assert_array_equal(a, p.sample(6, rng=np.random.default_rng(42)))
    assert not np.array_equal(a, p.sample(6, rng=43))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        b1 = p.sample(6, rng=42)
        c1 = p.conditional_probs(a)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a, b1)
    np.testing.assert_array_equal(c1, p.conditional_probs(a))
    # the default random bijection is a function of the seed
    np.testing.assert_array_equal(HierarchicalDiscrete(4, 3, 2, 2).bijection, p.bijection)
    assert not np.array_equal(HierarchicalDiscrete(4, 3, 2, 2, seed=1).bijection, p.bijection)


def test_sublevel_consistency():
    p = HierarchicalDiscrete(4, 3, 5, 2)
    for t in range(1, 5):
        s = p.sublevel(t)
        assert s.length == 4**t
        assert s.bipartite_mi() == pytest.approx(3 ** (t - 1) * p.base_mi(), rel=1e-12)


# ------------------------------------------------------------------------------------------
# Larger designs: conditionals consistent, zero-probability handling, big tuple tables
# ------------------------------------------------------------------------------------------


def test_conditionals_consistent_large():
    p = HierarchicalDiscrete(4, 3, 5, 2)
    x = p.sample(8, rng=1)
    C = p.conditional_probs(x)
    np.testing.assert_allclose(C.sum(axis=2), 1.0, rtol=1e-12)
    lc = np.log(np.take_along_axis(C, x[:, :, None], axis=2)[..., 0])
    np.testing.assert_allclose(lc.sum(axis=1), p.log_prob(x), rtol=1e-11)


def test_large_tuple_table():
    p = HierarchicalDiscrete(4, 2, 2, 16)  # 16**4 = 2**16 tuples
    x = p.sample(3, rng=0)
    lc = p.position_log_probs(x)
    np.testing.assert_allclose(lc.sum(axis=1), p.log_prob(x), rtol=1e-11)
    assert p.bipartite_mi() == pytest.approx(2 * p.base_mi(), rel=1e-12)
    with pytest.raises(ValueError, match="alphabet\\*\\*branching"):
        HierarchicalDiscrete(4, 2, 2, 17)


def test_zero_probability_sequences():
    kinds = set()
    for bij in (None, "identity"):
        # noise = 0: exact copies, half the base rows impossible
        p = HierarchicalDiscrete(2, 1, 2, 2, noise=0.0, bijection=bij)
        P = brute_force(p)
        W = all_sequences(2, 4)
        lp = p.log_prob(W)
        np.testing.assert_array_equal(np.isneginf(lp), P == 0)
        np.testing.assert_allclose(np.exp(lp), P, rtol=1e-12)
        C = p.conditional_probs(W[P > 0])
        assert np.all(np.isfinite(C))
        assert p.bipartite_mi() == pytest.approx(math.log(2), rel=1e-12)
        pref3 = P.reshape(8, 2).sum(axis=1)
        for w in W[P == 0]:
            if pref3[(w[:3] * [4, 2, 1]).sum()] > 0:
                # impossible only at its last token: every conditional is defined
                kinds.add("last")
                Cl = p.conditional_probs(w)
                assert Cl[3, w[3]] == 0.0 and np.all(np.isfinite(Cl))
                assert np.isneginf(p.position_log_probs(w)[3])
            else:
                kinds.add("prefix")
                with pytest.raises(ValueError, match="zero-probability prefix"):
                    p.conditional_probs(w)
    assert kinds == {"last", "prefix"}


def test_protocol_and_repr():
    p = HierarchicalDiscrete(4, 3, 3, 2)
    assert isinstance(p, Process) and isinstance(p, TokenProcess)
    assert p.vocab_size == 2 and p.channels == 1 and p.length == 64
    assert "HierarchicalDiscrete(branching=4" in repr(p)
    assert p.base.flags.writeable is False and p.bijection.flags.writeable is False


# ------------------------------------------------------------------------------------------
# Bad input (hypothesis)
# ------------------------------------------------------------------------------------------


@FAST
@given(b=st.integers(2, 16), extra=st.integers(0, 50))
def test_copies_at_least_branching(b, extra):
    with pytest.raises(ValueError, match="copies"):
        HierarchicalDiscrete(b, b + extra, 1, 2)


@FAST
@given(k=st.integers(-50, 0))
def test_copies_below_one(k):
    with pytest.raises(ValueError, match="copies"):
        HierarchicalDiscrete(4, k, 1, 2)


@FAST
@given(b=st.integers(-100, 1))
def test_branching_below_two(b):
    with pytest.raises(ValueError, match="branching"):
        HierarchicalDiscrete(b, 1, 1, 2)


@FAST
@given(M=st.integers(-100, 1))
def test_alphabet_below_two(M):
    with pytest.raises(ValueError, match="alphabet"):
        HierarchicalDiscrete(4, 3, 1, M)


@FAST
@given(lv=st.one_of(st.integers(-100, 0), st.integers(16, 1000)))
def test_levels_out_of_range(lv):
    with pytest.raises(ValueError, match="levels"):
        HierarchicalDiscrete(4, 3, lv, 2)


@FAST
@given(noise=st.one_of(st.floats(-10, -1e-9), st.floats(1.0, 10), st.just(float("nan")),
                       st.just(float("inf"))))
def test_noise_out_of_range(noise):
    with pytest.raises(ValueError, match="noise"):
        HierarchicalDiscrete(4, 3, 2, 2, noise=noise)


@FAST
@given(seed=st.integers(0, 2**31), which=st.sampled_from(["neg", "sum", "nan", "shape", "indep"]))
def test_base_not_a_distribution(seed, which):
    rng = np.random.default_rng(seed)
    base = rng.random((2, 2, 2, 2)) + 0.01
    base /= base.sum()
    if which == "neg":
        base[0, 1, 0, 1] = -0.05
    elif which == "sum":
        base = base * 1.1
    elif which == "nan":
        base[1, 1, 1, 1] = np.nan
    elif which == "shape":
        base = base.reshape(4, 4)
    else:  # a product law: I_1(j) = 0 at every cut
        m = [base.sum(axis=tuple(a for a in range(4) if a != i)) for i in range(4)]
        base = np.multiply.outer(np.multiply.outer(m[0], m[1]), np.multiply.outer(m[2], m[3]))
    with pytest.raises(ValueError, match="base"):
        HierarchicalDiscrete(4, 3, 2, 2, base=base)


@FAST
@given(fresh=st.lists(st.one_of(st.floats(-1, 2), st.just(float("nan")), st.just(0.5)),
                      min_size=1, max_size=4))
def test_fresh_not_a_distribution(fresh):
    arr = np.array(fresh)
    ok = arr.shape == (2,) and np.all(np.isfinite(arr)) and np.all(arr >= 0) and abs(arr.sum() - 1) <= 1e-9
    if ok:
        HierarchicalDiscrete(4, 3, 2, 2, fresh=fresh)
    else:
        with pytest.raises(ValueError, match="fresh"):
            HierarchicalDiscrete(4, 3, 2, 2, fresh=fresh)


@FAST
@given(seed=st.integers(0, 1000), which=st.sampled_from(["dup", "range", "len", "float"]))
def test_bijection_not_a_permutation(seed, which):
    perm = np.random.default_rng(seed).permutation(16)
    err = ValueError
    if which == "dup":
        perm[3] = perm[4]
    elif which == "range":
        perm[0] = 16
    elif which == "len":
        perm = perm[:-1]
    else:
        perm = perm.astype(float)
        err = TypeError
    with pytest.raises(err, match="bijection"):
        HierarchicalDiscrete(4, 3, 2, 2, bijection=perm)


@FAST
@given(cut=st.one_of(st.integers(-1000, 0), st.integers(64, 10**6)))
def test_cut_out_of_range(cut):
    p = HierarchicalDiscrete(4, 3, 3, 2)
    with pytest.raises(ValueError, match="cut"):
        p.bipartite_mi(cut)
    with pytest.raises(ValueError, match="cut"):
        p.bipartite_mi_mc(cut, n=2)


@FAST
@given(i=st.one_of(st.integers(-100, -1), st.integers(64, 1000)))
def test_position_out_of_range(i):
    p = HierarchicalDiscrete(4, 3, 3, 2)
    with pytest.raises(ValueError, match=r"\bi must"):
        p.two_point_mi(i, 0)
    with pytest.raises(ValueError, match=r"\bj must"):
        p.two_point_mi(0, i)


@FAST
@given(bad=st.one_of(st.integers(-100, -1), st.integers(2, 100)), pos=st.integers(0, 63))
def test_tokens_out_of_range(bad, pos):
    p = HierarchicalDiscrete(4, 3, 3, 2)
    x = p.sample(2, rng=0)
    x[1, pos] = bad
    for fn in (p.conditional_probs, p.log_prob, p.position_log_probs):
        with pytest.raises(ValueError, match="tokens"):
            fn(x)


@FAST
@given(shape=st.sampled_from([(63,), (65,), (2, 63), (2, 64, 1), (0, 64), ()]))
def test_tokens_wrong_shape(shape):
    p = HierarchicalDiscrete(4, 3, 3, 2)
    with pytest.raises(ValueError, match="tokens"):
        p.conditional_probs(np.zeros(shape, dtype=np.int64))
    with pytest.raises(ValueError, match="tokens"):
        p.log_prob(np.zeros(shape, dtype=np.int64))


def test_tokens_wrong_dtype_and_other_types():
    p = HierarchicalDiscrete(4, 3, 3, 2)
    with pytest.raises(TypeError, match="tokens"):
        p.log_prob(np.zeros((2, 64)))
    with pytest.raises(TypeError, match="tokens"):
        p.conditional_probs(np.full((1, 64), "a"))
    with pytest.raises(TypeError, match="branching"):
        HierarchicalDiscrete("4", 3, 2, 2)
    with pytest.raises(ValueError, match="n must"):
        p.sample(0)
    with pytest.raises(TypeError, match="rng"):
        p.sample(2, rng="x")
    with pytest.raises(ValueError, match="base or noise"):
        HierarchicalDiscrete(4, 3, 2, 2, base=noisy_copy_base(4, 2), noise=0.1)
    with pytest.raises(ValueError, match="bijection"):
        HierarchicalDiscrete(4, 3, 2, 2, bijection="shuffle")
    with pytest.raises(TypeError, match="cut"):
        p.bipartite_mi(np.array([1.5, 2.0]))
    assert ENUM_MAX >= 2**16
