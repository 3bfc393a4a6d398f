"""The demo's family table and figure show the tree's Monte-Carlo I_BP with its standard
error, and that standard error is honest: it matches the spread of independent repeats."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import l2m_sim.protocol as protocol
from l2m_sim.demo.report import format_families, format_with_error
from l2m_sim.demo.tables import FAMILY_DISTANCES
from l2m_sim.plot import plot_exact_mi
from l2m_sim.protocol import NoExactValue, bipartite_mi_estimate, bipartite_mi_mc
from l2m_sim.registry import make_process

TREE = "tree:flip=0.1"  # the demo's tree row (l2m_sim.demo.tables.FAMILY_SWEEP)


# ---------------------------------------------------------------------- formatting


@pytest.mark.parametrize("value, se, text", [
    (0.06923565, 0.0010383, "0.0692 ± 0.0010"),
    (0.06155636, 0.0009975, "0.0616 ± 0.0010"),  # s.e. rounds up to 0.0010
    (0.0573929, 0.0017936, "0.0574 ± 0.0018"),
    (12.34, 1.7, "12.3 ± 1.7"),
    (0.08587514, 0.0, "0.08588"),  # exact: no error shown
    (23.8054, float("nan"), "23.81"),
])
def test_format_with_error(value, se, text):
    assert format_with_error(value, se) == text


def _families_dataset():
    """A small stand-in for the demo's family sweep: one exact row, one Monte-Carlo row."""
    procs, lengths = ["ar1:phi=0.9", TREE], [16, 64, 256]
    bp = np.array([[0.8304] * 3, [0.08588, 0.06924, 0.06156]])
    se = np.array([[0.0] * 3, [0.0, 0.0010383, 0.0009975]])
    tp = np.full((2, 3, len(FAMILY_DISTANCES)), 0.01)
    return xr.Dataset(
        {"bipartite_mi": (("process", "length"), bp),
         "bipartite_mi_se": (("process", "length"), se),
         "two_point_mi": (("process", "length", "distance"), tp)},
        coords={"process": procs, "length": lengths, "distance": FAMILY_DISTANCES})


def test_family_table_shows_the_tree_row_with_its_error():
    text = format_families(_families_dataset())
    tree = next(line for line in text.splitlines() if line.startswith(TREE))
    assert "0.08588" in tree and "0.0692 ± 0.0010" in tree and "0.0616 ± 0.0010" in tree
    ar1 = next(line for line in text.splitlines() if line.startswith("ar1"))
    assert "±" not in ar1 and "*" not in text
    # columns stay aligned: every row as long as the header
    rows = text.splitlines()[1:-1]
    assert len({len(r) for r in rows}) == 1


def test_family_figure_draws_error_bars_for_monte_carlo_values(tmp_path, monkeypatch):
    import matplotlib.axes

    calls = []
    orig = matplotlib.axes.Axes.errorbar

    def spy(self, x, y, yerr=None, **kw):
        calls.append((kw.get("label", ""), None if yerr is None else np.asarray(yerr)))
        return orig(self, x, y, yerr=yerr, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", spy)
    (path,) = plot_exact_mi(_families_dataset(), tmp_path / "fam.nc")
    assert path.exists()
    by_label = {label.split()[0]: yerr for label, yerr in calls}
    assert by_label["ar1:phi=0.9"] is None
    np.testing.assert_allclose(by_label[TREE], [0.0, 0.0010383, 0.0009975])
    assert any("± 1 s.e." in label for label, _ in calls if label.startswith(TREE))


# ---------------------------------------------------------------------- honest s.e.

REPEATS = 20
#: The spread of REPEATS estimates over the mean reported s.e. must lie in this band (the
#: sample std of 20 values scatters by ~16% around the true std, so a correct s.e. lands
#: inside with overwhelming probability, and a s.e. off by a factor ~1.7 does not).
BAND = (0.6, 1.6)


def _spread_ratio(process, **kwargs):
    est, ses = [], []
    for s in range(REPEATS):
        v, se = bipartite_mi_estimate(process, rng=np.random.default_rng([2024, s]), **kwargs)
        assert se > 0  # a Monte-Carlo value, not an exact one
        est.append(v)
        ses.append(se)
    return float(np.std(est, ddof=1) / np.mean(ses)), np.array(est), np.array(ses)


def test_tree_beyond_enumeration_has_no_exact_value():
    with pytest.raises(NoExactValue):
        make_process(TREE, 32).bipartite_mi()


def test_reported_se_matches_the_spread_of_repeats_fixed_n():
    """20 independent estimates (2000 samples each) of the tree at L = 32: their standard
    deviation is the mean reported s.e. within the band."""
    ratio, _, _ = _spread_ratio(make_process(TREE, 32), n=2000)
    assert BAND[0] <= ratio <= BAND[1], ratio


def test_reported_se_matches_the_spread_of_repeats_adaptive(monkeypatch):
    """The same through the adaptive sample-count rule (pilot, then as many samples as the
    target s.e. asks for), with the target loosened to 4e-3 nats so the test is fast: the
    pilot's s.e. (~8e-3) asks for ~4x more samples."""
    monkeypatch.setattr(protocol, "MC_ABS_SE", 4e-3)
    ratio, _, ses = _spread_ratio(make_process(TREE, 32))
    assert np.all(ses < 4.5e-3)  # the rule did extend the pilot
    assert BAND[0] <= ratio <= BAND[1], ratio


def test_monte_carlo_mean_is_unbiased_where_the_exact_value_exists():
    """At L = 16 the tree is enumerated exactly: the mean of 20 Monte-Carlo estimates is
    within 4 of its standard errors of the exact value."""
    p = make_process(TREE, 16)
    exact = p.bipartite_mi()
    est = [bipartite_mi_mc(p, n=2000, rng=np.random.default_rng([7, s]))
           for s in range(REPEATS)]
    v = np.array([e[0] for e in est])
    se_mean = np.mean([e[1] for e in est]) / np.sqrt(REPEATS)
    assert abs(v.mean() - exact) < 4 * se_mean
    assert BAND[0] <= v.std(ddof=1) / np.mean([e[1] for e in est]) <= BAND[1]


@pytest.mark.slow
@pytest.mark.parametrize("length", [64, 256])
def test_reported_se_is_honest_at_the_demo_settings(length):
    """The demo's own setting (default sample-count rule) at L = 64 and 256 (~1-3 min)."""
    ratio, _, _ = _spread_ratio(make_process(TREE, length))
    assert BAND[0] <= ratio <= BAND[1], ratio
