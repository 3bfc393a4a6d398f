"""Stationary Gaussian processes: exact information from the Toeplitz structure.

A zero-mean stationary Gaussian sequence ``W_0..W_{L-1}`` is fixed by its autocovariance
``acov[d] = Cov(W_t, W_{t+d})``, ``d = 0..L-1``; its covariance is the symmetric Toeplitz
matrix ``Sigma[s, t] = acov[|s - t|]``. Families:

* :class:`StationaryGaussian` -- any (positive definite) autocovariance;
* :class:`ARMA` -- ``W_t = sum_i ar_i W_{t-i} + e_t + sum_j ma_j e_{t-j}`` (exponential
  two-point decay, constant bipartite MI for pure AR);
* :class:`AR1` -- ``acov[d] = phi^d``, bipartite MI ``-1/2 ln(1 - phi^2)`` at every cut;
* :class:`FractionalGaussianNoise` -- Hurst ``H``, ``rho(d) ~ H (2H - 1) d^(2H - 2)``
  (power-law two-point decay, bipartite MI growing like ``ln L``).

The families have unit marginal variance; :class:`StationaryGaussian` keeps the scale it is
given (mutual information does not depend on it).

Exact algorithms:

* **Levinson-Durbin** gives the reflection coefficients (partial autocorrelations) ``k_t``
  and the one-step prediction-error variances ``v_t = Var(W_t | W_{<t}) = acov[0] prod_{s<=t}
  (1 - k_s^2)`` in O(L^2) time and O(L) memory (O(L p) for AR(p), whose ``k_t`` vanish
  for ``t > p``). ``|k_t| < 1`` for all t is exactly positive definiteness.
* **Bipartite MI at every cut in O(L)** after that one pass:
  ``I(c) = 1/2 [ln det Sigma_XX + ln det Sigma_YY - ln det Sigma]``, and ``ln det`` of a
  leading ``n x n`` block is ``sum_{t<n} ln v_t``. Stationarity makes ``Sigma_YY`` the leading
  ``(L - c)`` block too, so ``I(c) = 1/2 sum_{j<m} (ln v_j - ln v_{j+L-m})`` with
  ``m = min(c, L - c)`` -- a sum of non-negative terms.
* **Conditional moments** ``E[x_t | x_{<t}] = sum_j a_t[j] x_{t-j}``, std ``sqrt(v_t)``, with
  the Levinson recursion run on the fly (no L x L matrix is stored).
* **Sampling by circulant embedding** in O(L log L) per sequence: the autocovariance is
  embedded in a symmetric circulant of size ``M = 2N``, ``N >= L - 1``, whose eigenvalues
  ``lam`` are its FFT; if they are all ``>= -1e-10 max(lam)`` (round-off negatives are set to
  0) a sequence is the first ``L`` entries of ``sqrt(M) irfft(sqrt(lam) W)`` with ``W`` a
  Hermitian Gaussian vector built from exactly ``M`` standard normals. The minimal
  embedding ``N = L - 1`` is tried first; families that know their autocovariance beyond
  ``L - 1`` then try larger ``N`` (powers of two up to ``max(16 (L - 1), 4096)``, at most
  ``2^24``), a bare
  autocovariance array one zero-padded embedding; if all fail, sampling falls back (with a
  ``RuntimeWarning``, once per object) to the exact O(L^2) innovations recursion
  ``x_t = E[x_t | x_{<t}] + sqrt(v_t) eps_t`` from exactly ``L`` normals per sequence.
"""

from __future__ import annotations

import math
import warnings
from functools import cached_property

import numpy as np
import scipy.fft
import scipy.linalg

from ._kernels import stationary as K
from ._base import GaussianBase
from .._limits import check_memory
from ..protocol import Exponents, as_cuts, as_generator, check_float, check_int, clip_rounding

__all__ = [
    "StationaryGaussian",
    "ARMA",
    "AR1",
    "FractionalGaussianNoise",
    "fgn_autocovariance",
    "arma_autocovariance",
    "DENSE_MAX",
    "LEVINSON_MAX",
    "LENGTH_MAX",
    "PD_TOL",
]

#: Largest length for which dense (L x L) computations (``covariance()``) are allowed.
DENSE_MAX = 16384
#: Largest length for the O(L^2) Levinson computations (MI, conditionals, log_prob,
#: fallback sampling) of processes that are not finite-order AR (about 30 s at this size).
LEVINSON_MAX = 2**17
#: Largest supported length (sampling by FFT; finite-order AR is O(L) in everything).
LENGTH_MAX = 2**26
#: Largest number of channels (independent stacked copies).
CHANNELS_MAX = 2**16
#: A user autocovariance counts as positive definite only if every ``1 - k_t^2 > PD_TOL``
#: (below that the Toeplitz matrix is singular to working precision).
PD_TOL = 1e-12
#: Circulant eigenvalues above ``-EIG_TOL * max(eigenvalue)`` are round-off (set to 0).
EIG_TOL = 1e-10
#: Largest embedding tried (extendable families): ``N <= min(max(MAX_PAD_FACTOR (L - 1),
#: PAD_MIN), PAD_MAX)`` (the cap bounds memory).
MAX_PAD_FACTOR = 16
PAD_MIN = 4096
PAD_MAX = 2**24

_SAMPLE_METHODS = ("auto", "circulant", "levinson")


# ------------------------------------------------------------------------------ helpers


def _real_vector(name, value, allow_empty=True):
    """Validate a 1-D finite real array; return float64 copy."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D array of real numbers, got {type(value).__name__}")
    try:
        arr = np.array(value, dtype=float, ndmin=1)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D array of real numbers") from exc
    if np.asarray(value).dtype.kind not in "fiu" and np.asarray(value).size:
        raise TypeError(f"{name} must be a 1-D array of real numbers, got dtype {np.asarray(value).dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must have at least 1 entry")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def fgn_autocovariance(hurst, lags) -> np.ndarray:
    """Autocovariance of unit-variance fractional Gaussian noise at integer ``lags``.

    ``acov(d) = 1/2 (|d+1|^{2H} - 2|d|^{2H} + |d-1|^{2H})``. For ``|d| >= 8`` the binomial
    series ``d^{2H} sum_{k>=1} C(2H, 2k) d^{-2k}`` is used instead (same value, without the
    cancellation of three terms of size ``d^{2H}``), so the result has full relative accuracy
    at every lag. ``H = 1/2`` gives exactly 0 at every non-zero lag.
    """
    H = check_float("hurst", hurst, 0.0, 1.0, lo_open=True, hi_open=True)
    d = np.abs(np.asarray(lags, dtype=float))
    out = np.empty(d.shape)
    near = d < 8
    dn = d[near]
    two_h = 2.0 * H
    out[near] = 0.5 * (np.abs(dn + 1) ** two_h - 2.0 * dn ** two_h + np.abs(dn - 1) ** two_h)
    far = d[~near]
    if far.size:
        acc = np.zeros(far.shape)
        coef = 1.0  # C(2H, m), m = 0, 1, 2, ...
        inv2 = 1.0 / (far * far)
        power = np.ones(far.shape)
        for m in range(1, 41):
            coef *= (two_h - m + 1) / m
            if m % 2 == 0:
                power = power * inv2
                acc += coef * power
                if abs(coef) * 8.0 ** (-m) < 1e-18:
                    break
        out[~near] = far ** two_h * acc
    return out


def _ar_step_down(phi):
    """Reflection coefficients of an AR polynomial by the step-down (Schur-Cohn) recursion.

    Returns the array ``k_1..k_p``, or None if some ``|k_t| >= 1`` (not stationary).
    """
    a = np.array(phi, dtype=float)
    p = a.size
    ks = np.zeros(p)
    for t in range(p, 0, -1):
        k = a[t - 1]
        if not abs(k) < 1.0 - 1e-10:  # a root on the unit circle within rounding is not stationary
            return None
        ks[t - 1] = k
        if t > 1:
            a = (a[: t - 1] + k * a[t - 2 :: -1]) / ((1.0 - k) * (1.0 + k))
    return ks


def arma_autocovariance(ar, ma, n_lags) -> np.ndarray:
    """Exact autocovariance ``gamma(0..n_lags-1)`` of a stationary ARMA(p, q), unit innovations.

    ``W_t = sum_i ar_i W_{t-i} + e_t + sum_j ma_j e_{t-j}``, ``Var e_t = 1``. With the
    MA(inf) weights ``psi_0 = 1``, ``psi_j = ma_j + sum_i ar_i psi_{j-i}``, the autocovariance
    solves ``gamma(k) - sum_i ar_i gamma(|k - i|) = sum_{j=k..q} ma_j psi_{j-k}`` (``ma_0 = 1``):
    a (p+1) x (p+1) linear system for lags ``0..p``, then the same equation as a recursion.
    Stationarity is not checked here.
    """
    phi = np.asarray(ar, dtype=float)
    theta = np.concatenate([[1.0], np.asarray(ma, dtype=float)])
    p, q = phi.size, theta.size - 1
    psi = np.zeros(q + 1)
    psi[0] = 1.0
    for j in range(1, q + 1):
        psi[j] = theta[j] + sum(phi[i - 1] * psi[j - i] for i in range(1, min(j, p) + 1))
    b = np.zeros(max(p, q) + 1)
    for k in range(q + 1):
        b[k] = np.dot(theta[k:], psi[: q + 1 - k])
    A = np.eye(p + 1)
    for k in range(p + 1):
        for i in range(1, p + 1):
            A[k, abs(k - i)] -= phi[i - 1]
    n = max(int(n_lags), p + 1, q + 1)
    g = np.zeros(n)
    g[: p + 1] = np.linalg.solve(A, b[: p + 1])
    for k in range(p + 1, q + 1):  # lags still fed by the MA part
        g[k] = (np.dot(phi, g[k - 1 : k - p - 1 : -1]) if p else 0.0) + b[k]
    if p:  # pure AR recursion beyond max(p, q): O(n p) in numba
        K._ar_extend(g, phi, max(p, q) + 1)
    return g[: int(n_lags)]


# ------------------------------------------------------------------------------ the class


class StationaryGaussian(GaussianBase):
    """Zero-mean stationary Gaussian process given by its autocovariance.

    Parameters
    ----------
    autocovariance : array_like, shape (L,)
        ``acov[d] = Cov(W_t, W_{t+d})``, ``d = 0..L-1``; finite, ``acov[0] > 0`` and positive
        definite (checked by Levinson-Durbin at construction, O(L^2): every reflection
        coefficient must have ``1 - k_t^2 > PD_TOL``). ``L <= LEVINSON_MAX``. Any scale.
    channels : int
        Independent stacked copies (one vector per position); MI is summed over them.

    Examples
    --------
    >>> g = StationaryGaussian([2.0, 1.0, 0.5])
    >>> round(g.bipartite_mi(1), 12) == round(-0.5 * np.log(1 - 0.25), 12)
    True
    """

    #: Circulant embedding may be extended with the true autocovariance (set by families).
    _extendable = False

    def __init__(self, autocovariance, channels=1):
        acov = _real_vector("autocovariance", autocovariance, allow_empty=False)
        if not acov[0] > 0:
            raise ValueError(f"autocovariance[0] (the variance) must be > 0, got {acov[0]!r}")
        if acov.size > LEVINSON_MAX:
            raise ValueError(f"len(autocovariance) must be in [1, {LEVINSON_MAX}] (positive "
                             f"definiteness is checked in O(L^2)), got {acov.size}")
        self._setup(acov, channels, max_order=acov.size - 1, tol=PD_TOL)
        self._levinson  # validate now: raises "not positive definite"

    def _setup(self, acov, channels, max_order, tol):
        self.channels = check_int("channels", channels, 1, CHANNELS_MAX)
        self.length = int(acov.size)
        acov = np.array(acov, dtype=float)
        acov.setflags(write=False)
        self._acov = acov
        r = acov / acov[0]
        r[0] = 1.0
        self._r = r
        if self.length > 1 and not np.any(r[1:]):
            max_order = 0  # white noise: every predictor is 0
        self._max_order = int(min(max_order, self.length - 1))
        self._tol = float(tol)
        self._warned = False

    # ------------------------------------------------------------------ basics

    def __repr__(self):
        ch = "" if self.channels == 1 else f", channels={self.channels}"
        return f"StationaryGaussian(length={self.length}{ch})"

    @property
    def autocovariance(self) -> np.ndarray:
        """``acov[d]``, ``d = 0..L-1`` (read-only view)."""
        return self._acov

    @property
    def variance(self) -> float:
        return float(self._acov[0])

    def autocorrelation(self) -> np.ndarray:
        """``rho[d] = acov[d] / acov[0]``, ``d = 0..L-1`` (a copy)."""
        return self._r.copy()

    def _acov_extended(self, n):
        """Autocovariance at lags ``0..n-1`` beyond L (families override; default: zeros)."""
        out = np.zeros(n)
        out[: min(n, self.length)] = self._acov[: min(n, self.length)]
        return out

    def _check_levinson(self, what):
        # cost is L * max_order: O(L^2) unless the process is a finite-order AR
        if self.length * self._max_order > LEVINSON_MAX * (LEVINSON_MAX - 1):
            raise ValueError(
                f"{what} needs the O(L^2) Levinson recursion; supported up to length "
                f"{LEVINSON_MAX} (this process has length {self.length})"
            )

    @cached_property
    def _levinson(self):
        self._check_levinson("the exact conditionals / MI")
        kappa, logv, bad = K._levinson(self._r, self._max_order, self._tol)
        if bad:
            raise ValueError(
                f"autocovariance is not positive definite (the Levinson-Durbin recursion fails "
                f"at order {bad}: the reflection coefficient there has |k| >= 1 or 1 - k^2 <= "
                f"{self._tol:g}, so the leading {bad + 1}x{bad + 1} Toeplitz block is singular "
                f"or indefinite)"
            )
        kappa.setflags(write=False)
        logv.setflags(write=False)
        return kappa, logv

    def reflection_coefficients(self) -> np.ndarray:
        """Reflection coefficients = partial autocorrelations ``k_1..k_{L-1}``, shape (L-1,)."""
        return self._levinson[0][1:].copy()

    def innovation_variances(self) -> np.ndarray:
        """``v_t = Var(W_t | W_{<t})`` (one channel, absolute scale), shape (L,)."""
        return self._acov[0] * np.exp(self._levinson[1])

    def conditional_stds(self) -> np.ndarray:
        """Exact std of every ``W_t`` given ``W_{<t}`` (one channel; data independent), shape (L,)."""
        return np.sqrt(self._acov[0]) * np.exp(0.5 * self._levinson[1])

    # ------------------------------------------------------------------ dense reference

    def reversed(self):
        """The law of the time-reversed sequence: the process itself.

        A stationary Gaussian law is fixed by its symmetric Toeplitz covariance, which the
        reversal ``t -> L-1-t`` maps to itself. (Used by the model-based estimators for
        the exact marginal of a block.)
        """
        return self

    def covariance(self) -> np.ndarray:
        """Exact ``(L, L)`` covariance of one channel (dense Toeplitz; ``L <= DENSE_MAX``)."""
        if self.length > DENSE_MAX:
            raise ValueError(
                f"covariance() needs a dense {self.length}x{self.length} matrix; supported up "
                f"to length {DENSE_MAX} (this process has length {self.length})"
            )
        return scipy.linalg.toeplitz(self._acov)

    # ------------------------------------------------------------------ sampling

    @cached_property
    def circulant_embedding(self):
        """``(M, eigenvalues)`` of the circulant embedding used for sampling, or None.

        ``M = 2N`` is the circulant size and ``eigenvalues`` (length ``N + 1``, negatives
        within round-off set to 0) its non-redundant eigenvalues. None when no embedding
        tried is non-negative (sampling then uses the exact O(L^2) recursion) and for L = 1.
        """
        L = self.length
        if L == 1:
            return None
        n0 = L - 1
        sizes = [n0]
        if self._extendable:
            n = 1 << max(0, (n0 - 1).bit_length())
            n = n if n > n0 else 2 * n
            while n <= min(max(MAX_PAD_FACTOR * n0, PAD_MIN), PAD_MAX):
                sizes.append(n)
                n *= 2
        else:
            sizes.append(max(1 << n0.bit_length(), 2 * n0))
        ratios = []
        for N in sizes:
            ext = self._acov_extended(N + 1)
            c = np.concatenate([ext, ext[N - 1 : 0 : -1]])
            lam = scipy.fft.rfft(c).real
            top = lam.max()
            low = lam.min()
            if top > 0 and low >= -EIG_TOL * top:
                lam = np.maximum(lam, 0.0)
                lam.setflags(write=False)
                return 2 * N, lam
            ratios.append(low / top if top > 0 else -np.inf)
        self._embedding_failure = (sizes, ratios)
        return None

    def _failure_text(self):
        sizes, ratios = self._embedding_failure
        return (f"sizes M = {[2 * s for s in sizes]}, smallest / largest eigenvalue "
                f"{', '.join(f'{r:.3g}' for r in ratios)}")

    def sample(self, n, rng=None, method="auto") -> np.ndarray:
        """Draw ``n`` sequences.

        Parameters
        ----------
        n : int
            Number of sequences, ``n >= 1``.
        rng : None, int or numpy.random.Generator
            Seed or generator; the same seed gives the identical array.
        method : {"auto", "circulant", "levinson"}
            ``"circulant"``: circulant embedding, O(L log L) per sequence, draws exactly
            ``gen.standard_normal((n * C, M))`` (``M = circulant_embedding[0]``);
            ``"levinson"``: the exact innovations recursion, O(L^2) per sequence (O(L p) for
            AR(p)), draws exactly ``gen.standard_normal((n * C, L))``; ``"auto"``: circulant
            when an embedding exists (always for AR(1) and fGn), else Levinson with a
            ``RuntimeWarning``. L = 1 always uses one normal per sequence.

        Returns
        -------
        ndarray, float64, shape ``(n, L)`` (one channel) or ``(n, L, C)``.
        """
        n = check_int("n", n, 1)
        if not isinstance(method, str) or method not in _SAMPLE_METHODS:
            raise ValueError(f"method must be one of {_SAMPLE_METHODS}, got {method!r}")
        C, L = self.channels, self.length
        check_memory("n", 64.0 * n * C * L, f"sample({n}) of length {L} with {C} channel(s)")
        gen = as_generator(rng)
        emb = None if (method == "levinson" or L == 1) else self.circulant_embedding
        if method == "circulant" and L > 1 and emb is None:
            raise ValueError(
                f"method='circulant': no non-negative circulant embedding "
                f"({self._failure_text()}); "
                f"use method='levinson' or 'auto'"
            )
        if emb is not None:
            M, lam = emb
            eps = gen.standard_normal((n * C, M))
            x = np.ascontiguousarray(self._circulant_transform(eps, M, lam)[:, :L])
        else:
            if method == "auto" and L > 1 and not self._warned:
                warnings.warn(
                    f"circulant embedding has negative eigenvalues ({self._failure_text()}); sampling "
                    f"by the exact O(L^2) Levinson recursion instead",
                    RuntimeWarning, stacklevel=2,
                )
                self._warned = True
            eps = gen.standard_normal((n * C, L))
            x = self._levinson_transform(eps)
        if C == 1:
            return x
        return np.ascontiguousarray(x.reshape(n, C, L).transpose(0, 2, 1))

    @staticmethod
    def _circulant_transform(eps, M, lam):
        """Rows of ``M`` normals -> rows of ``M`` values whose first ``L`` have the target law.

        ``W_0 = eps_0``, ``W_N = eps_1`` (real), ``W_k = (eps_{2k} + i eps_{2k+1}) / sqrt(2)``
        for ``0 < k < N``: a Hermitian standard Gaussian vector from exactly ``M = 2N`` normals;
        the output is ``sqrt(M) irfft(sqrt(lam) W)``, whose covariance is the circulant.
        """
        N = M // 2
        # every scale folded into one factor per frequency: sqrt(M lam_k) (/ sqrt(2) inside)
        root = np.sqrt(M * lam)
        W = np.empty((eps.shape[0], N + 1), dtype=np.complex128)
        Wf = W.view(np.float64)  # interleaved (re, im) pairs, shape (rows, 2N + 2)
        half = root[1:N] * math.sqrt(0.5)
        np.multiply(eps[:, 2::2], half, out=Wf[:, 2:2 * N:2])
        np.multiply(eps[:, 3::2], half, out=Wf[:, 3:2 * N:2])
        Wf[:, 0] = eps[:, 0] * root[0]
        Wf[:, 1] = 0.0
        Wf[:, 2 * N] = eps[:, 1] * root[N]
        Wf[:, 2 * N + 1] = 0.0
        return scipy.fft.irfft(W, n=M, axis=1, overwrite_x=True)

    def _levinson_transform(self, eps):
        L = self.length
        self._check_levinson("sampling without a circulant embedding")
        sd = self.conditional_stds()
        x = K._sample_levinson(self._r, np.ascontiguousarray(eps), sd, self._max_order)
        return x[:, :L]

    # ------------------------------------------------------------------ conditionals

    def conditional_moments(self, x):
        """Exact mean and std of every ``x_t`` given ``x_{<t}``.

        Parameters
        ----------
        x : array_like, shape ``(n, L)`` / ``(L,)`` (one channel) or ``(n, L, C)`` / ``(L, C)``

        Returns
        -------
        mean, std : ndarrays shaped like ``x``. O(L^2 (n + 1)) by Levinson-Durbin on the fly
        (O(L p (n + 1)) for AR(p)); no L x L matrix is stored.
        """
        X, restore = self._as_sequences(x)
        self._check_levinson("conditional_moments()")
        sd = self.conditional_stds()
        mean = K._cond_means(self._r, X, self._max_order)
        return restore(mean), restore(np.array(np.broadcast_to(sd, X.shape)))

    # ------------------------------------------------------------------ information

    @cached_property
    def _log_one_minus_k2(self):
        """``lam[s] = ln(1 - k_s^2) <= 0`` for ``s = 0..L-1`` (``lam[0] = 0``)."""
        k = self._levinson[0]
        kk = k * k
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.where(kk < 0.5, np.log1p(-kk), np.log((1.0 - k) * (1.0 + k)))
        lam.setflags(write=False)
        return lam

    def bipartite_mi(self, cut=None):
        """Exact ``I(W_{1:cut}; W_{cut+1:L})`` in nats, summed over channels.

        ``cut`` is the number of positions in X (``1 <= cut <= L - 1``; ``None``: ``L // 2``);
        an integer array of cuts returns an array. One Levinson pass (cached), then
        ``I(c) = -1/2 sum_{s=1..L-1} min(s, c, L - c, L - s) ln(1 - k_s^2)``: a sum of
        non-negative terms (no cancellation), equal to ``1/2 [ln det Sigma_XX + ln det
        Sigma_YY - ln det Sigma]``.
        """
        cuts, scalar = as_cuts(cut, self.length)
        if not scalar:
            return self.bipartite_mi_profile()[cuts - 1]
        lam = self._log_one_minus_k2
        L = self.length
        c = int(cuts[0])
        s = np.arange(L)
        w = np.minimum(np.minimum(s, L - s), min(c, L - c))
        val = -0.5 * float(np.sum(w * lam))
        return self.channels * clip_rounding(val)

    def bipartite_mi_profile(self) -> np.ndarray:
        """Exact bipartite MI at every cut ``1..L-1`` (nats, summed over channels), shape (L-1,).

        With ``m = min(c, L - c)``, ``I(m) - I(m - 1) = -1/2 sum_{s=m..L-m} ln(1 - k_s^2)``;
        these increments are accumulated from the middle outwards and then summed, all
        terms non-negative, so the profile is as accurate as the single-cut sum.
        """
        lam = self._log_one_minus_k2
        L = self.length
        if L < 2:
            return np.zeros(0)
        mmax = L // 2
        u = np.arange(1, mmax + 1)
        pair = -0.5 * (lam[u] + lam[L - u])  # u = L - u (even L, middle) counted once below
        if L % 2 == 0:
            pair[-1] = -0.5 * lam[mmax]
        inc = np.cumsum(pair[::-1])[::-1]  # increment at m: sum over s in [m, L - m]
        Im = np.cumsum(inc)  # I at m = 1..mmax
        c = np.arange(1, L)
        prof = Im[np.minimum(c, L - c) - 1]
        return self.channels * clip_rounding(prof)

    def two_point_correlation(self, i, j):
        """Exact correlation ``rho(|i - j|)`` of positions i and j (0-based); arrays broadcast."""
        ii, jj, scalar = self._pair_positions(i, j)
        out = self._r[np.abs(ii - jj)]
        return float(out) if scalar else out

    def exponents(self) -> Exponents:
        """Exponents describe ``L -> inf``; a bare autocovariance of length ``L`` defines no
        law beyond ``L``, so this raises ``ValueError`` (the families below override it)."""
        raise ValueError("a StationaryGaussian given by a finite autocovariance has no "
                         "exponents (its law beyond its length is not defined); ARMA, AR1 "
                         "and FractionalGaussianNoise have them")

# ------------------------------------------------------------------------------ families


class ARMA(StationaryGaussian):
    """Stationary ARMA(p, q) process with unit marginal variance.

    ``W_t = sum_{i=1..p} ar[i-1] W_{t-i} + e_t + sum_{j=1..q} ma[j-1] e_{t-j}``, then scaled to
    ``Var W_t = 1``; the AR polynomial ``1 - ar_1 z - ... - ar_p z^p`` must have all roots
    outside the unit circle (checked by the step-down recursion: all its reflection
    coefficients in (-1, 1)). The autocovariance is computed exactly
    (:func:`arma_autocovariance`). Pure AR (``q = 0``): reflection coefficients vanish beyond
    order p, so MI, conditionals and sampling fallback are O(L p) and the bipartite MI is
    constant, ``-1/2 sum_{s<=p} s ln(1 - k_s^2)``, once both sides have ``>= p`` positions.
    With an MA part the Levinson computations are O(L^2) (``L <= LEVINSON_MAX``).

    Parameters
    ----------
    ar, ma : sequence of float
        AR coefficients ``phi_1..phi_p`` and MA coefficients ``theta_1..theta_q`` (may be empty).
    length : int
        ``L >= 1`` (keyword-only).
    channels : int
        Independent stacked copies.
    """

    _extendable = True

    def __init__(self, ar=(), ma=(), *, length, channels=1):
        phi = _real_vector("ar", ar)
        theta = _real_vector("ma", ma)
        L = check_int("length", length, 1, LENGTH_MAX)
        check_memory("length", 80.0 * L, f"an ARMA process of length {L}")
        ks = _ar_step_down(phi)
        if ks is None:
            roots = np.roots(np.concatenate([-phi[::-1], [1.0]])) if phi.size else np.array([])
            mod = float(np.min(np.abs(roots))) if roots.size else math.inf
            raise ValueError(
                "ar coefficients must give a stationary process: all roots of "
                f"1 - ar_1 z - ... - ar_p z^p strictly outside the unit circle (smallest "
                f"root modulus here {mod:.6g})"
            )
        self.ar = tuple(float(v) for v in phi)
        self.ma = tuple(float(v) for v in theta)
        g = self._unit_acov(L)
        self.innovation_variance = float(1.0 / self._gamma0)
        p, q = phi.size, theta.size
        # AR(p): Levinson stops at order p (k_t = 0 beyond, exactly in theory); an MA part
        # makes every order count.
        self._setup(g, channels, max_order=p if q == 0 else L - 1, tol=0.0)

    def _unit_acov(self, n):
        g = arma_autocovariance(self.ar, self.ma, n)
        self._gamma0 = float(g[0])
        out = g / g[0]
        out[0] = 1.0
        return out

    def _acov_extended(self, n):
        return self._unit_acov(n)

    def exponents(self) -> Exponents:
        """Stationary ARMA: the two-point MI decays exponentially (``alpha = inf``) and
        ``I_BP`` is bounded (``beta = 0``, ``growth = "constant"``)."""
        return Exponents(beta=0.0, alpha=math.inf, growth="constant")

    def __repr__(self):
        ch = "" if self.channels == 1 else f", channels={self.channels}"
        return f"ARMA(ar={self.ar}, ma={self.ma}, length={self.length}{ch})"


class AR1(ARMA):
    """AR(1) with unit variance: ``acov[d] = phi^d``, ``-1 < phi < 1``.

    Closed forms: two-point MI ``-1/2 ln(1 - phi^{2|i-j|})``; bipartite MI ``-1/2 ln(1 - phi^2)``
    at every cut (Markov); conditional mean ``phi x_{t-1}``, std ``sqrt(1 - phi^2)`` for t >= 1.
    Everything is O(L).
    """

    def __init__(self, phi, length, channels=1):
        self.phi = check_float("phi", phi, -1.0, 1.0, lo_open=True, hi_open=True)
        super().__init__(ar=(self.phi,), length=length, channels=channels)

    def _unit_acov(self, n):
        self._gamma0 = 1.0 / ((1.0 - self.phi) * (1.0 + self.phi))
        with np.errstate(under="ignore"):
            return np.power(self.phi, np.arange(n, dtype=float))

    def __repr__(self):
        ch = "" if self.channels == 1 else f", channels={self.channels}"
        return f"AR1(phi={self.phi}, length={self.length}{ch})"


class FractionalGaussianNoise(StationaryGaussian):
    """Fractional Gaussian noise (increments of fractional Brownian motion), unit variance.

    ``acov(d) = 1/2 (|d+1|^{2H} - 2|d|^{2H} + |d-1|^{2H})`` (:func:`fgn_autocovariance`),
    ``0 < H < 1``. ``H = 1/2`` is white noise (all MI 0); ``H > 1/2`` long memory,
    ``rho(d) ~ H (2H - 1) d^{2H - 2}``, so the two-point MI decays like ``d^{-alpha}`` with
    ``alpha = 4 - 4H`` (:meth:`exponents`); the bipartite MI grows like ``ln L``.
    Sampling by the minimal circulant embedding (non-negative for every H); MI and
    conditionals by Levinson in O(L^2) (``L <= LEVINSON_MAX``).
    """

    _extendable = True

    def __init__(self, hurst, length, channels=1):
        self.hurst = check_float("hurst", hurst, 0.0, 1.0, lo_open=True, hi_open=True)
        L = check_int("length", length, 1, LENGTH_MAX)
        check_memory("length", 80.0 * L, f"fractional Gaussian noise of length {L}")
        self._setup(fgn_autocovariance(self.hurst, np.arange(L)), channels, max_order=L - 1, tol=0.0)

    def _acov_extended(self, n):
        return fgn_autocovariance(self.hurst, np.arange(n))

    def exponents(self) -> Exponents:
        """``alpha = 4 - 4H`` (``I(W_i; W_{i+d}) ~ d^-alpha``), ``beta = 0`` with ``I_BP``
        growing like ``(H - 1/2)^2 / 2 ln L`` (``growth = "log"``); ``H = 1/2`` is white noise:
        ``alpha = inf``, ``growth = "constant"`` (all MI 0)."""
        if self.hurst == 0.5:
            return Exponents(beta=0.0, alpha=math.inf, growth="constant")
        return Exponents(beta=0.0, alpha=4.0 - 4.0 * self.hurst, growth="log")

    def __repr__(self):
        ch = "" if self.channels == 1 else f", channels={self.channels}"
        return f"FractionalGaussianNoise(hurst={self.hurst}, length={self.length}{ch})"
