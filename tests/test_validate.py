"""The validation harness: truth beside every estimate, failures recorded, sweep goes on."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import l2m_sim
from l2m_sim.validate import TaskEstimator, fit_exponent, validate


def gaussian_logdet(x, y):
    """A plain (uncorrected) Gaussian MI, enough to exercise the harness."""
    xy = np.hstack([x, y]).astype(float)
    S = np.cov(xy, rowvar=False).reshape(xy.shape[1], xy.shape[1])
    dx = x.shape[1]
    return 0.5 * (np.linalg.slogdet(S[:dx, :dx])[1] + np.linalg.slogdet(S[dx:, dx:])[1]
                  - np.linalg.slogdet(S)[1])


def failing(x, y):
    raise RuntimeError("deliberate failure")


def nan_estimator(x, y):
    return float("nan")


def sleepy(x, y):
    time.sleep(30)
    return 0.0


@pytest.fixture(scope="module")
def ds():
    return validate({"logdet": gaussian_logdet, "fails": failing, "nan": nan_estimator},
                    ["subvolume", "ar1:phi=0.8"], lengths=[16, 64], n_samples=[4000],
                    seeds=[0, 1], distances=[1, 3])


def test_dims_and_truth(ds):
    assert ds["estimate"].dims == ("estimator", "process", "length", "n_samples", "seed")
    assert list(ds.estimator.values) == ["logdet", "fails", "nan"]
    assert list(ds.process.values) == ["subvolume:coupling=0.0,channels=1",
                                       "ar1:phi=0.8,channels=1"]
    for L in (16, 64):
        p = l2m_sim.paper_family("subvolume", int(round(math.log(L, 4))))
        assert ds.truth.sel(process=ds.process[0], length=L) == pytest.approx(p.bipartite_mi())
        assert str(ds.process_id.sel(process=ds.process[1], length=L).item()) == \
            f"ar1:phi=0.8,length={L},channels=1"
    np.testing.assert_allclose(ds.truth.sel(process=ds.process[1]), -0.5 * np.log(1 - 0.64))
    assert (ds.truth_se == 0).all()
    assert ds.estimate.attrs["units"] == "nats"


def test_failures_are_recorded_and_the_sweep_goes_on(ds):
    assert (ds.status.sel(estimator="logdet") == "ok").all()
    assert (ds.status.sel(estimator="fails") == "error").all()
    assert "deliberate failure" in str(ds.message.sel(estimator="fails").values.ravel()[0])
    assert (ds.status.sel(estimator="nan") == "nonfinite").all()
    assert np.isnan(ds.estimate.sel(estimator=["fails", "nan"])).all()
    ok = ds.sel(estimator="logdet")
    assert np.isfinite(ok.estimate).all() and (ok.wall_time >= 0).all()
    # a plain log-det on 4000 samples of 8 + 8 dims is close to the truth
    np.testing.assert_allclose(ok.estimate.sel(length=16), ok.truth.sel(length=16)
                               .broadcast_like(ok.estimate.sel(length=16)), atol=0.1)
    np.testing.assert_allclose(ok.error, ok.estimate - ok.truth)


def test_exponents_beside_truth(ds):
    assert float(ds.beta_true.sel(process=ds.process[0])) == pytest.approx(math.log(3, 4), abs=0.02)
    assert abs(float(ds.beta_true.sel(process=ds.process[1]))) < 1e-10
    assert ds.beta_hat.dims == ("estimator", "process", "n_samples", "seed")
    assert np.isfinite(ds.beta_hat.sel(estimator="logdet")).all()
    assert np.isnan(ds.beta_hat.sel(estimator="fails")).all()
    # AR(1) two-point truth: -1/2 ln(1 - phi^(2d)), alpha from its slope
    tp = ds.tp_truth.sel(process=ds.process[1], length=64)
    np.testing.assert_allclose(tp, [-0.5 * math.log(1 - 0.8 ** (2 * d)) for d in (1, 3)])
    assert "alpha_hat" in ds and "alpha_true" in ds


def test_reproducible_and_same_samples_for_every_estimator():
    kw = dict(processes=["ar1:phi=0.5"], lengths=[8], n_samples=[500], seeds=[3])
    a = validate({"a": gaussian_logdet, "b": gaussian_logdet}, **kw)
    b = validate({"a": gaussian_logdet}, **kw)
    assert a.estimate.sel(estimator="a").item() == a.estimate.sel(estimator="b").item()
    assert a.estimate.sel(estimator="a").item() == b.estimate.sel(estimator="a").item()


def test_timeout_is_recorded():
    ds = validate({"sleepy": sleepy}, ["ar1"], lengths=[8], n_samples=[10], timeout=0.5)
    assert ds.status.item() == "timeout"
    assert ds.wall_time.item() < 10


def test_task_estimator_and_process_objects():
    p = l2m_sim.paper_family("log", 2)

    def truth_plus_one(task, n, rng):
        return task.mutual_information() + 1.0, 0.25

    ds = validate([TaskEstimator(truth_plus_one, "plus1")], [p], lengths=[16, 64])
    assert ds.estimate.sel(length=16).item() == pytest.approx(p.bipartite_mi() + 1)
    assert ds.stderr.sel(length=16).item() == 0.25
    assert ds.status.sel(length=64).item() == "n/a"  # a process object has one length


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(estimators=[], processes=["ar1"]), ValueError, "at least one estimator"),
    (dict(estimators=["no-such"], processes=["ar1"]), ValueError, "unknown estimator"),
    (dict(estimators=[3], processes=["ar1"]), TypeError, "callables"),
    (dict(estimators=[failing], processes=["nope"]), ValueError, "unknown family"),
    (dict(estimators=[failing], processes=["ar1"], n_samples=[1]), ValueError, "n_samples"),
    (dict(estimators=[failing], processes=["ar1"], timeout=-1), ValueError, "timeout"),
    (dict(estimators=[failing], processes=["ar1", "ar1"]), ValueError, "distinct"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        validate(**kwargs)


def test_fit_exponent():
    x = np.array([1, 2, 4, 8.0])
    assert fit_exponent(x, 3 * x**0.7) == pytest.approx(0.7)
    assert math.isnan(fit_exponent([1, 2], [1, np.nan]))


def test_timeout_children_survive_numba_parallel_kernels_in_the_parent():
    """Sampling a hierarchical process runs numba's parallel kernels in the parent; timed
    estimator calls run in children that use numba too (KSG) and must not abort."""
    from l2m_sim import estimators as E

    ds = validate({"ksg1": E.ESTIMATORS["ksg1"]}, ["subvolume"], lengths=[16, 64],
                  n_samples=[300], timeout=120)
    assert (ds.status == "ok").all(), ds.message.values
    ref = validate({"ksg1": E.ESTIMATORS["ksg1"]}, ["subvolume"], lengths=[16, 64],
                   n_samples=[300])
    np.testing.assert_array_equal(ds.estimate.values, ref.estimate.values)


# ------------------------------------------------------------------ streams keyed on identity


def fingerprint(x, y):
    """The samples themselves, as one number (any change in the stream changes it)."""
    return float(np.sum(x) + 3.0 * np.sum(y))


def rng_draw(x, y, rng):
    """The estimator's own Generator, as one number."""
    return float(rng.random())


_ESTS = {"fp": fingerprint, "rng": rng_draw, "g": gaussian_logdet}


def _cell(ds, process, length, n, seed):
    return {e: ds.estimate.sel(estimator=e, process=process, length=length, n_samples=n,
                               seed=seed).item() for e in _ESTS}


def test_cell_reproduces_alone_and_in_any_batch():
    alone = validate(_ESTS, ["ar1:phi=0.5"], lengths=[16], n_samples=[200], seeds=[7])
    label = "ar1:phi=0.5,channels=1"
    ref = _cell(alone, label, 16, 200, 7)
    # other processes, lengths, sizes and seeds in front of the same cell
    batch = validate(_ESTS, ["ar1:phi=0.9", "markov-binary", "ar1:phi=0.5"],
                     lengths=[8, 32, 16], n_samples=[50, 200], seeds=[1, 7])
    assert _cell(batch, label, 16, 200, 7) == ref
    # the same process spelled another way (defaults, a length parameter) is the same cell
    spelled = validate(_ESTS, ["ar1:length=99,phi=0.5"], lengths=[16], n_samples=[200],
                       seeds=[7])
    assert _cell(spelled, label, 16, 200, 7) == ref


def test_one_cell_sweep_job_reproduces_the_batch():
    from l2m_sim.sweep import ValidateJob

    batch = validate(["gaussian"], ["markov-binary", "ar1:phi=0.5"], lengths=[8, 16],
                     n_samples=[300], seeds=[0, 2])
    job = ValidateJob(estimator="gaussian", process="ar1:phi=0.5", length=16, n_samples=300,
                      seed=2).run()
    assert job.estimate.item() == batch.estimate.sel(
        estimator="gaussian", process="ar1:phi=0.5,channels=1", length=16, n_samples=300, seed=2).item()


def test_different_cells_get_different_streams():
    from l2m_sim._seeds import cell_seed_sequence, stream_id

    ds = validate({"fp": fingerprint}, ["ar1:phi=0.5", "ar1:phi=0.6"], lengths=[16, 32],
                  n_samples=[100, 101], seeds=[0, 1])
    vals = ds.estimate.values.ravel()
    assert np.all(np.isfinite(vals)) and len(set(vals.tolist())) == vals.size
    keys = [cell_seed_sequence(stream_id(p, L), L, n, s).generate_state(4).tobytes()
            for p in ("ar1:phi=0.5", "ar1:phi=0.6") for L in (16, 32) for n in (100, 101)
            for s in (0, 1)]
    assert len(set(keys)) == len(keys)
    # the key is stable (SHA-256 of the id), not Python's salted hash()
    assert cell_seed_sequence("ar1:phi=0.5,length=16", 16, 100, 0).entropy == \
        cell_seed_sequence("ar1:phi=0.5,length=16", 16, 100, 0).entropy
    assert stream_id("ar1:phi=0.5", 16) == stream_id("ar1:length=16,phi=0.5", 16)
