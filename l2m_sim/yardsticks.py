"""Exact yardsticks for trained models on Gaussian processes.

A trained model's KL to the exact conditionals means little alone; these are exact
reference points computed from the process's covariance:

* :func:`window_kl` -- the expected KL of the **optimal predictor that sees only the last
  w values**. For a zero-mean Gaussian process, ``q_w(x_t | x_{t-w..t-1})`` is Gaussian
  with variance ``v_w(t) = Var(x_t | x_{t-w..t-1})``; its mean is the projection of the
  full conditional mean, so ``E(mu_full - mu_w)^2 = v_w - v`` and the expected KL is
  exactly ``1/2 ln(v_w(t) / v(t))`` (= ``I(x_t; x_{<t-w} | x_{t-w..t-1})``).
* :func:`linear_state_kl` -- the minimum excess KL of **any predictor whose history state
  at the cut is a d-dimensional linear function of the past**: with ``Z = A X`` the
  excess of predicting the future block from ``Z`` instead of ``X`` is
  ``I(X; Y | Z) = I(X; Y) - I(Z; Y)``, minimised by the top-d canonical directions:
  ``I_BP - linear_state_mi(d)``. Reported as a total over the future block and per token
  and channel averaged over the whole sequence (the unit of :func:`l2m_sim.train`'s
  ``kl``). It bounds linear-state models; a non-linear state of the same size is not
  bound by it (a model that beats it is a finding to check twice).
"""

from __future__ import annotations

import numpy as np

from .protocol import check_cut, check_int

__all__ = ["window_kl", "linear_state_kl"]


def _conditional_variances(process) -> np.ndarray:
    if hasattr(process, "conditional_stds"):
        return np.asarray(process.conditional_stds(), dtype=float) ** 2
    S = process.covariance()
    return np.diag(np.linalg.cholesky(S)) ** 2


def window_kl(process, window: int, max_batch: int = 512) -> np.ndarray:
    """Expected per-position KL (nats, per channel) of the best predictor that sees only
    the last ``window`` values; shape ``(L,)`` (0 where ``t <= window``).

    Needs ``process.covariance()`` (dense; Gaussian processes up to their dense limit).
    """
    w = check_int("window", window, 0)
    S = np.asarray(process.covariance(), dtype=float)
    L = S.shape[0]
    v_full = _conditional_variances(process)
    out = np.zeros(L)
    if w == 0:
        out[:] = 0.5 * np.log(np.diag(S) / v_full)
        return out
    ts = np.arange(w + 1, L)  # positions whose past is longer than the window
    if ts.size == 0:
        return out
    idx = ts[:, None] + np.arange(-w, 1)[None, :]  # (n, w+1): window then t
    for s in range(0, ts.size, max_batch):
        blk = idx[s:s + max_batch]
        sub = S[blk[:, :, None], blk[:, None, :]]  # (m, w+1, w+1)
        chol = np.linalg.cholesky(sub)
        v_w = chol[:, -1, -1] ** 2
        out[ts[s:s + max_batch]] = 0.5 * np.log(v_w / v_full[ts[s:s + max_batch]])
    return np.maximum(out, 0.0)


def linear_state_kl(process, dim: int, cut=None) -> dict:
    """Minimum excess KL of a predictor whose state at ``cut`` is a ``dim``-dim linear map
    of the past: ``{"total": I_BP - I_lin(dim), "per_token": total / (L * C),
    "state_mi": I_lin(dim), "bipartite_mi": I_BP}`` (nats).

    Needs ``process.linear_state_mi`` (the hierarchical Gaussian family).
    """
    c = check_cut(cut, process.length)
    d = check_int("dim", dim, 0)
    if not hasattr(process, "linear_state_mi"):
        raise TypeError(f"{type(process).__name__} has no canonical correlations "
                        f"(linear_state_mi); the linear-state bound needs them")
    ibp = float(process.bipartite_mi(c))
    lin = float(process.linear_state_mi(d, c))
    total = max(ibp - lin, 0.0)
    C = getattr(process, "channels", 1)
    return {"total": total, "per_token": total / (process.length * C), "state_mi": lin,
            "bipartite_mi": ibp}
