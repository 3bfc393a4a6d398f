"""Demo (b): the history-state bound -- how much state a predictor needs, exactly, and
what trained models reach beside it.

Data: a hierarchical Gaussian (b = 4, k = 3, beta = log_4 3) whose canonical pairs each
carry 2 nats (``pair_mi=2.0``), one channel.

Left, exact: the smallest *linear* history state with which a predictor can be exact,
``state_order`` (the largest number of non-zero canonical correlations at any cut), against
the number of canonical pairs at the middle cut ``N(L) = 3^(l-1)``. Both grow like
``L^beta``: this is the L2M condition as a number of floats. A transformer's cache grows
like L and always has room; a fixed state of d floats falls behind once L^beta outgrows d.

Right, at one length: held-out KL against the state size d, for the linear-state reference
at its optimum (``fit_exact``: L-BFGS on the exact expected KL), the exact all-cut lower
bound it cannot beat, and briefly trained models -- ``StateCore`` (state d, width fixed) and
a GPT (growing cache, one horizontal line). At this tiny CPU scale the neural training is
short: read those points as an illustration (``sims/l2m_phase.py`` is the measurement).

    python sims/demos/history_state_bound.py [--fast] [--out DIR]
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import parse, save  # noqa: E402

import l2m_sim  # noqa: E402
from l2m_sim.models import LinearState, LinearStateConfig  # noqa: E402
from l2m_sim.models.linear import fit_exact  # noqa: E402
from l2m_sim.training import train  # noqa: E402
from l2m_sim.yardsticks import linear_state_bound, predictable_information, state_order  # noqa: E402

PAIR_MI = 2.0


def process(levels):
    return l2m_sim.HierarchicalGaussian(4, 3, levels, pair_mi=PAIR_MI)


def main(argv=None):
    args = parse(__doc__, argv)
    torch.set_num_threads(1)
    beta = math.log(3) / math.log(4)
    # -- exact: the state each length needs
    levels = [1, 2, 3] if args.fast else [1, 2, 3, 4]
    orders, pairs = [], []
    for lv in levels:
        p = process(lv)
        orders.append(state_order(p))
        pairs.append(len(p.canonical_correlations()))
    Ls = [4**lv for lv in levels]
    slope = np.polyfit(np.log(Ls[-2:]), np.log(orders[-2:]), 1)[0]
    print("exact minimal linear history state (all cuts) and canonical pairs at the middle cut")
    print(f"{'L':>6} {'state order':>12} {'N(L)':>6}")
    for L, o, n in zip(Ls, orders, pairs):
        print(f"{L:>6} {o:>12} {n:>6}")
    print(f"slope of the state order over the last two lengths {slope:.3f} "
          f"(beta = {beta:.3f}; the order is (3^l - 1)/2, so the slope tends to beta)")

    # -- one length: KL against d
    lv = 2
    p = process(lv)
    L = p.length
    dims = [1, 4] if args.fast else [1, 2, 3, 4, 6, 8]
    iters = 40 if args.fast else 300
    steps = 30 if args.fast else 1500
    fit, bound = [], []
    for d in dims:
        torch.manual_seed(0)
        fit.append(fit_exact(LinearState(LinearStateConfig(max_len=L, state_size=d)), p, iters))
        bound.append(linear_state_bound(p, d)["per_token"])
    neural = {}
    for d in (dims[0], dims[-1]):
        ds = train(p, "state_core", model_config=dict(state_size=d, d_model=64), steps=steps,
                   lr=1e-2, batch_size=16, eval_samples=64, threads=1)
        neural[d] = float(ds.kl)
    gpt = float(train(p, "gpt", model_config=dict(d_model=32, n_layer=2), steps=steps, lr=1e-2,
                      batch_size=16, eval_samples=64, threads=1).kl)
    pred = predictable_information(p)
    print(f"\nL = {L}: held-out KL per token (predictable information {pred:.4f} nats)")
    print(f"{'d':>4} {'exact bound':>12} {'linear at optimum':>18} {'StateCore':>10}")
    for d, b, f in zip(dims, bound, fit):
        nn_ = f"{neural[d]:.4f}" if d in neural else "-"
        print(f"{d:>4} {b:>12.4f} {f:>18.4f} {nn_:>10}")
    print(f"GPT (cache grows with L): {gpt:.4f}; StateCore and GPT trained {steps} steps")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    ax.plot(Ls, orders, "o-", label="exact state order (all cuts)")
    ax.plot(Ls, pairs, "s--", label="N(L): canonical pairs, middle cut")
    ax.plot(Ls, [orders[-1] * (L / Ls[-1]) ** beta for L in Ls], "k:", lw=1,
            label=f"L^beta, beta = {beta:.3f}")
    ax.plot(Ls, [orders[-1] * L / Ls[-1] for L in Ls], color="grey", lw=0.8,
            label="a transformer's cache ~ L")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("floats of history state")
    ax.set_title("the state a predictor needs (exact)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(dims, bound, "k:", label="exact all-cut lower bound (linear state)")
    ax.plot(dims, fit, "^-", label="linear state at its optimum (exact expected KL)")
    ax.plot(list(neural), list(neural.values()), "o", ms=8, label=f"StateCore, {steps} steps")
    ax.axhline(gpt, color="C3", ls="-.", label=f"GPT, {steps} steps")
    ax.axvline(state_order(p), color="grey", lw=0.6)
    ax.set_xlabel("history state d (floats)")
    ax.set_ylabel("held-out KL, nats / token")
    ax.set_title(f"L = {L}, {PAIR_MI} nats per canonical pair; vertical: state order", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, args.out, "history_state_bound.png")


if __name__ == "__main__":
    main()
