"""Mutual-information estimators, all in nats, scored against exact ground truth elsewhere.

Tokens
    :func:`plugin_entropy`, :func:`miller_madow_entropy`, :func:`grassberger_entropy`
    (counts -> float, ``return_se=True`` -> ``Estimate(value, se)``);
    :func:`two_point_mi` (tokens, distances -> array; jackknife standard errors) and the
    log-space bias fit :func:`fit_power_law`.
Continuous ``(x, y)`` samples
    :func:`gaussian` (log-det, exact Wishart bias correction), :func:`ksg` (KSG 1 and 2,
    max-norm, numba / KD-tree), :func:`infonce` and :func:`nwj` (torch critics, held-out
    evaluation). :data:`ESTIMATORS` maps names to ``f(x, y, rng=None) -> float``;
    :func:`split_blocks` / :func:`estimate_bipartite` apply them across a cut of sequences.
Model-based (bipartite MI from an autoregressive model or an exact process)
    :func:`direct_bipartite`, :func:`vclub_bipartite` (``Estimate`` with a Monte-Carlo
    standard error).

Usage: ``from l2m_sim import estimators as E; E.ksg(x, y, k=3)``.
"""

from ._common import Estimate
from .entropy import (
    ENTROPY_METHODS,
    grassberger_G,
    grassberger_entropy,
    miller_madow_entropy,
    plugin_entropy,
)
from .gaussian import gaussian, gaussian_bias
from .knn import ksg, ksg_counts
from .model_based import direct_bipartite, position_log_probs, vclub_bipartite
from .neural import infonce, nwj
from .sequences import ESTIMATORS, estimate_bipartite, get_estimator, split_blocks
from .twopoint import PowerLawFit, fit_power_law, two_point_mi

__all__ = [
    "Estimate",
    "ENTROPY_METHODS",
    "plugin_entropy",
    "miller_madow_entropy",
    "grassberger_entropy",
    "grassberger_G",
    "two_point_mi",
    "fit_power_law",
    "PowerLawFit",
    "gaussian",
    "gaussian_bias",
    "ksg",
    "ksg_counts",
    "infonce",
    "nwj",
    "direct_bipartite",
    "vclub_bipartite",
    "position_log_probs",
    "ESTIMATORS",
    "get_estimator",
    "split_blocks",
    "estimate_bipartite",
]
