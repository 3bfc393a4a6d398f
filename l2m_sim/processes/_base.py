"""Implementation shared by every process family (the members of
:class:`l2m_sim.protocol.Process` that follow from the others).

:class:`ProcessBase` derives ``log_prob`` from ``position_log_probs``, gives every family
the one Monte-Carlo path of the bipartite MI (:func:`l2m_sim.protocol.bipartite_mi_mc`)
and ``two_point_exponent()`` from :meth:`exponents`. :class:`GaussianBase` adds what the
Gaussian families share: input validation, per-position log-densities from the exact
conditional moments and the two-point MI from the exact correlation.
"""

from __future__ import annotations

import math

import numpy as np

from ..protocol import as_array, as_channel_rows, bipartite_mi_estimate, bipartite_mi_mc

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class ProcessBase:
    """Members every family derives the same way from its own exact methods."""

    #: Independent stacked copies (families with channels set it per instance).
    channels = 1

    def log_prob(self, x):
        """Exact log-probability (nats; a log-density for Gaussian processes) of each
        sequence, summed over positions and channels: shape ``(n,)``, a float for one
        sequence. ``-inf`` for a token sequence of probability zero."""
        lp = np.asarray(self.position_log_probs(x))
        return float(lp.sum()) if lp.ndim == 1 else lp.sum(axis=1)

    def bipartite_mi_mc(self, cut=None, n=None, rng=None):
        """Monte-Carlo bipartite MI from exact log-probabilities, ``(estimate, stderr)``
        (:func:`l2m_sim.protocol.bipartite_mi_mc`: the one Monte-Carlo path)."""
        return bipartite_mi_mc(self, cut, n, rng)

    def bipartite_mi_estimate(self, cut=None, n=None, rng=None):
        """``(value, standard error)``: the exact :meth:`bipartite_mi` with error 0, or the
        Monte-Carlo path where no exact value exists
        (:func:`l2m_sim.protocol.bipartite_mi_estimate`)."""
        return bipartite_mi_estimate(self, cut, n, rng)

    def two_point_exponent(self) -> float:
        """``alpha`` of ``I(W_i; W_{i+d}) ~ d^-alpha``: ``exponents().alpha``."""
        return self.exponents().alpha


class GaussianBase(ProcessBase):
    """Members shared by the zero-mean Gaussian families (they provide
    ``conditional_moments`` and ``two_point_correlation``)."""

    def _as_sequences(self, x):
        """``x`` validated as ``(rows, L)`` float64 plus a function restoring its shape."""
        return as_channel_rows(x, self.length, self.channels)

    def position_log_probs(self, x) -> np.ndarray:
        """Exact ``ln p(x_t | x_<t)`` (a log-density, nats), summed over channels:
        shape ``(n, L)``, or ``(L,)`` for one sequence."""
        mean, sd = self.conditional_moments(x)
        z = (np.asarray(x, dtype=np.float64) - mean) / sd
        lp = -0.5 * z * z - np.log(sd) - _HALF_LOG_2PI
        return lp.sum(axis=-1) if self.channels > 1 else lp

    def _pair_positions(self, i, j):
        """Validated positions ``i, j`` (integer scalars or arrays), broadcast; and whether
        both were scalars."""
        ii, jj = np.asarray(i), np.asarray(j)
        for name, a in (("i", ii), ("j", jj)):
            if a.dtype.kind not in "iu":
                raise TypeError(f"{name} must be an integer position, got dtype {a.dtype}")
            if a.size and (a.min() < 0 or a.max() > self.length - 1):
                raise ValueError(f"{name} must be in [0, {self.length - 1}], got "
                                 f"{a.min()}..{a.max()}")
        scalar = ii.ndim == 0 and jj.ndim == 0
        ii, jj = np.broadcast_arrays(ii.astype(np.int64), jj.astype(np.int64))
        return ii, jj, scalar

    def two_point_mi(self, i, j):
        """Exact ``I(W_i; W_j) = -1/2 ln(1 - rho^2)`` nats, summed over channels (``inf`` if
        ``i == j``); integer arrays broadcast."""
        rho = np.asarray(self.two_point_correlation(i, j))
        with np.errstate(divide="ignore"):
            mi = -0.5 * self.channels * np.log1p(-np.minimum(rho**2, 1.0))
        return float(mi) if mi.ndim == 0 else mi


def entropy(p) -> float:
    """Shannon entropy ``-sum p ln p`` (nats) of a probability table (zeros skipped)."""
    p = np.asarray(p, dtype=np.float64).ravel()
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


# --------------------------------------------------------------------------------------
# Validation and sampling helpers of the token families
# --------------------------------------------------------------------------------------

#: Row sums of stochastic matrices and probability tables must be 1 within this.
STOCHASTIC_ATOL = 1e-10
#: Largest length that token samplers and likelihood methods accept (dense int64 rows).
SAMPLE_LENGTH_MAX = 2**31
# Uniforms drawn per block of rows when sampling (bounds the temporary memory).
_UNIFORM_BLOCK = 2**20


def as_float_array(name, value) -> np.ndarray:
    """``value`` as a float64 copy; ``TypeError`` naming ``name`` unless it is real-valued."""
    return np.array(as_array(name, value, "fiu", "an array of real numbers"), dtype=np.float64)


def check_probabilities(name, arr, what, axis=-1):
    """Finite, non-negative, summing to 1 along ``axis`` (``None``: the whole table) within
    ``STOCHASTIC_ATOL``; ``ValueError`` naming ``name`` and ``what`` it must be otherwise."""
    if arr.size == 0:
        raise ValueError(f"{name} must be a non-empty {what}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf): it must be a {what}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative (entries in [0, 1]): it must be a {what}, "
                         f"got a minimum of {arr.min()!r}")
    err = np.max(np.abs(arr.sum(axis=axis) - 1.0))
    if not err <= STOCHASTIC_ATOL:
        along = "along the last axis " if axis == -1 else ""
        raise ValueError(f"{name} must be a {what}: sums {along}must be 1 within "
                         f"{STOCHASTIC_ATOL:g}, got an error of {err:.3g}")


def check_sampleable(length):
    """Sampling and likelihoods hold dense int64 rows: ``length <= SAMPLE_LENGTH_MAX``."""
    if length > SAMPLE_LENGTH_MAX:
        raise ValueError(f"sampling needs length <= {SAMPLE_LENGTH_MAX} (dense int64 rows), got "
                         f"length {length}; the exact information methods work at any length")


def cumulative(P) -> np.ndarray:
    """Inverse-CDF tables: cumulative sums along the last axis, ``+inf`` from the last
    positive entry on (so a uniform never selects a symbol of probability 0); 2-D."""
    P = np.atleast_2d(np.asarray(P, dtype=np.float64))
    cum = np.cumsum(P, axis=-1)
    M = P.shape[-1]
    last = M - 1 - np.argmax(P[:, ::-1] > 0, axis=-1)  # index of the last positive entry
    cols = np.arange(M)
    cum[cols[None, :] >= last[:, None]] = np.inf
    return np.ascontiguousarray(cum)


def row_blocks(n: int, width: int):
    """``(r0, r1)`` blocks of the ``n`` rows of a sampler that draws ``width`` uniforms per
    row, at most ``2**20`` uniforms per block (at least one row)."""
    rows = max(1, _UNIFORM_BLOCK // max(1, width))
    for r0 in range(0, n, rows):
        yield r0, min(n, r0 + rows)
