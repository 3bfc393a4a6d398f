"""A fixed-state model whose history state is set on its own: ``StateCore``.

The other fixed-state models tie their state to their width (a GRU's state is its
``d_model``; Mamba's is ``expand * d_model * (d_state + d_conv - 1)``), so a smaller state
also means a narrower embedding, head and MLP, and a state sweep changes two things at
once. ``StateCore`` separates them: a wide per-token pathway (the shared MLP embedding and
Gaussian/softmax head, learned positions, ``d_model`` wide residual stream, per-token MLPs)
around a **selective diagonal linear recurrence of order** ``state_size``::

    u_t, dt_t, c_t = split(in_proj(LayerNorm(h_t)))         (state_size each)
    a_t       = exp(-softplus(dt_t + bias) * exp(A_log))    (per slot, in (0, 1))
    z_t       = a_t * z_{t-1} + softplus(dt_t + bias) * u_t (state_size floats)
    h_t       = h_t + out_proj(c_t * z_t);  h_t = h_t + MLP(LayerNorm(h_t))

The gates (and the read-out ``c_t``) depend on the current input *and its position*, so a slot can hold a value for
as long as it is needed and be overwritten afterwards. The recurrence is Mamba's selective
scan with one state per channel (``d_state = 1``, no convolution), computed by the package's
scan kernels (:func:`~l2m_sim.models.selective_scan`).

**History state**: ``z`` of every layer, nothing else (the per-token pathway holds nothing
between steps)::

    history_state_size(position) = n_layer * state_size

With the default ``n_layer = 1`` the state is exactly ``state_size`` floats, from 1 upward,
whatever ``d_model`` is. Step mode keeps exactly those floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..protocol import check_int
from ._common import BaseConfig, SequenceModel, check_choice, check_float
from ._scan import SCAN_BACKENDS, selective_scan
from .mamba import init_dt_bias

__all__ = ["StateCoreConfig", "StateCore"]


@dataclass
class StateCoreConfig(BaseConfig):
    """``StateCore`` config (defaults: one layer, ``d_model`` 64, 8 state floats).

    Attributes (besides :class:`~l2m_sim.models._common.BaseConfig`)
    ----------
    state_size : int
        Floats of recurrent state per layer (>= 1), independent of ``d_model``.
    mlp_ratio : int
        Hidden width of the per-token MLP as a multiple of ``d_model``.
    dt_min, dt_max : float
        Initial step sizes (log-uniform): initial retention ``exp(-dt)`` per step.
    scan_backend : {"auto", "numba", "logstep", "reference", "mamba_ssm"}
    """

    n_layer: int = 1
    state_size: int = 8
    mlp_ratio: int = 2
    dt_min: float = 0.001
    dt_max: float = 0.1
    scan_backend: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        self.state_size = check_int("state_size", self.state_size, 1, None)
        self.mlp_ratio = check_int("mlp_ratio", self.mlp_ratio, 1, None)
        self.dt_min = check_float("dt_min", self.dt_min, 0.0, None, lo_open=True)
        self.dt_max = check_float("dt_max", self.dt_max, self.dt_min, None)
        check_choice("scan_backend", self.scan_backend, SCAN_BACKENDS)


class StateCoreLayer(nn.Module):
    """One residual recurrence + per-token MLP block (see the module doc)."""

    def __init__(self, d_model, state_size, mlp_ratio, dt_min, dt_max, scan_backend):
        super().__init__()
        self.d_state = state_size
        self.scan_backend = scan_backend
        self.norm1 = nn.LayerNorm(d_model)
        self.in_proj = nn.Linear(d_model, 3 * state_size)
        self.dt_bias = nn.Parameter(init_dt_bias(state_size, dt_min, dt_max, 1e-4))
        self.A_log = nn.Parameter(torch.zeros(state_size, 1))
        self.A_log._no_weight_decay = True
        self.out_proj = nn.Linear(state_size, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model))

    def _gates(self, h):
        u, dt, c = self.in_proj(self.norm1(h)).chunk(3, dim=-1)
        return u, dt, c

    def forward(self, h):
        Bsz, L, _ = h.shape
        u, dt, c = self._gates(h)
        ones = h.new_ones(Bsz, 1, L)
        z = selective_scan(u.transpose(1, 2), dt.transpose(1, 2), -torch.exp(self.A_log), ones,
                           ones, None, delta_bias=self.dt_bias, delta_softplus=True,
                           backend=self.scan_backend)
        h = h + self.out_proj(z.transpose(1, 2) * c)
        return h + self.mlp(self.norm2(h))

    def step(self, h, z):
        """One position: ``h`` (B, d_model), state ``z`` (B, state_size)."""
        u, dt, c = self._gates(h)
        delta = F.softplus(dt + self.dt_bias)
        z = torch.exp(-delta * torch.exp(self.A_log[:, 0])) * z + delta * u
        h = h + self.out_proj(z * c)
        return h + self.mlp(self.norm2(h)), z


class StateCore(SequenceModel):
    """Wide per-token model around a selective linear state of ``state_size`` floats."""

    config_class = StateCoreConfig

    def _build_backbone(self):
        c = self.config
        self.layers = nn.ModuleList(
            StateCoreLayer(c.d_model, c.state_size, c.mlp_ratio, c.dt_min, c.dt_max,
                           c.scan_backend) for _ in range(c.n_layer))
        self.norm_f = nn.LayerNorm(c.d_model)

    def _backbone(self, h):
        for layer in self.layers:
            h = layer(h)
        return self.norm_f(h)

    def _init_layers(self, batch, device, dtype):
        return [(torch.zeros(batch, self.config.state_size, device=device, dtype=dtype),)
                for _ in range(self.config.n_layer)]

    def _backbone_step(self, h, layers, position):
        new = []
        for layer, (z,) in zip(self.layers, layers):
            h, z = layer.step(h, z)
            new.append((z,))
        return self.norm_f(h), new

    def history_state_size(self, position) -> int:
        """``n_layer * state_size`` at every position."""
        check_int("position", position, 0, None)
        return self.config.n_layer * self.config.state_size

