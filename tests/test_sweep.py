"""Sweeps: validated before work, resumable after SIGKILL, identical on Dask, failures as data."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from l2m_sim.sweep import (ExactMIJob, Sweep, SweepError, cells_dir, config_hash,
                           deterministic, load_sweep, run_sweep)

import _sweep_jobs  # noqa: F401  (registers the "slow_square" job)

ROOT = Path(__file__).resolve().parents[1]


def slow_sweep(sleep=0.0, fail_on=-1):
    return Sweep("slow_square", grid={"a": list(range(12)), "b": [1.0, 0.5]},
                 fixed={"sleep": sleep, "fail_on": fail_on})


def test_exact_mi_sweep_values(tmp_path):
    sw = Sweep("exact_mi", grid={"process": ["subvolume", "ar1:phi=0.5"], "length": [16, 64]},
               fixed={"distances": [1, 3]})
    ds = run_sweep(sw, out=tmp_path / "r.nc", progress=False)
    assert list(ds.process.values) == ["subvolume", "ar1:phi=0.5"]  # grid order kept
    import l2m_sim

    assert ds.bipartite_mi.sel(process="subvolume", length=64).item() == pytest.approx(
        l2m_sim.paper_family("subvolume", 3).bipartite_mi(), rel=1e-12)
    np.testing.assert_allclose(ds.bipartite_mi.sel(process="ar1:phi=0.5"),
                               -0.5 * np.log(0.75), rtol=1e-12)
    assert ds.bipartite_mi.attrs["units"] == "nats"
    assert (ds.status == "ok").all()
    back = xr.open_dataset(tmp_path / "r.nc", engine="h5netcdf")
    assert "exact_mi" in back.attrs["sweep"] and back.attrs["l2m_sim_version"]
    xr.testing.assert_identical(deterministic(back.load()), deterministic(ds))


def test_failures_are_data_and_retry(tmp_path):
    sw = slow_sweep(fail_on=3)
    ds = run_sweep(sw, out=tmp_path / "r.nc", progress=False)
    bad = ds.sel(a=3)
    assert (bad.status == "error").all() and "deliberate failure" in str(bad.message.values[0])
    assert np.isnan(bad.value).all()
    ok = ds.sel(a=4)
    np.testing.assert_allclose(ok.value, [16.0, 8.0])
    # a re-run leaves failed cells alone; retry_failed runs them again
    mtime = {p: p.stat().st_mtime_ns for p in cells_dir(tmp_path / "r.nc").glob("*.nc")}
    run_sweep(sw, out=tmp_path / "r.nc", progress=False)
    assert mtime == {p: p.stat().st_mtime_ns for p in cells_dir(tmp_path / "r.nc").glob("*.nc")}


def test_killed_sweep_resumes_to_the_identical_dataset(tmp_path):
    """SIGKILL mid-run, then run again: same dataset as an uninterrupted run."""
    ref = run_sweep(slow_sweep(sleep=0.1), out=tmp_path / "ref.nc", progress=False)
    out = tmp_path / "killed.nc"
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]
        import _sweep_jobs
        from tests.test_sweep import slow_sweep
        from l2m_sim.sweep import run_sweep
        run_sweep(slow_sweep(sleep=0.1), out={str(out)!r}, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    cdir = cells_dir(out)
    deadline = time.time() + 120
    while time.time() < deadline:
        if cdir.exists() and len(list(cdir.glob("*.nc"))) >= 5:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(list(cdir.glob("*.nc")))
    assert 5 <= n_done < 24, "the kill should land mid-sweep"
    assert not out.exists()
    ds = run_sweep(slow_sweep(sleep=0.1), out=out, progress=False)  # resume
    assert len(list(cdir.glob("*.nc"))) == 24  # nothing duplicated
    xr.testing.assert_identical(deterministic(ds), deterministic(ref))
    back = xr.open_dataset(out, engine="h5netcdf").load()
    xr.testing.assert_identical(deterministic(back), deterministic(ref))


def test_dask_local_cluster_equals_serial(tmp_path):
    sw = Sweep("exact_mi", grid={"process": ["subvolume", "fgn", "markov-binary"],
                                 "length": [16, 64]})
    serial = run_sweep(sw, out=tmp_path / "serial.nc", progress=False)
    par = run_sweep(sw, out=tmp_path / "dask.nc", scheduler="local", workers=2, progress=False)
    xr.testing.assert_identical(deterministic(par), deterministic(serial))


def test_toml_and_validation_before_work(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(textwrap.dedent("""
        [sweep]
        job = "exact_mi"
        out = "x.nc"
        [fixed]
        distances = [1, 2]
        [grid]
        process = ["log"]
        length = [16, 64]
    """))
    sw = load_sweep(f)
    assert len(sw.configs) == 2 and sw.out == "x.nc"
    assert sw.configs[1] == ExactMIJob(process="log", length=64, distances=(1, 2))
    assert config_hash(sw.configs[0]) != config_hash(sw.configs[1])


@pytest.mark.parametrize("text, match", [
    ('[sweep]\njob = "exact_mi"\n[grid]\nlenght = [16]\n', "lenght"),
    ('[sweep]\njob = "exact_mi"\n[grid]\nlength = ["16"]\n', "length must be an integer"),
    ('[sweep]\njob = "exact_mi"\n[grid]\nlength = [1]\n', r"length must be in \[2"),
    ('[sweep]\njob = "exact_mi"\n[grid]\nprocess = ["nosuch"]\n', "process: unknown family"),
    ('[sweep]\njob = "nojob"\n', "job must be one of"),
    ('[sweep]\njob = "exact_mi"\n[grid]\nlength = 16\n', "grid.length must be a non-empty list"),
    ('[sweep]\njob = "exact_mi"\n[extra]\n', "unknown section"),
    ('[sweep]\njob = "exact_mi"\n[fixed]\nlength = 16\n[grid]\nlength = [16]\n', "both"),
    ('[sweep]\njob = "slow_square"\n[grid]\nsleep = [9.0]\n', r"sleep must be in \[0.0, 5.0\]"),
    ('[sweep\n', "not valid TOML"),
])
def test_bad_config_refused_naming_the_key(tmp_path, text, match):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(SweepError, match=match):
        load_sweep(f)
    assert not (tmp_path / "x.nc.cells").exists()


def test_missing_cells_restored_from_the_combined_file(tmp_path, capsys):
    """The combined file is enough: with the cell folder gone, a rerun puts every cell back
    from it (nothing recomputed) and writes the same data; a cell whose config differs
    from the stored one is not taken from it."""
    import shutil

    from l2m_sim.sweep import cells_dir

    sw = Sweep("exact_mi", grid={"process": ["ar1", "markov-binary"], "length": [8, 16]})
    out = tmp_path / "s.nc"
    first = run_sweep(sw, out=out, progress=False)
    shutil.rmtree(cells_dir(out))
    capsys.readouterr()
    again = run_sweep(sw, out=out, progress=True)
    assert "restored 4 finished cells from s.nc" in capsys.readouterr().out
    assert len(list(cells_dir(out).glob("*.nc"))) == 4
    xr.testing.assert_identical(again.drop_vars("cell_seconds"), first.drop_vars("cell_seconds"))
    other = Sweep("exact_mi", grid={"process": ["ar1"], "length": [8]},
                  fixed={"distances": [1, 2]})
    shutil.rmtree(cells_dir(out))
    run_sweep(other, out=out, progress=True)
    assert "restored" not in capsys.readouterr().out
