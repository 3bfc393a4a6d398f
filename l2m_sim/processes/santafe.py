r"""The Santa Fe process: Hilberg-law token data with exact information.

Construction (Dębowski)
-----------------------
``K`` facts with Zipf weights ``p_k = k^(-a) / H_K(a)`` (``k = 1..K``, ``a > 1``,
``H_K(a) = sum_{k <= K} k^(-a)``) and bits ``Z_1..Z_K``, iid fair, drawn once per
sequence. Token ``X_t = (K_t, Z_{K_t})`` with ``K_t`` iid from ``p``: each token names a
fact and states it. Tokens are coded as ``2 (k - 1) + z`` in ``0..2K-1``.

Exact information
-----------------
Let ``S_X`` be the set of facts named in ``X = X_{0:c}`` and ``S_Y`` those named in
``Y = X_{c:L}``. The indices are independent across the cut and ``X`` reveals exactly the
bits in ``S_X``, so ``H(X) = c H(p) + ln 2 E|S_X|``, likewise for ``Y`` and ``(X, Y)``, and

    I(X; Y) = ln 2 E|S_X ∩ S_Y| = ln 2 sum_k (1 - (1 - p_k)^c) (1 - (1 - p_k)^(L - c)).

Two tokens share ``ln 2 P(K_i = K_j) = ln 2 sum_k p_k^2`` at every distance (no decay).
``H(X_{0:L}) = L H(p) + ln 2 sum_k (1 - (1 - p_k)^L)``; the entropy rate is ``H(p)``.
Every ``(1 - p)^n`` is computed as ``exp(n log1p(-p))`` and ``1 - (1 - p)^n`` as
``-expm1(n log1p(-p))``, so nothing cancels, whatever ``n`` and ``p``.

Exponent
--------
For ``K = inf`` and large ``n`` (``theory/santafe.py``),
``sum_k (1 - e^(-n p_k))^2 -> Gamma(1 - 1/a) (2 - 2^(1/a)) (n / zeta(a))^(1/a)``: the
bipartite MI at the middle cut grows like ``L^beta`` with ``beta = 1/a``. A finite ``K``
bends the curve down once the rarest fact is seen (``L p_K ~ 1``, ``L ~ K^a H_K(a)``):
``I_BP -> K ln 2`` and the local slope :meth:`SantaFe.beta_local` falls to 0.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import scipy.special

from ._kernels import santafe as K
from ._base import SAMPLE_LENGTH_MAX, ProcessBase, check_sampleable, cumulative, row_blocks
from .._limits import check_memory
from ..protocol import (Exponents, as_cuts, as_generator, as_positions, as_token_rows, check_float,
                       check_int)

__all__ = ["SantaFe", "DriftingSantaFe", "SantaFeExponents", "FACTS_MAX", "LENGTH_MAX"]

#: Largest number of facts ``K`` (the weights and the sampler's CDF are dense float64 arrays).
FACTS_MAX = 2**24
#: Largest length (the exact information methods work at any length up to this).
LENGTH_MAX = 2**62
# Facts processed per block by the exact sums (bounds temporary memory).
_FACT_BLOCK = 2**20
_LN2 = math.log(2.0)


#: Former name of the exponents dataclass of the Santa Fe processes (now the one
#: :class:`~l2m_sim.protocol.Exponents` of every family).
SantaFeExponents = Exponents


def _check_exponent(exponent) -> float:
    # the Zipf exponent a of the fact weights; beta = 1/a
    return check_float("exponent", exponent, 1.0, None, lo_open=True)


class SantaFe(ProcessBase):
    r"""Santa Fe process: Zipf-chosen facts with fixed random bits, ``I_BP ~ L^(1/a)``.

    Parameters
    ----------
    exponent : float
        Zipf exponent ``a > 1`` of the fact weights ``p_k ∝ k^(-a)``; ``beta = 1/a``.
    facts : int
        Number of facts ``K`` in ``1..FACTS_MAX`` (``2**24``). The law is the truncated one,
        exactly; ``K`` must be large enough that ``L p_K`` stays small over the lengths of
        interest for the curve to follow ``L^(1/a)`` (see :meth:`beta_local`).
    length : int
        ``L`` in ``2..LENGTH_MAX``.

    Attributes
    ----------
    vocab_size : int
        ``2K``; token ``2 (k - 1) + z`` states that fact ``k`` has bit ``z``.
    weights : ndarray
        ``p_k``, ``k = 1..K`` (read-only).

    Notes
    -----
    Everything is exact for the truncated law (module docstring): :meth:`bipartite_mi` at
    any cut, :meth:`two_point_mi`, :meth:`entropy`, :meth:`conditional_probs`,
    :meth:`position_log_probs` and :meth:`log_prob`. The law is invariant under time
    reversal (the indices are iid, the bits fixed): :meth:`reversed` returns an equal process.

    Examples
    --------
    >>> sf = SantaFe(exponent=2.0, facts=1000, length=64)
    >>> sf.sample(2, rng=0).shape
    (2, 64)
    >>> round(SantaFe(2.0, 1, 8).bipartite_mi() / math.log(2), 12)
    1.0
    """

    channels = 1

    def __init__(self, exponent, facts, length):
        self.exponent = _check_exponent(exponent)
        self.facts = check_int("facts", facts, 1, FACTS_MAX)
        self.length = check_int("length", length, 2, LENGTH_MAX)
        self.vocab_size = 2 * self.facts
        k = np.arange(1, self.facts + 1, dtype=np.float64)
        w = np.exp(-self.exponent * np.log(k))  # k = 1 has weight 1: no overflow, the sum >= 1
        #: ``H_K(a) = sum_{k <= K} k^(-a)``, the normaliser of the weights.
        self.normalization = math.fsum(w)
        p = w / self.normalization
        p.setflags(write=False)
        self.weights = p
        with np.errstate(divide="ignore"):
            lq = np.log1p(-p)  # ln(1 - p_k); -inf for K = 1
        lq.setflags(write=False)
        self._lq = lq

    @classmethod
    def from_beta(cls, beta, facts, length) -> "SantaFe":
        """The process with ``a = 1 / beta`` (``0 < beta < 1``)."""
        b = check_float("beta", beta, 0.0, 1.0, lo_open=True, hi_open=True)  # a = 1/beta > 1
        return cls(1.0 / b, facts, length)

    def __repr__(self):
        return f"SantaFe(exponent={self.exponent!r}, facts={self.facts}, length={self.length})"

    def __eq__(self, other):
        return (type(other) is type(self) and self.exponent == other.exponent
                and self.facts == other.facts and self.length == other.length)

    def __hash__(self):
        return hash((type(self).__name__, self.exponent, self.facts, self.length))

    @property
    def vocab(self) -> int:
        """Alias of :attr:`vocab_size` (``2K``)."""
        return self.vocab_size

    @property
    def beta(self) -> float:
        """``1/a``: the bipartite exponent as ``K -> inf``."""
        return 1.0 / self.exponent

    def reversed(self) -> "SantaFe":
        """The law of the time-reversed sequence: the same process (the law is exchangeable)."""
        return SantaFe(self.exponent, self.facts, self.length)

    def at_length(self, length) -> "SantaFe":
        """The same design at another length."""
        return SantaFe(self.exponent, self.facts, length)

    # ------------------------------------------------------------------ exact sums

    def _fact_sum(self, f):
        """``sum_k f(p_k, ln(1 - p_k))`` over blocks of facts (``f`` vectorised)."""
        p, lq = self.weights, self._lq
        total = 0.0
        for s in range(0, self.facts, _FACT_BLOCK):
            total += float(np.sum(f(p[s:s + _FACT_BLOCK], lq[s:s + _FACT_BLOCK])))
        return total

    @staticmethod
    def _seen(n, lq):
        """``1 - (1 - p)^n`` without cancellation."""
        with np.errstate(invalid="ignore"):
            return -np.expm1(n * lq)

    def expected_facts_seen(self, n) -> float:
        """``E|S_n| = sum_k (1 - (1 - p_k)^n)``: expected number of distinct facts in ``n`` tokens."""
        n = check_int("n", n, 0)
        if n == 0:
            return 0.0
        return self._fact_sum(lambda p, lq: self._seen(n, lq))

    def bipartite_mi(self, cut=None):
        """Exact ``I(X_{0:cut}; X_{cut:L}) = ln 2 sum_k (1 - (1-p_k)^c)(1 - (1-p_k)^(L-c))`` nats.

        ``cut`` in ``1..L-1`` (``None``: ``L // 2``); an integer array of cuts returns an array.
        """
        cuts, scalar = as_cuts(cut, self.length)
        L = self.length
        vals = np.empty(cuts.size)
        for i, c in enumerate(cuts.ravel()):
            c = int(c)
            vals[i] = _LN2 * self._fact_sum(
                lambda p, lq, c=c: self._seen(c, lq) * self._seen(L - c, lq))
        if scalar:
            return float(vals[0])
        return vals.reshape(np.shape(cut))

    def bipartite_mi_asymptotic(self, cut=None):
        r"""The integral (large-``L``) approximation of :meth:`bipartite_mi` (``theory/santafe.py``):
        ``ln 2 Gamma(1 - 1/a) (c^(1/a) + (L-c)^(1/a) - L^(1/a)) / H_K(a)^(1/a)``.

        With ``H_K(a)`` replaced by ``zeta(a)`` this is the exact ``K = inf`` asymptote
        (relative error ``O(L^(-1/a))``); with the truncated normaliser ``H_K(a)`` it also
        tracks a finite ``K`` as long as ``L p_K << 1``.
        """
        cuts, scalar = as_cuts(cut, self.length)
        a, L = self.exponent, self.length
        c = cuts.astype(np.float64)
        s = 1.0 / a
        vals = (_LN2 * scipy.special.gamma(1.0 - s) * (c**s + (L - c) ** s - float(L) ** s)
                / self.normalization ** s)
        if scalar:
            return float(vals[0])
        return vals.reshape(np.shape(cut))

    def beta_local(self, length=None):
        r"""Exact local slope ``d ln I_BP / d ln L`` of the middle-cut bipartite MI.

        With ``I(L) = ln 2 sum_k (1 - (1-p_k)^(L/2))^2`` (the middle cut, ``L`` continuous):
        ``beta_local(L) = -L sum_k u_k (1 - u_k) ln(1 - p_k) / sum_k u_k^2`` with
        ``u_k = 1 - (1-p_k)^(L/2)``. It tends to ``1/a`` for ``1 << L << K^a H_K(a)`` and to 0
        once every fact is seen. ``length``: a real ``>= 2`` or an array of them
        (default: this process's length).
        """
        if length is None:
            Ls, scalar = np.array([float(self.length)]), True
        else:
            arr = np.asarray(length)
            if arr.dtype.kind not in "fiu":
                raise TypeError(f"length must be a real number or an array of them, got dtype {arr.dtype}")
            Ls = np.array(arr, dtype=np.float64).ravel()
            scalar = arr.ndim == 0
            if not np.all(np.isfinite(Ls)) or np.any(Ls < 2):
                raise ValueError(f"length must be finite and >= 2, got {length!r}")
        out = np.empty(Ls.size)
        for i, L in enumerate(Ls):
            h = 0.5 * L

            def num(p, lq, h=h):
                with np.errstate(invalid="ignore"):
                    e = np.exp(h * lq)  # (1 - p)^(L/2)
                    t = self._seen(h, lq) * e * (-lq)
                return np.where(e > 0, t, 0.0)  # K = 1: p = 1 contributes no slope

            den = self._fact_sum(lambda p, lq, h=h: self._seen(h, lq) ** 2)
            out[i] = L * self._fact_sum(num) / den
        return float(out[0]) if scalar else out.reshape(np.shape(length))

    def exponents(self) -> Exponents:
        """``beta = 1/a`` (as ``K -> inf``; the exact finite-``K`` local slope is
        :meth:`beta_local`), ``alpha = 0``: the two-point MI does not decay (``ln 2 sum_k
        p_k^2`` at every distance); ``growth = "power"``."""
        return Exponents(beta=1.0 / self.exponent, alpha=0.0, growth="power")

    def _pair_shared(self) -> float:
        return _LN2 * self._fact_sum(lambda p, lq: p * p)

    def fact_entropy(self) -> float:
        """``H(p) = -sum_k p_k ln p_k``: entropy of one fact index (nats)."""
        return self._fact_sum(lambda p, lq: -scipy.special.xlogy(p, p))

    def entropy_rate(self) -> float:
        """``lim H(X_{0:L}) / L = H(p)`` nats/token (the facts add at most ``K ln 2`` in all)."""
        return self.fact_entropy()

    def entropy(self, length=None) -> float:
        """Exact ``H(X_{0:n}) = n H(p) + ln 2 E|S_n|`` nats (default ``n = L``)."""
        n = self.length if length is None else check_int("length", length, 1, LENGTH_MAX)
        return n * self.fact_entropy() + _LN2 * self.expected_facts_seen(n)

    def two_point_mi(self, i, j):
        """Exact ``I(X_i; X_j)``: ``ln 2 sum_k p_k^2`` for ``i != j`` (every distance),
        ``H(X_i) = H(p) + ln 2`` for ``i == j``. Integer arrays broadcast to an array."""
        ii, si = as_positions("i", i, self.length)
        jj, sj = as_positions("j", j, self.length)
        shared = self._pair_shared()
        if si and sj:
            return self.fact_entropy() + _LN2 if int(ii) == int(jj) else shared
        same = np.equal(ii, jj)
        out = np.full(same.shape, shared)
        if np.any(same):
            out[same] = self.fact_entropy() + _LN2
        return out

    # ------------------------------------------------------------------ sampling / likelihood

    @cached_property
    def _cum(self):
        return cumulative(self.weights)[0]

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n >= 1`` sequences, int64 ``(n, L)`` (numba).

        ``rng``: None, an int seed or a ``numpy.random.Generator``; the same seed gives the
        identical array. Per block of rows: one uniform per token for its fact (inverse
        CDF), then one fair bit per token, the bit of a fact being the one drawn at its
        first occurrence (``_santafe_kernels``).
        """
        n = check_int("n", n, 1)
        L = self.length
        check_sampleable(L)
        check_memory("n", 24.0 * n * L, f"sample({n}) of length {L}")
        gen = as_generator(rng)
        out = np.empty((n, L), dtype=np.int64)
        cum = self._cum
        for r0, r1 in row_blocks(n, L):
            uk = gen.random((r1 - r0, L))
            bits = gen.integers(0, 2, size=(r1 - r0, L), dtype=np.int64)
            K.sample_rows(uk, bits, cum, out[r0:r1])
        return out

    def _sample_numpy(self, n, rng=None) -> np.ndarray:
        """Plain-numpy reference sampler, same random numbers as :meth:`sample`."""
        n = check_int("n", n, 1)
        gen = as_generator(rng)
        L = self.length
        out = np.empty((n, L), dtype=np.int64)
        for r0, r1 in row_blocks(n, L):
            uk = gen.random((r1 - r0, L))
            bits = gen.integers(0, 2, size=(r1 - r0, L), dtype=np.int64)
            ks = np.minimum(np.searchsorted(self._cum, uk, side="right"), self.facts - 1)
            order = np.argsort(ks, axis=1, kind="stable")
            sk = np.take_along_axis(ks, order, axis=1)
            first = np.ones(sk.shape, dtype=bool)
            first[:, 1:] = sk[:, 1:] != sk[:, :-1]
            # index (in sorted order) of the first occurrence of each run
            idx = np.where(first, np.arange(L)[None, :], 0)
            idx = np.maximum.accumulate(idx, axis=1)
            sb = np.take_along_axis(bits, order, axis=1)
            z_sorted = np.take_along_axis(sb, idx, axis=1)
            z = np.empty_like(z_sorted)
            np.put_along_axis(z, order, z_sorted, axis=1)
            out[r0:r1] = 2 * ks + z
        return out

    def conditional_probs(self, tokens) -> np.ndarray:
        """Exact ``p(x_t = . | x_<t)``, float64 ``(n, L, 2K)`` (or ``(L, 2K)``).

        ``p_k / 2`` on each of the two tokens of a fact not yet named, ``p_k`` on the bit a
        named fact showed and 0 on the other. Raises ``ValueError`` if a sequence has
        probability zero (a fact stated with both bits), after which the conditionals are
        undefined; :meth:`log_prob` returns ``-inf`` for such sequences instead.
        """
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        n, L = X.shape
        out = np.empty((n, L, self.vocab_size))
        bad = np.empty(n, dtype=np.int64)
        K.conditional_probs(X, np.asarray(self.weights), out, bad)
        rows = np.flatnonzero(bad >= 0)
        if rows.size:
            r = int(rows[0])
            raise ValueError(f"tokens: sequence {r} has probability zero (the token at position "
                             f"{int(bad[r])} contradicts a fact stated earlier, or names a fact of "
                             f"weight 0), so its later conditionals are undefined")
        return out[0] if one else out

    def position_log_probs(self, tokens) -> np.ndarray:
        """Exact ``ln p(x_t | x_<t)`` of the observed tokens, ``(n, L)`` (or ``(L,)``);
        ``-inf`` from the first impossible token on. O(L log L) per sequence."""
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        with np.errstate(divide="ignore"):
            logp = np.log(self.weights)
        out = np.empty(X.shape)
        K.position_log_probs(X, logp, out)
        return out[0] if one else out

    #: Former name of :meth:`position_log_probs` (kept for old code).
    conditional_log_probs = position_log_probs


# ------------------------------------------------------------------------ drifting facts


def _bsc_mi(rho):
    """MI of two fair bits with correlation ``rho`` in [0, 1]:
    ``((1+rho) ln(1+rho) + (1-rho) ln(1-rho)) / 2``, by its series below 0.01 (no cancellation)."""
    rho = np.asarray(rho, dtype=np.float64)
    small = rho < 1e-2
    r2 = np.where(small, rho * rho, 0.0)
    ser = r2 / 2 + r2**2 / 12 + r2**3 / 30 + r2**4 / 56
    big = 0.5 * (scipy.special.xlog1py(1 + rho, rho) + scipy.special.xlog1py(1 - rho, -rho))
    return np.where(small, ser, big)


class DriftingSantaFe(SantaFe):
    r"""Santa Fe process whose fact bits drift: ``Z_k(t)`` is a symmetric two-state Markov chain.

    Fact ``k``'s bit starts fair and flips with probability ``eps_k = flip_scale * k^(-gamma)``
    at every step; token ``X_t = (K_t, Z_{K_t}(t))`` (same code as :class:`SantaFe`). Two
    looks at fact ``k`` ``d`` steps apart have bit correlation ``rho_k(d) = (1 - 2 eps_k)^d``.

    Exact information (the indices are independent of the bits and across the cut; given the
    indices the facts are independent, and by the Markov property only the last look before
    the cut and the first after it matter):

    * ``I_BP(c) = sum_k sum_{d=1}^{L-1} N_c(d) p_k^2 (1-p_k)^(d-1) f(rho_k(d))`` with
      ``N_c(d) = min(d, c, L-c, L-d)`` the number of (last-before, first-after) position pairs
      ``d`` apart, and ``f(rho) = ((1+rho) ln(1+rho) + (1-rho) ln(1-rho)) / 2`` the MI of two
      fair bits with correlation ``rho``;
    * ``I(X_i; X_j) = sum_k p_k^2 f(rho_k(|i - j|))``: a Zipf-weighted mixture of exponentials,
      ``~ d^(-alpha)`` with ``alpha = (2a - 1) / gamma`` for ``1 << d << 1/eps_K``;
    * ``p(x_t = (k, z) | past) = p_k (1 + s rho_k(t - t_k)) / 2`` with ``t_k`` the last look at
      fact ``k`` and ``s = +1`` if ``z`` repeats the bit seen then, ``-1`` otherwise
      (``p_k / 2`` for an unseen fact).

    ``flip_scale`` in ``(0, 1/2]``, ``flip_exponent = gamma >= 0``. The exact bipartite MI
    and :meth:`entropy` cost O(K L). ``gamma -> inf`` (``eps_k -> 0``) recovers
    :class:`SantaFe`.

    Exponents by design (:meth:`exponents`, derived in ``theory/santafe_drift.md``):
    ``alpha = (2a - 1)/gamma``; ``beta = 1/a`` for ``gamma >= a`` (so any
    ``0 < alpha <= 2 - beta`` is set by ``a = 1/beta``, ``gamma = (2a - 1)/alpha``),
    ``2 - alpha`` for ``a - 1/2 < gamma < a``, bounded ``I_BP`` for ``gamma < a - 1/2``
    (the defaults ``a = 2``, ``gamma = 2``, ``flip_scale = 0.25`` give ``beta = 0.5``,
    ``alpha = 1.5``: language-like in both exponents; ``gamma = 1`` would give ``alpha = 3``
    and a bounded ``I_BP``).
    """

    def __init__(self, exponent, facts, length, flip_scale=0.25, flip_exponent=2.0):
        super().__init__(exponent, facts, length)
        e0 = check_float("flip_scale", flip_scale, 0.0, 0.5, lo_open=True)
        g = check_float("flip_exponent", flip_exponent, 0.0)
        self.flip_scale, self.flip_exponent = e0, g
        k = np.arange(1, self.facts + 1, dtype=np.float64)
        eps = e0 * np.exp(-g * np.log(k))
        eps.setflags(write=False)
        self.flips = eps
        with np.errstate(divide="ignore"):
            lr = np.log1p(-2.0 * eps)  # ln(1 - 2 eps_k); -inf at eps = 1/2
        lr.setflags(write=False)
        self._lr = lr

    def __repr__(self):
        return (f"DriftingSantaFe(exponent={self.exponent!r}, facts={self.facts}, "
                f"length={self.length}, flip_scale={self.flip_scale!r}, "
                f"flip_exponent={self.flip_exponent!r})")

    def __eq__(self, other):
        return (super().__eq__(other) and self.flip_scale == other.flip_scale
                and self.flip_exponent == other.flip_exponent)

    def __hash__(self):
        return hash((super().__hash__(), self.flip_scale, self.flip_exponent))

    def _with_length(self, length):
        return DriftingSantaFe(self.exponent, self.facts, length, self.flip_scale,
                               self.flip_exponent)

    def reversed(self) -> "DriftingSantaFe":
        """The time-reversed law: the same process (iid indices, reversible stationary bits)."""
        return self._with_length(self.length)

    def at_length(self, length) -> "DriftingSantaFe":
        return self._with_length(length)

    def _rho(self, d, lr):
        with np.errstate(invalid="ignore"):
            return np.where(np.isneginf(lr), 0.0, np.exp(d * np.where(np.isneginf(lr), 0.0, lr)))

    def two_point_mi(self, i, j):
        """Exact ``I(X_i; X_j) = sum_k p_k^2 f((1 - 2 eps_k)^|i-j|)``; ``H(p) + ln 2`` at ``i == j``."""
        ii, si = as_positions("i", i, self.length)
        jj, sj = as_positions("j", j, self.length)
        dd = np.abs(np.asarray(ii) - np.asarray(jj))
        out = np.empty(dd.shape, dtype=np.float64)
        flat = out.reshape(-1)
        for n, d in enumerate(dd.reshape(-1)):
            if d == 0:
                flat[n] = self.fact_entropy() + _LN2
            else:
                flat[n] = self._fact_sum_pair(lambda p, lq, lr, d=int(d): p * p * _bsc_mi(self._rho(d, lr)))
        return float(flat[0]) if (si and sj) else out

    def _fact_sum_pair(self, f):
        total = 0.0
        for s in range(0, self.facts, _FACT_BLOCK):
            sl = slice(s, s + _FACT_BLOCK)
            total += float(np.sum(f(self.weights[sl], self._lq[sl], self._lr[sl])))
        return total

    def bipartite_mi(self, cut=None):
        """Exact ``I(X_{0:c}; X_{c:L})`` nats (class docstring), O(K L) per cut."""
        cuts, scalar = as_cuts(cut, self.length)
        L = self.length
        d = np.arange(1, L, dtype=np.float64)
        block = max(1, 2**22 // max(1, L))
        vals = np.empty(cuts.size)
        for n, c in enumerate(cuts.ravel()):
            N = np.minimum(np.minimum(d, c), np.minimum(L - c, L - d))
            total = 0.0
            for s in range(0, self.facts, block):
                sl = slice(s, s + block)
                p, lq, lr = self.weights[sl, None], self._lq[sl, None], self._lr[sl, None]
                with np.errstate(invalid="ignore"):
                    gap = np.where(np.isneginf(lq), (d == 1)[None, :] * 1.0,
                                   np.exp((d - 1)[None, :] * np.where(np.isneginf(lq), 0.0, lq)))
                total += float(np.sum(N[None, :] * p * p * gap * _bsc_mi(self._rho(d[None, :], lr))))
            vals[n] = total
        if scalar:
            return float(vals[0])
        return vals.reshape(np.shape(cut))

    def bipartite_mi_asymptotic(self, cut=None):
        raise NotImplementedError("no closed-form asymptote for the drifting variant")

    def beta_local(self, length=None):
        raise NotImplementedError("use finite differences of bipartite_mi for the drifting variant")

    def exponents(self) -> Exponents:
        """Exponents by design (``theory/santafe_drift.md``, ``K = inf``).

        ``alpha = (2a - 1) / gamma``: the two-point MI falls like ``d^-alpha`` for
        ``1/eps_1 << d << 1/eps_K`` (``inf`` for ``gamma = 0``: one exponential).
        ``beta``: the gap density ``J(d)`` falls like ``d^-s`` with ``s = 2 - 1/a`` for
        ``gamma >= a`` and ``s = alpha`` for ``gamma < a``, and ``I_BP ~ L^(2-s)``: so
        ``beta = 1/a`` (``gamma >= a``, ``growth = "power"``), ``2 - alpha``
        (``a - 1/2 < gamma < a``, ``"power"``), 0 with ``growth = "log"`` at
        ``gamma = a - 1/2`` and ``"constant"`` (bounded) below. A finite ``K`` bends the
        curve to a plateau at ``L ~ 1/p_K`` as for :class:`SantaFe`; the approach to ``beta``
        is slow (corrections ``~ L^-beta``).
        """
        a, g = self.exponent, self.flip_exponent
        alpha = math.inf if g == 0 else (2 * a - 1) / g
        if g >= a:
            beta, growth = 1.0 / a, "power"
        elif alpha < 2:
            beta, growth = 2.0 - alpha, "power"
        else:
            beta, growth = 0.0, "log" if alpha == 2 else "constant"
        return Exponents(beta=beta, alpha=alpha, growth=growth)

    def entropy(self, length=None) -> float:
        """Exact ``H(X_{0:n})`` nats (default ``n = L``), O(K n) (``theory/santafe_drift.md``):

        ``n H(p) + ln 2 sum_k (1 - q_k^n) + sum_k sum_{g=1}^{n-1} (n - g) p_k^2 q_k^(g-1)
        h((1 - rho_k^g) / 2)``, ``h`` the binary entropy: each token pays its fact's index,
        a full bit at a fact's first look and ``h`` of the drift since the previous look."""
        n = self.length if length is None else check_int("length", length, 1, LENGTH_MAX)
        total = n * self.fact_entropy() + _LN2 * self.expected_facts_seen(n)
        g = np.arange(1, n, dtype=np.float64)
        block = max(1, 2**22 // max(1, n))
        for s in range(0, self.facts, block):
            sl = slice(s, s + block)
            p, lq, lr = self.weights[sl, None], self._lq[sl, None], self._lr[sl, None]
            with np.errstate(invalid="ignore"):
                gap = np.where(np.isneginf(lq), (g == 1)[None, :] * 1.0,
                               np.exp((g - 1)[None, :] * np.where(np.isneginf(lq), 0.0, lq)))
                flip = np.where(np.isneginf(lr), 0.5,
                                -0.5 * np.expm1(g[None, :] * np.where(np.isneginf(lr), 0.0, lr)))
            h = scipy.special.entr(flip) + scipy.special.entr(1.0 - flip)
            total += float(np.sum((n - g)[None, :] * p * p * gap * h))
        return total

    def entropy_rate(self):
        raise NotImplementedError(
            "the drifting variant's entropy rate is the infinite gap sum H(p) + ln 2 - "
            "sum_k p_k^2 sum_{g>=1} (1-p_k)^(g-1) f((1-2 eps_k)^g) (theory/santafe_drift.md), "
            "whose gaps reach 1/p_K; it is not evaluated. entropy(n + 1) - entropy(n) is the "
            "exact H(X_n | X_<n), which decreases to the rate")

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n`` sequences, int64 ``(n, L)``: indices by inverse CDF, then every fact's
        bit along its looks (fair at the first, flipped with probability
        ``(1 - rho_k(gap)) / 2`` between looks ``gap`` apart)."""
        n = check_int("n", n, 1)
        L = self.length
        check_sampleable(L)
        check_memory("n", 24.0 * n * L, f"sample({n}) of length {L}")
        gen = as_generator(rng)
        out = np.empty((n, L), dtype=np.int64)
        for r0, r1 in row_blocks(n, L):
            uk = gen.random((r1 - r0, L))
            ub = gen.random((r1 - r0, L))
            K.sample_drift_rows(uk, ub, self._cum, np.asarray(self._lr), out[r0:r1])
        return out

    def position_log_probs(self, tokens) -> np.ndarray:
        """Exact ``ln p(x_t | x_<t)``, ``(n, L)`` (or ``(L,)``); ``-inf`` from the first
        impossible token on (a fact whose weight underflows to 0; with ``eps_k < 1/2`` both
        bits of a named fact always have positive probability)."""
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        with np.errstate(divide="ignore"):
            logp = np.log(self.weights)
        out = np.empty(X.shape)
        K.drift_log_probs(X, logp, np.asarray(self._lr), out)
        return out[0] if one else out

    conditional_log_probs = position_log_probs

    def conditional_probs(self, tokens) -> np.ndarray:
        """Exact ``p(x_t = . | x_<t)``, float64 ``(n, L, 2K)`` (or ``(L, 2K)``)."""
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        n, L = X.shape
        out = np.empty((n, L, self.vocab_size))
        K.drift_conditional_probs(X, np.asarray(self.weights), np.asarray(self._lr), out)
        return out[0] if one else out
