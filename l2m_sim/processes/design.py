"""Design by target: a hierarchical Gaussian with a requested beta and alpha.

What it must reproduce (and how the tests check it):

* ``beta``. Without coupling ``I_BP`` is multiplied by ``k_t`` at level ``t`` exactly, so a
  schedule with branching ``b`` and copies ``k_t`` has ``beta_eff = sum ln k_t / (l ln b)``.
  An integer ``b**beta`` gives a uniform schedule (exact); otherwise ``k_t`` alternates
  between ``floor(b**beta)`` and ``ceil(b**beta)`` so that the running sum
  ``sum_{s <= t} ln k_s`` stays within ``ln(ceil/floor) / 2`` of ``t beta ln b`` (a
  Bresenham / Sturmian schedule). Tests compare ``beta_eff`` and the exponent fitted from
  the exact ``I_BP`` over levels with the target.
* ``alpha``. For a Hadamard design ``M = H_b diag(d)`` the position-averaged two-point
  exponent is ``alpha_avg = -log_b sum_{copies} d_m^4`` and the envelope exponent is
  ``alpha_env = -2 log_b w`` (``w = sum_{copies} d_m^2``), independently of beta. The copy
  weights of every level are solved so the chosen exponent equals the target exactly;
  tests compare ``process.exponents()`` with it.

Impossible targets are refused with ``ValueError``: ``beta`` outside ``[0, 1)`` (``k = b`` is
a volume law without fresh noise), ``beta > log_b(b - 1)`` for the requested branching,
``alpha <= 0`` (two-point MI cannot grow with distance here), and the white-noise point:
the one alpha at which the copy weights come out equal to the fresh ones (``1/b`` each;
``alpha_avg = 2 - log_b k``, ``alpha_env = 2 (1 - log_b k)``), an orthogonal mixing with
zero MI everywhere (the message names the target and the values on either side that work).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .hierarchical import LENGTH_MAX, Exponents, HierarchicalGaussian, Level
from .mixing import has_hadamard, hadamard_mixing
from .._util import fit_exponent
from ..protocol import check_float, check_int

__all__ = ["Design", "design", "copy_schedule", "copy_weights_for_alpha"]

_BRANCHINGS = (2, 4, 8, 16, 32, 64)
_FRESH_MIN = 0.05


@dataclass(frozen=True, eq=False)
class Design:
    """A design that meets a (beta, alpha) target, with the exact values it achieves.

    Attributes
    ----------
    process : HierarchicalGaussian
    target_beta, target_alpha : float
    alpha_kind : str
        ``"avg"`` or ``"env"``: which two-point exponent the target refers to.
    exponents : Exponents
        Closed-form exponents of the design (``beta`` is ``beta_eff``).
    beta_fit : float
        Least-squares slope of ``ln I_BP(middle cut)`` against ``ln L`` over the design's
        sub-levels 1..l, computed from the exact values.
    copies : tuple of int
        ``k_t`` per level (level 1 first).
    """

    process: HierarchicalGaussian
    target_beta: float
    target_alpha: float
    alpha_kind: str
    exponents: Exponents
    beta_fit: float
    copies: tuple

    def summary(self) -> str:
        e = self.exponents
        alpha = e.alpha_avg if self.alpha_kind == "avg" else e.alpha_env
        return (f"branching={self.process.schedule[0].branching} levels={self.process.levels} "
                f"copies={list(self.copies)}\n"
                f"beta : target {self.target_beta:.6g}  closed form {e.beta:.6g}  "
                f"fitted from exact I_BP {self.beta_fit:.6g}\n"
                f"alpha_{self.alpha_kind}: target {self.target_alpha:.6g}  achieved {alpha:.6g}  "
                f"(alpha_avg {e.alpha_avg:.4g}, alpha_env {e.alpha_env:.4g}, "
                f"alpha_antipodal {e.alpha_antipodal:.4g})")


def copy_schedule(beta: float, branching: int, levels: int) -> list[int]:
    """Copies ``k_t`` per level whose running exponent tracks ``beta`` (see module docstring)."""
    target = branching**beta
    k_lo = max(1, int(math.floor(target + 1e-12)))
    if abs(target - round(target)) < 1e-9 * target:
        return [int(round(target))] * levels
    k_hi = k_lo + 1
    ks, acc = [], 0.0
    for t in range(1, levels + 1):
        goal = t * beta * math.log(branching)
        # take the choice that keeps the running sum closest to the goal
        lo, hi = acc + math.log(k_lo), acc + math.log(k_hi)
        k = k_lo if abs(lo - goal) <= abs(hi - goal) else k_hi
        ks.append(k)
        acc += math.log(k)
    return ks


def copy_weights_for_alpha(alpha: float, branching: int, copies: int, kind: str = "avg") -> np.ndarray:
    """Column weights ``d_m^2`` of a Hadamard design whose ``alpha_kind`` equals ``alpha``.

    ``kind="avg"``: ``sum_{copies} d^4 = b^-alpha``. Equal copy weights when that leaves at
    least 5% of the weight to fresh noise (k >= 2), else one heavier copy (a quadratic
    gives it). ``kind="env"``: copy weight ``w = b^(-alpha/2)`` split equally.
    """
    b, k = branching, copies
    if kind == "env":
        w = branching ** (-alpha / 2.0)
        cw = np.full(k, w / k)
    elif kind == "avg":
        S = branching ** (-alpha)
        w_eq = math.sqrt(k * S)
        if k == 1 or w_eq <= 1.0 - _FRESH_MIN:
            cw = np.full(k, w_eq / k)
            w = w_eq
        else:
            w = 1.0 - min(_FRESH_MIN, (1.0 - math.sqrt(S)) / 2.0)
            a = (w + math.sqrt((k - 1) * (k * S - w * w))) / k
            e = (w - a) / (k - 1)
            cw = np.array([a] + [e] * (k - 1))
    else:
        raise ValueError(f"alpha_kind must be 'avg' or 'env', got {kind!r}")
    if not w < 1.0:
        raise ValueError(f"alpha={alpha}: needs copy weight {w:.4g} >= 1, leaving no fresh noise")
    fresh = np.full(b - k, (1.0 - w) / (b - k))
    return np.concatenate([cw, fresh])


def _white_noise_alpha(b, k, kind):
    """The alpha at which the Hadamard design puts weight 1/b on every column (white noise)."""
    return 2.0 - math.log(k) / math.log(b) if kind == "avg" else 2.0 * (1.0 - math.log(k) / math.log(b))


def _white_noise_message(beta, alpha, kind, b, k):
    a0 = _white_noise_alpha(b, k, kind)
    return (f"design(beta={beta}, alpha={alpha}, alpha_kind={kind!r}): with branching {b} and "
            f"{k} cop{'y' if k == 1 else 'ies'} per level this target needs the same weight 1/{b} "
            f"on every column, an orthogonal mixing: every level is then white noise and all "
            f"MI is zero, so alpha_{kind} = {a0:.6g} is the one value this (beta, branching) "
            f"cannot have. Every other alpha > 0 reachable here can (for example "
            f"alpha={a0 - 0.05:.6g} or {a0 + 0.05:.6g}), or choose another branching")


def design(beta, alpha, branching=None, levels=None, alpha_kind="avg", channels=1) -> Design:
    """Build a hierarchical Gaussian whose exponents meet ``(beta, alpha)``.

    Parameters
    ----------
    beta : float
        Target bipartite exponent, ``0 <= beta < 1``.
    alpha : float
        Target two-point exponent (``alpha_kind`` says which), ``alpha > 0``.
    branching : int, optional
        ``b`` with a Hadamard matrix (2, 4, 8, 12, 16, ...). Default: the smallest power of
        two with ``log_b(b - 1) >= beta``.
    levels : int, optional
        Default: the largest ``l`` with ``b**l <= 2**16``.
    alpha_kind : {"avg", "env"}
    channels : int

    Returns
    -------
    Design
    """
    beta = check_float("beta", beta)
    alpha = check_float("alpha", alpha)
    if not 0.0 <= beta < 1.0:
        raise ValueError(
            f"beta must be in [0, 1), got {beta}: beta = 1 needs k = b copies (a volume law "
            "with no fresh noise), outside this family")
    if not alpha > 0.0:
        raise ValueError(f"alpha must be > 0 (two-point MI decaying with distance), got {alpha}")
    if alpha_kind not in ("avg", "env"):
        raise ValueError(f"alpha_kind must be 'avg' or 'env', got {alpha_kind!r}")
    if branching is None:
        fits = [b for b in _BRANCHINGS if beta <= math.log(b - 1) / math.log(b) + 1e-12]
        if not fits:
            raise ValueError(f"beta={beta} exceeds log_64(63) = 0.9962, the largest supported")
        branching = fits[0]
    else:
        branching = check_int("branching", branching, 2, 64)
        if not has_hadamard(branching):
            raise ValueError(f"branching={branching}: design() needs a Hadamard order (2, 4, 8, 12, 16, 20, ...)")
        bmax = math.log(branching - 1) / math.log(branching)
        if beta > bmax + 1e-12:
            raise ValueError(
                f"beta={beta} is not reachable with branching={branching} (at most "
                f"log_b(b-1) = {bmax:.4f}); use a larger branching")
    b = branching
    if levels is None:
        levels = max(1, int(math.floor(16 * math.log(2) / math.log(b) + 1e-9)))
    else:  # before any work: the schedule has one entry per level
        levels = check_int("levels", levels, 1, int(math.floor(math.log(LENGTH_MAX) / math.log(b)
                                                               + 1e-9)))
    if not b ** (-alpha) > 1e-300:
        raise ValueError(f"alpha={alpha} is too large for branching {b}: the copy weight "
                         f"b**(-alpha) underflows to 0")
    ks = copy_schedule(beta, b, levels)
    weights = {k: copy_weights_for_alpha(alpha, b, k, alpha_kind) for k in sorted(set(ks))}
    for k, w in weights.items():
        if np.max(np.abs(w - 1.0 / b)) <= 1e-12:
            raise ValueError(_white_noise_message(beta, alpha, alpha_kind, b, k))
    schedule = [Level(b, k, hadamard_mixing(b, k, weights[k])) for k in ks]
    proc = HierarchicalGaussian.from_schedule(schedule, channels=channels)
    # exponent fitted from the exact bipartite MI of the sub-levels (middle cut of each)
    Ls, Is = [], []
    for t in range(1, levels + 1):
        sub = proc if t == levels else proc.sublevel(t)
        Ls.append(sub.length)
        Is.append(sub.bipartite_mi())
    beta_fit = fit_exponent(Ls, Is)  # nan with fewer than two positive values
    return Design(process=proc, target_beta=beta, target_alpha=alpha, alpha_kind=alpha_kind,
                  exponents=proc.exponents(), beta_fit=beta_fit, copies=tuple(ks))
