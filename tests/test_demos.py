"""The teaching demos in sims/demos run (fast mode) and write their figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DEMOS = Path(__file__).resolve().parents[1] / "sims" / "demos"
NAMES = sorted(p.stem for p in DEMOS.glob("*.py") if not p.stem.startswith("_"))


def load(name):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMOS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_all_four_demos_exist():
    assert {"two_point_vs_bipartite", "history_state_bound", "estimator_pitfalls",
            "markov_vs_hierarchical"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_demo_runs_fast_and_writes_its_figure(name, tmp_path, capsys):
    path = load(name).main(["--fast", "--out", str(tmp_path)])
    assert Path(path).exists() and Path(path).stat().st_size > 5000
    assert Path(path).parent == tmp_path
    assert capsys.readouterr().out.strip()  # every demo prints its numbers
    # the committed full-size figure exists too
    assert (DEMOS / "figures" / Path(path).name).exists(), \
        f"run: python sims/demos/{name}.py  (and commit sims/demos/figures/)"
