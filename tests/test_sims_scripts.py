"""The experiment scripts of sims/ run end to end at their smallest size."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

SIMS = Path(__file__).resolve().parents[1] / "sims"


def load(name):
    spec = importlib.util.spec_from_file_location(f"sims_{name}", SIMS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_check_runs_tiny_on_cpu(tmp_path):
    summary = load("gpu_check").main(["--tiny", "--budget", "3", "--out", str(tmp_path),
                                      "--device", "cpu"])
    assert summary["scan_max_rel_err_output"] < 1e-5
    assert summary["scan_max_rel_err_grads"] < 1e-4
    assert len(summary["runs"]) == 3 and all(np.isfinite(r["kl"]) for r in summary["runs"])
    ds = xr.open_dataset(tmp_path / "gpu_check.nc", engine="h5netcdf")
    assert ds.sizes["run"] == 3
    assert json.loads((tmp_path / "gpu_check.json").read_text())["L"] == 64


def test_estimator_study_fast(tmp_path):
    ds = load("estimator_study").main(["--fast", "--out", str(tmp_path / "e.nc")])
    assert (tmp_path / "e.png").exists()
    sub = [p for p in ds.process.values if str(p).startswith("subvolume")][0]
    # the exact-model direct estimator is unbiased: within 4 standard errors of the truth
    d = ds.sel(estimator="direct (exact q)", process=sub).isel(n_samples=0, seed=0)
    ok = np.isfinite(d.estimate)
    assert ok.sum() >= 3
    assert np.all(np.abs(d.error.values[ok]) < 4 * d.stderr.values[ok])
    assert float(ds.beta_true.sel(process=sub)) == pytest.approx(np.log(3) / np.log(4), abs=1e-3)


def test_l2m_phase_tiny(tmp_path, capsys):
    """The phase-diagram script end to end at its smallest size; the results file has the
    documented layout."""
    import l2m_sim

    mod = load("l2m_phase")
    assert mod.main(["--scale", "tiny", "--out", str(tmp_path), "--long", "--across",
                     "--wide", "--converge"]) == 0
    assert (tmp_path / "l2m_phase_tiny.png").exists()
    ds = xr.open_dataset(tmp_path / "l2m_phase_tiny.nc", engine="h5netcdf")
    assert {"model", "length", "state"} <= set(ds["kl"].dims)
    assert ds["converged"].dims == ds["kl"].dims and ds["converged"].dtype == bool
    assert set(ds["linear_bound"].dims) == {"length", "state"}
    assert ds["kl"].attrs["units"] == ds["linear_bound"].attrs["units"] == "nats"
    L0 = int(ds.length.min())
    p = l2m_sim.make_process(ds.attrs["process"], L0)
    assert p.length == L0 and p.pair_mi == mod.PAIR_MI
    assert ds.attrs["beta_exact"] == pytest.approx(np.log(3) / np.log(4))
    for m in ds.model.values:
        assert f"beta_hat_{m}" in ds.attrs
    # the exact yardsticks in the file are the library's
    from l2m_sim.yardsticks import linear_state_kl, state_order

    assert int(ds.state_order.sel(length=L0)) == state_order(p)
    # within-block predictors: block 1 is the marginal predictor, a whole-sequence block exact
    assert float(ds.block_kl.sel(length=L0, block=1)) == pytest.approx(
        float(ds.predictable.sel(length=L0)), rel=1e-10)
    assert float(ds.block_kl.sel(length=L0, block=L0)) == pytest.approx(0.0, abs=1e-12)
    for d in ds.state.values:
        assert float(ds.linear_bound.sel(length=L0, state=d)) == pytest.approx(
            linear_state_kl(p, int(d))["per_token"], abs=1e-12)
    assert np.all(np.isfinite(ds["kl"].values)) and np.all(np.isfinite(ds["kl_fit"].values))
    # one lr per (model, length), chosen on seed 1 at every selection length
    lrs = json.loads(ds.attrs["lr"])
    assert set(lrs) == set(ds.model.values) | set(ds.full_model.values)
    assert all(set(v) == {"16"} for v in lrs.values())
    np.testing.assert_array_equal(ds["kl_first_lr"].values, ds["kl"].values)  # one length
    assert ds["kl_long"].dims == ("state",) and ds.attrs["long_steps"] == 12
    assert ds.attrs["across_length"] == 16 and ds.attrs["across_steps"] == 8
    assert ds["kl_wide"].dims == ("state_wide",) and list(ds.state_wide.values) == [8]
    assert ds.attrs["required_state_wide"] in (1, 4, 8)
    # the convergence stage: its own lr choice, its models only, d* and beta_hat per model
    assert json.loads(ds.attrs["converge_lr"]).keys() == {"linear_state", "causal_linear"}
    assert ds["kl_converge"].dims == ds["kl"].dims
    assert np.all(np.isfinite(ds.kl_converge.sel(model="linear_state").values))
    assert np.all(np.isnan(ds.kl_converge.sel(model="state_core").values))
    assert np.isfinite(float(ds.kl_full_converge.sel(full_model="causal_linear", length=L0)))
    assert np.isnan(float(ds.kl_full_converge.sel(full_model="gpt", length=L0)))
    assert "beta_hat_linear_state_converge" in ds.attrs
    assert list(ds.estimator.values)[-1] == "linear_state_converge"
    assert float(ds.required_state.sel(estimator="linear_state_converge", length=L0)) in (1, 4)
    # the linear reference at its optimum: the subspace start is exact at the state order
    assert float(ds.kl_realized.sel(length=L0, state=4)) < 1e-10
    assert np.all(ds.kl_fit.values <= ds.kl_fit_cold.values + 1e-12)
    # a second run restores every finished cell from the combined files, retrains nothing
    import shutil

    for cdir in tmp_path.glob("*.nc.cells"):
        shutil.rmtree(cdir)
    before, fit_before = ds["kl"].values.copy(), ds["kl_fit"].values.copy()
    ds.close()
    capsys.readouterr()
    assert mod.main(["--scale", "tiny", "--out", str(tmp_path), "--long", "--across",
                     "--wide", "--converge"]) == 0
    cap = capsys.readouterr()
    log = cap.out
    for n, stage in ((5, "lr"), (8, "cells"), (2, "long"), (1, "wide"), (3, "across"),
                     (2, "converge_lr"), (3, "converge")):
        assert f"restored {n} finished cells from l2m_phase_tiny_{stage}.nc" in log
    assert "restored 2 exact fits from l2m_phase_tiny.nc" in log  # (L, d) = (16, 1), (16, 4)
    assert "sweep state" not in cap.err  # no progress bar: nothing ran
    with xr.open_dataset(tmp_path / "l2m_phase_tiny.nc", engine="h5netcdf") as again:
        np.testing.assert_array_equal(again["kl"].values, before)
        np.testing.assert_array_equal(again["kl_fit"].values, fit_before)


def test_l2m_tokens_tiny(tmp_path):
    """The token phase-diagram script end to end at its smallest size: the file's exact
    columns are the library's, and every trained cell is finite."""
    import l2m_sim
    from l2m_sim.yardsticks import predictable_information

    mod = load("l2m_tokens")
    assert mod.main(["--scale", "tiny", "--out", str(tmp_path), "--seeds"]) == 0
    assert (tmp_path / "l2m_tokens_tiny.png").exists()
    with xr.open_dataset(tmp_path / "l2m_tokens_tiny.nc", engine="h5netcdf") as ds:
        assert ds["kl"].dims == ("model", "length", "state")
        assert ds["converged"].dims == ds["kl"].dims and ds["converged"].dtype == bool
        assert np.all(np.isfinite(ds["kl"].values)) and np.isfinite(float(ds.kl_full.max()))
        p = l2m_sim.make_process(ds.attrs["process"], 16)
        assert p.length == 16 and p.vocab_size == 4
        assert float(ds.predictable.sel(length=16)) == pytest.approx(
            predictable_information(p), rel=1e-9)
        assert float(ds.bipartite_mi.sel(length=16)) == pytest.approx(p.bipartite_mi())
        assert int(ds.n_pairs.sel(length=16)) == 3
        assert ds.attrs["beta_exact"] == pytest.approx(np.log(3) / np.log(4))
        assert "beta_hat_state_core" in ds.attrs
        assert ds["kl_seeds"].shape == (2, 1) and np.all(np.isfinite(ds["kl_seeds"].values))
    # the scrambled copies: the selection runs only, on the default random row map
    assert mod.main(["--scale", "tiny", "--out", str(tmp_path), "--scrambled"]) == 0
    with xr.open_dataset(tmp_path / "l2m_tokens_scrambled_tiny_lr.nc", engine="h5netcdf") as f:
        assert str(f.process.values[0]) == mod.SCRAMBLED
        # every selection cell ran (state_core and gpt, one lr at tiny scale) and is finite
        assert int(np.isfinite(f.kl.values).sum()) == 2
        assert set(np.unique(f.status.values[np.isfinite(f.kl.values)])) == {"ok"}


def test_l2m_plateau_tiny(tmp_path):
    """The plateau script end to end with a few steps: the exact within-block curves are
    the library's, and a second call reuses the finished run instead of training again."""
    import l2m_sim
    from l2m_sim.yardsticks import block_kl

    mod = load("l2m_plateau")
    ds = mod.main(["--out", str(tmp_path), "--steps", "4", "--runs", "linear_state d=13"])
    assert (tmp_path / "l2m_plateau.png").exists()
    p = l2m_sim.make_process(mod.PROCESS, mod.LENGTH)
    np.testing.assert_allclose(ds.block_kl.sel(block=16).values, block_kl(p, 16), rtol=1e-12)
    assert float(ds.block_kl.sel(block=16).mean()) == pytest.approx(0.2976, abs=1e-4)
    assert ds.kl_position.shape == (1, 64) and np.all(np.isfinite(ds.kl_position.values))
    assert float(ds.kl.sel(run="linear_state d=13")) == pytest.approx(
        float(ds.kl_position.mean()), rel=1e-6)
    cached = list((tmp_path / "l2m_plateau_runs").glob("*.nc"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = mod.main(["--out", str(tmp_path), "--steps", "4", "--runs", "linear_state d=13"])
    assert cached[0].stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.kl_position.values, ds.kl_position.values)


def test_token_pipeline_study_fast(tmp_path):
    """The token pipeline study end to end at its smallest size: the exact-q direct
    estimator is unbiased, vCLUB with the exact Santa Fe law is infinite, the pooled-pair
    check holds and the file has the documented layout."""
    ds = load("token_pipeline_study").main(["--fast", "--out", str(tmp_path / "t.nc")])
    assert (tmp_path / "t.png").exists()
    f = xr.open_dataset(tmp_path / "t.nc", engine="h5netcdf")
    assert set(f.estimate.dims) == {"pipeline", "family", "beta", "length"}
    assert set(f.alpha_hat.dims) == {"family", "beta", "tokens"}
    d = ds.sel(pipeline="direct (exact q)", family="santa-fe").isel(beta=0)
    ok = np.isfinite(d.estimate.values)
    assert ok.sum() >= 2
    err = d.estimate.values[ok] - ds.exact_ibp.sel(family="santa-fe").isel(beta=0).values[ok]
    assert np.all(np.abs(err) < 4 * d.stderr.values[ok])
    v = ds.estimate.sel(pipeline="vclub (exact q)", family="santa-fe").isel(beta=0).values
    assert np.all(np.isposinf(v[np.isfinite(d.estimate.values)]))
    assert ds.attrs["pooled_check_max_abs_error"] < 1e-10
    # Santa Fe's two-point MI is constant; the drifting design decays (alpha = 2 - beta)
    assert float(ds.alpha_exact_fit.sel(family="santa-fe").isel(beta=0)) == 0.0
    assert float(ds.alpha_design.sel(family="santa-fe-drift").isel(beta=0)) == pytest.approx(1.5)
    assert 1.0 < float(ds.alpha_exact_fit.sel(family="santa-fe-drift").isel(beta=0)) < 2.0
    assert np.all(np.isfinite(ds.alpha_hat.values))
    trained = [p for p in ds.pipeline.values if "steps" in str(p)]
    assert len(trained) == 6 and np.isfinite(ds.model_kl.sel(pipeline=trained[0])).any()
