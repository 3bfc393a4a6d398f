"""Small helpers shared by the harness, the sweeps, the demo and the plots (one copy each)."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import numpy as np

__all__ = ["fit_exponent", "git_revision", "numba_threads"]


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


@contextlib.contextmanager
def numba_threads(threads: int | None):
    """Run the block with numba's parallel kernels capped at ``threads`` (``None``: leave
    them as they are), then restore the previous setting. The one place the package
    changes numba's thread count: the scans run small problems on one thread, and
    ``train(threads=n)`` keeps its samplers to ``n`` (two one-thread runs side by side
    otherwise each wake numba's whole pool on every batch)."""
    import numba

    old = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


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
