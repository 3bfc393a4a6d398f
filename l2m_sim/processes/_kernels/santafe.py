"""Private numba kernels of the Santa Fe family (``santafe.py``).

Everything here takes validated arrays and returns arrays; the public class validates.

**Token code.** Token ``x = 2 k + z`` with ``k`` in ``0..K-1`` the (0-based) fact index and
``z`` in ``{0, 1}`` the fact's bit.

**Facts by first occurrence.** A sequence only needs the bits of the facts it shows. The
sampler draws one fair bit per *position* and gives fact ``k`` the bit drawn at its first
occurrence; every later occurrence repeats it. The bits of distinct facts are then iid fair
and independent of the indices, which is the law of the process. First occurrences are
found with a stable sort of the row's fact indices (O(L log L) time, O(L) memory per
sequence, whatever ``K``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _draw(cum, u):
    """First index ``k`` with ``u < cum[k]`` (``cum`` non-decreasing, ending in ``+inf``)."""
    lo = 0
    hi = cum.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if u < cum[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, parallel=True)
def sample_rows(uk, bits, cum, out):
    """``out[r, t] = 2 k + z``: ``k`` by inverse CDF of ``uk[r, t]``, ``z`` the bit
    ``bits[r, s]`` of the first position ``s`` where the row shows ``k``."""
    n, L = uk.shape
    for r in prange(n):
        ks = np.empty(L, dtype=np.int64)
        for t in range(L):
            ks[t] = _draw(cum, uk[r, t])
        order = np.argsort(ks, kind="mergesort")  # stable: equal k in time order
        prev = -1
        z = 0
        for i in range(L):
            t = order[i]
            k = ks[t]
            if k != prev:
                z = bits[r, t]
                prev = k
            out[r, t] = 2 * k + z


@njit(cache=True, parallel=True)
def position_log_probs(X, logp, out):
    """``out[r, t] = ln p(x_t | x_<t)``: ``ln p_k - ln 2`` at the first occurrence of fact
    ``k``, ``ln p_k`` when the bit repeats the first one, ``-inf`` when it contradicts it;
    ``-inf`` from the first impossible token of a row on."""
    n, L = X.shape
    ln2 = np.log(2.0)
    for r in prange(n):
        ks = np.empty(L, dtype=np.int64)
        for t in range(L):
            ks[t] = X[r, t] >> 1
        order = np.argsort(ks, kind="mergesort")
        prev = -1
        z0 = 0
        for i in range(L):
            t = order[i]
            k = ks[t]
            z = X[r, t] & 1
            if k != prev:
                prev = k
                z0 = z
                out[r, t] = logp[k] - ln2
            elif z == z0:
                out[r, t] = logp[k]
            else:
                out[r, t] = -np.inf
        dead = False
        for t in range(L):
            if dead:
                out[r, t] = -np.inf
            elif out[r, t] == -np.inf:
                dead = True


@njit(cache=True, parallel=True)
def conditional_probs(X, p, out, first_bad):
    """``out[r, t, :] = p(x_t = . | x_<t)`` (``(n, L, 2K)``): ``p_k / 2`` on both tokens of an
    unseen fact, ``p_k`` on the seen bit and 0 on the other. ``first_bad[r]`` is the first
    position whose token has probability zero given its prefix (``-1`` if none)."""
    n, L = X.shape
    K = p.shape[0]
    for r in prange(n):
        first_bad[r] = -1
        for k in range(K):
            h = 0.5 * p[k]
            out[r, 0, 2 * k] = h
            out[r, 0, 2 * k + 1] = h
        for t in range(L):
            x = X[r, t]
            if first_bad[r] < 0 and out[r, t, x] == 0.0:
                first_bad[r] = t
            if t + 1 < L:
                out[r, t + 1, :] = out[r, t, :]
                k = x >> 1
                if out[r, t, x] > 0.0:  # a fact (re)confirmed: all its mass on this bit
                    out[r, t + 1, x] = p[k]
                    out[r, t + 1, x ^ 1] = 0.0


@njit(cache=True, inline="always")
def _corr(gap, lr):
    """``(1 - 2 eps)^gap`` from ``lr = ln(1 - 2 eps)`` (0 when ``eps = 1/2``)."""
    if lr == -np.inf:
        return 0.0
    return np.exp(gap * lr)


@njit(cache=True, parallel=True)
def sample_drift_rows(uk, ub, cum, lr, out):
    """Drifting facts: fact ``k``'s bit is fair at its first look and kept between looks
    ``gap`` apart with probability ``(1 + rho_k(gap)) / 2`` (uniform ``ub[r, t]``)."""
    n, L = uk.shape
    for r in prange(n):
        ks = np.empty(L, dtype=np.int64)
        for t in range(L):
            ks[t] = _draw(cum, uk[r, t])
        order = np.argsort(ks, kind="mergesort")
        prev = -1
        z = 0
        tprev = 0
        for i in range(L):
            t = order[i]
            k = ks[t]
            if k != prev:
                z = 1 if ub[r, t] < 0.5 else 0
                prev = k
            else:
                keep = 0.5 * (1.0 + _corr(t - tprev, lr[k]))
                if ub[r, t] >= keep:
                    z = 1 - z
            tprev = t
            out[r, t] = 2 * k + z


@njit(cache=True, parallel=True)
def drift_log_probs(X, logp, lr, out):
    """``ln p(x_t | x_<t)`` of the drifting process (``-inf`` from an impossible token on)."""
    n, L = X.shape
    ln2 = np.log(2.0)
    for r in prange(n):
        ks = np.empty(L, dtype=np.int64)
        for t in range(L):
            ks[t] = X[r, t] >> 1
        order = np.argsort(ks, kind="mergesort")
        prev = -1
        zp = 0
        tprev = 0
        for i in range(L):
            t = order[i]
            k = ks[t]
            z = X[r, t] & 1
            if k != prev:
                prev = k
                out[r, t] = logp[k] - ln2
            else:
                rho = _corr(t - tprev, lr[k])
                q = 0.5 * (1.0 + rho) if z == zp else 0.5 * (1.0 - rho)
                out[r, t] = logp[k] + np.log(q) if q > 0 else -np.inf
            zp = z
            tprev = t
        dead = False
        for t in range(L):
            if dead:
                out[r, t] = -np.inf
            elif out[r, t] == -np.inf:
                dead = True


@njit(cache=True, parallel=True)
def drift_conditional_probs(X, p, lr, out):
    """``p(x_t = . | x_<t)`` of the drifting process, ``(n, L, 2K)``: O(L K) per row."""
    n, L = X.shape
    K = p.shape[0]
    for r in prange(n):
        last = np.full(K, -1, dtype=np.int64)
        bit = np.zeros(K, dtype=np.int64)
        for t in range(L):
            for k in range(K):
                if last[k] < 0:
                    out[r, t, 2 * k] = 0.5 * p[k]
                    out[r, t, 2 * k + 1] = 0.5 * p[k]
                else:
                    rho = _corr(t - last[k], lr[k])
                    hi = 0.5 * p[k] * (1.0 + rho)
                    lo = 0.5 * p[k] * (1.0 - rho)
                    out[r, t, 2 * k + bit[k]] = hi
                    out[r, t, 2 * k + 1 - bit[k]] = lo
            k = X[r, t] >> 1
            last[k] = t
            bit[k] = X[r, t] & 1
