"""Training on exact processes (exact-KL loss, resume) and the exact yardsticks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import l2m_sim
from l2m_sim.training import TrainConfig, evaluate, gaussian_kl, train, build_model
from l2m_sim.yardsticks import block_kl, linear_state_kl, predictable_information, window_kl

TINY = dict(d_model=16, n_layer=1)


def test_gaussian_kl_closed_form():
    rng = np.random.default_rng(0)
    mp, mq = rng.normal(size=5), rng.normal(size=5)
    sp, sq = rng.uniform(0.2, 2, 5), rng.uniform(0.2, 2, 5)
    ref = np.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5
    got = gaussian_kl(*(torch.tensor(a) for a in (mp, sp, mq, sq))).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert float(gaussian_kl(*(torch.tensor([1.0]),) * 2, torch.tensor([1.0]),
                             torch.tensor([1.0]))) == 0.0


def test_training_lowers_the_exact_kl():
    p = l2m_sim.paper_family("subvolume", 2, channels=2)
    torch.manual_seed(0)
    net = build_model("gpt", p, TINY)
    before = evaluate(net, p, 32, 16)["kl"]
    ds = train(p, net, steps=60, lr=3e-3, eval_samples=32)
    assert ds.kl.item() < 0.7 * before
    # the model NLL exceeds the exact NLL by the KL (same held-out samples; MC noise only)
    assert ds.nll.item() - ds.nll_exact.item() == pytest.approx(ds.kl.item(), abs=0.05)
    assert ds.kl_position.shape == (16,) and ds.history_state.item() == \
        net.history_state_size(16 // 2 + 1)
    assert ds.bipartite_mi.item() == pytest.approx(p.bipartite_mi())
    assert ds.kl.attrs["units"] == "nats" and ds.attrs["model"] == "gpt"


def test_token_training_reports_exact_kl():
    p = l2m_sim.HierarchicalDiscrete(2, 1, 3, 2)  # L = 8
    ds = train(p, "gru", steps=20, model_config=TINY, eval_samples=256, eval_batch=64)
    kl, gap = ds.kl.item(), ds.nll.item() - ds.nll_exact.item()
    assert kl > 0 and abs(gap - kl) < 0.05  # E[nll - nll_exact] = KL
    assert np.all(ds.kl_position.values >= -1e-7)


def test_resume_from_checkpoint_equals_uninterrupted(tmp_path, monkeypatch):
    p = l2m_sim.AR1(0.8, 12)
    kw = dict(steps=12, checkpoint_every=4, eval_samples=8, model_config=TINY)
    ref = train(p, "mamba", **kw)
    ck = tmp_path / "run.pt"
    calls = {"n": 0}
    orig = type(p).sample

    def flaky(self, n, rng=None):
        calls["n"] += 1
        if calls["n"] == 7:  # the 7th training step dies (after the step-4 checkpoint)
            raise KeyboardInterrupt
        return orig(self, n, rng)

    monkeypatch.setattr(type(p), "sample", flaky)
    with pytest.raises(KeyboardInterrupt):
        train(p, "mamba", checkpoint=ck, **kw)
    monkeypatch.setattr(type(p), "sample", orig)
    assert ck.exists()
    res = train(p, "mamba", checkpoint=ck, **kw)
    np.testing.assert_array_equal(res.loss.values, ref.loss.values)
    assert res.kl.item() == ref.kl.item()
    # a checkpoint of another run is refused
    with pytest.raises(ValueError, match="another run"):
        train(p, "mamba", checkpoint=ck, **{**kw, "steps": 13})


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=0), "steps"), (dict(lr=-1.0), "lr"), (dict(clip=0.0), "clip"),
    (dict(min_lr_ratio=2.0), "min_lr_ratio"), (dict(warmup=500, steps=10), "warmup"),
])
def test_bad_train_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_train_config_is_frozen_and_never_rewrites_itself():
    import dataclasses

    c = TrainConfig(steps=50)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.steps = 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.warmup = 3
    # warmup=None stays None; the effective value follows steps
    assert c.warmup is None and c.warmup_steps == 5
    d = dataclasses.replace(c, steps=1000)
    assert d.warmup is None and d.warmup_steps == 100 and c.steps == 50
    assert TrainConfig(steps=3).warmup_steps == 1
    assert TrainConfig(steps=100, warmup=0).warmup_steps == 0
    assert c.to_dict()["warmup"] == 5 and c.with_overrides(lr=0.5).lr == 0.5
    # an override that breaks a cross-field rule is refused, naming the field
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig(steps=100, warmup=50).with_overrides(steps=10)
    with pytest.raises(TypeError, match="unknown training setting"):
        c.with_overrides(stpes=3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=2.5), "steps"), (dict(steps=10.0), "steps"), (dict(batch_size=0), "batch_size"),
    (dict(lr=float("inf")), "lr"), (dict(lr=float("nan")), "lr"),
    (dict(weight_decay=-0.1), "weight_decay"), (dict(warmup=-1), "warmup"),
    (dict(seed=-1), "seed"), (dict(eval_samples=0), "eval_samples"),
    (dict(eval_batch=0), "eval_batch"), (dict(eval_every=0), "eval_every"),
    (dict(checkpoint_every=0), "checkpoint_every"), (dict(threads=0), "threads"),
])
def test_bad_train_config_names_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=True), "steps"), (dict(lr="0.1"), "lr"), (dict(seed=None), "seed"),
])
def test_train_config_wrong_type_names_the_field(kwargs, match):
    with pytest.raises(TypeError, match=match):
        TrainConfig(**kwargs)


def test_train_overrides_keep_an_unset_warmup_relative():
    # a default config with steps overridden: warmup is 10% of the new steps, in the result
    ds = train("ar1:length=8", "causal_linear", TrainConfig(), steps=30, eval_samples=2)
    assert "'warmup': 3" in ds.attrs["train_config"]
    assert ds.lr.values[2] == pytest.approx(1e-3) and ds.lr.values[0] == pytest.approx(1e-3 / 3)
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        train("ar1:length=8", "causal_linear", {"steps": 3})


def test_unknown_model():
    with pytest.raises(ValueError, match="model must be one of"):
        train("ar1:length=8", "transformerXL", steps=1)


def test_lr_schedule():
    c = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.1)
    assert c.lr_at(0) == pytest.approx(0.1) and c.lr_at(9) == pytest.approx(1.0)
    assert c.lr_at(10) == pytest.approx(1.0) and c.lr_at(99) == pytest.approx(0.1, abs=1e-3)
    assert all(c.lr_at(s) >= c.lr_at(s + 1) for s in range(10, 99))


# ---------------------------------------------------------------------------- yardsticks


@pytest.mark.parametrize("make", [lambda: l2m_sim.paper_family("subvolume", 3),
                                  lambda: l2m_sim.FractionalGaussianNoise(0.8, 40)])
def test_window_kl_equals_brute_force(make):
    p = make()
    S = p.covariance()
    L = p.length
    v = np.diag(np.linalg.cholesky(S)) ** 2
    for w in (0, 1, 5):
        got = window_kl(p, w)
        for t in range(L):
            lo = max(0, t - w) if w else t
            W = list(range(lo, t))
            if len(W) == t:  # the window holds the whole past
                ref = 0.0
            else:
                vw = S[t, t] - (S[t, W] @ np.linalg.solve(S[np.ix_(W, W)], S[W, t]) if W else 0)
                ref = 0.5 * math.log(vw / v[t])
            assert got[t] == pytest.approx(ref, abs=1e-10)
    # more context never hurts; a window as long as the sequence is exact
    assert np.all(window_kl(p, 2) >= window_kl(p, 6) - 1e-12)
    assert np.allclose(window_kl(p, L), 0)


@pytest.mark.parametrize("make", [lambda: l2m_sim.make_process("hierarchical:pair_mi=2.0", 64),
                                  lambda: l2m_sim.FractionalGaussianNoise(0.8, 40)])
def test_block_kl_equals_brute_force(make):
    """The predictor that sees only the past inside t's aligned block, against a plain
    regression per position; block 1 is the marginal predictor, a whole-sequence block exact."""
    p = make()
    S = p.covariance()
    L = p.length
    v = np.diag(np.linalg.cholesky(S)) ** 2
    for blk in (2, 4, 16):
        got = block_kl(p, blk)
        for t in range(L):
            W = list(range(blk * (t // blk), t))
            vb = S[t, t] - (S[t, W] @ np.linalg.solve(S[np.ix_(W, W)], S[W, t]) if W else 0)
            assert got[t] == pytest.approx(0.5 * math.log(vb / v[t]), abs=1e-10)
    assert np.mean(block_kl(p, 1)) == pytest.approx(predictable_information(p), rel=1e-10)
    assert np.allclose(block_kl(p, L), 0) and np.allclose(block_kl(p, 10 * L), 0)
    # nested blocks: more of the past never hurts
    assert np.all(block_kl(p, 4) >= block_kl(p, 8) - 1e-12)
    with pytest.raises(ValueError, match="block"):
        block_kl(p, 0)


def test_linear_state_kl():
    p = l2m_sim.paper_family("subvolume", 3, channels=2)
    full = linear_state_kl(p, 10**6)
    assert full["total"] == pytest.approx(0.0, abs=1e-10)
    zero = linear_state_kl(p, 0)
    assert zero["total"] == pytest.approx(p.bipartite_mi())
    assert zero["per_token"] == pytest.approx(p.bipartite_mi() / (64 * 2))
    vals = [linear_state_kl(p, d)["total"] for d in range(0, 20)]
    assert all(a >= b - 1e-12 for a, b in zip(vals, vals[1:]))
    with pytest.raises(TypeError, match="canonical"):
        linear_state_kl(l2m_sim.AR1(0.5, 8), 1)


def test_threads_caps_numba_during_training_and_restores_it():
    """``threads=1`` runs the sampler's numba kernels on one thread (two one-thread runs side
    by side must not wake two numba pools) and leaves numba's setting as it found it."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here")
    p = l2m_sim.make_process("hierarchical:pair_mi=2.0", 16)
    seen = []
    sample = p.sample

    def spy(*args, **kwargs):
        seen.append(numba.get_num_threads())
        return sample(*args, **kwargs)

    p.sample = spy
    numba.set_num_threads(2)
    try:
        train(p, "linear_state", model_config={"state_size": 2}, steps=3, batch_size=2,
              eval_samples=2, threads=1)
        assert seen and set(seen) == {1}
        assert numba.get_num_threads() == 2
        seen.clear()
        train(p, "linear_state", model_config={"state_size": 2}, steps=3, batch_size=2,
              eval_samples=2)  # threads unset: numba left alone
        assert set(seen) == {2}
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
