"""The process protocol: what every process in l2m-sim knows about itself.

This module imports nothing else from the package (estimators, models, the harness and
the sweeps depend only on it). A *process* is a law over sequences ``W_1..W_L`` of
length ``L`` (one value per position per channel) that can

* draw seeded samples,
* report its **exact** bipartite mutual information ``I(W_{1:c}; W_{c+1:L})`` at any cut,
* report its **exact** two-point mutual information ``I(W_i; W_j)``,
* report its exact per-position conditionals ``p(w_t | w_{<t})`` for a given sequence.

Channels are independent stacked copies of the same law (one vector per position); all
information quantities are summed over channels. Everything is in nats.

Continuous (Gaussian) processes expose ``conditional_moments(x) -> (mean, std)``;
discrete (token) processes expose ``conditional_probs(tokens) -> (n, L, M)`` and
``log_prob(tokens)``.
"""

from __future__ import annotations

import numbers
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Process",
    "GaussianProcess",
    "TokenProcess",
    "as_generator",
    "check_int",
    "check_cut",
    "as_cuts",
    "check_position",
    "as_channel_rows",
]


@runtime_checkable
class Process(Protocol):
    """A sequence law with exactly known information structure.

    Attributes
    ----------
    length : int
        Sequence length ``L``.
    channels : int
        Number of independent stacked copies (information adds over channels).
    """

    length: int
    channels: int

    def sample(self, n: int, rng=None) -> np.ndarray:
        """Draw ``n`` sequences; shape ``(n, L)`` for one channel, ``(n, L, C)`` for ``C``."""
        ...

    def bipartite_mi(self, cut=None) -> float:
        """Exact ``I(W_{1:cut}; W_{cut+1:L})`` in nats (``cut=None``: the middle cut ``L // 2``)."""
        ...

    def two_point_mi(self, i: int, j: int) -> float:
        """Exact ``I(W_i; W_j)`` in nats (0-based positions)."""
        ...


@runtime_checkable
class GaussianProcess(Process, Protocol):
    """A zero-mean Gaussian process: exact conditionals are means and standard deviations."""

    def covariance(self) -> np.ndarray:
        """Exact ``(L, L)`` covariance of one channel."""
        ...

    def conditional_moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean and std of every ``x_t`` given ``x_{<t}``, arrays shaped like ``x``."""
        ...


@runtime_checkable
class TokenProcess(Process, Protocol):
    """A discrete process over a vocabulary of ``vocab_size`` tokens."""

    vocab_size: int

    def conditional_probs(self, tokens: np.ndarray) -> np.ndarray:
        """Exact ``p(w_t = . | w_{<t})``, shape ``(n, L, M)``."""
        ...

    def log_prob(self, tokens: np.ndarray) -> np.ndarray:
        """Exact log-probability (nats) of each sequence, shape ``(n,)``."""
        ...


# --------------------------------------------------------------------------------------
# Validation helpers shared by every family (kept here so families need no other import).
# --------------------------------------------------------------------------------------


def as_generator(rng) -> np.random.Generator:
    """Turn ``rng`` (None, an int seed or a ``numpy.random.Generator``) into a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (bool, np.bool_)):
        raise TypeError("rng must be an int seed, a numpy.random.Generator or None, got a bool")
    if isinstance(rng, numbers.Integral):
        if int(rng) < 0:
            raise ValueError(f"rng seed must be a non-negative integer, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be an int seed, a numpy.random.Generator or None, got {type(rng).__name__}"
    )


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as int, or raise naming ``name`` and the allowed range."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            fv = float(value)
            if np.isfinite(fv) and fv == int(fv):
                value = int(fv)
            else:
                raise ValueError(f"{name} must be an integer, got {value!r}")
        else:
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    lo = "-inf" if minimum is None else str(minimum)
    hi = "inf" if maximum is None else str(maximum)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def check_cut(cut, length: int) -> int:
    """Validate a bipartite cut: ``X`` is the first ``cut`` positions, ``1 <= cut <= L-1``."""
    if cut is None:
        if length < 2:
            raise ValueError(f"a bipartite cut needs length >= 2, got length {length}")
        return length // 2
    return check_int("cut", cut, 1, length - 1)


def check_position(name: str, value, length: int) -> int:
    """Validate a 0-based position ``0 <= value <= L-1``."""
    return check_int(name, value, 0, length - 1)


def as_channel_rows(x, length: int, channels: int):
    """Validate real sequences ``x`` and return them as ``(rows, L)`` float64 rows (one row
    per sequence and channel) plus a function that restores an array of that layout to the
    shape of ``x``.

    ``x`` is ``(n, L)`` / ``(L,)`` for one channel, ``(n, L, C)`` / ``(L, C)`` for ``C``;
    a wrong shape or dtype, or a non-finite value, raises naming ``x``.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError("x must be a real array") from exc
    if x.dtype.kind not in "fiu":
        raise TypeError(f"x must be a real array, got dtype {x.dtype}")
    L, C = length, channels
    if C == 1:
        ok = x.ndim in (1, 2) and x.shape[-1] == L
        want = f"(n, {L}) or ({L},)"
    else:
        ok = x.ndim in (2, 3) and x.shape[-2:] == (L, C)
        want = f"(n, {L}, {C}) or ({L}, {C})"
    if not ok:
        raise ValueError(f"x must have shape {want}, got {x.shape}")
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite (no NaN or inf)")
    shape = x.shape
    if C == 1:
        return np.ascontiguousarray(x.reshape(-1, L)), lambda a: a.reshape(shape)
    rows = np.ascontiguousarray(np.moveaxis(x.reshape(-1, L, C), 2, 1).reshape(-1, L))

    def restore(a):
        return np.moveaxis(a.reshape(-1, C, L), 1, 2).reshape(shape)

    return rows, restore


def as_cuts(cut, length):
    """Validate a cut (``None``: the middle) or an integer array of cuts in ``1..length-1``;
    return ``(int64 array, was_scalar)``. The one cut parser of the exact-MI methods."""
    if cut is None or isinstance(cut, numbers.Integral) or np.ndim(cut) == 0:
        return np.array([check_cut(cut, length)], dtype=np.int64), True
    arr = np.asarray(cut)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"cut must be an integer or an array of integers, got dtype {arr.dtype}")
    if length < 2:
        raise ValueError(f"a bipartite cut needs length >= 2, got length {length}")
    if arr.size and (arr.min() < 1 or arr.max() > length - 1):
        raise ValueError(f"cut must be in [1, {length - 1}], got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64), False
