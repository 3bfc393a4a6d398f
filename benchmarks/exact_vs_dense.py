"""Error table: the structured exact algorithms against plain dense references.

For uncoupled and coupled designs, b in {2, 4, 8}, L up to 4096, prints the worst
relative error of ``bipartite_mi`` (over up to 64 cuts, against a dense log-det of
``covariance()``), the worst absolute error of ``two_point_mi`` (against
``-1/2 ln(1 - rho^2)`` from ``covariance()``), and of ``conditional_moments`` (against a
dense Cholesky), and of ``covariance()`` itself against ``A A^T`` with ``A`` built by
running the sampler on unit vectors. Run from the repository root::

    .venv/bin/python benchmarks/exact_vs_dense.py
"""

from __future__ import annotations

import numpy as np

from l2m_sim import HierarchicalGaussian

CASES = [  # (b, k, levels, coupling)
    (2, 1, 12, None), (4, 1, 6, None), (4, 3, 6, None), (8, 3, 4, None), (8, 7, 3, None),
    (2, 1, 10, 0.3), (4, 1, 5, 0.5), (4, 3, 6, 0.5), (8, 5, 3, -0.2),
]


def logdet(S):
    return np.linalg.slogdet(S)[1]


def row(b, k, levels, coupling, rng):
    p = HierarchicalGaussian(b, k, levels, coupling=coupling)
    L = p.length
    S = p.covariance()
    cuts = np.unique(np.concatenate([[1, L // 2, L - 1], rng.integers(1, L, 61)]))
    ld = logdet(S)
    dense = np.array([0.5 * (logdet(S[:c, :c]) + logdet(S[c:, c:]) - ld) for c in cuts])
    fast = p.bipartite_mi(cuts)
    bp = np.max(np.abs(fast - dense) / dense)
    i, j = rng.integers(0, L, 500), rng.integers(0, L, 500)
    keep = i != j
    tp_dense = -0.5 * np.log1p(-S[i[keep], j[keep]] ** 2)
    tp = np.max(np.abs(p.two_point_mi(i[keep], j[keep]) - tp_dense))
    x = p.sample(4, rng=1)
    mu, sd = p.conditional_moments(x)
    Lc = np.linalg.cholesky(S)
    e = np.linalg.solve(Lc, x.T)
    mu_ref = (np.tril(Lc, -1) @ e).T
    cm = max(np.max(np.abs(mu - mu_ref)), np.max(np.abs(sd - np.diag(Lc))))
    if L <= 4096:
        A = p._transform(np.eye(L)).T
        cov = np.max(np.abs(A @ A.T - S))
    else:
        cov = float("nan")
    return L, len(cuts), bp, tp, cm, cov


def main():
    rng = np.random.default_rng(0)
    print(f"{'b':>2} {'k':>2} {'coupling':>8} {'L':>5} {'cuts':>4} {'I_BP rel err':>12} "
          f"{'I_TP abs err':>12} {'cond. abs err':>13} {'cov vs AA^T':>11}")
    for b, k, lv, cpl in CASES:
        L, nc, bp, tp, cm, cov = row(b, k, lv, cpl, rng)
        print(f"{b:>2} {k:>2} {str(cpl):>8} {L:>5} {nc:>4} {bp:>12.1e} {tp:>12.1e} {cm:>13.1e} {cov:>11.1e}")


if __name__ == "__main__":
    main()
