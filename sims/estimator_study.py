"""The estimator study: every estimator against the exact bipartite MI, as L grows.

Runs :func:`l2m_sim.validate` on

* Gaussian processes -- the study's sub-volume family (true beta = log_4 3), AR(1) with
  phi = 0.9 (I_BP = 0.830 at every L) and fractional Gaussian noise (H = 0.75, I_BP ~ log
  L) -- with the bias-corrected Gaussian log-det, KSG (k = 3), InfoNCE and NWJ (held out),
  and the model-based direct and vCLUB estimators with the exact process as the model;
* token processes -- the binary Markov chain (flip 0.1) and the discrete sub-volume family
  (beta = log_4 3) -- with the Grassberger block-entropy estimator (X and Y coded as one
  symbol each; feasible for short blocks only) and the model-based estimators.

Writes ``sims/results/estimator_study.nc`` and ``estimator_study.png`` (estimate / truth
against L per estimator and process; fitted beta-hat against the true beta) and prints
the tables. ``--fast`` is a small version (the test suite runs it).

    python sims/estimator_study.py [--fast] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from l2m_sim import TaskEstimator, validate  # noqa: E402
from l2m_sim import estimators as E  # noqa: E402
from l2m_sim.validate import direct_exact as direct, vclub_exact as vclub  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MAX_BLOCK_BITS = 16


def grassberger_block(x, y, rng=None):
    """I(X; Y) = H(X) + H(Y) - H(X, Y) from Grassberger entropies of whole blocks (tokens),
    each block coded as one symbol. Refuses blocks with more than 2**16 possible codes."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.dtype.kind not in "iu":
        raise TypeError("grassberger_block needs integer tokens")
    M = int(max(x.max(), y.max())) + 1
    bits = (x.shape[1] + y.shape[1]) * np.log2(max(M, 2))
    if bits > MAX_BLOCK_BITS:
        raise ValueError(f"blocks of {x.shape[1]} + {y.shape[1]} tokens over {M} symbols have "
                         f"2^{bits:.0f} joint codes (> 2^{MAX_BLOCK_BITS}): too sparse")

    def codes(a):
        return (a * (M ** np.arange(a.shape[1]))[None, :]).sum(axis=1)

    cx, cy = codes(x), codes(y)
    cxy = cx * (M ** y.shape[1]) + cy

    def H(c):
        return E.grassberger_entropy(np.unique(c, return_counts=True)[1])

    return H(cx) + H(cy) - H(cxy)


def plot(full: xr.Dataset, png: Path) -> Path:
    """estimate / truth vs L per estimator and process (fixed colours), and beta-hat."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    est = full.estimate.mean("seed").isel(n_samples=0)
    ests = [str(e) for e in full.estimator.values]
    colours = {e: f"C{i}" for i, e in enumerate(ests)}
    procs = list(full.process.values)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, proc in zip(axes.ravel(), procs):
        t = full.truth.sel(process=proc)
        for e in ests:
            r = (est.sel(estimator=e, process=proc) / t)
            ok = np.isfinite(r.values)
            if ok.any():
                ax.semilogx(full.length.values[ok], r.values[ok], "o-", color=colours[e], label=e)
        ax.axhline(1, color="k", ls="--", lw=1)
        ax.set_ylim(-0.5, 3.2)
        ax.set_title(str(proc).split(",channels")[0], fontsize=9)
        ax.set_xlabel("sequence length L")
        ax.set_ylabel("estimate / exact I_BP (clipped to [-0.5, 3.2])")
        ax.legend(fontsize=7)
    ax = axes.ravel()[-1]
    sel = [p for p in procs if "subvolume" in str(p)]
    x = np.arange(len(sel))
    w = 0.8 / (len(ests) + 1)
    ax.bar(x, [float(full.beta_true.sel(process=p)) for p in sel], w, color="k", label="exact")
    for i, e in enumerate(ests):
        vals = [float(full.beta_hat.sel(estimator=e, process=p).isel(n_samples=0)) for p in sel]
        ax.bar(x + (i + 1) * w, vals, w, color=colours[e], label=e)
    ax.set_xticks(x + w * len(ests) / 2)
    ax.set_xticklabels([str(p).split(":")[0] for p in sel], fontsize=8)
    ax.set_ylabel("fitted beta (slope of log I vs log L; non-positive estimates left out)")
    ax.set_title("beta-hat vs exact beta = log_4 3 = 0.792", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--out", type=Path, default=RESULTS / "estimator_study.nc")
    ap.add_argument("--plot-only", action="store_true",
                    help="redraw the figure from an existing --out file")
    args = ap.parse_args(argv)
    if args.plot_only:
        with xr.open_dataset(args.out, engine="h5netcdf") as f:
            return plot(f.load(), args.out.with_suffix(".png"))
    fast = args.fast
    n = 600 if fast else 4000
    seeds = [0] if fast else [0, 1]
    cont = {"gaussian": E.ESTIMATORS["gaussian"], "ksg (k=3)": E.ESTIMATORS["ksg1"],
            "infonce": E.ESTIMATORS["infonce"], "nwj": E.ESTIMATORS["nwj"],
            "direct (exact q)": TaskEstimator(direct), "vclub (exact q)": TaskEstimator(vclub)}
    if fast:
        from functools import partial

        cont["infonce"] = partial(E.infonce, steps=60)
        cont["nwj"] = partial(E.nwj, steps=60)
    tok = {"grassberger block": grassberger_block, "direct (exact q)": TaskEstimator(direct),
           "vclub (exact q)": TaskEstimator(vclub)}
    groups = [
        (cont, ["subvolume"], [4, 16, 64] if fast else [4, 16, 64, 256]),
        (cont, ["ar1:phi=0.9"], [2, 8] if fast else [2, 8, 32, 64]),
        (cont, ["fgn:hurst=0.75"], [4, 16] if fast else [4, 16, 64, 256]),
        (tok, ["markov-binary:flip=0.1"], [4, 8] if fast else [4, 8, 16, 64]),
        (tok, ["discrete-subvolume"], [4, 16] if fast else [4, 16, 64, 256]),
    ]
    parts = []
    for ests, procs, lengths in groups:
        ds = validate(ests, procs, lengths=lengths, n_samples=[n], seeds=seeds, progress=not fast)
        parts.append(ds.drop_vars(["beta_hat", "beta_true"]))
    full = xr.merge(parts, join="outer", compat="no_conflicts", combine_attrs="drop_conflicts")
    from l2m_sim.validate import fit_exponent

    full["beta_hat"] = xr.apply_ufunc(
        lambda y: fit_exponent(full.length.values, y), full.estimate.mean("seed"),
        input_core_dims=[["length"]], vectorize=True)
    full["beta_true"] = xr.apply_ufunc(
        lambda y: fit_exponent(full.length.values, y), full.truth,
        input_core_dims=[["length"]], vectorize=True)
    full.attrs.update(title="l2m-sim estimator study", n_samples=n,
                      command="python sims/estimator_study.py" + (" --fast" if fast else ""))
    for v in full.variables.values():
        v.encoding = {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    full.to_netcdf(args.out, engine="h5netcdf")

    est = full.estimate.mean("seed").isel(n_samples=0)
    for proc in full.process.values:
        t = full.truth.sel(process=proc)
        Ls = [int(L) for L in full.length.values if np.isfinite(t.sel(length=L))]
        print(f"\n{proc}: estimate (mean over seeds) vs exact I_BP, nats, n = {n}")
        print(f"{'estimator':<20}" + "".join(f"{'L=' + str(L):>10}" for L in Ls) + f"{'beta_hat':>10}")
        print(f"{'exact':<20}" + "".join(f"{float(t.sel(length=L)):>10.4f}" for L in Ls)
              + f"{float(full.beta_true.sel(process=proc)):>10.3f}")
        for e in full.estimator.values:
            row = [float(est.sel(estimator=e, process=proc, length=L)) for L in Ls]
            if not np.any(np.isfinite(row)):
                continue
            bh = float(full.beta_hat.sel(estimator=e, process=proc).isel(n_samples=0))
            print(f"{str(e):<20}" + "".join(f"{v:>10.4f}" for v in row) + f"{bh:>10.3f}")
    st = full.status.values.astype(str)
    bad = np.isin(st, ["error", "timeout", "nonfinite"])
    print(f"\n{int(bad.sum())} estimator calls recorded a failure (status/message in the file); "
          f"by estimator: " + ", ".join(f"{e}: {int(bad[i].sum())}"
                                       for i, e in enumerate(full.estimator.values) if bad[i].any()))

    png = plot(full, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {png}")
    return full


if __name__ == "__main__":
    main()
