"""Private numba kernel of the KSG estimator: brute-force max-norm neighbour counts.

For every point ``i`` the kernel computes the max-norm distances ``dx_j = ||x_j - x_i||_inf``
and ``dy_j`` to all points (one O(n d) pass, vectorised over ``j`` on transposed data), then

* selects the ``k`` nearest neighbours ``j != i`` in the joint max-norm
  ``max(dx_j, dy_j)`` (insertion into a sorted buffer; on ties the smaller index wins,
  i.e. the order of a stable sort);
* algorithm 1: ``eps = `` the k-th joint distance, ``n_x = #{j != i : dx_j < eps}``, ``n_y`` alike;
* algorithm 2: ``eps_x = max`` of ``dx`` over the k neighbours,
  ``n_x = #{j != i : dx_j <= eps_x}``, ``n_y`` alike.

Points are processed in chunks (parallel over chunks); each chunk owns its buffers. Cost
O(n^2 (dx + dy)) time, O(n) memory per thread.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _maxnorm_row(XT, i, buf):
    """buf[j] = max_a |XT[a, j] - XT[a, i]| (XT is (d, n), d >= 1)."""
    d, n = XT.shape
    row = XT[0]
    xi = row[i]
    for j in range(n):
        buf[j] = abs(row[j] - xi)
    for a in range(1, d):
        row = XT[a]
        xi = row[i]
        for j in range(n):
            v = abs(row[j] - xi)
            buf[j] = max(buf[j], v)


@njit(cache=True, parallel=True)
def _ksg_counts(XT, YT, k, alg, nchunks):
    """Neighbour counts ``(n_x, n_y, eps)`` of KSG algorithm ``alg`` (1 or 2).

    ``eps`` is the k-th joint neighbour distance (for ties diagnostics).
    """
    n = XT.shape[1]
    nx = np.empty(n, dtype=np.int64)
    ny = np.empty(n, dtype=np.int64)
    eps = np.empty(n)
    for c in prange(nchunks):
        i0 = (c * n) // nchunks
        i1 = ((c + 1) * n) // nchunks
        bx = np.empty(n)
        by = np.empty(n)
        kd = np.empty(k)
        ki = np.empty(k, dtype=np.int64)
        for i in range(i0, i1):
            _maxnorm_row(XT, i, bx)
            _maxnorm_row(YT, i, by)
            for q in range(k):
                kd[q] = np.inf
                ki[q] = -1
            for j in range(n):
                if j == i:
                    continue
                z = max(bx[j], by[j])
                if z < kd[k - 1]:
                    p = k - 1
                    while p > 0 and kd[p - 1] > z:
                        kd[p] = kd[p - 1]
                        ki[p] = ki[p - 1]
                        p -= 1
                    kd[p] = z
                    ki[p] = j
            eps[i] = kd[k - 1]
            cx = 0
            cy = 0
            if alg == 1:
                e = kd[k - 1]
                for j in range(n):
                    if bx[j] < e:
                        cx += 1
                    if by[j] < e:
                        cy += 1
                # j == i has distance 0 < e whenever e > 0
                if e > 0.0:
                    cx -= 1
                    cy -= 1
            else:
                ex = 0.0
                ey = 0.0
                for q in range(k):
                    ex = max(ex, bx[ki[q]])
                    ey = max(ey, by[ki[q]])
                for j in range(n):
                    if bx[j] <= ex:
                        cx += 1
                    if by[j] <= ey:
                        cy += 1
                cx -= 1  # j == i (distance 0 <= eps always)
                cy -= 1
            nx[i] = cx
            ny[i] = cy
    return nx, ny, eps
