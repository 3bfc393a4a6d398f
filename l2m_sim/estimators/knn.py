"""Kraskov--Stoegbauer--Grassberger (KSG) k-nearest-neighbour MI estimator, max-norm.

With ``N`` samples, ``k`` neighbours and the joint max-norm
``||(x, y)|| = max(||x||_inf, ||y||_inf)``:

* algorithm 1: ``eps_i`` = distance of the k-th neighbour of point ``i`` in the joint space,
  ``n_x(i) = #{j != i : ||x_j - x_i|| < eps_i}`` (``n_y`` alike) and
  ``I1 = psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >``;
* algorithm 2: ``eps_x(i), eps_y(i)`` = largest x- and y-distance among the k joint
  neighbours, ``n_x(i) = #{j != i : ||x_j - x_i|| <= eps_x(i)}`` and
  ``I2 = psi(k) - 1/k + psi(N) - < psi(n_x) + psi(n_y) >``.

Two exact implementations give identical counts on data without exact distance ties:
``method="brute"`` (numba, O(N^2 (dx + dy)), parallel over points, any dimension; two
memory layouts, chosen by dimension, see ``_knn_kernels``) and
``method="kdtree"`` (``scipy.spatial.cKDTree`` with ``p = inf``; fast in low dimension).
``method="auto"`` uses the KD-tree for ``dx + dy <= 6`` and ``N > 2000``, brute force otherwise.

Ties. KSG assumes continuous data (distance ties have probability 0). Neighbour ties are
broken by index (the order of a stable sort) in the brute-force kernel; the KD-tree may
break exact ties differently (only algorithm 2 can then differ). If some point has ``k``
exact duplicates (``eps_i = 0``) the estimator is undefined and a ``ValueError`` is
raised. ``noise`` (default ``0``: off, the data are used as given) adds
``noise * std(column) * N(0, 1)`` to every column first, from ``rng`` (seed 0 if ``None``,
so the result is reproducible); ``noise=1e-10`` is the usual choice for data with ties.
Columns are used on their own scales (``standardize=True`` divides each by its std).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.special import digamma
from scipy.spatial import cKDTree

from ..protocol import as_generator, check_int
from . import _knn_kernels as K
from ._common import check_k, check_positive_float, check_xy

__all__ = ["ksg", "ksg_counts"]

_METHODS = ("auto", "brute", "kdtree")


def _prepare(x, y, k, algorithm, noise, rng, standardize, method):
    xa, ya = check_xy(x, y, min_rows=2)
    n = xa.shape[0]
    k = check_k(k, n)
    algorithm = check_int("algorithm", algorithm, 1, 2)
    noise = check_positive_float("noise", noise, allow_zero=True)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if standardize or noise > 0:
        sx, sy = xa.std(axis=0), ya.std(axis=0)
        if standardize:
            if np.any(sx == 0) or np.any(sy == 0):
                raise ValueError("standardize=True needs non-constant columns in x and y")
            xa, ya, sx, sy = xa / sx, ya / sy, np.ones_like(sx), np.ones_like(sy)
        if noise > 0:
            gen = as_generator(0 if rng is None else rng)
            sx = np.where(sx > 0, sx, 1.0)
            sy = np.where(sy > 0, sy, 1.0)
            xa = xa + noise * sx * gen.standard_normal(xa.shape)
            ya = ya + noise * sy * gen.standard_normal(ya.shape)
    if method == "auto":
        method = "kdtree" if (xa.shape[1] + ya.shape[1] <= 6 and n > 2000) else "brute"
    return xa, ya, k, algorithm, method


#: From this many coordinates per side (min(dx, dy)) the row-major kernel is used.
_ROWS_MIN_DIM = 8


def _counts_brute(xa, ya, k, algorithm, layout=None):
    n = xa.shape[0]
    nchunks = int(min(n, 8 * numba.get_num_threads()))
    if layout is None:
        layout = "rows" if min(xa.shape[1], ya.shape[1]) >= _ROWS_MIN_DIM else "cols"
    if layout == "rows":
        return K._ksg_counts_rows(xa, ya, k, algorithm, nchunks)
    XT = np.ascontiguousarray(xa.T)
    YT = np.ascontiguousarray(ya.T)
    return K._ksg_counts_cols(XT, YT, k, algorithm, nchunks)


def _counts_kdtree(xa, ya, k, algorithm):
    z = np.concatenate([xa, ya], axis=1)
    tz = cKDTree(z)
    dist, idx = tz.query(z, k=k + 1, p=np.inf)
    eps = dist[:, k]
    if np.any(eps == 0):
        return None, None, eps
    tx, ty = cKDTree(xa), cKDTree(ya)
    if algorithm == 1:
        r = np.nextafter(eps, 0.0)  # strict "<": largest float below eps
        nx = tx.query_ball_point(xa, r, p=np.inf, return_length=True) - 1
        ny = ty.query_ball_point(ya, r, p=np.inf, return_length=True) - 1
    else:
        nb = idx[:, 1:]
        ex = np.abs(xa[nb] - xa[:, None, :]).max(axis=(1, 2))
        ey = np.abs(ya[nb] - ya[:, None, :]).max(axis=(1, 2))
        nx = tx.query_ball_point(xa, ex, p=np.inf, return_length=True) - 1
        ny = ty.query_ball_point(ya, ey, p=np.inf, return_length=True) - 1
    return np.asarray(nx, dtype=np.int64), np.asarray(ny, dtype=np.int64), eps


def ksg_counts(x, y, k: int = 3, algorithm: int = 1, noise: float = 0.0, rng=None,
               standardize: bool = False, method: str = "auto"):
    """The neighbour counts ``(n_x, n_y)`` behind :func:`ksg` (for diagnostics and tests)."""
    xa, ya, k, algorithm, method = _prepare(x, y, k, algorithm, noise, rng, standardize, method)
    nx, ny, eps = (_counts_brute if method == "brute" else _counts_kdtree)(xa, ya, k, algorithm)
    if nx is None or np.any(eps == 0):
        bad = int(np.sum(eps == 0))
        raise ValueError(
            f"x, y have exact duplicates: {bad} points have k = {k} identical neighbours "
            "(KSG needs continuous data); pass noise=1e-10 to break ties"
        )
    return nx, ny


def ksg(x, y, k: int = 3, algorithm: int = 1, noise: float = 0.0, rng=None,
        standardize: bool = False, method: str = "auto") -> float:
    """KSG estimate of ``I(X; Y)`` in nats (max-norm; module docstring).

    Parameters
    ----------
    x : array_like, shape ``(n, dx)`` or ``(n,)``
    y : array_like, shape ``(n, dy)`` or ``(n,)``
    k : int
        Neighbours, ``1 <= k <= n - 1``.
    algorithm : {1, 2}
        KSG algorithm.
    noise : float
        Relative jitter added before estimation (``0``: none; see module docstring).
    rng : None, int or numpy.random.Generator
        Source of the jitter (``None`` means seed 0; unused when ``noise == 0``).
    standardize : bool
        Divide every column by its standard deviation first.
    method : {"auto", "brute", "kdtree"}
        Neighbour search.

    Returns
    -------
    float
        The estimate (can be slightly negative for independent data).
    """
    nx, ny = ksg_counts(x, y, k, algorithm, noise, rng, standardize, method)
    n = np.asarray(x).shape[0]
    k = int(k)
    if int(algorithm) == 1:
        val = digamma(k) + digamma(n) - np.mean(digamma(nx + 1.0) + digamma(ny + 1.0))
    else:
        val = digamma(k) - 1.0 / k + digamma(n) - np.mean(digamma(nx) + digamma(ny))
    return float(val)
