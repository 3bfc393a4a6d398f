"""The history-state experiment's pieces: the per-pair strength knob, the exact state order
and all-cut linear-state bound, StateCore (state set apart from width), the linear
reference learners and their exact optimum, the convergence rule, the StateJob cell."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import l2m_sim
from l2m_sim import HierarchicalGaussian, make_process
from l2m_sim.mixing import PAIR_MI_MAX, hadamard_mixing, level_pair_mi, pair_mi_weights
from l2m_sim.models import (
    CausalLinear,
    CausalLinearConfig,
    LinearState,
    LinearStateConfig,
    StateCore,
    StateCoreConfig,
)
from l2m_sim.models.linear import expected_kl, fit_exact, realize
from l2m_sim.models.statecore import gated_scan, gated_scan_reference
from l2m_sim.training import is_converged
from l2m_sim.yardsticks import (
    dense_canonical_correlations,
    linear_state_block_bound,
    linear_state_bound,
    linear_state_kl,
    state_order,
)


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def dense_mi(S, c):
    """I(X; Y) across cut c from log-dets of the dense covariance (independent of the library)."""
    ld = lambda A: np.linalg.slogdet(A)[1]  # noqa: E731
    return 0.5 * (ld(S[:c, :c]) + ld(S[c:, c:]) - ld(S))


# ------------------------------------------------------------------------------ strength knob


@pytest.mark.parametrize("m", [0.05, 0.5, 1.62, 2.0, 3.0])
@pytest.mark.parametrize("levels", [1, 2, 3])
def test_pair_mi_sets_every_canonical_pair(m, levels):
    p = HierarchicalGaussian(4, 3, levels, pair_mi=m)
    sig = p.canonical_correlations()
    assert len(sig) == 3 ** (levels - 1)
    np.testing.assert_allclose(-0.5 * np.log1p(-sig**2), m, rtol=1e-9)
    S = p.covariance()
    assert p.bipartite_mi() == pytest.approx(dense_mi(S, p.length // 2), rel=1e-9)
    assert p.bipartite_mi() == pytest.approx(3 ** (levels - 1) * m, rel=1e-9)
    np.testing.assert_allclose(np.diag(S), 1.0, atol=1e-12)  # unit variances kept


def test_pair_mi_closed_form_b4_k3():
    """For b = 4, k = 3 the pair correlation is (r - 1) / (r + 1) at copy:fresh ratio r."""
    for m in (0.3, 1.0, 2.5):
        w = pair_mi_weights(4, 3, m)
        r = w[0] / w[3]
        rho = math.sqrt(-math.expm1(-2 * m))
        assert r == pytest.approx((1 + rho) / (1 - rho), rel=1e-9)
    # the study's ratio 5 carries 0.294 nats per pair
    assert level_pair_mi(hadamard_mixing(4, 3), 3) == pytest.approx(math.log(6 / (2 * math.sqrt(5))))


@pytest.mark.parametrize("b,k", [(2, 1), (3, 2), (8, 5)])
def test_pair_mi_other_designs_against_dense(b, k):
    p = HierarchicalGaussian(b, k, 2, pair_mi=1.3)
    top = -0.5 * np.log1p(-p.sublevel(1).canonical_correlations()[0] ** 2)
    assert top == pytest.approx(1.3, rel=1e-9)
    c = (b // 2) * b if b % 2 == 0 else p.length // 2
    assert p.bipartite_mi(c) == pytest.approx(dense_mi(p.covariance(), c), rel=1e-8, abs=1e-10)


def test_pair_mi_registry_and_repr():
    p = make_process("hierarchical:levels=3,pair_mi=1.5")
    assert p.pair_mi == 1.5 and "pair_mi=1.5" in repr(p)
    q = make_process("hierarchical:levels=3")
    assert q.pair_mi is None
    assert np.array_equal(q.schedule[0].mixing, hadamard_mixing(4, 3))
    fam = l2m_sim.families()["hierarchical"]
    assert fam.defaults["pair_mi"] == 0.0
    assert make_process(fam.id_at_length(64, pair_mi=2.0)).bipartite_mi() == pytest.approx(18.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, PAIR_MI_MAX * 1.01, float("nan"), float("inf")])
def test_pair_mi_bad_values(bad):
    with pytest.raises(ValueError, match="pair_mi"):
        HierarchicalGaussian(4, 3, 2, pair_mi=bad)


def test_pair_mi_bad_types_and_conflicts():
    with pytest.raises(TypeError, match="pair_mi"):
        HierarchicalGaussian(4, 3, 2, pair_mi="2")
    with pytest.raises(TypeError, match="pair_mi"):
        HierarchicalGaussian(4, 3, 2, pair_mi=True)
    with pytest.raises(ValueError, match="mixing or pair_mi"):
        HierarchicalGaussian(4, 3, 2, mixing="paper", pair_mi=1.0)


# ------------------------------------------------------------------------------ yardsticks


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_state_order_equals_dense_rank(levels):
    p = HierarchicalGaussian(4, 3, levels, pair_mi=2.0)
    S = p.covariance()
    L = p.length
    ranks = [np.linalg.matrix_rank(S[c:, :c], tol=1e-8) for c in range(1, L)]
    assert state_order(p) == max(ranks) == (3**levels - 1) // 2
    assert state_order(p, cuts=[L // 2]) == 3 ** (levels - 1)  # N(L) at the middle cut


def test_linear_state_bound_all_cuts():
    p = HierarchicalGaussian(4, 3, 2, pair_mi=1.0)
    L = p.length
    S = p.covariance()
    order = state_order(p)
    prev = math.inf
    for d in range(0, order + 2):
        b = linear_state_bound(p, d)
        assert b["total"] >= linear_state_kl(p, d)["total"] - 1e-12  # never below the middle cut
        assert b["total"] <= prev + 1e-12
        prev = b["total"]
        if d == 0:  # a state of 0 floats: the largest I_BP over cuts
            assert b["total"] == pytest.approx(max(dense_mi(S, c) for c in range(1, L)), rel=1e-9)
        assert b["per_token"] == pytest.approx(b["total"] / L)
    assert linear_state_bound(p, order)["total"] == 0.0
    assert linear_state_bound(p, order - 1)["total"] > 0.1


def _logdet(S):
    return np.linalg.slogdet(S)[1]


def test_block_bound_against_log_dets_and_learners():
    """The block bound: at d = 0 it is the sum over blocks of I(X_<c; X_B) (dense log-dets);
    it is never below the single-cut bound, is 0 from the state order on, and no linear
    state of d floats (the realisation, the L-BFGS fit) gets below it."""
    p = HierarchicalGaussian(4, 3, 3, pair_mi=2.0)
    S, L = p.covariance(), p.length
    for s in (4, 16):
        direct = sum(0.5 * (_logdet(S[:c, :c]) + _logdet(S[c:c + s, c:c + s])
                            - _logdet(S[:c + s, :c + s])) for c in range(s, L, s))
        got = linear_state_block_bound(p, 0, blocks=[s])
        assert got["total"] == pytest.approx(max(direct, linear_state_bound(p, 0)["total"]),
                                             rel=1e-9)
    assert linear_state_block_bound(p, 1)["per_token"] > 1.2 * linear_state_bound(p, 1)["per_token"]
    for d in (1, 2, 4, 8):
        b = linear_state_block_bound(p, d)["per_token"]
        assert b >= linear_state_bound(p, d)["per_token"] - 1e-12
        m = realize(p, d)
        with torch.no_grad():
            assert float(expected_kl(m, p)) >= b - 1e-12
        assert fit_exact(m, p, 40) >= b - 1e-12
    assert linear_state_block_bound(p, state_order(p))["total"] == 0.0
    # channels: every canonical correlation appears once per channel
    p2 = HierarchicalGaussian(4, 3, 2, channels=2, pair_mi=2.0)
    p1 = HierarchicalGaussian(4, 3, 2, pair_mi=2.0)
    assert linear_state_block_bound(p2, 2)["per_token"] == pytest.approx(
        linear_state_block_bound(p1, 1)["per_token"], rel=1e-9)
    with pytest.raises(ValueError, match="block"):
        linear_state_block_bound(p, 1, blocks=[L])
    with pytest.raises(TypeError, match="covariance"):
        linear_state_block_bound(make_process("markov-binary:length=8"), 1)


def test_yardsticks_dense_canonical_correlations():
    """Processes without closed-form canonical correlations use the dense ones; on the
    hierarchical family the two agree at every cut."""
    p = HierarchicalGaussian(4, 3, 2, pair_mi=1.0)
    for c in range(1, p.length):
        fast = np.sort(np.asarray(p.canonical_correlations(c)))[::-1]
        dense = dense_canonical_correlations(p.covariance(), c)
        np.testing.assert_allclose(dense[: fast.size], fast, atol=1e-10)
        assert np.all(dense[fast.size:] < 1e-10)
    assert state_order(l2m_sim.AR1(0.5, 8)) == 1  # Markov: one float carries the past
    assert state_order(make_process("arma:length=16")) == 1
    with pytest.raises(TypeError, match="covariance"):
        state_order(make_process("markov-binary:length=8"))
    with pytest.raises(ValueError, match="dim"):
        linear_state_bound(HierarchicalGaussian(4, 3, 1), -1)


# ------------------------------------------------------------------------------ StateCore


def test_gated_scan_equals_reference():
    g = torch.Generator().manual_seed(0)
    log_a = torch.nn.functional.logsigmoid(3 * torch.randn(3, 45, 7, generator=g, dtype=torch.float64))
    w = torch.randn(3, 45, 7, generator=g, dtype=torch.float64)
    z0 = torch.randn(3, 7, generator=g, dtype=torch.float64)
    ref = gated_scan_reference(log_a, w, z0)
    for chunk in (1, 4, 16, 64):
        assert (gated_scan(log_a, w, z0, chunk=chunk) - ref).abs().max() < 1e-12


@pytest.mark.parametrize("mode", ["diagonal", "diagonal+position_gates", "position"])
@pytest.mark.parametrize("d_model", [8, 64])
@pytest.mark.parametrize("state", [1, 3, 40])
def test_state_core_state_is_set_apart_from_width(d_model, state, mode):
    torch.manual_seed(0)
    m = StateCore(StateCoreConfig(d_model=d_model, state_size=state, max_len=20, channels=2,
                                  position_gates=mode.endswith("gates"),
                                  state_map=mode.split("+")[0]))
    if mode == "position":  # move off the identity start so the dense map is exercised
        with torch.no_grad():
            for layer in m.layers:
                layer.A.add_(0.3 * torch.randn_like(layer.A) / state**0.5)
                layer.B.mul_(torch.randn_like(layer.B))
                layer.C.mul_(torch.randn_like(layer.C))
    x = torch.randn(2, 20, 2)
    with torch.no_grad():
        mean, std = m(x)
        ms, ss = m.step_forward(x)
        st = m.init_state(2)
        for t in range(5):
            _, st = m.step(None if t == 0 else x[:, t - 1], st)
    assert m.history_state_size(7) == state
    assert st.numel_per_sequence() == state
    assert (mean - ms).abs().max() < 1e-5 and (std - ss).abs().max() < 1e-5


def test_state_core_config_errors():
    with pytest.raises(ValueError, match="state_size"):
        StateCoreConfig(state_size=0)
    with pytest.raises(ValueError, match="keep_min"):
        StateCoreConfig(keep_min=1.0)
    with pytest.raises(ValueError, match="state_map"):
        StateCoreConfig(state_map="dense")
    with pytest.raises(ValueError, match="state_map"):
        StateCoreConfig(state_map=None)
    with pytest.raises(ValueError, match="position_gates"):
        StateCoreConfig(state_map="position", position_gates=True)


@pytest.mark.parametrize("state_map", ["diagonal", "position"])
def test_state_core_is_causal(state_map):
    """Changing x_t changes no prediction at positions <= t (prediction t reads x_<t)."""
    torch.manual_seed(1)
    m = StateCore(StateCoreConfig(d_model=16, state_size=4, max_len=24, state_map=state_map))
    if state_map == "position":
        with torch.no_grad():
            m.layers[0].A.add_(0.3 * torch.randn_like(m.layers[0].A))
    x = torch.randn(3, 24)
    with torch.no_grad():
        mean, std = m(x)
        for t in (0, 7, 23):
            y = x.clone()
            y[:, t] += 5.0
            m2, s2 = m(y)
            assert torch.equal(m2[:, : t + 1], mean[:, : t + 1])
            assert torch.equal(s2[:, : t + 1], std[:, : t + 1])
            if t < 23:
                assert (m2[:, t + 1] - mean[:, t + 1]).abs().max() > 1e-6


# ------------------------------------------------------------------------------ reference learners


def _G(model, L):
    """The learner's predictor matrix, read off by feeding unit impulses."""
    with torch.no_grad():
        X = torch.eye(L, dtype=torch.float64)[:, :, None]
        mean, _ = model.double()(X)
    return mean[:, :, 0].T.numpy()  # G[t, s]


def test_causal_linear_exact_optimum_is_the_process():
    """G = I - diag(R) R^-1 (R the Cholesky factor) and std = diag(R) reproduce the exact
    conditionals, so the class's optimum KL is 0; fit_exact reaches it."""
    p = HierarchicalGaussian(4, 3, 2, pair_mi=1.5)
    L = p.length
    R = np.linalg.cholesky(p.covariance())
    m = CausalLinear(CausalLinearConfig(max_len=L)).double()
    with torch.no_grad():
        m.weight.copy_(torch.as_tensor(np.eye(L) - np.diag(np.diag(R)) @ np.linalg.inv(R)))
        m.log_std.copy_(torch.as_tensor(np.log(np.diag(R))))
    x = p.sample(5, rng=0)
    mu, sd = p.conditional_moments(x)
    mq, sq = m.conditional_moments(x)
    np.testing.assert_allclose(mq, mu, atol=1e-10)
    np.testing.assert_allclose(sq, sd, rtol=1e-12)
    with torch.no_grad():
        assert abs(float(expected_kl(m, p))) < 1e-12
    fresh = CausalLinear(CausalLinearConfig(max_len=L))
    assert fit_exact(fresh, p, 200) < 1e-8


@pytest.mark.parametrize("d", [1, 2, 3])
def test_linear_state_blocks_have_rank_at_most_d(d):
    L = 12
    torch.manual_seed(0)
    m = LinearState(LinearStateConfig(max_len=L, state_size=d, init_scale=1.0))
    with torch.no_grad():
        for prm in (m.A, m.b, m.c):
            prm.add_(torch.randn_like(prm))
    G = _G(m, L)
    assert np.allclose(np.triu(G), 0.0)  # causal: mean_t uses x_<t only
    ranks = [np.linalg.matrix_rank(G[c:, :c], tol=1e-9) for c in range(1, L)]
    assert max(ranks) == d


def test_linear_state_step_forward_and_size():
    m = LinearState(LinearStateConfig(channels=2, max_len=9, state_size=3))
    with torch.no_grad():
        m.A.add_(0.3 * torch.randn_like(m.A))
    x = torch.randn(4, 9, 2)
    with torch.no_grad():
        a, sa = m(x)
        b, sb = m.step_forward(x)
    assert (a - b).abs().max() < 1e-5 and torch.equal(sa, sb)
    assert m.history_state_size(5) == 6 and m.init_state(4).numel_per_sequence() == 6
    c = CausalLinear(CausalLinearConfig(channels=2, max_len=9))
    st = c.init_state(4)
    for t in range(4):
        _, st = c.step(None if t == 0 else x[:, t - 1], st)
    assert st.numel_per_sequence() == c.history_state_size(4) == 2 * 3
    with pytest.raises(ValueError, match="max_len"):
        m(torch.randn(1, 10, 2))
    with pytest.raises(ValueError, match="vocab_size"):
        LinearStateConfig(vocab_size=4)


def test_linear_state_exact_optimum_bracket():
    """At d = state order the fitted linear state reaches KL 0; below it the fit sits at or
    above the exact all-cut lower bound."""
    p = HierarchicalGaussian(4, 3, 2, pair_mi=2.0)
    order = state_order(p)
    for d in (1, order):
        torch.manual_seed(0)
        kl = fit_exact(LinearState(LinearStateConfig(max_len=p.length, state_size=d)), p, 300)
        lower = linear_state_bound(p, d)["per_token"]
        assert kl >= lower - 1e-9
        if d == order:
            assert kl < 1e-4
        else:
            assert kl < 1.3 * lower


@pytest.mark.parametrize("pid,levels", [("hierarchical", 2), ("hierarchical", 3),
                                         ("ar1", None), ("arma", None)])
def test_realize_at_the_state_order_is_the_exact_predictor(pid, levels):
    """The subspace realisation of order state_order(p) reproduces the exact conditionals:
    its predictor matrix equals the dense G = I - diag(R) R^-1 and its stds diag(R)."""
    if pid == "hierarchical":
        p = HierarchicalGaussian(4, 3, levels, pair_mi=2.0)
    else:
        p = make_process(f"{pid}:length=24")
    L = p.length
    order = state_order(p)
    assert order == {2: 4, 3: 13}.get(levels, {"ar1": 1, "arma": 1}.get(pid))
    m = realize(p, order)
    R = np.linalg.cholesky(p.covariance())
    G_exact = np.eye(L) - np.diag(np.diag(R)) @ np.linalg.inv(R)
    np.testing.assert_allclose(_G(m, L), G_exact, atol=1e-9)
    np.testing.assert_allclose(m.log_std.detach().numpy(), np.log(np.diag(R)), atol=1e-12)
    x = p.sample(3, rng=1)
    np.testing.assert_allclose(m.conditional_moments(x)[0], p.conditional_moments(x)[0],
                               atol=1e-9)
    with torch.no_grad():
        assert abs(float(expected_kl(m, p))) < 1e-10
        assert abs(float(expected_kl(realize(p, order + 3), p))) < 1e-10
    # one float short of the order: no longer exact, and never below the exact bound
    if order > 1:
        short = realize(p, order - 1)
        with torch.no_grad():
            kl = float(expected_kl(short, p))
        assert kl > 1e-3 and kl >= linear_state_bound(p, order - 1)["per_token"] - 1e-12


def test_realize_below_the_order_is_a_warm_start():
    """Below the state order the realisation is an upper bound above the exact all-cut
    bound, L-BFGS from it can only go down, and its state is exactly d floats."""
    p = HierarchicalGaussian(4, 3, 3, pair_mi=2.0)
    for d in (1, 4, 8):
        m = realize(p, d)
        assert m.history_state_size(10) == d
        assert np.linalg.matrix_rank(_G(m, p.length)[p.length // 2:, : p.length // 2],
                                     tol=1e-9) <= d
        with torch.no_grad():
            start = float(expected_kl(m, p))
        lower = linear_state_bound(p, d)["per_token"]
        assert start >= lower - 1e-12
        assert lower - 1e-12 <= fit_exact(m, p, 30) <= start + 1e-12
    with pytest.raises(ValueError, match="state_size"):
        realize(p, 0)


def test_reference_learners_train_with_train():
    p = make_process("hierarchical:levels=2,pair_mi=1.0")
    ds = l2m_sim.train(p, "causal_linear", steps=60, lr=3e-2, batch_size=8, eval_every=15,
                       eval_samples=16, threads=1)
    assert int(ds.history_state) == p.length // 2  # x_0 .. x_{L/2 - 1} cached
    assert float(ds.kl) < 0.5 * float(ds.eval_kl[0])
    ds = l2m_sim.train(p, "linear_state", model_config={"state_size": 2}, steps=8,
                       batch_size=4, eval_samples=8, threads=1)
    assert int(ds.history_state) == 2 and bool(ds.converged) is False  # no curve: not converged


# ------------------------------------------------------------------------------ convergence rule


def test_is_converged():
    assert is_converged([25, 50, 75, 100], [0.5, 0.3, 0.201, 0.2])
    assert not is_converged([25, 50, 75, 100], [0.5, 0.3, 0.25, 0.2])
    assert is_converged([25, 50, 75, 100], [0.5, 0.3, 0.0009, 0.0001])  # absolute floor
    assert not is_converged([100], [0.2])
    assert not is_converged([50, 100], [0.2, float("nan")])


def test_state_job_cell():
    from l2m_sim.sweep import StateJob, SweepError, run_cell

    ds = run_cell(StateJob(process="hierarchical:pair_mi=1.0", length=16, model="state_core",
                           state=2, steps=8, warmup=1, batch_size=4, eval_samples=8))
    assert str(ds["status"].values.ravel()[0]) == "ok"
    assert int(ds["history_state"].values.ravel()[0]) == 2
    assert ds["kl_curve"].sizes["quarter"] == 4
    lb = float(ds["linear_bound"].values.ravel()[0])
    p = make_process("hierarchical:pair_mi=1.0", 16)
    assert lb == pytest.approx(linear_state_kl(p, 2)["per_token"])
    with pytest.raises(SweepError, match="state"):
        StateJob(model="gpt", state=3)
    with pytest.raises(SweepError, match="state"):
        StateJob(model="linear_state", state=0)


def test_state_job_token_cell():
    """On a token process the cell trains state_core against the exact conditionals, stores
    the exact predictable information and no linear bound; the linear references refuse."""
    from l2m_sim.sweep import StateJob, SweepError, run_cell
    from l2m_sim.yardsticks import predictable_information

    spec = "discrete-subvolume:alphabet=4,noise=0.05"
    ds = run_cell(StateJob(process=spec, length=16, model="state_core", state=2, steps=8,
                           warmup=1, batch_size=4, eval_samples=8))
    assert str(ds["status"].values.ravel()[0]) == "ok"
    assert int(ds["history_state"].values.ravel()[0]) == 2
    assert np.isnan(float(ds["linear_bound"].values.ravel()[0]))
    assert float(ds["predictable"].values.ravel()[0]) == pytest.approx(
        predictable_information(make_process(spec, 16)), rel=1e-12)
    assert np.isfinite(float(ds["kl"].values.ravel()[0]))
    for m in ("linear_state", "causal_linear"):
        with pytest.raises(SweepError, match="token process"):
            StateJob(process=spec, length=16, model=m, state=2 if m == "linear_state" else 0)


def test_predictable_information_tokens_brute_force():
    """(sum_t H(W_t) - H(W)) / L against full enumeration of a 16-symbol binary copy process,
    and equal to the mean KL of the marginal predictor computed from exact conditionals."""
    import itertools

    from l2m_sim.protocol import NoExactValue
    from l2m_sim.yardsticks import predictable_information

    p = make_process("discrete-subvolume:alphabet=2,noise=0.2", 16)
    seqs = np.array(list(itertools.product([0, 1], repeat=16)))
    logp = p.log_prob(seqs)
    prob = np.exp(logp)
    assert prob.sum() == pytest.approx(1.0, abs=1e-12)
    H = -np.sum(prob * logp)
    h_marg = 0.0
    for t in range(16):
        m1 = prob[seqs[:, t] == 1].sum()
        h_marg -= m1 * np.log(m1) + (1 - m1) * np.log(1 - m1)
    brute = (h_marg - H) / 16
    assert brute > 0.01
    assert predictable_information(p) == pytest.approx(brute, rel=1e-10)
    # the same number as the expected KL of p(w_t) against p(w_t | w_<t)
    cond = p.conditional_probs(seqs)  # (n, L, 2)
    marg = np.array([p.marginal(t) for t in range(16)])  # (L, 2)
    kl = np.sum(cond * (np.log(cond) - np.log(marg)[None]), axis=-1).mean(1)
    assert predictable_information(p) == pytest.approx(float(prob @ kl), rel=1e-9)
    with pytest.raises(NoExactValue, match="entropy"):
        predictable_information(make_process("santa-fe:facts=16", 32))


def test_train_refuses_bad_checkpoint_and_device(tmp_path):
    bad = tmp_path / "ckpt.pt"
    bad.write_bytes(b"not a checkpoint")
    p = make_process("hierarchical:levels=1")
    with pytest.raises(ValueError, match="checkpoint"):
        l2m_sim.train(p, "causal_linear", steps=2, checkpoint=bad, eval_samples=2)
    with pytest.raises(ValueError, match="device"):
        l2m_sim.train(p, "causal_linear", steps=2, device="nonsense", eval_samples=2)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            l2m_sim.train(p, "causal_linear", steps=2, device="cuda", eval_samples=2)


def test_token_kl_is_finite_when_exact_conditionals_have_zeros():
    """Santa Fe's exact conditionals are exactly 0 for the wrong bit of a seen fact: the KL
    must treat 0 ln 0 as 0 (it was NaN in float32)."""
    p = l2m_sim.SantaFe(2.0, 8, 16)
    ds = l2m_sim.train(p, "gpt", model_config=dict(d_model=8, n_layer=1), steps=3,
                       batch_size=4, eval_samples=8, threads=1)
    assert np.isfinite(float(ds.kl)) and float(ds.kl) > 0
    diff = float(ds.nll) - float(ds.nll_exact)
    assert float(ds.kl) == pytest.approx(diff, abs=0.5)  # equal in expectation
