"""Gaussian (log-determinant) mutual information with an exact finite-sample bias correction.

For jointly Gaussian ``(X, Y)`` (``X`` of dimension ``p``, ``Y`` of dimension ``q``)
``I(X; Y) = 1/2 (log det S_xx + log det S_yy - log det S)``. The plug-in estimator uses the
sample covariance (mean removed). Its bias is known *exactly*: with ``m = n - 1`` degrees of
freedom, ``m * S_hat ~ Wishart_d(S, m)``, and for a Wishart matrix

    E[log det W] = log det S + d log 2 + sum_{i=1}^{d} psi((m - i + 1) / 2),

so ``E[log det S_hat] = log det S + b_d(m)`` with
``b_d(m) = sum_{i=1}^{d} [psi((m - i + 1)/2) - log(m/2)]`` (any normalisation of ``S_hat``
cancels in the MI). Hence

    E[I_hat] - I = 1/2 (b_p(m) + b_q(m) - b_{p+q}(m)),

exactly, at every ``n`` (for Gaussian data). ``bias="exact"`` (the default) subtracts this;
``bias="first_order"`` subtracts its leading term ``p q / (2 m)`` (from
``psi(z) ~ log z - 1/(2z)``: ``b_d(m) ~ -d (d+1) / (2m)``) -- the usual ``dx dy / (2n)``
correction with ``n - 1`` for the estimated mean; ``bias=None`` returns the plug-in value.

Standard error (``return_se=True``): the asymptotic (delta-method) value
``se^2 = sum_i rho_i^2 / n`` over the sample canonical correlations ``rho_i``
(``I = -1/2 sum log(1 - rho_i^2)`` and ``Var rho_hat_i ~ (1 - rho_i^2)^2 / n``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from ._common import Estimate, check_xy

__all__ = ["gaussian", "gaussian_bias"]

_BIAS = ("exact", "first_order", None)


def _logdet_bias(d: int, m: int) -> float:
    """``E[log det S_hat] - log det S`` for a d-dimensional sample covariance with m dof."""
    i = np.arange(1, d + 1)
    return float(np.sum(digamma((m - i + 1) / 2.0) - np.log(m / 2.0)))


def gaussian_bias(dx: int, dy: int, n: int, kind: str = "exact") -> float:
    """Expected bias (nats) of the plug-in Gaussian MI for sample size ``n`` (mean estimated).

    ``kind="exact"``: ``1/2 (b_dx + b_dy - b_{dx+dy})`` with ``b_d`` the Wishart log-det bias;
    ``kind="first_order"``: ``dx dy / (2 (n - 1))``.
    """
    m = n - 1
    if kind == "first_order":
        return dx * dy / (2.0 * m)
    if kind == "exact":
        return 0.5 * (_logdet_bias(dx, m) + _logdet_bias(dy, m) - _logdet_bias(dx + dy, m))
    raise ValueError(f"kind must be 'exact' or 'first_order', got {kind!r}")


def _chol_logdet(S, name):
    try:
        Lc = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise ValueError(f"the sample covariance of {name} is singular (collinear or constant columns)") from None
    return 2.0 * float(np.sum(np.log(np.diag(Lc)))), Lc


def gaussian(x, y, bias: str | None = "exact", return_se: bool = False):
    """Gaussian log-det MI estimate ``I(X; Y)`` in nats, bias-corrected.

    Parameters
    ----------
    x : array_like, shape ``(n, dx)`` or ``(n,)`` (read as ``(n, 1)``)
    y : array_like, shape ``(n, dy)`` or ``(n,)``
    bias : {"exact", "first_order", None}
        Finite-sample correction subtracted from the plug-in value (module docstring).
        Needs ``n >= dx + dy + 2`` so that the joint sample covariance is non-singular.
    return_se : bool
        Return ``Estimate(value, se)`` with the asymptotic standard error.

    Returns
    -------
    float, or Estimate
        The corrected value may be slightly negative when the true MI is near 0.
    """
    xa, ya = check_xy(x, y, min_rows=2)
    n, dx = xa.shape
    dy = ya.shape[1]
    if bias not in _BIAS:
        raise ValueError(f"bias must be one of {_BIAS}, got {bias!r}")
    if n < dx + dy + 2:
        raise ValueError(f"the Gaussian estimator needs n >= dx + dy + 2 = {dx + dy + 2} samples, got n = {n}")
    z = np.concatenate([xa, ya], axis=1)
    z = z - z.mean(axis=0)
    # scale columns to unit variance: MI is invariant, conditioning improves
    sd = z.std(axis=0)
    if np.any(sd == 0):
        raise ValueError("x and y must not have constant columns (zero sample variance)")
    z = z / sd
    S = (z.T @ z) / (n - 1)
    ldx, Lx = _chol_logdet(S[:dx, :dx], "x")
    ldy, Ly = _chol_logdet(S[dx:, dx:], "y")
    ldj, _ = _chol_logdet(S, "(x, y)")
    mi = 0.5 * (ldx + ldy - ldj)
    if bias is not None:
        mi -= gaussian_bias(dx, dy, n, bias)
    if not return_se:
        return float(mi)
    # canonical correlations: singular values of Lx^-1 S_xy Ly^-T
    Kx = np.linalg.solve(Lx, S[:dx, dx:])
    C = np.linalg.solve(Ly, Kx.T)
    rho = np.linalg.svd(C, compute_uv=False)
    se = float(np.sqrt(np.sum(rho**2) / n))
    return Estimate(float(mi), se)
