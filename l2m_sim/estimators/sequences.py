"""Uniform adapters: the estimator registry and sequence-aware helpers.

Every continuous ``(x, y)`` estimator is registered in :data:`ESTIMATORS` as a function
``f(x, y, rng=None) -> float`` (nats; ``x`` ``(n, dx)``, ``y`` ``(n, dy)``; ``rng`` seeds the
estimators that are random and is ignored by the deterministic ones), so that a harness can
call any of them by name. ``split_blocks`` turns sequences into such ``(x, y)`` pairs and
``estimate_bipartite`` does both steps.
"""

from __future__ import annotations

import numpy as np

from ..protocol import check_cut, check_int
from .gaussian import gaussian
from .knn import ksg
from .neural import infonce, nwj

__all__ = ["ESTIMATORS", "get_estimator", "split_blocks", "estimate_bipartite"]


def _gaussian(x, y, rng=None):
    """Gaussian log-det MI, exact Wishart bias correction."""
    return gaussian(x, y, bias="exact")


def _gaussian_first_order(x, y, rng=None):
    """Gaussian log-det MI minus ``dx dy / (2 (n - 1))``."""
    return gaussian(x, y, bias="first_order")


def _gaussian_plugin(x, y, rng=None):
    """Gaussian log-det MI without bias correction."""
    return gaussian(x, y, bias=None)


def _ksg1(x, y, rng=None):
    """KSG algorithm 1, k = 3, max-norm, no jitter."""
    return ksg(x, y, k=3, algorithm=1)


def _ksg2(x, y, rng=None):
    """KSG algorithm 2, k = 3, max-norm, no jitter."""
    return ksg(x, y, k=3, algorithm=2)


def _infonce(x, y, rng=None):
    """InfoNCE, default critic and training, held-out half (capped at log n_test)."""
    return infonce(x, y, rng=rng)


def _nwj(x, y, rng=None):
    """NWJ, default critic and training, held-out half."""
    return nwj(x, y, rng=rng)


#: Name -> ``f(x, y, rng=None) -> float`` (nats) for every continuous-sample estimator.
ESTIMATORS = {
    "gaussian": _gaussian,
    "gaussian_first_order": _gaussian_first_order,
    "gaussian_plugin": _gaussian_plugin,
    "ksg1": _ksg1,
    "ksg2": _ksg2,
    "infonce": _infonce,
    "nwj": _nwj,
}


def get_estimator(name):
    """The registered estimator ``name`` (or ``name`` itself if it is callable)."""
    if callable(name):
        return name
    if not isinstance(name, str):
        raise TypeError(f"estimator must be a name or a callable, got {type(name).__name__}")
    if name not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {name!r}")
    return ESTIMATORS[name]


def split_blocks(samples, cut=None, width=None):
    """Split sequences at ``cut`` into ``(x, y)`` sample matrices for an ``(x, y)`` estimator.

    Parameters
    ----------
    samples : array_like, shape ``(n, L)`` or ``(n, L, C)``
    cut : int, optional
        ``1 <= cut <= L - 1`` (default ``L // 2``).
    width : int, optional
        Use only the ``width`` positions on each side of the cut (``x = w[cut-width:cut]``,
        ``y = w[cut:cut+width]``); default: everything (``x = w[:cut]``, ``y = w[cut:]``).

    Returns
    -------
    x : ndarray ``(n, width_x * C)``, y : ndarray ``(n, width_y * C)`` (positions and channels
    flattened, position-major).
    """
    s = np.asarray(samples)
    if s.dtype.kind not in "fiu" or s.dtype.kind == "b":
        raise TypeError(f"samples must be a real numeric array, got dtype {s.dtype}")
    if s.ndim not in (2, 3):
        raise ValueError(f"samples must be 2-D (n, L) or 3-D (n, L, C), got shape {s.shape}")
    n, L = s.shape[:2]
    c = check_cut(cut, L)
    if width is None:
        x, y = s[:, :c], s[:, c:]
    else:
        w = check_int("width", width, 1, min(c, L - c))
        x, y = s[:, c - w:c], s[:, c:c + w]
    return x.reshape(n, -1), y.reshape(n, -1)


def estimate_bipartite(estimator, samples, cut=None, width=None, rng=None) -> float:
    """Apply a registered (or callable) ``(x, y)`` estimator across a cut of ``samples``."""
    f = get_estimator(estimator)
    x, y = split_blocks(samples, cut, width)
    return float(f(x, y, rng=rng))
