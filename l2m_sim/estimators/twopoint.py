"""Two-point mutual information of token sequences, and the log-space power-law bias fit.

``two_point_mi(tokens, distances)`` estimates ``I(W_t; W_{t+d})`` for each distance ``d`` from
all pairs ``(w_t, w_{t+d})``, pooled over positions ``t`` and sequences, as
``I = H(X) + H(Y) - H(X, Y)`` with ``X = w_t`` and ``Y = w_{t+d}`` (the marginals are those of
the pooled pairs, so the three entropies use the same ``N``). Entropies are Grassberger's by
default (plug-in and Miller--Madow available).

Standard errors: a delete-a-group jackknife. The pairs of one sequence are dependent, so
the observations are split into ``groups`` contiguous groups -- blocks of whole sequences
when there are at least ``groups`` sequences (exact independence between groups for iid
sequences), otherwise blocks of start positions ``t`` (valid when a block is much longer
than the correlation length). With ``theta_(-g)`` the estimate without group ``g``,
``se^2 = (G - 1)/G sum_g (theta_(-g) - mean)^2``. The jackknife is applied to the *plug-in*
MI whatever ``method`` is: the bias corrections do not change the variance to first order,
while Grassberger's ``G(n)`` oscillates with the parity of each count and would inflate
jackknife variances (see :mod:`l2m_sim.estimators.entropy`). Every leave-one-group-out
entropy is computed exactly from the counts (O(number of non-empty cells)), no resampling.

``fit_power_law(d, I)`` fits ``I(d) = A d^(-alpha) + C`` in log space (the constant ``C``
absorbs the estimator's positive bias at large ``d``) and returns the corrected curve
``I - C``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from ..protocol import as_array, check_int
from . import _twopoint_kernels as K
from .entropy import ENTROPY_METHODS, _g

__all__ = ["two_point_mi", "fit_power_law", "PowerLawFit"]

# Dense per-group count tables are used while G * M^2 stays below this many cells.
_DENSE_CELLS = 1 << 23


def _check_tokens(tokens, vocab_size):
    a = as_array("tokens", tokens, "iu", "an integer array (n, L)")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"tokens must be 1-D (L,) or 2-D (n, L), got {a.ndim}-D shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 2:
        raise ValueError(f"tokens must have n >= 1 sequences of length L >= 2, got shape {a.shape}")
    lo, hi = int(a.min()), int(a.max())
    if lo < 0:
        raise ValueError(f"tokens must be non-negative token ids, got minimum {lo}")
    if vocab_size is None:
        M = hi + 1
    else:
        M = check_int("vocab_size", vocab_size, 1)
        if hi >= M:
            raise ValueError(f"tokens must be in [0, vocab_size - 1] = [0, {M - 1}], got maximum {hi}")
    return np.ascontiguousarray(a, dtype=np.int64), M


def _check_distances(distances, L):
    scalar = isinstance(distances, numbers.Integral) or np.ndim(distances) == 0
    arr = np.atleast_1d(np.asarray(distances))
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iu":
        raise TypeError(f"distances must be integers, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"distances must be an integer or a non-empty 1-D array, got shape {arr.shape}")
    if arr.min() < 1 or arr.max() > L - 1:
        raise ValueError(f"distances must be in [1, {L - 1}] (L - 1), got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64), scalar


def _loo_entropies(tot, g_e, k_e, c_e, G, method):
    """Entropy of the full table and of the table without each group (exact, O(nnz)).

    ``tot``: totals of the non-empty cells; entries ``(g_e, k_e, c_e)``: group ``g_e`` put
    ``c_e > 0`` counts into cell ``k_e``.
    """
    tot = tot.astype(np.float64)
    N = tot.sum()
    S = _g(tot, method).sum()
    H = np.log(N) - S / N
    Kn = tot.size
    if method == "miller_madow":
        H += (Kn - 1) / (2.0 * N)
    t_e = tot[k_e]
    c_e = c_e.astype(np.float64)
    Ng = np.bincount(g_e, weights=c_e, minlength=G)
    dS = np.bincount(g_e, weights=_g(t_e, method) - _g(t_e - c_e, method), minlength=G)
    Nm = N - Ng
    with np.errstate(divide="ignore", invalid="ignore"):
        Hg = np.log(Nm) - (S - dS) / Nm
        if method == "miller_madow":
            Kg = Kn - np.bincount(g_e, weights=(t_e == c_e).astype(np.float64), minlength=G)
            Hg = Hg + (Kg - 1) / (2.0 * Nm)
    return H, Hg


def _entries_from_dense(counts):
    """(tot, g_e, k_e, c_e) from a dense (G, K) table."""
    tot_all = counts.sum(axis=0)
    cells = np.flatnonzero(tot_all)
    remap = np.full(tot_all.size, -1, dtype=np.int64)
    remap[cells] = np.arange(cells.size)
    g_e, k_all = np.nonzero(counts)
    return tot_all[cells], g_e.astype(np.int64), remap[k_all], counts[g_e, k_all]


def _entries_from_keys(keys_g, keys_k):
    """(tot, g_e, k_e, c_e) from per-observation group and cell keys (sparse path)."""
    cells, k_inv = np.unique(keys_k, return_inverse=True)
    tot = np.bincount(k_inv)
    G1 = int(keys_g.max()) + 1
    comb, c_e = np.unique(k_inv.astype(np.int64) * G1 + keys_g, return_counts=True)
    return tot, (comb % G1).astype(np.int64), (comb // G1).astype(np.int64), c_e


def _mi_one_distance(tok, d, M, G, by_rows, method):
    n, L = tok.shape
    m = L - d
    if G * M * M <= _DENSE_CELLS:
        joint = K._pair_counts(tok, d, M, G, by_rows)
        J3 = joint.reshape(G, M, M)
        tables = [J3.sum(axis=2), J3.sum(axis=1), joint]
        parts = [_entries_from_dense(t) for t in tables]
    else:
        a = tok[:, :m].ravel()
        b = tok[:, d:].ravel()
        if by_rows:
            grp = np.repeat((np.arange(n) * G) // n, m)
        else:
            grp = np.tile((np.arange(m) * G) // m, n)
        parts = [_entries_from_keys(grp, a), _entries_from_keys(grp, b),
                 _entries_from_keys(grp, a * M + b)]
    Hs = [_loo_entropies(*p, G, method)[0] for p in parts]
    mi = Hs[0] + Hs[1] - Hs[2]
    # standard error: grouped jackknife of the plug-in MI (module docstring)
    Hp = [_loo_entropies(*p, G, "plugin")[1] for p in parts]
    mi_g = Hp[0] + Hp[1] - Hp[2]
    se = np.sqrt((G - 1.0) / G * np.sum((mi_g - mi_g.mean()) ** 2))
    return mi, se


def two_point_mi(tokens, distances, method: str = "grassberger", return_se: bool = False,
                 groups: int = 20, vocab_size=None):
    """Estimate the two-point MI ``I(W_t; W_{t+d})`` (nats) of token sequences per distance.

    Parameters
    ----------
    tokens : array_like of int, shape ``(n, L)`` or ``(L,)``
        Token ids ``>= 0``. All pairs ``(w[i, t], w[i, t + d])`` are pooled.
    distances : int or 1-D array of int
        Distances ``1 <= d <= L - 1``.
    method : {"grassberger", "miller_madow", "plugin"}
        Entropy estimator used for ``H(X)``, ``H(Y)`` and ``H(X, Y)``.
    return_se : bool
        Also return jackknife standard errors (see the module docstring).
    groups : int
        Number of jackknife groups ``G`` (``2 <= G``); reduced to the number of pairs when
        there are fewer.
    vocab_size : int, optional
        Vocabulary size ``M`` (default ``max(tokens) + 1``).

    Returns
    -------
    mi : ndarray, shape ``(len(distances),)`` (a 1-element array for a scalar distance)
    se : ndarray, same shape (only with ``return_se=True``; returned as ``(mi, se)``)

    Notes
    -----
    Counting runs in a numba kernel (parallel over groups) with dense ``M x M`` tables per
    group while ``G M^2 <= 2^23``; larger vocabularies use sorted keys (``numpy.unique``).
    """
    tok, M = _check_tokens(tokens, vocab_size)
    n, L = tok.shape
    ds, _ = _check_distances(distances, L)
    if method not in ENTROPY_METHODS:
        raise ValueError(f"method must be one of {ENTROPY_METHODS}, got {method!r}")
    G0 = check_int("groups", groups, 2)
    mi = np.empty(ds.size)
    se = np.empty(ds.size)
    for j, d in enumerate(ds):
        m = L - int(d)
        by_rows = n >= G0
        G = G0 if by_rows else min(G0, m)
        mi[j], se[j] = _mi_one_distance(tok, int(d), M, G, by_rows, method)
        if G < 2:  # one sequence with a single pair: no standard error
            se[j] = np.inf
    if return_se:
        return mi, se
    return mi


# ------------------------------------------------------------------------------------------
# Power-law fit with a bias constant, in log space
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLawFit:
    """Result of :func:`fit_power_law`: ``I(d) ~ A d^(-alpha) + C``.

    Attributes
    ----------
    alpha, A, C : float
        Exponent, amplitude (> 0) and bias constant (>= 0).
    d, I : ndarray
        The data that were fitted (positive ``I`` only).
    corrected : ndarray
        ``I - C`` (the bias-corrected two-point MI at ``d``).
    fitted : ndarray
        ``A d^(-alpha) + C`` at ``d``.
    rms_log_residual : float
        Root-mean-square residual in log space.
    n_excluded : int
        Number of input points dropped because ``I <= 0`` (they have no logarithm).
    """

    alpha: float
    A: float
    C: float
    d: np.ndarray
    I: np.ndarray
    corrected: np.ndarray
    fitted: np.ndarray
    rms_log_residual: float
    n_excluded: int

    def predict(self, d) -> np.ndarray:
        """``A d^(-alpha) + C`` at ``d``."""
        return self.A * np.asarray(d, dtype=float) ** (-self.alpha) + self.C


def fit_power_law(d, I, se=None, fit_constant: bool = True) -> PowerLawFit:
    """Fit ``I(d) = A d^(-alpha) + C`` by least squares on ``log I`` (``A > 0``, ``C >= 0``).

    Parameters
    ----------
    d : array_like
        Distances (> 0, finite).
    I : array_like
        Estimated MI at ``d`` (nats); points with ``I <= 0`` are dropped (counted in
        ``n_excluded``); at least 3 positive points are needed (2 with ``fit_constant=False``).
    se : array_like, optional
        Standard errors of ``I``; residuals are then weighted by ``I / se`` (the log-space
        standard error is ``se / I``).
    fit_constant : bool
        ``False`` fixes ``C = 0`` (pure power law).

    Returns
    -------
    PowerLawFit
    """
    for name, v in (("d", d), ("I", I)):
        if isinstance(v, (str, bytes)) or v is None:
            raise TypeError(f"{name} must be a real 1-D array")
    d = np.asarray(d)
    I = np.asarray(I)
    for name, v in (("d", d), ("I", I)):
        if v.dtype.kind not in "fiu" or v.dtype.kind == "b":
            raise TypeError(f"{name} must be a real 1-D array, got dtype {v.dtype}")
        if v.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be finite (no NaN or inf)")
    d = d.astype(float)
    I = I.astype(float)
    if d.shape != I.shape:
        raise ValueError(f"d and I must have the same length, got {d.size} and {I.size}")
    if np.any(d <= 0):
        raise ValueError("d must be > 0")
    if se is not None:
        se = np.asarray(se, dtype=float)
        if se.shape != I.shape:
            raise ValueError(f"se must have the same length as I, got {se.size} and {I.size}")
        if not np.all(np.isfinite(se)) or np.any(se <= 0):
            raise ValueError("se must be finite and > 0")
    keep = I > 0
    need = 3 if fit_constant else 2
    if keep.sum() < need:
        raise ValueError(f"I must have at least {need} positive values to fit, got {int(keep.sum())}")
    dk, Ik = d[keep], I[keep]
    w = np.ones(dk.size) if se is None else Ik / se[keep]
    ld, lI = np.log(dk), np.log(Ik)

    # start: a straight line in log-log space (C = 0)
    slope, icpt = np.polyfit(ld, lI, 1, w=w)
    starts = [(icpt, -slope, 0.0)]
    if fit_constant:
        for frac in (0.25, 0.5, 0.9):
            c0 = frac * Ik.min()
            s2, i2 = np.polyfit(ld, np.log(Ik - c0), 1, w=w)
            starts.append((i2, -s2, c0))

    cmax = float(Ik.max())

    def resid(p):
        logA, alpha = p[0], p[1]
        C = p[2] if fit_constant else 0.0
        model = np.exp(logA - alpha * ld) + C
        return w * (np.log(model) - lI)

    best = None
    for la, al, c0 in starts:
        al = float(np.clip(al, -49.0, 49.0))
        if fit_constant:
            x0 = [la, al, float(np.clip(c0, 0.0, cmax))]
            bounds = ([-np.inf, -50.0, 0.0], [np.inf, 50.0, cmax])
        else:
            x0 = [la, al]
            bounds = ([-np.inf, -50.0], [np.inf, 50.0])
        res = scipy.optimize.least_squares(resid, x0, bounds=bounds, method="trf", x_scale="jac")
        if best is None or res.cost < best.cost:
            best = res
    logA, alpha = best.x[0], best.x[1]
    C = float(best.x[2]) if fit_constant else 0.0
    A = float(np.exp(logA))
    fitted = A * dk ** (-alpha) + C
    rms = float(np.sqrt(np.mean((np.log(fitted) - lI) ** 2)))
    return PowerLawFit(alpha=float(alpha), A=A, C=C, d=dk, I=Ik, corrected=Ik - C,
                       fitted=fitted, rms_log_residual=rms, n_excluded=int((~keep).sum()))
