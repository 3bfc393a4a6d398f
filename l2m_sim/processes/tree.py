r"""Tree (probabilistic-grammar) token processes with exact information structure.

:class:`HierarchicalMarkov`: a root symbol, every node draws ``b`` children independently
through a Markov kernel, and the ``L = b**levels`` leaves are the sequence. Two-point MI
decays as a power law, ``I_TP ~ d^(-alpha)`` with ``alpha = -4 log_b |lambda_2|``; the
bipartite MI at a cut is bounded by the entropy of the ancestors that straddle the cut
(the root entropy at the middle cut of a binary tree), and is exact by enumeration of the
joint law when it is small enough, by Monte-Carlo from exact log-probabilities otherwise.

Conventions as in :mod:`l2m_sim.processes.markov` (whose linear algebra this module
uses): 0-based positions, int64 tokens in ``0..M-1``, nats, ``channels`` always 1.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from ._kernels import markov as K
from ._base import (ProcessBase, as_float_array, check_probabilities, check_sampleable,
                    cumulative, entropy, row_blocks)
from .._limits import check_memory
from ..protocol import (Exponents, NoExactValue, as_cuts, as_generator, as_token_rows, check_cut,
                        check_int, check_position)
from .markov import (LENGTH_MAX, _cesaro, _check_vocab_memory, _mi_from_deviation, _pairwise,
                     _prob_vector, _row_entropies, _second_eigenvalue, cesaro_projector)

__all__ = ["HierarchicalMarkov", "ENUM_MAX", "BRANCHING_MAX"]

#: Largest branching of a tree process.
BRANCHING_MAX = 1024
#: Largest number of sequences ``M**L`` for which the bipartite MI is computed exactly by
#: enumerating the joint law (``8 * ENUM_MAX`` bytes).
ENUM_MAX = 2**20


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
