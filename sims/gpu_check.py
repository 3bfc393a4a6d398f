"""One short end-to-end check for a lent GPU (also runs, tiny, on CPU).

Steps, each timed and printed, results written to ``--out`` (netCDF + JSON summary):

1. the device: torch / CUDA versions, whether ``mamba_ssm`` imports and which selective
   scan :func:`l2m_sim.models.selective_scan` dispatches to;
2. the selective scan: this package's scan against the sequential reference (and against
   ``mamba_ssm``'s fused ``selective_scan_fn`` when importable) on the device -- outputs and
   gradients, max relative error;
3. training: GPT and Mamba (two state sizes) on the sub-volume Gaussian (4 channels) at the
   largest length the budget allows, exact-KL loss, fresh samples every step: held-out KL,
   tokens/s, history-state size, beside the exact window-64 and linear-state yardsticks.

Usage::

    python sims/gpu_check.py                  # GPU: L = 1024, ~6 minutes on an H200
    python sims/gpu_check.py --tiny           # CPU or GPU: L = 64, about a minute
    python sims/gpu_check.py --out DIR        # default sims/results/gpu_check/

Stops each training run at ``--budget`` seconds (per run) so the whole check stays short.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import l2m_sim  # noqa: E402
from l2m_sim import models as M  # noqa: E402
from l2m_sim.training import train  # noqa: E402
from l2m_sim.yardsticks import linear_state_kl, window_kl  # noqa: E402


def check_scan(device, L, log):
    torch.manual_seed(0)
    B, D, N = 2, 32, 8
    dt = torch.float32
    u = torch.randn(B, D, L, device=device, dtype=dt, requires_grad=True)
    delta = (0.05 + 0.1 * torch.rand(B, D, L, device=device, dtype=dt)).requires_grad_()
    A = (-torch.rand(D, N, device=device, dtype=dt) - 0.5).requires_grad_()
    Bm = torch.randn(B, N, L, device=device, dtype=dt, requires_grad=True)
    Cm = torch.randn(B, N, L, device=device, dtype=dt, requires_grad=True)
    Dv = torch.randn(D, device=device, dtype=dt, requires_grad=True)
    inputs = (u, delta, A, Bm, Cm, Dv)

    def run(fn):
        for t in inputs:
            t.grad = None
        t0 = time.perf_counter()
        y = fn(*inputs)
        y.square().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return y.detach(), [t.grad.detach().clone() for t in inputs], time.perf_counter() - t0

    ref = run(M.selective_scan_reference)
    fast = run(M.selective_scan)
    out = {"scan_seconds_reference": ref[2], "scan_seconds_dispatch": fast[2]}

    def rel(a, b):
        return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))

    out["scan_max_rel_err_output"] = rel(fast[0], ref[0])
    out["scan_max_rel_err_grads"] = max(rel(a, b) for a, b in zip(fast[1], ref[1]))
    log(f"scan L={L}: dispatch vs sequential reference: output {out['scan_max_rel_err_output']:.2e}, "
        f"grads {out['scan_max_rel_err_grads']:.2e} (times {fast[2]:.3f} s vs {ref[2]:.3f} s)")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="L = 64, few steps (CPU-friendly)")
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds per training run (default 90 on GPU, 20 tiny)")
    ap.add_argument("--out", type=Path, default=ROOT / "sims" / "results" / "gpu_check")
    args = ap.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    levels = 3 if args.tiny else 5  # L = 64 or 1024
    steps = 30 if args.tiny else 3000
    budget = args.budget or (20.0 if args.tiny else 90.0)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = []

    def log(msg):
        print(msg, flush=True)
        lines.append(msg)

    t_start = time.perf_counter()
    summary = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
               "cuda": torch.version.cuda, "mamba_ssm_available": M.mamba_ssm_available()}
    if device.type == "cuda":
        summary["gpu"] = torch.cuda.get_device_name(device)
    log(json.dumps(summary))
    summary.update(check_scan(device, 64 if args.tiny else 1024, log))

    p = l2m_sim.paper_family("subvolume", levels, channels=4)
    L = p.length
    w = float(window_kl(p, 64).mean()) if L <= 4096 else float("nan")
    runs = [("gpt", {}), ("mamba", {"d_state": 1}), ("mamba", {"d_state": 16})]
    results = []
    for name, extra in runs:
        mc = dict(d_model=64, n_layer=2, **extra) if not args.tiny else dict(d_model=16, n_layer=1, **extra)
        # the step budget: time one step, then size the run to the budget
        probe = train(p, name, model_config=mc, steps=2, batch_size=8, eval_samples=8,
                      device=device, warmup=1)
        per_step = float(probe.train_seconds) / 2
        n = int(max(10, min(steps, budget / max(per_step, 1e-4))))
        ds = train(p, name, model_config=mc, steps=n, batch_size=8, lr=2e-3,
                   warmup=max(1, n // 10), eval_samples=64, device=device)
        bound = linear_state_kl(p, int(ds.history_state))["per_token"]
        r = dict(model=name, **extra, steps=n, kl=float(ds.kl), history_state=int(ds.history_state),
                 tokens_per_second=float(ds.tokens_per_second), linear_bound=bound, window_kl=w)
        results.append(r)
        log(f"{name} {extra}: {n} steps, KL {r['kl']:.4f} (window-64 {w:.4f}, linear bound "
            f"{bound:.4f}), dim(z) {r['history_state']}, {r['tokens_per_second']:.0f} tokens/s")
    summary["runs"] = results
    summary["L"] = L
    summary["seconds"] = time.perf_counter() - t_start
    log(f"total {summary['seconds']:.1f} s")
    ds = xr.Dataset(
        {k: (("run",), [r.get(k, np.nan) for r in results]) for k in
         ("kl", "history_state", "tokens_per_second", "linear_bound", "window_kl", "steps")},
        coords={"run": [f"{r['model']}{r.get('d_state', '')}" for r in results]},
        attrs={"summary": json.dumps({k: v for k, v in summary.items() if k != "runs"},
                                     default=str)},
    )
    ds.to_netcdf(args.out / "gpu_check.nc", engine="h5netcdf")
    (args.out / "gpu_check.json").write_text(json.dumps(summary, indent=2, default=str))
    (args.out / "gpu_check.log").write_text("\n".join(lines) + "\n")
    return summary


if __name__ == "__main__":
    main()
