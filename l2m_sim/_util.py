"""Small helpers shared by the harness, the sweeps, the demo and the plots (one copy each)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

__all__ = ["fit_exponent", "git_revision"]


def fit_exponent(x, y) -> float:
    """Least-squares slope of ``ln y`` on ``ln x`` over the points with finite positive
    ``x, y`` (nan if fewer than two): the one log-log slope of the package (a bipartite
    exponent from ``I_BP`` against ``L``; minus a two-point exponent from ``I`` against ``d``)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def git_revision() -> str:
    """Commit of the source tree this package was imported from (``+dirty`` if tracked files
    are modified); ``"unknown"`` outside a git checkout of the package or without git."""
    root = Path(__file__).resolve().parent.parent

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return "unknown"
        rev = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")
