"""The demo's report: its aligned text tables (nats) and its figure, from the datasets of
:mod:`l2m_sim.demo.tables`."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._util import fit_exponent
from .tables import BRANCHING, COUPLINGS, FAMILIES, FAMILY_DISTANCES, _variant_name

__all__ = ["format_tables", "format_families", "format_with_error", "plot_dataset"]


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


def format_with_error(value: float, se: float) -> str:
    """``value`` alone when exact (``se == 0``), else ``value ± se`` with the standard error
    to two significant digits and the value to the same decimal place
    (``0.0692 ± 0.0010``)."""
    if not (np.isfinite(se) and se > 0):
        return f"{value:.4g}"
    se = float(f"{se:.2g}")  # two significant digits (0.0009975 -> 0.001: 0.0010)
    decimals = max(0, 1 - int(np.floor(np.log10(se))))
    return f"{value:.{decimals}f} ± {se:.{decimals}f}"


def format_families(ds: xr.Dataset) -> str:
    """The family table: I_BP against L (Monte-Carlo values with their standard error),
    fitted slope, two-point MI at the largest L."""
    Ls = [int(L) for L in ds.length.values]
    Lmax = max(Ls)
    procs = list(ds.process.values)
    cells = {str(proc): [format_with_error(float(ds.bipartite_mi.sel(process=proc, length=L)),
                                           float(ds.bipartite_mi_se.sel(process=proc, length=L)))
                         for L in Ls] for proc in procs}
    w = max([24] + [len(str(p)) + 2 for p in procs])
    wc = max([10] + [len(c) + 2 for row in cells.values() for c in row])
    head = (f"{'process':<{w}}" + "".join(f"{'L=' + str(L):>{wc}}" for L in Ls)
            + f"{'slope':>8}  " + "".join(f"{'I(0;' + str(d) + ')':>10}" for d in FAMILY_DISTANCES))
    lines = ["Exact bipartite MI (middle cut, nats) of every kind of process, and two-point MI "
             f"I(W_0; W_d) at L = {Lmax}", head]
    for proc in procs:
        bp = ds.bipartite_mi.sel(process=proc)
        slope = fit_exponent(Ls[-3:], bp.values[-3:])
        tp = ds.two_point_mi.sel(process=proc, length=Lmax).values
        lines.append(f"{str(proc):<{w}}" + "".join(f"{c:>{wc}}" for c in cells[str(proc)])
                     + f"{slope:>8.3f}  " + "".join(f"{v:>10.3g}" for v in tp))
    lines.append("slope: of ln I_BP vs ln L over the last 3 lengths (power law: beta; ~0: bounded)."
                 " a ± s: Monte-Carlo average of exact log-probabilities and its standard error "
                 "(the tree beyond exact enumeration); the rest exact.")
    return "\n".join(lines)
