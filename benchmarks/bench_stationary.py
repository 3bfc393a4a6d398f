"""Benchmarks of the stationary Gaussian family against dense baselines, in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_stationary.py            # full (several minutes)
    .venv/bin/python benchmarks/bench_stationary.py --quick    # smaller sizes (about a minute)

Every number is the median of ``--repeats`` timings (fewer for the slowest cases, as
printed); candidate and baseline are timed alternately so machine noise hits both.
Printed:

1. circulant-embedding sampler vs dense-Cholesky sampling of 64 sequences (fGn, H = 0.75),
   the O(L^3) factorisation amortised over the 64 samples; dense only up to
   ``--dense-max`` (its L x L factor needs 8 L^2 bytes), larger L reported as skipped;
2. exact conditional moments (Levinson-Durbin on the fly, O(L^2) per batch) vs the
   dense-Cholesky conditionals (triangular solve + matrix product given the factor, and
   with the factorisation), tokens/s; plus AR(2), whose exact conditionals are O(L p);
3. time of the exact bipartite MI at an arbitrary cut on a fresh object (one Levinson
   pass) for fGn, and for AR(1) at a length where only O(L) methods are feasible.

Dense baselines use numpy/scipy (multi-threaded BLAS); the numba kernels are single-threaded.
"""

from __future__ import annotations

import argparse
import os
import platform

import numba
import numpy as np
import scipy.linalg

import l2m_sim
from l2m_sim.processes.stationary import AR1, ARMA, FractionalGaussianNoise


from _timing import median_time, paired_times  # benchmarks/_timing.py


def bench_sampling(lengths, dense_max, repeats, nsamp=64):
    print(f"\n## 1. Circulant sampler vs dense-Cholesky sampling (fGn H=0.75, {nsamp} samples, "
          "factorisation amortised)")
    print(f"{'L':>7} {'M':>7} {'sampler s':>10} {'Msamp/s':>8} {'chol s':>8} {'dense s':>9} {'speed-up':>9}")
    rows = []
    for L in lengths:
        p = FractionalGaussianNoise(0.75, L)
        p.sample(2, rng=0)  # embedding + FFT plans
        M = p.circulant_embedding[0]
        if L <= dense_max:
            S = p.covariance()
            gen = np.random.default_rng(0)

            def dense():
                Lc = np.linalg.cholesky(S)
                return Lc @ gen.standard_normal((L, nsamp))

            reps = repeats if L <= 4096 else max(1, min(repeats, 3))
            t_dense, t_s = paired_times(dense, lambda: p.sample(nsamp, rng=1), reps)
            t_chol = median_time(lambda: np.linalg.cholesky(S), 1 if L > 4096 else 3)
            ratio = t_dense / t_s
            print(f"{L:>7} {M:>7} {t_s:>10.4f} {nsamp * L / t_s / 1e6:>8.1f} {t_chol:>8.3f} "
                  f"{t_dense:>9.3f} {ratio:>9.1f}")
            del S
        else:
            t_s = median_time(lambda: p.sample(nsamp, rng=1), repeats)
            ratio = None
            print(f"{L:>7} {M:>7} {t_s:>10.4f} {nsamp * L / t_s / 1e6:>8.1f} {'skipped (dense L x L too large)':>29}")
        rows.append((L, ratio))
    return rows


def bench_conditionals(lengths, dense_max, big, repeats, n=8):
    print(f"\n## 2. Exact conditionals: Levinson on the fly vs dense Cholesky ({n} sequences)")
    print(f"{'L':>7} {'Levinson ktok/s':>15} {'dense ktok/s':>12} {'dense+chol ktok/s':>17} "
          f"{'vs dense':>9} {'vs dense+chol':>13}")
    for L in lengths:
        p = FractionalGaussianNoise(0.75, L)
        x = p.sample(n, rng=0)
        p.conditional_moments(x[:1])  # compile / warm
        reps = repeats if L <= 4096 else max(1, min(repeats, 3))
        if L <= dense_max:
            S = p.covariance()
            t_chol = median_time(lambda: np.linalg.cholesky(S), 1 if L > 4096 else 3)
            Lc = np.linalg.cholesky(S)
            Ls = np.tril(Lc, -1)
            sd = np.diag(Lc)

            def dense():
                e = scipy.linalg.solve_triangular(Lc, x.T, lower=True)
                return (Ls @ e).T, sd

            t_fast, t_dense = paired_times(lambda: p.conditional_moments(x), dense, reps)
            tok = n * L
            print(f"{L:>7} {tok / t_fast / 1e3:>15.1f} {tok / t_dense / 1e3:>12.1f} "
                  f"{tok / (t_dense + t_chol) / 1e3:>17.1f} {t_dense / t_fast:>9.2f} "
                  f"{(t_dense + t_chol) / t_fast:>13.2f}")
            del S, Lc, Ls
        else:
            t_fast = median_time(lambda: p.conditional_moments(x), reps)
            print(f"{L:>7} {n * L / t_fast / 1e3:>15.1f} {'skipped (dense L x L too large)':>31}")
    for L in big:
        p = FractionalGaussianNoise(0.75, L)
        x = p.sample(1, rng=0)
        t = median_time(lambda: p.conditional_moments(x), 1)
        print(f"fGn L = {L}: one sequence {t:.2f} s = {L / t / 1e3:.1f} ktok/s (includes the O(L^2) "
              "Levinson pass; no L x L matrix stored)")
        q = ARMA(ar=(0.6, -0.3), length=L)
        xq = q.sample(n, rng=0)
        q.conditional_moments(xq[:1])
        t = median_time(lambda: q.conditional_moments(xq), repeats)
        print(f"AR(2) L = {L}: {n * L / t / 1e6:.1f} Mtok/s (O(L p))")


def bench_mi(lengths, ar_length, repeats):
    print("\n## 3. Exact bipartite MI at an arbitrary cut (fresh object: one Levinson pass)")
    print(f"{'process':>10} {'L':>9} {'cut':>9} {'I_BP nats':>10} {'seconds':>8}")
    FractionalGaussianNoise(0.75, 64).bipartite_mi()  # compile
    for L in lengths:
        cut = int(0.37 * L)
        reps = repeats if L <= 16384 else 1
        val = FractionalGaussianNoise(0.75, L).bipartite_mi(cut)
        t = median_time(lambda: FractionalGaussianNoise(0.75, L).bipartite_mi(cut), reps)
        print(f"{'fGn .75':>10} {L:>9} {cut:>9} {val:>10.4f} {t:>8.3f}")
    cut = int(0.37 * ar_length)
    val = AR1(0.9, ar_length).bipartite_mi(cut)
    t = median_time(lambda: AR1(0.9, ar_length).bipartite_mi(cut), repeats)
    print(f"{'AR1 .9':>10} {ar_length:>9} {cut:>9} {val:>10.4f} {t:>8.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    ap.add_argument("--repeats", type=int, default=5, help="timings per median (default 5)")
    ap.add_argument("--dense-max", type=int, default=None,
                    help="largest L for dense baselines (default 8192, --quick 4096)")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    dense_max = args.dense_max or (4096 if args.quick else 8192)
    print(f"l2m-sim {l2m_sim.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(numba kernels single-threaded; BLAS as configured)")
    if args.quick:
        rows = bench_sampling([1024, 4096, 16384, 65536], dense_max, args.repeats)
        bench_conditionals([1024, 4096], dense_max, [], args.repeats)
        bench_mi([4096, 16384], 2**20, args.repeats)
    else:
        rows = bench_sampling([1024, 2048, 4096, 8192, 16384, 32768, 65536], dense_max, args.repeats)
        bench_conditionals([1024, 4096, 8192], dense_max, [65536], args.repeats)
        bench_mi([4096, 16384, 65536], 2**22, args.repeats)
    dense_rows = [(L, r) for L, r in rows if r is not None]
    print("\nsampler speed-up over dense Cholesky: "
          + ", ".join(f"L={L}: {r:.0f}x" for L, r in dense_rows)
          + f"; dense skipped for L > {dense_max}")


if __name__ == "__main__":
    main()
