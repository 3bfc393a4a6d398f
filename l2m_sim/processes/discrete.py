r"""The discrete sub-volume family: hierarchical copies over a finite alphabet.

Construction
------------
Alphabet ``A = {0, .., M-1}``, branching ``b >= 2``, copies ``1 <= k <= b - 1``, levels
``l >= 1``, length ``L = b**l``. A *b-tuple* ``(x_0, .., x_{b-1})`` has index
``sum_i x_i M**(b-1-i)`` (``x_0`` most significant, numpy's C order of a ``(M,)*b`` array).

* **Level 1** is one row of ``b`` symbols drawn from a base law ``base`` over ``A^b``.
* **Level t** (length ``b**t``) takes ``k`` independent copies ``C_0, .., C_{k-1}`` of the
  level-(t-1) process and ``b**(t-1) * (b - k)`` fresh iid symbols (law ``fresh``). Row
  ``r`` (``0 <= r < b**(t-1)``) is the input tuple
  ``u_r = (C_0[r], .., C_{k-1}[r], f_{r,0}, .., f_{r,b-k-1})`` passed through a fixed
  bijection ``B`` of ``A^b`` (``bijection[index(u)] = index(B(u))``), and row ``r`` fills
  positions ``r*b .. r*b + b - 1`` (row-major, as in the Gaussian family). So position
  ``p`` has base-b digits ``p = sum_t d_t b**(l-t)``: ``d_l = p mod b`` is the column at the
  top level, ``d_1`` the column of the base row.

The map from (base rows, fresh symbols) to the sequence is a bijection, so
``p(w) = prod_base_rows base(row) * prod_fresh fresh(f)`` after inverting every row, which
gives the exact ``log_prob`` in O(L).

Exact bipartite MI
------------------
Write ``h_t(c)`` for the entropy of the first ``c`` symbols of the level-t process. If
``b | c``, the first ``c/b`` rows are, through the row bijections, the first ``c/b``
symbols of each copy plus ``(c/b)(b-k)`` fresh symbols, all independent, so
``h_t(c) = k h_{t-1}(c/b) + (c/b)(b-k) H(fresh)``. The suffix ``Y`` (the last
``L - c`` symbols, also whole rows) obeys the same identity with the copies' suffixes. In
``I = h(X) + h(Y) - H(W)`` the fresh terms cancel (``c/b + (L-c)/b - L/b = 0``):

    **I_t(c) = k I_{t-1}(c / b)  whenever b divides c.**

Repeating while ``b | c`` (at most down to level 1) gives ``I_l(j b**(l-1)) = k**(l-1) I_1(j)``
with ``I_1(j) = I(first j base symbols; last b - j)`` computed exactly from the base table.
For even ``b`` the middle cut ``L/2 = (b/2) b**(l-1)`` is of this form, hence
``I_BP = k**(l-1) I_1`` exactly and ``beta = log_b k``. A cut that reduces to a level-t cut
inside a row (``t >= 2``) is computed exactly by enumerating the level-t law when it has at
most ``ENUM_MAX`` sequences (``M**(b**t)``); any other cut raises ``NoExactValue``
(:meth:`HierarchicalDiscrete.supported_cuts` lists the exact ones;
:meth:`HierarchicalDiscrete.bipartite_mi_estimate` estimates any cut from exact log-probabilities).
For odd ``b`` the default cut ``L // 2`` falls inside a row: it is exact only for small ``L``.

Exact conditionals and two-point MI
-----------------------------------
Given the past, the copies' symbols at row ``r`` are independent with laws
``q_m = p(C_m[r] | C_m[<r])`` (the copies' own conditionals, computed recursively on their
own pasts, which are known by inverting the complete rows), and the fresh symbols are
independent of everything. So the law of row ``r`` given the past is
``B_*(q_0 x .. x q_{k-1} x fresh^(b-k))`` and the conditional of each entry given the
earlier entries of the row is a ratio of sums of that law over the tuples that agree with
the observed prefix of the row: one pass over the ``M**b`` tuples per row. The tree has
about ``L / (b - k)`` rows in all, so O(L M**b / (b - k)) per sequence (message passing over
the tree of copies), with O(L M b / (b - k)) memory per sequence.

The pair law follows the digits: if positions ``p = r b + i`` and ``q = s b + j`` lie in
different rows (``r != s``), ``pi_t(p, q) = G_i pi_{t-1}(r, s)^{(x) k} G_j^T`` with
``G_i[x, c] = P(entry i of B(c, f) = x)`` over the fresh tuple ``f``; in the same row it is
the (i, j) marginal of ``B_*(mu_{t-1}(r)^{(x) k} x fresh^(b-k))``; at level 1 it is a
marginal of the base table. ``mu_t(p) = G_i mu_{t-1}(r)^{(x) k}``. Cost O(l k M**(k+2)).
"""

from __future__ import annotations

import math
from functools import cached_property

import numba
import numpy as np

from ._kernels import discrete as K
from ._base import ProcessBase, as_float_array, check_probabilities, cumulative, entropy
from .._limits import check_memory
from ..protocol import (Exponents, NoExactValue, as_cuts, as_token_rows, as_generator, check_cut,
                       check_float, check_int, check_position, clip_rounding)

__all__ = [
    "HierarchicalDiscrete",
    "noisy_copy_base",
    "DEFAULT_NOISE",
    "TUPLES_MAX",
    "ENUM_MAX",
]

#: Largest number of b-tuples ``M**b`` (the bijection table and per-row work scale with it).
TUPLES_MAX = 2**16
#: Largest number of sequences ``M**(b**t)`` of a level that is enumerated for an exact MI.
ENUM_MAX = 2**18
#: Largest length ``b**levels``.
LENGTH_MAX = 2**30
#: Largest branching (``alphabet**branching <= TUPLES_MAX`` with ``alphabet >= 2``).
BRANCHING_MAX = 16
#: Noise of the default base law (see :func:`noisy_copy_base`).
DEFAULT_NOISE = 0.25
_ENUM_CHUNK = 2**15


def noisy_copy_base(branching, alphabet, noise=DEFAULT_NOISE) -> np.ndarray:
    """The default base law: noisy-copy pairs across the middle of the row.

    With ``h = b // 2`` and ``s = b - h`` (``ceil(b/2)``), symbols ``i`` and ``i + s``
    (``i < h``) form independent pairs with ``P(x, y) = ((1 - noise) [x = y] + noise / M) / M``:
    ``x`` is uniform and ``y`` is a copy of ``x`` replaced by a uniform symbol with probability
    ``noise``. For odd ``b`` the middle symbol ``h`` is an independent uniform symbol (so the
    law is symmetric under reversing the row). Every symbol is marginally uniform and

        I(pair) = ln M + a ln a + (M - 1) e ln e,   a = 1 - noise + noise/M,  e = noise/M,

    so ``I_1(j) = n_j I(pair)`` with ``n_j = #{i < h : i < j <= i + s}`` the number of pairs
    split by cut ``j`` (``n_{b//2} = b // 2``). ``noise`` must be in ``[0, 1)``
    (``noise = 1`` makes every symbol independent).

    Returns
    -------
    ndarray, shape ``(M,) * b``, float64, summing to 1.
    """
    b = check_int("branching", branching, 2, BRANCHING_MAX)
    M = check_int("alphabet", alphabet, 2, TUPLES_MAX)
    if b * math.log(M) > math.log(TUPLES_MAX) + 1e-9:
        raise ValueError(f"alphabet**branching (the size of the base law) must be <= "
                         f"{TUPLES_MAX}, got {M}**{b}")
    eps = _check_noise(noise)
    pair = np.full((M, M), eps / M / M)
    pair[np.diag_indices(M)] += (1.0 - eps) / M
    h = b // 2
    # axes: (x_0..x_{h-1}) then (y_0..y_{h-1}) pairs, then optional last uniform symbol
    T = np.ones(())
    for _ in range(h):
        T = np.multiply.outer(T, pair)  # axes (x_0, y_0, x_1, y_1, ...)
    if b % 2:
        T = np.multiply.outer(T, np.full(M, 1.0 / M))  # axis 2h: the middle symbol
    # output axis a takes tensor axis: x_i (a = i < h) -> 2i, middle (a = h, odd b) -> 2h,
    # y_i (a = i + s) -> 2i + 1
    src = [2 * i for i in range(h)] + ([2 * h] if b % 2 else []) + [2 * i + 1 for i in range(h)]
    return np.ascontiguousarray(np.transpose(T, src))


def _check_noise(noise):
    return check_float("noise (1 makes the halves independent)", noise, 0.0, 1.0, hi_open=True)


def _check_law(name, arr, shape):
    """Validate a probability table of ``shape`` (finite, non-negative, summing to 1 within
    ``STOCHASTIC_ATOL``); return it as float64, renormalised."""
    a = as_float_array(name, arr)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    check_probabilities(name, a, f"probability table of shape {shape} (summing to 1)", axis=None)
    return a / a.sum()


def _xlogy_ratio(P, Q):
    """sum P log(P / Q) over P > 0."""
    m = P > 0
    return float(np.sum(P[m] * np.log(P[m] / Q[m])))  # log of the ratio: no cancellation


def _table_mi(P2):
    """Exact MI (nats) of a 2-D joint table."""
    # sums along contiguous rows use numpy's pairwise summation (a strided column sum
    # accumulates sequentially: ~sqrt(n) eps relative error, visible on small MI)
    px = np.ascontiguousarray(P2).sum(axis=1)
    py = np.ascontiguousarray(P2.T).sum(axis=1)
    return clip_rounding(_xlogy_ratio(P2, np.multiply.outer(px, py)))


class HierarchicalDiscrete(ProcessBase):
    """Discrete hierarchical copy process: tokens with ``I_BP = k**(l-1) I_1`` exactly.

    Parameters
    ----------
    branching : int
        ``b >= 2``.
    copies : int
        ``k`` with ``1 <= k <= b - 1``; ``beta = log_b k``.
    levels : int
        ``l >= 1``; ``L = b**l`` (at most 2**30).
    alphabet : int
        ``M >= 2`` (the vocabulary size); ``M**b <= TUPLES_MAX`` (2**16).
    base : None or array_like, shape ``(M,) * b``
        Law of the level-1 row (validated: finite, non-negative, sums to 1, and not a
        product law, i.e. ``I_1(j) = I(first j symbols; rest) > 0`` for some cut ``j``). ``None``: :func:`noisy_copy_base` with ``noise``.
    noise : None or float in [0, 1)
        Noise of the default base (``None``: ``DEFAULT_NOISE`` = 0.25); only with ``base=None``.
    fresh : None or array_like, shape ``(M,)``
        Law of the fresh symbols (``None``: uniform).
    bijection : None, "random", "identity" or array_like of int, shape ``(M**b,)``
        The row map as a permutation of tuple indices, ``bijection[index(u)] = index(B(u))``
        with the input tuple ``u = (copies.., fresh..)``. ``None``/``"random"``: a uniformly
        random permutation drawn with ``seed``; ``"identity"``: row = (copies.., fresh..).
    seed : int
        Seed of the random bijection (default 0: the same design every time).

    Attributes
    ----------
    length, vocab_size (= alphabet), channels (= 1), beta (= log_b k), base, fresh,
    bijection, inverse (the inverse permutation).

    Examples
    --------
    >>> p = HierarchicalDiscrete(branching=4, copies=3, levels=5, alphabet=2)
    >>> round(p.bipartite_mi() / HierarchicalDiscrete(4, 3, 4, 2).bipartite_mi(), 12)
    3.0
    """

    channels = 1

    def __init__(self, branching=4, copies=3, levels=4, alphabet=2, base=None, noise=None,
                 fresh=None, bijection=None, seed=0):
        b = check_int("branching", branching, 2, BRANCHING_MAX)
        k = check_int("copies", copies, 1, b - 1)
        M = check_int("alphabet", alphabet, 2, TUPLES_MAX)
        if b * math.log(M) > math.log(TUPLES_MAX) + 1e-9:
            raise ValueError(f"alphabet**branching (the number of b-tuples) must be <= {TUPLES_MAX}, "
                             f"got {M}**{b} = {M ** b}")
        lmax = int(math.floor(math.log(LENGTH_MAX) / math.log(b) + 1e-9))
        lv = check_int("levels", levels, 1, lmax)
        seed = check_int("seed", seed, 0)
        self.branching, self.copies, self.levels, self.alphabet = b, k, lv, M
        self.vocab_size = M
        self.length = b ** lv
        self.seed = seed
        MB = M ** b
        # base law
        if base is None:
            self.noise = DEFAULT_NOISE if noise is None else _check_noise(noise)
            B0 = noisy_copy_base(b, M, self.noise)
        else:
            if noise is not None:
                raise ValueError("give either base or noise (noise only shapes the default base)")
            self.noise = None
            B0 = _check_law("base", base, (M,) * b)
        self.base = B0
        self.base.setflags(write=False)
        i1 = max(self._base_mi_table(j) for j in range(1, b))
        if not i1 > 1e-14:
            raise ValueError("base must not be a product law: I(first j symbols; the rest) must be "
                             f"> 0 for some cut j (otherwise every bipartite MI is 0), got max {i1!r}")
        # fresh law
        if fresh is None:
            fr = np.full(M, 1.0 / M)
        else:
            fr = _check_law("fresh", fresh, (M,))
        self.fresh = fr
        self.fresh.setflags(write=False)
        # bijection
        if bijection is None or (isinstance(bijection, str) and bijection == "random"):
            perm = np.random.default_rng(seed).permutation(MB).astype(np.int64)
            self._bij_kind = "random"
        elif isinstance(bijection, str):
            if bijection != "identity":
                raise ValueError(f"bijection must be None, 'random', 'identity' or a permutation "
                                 f"of range({MB}), got {bijection!r}")
            perm = np.arange(MB, dtype=np.int64)
            self._bij_kind = "identity"
        else:
            perm = np.asarray(bijection)
            if perm.dtype.kind not in "iu":
                raise TypeError(f"bijection must be an integer array (a permutation of range({MB})), "
                                f"got dtype {perm.dtype}")
            if perm.shape != (MB,):
                raise ValueError(f"bijection must have shape ({MB},) = (alphabet**branching,), "
                                 f"got {perm.shape}")
            perm = perm.astype(np.int64)
            if perm.min() < 0 or perm.max() > MB - 1 or np.unique(perm).size != MB:
                raise ValueError(f"bijection must be a permutation of range({MB}) "
                                 "(every tuple index exactly once)")
            self._bij_kind = "custom"
        self.bijection = perm
        self.bijection.setflags(write=False)
        inv = np.empty(MB, dtype=np.int64)
        inv[perm] = np.arange(MB)
        self.inverse = inv
        self.inverse.setflags(write=False)
        # digit tables: odig[u] = digits of B(u), idig[v] = digits of B^{-1}(v)
        self._odig = np.ascontiguousarray(_digits(perm, M, b).astype(np.uint8 if M <= 256 else np.int32))
        self._idig = np.ascontiguousarray(_digits(inv, M, b).astype(self._odig.dtype))
        # tree layout (index s = level, 0 unused)
        self._lens = np.array([b ** s for s in range(lv + 1)], dtype=np.int64)
        self._nodes = np.array([k ** (lv - s) if s >= 1 else 0 for s in range(lv + 1)], dtype=np.int64)
        sizes = self._nodes * self._lens
        sizes[0] = 0
        self._soff = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._total = int(sizes.sum())
        self._n_fresh = int(sum(self._nodes[s] * self._lens[s - 1] * (b - k) for s in range(2, lv + 1)))
        self._base_flat = np.ascontiguousarray(self.base.ravel())
        with np.errstate(divide="ignore"):
            self._base_logp = np.log(self._base_flat)
            self._fresh_logp = np.log(self.fresh)
        self._base_cdf = cumulative(self._base_flat)[0]
        self._fresh_cdf = cumulative(self.fresh)[0]
        # block sums of the base table along every prefix length (level-1 conditionals)
        ps = [self._base_flat.reshape(M ** i, M ** (b - i)).sum(axis=1) for i in range(b + 1)]
        self._psum_off = np.concatenate([[0], np.cumsum([x.size for x in ps])]).astype(np.int64)
        self._psum = np.concatenate(ps)
        self._memo_mu = {}
        self._memo_pair = {}
        self._tables = {}

    # ------------------------------------------------------------------ basics

    def __repr__(self):
        bij = {"random": f"bijection='random', seed={self.seed}", "identity": "bijection='identity'",
               "custom": "bijection=<custom>"}[self._bij_kind]
        base = f"noise={self.noise}" if self.noise is not None else "base=<custom>"
        return (f"HierarchicalDiscrete(branching={self.branching}, copies={self.copies}, "
                f"levels={self.levels}, alphabet={self.alphabet}, {base}, {bij})")

    @property
    def beta(self) -> float:
        """Bipartite exponent ``log_b k`` (``I_BP ~ L**beta``; 0 for ``k = 1``: a constant)."""
        return math.log(self.copies) / math.log(self.branching)

    def _with(self, levels=None, base=None, bijection=None):
        same_base = base is None and self.noise is not None
        new = HierarchicalDiscrete(self.branching, self.copies,
                                   self.levels if levels is None else levels, self.alphabet,
                                   base=None if same_base else (self.base if base is None else base),
                                   noise=self.noise if same_base else None, fresh=self.fresh,
                                   bijection=self.bijection if bijection is None else bijection)
        if bijection is None:  # same design: keep its description
            new._bij_kind, new.seed = self._bij_kind, self.seed
        return new

    def sublevel(self, t) -> "HierarchicalDiscrete":
        """The level-t process (same base, fresh law and bijection), length ``b**t``."""
        t = check_int("t", t, 1, self.levels)
        return self._with(levels=t)

    def reversed(self) -> "HierarchicalDiscrete":
        """The law of the time-reversed sequence, again in the family.

        Reversing maps row ``r`` to row ``R-1-r`` with its entries reversed, and each copy to
        its own reversal: the base table with reversed axes and the bijection followed by
        reversing the output tuple.
        """
        b, M = self.branching, self.alphabet
        base = np.ascontiguousarray(np.transpose(self.base, tuple(range(b - 1, -1, -1))))
        digits = _digits(self.bijection, M, b)[:, ::-1]
        perm = _index(digits, M)
        return self._with(base=base, bijection=perm)

    # ------------------------------------------------------------------ sampling

    def _uniforms(self, gen, n):
        ub = gen.random((n, int(self._nodes[1])))
        uf = gen.random((n, self._n_fresh))
        return ub, uf

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n`` sequences.

        Parameters
        ----------
        n : int
            Number of sequences, ``n >= 1``.
        rng : None, int or numpy.random.Generator
            The same seed gives the identical array (whatever the number of numba threads):
            each sequence uses its own ``k**(l-1)`` uniforms for the base rows and one
            uniform per fresh symbol, both by inverse CDF.

        Returns
        -------
        ndarray, int64, shape ``(n, L)``.
        """
        n = check_int("n", n, 1)
        check_memory("n", 24.0 * n * self.length, f"sample({n}) of length {self.length}")
        gen = as_generator(rng)
        ub, uf = self._uniforms(gen, n)
        out = np.empty((n, self.length), dtype=np.int64)
        return K.sample_tree(ub, uf, self.branching, self.copies, self.alphabet, self._nodes,
                             self._lens, self._soff, self._total, self._base_cdf,
                             self._fresh_cdf, self._odig, out, _nchunk())

    def _sample_numpy(self, n, rng=None) -> np.ndarray:
        """Plain-numpy reference sampler (level by level), same random numbers as :meth:`sample`."""
        n = check_int("n", n, 1)
        gen = as_generator(rng)
        ub, uf = self._uniforms(gen, n)
        b, k, M = self.branching, self.copies, self.alphabet
        rows = np.searchsorted(self._base_cdf, ub, side="right")  # (n, N1)
        seq = _digits(rows, M, b).reshape(n, -1, b)  # (n, nodes, b)
        fpos = 0
        for s in range(2, self.levels + 1):
            Lc = b ** (s - 1)
            N = int(self._nodes[s])
            child = seq.reshape(n, N, k, Lc)
            nf = N * Lc * (b - k)
            f = np.searchsorted(self._fresh_cdf, uf[:, fpos:fpos + nf], side="right")
            fpos += nf
            f = f.reshape(n, N, Lc, b - k)
            u = np.zeros((n, N, Lc), dtype=np.int64)
            for m in range(k):
                u = u * M + child[:, :, m, :]
            for j in range(b - k):
                u = u * M + f[..., j]
            v = self.bijection[u]
            seq = _digits(v, M, b).reshape(n, N, Lc * b)
        return seq.reshape(n, self.length).astype(np.int64)

    # ------------------------------------------------------------------ likelihood

    def log_prob(self, tokens):
        """Exact log-probability (nats) of each sequence, shape ``(n,)`` (a float for ``(L,)``).

        O(L) per sequence: invert every row and add the base-row and fresh log-probabilities
        (``-inf`` for a sequence outside the support).
        """
        T, single = as_token_rows(tokens, self.length, self.alphabet)
        out = K.log_prob_tree(T, self.branching, self.copies, self.alphabet, self._nodes,
                              self._lens, self._soff, self._total, self._idig,
                              self._fresh_logp, self._base_logp, _nchunk())
        return float(out[0]) if single else out

    def _cond(self, T, full):
        n, L, M = T.shape[0], self.length, self.alphabet
        out_full = np.empty((n, L, M) if full else (0, 0, 0))
        out_obs = np.empty((0, 0) if full else (n, L))
        bad = np.zeros(n, dtype=np.bool_)
        K.cond_tree(T, self.branching, self.copies, M, self._nodes, self._lens, self._soff,
                    self._total, self._idig, self._odig, self.fresh, self._fresh_logp,
                    self._psum, self._psum_off, full, out_full, out_obs, bad, _nchunk())
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"tokens[{i}] has a zero-probability prefix: p(w_t | w_<t) is undefined "
                             "after it (log_prob gives -inf for such sequences)")
        return out_full if full else out_obs

    def conditional_probs(self, tokens) -> np.ndarray:
        """Exact ``p(w_t = . | w_<t)`` for every position, shape ``(n, L, M)`` (``(L, M)`` for ``(L,)``).

        Message passing over the tree of copies, O(L M**b / (b - k)) per sequence. Raises
        ``ValueError`` if a sequence has a zero-probability prefix (conditionals undefined).
        """
        T, single = as_token_rows(tokens, self.length, self.alphabet)
        out = self._cond(T, True)
        return out[0] if single else out

    def position_log_probs(self, tokens) -> np.ndarray:
        """Exact ``log p(w_t | w_<t)`` of the observed tokens, shape ``(n, L)`` (``(L,)`` for ``(L,)``)."""
        T, single = as_token_rows(tokens, self.length, self.alphabet)
        out = self._cond(T, False)
        return out[0] if single else out

    # ------------------------------------------------------------------ entropy

    def exponents(self) -> Exponents:
        """``beta = log_b k`` (``I_BP ~ L^beta``, exactly at the cuts ``j b**(l-1)``;
        ``growth = "power"``, or ``"constant"`` for ``k = 1``); the two-point exponent has
        no closed form here (``alpha = nan``: :meth:`two_point_mi` is exact pair by pair)."""
        return Exponents(beta=self.beta, alpha=math.nan,
                         growth="power" if self.copies > 1 else "constant")

    def entropy(self) -> float:
        """Exact ``H(W_1..W_L)`` in nats: ``L H(fresh) - k**(l-1) (b H(fresh) - H(base))``.

        (Unrolling ``H_t = k H_{t-1} + (b - k) b**(t-1) H(fresh)``, ``H_1 = H(base)``.)
        """
        b, k, l = self.branching, self.copies, self.levels
        hf = entropy(self.fresh)
        return self.length * hf - k ** (l - 1) * (b * hf - entropy(self.base))

    # ------------------------------------------------------------------ bipartite MI

    def _base_mi_table(self, j):
        M, b = self.alphabet, self.branching
        return _table_mi(self.base.reshape(M ** j, M ** (b - j)))

    def base_mi(self, cut=None) -> float:
        """Exact ``I_1(j)``: MI of the first ``j`` base symbols with the rest (default ``b // 2``)."""
        j = check_cut(cut, self.branching)
        return self._base_mi_table(j)

    def _reduce_cut(self, c):
        """(level t, level-t cut, multiplier k**m) with ``c = c_t b**m``; stops at level 1."""
        b, k = self.branching, self.copies
        t, mult = self.levels, 1
        while t > 1 and c % b == 0:
            c //= b
            mult *= k
            t -= 1
        return t, c, mult

    def _enumerable(self, t):
        return self.branching ** t * math.log(self.alphabet) <= math.log(ENUM_MAX) + 1e-9

    def supported_cuts(self) -> np.ndarray:
        """All cuts (1..L-1) at which :meth:`bipartite_mi` is exact (sorted).

        Cuts ``j * b**m`` reduce to level ``l - m``; they are supported when that level is 1
        (any ``j``) or has at most ``ENUM_MAX`` sequences. Always includes ``j * b**(l-1)``.
        """
        # a cut is supported iff b**(levels - tmax) divides it
        step = self.branching ** (self.levels - self._max_enum_level())
        return np.arange(step, self.length, step, dtype=np.int64)

    def bipartite_mi(self, cut=None):
        """Exact ``I(W_{1:cut}; W_{cut+1:L})`` in nats (``cut=None``: ``L // 2``).

        ``I_l(c) = k**m I_{l-m}(c / b**m)`` with ``b**m`` the largest power of ``b`` dividing
        ``c`` (at most ``b**(l-1)``); the reduced cut is exact from the base table (level 1) or
        by enumerating the reduced level when it has at most ``ENUM_MAX`` sequences. Other
        cuts raise ``NoExactValue`` (see :meth:`supported_cuts`, :meth:`bipartite_mi_estimate`). An
        integer array of cuts returns an array.
        """
        cuts, scalar = as_cuts(cut, self.length)
        if not scalar:
            return np.array([self.bipartite_mi(int(c)) for c in cuts.ravel()]).reshape(cuts.shape)
        c = int(cuts[0])
        t, ct, mult = self._reduce_cut(c)
        if t == 1:
            return mult * self._base_mi_table(ct)
        if not self._enumerable(t):
            b, l = self.branching, self.levels
            raise NoExactValue(
                f"cut {c} reduces to cut {ct} inside a row of the level-{t} process, which is too "
                f"large to enumerate ({self.alphabet}**{b ** t} sequences > ENUM_MAX = {ENUM_MAX}); "
                f"exact cuts are the multiples of {b ** (l - self._max_enum_level())} "
                f"(always the multiples of b**(l-1) = {b ** (l - 1)}); "
                "use bipartite_mi_estimate for a Monte-Carlo estimate at any cut")
        if t not in self._tables:
            self._tables[t] = self._level_table(t)
        P = self._tables[t]
        M = self.alphabet
        return mult * _table_mi(P.reshape(M ** ct, M ** (self.branching ** t - ct)))

    def _max_enum_level(self):
        tmax = 1
        while tmax < self.levels and self._enumerable(tmax + 1):
            tmax += 1
        return tmax

    def _level_table(self, t):
        """Probabilities of all ``M**(b**t)`` level-t sequences (C order), by exact log_prob."""
        sub = self.sublevel(t)
        L, M = sub.length, self.alphabet
        N = M ** L
        P = np.empty(N)
        powers = M ** np.arange(L - 1, -1, -1, dtype=np.int64)
        for s0 in range(0, N, _ENUM_CHUNK):
            idx = np.arange(s0, min(N, s0 + _ENUM_CHUNK), dtype=np.int64)
            toks = (idx[:, None] // powers[None, :]) % M
            P[s0:s0 + idx.size] = np.exp(sub.log_prob(toks))
        return P

    # ------------------------------------------------------------------ two-point

    @cached_property
    def _G(self):
        """``G[i, x, c] = P(entry i of B(c, f) = x)``, fresh tuple ``f`` marginalised."""
        b, k, M = self.branching, self.copies, self.alphabet
        MB, MK, MF = M ** b, M ** k, M ** (b - k)
        u = np.arange(MB)
        c, f = u // MF, u % MF
        pf = _tuple_law(self.fresh, b - k)
        d = _digits(self.bijection, M, b)  # output digits of B(u)
        G = np.empty((b, M, MK))
        for i in range(b):
            G[i] = np.bincount(d[:, i] * MK + c, weights=pf[f], minlength=M * MK).reshape(M, MK)
        return G

    def _row_input_law(self, mu):
        """Law of the input tuple (copies iid ``mu``, fresh iid) over ``M**b`` indices."""
        b, k = self.branching, self.copies
        return np.multiply.outer(_tuple_law(mu, k), _tuple_law(self.fresh, b - k)).ravel()

    def _mu(self, t, p):
        key = (t, p)
        if key in self._memo_mu:
            return self._memo_mu[key]
        b, k = self.branching, self.copies
        if t == 1:
            axes = tuple(a for a in range(b) if a != p)
            val = self.base.sum(axis=axes)
        else:
            r, i = divmod(p, b)
            val = self._G[i] @ _tuple_law(self._mu(t - 1, r), k)
        self._memo_mu[key] = val
        return val

    def _pair(self, t, p, q):
        """Joint law of positions p != q of the level-t process, shape (M, M) (p axis first)."""
        key = (t, p, q)
        if key in self._memo_pair:
            return self._memo_pair[key]
        b, k, M = self.branching, self.copies, self.alphabet
        if t == 1:
            axes = tuple(a for a in range(b) if a not in (p, q))
            val = self.base.sum(axis=axes)
            if p > q:
                val = val.T
        else:
            r, i = divmod(p, b)
            s, j = divmod(q, b)
            if r == s:
                w = self._row_input_law(self._mu(t - 1, r))
                d = _digits(self.bijection, M, b)
                val = np.bincount(d[:, i] * M + d[:, j], weights=w, minlength=M * M).reshape(M, M)
            else:
                pi = self._pair(t - 1, r, s)
                Z = self._G[j].reshape((M,) * (k + 1))
                for _ in range(k):
                    Z = np.tensordot(Z, pi, axes=([1], [1]))
                val = self._G[i] @ Z.reshape(M, M ** k).T
        self._memo_pair[key] = val
        return val

    def marginal(self, i) -> np.ndarray:
        """Exact law of ``W_i`` (0-based), shape ``(M,)``."""
        i = check_position("i", i, self.length)
        return self._mu(self.levels, i).copy()

    def pair_law(self, i, j) -> np.ndarray:
        """Exact joint law of ``(W_i, W_j)``, shape ``(M, M)`` (diagonal matrix if ``i == j``)."""
        i = check_position("i", i, self.length)
        j = check_position("j", j, self.length)
        if i == j:
            return np.diag(self._mu(self.levels, i))
        return self._pair(self.levels, i, j).copy()

    def two_point_mi(self, i, j):
        """Exact ``I(W_i; W_j)`` in nats (``H(W_i)`` if ``i == j``); arrays broadcast.

        Digit recursion on the pair law, O(l k M**(k+2)) per pair (memoised).
        """
        if np.ndim(i) == 0 and np.ndim(j) == 0:
            i = check_position("i", i, self.length)
            j = check_position("j", j, self.length)
            if i == j:
                return entropy(self._mu(self.levels, i))
            return _table_mi(self._pair(self.levels, i, j))
        for name, a in (("i", i), ("j", j)):
            if np.asarray(a).dtype.kind not in "iu":
                raise TypeError(f"{name} must be an integer position, got dtype {np.asarray(a).dtype}")
        ii, jj = np.broadcast_arrays(np.asarray(i), np.asarray(j))
        return np.array([self.two_point_mi(int(a), int(c)) for a, c in zip(ii.ravel(), jj.ravel())]
                        ).reshape(ii.shape)


def _nchunk():
    """Chunks of sequences handed to the numba threads (a few per thread; each chunk
    reuses one scratch tree). Results do not depend on it."""
    return 4 * numba.get_num_threads()


def _digits(idx, M, b):
    """Base-M digits (most significant first) of integer array ``idx``, shape ``idx.shape + (b,)``."""
    idx = np.asarray(idx, dtype=np.int64)
    powers = M ** np.arange(b - 1, -1, -1, dtype=np.int64)
    return (idx[..., None] // powers) % M


def _index(digits, M):
    """Inverse of :func:`_digits` along the last axis."""
    b = digits.shape[-1]
    powers = M ** np.arange(b - 1, -1, -1, dtype=np.int64)
    return (np.asarray(digits, dtype=np.int64) * powers).sum(axis=-1)


def _tuple_law(p, n):
    """Law of ``n`` iid symbols with law ``p`` over ``M**n`` tuple indices (C order)."""
    out = np.ones(1)
    for _ in range(n):
        out = np.multiply.outer(out, p).ravel()
    return out
