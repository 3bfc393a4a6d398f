r"""Discrete Markov processes with exact information structure.

Two token families:

* :class:`MarkovChain` -- a finite-state Markov chain ``W_0 -> W_1 -> ... -> W_{L-1}``
  with transition matrix ``T`` (``M x M``, row-stochastic). Two-point MI decays
  exponentially (rate set by the second eigenvalue of ``T``), the bipartite MI is the
  one-step MI ``I(W_{c-1}; W_c)`` at every cut (an "area law"), and
  :meth:`MarkovChain.all_equal` is the chain that repeats its first token: two-point MI
  ``ln M`` at every distance, yet ``I_BP = ln M``.
* :class:`HierarchicalMarkov` -- a tree (probabilistic-grammar) process: a root symbol,
  every node draws ``b`` children independently through a Markov kernel, and the
  ``L = b**levels`` leaves are the sequence. Two-point MI decays as a power law,
  ``I_TP ~ d^(-alpha)`` with ``alpha = -4 log_b |lambda_2|``; the bipartite MI at a cut is
  bounded by the entropy of the ancestors that straddle the cut (the root entropy at the
  middle cut of a binary tree).

Conventions: positions are 0-based; a cut ``c`` (``1 <= c <= L-1``) puts positions
``0..c-1`` in X and ``c..L-1`` in Y; tokens are int64 in ``0..M-1``; all information is in
nats; ``channels`` is always 1.

**Exactness.** Two-point MI is computed from the *deviation* of the pair law from the
product of its marginals, ``P = m n^T + C``, as ``sum m_x n_y f(C_xy / (m_x n_y))`` with
``f(u) = (1 + u) ln(1 + u) - u >= 0``: every term is non-negative and ``C`` is computed
without cancellation (powers of ``T - Pi`` for chains, projected products along the tree
paths), so values far below machine epsilon (1e-30 and less) keep full relative accuracy.

**Default start of a chain.** ``initial=None`` starts in ``pi_u = u Pi``: ``u`` is uniform
and ``Pi = lim_N (1/N) sum_{t<N} T^t`` is the Cesaro projector, computed exactly from the
closed communicating classes (their stationary laws) and the absorption probabilities of
the transient states. ``pi_u`` is stationary; if the chain has a single closed class it is
*the* stationary law; otherwise (a reducible chain, e.g. the identity) it is the long-run
average law of the chain started uniformly -- for the identity, the uniform law.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph

from . import _markov_kernels as K
from ._base import (SAMPLE_LENGTH_MAX, STOCHASTIC_ATOL, ProcessBase, as_float_array,
                    check_probabilities, check_sampleable, cumulative, entropy, row_blocks)
from ._limits import check_memory
from .protocol import (Exponents, NoExactValue, as_cuts, as_generator, as_positions,
                       as_token_rows, check_cut, check_int, check_position)

__all__ = [
    "MarkovChain",
    "InhomogeneousMarkovChain",
    "HierarchicalMarkov",
    "cesaro_projector",
    "STOCHASTIC_ATOL",
    "ENUM_MAX",
]

#: Largest supported length (positions are int64; sampling needs n * L int64 of memory).
LENGTH_MAX = 2**62
#: Largest vocabulary of :meth:`MarkovChain.all_equal` (it builds the dense identity).
VOCAB_MAX = 8192
#: Largest branching of a tree process.
BRANCHING_MAX = 1024
#: Largest number of sequences ``M**L`` for which the tree's bipartite MI is computed
#: exactly by enumerating the joint law (``8 * ENUM_MAX`` bytes).
ENUM_MAX = 2**20


# ------------------------------------------------------------------------ validation


def _stochastic_matrix(name, value):
    """Validate a row-stochastic ``(M, M)`` matrix; return a read-only float64 copy."""
    T = as_float_array(name, value)
    what = "row-stochastic (M, M) matrix"
    if T.ndim != 2 or T.shape[0] != T.shape[1] or T.shape[0] < 1:
        raise ValueError(f"{name} must be a square {what} with M >= 1, got shape {T.shape}")
    _check_vocab_memory(name, T.shape[0])
    check_probabilities(name, T, what)
    T.setflags(write=False)
    return T


def _check_vocab_memory(name, M):
    """The exact methods keep a few dense ``(M, M)`` matrices (Cesaro projector, powers):
    refuse before allocating them when that is over the memory limit."""
    if M > VOCAB_MAX:
        raise ValueError(f"{name}: vocabulary size must be <= {VOCAB_MAX}, got {M}")
    check_memory(name, 100.0 * M * M, f"a vocabulary of {M} symbols (dense {M}x{M} matrices)")


def _prob_vector(name, value, M):
    p = as_float_array(name, value)
    what = f"probability vector of length {M}"
    if p.shape != (M,):
        raise ValueError(f"{name} must be a {what}, got shape {p.shape}")
    check_probabilities(name, p, what)
    p.setflags(write=False)
    return p


# ------------------------------------------------------------------------ linear algebra


def _row_entropies(T) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(T > 0, T * np.log(np.where(T > 0, T, 1.0)), 0.0)
    return -terms.sum(axis=1)


# Series of f(u) = (1 + u) ln(1 + u) - u = sum_{k >= 2} (-1)^k u^k / (k (k - 1)), |u| < 0.1.
_F_COEF = np.array([(-1.0) ** k / (k * (k - 1)) for k in range(2, 20)])


def _f(u):
    """``(1 + u) ln(1 + u) - u`` for ``u >= -1`` with full relative accuracy near 0."""
    u = np.asarray(u, dtype=np.float64)
    out = np.empty_like(u)
    small = np.abs(u) < 0.1
    us = u[small]
    acc = np.zeros_like(us)
    for c in _F_COEF[::-1]:
        acc = acc * us + c
    out[small] = acc * us * us
    ub = np.maximum(u[~small], -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        big = np.where(ub > -1.0, (1.0 + ub) * np.log1p(np.maximum(ub, -1.0 + 1e-300)), 0.0) - ub
    out[~small] = big
    return out


def _mi_from_deviation(m, n, C) -> float:
    """``I`` of the pair law ``P = m n^T + C`` (marginals ``m``, ``n``; ``C`` sums to 0 over
    each row and column): ``sum m_x n_y f(C_xy / (m_x n_y))``, a sum of non-negative terms."""
    mn = np.outer(m, n)
    mask = mn > 0
    if not np.any(mask):
        return 0.0
    u = C[mask] / mn[mask]
    return float(max(0.0, np.sum(mn[mask] * _f(np.maximum(u, -1.0)))))


def cesaro_projector(T) -> np.ndarray:
    r"""Exact Cesaro projector ``Pi = lim_N (1/N) sum_{t<N} T^t`` of a stochastic matrix.

    Built from the closed communicating classes ``C_k`` of ``T`` (their unique stationary
    laws ``pi_k``) and the absorption probabilities ``a_k(i)`` of the transient states:
    ``Pi[i] = sum_k a_k(i) pi_k``. It satisfies ``T Pi = Pi T = Pi = Pi^2`` and
    ``T^d = Pi + (T - Pi)^d`` for ``d >= 1``; ``u Pi`` is a stationary law for any start ``u``.
    """
    return _cesaro(T)[0]


def _cesaro(T):
    """``(Pi, number of closed classes)``; see :func:`cesaro_projector`."""
    T = np.asarray(T, dtype=np.float64)
    M = T.shape[0]
    support = scipy.sparse.csr_matrix(T > 0)
    ncomp, labels = scipy.sparse.csgraph.connected_components(support, directed=True,
                                                              connection="strong")
    Pi = np.zeros((M, M))
    closed = []
    for k in range(ncomp):
        idx = np.flatnonzero(labels == k)
        out_mass = T[idx][:, labels != k]
        if out_mass.size and np.any(out_mass > 0):
            continue  # transient class
        sub = T[np.ix_(idx, idx)]
        m = len(idx)
        A = sub.T - np.eye(m)
        A[-1, :] = 1.0
        rhs = np.zeros(m)
        rhs[-1] = 1.0
        pi = np.linalg.solve(A, rhs) if m > 1 else np.ones(1)
        pi = np.maximum(pi, 0.0)
        pi /= pi.sum()
        closed.append((idx, pi))
        Pi[np.ix_(idx, idx)] = pi[None, :]
    in_closed = np.zeros(M, bool)
    for idx, _ in closed:
        in_closed[idx] = True
    trans = np.flatnonzero(~in_closed)
    if trans.size:
        Q = T[np.ix_(trans, trans)]
        R = np.stack([T[np.ix_(trans, idx)].sum(axis=1) for idx, _ in closed], axis=1)
        absorb = np.linalg.solve(np.eye(trans.size) - Q, R)  # (n_transient, n_closed)
        absorb = np.maximum(absorb, 0.0)
        absorb /= absorb.sum(axis=1, keepdims=True)
        for k, (idx, pi) in enumerate(closed):
            Pi[np.ix_(trans, idx)] = absorb[:, k:k + 1] * pi[None, :]
    return Pi, len(closed)


def _second_eigenvalue(T, Pi, n_closed):
    """Eigenvalue of ``T`` of largest modulus besides one eigenvalue 1.

    The eigenvalues of ``T - Pi`` are those of ``T`` with the (semisimple) eigenvalue 1 of
    each closed class replaced by 0, so: ``1.0`` with several closed classes, else the
    eigenvalue of ``T - Pi`` of largest modulus; exactly ``0.0`` when ``T - Pi`` is nilpotent
    (numerically: its M-th power vanishes), e.g. when every row of ``T`` is the same law.
    """
    if n_closed > 1:
        return 1.0
    R = np.asarray(T, dtype=np.float64) - Pi
    M = R.shape[0]
    if M < 2:
        return 0.0
    ev = np.linalg.eigvals(R)
    lam = ev[int(np.argmax(np.abs(ev)))]
    if abs(lam) < 1e-5 and np.max(np.abs(np.linalg.matrix_power(R, M))) <= 1e-13:
        return 0.0
    return complex(lam) if abs(lam.imag) > 1e-12 * max(1.0, abs(lam)) else float(lam.real)


# ------------------------------------------------------------------------ Markov chain


def _pairwise(pair_mi, i, j, length):
    """``pair_mi(i, j)`` for validated positions; integer arrays broadcast to an array."""
    ii, si = as_positions("i", i, length)
    jj, sj = as_positions("j", j, length)
    if si and sj:
        return pair_mi(int(ii), int(jj))
    ii, jj = np.broadcast_arrays(ii, jj)
    out = np.empty(ii.shape)
    for idx in np.ndindex(ii.shape):
        out[idx] = pair_mi(int(ii[idx]), int(jj[idx]))
    return out


class MarkovChain(ProcessBase):
    r"""Finite-state Markov chain over ``M`` tokens, with exact information structure.

    Parameters
    ----------
    transition : array_like, shape (M, M)
        Row-stochastic transition matrix ``T[a, b] = p(w_{t+1} = b | w_t = a)``: finite,
        non-negative, rows summing to 1 within ``STOCHASTIC_ATOL`` (``M >= 1``).
    length : int
        ``L >= 1``.
    initial : None or array_like, shape (M,)
        Law of ``W_0``. ``None``: the stationary start ``pi_u = u Pi`` (module docstring);
        the unique stationary law when the chain has one closed class.

    Notes
    -----
    * ``two_point_mi(i, j)`` is exact from the marginal at ``min(i, j)`` and
      ``T^|j - i| = Pi + (T - Pi)^|j - i|`` (non-stationary starts included).
    * ``bipartite_mi(c) = I(W_{c-1}; W_c)`` exactly (Markov property), constant in ``c`` for
      a stationary start.
    * ``entropy_rate() = sum_a pibar_a H(T[a])`` with ``pibar = initial Pi``, the limit of
      ``H(W_{0:L}) / L``.

    Examples
    --------
    >>> m = MarkovChain([[0.9, 0.1], [0.2, 0.8]], length=64)
    >>> m.sample(2, rng=0).shape
    (2, 64)
    >>> round(MarkovChain.all_equal(4, 16).bipartite_mi(), 12) == round(math.log(4), 12)
    True
    """

    channels = 1

    def __init__(self, transition, length, initial=None):
        T = _stochastic_matrix("transition", transition)
        self.transition = T
        self.vocab_size = M = T.shape[0]
        self.length = check_int("length", length, 1, LENGTH_MAX)
        self._Pi, self._n_closed = _cesaro(T)
        self._R = T - self._Pi  # T^d = Pi + R^d (d >= 1)
        if initial is None:
            p0 = np.full(M, 1.0 / M) @ self._Pi
            p0 = np.maximum(p0, 0.0)
            p0 /= p0.sum()
            p0.setflags(write=False)
            self._stationary_start = True
        else:
            p0 = _prob_vector("initial", initial, M)
            self._stationary_start = False
        self.initial = p0
        self._cum0 = cumulative(p0)
        self._cum = cumulative(T)
        self._reversal_of = None
        self._exponents = None

    @classmethod
    def all_equal(cls, vocab_size, length) -> "MarkovChain":
        """The chain that repeats its first token: identity transition, uniform start.

        Every two-point MI is ``ln M`` and so is the bipartite MI at every cut.
        """
        M = check_int("vocab_size", vocab_size, 1, VOCAB_MAX)
        _check_vocab_memory("vocab_size", M)
        return cls(np.eye(M), length, initial=np.full(M, 1.0 / M))

    def __repr__(self):
        return f"MarkovChain(vocab_size={self.vocab_size}, length={self.length})"

    # ------------------------------------------------------------------ structure

    @property
    def cesaro(self) -> np.ndarray:
        """The Cesaro projector ``Pi`` of the transition matrix (read-only copy)."""
        return self._Pi.copy()

    @property
    def stationary(self) -> np.ndarray:
        """The stationary law ``pi_u = u Pi`` used by the default start."""
        p = np.full(self.vocab_size, 1.0 / self.vocab_size) @ self._Pi
        p = np.maximum(p, 0.0)
        return p / p.sum()

    @property
    def stationary_unique(self) -> bool:
        """Whether the chain has a single closed class (a unique stationary law)."""
        return self._n_closed == 1

    def second_eigenvalue(self):
        """Eigenvalue of ``T`` of largest modulus besides one eigenvalue 1 (0 when M = 1).

        For an irreducible aperiodic chain two-point MI decays like ``|lambda_2|^(2d)``.
        """
        return _second_eigenvalue(self.transition, self._Pi, self._n_closed)

    def _power_dev(self, d: int) -> np.ndarray:
        """``(T - Pi)^d`` (``d >= 1``)."""
        return np.linalg.matrix_power(self._R, int(d))

    def marginal(self, t) -> np.ndarray:
        """Exact law of ``W_t`` (``initial T^t``)."""
        t = check_position("t", t, self.length)
        p0 = self.initial
        if self._stationary_start or t == 0:
            return np.array(p0)
        p = p0 @ self._Pi + p0 @ self._power_dev(t)
        p = np.maximum(p, 0.0)
        return p / p.sum()

    def entropy_rate(self) -> float:
        """``lim H(W_{0:L}) / L = sum_a pibar_a H(T[a])`` nats/token, ``pibar = initial Pi``."""
        pibar = np.maximum(self.initial @ self._Pi, 0.0)
        return float(pibar @ _row_entropies(self.transition))

    # ------------------------------------------------------------------ information

    def _pair_mi(self, i: int, j: int) -> float:
        a, d = min(i, j), abs(j - i)
        pa = self.marginal(a)
        if d == 0:
            return entropy(pa)
        Rd = self._power_dev(d)
        # T^d = Pi + R^d; deviation D = T^d - 1 p_b with p_b = p_a T^d, without cancellation.
        # With one closed class every row of Pi is pi and Pi - 1 (p_a Pi) = 0 exactly (computed,
        # it would leave a 1e-16 floor from sum(p_a) != 1 in floating point).
        D = Rd - pa @ Rd
        if self._n_closed > 1:
            D = D + (self._Pi - pa @ self._Pi)
        pb = np.maximum(pa @ self._Pi + pa @ Rd, 0.0)
        return _mi_from_deviation(pa, pb, pa[:, None] * D)

    def two_point_mi(self, i, j):
        """Exact ``I(W_i; W_j)`` in nats (0-based; ``H(W_i)`` when ``i == j``).

        ``i`` and ``j`` may be integer arrays (broadcast); an array is returned then.
        """
        return _pairwise(self._pair_mi, i, j, self.length)

    def bipartite_mi(self, cut=None):
        """Exact ``I(W_{0:cut}; W_{cut:L}) = I(W_{cut-1}; W_cut)`` nats (Markov property).

        ``cut`` in ``1..L-1`` (``None``: ``L // 2``); an integer array returns an array.
        """
        cuts, scalar = as_cuts(cut, self.length)
        vals = np.array([self._pair_mi(int(c) - 1, int(c)) for c in cuts.ravel()])
        if scalar:
            return float(vals[0])
        return vals.reshape(np.shape(cut))

    # ------------------------------------------------------------------ sampling / likelihood

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n >= 1`` sequences, int64 of shape ``(n, L)`` (inverse-CDF, numba).

        ``rng``: None, an int seed or a ``numpy.random.Generator``; the same seed gives the
        identical array (one uniform per token, row-major, whatever the thread count).
        """
        n = check_int("n", n, 1)
        check_sampleable(self.length)
        check_memory("n", 8.0 * n * self.length, f"sample({n}) of length {self.length}")
        gen = as_generator(rng)
        L = self.length
        out = np.empty((n, L), dtype=np.int64)
        for r0, r1 in row_blocks(n, L):
            u = gen.random((r1 - r0, L))
            K._sample_chain(u, self._cum0, self._cum, out[r0:r1])
        return out

    def conditional_probs(self, tokens) -> np.ndarray:
        """Exact ``p(w_t = . | w_<t)``: ``initial`` at ``t = 0``, then ``T[w_{t-1}]``.

        ``tokens``: integers in ``0..M-1``, shape ``(n, L)`` or ``(L,)``; returns float64
        ``(n, L, M)`` or ``(L, M)``. Defined for every token sequence (also impossible ones).
        """
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        out = np.empty(X.shape + (self.vocab_size,))
        out[:, 0, :] = self.initial
        out[:, 1:, :] = self.transition[X[:, :-1]]
        return out[0] if one else out

    def position_log_probs(self, tokens) -> np.ndarray:
        """``ln p(w_t | w_<t)`` of the observed tokens, shape ``(n, L)`` (or ``(L,)``);
        ``-inf`` from an impossible token on."""
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        with np.errstate(divide="ignore"):
            lc = np.empty(X.shape)
            lc[:, 0] = np.log(self.initial[X[:, 0]])
            lc[:, 1:] = np.log(self.transition[X[:, :-1], X[:, 1:]])
        return lc[0] if one else lc

    #: Former name of :meth:`position_log_probs` (kept for old code).
    conditional_log_probs = position_log_probs

    # ------------------------------------------------------------------ time reversal

    def _is_stationary(self) -> bool:
        if self._stationary_start:
            return True
        p0 = self.initial
        return bool(np.max(np.abs(p0 @ self.transition - p0)) <= 1e-15)

    def marginals(self) -> np.ndarray:
        """Exact laws of ``W_0..W_{L-1}``, shape ``(L, M)`` (``p_0 Pi + p_0 (T - Pi)^t``, the
        deviation part propagated step by step)."""
        check_sampleable(self.length)
        L, M = self.length, self.vocab_size
        check_memory("length", 8.0 * L * M, f"the {L} marginals of a chain over {M} tokens")
        p0 = np.asarray(self.initial)
        if self._is_stationary():
            return np.broadcast_to(p0, (L, M)).copy()
        base = p0 @ self._Pi
        out = np.empty((L, M))
        out[0] = p0
        q = p0 - base  # p0 (I - Pi); q R^t is the deviation of W_t (R Pi = 0)
        for t in range(1, L):
            q = q @ self._R
            out[t] = np.maximum(base + q, 0.0)
            out[t] /= out[t].sum()
        return out

    def reversed(self):
        """The law of the time-reversed sequence ``W_{L-1}, .., W_0``.

        A stationary start gives a homogeneous chain, ``T'[a, b] = pi_b T[b, a] / pi_a``
        started in ``pi``; any other start gives the exact time-inhomogeneous chain
        (:class:`InhomogeneousMarkovChain`) with ``p(W'_{s+1} = b | W'_s = a) = m_t(b)
        T[b, a] / m_{t+1}(a)``, ``t = L - 2 - s``, started in the law of ``W_{L-1}`` (memory
        ``L M^2``). Reversing twice gives this chain back."""
        if self._reversal_of is not None:
            return self._reversal_of
        if self._is_stationary():
            pi = np.asarray(self.initial)
            Trev = _bayes_reverse(pi[None, :], self.transition[None])[0]
            rev = MarkovChain(Trev, self.length, initial=pi)
            rev._exponents = self.exponents()
        else:
            m = self.marginals()
            check_memory("length", 16.0 * self.length * self.vocab_size**2,
                         f"the reversal of a non-stationary chain of length {self.length}")
            Ts = _bayes_reverse(m[:-1], np.broadcast_to(self.transition, (self.length - 1,)
                                                        + self.transition.shape))
            rev = InhomogeneousMarkovChain(m[-1], Ts[::-1])
            rev._exponents = self.exponents()
        rev._reversal_of = self
        return rev

    def exponents(self) -> Exponents:
        """A finite chain has a bounded ``I_BP <= ln M`` (``beta = 0``, ``"constant"``); its
        two-point MI decays like ``|lambda_2|^(2d)`` (``alpha = inf``), or not at all when
        ``|lambda_2| = 1`` (``alpha = 0``: a reducible or periodic chain)."""
        if self._exponents is not None:
            return self._exponents
        lam = abs(self.second_eigenvalue())
        return Exponents(beta=0.0, alpha=0.0 if lam >= 1.0 - 1e-12 else math.inf,
                         growth="constant")


def _bayes_reverse(m, Ts):
    """Reversed one-step kernels: ``R[t, a, b] = m[t, b] Ts[t, b, a] / sum_b' m[t, b'] Ts[t, b', a]``
    (the law of ``W_t = b`` given ``W_{t+1} = a``); a state of probability zero at ``t + 1``
    gets the uniform row (it is never visited)."""
    R = m[:, None, :] * np.swapaxes(Ts, 1, 2)
    tot = R.sum(axis=2, keepdims=True)
    M = R.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        R = np.where(tot > 0, R / np.where(tot > 0, tot, 1.0), 1.0 / M)
    return np.ascontiguousarray(R)


class InhomogeneousMarkovChain(ProcessBase):
    r"""Time-inhomogeneous finite-state Markov chain: ``W_0 ~ initial`` and
    ``p(W_{t+1} = b | W_t = a) = transitions[t, a, b]``.

    The exact time reversal of a :class:`MarkovChain` with a non-stationary start
    (:meth:`MarkovChain.reversed`) is of this kind. Exact: ``bipartite_mi(c) = I(W_{c-1};
    W_c)`` (Markov property), ``two_point_mi`` from the products of the kernels, the
    conditionals and ``log_prob``. ``reversed()`` is again such a chain (or the chain it was
    reversed from).

    Parameters
    ----------
    initial : array_like, shape (M,)
        Law of ``W_0``.
    transitions : array_like, shape (L - 1, M, M)
        Row-stochastic kernels, one per step.
    """

    channels = 1

    def __init__(self, initial, transitions):
        Ts = as_float_array("transitions", transitions)
        if Ts.ndim != 3 or Ts.shape[1] != Ts.shape[2] or Ts.shape[1] < 1:
            raise ValueError(f"transitions must have shape (L - 1, M, M) with M >= 1, got "
                             f"shape {Ts.shape}")
        M = Ts.shape[1]
        _check_vocab_memory("transitions", M)
        if Ts.shape[0]:
            check_probabilities("transitions", Ts, "stack of row-stochastic (M, M) matrices")
        Ts.setflags(write=False)
        self.transitions = Ts
        self.vocab_size = M
        self.length = Ts.shape[0] + 1
        self.initial = _prob_vector("initial", initial, M)
        self._reversal_of = None
        self._exponents = None

    def __repr__(self):
        return f"InhomogeneousMarkovChain(vocab_size={self.vocab_size}, length={self.length})"

    @cached_property
    def _marginals(self):
        out = np.empty((self.length, self.vocab_size))
        out[0] = self.initial
        for t in range(1, self.length):
            p = np.maximum(out[t - 1] @ self.transitions[t - 1], 0.0)
            out[t] = p / p.sum()
        out.setflags(write=False)
        return out

    def marginal(self, t) -> np.ndarray:
        """Exact law of ``W_t``."""
        return self._marginals[check_position("t", t, self.length)].copy()

    def marginals(self) -> np.ndarray:
        """Exact laws of ``W_0..W_{L-1}``, shape ``(L, M)``."""
        return self._marginals.copy()

    def _pair_mi(self, i: int, j: int) -> float:
        a, b = min(i, j), max(i, j)
        pa = self._marginals[a]
        if a == b:
            return entropy(pa)
        A = np.eye(self.vocab_size)
        for t in range(a, b):
            A = A @ self.transitions[t]
        pb = np.maximum(pa @ A, 0.0)
        return _mi_from_deviation(pa, pb, pa[:, None] * (A - pb[None, :]))

    def two_point_mi(self, i, j):
        """Exact ``I(W_i; W_j)`` nats (``H(W_i)`` when ``i == j``); integer arrays broadcast."""
        return _pairwise(self._pair_mi, i, j, self.length)

    def bipartite_mi(self, cut=None):
        """Exact ``I(W_{0:cut}; W_{cut:L}) = I(W_{cut-1}; W_cut)`` nats (Markov property)."""
        cuts, scalar = as_cuts(cut, self.length)
        vals = np.array([self._pair_mi(int(c) - 1, int(c)) for c in cuts.ravel()])
        return float(vals[0]) if scalar else vals.reshape(np.shape(cut))

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n >= 1`` sequences, int64 ``(n, L)`` (inverse CDF, one uniform per token)."""
        n = check_int("n", n, 1)
        check_memory("n", 16.0 * n * self.length, f"sample({n}) of length {self.length}")
        gen = as_generator(rng)
        u = gen.random((n, self.length))
        out = np.empty((n, self.length), dtype=np.int64)
        out[:, 0] = np.sum(u[:, :1] >= cumulative(self.initial), axis=1)
        for t in range(1, self.length):
            cum = cumulative(self.transitions[t - 1])
            out[:, t] = np.sum(u[:, t:t + 1] >= cum[out[:, t - 1]], axis=1)
        return out

    def conditional_probs(self, tokens) -> np.ndarray:
        """Exact ``p(w_t = . | w_<t)``, float64 ``(n, L, M)`` (or ``(L, M)``)."""
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        out = np.empty(X.shape + (self.vocab_size,))
        out[:, 0, :] = self.initial
        for t in range(1, self.length):
            out[:, t, :] = self.transitions[t - 1][X[:, t - 1]]
        return out[0] if one else out

    def position_log_probs(self, tokens) -> np.ndarray:
        """``ln p(w_t | w_<t)`` of the observed tokens, ``(n, L)`` (or ``(L,)``)."""
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        steps = np.arange(self.length - 1)
        with np.errstate(divide="ignore"):
            lc = np.empty(X.shape)
            lc[:, 0] = np.log(self.initial[X[:, 0]])
            lc[:, 1:] = np.log(self.transitions[steps[None, :], X[:, :-1], X[:, 1:]])
        return lc[0] if one else lc

    def reversed(self):
        """The law of the reversed sequence (exact Bayes reversal of every step)."""
        if self._reversal_of is not None:
            return self._reversal_of
        m = self._marginals
        rev = InhomogeneousMarkovChain(m[-1], _bayes_reverse(m[:-1], self.transitions)[::-1])
        rev._reversal_of = self
        rev._exponents = self._exponents
        return rev

    def exponents(self) -> Exponents:
        """Those of the chain it is the reversal of; otherwise ``I_BP <= ln M`` is bounded
        (``beta = 0``, ``"constant"``) and the two-point exponent has no closed form (nan)."""
        if self._exponents is not None:
            return self._exponents
        return Exponents(beta=0.0, alpha=math.nan, growth="constant")


# ------------------------------------------------------------------------ tree process


class HierarchicalMarkov(ProcessBase):
    r"""Tree (probabilistic-grammar) token process with exact information structure.

    A root symbol ``~ root``; every node with state ``a`` draws its ``b`` children
    independently, child ``c`` from ``K_c[a]``; the ``L = b**levels`` leaves, left to right,
    are the sequence. Leaf ``p`` has base-b digits ``d_1..d_l`` (most significant first):
    ``d_s`` is the child index taken at depth ``s - 1``.

    Parameters
    ----------
    branching : int
        ``b`` in ``2..1024``.
    levels : int
        ``l >= 1`` (``L = b**l <= 2**62``; sampling and likelihoods need ``n * L`` memory).
    kernel : array_like, shape (M, M) or (b, M, M)
        One shared row-stochastic kernel, or one per child position ``c = 0..b-1``.
    root : None or array_like, shape (M,)
        Law of the root. ``None``: ``u Pi`` for the mean kernel ``(1/b) sum_c K_c`` (the
        same rule as :class:`MarkovChain`): with a shared kernel this is its stationary law
        (uniform if the kernel is doubly stochastic), so every node has the root's law.

    Notes
    -----
    * Two-point MI is exact via the lowest common ancestor (LCA) at depth ``D``: the pair
      law is ``sum_a pi_D(a) A_i[a, x] A_j[a, y]`` with ``pi_D`` the LCA's law and ``A_i``
      the product of kernels along the path from the LCA to leaf ``i``.
    * :meth:`two_point_exponent`: ``alpha = -4 log_b |lambda_2|`` (shared kernel).
    * Conditionals and likelihoods are exact by belief propagation along the path to the
      current leaf, O(L M^2 b / (b - 1)) per sequence (numba).
    * :meth:`bipartite_mi` is exact by enumerating the joint law when ``M**L <= ENUM_MAX``
      and raises :class:`~l2m_sim.protocol.NoExactValue` otherwise;
      :meth:`bipartite_mi_estimate` falls back to the Monte-Carlo average of exact
      log-probabilities (any size, with a standard error);
      :meth:`bipartite_mi_bound` is the exact entropy bound.
    """

    channels = 1

    def __init__(self, branching, levels, kernel, root=None):
        b = check_int("branching", branching, 2, BRANCHING_MAX)
        lmax = int(math.floor(math.log(LENGTH_MAX, b) + 1e-9))
        while b ** (lmax + 1) <= LENGTH_MAX:
            lmax += 1
        while b**lmax > LENGTH_MAX:
            lmax -= 1
        lv = check_int("levels", levels, 1, lmax)
        Karr = as_float_array("kernel", kernel)
        if Karr.ndim == 2:
            Ks = np.broadcast_to(Karr, (b,) + Karr.shape)
        elif Karr.ndim == 3 and Karr.shape[0] == b:
            Ks = Karr
        else:
            raise ValueError(f"kernel must be a row-stochastic (M, M) matrix or a stack of {b} of "
                             f"them, shape ({b}, M, M), got shape {Karr.shape}")
        if Ks.shape[1] != Ks.shape[2] or Ks.shape[1] < 1:
            raise ValueError(f"kernel must be square row-stochastic (M, M) matrices with M >= 1, "
                             f"got shape {Karr.shape}")
        _check_vocab_memory("kernel", Ks.shape[1])
        check_probabilities("kernel", Karr, "row-stochastic (M, M) matrix (or a stack of them)")
        Ks = np.ascontiguousarray(Ks, dtype=np.float64)
        Ks.setflags(write=False)
        self.branching = b
        self.levels = lv
        self.length = b**lv
        self.vocab_size = M = Ks.shape[1]
        self.kernels = Ks
        self.shared_kernel = bool(Karr.ndim == 2 or all(np.array_equal(Ks[0], Ks[c]) for c in range(b)))
        self.kernel = np.array(Ks[0]) if self.shared_kernel else None
        if root is None:
            Kbar = Ks.mean(axis=0)
            r = np.full(M, 1.0 / M) @ cesaro_projector(Kbar)
            r = np.maximum(r, 0.0)
            r /= r.sum()
            r.setflags(write=False)
        else:
            r = _prob_vector("root", root, M)
        self.root = r
        self._cum_root = cumulative(r)
        self._cums = np.ascontiguousarray(np.concatenate([cumulative(Ks[c]) for c in range(b)]))

    def __repr__(self):
        return (f"HierarchicalMarkov(branching={self.branching}, levels={self.levels}, "
                f"vocab_size={self.vocab_size}, length={self.length})")

    def reversed(self) -> "HierarchicalMarkov":
        """The process of the reversed sequences (child order reversed at every node)."""
        return HierarchicalMarkov(self.branching, self.levels, self.kernels[::-1].copy(),
                                  root=self.root)

    # ------------------------------------------------------------------ tree geometry

    def _digits(self, p: int) -> list:
        """Base-b digits ``d_1..d_l`` of leaf ``p`` (most significant first)."""
        b, out = self.branching, []
        for _ in range(self.levels):
            p, d = divmod(p, b)
            out.append(d)
        return out[::-1]

    def _path_law(self, digits) -> np.ndarray:
        """Law of the node reached from the root by ``digits``."""
        p = np.array(self.root)
        for d in digits:
            p = p @ self.kernels[d]
        return np.maximum(p, 0.0)

    def marginal(self, t) -> np.ndarray:
        """Exact law of leaf ``W_t``."""
        t = check_position("t", t, self.length)
        p = self._path_law(self._digits(t))
        return p / p.sum()

    def root_entropy(self) -> float:
        """``H(root)`` in nats."""
        return entropy(self.root)

    def second_eigenvalue(self):
        """Eigenvalue of the (shared) kernel of largest modulus besides one eigenvalue 1."""
        if not self.shared_kernel:
            raise ValueError("second_eigenvalue() needs one shared kernel (kernel of shape (M, M))")
        return _second_eigenvalue(self.kernel, *_cesaro(self.kernel))

    def two_point_exponent(self) -> float:
        r"""Two-point exponent ``alpha = -4 log_b |lambda_2|`` of the shared kernel.

        Two leaves whose LCA is ``h`` levels above them are each ``h`` kernel steps from it,
        so their dependence is ``C ~ lambda_2^(2h)`` and ``I ~ |C|^2 / 2 ~ |lambda_2|^(4h)``
        (the small-MI regime: ``I = c^2/2 + O(c^4)`` for a correlation ``c``). Pairs at
        distance ``d`` have ``h >= log_b(d + 1)``, with equality attained, so both the upper
        envelope and the position average of ``I(W_i; W_{i+d})`` decay as ``d^(-alpha)`` up
        to a bounded log-periodic factor (a Jordan block or a complex ``lambda_2`` add a
        polynomial or oscillating factor, not a different exponent). ``inf`` when
        ``lambda_2 = 0`` (distinct leaves independent), ``0`` when ``|lambda_2| = 1`` (a
        reducible or periodic kernel: no decay). Defined for a shared kernel only.
        """
        if not self.shared_kernel:
            raise ValueError("two_point_exponent() is defined for one shared kernel "
                             "(kernel of shape (M, M)), not for per-child kernels")
        lam = abs(self.second_eigenvalue())
        if lam == 0.0:
            return math.inf
        if lam >= 1.0 - 1e-12:
            return 0.0
        return float(-4.0 * math.log(lam) / math.log(self.branching))

    def exponents(self) -> Exponents:
        """``alpha``: :meth:`two_point_exponent` (nan for per-child kernels). ``beta = 0``:
        ``I_BP`` is at most the entropy of the ancestors straddling the cut
        (:meth:`bipartite_mi_bound`); for even ``b`` the middle cut lies between the root's
        subtrees and ``I_BP <= H(root)`` (``growth = "constant"``); for odd ``b`` the
        straddling ancestors number ``~ log_b L`` and the bound grows like ``log L``
        (``growth = "log"``, an upper bound)."""
        alpha = self.two_point_exponent() if self.shared_kernel else math.nan
        return Exponents(beta=0.0, alpha=alpha,
                         growth="constant" if self.branching % 2 == 0 else "log")

    # ------------------------------------------------------------------ two-point MI

    def _descend_dev(self, pi, digits):
        """Path product ``A`` and deviation ``E = A - 1 (pi A)`` along ``digits`` from a node
        with law ``pi``; ``E`` is re-projected after each step (rows sum to 0, ``pi E = 0``)
        so that its rounding error never contains the non-decaying directions."""
        M = self.vocab_size
        E = np.eye(M) - pi[None, :]
        q = np.array(pi)
        for d in digits:
            Kd = self.kernels[d]
            E = E @ Kd
            q = q @ Kd
            E -= E.sum(axis=1, keepdims=True) / M
            E -= pi @ E
        return np.maximum(q, 0.0), E

    @cached_property
    def _nilpotent_index(self):
        """Smallest ``m`` with ``(K - Pi)^m = 0`` for a shared kernel whose deviation part is
        nilpotent (leaves ``>= m`` kernel steps below their LCA are then exactly
        independent); ``None`` otherwise."""
        if not self.shared_kernel or self.second_eigenvalue() != 0.0:
            return None
        K = self.kernel
        R = K - _cesaro(K)[0]
        P = np.eye(len(K))
        for m in range(1, len(K) + 1):
            P = P @ R
            if np.max(np.abs(P)) <= 1e-13:
                return m
        return None  # pragma: no cover - second_eigenvalue() checked R^M

    def _pair_mi(self, i: int, j: int) -> float:
        di, dj = self._digits(i), self._digits(j)
        D = 0
        while D < self.levels and di[D] == dj[D]:
            D += 1
        pi = self._path_law(di[:D])
        pi = pi / pi.sum()
        if D == self.levels:
            return entropy(pi)
        nil = self._nilpotent_index
        if nil is not None and self.levels - D >= nil:
            return 0.0  # exact independence, not a rounding-level value
        qi, Ei = self._descend_dev(pi, di[D:])
        qj, Ej = self._descend_dev(pi, dj[D:])
        C = Ei.T @ (pi[:, None] * Ej)
        return _mi_from_deviation(qi, qj, C)

    def two_point_mi(self, i, j):
        """Exact ``I(W_i; W_j)`` nats via the lowest common ancestor (``H(W_i)`` if ``i == j``).

        ``i`` and ``j`` may be integer arrays (broadcast); an array is returned then.
        """
        return _pairwise(self._pair_mi, i, j, self.length)

    def lca_height(self, i, j) -> int:
        """Levels between leaves ``i, j`` and their lowest common ancestor (0 if ``i == j``)."""
        i = check_position("i", i, self.length)
        j = check_position("j", j, self.length)
        h = 0
        while i != j:
            i //= self.branching
            j //= self.branching
            h += 1
        return h

    # ------------------------------------------------------------------ bipartite MI

    def _straddle_path(self, c: int):
        """Digits from the root to the LCA of leaves ``c - 1`` and ``c`` (the nodes whose
        subtrees contain leaves of both X and Y)."""
        d0, d1 = self._digits(c - 1), self._digits(c)
        D = 0
        while d0[D] == d1[D]:
            D += 1
        return d0[:D]

    def bipartite_mi_bound(self, cut=None) -> float:
        """Exact upper bound ``H(S_0, .., S_D)`` on ``I(X; Y)`` at ``cut``.

        ``S_0..S_D`` are the ancestors straddling the cut (root to the LCA of leaves
        ``cut - 1`` and ``cut``). Given them X and Y are independent, so
        ``I(X; Y) <= I(X; S) <= H(S)``. At a cut between the root's subtrees (``cut`` a
        multiple of ``b**(l-1)``, e.g. the middle cut of a binary tree) it is ``H(root)``.
        """
        c = check_cut(cut, self.length)
        path = self._straddle_path(c)
        p = np.array(self.root)
        h = entropy(p)
        for d in path:
            Kd = self.kernels[d]
            h += float(p @ _row_entropies(Kd))
            p = np.maximum(p @ Kd, 0.0)
        return h

    @cached_property
    def _joint(self) -> np.ndarray:
        """Exact law of all ``M**L`` sequences (index = tokens read as a base-M number,
        first token most significant); only when ``M**L <= ENUM_MAX``."""
        M, b = self.vocab_size, self.branching
        G = np.eye(M)  # G[a, leaves] = p(leaves of a subtree | its root state a)
        for _ in range(self.levels):
            H = [self.kernels[c] @ G for c in range(b)]
            J = H[0]
            for c in range(1, b):
                J = (J[:, :, None] * H[c][:, None, :]).reshape(M, -1)
            G = J
        P = self.root @ G
        P = np.maximum(P, 0.0)
        P /= P.sum()
        return P

    def _enumerable(self) -> bool:
        M, L = self.vocab_size, self.length
        return M == 1 or L * math.log(M) <= math.log(ENUM_MAX) + 1e-12

    def bipartite_mi(self, cut=None):
        """Exact ``I(W_{0:cut}; W_{cut:L})`` nats by enumerating the joint law.

        Feasible when ``M**L <= ENUM_MAX`` (2**20): no polynomial exact algorithm is known
        for a general tree process (the entropy of the leaves of a hidden tree has none).
        Larger processes raise :class:`~l2m_sim.protocol.NoExactValue` (a ``ValueError``):
        use :meth:`bipartite_mi_estimate` (exact log-probabilities averaged by Monte-Carlo,
        with a standard error) or :meth:`bipartite_mi_bound`. ``cut`` in ``1..L-1`` (``None``: ``L // 2``) or an
        integer array of cuts.
        """
        cuts, scalar = as_cuts(cut, self.length)
        if not self._enumerable():
            raise NoExactValue(
                f"exact bipartite_mi() enumerates all M**L = {self.vocab_size}**{self.length} "
                f"sequences and is supported up to M**L <= ENUM_MAX = {ENUM_MAX}; use "
                f"bipartite_mi_estimate(cut) (exact log-probabilities averaged by Monte-Carlo, "
                f"with a standard error) or bipartite_mi_bound(cut)")
        if self.vocab_size == 1:
            vals = np.zeros(cuts.size)
        else:
            P = self._joint
            M, L = self.vocab_size, self.length
            vals = np.empty(cuts.size)
            for k, c in enumerate(cuts.ravel()):
                Pxy = P.reshape(M ** int(c), M ** (L - int(c)))
                px, py = Pxy.sum(axis=1), Pxy.sum(axis=0)
                nz = Pxy > 0
                ratio = Pxy[nz] / np.outer(px, py)[nz]
                vals[k] = max(0.0, float(np.sum(Pxy[nz] * np.log(ratio))))
        if scalar:
            return float(vals[0])
        return vals.reshape(np.shape(cut))

    # ------------------------------------------------------------------ sampling / likelihood

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n >= 1`` sequences, int64 ``(n, L)``, level by level (numba).

        One uniform per node (breadth-first, row-major per sequence); the same seed gives
        the identical array whatever the thread count.
        """
        n = check_int("n", n, 1)
        check_sampleable(self.length)
        check_memory("n", 8.0 * n * self.length, f"sample({n}) of length {self.length}")
        gen = as_generator(rng)
        b, L = self.branching, self.length
        nodes = (b * L - 1) // (b - 1)
        out = np.empty((n, L), dtype=np.int64)
        for r0, r1 in row_blocks(n, nodes):
            u = gen.random((r1 - r0, nodes))
            K._sample_tree(u, self._cum_root, self._cums, b, self.levels, out[r0:r1])
        return out

    def _forward(self, X, want_probs):
        n, L = X.shape
        probs = np.empty((n, L, self.vocab_size) if want_probs else (1, 1, 1))
        logc = np.empty((n, L))
        K._tree_forward(X, self.root, self.kernels, self.branching, self.levels, want_probs,
                        probs, logc)
        return probs, logc

    def conditional_probs(self, tokens) -> np.ndarray:
        """Exact ``p(w_t = . | w_<t)`` by belief propagation, float64 ``(n, L, M)`` (or ``(L, M)``).

        Raises ``ValueError`` if a sequence has probability zero (its later conditionals
        are undefined); :meth:`log_prob` returns ``-inf`` for such sequences instead.
        """
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        probs, logc = self._forward(X, True)
        bad = np.flatnonzero(np.isneginf(logc[:, :-1]).any(axis=1)) if X.shape[1] > 1 else []
        if len(bad):
            r = int(bad[0])
            t = int(np.argmax(np.isneginf(logc[r])))
            raise ValueError(f"tokens: sequence {r} has probability zero (token {t} is impossible "
                             f"given its prefix), so its later conditionals are undefined")
        return probs[0] if one else probs

    def position_log_probs(self, tokens) -> np.ndarray:
        """``ln p(w_t | w_<t)`` of the observed tokens, ``(n, L)`` or ``(L,)`` (``-inf`` from
        the first impossible token on)."""
        X, one = as_token_rows(tokens, self.length, self.vocab_size)
        _, logc = self._forward(X, False)
        return logc[0] if one else logc

    #: Former name of :meth:`position_log_probs` (kept for old code).
    conditional_log_probs = position_log_probs
