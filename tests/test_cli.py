"""The ``l2m-sim`` command line: every sub-command's --help, outputs, refusals, exit codes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

from l2m_sim.cli import build_parser, main

COMMANDS = ["families", "sample", "mi", "validate", "train", "sweep", "plot", "demo"]


def test_every_subcommand_has_help(capsys):
    for cmd in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "usage: l2m-sim " + cmd in capsys.readouterr().out


def test_console_script_runs():
    # the entry point of pyproject.toml, as a user calls it (module form: same code path)
    out = subprocess.run([sys.executable, "-m", "l2m_sim.cli", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "COMMAND" in out.stdout


def test_sample_npy_and_nc_and_refusal(tmp_path, capsys):
    f = tmp_path / "x.npy"
    assert main(["sample", "ar1:phi=0.5", "--n", "3", "--length", "20", "--seed", "4",
                 "--out", str(f)]) == 0
    x = np.load(f)
    import l2m_sim

    # the samples validate() draws for the same cell (process id, length, n, seed)
    from l2m_sim._seeds import cell_streams, stream_id

    rng, _ = cell_streams(stream_id("ar1:phi=0.5", 20), 20, 3, 4)
    np.testing.assert_array_equal(x, l2m_sim.AR1(0.5, 20).sample(3, rng=rng))
    assert main(["sample", "ar1", "--out", str(f)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main(["sample", "ar1", "--out", str(f), "--force"]) == 0
    g = tmp_path / "t.nc"
    assert main(["sample", "markov-binary", "--n", "2", "--out", str(g)]) == 0
    ds = xr.open_dataset(g, engine="h5netcdf")
    assert ds.x.shape == (2, 256) and ds.attrs["process"] == "markov-binary"


def test_mi_table_matches_library(tmp_path, capsys):
    f = tmp_path / "mi.nc"
    assert main(["mi", "subvolume", "ar1:phi=0.5", "--lengths", "16", "64", "--out", str(f)]) == 0
    out = capsys.readouterr().out
    assert "fitted exponent of I_BP vs L, subvolume" in out
    ds = xr.open_dataset(f, engine="h5netcdf")
    import l2m_sim

    assert float(ds.bipartite_mi.sel(process="subvolume", length=64)) == pytest.approx(
        l2m_sim.paper_family("subvolume", 3).bipartite_mi())
    assert main(["plot", str(f)]) == 0
    assert (tmp_path / "mi_exact_mi.png").stat().st_size > 1000
    assert main(["plot", str(f)]) == 2  # PNG exists, no --force


@pytest.mark.parametrize("argv, match", [
    (["sample", "ar1", "--n", "0", "--out", "x.npy"], "--n"),
    (["sample", "ar1", "--out", "x.txt"], "--out"),
    (["mi", "subvolume", "--lengths", "1"], "--lengths"),
    (["validate", "--estimators", "nosuch"], "--estimators"),
    (["sweep", "cfg.toml", "--workers", "0"], "--workers"),
])
def test_bad_arguments_exit_2_naming_the_argument(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert match in capsys.readouterr().err


def test_bad_process_is_a_clear_error(capsys):
    assert main(["mi", "nosuch"]) == 2
    assert "unknown family" in capsys.readouterr().err
    assert main(["mi", "ar1:phi=2"]) == 2
    assert "phi" in capsys.readouterr().err


def test_sweep_command_and_resume(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    out = tmp_path / "r.nc"
    cfg.write_text(textwrap.dedent(f"""
        [sweep]
        job = "exact_mi"
        out = "{out}"
        [grid]
        process = ["log", "ar1"]
        length = [16, 64]
    """))
    assert main(["sweep", str(cfg)]) == 0
    assert "4 cells, 0 failed" in capsys.readouterr().out
    assert main(["sweep", str(cfg)]) == 0  # resumes: nothing to do, same output
    assert xr.open_dataset(out, engine="h5netcdf").sizes["length"] == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\njob = "exact_mi"\n[grid]\nlenght = [16]\n')
    assert main(["sweep", str(bad)]) == 2
    assert "lenght" in capsys.readouterr().err


def test_parser_builds():
    assert build_parser().prog == "l2m-sim"


def test_train_command(tmp_path, capsys):
    out = tmp_path / "t.nc"
    assert main(["train", "subvolume:levels=2", "--model", "gru", "--steps", "5",
                 "--d-model", "8", "--n-layer", "1", "--eval-samples", "8", "--out", str(out)]) == 0
    assert "held-out KL" in capsys.readouterr().out
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds.kl.item() > 0 and ds.attrs["model"] == "gru"
    with pytest.raises(SystemExit):
        main(["train", "ar1", "--model", "gpt", "--d-state", "4", "--out", str(tmp_path / "u.nc")])


def test_demo_writes_both_parts(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["demo", "--levels-max", "3", "--coupled-levels-max", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "every kind of process" in text
    for name in ("demo.nc", "demo.png", "demo_families.nc", "demo_families_exact_mi.png"):
        assert (out / name).exists(), name
    fam = xr.open_dataset(out / "demo_families.nc", engine="h5netcdf")
    import l2m_sim
    import l2m_sim.processes.santafe
    from l2m_sim import demo

    assert float(fam.bipartite_mi.sel(process="ar1:phi=0.9", length=64)) == pytest.approx(
        -0.5 * np.log(1 - 0.81))
    assert float(fam.bipartite_mi.sel(process="discrete-subvolume", length=256)) == pytest.approx(
        l2m_sim.HierarchicalDiscrete(4, 3, 4, 2).bipartite_mi())
    assert float(fam.bipartite_mi.sel(process="santa-fe", length=1024)) == pytest.approx(
        l2m_sim.SantaFe(2.0, 4096, 1024).bipartite_mi())
    drift = l2m_sim.processes.santafe.DriftingSantaFe(2.0, 4096, 1024, 0.25, 2.0)
    assert float(fam.two_point_mi.sel(process=demo.SANTA_FE_DRIFT, length=1024, distance=64)) == \
        pytest.approx(drift.two_point_mi(0, 64))
    assert (fam.status == "ok").all()
    # outputs are not overwritten without --force
    assert main(["demo", "--levels-max", "3", "--coupled-levels-max", "2", "--out", str(out)]) == 2
