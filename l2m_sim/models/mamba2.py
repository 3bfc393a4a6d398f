"""Mamba-2 (SSD, scalar decay per head) in pure PyTorch, with mamba_ssm's parameter names.

:class:`Mamba2Mixer` has the parameters of ``mamba_ssm.modules.mamba2.Mamba2`` with
``d_ssm = d_inner``, ``rmsnorm=True``, ``norm_before_gate=False``, ``D_has_hdim=False``:
``in_proj.weight (2 d_inner + 2 ngroups d_state + nheads, d_model)`` (output order
``z, x, B, C, dt``), ``conv1d.weight (conv_dim, 1, d_conv)``, ``conv1d.bias``
(``conv_dim = d_inner + 2 ngroups d_state``), ``dt_bias (nheads)``, ``A_log (nheads)``,
``D (nheads)``, ``norm.weight (d_inner)``, ``out_proj.weight (d_model, d_inner)``.
Forward::

    z, xBC, dt = in_proj(h).split(d_inner, conv_dim, nheads)
    xBC        = silu(causal depthwise conv1d(xBC)); x, B, C = xBC.split(d_inner, G N, G N)
    dt         = softplus(dt + dt_bias);  A = -exp(A_log)      (one scalar per head)
    H_t        = exp(dt_t A) H_{t-1} + dt_t x_t B_t^T;  y_t = H_t C_t + D x_t   (per head)
    y          = norm.weight * rmsnorm_per_group(y * silu(z))
    out        = out_proj(y)

The scan is :func:`~l2m_sim.models._scan.ssd_chunked` (``ssd_backend="chunked"``), the
sequential :func:`~l2m_sim.models._scan.ssd_reference` (``"reference"``) or, on CUDA with
``mamba_ssm`` importable, its fused ``mamba_chunk_scan_combined`` (``"auto"`` picks it
there; untested on the CPU machines).

**History state** per sequence and layer: the SSM state ``nheads * headdim * d_state`` plus
the conv state ``conv_dim * (d_conv - 1)``, ``conv_dim = nheads * headdim + 2 ngroups d_state``::

    history_state_size(position) = n_layer * (nheads headdim d_state
                                              + (nheads headdim + 2 ngroups d_state)(d_conv - 1)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..protocol import check_int
from ._common import BaseConfig, MixerStackModel, check_choice, check_float
from ._scan import ssd_chunked, ssd_reference
from .mamba import init_dt_bias

__all__ = ["Mamba2Config", "Mamba2", "Mamba2Mixer", "RMSNormGated"]

SSD_BACKENDS = ("auto", "chunked", "reference", "mamba_ssm")

_SSD = []


def _mamba_ssm_ssd():
    if not _SSD:
        try:  # pragma: no cover - needs mamba_ssm + CUDA
            from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
        except Exception:
            mamba_chunk_scan_combined = None
        _SSD.append(mamba_chunk_scan_combined)
    return _SSD[0]


@dataclass
class Mamba2Config(BaseConfig):
    """Mamba-2 config (defaults: small CPU model; mamba_ssm's defaults are d_state 128,
    headdim 64, chunk 256).

    Attributes (besides :class:`~l2m_sim.models._common.BaseConfig`)
    ----------
    d_state, d_conv, expand, headdim, ngroups : int
        ``d_inner = expand * d_model = nheads * headdim``; ``ngroups`` divides ``nheads``.
    chunk_size : int
        Chunk length of the SSD algorithm.
    A_init_range : (float, float)
        ``-A`` initialised uniform in this range (``0 < lo <= hi``).
    dt_min, dt_max, dt_init_floor : float
    conv_bias, bias : bool
    ssd_backend : {"auto", "chunked", "reference", "mamba_ssm"}
    """

    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    headdim: int = 16
    ngroups: int = 1
    chunk_size: int = 64
    A_init_range: tuple = (1.0, 16.0)
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    conv_bias: bool = True
    bias: bool = False
    ssd_backend: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        self.d_state = check_int("d_state", self.d_state, 1, None)
        self.d_conv = check_int("d_conv", self.d_conv, 1, None)
        self.expand = check_int("expand", self.expand, 1, None)
        self.headdim = check_int("headdim", self.headdim, 1, None)
        if self.d_inner % self.headdim:
            raise ValueError(
                f"headdim must divide d_inner = expand * d_model = {self.d_inner}, got headdim={self.headdim}"
            )
        self.ngroups = check_int("ngroups", self.ngroups, 1, None)
        if self.nheads % self.ngroups:
            raise ValueError(f"ngroups must divide nheads = {self.nheads}, got ngroups={self.ngroups}")
        self.chunk_size = check_int("chunk_size", self.chunk_size, 1, None)
        try:
            lo, hi = self.A_init_range
        except (TypeError, ValueError):
            raise ValueError(f"A_init_range must be a pair (lo, hi), got {self.A_init_range!r}") from None
        lo = check_float("A_init_range[0]", lo, 0.0, None, lo_open=True)
        hi = check_float("A_init_range[1]", hi, lo, None)
        self.A_init_range = (lo, hi)
        self.dt_min = check_float("dt_min", self.dt_min, 0.0, None, lo_open=True)
        self.dt_max = check_float("dt_max", self.dt_max, self.dt_min, None)
        self.dt_init_floor = check_float("dt_init_floor", self.dt_init_floor, 0.0, None, lo_open=True)
        for name in ("conv_bias", "bias"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {type(getattr(self, name)).__name__}")
        check_choice("ssd_backend", self.ssd_backend, SSD_BACKENDS)

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def nheads(self) -> int:
        return self.d_inner // self.headdim


class RMSNormGated(nn.Module):
    """``weight * rmsnorm(y * silu(z))`` with the mean square taken per group of channels."""

    def __init__(self, d, group_size, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.group_size = group_size
        self.eps = eps

    def forward(self, y, z):
        y = y * F.silu(z)
        shp = y.shape
        g = y.reshape(*shp[:-1], shp[-1] // self.group_size, self.group_size)
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.eps)
        return g.reshape(shp) * self.weight


class Mamba2Mixer(nn.Module):
    """The Mamba-2 block (mamba_ssm ``Mamba2``'s parameters; see the module doc)."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, headdim=16, ngroups=1, chunk_size=64,
                 A_init_range=(1.0, 16.0), dt_min=0.001, dt_max=0.1, dt_init_floor=1e-4,
                 conv_bias=True, bias=False, ssd_backend="auto"):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.d_inner = expand * d_model
        self.headdim = headdim
        self.nheads = self.d_inner // headdim
        self.ngroups = ngroups
        self.chunk_size = chunk_size
        self.ssd_backend = ssd_backend
        self.conv_dim = self.d_inner + 2 * ngroups * d_state
        self.in_proj = nn.Linear(d_model, self.d_inner + self.conv_dim + self.nheads, bias=bias)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, kernel_size=d_conv, groups=self.conv_dim,
                                padding=d_conv - 1, bias=conv_bias)
        self.dt_bias = nn.Parameter(init_dt_bias(self.nheads, dt_min, dt_max, dt_init_floor))
        self.dt_bias._no_weight_decay = True
        A = torch.empty(self.nheads).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(self.nheads))
        self.D._no_weight_decay = True
        self.norm = RMSNormGated(self.d_inner, self.d_inner // ngroups)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)

    def _split(self, zxbcdt):
        return zxbcdt.split([self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _ssd(self, x, dt, A, B, C):
        backend = self.ssd_backend
        if backend == "auto":
            backend = "mamba_ssm" if x.is_cuda and _mamba_ssm_ssd() is not None else "chunked"
        if backend == "chunked":
            return ssd_chunked(x, dt, A, B, C, self.chunk_size, D=self.D)
        if backend == "reference":
            return ssd_reference(x, dt, A, B, C, D=self.D)
        fn = _mamba_ssm_ssd()
        if fn is None:
            raise ValueError("ssd_backend 'mamba_ssm' requested but mamba_ssm is not importable")
        return fn(x, dt, A, B, C, self.chunk_size, D=self.D)  # pragma: no cover

    def forward(self, h):
        """``h`` (B, L, d_model) -> (B, L, d_model), causal."""
        nb, L, _ = h.shape
        z, xBC, dt = self._split(self.in_proj(h))
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :L]).transpose(1, 2)
        x, B, C = xBC.split([self.d_inner, self.ngroups * self.d_state, self.ngroups * self.d_state], dim=-1)
        dt = F.softplus(dt + self.dt_bias)
        A = -torch.exp(self.A_log)
        y = self._ssd(x.reshape(nb, L, self.nheads, self.headdim), dt, A,
                      B.reshape(nb, L, self.ngroups, self.d_state), C.reshape(nb, L, self.ngroups, self.d_state))
        y = self.norm(y.reshape(nb, L, self.d_inner), z)
        return self.out_proj(y)

    def init_state(self, batch, device, dtype):
        conv = torch.zeros(batch, self.conv_dim, self.d_conv - 1, device=device, dtype=dtype)
        ssm = torch.zeros(batch, self.nheads, self.headdim, self.d_state, device=device, dtype=dtype)
        return conv, ssm

    def step(self, h, conv_state, ssm_state):
        """One position: ``h`` (B, d_model); states (B, conv_dim, d_conv-1), (B, H, P, N)."""
        nb = h.shape[0]
        z, xBC, dt = self._split(self.in_proj(h))
        window = torch.cat([conv_state, xBC[..., None]], dim=-1)
        xBC = (window * self.conv1d.weight[:, 0, :]).sum(-1)
        if self.conv1d.bias is not None:
            xBC = xBC + self.conv1d.bias
        xBC = F.silu(xBC)
        x, B, C = xBC.split([self.d_inner, self.ngroups * self.d_state, self.ngroups * self.d_state], dim=-1)
        dt = F.softplus(dt + self.dt_bias)  # (B, H)
        A = -torch.exp(self.A_log)
        x = x.reshape(nb, self.nheads, self.headdim)
        r = self.nheads // self.ngroups
        Bh = B.reshape(nb, self.ngroups, self.d_state).repeat_interleave(r, dim=1)  # (B, H, N)
        Ch = C.reshape(nb, self.ngroups, self.d_state).repeat_interleave(r, dim=1)
        ssm = torch.exp(dt * A)[..., None, None] * ssm_state + (dt[..., None] * x)[..., None] * Bh[:, :, None, :]
        y = torch.einsum("bhpn,bhn->bhp", ssm, Ch) + self.D[:, None] * x
        y = self.norm(y.reshape(nb, self.d_inner), z)
        return self.out_proj(y), window[..., 1:], ssm


class Mamba2(MixerStackModel):
    """Mamba-2 language model over continuous vectors or tokens (see the module doc)."""

    config_class = Mamba2Config

    def _make_mixer(self):
        c = self.config
        kw = dict(d_state=c.d_state, d_conv=c.d_conv, expand=c.expand, headdim=c.headdim,
                  ngroups=c.ngroups, chunk_size=c.chunk_size, A_init_range=c.A_init_range,
                  dt_min=c.dt_min, dt_max=c.dt_max, dt_init_floor=c.dt_init_floor,
                  conv_bias=c.conv_bias, bias=c.bias, ssd_backend=c.ssd_backend)
        return Mamba2Mixer(c.d_model, **kw)

    def history_state_size(self, position) -> int:
        """``n_layer * (nheads headdim d_state + conv_dim (d_conv - 1))`` at every position."""
        check_int("position", position, 0, None)
        c = self.config
        conv_dim = c.nheads * c.headdim + 2 * c.ngroups * c.d_state
        return c.n_layer * (c.nheads * c.headdim * c.d_state + conv_dim * (c.d_conv - 1))
