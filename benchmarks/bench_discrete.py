"""Benchmarks of the discrete hierarchical copy family (``HierarchicalDiscrete``), in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_discrete.py            # full (about a minute)
    .venv/bin/python benchmarks/bench_discrete.py --quick    # smaller sizes

Every number is the median of ``--repeats`` timings; baseline and candidate are timed
alternately in the same process so that machine noise hits both. Printed:

1. sampler tokens/s (numba, 1 and 2 threads) against a plain numpy implementation of the
   same construction (level by level, vectorised over sequences, same random numbers and
   the identical output), and the ratio;
2. exact conditionals ``conditional_probs`` tokens/s (message passing), and
   ``log_prob`` tokens/s (O(L) row inversion), 1 and 2 threads.
"""

from __future__ import annotations

import argparse
import platform

import numba
import numpy as np

from l2m_sim.processes.discrete import HierarchicalDiscrete

from _timing import median_time, paired_times  # benchmarks/_timing.py


def bench_sampler(designs, repeats, tokens):
    print("\n## 1. Sampler: numba vs plain numpy (same construction, same random numbers)")
    print(f"{'b':>2} {'k':>2} {'M':>3} {'L':>7} {'thr':>3} {'numpy Mtok/s':>12} {'numba Mtok/s':>12} {'ratio':>6}")
    for b, k, M, lv in designs:
        p = HierarchicalDiscrete(b, k, lv, M)
        L = p.length
        n = max(1, tokens // L)
        assert np.array_equal(p.sample(3, rng=0), p._sample_numpy(3, rng=0))
        for threads in (1, 2):
            numba.set_num_threads(threads)
            p.sample(n, rng=0)  # warm
            t_np, t_nb = paired_times(lambda: p._sample_numpy(n, rng=1), lambda: p.sample(n, rng=1), repeats)
            print(f"{b:>2} {k:>2} {M:>3} {L:>7} {threads:>3} {n * L / t_np / 1e6:>12.2f} "
                  f"{n * L / t_nb / 1e6:>12.2f} {t_np / t_nb:>6.1f}")
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def bench_conditionals(designs, repeats, tokens):
    print("\n## 2. Exact conditionals (message passing) and log_prob")
    print(f"{'b':>2} {'k':>2} {'M':>3} {'M^b':>6} {'L':>7} {'thr':>3} {'cond Mtok/s':>11} "
          f"{'logp Mtok/s':>11}")
    for b, k, M, lv in designs:
        p = HierarchicalDiscrete(b, k, lv, M)
        L = p.length
        n = max(1, tokens // L)
        x = p.sample(n, rng=2)
        for threads in (1, 2):
            numba.set_num_threads(threads)
            p.conditional_probs(x[:1])
            p.log_prob(x[:1])
            t_c = median_time(lambda: p.conditional_probs(x), repeats)
            t_l = median_time(lambda: p.log_prob(x), repeats)
            print(f"{b:>2} {k:>2} {M:>3} {M ** b:>6} {L:>7} {threads:>3} {n * L / t_c / 1e6:>11.2f} "
                  f"{n * L / t_l / 1e6:>11.2f}")
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--repeats", type=int, default=None, help="timings per median (default 7, quick 3)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    tokens = 2**18 if args.quick else 2**21
    if args.quick:
        samp = [(4, 3, 2, 5), (4, 3, 4, 6)]
        cond = [(4, 3, 2, 5), (4, 3, 4, 5), (2, 1, 2, 10)]
    else:
        samp = [(4, 3, 2, 5), (4, 3, 2, 8), (4, 3, 4, 8), (2, 1, 2, 16), (8, 5, 2, 5)]
        cond = [(4, 3, 2, 8), (4, 3, 4, 8), (2, 1, 2, 16), (4, 2, 16, 5), (8, 5, 2, 5)]
    print(f"# bench_discrete ({'quick' if args.quick else 'full'}), medians of {repeats}; "
          f"numba {numba.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()}, "
          f"{numba.config.NUMBA_NUM_THREADS} numba threads available")
    bench_sampler(samp, repeats, tokens)
    bench_conditionals(cond, repeats, tokens // 4)


if __name__ == "__main__":
    main()
