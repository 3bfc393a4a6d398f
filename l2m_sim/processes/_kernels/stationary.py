"""Private numba kernels of the stationary Gaussian family (Levinson-Durbin recursions).

Notation (shared with ``stationary.py``). ``r`` is the autocorrelation ``r[d] = acov[d] /
acov[0]`` (so ``r[0] = 1``), ``L = len(r)``. The order-t one-step predictor of ``x_t``
from ``x_{t-1}, .., x_0`` is ``sum_{j=1..t} a_t[j] x_{t-j}``; its error variance (relative
to ``acov[0]``) is ``v_t``, with ``v_0 = 1``. Levinson-Durbin builds ``a_t`` from
``a_{t-1}`` with the reflection coefficient (partial autocorrelation)

    k_t = (r[t] - sum_{j<t} a_{t-1}[j] r[t-j]) / v_{t-1},
    a_t[j] = a_{t-1}[j] - k_t a_{t-1}[t-j]  (j < t),   a_t[t] = k_t,
    v_t = v_{t-1} (1 - k_t^2).

``max_order`` caps the recursion: an AR(p) process has ``k_t = 0`` for ``t > p`` exactly,
so passing ``max_order = p`` makes every kernel O(L p) instead of O(L^2). No kernel
stores more than one coefficient vector: the L x L matrix of predictors is never formed.

Inner products run forward over contiguous memory (``rr`` is ``r`` reversed, and the
conditional-mean kernels read each sequence reversed) so that they vectorise; they are
the only loops compiled with re-association allowed (``_dot``), so results are
deterministic on a given machine but may differ from a plain loop in the last bits.

Everything here takes arrays and returns arrays; the public classes validate input.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, fastmath={"reassoc", "contract"})
def _dot(x, xo, y, yo, n):
    """``sum_{i<n} x[xo + i] y[yo + i]`` (vectorised)."""
    s = 0.0
    for i in range(n):
        s += x[xo + i] * y[yo + i]
    return s


@njit(cache=True)
def _axpy(z, x, y, k):
    """``z = x - k y`` elementwise (equal-length contiguous views)."""
    for j in range(z.shape[0]):
        z[j] = x[j] - k * y[j]


@njit(cache=True)
def _step(r, rr, a, b, a2, b2, t, v):
    """Order t-1 -> t: write the new predictor into ``a2``/``b2``; return ``k_t``.

    ``a[j]`` (j = 1..t-1) is the order-(t-1) predictor and ``b[P - j] = a[j]`` its reversed
    copy (``P = len(a) - 1``), so the update ``a_t[j] = a[j] - k a[t-j]`` reads ``b`` forward
    and its mirror reads ``a`` forward: both loops vectorise. ``rr[q] = r[L-1-q]``, so
    ``r[t-j] = rr[L-1-t+j]`` runs forward with ``j`` too. The caller swaps (a, b) and (a2, b2).
    """
    L = r.shape[0]
    P = a.shape[0] - 1
    acc = r[t] - _dot(a, 1, rr, L - t, t - 1)
    k = acc / v
    off = P - t
    # contiguous views let LLVM vectorise (it cannot for the offset-indexed loops)
    _axpy(a2[1:t], a[1:t], b[off + 1:off + t], k)
    a2[t] = k
    _axpy(b2[off + 1:P], b[off + 1:P], a[1:t], k)
    b2[off] = k
    return k


@njit(cache=True)
def _log_one_minus_sq(k):
    """``ln(1 - k^2)`` accurate for small and for near-unit ``|k|``."""
    kk = k * k
    if kk < 0.5:
        return math.log1p(-kk)
    return math.log((1.0 - k) * (1.0 + k))


@njit(cache=True)
def _levinson(r, max_order, tol):
    """Reflection coefficients and log innovation variances.

    Returns ``(kappa, logv, bad)``: ``kappa[t] = k_t`` (``kappa[0] = 0``), ``logv[t] =
    ln v_t`` (``logv[0] = 0``) and ``bad = 0``, or the first order ``t`` at which the
    recursion failed (``|k_t| >= 1``, non-finite, or ``1 - k_t^2 <= tol``: the Toeplitz matrix
    of order ``t + 1`` is not (numerically) positive definite). Orders above ``max_order``
    have ``k_t = 0``.
    """
    L = r.shape[0]
    kappa = np.zeros(L)
    logv = np.zeros(L)
    a, b = np.zeros(max_order + 1), np.zeros(max_order + 1)
    a2, b2 = np.zeros(max_order + 1), np.zeros(max_order + 1)
    rr = r[::-1].copy()
    v = 1.0
    for t in range(1, L):
        if t <= max_order:
            k = _step(r, rr, a, b, a2, b2, t, v)
            a, a2 = a2, a
            b, b2 = b2, b
            if not (abs(k) < 1.0):
                return kappa, logv, t
            one_m = (1.0 - k) * (1.0 + k)
            if not (one_m > tol):
                return kappa, logv, t
            v *= one_m
            kappa[t] = k
            logv[t] = logv[t - 1] + _log_one_minus_sq(k)
        else:
            logv[t] = logv[t - 1]
    return kappa, logv, 0


@njit(cache=True)
def _cond_means(r, X, max_order):
    """Exact conditional means ``E[x_t | x_{<t}]`` of every row of ``X`` (n, L); O(L p (n + 1))."""
    n, L = X.shape
    mean = np.zeros((n, L))
    # Xr[i, q] = X[i, L-1-q]: X[i, t-j] = Xr[i, L-1-t+j], forward in j
    Xr = np.ascontiguousarray(X[:, ::-1])
    a, b = np.zeros(max_order + 1), np.zeros(max_order + 1)
    a2, b2 = np.zeros(max_order + 1), np.zeros(max_order + 1)
    rr = r[::-1].copy()
    v = 1.0
    for t in range(1, L):
        if t <= max_order:
            k = _step(r, rr, a, b, a2, b2, t, v)
            a, a2 = a2, a
            b, b2 = b2, b
            v *= (1.0 - k) * (1.0 + k)
        order = min(t, max_order)
        for i in range(n):
            mean[i, t] = _dot(a, 1, Xr[i], L - t, order)
    return mean


@njit(cache=True)
def _sample_levinson(r, eps, sd, max_order):
    """Exact sampling through the innovations: ``x_t = sum_j a_t[j] x_{t-j} + sd[t] eps_t``.

    ``eps`` (n, L) holds the standard normals; ``sd[t]`` the conditional stds (absolute
    scale). Returns a new (n, L) array. O(L p (n + 1)) time, O(p) extra memory.
    """
    n, L = eps.shape
    # built reversed: xr[i, L-1-t] = x_t, so the history x_{t-1}, x_{t-2}, .. is xr[i, L-t:]
    xr = np.empty((n, L))
    for i in range(n):
        xr[i, L - 1] = sd[0] * eps[i, 0]
    a, b = np.zeros(max_order + 1), np.zeros(max_order + 1)
    a2, b2 = np.zeros(max_order + 1), np.zeros(max_order + 1)
    rr = r[::-1].copy()
    v = 1.0
    for t in range(1, L):
        if t <= max_order:
            k = _step(r, rr, a, b, a2, b2, t, v)
            a, a2 = a2, a
            b, b2 = b2, b
            v *= (1.0 - k) * (1.0 + k)
        order = min(t, max_order)
        for i in range(n):
            xr[i, L - 1 - t] = _dot(a, 1, xr[i], L - t, order) + sd[t] * eps[i, t]
    return np.ascontiguousarray(xr[:, ::-1])


@njit(cache=True)
def _ar_extend(g, phi, start):
    """``g[k] = sum_i phi[i-1] g[k-i]`` for ``k >= start`` in place (the ARMA autocovariance tail)."""
    p = phi.shape[0]
    for k in range(start, g.shape[0]):
        s = 0.0
        for i in range(1, p + 1):
            s += phi[i - 1] * g[k - i]
        g[k] = s
    return g
