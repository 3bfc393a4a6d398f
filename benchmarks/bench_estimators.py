"""Benchmarks of the MI estimators against reference implementations, in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_estimators.py            # full (several minutes)
    .venv/bin/python benchmarks/bench_estimators.py --quick    # smaller sizes, 1 repeat

1. KSG on a Gaussian AR(1) sequence (phi = 0.9) split into two adjacent blocks of ``l``
   values (``l = 1, 4, 16, 32``, ``n = 5000`` samples; true MI 0.830 nats at every ``l``):
   accuracy side by side with the references and the other estimators (Gaussian log-det
   with the exact and first-order bias corrections, InfoNCE, NWJ), and the speed ratio of
   ``l2m_sim.estimators.ksg`` over

   * ``ref-loop``: a Python loop over points with numpy vector operations per point (the
     pure-Python/numpy way of writing KSG; same algorithm, same data, so the same value),
   * ``ref-kdtree``: scipy ``cKDTree`` (``p = inf``) k-NN and ball counts written from scratch,
   * ``ref-dense``: fully vectorised numpy distance matrices in row chunks (accuracy only at
     ``l <= 16`` in ``--quick``).

   scikit-learn's ``mutual_info_regression`` and NPEET are included automatically if they
   are importable (neither is installed in this environment; sklearn's is univariate only).
2. Grassberger two-point MI throughput on 10^7 tokens (1000 sequences of 10^4 tokens from a
   16-state chain), per distance, with jackknife standard errors, against a plain numpy
   ``bincount`` implementation without standard errors.

Every time is the median of ``--repeats`` timings; candidate and references are timed
alternately in the same process.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numba
import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from l2m_sim import estimators as E

PHI = 0.9
TRUE = -0.5 * math.log(1 - PHI**2)


def ar1_blocks(n, l, seed):
    rng = np.random.default_rng(seed)
    w = np.empty((n, 2 * l))
    w[:, 0] = rng.standard_normal(n)
    e = rng.standard_normal((n, 2 * l)) * math.sqrt(1 - PHI**2)
    for t in range(1, 2 * l):
        w[:, t] = PHI * w[:, t - 1] + e[:, t]
    return np.ascontiguousarray(w[:, :l]), np.ascontiguousarray(w[:, l:])


# ------------------------------------------------------------------------------------------
# Reference KSG implementations (algorithm 1, k neighbours, max-norm)
# ------------------------------------------------------------------------------------------


def ref_loop(x, y, k=3):
    """Python loop over points; numpy per point (what a plain implementation does)."""
    n = len(x)
    nx = np.empty(n)
    ny = np.empty(n)
    for i in range(n):
        dx = np.abs(x - x[i]).max(axis=1)
        dy = np.abs(y - y[i]).max(axis=1)
        dz = np.maximum(dx, dy)
        dz[i] = np.inf
        eps = np.partition(dz, k - 1)[k - 1]
        nx[i] = np.count_nonzero(dx < eps) - 1
        ny[i] = np.count_nonzero(dy < eps) - 1
    return digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))


def ref_kdtree(x, y, k=3):
    """scipy cKDTree: k-NN in the joint space, strict ball counts in the marginals."""
    z = np.concatenate([x, y], axis=1)
    eps = cKDTree(z).query(z, k=k + 1, p=np.inf)[0][:, k]
    r = np.nextafter(eps, 0)
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True) - 1
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, return_length=True) - 1
    n = len(x)
    return digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))


def ref_dense(x, y, k=3, chunk=100):
    n = len(x)
    nx = np.empty(n)
    ny = np.empty(n)
    for s in range(0, n, chunk):
        sl = slice(s, min(s + chunk, n))
        dx = np.abs(x[sl, None, :] - x[None]).max(axis=2)
        dy = np.abs(y[sl, None, :] - y[None]).max(axis=2)
        dz = np.maximum(dx, dy)
        rows = np.arange(dz.shape[0])
        dz[rows, rows + s] = np.inf
        eps = np.partition(dz, k - 1, axis=1)[:, k - 1]
        nx[sl] = (dx < eps[:, None]).sum(1) - 1
        ny[sl] = (dy < eps[:, None]).sum(1) - 1
    return digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))


def optional_refs():
    refs = {}
    try:
        from sklearn.feature_selection import mutual_info_regression

        def sk(x, y, k=3):
            if x.shape[1] != 1 or y.shape[1] != 1:
                return None  # univariate only
            return float(mutual_info_regression(x, y[:, 0], n_neighbors=k, random_state=0)[0])

        refs["sklearn"] = sk
    except ImportError:
        pass
    try:
        import npeet.entropy_estimators as ee  # type: ignore

        refs["npeet"] = lambda x, y, k=3: float(ee.mi(x, y, k=k, base=math.e))
    except ImportError:
        pass
    return refs


def median_time(fn, repeats):
    ts, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out


def bench_ksg(n, ls, repeats, neural, dense_max_l):
    print(f"\n== KSG (k = 3, algorithm 1) on AR(1) blocks, phi = {PHI}, n = {n}; true MI = {TRUE:.3f} nats ==")
    extra = optional_refs()
    print("optional references importable:", ", ".join(extra) or "none (sklearn, npeet not installed)")
    # warm the numba / torch caches outside the timings
    x, y = ar1_blocks(200, 2, 0)
    E.ksg(x, y, method="brute")
    E.ksg(x, y, algorithm=2, method="brute")
    rows = []
    for l in ls:
        x, y = ar1_blocks(n, l, 1000 + l)
        cand = {}
        ref = {}
        tc, tr, tk = [], [], []
        for _ in range(repeats):  # alternate candidate and references
            t0 = time.perf_counter()
            cand["ksg1"] = E.ksg(x, y, k=3, algorithm=1)
            tc.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref["ref-loop"] = ref_loop(x, y)
            tr.append(time.perf_counter() - t0)
            if x.shape[1] + y.shape[1] <= 34:
                t0 = time.perf_counter()
                ref["ref-kdtree"] = ref_kdtree(x, y)
                tk.append(time.perf_counter() - t0)
        t_c, t_r = float(np.median(tc)), float(np.median(tr))
        t_k = float(np.median(tk)) if tk else float("nan")
        if l <= dense_max_l:
            ref["ref-dense"] = ref_dense(x, y)
        for name, f in extra.items():
            v = f(x, y)
            if v is not None:
                ref[name] = v
        t_c2, cand["ksg2"] = median_time(lambda: E.ksg(x, y, k=3, algorithm=2), repeats)
        cand["gaussian"] = E.gaussian(x, y)
        cand["gauss-1st"] = E.gaussian(x, y, bias="first_order")
        if neural:
            t_nce, cand["infonce"] = median_time(lambda: E.infonce(x, y, rng=0), 1)
            t_nwj, cand["nwj"] = median_time(lambda: E.nwj(x, y, rng=0), 1)
        else:
            t_nce = t_nwj = float("nan")
        rows.append((l, cand, ref, t_c, t_c2, t_r, t_k, t_nce, t_nwj))
        print(f"\nl = {l} (x, y each {l}-dimensional)")
        print("  estimates (nats; loss = 1 - est / truth):")
        for name, v in list(cand.items()) + list(ref.items()):
            print(f"    {name:11s} {v:8.4f}   loss {100 * (1 - v / TRUE):6.1f}%")
        print("  |ksg1 - ref-loop| = %.2e nats" % abs(cand["ksg1"] - ref["ref-loop"]))
        print(f"  time ksg1 {t_c:.3f} s, ksg2 {t_c2:.3f} s | ref-loop {t_r:.3f} s "
              f"(x{t_r / t_c:.1f}) | ref-kdtree {t_k:.3f} s (x{t_k / t_c:.1f})")
        if neural:
            print(f"  time infonce {t_nce:.2f} s, nwj {t_nwj:.2f} s (defaults, 1 torch thread)")
    print("\nsummary  l | ksg1   ksg2   ref-loop  gauss  infonce  nwj   | ksg1 s  ref-loop s  speed-up  "
          "ref-kdtree s")
    for l, cand, ref, t_c, t_c2, t_r, t_k, *_ in rows:
        print(f"        {l:2d} | {cand['ksg1']:.3f}  {cand['ksg2']:.3f}  {ref['ref-loop']:.3f}     "
              f"{cand['gaussian']:.3f}  {cand.get('infonce', float('nan')):.3f}    "
              f"{cand.get('nwj', float('nan')):.3f} | {t_c:6.3f}  {t_r:9.3f}  x{t_r / t_c:6.1f}   {t_k:8.3f}")


# ------------------------------------------------------------------------------------------
# Two-point MI throughput
# ------------------------------------------------------------------------------------------


def chain_tokens(n, L, M, seed):
    """M-state chain: stay with prob 0.7, else jump uniformly (stationary start)."""
    rng = np.random.default_rng(seed)
    tok = np.empty((n, L), dtype=np.int64)
    tok[:, 0] = rng.integers(0, M, n)
    stay = rng.random((n, L)) < 0.7
    jump = rng.integers(0, M, (n, L))
    for t in range(1, L):
        tok[:, t] = np.where(stay[:, t], tok[:, t - 1], jump[:, t])
    return tok


def ref_bincount_mi(tok, d, M):
    """Plain numpy: one bincount per distance, Grassberger entropies, no standard error."""
    a = tok[:, :-d].ravel()
    b = tok[:, d:].ravel()
    J = np.bincount(a * M + b, minlength=M * M)
    return (E.grassberger_entropy(np.bincount(a, minlength=M)) + E.grassberger_entropy(np.bincount(b, minlength=M))
            - E.grassberger_entropy(J))


def bench_two_point(n, L, M, repeats):
    tok = chain_tokens(n, L, M, 0)
    ds = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    E.two_point_mi(tok[:4, :100], [1, 2])  # compile
    print(f"\n== Grassberger two-point MI: {n} x {L} = {n * L:.1e} tokens, M = {M}, "
          f"{len(ds)} distances ==")
    tc, tr = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        mi, se = E.two_point_mi(tok, ds, return_se=True)
        tc.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = np.array([ref_bincount_mi(tok, int(d), M) for d in ds])
        tr.append(time.perf_counter() - t0)
    t_c, t_r = float(np.median(tc)), float(np.median(tr))
    per_d = t_c / len(ds)
    print(f"  two_point_mi (with jackknife SE, 20 groups): {t_c:.2f} s for {len(ds)} distances = "
          f"{per_d:.3f} s per distance = {n * L / per_d / 1e6:.0f} M tokens/s per distance")
    print(f"  numpy bincount reference (no SE):            {t_r:.2f} s  (ratio ref / ours = {t_r / t_c:.2f})")
    print(f"  max |difference| = {np.max(np.abs(mi - ref)):.1e} nats")
    print("  d:   " + " ".join(f"{d:8d}" for d in ds))
    print("  MI:  " + " ".join(f"{v:8.5f}" for v in mi))
    print("  SE:  " + " ".join(f"{v:8.5f}" for v in se))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, 1 repeat")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-neural", action="store_true", help="skip InfoNCE / NWJ")
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"numba threads {numba.get_num_threads()}, machine {platform.machine()}")
    if args.quick:
        bench_ksg(2000, [1, 4, 16, 32], repeats, neural=not args.no_neural, dense_max_l=16)
        bench_two_point(200, 10_000, 16, repeats)
    else:
        bench_ksg(5000, [1, 4, 16, 32], repeats, neural=not args.no_neural, dense_max_l=32)
        bench_two_point(1000, 10_000, 16, repeats)


if __name__ == "__main__":
    main()
