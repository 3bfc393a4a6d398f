"""The process contract: every family of the registry implements :class:`l2m_sim.Process`
the same way, and its exact values equal an independent dense or brute-force reference.

One small process per family (plus a few variants: channels, coupling, a chain with a
non-stationary start) is checked for

* the protocol (``isinstance``) and the signatures of its members;
* return types and shapes of ``sample``, ``bipartite_mi``, ``two_point_mi``,
  ``position_log_probs``, ``log_prob``, ``exponents``;
* the exact values, in nats, against references that share no code with the families:
  for Gaussian processes a dense log-determinant of the covariance and the multivariate
  normal density; for token processes the joint law enumerated over all ``M**L`` sequences;
* ``reversed()``: the same law read backwards (equal log-probabilities of reversed
  sequences, equal ``I_BP`` at the mirrored cut);
* the one Monte-Carlo path (``bipartite_mi_mc``) against the exact value.
"""

from __future__ import annotations

import inspect
import itertools
import math

import numpy as np
import pytest
import scipy.stats

import l2m_sim
from l2m_sim.protocol import (
    Exponents,
    GaussianProcess,
    Process,
    TokenProcess,
    bipartite_mi_estimate,
    bipartite_mi_mc,
)
from l2m_sim.registry import families

# One small instance per registered family (token laws small enough to enumerate).
SMALL = {
    "hierarchical": "hierarchical:levels=2",
    "subvolume": "subvolume:levels=2",
    "log": "log:levels=2,coupling=0.5",
    "ar1": "ar1:phi=0.8,length=8",
    "arma": "arma:length=8",
    "fgn": "fgn:hurst=0.8,length=8",
    "markov-binary": "markov-binary:flip=0.2,length=8",
    "markov-two-state": "markov-two-state:length=8",
    "all-equal": "all-equal:vocab=3,length=6",
    "tree": "tree:levels=3,vocab=2,flip=0.2",
    "discrete-subvolume": "discrete-subvolume:levels=2",
    "santa-fe": "santa-fe:facts=3,length=6",
    "santa-fe-drift": "santa-fe-drift:facts=3,length=6",
}
VARIANTS = {
    "hierarchical-channels": "hierarchical:levels=2,channels=2",
    "subvolume-coupled": "subvolume:levels=2,coupling=0.3",
    "chain-nonstationary": lambda: l2m_sim.MarkovChain([[0.7, 0.3], [0.4, 0.6]], 7,
                                                       initial=[1.0, 0.0]),
    "chain-three-state": lambda: l2m_sim.MarkovChain(
        [[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], 6, initial=[0.2, 0.5, 0.3]),
}
CASES = {**SMALL, **VARIANTS}


def test_every_registered_family_has_a_case():
    assert set(SMALL) == set(families())


def build(name):
    spec = CASES[name]
    return spec() if callable(spec) else l2m_sim.make_process(spec)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    return request.param, build(request.param)


def is_gaussian(p):
    return isinstance(p, GaussianProcess)


# ------------------------------------------------------------------------------ references


def dense_bipartite(p, c):
    """``C/2 (ln det S_XX + ln det S_YY - ln det S)`` from the dense covariance."""
    S = p.covariance()
    ld = lambda A: np.linalg.slogdet(A)[1]  # noqa: E731
    return 0.5 * p.channels * (ld(S[:c, :c]) + ld(S[c:, c:]) - ld(S))


def dense_log_density(p, x):
    """Multivariate normal log-density of each sequence, summed over channels."""
    S = p.covariance()
    mvn = scipy.stats.multivariate_normal(np.zeros(p.length), S)
    if x.ndim == 2:
        return mvn.logpdf(x)
    return sum(mvn.logpdf(x[:, :, ch]) for ch in range(x.shape[2]))


_TABLES = {}


def joint_table(name, p):
    """The exact law of every token sequence, shape ``(M,) * L``, from ``log_prob``."""
    if name not in _TABLES:
        M, L = p.vocab_size, p.length
        seqs = np.array(list(itertools.product(range(M), repeat=L)), dtype=np.int64)
        P = np.exp(p.log_prob(seqs)).reshape((M,) * L)
        _TABLES[name] = P
    return _TABLES[name]


def table_mi(P2):
    px, py = P2.sum(axis=1), P2.sum(axis=0)
    m = P2 > 0
    return float(np.sum(P2[m] * np.log(P2[m] / np.outer(px, py)[m])))


def enumerated_bipartite(P, c):
    M, L = P.shape[0], P.ndim
    return table_mi(P.reshape(M**c, M ** (L - c)))


def enumerated_two_point(P, i, j):
    axes = tuple(a for a in range(P.ndim) if a not in (i, j))
    return table_mi(P.sum(axis=axes))


def enumerate_is_a_law(name, p):
    """Brute force from log_prob is a reference only if log_prob sums to 1 over all
    sequences and its marginals are those of sampling (checked here)."""
    P = joint_table(name, p)
    assert P.sum() == pytest.approx(1.0, abs=1e-12)
    return P


# ------------------------------------------------------------------------------ the protocol


PROTOCOL_MEMBERS = {
    "sample": ["n", "rng"],
    "bipartite_mi": ["cut"],
    "bipartite_mi_estimate": ["cut", "n", "rng"],
    "bipartite_mi_mc": ["cut", "n", "rng"],
    "two_point_mi": ["i", "j"],
    "position_log_probs": [None],
    "log_prob": [None],
    "reversed": [],
    "exponents": [],
}


def test_protocol_isinstance(case):
    name, p = case
    assert isinstance(p, Process)
    assert isinstance(p.length, int) and isinstance(p.channels, int) and p.channels >= 1
    if is_gaussian(p):
        assert not isinstance(p, TokenProcess)
    else:
        assert isinstance(p, TokenProcess) and not isinstance(p, GaussianProcess)
        assert isinstance(p.vocab_size, int) and p.channels == 1
    if name in SMALL:
        kind = families()[name].kind
        assert (kind == "gaussian") == is_gaussian(p)


def test_member_signatures(case):
    """Same names, same leading parameters (extra trailing options are allowed)."""
    _, p = case
    for member, params in PROTOCOL_MEMBERS.items():
        sig = inspect.signature(getattr(p, member))
        names = list(sig.parameters)[: len(params)]
        assert len(names) == len(params), (member, names)
        for want, got in zip(params, names):
            assert want is None or want == got, (member, names)
        # every parameter beyond the protocol's has a default
        for extra in list(sig.parameters.values())[len(params):]:
            assert extra.default is not inspect.Parameter.empty or extra.kind in (
                inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD), (member, extra)


def test_sample_shapes_types_and_seeds(case):
    _, p = case
    w = p.sample(5, rng=3)
    want = (5, p.length) if p.channels == 1 else (5, p.length, p.channels)
    assert w.shape == want
    assert w.dtype == (np.float64 if is_gaussian(p) else np.int64)
    np.testing.assert_array_equal(w, p.sample(5, rng=3))
    if not is_gaussian(p):
        assert w.min() >= 0 and w.max() < p.vocab_size


def test_return_types(case):
    _, p = case
    L = p.length
    assert isinstance(p.bipartite_mi(), float)
    cuts = np.array([1, L // 2, L - 1])
    arr = p.bipartite_mi(cuts)
    assert isinstance(arr, np.ndarray) and arr.shape == (3,)
    np.testing.assert_allclose(arr, [p.bipartite_mi(int(c)) for c in cuts], rtol=1e-12, atol=1e-15)
    assert all(v >= 0 for v in arr)
    assert isinstance(p.two_point_mi(0, L - 1), float)
    tp = p.two_point_mi(np.arange(L), L - 1)
    assert isinstance(tp, np.ndarray) and tp.shape == (L,)
    w = p.sample(4, rng=0)
    lp = p.position_log_probs(w)
    assert lp.shape == (4, L) and lp.dtype == np.float64
    assert p.position_log_probs(w[0]).shape == (L,)
    assert p.log_prob(w).shape == (4,)
    assert isinstance(p.log_prob(w[0]), float)
    value, se = p.bipartite_mi_estimate()
    assert isinstance(value, float) and se == 0.0 and value == p.bipartite_mi()
    e = p.exponents()
    assert type(e) is Exponents
    assert e.growth in ("power", "log", "constant")
    assert isinstance(e.beta, float) and isinstance(e.alpha, float) and e.beta >= 0
    assert isinstance(p.reversed(), Process)


def test_position_log_probs_sum_to_the_joint(case):
    _, p = case
    w = p.sample(6, rng=1)
    lp = p.position_log_probs(w)
    np.testing.assert_allclose(lp.sum(axis=1), p.log_prob(w), rtol=1e-12, atol=1e-12)
    if is_gaussian(p):  # against the dense multivariate normal density
        np.testing.assert_allclose(p.log_prob(w), dense_log_density(p, w), rtol=1e-9)
    if isinstance(p, TokenProcess):  # against the exact conditionals
        probs = p.conditional_probs(w)
        picked = np.take_along_axis(probs, w[..., None], axis=-1)[..., 0]
        np.testing.assert_allclose(np.exp(lp), picked, rtol=1e-12, atol=1e-15)


def test_bipartite_and_two_point_equal_the_reference(case):
    """Exact values in nats against a dense log-det / full enumeration, at every cut."""
    name, p = case
    L = p.length
    cuts = range(1, L)
    if is_gaussian(p):
        ref_bp = [dense_bipartite(p, c) for c in cuts]
        S = p.covariance()
        sd = np.sqrt(np.diag(S))
        R = S / np.outer(sd, sd)
        ref_tp = [-0.5 * p.channels * math.log1p(-R[0, j] ** 2) for j in range(1, L)]
    else:
        P = enumerate_is_a_law(name, p)
        ref_bp = [enumerated_bipartite(P, c) for c in cuts]
        ref_tp = [enumerated_two_point(P, 0, j) for j in range(1, L)]
        # the law of sampling is the enumerated one (a coarse check of the marginal of W_0)
        w = p.sample(4000, rng=7)
        freq = np.bincount(w[:, 0], minlength=p.vocab_size) / 4000
        marg = P.reshape(p.vocab_size, -1).sum(axis=1)
        assert np.all(np.abs(freq - marg) < 5 * np.sqrt(marg * (1 - marg) / 4000) + 1e-12)
    exact = []
    for c in cuts:
        try:
            exact.append(p.bipartite_mi(c))
        except l2m_sim.protocol.NoExactValue:
            exact.append(np.nan)
    ok = np.isfinite(exact)
    assert ok[L // 2 - 1]  # the middle cut is always exact at these sizes
    np.testing.assert_allclose(np.array(exact)[ok], np.array(ref_bp)[ok], rtol=1e-9, atol=1e-12)
    got_tp = p.two_point_mi(np.zeros(L - 1, dtype=np.int64), np.arange(1, L))
    np.testing.assert_allclose(got_tp, ref_tp, rtol=1e-9, atol=1e-12)


def test_units_are_nats():
    assert l2m_sim.make_process("all-equal:vocab=3,length=6").bipartite_mi() == pytest.approx(
        math.log(3), rel=1e-12)
    assert l2m_sim.make_process("ar1:phi=0.6,length=5").bipartite_mi(2) == pytest.approx(
        -0.5 * math.log(1 - 0.36), rel=1e-12)


def test_reversed_is_the_law_read_backwards(case):
    _, p = case
    r = p.reversed()
    assert r.length == p.length and r.channels == p.channels
    L = p.length
    w = p.sample(8, rng=2)
    wr = np.ascontiguousarray(w[:, ::-1])
    np.testing.assert_allclose(r.log_prob(wr), p.log_prob(w), rtol=1e-10, atol=1e-10)
    for c in range(1, L):
        try:
            forward = p.bipartite_mi(c)
        except l2m_sim.protocol.NoExactValue:
            continue
        assert r.bipartite_mi(L - c) == pytest.approx(forward, rel=1e-9, abs=1e-12)
    assert r.two_point_mi(0, L - 1) == pytest.approx(p.two_point_mi(0, L - 1), rel=1e-9, abs=1e-12)


def test_monte_carlo_path_agrees_with_the_exact_value(case):
    _, p = case
    c = p.length // 2
    est, se = bipartite_mi_mc(p, c, n=3000, rng=11)
    exact = p.bipartite_mi(c)
    assert se > 0 or abs(est - exact) <= 1e-12  # a zero error bar only where exact
    assert abs(est - exact) <= 5 * se + 1e-12


def test_estimate_falls_back_to_monte_carlo_where_no_exact_value_exists():
    tree = l2m_sim.make_process("tree:levels=6,vocab=2,flip=0.2")  # 2**64 sequences
    with pytest.raises(l2m_sim.protocol.NoExactValue):
        tree.bipartite_mi()
    value, se = bipartite_mi_estimate(tree, n=500)
    assert se > 0 and 0 < value < math.log(2) + 5 * se
    # reproducible: the default seed is fixed
    assert bipartite_mi_estimate(tree, n=500) == (value, se)
    assert tree.bipartite_mi_estimate(n=500) == (value, se)


def test_nonstationary_chain_direct_estimate_is_exact():
    """Model-based direct estimation through the exact reversal (was a FloatingPointError
    for initial=[1, 0] and a biased 'fresh' marginal for other starts)."""
    from l2m_sim.estimators.model_based import direct_bipartite

    for initial in ([1.0, 0.0], [0.9, 0.1]):
        chain = l2m_sim.MarkovChain([[0.9, 0.1], [0.2, 0.8]], 64, initial=initial)
        w = chain.sample(4000, rng=0)
        est = direct_bipartite(chain, w)
        assert abs(est.value - chain.bipartite_mi()) <= 5 * est.se
