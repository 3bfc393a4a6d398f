"""Where trained models stall: per-block held-out KL against the exact within-block
predictors ("levels learned").

On the strong-copy hierarchical process (``hierarchical:...,pair_mi=2.0``, one channel) at
L = 64, a predictor that sees only the past inside its own 16-block has exact KL
``block_kl(p, 16)`` (mean 0.2976 nats/token): every level below the top learned, the top
level not. This script trains, with the phase diagram's settings at L = 64 (seed 0,
2000 steps, batch 16, the lr chosen there on seed 1),

* ``StateCore`` with the exact state order d = 13 (lr 1e-2),
* ``StateCoreLTV`` (per-position dense linear state map) with d = 13 (lr 3e-3),
* the ``LinearState`` reference with d = 13 (lr 3e-3),
* ``Mamba`` 2 x 32, d_state 16 (history state 2432 floats; lr 1e-2),

and stores each run's held-out KL per position beside the exact 4-, 16- and 64-block
predictors', so that the KL of each 16-block reads as "top level learned or not".

Usage::

    python sims/l2m_plateau.py [--out DIR] [--steps N]

Writes ``sims/results/l2m_plateau.nc`` and ``.png``; each finished run is kept in
``l2m_plateau_runs/`` next to it, so a killed run resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import xarray as xr

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from l2m_sim import make_process, train  # noqa: E402
from l2m_sim.yardsticks import block_kl, predictable_information  # noqa: E402

PROCESS = "hierarchical:branching=4,copies=3,coupling=0.0,channels=1,pair_mi=2.0"
LENGTH = 64
RUNS = {  # name: (model, model_config, lr)
    "state_core d=13": ("state_core", dict(state_size=13, d_model=64, n_layer=1), 1e-2),
    "state_core_ltv d=13": ("state_core_ltv", dict(state_size=13, d_model=64, n_layer=1), 3e-3),
    "linear_state d=13": ("linear_state", dict(state_size=13), 3e-3),
    "mamba 2x32 d_state=16": ("mamba", dict(d_model=32, n_layer=2, d_state=16), 1e-2),
}


def run_one(name, steps, cache: Path) -> xr.Dataset:
    f = cache / (name.replace(" ", "_").replace("=", "") + f"_s{steps}.nc")
    if f.exists():
        with xr.open_dataset(f, engine="h5netcdf") as ds:
            return ds.load()
    model, mc, lr = RUNS[name]
    p = make_process(PROCESS, LENGTH)
    ds = train(p, model, model_config=mc, steps=steps, batch_size=16, lr=lr,
               warmup=max(1, steps // 20), seed=0, eval_samples=128,
               eval_every=max(1, steps // 4), threads=1)
    out = xr.Dataset({"kl_position": (("position",), ds["kl_position"].values),
                      "kl": ((), float(ds["kl"])),
                      "history_state": ((), int(ds["history_state"])),
                      "converged": ((), int(bool(ds["converged"])))},
                     attrs={"lr": lr, "steps": steps})
    cache.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp")
    out.to_netcdf(tmp, engine="h5netcdf")
    tmp.replace(f)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE / "results"), help="results folder")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    a = ap.parse_args(argv)
    out = Path(a.out)
    p = make_process(PROCESS, LENGTH)
    blocks = [4, 16, 64]
    exact = np.array([block_kl(p, b) for b in blocks])  # (block, position)
    runs = [run_one(n, a.steps, out / "l2m_plateau_runs") for n in a.runs]
    ds = xr.Dataset(
        {"kl_position": (("run", "position"), np.array([r.kl_position.values for r in runs]),
                         {"units": "nats", "long_name": "held-out KL per position"}),
         "kl": (("run",), [float(r.kl) for r in runs], {"units": "nats"}),
         "history_state": (("run",), [int(r.history_state) for r in runs],
                           {"units": "floats"}),
         "converged": (("run",), [bool(int(r.converged)) for r in runs]),
         "block_kl": (("block", "position"), exact, {
             "units": "nats", "long_name": "exact KL of the best predictor that sees only the "
                                           "past inside the aligned block"})},
        coords={"run": list(a.runs), "position": np.arange(LENGTH), "block": blocks},
        attrs={"process": f"{PROCESS},levels=3", "length": LENGTH, "steps": a.steps,
               "predictable": predictable_information(p), "units": "nats",
               "command": "python sims/l2m_plateau.py"})
    nq = LENGTH // 16
    print(f"process {PROCESS} at L = {LENGTH}; predictable information "
          f"{ds.attrs['predictable']:.4f} nats/token")
    print(f"{'':>28} {'mean':>7}  KL per 16-block")
    for b in blocks:
        v = exact[blocks.index(b)]
        print(f"{f'exact {b}-block predictor':>28} {v.mean():7.4f}  "
              + " ".join(f"{x:6.3f}" for x in v.reshape(nq, 16).mean(1)))
    for r, name in zip(runs, a.runs):
        v = r.kl_position.values
        print(f"{name:>28} {v.mean():7.4f}  " + " ".join(f"{x:6.3f}" for x in
                                                     v.reshape(nq, 16).mean(1))
              + f"   (state {int(r.history_state)} floats)")
    out.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out / "l2m_plateau.nc", engine="h5netcdf")
    figure(ds, out / "l2m_plateau.png")
    print(f"wrote {out / 'l2m_plateau.nc'} and {out / 'l2m_plateau.png'}")
    return ds


def figure(ds, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    for b, style in zip(ds.block.values, (":", "--", "-")):
        if b < ds.attrs["length"]:
            ax.plot(ds.position, ds.block_kl.sel(block=b), "k", ls=style, lw=1,
                    label=f"exact {int(b)}-block predictor")
    for i, r in enumerate(ds.run.values):
        ax.plot(ds.position, ds.kl_position.sel(run=r), "o-", ms=2.5, lw=0.8, color=f"C{i}",
                label=f"{r} (KL {float(ds.kl.sel(run=r)):.3f})")
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_xlabel("position t")
    ax.set_ylabel("held-out KL at t, nats")
    ax.set_title(f"Where trained models stall, L = {ds.attrs['length']}, "
                 f"{ds.attrs['steps']} steps: per-position KL against the within-block "
                 "predictors", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
