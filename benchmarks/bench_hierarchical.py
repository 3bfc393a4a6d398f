"""Benchmarks of the hierarchical Gaussian family against its baselines, in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_hierarchical.py            # full (a few minutes)
    .venv/bin/python benchmarks/bench_hierarchical.py --quick    # smaller sizes

Every number is the median of ``--repeats`` timings; baseline and candidate are timed
alternately in the same process so that machine noise hits both. Printed ratios:

1. sampler throughput / numpy ``Generator.standard_normal`` throughput for the same number
   of normals (L = 4^6 .. 4^10; sampler with 1 and 2 numba threads; numpy is one thread);
2. sampler speed-up over dense-Cholesky sampling at L = 1024 and 4096, the factorisation
   amortised over 64 samples;
3. exact conditionals (message passing) tokens/s, against the dense-Cholesky computation
   (L up to 16384) and as a fraction of the RNG throughput measured above;
4. time of the exact bipartite MI at an arbitrary cut for L = 4^10 and 4^12 (fresh object,
   so it includes computing the conditional variances).
"""

from __future__ import annotations

import argparse
import platform

import numba
import numpy as np
import scipy.linalg

import l2m_sim
from l2m_sim import HierarchicalGaussian


from _timing import median_time, paired_times  # benchmarks/_timing.py


def bench_sampler(levels, repeats, normals=2**22):
    print("\n## 1. Sampler vs numpy standard_normal (same number of normals)")
    print(f"{'L':>8} {'threads':>7} {'numpy M/s':>10} {'sampler M/s':>12} {'ratio':>6}")
    rows = []
    for lv in levels:
        p = HierarchicalGaussian(4, 3, lv)
        L = p.length
        n = max(1, normals // L)
        for threads in (1, 2):
            numba.set_num_threads(threads)
            p.sample(n, rng=0)  # compile / warm
            gen = np.random.default_rng(0)
            t_np, t_s = paired_times(lambda: gen.standard_normal((n, L)),
                                     lambda: p.sample(n, rng=1), repeats)
            r = t_np / t_s
            rows.append((L, threads, r))
            print(f"{L:>8} {threads:>7} {n * L / t_np / 1e6:>10.1f} {n * L / t_s / 1e6:>12.1f} {r:>6.2f}")
    numba.set_num_threads(1)
    return rows


def bench_dense_sampling(lengths, repeats, nsamp=64):
    print(f"\n## 2. Sampler vs dense-Cholesky sampling ({nsamp} samples, factorisation amortised)")
    print(f"{'L':>8} {'chol s':>8} {'dense s/64':>10} {'sampler s/64':>12} {'speed-up':>9}")
    numba.set_num_threads(1)
    for lv in lengths:
        p = HierarchicalGaussian(4, 3, lv)
        S = p.covariance()
        gen = np.random.default_rng(0)

        def dense():
            Lc = np.linalg.cholesky(S)
            return Lc @ gen.standard_normal((p.length, nsamp))

        p.sample(nsamp, rng=0)
        t_dense, t_s = paired_times(dense, lambda: p.sample(nsamp, rng=0), max(3, repeats // 2))
        t_chol = median_time(lambda: np.linalg.cholesky(S), 3)
        print(f"{p.length:>8} {t_chol:>8.3f} {t_dense:>10.4f} {t_s:>12.5f} {t_dense / t_s:>9.1f}")


def bench_conditionals(dense_levels, big_level, repeats, rng_rate):
    print("\n## 3. Exact conditionals: message passing vs dense Cholesky (one thread)")
    print(f"{'L':>8} {'n':>4} {'fast Mtok/s':>11} {'dense Mtok/s':>12} {'dense+chol s':>12} {'speed-up':>9}")
    numba.set_num_threads(1)
    for lv in dense_levels:
        p = HierarchicalGaussian(4, 3, lv)
        n = 8
        x = p.sample(n, rng=0)
        p.conditional_moments(x[:1])
        S = p.covariance()
        t_chol = median_time(lambda: np.linalg.cholesky(S), 1 if lv >= 7 else 3)
        Lc = np.linalg.cholesky(S)
        Ls = np.tril(Lc, -1)

        def dense():
            e = scipy.linalg.solve_triangular(Lc, x.T, lower=True)
            return Ls @ e

        t_fast, t_dense = paired_times(lambda: p.conditional_moments(x), dense, repeats)
        print(f"{p.length:>8} {n:>4} {n * p.length / t_fast / 1e6:>11.2f} "
              f"{n * p.length / t_dense / 1e6:>12.2f} {t_chol + t_dense:>12.3f} {t_dense / t_fast:>9.1f}")
    p = HierarchicalGaussian(4, 3, big_level)
    x = p.sample(4, rng=0)
    p.conditional_moments(x[:1])
    t = median_time(lambda: p.conditional_moments(x), repeats)
    rate = x.size / t
    print(f"L = 4^{big_level}: {rate / 1e6:.2f} M tokens/s per thread "
          f"= {rate / rng_rate:.3f} x the numpy RNG throughput ({rng_rate / 1e6:.1f} M normals/s)")


def bench_mi(levels, repeats):
    print("\n## 4. Exact bipartite MI at any cut (fresh object: includes conditional variances)")
    print(f"{'L':>10} {'cut':>10} {'I_BP nats':>12} {'seconds':>8}")
    numba.set_num_threads(1)
    HierarchicalGaussian(4, 3, 3).bipartite_mi()  # compile
    for lv in levels:
        L = 4**lv
        cut = int(0.37 * L)
        val = HierarchicalGaussian(4, 3, lv).bipartite_mi(cut)
        t = median_time(lambda: HierarchicalGaussian(4, 3, lv).bipartite_mi(cut), repeats)
        print(f"{L:>10} {cut:>10} {val:>12.3f} {t:>8.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    ap.add_argument("--repeats", type=int, default=7, help="timings per median (default 7)")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    print(f"l2m-sim {l2m_sim.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
          f"{platform.processor() or platform.machine()}, {numba.config.NUMBA_NUM_THREADS} cores")
    if args.quick:
        rows = bench_sampler([6, 8], args.repeats)
        bench_dense_sampling([5], args.repeats)
        gen = np.random.default_rng(0)
        rng_rate = 2**20 / median_time(lambda: gen.standard_normal(2**20), args.repeats)
        bench_conditionals([5, 6], 8, args.repeats, rng_rate)
        bench_mi([8, 10], 3)
    else:
        rows = bench_sampler([6, 7, 8, 9, 10], args.repeats)
        bench_dense_sampling([5, 6], args.repeats)
        gen = np.random.default_rng(0)
        rng_rate = 2**22 / median_time(lambda: gen.standard_normal(2**22), args.repeats)
        bench_conditionals([5, 6, 7], 10, args.repeats, rng_rate)
        bench_mi([10, 12], 3)
    worst = min(r for L, th, r in rows if th == 1 and L >= 4096)
    print(f"\nworst single-thread sampler/numpy ratio at L >= 4096: {worst:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
