"""The selective scan (Mamba) and SSD scan (Mamba-2): every fast path equals the definition.

* numba forward/adjoint kernels vs the sequential python-loop reference: outputs and the
  gradients of every input (u, delta, A, B, C, D, z, delta_bias), float64 and float32;
* the pure-PyTorch log-step scan vs the reference;
* agreement with ``mambapy.pscan`` on the same linear recurrence h_t = A_t h_{t-1} + X_t;
* (opt-in) agreement with ``mamba_ssm``'s ``selective_scan_ref`` when it imports;
* chunked SSD vs the sequential SSD recurrence (outputs, gradients, final state);
* bitwise independence of the numba result from the thread count; bad arguments.
"""

from __future__ import annotations

import importlib.util

import numba
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_sim.models import _scan
from l2m_sim.models._scan import (
    selective_scan,
    selective_scan_logstep,
    selective_scan_numba,
    selective_scan_reference,
    ssd_chunked,
    ssd_reference,
)

FAST = settings(max_examples=15, deadline=None, derandomize=True)


def make_args(nb, nd, N, L, dtype, seed=0, big_delta=False):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    u = r(nb, nd, L)
    delta = r(nb, nd, L, scale=0.7) + (3.0 if big_delta else 0.0)
    A = -(torch.rand(nd, N, generator=g, dtype=torch.float64) * 4 + 0.05).to(dtype)
    B, C = r(nb, N, L), r(nb, N, L)
    D, z, db = r(nd), r(nb, nd, L), r(nd, scale=0.5)
    return [t.requires_grad_() for t in (u, delta, A, B, C, D, z, db)]


def run(fn, args, with_D=True, with_z=True, with_bias=True):
    u, delta, A, B, C, D, z, db = args
    y = fn(u, delta, A, B, C, D if with_D else None, z=z if with_z else None,
           delta_bias=db if with_bias else None, delta_softplus=with_bias)
    w = torch.cos(torch.arange(y.numel(), dtype=torch.float64)).reshape(y.shape).to(y.dtype)
    used = [u, delta, A, B, C] + ([D] if with_D else []) + ([z] if with_z else []) + ([db] if with_bias else [])
    grads = torch.autograd.grad((y * w).sum(), used, materialize_grads=True)
    return y.detach(), [g.detach() for g in grads]


def rel(a, b):
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def ref64(args, **kw):
    return run(selective_scan_reference, [a.detach().double().requires_grad_() for a in args], **kw)


# ----------------------------------------------------------------------------------------
# numba scan vs the reference
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize(
    "shape", [(2, 5, 3, 150), (1, 3, 1, 1), (3, 9, 4, 64), (2, 4, 16, 65), (1, 17, 2, 13)]
)
def test_numba_equals_reference(dtype, tol, shape):
    args = make_args(*shape, dtype=dtype, seed=sum(shape))
    y, g = run(selective_scan_numba, args)
    yr, gr = ref64(args)  # the definition, in float64 on the same inputs
    assert y.dtype == dtype and all(t.dtype == dtype for t in g)
    assert rel(y, yr) < tol
    for name, a, b in zip("u delta A B C D z delta_bias".split(), g, gr):
        assert rel(a, b) < tol, name


@pytest.mark.parametrize("checkpoint,chunk_steps", [(7, 14), (64, 64), (5, 35), (16, 1000)])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_numba_time_chunks_and_checkpoints(monkeypatch, checkpoint, chunk_steps, dtype, tol):
    """Decays computed in several time chunks, several checkpoints per chunk, a short last
    chunk: the state and the adjoint are carried across chunks exactly."""
    nb, nd, N, L = 2, 5, 3, 150
    monkeypatch.setattr(_scan, "CHECKPOINT", checkpoint)
    monkeypatch.setattr(_scan, "CHUNK_BYTES", chunk_steps * nb * nd * N * (8 if dtype == torch.float64 else 4))
    assert _scan._chunk_len(nb, nd, N, L, 8 if dtype == torch.float64 else 4) == min(L, chunk_steps)
    args = make_args(nb, nd, N, L, dtype, seed=checkpoint)
    y, g = run(selective_scan_numba, args)
    yr, gr = ref64(args)
    assert rel(y, yr) < tol
    for name, a, b in zip("u delta A B C D z delta_bias".split(), g, gr):
        assert rel(a, b) < tol, name


@pytest.mark.parametrize("with_D,with_z,with_bias", [(False, False, False), (True, False, True), (False, True, False)])
def test_numba_optional_arguments(with_D, with_z, with_bias):
    args = make_args(2, 6, 5, 90, torch.float64, seed=3)
    y, g = run(selective_scan_numba, args, with_D, with_z, with_bias)
    yr, gr = run(selective_scan_reference, args, with_D, with_z, with_bias)
    assert rel(y, yr) < 1e-12
    assert len(g) == len(gr)
    for a, b in zip(g, gr):
        assert rel(a, b) < 1e-12


def test_numba_tiny_decay_is_stable():
    """exp(delta A) underflows to 0 for large delta: no NaN/inf, still the reference."""
    args = make_args(2, 4, 8, 200, torch.float64, seed=5, big_delta=True)
    with torch.no_grad():
        args[2].mul_(60.0)  # |A| up to ~250, delta ~3: decays exp(-750) = 0
    y, g = run(selective_scan_numba, args)
    yr, gr = run(selective_scan_reference, args)
    assert torch.isfinite(y).all() and all(torch.isfinite(t).all() for t in g)
    assert rel(y, yr) < 1e-12
    for a, b in zip(g, gr):
        assert rel(a, b) < 1e-12


@FAST
@given(nb=st.integers(1, 3), nd=st.integers(1, 12), N=st.integers(1, 6), L=st.integers(1, 140),
       seed=st.integers(0, 10**6))
def test_numba_equals_reference_property(nb, nd, N, L, seed):
    args = make_args(nb, nd, N, L, torch.float64, seed=seed)
    y, g = run(selective_scan_numba, args)
    yr, gr = run(selective_scan_reference, args)
    assert rel(y, yr) < 1e-11
    for a, b in zip(g, gr):
        assert rel(a, b) < 1e-11


def test_numba_thread_count_does_not_change_result():
    args = make_args(3, 20, 4, 130, torch.float32, seed=11)
    old = numba.get_num_threads()
    _scan_serial, _scan.SERIAL_BELOW = _scan.SERIAL_BELOW, 0  # force the thread pool
    try:
        numba.set_num_threads(1)
        y1, g1 = run(selective_scan_numba, args)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        y2, g2 = run(selective_scan_numba, args)
    finally:
        numba.set_num_threads(old)
        _scan.SERIAL_BELOW = _scan_serial
    assert torch.equal(y1, y2)
    for a, b in zip(g1, g2):
        assert torch.equal(a, b)


def test_numba_gradcheck():
    """Independent of the reference: torch's finite-difference gradient check."""
    u, delta, A, B, C, D, z, db = make_args(1, 2, 2, 20, torch.float64, seed=2)
    torch.autograd.gradcheck(
        lambda *a: selective_scan_numba(*a, delta_softplus=False),
        (u, torch.nn.functional.softplus(delta).detach().requires_grad_(), A, B, C, D),
        eps=1e-6, atol=1e-7,
    )


# ----------------------------------------------------------------------------------------
# other backends
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 5, 3, 150), (1, 2, 4, 1), (2, 3, 2, 33)])
def test_logstep_equals_reference(shape):
    args = make_args(*shape, dtype=torch.float64, seed=7)
    y, g = run(selective_scan_logstep, args)
    yr, gr = run(selective_scan_reference, args)
    assert rel(y, yr) < 1e-12
    for a, b in zip(g, gr):
        assert rel(a, b) < 1e-12


def test_dispatch():
    args = make_args(2, 3, 2, 20, torch.float64)
    yr = run(selective_scan_reference, args)[0]
    for backend in ("auto", "numba", "logstep", "reference"):
        y = run(lambda *a, **k: selective_scan(*a, **k, backend=backend), args)[0]
        assert rel(y, yr) < 1e-12, backend
    assert _scan.resolve_backend("auto", torch.device("cpu")) == "numba"
    with pytest.raises(ValueError, match="backend"):
        selective_scan(*args[:5], backend="fused")
    if not _scan.mamba_ssm_available():
        with pytest.raises(ValueError, match="mamba_ssm"):
            selective_scan(*args[:5], backend="mamba_ssm")


def test_mambapy_pscan_agrees():
    """mambapy's pscan computes H_t = A_t H_{t-1} + X_t; feed it A_t = exp(delta_t A) and
    X_t = delta_t B_t u_t, read out C_t . H_t + D u_t, and compare values and gradients."""
    pscan = pytest.importorskip("mambapy.pscan").pscan
    args = make_args(2, 6, 4, 64, torch.float64, seed=9)

    def via_pscan(u, delta, A, B, C, D, z=None, delta_bias=None, delta_softplus=False):
        dl = delta.transpose(1, 2)  # (b, L, d)
        a = torch.exp(dl[..., None] * A)  # (b, L, d, N)
        X = dl[..., None] * B.transpose(1, 2)[:, :, None, :] * u.transpose(1, 2)[..., None]
        H = pscan(a, X)
        y = (H * C.transpose(1, 2)[:, :, None, :]).sum(-1) + D * u.transpose(1, 2)
        return y.transpose(1, 2)

    y, g = run(via_pscan, args, with_z=False, with_bias=False)
    yn, gn = run(selective_scan_numba, args, with_z=False, with_bias=False)
    assert rel(yn, y) < 1e-12
    for a, b in zip(gn, g):
        assert rel(a, b) < 1e-12


@pytest.mark.skipif(importlib.util.find_spec("mamba_ssm") is None, reason="mamba_ssm not installed")
def test_mamba_ssm_reference_agrees():  # pragma: no cover - mamba_ssm is not installable here
    from mamba_ssm.ops.selective_scan_interface import selective_scan_ref

    args = make_args(2, 6, 4, 50, torch.float32, seed=4)
    y, g = run(selective_scan_ref, args)
    yn, gn = run(selective_scan_numba, args)
    assert rel(yn, y) < 1e-5
    for a, b in zip(gn, g):
        assert rel(a, b) < 1e-4


def test_bad_arguments():
    u, delta, A, B, C, D, z, db = (a.detach() for a in make_args(2, 3, 4, 10, torch.float64))
    with pytest.raises(ValueError, match="delta"):
        selective_scan(u, delta[:, :, :5], A, B, C)
    with pytest.raises(ValueError, match="A must"):
        selective_scan(u, delta, A[:2], B, C)
    with pytest.raises(ValueError, match="B must"):
        selective_scan(u, delta, A, B[:, :2], C)
    with pytest.raises(ValueError, match="C must"):
        selective_scan(u, delta, A, B, C[..., :3])
    with pytest.raises(ValueError, match="D must"):
        selective_scan(u, delta, A, B, C, D[:1])
    with pytest.raises(ValueError, match="z must"):
        selective_scan(u, delta, A, B, C, D, z=z[0])
    with pytest.raises(ValueError, match="u must"):
        selective_scan(u[0], delta, A, B, C)
    with pytest.raises(TypeError, match="u must"):
        selective_scan(u.long(), delta, A, B, C)
    with pytest.raises(TypeError, match="B must"):
        selective_scan(u, delta, A, B.numpy(), C)


# ----------------------------------------------------------------------------------------
# SSD (Mamba-2)
# ----------------------------------------------------------------------------------------


def make_ssd(nb, L, nh, hp, ng, N, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(nb, L, nh, hp, generator=g, dtype=torch.float64)
    dt = torch.nn.functional.softplus(torch.randn(nb, L, nh, generator=g, dtype=torch.float64))
    A = -(torch.rand(nh, generator=g, dtype=torch.float64) * 5 + 0.1)
    B = torch.randn(nb, L, ng, N, generator=g, dtype=torch.float64)
    C = torch.randn(nb, L, ng, N, generator=g, dtype=torch.float64)
    D = torch.randn(nh, generator=g, dtype=torch.float64)
    H0 = torch.randn(nb, nh, hp, N, generator=g, dtype=torch.float64)
    return [t.requires_grad_() for t in (x, dt, A, B, C, D, H0)]


@pytest.mark.parametrize("L,chunk", [(50, 8), (64, 16), (7, 64), (1, 3), (33, 1)])
@pytest.mark.parametrize("ng", [1, 2])
def test_ssd_chunked_equals_reference(L, chunk, ng):
    args = make_ssd(2, L, 4, 3, ng, 5, seed=L + chunk)
    x, dt, A, B, C, D, H0 = args

    def loss(y, H):
        w = torch.sin(torch.arange(y.numel(), dtype=torch.float64)).reshape(y.shape)
        return (y * w).sum() + (H * H).sum()

    y, H = ssd_chunked(x, dt, A, B, C, chunk, D=D, initial_state=H0, return_final_state=True)
    g = torch.autograd.grad(loss(y, H), args)
    yr, Hr = ssd_reference(x, dt, A, B, C, D=D, initial_state=H0, return_final_state=True)
    gr = torch.autograd.grad(loss(yr, Hr), args)
    assert rel(y, yr) < 1e-11 and rel(H, Hr) < 1e-11
    for a, b in zip(g, gr):
        assert rel(a, b) < 1e-10


def test_ssd_bad_arguments():
    x, dt, A, B, C, D, _ = (a.detach() for a in make_ssd(1, 6, 4, 2, 2, 3))
    with pytest.raises(ValueError, match="x must"):
        ssd_chunked(x[0], dt, A, B, C, 4)
    with pytest.raises(ValueError, match="dt must"):
        ssd_chunked(x, dt[:, :3], A, B, C, 4)
    with pytest.raises(ValueError, match="multiple of groups"):
        ssd_chunked(x[:, :, :3], dt[:, :, :3], A[:3], B, C, 4)
    with pytest.raises(ValueError, match="chunk_size"):
        ssd_chunked(x, dt, A, B, C, 0)
