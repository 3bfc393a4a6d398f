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
* :func:`linear_state_bound` -- the same bound taken at **every** cut: a state of ``d``
  floats must serve all cuts at once, so the total excess KL is at least
  ``max_c [I_BP(c) - I_lin(d, c)]`` (each cut's bound holds for the future block after
  it, and the per-position KL terms are non-negative). Never below the middle-cut value.
* :func:`state_order` -- the **exact** smallest linear history state with which exact
  prediction (KL 0) is possible: ``max_c rank Sigma_{X_c Y_c}``, the largest number of
  non-zero canonical correlations at any cut. A predictor needs at cut ``c`` the future's
  conditional mean given the past, a linear map of rank ``rank Sigma_{Y X}``, and a
  time-varying linear state of that order realises the exact predictor (minimal
  realisation of a lower-triangular matrix whose past-to-future blocks have that rank).
  For the hierarchical family ``b = 4, k = 3`` it is ``(3^l - 1) / 2`` at ``L = 4^l``
  (1, 4, 13, 40, 121 for ``l = 1..5``), against ``N(L) = 3^(l-1)`` pairs at the middle cut.
"""

from __future__ import annotations

import numpy as np

from .protocol import (
    CanonicalCorrelations,
    ConditionalStds,
    ExactEntropy,
    GaussianProcess,
    LinearStateMI,
    NoExactValue,
    TokenProcess,
    check_cut,
    check_int,
    clip_rounding,
)

__all__ = ["window_kl", "block_kl", "linear_state_kl", "linear_state_bound", "state_order",
           "predictable_information", "dense_canonical_correlations",
           "linear_state_block_bound", "linear_state_gap"]


def _conditional_variances(process) -> np.ndarray:
    if isinstance(process, ConditionalStds):
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


def block_kl(process, block: int) -> np.ndarray:
    """Expected per-position KL (nats, per channel) of the best predictor that sees only
    the past *inside* the aligned block of ``t``, ``[block * floor(t / block), t)``;
    shape ``(L,)``.

    On a hierarchical process with ``block = b**j`` this is the exact KL of a model that has
    learned every dependence within the level-``j`` blocks and none across them: the
    plateau a learner sits on before it finds the longer-range levels (so a trained model's
    KL can be read as "levels learned"). ``block = 1`` gives the marginal predictor's KL per
    position (its mean is :func:`predictable_information` for unit variances),
    ``block >= L`` gives 0.

    Needs ``process.covariance()`` (dense; Gaussian processes up to their dense limit).
    """
    S = np.asarray(process.covariance(), dtype=float)
    L = S.shape[0]
    bl = check_int("block", block, 1)
    v_full = _conditional_variances(process)
    v_blk = np.empty(L)
    for b0 in range(0, L, bl):
        b1 = min(L, b0 + bl)
        v_blk[b0:b1] = np.diag(np.linalg.cholesky(S[b0:b1, b0:b1])) ** 2
    return np.maximum(0.5 * np.log(v_blk / v_full), 0.0)


def linear_state_kl(process, dim: int, cut=None) -> dict:
    """Minimum excess KL of a predictor whose state at ``cut`` is a ``dim``-dim linear map
    of the past: ``{"total": I_BP - I_lin(dim), "per_token": total / (L * C),
    "state_mi": I_lin(dim), "bipartite_mi": I_BP}`` (nats).

    Needs ``process.linear_state_mi`` (the hierarchical Gaussian family).
    """
    c = check_cut(cut, process.length)
    d = check_int("dim", dim, 0)
    if not isinstance(process, LinearStateMI):
        raise TypeError(f"{type(process).__name__} has no canonical correlations "
                        f"(linear_state_mi); the linear-state bound needs them")
    ibp = float(process.bipartite_mi(c))
    lin = float(process.linear_state_mi(d, c))
    total = max(ibp - lin, 0.0)
    C = process.channels
    return {"total": total, "per_token": total / (process.length * C), "state_mi": lin,
            "bipartite_mi": ibp}


def _cuts_of(process, cuts):
    L = process.length
    if cuts is None:
        return range(1, L)
    return [check_cut(c, L) for c in np.atleast_1d(np.asarray(cuts)).tolist()]


def dense_canonical_correlations(S, cut: int, stop: int | None = None,
                                 past_factor=None) -> np.ndarray:
    """Canonical correlations between ``x_{<cut}`` and ``x_{cut:stop}`` (default: the whole
    future) of a zero-mean Gaussian with dense covariance ``S`` (descending): the singular
    values of ``L_p^{-1} S_{pf} L_f^{-T}`` (``L_p``, ``L_f`` the Cholesky factors of the two
    blocks; ``past_factor`` may pass ``L_p`` when it is already known)."""
    S = np.asarray(S, dtype=float)
    c = check_cut(cut, S.shape[0])
    e = S.shape[0] if stop is None else stop
    Lp = np.linalg.cholesky(S[:c, :c]) if past_factor is None else past_factor
    Lf = np.linalg.cholesky(S[c:e, c:e])
    M = np.linalg.solve(Lp, np.linalg.solve(Lf, S[c:e, :c]).T)
    return np.clip(np.linalg.svd(M, compute_uv=False), 0.0, 1.0)


def _canonical(process, cut):
    if isinstance(process, CanonicalCorrelations):
        return np.asarray(process.canonical_correlations(cut), dtype=float)
    if isinstance(process, GaussianProcess):
        return dense_canonical_correlations(process.covariance(), cut)
    raise TypeError(f"{type(process).__name__} has neither canonical correlations nor a "
                    f"covariance; the linear-state yardsticks need a Gaussian process")


def linear_state_bound(process, dim: int, cuts=None) -> dict:
    """Lower bound on the total excess KL of a predictor whose history state is a
    ``dim``-dimensional linear function of the past, taken over ``cuts`` (default: every
    cut ``1..L-1``; dense work at cuts inside a top-level row, so ``L`` up to a few hundred).

    Returns ``{"total", "per_token", "cut"}``: ``max_c [I_BP(c) - I_lin(dim, c)]`` (nats),
    the same per token and channel, and the cut attaining it.
    """
    d = check_int("dim", dim, 0)
    best, best_c = 0.0, None
    for c in _cuts_of(process, cuts):
        gap = linear_state_gap(_canonical(process, c), d)
        if best_c is None or gap > best:
            best, best_c = gap, c
    C = process.channels
    best = best if best > 0 else 0.0  # exact 0 (never -0.0 or a rounding-level negative)
    return {"total": best, "per_token": best / (process.length * C), "cut": best_c}


def linear_state_gap(sig, d: int) -> float:
    """``-1/2 sum_{i >= d} ln(1 - sigma_i^2)`` over the canonical correlations ``sig`` (any
    order): the information about the future that the best ``d``-dimensional linear state
    of the past misses.
    Correlations at or below 1e-10 (the rank tolerance of :func:`state_order`) are exact
    zeros carried by rounding and contribute exactly 0."""
    sig = np.asarray(sig, dtype=float)
    sig = np.sort(sig[sig > 1e-10])[::-1]
    return float(-0.5 * np.sum(np.log1p(-np.minimum(sig[d:], 1.0) ** 2)))


def linear_state_block_bound(process, dim: int, blocks=None, single_cut: bool = True) -> dict:
    """A tighter exact lower bound on the total excess KL of a ``dim``-float linear history
    state: split the sequence into consecutive blocks of ``s`` positions; on the block
    ``B = [c, c + s)`` the predictor sees the past only through its state at ``c``, so its
    excess KL there is at least ``I(X_<c; X_B | Z_c) >= I(X_<c; X_B) - I_lin(dim; X_B)``
    (the top-``dim`` canonical correlations between the past and that block), and the
    blocks are disjoint, so their bounds add. A state must serve every block at once,
    which the single-cut bound :func:`linear_state_bound` does not see: for small ``dim``
    this bound is several times higher.

    ``blocks``: the block sizes tried (each ``< L``; default every power of 2 below ``L``);
    the largest total is returned, with the single-cut bound among the candidates unless
    ``single_cut=False`` (for a caller that has it already). Dense: one Cholesky of each
    past and each block, from the covariance (``L`` up to a few thousand).

    Returns ``{"total", "per_token", "block"}`` (nats; ``block`` = the size attaining it,
    0 for the single cut). ``dim`` counts floats over all channels: with ``C`` independent
    channels every canonical correlation appears ``C`` times and the state keeps the top
    ``dim`` of them.
    """
    d = check_int("dim", dim, 0)
    if not isinstance(process, GaussianProcess):
        raise TypeError(f"{type(process).__name__} has no covariance; the block bound needs "
                        f"a Gaussian process")
    S = np.asarray(process.covariance(), dtype=float)
    L, C = S.shape[0], process.channels
    if blocks is None:
        blocks = [2**j for j in range(1, max(L - 1, 1).bit_length()) if 2**j < L]
    sizes = [check_int("block", b, 1, L - 1) for b in np.atleast_1d(blocks).tolist()]
    best, best_s = (linear_state_bound(process, dim)["total"], 0) if single_cut else (0.0, 0)
    past = {}  # Cholesky factor of each past x_<c, shared by the block sizes

    for s in sizes:
        total = 0.0
        for c in range(s, L, s):
            if c not in past:
                past[c] = np.linalg.cholesky(S[:c, :c])
            sig = dense_canonical_correlations(S, c, min(c + s, L), past[c])
            total += linear_state_gap(np.repeat(sig, C), d)
        if total > best:
            best, best_s = total, s
    best = best if best > 0 else 0.0
    return {"total": best, "per_token": best / (L * C), "block": best_s}


def state_order(process, cuts=None, tol: float = 1e-10) -> int:
    """Exact minimal linear history state (floats, all channels) for KL 0: the largest
    number of canonical correlations above ``tol`` at any of ``cuts`` (default: all)."""
    return max(int(np.sum(_canonical(process, c) > tol)) for c in _cuts_of(process, cuts))


def predictable_information(process) -> float:
    """KL of the marginal predictor per token and channel (nats): the most any predictor
    that knows the one-position marginals can gain from the past.

    * Gaussian processes (unit variance): the predictor ``N(0, 1)``,
      ``1/2 mean_t ln(1 / v_t)`` from the exact conditional variances ``v_t``.
    * Token processes with an exact joint entropy and marginals
      (:class:`~l2m_sim.protocol.ExactEntropy`): ``(sum_t H(W_t) - H(W_1..W_L)) / L``,
      which is the expected KL of the predictor ``p(w_t)`` against ``p(w_t | w_<t)``.

    Other token processes raise :class:`~l2m_sim.protocol.NoExactValue`.
    """
    if isinstance(process, TokenProcess):
        if not isinstance(process, ExactEntropy):
            raise NoExactValue(f"{type(process).__name__} has no exact joint entropy and "
                               "marginals; its predictable information is not known exactly")
        L = process.length
        h_marg = 0.0
        for i in range(L):
            m = np.asarray(process.marginal(i), dtype=float)
            m = m[m > 0]
            h_marg -= float(np.sum(m * np.log(m)))
        return float(clip_rounding((h_marg - float(process.entropy())) / L))
    return float(0.5 * np.mean(-np.log(_conditional_variances(process))))
