"""Benchmark: the numba selective scan vs mambapy's parallel scan vs the sequential
reference, and CPU training throughput of every model.

Part 1 -- selective scan, forward + backward (batch 4, d_inner 128, d_state 16, one torch
thread and one numba thread), at L = 256, 1024, 4096:

* ``numba``     this package's scan (numba forward + checkpointed adjoint kernels);
* ``mambapy``   ``mambapy.pscan`` (Blelloch scan in PyTorch) on the same recurrence
                ``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t``, read out ``C_t.h_t + D u_t``;
* ``logstep``   this package's pure-PyTorch log-step scan (the GPU fallback);
* ``reference`` the sequential python loop (the definition), run only where its predicted
                time (linear extrapolation from the shorter lengths) is under 60 s.

Medians of ``--repeats`` timings; ratios are ``other / numba`` (> 1: numba is faster).

Part 2 -- training tokens/s on CPU (one optimizer step = forward + backward + AdamW) of
every model at its default small config (d_model 64, 2 layers) with 64 continuous channels
(the study's setup), batch 4, and of the same Mamba architecture with mambapy's scan
(``mambapy.mamba.Mamba`` backbone between the same adapters) as the pure-PyTorch reference.

Usage::

    .venv/bin/python benchmarks/bench_scan.py            # full (several minutes)
    .venv/bin/python benchmarks/bench_scan.py --quick    # L = 256, 1024; fewer repeats
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import torch

from l2m_sim.models import MODELS, Mamba, MambaConfig
from l2m_sim.models._scan import selective_scan_logstep, selective_scan_numba, selective_scan_reference

NB, ND, NS = 4, 128, 16
REF_LIMIT_S = 60.0


def scan_inputs(L, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(NB, ND, L, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(NB, ND, L, generator=g) - 2.0)
    A = -torch.arange(1, NS + 1, dtype=torch.float32).repeat(ND, 1)
    B = torch.randn(NB, NS, L, generator=g)
    C = torch.randn(NB, NS, L, generator=g)
    D = torch.ones(ND)
    return [t.requires_grad_() for t in (u, delta, A, B, C, D)]


def mambapy_scan(u, delta, A, B, C, D):
    from mambapy.pscan import pscan

    dl = delta.transpose(1, 2)  # (b, L, d)
    a = torch.exp(dl[..., None] * A)  # (b, L, d, N)
    X = dl[..., None] * B.transpose(1, 2)[:, :, None, :] * u.transpose(1, 2)[..., None]
    H = pscan(a, X)
    y = (H * C.transpose(1, 2)[:, :, None, :]).sum(-1) + D * u.transpose(1, 2)
    return y.transpose(1, 2)


SCANS = {
    "numba": selective_scan_numba,
    "mambapy": mambapy_scan,
    "logstep": selective_scan_logstep,
    "reference": selective_scan_reference,
}


def time_fwd_bwd(fn, args):
    for a in args:
        a.grad = None
    t0 = time.perf_counter()
    y = fn(*args)
    y.backward(torch.ones_like(y))
    return time.perf_counter() - t0


def bench_scans(lengths, repeats):
    print(f"\n== selective scan forward+backward: batch {NB}, d_inner {ND}, d_state {NS}, "
          f"1 torch thread, 1 numba thread; median of {repeats} ==")
    print(f"{'L':>6} " + " ".join(f"{k + ' [s]':>14}" for k in SCANS) + "   mambapy/numba  logstep/numba  reference/numba")
    ref_per_token = None
    rows = []
    for L in lengths:
        args = scan_inputs(L)
        times = {}
        for name, fn in SCANS.items():
            if name == "reference":
                if ref_per_token is not None and ref_per_token * L > REF_LIMIT_S:
                    times[name] = None
                    continue
                reps = 1 if L >= 1024 else min(repeats, 3)
            else:
                reps = repeats
            time_fwd_bwd(fn, args)  # warm-up (numba compile cache, allocator)
            times[name] = statistics.median(time_fwd_bwd(fn, args) for _ in range(reps))
            if name == "reference":
                ref_per_token = times[name] / L
        n = times["numba"]

        def fmt(v):
            return f"{v:14.4f}" if v is not None else f"{'skipped':>14}"

        def ratio(k):
            return f"{times[k] / n:13.1f}x" if times[k] is not None else f"{'(>60 s)':>14}"

        print(f"{L:>6} " + " ".join(fmt(times[k]) for k in SCANS)
              + f"  {ratio('mambapy')}  {ratio('logstep')}  {ratio('reference')}")
        rows.append((L, times))
    return rows


class MambapyModel(Mamba):
    """Same adapters and layer layout as :class:`Mamba`, mambapy's Mamba as the backbone."""

    def _build_backbone(self):
        from mambapy.mamba import Mamba as MPMamba
        from mambapy.mamba import MambaConfig as MPConfig

        c = self.config
        self.mp = MPMamba(MPConfig(d_model=c.d_model, n_layers=c.n_layer, d_state=c.d_state,
                                   expand_factor=c.expand, d_conv=c.d_conv, pscan=True))
        self.norm_f = torch.nn.LayerNorm(c.d_model)

    def _backbone(self, h):
        return self.norm_f(self.mp(h))


def bench_training(lengths, repeats, channels=64, batch=4):
    print(f"\n== training tokens/s on CPU: one AdamW step (forward+backward+update), batch {batch}, "
          f"{channels} channels, default small configs, 1 torch thread, 1 numba thread; median of {repeats} ==")
    models = dict(MODELS)
    models["mamba (mambapy scan)"] = (MambapyModel, MambaConfig)
    print(f"{'model':>22} {'params':>8} " + " ".join(f"{'L=' + str(L):>12}" for L in lengths))
    result = {}
    for name, (cls, cfg_cls) in models.items():
        torch.manual_seed(0)
        cols = []
        for L in lengths:
            model = cls(cfg_cls(channels=channels, max_len=max(lengths)))
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            x = torch.randn(batch, L, channels)

            def one_step():
                t0 = time.perf_counter()
                opt.zero_grad()
                m, s = model(x)
                loss = (torch.log(s) + 0.5 * ((x - m) / s) ** 2).mean()
                loss.backward()
                opt.step()
                return time.perf_counter() - t0

            one_step()
            t = statistics.median(one_step() for _ in range(repeats))
            cols.append(batch * L / t)
        result[name] = cols
        print(f"{name:>22} {model.count_parameters():>8d} " + " ".join(f"{v:12.0f}" for v in cols))
    ours, ref = result["mamba"], result["mamba (mambapy scan)"]
    print("mamba (numba scan) / mamba (mambapy scan) throughput: "
          + ", ".join(f"L={L}: {a / b:.2f}x" for L, a, b in zip(lengths, ours, ref)))
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="L = 256, 1024 only; fewer repeats")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    repeats = args.repeats or (2 if args.quick else 5)
    lengths = [256, 1024] if args.quick else [256, 1024, 4096]
    bench_scans(lengths, repeats)
    bench_training([256, 1024] if args.quick else [1024, 4096], max(2, repeats // 2 + 1))


if __name__ == "__main__":
    main()
