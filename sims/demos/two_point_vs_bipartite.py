"""Demo (a): the same two-point decay, completely different bipartite growth.

Left: the study's two hierarchical Gaussian families share their 4x4 mixing matrix; one
keeps k = 3 copies per row ("subvolume", I_BP ~ L^0.79), the other k = 1 ("log", I_BP
constant without coupling). Their two-point MI between the first and last position is
*identical* at every L, yet the information the past carries about the future differs by
orders of magnitude. (Their *average* two-point MI at distance d does differ: the copies
keep the sub-volume family's correlations high.)

Middle and right: ``l2m_sim.design`` builds three processes with the *same* averaged
two-point exponent alpha_avg = 0.5 and bipartite exponents beta = 0, 0.5 and log_4 3: the
two-point curves (log-binned averages over random pairs) fall together, the bipartite MI
does not. Two-point decay is not a sum rule for the bipartite MI; a model's history state
must follow the latter.

Everything is exact (nats): ``bipartite_mi`` by the conditional-variance recursion,
``two_point_mi`` by the digit product.

    python sims/demos/two_point_vs_bipartite.py [--fast] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import parse, save  # noqa: E402

import l2m_sim  # noqa: E402


def mean_two_point(p, d, max_pairs=4096):
    """Mean exact two-point MI over (up to max_pairs evenly spaced) pairs at distance d."""
    i = np.unique(np.linspace(0, p.length - 1 - d, min(max_pairs, p.length - d)).astype(int))
    return float(np.mean(p.two_point_mi(i, i + d)))


def compute(levels):
    rows = {}
    for name in ("subvolume", "log"):
        for lv in levels:
            p = l2m_sim.paper_family(name, lv)
            L = p.length
            rows[name, L] = dict(bp=p.bipartite_mi(), first_last=p.two_point_mi(0, L - 1),
                                 tp={d: mean_two_point(p, d) for d in 4 ** np.arange(lv)})
    return rows


def binned_two_point(p, lo_exp, n_pairs, rng):
    """Mean exact two-point MI over random pairs with distance log-uniform in [4^m, 4^(m+1))."""
    out = []
    for m in range(lo_exp):
        d = np.floor(4 ** rng.uniform(m, m + 1, n_pairs)).astype(np.int64)
        d = np.minimum(d, p.length - 1)
        i = (rng.random(n_pairs) * (p.length - d)).astype(np.int64)
        out.append(float(np.mean(p.two_point_mi(i, i + d))))
    return np.array(out)


def main(argv=None):
    args = parse(__doc__, argv)
    levels = list(range(1, 6 if args.fast else 10))
    rows = compute(levels)
    design_levels = 5 if args.fast else 8
    betas = [0.0, 0.5, float(np.log(3) / np.log(4))]
    designs = [l2m_sim.design(beta, 0.5, branching=4, levels=design_levels) for beta in betas]
    rng = np.random.default_rng(0)
    n_pairs = 2000 if args.fast else 20000
    tp_design = [binned_two_point(d.process, design_levels - 1, n_pairs, rng) for d in designs]
    bp_design = [[l2m_sim.design(beta, 0.5, branching=4, levels=lv).process.bipartite_mi()
                  for lv in range(1, design_levels + 1)] for beta in betas]
    print("designed processes with alpha_avg = 0.5:")
    for d, bp in zip(designs, bp_design):
        e = d.exponents
        print(f"  beta = {e.beta:.4f}  alpha_avg = {e.alpha_avg:.4f}  copies = {d.copies[0]}  "
              f"I_BP at L = {4**design_levels}: {bp[-1]:.4f}")
    print(f"{'L':>8} | {'I_BP subvolume':>15} {'I_BP log':>10} | {'I(first;last) sub':>18} "
          f"{'I(first;last) log':>18}")
    for lv in levels:
        L = 4**lv
        s, g = rows["subvolume", L], rows["log", L]
        print(f"{L:>8} | {s['bp']:>15.4f} {g['bp']:>10.4f} | {s['first_last']:>18.3e} "
              f"{g['first_last']:>18.3e}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    Ls = [4**lv for lv in levels]
    for name, mk in (("subvolume", "o-"), ("log", "s--")):
        ax[0].loglog(Ls, [rows[name, L]["bp"] for L in Ls], mk, label=f"{name}: bipartite MI")
        ax[0].loglog(Ls, [rows[name, L]["first_last"] for L in Ls], mk, alpha=0.5,
                     label=f"{name}: I(first; last)")
        last = rows[name, Ls[-1]]["tp"]
        ax[1].loglog(list(last), list(last.values()), mk, label=name)
    ax[0].set_xlabel("sequence length L")
    ax[0].set_ylabel("nats")
    ax[0].set_title("bipartite MI grows (or not); first-last MI is identical")
    ax[0].legend(fontsize=8)
    ax[1].set_xlabel("distance d")
    ax[1].set_ylabel("mean I(W_i; W_i+d), nats")
    ax[1].set_title(f"two-point MI at L = {Ls[-1]}: study pair + designs")
    centres = 4 ** (np.arange(design_levels - 1) + 0.5)
    for d, tp in zip(designs, tp_design):
        ax[1].loglog(centres, tp, "^:", label=f"design beta = {d.exponents.beta:.2f}, "
                                              f"alpha_avg = {d.exponents.alpha_avg:.2f}")
        ax[2].loglog([4**lv for lv in range(1, design_levels + 1)],
                     bp_design[designs.index(d)], "^-", label=f"beta = {d.exponents.beta:.2f}")
    ax[1].legend(fontsize=7)
    ax[2].set_xlabel("sequence length L")
    ax[2].set_ylabel("bipartite MI, middle cut (nats)")
    ax[2].set_title("same alpha_avg = 0.5, different beta")
    ax[2].legend(fontsize=8)
    return save(fig, args.out, "two_point_vs_bipartite.png")


if __name__ == "__main__":
    main()
