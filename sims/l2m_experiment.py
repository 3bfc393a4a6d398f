"""The L2M experiment: does a model's history state bound what it can learn?

Trains small GPT, Mamba (several ``d_state`` at fixed ``d_inner``) and GRU models on exact
processes with **fresh samples every step** and the **exact conditional KL** as the loss,
then sets every held-out KL beside exact yardsticks:

* ``window_kl``: the KL of the optimal predictor that sees only the last 64 values (exact,
  from the covariance) -- a model beating it uses longer context;
* ``linear_bound``: the minimum average KL of any predictor whose history state at the
  middle cut is a *linear* map of the past with the model's state size (exact, from the
  canonical correlations) -- a model beating it with a non-linear state is a finding to
  check twice.

Grid (``--scale cpu``; every cell is one :class:`l2m_sim.sweep.TrainJob`, resumable):

1. **lengths**: sub-volume Gaussian (the study's matrix, beta = log_4 3), 4 channels,
   L = 16, 64, 256; GPT, GRU and Mamba with d_state = 1, 4, 16 (d_inner = 64); 2 seeds;
2. **beta control** at L = 256: Hadamard designs with k = 1, 2, 3 copies (beta = 0, 0.5,
   0.79) -- I_BP changes, the per-token task much less; GPT and Mamba d_state = 1, 16;
3. **tokens**: the discrete sub-volume family (b = 4, k = 3, binary alphabet, softmax
   heads) at L = 16, 64, 256; GPT and Mamba d_state = 1, 16.

Outputs: ``sims/results/l2m_<scale>.nc`` (all cells), ``l2m_<scale>_*.png`` and a printed
analysis (Spearman correlations of KL with L, with dim(z), with I_BP/dim(z), at fixed L
across beta), also stored in the dataset attributes.

Usage::

    python sims/l2m_experiment.py [--scale cpu|gpu|tiny] [--scheduler local] [--workers 2]

``--scale tiny`` runs in about a minute (what the tests run); ``--scale gpu`` is the
study-sized configuration (lengths to 4096, 20000 steps) for a lent GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from l2m_sim.sweep import Sweep, TrainJob, run_sweep  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

SCALES = {
    # lengths, steps, seeds, eval samples, mamba d_states, beta-control length
    "tiny": dict(lengths=[16, 64], steps=20, seeds=[0], eval=16, d_states=[1, 16],
                 beta_L=64, token_lengths=[16], warmup=2, batch=4),
    "cpu": dict(lengths=[16, 64, 256], steps=500, seeds=[0, 1], eval=128, d_states=[1, 4, 16],
                beta_L=256, token_lengths=[16, 64, 256], warmup=50, batch=8),
    "gpu": dict(lengths=[256, 1024, 4096], steps=20000, seeds=[0, 1], eval=256,
                d_states=[1, 4, 16, 64], beta_L=4096, token_lengths=[256, 1024, 4096],
                warmup=2000, batch=8),
}
WIDTH = dict(d_model=32, n_layer=2)  # d_inner = 64 for Mamba (expand 2)


def configs(scale: str) -> list[TrainJob]:
    s = SCALES[scale]
    common = dict(steps=s["steps"], warmup=s["warmup"], batch_size=s["batch"],
                  eval_samples=s["eval"], lr=3e-3, **WIDTH)
    out = []
    # (model, d_state, width overrides): GRUs of 8 and 64 floats of state bracket the
    # number of canonical correlations (27 * 4 = 108 at L = 256), so the linear-state
    # bound binds for the small ones
    models = [("gpt", 0, {}), ("gru", 0, dict(d_model=8, n_layer=1)), ("gru", 0, {})] + [
        ("mamba", d, {}) for d in s["d_states"]]
    for L in s["lengths"]:
        for model, ds, width in models:
            for seed in s["seeds"]:
                out.append(TrainJob(process="subvolume:channels=4", length=L, model=model,
                                    d_state=ds, seed=seed, **{**common, **width}))
    for k in (1, 2, 3):
        for model, ds in [("gpt", 0), ("mamba", s["d_states"][0]), ("mamba", s["d_states"][-1])]:
            for seed in s["seeds"]:
                out.append(TrainJob(process=f"hierarchical:copies={k},channels=4",
                                    length=s["beta_L"], model=model, d_state=ds, seed=seed,
                                    **common))
    for L in s["token_lengths"]:
        for model, ds in [("gpt", 0), ("mamba", s["d_states"][0]), ("mamba", s["d_states"][-1])]:
            out.append(TrainJob(process="discrete-subvolume", length=L, model=model, d_state=ds,
                                seed=s["seeds"][0], window=0, **common))
    return out


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    return float(spearmanr(a[ok], b[ok]).statistic)


def table(ds: xr.Dataset) -> list[dict]:
    """One row per finished cell (the sweep's sparse grid flattened)."""
    rows = []
    flat = ds[["kl", "history_state", "bipartite_mi", "window_kl", "linear_bound",
               "status"]].to_dataframe().reset_index()
    flat = flat[flat["status"] == "ok"]
    for r in flat.itertuples():
        rows.append(dict(process=r.process, L=int(r.length), model=str(r.model),
                         d_state=int(r.d_state), seed=int(r.seed), kl=float(r.kl),
                         d_model=int(r.d_model), n_layer=int(r.n_layer),
                         z=float(r.history_state), ibp=float(r.bipartite_mi),
                         window=float(r.window_kl), bound=float(r.linear_bound)))
    return rows


def label(r) -> str:
    if r["model"] == "mamba":
        return f"mamba d_state={r['d_state']}"
    if r["model"] == "gru":
        return f"gru {r['n_layer']}x{r['d_model']}"
    return r["model"]


def analyse(rows) -> dict:
    """The numbers the closing note reports (printed and returned)."""
    res = {}
    main = [r for r in rows if r["process"] == "subvolume:channels=4"]
    labels = sorted({label(r) for r in main})
    Ls = sorted({r["L"] for r in main})
    print("\n== sub-volume Gaussian, 4 channels: held-out KL (nats/token/channel), mean ± "
          "half-range over seeds")
    print(f"{'model':<20} " + " ".join(f"{'L=' + str(L):>18}" for L in Ls))
    for lab in labels:
        cells = []
        for L in Ls:
            v = [r["kl"] for r in main if label(r) == lab and r["L"] == L]
            cells.append(f"{np.mean(v):.4f}±{(max(v) - min(v)) / 2:.4f}" if v else "-")
        print(f"{lab:<20} " + " ".join(f"{c:>18}" for c in cells))
    for name, key in (("exact window-64 predictor", "window"), ):
        vals = []
        for L in Ls:
            v = [r[key] for r in main if r["L"] == L]
            vals.append(f"{v[0]:.4f}" if v and np.isfinite(v[0]) else "-")
        print(f"{name:<20} " + " ".join(f"{c:>18}" for c in vals))
    print("linear-state bound for each model's state size (same units):")
    for lab in labels:
        cells = []
        for L in Ls:
            v = [r["bound"] for r in main if label(r) == lab and r["L"] == L]
            cells.append(f"{v[0]:.4f}" if v else "-")
        print(f"  {lab:<18} " + " ".join(f"{c:>18}" for c in cells))
    # fixed-state models: KL vs L, and vs state size at fixed L
    ssm = [r for r in main if r["model"] in ("mamba", "gru")]
    res["spearman_kl_L_fixed_state"] = spearman([r["L"] for r in ssm], [r["kl"] for r in ssm])
    res["spearman_kl_dimz_at_L"] = {}
    for L in Ls:
        m = [r for r in main if r["model"] == "mamba" and r["L"] == L]
        res["spearman_kl_dimz_at_L"][L] = spearman([r["z"] for r in m], [r["kl"] for r in m])
    # seed noise: relative half-range over seeds
    noise = []
    for lab in labels:
        for L in Ls:
            v = [r["kl"] for r in main if label(r) == lab and r["L"] == L]
            if len(v) > 1:
                noise.append((max(v) - min(v)) / 2 / np.mean(v))
    res["seed_noise_rel_median"] = float(np.median(noise)) if noise else float("nan")
    Lmax = Ls[-1]
    g = [r for r in main if r["model"] == "gpt" and r["L"] == Lmax]
    if g:
        res["gpt_kl_at_Lmax"] = float(np.mean([r["kl"] for r in g]))
        res["window_kl_at_Lmax"] = g[0]["window"]
        res["gpt_beats_window"] = bool(res["gpt_kl_at_Lmax"] < g[0]["window"])
    beats = [r for r in main if np.isfinite(r["bound"]) and r["kl"] < r["bound"]]
    res["cells_below_linear_bound"] = [(label(r), r["L"], r["seed"], r["kl"], r["bound"])
                                       for r in beats]
    # collapse: across fixed-state cells of the length grid and the beta control
    allssm = [r for r in rows if r["model"] in ("mamba", "gru")
              and not r["process"].startswith("discrete")]
    x = [r["ibp"] / r["z"] for r in allssm]
    res["spearman_kl_ibp_over_z"] = spearman(x, [r["kl"] for r in allssm])
    res["spearman_kl_L"] = spearman([r["L"] for r in allssm], [r["kl"] for r in allssm])
    beta = [r for r in rows if r["process"].startswith("hierarchical")]
    if beta:
        res["spearman_kl_ibp_fixed_L_across_beta"] = {}
        for lab in sorted({label(r) for r in beta}):
            m = [r for r in beta if label(r) == lab]
            res["spearman_kl_ibp_fixed_L_across_beta"][lab] = spearman(
                [r["ibp"] for r in m], [r["kl"] for r in m])
        print(f"\n== beta control at L = {beta[0]['L']} (Hadamard designs, k = 1, 2, 3)")
        for lab in sorted({label(r) for r in beta}):
            for k, proc in enumerate(sorted({r["process"] for r in beta}), 1):
                v = [r for r in beta if label(r) == lab and r["process"] == proc]
                if v:
                    print(f"  {lab:<20} {proc:<36} I_BP {v[0]['ibp']:8.3f}  KL "
                          f"{np.mean([r['kl'] for r in v]):.4f}  bound {v[0]['bound']:.4f}")
    tok = [r for r in rows if r["process"].startswith("discrete")]
    if tok:
        print("\n== discrete sub-volume tokens (softmax heads): held-out KL (nats/token)")
        for lab in sorted({label(r) for r in tok}):
            print(f"  {lab:<20} " + " ".join(
                f"L={r['L']}: {r['kl']:.4f}" for r in sorted(
                    [r for r in tok if label(r) == lab], key=lambda r: r["L"])))
        res["tokens_spearman_kl_L_fixed_state"] = spearman(
            [r["L"] for r in tok if r["model"] == "mamba"],
            [r["kl"] for r in tok if r["model"] == "mamba"])
    print("\n== analysis")
    for k, v in res.items():
        print(f"  {k}: {v}")
    return res


def figures(rows, stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    main = [r for r in rows if r["process"] == "subvolume:channels=4"]
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    for lab in sorted({label(r) for r in main}):
        Ls = sorted({r["L"] for r in main if label(r) == lab})
        kl = [np.mean([r["kl"] for r in main if label(r) == lab and r["L"] == L]) for L in Ls]
        b = [[r["bound"] for r in main if label(r) == lab and r["L"] == L][0] for L in Ls]
        line, = ax[0].loglog(Ls, kl, "o-", label=lab)
        b = np.where(np.array(b) > 1e-9, b, np.nan)  # 0 (up to round-off): nothing to draw
        if np.any(np.isfinite(b)):
            ax[0].loglog(Ls, b, ":", marker="x", color=line.get_color())
    Ls = sorted({r["L"] for r in main})
    w = np.array([[r["window"] for r in main if r["L"] == L][0] for L in Ls])
    w = np.where(w > 1e-9, w, np.nan)  # 0 while the window covers the whole past
    ax[0].loglog(Ls, w, "k*--", ms=10, lw=2, label="exact window-64 predictor (0 for L <= 65)")
    ax[0].set_ylim(5e-3, 0.5)
    ax[0].set_xlabel("sequence length L")
    ax[0].set_ylabel("held-out KL (nats / token / channel)")
    ax[0].set_title("sub-volume Gaussian, C = 4 (dotted x: linear-state bound where > 0)", fontsize=9)
    ax[0].legend(fontsize=7)
    ssm = [r for r in rows if r["model"] in ("mamba", "gru") and not r["process"].startswith("discrete")]
    for proc in sorted({r["process"] for r in ssm}):
        m = [r for r in ssm if r["process"] == proc]
        ax[1].loglog([r["ibp"] / r["z"] for r in m], [r["kl"] for r in m], "o", label=proc)
    ax[1].set_xlabel("I_BP / dim(z)")
    ax[1].set_ylabel("held-out KL (nats / token / channel)")
    ax[1].set_title("fixed-state models: KL vs I_BP / history-state size")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    paths.append(stem.with_name(stem.name + "_kl.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    tok = [r for r in rows if r["process"].startswith("discrete")]
    if tok:
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for lab in sorted({label(r) for r in tok}):
            m = sorted([r for r in tok if label(r) == lab], key=lambda r: r["L"])
            ax.loglog([r["L"] for r in m], [r["kl"] for r in m], "o-", label=lab)
        ax.set_xlabel("sequence length L")
        ax.set_ylabel("held-out KL (nats / token)")
        ax.set_title("discrete sub-volume tokens (softmax heads)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(stem.with_name(stem.name + "_tokens.png"))
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    for p in paths:
        print(f"wrote {p}")
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--scheduler", default=None, help="'local' (Dask LocalCluster) or an address")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None,
                    help="results netCDF (default sims/results/l2m_<scale>.nc)")
    args = ap.parse_args(argv)
    out = args.out or RESULTS / f"l2m_{args.scale}.nc"
    sweep = Sweep.from_configs(configs(args.scale), out=str(out))
    print(f"{len(sweep.configs)} training runs -> {out} (finished cells are kept in "
          f"{out.name}.cells/; re-running resumes)")
    ds = run_sweep(sweep, out=out, scheduler=args.scheduler, workers=args.workers)
    rows = table(ds)
    res = analyse(rows)
    ds.attrs["analysis"] = json.dumps(res, default=str)
    ds.attrs["command"] = "python sims/l2m_experiment.py " + " ".join(argv or sys.argv[1:])
    from l2m_sim.sweep import _atomic_write

    _atomic_write(ds, out)
    figures(rows, out.with_suffix(""))
    return ds, res


if __name__ == "__main__":
    main()
