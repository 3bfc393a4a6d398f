r"""Finite-state Markov chains with exact information structure.

* :class:`MarkovChain` -- a finite-state Markov chain ``W_0 -> W_1 -> ... -> W_{L-1}``
  with transition matrix ``T`` (``M x M``, row-stochastic). Two-point MI decays
  exponentially (rate set by the second eigenvalue of ``T``), the bipartite MI is the
  one-step MI ``I(W_{c-1}; W_c)`` at every cut (an "area law"), and
  :meth:`MarkovChain.all_equal` is the chain that repeats its first token: two-point MI
  ``ln M`` at every distance, yet ``I_BP = ln M``.
* :class:`InhomogeneousMarkovChain` -- one kernel per step; the exact time reversal of a
  chain with a non-stationary start.

The tree (probabilistic-grammar) process built from Markov kernels is
:class:`l2m_sim.processes.tree.HierarchicalMarkov`; it shares this module's linear algebra
(Cesaro projector, the MI of a pair law from its deviation).

Conventions: positions are 0-based; a cut ``c`` (``1 <= c <= L-1``) puts positions
``0..c-1`` in X and ``c..L-1`` in Y; tokens are int64 in ``0..M-1``; all information is in
nats; ``channels`` is always 1.

**Exactness.** Two-point MI is computed from the *deviation* of the pair law from the
product of its marginals, ``P = m n^T + C``, as ``sum m_x n_y f(C_xy / (m_x n_y))`` with
``f(u) = (1 + u) ln(1 + u) - u >= 0``: every term is non-negative and ``C`` is computed
without cancellation (powers of ``T - Pi`` for chains, projected products along the tree
paths of :mod:`~l2m_sim.processes.tree`), so values far below machine epsilon (1e-30 and
less) keep full relative accuracy.

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
import scipy.sparse
import scipy.sparse.csgraph

from ._kernels import markov as K
from ._base import (SAMPLE_LENGTH_MAX, STOCHASTIC_ATOL, ProcessBase, as_float_array,
                    check_probabilities, check_sampleable, cumulative, entropy, row_blocks)
from .._limits import check_memory
from ..protocol import (Exponents, as_cuts, as_generator, as_positions, as_token_rows, check_int,
                        check_position)

__all__ = [
    "MarkovChain",
    "InhomogeneousMarkovChain",
    "cesaro_projector",
    "STOCHASTIC_ATOL",
    "SAMPLE_LENGTH_MAX",
]

#: Largest supported length (positions are int64; sampling needs n * L int64 of memory).
LENGTH_MAX = 2**62
#: Largest vocabulary (dense ``(M, M)`` matrices; also the tree processes' limit).
VOCAB_MAX = 8192


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
        self._reversal_of = None  # set on a reversal: the chain it reverses
        self._reversed = None  # the reversal, built once on first use
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
        if self._reversed is not None:
            return self._reversed
        if self._is_stationary():
            pi = np.asarray(self.initial)
            Trev = _bayes_reverse(pi[None, :], self.transition[None])[0]
            rev = MarkovChain(Trev, self.length, initial=pi)
        else:
            m = self.marginals()
            check_memory("length", 16.0 * self.length * self.vocab_size**2,
                         f"the reversal of a non-stationary chain of length {self.length}")
            Ts = _bayes_reverse(m[:-1], np.broadcast_to(self.transition, (self.length - 1,)
                                                        + self.transition.shape))
            rev = InhomogeneousMarkovChain(m[-1], Ts[::-1])
        rev._exponents = self.exponents()
        rev._reversal_of = self
        self._reversed = rev
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
        self._cums = np.stack([cumulative(T) for T in Ts]) if len(Ts) else Ts  # sampling tables
        self.vocab_size = M
        self.length = Ts.shape[0] + 1
        self.initial = _prob_vector("initial", initial, M)
        self._reversal_of = None  # set on a reversal: the chain it reverses
        self._reversed = None  # the reversal, built once on first use
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
            out[:, t] = np.sum(u[:, t:t + 1] >= self._cums[t - 1][out[:, t - 1]], axis=1)
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
