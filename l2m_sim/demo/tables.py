"""The demo's computations: exact scaling tables of the study's two hierarchical families
and the sweep of one process of every kind, as labelled datasets (the report -- text
tables and figure -- is :mod:`l2m_sim.demo.report`; the driver :func:`l2m_sim.demo.run`)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .. import __version__
from .._util import fit_exponent, git_revision
from ..processes.hierarchical import DEFAULT_COUPLING, DENSE_MAX, paper_family

__all__ = ["DemoConfig", "bipartite_tables", "two_point_table", "exponent_table", "build_dataset",
           "families_sweep"]

FAMILIES = ("subvolume", "log")
COUPLINGS = ("uncoupled", "coupled")
BRANCHING = 4
#: Largest total level the demo accepts (4**12 = 16.8M positions, a few seconds).
LEVELS_MAX_LIMIT = 12
#: Largest coupled level: the dense covariance must fit ``DENSE_MAX``.
COUPLED_LEVELS_LIMIT = int(round(np.log(DENSE_MAX) / np.log(BRANCHING)))
OUTPUT_FILES = {"netcdf": "demo.nc", "figure": "demo.png",
                "families": "demo_families.nc", "families_figure": "demo_families_exact_mi.png"}

#: The drifting Santa Fe design of part 2: a = 2, eps_k = 0.25 k^-2 (gamma = a), so both
#: exponents are power laws, beta = 1/a = 0.5 and alpha = (2a - 1)/gamma = 1.5 (theory/santafe.md).
SANTA_FE_DRIFT = "santa-fe-drift:flip_scale=0.25,flip_exponent=2.0"
#: Part 2 of the demo: every kind of process of the package, through the sweep engine.
FAMILY_SWEEP = {
    "process": ["subvolume", "hierarchical:copies=2", "log", "fgn:hurst=0.75",
                "ar1:phi=0.9", "markov-binary:flip=0.1", "all-equal", "tree:flip=0.1",
                "discrete-subvolume", "santa-fe", SANTA_FE_DRIFT],
    "length": [16, 64, 256, 1024],
}
FAMILY_DISTANCES = [1, 4, 16, 64]


@dataclass(frozen=True)
class DemoConfig:
    """Settings of one demo run (stored in the output's attributes).

    Parameters
    ----------
    levels_max : int
        Uncoupled families are tabulated for levels ``1..levels_max`` (``L = 4**level``),
        ``2 <= levels_max <= 12``.
    coupled_levels_max : int
        Coupled families stop here (dense log-det), ``2 <= . <= min(levels_max, 7)``.
    fit_levels : int
        The fitted exponent is the least-squares slope of ``ln I_BP`` against ``ln L``
        over this many last levels (``>= 2``).
    pairs : int
        Pairs per distance bin for the two-point averages of the uncoupled variants.
    coupled_pairs : int
        The same for the coupled variants (each coupled covariance is an exact but
        slower recursion).
    seed : int
        Seed of the pair sampling.
    """

    levels_max: int = 10
    coupled_levels_max: int = 5
    fit_levels: int = 3
    pairs: int = 20000
    coupled_pairs: int = 4096
    seed: int = 0

    def __post_init__(self):
        checks = (
            ("levels_max", self.levels_max, 2, LEVELS_MAX_LIMIT),
            ("coupled_levels_max", self.coupled_levels_max, 2,
             min(self.levels_max, COUPLED_LEVELS_LIMIT)),
            ("fit_levels", self.fit_levels, 2, None),
            ("pairs", self.pairs, 2, None),
            ("coupled_pairs", self.coupled_pairs, 2, None),
            ("seed", self.seed, 0, None),
        )
        for name, value, lo, hi in checks:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an integer, got {value!r}")
            if value < lo or (hi is not None and value > hi):
                allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
                raise ValueError(f"{name} must be {allowed}, got {value}")

    def max_level(self, coupling: str) -> int:
        """Highest level computed for a coupling variant."""
        return self.coupled_levels_max if coupling == "coupled" else self.levels_max

    def pairs_for(self, coupling: str) -> int:
        """Pairs per distance bin for a coupling variant."""
        return self.coupled_pairs if coupling == "coupled" else self.pairs


def _process(family: str, coupling: str, level: int):
    """The study's process of one variant at one level."""
    return paper_family(family, level, coupling=(coupling == "coupled"))


def _variant_name(family: str, coupling: str) -> str:
    return family if coupling == "uncoupled" else f"{family}+coupling"


# ---------------------------------------------------------------------- computations


def bipartite_tables(cfg: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
    """Exact middle-cut bipartite MI and first-versus-last two-point MI against L.

    Returns
    -------
    bipartite, first_last : ndarrays, shape ``(2, 2, levels_max)`` (family, coupling,
        level), nats; NaN above a variant's highest level.
    """
    shape = (len(FAMILIES), len(COUPLINGS), cfg.levels_max)
    bip = np.full(shape, np.nan)
    first_last = np.full(shape, np.nan)
    for f, fam in enumerate(FAMILIES):
        for c, cpl in enumerate(COUPLINGS):
            for level in range(1, cfg.max_level(cpl) + 1):
                p = _process(fam, cpl, level)
                bip[f, c, level - 1] = p.bipartite_mi()
                first_last[f, c, level - 1] = p.two_point_mi(0, p.length - 1)
    return bip, first_last


def _fit_last(lengths: np.ndarray, mi: np.ndarray, last: int) -> float:
    """:func:`~l2m_sim._util.fit_exponent` over the ``last`` finite positive points (NaN
    entries are levels not computed)."""
    ok = np.isfinite(mi) & (mi > 0)
    return fit_exponent(lengths[ok][-last:], mi[ok][-last:])


def two_point_table(cfg: DemoConfig) -> dict[str, np.ndarray]:
    """Mean exact two-point MI against distance, at each variant's largest length.

    Two averages per distance bin ``m`` (``d`` from ``4**m``):

    * ``"binned"``: ``d`` uniform in ``[4**m, 4**(m+1))`` and ``i`` uniform in
      ``[0, L - d)`` -- the log-binned average whose decay is ``alpha_avg``. The last bin,
      ``d >= L / 4``, is left out (NaN): only the first positions have partners that far,
      a finite-size effect that bends the curve;
    * ``"exact"``: ``d = 4**m`` exactly. Such pairs share their lower ``m`` digits, so they
      sit on the envelope (decay ``alpha_env``); all ``L - d`` pairs are used when there
      are at most ``pairs`` of them.

    Returns
    -------
    dict of ndarrays
        ``"binned"``, ``"binned_sem"``, ``"exact"``, ``"exact_sem"`` (nats) and
        ``"pairs"`` with shape ``(2, 2, levels_max)`` (family, coupling, bin; NaN / 0 where
        ``4**m >= L``), and ``"length"`` (2, 2): the length the pairs come from.
    """
    shape = (len(FAMILIES), len(COUPLINGS), cfg.levels_max)
    out = {k: np.full(shape, np.nan) for k in ("binned", "binned_sem", "exact", "exact_sem")}
    out["pairs"] = np.zeros(shape, dtype=np.int64)
    out["length"] = np.zeros(shape[:2], dtype=np.int64)
    for f, fam in enumerate(FAMILIES):
        for c, cpl in enumerate(COUPLINGS):
            rng = np.random.default_rng(cfg.seed)
            p = _process(fam, cpl, cfg.max_level(cpl))
            n = cfg.pairs_for(cpl)
            out["length"][f, c] = p.length
            out["pairs"][f, c, : p.levels] = n
            for m in range(p.levels):
                d = BRANCHING**m
                if m < p.levels - 1:
                    mi = p.two_point_mi(*_pairs_in_bin(p.length, d, BRANCHING * d, n, rng))
                    out["binned"][f, c, m], out["binned_sem"][f, c, m] = mi.mean(), _sem(mi)
                i = np.arange(p.length - d)
                exhaustive = i.size <= n
                if not exhaustive:
                    i = rng.integers(0, p.length - d, size=n)
                mi = p.two_point_mi(i, i + d)
                out["exact"][f, c, m] = mi.mean()
                out["exact_sem"][f, c, m] = 0.0 if exhaustive else _sem(mi)
    return out


def _pairs_in_bin(length: int, lo: int, hi: int, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random pairs ``(i, i + d)``, ``d`` uniform in ``[lo, hi)``, ``hi < length``."""
    d = rng.integers(lo, hi, size=n)
    i = rng.integers(0, length - d)
    return i, i + d


def _sem(x: np.ndarray) -> float:
    """Standard error of the mean of a sample."""
    return float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")


def exponent_table(cfg: DemoConfig) -> dict[str, np.ndarray]:
    """Closed-form exponents (:meth:`HierarchicalGaussian.exponents`) of the four variants.

    Returns
    -------
    dict of ndarrays, shape (2, 2): ``beta``, ``alpha_avg``, ``alpha_env``,
    ``alpha_antipodal`` (floats) and ``growth`` (strings).
    """
    names = ("beta", "alpha_avg", "alpha_env", "alpha_antipodal", "growth")
    out = {n: np.empty((len(FAMILIES), len(COUPLINGS)), dtype=object if n == "growth" else float)
           for n in names}
    for f, fam in enumerate(FAMILIES):
        for c, cpl in enumerate(COUPLINGS):
            e = _process(fam, cpl, cfg.max_level(cpl)).exponents()
            for n in names:
                out[n][f, c] = getattr(e, n)
    return out


# ---------------------------------------------------------------------- dataset


def build_dataset(cfg: DemoConfig, command: str = "") -> xr.Dataset:
    """Compute every table of the demo and return it as a labelled Dataset.

    Parameters
    ----------
    cfg : DemoConfig
    command : str
        The command line that produced it (stored in the attributes).

    Returns
    -------
    xarray.Dataset
        Dimensions ``family`` (2), ``coupling`` (2), ``L`` (levels_max) and ``distance``
        (levels_max, the bins' lower edges ``4**m``); information variables in nats,
        NaN where a variant was not computed.
    """
    levels = np.arange(1, cfg.levels_max + 1)
    lengths = BRANCHING**levels
    distances = BRANCHING ** np.arange(cfg.levels_max)
    bip, first_last = bipartite_tables(cfg)
    tp = two_point_table(cfg)
    ex = exponent_table(cfg)
    nf, nc = len(FAMILIES), len(COUPLINGS)
    beta_fit = np.array([[_fit_last(lengths, bip[f, c], cfg.fit_levels) for c in range(nc)]
                         for f in range(nf)])
    alpha_fit = np.array([[-fit_exponent(distances, tp["binned"][f, c]) for c in range(nc)]
                          for f in range(nf)])

    fc, fcl, fcd = ("family", "coupling"), ("family", "coupling", "L"), ("family", "coupling", "distance")
    nat, one = {"units": "nats"}, {"units": "1"}
    data_vars = {
        "bipartite_mi": (fcl, bip, {**nat, "long_name": "exact bipartite MI at the middle cut"}),
        "two_point_mi_first_last": (fcl, first_last, {
            **nat, "long_name": "exact two-point MI of the first and last positions, I(W_1; W_L)"}),
        "two_point_mi": (fcd, tp["binned"], {
            **nat, "long_name": "mean exact two-point MI over random pairs with distance in "
                                "[distance, 4 * distance) (log bin)",
            "note": "pairs from the variant's largest length two_point_length; the last bin "
                    "(distance >= L/4, a finite-size effect) is left out"}),
        "two_point_mi_sem": (fcd, tp["binned_sem"], {
            **nat, "long_name": "standard error of two_point_mi (pair sampling)"}),
        "two_point_mi_at_distance": (fcd, tp["exact"], {
            **nat, "long_name": "mean exact two-point MI over pairs at exactly this distance"}),
        "two_point_mi_at_distance_sem": (fcd, tp["exact_sem"], {
            **nat, "long_name": "standard error of two_point_mi_at_distance (0: all pairs used)"}),
        "two_point_pairs": (fcd, tp["pairs"], {**one, "long_name": "random pairs per distance bin"}),
        "two_point_length": (fc, tp["length"], {**one, "long_name": "length L the pairs come from"}),
        "beta_fit": (fc, beta_fit, {**one, "long_name": (
            f"slope of ln bipartite_mi against ln L over the last {cfg.fit_levels} computed levels")}),
        "alpha_fit": (fc, alpha_fit, {**one, "long_name": (
            "minus the slope of ln two_point_mi against ln distance (all computed bins)")}),
        "beta": (fc, ex["beta"], {**one, "long_name": "closed-form bipartite exponent"}),
        "alpha_avg": (fc, ex["alpha_avg"], {**one, "long_name": "closed-form log-binned two-point exponent"}),
        "alpha_env": (fc, ex["alpha_env"], {**one, "long_name": "closed-form envelope two-point exponent"}),
        "alpha_antipodal": (fc, ex["alpha_antipodal"], {
            **one, "long_name": "closed-form first-versus-last two-point exponent"}),
        "growth": (fc, ex["growth"].astype(str), {"long_name": "bipartite growth law"}),
    }
    coords = {
        "family": ("family", list(FAMILIES)),
        "coupling": ("coupling", list(COUPLINGS), {"coupled_target_correlation": DEFAULT_COUPLING}),
        "L": ("L", lengths, {**one, "long_name": "sequence length"}),
        "level": ("L", levels, {**one, "long_name": "hierarchy level (L = 4**level)"}),
        "distance": ("distance", distances, {**one, "long_name": "distance d = j - i (bin lower edge)"}),
    }
    attrs = {
        "title": "l2m-sim demo: exact information scaling of the study's hierarchical families",
        "l2m_sim_version": __version__,
        "command": command,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "branching": BRANCHING,
        "mixing": "paper (the study's 4x4 matrix)",
        **{f"config_{k}": v for k, v in asdict(cfg).items()},
    }
    return xr.Dataset(data_vars, coords, attrs)


def families_sweep(out, force: bool = False, progress: bool = False) -> xr.Dataset:
    """Part 2: exact bipartite MI (middle cut) and two-point MI of one process of every
    kind over L = 16..1024, run as a resumable sweep (``l2m_sim.sweep``) into
    ``OUT/demo_families.nc`` (finished cells in ``OUT/demo_families.nc.cells/``)."""
    from ..sweep import Sweep, run_sweep

    sweep = Sweep("exact_mi", grid=FAMILY_SWEEP, fixed={"distances": FAMILY_DISTANCES})
    return run_sweep(sweep, out=Path(out) / OUTPUT_FILES["families"], force=force, progress=progress)
