"""Benchmarks of the discrete Markov families against plain numpy baselines, in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_markov.py            # full (about a minute)
    .venv/bin/python benchmarks/bench_markov.py --quick    # smaller sizes

Every number is the median of ``--repeats`` timings; baseline and candidate are timed
alternately in the same process so that machine noise hits both. numba runs on one
thread unless a row says otherwise. Printed:

1. Markov-chain sampler tokens/s against the natural numpy implementation: a loop over
   positions, vectorised over the n sequences (one ``Generator.random(n)`` per position
   and an inverse-CDF lookup by comparing with the cumulative rows), and the ratio;
2. tree sampler tokens/s against numpy level by level (every node of a level at once:
   parents repeated b times, one uniform per node, inverse-CDF by comparison), and the ratio;
3. exact conditionals (``conditional_probs``) and ``log_prob`` throughput: chain (a gather
   of transition rows) and tree (belief propagation, O(M^2) per token).
"""

from __future__ import annotations

import argparse
import platform

import numba
import numpy as np

from l2m_sim.processes.markov import MarkovChain
from l2m_sim.processes.tree import HierarchicalMarkov

from _timing import median_time, paired_times  # benchmarks/_timing.py


def random_stochastic(rng, M):
    T = rng.uniform(0.0, 1.0, (M, M)) ** 3
    return T / T.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------ baselines


def numpy_chain(T, p0, n, L, gen):
    """Plain numpy chain sampler: loop over t, vectorised over the n sequences."""
    cum = np.cumsum(T, axis=1)
    M = T.shape[0]
    x = np.empty((n, L), dtype=np.int64)
    x[:, 0] = np.minimum(np.searchsorted(np.cumsum(p0), gen.random(n), side="right"), M - 1)
    for t in range(1, L):
        u = gen.random(n)
        x[:, t] = np.minimum((u[:, None] >= cum[x[:, t - 1]]).sum(axis=1), M - 1)
    return x


def numpy_tree(Ks, root, b, levels, n, gen):
    """Plain numpy tree sampler: level by level, every node of a level at once."""
    M = root.size
    cums = np.cumsum(Ks, axis=2)  # (b, M, M)
    x = np.minimum(np.searchsorted(np.cumsum(root), gen.random(n), side="right"), M - 1)[:, None]
    for _ in range(levels):
        width = x.shape[1] * b
        parents = np.repeat(x, b, axis=1)
        child = np.tile(np.arange(b), width // b)
        u = gen.random((n, width))
        x = np.minimum((u[..., None] >= cums[child[None, :], parents]).sum(axis=-1), M - 1)
    return x


# ------------------------------------------------------------------------------ sections


def bench_chain(vocabs, L, tokens, repeats):
    print("\n## 1. Markov-chain sampler vs numpy (loop over t, vectorised over n)")
    print(f"{'M':>5} {'L':>6} {'n':>5} {'threads':>7} {'numpy Mtok/s':>12} {'numba Mtok/s':>12} {'ratio':>7}")
    rng = np.random.default_rng(0)
    for M in vocabs:
        m = MarkovChain(random_stochastic(rng, M), L)
        n = max(1, tokens // L)
        m.sample(2, rng=0)  # compile
        gen = np.random.default_rng(1)
        for threads in (1, 2):
            numba.set_num_threads(threads)
            t_np, t_nb = paired_times(lambda: numpy_chain(m.transition, m.initial, n, L, gen),
                                      lambda: m.sample(n, rng=2), repeats)
            print(f"{M:>5} {L:>6} {n:>5} {threads:>7} {n * L / t_np / 1e6:>12.2f} "
                  f"{n * L / t_nb / 1e6:>12.2f} {t_np / t_nb:>7.1f}")
    numba.set_num_threads(1)


def bench_tree(configs, tokens, repeats):
    print("\n## 2. Tree sampler vs numpy (level by level, all nodes of a level at once)")
    print(f"{'b':>3} {'levels':>6} {'L':>7} {'M':>4} {'n':>5} {'threads':>7} {'numpy Mtok/s':>12} "
          f"{'numba Mtok/s':>12} {'ratio':>7}")
    rng = np.random.default_rng(3)
    for b, lv, M in configs:
        t = HierarchicalMarkov(b, lv, random_stochastic(rng, M))
        L = t.length
        n = max(1, tokens // L)
        t.sample(2, rng=0)
        gen = np.random.default_rng(4)
        for threads in (1, 2):
            numba.set_num_threads(threads)
            t_np, t_nb = paired_times(lambda: numpy_tree(t.kernels, t.root, b, lv, n, gen),
                                      lambda: t.sample(n, rng=5), repeats)
            print(f"{b:>3} {lv:>6} {L:>7} {M:>4} {n:>5} {threads:>7} {n * L / t_np / 1e6:>12.2f} "
                  f"{n * L / t_nb / 1e6:>12.2f} {t_np / t_nb:>7.1f}")
    numba.set_num_threads(1)


def bench_conditionals(chain_vocabs, tree_configs, tokens, repeats):
    print("\n## 3. Exact conditionals and log-likelihoods (one thread)")
    print(f"{'process':>28} {'L':>7} {'n':>5} {'cond_probs Mtok/s':>17} {'log_prob Mtok/s':>15}")
    numba.set_num_threads(1)
    rng = np.random.default_rng(6)
    for M in chain_vocabs:
        L = 4096
        m = MarkovChain(random_stochastic(rng, M), L)
        n = max(1, tokens // L // max(1, M // 16))
        x = m.sample(n, rng=0)
        tc = median_time(lambda: m.conditional_probs(x), repeats)
        tl = median_time(lambda: m.log_prob(x), repeats)
        print(f"{'MarkovChain M=' + str(M):>28} {L:>7} {n:>5} {n * L / tc / 1e6:>17.2f} {n * L / tl / 1e6:>15.2f}")
    for b, lv, M in tree_configs:
        t = HierarchicalMarkov(b, lv, random_stochastic(rng, M))
        L = t.length
        n = max(1, tokens // L // max(1, M // 4))
        x = t.sample(n, rng=0)
        t.log_prob(x[:1])
        t.conditional_probs(x[:1])
        tc = median_time(lambda: t.conditional_probs(x), repeats)
        tl = median_time(lambda: t.log_prob(x), repeats)
        name = f"Tree b={b} l={lv} M={M}"
        print(f"{name:>28} {L:>7} {n:>5} {n * L / tc / 1e6:>17.2f} {n * L / tl / 1e6:>15.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    tokens = 2**18 if args.quick else 2**21
    print(f"# bench_markov  ({platform.processor() or platform.machine()}, numpy {np.__version__}, "
          f"numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} numba threads available)")
    print(f"# medians of {repeats} alternating timings; about {tokens} tokens per timing")
    bench_chain([2, 16, 256] if not args.quick else [2, 16], 4096, tokens, repeats)
    tree_cfg = [(2, 14, 2), (4, 7, 16), (4, 6, 64)] if not args.quick else [(2, 12, 2), (4, 6, 16)]
    bench_tree(tree_cfg, tokens, repeats)
    bench_conditionals([2, 256] if not args.quick else [2],
                       [(2, 14, 2), (4, 7, 16), (4, 6, 64)] if not args.quick else [(2, 12, 2), (4, 6, 16)],
                       tokens, repeats)


if __name__ == "__main__":
    main()
