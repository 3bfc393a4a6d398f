"""The history-state phase diagram on tokens: held-out KL against state size d and length L
for a discrete hierarchical copy process.

The process is ``discrete-subvolume`` (b = 4, k = 3, alphabet 4, copy noise 0.05,
``bijection=identity``): every block of 4 symbols is built from 2 noisy copy pairs,
recursively, so the middle cut carries N(L) = 3^(l-1) pairs (beta = log_4 3 = 0.792) of
about 1.2 nats each -- copies strong enough that a model which cannot hold them loses a
visible share of the predictable information. The identity row map keeps every copy a
plain copy (two-point MI 1.185 nats between a symbol and its copy); the family's default
random row map scrambles the same information into higher-order dependence (two-point MI
below 0.08 nats), and there no model here learned anything beyond the marginals in
1500-2000 steps (KL 0.445 against 0.444 predictable at L = 16). Everything exact is exact: the held-out KL against the exact conditionals,
the predictable information per token ``(sum_t H(W_t) - H(W_1..W_L)) / L`` and the
bipartite MI.

Models: ``state_core`` (history state exactly ``d`` floats at any width) over a grid of
``d``, and ``gpt`` (full context). There is no exact lower bound for a ``d``-float state on
tokens (a float can hold many bits), so the state a length needs is read off the trained
models alone: d*(L) = the smallest d within ``TOL`` nats/token of the plateau (the lowest
KL over d at that L), and beta_hat from a log-log fit of d* against L, beside the exact
beta and N(L).

Protocol (no tuning on the evaluation seed), as in ``sims/l2m_phase.py``: per model and
length the lr is chosen from ``lrs`` on seed 1 (state_core at the smallest grid state
>= N(L)), the grid runs on seed 0; every run stores its held-out KL after each quarter of
training and ``converged``.

Usage::

    python sims/l2m_tokens.py [--scale tiny|cpu] [--scheduler local] [--workers 2]

Writes ``sims/results/l2m_tokens.nc`` and ``.png`` (cells under
``l2m_tokens_<scale>_*.nc.cells/``: a killed run resumes); ``--scale tiny`` writes under
``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import xarray as xr

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from l2m_phase import TOL, _job, fit_beta, n_pairs, pick_lrs, process_at, required_state  # noqa: E402,I001

from l2m_sim.sweep import Sweep, run_sweep  # noqa: E402

RESULTS = HERE / "results"
PROCESS = "discrete-subvolume:branching=4,copies=3,alphabet=4,noise=0.05,bijection=identity"
#: the same copies through the family's default random row map (``--scrambled``)
SCRAMBLED = "discrete-subvolume:branching=4,copies=3,alphabet=4,noise=0.05"

SCALES = {
    "tiny": dict(lengths=[16], states=[1, 4], steps={16: 8}, eval=8, lrs=(1e-2,),
                 seeds=dict(length=16, seeds=[2])),
    "cpu": dict(lengths=[16, 64], states=[1, 2, 4, 8, 16, 32], steps={16: 1500, 64: 2000},
                eval=128, lrs=(3e-3, 1e-2, 3e-2), seeds=dict(length=64, seeds=[2, 3])),
}


def selection_state(scale, L) -> int:
    """The state of the lr-selection run: the smallest grid state holding N(L) pairs."""
    states = SCALES[scale]["states"]
    return min([d for d in states if d >= n_pairs(L)] or [max(states)])


def lr_configs(scale, process=PROCESS):
    s = SCALES[scale]
    return [_job(L, m, selection_state(scale, L) if m == "state_core" else 0, lr, 1,
                 s["steps"][L], s["eval"], process)
            for L in s["lengths"] for m in ("state_core", "gpt") for lr in s["lrs"]]


def grid_configs(scale, lrs):
    s = SCALES[scale]
    out = []
    for L in s["lengths"]:
        out += [_job(L, "state_core", d, lrs["state_core"][L], 0, s["steps"][L], s["eval"],
                     PROCESS) for d in s["states"]]
        out.append(_job(L, "gpt", 0, lrs["gpt"][L], 0, s["steps"][L], s["eval"], PROCESS))
    return out


def seed_configs(scale, lrs):
    """The seed stage (``--seeds``): GPT and StateCore at the largest grid state, at one
    length, on more seeds with the grid's lr and steps: how much of a cell is the seed?"""
    s = SCALES[scale]
    sd = s.get("seeds")
    if not sd:
        return []
    L, dmax = sd["length"], max(s["states"])
    return [_job(L, m, dmax if m == "state_core" else 0, lrs[m][L], seed, s["steps"][L],
                 s["eval"], PROCESS) for m in ("state_core", "gpt") for seed in sd["seeds"]]


def add_seeds(ds: xr.Dataset, seeds: xr.Dataset, scale: str, lrs: dict) -> xr.Dataset:
    """``kl_seeds`` over (``seed_model``, ``extra_seed``) at the stage's length."""
    sd = SCALES[scale]["seeds"]
    L, dmax = sd["length"], max(SCALES[scale]["states"])
    g = seeds.squeeze(["process", "length"], drop=True)
    rows = [[float(g["kl"].sel(model="state_core", state=dmax, lr=lrs["state_core"][L],
                               seed=k)) for k in sd["seeds"]],
            [float(g["kl"].sel(model="gpt", state=0, lr=lrs["gpt"][L], seed=k))
             for k in sd["seeds"]]]
    ds["kl_seeds"] = (("seed_model", "extra_seed"), np.array(rows), {
        "units": "nats", "long_name": f"held-out KL at L = {L} on more seeds (state_core at "
                                      f"d = {dmax}, gpt), the grid's lr and steps"})
    ds = ds.assign_coords(seed_model=[f"state_core d={dmax}", "gpt"], extra_seed=sd["seeds"])
    ds.attrs["seeds_length"] = L
    return ds


def assemble(grid: xr.Dataset, lrs: dict, scale: str) -> xr.Dataset:
    from l2m_sim import make_process

    s = SCALES[scale]
    Ls, states = s["lengths"], s["states"]
    g = grid.squeeze(["process", "seed"], drop=True)

    def pick(var, m, L, d):
        return g[var].sel(model=m, length=L, lr=lrs[m][L], state=d)

    kl = np.array([[float(pick("kl", "state_core", L, d)) for d in states] for L in Ls])
    conv = np.array([[float(pick("converged", "state_core", L, d)) == 1 for d in states]
                     for L in Ls])
    curve = np.array([[pick("kl_curve", "state_core", L, d).values for d in states] for L in Ls])
    gpt = np.array([float(pick("kl", "gpt", L, 0)) for L in Ls])
    gpt_conv = np.array([float(pick("converged", "gpt", L, 0)) == 1 for L in Ls])
    pred = np.array([float(pick("predictable", "gpt", L, 0)) for L in Ls])
    ibp = np.array([float(make_process(PROCESS, L).bipartite_mi()) for L in Ls])
    npairs = np.array([n_pairs(L) for L in Ls])
    dstar = [required_state(row, states, TOL) for row in kl]
    ds = xr.Dataset(
        {"kl": (("model", "length", "state"), kl[None], {
            "units": "nats", "long_name": "held-out KL per token against the exact conditionals"}),
         "converged": (("model", "length", "state"), conv[None]),
         "kl_curve": (("model", "length", "state", "quarter"), curve[None], {
             "units": "nats", "long_name": "held-out KL after each quarter of training"}),
         "kl_full": (("full_model", "length"), gpt[None], {
             "units": "nats", "long_name": "held-out KL per token, full-context model"}),
         "converged_full": (("full_model", "length"), gpt_conv[None]),
         "predictable": (("length",), pred, {
             "units": "nats", "long_name": "KL of the marginal predictor per token (exact)"}),
         "bipartite_mi": (("length",), ibp, {"units": "nats", "long_name": "exact middle-cut "
                                                                          "bipartite MI"}),
         "n_pairs": (("length",), npairs, {"units": "pairs",
                                          "long_name": "copy pairs across the middle cut, N(L)"}),
         "required_state": (("length",), np.array(dstar), {
             "units": "floats", "long_name": f"smallest state within {TOL} nats/token of the "
                                            "plateau (state_core)"})},
        coords={"model": ["state_core"], "full_model": ["gpt"], "length": Ls, "state": states,
                "quarter": [1, 2, 3, 4]})
    ds.attrs.update({
        "process": process_at(PROCESS, Ls[0]),
        "beta_exact": math.log(3) / math.log(4),
        "beta_hat_state_core": fit_beta(Ls, dstar),
        "tolerance": TOL,
        "lr": json.dumps({m: {str(L): v for L, v in sel.items()} for m, sel in lrs.items()}),
        "lr_selection": "lowest final KL on seed 1 at each length (state_core at the smallest "
                        "grid state >= N(L))",
        "scale": scale,
        "command": f"python sims/l2m_tokens.py --scale {scale} --seeds",
        "units": "nats",
    })
    return ds


def report(ds: xr.Dataset) -> None:
    print(f"\nprocess {ds.attrs['process']} (at the smallest length); lr {ds.attrs['lr']}")
    for L in ds.length.values:
        pred = float(ds.predictable.sel(length=L))
        print(f"\n== L = {int(L)}: predictable {pred:.4f} nats/token, I_BP "
              f"{float(ds.bipartite_mi.sel(length=L)):.2f} nats, N(L) = "
              f"{int(ds.n_pairs.sel(length=L))}")
        print(f"{'state':>6} {'KL':>9} {'captured':>9}")
        for d in ds.state.values:
            v = float(ds.kl.sel(model="state_core", length=L, state=d))
            c = "" if bool(ds.converged.sel(model="state_core", length=L, state=d)) else "*"
            print(f"{int(d):>6} {v:>9.4f}{c:1} {100 * (1 - v / pred):>8.1f}%")
        g = float(ds.kl_full.sel(full_model="gpt", length=L))
        c = "" if bool(ds.converged_full.sel(full_model="gpt", length=L)) else "*"
        print(f"{'gpt':>6} {g:>9.4f}{c:1} {100 * (1 - g / pred):>8.1f}%")
    print("(* = not converged: > 2% change over the last quarter of training)")
    print("required state d*(L):", " ".join(f"{v:g}" for v in ds.required_state.values))
    print(f"beta_exact = {ds.attrs['beta_exact']:.3f}, "
          f"beta_hat_state_core = {ds.attrs['beta_hat_state_core']:.3f}")
    if "kl_seeds" in ds:
        L = ds.attrs["seeds_length"]
        pred = float(ds.predictable.sel(length=L))
        print(f"more seeds at L = {L} (captured):")
        for m in ds.seed_model.values:
            print(f"  {m:>16}: " + ", ".join(
                f"seed {int(k)} {float(v):.4f} ({100 * (1 - float(v) / pred):.1f}%)"
                for k, v in zip(ds.extra_seed.values, ds.kl_seeds.sel(seed_model=m).values)))


def figure(ds: xr.Dataset, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.85, ds.sizes["length"]))
    for c, L in zip(colors, ds.length.values):
        pred = ds.predictable.sel(length=L)
        frac = ds.kl.sel(model="state_core", length=L) / pred
        axes[0].plot(ds.state, frac, "o-", color=c, label=f"state_core L={int(L)}")
        axes[0].axhline(float(ds.kl_full.sel(full_model="gpt", length=L) / pred), color=c,
                        ls="-.", lw=0.9, label=f"gpt L={int(L)}")
        axes[0].axvline(int(ds.n_pairs.sel(length=L)), color=c, lw=0.6, alpha=0.5)
        axes[1].plot(ds.state / int(ds.n_pairs.sel(length=L)), frac, "o-", color=c,
                     label=f"L={int(L)}")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_ylabel("KL / predictable information")
        ax.axhline(0.1, color="grey", lw=0.6)
        ax.legend(fontsize=7)
    axes[0].set_xlabel("history state d (floats)")
    axes[0].set_title("KL(d, L); dash-dot: GPT; vertical: N(L) copy pairs; grey: 90 % "
                      "captured", fontsize=9)
    axes[1].set_xlabel("d / N(L)")
    axes[1].set_title("collapse on d / N(L)", fontsize=9)
    fig.suptitle(f"Token history-state phase diagram, {ds.attrs['process']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scrambled(a, out: Path) -> int:
    """The selection runs (every model and lr, seed 1) on the scrambled copies: same exact
    I_BP, higher-order dependence. Prints KL against the predictable information."""
    ds = run_sweep(Sweep.from_configs(lr_configs(a.scale, SCRAMBLED)),
                   out / f"l2m_tokens_scrambled_{a.scale}_lr.nc", scheduler=a.scheduler,
                   workers=a.workers)
    df = ds[["kl", "predictable"]].squeeze(["process", "seed"], drop=True).to_dataframe()
    print(f"\n{SCRAMBLED} (bijection=random), seed 1:")
    print(df.dropna(subset=["kl"]).to_string())
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--out", default=None, help="results folder (default sims/results)")
    ap.add_argument("--scheduler", default=None, help="None (in process), 'local' or an address")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", action="store_true",
                    help="also GPT and the largest StateCore on more seeds at one length")
    ap.add_argument("--scrambled", action="store_true",
                    help="only the lr-selection runs, on the same copies through the default "
                         "random row map (bijection=random), and print them")
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    if a.scrambled:
        return scrambled(a, out)
    lr_ds = run_sweep(Sweep.from_configs(lr_configs(a.scale)),
                      out / f"l2m_tokens_{a.scale}_lr.nc", scheduler=a.scheduler,
                      workers=a.workers)
    lrs = pick_lrs(lr_ds)
    print("lr selection (seed 1, per length):", lrs)
    grid = run_sweep(Sweep.from_configs(grid_configs(a.scale, lrs)),
                     out / f"l2m_tokens_{a.scale}_cells.nc", scheduler=a.scheduler,
                     workers=a.workers)
    ds = assemble(grid, lrs, a.scale)
    if a.seeds and seed_configs(a.scale, lrs):
        more = run_sweep(Sweep.from_configs(seed_configs(a.scale, lrs)),
                         out / f"l2m_tokens_{a.scale}_seeds.nc", scheduler=a.scheduler,
                         workers=a.workers)
        ds = add_seeds(ds, more, a.scale, lrs)
    name = "l2m_tokens" if a.scale == "cpu" else f"l2m_tokens_{a.scale}"
    ds.to_netcdf(out / f"{name}.nc", engine="h5netcdf")
    figure(ds, out / f"{name}.png")
    report(ds)
    print(f"\nwrote {out / (name + '.nc')} and {out / (name + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
