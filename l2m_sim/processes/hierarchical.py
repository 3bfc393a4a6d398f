"""The hierarchical Gaussian family: sub-volume bipartite MI, exactly.

Construction (level 0 is one N(0, 1) value). Level ``t`` has branching ``b_t``, copies
``k_t`` (``1 <= k_t <= b_t - 1``) and a ``b_t x b_t`` mixing matrix ``M_t`` with unit-norm
rows. It takes ``k_t`` independent level-(t-1) sequences as the first ``k_t`` columns of a
``(L_{t-1}, b_t)`` matrix, fills the remaining ``b_t - k_t`` columns with fresh iid N(0, 1),
multiplies every row by ``M_t`` and flattens row-major, so ``L_t = b_t L_{t-1}``. Position
``p`` of the top level has mixed-radix digits ``p = sum_t d_t * (b_{t+1} ... b_l)``: the
least significant digit is the column at the top level, the most significant the column
at level 1. The whole map is linear, ``W = A eps`` with ``A`` square and invertible, so the
law is exactly ``N(0, A A^T)`` and every position has unit variance.

Optional **boundary coupling** with target ``rho*`` (``-1 < rho* < 1``): after mixing,
at every level, each pair straddling a row boundary, ``(r b + b - 1, (r + 1) b)``, with
current exact correlation ``rho_r`` is multiplied by the symmetric map
``K_r = C(rho*)^{1/2} C(rho_r)^{-1/2}``, ``C(x) = [[1, x], [x, 1]]``. It keeps both variances
at 1 and sets the pair's correlation to ``rho*``. ``rho_r`` is computed exactly from the
band (lags 0..2) of the coupled covariance of the level below, which closes under the
recursion.

Exact algorithms (uncoupled designs):

* sampling in O(L) per sequence from exactly L normals (no covariance matrix);
* conditional stds from the row recursion ``Cov(row r | past) = M diag(v, .., v, 1, .., 1) M^T``
  with ``v`` the one-step variance of a copy at row r -- O(L b^2), data independent;
* bipartite MI at any cut from the forward and reversed conditional stds:
  ``I(c) = sum_{q >= c} [ln sd(W_q | W_{>q}) - ln sd(W_q | W_{<q})]``; the reversed process is
  the same construction with the rows of every ``M_t`` reversed;
* conditional means by message passing over the tree of copies (O(L b) per sequence);
* two-point correlation by the digit product: ``prod`` over the levels below the most
  significant differing digit of ``P_t[d_t(p), d_t(q)]`` (``P = M_c M_c^T``) times
  ``(M M^T)[.]`` at that digit.

Coupled designs use the dense covariance (up to ``DENSE_MAX`` positions) for bipartite MI
and conditionals; single covariances use an exact O(levels) recursion per pair once the
coupling coefficients of all levels are known (O(L) time and memory, computed once).
"""

from __future__ import annotations

import math
from collections.abc import Sized
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np
import scipy.linalg

from ._kernels import hierarchical as K
from .mixing import hadamard_mixing, pair_mi_weights, paper_mixing, validate_mixing
from ._base import GaussianBase
from .._limits import check_memory
from ..protocol import (Exponents, as_cuts, as_generator, check_cut, check_float, check_int,
                       clip_rounding)

__all__ = ["HierarchicalGaussian", "Level", "Exponents", "paper_family", "DEFAULT_COUPLING"]

#: Largest length for which dense (L x L) computations are allowed.
DENSE_MAX = 16384
#: Largest supported length (memory for one float64 sequence: 8 GiB at 2^30).
LENGTH_MAX = 2**30
#: Largest branching (the message-passing kernel keeps one row on the stack).
BRANCHING_MAX = 64
#: Largest number of channels (independent stacked copies).
CHANNELS_MAX = 2**16
#: Boundary-coupling target used by ``paper_family(..., coupling=True)``.
DEFAULT_COUPLING = 0.5


@dataclass(frozen=True, eq=False)
class Level:
    """One level of a design: branching ``b``, copies ``k``, validated ``(b, b)`` mixing."""

    branching: int
    copies: int
    mixing: np.ndarray

    def __post_init__(self):
        b = check_int("branching", self.branching, 2, BRANCHING_MAX)
        k = check_int("copies", self.copies, 1, b - 1)
        M = validate_mixing(self.mixing, b, k)
        M.setflags(write=False)
        object.__setattr__(self, "branching", b)
        object.__setattr__(self, "copies", k)
        object.__setattr__(self, "mixing", M)
        # P and Q are read inside per-pair recursions: compute them once, read-only, each
        # entry as the correctly rounded sum of its products, so that entries which
        # orthogonality makes exactly 0 (Hadamard designs) are exactly 0, not 1e-17
        Mc, Mf = M[:, :k], M[:, k:]
        for name, val in (("_P", _gram(Mc)), ("_Q", _gram(Mf))):
            val.setflags(write=False)
            object.__setattr__(self, name, val)

    @property
    def P(self) -> np.ndarray:
        """Copy part ``M_c M_c^T`` (sets every cross-row correlation factor)."""
        return self._P

    @property
    def Q(self) -> np.ndarray:
        """Fresh part ``M_f M_f^T``; ``P + Q = M M^T``."""
        return self._Q


#: Bottom levels whose block holds at most this many values are sampled as one dense map.
_FUSE_MAX = 16


class HierarchicalGaussian(GaussianBase):
    """Hierarchical Gaussian process with exactly known information structure.

    Parameters
    ----------
    branching : int
        ``b >= 2`` (at most 64).
    copies : int
        ``k`` with ``1 <= k <= b - 1``; ``beta = log_b k``.
    levels : int
        ``l >= 1``; the length is ``L = b**l`` (at most 2**30).
    mixing : None, "paper", "hadamard" or array_like (b, b)
        Row map. ``None``/``"hadamard"``: :func:`l2m_sim.mixing.hadamard_mixing` (for
        ``b = 4, k = 3`` exactly the study's matrix); ``"paper"``: the study's 4x4 matrix;
        an array: validated (unit-norm rows, invertible, not orthogonal).
    coupling : None or float
        Boundary-coupling target correlation ``rho*`` in (-1, 1); ``None`` for none.
    channels : int
        Independent stacked copies (one vector per position); MI is summed over them.
    pair_mi : float, optional
        Strength of the long-range copies: nats carried by **each** canonical pair between
        past and future at the middle cut (there are ``channels * k**(l-1)`` of them), in
        ``(0, 4]``. Sets a Hadamard mixing with equal copy weights
        (:func:`l2m_sim.mixing.pair_mi_weights`); not combined with ``mixing``. The default
        mixing carries 0.294 nats per pair for ``b = 4, k = 3``.

    Examples
    --------
    >>> p = HierarchicalGaussian(branching=4, copies=3, levels=5)
    >>> round(p.bipartite_mi() / HierarchicalGaussian(4, 3, 4).bipartite_mi(), 12)
    3.0
    """

    def __init__(self, branching=4, copies=3, levels=5, mixing=None, coupling=None, channels=1,
                 pair_mi=None):
        b = check_int("branching", branching, 2, BRANCHING_MAX)
        k = check_int("copies", copies, 1, b - 1)
        lv = check_int("levels", levels, 1, int(math.floor(math.log(LENGTH_MAX, b) + 1e-9)))
        self.pair_mi = None
        if pair_mi is not None:
            if mixing is not None:
                raise ValueError("give either mixing or pair_mi, not both (pair_mi sets the mixing)")
            M = hadamard_mixing(b, k, pair_mi_weights(b, k, pair_mi))
            self.pair_mi = float(pair_mi)
        elif mixing is None or (isinstance(mixing, str) and mixing == "hadamard"):
            M = hadamard_mixing(b, k)
        elif isinstance(mixing, str):
            if mixing != "paper":
                raise ValueError(f"mixing must be None, 'hadamard', 'paper' or a (b, b) array, got {mixing!r}")
            if b != 4:
                raise ValueError(f"mixing='paper' is the study's 4x4 matrix and needs branching=4, got {b}")
            M = paper_mixing()
        else:
            M = mixing
        level = Level(b, k, M)
        self._init_schedule([level] * lv, coupling, channels)

    @classmethod
    def from_schedule(cls, schedule, coupling=None, channels=1):
        """Build a design with a different ``(b_t, k_t, M_t)`` at every level.

        ``schedule`` lists levels from level 1 (the most significant digit, the longest
        correlations) to the top level; entries are :class:`Level` or tuples
        ``(b, k)`` / ``(b, k, mixing)``. ``beta_eff = sum ln k_t / sum ln b_t``.
        """
        if isinstance(schedule, (str, bytes)) or not isinstance(schedule, Sized):
            raise TypeError("schedule must be a sequence of Level or (branching, copies[, mixing]) tuples")
        if len(schedule) < 1:
            raise ValueError("schedule must have at least 1 level")
        levels = []
        for entry in schedule:
            if isinstance(entry, Level):
                levels.append(entry)
                continue
            if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
                raise TypeError("schedule entries must be Level or (branching, copies[, mixing]) tuples")
            b = check_int("branching", entry[0], 2, BRANCHING_MAX)
            k = check_int("copies", entry[1], 1, b - 1)
            M = entry[2] if len(entry) == 3 and entry[2] is not None else hadamard_mixing(b, k)
            levels.append(Level(b, k, M))
        self = cls.__new__(cls)
        self.pair_mi = None
        self._init_schedule(levels, coupling, channels)
        return self

    def _init_schedule(self, levels, coupling, channels):
        self.schedule = tuple(levels)
        self.channels = check_int("channels", channels, 1, CHANNELS_MAX)
        L = 1
        for lev in self.schedule:
            L *= lev.branching
        if L > LENGTH_MAX:
            raise ValueError(f"length (product of branchings) must be <= {LENGTH_MAX}, got {L}")
        if coupling is not None:
            coupling = check_float("coupling (a correlation, or None for none)", coupling,
                                   -1.0, 1.0, lo_open=True, hi_open=True)
        self.coupling = coupling
        self.length = L
        self.levels = len(self.schedule)
        bs = [lev.branching for lev in self.schedule]
        ks = [lev.copies for lev in self.schedule]
        self.branching = bs[0] if len(set(bs)) == 1 else tuple(bs)
        self.copies = ks[0] if len(set(ks)) == 1 else tuple(ks)
        # numba-side arrays
        nl = self.levels
        bmax = max(bs)
        self._bs = np.array(bs, dtype=np.int64)
        self._ks = np.array(ks, dtype=np.int64)
        self._Ls = np.cumprod([1] + bs).astype(np.int64)
        self._Ms = np.zeros((nl, bmax, bmax))
        self._Minvs = np.zeros((nl, bmax, bmax))
        self._Ps = np.zeros((nl, bmax, bmax))
        self._Qs = np.zeros((nl, bmax, bmax))
        for t, lev in enumerate(self.schedule):
            b = lev.branching
            self._Ms[t, :b, :b] = lev.mixing
            self._Minvs[t, :b, :b] = np.linalg.inv(lev.mixing)
            self._Ps[t, :b, :b] = lev.P
            self._Qs[t, :b, :b] = lev.Q

    # ------------------------------------------------------------------ basics

    def _mixing_label(self) -> str:
        """``""`` for the default (Hadamard-type) mixing, ``", mixing='paper'"`` for the
        study's matrix, else a short content hash, so that different laws never share a repr."""
        mats = {lev.mixing.tobytes() for lev in self.schedule}
        if self.pair_mi is not None:
            return f", pair_mi={self.pair_mi!r}"
        default = all(np.array_equal(lev.mixing, hadamard_mixing(lev.branching, lev.copies))
                      for lev in self.schedule)
        if default:
            return ""
        if len(mats) == 1 and self.schedule[0].branching == 4 and np.array_equal(
                self.schedule[0].mixing, paper_mixing()):
            return ", mixing='paper'"
        import hashlib

        digest = hashlib.sha1(b"".join(lev.mixing.tobytes() for lev in self.schedule)).hexdigest()
        return f", mixing=<custom {digest[:10]}>"

    def __repr__(self):
        cpl = "" if self.coupling is None else f", coupling={self.coupling}"
        ch = "" if self.channels == 1 else f", channels={self.channels}"
        mix = self._mixing_label()
        if isinstance(self.branching, int) and isinstance(self.copies, int) and len(
            {lev.mixing.tobytes() for lev in self.schedule}
        ) == 1:
            return (f"HierarchicalGaussian(branching={self.branching}, copies={self.copies}, "
                    f"levels={self.levels}{mix}{cpl}{ch})")
        sched = [(lev.branching, lev.copies) for lev in self.schedule]
        return f"HierarchicalGaussian.from_schedule({sched}{mix}{cpl}{ch})"

    @property
    def coupled(self) -> bool:
        return self.coupling is not None

    def reversed(self) -> "HierarchicalGaussian":
        """The law of the time-reversed sequence (rows of every mixing matrix reversed)."""
        levels = [Level(lev.branching, lev.copies, lev.mixing[::-1]) for lev in self.schedule]
        return HierarchicalGaussian.from_schedule(levels, self.coupling, self.channels)

    def sublevel(self, t: int) -> "HierarchicalGaussian":
        """The level-t process (levels 1..t of this design), one channel."""
        t = check_int("t", t, 1, self.levels)
        return HierarchicalGaussian.from_schedule(self.schedule[:t], self.coupling, 1)

    # ------------------------------------------------------------------ coupling

    @cached_property
    def _coupling_arrays(self):
        """Flat coupling coefficients (ca, cb) of all levels and per-level offsets."""
        nl = self.levels
        offs = np.zeros(nl + 1, dtype=np.int64)
        for t in range(1, nl + 1):
            offs[t] = offs[t - 1] + max(int(self._Ls[t - 1]) - 1, 0)
        check_memory("length", 16.0 * int(offs[-1]),
                     f"the coupling coefficients of length {self.length}")
        ca = np.ones(int(offs[-1]))
        cb = np.zeros(int(offs[-1]))
        if self.coupled:
            band = np.array([[1.0, 0.0, 0.0]])
            for t in range(1, nl + 1):
                lev = self.schedule[t - 1]
                a, c, band = K._coupling_level(lev.branching, int(self._Ls[t - 1]),
                                               lev.P, lev.mixing @ lev.mixing.T,
                                               self.coupling, band)
                ca[offs[t - 1]:offs[t]] = a
                cb[offs[t - 1]:offs[t]] = c
        return ca, cb, offs

    @cached_property
    def _fused_bottom(self):
        """``(AT, tf)``: the sampler does levels 1..tf as one dense map (transposed, ``AT``),
        ``tf`` the highest level >= 2 whose block has at most ``_FUSE_MAX`` values (0: none).

        ``AT`` is the exact transform of one level-tf block, computed by the level-by-level
        kernel itself from the identity, so the fused and unfused paths are the same map.
        """
        tf = 0
        for t in range(2, self.levels + 1):
            if self._Ls[t] <= _FUSE_MAX:
                tf = t
        if tf == 0:
            return np.zeros((1, 1)), 0
        ca, cb, offs = self._coupling_arrays
        AT = K._sample_hier(np.eye(int(self._Ls[tf])), self._bs[:tf], self._ks[:tf],
                            self._Ls[:tf + 1], self._Ms[:tf], ca, cb, offs, self.coupled,
                            np.zeros((1, 1)), 0, 1)
        return AT, tf

    def _transform(self, eps: np.ndarray, nchunk: int = 1, fused: bool = True) -> np.ndarray:
        """Map each row of ``eps`` (C-contiguous float64 ``(m, L)`` iid normals) to one
        sequence of one channel, **in place**; returns ``eps``. ``fused=False`` runs every
        level separately (the reference the fused path is tested against)."""
        ca, cb, offs = self._coupling_arrays
        AT, tf = self._fused_bottom if fused else (np.zeros((1, 1)), 0)
        return K._sample_hier(eps, self._bs, self._ks, self._Ls, self._Ms, ca, cb, offs,
                              self.coupled, AT, tf, nchunk)

    # ------------------------------------------------------------------ sampling

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n`` sequences.

        Parameters
        ----------
        n : int
            Number of sequences, ``n >= 1``.
        rng : None, int or numpy.random.Generator
            Seed or generator. The same seed gives the identical array whatever the
            number of numba threads (each sequence is transformed independently from its
            own block of exactly ``L`` normals per channel).

        Returns
        -------
        ndarray, float64, shape ``(n, L)`` (one channel) or ``(n, L, C)``.
        """
        n = check_int("n", n, 1)
        C = self.channels
        check_memory("n", 16.0 * n * C * self.length,
                     f"sample({n}) of length {self.length} with {C} channel(s)")
        gen = as_generator(rng)
        eps = gen.standard_normal((n * C, self.length))
        x = self._transform(eps, 4 * numba.get_num_threads())
        if C == 1:
            return x
        return np.ascontiguousarray(x.reshape(n, C, self.length).transpose(0, 2, 1))

    # ------------------------------------------------------------------ dense reference

    def _check_dense(self, what):
        if self.length > DENSE_MAX:
            raise ValueError(
                f"{what} needs a dense {self.length}x{self.length} matrix; supported up to "
                f"length {DENSE_MAX} (this process has length {self.length})"
            )
        check_memory("length", 24.0 * self.length**2,
                     f"{what} (dense {self.length}x{self.length} matrices)")

    def covariance(self) -> np.ndarray:
        """Exact ``(L, L)`` covariance of one channel (dense; ``L <= DENSE_MAX``).

        Built level by level: ``Sigma_t = K_t (kron(Sigma_{t-1}, P_t) + kron(I, Q_t)) K_t^T``
        with ``K_t`` the (sparse) boundary-coupling map.
        """
        self._check_dense("covariance()")
        ca, cb, offs = self._coupling_arrays
        S = np.ones((1, 1))
        for t, lev in enumerate(self.schedule, start=1):
            b, n = lev.branching, S.shape[0]
            S = np.kron(S, lev.P)
            S4 = S.reshape(n, b, n, b)
            idx = np.arange(n)
            S4[idx, :, idx, :] += lev.Q
            if self.coupled and n > 1:
                al = ca[offs[t - 1]:offs[t]]
                be = cb[offs[t - 1]:offs[t]]
                ia = np.arange(n - 1) * b + b - 1
                ic = ia + 1
                for axis in (0, 1):
                    A = np.take(S, ia, axis=axis)
                    Cc = np.take(S, ic, axis=axis)
                    shape = (-1, 1) if axis == 0 else (1, -1)
                    newa = al.reshape(shape) * A + be.reshape(shape) * Cc
                    newc = be.reshape(shape) * A + al.reshape(shape) * Cc
                    if axis == 0:
                        S[ia, :] = newa
                        S[ic, :] = newc
                    else:
                        S[:, ia] = newa
                        S[:, ic] = newc
        return S

    @cached_property
    def _dense_factors(self):
        """Cholesky factors of the covariance and of the reversed covariance (coupled path)."""
        S = self.covariance()
        try:
            Lf = np.linalg.cholesky(S)
            Lr = np.linalg.cholesky(S[::-1, ::-1])
        except np.linalg.LinAlgError:
            raise ValueError(
                f"coupling={self.coupling} at length {self.length}: the coupled covariance is "
                f"singular to float64 precision (|coupling| this close to 1 makes neighbouring "
                f"rows almost copies of each other), so no exact value can be given; use a "
                f"coupling further from +-1 or fewer levels") from None
        d = np.concatenate([np.diag(Lf), np.diag(Lr)])
        # conditional variances below ~1e-10 (relative to 1) carry too few correct digits
        if not d.min() ** 2 > 1e-10:
            raise ValueError(
                f"coupling={self.coupling} at length {self.length}: a conditional variance of "
                f"the coupled covariance is {d.min() ** 2:.3g}, too close to 0 for the dense "
                f"float64 factorisation to give exact values; use a coupling further from "
                f"+-1 or fewer levels")
        return Lf, Lr

    # ------------------------------------------------------------------ conditionals

    def _factor_layout(self):
        sizes = [int(self._Ls[t - 1]) * lev.branching ** 2 for t, lev in enumerate(self.schedule, 1)]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def _stds_fast(self, store=False):
        fac_off = self._factor_layout()
        factors = np.empty(int(fac_off[-1]) if store else 0)
        sd, ok = K._all_level_stds(self._bs, self._ks, self._Ls, self._Ms, factors, fac_off,
                                   store)
        if not ok:  # pragma: no cover - validated mixings keep every pivot positive
            raise FloatingPointError(
                "a conditional variance of the row recursion underflowed to 0 (the design's "
                "conditional variances fall below the float64 range)")
        return sd, factors, fac_off

    @cached_property
    def _row_factors(self):
        self._check_stds_memory()
        _, factors, fac_off = self._stds_fast(store=True)
        return factors, fac_off

    def conditional_stds(self) -> np.ndarray:
        """Exact std of every ``W_t`` given ``W_{<t}`` (one channel; data independent), shape (L,)."""
        return self._cond_stds.copy()

    def _check_stds_memory(self):
        check_memory("length", 48.0 * self.length,
                     f"the exact conditional stds of length {self.length} (levels={self.levels})")

    @cached_property
    def _cond_stds(self):
        self._check_stds_memory()
        if self.coupled:
            return np.diag(self._dense_factors[0]).copy()
        return self._stds_fast()[0]

    @cached_property
    def _cond_stds_reversed(self):
        self._check_stds_memory()
        if self.coupled:
            return np.diag(self._dense_factors[1]).copy()
        return self.reversed()._stds_fast()[0]

    def conditional_moments(self, x):
        """Exact mean and std of every ``x_t`` given ``x_{<t}``.

        Parameters
        ----------
        x : array_like, shape ``(n, L)`` / ``(L,)`` (one channel) or ``(n, L, C)`` / ``(L, C)``

        Returns
        -------
        mean, std : ndarrays shaped like ``x``. Uncoupled designs use exact message passing
        (O(L b) per sequence); coupled designs use the dense Cholesky factor.
        """
        X, restore = self._as_sequences(x)
        sd = np.broadcast_to(self._cond_stds, X.shape)
        if self.coupled:
            self._check_dense("conditional_moments() of a coupled design")
            Lf = self._dense_factors[0]
            E = scipy.linalg.solve_triangular(Lf, X.T, lower=True)  # innovations, (L, n)
            Lstrict = np.tril(Lf, -1)
            mean = (Lstrict @ E).T
        else:
            factors, fac_off = self._row_factors
            yoff = self._buffer_layout()
            mean = K._cond_means(X, yoff, self._bs, self._ks, self._Ls, self._Ms, self._Minvs,
                                 factors, fac_off)
        return restore(np.ascontiguousarray(mean)), restore(np.array(sd))

    def _buffer_layout(self):
        """Offsets of the per-level segment buffers used by message passing."""
        nl = self.levels
        sizes = []
        for t in range(nl + 1):
            nseg = int(np.prod(self._ks[t:])) if t < nl else 1
            sizes.append(nseg * int(self._Ls[t]))
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    # ------------------------------------------------------------------ information

    def bipartite_mi(self, cut=None):
        """Exact ``I(W_{1:cut}; W_{cut+1:L})`` in nats, summed over channels.

        ``cut`` is the number of positions in X (``1 <= cut <= L - 1``; ``None``: ``L // 2``);
        an integer array of cuts returns an array. Uncoupled: O(L) from forward and reversed
        conditional stds. Coupled: dense Cholesky (``L <= DENSE_MAX``).
        """
        cuts, scalar = as_cuts(cut, self.length)
        if self.coupled:
            self._check_dense("bipartite_mi() of a coupled design")
        if scalar:
            c = int(cuts[0])
            sd = self._cond_stds[c:]
            sdr = self._cond_stds_reversed[: self.length - c][::-1]
            val = float(np.sum(np.log(sdr) - np.log(sd)))
            return self.channels * clip_rounding(val)
        prof = self.bipartite_mi_profile()
        return prof[cuts - 1]

    def bipartite_mi_profile(self) -> np.ndarray:
        """Exact bipartite MI at every cut ``1..L-1`` (nats, summed over channels), shape (L-1,)."""
        sd = self._cond_stds
        sdr = self._cond_stds_reversed[::-1]
        delta = np.log(sdr) - np.log(sd)
        suffix = np.cumsum(delta[::-1])[::-1]
        return self.channels * clip_rounding(suffix[1:])

    def two_point_correlation(self, i, j):
        """Exact correlation of positions i and j (0-based); arrays broadcast."""
        ii, jj, scalar = self._pair_positions(i, j)
        if self.coupled:
            memo = {}
            out = np.array([self._coupled_cov(self.levels, int(p), int(q), memo)
                            for p, q in zip(ii.ravel(), jj.ravel())]).reshape(ii.shape)
        else:
            out = self._digit_product(ii.ravel(), jj.ravel()).reshape(ii.shape)
        out = np.where(ii == jj, 1.0, out)  # exact, not 1 up to rounding
        return float(out) if scalar else out

    def _digit_product(self, p, q):
        """Uncoupled correlation by the digit product (vectorised)."""
        p = p.copy()
        q = q.copy()
        rho = np.ones(p.shape)
        active = p != q
        for t in range(self.levels, 0, -1):
            lev = self.schedule[t - 1]
            b = lev.branching
            i, j = p % b, q % b
            p //= b
            q //= b
            same = active & (p == q)
            diff = active & (p != q)
            MMt = lev.P + lev.Q
            rho[same] *= MMt[i[same], j[same]]
            rho[diff] *= lev.P[i[diff], j[diff]]
            active = diff
        return rho

    def _coupled_cov(self, t, p, q, memo):
        """Exact covariance of positions p, q of the coupled level-t process (memoised)."""
        if t == 0:
            return 1.0
        key = (t, p, q) if p <= q else (t, q, p)
        if key in memo:
            return memo[key]
        ca, cb, offs = self._coupling_arrays
        lev = self.schedule[t - 1]
        b, n = lev.branching, int(self._Ls[t - 1])

        def support(x):
            r, i = divmod(x, b)
            if i == b - 1 and r < n - 1:
                return ((x, ca[offs[t - 1] + r]), (x + 1, cb[offs[t - 1] + r]))
            if i == 0 and r > 0:
                return ((x, ca[offs[t - 1] + r - 1]), (x - 1, cb[offs[t - 1] + r - 1]))
            return ((x, 1.0),)

        total = 0.0
        for x, wx in support(p):
            for y, wy in support(q):
                r, i = divmod(x, b)
                s, j = divmod(y, b)
                val = lev.P[i, j] * self._coupled_cov(t - 1, r, s, memo)
                if r == s:
                    val += lev.Q[i, j]
                total += wx * wy * val
        memo[key] = total
        return total

    # ------------------------------------------------------------------ canonical correlations

    def canonical_correlations(self, cut=None, tol: float = 1e-10) -> np.ndarray:
        """Exact non-zero canonical correlations between past and future across ``cut``.

        They are the singular values of ``Sigma_XX^{-1/2} Sigma_XY Sigma_YY^{-1/2}``, and
        ``-1/2 sum ln(1 - sigma_i^2)`` is the bipartite MI. Uncoupled designs reduce a cut at
        a row boundary of level t to ``k_t`` independent copies of the level-(t-1) process cut
        at ``cut / b_t`` (invertible row maps and independent fresh noise leave canonical
        correlations unchanged), so only the level where the cut falls inside a row is
        solved densely. Returns all channels' values, sorted descending; values below
        ``tol`` count as zero.
        """
        c = check_cut(cut, self.length)
        if self.coupled:
            self._check_dense("canonical_correlations() of a coupled design")
            sig = _dense_canonical(self.covariance(), c)
            mult = 1
        else:
            t, mult = self.levels, 1
            while c % self.schedule[t - 1].branching == 0:
                mult *= self.schedule[t - 1].copies
                c //= self.schedule[t - 1].branching
                t -= 1
            sub = self.sublevel(t)
            sub._check_dense(f"canonical_correlations() at a cut inside a level-{t} row")
            sig = _dense_canonical(sub.covariance(), c)
        sig = sig[sig > tol]
        return np.sort(np.tile(sig, mult * self.channels))[::-1]

    def linear_state_mi(self, dim, cut=None) -> float:
        """Exact information a ``dim``-dimensional *linear* state of the past carries about the future.

        ``max_{A: dim x c} I(A X; Y) = -1/2 sum_{i < dim} ln(1 - sigma_i^2)`` over the ``dim``
        largest canonical correlations: the Gaussian form of the history-state bound.
        """
        d = check_int("dim", dim, 0)
        sig = self.canonical_correlations(cut)[:d]
        return float(-0.5 * np.sum(np.log1p(-sig**2)))

    # ------------------------------------------------------------------ closed forms

    def exponents(self) -> Exponents:
        """Closed-form exponents of the design (base: the branching; mixed schedules: per length).

        ``beta = sum ln k_t / sum ln b_t`` (``I_BP ~ L^beta``). ``alpha``: the two-point MI
        exponent averaged over positions (log-binned), ``-sum ln(||P_t||_F^2 / b_t^2) /
        sum ln b_t`` (Hadamard designs: ``-log_b sum d_copies^4``). ``alpha_env``: the
        envelope exponent ``-2 sum ln max_i P_t[i, i] / sum ln b_t`` (Hadamard: ``-2 log_b
        w``, w the copy weight), the decay of the largest two-point MI over pairs whose
        ``m`` lowest digits agree (distances that are multiples of ``b**m``); the envelope
        is not necessarily reached at ``d = b**m`` itself: in equal-weight ``k = 2``
        Hadamard designs those pairs have exactly zero MI (pairs at ``2 b**m`` are on the
        envelope). ``alpha_antipodal``: first-versus-last pair, ``-2 sum ln |P_t[0, b-1]| /
        sum ln b_t``. ``growth``: ``"power"`` (``beta > 0``), ``"constant"`` (k = 1,
        uncoupled) or ``"log"`` (k = 1 with boundary coupling). Two-point exponents are
        those of the uncoupled design.
        """
        logb = sum(math.log(lev.branching) for lev in self.schedule)
        beta = sum(math.log(lev.copies) for lev in self.schedule) / logb
        a_avg = a_env = a_anti = 0.0
        for lev in self.schedule:
            b, P = lev.branching, lev.P
            a_avg -= math.log(np.sum(P**2) / b**2)
            a_env -= 2 * math.log(np.max(np.diag(P)))
            anti = abs(P[0, b - 1])
            a_anti = math.inf if anti == 0 or a_anti == math.inf else a_anti - 2 * math.log(anti)
        if beta > 0:
            growth = "power"
        else:
            growth = "log" if self.coupled else "constant"
        return Exponents(beta=beta, alpha=a_avg / logb, growth=growth, alpha_env=a_env / logb,
                         alpha_antipodal=a_anti / logb)


def _gram(A):
    """``A A^T`` with every entry the correctly rounded sum of its products (``math.fsum``)."""
    prod = A[:, None, :] * A[None, :, :]
    return np.array([[math.fsum(prod[i, j]) for j in range(A.shape[0])]
                     for i in range(A.shape[0])]).reshape(A.shape[0], A.shape[0])


def _dense_canonical(S, c):
    """Canonical correlations of a dense covariance S across cut c (all of them, descending)."""
    Lx = np.linalg.cholesky(S[:c, :c])
    Ly = np.linalg.cholesky(S[c:, c:])
    Kx = scipy.linalg.solve_triangular(Lx, S[:c, c:], lower=True)
    Kxy = scipy.linalg.solve_triangular(Ly, Kx.T, lower=True).T
    return np.linalg.svd(Kxy, compute_uv=False)


def paper_family(name, levels=5, coupling=False, channels=1) -> HierarchicalGaussian:
    """The source study's two families on its 4x4 matrix.

    Parameters
    ----------
    name : {"subvolume", "log"}
        ``"subvolume"``: ``b = 4, k = 3`` (``beta = log_4 3``); ``"log"``: ``b = 4, k = 1``
        (constant I_BP without coupling, ``~ log L`` with it).
    levels : int
        ``L = 4**levels``.
    coupling : bool or float
        ``False``/``None``: none; ``True``: ``rho* = DEFAULT_COUPLING``; a float: ``rho*``.
    """
    copies = {"subvolume": 3, "log": 1}
    if name not in copies:
        raise ValueError(f"name must be 'subvolume' or 'log', got {name!r}")
    if coupling is True:
        coupling = DEFAULT_COUPLING
    elif coupling is False:
        coupling = None
    return HierarchicalGaussian(4, copies[name], levels, mixing="paper", coupling=coupling,
                                channels=channels)
