"""Benchmarks of the Santa Fe family (``SantaFe``, ``DriftingSantaFe``) against plain numpy.

Run from the repository root::

    .venv/bin/python benchmarks/bench_santafe.py            # full (a minute or two)
    .venv/bin/python benchmarks/bench_santafe.py --quick    # smaller sizes

Every number is the median of ``--repeats`` timings; baseline and candidate are timed
alternately in the same process so that machine noise hits both. Printed, for a few
``(K, L)`` (``K`` facts, length ``L``):

1. sampler tokens/s, numba (1 and 2 threads) against plain numpy: ``SantaFe._sample_numpy``
   (the package's reference: same random numbers, identical output) and, for the drifting
   variant, :func:`numpy_drift_sample` below (same random numbers, identical output:
   a stable sort by fact, gaps between consecutive looks, flips accumulated per fact);
2. exact ``position_log_probs`` (the per-token log-likelihood behind ``log_prob``)
   tokens/s, numba against numpy (:func:`numpy_log_probs`: a stable sort by fact, first
   look or gap to the previous look), one thread;
3. exact ``conditional_probs`` (the full ``(n, L, 2K)`` conditional) tokens/s, numba
   against numpy (:func:`numpy_conditionals`: the last look at every fact before every
   position by a running maximum over an ``(L, K)`` array), one thread. Its output is
   ``2K`` floats per token, so ``K`` is kept small there.

Every numpy baseline is checked against the library before it is timed (samples identical;
log-probabilities to 1e-12 and conditionals to 1e-10 relative: ``1 - rho`` rounds differently).
"""

from __future__ import annotations

import argparse
import platform

import numba
import numpy as np

from l2m_sim.processes.santafe import DriftingSantaFe, SantaFe

from _timing import paired_times  # benchmarks/_timing.py

A, FLIP, GAMMA = 1.5, 0.05, 2.0  # exponent a, flip_scale, flip_exponent of every design


def make(kind, K, L):
    if kind == "SantaFe":
        return SantaFe(A, K, L)
    return DriftingSantaFe(A, K, L, FLIP, GAMMA)


# ------------------------------------------------------------------------------ baselines


def _facts(proc, uk):
    """Fact indices (0-based) by inverse CDF, as the library draws them."""
    return np.minimum(np.searchsorted(proc._cum, uk, side="right"), proc.facts - 1)


def _sorted_by_fact(ks):
    """Stable sort of each row by fact: (order, sorted facts, first-look flags)."""
    order = np.argsort(ks, axis=1, kind="stable")
    sk = np.take_along_axis(ks, order, axis=1)
    first = np.ones(sk.shape, dtype=bool)
    first[:, 1:] = sk[:, 1:] != sk[:, :-1]
    return order, sk, first


def numpy_drift_sample(proc, n, rng):
    """Plain-numpy drifting sampler; the same random numbers as ``DriftingSantaFe.sample``
    (one block of rows: ``n * L <= 2**20``)."""
    gen = np.random.default_rng(rng)
    L = proc.length
    uk = gen.random((n, L))
    ub = gen.random((n, L))
    ks = _facts(proc, uk)
    order, sk, first = _sorted_by_fact(ks)
    st = order  # times in sorted order
    sub = np.take_along_axis(ub, order, axis=1)
    gap = np.zeros(st.shape, dtype=np.float64)
    gap[:, 1:] = st[:, 1:] - st[:, :-1]
    lr = np.asarray(proc._lr)[sk]
    with np.errstate(invalid="ignore"):
        rho = np.where(np.isneginf(lr), 0.0, np.exp(gap * np.where(np.isneginf(lr), 0.0, lr)))
    flip = (sub >= 0.5 * (1.0 + rho)).astype(np.int64)
    step = np.where(first, (sub < 0.5).astype(np.int64), flip)  # first look: the fair bit
    # bit = first bit XOR flips since the first look: cumulative sum restarted at each run
    cs = np.cumsum(step, axis=1)
    start = np.maximum.accumulate(np.where(first, np.arange(L)[None, :], 0), axis=1)
    base = np.take_along_axis(cs - step, start, axis=1)
    z_sorted = (cs - base) & 1
    out = np.empty_like(ks)
    np.put_along_axis(out, order, 2 * sk + z_sorted, axis=1)
    return out


def numpy_log_probs(proc, X, drift):
    """Plain-numpy ``ln p(x_t | x_<t)`` of possible sequences (sorted by fact)."""
    ks, z = X >> 1, X & 1
    order, sk, first = _sorted_by_fact(ks)
    sz = np.take_along_axis(z, order, axis=1)
    logp = np.log(proc.weights)[sk]
    if not drift:
        lp = np.where(first, logp - np.log(2.0), logp)
    else:
        gap = np.zeros(order.shape, dtype=np.float64)
        gap[:, 1:] = order[:, 1:] - order[:, :-1]
        rho = np.where(first, 0.0, np.exp(gap * np.asarray(proc._lr)[sk]))  # gap < 0 at a first look
        same = np.ones(sz.shape, dtype=bool)
        same[:, 1:] = sz[:, 1:] == sz[:, :-1]
        lp = np.where(first, logp - np.log(2.0), logp + np.log(0.5 * (1.0 + np.where(same, rho, -rho))))
    out = np.empty(X.shape)
    np.put_along_axis(out, order, lp, axis=1)
    return out


def numpy_conditionals(proc, X, drift):
    """Plain-numpy ``p(x_t = . | x_<t)``, ``(n, L, 2K)``: per row, the last look at every
    fact before every position (running maximum over an ``(L, K)`` array)."""
    n, L = X.shape
    K = proc.facts
    p = np.asarray(proc.weights)
    out = np.empty((n, L, 2 * K))
    t = np.arange(L)
    for r in range(n):
        ks, z = X[r] >> 1, X[r] & 1
        look = np.full((L, K), -1, dtype=np.int64)
        look[t, ks] = t
        last = np.full((L, K), -1, dtype=np.int64)  # last look strictly before t
        last[1:] = np.maximum.accumulate(look, axis=0)[:-1]
        seen = last >= 0
        bit = z[np.maximum(last, 0)]  # the bit shown at that look
        if drift:
            rho = np.where(seen, np.exp((t[:, None] - last) * np.asarray(proc._lr)[None, :]), 0.0)
        else:
            rho = seen.astype(np.float64)
        hi, lo = 0.5 * p * (1.0 + rho), 0.5 * p * (1.0 - rho)
        o = out[r].reshape(L, K, 2)
        o[..., 0] = np.where(bit == 0, hi, lo)
        o[..., 1] = np.where(bit == 0, lo, hi)
    return out


# ------------------------------------------------------------------------------ sections


def _check(kind):
    """The baselines reproduce the library exactly on a small design."""
    proc = make(kind, 50, 300)
    drift = kind != "SantaFe"
    x = proc.sample(4, rng=3)
    ref = numpy_drift_sample(proc, 4, 3) if drift else proc._sample_numpy(4, rng=3)
    assert np.array_equal(x, ref), kind
    np.testing.assert_allclose(numpy_log_probs(proc, x, drift), proc.position_log_probs(x), rtol=1e-12)
    np.testing.assert_allclose(numpy_conditionals(proc, x[:2], drift), proc.conditional_probs(x[:2]),
                               rtol=1e-10, atol=1e-300)


def bench_sampler(sizes, repeats, tokens):
    print("\n## 1. Sampler: numba vs plain numpy (same random numbers, identical output)")
    print(f"{'process':>15} {'K':>8} {'L':>6} {'n':>5} {'thr':>3} {'numpy Mtok/s':>12} "
          f"{'numba Mtok/s':>12} {'ratio':>6}")
    for kind in ("SantaFe", "DriftingSantaFe"):
        for K, L in sizes:
            proc = make(kind, K, L)
            n = max(1, min(tokens, 2**20) // L)
            if kind == "SantaFe":
                base = lambda: proc._sample_numpy(n, rng=1)  # noqa: E731
            else:
                base = lambda: numpy_drift_sample(proc, n, 1)  # noqa: E731
            proc.sample(2, rng=0)  # compile
            for threads in (1, 2):
                numba.set_num_threads(threads)
                t_np, t_nb = paired_times(base, lambda: proc.sample(n, rng=1), repeats)
                print(f"{kind:>15} {K:>8} {L:>6} {n:>5} {threads:>3} {n * L / t_np / 1e6:>12.2f} "
                      f"{n * L / t_nb / 1e6:>12.2f} {t_np / t_nb:>6.1f}")
    numba.set_num_threads(1)


def bench_log_probs(sizes, repeats, tokens):
    print("\n## 2. Exact position_log_probs (log_prob per token): numba vs numpy, one thread")
    print(f"{'process':>15} {'K':>8} {'L':>6} {'n':>5} {'numpy Mtok/s':>12} {'numba Mtok/s':>12} {'ratio':>6}")
    numba.set_num_threads(1)
    for kind in ("SantaFe", "DriftingSantaFe"):
        drift = kind != "SantaFe"
        for K, L in sizes:
            proc = make(kind, K, L)
            n = max(1, tokens // L)
            x = proc.sample(n, rng=0)
            proc.position_log_probs(x[:1])
            t_np, t_nb = paired_times(lambda: numpy_log_probs(proc, x, drift),
                                      lambda: proc.position_log_probs(x), repeats)
            print(f"{kind:>15} {K:>8} {L:>6} {n:>5} {n * L / t_np / 1e6:>12.2f} "
                  f"{n * L / t_nb / 1e6:>12.2f} {t_np / t_nb:>6.1f}")


def bench_conditionals(sizes, repeats, floats):
    print("\n## 3. Exact conditional_probs ((n, L, 2K) output): numba vs numpy, one thread")
    print(f"{'process':>15} {'K':>8} {'L':>6} {'n':>5} {'numpy Mtok/s':>12} {'numba Mtok/s':>12} {'ratio':>6}")
    numba.set_num_threads(1)
    for kind in ("SantaFe", "DriftingSantaFe"):
        drift = kind != "SantaFe"
        for K, L in sizes:
            proc = make(kind, K, L)
            n = max(1, floats // (L * 2 * K))
            x = proc.sample(n, rng=0)
            proc.conditional_probs(x[:1])
            t_np, t_nb = paired_times(lambda: numpy_conditionals(proc, x, drift),
                                      lambda: proc.conditional_probs(x), repeats)
            print(f"{kind:>15} {K:>8} {L:>6} {n:>5} {n * L / t_np / 1e6:>12.2f} "
                  f"{n * L / t_nb / 1e6:>12.2f} {t_np / t_nb:>6.1f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    ap.add_argument("--repeats", type=int, default=None, help="timings per median (default 7, quick 3)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    tokens = 2**18 if args.quick else 2**21
    floats = 2**21 if args.quick else 2**23  # conditional_probs output floats per timing
    if args.quick:
        sizes = [(2**6, 1024), (2**16, 1024), (2**16, 16384)]
        cond = [(2**4, 1024), (2**8, 1024)]
    else:
        sizes = [(2**6, 1024), (2**12, 1024), (2**16, 1024), (2**16, 16384), (2**20, 65536)]
        cond = [(2**4, 1024), (2**8, 1024), (2**10, 4096)]
    print(f"# bench_santafe ({'quick' if args.quick else 'full'}), medians of {repeats}; "
          f"numba {numba.__version__}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, "
          f"{numba.config.NUMBA_NUM_THREADS} numba threads available; "
          f"a = {A}, drift flip_scale = {FLIP}, flip_exponent = {GAMMA}")
    for kind in ("SantaFe", "DriftingSantaFe"):
        _check(kind)
    print("# numpy baselines checked equal to the library (samples identical, log-probs and "
          "conditionals to 1e-12 / 1e-10)")
    bench_sampler(sizes, repeats, tokens)
    bench_log_probs(sizes, repeats, tokens)
    bench_conditionals(cond, repeats, floats)


if __name__ == "__main__":
    main()
