"""The process protocol: what every process in l2m-sim knows about itself.

This module imports nothing else from the package (estimators, models, the harness and
the sweeps depend only on it). A *process* is a law over sequences ``W_1..W_L`` of
length ``L`` (one value per position per channel). Every family of the package
implements the same members with the same signatures, return types and units
(:class:`Process`); callers dispatch with ``isinstance`` against the runtime-checkable
protocols below, never by probing attribute names.

=====================================  ===================================================
member                                 meaning (all information in nats, summed over
                                       channels; positions 0-based)
=====================================  ===================================================
``length``, ``channels``               ``L`` and the number of stacked independent copies
``sample(n, rng=None)``                ``(n, L)`` (one channel) or ``(n, L, C)``; float64
                                       for Gaussian, int64 tokens for token processes
``bipartite_mi(cut=None)``             exact ``I(W_{1:cut}; W_{cut+1:L})``; a float for a
                                       scalar cut, an array for an integer array of cuts;
                                       :class:`NoExactValue` where no exact value is
                                       computable (then :func:`bipartite_mi_estimate`)
``bipartite_mi_estimate(cut=None)``    ``(value, standard error)``: exact with error 0, or
                                       the one Monte-Carlo path (:func:`bipartite_mi_mc`)
``two_point_mi(i, j)``                 exact ``I(W_i; W_j)``; arrays broadcast
``position_log_probs(x)``              exact ``ln p(x_t | x_<t)`` (a density for Gaussian
                                       processes), shape ``(n, L)`` or ``(L,)``
``log_prob(x)``                        ``position_log_probs(x).sum(-1)``: shape ``(n,)``,
                                       a float for one sequence
``reversed()``                         the law of the time-reversed sequence (a process)
``exponents()``                        :class:`Exponents` (one dataclass for all families)
=====================================  ===================================================

Gaussian processes (:class:`GaussianProcess`) also give ``covariance()`` and
``conditional_moments(x) -> (mean, std)``; token processes (:class:`TokenProcess`) give
``vocab_size`` and ``conditional_probs(tokens) -> (n, L, M)``.

The small protocols :class:`PositionLogProbs`, :class:`ConditionalMoments`,
:class:`ConditionalProbs`, :class:`Reversible`, :class:`BlockLogProb` and
:class:`LinearStateMI` name single capabilities, for callers that also accept objects
that are not full processes (trained models, user-written laws).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Process",
    "GaussianProcess",
    "TokenProcess",
    "PositionLogProbs",
    "ConditionalMoments",
    "ConditionalProbs",
    "Reversible",
    "BlockLogProb",
    "CanonicalCorrelations",
    "ConditionalStds",
    "ExactEntropy",
    "LinearStateMI",
    "Exponents",
    "NoExactValue",
    "ROUNDING_TOL",
    "MC_SAMPLES",
    "MC_MAX_VALUES",
    "MC_REL_SE",
    "MC_ABS_SE",
    "MC_SEED",
    "as_generator",
    "check_int",
    "check_float",
    "check_cut",
    "as_cuts",
    "check_position",
    "as_positions",
    "as_channel_rows",
    "as_token_rows",
    "as_array",
    "clip_rounding",
    "bipartite_mi_mc",
    "bipartite_mi_estimate",
    "mc_sample_count",
]


class NoExactValue(ValueError):
    """The quantity has no exact value at this size or cut (for example a tree process past
    exhaustive enumeration); :func:`bipartite_mi_estimate` falls back to Monte-Carlo."""


@dataclass(frozen=True)
class Exponents:
    """Scaling exponents of a process (the same dataclass for every family).

    ``beta``: bipartite exponent of the middle cut, ``I_BP ~ L^beta`` (0 when ``I_BP`` is
    bounded or logarithmic). ``alpha``: two-point exponent, ``I(W_i; W_{i+d}) ~
    d^-alpha`` (for hierarchical designs the average over positions in log bins);
    ``inf`` when the decay is faster than any power (exponential, or exactly zero MI),
    ``0`` when it does not decay, ``nan`` when the family has no closed form.
    ``growth``: ``"power"``, ``"log"`` or ``"constant"`` (bounded): the law of the
    middle-cut ``I_BP`` in ``L``. ``alpha_env`` and ``alpha_antipodal``: the envelope and
    first-versus-last two-point exponents where a family has them (hierarchical Gaussian
    designs), ``nan`` otherwise.
    """

    beta: float
    alpha: float
    growth: str
    alpha_env: float = math.nan
    alpha_antipodal: float = math.nan

    @property
    def alpha_avg(self) -> float:
        """The position-averaged (log-binned) two-point exponent: :attr:`alpha`."""
        return self.alpha


# --------------------------------------------------------------------------------------
# The protocols
# --------------------------------------------------------------------------------------


@runtime_checkable
class PositionLogProbs(Protocol):
    """Anything with exact or model per-position log-probabilities."""

    def position_log_probs(self, x) -> np.ndarray:
        """``ln p(x_t | x_<t)`` (nats, channels summed), shape ``(n, L)``."""
        ...


@runtime_checkable
class ConditionalMoments(Protocol):
    """A Gaussian conditional law: mean and std of every ``x_t`` given ``x_<t``."""

    def conditional_moments(self, x) -> tuple[np.ndarray, np.ndarray]:
        ...


@runtime_checkable
class ConditionalProbs(Protocol):
    """A token conditional law: ``p(w_t = . | w_<t)``, shape ``(n, L, M)``."""

    def conditional_probs(self, tokens) -> np.ndarray:
        ...


@runtime_checkable
class Reversible(Protocol):
    """A law that can give the law of its time-reversed sequences."""

    def reversed(self):
        ...


@runtime_checkable
class BlockLogProb(Protocol):
    """A law with the exact marginal log-probability of a block of positions."""

    def block_log_prob(self, samples, start, stop) -> np.ndarray:
        ...


@runtime_checkable
class LinearStateMI(Protocol):
    """A Gaussian law with the exact information of the best linear state of the past."""

    def linear_state_mi(self, dim, cut=None) -> float:
        ...


@runtime_checkable
class CanonicalCorrelations(Protocol):
    """A Gaussian law with closed-form canonical correlations between past and future."""

    def canonical_correlations(self, cut=None):
        ...


@runtime_checkable
class ConditionalStds(Protocol):
    """A Gaussian law with its exact conditional standard deviations in closed form."""

    def conditional_stds(self):
        ...


@runtime_checkable
class ExactEntropy(Protocol):
    """A token law with its exact joint entropy and exact one-position marginals."""

    def entropy(self) -> float:
        """``H(W_1..W_L)`` in nats."""
        ...

    def marginal(self, i) -> np.ndarray:
        """Exact law of ``W_i``, shape ``(M,)``."""
        ...


@runtime_checkable
class Process(Protocol):
    """A sequence law with exactly known information structure (module docstring).

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

    def bipartite_mi(self, cut=None):
        """Exact ``I(W_{1:cut}; W_{cut+1:L})`` in nats (``cut=None``: the middle cut ``L // 2``)."""
        ...

    def bipartite_mi_estimate(self, cut=None, n=None, rng=None) -> tuple:
        """``(value, standard error)``: the exact value with error 0, else Monte-Carlo."""
        ...

    def two_point_mi(self, i, j):
        """Exact ``I(W_i; W_j)`` in nats (0-based positions)."""
        ...

    def position_log_probs(self, x) -> np.ndarray:
        """Exact ``ln p(x_t | x_<t)`` (nats, channels summed), shape ``(n, L)`` or ``(L,)``."""
        ...

    def log_prob(self, x):
        """Exact log-probability (nats) of each sequence, shape ``(n,)``."""
        ...

    def reversed(self):
        """The law of the time-reversed sequence ``W_L..W_1``."""
        ...

    def exponents(self) -> Exponents:
        """Scaling exponents (:class:`Exponents`)."""
        ...


@runtime_checkable
class GaussianProcess(Process, Protocol):
    """A zero-mean Gaussian process: exact conditionals are means and standard deviations."""

    def covariance(self) -> np.ndarray:
        """Exact ``(L, L)`` covariance of one channel."""
        ...

    def conditional_moments(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean and std of every ``x_t`` given ``x_{<t}``, arrays shaped like ``x``."""
        ...


@runtime_checkable
class TokenProcess(Process, Protocol):
    """A discrete process over a vocabulary of ``vocab_size`` tokens."""

    vocab_size: int

    def conditional_probs(self, tokens) -> np.ndarray:
        """Exact ``p(w_t = . | w_{<t})``, shape ``(n, L, M)``."""
        ...


# --------------------------------------------------------------------------------------
# Validation helpers shared by every family (kept here so families need no other import).
# --------------------------------------------------------------------------------------

#: Round-off tolerance (nats) of the exact information methods: an exact MI computed as a
#: difference (of log-determinants, log-probabilities, table entropies) that comes out in
#: ``(-ROUNDING_TOL, 0)`` is rounding around an exact 0 and is stored as 0
#: (:func:`clip_rounding`). A value below ``-ROUNDING_TOL`` is kept, so that a real error
#: stays visible.
ROUNDING_TOL = 1e-9


def clip_rounding(value, tol: float = ROUNDING_TOL):
    """``value`` (a float or an array of exact MI values) with round-off negatives in
    ``(-tol, 0)`` set to exactly 0; a float in, a float out."""
    arr = np.asarray(value, dtype=np.float64)
    out = np.where((arr < 0) & (arr > -tol), 0.0, arr)
    return float(out) if out.ndim == 0 else out


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


def check_float(name: str, value, lo=None, hi=None, lo_open: bool = False,
                hi_open: bool = False) -> float:
    """Return ``value`` as a finite float in the stated range, or raise naming ``name``
    (``TypeError`` for a non-number or a bool, ``ValueError`` for NaN, inf or out of range).

    ``lo_open`` / ``hi_open`` exclude the bounds: ``check_float("phi", v, -1, 1, True, True)``
    accepts ``-1 < v < 1``."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    lb = "(" if lo_open or lo is None else "["
    rb = ")" if hi_open or hi is None else "]"
    rng = f"{lb}{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}{rb}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in {rng}, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be in {rng} and finite, got {value!r}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name} must be in {rng}, got {value!r}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"{name} must be in {rng}, got {value!r}")
    return v


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


def _index_array(name: str, value, lo: int, hi: int, what: str):
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer or an array of integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}]{what}, got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def as_cuts(cut, length):
    """Validate a cut (``None``: the middle) or an integer array of cuts in ``1..length-1``;
    return ``(int64 array, was_scalar)``. The one cut parser of the exact-MI methods."""
    if cut is None or isinstance(cut, numbers.Integral) or np.ndim(cut) == 0:
        return np.array([check_cut(cut, length)], dtype=np.int64), True
    if length < 2:
        raise ValueError(f"a bipartite cut needs length >= 2, got length {length}")
    return _index_array("cut", cut, 1, length - 1, ""), False


def as_positions(name: str, value, length: int):
    """Validate a 0-based position or an integer array of positions in ``0..length-1``;
    return ``(int64 array, was_scalar)`` (a scalar comes back as a 0-d array)."""
    if isinstance(value, numbers.Integral) or np.ndim(value) == 0:
        return np.array(check_position(name, value, length), dtype=np.int64), True
    return _index_array(name, value, 0, length - 1, ""), False


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


def as_array(name: str, value, kinds: str, what: str) -> np.ndarray:
    """``value`` as an array whose dtype kind is one of ``kinds`` (``"iu"``, ``"fiu"``);
    ``TypeError`` naming ``name`` and ``what`` it must be otherwise. No copy of an array."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be {what}") from exc
    if arr.dtype.kind not in kinds:
        raise TypeError(f"{name} must be {what}, got dtype {arr.dtype}")
    return arr


def as_token_rows(tokens, length: int, vocab: int):
    """Validate token sequences (integers in ``0..vocab-1``, shape ``(n, L)`` with
    ``n >= 1`` or ``(L,)``); return ``(int64 (n, L) C-contiguous array, was_1d)``."""
    arr = as_array("tokens", tokens, "iu", f"an integer array (tokens in [0, {vocab - 1}])")
    if arr.ndim not in (1, 2) or arr.shape[-1] != length or arr.size == 0:
        raise ValueError(f"tokens must have shape (n, {length}) with n >= 1 or ({length},), "
                         f"got {arr.shape}")
    if arr.min() < 0 or arr.max() > vocab - 1:
        raise ValueError(f"tokens must be in [0, {vocab - 1}] (vocab_size {vocab}), got values "
                         f"in [{arr.min()}, {arr.max()}]")
    return np.ascontiguousarray(arr.reshape(-1, length), dtype=np.int64), arr.ndim == 1


# --------------------------------------------------------------------------------------
# The one Monte-Carlo path of the bipartite MI
# --------------------------------------------------------------------------------------

#: Seed of :func:`bipartite_mi_estimate` when none is given (results are reproducible).
MC_SEED = 0
#: Pilot sample count of the Monte-Carlo bipartite MI (:func:`mc_sample_count`).
MC_SAMPLES = 2000
#: Target standard error, relative to the estimate ...
MC_REL_SE = 0.01
#: ... or absolute (nats), whichever is larger.
MC_ABS_SE = 1e-3
#: At most this many sampled values (``n * L * channels``) in one estimate.
MC_MAX_VALUES = 2**25
# Values per chunk of samples (bounds the temporary memory).
_MC_CHUNK_VALUES = 2**20


def mc_sample_count(length: int, mean: float, se: float, n: int, channels: int = 1) -> int:
    """The sample-count rule of the Monte-Carlo bipartite MI.

    After a pilot of ``n`` samples with estimate ``mean`` and standard error ``se``, the
    total that brings the standard error to ``max(MC_REL_SE |mean|, MC_ABS_SE)``
    (``se`` falls like ``1/sqrt(n)``), capped at ``MC_MAX_VALUES`` sampled values and never
    below ``n``."""
    target = max(MC_REL_SE * abs(mean), MC_ABS_SE)
    if not se > target:
        return n
    want = math.ceil(n * (se / target) ** 2)
    return max(n, min(want, MC_MAX_VALUES // (length * channels)))


def bipartite_mi_mc(process, cut=None, n=None, rng=None):
    r"""Monte-Carlo bipartite MI from exact log-probabilities: ``(estimate, standard error)``.

    ``I(c) = E[ln p(W) - ln p(X) - ln p(Y)]`` over exact samples ``W = (X, Y)``: ``ln p(W)``
    and ``ln p(X)`` are sums of the forward ``position_log_probs``, ``ln p(Y)`` the sum of
    the reversed process's over the reversed suffix (each block's marginal is exact). The
    estimate is unbiased; the standard error is the sample standard deviation over
    ``sqrt(n)``. ``n=None``: :data:`MC_SAMPLES` pilot samples, then as many as
    :func:`mc_sample_count` asks for (the worst cut decides); an integer: exactly ``n``
    samples. ``cut`` may be an integer array (all cuts share the same samples); ``rng``:
    seed or Generator (None: fresh entropy). Needs ``sample``, ``position_log_probs`` and
    ``reversed`` (:class:`Process`).
    """
    L = process.length
    cuts, scalar = as_cuts(cut, L)
    n_fixed = None if n is None else check_int("n", n, 2)
    gen = as_generator(rng)
    rev = process.reversed()
    C = int(process.channels)
    count = np.zeros(cuts.size)
    mean = np.zeros(cuts.size)
    m2 = np.zeros(cuts.size)
    target = MC_SAMPLES if n_fixed is None else n_fixed
    pilot = True
    while True:
        while count[0] < target:
            m = int(min(target - count[0], max(1, _MC_CHUNK_VALUES // (L * C))))
            W = process.sample(m, gen)
            f = np.cumsum(np.asarray(process.position_log_probs(W), dtype=np.float64), axis=1)
            r = np.cumsum(np.asarray(rev.position_log_probs(np.ascontiguousarray(W[:, ::-1])),
                                     dtype=np.float64), axis=1)
            # point values, (m, cuts): ln p(Y | X) - ln p(Y) = (f_L - f_c) - r_{L-c}
            pts = f[:, -1:] - f[:, cuts - 1] - r[:, L - cuts - 1]
            if not np.all(np.isfinite(pts)):
                raise FloatingPointError("a sample of the process got a non-finite exact "
                                         "log-probability (impossible under its own law)")
            # merge the chunk into the running mean / sum of squares (Chan et al.)
            cm = pts.mean(axis=0)
            cq = ((pts - cm) ** 2).sum(axis=0)
            tot = count + m
            delta = cm - mean
            mean = mean + delta * (m / tot)
            m2 = m2 + cq + delta**2 * (count * m / tot)
            count = tot
        se = np.sqrt(m2 / (count - 1) / count)
        if n_fixed is not None or not pilot:
            break
        pilot = False
        target = max(mc_sample_count(L, float(mu), float(s), int(count[0]), C)
                     for mu, s in zip(mean, se))
        if target <= count[0]:
            break
    if scalar:
        return float(mean[0]), float(se[0])
    shape = np.shape(cut)
    return mean.reshape(shape), se.reshape(shape)


def bipartite_mi_estimate(process, cut=None, n=None, rng=None):
    """``(value, standard error)`` of the bipartite MI: exact with error 0 where the process
    has an exact value, else :func:`bipartite_mi_mc` (seed ``MC_SEED`` unless ``rng`` is
    given, so the value is reproducible). The one fallback of the package: the registry's
    tasks, the sweeps and the command line all use it."""
    try:
        value = process.bipartite_mi(cut)
    except NoExactValue:
        return bipartite_mi_mc(process, cut, n, MC_SEED if rng is None else rng)
    if np.ndim(value) == 0:
        return float(value), 0.0
    value = np.asarray(value, dtype=np.float64)
    return value, np.zeros_like(value)
