"""Demo (d): a Markov chain, a tree (hierarchical Markov) process and the discrete
sub-volume process -- three token processes, three information structures.

* **Markov chain** (binary, flip 0.1): two-point MI decays *exponentially* (second
  eigenvalue 0.8), bipartite MI is the one-step MI -- constant in L.
* **Tree process** (binary tree, each child flips its parent's symbol with prob. 0.1):
  two-point MI decays as a *power law* d^-alpha, alpha = -4 log_2 |1 - 2 * 0.1|, yet the
  bipartite MI at the middle cut stays below H(root) = ln 2: power-law two-point decay
  without growing bipartite MI.
* **Discrete sub-volume process** (b = 4, k = 3, binary alphabet): bipartite MI
  grows like L^(log_4 3) exactly (I_BP = 3^(l-1) I_1) -- language-like growth.

All values exact in nats, except the tree's bipartite MI beyond L = 16, which is a
Monte-Carlo average of exact log-probabilities (error bars: 2 standard errors).

    python sims/demos/markov_vs_hierarchical.py [--fast] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import parse, save  # noqa: E402

from l2m_sim import HierarchicalDiscrete, HierarchicalMarkov, MarkovChain  # noqa: E402

FLIP = 0.1


def main(argv=None):
    args = parse(__doc__, argv)
    n_mc = 300 if args.fast else 3000
    T = np.array([[1 - FLIP, FLIP], [FLIP, 1 - FLIP]])
    tree_levels = range(2, 7 if args.fast else 10)
    sub_levels = range(1, 5 if args.fast else 9)

    # bipartite MI vs L
    markov = [(L, MarkovChain(T, L).bipartite_mi(), 0.0) for L in (4 ** np.arange(1, 6 if args.fast else 9))]
    tree = []
    for lv in tree_levels:
        p = HierarchicalMarkov(2, lv, T)
        try:
            tree.append((p.length, p.bipartite_mi(), 0.0))
        except ValueError:  # beyond exact enumeration: MC of exact log-probabilities
            est, se = p.bipartite_mi_mc(p.length // 2, n_mc, rng=lv)
            tree.append((p.length, est, se))
    sub = [(4**lv, HierarchicalDiscrete(4, 3, lv, 2).bipartite_mi(), 0.0) for lv in sub_levels]
    print(f"{'process':<22} {'L':>7} {'I_BP (nats)':>12} {'2 s.e.':>8}")
    for name, rows in (("Markov chain", markov), ("tree process", tree), ("discrete sub-volume", sub)):
        for L, v, se in rows:
            print(f"{name:<22} {L:>7} {v:>12.5f} {2 * se:>8.5f}")

    # two-point MI vs distance
    Lmax = 2 ** max(tree_levels)
    d = 2 ** np.arange(0, int(np.log2(Lmax)))
    tp_markov = MarkovChain(T, Lmax).two_point_mi(np.zeros_like(d), d)
    tr = HierarchicalMarkov(2, max(tree_levels), T)
    tp_tree = [float(np.mean(tr.two_point_mi(np.arange(Lmax - x), np.arange(Lmax - x) + x)))
               for x in d]
    ds = HierarchicalDiscrete(4, 3, min(max(sub_levels), 5), 2)
    # every distance, mean over all pairs: the rows are uniform b-tuples through a bijection,
    # so most pairs are exactly independent and the dependence sits at a few distances
    d4 = np.arange(1, ds.length)
    tp_sub = np.array([float(np.mean(ds.two_point_mi(np.arange(ds.length - x),
                                                     np.arange(ds.length - x) + x)))
                       for x in d4])
    nz = tp_sub > 0
    print(f"discrete sub-volume (L = {ds.length}): two-point MI is exactly 0 at "
          f"{int((~nz).sum())} of {len(d4)} distances")
    print(f"tree two-point exponent alpha = {tr.two_point_exponent():.4f} (closed form)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    ax[0].loglog(d, tp_markov, "o-", label="Markov chain (exponential)")
    ax[0].loglog(d, tp_tree, "s-", label=f"tree (power law, alpha = {tr.two_point_exponent():.2f})")
    ax[0].loglog(d4[nz], tp_sub[nz], "^", ms=4,
                 label=f"discrete sub-volume (0 at {int((~nz).sum())} of {len(d4)} distances)")
    ax[0].set_xlabel("distance d")
    ax[0].set_ylabel("two-point MI, mean over all pairs at distance d (nats)")
    ax[0].set_ylim(1e-8, 1)
    ax[0].set_title("two-point MI")
    ax[0].legend(fontsize=8)
    for name, rows, mk in (("Markov chain", markov, "o-"), ("tree", tree, "s-"),
                           ("discrete sub-volume", sub, "^-")):
        L = [r[0] for r in rows]
        ax[1].errorbar(L, [r[1] for r in rows], yerr=[2 * r[2] for r in rows], fmt=mk,
                       label=name, capsize=3)
    ax[1].axhline(np.log(2), color="k", lw=0.8, ls=":", label="ln 2 = H(root)")
    ax[1].set_xscale("log")
    ax[1].set_yscale("log")
    ax[1].set_xlabel("sequence length L")
    ax[1].set_ylabel("bipartite MI, middle cut (nats)")
    ax[1].set_title("bipartite MI")
    ax[1].legend(fontsize=8)
    return save(fig, args.out, "markov_vs_hierarchical.png")


if __name__ == "__main__":
    main()
