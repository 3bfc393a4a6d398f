"""A fixed-state model whose history state is set on its own: ``StateCore``.

The other fixed-state models tie their state to their width (a GRU's state is its
``d_model``; Mamba's is ``expand * d_model * (d_state + d_conv - 1)``), so a smaller state
also means a narrower embedding, head and MLP, and a state sweep changes two things at
once. ``StateCore`` separates them: a wide per-token pathway (the shared MLP embedding and
Gaussian/softmax head, learned positions, ``d_model`` wide residual stream, per-token MLPs)
around a **selective diagonal linear recurrence of order** ``state_size``::

    u_t, g_t, f_t, c_t = split(in_proj(LayerNorm(h_t)))     (state_size each)
    a_t = sigmoid(f_t)                                      (retention per slot)
    z_t = a_t * z_{t-1} + sigmoid(g_t) * u_t               (state_size floats)
    h_t = h_t + out_proj(c_t * z_t);  h_t = h_t + MLP(LayerNorm(h_t))

The gates (and the read-out ``c_t``) depend on the current input *and its position*, so a
slot can hold a value for as long as it is needed (``a = 1``, write gate closed) and be
overwritten afterwards; retention and write strength are separate gates. The parallel form
is a chunked scan (:func:`gated_scan`, held equal to the step-by-step
:func:`gated_scan_reference` in the tests).

With ``state_map="position"`` the recurrence is instead a **time-varying dense linear state
of order** ``state_size`` inside the same wide pathway, the form of the exact predictor of a
non-stationary Gaussian process (its state map is dense, signed and different at every
position)::

    u_t = in_proj(LayerNorm(h_t))                            (state_size)
    z_t = A_t z_{t-1} + B_t * u_t                            (state_size floats)
    h_t = h_t + out_proj(C_t * z_t);  h_t = h_t + MLP(LayerNorm(h_t))

with ``A_t`` (``state_size x state_size``, identity at initialisation), ``B_t`` and ``C_t``
(``state_size``, ones) learned per position (``max_len`` of each); the parallel form is the
step loop itself.

**History state**: ``z`` of every layer, nothing else (the per-token pathway holds nothing
between steps)::

    history_state_size(position) = n_layer * state_size

With the default ``n_layer = 1`` the state is exactly ``state_size`` floats, from 1 upward,
whatever ``d_model`` is. Step mode keeps exactly those floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..protocol import check_int
from ._common import BaseConfig, LayerStackModel, check_float

__all__ = ["StateCoreConfig", "StateCore", "StateCoreLTVConfig", "StateCoreLTV"]

#: The recurrences ``StateCoreConfig.state_map`` can choose.
STATE_MAPS = ("diagonal", "position")


@dataclass
class StateCoreConfig(BaseConfig):
    """``StateCore`` config (defaults: one layer, ``d_model`` 64, 8 state floats).

    Attributes (besides :class:`~l2m_sim.models._common.BaseConfig`)
    ----------
    state_size : int
        Floats of recurrent state per layer (>= 1), independent of ``d_model``.
    mlp_ratio : int
        Hidden width of the per-token MLP as a multiple of ``d_model``.
    keep_min, keep_max : float
        Initial retention ``a`` of the slots (forget-gate bias), spread evenly between them.
    position_gates : bool
        Add a learned per-position offset to every gate (``max_len x 4 state_size``
        parameters; no state): the gates read the position directly, as the exact
        predictor of a non-stationary process needs. Diagonal state map only.
    state_map : {"diagonal", "position"}
        ``"diagonal"``: the selective diagonal recurrence; ``"position"``: a dense linear
        state map, write and read scales learned per position (module doc). The state is
        ``state_size`` floats either way.
    """

    n_layer: int = 1
    state_size: int = 8
    mlp_ratio: int = 2
    keep_min: float = 0.9
    keep_max: float = 0.999
    position_gates: bool = False
    state_map: str = "diagonal"

    def __post_init__(self):
        super().__post_init__()
        self.state_size = check_int("state_size", self.state_size, 1, None)
        self.mlp_ratio = check_int("mlp_ratio", self.mlp_ratio, 1, None)
        self.keep_min = check_float("keep_min", self.keep_min, 0.0, 1.0, lo_open=True, hi_open=True)
        self.keep_max = check_float("keep_max", self.keep_max, self.keep_min, 1.0, hi_open=True)
        if not isinstance(self.position_gates, bool):
            raise TypeError(f"position_gates must be a bool, got {type(self.position_gates).__name__}")
        if not isinstance(self.state_map, str) or self.state_map not in STATE_MAPS:
            raise ValueError(f"state_map must be one of {STATE_MAPS}, got {self.state_map!r}")
        if self.state_map == "position" and self.position_gates:
            raise ValueError("position_gates applies to state_map='diagonal' only (the "
                             "'position' map is per position already)")


def gated_scan_reference(log_a, w, z0=None):
    """``z_t = exp(log_a_t) * z_{t-1} + w_t`` one step at a time; ``(B, L, d)`` in and out."""
    B, L, d = w.shape
    z = w.new_zeros(B, d) if z0 is None else z0
    out = []
    for t in range(L):
        z = torch.exp(log_a[:, t]) * z + w[:, t]
        out.append(z)
    return torch.stack(out, dim=1)


def gated_scan(log_a, w, z0=None, chunk: int = 8):
    """The same recurrence in chunks: inside a chunk of ``T`` steps
    ``z_t = sum_{s<=t} exp(A_t - A_s) w_s + exp(A_t) z_start`` with ``A`` the running sum of
    ``log_a`` (``log_a <= 0``, so every factor is ``<= 1``: no overflow; factors below
    ``exp(-80)`` are set to exactly 0, which keeps subnormal floats -- slow on CPUs -- out),
    one sequential step per chunk. Equal to :func:`gated_scan_reference` to rounding."""
    B, L, d = w.shape
    la = log_a.transpose(1, 2)  # (B, d, L)
    ww = w.transpose(1, 2)
    z = w.new_zeros(B, d) if z0 is None else z0
    outs = []
    for s0 in range(0, L, chunk):
        A = torch.cumsum(la[:, :, s0:s0 + chunk], dim=-1)  # (B, d, T)
        T = A.shape[-1]
        diff = A[..., :, None] - A[..., None, :]  # (B, d, t, s)
        keep = torch.ones(T, T, dtype=torch.bool, device=w.device).tril() & (diff > -80.0)
        decay = torch.where(keep, torch.exp(diff.clamp(min=-80.0)), diff.new_zeros(()))
        zc = (decay @ ww[:, :, s0:s0 + chunk, None])[..., 0]
        zc = zc + torch.where(A > -80.0, torch.exp(A.clamp(min=-80.0)), A.new_zeros(())) * z[..., None]
        outs.append(zc)
        z = zc[..., -1]
    return torch.cat(outs, dim=-1).transpose(1, 2)


class StateCoreLayer(nn.Module):
    """One residual gated-recurrence + per-token MLP block (see the module doc)."""

    def __init__(self, d_model, state_size, mlp_ratio, forget_init, max_len=None):
        super().__init__()
        self.d_state = state_size
        self.norm1 = nn.LayerNorm(d_model)
        self.in_proj = nn.Linear(d_model, 4 * state_size)
        # per-position gate offsets (a learned position code read by the gates directly)
        self.pos_gates = None if max_len is None else nn.Parameter(torch.zeros(max_len, 4 * state_size))
        with torch.no_grad():  # forget-gate bias: initial retention spread over forget_init
            lo, hi = forget_init
            keep = torch.linspace(lo, hi, state_size)
            self.in_proj.bias[2 * state_size:3 * state_size] = torch.log(keep / (1 - keep))
        self.out_proj = nn.Linear(state_size, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model))

    def _gates(self, h, position=None):
        pre = self.in_proj(self.norm1(h))
        if self.pos_gates is not None:
            if position is None:  # full sequence (B, L, .)
                pre = pre + self.pos_gates[: h.shape[1]]
            else:  # one step (B, .)
                pre = pre + self.pos_gates[position]
        u, g, f, c = pre.chunk(4, dim=-1)
        return F.logsigmoid(f), torch.sigmoid(g) * u, c

    def forward(self, h):
        log_a, w, c = self._gates(h)
        # the step loop is faster for short sequences on CPU (bench_training.py)
        z = gated_scan_reference(log_a, w) if h.shape[1] <= 64 else gated_scan(log_a, w)
        h = h + self.out_proj(c * z)
        return h + self.mlp(self.norm2(h))

    def step(self, h, z, position=None):
        """One position: ``h`` (B, d_model), state ``z`` (B, state_size)."""
        log_a, w, c = self._gates(h, position)
        z = torch.exp(log_a) * z + w
        h = h + self.out_proj(c * z)
        return h + self.mlp(self.norm2(h)), z


class PositionStateLayer(nn.Module):
    """One residual block around ``z_t = A_t z_{t-1} + B_t * u_t`` (per-position dense
    ``A_t``, per-position write / read scales ``B_t`` / ``C_t``) and a per-token MLP."""

    def __init__(self, d_model, state_size, mlp_ratio, max_len):
        super().__init__()
        self.d_state = state_size
        self.norm1 = nn.LayerNorm(d_model)
        self.in_proj = nn.Linear(d_model, state_size)
        self.A = nn.Parameter(torch.eye(state_size).repeat(max_len, 1, 1))
        self.B = nn.Parameter(torch.ones(max_len, state_size))
        self.C = nn.Parameter(torch.ones(max_len, state_size))
        self.out_proj = nn.Linear(state_size, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model))

    def forward(self, h):
        u = self.in_proj(self.norm1(h))
        z = u.new_zeros(u.shape[0], self.d_state)
        zs = []
        for t in range(h.shape[1]):
            z = z @ self.A[t].T + self.B[t] * u[:, t]
            zs.append(z)
        z = torch.stack(zs, dim=1)
        h = h + self.out_proj(self.C[: h.shape[1]] * z)
        return h + self.mlp(self.norm2(h))

    def step(self, h, z, position):
        """One position: ``h`` (B, d_model), state ``z`` (B, state_size)."""
        u = self.in_proj(self.norm1(h))
        z = z @ self.A[position].T + self.B[position] * u
        h = h + self.out_proj(self.C[position] * z)
        return h + self.mlp(self.norm2(h)), z


class StateCore(LayerStackModel):
    """Wide per-token model around a selective linear state of ``state_size`` floats
    (``history_state_size = n_layer * state_size`` at every position)."""

    config_class = StateCoreConfig

    def _make_layer(self):
        c = self.config
        if c.state_map == "position":
            return PositionStateLayer(c.d_model, c.state_size, c.mlp_ratio, c.max_len)
        return StateCoreLayer(c.d_model, c.state_size, c.mlp_ratio, (c.keep_min, c.keep_max),
                              c.max_len if c.position_gates else None)

    def _state_width(self) -> int:
        return self.config.state_size


@dataclass
class StateCoreLTVConfig(StateCoreConfig):
    """``StateCoreLTV`` config: a ``StateCoreConfig`` whose ``state_map`` is ``"position"``.

    Its state map is learned per position (``max_len * (state_size**2 + 2 state_size)``
    parameters), so the default ``max_len`` is 1024 rather than 4096; ``train`` sets it to
    the process length."""

    max_len: int = 1024
    state_map: str = "position"

    def __post_init__(self):
        super().__post_init__()
        if self.state_map != "position":
            raise ValueError(f"state_map of StateCoreLTV must be 'position', got "
                             f"{self.state_map!r} (use StateCore for the diagonal map)")


class StateCoreLTV(StateCore):
    """``StateCore`` with the per-position dense linear state map (``state_map="position"``:
    a linear time-varying state of ``state_size`` floats inside the wide pathway), registered
    as its own model (``"state_core_ltv"``) for the phase diagram."""

    config_class = StateCoreLTVConfig
