"""Standard figures from results files (matplotlib, Agg backend).

:func:`plot_results` recognises what a dataset holds by its variables and draws:

* **exact MI** (``bipartite_mi`` over ``length``, optional ``two_point_mi`` over
  ``distance``): bipartite MI vs L and two-point MI vs d on log axes, each curve labelled
  with its fitted exponent; Monte-Carlo values (``bipartite_mi_se > 0``) get error bars;
* **validation** (``estimate`` and ``truth`` over ``length``, from :func:`l2m_sim.validate`
  or a validate sweep): estimate / truth vs length per estimator, one panel per process,
  and the fitted beta-hat beside the true beta;
* **training** (``kl`` over ``length`` with a ``model`` dimension, from
  :func:`l2m_sim.train` results): KL vs L per model, and KL vs I_BP / dim(z) when the
  dataset carries ``bipartite_mi`` and ``history_state``.

Every function returns the list of PNG paths written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ._util import fit_exponent

__all__ = ["plot_results", "plot_exact_mi", "plot_validation", "plot_training"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, force: bool) -> Path:
    import matplotlib.pyplot as plt

    if path.exists() and not force:
        plt.close(fig)
        raise FileExistsError(f"{str(path)!r} exists; pass --force to overwrite it")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _reduce_to(da: xr.DataArray, keep) -> xr.DataArray:
    """Mean over every dim not in ``keep`` (seeds, sample sizes...)."""
    other = [d for d in da.dims if d not in keep]
    return da.mean(other, skipna=True) if other else da


def _series_dim(da: xr.DataArray, exclude) -> str | None:
    dims = [d for d in da.dims if d not in exclude]
    return dims[0] if dims else None


def plot_exact_mi(ds: xr.Dataset, out: Path, force: bool = True) -> list[Path]:
    plt = _plt()
    has_tp = "two_point_mi" in ds and "distance" in ds.dims
    fig, axes = plt.subplots(1, 2 if has_tp else 1, figsize=(11 if has_tp else 6, 4.2),
                             squeeze=False)
    ax = axes[0, 0]
    bp = ds["bipartite_mi"]
    sdim = _series_dim(bp, ("length",))
    groups = [None] if sdim is None else list(bp[sdim].values)
    # more series than the default cycle's 10 colours: one colour each from tab20
    colors = (list(plt.get_cmap("tab20")(np.arange(len(groups)) % 20)) if len(groups) > 10
              else [None] * len(groups))
    se_all = ds["bipartite_mi_se"] if "bipartite_mi_se" in ds else None
    for g, col in zip(groups, colors):
        y = bp if g is None else bp.sel({sdim: g})
        y = _reduce_to(y, ("length",))
        L = y["length"].values
        beta = fit_exponent(L[-3:], y.values[-3:])
        label = f"{g if g is not None else ''}  (slope of last 3: {beta:.3f})"
        yerr = None
        if se_all is not None:
            se = _reduce_to(se_all if g is None else se_all.sel({sdim: g}), ("length",)).values
            if np.any(np.nan_to_num(se) > 0):
                # Monte-Carlo values (e.g. the tree past enumeration): 1 standard error bars
                yerr = np.nan_to_num(se)
                pos = np.nan_to_num(y.values) > 0
                rel = float(np.max(yerr[pos] / y.values[pos], initial=0.0))
                label += f"  ± 1 s.e. (≤ {100 * rel:.1f}%)"
        ax.errorbar(L, y.values, yerr=yerr, fmt="o-", color=col, capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("bipartite MI at the middle cut (nats)")
    ax.set_title("Bipartite MI vs L")
    ax.legend(fontsize=7)
    if has_tp:
        ax = axes[0, 1]
        tp = ds["two_point_mi"]
        Lmax = int(ds["length"].values.max())
        tp = tp.sel(length=Lmax)
        for g, col in zip(groups, colors):
            y = tp if g is None else tp.sel({sdim: g})
            y = _reduce_to(y, ("distance",))
            d = y["distance"].values
            alpha = -fit_exponent(d, y.values)
            ax.loglog(d, y.values, "s-", color=col, label=f"{g if g is not None else ''}  (alpha ~ {alpha:.3f})")
        ax.set_xlabel("distance d")
        ax.set_ylabel("I(W_0; W_d) (nats)")
        ax.set_title(f"Two-point MI at L = {Lmax}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return [_save(fig, out.with_name(out.stem + "_exact_mi.png"), force)]


def plot_validation(ds: xr.Dataset, out: Path, force: bool = True) -> list[Path]:
    plt = _plt()
    est = ds["estimate"]
    truth = ds["truth"]
    procs = list(ds["process"].values) if "process" in ds.dims else [None]
    ests = list(ds["estimator"].values) if "estimator" in ds.dims else [None]
    fig, axes = plt.subplots(1, len(procs), figsize=(4.6 * len(procs), 4), squeeze=False)
    for j, proc in enumerate(procs):
        ax = axes[0, j]
        e_p = est if proc is None else est.sel(process=proc)
        t_p = truth if proc is None else truth.sel(process=proc)
        t_p = _reduce_to(t_p, ("length",))
        for name in ests:
            e = e_p if name is None else e_p.sel(estimator=name)
            e = _reduce_to(e, ("length",))
            ratio = e / t_p
            ax.semilogx(e["length"].values, ratio.values, "o-", label=str(name))
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xlabel("sequence length L")
        ax.set_ylabel("estimate / exact I_BP")
        ax.set_title(str(proc) if proc is not None else "")
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths = [_save(fig, out.with_name(out.stem + "_validation.png"), force)]
    # beta-hat beside the true beta
    if "length" in est.dims and est.sizes["length"] >= 2:
        fig, ax = plt.subplots(figsize=(6, 4))
        width = 0.8 / max(1, len(ests) + 1)
        x = np.arange(len(procs))
        L = ds["length"].values
        tb = [fit_exponent(L, _reduce_to(truth if p is None else truth.sel(process=p),
                                         ("length",)).values) for p in procs]
        ax.bar(x, tb, width, color="k", label="true beta (exact)")
        for i, name in enumerate(ests):
            vals = []
            for p in procs:
                e = est if p is None else est.sel(process=p)
                e = e if name is None else e.sel(estimator=name)
                vals.append(fit_exponent(L, _reduce_to(e, ("length",)).values))
            ax.bar(x + (i + 1) * width, vals, width, label=str(name))
        ax.set_xticks(x + width * len(ests) / 2)
        ax.set_xticklabels([str(p) for p in procs], rotation=15, fontsize=7)
        ax.set_ylabel("fitted exponent of I_BP vs L")
        ax.set_title("beta-hat vs true beta")
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(_save(fig, out.with_name(out.stem + "_beta.png"), force))
    return paths


def plot_training(ds: xr.Dataset, out: Path, force: bool = True) -> list[Path]:
    plt = _plt()
    kl = ds["kl"]
    sdim = "model" if "model" in kl.dims else _series_dim(kl, ("length",))
    groups = list(kl[sdim].values) if sdim else [None]
    has_collapse = "bipartite_mi" in ds and "history_state" in ds
    fig, axes = plt.subplots(1, 2 if has_collapse else 1, figsize=(11 if has_collapse else 6, 4.2),
                             squeeze=False)
    ax = axes[0, 0]
    for g in groups:
        y = kl if g is None else kl.sel({sdim: g})
        y = _reduce_to(y, ("length",))
        ax.loglog(y["length"].values, y.values, "o-", label=str(g))
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("average KL to the exact conditionals (nats/token)")
    ax.set_title("KL vs L")
    ax.legend(fontsize=7)
    if has_collapse:
        ax = axes[0, 1]
        for g in groups:
            y = kl if g is None else kl.sel({sdim: g})
            z = ds["history_state"] if g is None or sdim not in ds["history_state"].dims else \
                ds["history_state"].sel({sdim: g})
            ib = ds["bipartite_mi"]
            xr_ = (ib / z).broadcast_like(y)
            ax.loglog(np.ravel(xr_.values), np.ravel(y.values), "o", label=str(g))
        ax.set_xlabel("I_BP / dim(z)")
        ax.set_ylabel("KL (nats/token)")
        ax.set_title("KL vs I_BP / history-state size")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return [_save(fig, out.with_name(out.stem + "_training.png"), force)]


def plot_results(path, out=None, force: bool = False) -> list[Path]:
    """Draw the standard figures of a results file; returns the PNG paths.

    ``out`` is the stem for the PNGs (default: next to the results file, ``<name>_*.png``);
    existing PNGs are not overwritten unless ``force``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results file not found: {path}")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    out = Path(out) if out is not None else path.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    if "kl" in ds:
        written += plot_training(ds, out, force)
    if "estimate" in ds and "truth" in ds:
        written += plot_validation(ds, out, force)
    elif "bipartite_mi" in ds and "length" in ds.dims and "kl" not in ds:
        written += plot_exact_mi(ds, out, force)
    if not written:
        raise ValueError(f"{path}: no known results in it (expected variables bipartite_mi, "
                         f"estimate/truth or kl)")
    return written
