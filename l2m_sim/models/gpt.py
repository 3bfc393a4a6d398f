"""Causal transformers: ``GPT`` (full causal attention) and ``WindowGPT`` (sliding window).

Architecture (GPT-2 style, pre-LN): ``n_layer`` blocks
``h <- h + attn(ln_1(h)); h <- h + mlp(ln_2(h))`` with multi-head attention
(``c_attn: d -> 3d``, ``c_proj: d -> d``) and a GELU MLP (``c_fc: d -> 4d``, ``c_proj``),
then a final LayerNorm ``ln_f``. Weights are initialised N(0, 0.02) (residual projections
N(0, 0.02 / sqrt(2 n_layer))), biases zero. Positions come from the shared adapter
(``positional=True``; see :mod:`l2m_sim.models._common`).

**History state.** The step-mode state of ``GPT`` is the key/value cache: after
``position`` steps every layer holds the keys and values (``d_model`` floats each) of the
``position`` inputs read so far, so

    history_state_size(position) = 2 * n_layer * d_model * position.

``WindowGPT`` lets the query at position ``t`` attend only to the last ``w_t`` positions
``t - w_t + 1 .. t``. The window sequence is ``w_0 = 1`` and

    w_t = clip(min(t + 1, max(window, floor(window_scale * (t + 1) ** window_exponent))),
               w_{t-1}, w_{t-1} + 1),

so it never shrinks and grows by at most one per position: ``t - w_t`` never decreases,
hence a key/value that falls out of one query's window is never needed again and the cache
after ``position`` steps holds exactly the ``w_position - 1`` most recent positions:

    history_state_size(position) = 2 * n_layer * d_model * (w_position - 1).

With ``window_exponent = 0`` (the default) the window is the constant ``window`` once
``t >= window - 1``: the state is **bounded** (``2 n_layer d_model (window - 1)``). With
``0 < window_exponent < 1`` the state grows sub-linearly, like ``L^window_exponent`` -- the
knob that meets the L2M condition for data with bipartite exponent ``beta`` exactly when
``window_exponent >= beta``. ``window_exponent = 1, window_scale = 1`` is full attention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..protocol import check_int
from ._common import BaseConfig, SequenceModel, check_float

__all__ = ["GPTConfig", "GPT", "WindowGPTConfig", "WindowGPT"]

#: Query block of the windowed attention's forward pass.
WINDOW_BLOCK = 128


@dataclass
class _TransformerConfig(BaseConfig):
    """Fields shared by :class:`GPTConfig` and :class:`WindowGPTConfig` (neither is a
    subclass of the other, so ``isinstance`` tells them apart)."""

    n_head: int = 4
    mlp_ratio: int = 4

    def __post_init__(self):
        super().__post_init__()
        self.n_head = check_int("n_head", self.n_head, 1, None)
        if self.d_model % self.n_head:
            raise ValueError(f"n_head must divide d_model={self.d_model}, got n_head={self.n_head}")
        self.mlp_ratio = check_int("mlp_ratio", self.mlp_ratio, 1, None)


@dataclass
class GPTConfig(_TransformerConfig):
    """Causal transformer config (defaults: a small CPU model, 2 layers, d_model 64).

    Attributes (besides :class:`~l2m_sim.models._common.BaseConfig`)
    ----------
    n_head : int
        Attention heads; must divide ``d_model``.
    mlp_ratio : int
        MLP hidden width is ``mlp_ratio * d_model``.
    """


@dataclass
class WindowGPTConfig(_TransformerConfig):
    """Sliding-window transformer config.

    Attributes (besides those of :class:`GPTConfig`)
    ----------
    window : int
        Minimum window (positions attended, the query's own included), ``>= 1``.
    window_exponent : float
        Growth exponent ``gamma`` in ``[0, 1]`` of the window (0: fixed window).
    window_scale : float
        Prefactor ``> 0`` of ``(t + 1) ** gamma``.
    """

    window: int = 64
    window_exponent: float = 0.0
    window_scale: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        self.window = check_int("window", self.window, 1, None)
        self.window_exponent = check_float("window_exponent", self.window_exponent, 0.0, 1.0)
        self.window_scale = check_float("window_scale", self.window_scale, 0.0, None, lo_open=True)


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def _qkv(self, x):
        *lead, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=-1)
        H = self.n_head
        # (..., L, d) -> (..., H, L, dh)
        return tuple(t.reshape(*lead, H, d // H).transpose(-3, -2) for t in (q, k, v))

    def forward(self, x, window=None):
        """Causal attention; ``window`` (int array ``w_t``, see :class:`WindowGPT`) restricts
        query ``t`` to keys ``t - w_t + 1 .. t`` and is computed in query blocks of
        ``WINDOW_BLOCK`` against only the keys the block can see (O(L (w + block)) work)."""
        B, L, d = x.shape
        q, k, v = self._qkv(x)
        if window is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            outs = []
            for s in range(0, L, WINDOW_BLOCK):
                e = min(L, s + WINDOW_BLOCK)
                lo = s - int(window[s]) + 1  # t - w_t never decreases: the block's first query sees furthest back
                tq = torch.arange(s, e, device=x.device)
                tk = torch.arange(lo, e, device=x.device)
                w = torch.as_tensor(window[s:e], device=x.device)
                mask = (tk[None, :] <= tq[:, None]) & (tk[None, :] > (tq - w)[:, None])
                outs.append(F.scaled_dot_product_attention(q[:, :, s:e], k[:, :, lo:e], v[:, :, lo:e],
                                                           attn_mask=mask))
            y = torch.cat(outs, dim=2)
        return self.c_proj(y.transpose(1, 2).reshape(B, L, d))

    def step(self, x, cache_k, cache_v):
        """One query ``x`` (B, d) against the cache plus itself; returns (y, K, V)."""
        B, d = x.shape
        q, k, v = self._qkv(x[:, None, :])  # (B, H, 1, dh)
        K = torch.cat([cache_k, k], dim=2)
        V = torch.cat([cache_v, v], dim=2)
        y = F.scaled_dot_product_attention(q, K, V)
        return self.c_proj(y.transpose(1, 2).reshape(B, d)), K, V


class MLP(nn.Module):
    def __init__(self, d_model, ratio):
        super().__init__()
        self.c_fc = nn.Linear(d_model, ratio * d_model)
        self.c_proj = nn.Linear(ratio * d_model, d_model)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, d_model, n_head, ratio):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, ratio)

    def forward(self, h, window=None):
        h = h + self.attn(self.ln_1(h), window)
        return h + self.mlp(self.ln_2(h))

    def step(self, h, cache_k, cache_v):
        a, K, V = self.attn.step(self.ln_1(h), cache_k, cache_v)
        h = h + a
        return h + self.mlp(self.ln_2(h)), K, V


class GPT(SequenceModel):
    """Causal pre-LN transformer; see the module doc for the history-state size.

    ``GPT(GPTConfig(...))``; ``model(x)`` gives ``(mean, std)`` (continuous) or logits.
    """

    config_class = GPTConfig

    def _build_backbone(self):
        c = self.config
        self.blocks = nn.ModuleList(Block(c.d_model, c.n_head, c.mlp_ratio) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.d_model)
        for name, p in self.blocks.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, std=std)

    def _window(self, L):
        return None  # full causal attention

    def _backbone(self, h):
        window = self._window(h.shape[1])
        for blk in self.blocks:
            h = blk(h, window)
        return self.ln_f(h)

    def _init_layers(self, batch, device, dtype):
        c = self.config
        dh = c.d_model // c.n_head
        z = torch.zeros(batch, c.n_head, 0, dh, device=device, dtype=dtype)
        return [(z, z.clone()) for _ in range(c.n_layer)]

    def _keep(self, position):
        """Cache entries to keep after ``position`` steps (all of them for full attention)."""
        return position

    def _backbone_step(self, h, layers, position):
        keep = self._keep(position + 1)
        new = []
        for blk, (k, v) in zip(self.blocks, layers):
            h, K, V = blk.step(h, k, v)
            new.append((K[:, :, K.shape[2] - keep:], V[:, :, V.shape[2] - keep:]))
        return self.ln_f(h), new

    def history_state_size(self, position) -> int:
        """``2 * n_layer * d_model * position``: keys and values of the inputs read so far."""
        position = check_int("position", position, 0, None)
        c = self.config
        return 2 * c.n_layer * c.d_model * position


class WindowGPT(GPT):
    """Sliding-window causal transformer (bounded or sub-linearly growing state).

    See the module doc for the window sequence ``w_t`` and the exact state size.
    """

    config_class = WindowGPTConfig

    def _build_backbone(self):
        super()._build_backbone()
        self._w = np.ones(1, dtype=np.int64)  # cached window sequence w_0..w_{len-1}

    def window_sizes(self, length) -> np.ndarray:
        """``w_0 .. w_{length-1}``: positions attended by each query (its own included)."""
        length = check_int("length", length, 1, None)
        if len(self._w) < length:
            c = self.config
            n = max(length, 2 * len(self._w))
            w = np.empty(n, dtype=np.int64)
            w[: len(self._w)] = self._w
            for t in range(len(self._w), n):
                raw = min(t + 1, max(c.window, math.floor(c.window_scale * (t + 1) ** c.window_exponent)))
                w[t] = min(max(raw, w[t - 1]), w[t - 1] + 1)
            self._w = w
        return self._w[:length].copy()

    def _window(self, L):
        return self.window_sizes(L)

    def attention_mask(self, L) -> torch.Tensor:
        """The (query, key) boolean mask of the window: key ``s`` is seen by query ``t`` iff
        ``t - w_t < s <= t`` (for inspection; the forward pass works in blocks)."""
        w = torch.as_tensor(self.window_sizes(L))
        t = torch.arange(L)
        return (t[None, :] <= t[:, None]) & (t[None, :] > (t - w)[:, None])

    def _keep(self, position):
        return int(self.window_sizes(position + 1)[position]) - 1

    def history_state_size(self, position) -> int:
        """``2 * n_layer * d_model * (w_position - 1)``: the cached last ``w_position - 1`` positions."""
        position = check_int("position", position, 0, None)
        c = self.config
        return 2 * c.n_layer * c.d_model * (self._keep(position))
