"""Mamba (selective state-space model) in pure PyTorch, with mamba_ssm's parameter names.

:class:`MambaMixer` has exactly the parameters of ``mamba_ssm.modules.mamba_simple.Mamba``
(same names and shapes: ``in_proj.weight (2 d_inner, d_model)``, ``conv1d.weight
(d_inner, 1, d_conv)``, ``conv1d.bias``, ``x_proj.weight (dt_rank + 2 d_state, d_inner)``,
``dt_proj.weight (d_inner, dt_rank)``, ``dt_proj.bias``, ``A_log (d_inner, d_state)``,
``D (d_inner)``, ``out_proj.weight (d_model, d_inner)``) and the same initialisation
(S4D-real ``A = -(1..d_state)``, ``softplus(dt_proj.bias)`` log-uniform in
``[dt_min, dt_max]``), so state dicts load either way. Its forward is::

    x, z   = in_proj(h).chunk(2)                    (d_inner each)
    x      = silu(causal depthwise conv1d(x))        (kernel d_conv)
    dt, B, C = x_proj(x).split(dt_rank, d_state, d_state)
    delta  = softplus(dt_proj(dt))                  (bias included)
    y      = selective_scan(x, delta, A = -exp(A_log), B, C, D) * silu(z)
    out    = out_proj(y)

The scan backend (``MambaConfig.scan_backend``, see :mod:`l2m_sim.models._scan`) is
``"auto"`` by default: the numba kernels on CPU, ``mamba_ssm``'s fused kernel on CUDA when
that package imports, a pure-PyTorch log-step scan otherwise.

:class:`Mamba` stacks ``n_layer`` pre-norm residual layers ``h <- h + mixer(norm(h))``
(``layers.{i}.norm``, ``layers.{i}.mixer``, as in mamba_ssm's ``MixerModel``; LayerNorm)
and a final ``norm_f``, between the shared input/output adapters.

**History state** per sequence and layer: the SSM state ``d_inner * d_state`` plus the
convolution state ``d_inner * (d_conv - 1)`` (the last ``d_conv - 1`` conv inputs); it is
the same at every position (zeros before anything is read)::

    history_state_size(position) = n_layer * d_inner * (d_state + d_conv - 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..protocol import check_int
from ._common import BaseConfig, MixerStackModel, check_choice, check_float
from ._scan import SCAN_BACKENDS, selective_scan

__all__ = ["MambaConfig", "Mamba", "MambaMixer"]


@dataclass
class MambaConfig(BaseConfig):
    """Mamba config (defaults: small CPU model, d_model 64, 2 layers, d_state 16).

    Attributes (besides :class:`~l2m_sim.models._common.BaseConfig`)
    ----------
    d_state, d_conv, expand : int
        SSM state size per channel, conv kernel width, ``d_inner = expand * d_model``.
    dt_rank : int or "auto"
        ``"auto"``: ``ceil(d_model / 16)``.
    dt_min, dt_max, dt_init_floor : float
        Initial step sizes (log-uniform in ``[dt_min, dt_max]``, floored).
    conv_bias, bias : bool
        Bias of the conv and of in/out projections.
    scan_backend : {"auto", "numba", "logstep", "reference", "mamba_ssm"}
    """

    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | str = "auto"
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    conv_bias: bool = True
    bias: bool = False
    scan_backend: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        self.d_state = check_int("d_state", self.d_state, 1, None)
        self.d_conv = check_int("d_conv", self.d_conv, 1, None)
        self.expand = check_int("expand", self.expand, 1, None)
        if self.dt_rank != "auto":
            self.dt_rank = check_int("dt_rank", self.dt_rank, 1, None)
        self.dt_min = check_float("dt_min", self.dt_min, 0.0, None, lo_open=True)
        self.dt_max = check_float("dt_max", self.dt_max, self.dt_min, None)
        self.dt_init_floor = check_float("dt_init_floor", self.dt_init_floor, 0.0, None, lo_open=True)
        for name in ("conv_bias", "bias"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {type(getattr(self, name)).__name__}")
        check_choice("scan_backend", self.scan_backend, SCAN_BACKENDS)

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def dt_rank_value(self) -> int:
        return math.ceil(self.d_model / 16) if self.dt_rank == "auto" else self.dt_rank


def init_dt_bias(n, dt_min, dt_max, floor):
    """Bias whose softplus is log-uniform in ``[dt_min, dt_max]`` (clamped below at ``floor``)."""
    dt = torch.exp(torch.rand(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))  # inverse softplus


class MambaMixer(nn.Module):
    """The Mamba block (mamba_ssm ``Mamba``'s parameters; see the module doc)."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank="auto", dt_min=0.001,
                 dt_max=0.1, dt_init_floor=1e-4, conv_bias=True, bias=False, scan_backend="auto"):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.scan_backend = scan_backend
        di = self.d_inner
        self.in_proj = nn.Linear(d_model, 2 * di, bias=bias)
        self.conv1d = nn.Conv1d(di, di, kernel_size=d_conv, groups=di, padding=d_conv - 1, bias=conv_bias)
        self.x_proj = nn.Linear(di, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, di, bias=True)
        std = self.dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        with torch.no_grad():
            self.dt_proj.bias.copy_(init_dt_bias(di, dt_min, dt_max, dt_init_floor))
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(di, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(di))
        self.D._no_weight_decay = True
        self.out_proj = nn.Linear(di, d_model, bias=bias)

    def forward(self, h):
        """``h`` (B, L, d_model) -> (B, L, d_model), causal."""
        L = h.shape[1]
        xz = self.in_proj(h).transpose(1, 2)  # (B, 2di, L)
        x, z = xz.chunk(2, dim=1)
        x = F.silu(self.conv1d(x)[..., :L])
        dt, B, C = self.x_proj(x.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight).transpose(1, 2)  # (B, di, L), bias in the scan
        A = -torch.exp(self.A_log)
        y = selective_scan(x, delta, A, B.transpose(1, 2), C.transpose(1, 2), self.D, z=z,
                           delta_bias=self.dt_proj.bias, delta_softplus=True, backend=self.scan_backend)
        return self.out_proj(y.transpose(1, 2))

    def init_state(self, batch, device, dtype):
        di = self.d_inner
        conv = torch.zeros(batch, di, self.d_conv - 1, device=device, dtype=dtype)
        ssm = torch.zeros(batch, di, self.d_state, device=device, dtype=dtype)
        return conv, ssm

    def step(self, h, conv_state, ssm_state):
        """One position: ``h`` (B, d_model); states (B, di, d_conv-1), (B, di, d_state)."""
        x, z = self.in_proj(h).chunk(2, dim=-1)  # (B, di)
        window = torch.cat([conv_state, x[..., None]], dim=-1)  # (B, di, d_conv)
        xc = (window * self.conv1d.weight[:, 0, :]).sum(-1)
        if self.conv1d.bias is not None:
            xc = xc + self.conv1d.bias
        xc = F.silu(xc)
        dt, B, C = self.x_proj(xc).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))  # (B, di)
        A = -torch.exp(self.A_log)
        ssm = torch.exp(delta[..., None] * A) * ssm_state + (delta * xc)[..., None] * B[:, None, :]
        y = (ssm * C[:, None, :]).sum(-1) + self.D * xc
        y = y * F.silu(z)
        return self.out_proj(y), window[..., 1:], ssm


class Mamba(MixerStackModel):
    """Mamba language model over continuous vectors or tokens (see the module doc)."""

    config_class = MambaConfig

    def _make_mixer(self):
        c = self.config
        kw = dict(d_state=c.d_state, d_conv=c.d_conv, expand=c.expand, dt_rank=c.dt_rank,
                  dt_min=c.dt_min, dt_max=c.dt_max, dt_init_floor=c.dt_init_floor,
                  conv_bias=c.conv_bias, bias=c.bias, scan_backend=c.scan_backend)
        return MambaMixer(c.d_model, **kw)

    def history_state_size(self, position) -> int:
        """``n_layer * d_inner * (d_state + d_conv - 1)`` at every position."""
        check_int("position", position, 0, None)
        c = self.config
        return c.n_layer * c.d_inner * (c.d_state + c.d_conv - 1)
