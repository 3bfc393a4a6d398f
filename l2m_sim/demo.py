"""The main demo: exact scaling tables of the study's two hierarchical families.

The demo makes the central point of the package visible in a few seconds. For the
source study's 4x4 matrix (``b = 4``) it computes, exactly and in nats,

* the **bipartite MI** at the middle cut, ``I(W_{1:L/2}; W_{L/2+1:L})``, against the length
  ``L = 4, 16, ..., 4**levels_max`` for the "subvolume" family (``k = 3``, grows like
  ``L**beta`` with ``beta = log_4 3``) and the "log" family (``k = 1``: constant without
  boundary coupling, ``~ log L`` with it), each uncoupled and with boundary coupling;
* the exponent fitted to the last few levels beside the closed forms of
  :meth:`~l2m_sim.HierarchicalGaussian.exponents` (``beta``, ``alpha_avg``, ``alpha_env``,
  ``alpha_antipodal``);
* the **two-point MI** against the distance ``d = 4**m`` (mean of the exact
  ``two_point_mi`` over pairs at that distance) and for the first-versus-last pair.

What it shows: the first-versus-last two-point MI is the *same* for both families at every
``L``, while their bipartite MI differs by orders of magnitude -- two-point decay cannot
tell sub-volume growth from a constant, and a model's history state must grow like the
bipartite MI (the L2M condition), not like anything the two-point curve suggests.

Coupled designs are evaluated by a dense log-det (``L <= DENSE_MAX``), which is slow
beyond ``L = 4**5`` on a small machine; the coupled part therefore stops at
``coupled_levels_max`` (default 5).

Outputs: aligned tables on stdout, ``demo.nc`` (an :class:`xarray.Dataset`, netCDF via
h5netcdf, every information variable with ``units = "nats"``) and ``demo.png`` (two
log-log panels).
"""

from __future__ import annotations

import datetime as _dt
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__
from ._util import fit_exponent, git_revision
from .hierarchical import DEFAULT_COUPLING, DENSE_MAX, paper_family

__all__ = ["DemoConfig", "output_paths", "check_outputs", "build_dataset", "format_tables",
           "plot_dataset", "run"]

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


# ---------------------------------------------------------------------- text output


def _fmt(value, width: int, spec: str = ".6g") -> str:
    return f"{'-':>{width}}" if not np.isfinite(value) else f"{value:>{width}{spec}}"


def _variants():
    return [(f, c) for f in FAMILIES for c in COUPLINGS]


def format_tables(ds: xr.Dataset) -> str:
    """The demo's three aligned tables as text (nats)."""
    return "\n\n".join([_bipartite_text(ds), _exponent_text(ds), _two_point_text(ds)])


def _bipartite_text(ds: xr.Dataset) -> str:
    names = [_variant_name(f, c) for f, c in _variants()]
    w = max(len(n) for n in names) + 2
    lines = [
        "Exact bipartite MI at the middle cut, I(W_1..W_L/2 ; W_L/2+1..W_L), nats",
        f"{'level':>5} {'L':>9}" + "".join(f"{n:>{w}}" for n in names) + f"{'I(W_1; W_L)':>{w}}",
    ]
    for k, (level, L) in enumerate(zip(ds["level"].values, ds["L"].values)):
        row = [ds["bipartite_mi"].sel(family=f, coupling=c).values[k] for f, c in _variants()]
        tp = ds["two_point_mi_first_last"].sel(family="subvolume", coupling="uncoupled").values[k]
        lines.append(f"{level:>5d} {L:>9d}" + "".join(_fmt(v, w) for v in row) + _fmt(tp, w, ".5g"))
    rho = ds["coupling"].attrs["coupled_target_correlation"]
    same = _first_last_identical(ds)
    lines += [
        f"+coupling: boundary pairs set to correlation {rho} at every level; exact by dense "
        f"log-det, up to L = {BRANCHING ** ds.attrs['config_coupled_levels_max']}.",
        "I(W_1; W_L): first versus last position -- "
        + ("identical for all four variants." if same else "subvolume, uncoupled (differs across variants)."),
    ]
    return "\n".join(lines)


def _exponent_text(ds: xr.Dataset) -> str:
    names = [_variant_name(f, c) for f, c in _variants()]
    w = max(len(n) for n in names) + 2
    lines = [
        f"Exponents. beta fit: slope of ln I_BP vs ln L over the last {ds.attrs['config_fit_levels']} "
        "computed levels; alpha fit: minus the slope of the log-binned two-point MI vs d.",
        "The rest are closed forms, HierarchicalGaussian.exponents() (alphas: of the uncoupled design).",
        f"{'variant':<{w}}{'beta fit':>9}{'beta':>8}{'alpha fit':>11}{'alpha_avg':>11}{'alpha_env':>11}"
        f"{'alpha_antipodal':>17}{'growth':>10}{'last dI_BP':>12}",
    ]
    for (f, c), n in zip(_variants(), names):
        s = ds.sel(family=f, coupling=c)
        bip = s["bipartite_mi"].values[np.isfinite(s["bipartite_mi"].values)]
        beta_fit = round(s["beta_fit"].item(), 4) + 0.0  # no "-0.0000"
        lines.append(
            f"{n:<{w}}{beta_fit:>9.4f}{s['beta'].item():>8.4f}{s['alpha_fit'].item():>11.4f}"
            f"{s['alpha_avg'].item():>11.4f}{s['alpha_env'].item():>11.4f}"
            f"{s['alpha_antipodal'].item():>17.4f}{str(s['growth'].item()):>10}"
            f"{bip[-1] - bip[-2]:>12.4g}"
        )
    lines.append("last dI_BP: increment over the last level (x3 per level: power law; constant: log L).")
    return "\n".join(lines)


def _two_point_text(ds: xr.Dataset) -> str:
    short = {"subvolume": "subvol", "log": "log"}
    names = [short[f] + ("+c" if c == "coupled" else "") for f, c in _variants()]
    w = 11
    head = "".join(f"{n:>{w}}" for n in names)
    lines = [
        "Mean exact two-point MI I(W_i; W_i+d), nats. Left: d random in the log bin [4^m, 4^(m+1))",
        "(decays like d^-alpha_avg; bins with d >= L/4 left out). Right: d = 4^m exactly (envelope).",
        f"{'4^m':>8}{head}  |{head}",
    ]
    for k, d in enumerate(ds["distance"].values):
        binned = [ds["two_point_mi"].sel(family=f, coupling=c).values[k] for f, c in _variants()]
        exact = [ds["two_point_mi_at_distance"].sel(family=f, coupling=c).values[k] for f, c in _variants()]
        lines.append(f"{d:>8d}" + "".join(_fmt(v, w, ".4g") for v in binned) + "  |"
                     + "".join(_fmt(v, w, ".4g") for v in exact))
    length = ds["two_point_length"]
    pairs = ds["two_point_pairs"].max(dim="distance")
    where = "; ".join(f"{n}: L={length.sel(family=f, coupling=c).item()}, "
                      f"{pairs.sel(family=f, coupling=c).item()} pairs"
                      for (f, c), n in zip(_variants(), names))
    lines += ["+c = with boundary coupling. Pairs per bin (random, seed "
              f"{ds.attrs['config_seed']}; all pairs at d = 4^m when fewer):", f"  {where}."]
    return "\n".join(lines)


def _first_last_identical(ds: xr.Dataset) -> bool:
    """Whether the first-versus-last MI agrees (to 1e-9 relative) wherever computed."""
    v = ds["two_point_mi_first_last"].values
    ref = v[0, 0]
    return bool(np.all(np.isnan(v) | np.isclose(v, ref, rtol=1e-9, atol=0)))


# ---------------------------------------------------------------------- figure


def plot_dataset(ds: xr.Dataset, path) -> None:
    """Draw the demo figure (two log-log panels) to ``path`` (PNG via Agg; no pyplot state).

    Left: bipartite MI against L for the four variants, fitted ``beta`` in the legend.
    Right: log-binned mean two-point MI against distance (fitted ``alpha`` in the legend),
    the envelope (pairs at exactly ``d = 4**m``) of the uncoupled sub-volume family, and
    the first-versus-last pair against ``d = L - 1``.
    """
    from matplotlib.figure import Figure  # Figure.savefig renders PNG with Agg; no pyplot

    fig = Figure(figsize=(13, 5.2), layout="constrained")
    ax_bp, ax_tp = fig.subplots(1, 2)
    colors = {"subvolume": "tab:blue", "log": "tab:orange"}
    styles = {"uncoupled": ("-", "o", None), "coupled": ("--", "s", "none")}
    for f, c in _variants():
        s = ds.sel(family=f, coupling=c)
        ls, mk, mfc = styles[c]
        kw = dict(color=colors[f], ls=ls, marker=mk, ms=5, mfc=mfc)
        beta_fit = round(s["beta_fit"].item(), 3) + 0.0  # no "-0.000"
        level = round(np.log(s["two_point_length"].item()) / np.log(BRANCHING))
        ax_bp.plot(s["L"], s["bipartite_mi"], **kw,
                   label=rf"{_variant_name(f, c)}  (fit $\beta$ = {beta_fit:.3f})")
        ax_tp.plot(s["distance"], s["two_point_mi"], **kw,
                   label=(rf"{_variant_name(f, c)}, log-binned mean (fit $\alpha$ = "
                          rf"{s['alpha_fit'].item():.2f}; L = 4$^{{{level}}}$)"))
    env = ds.sel(family="subvolume", coupling="uncoupled")
    ax_tp.plot(env["distance"], env["two_point_mi_at_distance"], color=colors["subvolume"], ls=":",
               marker="x", label=rf"subvolume, pairs at exactly d = 4$^m$ (envelope, "
                                 rf"$\alpha_{{env}}$ = {env['alpha_env'].item():.2f})")
    fl = ds["two_point_mi_first_last"]
    if _first_last_identical(ds):
        ax_tp.plot(ds["L"] - 1, fl.isel(family=0, coupling=0), color="k", ls=":", marker="^",
                   label="first vs last, d = L − 1 (identical for all four)")
    else:
        for f in FAMILIES:
            ax_tp.plot(ds["L"] - 1, fl.sel(family=f, coupling="uncoupled"), color=colors[f], ls=":",
                       marker="^", label=f"{f}: first vs last, d = L − 1")
    ax_bp.set(xscale="log", yscale="log", xlabel="sequence length L",
              ylabel="bipartite MI at the middle cut (nats)",
              title=r"Bipartite MI: sub-volume $L^\beta$ vs constant / log L")
    ax_tp.set(xscale="log", yscale="log", xlabel="distance d",
              ylabel=r"two-point MI $I(W_i; W_{i+d})$ (nats)",
              title="Two-point MI: decay with distance")
    for ax in (ax_bp, ax_tp):
        ax.grid(True, which="major", alpha=0.4)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"l2m-sim {ds.attrs['l2m_sim_version']}: exact information structure of the "
                 f"study's hierarchical families (b = {BRANCHING}, nats)")
    fig.savefig(path, dpi=120)


# ---------------------------------------------------------------------- driver


def output_paths(out) -> dict[str, Path]:
    """Paths of the demo's output files inside the folder ``out``."""
    return {key: Path(out) / name for key, name in OUTPUT_FILES.items()}


def check_outputs(out, force: bool = False) -> dict[str, Path]:
    """Validate the output folder; refuse to overwrite existing files unless ``force``.

    Raises
    ------
    FileExistsError
        An output file exists and ``force`` is false (the message names the path).
    NotADirectoryError
        ``out`` exists and is not a folder.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output folder {str(out)!r} exists and is not a folder")
    paths = output_paths(out)
    if not force:
        for path in paths.values():
            if path.exists():
                raise FileExistsError(f"{str(path)!r} exists; pass --force to overwrite it")
    return paths


def families_sweep(out, force: bool = False, progress: bool = False) -> xr.Dataset:
    """Part 2: exact bipartite MI (middle cut) and two-point MI of one process of every
    kind over L = 16..1024, run as a resumable sweep (``l2m_sim.sweep``) into
    ``OUT/demo_families.nc`` (finished cells in ``OUT/demo_families.nc.cells/``)."""
    from .sweep import Sweep, run_sweep

    sweep = Sweep("exact_mi", grid=FAMILY_SWEEP, fixed={"distances": FAMILY_DISTANCES})
    return run_sweep(sweep, out=output_paths(out)["families"], force=force, progress=progress)


def format_families(ds: xr.Dataset) -> str:
    """The family table: I_BP against L, fitted slope, two-point MI at the largest L."""
    Ls = [int(L) for L in ds.length.values]
    Lmax = max(Ls)
    w = max([24] + [len(str(p)) + 2 for p in ds.process.values])
    head = (f"{'process':<{w}}" + "".join(f"{'L=' + str(L):>10}" for L in Ls)
            + f"{'slope':>8}  " + "".join(f"{'I(0;' + str(d) + ')':>10}" for d in FAMILY_DISTANCES))
    lines = ["Exact bipartite MI (middle cut, nats) of every kind of process, and two-point MI "
             f"I(W_0; W_d) at L = {Lmax}", head]
    for proc in ds.process.values:
        bp = ds.bipartite_mi.sel(process=proc)
        se = ds.bipartite_mi_se.sel(process=proc)
        cells = []
        for L in Ls:
            v, e = float(bp.sel(length=L)), float(se.sel(length=L))
            cells.append(f"{v:.4g}" + ("*" if e > 0 else ""))
        slope = fit_exponent(Ls[-3:], bp.values[-3:])
        tp = ds.two_point_mi.sel(process=proc, length=Lmax).values
        lines.append(f"{str(proc):<{w}}" + "".join(f"{c:>10}" for c in cells) + f"{slope:>8.3f}  "
                     + "".join(f"{v:>10.3g}" for v in tp))
    lines.append("slope: of ln I_BP vs ln L over the last 3 lengths (power law: beta; ~0: bounded)."
                 " *: Monte-Carlo average of exact log-probabilities (the tree beyond exact "
                 "enumeration; standard error in the file).")
    return "\n".join(lines)


def run(cfg: DemoConfig | None = None, out="results", force: bool = False, command: str = "",
        stream=None, families: bool = True) -> xr.Dataset:
    """Compute, print and save the demo.

    Parameters
    ----------
    cfg : DemoConfig, optional
    out : path
        Output folder (created if missing); receives ``demo.nc`` and ``demo.png``.
    force : bool
        Overwrite existing output files.
    command : str
        Command line recorded in the Dataset attributes.
    stream : file, optional
        Where the tables are printed (default ``sys.stdout``).

    Returns
    -------
    xarray.Dataset
    """
    cfg = cfg or DemoConfig()
    stream = stream or sys.stdout
    paths = check_outputs(out, force)  # before any work: fail fast
    ds = build_dataset(cfg, command)
    Path(out).mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(paths["netcdf"], engine="h5netcdf")
    plot_dataset(ds, paths["figure"])
    print(format_tables(ds), file=stream)
    print(f"\nwrote {paths['netcdf']} and {paths['figure']}", file=stream)
    if families:
        from .plot import plot_exact_mi

        fam = families_sweep(out, force=force)
        fam.attrs["command"] = command
        plot_exact_mi(fam, paths["families"], force=True)
        print("\n" + format_families(fam), file=stream)
        print(f"\nwrote {paths['families']} and {paths['families_figure']}", file=stream)
    return ds
