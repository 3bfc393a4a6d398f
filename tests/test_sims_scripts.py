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
