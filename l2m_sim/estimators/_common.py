"""Shared pieces of the estimators: the ``Estimate`` pair and input validation.

Every public estimator validates its input here, so that bad input raises ``ValueError`` or
``TypeError`` naming the parameter and the allowed range (never a numba crash or a silent
NaN).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..protocol import check_float, check_int

__all__ = ["Estimate", "as_samples", "check_xy", "check_positive_float", "check_fraction"]


class Estimate(NamedTuple):
    """An estimate in nats with its standard error (``se``; nats)."""

    value: float
    se: float


def _as_real_array(name: str, a) -> np.ndarray:
    if isinstance(a, (str, bytes)) or a is None:
        raise TypeError(f"{name} must be a real numeric array, got {type(a).__name__}")
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a real numeric array") from exc
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must be a real numeric array, got dtype bool")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def as_samples(name: str, a, min_rows: int = 1) -> np.ndarray:
    """Validate one sample matrix: 1-D ``(n,)`` (read as ``(n, 1)``) or 2-D ``(n, d)``, finite.

    Returns a C-contiguous float64 ``(n, d)`` array.
    """
    arr = _as_real_array(name, a)
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D (n,) or 2-D (n, d), got {arr.ndim}-D shape {arr.shape}")
    n, d = arr.shape
    if d < 1:
        raise ValueError(f"{name} must have at least 1 column, got shape {arr.shape}")
    if n < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} samples (rows), got {n}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def check_xy(x, y, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate a paired sample ``(x, y)``: same number of rows, finite, real."""
    xa = as_samples("x", x, 1)
    ya = as_samples("y", y, 1)
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(
            f"x and y must have the same number of samples (rows), got {xa.shape[0]} and {ya.shape[0]}"
        )
    if xa.shape[0] < min_rows:
        raise ValueError(f"x and y must have at least {min_rows} samples (rows), got {xa.shape[0]}")
    return xa, ya


def check_positive_float(name: str, value, allow_zero: bool = False, maximum: float | None = None) -> float:
    """Return ``value`` as a finite float > 0 (>= 0 with ``allow_zero``), or raise naming it."""
    return check_float(name, value, 0.0, maximum, lo_open=not allow_zero)


def check_fraction(name: str, value) -> float:
    """A fraction strictly inside (0, 1)."""
    return check_float(name, value, 0.0, 1.0, lo_open=True, hi_open=True)


def check_k(k, n: int) -> int:
    """Neighbour count ``1 <= k <= n - 1``."""
    return check_int("k", k, 1, n - 1)
