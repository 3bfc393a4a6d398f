"""Demo (b): the history-state bound -- a fixed-state model falls behind as L grows while
a transformer's growing cache keeps up.

Data: the study's sub-volume Gaussian (b = 4, k = 3, I_BP ~ L^0.79), 4 independent
channels. The quantity: the KL summed over the *future half* (positions >= L/2, all
channels), in nats. Any predictor that sees the past only through its history state Z at
the cut pays at least ``I(X; Y | Z) = I_BP - I(Z; Y)`` there (chain rule). For a
d-dimensional *linear* state the best case is exact, ``I_BP - I_lin(d)`` from the top-d
canonical correlations (solid lines): for fixed d it grows like L^beta, because the
bipartite MI outgrows what d numbers can carry. Points: a small GPT (state grows with L)
and a small GRU (fixed state of ``n_layer * d_model`` floats, not linear, so the lines are
a yardstick for it rather than a bound), trained briefly on the exact KL. At this tiny CPU
scale training is short: read the points as an illustration beside the exact curves, not
a measurement (``sims/l2m_experiment.py`` is the measurement).

    python sims/demos/history_state_bound.py [--fast] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import parse, save  # noqa: E402

import l2m_sim  # noqa: E402
from l2m_sim.training import train  # noqa: E402
from l2m_sim.yardsticks import linear_state_kl  # noqa: E402

C = 4


def main(argv=None):
    args = parse(__doc__, argv)
    levels = [2, 3] if args.fast else [2, 3, 4]
    steps = 40 if args.fast else 250
    dims = [4, 16, 64]
    rows = []
    for lv in levels:
        p = l2m_sim.paper_family("subvolume", lv, channels=C)
        L = p.length
        bounds = {d: linear_state_kl(p, d)["total"] for d in dims}
        res = {}
        for name, mc in (("gpt", dict(d_model=32, n_layer=2)), ("gru", dict(d_model=8, n_layer=1))):
            ds = train(p, name, steps=steps, lr=3e-3, model_config=mc, eval_samples=64,
                       threads=1)
            future = float(ds.kl_position.values[L // 2:].sum()) * C  # nats, all channels
            res[name] = (future, int(ds.history_state.item()))
        rows.append((L, p.bipartite_mi(), bounds, res))
    print(f"{'L':>6} {'I_BP':>8} " + " ".join(f"{'bound d=' + str(d):>12}" for d in dims)
          + f" {'GPT':>9} {'GPT dim(z)':>10} {'GRU':>9} {'GRU dim(z)':>10}")
    print("(KL summed over the future half and the channels, nats; bounds for linear states)")
    for L, ibp, bounds, res in rows:
        print(f"{L:>6} {ibp:>8.3f} " + " ".join(f"{bounds[d]:>12.5f}" for d in dims)
              + f" {res['gpt'][0]:>9.4f} {res['gpt'][1]:>10} {res['gru'][0]:>9.4f} {res['gru'][1]:>10}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    Ls = [r[0] for r in rows]
    # the exact bound on a finer grid of lengths
    fine = [4**lv for lv in range(1, (5 if args.fast else 7))]
    for d in dims:
        vals = [linear_state_kl(l2m_sim.paper_family("subvolume", int(round(np.log(L) / np.log(4))),
                                                     channels=C), d)["total"] for L in fine]
        ax.plot(fine, vals, "-", label=f"exact bound, linear state d = {d}")
    ax.plot(Ls, [r[3]["gpt"][0] for r in rows], "o--", ms=8, label="GPT (growing KV cache)")
    ax.plot(Ls, [r[3]["gru"][0] for r in rows], "s--", ms=8,
            label=f"GRU (fixed state, {rows[0][3]['gru'][1]} floats)")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-1)
    ax.set_ylim(0, None)
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("KL summed over the future half (nats)")
    ax.set_title(f"history-state bound, sub-volume Gaussian, C = {C}, {steps} steps")
    ax.legend(fontsize=7)
    return save(fig, args.out, "history_state_bound.png")


if __name__ == "__main__":
    main()
