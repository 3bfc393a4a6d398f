"""Mixing matrices for the hierarchical Gaussian family.

A mixing matrix ``M`` (``b x b``) acts on one row ``(c_1..c_k, f_1..f_{b-k})`` of copies
and fresh noise. Rows must have unit norm (so every position has unit variance) and ``M``
must be invertible (so the row map is a bijection, which is what makes
``I_t = k I_{t-1}`` exact).

Designs provided:

* :func:`paper_mixing` -- the source study's 4x4 matrix, rows ``(g, g, g, r)``,
  ``(-g, g, -g, r)``, ``(-g, -g, g, r)``, ``(g, -g, -g, r)``, ``g = sqrt(5)/4``, ``r = 1/4``.
  It is ``H diag(g, g, g, r)`` with ``H`` a 4x4 Hadamard matrix.
* :func:`hadamard_mixing` -- ``M = H_b diag(d)`` with ``sum(d^2) = 1``: column weights
  ``d_m^2`` on the copies set the two-point decay (``alpha``) independently of ``beta``.
  ``H_b`` is a real Hadamard matrix where one is known here (Sylvester x Paley orders:
  1, 2, 4, 8, 12, 16, 20, 24, ...); for other orders a +-1 sign matrix that is invertible
  but not orthogonal is used, and the closed-form exponents are then computed from ``P``
  directly (see ``HierarchicalGaussian.exponents``).
"""

from __future__ import annotations

import numpy as np

from ..protocol import check_int

__all__ = [
    "paper_mixing",
    "hadamard_matrix",
    "has_hadamard",
    "sign_matrix",
    "hadamard_mixing",
    "default_copy_weights",
    "pair_mi_weights",
    "level_pair_mi",
    "PAIR_MI_MAX",
    "MIXING_COND_MAX",
    "validate_mixing",
]

# Largest per-pair MI the strength knob accepts: copy:fresh weight ratio ~ 1.2e4 (b = 4,
# k = 3), mixing condition number sqrt(ratio) ~ 110, far inside MIXING_COND_MAX.
PAIR_MI_MAX = 4.0

#: Largest condition number (2-norm, after the rows are normalised) of a mixing matrix the
#: hierarchical family accepts. Up to it the exact O(L) recursions were checked against
#: 60-digit (mpmath) evaluations of the same recursions, themselves checked against dense
#: 50-digit covariances: the relative error of I_BP stayed below 2e-13 for random mixings
#: at condition numbers 1e3..1e4 over 6 levels, and below 1e-14 for Hadamard designs at
#: condition 1e3 (either weight tiny); beyond it random mixings lose digits quickly (about
#: 1e-9 at 1e6 and 1e-3 by 6 levels, 1e-2 at 1e9), so they are refused.
MIXING_COND_MAX = 1e4

# Rows of the 4x4 Hadamard matrix underlying the study's design.
_H4 = np.array(
    [[1, 1, 1, 1], [-1, 1, -1, 1], [-1, -1, 1, 1], [1, -1, -1, 1]], dtype=float
)


def paper_mixing() -> np.ndarray:
    """The study's 4x4 mixing matrix (``g = sqrt(5)/4`` on the three copy columns, ``1/4`` fresh)."""
    g = np.sqrt(5.0) / 4.0
    return _H4 * np.array([g, g, g, 0.25])


def _is_prime(q: int) -> bool:
    if q < 2:
        return False
    f = 2
    while f * f <= q:
        if q % f == 0:
            return False
        f += 1
    return True


def _paley(q: int) -> np.ndarray:
    """Paley construction I: a Hadamard matrix of order q + 1 for prime q = 3 (mod 4)."""
    squares = {(x * x) % q for x in range(1, q)}
    chi = np.array([0] + [1 if a in squares else -1 for a in range(1, q)])
    jac = np.array([[chi[(j - i) % q] for j in range(q)] for i in range(q)])
    S = np.zeros((q + 1, q + 1), dtype=int)
    S[0, 1:] = 1
    S[1:, 0] = -1
    S[1:, 1:] = jac
    return (np.eye(q + 1, dtype=int) + S).astype(float)


def _hadamard_or_none(b: int):
    if b == 1:
        return np.ones((1, 1))
    if b == 2:
        return np.array([[1.0, 1.0], [1.0, -1.0]])
    if b == 4:
        return _H4.copy()
    if b % 2 == 0:
        half = _hadamard_or_none(b // 2)
        if half is not None:
            return np.kron(np.array([[1.0, 1.0], [1.0, -1.0]]), half)
    q = b - 1
    if q % 4 == 3 and _is_prime(q):
        return _paley(q)
    return None


def has_hadamard(b: int) -> bool:
    """Whether :func:`hadamard_matrix` can build a real Hadamard matrix of order ``b``."""
    return _hadamard_or_none(int(b)) is not None


def hadamard_matrix(b: int) -> np.ndarray:
    """A real ``b x b`` matrix with entries +-1 and orthogonal rows (``H H^T = b I``).

    Raises ``ValueError`` when no construction is known here (orders other than
    products of 2 with 4 or with ``q + 1``, q prime, q = 3 mod 4).
    """
    H = _hadamard_or_none(int(b))
    if H is None:
        raise ValueError(
            f"branching={b}: no real Hadamard matrix of this order is built by l2m-sim "
            "(orders 1, 2, 4, 8, 12, 16, 20, 24, ... are); use sign_matrix(b) or pass mixing="
        )
    return H


def sign_matrix(b: int) -> np.ndarray:
    """A +-1 matrix of order ``b``: Hadamard where known, else ``J - 2 diag(0, 1, ..., 1)``.

    The fallback has row 0 all ones and row j flipped at column j; it is invertible for
    every ``b >= 2`` but its rows are not orthogonal.
    """
    H = _hadamard_or_none(int(b))
    if H is not None:
        return H
    S = np.ones((b, b))
    S[np.arange(1, b), np.arange(1, b)] = -1.0
    return S


def default_copy_weights(branching: int, copies: int) -> np.ndarray:
    """Column weights ``d_m^2``: each copy column 5x a fresh one (the study's 5/16 : 1/16)."""
    w = np.ones(branching)
    w[:copies] = 5.0
    return w / w.sum()


def level_pair_mi(mixing, copies: int) -> float:
    """MI (nats) of the strongest canonical pair of one level-1 block cut in the middle.

    Level 1 is ``W = M eps`` with ``b`` iid normals; this is ``-1/2 ln(1 - sigma_1^2)`` for the
    largest canonical correlation ``sigma_1`` between ``W[:b//2]`` and ``W[b//2:]``. For an
    uncoupled design every canonical pair at the middle cut of level ``l`` is a copy of a
    level-1 pair (``k^(l-1)`` copies of each), so this is what each pair carries.
    """
    M = np.asarray(mixing, dtype=float)
    b = M.shape[0]
    S = M @ M.T
    h = b // 2
    Lx = np.linalg.cholesky(S[:h, :h])
    Ly = np.linalg.cholesky(S[h:, h:])
    K = np.linalg.solve(Lx, S[:h, h:])
    K = np.linalg.solve(Ly, K.T).T
    sig = float(np.linalg.svd(K, compute_uv=False)[0])
    return float(-0.5 * np.log1p(-min(sig, 1.0) ** 2))


def pair_mi_weights(branching: int, copies: int, pair_mi: float) -> np.ndarray:
    """Column weights (copies equal, fresh columns equal) giving each canonical pair
    ``pair_mi`` nats.

    The copy:fresh weight ratio ``r > 1`` is solved so that :func:`level_pair_mi` of
    ``hadamard_mixing(b, k, weights)`` equals ``pair_mi`` (``r = 1`` is white noise,
    ``r -> inf`` a perfect copy). For ``b = 4, k = 3`` the pair's correlation is exactly
    ``(r - 1) / (r + 1)``, so ``r = (1 + rho) / (1 - rho)`` with
    ``rho = sqrt(1 - exp(-2 pair_mi))``; the study's ratio ``r = 5`` gives 0.294 nats.

    Parameters
    ----------
    pair_mi : float
        Nats per canonical pair, in ``(0, PAIR_MI_MAX]``.
    """
    from scipy.optimize import brentq

    b = check_int("branching", branching, 2)
    k = check_int("copies", copies, 1, b - 1)
    if isinstance(pair_mi, (bool, np.bool_)) or not isinstance(pair_mi, (int, float, np.number)):
        raise TypeError(f"pair_mi must be a real number, got {type(pair_mi).__name__}")
    m = float(pair_mi)
    if not (0.0 < m <= PAIR_MI_MAX):
        raise ValueError(f"pair_mi must be in (0, {PAIR_MI_MAX}] nats, got {pair_mi!r}")

    def weights(log_r):
        w = np.ones(b)
        w[:k] = np.exp(log_r)
        return w / w.sum()

    def gap(log_r):
        return level_pair_mi(hadamard_mixing(b, k, weights(log_r)), k) - m

    hi = 1.0
    while gap(hi) < 0:
        hi *= 2
        if hi > 40:
            raise ValueError(f"pair_mi={m} is not reachable with branching={b}, copies={k}")
    lo = 1e-9
    if gap(lo) > 0:
        raise ValueError(f"pair_mi={m} is below what branching={b}, copies={k} can set")
    return weights(brentq(gap, lo, hi, xtol=1e-14, rtol=1e-14))


def hadamard_mixing(branching: int, copies: int, weights=None) -> np.ndarray:
    """``M = S_b diag(sqrt(weights))`` with unit-norm rows.

    Parameters
    ----------
    branching, copies : int
        ``b`` and ``k``; the first ``k`` columns act on copies.
    weights : array_like of shape (b,), optional
        Column weights ``d_m^2``, positive, summing to 1 (normalised if they do not).
        Default :func:`default_copy_weights` (the study's ratio; for ``b=4, k=3`` this
        gives exactly :func:`paper_mixing`).
    """
    b = check_int("branching", branching, 2)
    k = check_int("copies", copies, 1, b - 1)
    if weights is None:
        weights = default_copy_weights(b, k)
    w = np.asarray(weights, dtype=float)
    if w.shape != (b,):
        raise ValueError(f"weights must have shape ({b},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("weights must be finite and > 0 (a zero column makes mixing singular)")
    w = w / w.sum()
    return sign_matrix(b) * np.sqrt(w)


def validate_mixing(mixing, branching: int, copies: int, tol: float = 1e-9) -> np.ndarray:
    """Check a user mixing matrix: ``(b, b)``, finite, unit-norm rows, invertible, not
    orthogonal, and condition number at most :data:`MIXING_COND_MAX` (the range in which
    the exact recursions are checked to keep I_BP to ~1e-13 relative)."""
    try:
        M = np.array(mixing, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"mixing must be a real (b, b) array, got {type(mixing).__name__}") from exc
    b = int(branching)
    if M.shape != (b, b):
        raise ValueError(f"mixing must have shape ({b}, {b}) for branching={b}, got {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError("mixing must be finite (no NaN or inf entries)")
    norms = np.linalg.norm(M, axis=1)
    if np.max(np.abs(norms - 1.0)) > tol:
        raise ValueError(
            f"mixing rows must have unit norm (|norm - 1| <= {tol}); got row norms {np.round(norms, 6)}"
        )
    sv = np.linalg.svd(M, compute_uv=False)
    if sv[-1] <= 1e-10 * sv[0]:
        raise ValueError(
            f"mixing must be invertible (condition number < 1e10); smallest singular value {sv[-1]:.3g}"
        )
    M = M / norms[:, None]
    cond = float(np.linalg.cond(M))
    if not cond <= MIXING_COND_MAX:
        raise ValueError(
            f"mixing condition number {cond:.4g} exceeds {MIXING_COND_MAX:.0e}: the exact "
            f"recursions are checked to keep I_BP within ~1e-13 relative only up to a "
            f"condition number of {MIXING_COND_MAX:.0e} (beyond it they lose digits); use "
            f"weights closer to each other (hadamard_mixing: condition number "
            f"sqrt(max weight / min weight))")
    if np.allclose(M @ M.T, np.eye(b), atol=1e-12):
        raise ValueError(
            "mixing is orthogonal (M M^T = I): every level is white noise and all MI is zero; "
            "use a non-orthogonal design such as hadamard_mixing(b, k)"
        )
    return M
