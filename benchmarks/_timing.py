"""Timing helpers shared by the benchmark scripts (medians; alternating pairs so that
machine noise hits baseline and candidate alike)."""

from __future__ import annotations

import time

import numpy as np


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls."""
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def paired_times(fa, fb, repeats: int) -> tuple[float, float]:
    """Median times of ``fa`` and ``fb`` measured alternately."""
    ta, tb = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fa()
        ta.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fb()
        tb.append(time.perf_counter() - t0)
    return float(np.median(ta)), float(np.median(tb))
