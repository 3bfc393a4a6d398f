"""The selective scan of Mamba (S6) and the SSD scan of Mamba-2, with several backends.

Selective scan (the layout and argument names of ``mamba_ssm.ops.selective_scan_interface``)::

    u, delta, z : (batch, dim, L)       A : (dim, N)       B, C : (batch, N, L)      D : (dim,)
    delta  <- softplus(delta + delta_bias)      (each optional)
    h_t    = exp(delta_t A) * h_{t-1} + delta_t B_t u_t          (elementwise in (dim, N))
    y_t    = C_t . h_t + D u_t
    out    = y * silu(z)                        (if z is given)

Backends (``backend=`` of :func:`selective_scan`):

``"reference"``
    :func:`selective_scan_reference`, a python loop over time: the definition.
``"numba"``
    A ``torch.autograd.Function`` whose forward and backward are the numba kernels of
    ``_scan_kernels`` (checkpointed adjoint scan, parallel over batch x dim), fed with the
    decays ``exp(delta A)`` computed by torch's vectorised ``exp`` one time chunk
    (about ``CHUNK_BYTES``) at a time. CPU only.
``"logstep"``
    Pure PyTorch, any device: a Hillis-Steele (log-step) scan of the linear recurrence,
    ``ceil(log2 L)`` steps of O(L) tensor work each, differentiated by autograd. Used on a
    GPU when ``mamba_ssm`` is missing.
``"mamba_ssm"``
    ``mamba_ssm``'s fused CUDA ``selective_scan_fn`` (CUDA tensors only; optional package).
``"auto"``
    ``"mamba_ssm"`` for CUDA tensors when it imports, ``"numba"`` for CPU tensors,
    ``"logstep"`` otherwise.

SSD (Mamba-2, scalar ``A`` per head)::

    x : (batch, L, heads, headdim)   dt : (batch, L, heads) (already positive)   A : (heads,)
    B, C : (batch, L, groups, N)     (head h uses group h // (heads // groups))
    H_t = exp(dt_t A) H_{t-1} + dt_t x_t B_t^T        (headdim x N per head)
    y_t = H_t C_t + D x_t

:func:`ssd_reference` is the sequential definition, :func:`ssd_chunked` the chunked
(state-space dual) algorithm in PyTorch, differentiated by autograd.
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F

from .._util import numba_threads
from . import _scan_kernels as _K

__all__ = [
    "selective_scan",
    "selective_scan_reference",
    "selective_scan_logstep",
    "selective_scan_numba",
    "ssd_reference",
    "ssd_chunked",
    "mamba_ssm_available",
    "SCAN_BACKENDS",
]

SCAN_BACKENDS = ("auto", "numba", "logstep", "reference", "mamba_ssm")

#: Checkpoint interval (time steps) of the numba backward pass.
CHECKPOINT = 64
#: Approximate size of one time chunk of decays exp(delta A) (computed by torch).
CHUNK_BYTES = 8 << 20
#: Number of channel groups of the numba backward pass (fixed, so results do not depend on
#: the thread count).
GROUPS = 8
#: Problems with fewer elements (batch * dim * L * N) run the kernels on one numba thread:
#: waking a thread pool costs more than the work (and much more on a loaded machine).
SERIAL_BELOW = 1 << 15


def _threads(work):
    """Run the numba kernels on one thread when the problem is small."""
    return numba_threads(1 if work < SERIAL_BELOW else None)


def mamba_ssm_available() -> bool:
    """True when ``mamba_ssm``'s fused selective scan imports (it needs CUDA)."""
    return _mamba_ssm_scan() is not None


_MAMBA_SSM = []


def _mamba_ssm_scan():
    if not _MAMBA_SSM:
        try:  # pragma: no cover - mamba_ssm is not installable on the CPU machines
            from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
        except Exception:  # ImportError, or a CUDA extension that fails to load
            selective_scan_fn = None
        _MAMBA_SSM.append(selective_scan_fn)
    return _MAMBA_SSM[0]


# --------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------


def _check_scan_args(u, delta, A, B, C, D, z, delta_bias):
    for name, t in (("u", u), ("delta", delta), ("A", A), ("B", B), ("C", C)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if u.dim() != 3:
        raise ValueError(f"u must have shape (batch, dim, L), got {tuple(u.shape)}")
    nb, nd, L = u.shape
    if tuple(delta.shape) != (nb, nd, L):
        raise ValueError(f"delta must have shape {(nb, nd, L)} like u, got {tuple(delta.shape)}")
    if A.dim() != 2 or A.shape[0] != nd:
        raise ValueError(f"A must have shape (dim={nd}, N), got {tuple(A.shape)}")
    N = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if tuple(t.shape) != (nb, N, L):
            raise ValueError(f"{name} must have shape (batch, N, L) = {(nb, N, L)}, got {tuple(t.shape)}")
    if D is not None and tuple(D.shape) != (nd,):
        raise ValueError(f"D must have shape (dim,) = {(nd,)}, got {tuple(D.shape)}")
    if z is not None and tuple(z.shape) != (nb, nd, L):
        raise ValueError(f"z must have shape {(nb, nd, L)} like u, got {tuple(z.shape)}")
    if delta_bias is not None and tuple(delta_bias.shape) != (nd,):
        raise ValueError(f"delta_bias must have shape (dim,) = {(nd,)}, got {tuple(delta_bias.shape)}")


def _prepare_delta(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[:, None].to(delta.dtype)
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def _gate(y, z):
    return y if z is None else y * F.silu(z.to(y.dtype))


# --------------------------------------------------------------------------------------
# Reference (the definition)
# --------------------------------------------------------------------------------------


def selective_scan_reference(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                             delta_softplus=False, return_last_state=False):
    """Sequential selective scan: a python loop over time (the definition; slow).

    Computes in the promoted dtype of the inputs (float64 in, float64 out). Arguments as in
    :func:`selective_scan`. With ``return_last_state`` also returns ``h_{L-1}``,
    shape ``(batch, dim, N)``.
    """
    _check_scan_args(u, delta, A, B, C, D, z, delta_bias)
    dtype = _result_dtype(u, delta, A, B, C, D)
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    nb, nd, L = u.shape
    h = u.new_zeros((nb, nd, A.shape[1]))
    ys = []
    for t in range(L):
        dt = delta[:, :, t, None]
        h = torch.exp(dt * A) * h + dt * B[:, None, :, t] * u[:, :, t, None]
        ys.append((h * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1) if L else u.new_zeros((nb, nd, 0))
    if D is not None:
        y = y + D.to(dtype)[:, None] * u
    y = _gate(y, z)
    return (y, h) if return_last_state else y


def _result_dtype(*tensors):
    dtype = torch.float32
    for t in tensors:
        if t is not None and t.dtype == torch.float64:
            dtype = torch.float64
    return dtype


# --------------------------------------------------------------------------------------
# Pure-PyTorch log-step scan (any device)
# --------------------------------------------------------------------------------------


def selective_scan_logstep(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Selective scan by a Hillis-Steele log-step scan in PyTorch (any device, autograd).

    After step ``k`` (offset ``s = 2^k``) each position holds the composition of the affine
    maps ``h -> a h + x`` of the last ``2s`` positions: ``x_t <- x_t + a_t x_{t-s}``,
    ``a_t <- a_t a_{t-s}`` (positions ``t < s`` unchanged). Only products of decays
    ``0 < a <= 1`` appear (no division), so it is as stable as the sequential loop.
    Memory: O(batch * dim * L * N) per step, kept by autograd.
    """
    _check_scan_args(u, delta, A, B, C, D, z, delta_bias)
    dtype = _result_dtype(u, delta, A, B, C, D)
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    L = u.shape[-1]
    dt = delta[..., None]  # (b, d, L, 1)
    a = torch.exp(dt * A[:, None, :])  # (b, d, L, N)
    x = dt * B.transpose(1, 2)[:, None] * u[..., None]  # (b, d, L, N)
    s = 1
    while s < L:
        x = torch.cat([x[:, :, :s], x[:, :, s:] + a[:, :, s:] * x[:, :, :-s]], dim=2)
        if 2 * s < L:
            a = torch.cat([a[:, :, :s], a[:, :, s:] * a[:, :, :-s]], dim=2)
        s *= 2
    y = torch.einsum("bdln,bnl->bdl", x, C)
    if D is not None:
        y = y + D.to(dtype)[:, None] * u
    return _gate(y, z)


# --------------------------------------------------------------------------------------
# numba backend (CPU)
# --------------------------------------------------------------------------------------


def _np(t):
    return t.detach().contiguous().numpy()


def _chunk_len(nb, nd, N, L, itemsize):
    """Time-chunk length for the decays: a multiple of CHECKPOINT, about CHUNK_BYTES of them."""
    per_step = max(1, nb * nd * N * itemsize)
    T = max(CHECKPOINT, (CHUNK_BYTES // per_step) // CHECKPOINT * CHECKPOINT)
    return min(T, max(L, 1))


def _decays(delta, A, t0, t1):
    """``exp(delta_t A)`` for ``t0 <= t < t1`` as a contiguous numpy array (Bt, D, T, N)."""
    return torch.exp(delta[:, :, t0:t1, None] * A[:, None, :]).numpy()


class _ScanNumba(torch.autograd.Function):
    """Autograd wrapper of the numba forward / adjoint kernels (CPU tensors).

    The decays ``exp(delta A)`` are computed by torch (vectorised) one time chunk at a time;
    the kernels carry the state (forward) and the adjoint (backward) across chunks.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D):
        dtype = _result_dtype(u, delta, A, B, C, D)
        has_D = D is not None
        if not has_D:
            D = u.new_zeros(u.shape[1])
        u, delta, A, B, C, D = (t.detach().to(dtype).contiguous() for t in (u, delta, A, B, C, D))
        nb, nd, L = u.shape
        N = A.shape[1]
        Bt = B.transpose(1, 2).contiguous()  # (b, L, N)
        Ct = C.transpose(1, 2).contiguous()
        K = CHECKPOINT
        un, dn, Bn, Cn, Dn = (t.numpy() for t in (u, delta, Bt, Ct, D))
        y = np.empty((nb, nd, L), dtype=un.dtype)
        ck = np.empty((nb, nd, max(1, (L + K - 1) // K), N), dtype=np.float64)
        h = np.zeros((nb, nd, N))
        T = _chunk_len(nb, nd, N, L, un.itemsize)
        with _threads(nb * nd * L * N):
            for t0 in range(0, L, T):
                a = _decays(delta, A, t0, min(L, t0 + T))
                _K.scan_fwd_chunk(un, dn, a, Bn, Cn, Dn, t0, K, h, y, ck)
        ctx.save_for_backward(u, delta, A, Bt, Ct, D)
        ctx.ck = ck
        ctx.has_D = has_D
        return torch.from_numpy(y)

    @staticmethod
    def backward(ctx, gy):
        u, delta, A, Bt, Ct, D = ctx.saved_tensors
        nb, nd, L = u.shape
        N = A.shape[1]
        G = max(1, min(GROUPS, nd))
        K = CHECKPOINT
        un, dn, An, Bn, Cn, Dn = (t.numpy() for t in (u, delta, A, Bt, Ct, D))
        gyn = _np(gy.to(u.dtype))
        du = np.empty((nb, nd, L), dtype=un.dtype)
        ddl = np.empty((nb, nd, L), dtype=un.dtype)
        carry = np.zeros((nb, nd, N))
        gA = np.zeros((nb, nd, N))
        gD = np.zeros((nb, nd))
        dB = np.empty((nb, L, N))
        dC = np.empty((nb, L, N))
        T = _chunk_len(nb, nd, N, L, un.itemsize)
        dB_part = np.empty((nb, G, T, N))
        dC_part = np.empty((nb, G, T, N))
        with _threads(nb * nd * L * N):
            for t0 in reversed(range(0, L, T)):
                t1 = min(L, t0 + T)
                a = _decays(delta, A, t0, t1)
                _K.scan_bwd_chunk(un, dn, a, An, Bn, Cn, Dn, gyn, ctx.ck, t0, K, G, carry, gA, gD,
                                  du, ddl, dB_part, dC_part)
                dB[:, t0:t1] = dB_part[:, :, : t1 - t0].sum(axis=1)
                dC[:, t0:t1] = dC_part[:, :, : t1 - t0].sum(axis=1)
        dt = u.dtype
        dB = torch.from_numpy(dB).to(dt).transpose(1, 2)
        dC = torch.from_numpy(dC).to(dt).transpose(1, 2)
        dA = torch.from_numpy(gA.sum(axis=0)).to(dt)
        dD = torch.from_numpy(gD.sum(axis=0)).to(dt) if ctx.has_D else None
        return torch.from_numpy(du), torch.from_numpy(ddl), dA, dB, dC, dD


def selective_scan_numba(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Selective scan with the numba forward / adjoint kernels (CPU tensors only)."""
    _check_scan_args(u, delta, A, B, C, D, z, delta_bias)
    for name, t in (("u", u), ("delta", delta), ("A", A), ("B", B), ("C", C), ("D", D)):
        if t is not None and t.device.type != "cpu":
            raise ValueError(f"the numba scan needs CPU tensors, {name} is on {t.device}")
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    y = _ScanNumba.apply(u, delta, A, B, C, D)
    return _gate(y, z)


# --------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend ``"auto"`` resolves to on ``device`` (validates ``backend``)."""
    if backend not in SCAN_BACKENDS:
        raise ValueError(f"backend must be one of {SCAN_BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    if device.type == "cuda" and mamba_ssm_available():
        return "mamba_ssm"
    if device.type == "cpu":
        return "numba"
    return "logstep"


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   backend="auto"):
    """Mamba's selective scan; ``mamba_ssm.selective_scan_fn`` semantics.

    Parameters
    ----------
    u, delta : Tensor (batch, dim, L)
        Input and step size (before ``delta_bias`` / softplus).
    A : Tensor (dim, N)
        Diagonal state matrix (negative for a stable scan).
    B, C : Tensor (batch, N, L)
        Input-dependent input and output projections.
    D : Tensor (dim,), optional
        Skip connection.
    z : Tensor (batch, dim, L), optional
        Gate: the output is multiplied by ``silu(z)``.
    delta_bias : Tensor (dim,), optional
    delta_softplus : bool
    backend : {"auto", "numba", "logstep", "reference", "mamba_ssm"}

    Returns
    -------
    Tensor (batch, dim, L)
    """
    backend = resolve_backend(backend, u.device)
    if backend == "numba":
        return selective_scan_numba(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if backend == "logstep":
        return selective_scan_logstep(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if backend == "reference":
        return selective_scan_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    fn = _mamba_ssm_scan()
    if fn is None:
        raise ValueError("backend 'mamba_ssm' requested but mamba_ssm is not importable")
    return fn(u, delta, A, B, C, D, z=z, delta_bias=delta_bias,  # pragma: no cover
              delta_softplus=delta_softplus)


# --------------------------------------------------------------------------------------
# SSD (Mamba-2)
# --------------------------------------------------------------------------------------


def _check_ssd_args(x, dt, A, B, C, D):
    if x.dim() != 4:
        raise ValueError(f"x must have shape (batch, L, heads, headdim), got {tuple(x.shape)}")
    nb, L, nh, _ = x.shape
    if tuple(dt.shape) != (nb, L, nh):
        raise ValueError(f"dt must have shape {(nb, L, nh)}, got {tuple(dt.shape)}")
    if tuple(A.shape) != (nh,):
        raise ValueError(f"A must have shape (heads,) = {(nh,)}, got {tuple(A.shape)}")
    if B.dim() != 4 or B.shape[:2] != (nb, L) or tuple(C.shape) != tuple(B.shape):
        raise ValueError(f"B and C must have shape (batch, L, groups, N), got {tuple(B.shape)}, {tuple(C.shape)}")
    if nh % B.shape[2]:
        raise ValueError(f"heads ({nh}) must be a multiple of groups ({B.shape[2]})")
    if D is not None and tuple(D.shape) != (nh,):
        raise ValueError(f"D must have shape (heads,) = {(nh,)}, got {tuple(D.shape)}")


def _heads(B, nh):
    return B.repeat_interleave(nh // B.shape[2], dim=2) if B.shape[2] != nh else B


def ssd_reference(x, dt, A, B, C, D=None, initial_state=None, return_final_state=False):
    """Sequential SSD recurrence (the definition; a python loop over time).

    Returns ``y`` of shape ``(batch, L, heads, headdim)`` (and the final state
    ``(batch, heads, headdim, N)`` when ``return_final_state``).
    """
    _check_ssd_args(x, dt, A, B, C, D)
    nb, L, nh, hp = x.shape
    Bh, Ch = _heads(B, nh), _heads(C, nh)
    H = x.new_zeros((nb, nh, hp, B.shape[-1])) if initial_state is None else initial_state
    ys = []
    for t in range(L):
        a = torch.exp(dt[:, t] * A)  # (b, h)
        H = a[:, :, None, None] * H + (dt[:, t, :, None] * x[:, t])[..., None] * Bh[:, t, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", H, Ch[:, t]))
    y = torch.stack(ys, dim=1) if L else x.new_zeros(x.shape)
    if D is not None:
        y = y + D[:, None] * x
    return (y, H) if return_final_state else y


def ssd_chunked(x, dt, A, B, C, chunk_size, D=None, initial_state=None, return_final_state=False):
    """Chunked SSD (state-space duality): exact, O(L Q) work, autograd-differentiable.

    Within a chunk of ``Q`` positions with cumulative log-decay ``s_i = sum_{r<=i} dt_r A``
    the output is the masked "attention" ``y_i = sum_{j<=i} exp(s_i - s_j) (C_i.B_j) dt_j x_j``
    plus the contribution of the state entering the chunk, ``exp(s_i) H_prev C_i``; the state
    leaving the chunk is ``exp(s_Q) H_prev + sum_j exp(s_Q - s_j) dt_j x_j B_j^T``. Chunks
    are chained by a short python loop over ``L / Q`` chunk states. All exponents are
    ``<= 0`` (``A < 0``, ``dt > 0``).
    """
    _check_ssd_args(x, dt, A, B, C, D)
    nb, L, nh, hp = x.shape
    N = B.shape[-1]
    Q = int(chunk_size)
    if Q < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    Bh, Ch = _heads(B, nh), _heads(C, nh)
    pad = (-L) % Q
    if pad:  # dt = 0 on padding: no decay, no input; padded outputs are dropped
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        Bh = F.pad(Bh, (0, 0, 0, 0, 0, pad))
        Ch = F.pad(Ch, (0, 0, 0, 0, 0, pad))
    nc = (L + pad) // Q
    xc = x.reshape(nb, nc, Q, nh, hp)
    dtc = dt.reshape(nb, nc, Q, nh)
    Bc = Bh.reshape(nb, nc, Q, nh, N)
    Cc = Ch.reshape(nb, nc, Q, nh, N)
    s = torch.cumsum(dtc * A, dim=2)  # (b, c, Q, h)
    # intra-chunk (masked attention form)
    seg = s[:, :, :, None, :] - s[:, :, None, :, :]  # (b, c, i, j, h): s_i - s_j
    causal = torch.ones(Q, Q, dtype=torch.bool, device=x.device).tril()
    decay = torch.exp(seg.masked_fill(~causal[None, None, :, :, None], float("-inf")))
    scores = torch.einsum("bcihn,bcjhn->bcijh", Cc, Bc) * decay
    xdt = xc * dtc[..., None]  # (b, c, Q, h, p)
    y = torch.einsum("bcijh,bcjhp->bcihp", scores, xdt)
    # chunk states
    to_end = torch.exp(s[:, :, -1:, :] - s)  # (b, c, Q, h)
    S = torch.einsum("bcjhn,bcjhp->bchpn", Bc * to_end[..., None], xdt)
    chunk_decay = torch.exp(s[:, :, -1, :])  # (b, c, h)
    H = x.new_zeros((nb, nh, hp, N)) if initial_state is None else initial_state
    prev = []
    for c in range(nc):
        prev.append(H)
        H = chunk_decay[:, c, :, None, None] * H + S[:, c]
    Hprev = torch.stack(prev, dim=1)  # (b, c, h, p, n)
    y = y + torch.einsum("bcihn,bchpn->bcihp", Cc * torch.exp(s)[..., None], Hprev)
    y = y.reshape(nb, nc * Q, nh, hp)[:, :L]
    if D is not None:
        y = y + D[:, None] * x[:, :L]
    return (y, H) if return_final_state else y
