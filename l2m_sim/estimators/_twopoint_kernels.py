"""Private numba kernel of the two-point MI estimator: grouped pair counts."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _pair_counts(tokens, d, M, G, by_rows):
    """Joint counts of ``(w_t, w_{t+d})`` per jackknife group, shape ``(G, M*M)``.

    ``tokens``: (n, L) int64 in ``[0, M)``. Groups are contiguous blocks of rows
    (``by_rows``) or contiguous blocks of start positions ``t`` in ``[0, L-d)``. Every group
    writes only its own row of the output, so the loop over groups is parallel.
    """
    n, L = tokens.shape
    m = L - d
    out = np.zeros((G, M * M), dtype=np.int64)
    for g in prange(G):
        if by_rows:
            r0 = (g * n) // G
            r1 = ((g + 1) * n) // G
            t0 = 0
            t1 = m
        else:
            r0 = 0
            r1 = n
            t0 = (g * m) // G
            t1 = ((g + 1) * m) // G
        row = out[g]
        for i in range(r0, r1):
            for t in range(t0, t1):
                row[tokens[i, t] * M + tokens[i, t + d]] += 1
    return out
