"""Fixed-state models besides Mamba: causal linear attention and a GRU.

``LinearAttention`` (Katharopoulos et al. 2020): GPT's pre-LN block with softmax attention
replaced by kernelised attention with feature map ``phi(x) = elu(x) + 1 > 0``::

    out_t = phi(q_t)^T S_t / (phi(q_t) . z_t + eps),   S_t = sum_{s<=t} phi(k_s) v_s^T,
                                                     z_t = sum_{s<=t} phi(k_s)

per head (``eps = 1e-6``). The full forward is chunked: masked ``phi(Q) phi(K)^T`` inside a
chunk plus the running ``(S, z)`` entering it (exact in exact arithmetic); step mode keeps
``(S, z)``. **History state** per sequence: ``n_head (d_head^2 + d_head)`` per layer::

    history_state_size(position) = n_layer * (d_model * d_head + d_model).

``GRU``: ``n_layer`` pre-norm residual layers ``h <- h + GRU(norm(h))`` (``nn.GRU``, hidden
``d_model``). **History state**: the hidden vectors, ``n_layer * d_model``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..protocol import check_int
from ._common import BaseConfig, LayerStackModel, SequenceModel
from .gpt import MLP

__all__ = ["LinearAttentionConfig", "LinearAttention", "GRUConfig", "GRU"]

_EPS = 1e-6


@dataclass
class LinearAttentionConfig(BaseConfig):
    """Linear-attention config (defaults: small CPU model).

    Attributes (besides :class:`~l2m_sim.models._common.BaseConfig`)
    ----------
    n_head : int
        Heads; must divide ``d_model``.
    mlp_ratio : int
    chunk_size : int
        Chunk length of the parallel forward.
    """

    n_head: int = 4
    mlp_ratio: int = 4
    chunk_size: int = 64

    def __post_init__(self):
        super().__post_init__()
        self.n_head = check_int("n_head", self.n_head, 1, None)
        if self.d_model % self.n_head:
            raise ValueError(f"n_head must divide d_model={self.d_model}, got n_head={self.n_head}")
        self.mlp_ratio = check_int("mlp_ratio", self.mlp_ratio, 1, None)
        self.chunk_size = check_int("chunk_size", self.chunk_size, 1, None)


def _phi(x):
    return F.elu(x) + 1.0


class LinearSelfAttention(nn.Module):
    def __init__(self, d_model, n_head, chunk_size):
        super().__init__()
        self.n_head = n_head
        self.chunk_size = chunk_size
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def _qkv(self, x):
        *lead, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=-1)
        H = self.n_head
        q, k, v = (t.reshape(*lead, H, d // H).transpose(-3, -2) for t in (q, k, v))
        return _phi(q), _phi(k), v

    def forward(self, x):
        nb, L, d = x.shape
        q, k, v = self._qkv(x)  # (B, H, L, dh)
        H, dh = self.n_head, d // self.n_head
        Q = self.chunk_size
        pad = (-L) % Q
        if pad:  # padded keys/values come after every real query: no effect
            q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        nc = (L + pad) // Q
        q, k, v = (t.reshape(nb, H, nc, Q, dh) for t in (q, k, v))
        causal = torch.ones(Q, Q, dtype=torch.bool, device=x.device).tril()
        att = (q @ k.transpose(-1, -2)).masked_fill(~causal, 0.0)  # (B, H, c, Q, Q)
        num = att @ v
        den = att.sum(-1)
        kv = k.transpose(-1, -2) @ v  # (B, H, c, dh, dh)
        ks = k.sum(-2)  # (B, H, c, dh)
        S = torch.cumsum(torch.cat([torch.zeros_like(kv[:, :, :1]), kv[:, :, :-1]], dim=2), dim=2)
        z = torch.cumsum(torch.cat([torch.zeros_like(ks[:, :, :1]), ks[:, :, :-1]], dim=2), dim=2)
        num = num + q @ S
        den = den + (q * z[:, :, :, None, :]).sum(-1)
        y = (num / (den[..., None] + _EPS)).reshape(nb, H, nc * Q, dh)[:, :, :L]
        return self.c_proj(y.transpose(1, 2).reshape(nb, L, d))

    def step(self, x, S, z):
        nb, d = x.shape
        q, k, v = self._qkv(x[:, None, :])  # (B, H, 1, dh)
        S = S + k.transpose(-1, -2) @ v
        z = z + k[:, :, 0]
        num = (q @ S)[:, :, 0]  # (B, H, dh)
        den = (q[:, :, 0] * z).sum(-1)
        y = num / (den[..., None] + _EPS)
        return self.c_proj(y.reshape(nb, d)), S, z


class LinearBlock(nn.Module):
    def __init__(self, d_model, n_head, ratio, chunk_size):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = LinearSelfAttention(d_model, n_head, chunk_size)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, ratio)

    def forward(self, h):
        h = h + self.attn(self.ln_1(h))
        return h + self.mlp(self.ln_2(h))

    def step(self, h, S, z):
        a, S, z = self.attn.step(self.ln_1(h), S, z)
        h = h + a
        return h + self.mlp(self.ln_2(h)), S, z


class LinearAttention(SequenceModel):
    """Causal linear-attention transformer (fixed-size state; see the module doc)."""

    config_class = LinearAttentionConfig

    def _build_backbone(self):
        c = self.config
        self.blocks = nn.ModuleList(
            LinearBlock(c.d_model, c.n_head, c.mlp_ratio, c.chunk_size) for _ in range(c.n_layer)
        )
        self.ln_f = nn.LayerNorm(c.d_model)
        for name, p in self.blocks.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, std=std)

    def _backbone(self, h):
        for blk in self.blocks:
            h = blk(h)
        return self.ln_f(h)

    def _init_layers(self, batch, device, dtype):
        c = self.config
        dh = c.d_model // c.n_head
        return [(torch.zeros(batch, c.n_head, dh, dh, device=device, dtype=dtype),
                 torch.zeros(batch, c.n_head, dh, device=device, dtype=dtype)) for _ in range(c.n_layer)]

    def _backbone_step(self, h, layers, position):
        new = []
        for blk, (S, z) in zip(self.blocks, layers):
            h, S, z = blk.step(h, S, z)
            new.append((S, z))
        return self.ln_f(h), new

    def history_state_size(self, position) -> int:
        """``n_layer * (d_model * d_head + d_model)`` at every position."""
        check_int("position", position, 0, None)
        c = self.config
        return c.n_layer * (c.d_model * (c.d_model // c.n_head) + c.d_model)


@dataclass
class GRUConfig(BaseConfig):
    """GRU config: ``n_layer`` residual GRU layers of width ``d_model`` (no extra fields)."""


class GRULayer(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.gru = nn.GRU(d_model, d_model, batch_first=True)

    def forward(self, h):
        return h + self.gru(self.norm(h))[0]

    def step(self, h, state, position=None):
        out, new = self.gru(self.norm(h)[:, None, :], state[None].contiguous())
        return h + out[:, 0], new[0]


class GRU(LayerStackModel):
    """Residual GRU stack (state ``n_layer * d_model`` floats per sequence)."""

    config_class = GRUConfig

    def _make_layer(self):
        return GRULayer(self.config.d_model)

    def _state_width(self) -> int:
        return self.config.d_model
