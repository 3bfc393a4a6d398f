"""Benchmark: training throughput at the phase-diagram experiment's configs, and the
StateCore scan against its step-by-step definition.

Part 1 -- one optimiser step of :func:`l2m_sim.train`'s loop (sample a fresh batch of 16,
exact conditional moments, forward, exact-KL loss, backward, AdamW) on the experiment's
process (hierarchical Gaussian, ``pair_mi = 2``) at L = 16, 64, 256, for every model of
``sims/l2m_phase.py`` at its experiment config; tokens/s (median of timed steps after
warm-up, one torch thread).

Part 2 -- the StateCore recurrence ``z_t = a_t z_{t-1} + w_t``, forward + backward (batch
16, state 64), chunked scan (:func:`l2m_sim.models.statecore.gated_scan`) against the
sequential loop (:func:`~l2m_sim.models.statecore.gated_scan_reference`) in the same run;
ratio ``loop / chunked`` (> 1: the chunked scan is faster).

Part 3 -- two one-thread training runs side by side (two sweep workers on two cores):
``train(..., threads=1)``, which also caps numba's threads for the run, against the loop
before that cap (torch on one thread, numba's pool left at its default), in the same run;
wall seconds per run (median over pairs), ratio ``uncapped / capped``. The
``LinearState`` d = 13 run at L = 64, batch 64 (the phase diagram's convergence stage).

Usage::

    .venv/bin/python benchmarks/bench_training.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import paired_times  # noqa: E402

import l2m_sim  # noqa: E402
from l2m_sim.models.statecore import gated_scan, gated_scan_reference  # noqa: E402
from l2m_sim.training import _batch_terms, build_model, train  # noqa: E402

CONFIGS = {  # the experiment's configs (sims/l2m_phase.py)
    "state_core d=16": ("state_core", dict(d_model=64, n_layer=1, state_size=16)),
    "linear_state d=16": ("linear_state", dict(state_size=16)),
    "causal_linear": ("causal_linear", {}),
    "gpt 2x32": ("gpt", dict(d_model=32, n_layer=2)),
}


def step_time(name, L, repeats):
    model, mc = CONFIGS[name]
    p = l2m_sim.make_process("hierarchical:pair_mi=2.0", L)
    torch.manual_seed(0)
    net = build_model(model, p, mc)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)

    def one():
        x = p.sample(16, rng=rng)
        loss = _batch_terms(net, p, x)[0].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        one()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        one()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def scan_times(L, repeats):
    g = torch.Generator().manual_seed(0)
    la = torch.nn.functional.logsigmoid(torch.randn(16, L, 64, generator=g)).requires_grad_()
    w = torch.randn(16, L, 64, generator=g).requires_grad_()

    def run(fn):
        def go():
            fn(la, w).sum().backward()
        return go

    return paired_times(run(gated_scan_reference), run(gated_scan), repeats)


def _side_by_side_run(capped: bool, steps: int) -> float:
    """One training run in a fresh process: wall seconds."""
    torch.set_num_threads(1)
    p = l2m_sim.make_process("hierarchical:pair_mi=2.0", 64)
    kw = dict(model_config={"state_size": 13}, batch_size=64, lr=3e-3, eval_samples=16)
    train(p, "linear_state", steps=5, **kw)  # compile and warm up
    t0 = time.perf_counter()
    train(p, "linear_state", steps=steps, threads=1 if capped else None, **kw)
    return time.perf_counter() - t0


def side_by_side(steps: int, pairs: int) -> tuple[float, float]:
    """Median wall seconds of one run when two run at once, capped and uncapped
    (pairs alternate between the two)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    capped, uncapped = [], []
    with ctx.Pool(2) as pool:
        for _ in range(pairs):
            for flag, out in ((True, capped), (False, uncapped)):
                out += pool.starmap(_side_by_side_run, [(flag, steps), (flag, steps)])
    return float(np.median(capped)), float(np.median(uncapped))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    reps = 5 if a.quick else 15
    lengths = [16, 64] if a.quick else [16, 64, 256]
    print("## 1. Training throughput (tokens/s, batch 16, one thread; median of "
          f"{reps} steps)")
    print(f"{'model':<20}" + "".join(f"{'L=' + str(L):>12}" for L in lengths))
    for name in CONFIGS:
        row = []
        for L in lengths:
            t = step_time(name, L, reps)
            row.append(f"{16 * L / t:>12.0f}")
        print(f"{name:<20}" + "".join(row))
    print("\n## 2. StateCore scan, forward + backward (batch 16, state 64)")
    print(f"{'L':>6} {'loop ms':>10} {'chunked ms':>11} {'ratio':>7}")
    for L in lengths:
        tl, tc = scan_times(L, reps)
        print(f"{L:>6} {1e3 * tl:>10.2f} {1e3 * tc:>11.2f} {tl / tc:>7.1f}")
    steps, pairs = (100, 2) if a.quick else (400, 3)
    print(f"\n## 3. Two one-thread runs side by side (linear_state d=13, L=64, batch 64, "
          f"{steps} steps; median of {2 * pairs} runs)")
    tc, tu = side_by_side(steps, pairs)
    print(f"numba capped (threads=1): {tc:.2f} s   numba pool left on: {tu:.2f} s   "
          f"ratio {tu / tc:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
