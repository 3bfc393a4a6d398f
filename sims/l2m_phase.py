"""The history-state phase diagram: held-out KL against state size d and length L.

A hierarchical Gaussian process (b = 4, k = 3, beta = log_4 3) with strong copies
(``pair_mi`` nats per canonical pair) is learned by

* ``state_core`` -- a neural model whose history state is exactly ``d`` floats at any width
  (:class:`l2m_sim.models.StateCore`);
* ``linear_state`` -- the order-``d`` linear-state reference learner;
* ``causal_linear`` -- the full-context linear reference (optimum KL 0) and ``gpt``;
* ``kl_fit`` -- the linear-state reference *at its optimum*: fitted to the exact expected KL
  by L-BFGS (no sampling), so the gap between it and the trained ``linear_state`` is the
  cost of stochastic training alone.

Beside every cell: the exact linear-state yardsticks, per token and channel --
``linear_bound`` (middle cut), ``linear_bound_all`` (the largest single-cut bound over all
cuts), ``linear_bound_blocks`` (disjoint blocks, whose bounds add: the tightest of the
three at small d) -- and per length the exact ``state_order`` (the smallest linear state with which KL
0 is possible) and ``n_pairs`` N(L) = k^(l-1) (canonical pairs at the middle cut).

Protocol (no tuning on the evaluation seed): the learning rate of every model is chosen by
a sweep over ``LRS`` on seed 1 at every length of ``lr_lengths`` (state = state_order
there), and the grid runs on seed 0 with the lr chosen at its length (at the largest
selection length below it otherwise). A choice made at the smallest length alone does not
carry over: at L = 64 it left the linear-state reference at 0.30 nats/token where lr 1e-2
reaches below 0.1 (``kl_first_lr`` keeps the grid trained with the smallest length's lr
for comparison). The ``--long`` and ``--across`` stages keep the smallest length's lr. Every run stores its held-out KL after each quarter of
training and ``converged`` (< 2 % change over the last quarter, or < 1e-3 nats).

From the grid: d*(L) = the smallest d whose KL is within ``TOL`` nats/token of the model's
plateau (its lowest KL over d at that L), and beta_hat from a log-log fit of d* against L;
the same rule applied to the exact all-cut bound gives the exact prediction.

Usage::

    python sims/l2m_phase.py [--scale tiny|cpu|gpu] [--scheduler local] [--workers 2]

Writes ``sims/results/l2m_phase.nc`` (cells in ``l2m_phase_<scale>.nc.cells/``; a killed run
resumes) and ``sims/results/l2m_phase.png``; ``--scale tiny`` writes under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from l2m_sim import _names  # noqa: E402
from l2m_sim.sweep import StateJob, Sweep, run_sweep  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PAIR_MI = 2.0
PROCESS = f"hierarchical:branching=4,copies=3,coupling=0.0,channels=1,pair_mi={PAIR_MI}"
STATE_MODELS = _names.STATE_MODELS  # state set on its own: StateCore (diagonal and LTV), LinearState
#: models whose grid is also kept with the smallest length's lr (``kl_first_lr``): those run
#: before the lr was chosen per length; later models have the per-length protocol only
FIRST_LR_MODELS = ("state_core", "linear_state", "causal_linear", "gpt")
#: StateCoreLTV learns a d x d state map per position: its grid skips cells with more than
#: this many such parameters (max_len * d^2; at L = 4096 that keeps d <= 128)
MAX_LTV_MAP = 2**26
FULL_MODELS = _names.FULL_CONTEXT_MODELS  # cache grows with L: ("causal_linear", "gpt")
LRS = (3e-3, 1e-2, 3e-2)
TOL = 0.02  # nats per token: "within TOL of the plateau"

SCALES = {
    # lengths: trained grid; fit_lengths: the linear state at its optimum and the exact
    # yardsticks; states: powers of 2 plus the exact state orders (1, 4, 13, 40, 121, 364)
    "tiny": dict(lengths=[16], fit_lengths=[16], states=[1, 4], steps={16: 8}, eval=8,
                 lr_lengths=[16],
                 lrs=(1e-2,), fit_iter=20, long=dict(length=16, steps=12),
                 wide=dict(length=16, states=[8]),
                 across=dict(length=16, states=[1], steps=8),
                 converge=dict(lengths={"linear_state": [16], "causal_linear": [16]},
                               lr_lengths=[16], steps={16: 12}, batch=4)),
    "cpu": dict(lengths=[16, 64], fit_lengths=[16, 64, 256],
                states=[1, 2, 4, 8, 13, 16, 32, 40, 64],
                steps={16: 1500, 64: 2000}, eval=128, lrs=LRS, fit_iter=500,
                lr_lengths=[16, 64],
                long=dict(length=64, steps=6000), wide=dict(length=64, states=[128, 256]),
                across=dict(length=256, states=[1, 2, 4], steps=2000,
                            full_steps={"causal_linear": 8000, "gpt": 6000}),
                converge=dict(lengths={"linear_state": [16, 64, 256],
                                       "state_core_ltv": [16, 64],
                                       "causal_linear": [16, 64, 256]},
                              lr_lengths=[16, 64], steps={16: 6000, 64: 8000, 256: 8000},
                              batch=64)),
    "gpu": dict(lengths=[16, 64, 256, 1024, 4096], fit_lengths=[16, 64, 256],
                states=[1, 2, 4, 8, 13, 16, 32, 40, 64, 121, 128, 256, 364, 512, 1024],
                steps={16: 3000, 64: 6000, 256: 12000, 1024: 20000, 4096: 30000}, eval=256,
                lrs=LRS, fit_iter=2000, lr_lengths=[16, 64]),
}


def _job(L, model, state, lr, seed, steps, ev, process=PROCESS, batch=16):
    """One phase-diagram cell: GPT 2 x 32, every other model one layer of width 64."""
    return StateJob(process=process, length=L, model=model, state=state, lr=lr, seed=seed,
                    steps=steps, warmup=max(1, steps // 20), eval_samples=ev, batch_size=batch,
                    n_layer=2 if model == "gpt" else 1, d_model=64 if model != "gpt" else 32)


def n_pairs(L: int) -> int:
    """Canonical (copy) pairs across the middle cut of a b = 4, k = 3 hierarchy,
    N(L) = 3^(l-1) for L = 4^l."""
    return 3 ** (round(math.log(L, 4)) - 1)


def process_at(spec: str, L: int) -> str:
    """The registry id of ``spec`` at length ``L`` (rebuildable with ``make_process``)."""
    from l2m_sim.registry import family, parse_process_id

    name, params = parse_process_id(spec)
    return family(name).id_at_length(L, **params)


def state_order_at(L: int) -> int:
    """(3^l - 1) / 2 for b = 4, k = 3: the state order known in advance, used to place the
    lr-selection runs and the state grid; the results file stores the order computed from
    the canonical correlations."""
    lv = round(math.log(L, 4))
    return (3**lv - 1) // 2


def _lr_cells(models: dict, lr_lengths, steps: dict, ev, lrs, batch=16):
    """lr-selection cells on seed 1: every lr of ``lrs`` for every model of ``models``
    (``{model: lengths it runs at}``) at every selection length it runs at, with the state
    at the exact state order there."""
    out = []
    for L in lr_lengths:
        for model, lengths in models.items():
            if L in lengths:
                d = state_order_at(L) if model in STATE_MODELS else 0
                out += [_job(L, model, d, lr, 1, steps[L], ev, batch=batch) for lr in lrs]
    return out


def lr_configs(scale):
    """The lr-selection cells: every model and lr of the scale on seed 1, at every
    selection length, with the state at the exact state order there."""
    s = SCALES[scale]
    return _lr_cells({m: s["lr_lengths"] for m in STATE_MODELS + FULL_MODELS},
                     s["lr_lengths"], s["steps"], s["eval"], s["lrs"])


def grid_states(model: str, L: int, states) -> list:
    """The states ``model`` runs at length ``L``: ``[0]`` for a full-context model; the
    StateCoreLTV grid skips cells whose per-position map exceeds ``MAX_LTV_MAP`` (left NaN
    in the file)."""
    if model not in STATE_MODELS:
        return [0]
    return [d for d in states if not (model == "state_core_ltv" and L * d * d > MAX_LTV_MAP)]


def pick_lrs(ds) -> dict:
    """``{model: {length: lr}}``: per model and selection length, the lr with the lowest
    final held-out KL on the selection seed."""
    df = ds["kl"].to_dataframe().reset_index().dropna(subset=["kl"])
    best = {}
    for (model, L), rows in df.groupby(["model", "length"]):
        best.setdefault(str(model), {})[int(L)] = float(rows.loc[rows["kl"].idxmin(), "lr"])
    return best


def lr_at(lrs: dict, model: str, L: int) -> float:
    """The lr of ``model`` at length ``L``: the one chosen at the largest selection length
    ``<= L`` (the smallest selection length's below it)."""
    sel = lrs[model]
    below = [k for k in sorted(sel) if k <= L]
    return sel[below[-1] if below else min(sel)]


def first_lrs(lrs: dict) -> dict:
    """``{model: lr}`` chosen at the smallest selection length (the earlier protocol, kept
    by the ``--long`` and ``--across`` stages)."""
    return {m: sel[min(sel)] for m, sel in lrs.items()}


def grid_configs(scale, lrs):
    """The grid on seed 0: every model at every length with the lr chosen for that length,
    and -- where that differs -- also with the smallest length's lr (``kl_first_lr``)."""
    s = SCALES[scale]
    first = first_lrs(lrs)
    out = []
    for L in s["lengths"]:
        for model in STATE_MODELS + FULL_MODELS:
            lr_set = {lr_at(lrs, model, L)}
            if model in FIRST_LR_MODELS:
                lr_set.add(first[model])
            lr_set = sorted(lr_set)
            for lr in lr_set:
                for d in grid_states(model, L, s["states"]):
                    out.append(_job(L, model, d, lr, 0, s["steps"][L], s["eval"]))
    return out


def long_configs(scale, lrs):
    """The longer-training stage (``--long``): StateCore at one length, 3x the steps, same
    lr and seed -- does the KL at that length keep falling, and where does it settle?"""
    s = SCALES[scale]
    lg = s.get("long")
    if not lg:
        return []
    return [_job(lg["length"], "state_core", d, lrs["state_core"], 0, lg["steps"], s["eval"])
            for d in s["states"]]


def add_long(ds: xr.Dataset, long: xr.Dataset, scale: str) -> xr.Dataset:
    s = SCALES[scale]
    lg = s["long"]
    g = long.squeeze(["process", "seed", "lr", "model", "length"], drop=True)
    ds["kl_long"] = (("state",), g["kl"].sel(state=s["states"]).values, {
        "units": "nats", "long_name": f"StateCore held-out KL after {lg['steps']} steps at "
                                      f"L = {lg['length']}"})
    ds["converged_long"] = (("state",), g["converged"].sel(state=s["states"]).values == 1)
    ds["kl_long_curve"] = (("state", "quarter"), g["kl_curve"].sel(state=s["states"]).values,
                           {"units": "nats"})
    d_long = required_state(ds["kl_long"].values, s["states"])
    ds.attrs["long_length"] = lg["length"]
    ds.attrs["long_steps"] = lg["steps"]
    ds.attrs["required_state_long"] = d_long
    L0 = min(s["lengths"])
    d0 = float(ds["required_state"].sel(estimator="state_core", length=L0))
    ds.attrs["beta_hat_state_core_long"] = fit_beta([L0, lg["length"]], [d0, d_long])
    return ds


def wide_configs(scale, lrs):
    """The wider-state stage (``--wide``): StateCore at one length with states beyond the
    grid, the grid's lr (chosen at that length), steps and seed -- does the trained model
    leave the plateau once its state has slack, and at which d?"""
    s = SCALES[scale]
    w = s.get("wide")
    if not w:
        return []
    L = w["length"]
    return [_job(L, "state_core", d, lr_at(lrs, "state_core", L), 0, s["steps"][L], s["eval"])
            for d in w["states"]]


def add_wide(ds: xr.Dataset, wide: xr.Dataset, scale: str) -> xr.Dataset:
    """``kl_wide`` over ``state_wide``, and d* / beta_hat of StateCore recomputed over the
    grid's states and the wide ones together at that length."""
    s = SCALES[scale]
    w = s["wide"]
    L = w["length"]
    g = wide.squeeze(["process", "seed", "lr", "model", "length"], drop=True)
    vals = g["kl"].sel(state=w["states"]).values
    ds["kl_wide"] = (("state_wide",), vals, {
        "units": "nats", "long_name": f"StateCore held-out KL at L = {L}, states beyond the grid"})
    ds["converged_wide"] = (("state_wide",), g["converged"].sel(state=w["states"]).values == 1)
    ds = ds.assign_coords(state_wide=w["states"])
    states = list(s["states"]) + list(w["states"])
    kl = np.concatenate([ds["kl"].sel(model="state_core", length=L).values, vals])
    d_wide = required_state(kl, states)
    ds.attrs["wide_length"] = L
    ds.attrs["required_state_wide"] = d_wide
    L0 = min(s["lengths"])
    if L0 != L:
        d0 = float(ds["required_state"].sel(estimator="state_core", length=L0))
        ds.attrs["beta_hat_state_core_wide"] = fit_beta([L0, L], [d0, d_wide])
    return ds


def across_configs(scale, lrs):
    """The fixed-state stage (``--across``): at one more length, the full-context models and
    StateCore at a few small states, same lr, seed and protocol -- does a fixed state lose
    a fraction that grows with L while the full-context models stay flat? The full-context
    models get more steps (``full_steps``): after 2000 steps at L = 256 neither had
    converged, and the claim to test is about converged runs."""
    s = SCALES[scale]
    ac = s.get("across")
    if not ac:
        return []
    L = ac["length"]
    out = [_job(L, "state_core", d, lrs["state_core"], 0, ac["steps"], s["eval"])
           for d in ac["states"]]
    full = ac.get("full_steps", {})
    return out + [_job(L, m, 0, lrs[m], 0, full.get(m, ac["steps"]), s["eval"])
                  for m in FULL_MODELS]


def add_across(ds: xr.Dataset, across: xr.Dataset, scale: str, lrs: dict) -> xr.Dataset:
    """Put the fixed-state stage's cells into ``kl`` / ``kl_full`` at its length (the
    required state d* is not taken there: its state grid is partial)."""
    ac = SCALES[scale]["across"]
    L = ac["length"]
    g = across.squeeze(["process", "seed", "length"], drop=True)
    for d in ac["states"]:
        for var, src in (("kl", "kl"), ("converged", "converged"), ("kl_curve", "kl_curve")):
            v = g[src].sel(model="state_core", state=d, lr=lrs["state_core"])
            ds[var].loc[dict(model="state_core", length=L, state=d)] = (
                v.values == 1 if var == "converged" else v.values)
    for m in FULL_MODELS:
        cell = g.sel(model=m, state=0, lr=lrs[m])
        ds["kl_full"].loc[dict(full_model=m, length=L)] = float(cell["kl"])
        ds["converged_full"].loc[dict(full_model=m, length=L)] = bool(cell["converged"] == 1)
    ds.attrs["across_length"] = L
    ds.attrs["across_steps"] = ac["steps"]
    ds.attrs["across_full_steps"] = json.dumps(ac.get("full_steps", {}))
    return ds


def converge_lr_configs(scale):
    """The convergence stage's own lr selection (``--converge``): its models on seed 1 at
    every selection length they run at, with its steps and batch."""
    s = SCALES[scale]
    cv = s.get("converge")
    if not cv:
        return []
    return _lr_cells(cv["lengths"], cv["lr_lengths"], cv["steps"], s["eval"], s["lrs"],
                     cv["batch"])


def converge_configs(scale, lrs):
    """The convergence stage's grid on seed 0: 4x the batch and 3-4x the steps of the main
    grid, every state of the grid, the lr chosen for this protocol (``lr_at``)."""
    s = SCALES[scale]
    cv = s.get("converge")
    if not cv:
        return []
    return [_job(L, model, d, lr_at(lrs, model, L), 0, cv["steps"][L], s["eval"],
                 batch=cv["batch"])
            for model, lengths in cv["lengths"].items() for L in lengths
            for d in grid_states(model, L, s["states"])]


def add_converge(ds: xr.Dataset, grid: xr.Dataset, lrs: dict, scale: str) -> xr.Dataset:
    """``kl_converge`` / ``converged_converge`` / ``kl_converge_curve`` over (model, length,
    state) (NaN / False for models and lengths the stage does not run), ``kl_full_converge``
    over (full_model, length), and d* and beta_hat of each of its state models
    (``beta_hat_<model>_converge``; estimator ``<model>_converge``)."""
    s = SCALES[scale]
    cv = s["converge"]
    g = grid.squeeze(["process", "seed"], drop=True)
    shape = (ds.sizes["model"], ds.sizes["length"], len(s["states"]))
    kl, conv = np.full(shape, np.nan), np.zeros(shape, bool)
    curve = np.full(shape + (ds.sizes["quarter"],), np.nan)
    full = np.full((ds.sizes["full_model"], ds.sizes["length"]), np.nan)
    full_conv = np.zeros(full.shape, bool)
    models, Ls = list(ds.model.values), list(ds.length.values)
    for model, lengths in cv["lengths"].items():
        for L in lengths:
            cell = g.sel(model=model, length=L, lr=lr_at(lrs, model, L))
            j = Ls.index(L)
            if model in STATE_MODELS:
                i = models.index(model)
                c = cell.reindex(state=s["states"])
                kl[i, j], conv[i, j] = c["kl"].values, c["converged"].values == 1
                curve[i, j] = c["kl_curve"].values
            else:
                i = list(ds.full_model.values).index(model)
                full[i, j] = float(cell["kl"].sel(state=0))
                full_conv[i, j] = bool(cell["converged"].sel(state=0) == 1)
    note = (f"convergence stage: batch {cv['batch']}, steps {json.dumps(cv['steps'])}, lr "
            "chosen for this protocol on seed 1")
    ds["kl_converge"] = (("model", "length", "state"), kl, {
        "units": "nats", "long_name": "held-out KL per token and channel, " + note})
    ds["converged_converge"] = (("model", "length", "state"), conv)
    ds["kl_converge_curve"] = (("model", "length", "state", "quarter"), curve,
                               {"units": "nats"})
    ds["kl_full_converge"] = (("full_model", "length"), full, {
        "units": "nats", "long_name": "held-out KL per token and channel, full-context "
                                      "models, " + note})
    ds["converged_full_converge"] = (("full_model", "length"), full_conv)
    rows, names = [], []
    for model in cv["lengths"]:
        if model not in STATE_MODELS:
            continue
        dstar = [required_state(ds["kl_converge"].sel(model=model, length=L).values,
                                s["states"]) for L in Ls]
        names.append(f"{model}_converge")
        rows.append(dstar)
        ds.attrs[f"beta_hat_{model}_converge"] = fit_beta(Ls, dstar)
    req = xr.DataArray(np.array(rows), dims=("estimator", "length"),
                       coords={"estimator": names, "length": Ls})
    both = xr.concat([ds["required_state"], req], dim="estimator")
    ds = ds.drop_vars(["required_state", "estimator"])
    ds["required_state"] = both
    ds["required_state"].attrs.update(units="floats", long_name=f"smallest state within {TOL} "
                                      "nats/token of the plateau")
    ds.attrs["converge_lr"] = json.dumps({m: {str(L): v for L, v in sel.items()}
                                          for m, sel in lrs.items()})
    ds.attrs["converge_batch"] = cv["batch"]
    ds.attrs["converge_steps"] = json.dumps({str(k): v for k, v in cv["steps"].items()})
    return ds


def exact_yardsticks(lengths, states) -> xr.Dataset:
    from l2m_sim import make_process
    from l2m_sim.yardsticks import (
        block_kl,
        linear_state_block_bound,
        linear_state_gap,
        linear_state_kl,
        predictable_information,
    )

    mid = np.zeros((len(lengths), len(states)))
    allc = np.zeros_like(mid)
    blocks = np.zeros_like(mid)
    pred = np.zeros(len(lengths))
    ibp = np.zeros(len(lengths))
    order = np.zeros(len(lengths), dtype=int)
    blocks_of = [4**j for j in range(round(math.log(max(lengths), 4)) + 1)]
    level = np.zeros((len(lengths), len(blocks_of)))
    for i, L in enumerate(lengths):
        p = make_process(PROCESS, L)
        pred[i] = predictable_information(p)
        ibp[i] = p.bipartite_mi()
        level[i] = [block_kl(p, b).mean() for b in blocks_of]
        # canonical correlations of every cut, once per length
        sig = [np.asarray(p.canonical_correlations(c)) for c in range(1, L)]
        for j, d in enumerate(states):
            mid[i, j] = linear_state_kl(p, d)["per_token"]
            allc[i, j] = max(linear_state_gap(s, d) for s in sig) / L  # = linear_state_bound
            # the single cut is in allc already: the block bound is the larger of the two
            blocks[i, j] = max(allc[i, j],
                               linear_state_block_bound(p, d, single_cut=False)["per_token"])
        order[i] = max(int(np.sum(s > 1e-10)) for s in sig)  # = yardsticks.state_order(p)
    return xr.Dataset(
        {"linear_bound": (("length", "state"), np.maximum(mid, 0.0), {
            "units": "nats", "long_name": "exact middle-cut linear-state bound per token"}),
         "linear_bound_all": (("length", "state"), np.maximum(allc, 0.0), {
             "units": "nats", "long_name": "exact linear-state bound, largest over all cuts, "
                                           "per token"}),
         "linear_bound_blocks": (("length", "state"), np.maximum(blocks, 0.0), {
             "units": "nats", "long_name": "exact linear-state bound over disjoint blocks "
                                           "(largest over power-of-2 block sizes and the "
                                           "single cut), per token"}),
         "state_order": (("length",), order, {
             "units": "floats", "long_name": "exact minimal linear state for KL 0"}),
         "predictable": (("length",), pred, {
             "units": "nats", "long_name": "KL of the marginal predictor N(0, 1) per token "
                                           "(the predictable information)"}),
         "bipartite_mi": (("length",), ibp, {
             "units": "nats", "long_name": "exact middle-cut bipartite mutual information "
                                           "I_BP(L)"}),
         "n_pairs": (("length",), [n_pairs(L) for L in lengths], {
             "units": "floats", "long_name": "canonical pairs at the middle cut, N(L)"}),
         "block_kl": (("length", "block"), level, {
             "units": "nats", "long_name": "exact KL per token of the best predictor that sees "
                                           "only the past inside the aligned block of this size "
                                           "(every level below it learned, none above)"})},
        coords={"length": list(lengths), "state": list(states), "block": blocks_of})


def exact_fits(lengths, states, out: Path, max_iter: int) -> xr.Dataset:
    """The linear-state reference at its optimum, for every (L, d), without sampling:

    * ``kl_realized`` -- :func:`l2m_sim.models.linear.realize`, the canonical subspace
      realisation built from the covariance (exact, KL 0, from the state order on);
    * ``kl_fit`` -- :func:`l2m_sim.models.linear.fit_exact` (L-BFGS on the exact expected
      KL) from two starts, the realisation and the seeded default initialisation, keeping
      the lower: an upper bound on the class's optimum, read beside the exact lower bound;
    * ``kl_fit_cold`` -- the fit from the default initialisation alone (what L-BFGS reaches
      without the subspace start).

    Each (L, d) is cached in ``out`` so that a killed run resumes."""
    import torch

    from l2m_sim import make_process
    from l2m_sim.models import LinearState, LinearStateConfig
    from l2m_sim.models.linear import expected_kl, fit_exact, realize

    out.mkdir(parents=True, exist_ok=True)
    keys = ("kl_realized", "kl_fit_warm", "kl_fit_cold")
    vals = {k: np.full((len(lengths), len(states)), np.nan) for k in keys}
    torch.set_num_threads(1)
    def cached(name, compute):
        f = out / f"{name}.json"
        if f.exists():
            return json.loads(f.read_text())["kl"]
        kl = float(compute())
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps({"kl": kl}))
        tmp.replace(f)
        return kl

    def cold(p, L, d):
        torch.manual_seed(0)
        return fit_exact(LinearState(LinearStateConfig(max_len=L, state_size=d)), p, max_iter)

    def warm(p, d):
        m = realize(p, d)
        with torch.no_grad():
            start = float(expected_kl(m, p))
        # nothing left to fit at KL 0 (to rounding)
        return start, (start if start < 1e-10 else fit_exact(m, p, max_iter))

    for i, L in enumerate(lengths):
        p = make_process(PROCESS, L)
        for j, d in enumerate(states):
            tag = f"L{L}_d{d}_it{max_iter}"
            rec = {"kl_fit_cold": cached(f"{tag}_cold", lambda: cold(p, L, d))}
            w = out / f"{tag}_warm.json"
            if w.exists():
                rec.update(json.loads(w.read_text()))
            else:
                rec["kl_realized"], rec["kl_fit_warm"] = warm(p, d)
                w.with_suffix(".tmp").write_text(json.dumps(rec))
                w.with_suffix(".tmp").replace(w)
            print(f"  exact fit L={L} d={d}: realised {rec['kl_realized']:.5f}, fitted from "
                  f"it {rec['kl_fit_warm']:.5f}, from the default start "
                  f"{rec['kl_fit_cold']:.5f}", flush=True)
            for k in keys:
                vals[k][i, j] = rec[k]
    co = {"length": list(lengths), "state": list(states)}
    dims = ("length", "state")
    best = np.fmin(vals["kl_fit_warm"], vals["kl_fit_cold"])
    return xr.Dataset({
        "kl_fit_warm": (dims, vals["kl_fit_warm"], {"units": "nats", "long_name":
                        "linear_state fitted by L-BFGS from the subspace realisation"}),
        "kl_fit": (dims, best, {"units": "nats", "long_name": "linear_state fitted to the exact "
                   "expected KL (L-BFGS, best of the subspace and the default start), per token"}),
        "kl_fit_cold": (dims, vals["kl_fit_cold"], {"units": "nats", "long_name":
                        "linear_state fitted by L-BFGS from the default initialisation"}),
        "kl_realized": (dims, vals["kl_realized"], {"units": "nats", "long_name":
                        "canonical subspace realisation of order d (no fitting), per token"}),
    }, coords=co, attrs={"fit_iter": max_iter})


def restore_fits(results: Path, out: Path, max_iter: int) -> int:
    """Seed the fit cache ``out`` from a results file written earlier with the same
    ``fit_iter`` (the committed ``l2m_phase.nc``: the cache folder is not versioned), so a
    fresh clone re-assembles without redoing the deterministic L-BFGS fits. Returns the
    number of (L, d) entries restored."""
    if not results.exists():
        return 0
    with xr.open_dataset(results, engine="h5netcdf") as f:
        prior = f.load()
    need = ("kl_fit_cold", "kl_fit_warm", "kl_realized")
    if int(prior.attrs.get("fit_iter", -1)) != max_iter or not all(v in prior for v in need):
        return 0
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for L in prior.length.values:
        for d in prior.state.values:
            rec = {v: float(prior[v].sel(length=L, state=d)) for v in need}
            if not all(np.isfinite(list(rec.values()))):
                continue
            tag = f"L{int(L)}_d{int(d)}_it{max_iter}"
            if not (out / f"{tag}_cold.json").exists():
                (out / f"{tag}_cold.json").write_text(json.dumps({"kl": rec["kl_fit_cold"]}))
                n += 1
            if not (out / f"{tag}_warm.json").exists():
                (out / f"{tag}_warm.json").write_text(json.dumps(
                    {"kl_realized": rec["kl_realized"], "kl_fit_warm": rec["kl_fit_warm"]}))
    return n


def required_state(kl: np.ndarray, states, tol=TOL) -> float:
    """Smallest state whose KL is within ``tol`` of the plateau (min over states)."""
    kl = np.asarray(kl, float)
    ok = np.isfinite(kl)
    if not ok.any():
        return float("nan")
    plateau = np.nanmin(kl)
    for d, v in zip(states, kl):
        if np.isfinite(v) and v <= plateau + tol:
            return float(d)
    return float("nan")


def fit_beta(lengths, dstar) -> float:
    x, y = np.log(np.asarray(lengths, float)), np.log(np.asarray(dstar, float))
    ok = np.isfinite(y)
    if len(np.unique(x[ok])) < 2:  # a slope needs two distinct lengths
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def assemble(grid: xr.Dataset, lr_ds: xr.Dataset, lrs: dict, scale: str,
             fits: xr.DataArray) -> xr.Dataset:
    s = SCALES[scale]
    all_L = sorted(set(s["lengths"]) | set(s["fit_lengths"]))
    g = grid.squeeze(["process", "seed"], drop=True)
    first = first_lrs(lrs)

    # one lr per (model, length): collapse the lr dim (NaN where a cell was not run)
    def pick(var, models, lr_of=lambda m, L: lr_at(lrs, m, L)):
        parts = [xr.concat([g[var].sel(model=m, length=L).reindex(lr=[lr_of(m, L)])
                            .isel(lr=0, drop=True) for L in s["lengths"]], dim="length")
                 for m in models]
        return xr.concat(parts, dim="model").reindex(length=all_L)

    ds = exact_yardsticks(all_L, s["states"])
    ds["kl"] = pick("kl", STATE_MODELS).sel(state=s["states"]).transpose("model", "length", "state")
    ds["converged"] = pick("converged", STATE_MODELS).sel(state=s["states"]) == 1  # NaN: False
    ds["kl_curve"] = pick("kl_curve", STATE_MODELS).sel(state=s["states"])
    ds["kl_first_lr"] = pick("kl", STATE_MODELS, lambda m, L: first[m]).sel(
        state=s["states"]).transpose("model", "length", "state")
    ds["kl_first_lr"].attrs.update(units="nats", long_name="held-out KL with the lr chosen at "
                                   "the smallest length (the earlier protocol)")
    ds["kl_full"] = pick("kl", FULL_MODELS).sel(state=0).drop_vars("state").rename(
        model="full_model")
    for v in fits.data_vars:
        ds[v] = fits[v].reindex(length=all_L)
    ds["converged_full"] = pick("converged", FULL_MODELS).sel(state=0).drop_vars(
        "state").rename(model="full_model") == 1
    for v in ("kl", "kl_full"):
        ds[v].attrs["units"] = "nats"
    ds["kl"].attrs["long_name"] = "held-out KL per token and channel"
    ds["kl_full"].attrs["long_name"] = "held-out KL per token and channel, full-context models"
    # d*(L) and beta_hat
    dstar = {}
    for m in STATE_MODELS:
        dstar[m] = [required_state(ds["kl"].sel(model=m, length=L).values, s["states"])
                    for L in all_L]
    dstar["linear_fit"] = [required_state(ds["kl_fit"].sel(length=L).values, s["states"])
                           for L in all_L]
    dstar["exact_linear"] = [required_state(ds["linear_bound_all"].sel(length=L).values,
                                            s["states"]) for L in all_L]
    est = (*STATE_MODELS, "linear_fit", "exact_linear")
    ds["required_state"] = (("estimator", "length"), np.array([dstar[k] for k in est]),
                            {"units": "floats", "long_name": f"smallest state within {TOL} "
                             "nats/token of the plateau"})
    ds = ds.assign_coords(estimator=list(est))
    ds.attrs.update({
        "process": process_at(PROCESS, all_L[0]),
        "beta_exact": math.log(3) / math.log(4),
        "tolerance": TOL,
        "lr": json.dumps({m: {str(L): v for L, v in sel.items()} for m, sel in lrs.items()}),
        "lr_selection": "lowest final KL on seed 1 at each selection length, state = "
                        "state_order there; longer lengths use the largest selection length's",
        "scale": scale,
        "command": f"python sims/l2m_phase.py --scale {scale} --long --wide --across --converge",
        "units": "nats",
        "fit_iter": int(fits.attrs.get("fit_iter", -1)),
    })
    for m in STATE_MODELS:
        ds.attrs[f"beta_hat_{m}"] = fit_beta(all_L, dstar[m])
    ds.attrs["beta_hat_linear_fit"] = fit_beta(all_L, dstar["linear_fit"])
    ds.attrs["beta_hat_exact_linear"] = fit_beta(all_L, dstar["exact_linear"])
    ds.attrs["beta_hat_state_order"] = fit_beta(all_L, ds["state_order"].values)
    return ds


def report(ds: xr.Dataset) -> None:
    print(f"\nprocess {ds.attrs['process']} (at the smallest length); lr {ds.attrs['lr']}")
    for L in ds.length.values:
        print(f"\n== L = {int(L)}: predictable {float(ds.predictable.sel(length=L)):.4f} "
              f"nats/token, N(L) = {int(ds.n_pairs.sel(length=L))}, exact state order "
              f"{int(ds.state_order.sel(length=L))}")
        if "block_kl" in ds:
            print("   KL of the within-block predictor: " + ", ".join(
                f"block {int(b)}: {float(ds.block_kl.sel(length=L, block=b)):.4f}"
                for b in ds.block.values if b < L))
        print(f"{'state':>6} {'bound mid':>10} {'bound all':>10} {'bound blk':>10} "
              f"{'realised':>10} "
              f"{'linear fit':>10} " +
              " ".join(f"{m:>16}" for m in ds.model.values))
        for d in ds.state.values:
            row = [f"{float(ds.kl.sel(model=m, length=L, state=d)):.4f}"
                   f"{'' if bool(ds.converged.sel(model=m, length=L, state=d)) else '*'}"
                   for m in ds.model.values]
            print(f"{int(d):>6} {float(ds.linear_bound.sel(length=L, state=d)):>10.4f} "
                  f"{float(ds.linear_bound_all.sel(length=L, state=d)):>10.4f} "
                  f"{float(ds.linear_bound_blocks.sel(length=L, state=d)):>10.4f} "
                  f"{float(ds.kl_realized.sel(length=L, state=d)):>10.4f} "
                  f"{float(ds.kl_fit.sel(length=L, state=d)):>10.4f} " +
                  " ".join(f"{r:>16}" for r in row))
        for m in ds.full_model.values:
            c = "" if bool(ds.converged_full.sel(full_model=m, length=L)) else "*"
            print(f"{m:>28}: {float(ds.kl_full.sel(full_model=m, length=L)):.4f}{c}")
    print("(* = not converged: > 2% change over the last quarter of training)")
    print("\nrequired state d*(L):")
    for e in ds.estimator.values:
        print(f"  {e:<14} " + " ".join(f"{v:g}" for v in ds.required_state.sel(estimator=e).values))
    for k, v in ds.attrs.items():
        if k.startswith("beta_"):
            print(f"  {k} = {v:.3f}")
    if "kl_long" in ds:
        print(f"\nStateCore at L = {ds.attrs['long_length']}, {ds.attrs['long_steps']} steps:")
        for d, v, c in zip(ds.state.values, ds.kl_long.values, ds.converged_long.values):
            print(f"  d = {int(d):>3}: {v:.4f}{'' if c else '*'}")
        print(f"  d* = {ds.attrs['required_state_long']:g}")
    if "kl_converge" in ds:
        print(f"\nconvergence stage (batch {ds.attrs['converge_batch']}, steps "
              f"{ds.attrs['converge_steps']}, lr {ds.attrs['converge_lr']}):")
        run = [m for m in ds.model.values if np.isfinite(ds.kl_converge.sel(model=m)).any()]
        for L in ds.length.values:
            if not any(np.isfinite(ds.kl_converge.sel(model=m, length=L)).any() for m in run):
                continue
            print(f"  L = {int(L)}: " + ", ".join(
                f"{m}: {float(ds.kl_full_converge.sel(full_model=m, length=L)):.4f}"
                f"{'' if bool(ds.converged_full_converge.sel(full_model=m, length=L)) else '*'}"
                for m in ds.full_model.values
                if np.isfinite(ds.kl_full_converge.sel(full_model=m, length=L))))
            print(f"  {'state':>6} {'bound all':>10} {'linear fit':>10} "
                  + " ".join(f"{m:>16}" for m in run))
            for d in ds.state.values:
                row = []
                for m in run:
                    v = float(ds.kl_converge.sel(model=m, length=L, state=d))
                    c = bool(ds.converged_converge.sel(model=m, length=L, state=d))
                    row.append(f"{v:.4f}{'' if c or not np.isfinite(v) else '*'}")
                print(f"  {int(d):>6} {float(ds.linear_bound_all.sel(length=L, state=d)):>10.4f} "
                      f"{float(ds.kl_fit.sel(length=L, state=d)):>10.4f} "
                      + " ".join(f"{r:>16}" for r in row))
    if "kl_wide" in ds:
        print(f"\nStateCore at L = {ds.attrs['wide_length']}, states beyond the grid:")
        for d, v, c in zip(ds.state_wide.values, ds.kl_wide.values, ds.converged_wide.values):
            print(f"  d = {int(d):>3}: {v:.4f}{'' if c else '*'}")
        print(f"  d* over the grid and these = {ds.attrs['required_state_wide']:g}")


def figure(ds: xr.Dataset, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ls = ds.length.values
    fig, axes = plt.subplots(2, 2, figsize=(14, 9.5))
    axes = axes.ravel()
    ax = axes[0]
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(Ls)))
    for c, L in zip(colors, Ls):
        st = ds.state.values
        ax.plot(st, ds.linear_bound_all.sel(length=L), ":", color=c, lw=1.2)
        ax.plot(st, ds.kl_fit.sel(length=L), "^-", color=c, lw=0.8, ms=3, alpha=0.8,
                label=f"linear_state at optimum L={int(L)}")
        ax.plot(st, ds.kl.sel(model="state_core", length=L), "o-", color=c,
                label=f"state_core L={int(L)}")
        ax.plot(st, ds.kl.sel(model="linear_state", length=L), "s--", color=c, alpha=0.6,
                label=f"linear_state L={int(L)}")
        if "state_core_ltv" in ds.model.values:
            ax.plot(st, ds.kl.sel(model="state_core_ltv", length=L), "D-", color=c, ms=4,
                    lw=0.9, mfc="white", label=f"state_core_ltv L={int(L)}")
        ax.axhline(float(ds.kl_full.sel(full_model="gpt", length=L)), color=c, lw=0.8, ls="-.")
        if "block_kl" in ds and L >= 16:  # the plateau of a learner that missed the top level
            ax.axhline(float(ds.block_kl.sel(length=L, block=L // 4)), color=c, lw=1.0,
                       ls=(0, (1, 4)))
        ax.axvline(int(ds.state_order.sel(length=L)), color=c, lw=0.6, alpha=0.5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("history state d (floats)")
    ax.set_ylabel("held-out KL, nats / token")
    ax.set_title("KL(d, L); dotted: exact linear-state bound (all cuts); dash-dot: GPT;\n"
                 "sparse dots: within-(L/4)-block predictor; vertical: exact state order",
                 fontsize=9)
    ax.legend(fontsize=7)
    # the collapse on I_BP / d: the convergence stage's runs where it ran, the grid's otherwise
    ax = axes[1]
    conv = "kl_converge" in ds
    marks = {"state_core": "o-", "state_core_ltv": "D-", "linear_state": "s--"}
    for c, L in zip(colors, Ls):
        x = float(ds.bipartite_mi.sel(length=L)) / ds.state.values
        pl = ds.predictable.sel(length=L)
        for m in ds.model.values:
            staged = conv and bool(np.isfinite(ds.kl_converge.sel(model=m, length=L)).any())
            y = (ds.kl_converge if staged else ds.kl).sel(model=m, length=L) / pl
            if np.isfinite(y).any():
                tag = " (conv. stage)" if staged else ""
                ax.plot(x, y, marks.get(m, "o-"), color=c, ms=4, lw=0.9,
                        mfc="white" if m != "state_core" else c,
                        label=f"{m} L={int(L)}{tag}")
        ax.plot(x, ds.linear_bound_all.sel(length=L) / pl, ":", color=c, lw=1.4,
                label=f"exact bound L={int(L)}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("I_BP(L) / d  (nats of middle-cut MI per float of state)")
    ax.set_ylabel("KL / predictable information")
    ax.set_title("collapse on I_BP / dim(z): the curves of different L should coincide",
                 fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    # across L at fixed state: full-context models against small fixed states
    ax = axes[2]
    pred = ds.predictable
    for m, style in zip(ds.full_model.values, ("k-", "C3-.")):
        ax.plot(Ls, ds.kl_full.sel(full_model=m) / pred, style, marker="o", label=f"{m} (trained)")
    small = [d for d in ds.state.values if d <= 4]
    dcol = plt.cm.plasma(np.linspace(0.1, 0.8, len(small)))
    for c, d in zip(dcol, small):
        ax.plot(Ls, ds.kl.sel(model="state_core", state=d) / pred, "o-", color=c,
                label=f"state_core d={int(d)} (trained)")
        ax.plot(Ls, ds.kl_fit.sel(state=d) / pred, "^--", color=c, alpha=0.7, lw=0.8,
                label=f"linear state d={int(d)} at optimum")
        ax.plot(Ls, ds.linear_bound_blocks.sel(state=d) / pred, ":", color=c, lw=1.2)
    ax.axhline(0.1, color="grey", lw=0.6)
    ax.set_xscale("log", base=4)
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("KL / predictable information")
    ax.set_title("across L at fixed state; dotted: exact block bound; grey: 90 % captured",
                 fontsize=9)
    ax.legend(fontsize=6)
    # the convergence stage: KL(d, L) of its state models beside the exact yardsticks
    ax = axes[3]
    if conv:
        for c, L in zip(colors, Ls):
            st = ds.state.values
            drawn = False
            for m in ds.model.values:
                y = ds.kl_converge.sel(model=m, length=L)
                if np.isfinite(y).any():
                    ax.plot(st, y, marks.get(m, "o-"), color=c, ms=5, mfc="white",
                            label=f"{m} L={int(L)}")
                    drawn = True
            if drawn:
                ax.plot(st, ds.linear_bound_all.sel(length=L), ":", color=c, lw=1.4)
                ax.plot(st, ds.kl_fit.sel(length=L), "^-", color=c, lw=0.6, ms=3, alpha=0.6,
                        label=f"linear_state at optimum L={int(L)}")
                ax.axvline(int(ds.state_order.sel(length=L)), color=c, lw=0.6, alpha=0.5)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("history state d (floats)")
        ax.set_ylabel("held-out KL, nats / token")
        ax.set_title(f"convergence stage: batch {ds.attrs['converge_batch']}, steps "
                     f"{ds.attrs['converge_steps']}; dotted: exact bound; vertical: state "
                     "order", fontsize=9)
        ax.legend(fontsize=7)
    else:
        ax.set_axis_off()
    fig.suptitle(f"History-state phase diagram, {ds.attrs['process']} (pair_mi nats per pair)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--out", default=None, help="results folder (default sims/results)")
    ap.add_argument("--scheduler", default=None, help="None (in process), 'local' or an address")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lr-only", action="store_true", help="run the lr selection and stop")
    ap.add_argument("--across", action="store_true",
                    help="also the fixed-state stage (full-context models and StateCore at "
                         "small states, one more length)")
    ap.add_argument("--wide", action="store_true",
                    help="also the wider-state stage (StateCore beyond the grid's states at "
                         "one length)")
    ap.add_argument("--long", action="store_true",
                    help="also the longer-training stage (StateCore, 3x steps at one length)")
    ap.add_argument("--converge", action="store_true",
                    help="also the convergence stage (reference learners and StateCoreLTV "
                         "with 4x the batch and more steps, lr chosen again)")
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    lr_sweep = Sweep.from_configs(lr_configs(a.scale))
    lr_ds = run_sweep(lr_sweep, out / f"l2m_phase_{a.scale}_lr.nc", scheduler=a.scheduler,
                      workers=a.workers)
    lrs = pick_lrs(lr_ds)
    print("lr selection (seed 1, per length):", lrs)
    if a.lr_only:
        return 0
    grid_sweep = Sweep.from_configs(grid_configs(a.scale, lrs))
    grid = run_sweep(grid_sweep, out / f"l2m_phase_{a.scale}_cells.nc", scheduler=a.scheduler,
                     workers=a.workers)
    st, msg = grid["status"].values.ravel(), grid["message"].values.ravel()
    errors = sorted({str(m) for s_, m in zip(st, msg) if s_ == "error"})
    if errors:
        print("failed cells:", errors)
    print("linear-state reference at its optimum (exact expected KL, L-BFGS):")
    name = "l2m_phase" if a.scale == "cpu" else f"l2m_phase_{a.scale}"
    fit_dir = out / f"l2m_phase_{a.scale}_fit.nc.cells"
    n = restore_fits(out / f"{name}.nc", fit_dir, SCALES[a.scale]["fit_iter"])
    if n:
        print(f"restored {n} exact fits from {name}.nc", flush=True)
    fits = exact_fits(SCALES[a.scale]["fit_lengths"], SCALES[a.scale]["states"], fit_dir,
                      SCALES[a.scale]["fit_iter"])
    ds = assemble(grid, lr_ds, lrs, a.scale, fits)
    if a.long and long_configs(a.scale, first_lrs(lrs)):
        long_sweep = Sweep.from_configs(long_configs(a.scale, first_lrs(lrs)))
        long = run_sweep(long_sweep, out / f"l2m_phase_{a.scale}_long.nc", scheduler=a.scheduler,
                         workers=a.workers)
        ds = add_long(ds, long, a.scale)
    if a.wide and wide_configs(a.scale, lrs):
        wide = run_sweep(Sweep.from_configs(wide_configs(a.scale, lrs)),
                         out / f"l2m_phase_{a.scale}_wide.nc", scheduler=a.scheduler,
                         workers=a.workers)
        ds = add_wide(ds, wide, a.scale)
    if a.across and across_configs(a.scale, first_lrs(lrs)):
        across_sweep = Sweep.from_configs(across_configs(a.scale, first_lrs(lrs)))
        across = run_sweep(across_sweep, out / f"l2m_phase_{a.scale}_across.nc",
                           scheduler=a.scheduler, workers=a.workers)
        ds = add_across(ds, across, a.scale, first_lrs(lrs))
    if a.converge and converge_lr_configs(a.scale):
        c_lr = run_sweep(Sweep.from_configs(converge_lr_configs(a.scale)),
                         out / f"l2m_phase_{a.scale}_converge_lr.nc", scheduler=a.scheduler,
                         workers=a.workers)
        c_lrs = pick_lrs(c_lr)
        print("convergence stage lr selection (seed 1, per length):", c_lrs)
        c_grid = run_sweep(Sweep.from_configs(converge_configs(a.scale, c_lrs)),
                           out / f"l2m_phase_{a.scale}_converge.nc", scheduler=a.scheduler,
                           workers=a.workers)
        ds = add_converge(ds, c_grid, c_lrs, a.scale)
    ds.to_netcdf(out / f"{name}.nc", engine="h5netcdf")
    figure(ds, out / f"{name}.png")
    report(ds)
    print(f"\nwrote {out / (name + '.nc')} and {out / (name + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
