"""Model-based bipartite MI estimators: *direct* and *vCLUB*, from an autoregressive model.

Split every sample ``w`` (length ``L``) after ``cut``: ``x = w[:cut]``, ``y = w[cut:]``. With an
autoregressive model ``q`` (exact per-position conditionals ``q(w_t | w_<t)``):

* **direct**: ``I(X; Y) = E[log p(y | x) - log p(y)] ~ E[log q(y | x) - log q(y)]`` with
  ``log q(y | x) = sum_{t >= cut} log q(w_t | w_<t)``. The marginal ``log q(y)`` of the block
  ``Y`` is *not* a by-product of the forward conditionals; it is obtained, in this order
  (``marginal="auto"``):

  1. ``"block"``: the model's own hook ``model.block_log_prob(samples, start, stop)`` -> ``(n,)``,
     the log-density of the block ``w[:, start:stop]`` under its marginal (exact by contract);
  2. ``"reversed"``: ``model.reversed()``, the law of the time-reversed sequence, run on the
     reversed samples; its first ``L - cut`` conditionals are ``q(w_t | w_{t+1..L-1})`` for
     ``t >= cut`` and their sum is exactly ``log q(y)`` (chain rule from the right). Exact
     whenever ``reversed()`` is the exact reversed law -- true for every process of this
     package (all implement it, e.g. ``HierarchicalGaussian`` coupled or not, and a
     ``MarkovChain`` with any start: its reversal is then a time-inhomogeneous chain);
  3. ``"fresh"``: run the model on ``y`` alone as if it were a fresh sequence of length
     ``L - cut``. Exact only when the law of the block ``W[cut:]`` equals the model's law of
     a fresh sequence of that length (its prefix ``W[:L-cut]``) -- true for stationary
     processes started in their stationary law (AR(p), stationary Markov chains). It is
     **not** exact for the hierarchical family in general (for the study's matrix at
     ``L = 64`` the block after cut 8 differs in law from the prefix of length 56, by up to
     0.31 in covariance; halves split on a level-1 row boundary, e.g. the middle cut,
     happen to agree). For a trained model it is the usual approximation.
     Implementation: ``y`` is moved to the front of a length-``L`` input (``x`` after it
     as filler) and the first ``L - cut`` conditionals are summed -- an autoregressive
     conditional depends only on earlier positions, so this is the model run on ``y`` alone,
     and it works for models and processes that accept only their own length.

  The estimate is the Monte-Carlo mean of the per-sample log-ratios ``r_i``, its standard
  error ``std(r) / sqrt(n)``. With the exact process as ``q`` it is unbiased for the
  exact ``I_BP``.

* **vCLUB** (variational contrastive log-ratio upper bound): ``E_{p(x,y)}[log q(y | x)] -
  E_{p(x)p(y)}[log q(y | x)]``, the second expectation over mismatched pairs ``(x_i, y_pi(i))``
  (``pi`` a random cyclic derangement, ``shuffles`` of them averaged). For ``q = p`` it is an
  upper bound on ``I``. Standard error ``std(a_i - b_i) / sqrt(n)`` over the per-sample
  differences (``b_i`` averaged over shuffles; the weak dependence created by the shuffle
  is ignored).

Model interface (the runtime-checkable protocols of :mod:`l2m_sim.protocol`; first match
wins):

* ``model.position_log_probs(w) -> (n, L)``: per-position ``log q(w_t | w_<t)`` (any model,
  every process of the package);
* ``model.conditional_moments(w) -> (mean, std)`` (Gaussian; arrays shaped like ``w``,
  ``(n, L)`` or ``(n, L, C)`` with channels summed);
* ``model.conditional_probs(tokens) -> (n, L, M)`` (tokens ``(n, L)``).
"""

from __future__ import annotations

import math

import numpy as np

from ..protocol import (BlockLogProb, ConditionalMoments, ConditionalProbs, PositionLogProbs,
                        Reversible, as_array, as_generator, check_cut, check_int)
from ._common import Estimate

__all__ = ["direct_bipartite", "vclub_bipartite", "position_log_probs"]

_MARGINALS = ("auto", "block", "reversed", "fresh")
_LOG_2PI = math.log(2.0 * math.pi)


def _check_samples(samples):
    s = as_array("samples", samples, "fiu", "a real numeric array (n, L) or (n, L, C)")
    if s.ndim not in (2, 3):
        raise ValueError(f"samples must be 2-D (n, L) or 3-D (n, L, C), got {s.ndim}-D shape {s.shape}")
    if s.shape[0] < 2:
        raise ValueError(f"samples must hold at least 2 sequences (for a standard error), got {s.shape[0]}")
    if s.shape[1] < 2:
        raise ValueError(f"samples must have length L >= 2 to be cut, got {s.shape[1]}")
    if s.dtype.kind == "f" and not np.all(np.isfinite(s)):
        raise ValueError("samples must be finite (no NaN or inf)")
    return s


def position_log_probs(model, w) -> np.ndarray:
    """Per-position ``log q(w_t | w_<t)`` (nats, channels summed), shape ``(n, L)``."""
    w = np.asarray(w)
    if isinstance(model, PositionLogProbs):
        lp = np.asarray(model.position_log_probs(w), dtype=np.float64)
    elif isinstance(model, ConditionalMoments):
        mean, sd = model.conditional_moments(w)
        z = (w - mean) / sd
        lp = -0.5 * z * z - np.log(sd) - 0.5 * _LOG_2PI
        if lp.ndim == 3:
            lp = lp.sum(axis=2)
    elif isinstance(model, ConditionalProbs):
        if w.dtype.kind not in "iu":
            raise TypeError(f"token samples must be integers, got dtype {w.dtype}")
        probs = np.asarray(model.conditional_probs(w))
        p = np.take_along_axis(probs, w[..., None].astype(np.int64), axis=-1)[..., 0]
        with np.errstate(divide="ignore"):
            lp = np.log(p)
        if lp.ndim == 3:
            lp = lp.sum(axis=2)
    else:
        raise TypeError(
            "model must provide position_log_probs(w), conditional_moments(x) or conditional_probs(tokens)"
        )
    if lp.shape != w.shape[:2]:
        raise ValueError(f"the model returned per-position log-probabilities of shape {lp.shape}, "
                         f"expected {w.shape[:2]}")
    return lp


def _block_marginal(model, samples, c, marginal):
    L = samples.shape[1]
    if marginal == "auto":
        if isinstance(model, BlockLogProb):
            marginal = "block"
        elif isinstance(model, Reversible):
            marginal = "reversed"
        else:
            marginal = "fresh"
    if marginal == "block":
        if not isinstance(model, BlockLogProb):
            raise TypeError("marginal='block' needs model.block_log_prob(samples, start, stop)")
        return np.asarray(model.block_log_prob(samples, c, L), dtype=np.float64)
    if marginal == "reversed":
        if not isinstance(model, Reversible):
            raise TypeError("marginal='reversed' needs model.reversed()")
        rev = model.reversed()
        lp = position_log_probs(rev, np.ascontiguousarray(samples[:, ::-1]))
        return lp[:, : L - c].sum(axis=1)
    # fresh: Y moved to the front of a length-L input (X after it as filler). Conditionals
    # of an autoregressive model at positions < L - cut depend only on earlier positions, so
    # their sum is the log-probability of Y as a fresh sequence of length L - cut.
    shifted = np.ascontiguousarray(np.concatenate([samples[:, c:], samples[:, :c]], axis=1))
    return position_log_probs(model, shifted)[:, : L - c].sum(axis=1)


def _mc(r) -> Estimate:
    r = np.asarray(r, dtype=np.float64)
    if not np.all(np.isfinite(r)):
        raise FloatingPointError("the model gave a non-finite log-probability to some sample")
    return Estimate(float(r.mean()), float(r.std(ddof=1) / math.sqrt(r.size)))


def direct_bipartite(model, samples, cut=None, marginal: str = "auto", return_terms: bool = False):
    """Direct model-based estimate of ``I(W_{<cut}; W_{>=cut})`` (nats) with a standard error.

    Parameters
    ----------
    model : object
        An autoregressive model / exact process (module docstring for the interface).
    samples : array_like, shape ``(n, L)`` or ``(n, L, C)``, ``n >= 2``
        Sequences drawn from the *data* law (not from ``q``, unless ``q`` is the data law).
    cut : int, optional
        ``X`` = the first ``cut`` positions, ``1 <= cut <= L - 1`` (default ``L // 2``).
    marginal : {"auto", "block", "reversed", "fresh"}
        How ``log q(y)`` is evaluated (module docstring: which choices are exact).
    return_terms : bool
        Also return the per-sample log-ratios ``r_i`` (``(Estimate, r)``).

    Returns
    -------
    Estimate
        ``(value, se)``: mean and ``std / sqrt(n)`` of ``log q(y|x) - log q(y)``.
    """
    s = _check_samples(samples)
    c = check_cut(cut, s.shape[1])
    if marginal not in _MARGINALS:
        raise ValueError(f"marginal must be one of {_MARGINALS}, got {marginal!r}")
    cond = position_log_probs(model, s)[:, c:].sum(axis=1)
    r = cond - _block_marginal(model, s, c, marginal)
    est = _mc(r)
    return (est, r) if return_terms else est


def _derangement(n, gen):
    """A uniformly random cyclic permutation (no fixed points for n >= 2)."""
    order = gen.permutation(n)
    pi = np.empty(n, dtype=np.int64)
    pi[order] = np.roll(order, -1)
    return pi


def vclub_bipartite(model, samples, cut=None, shuffles: int = 1, rng=None, return_terms: bool = False):
    """vCLUB upper-bound estimate of ``I(W_{<cut}; W_{>=cut})`` (nats) with a standard error.

    Parameters
    ----------
    model, samples, cut : as :func:`direct_bipartite`.
    shuffles : int
        Number of random derangements averaged for the product-of-marginals term (>= 1).
    rng : None, int or numpy.random.Generator
        Seed of the shuffles (None: seed 0).
    return_terms : bool
        Also return the per-sample differences.

    Returns
    -------
    Estimate
    """
    s = _check_samples(samples)
    n, L = s.shape[:2]
    c = check_cut(cut, L)
    shuffles = check_int("shuffles", shuffles, 1)
    gen = as_generator(0 if rng is None else rng)
    a = position_log_probs(model, s)[:, c:].sum(axis=1)
    b = np.zeros(n)
    for _ in range(shuffles):
        pi = _derangement(n, gen)
        spliced = np.concatenate([s[:, :c], s[pi, c:]], axis=1)
        b += position_log_probs(model, spliced)[:, c:].sum(axis=1)
    d = a - b / shuffles
    est = _mc(d)
    return (est, d) if return_terms else est
