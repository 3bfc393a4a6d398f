"""Shared machinery of the sequence models: configs, input/output adapters, step mode.

Every model maps a sequence to per-position predictions of the *next* value:

* **continuous** data ``x`` of shape ``(B, L, C)`` (``C = config.channels``): the model's
  output at position ``t`` is a diagonal Gaussian ``N(mean_t, std_t^2)`` for ``x_t`` given
  ``x_{<t}``. The input stream is ``x`` shifted right by one position with an all-zero start
  vector at ``t = 0``; each input vector is embedded by a 2-layer MLP
  (``Linear(C, H) -> GELU -> Linear(H, d_model)``) and the head is a 2-layer MLP
  (``Linear(d_model, H) -> GELU -> Linear(H, 2C)``) giving ``mean`` and a raw scale ``s``:
  ``std = exp(s)`` (``std_param="exp"``, the default: ``s`` is the log-std) or
  ``std = softplus(s) + 1e-6`` (``std_param="softplus"``).
* **discrete** tokens ``w`` of shape ``(B, L)`` with values in ``0..M-1``
  (``M = config.vocab_size``): the input stream is ``w`` shifted right with the start token
  id ``M`` at ``t = 0`` (the embedding has ``M + 1`` rows) and the head is a linear map to
  ``M`` logits (``softmax`` gives ``p(w_t | w_{<t})``).

**Positions.** The processes of this package are not stationary, so by default every
model (``positional=True``) adds a position feature to the embedded input of position
``t`` (0-based): a learned embedding ``nn.Embedding(max_len, d_model)``
(``positional_kind="learned"``, lengths up to ``max_len``) or the fixed sinusoidal code of
the original transformer (``"sinusoidal"``, any length).

**Step mode and the history state.** ``state = model.init_state(batch)`` is the state
before anything has been read (``state.position == 0``). ``out, state = model.step(x_prev,
state)`` reads one input (``x_prev = None`` at position 0 -- the start token -- and the
observed ``x_{t-1}`` at position ``t >= 1``) and returns the prediction for ``x_t`` (a
``(mean, std)`` pair of ``(B, C)`` tensors, or ``(B, M)`` logits) and the state after
``t + 1`` steps. ``model.history_state_size(position)`` is the number of floats per
sequence, summed over all layers, that the state holds **after ``position`` steps**
(i.e. after reading ``position`` inputs: the start token and ``x_0 .. x_{position-2}``);
it is exactly ``state.numel_per_sequence()``. The position counter ``state.position`` is
bookkeeping, not part of the count. The state that carries all of ``x_{<c}`` (the past of
a bipartite cut after ``c`` tokens) into the future is the state after ``c + 1`` steps:
its size is ``history_state_size(c + 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..protocol import check_float, check_int  # noqa: F401 - check_float re-exported for the models

__all__ = ["BaseConfig", "SequenceModel", "ModelState", "ResidualMixerLayer", "MixerStackModel"]

_POS_KINDS = ("learned", "sinusoidal")
_STD_PARAMS = ("exp", "softplus")
_SOFTPLUS_FLOOR = 1e-6


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------


def check_bool(name, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def check_choice(name, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


# --------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------


@dataclass
class BaseConfig:
    """Fields shared by every model config (all validated in ``__post_init__``).

    Attributes
    ----------
    channels : int
        Width ``C`` of a continuous input vector (ignored for discrete data).
    vocab_size : int or None
        ``None``: continuous data; an int ``M >= 2``: tokens ``0..M-1``.
    d_model : int
        Residual-stream width.
    n_layer : int
        Number of layers (blocks).
    max_len : int
        Longest sequence with learned positions (``positional_kind="learned"``).
    positional : bool
        Add a position feature to every input (default True; see the module doc).
    positional_kind : {"learned", "sinusoidal"}
    std_param : {"exp", "softplus"}
        How the Gaussian head's raw scale becomes a std (continuous data).
    embed_hidden : int or None
        Hidden width of the input-embedding and head MLPs (None: ``d_model``).
    """

    channels: int = 1
    vocab_size: int | None = None
    d_model: int = 64
    n_layer: int = 2
    max_len: int = 4096
    positional: bool = True
    positional_kind: str = "learned"
    std_param: str = "exp"
    embed_hidden: int | None = None

    def __post_init__(self):
        self.channels = check_int("channels", self.channels, 1, None)
        if self.vocab_size is not None:
            self.vocab_size = check_int("vocab_size", self.vocab_size, 2, None)
        self.d_model = check_int("d_model", self.d_model, 1, None)
        self.n_layer = check_int("n_layer", self.n_layer, 1, None)
        self.max_len = check_int("max_len", self.max_len, 1, None)
        self.positional = check_bool("positional", self.positional)
        check_choice("positional_kind", self.positional_kind, _POS_KINDS)
        check_choice("std_param", self.std_param, _STD_PARAMS)
        if self.embed_hidden is not None:
            self.embed_hidden = check_int("embed_hidden", self.embed_hidden, 1, None)

    def to_dict(self) -> dict:
        """Plain dict of the fields (for result attributes)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --------------------------------------------------------------------------------------
# Step-mode state
# --------------------------------------------------------------------------------------


@dataclass
class ModelState:
    """The recurrent / cached state of a model in step mode.

    Attributes
    ----------
    position : int
        Number of steps taken (inputs read). Bookkeeping only: not counted as state.
    batch : int
    layers : list
        Per layer, a tuple of tensors whose first dimension is the batch.
    """

    position: int
    batch: int
    layers: list = field(default_factory=list)

    def tensors(self):
        for layer in self.layers:
            yield from layer

    def numel_per_sequence(self) -> int:
        """Floats per sequence held in the state (all layers, position counter excluded)."""
        total = sum(t.numel() for t in self.tensors())
        if total % self.batch:
            raise RuntimeError("state tensors are not batch-major")  # pragma: no cover
        return total // self.batch


# --------------------------------------------------------------------------------------
# Base model
# --------------------------------------------------------------------------------------


def sinusoidal_positions(positions: torch.Tensor, d: int, dtype) -> torch.Tensor:
    """The transformer's fixed code: ``sin(t w_i), cos(t w_i)``, ``w_i = 10000^(-2i/d)``."""
    half = (d + 1) // 2
    freq = torch.exp(-math.log(10000.0) * 2.0 * torch.arange(half, dtype=torch.float64) / d)
    ang = positions.to(torch.float64)[:, None] * freq.to(positions.device)[None, :]
    pe = torch.stack([torch.sin(ang), torch.cos(ang)], dim=-1).reshape(len(positions), 2 * half)
    return pe[:, :d].to(dtype)


class SequenceModel(nn.Module):
    """Base class: adapters, positions, step mode; subclasses provide the backbone.

    A subclass sets ``config_class`` and implements

    * ``_build_backbone()`` (called from ``__init__``),
    * ``_backbone(h) -> h`` for ``h`` of shape ``(B, L, d_model)`` (causal; includes the
      final norm),
    * ``_init_layers(batch, device, dtype) -> list`` of per-layer state tuples,
    * ``_backbone_step(h, layers, position) -> (h, layers)`` for ``h`` of shape ``(B, d_model)``,
    * ``history_state_size(position) -> int``.
    """

    config_class = BaseConfig

    def __init__(self, config=None):
        super().__init__()
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"config must be a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config
        d = config.d_model
        hid = config.embed_hidden or d
        if config.vocab_size is not None:
            self.embed = nn.Embedding(config.vocab_size + 1, d)
            self.head = nn.Linear(d, config.vocab_size)
        else:
            C = config.channels
            self.embed = nn.Sequential(nn.Linear(C, hid), nn.GELU(), nn.Linear(hid, d))
            self.head = nn.Sequential(nn.Linear(d, hid), nn.GELU(), nn.Linear(hid, 2 * C))
        if config.positional and config.positional_kind == "learned":
            self.pos_emb = nn.Embedding(config.max_len, d)
            nn.init.normal_(self.pos_emb.weight, std=0.02)
        else:
            self.pos_emb = None
        self._build_backbone()

    # -- to implement -------------------------------------------------------------------

    def _build_backbone(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _backbone(self, h):  # pragma: no cover - abstract
        raise NotImplementedError

    def _init_layers(self, batch, device, dtype):  # pragma: no cover - abstract
        raise NotImplementedError

    def _backbone_step(self, h, layers, position):  # pragma: no cover - abstract
        raise NotImplementedError

    def history_state_size(self, position) -> int:  # pragma: no cover - abstract
        """Floats per sequence in the state after ``position`` steps (all layers)."""
        raise NotImplementedError

    # -- properties ----------------------------------------------------------------------

    @property
    def discrete(self) -> bool:
        """True for token models (``config.vocab_size`` set)."""
        return self.config.vocab_size is not None

    def _param(self):
        return next(self.parameters())

    def count_parameters(self, trainable_only: bool = True) -> int:
        """Number of parameters (trainable ones only by default)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # -- input handling ------------------------------------------------------------------

    def _as_input(self, x):
        """Validate and convert the model input; returns (tensor, squeeze_channel)."""
        p = self._param()
        cfg = self.config
        if isinstance(x, (str, bytes)) or x is None:
            raise TypeError(f"input must be a tensor or array, got {type(x).__name__}")
        if self.discrete:
            t = torch.as_tensor(x, device=p.device)
            if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
                raise TypeError(f"tokens must be an integer tensor (B, L), got dtype {t.dtype}")
            if t.dim() != 2:
                raise ValueError(f"tokens must have shape (B, L), got {tuple(t.shape)}")
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= cfg.vocab_size):
                raise ValueError(f"tokens must be in [0, {cfg.vocab_size - 1}] (vocab_size)")
            t = t.long()
            squeeze = False
        else:
            t = torch.as_tensor(x, device=p.device)
            if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
                raise TypeError(f"x must be a real tensor (B, L, C), got dtype {t.dtype}")
            t = t.to(p.dtype)
            squeeze = False
            if t.dim() == 2 and cfg.channels == 1:
                t = t[..., None]
                squeeze = True
            if t.dim() != 3 or t.shape[-1] != cfg.channels:
                raise ValueError(
                    f"x must have shape (B, L, channels={cfg.channels}), got {tuple(t.shape)}"
                )
            if not bool(torch.isfinite(t).all()):
                raise ValueError("x must be finite (no NaN or inf)")
        L = t.shape[1]
        if L < 1:
            raise ValueError("sequences must have length L >= 1")
        if self.pos_emb is not None and L > cfg.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len={cfg.max_len} (learned positions)")
        return t, squeeze

    def _positions(self, start, length, dtype, device):
        pos = torch.arange(start, start + length, device=device)
        if self.pos_emb is not None:
            return self.pos_emb(pos)
        return sinusoidal_positions(pos, self.config.d_model, dtype)

    def _embed_stream(self, t):
        """Shift right with the start token, embed, add positions: (B, L, d_model)."""
        B, L = t.shape[:2]
        if self.discrete:
            start = torch.full((B, 1), self.config.vocab_size, dtype=torch.long, device=t.device)
            h = self.embed(torch.cat([start, t[:, :-1]], dim=1))
        else:
            h = self.embed(torch.cat([t.new_zeros(B, 1, t.shape[-1]), t[:, :-1]], dim=1))
        if self.config.positional:
            h = h + self._positions(0, L, h.dtype, h.device)
        return h

    def _head(self, h):
        out = self.head(h)
        if self.discrete:
            return out
        mean, s = out.chunk(2, dim=-1)
        if self.config.std_param == "exp":
            std = torch.exp(s)
        else:
            std = F.softplus(s) + _SOFTPLUS_FLOOR
        return mean, std

    # -- full (parallel) forward -----------------------------------------------------------

    def forward(self, x):
        """Continuous: ``(mean, std)`` each shaped like ``x``; discrete: logits ``(B, L, M)``.

        Output position ``t`` depends only on ``x[:, :t]``. ``x`` is a tensor or array:
        continuous ``(B, L, C)`` (``(B, L)`` accepted when ``C = 1``; cast to the model's
        dtype and device), or integer tokens ``(B, L)``.
        """
        t, squeeze = self._as_input(x)
        out = self._head(self._backbone(self._embed_stream(t)))
        if squeeze:
            out = tuple(o[..., 0] for o in out)
        return out

    def predict(self, x):
        """Conditional Gaussian ``(mean, std)`` of every ``x_t`` given ``x_{<t}`` (continuous)."""
        if self.discrete:
            raise TypeError("predict() is for continuous models; this model has vocab_size set (use logits())")
        return self(x)

    def logits(self, tokens):
        """Logits ``(B, L, M)`` of ``p(w_t | w_{<t})`` (discrete models)."""
        if not self.discrete:
            raise TypeError("logits() is for discrete models (config.vocab_size); use predict()")
        return self(tokens)

    # -- step mode ---------------------------------------------------------------------------

    def init_state(self, batch: int, device=None, dtype=None) -> ModelState:
        """State before anything has been read (position 0)."""
        batch = check_int("batch", batch, 1, None)
        p = self._param()
        device = p.device if device is None else torch.device(device)
        dtype = p.dtype if dtype is None else dtype
        return ModelState(0, batch, self._init_layers(batch, device, dtype))

    def step(self, x_prev, state: ModelState):
        """Read one input and predict the next value.

        Parameters
        ----------
        x_prev : None at position 0 (the start token); otherwise the observed previous value,
            shape ``(B, C)`` (continuous; ``(B,)`` allowed when C = 1) or ``(B,)`` tokens.
        state : ModelState

        Returns
        -------
        out, new_state : ``out`` is ``(mean, std)`` of shape ``(B, C)`` or logits ``(B, M)``
            for position ``state.position``; ``new_state.position = state.position + 1``.
        """
        if not isinstance(state, ModelState):
            raise TypeError(f"state must be a ModelState (from init_state), got {type(state).__name__}")
        pos = state.position
        B = state.batch
        cfg = self.config
        p = self._param()
        if self.pos_emb is not None and pos >= cfg.max_len:
            raise ValueError(f"position {pos} exceeds max_len={cfg.max_len} (learned positions)")
        if pos == 0:
            if x_prev is not None:
                raise ValueError("x_prev must be None at position 0 (the start token is implicit)")
            if self.discrete:
                inp = self.embed(torch.full((B,), cfg.vocab_size, dtype=torch.long, device=p.device))
            else:
                inp = self.embed(p.new_zeros(B, cfg.channels))
        else:
            if x_prev is None:
                raise ValueError(f"x_prev is required at position {pos} >= 1")
            xp = torch.as_tensor(x_prev, device=p.device)
            if self.discrete:
                if xp.dim() != 1:
                    raise ValueError(f"x_prev tokens must have shape (B,), got {tuple(xp.shape)}")
                t, _ = self._as_input(xp[:, None])
            else:
                if xp.dim() == 1 and cfg.channels == 1:
                    xp = xp[:, None]
                if xp.dim() != 2:
                    raise ValueError(f"x_prev must have shape (B, channels), got {tuple(xp.shape)}")
                t, _ = self._as_input(xp[:, None, :])
            if t.shape[0] != B:
                raise ValueError(f"x_prev has batch {t.shape[0]}, the state has batch {B}")
            inp = self.embed(t[:, 0])
        if cfg.positional:
            inp = inp + self._positions(pos, 1, inp.dtype, inp.device)[0]
        h, layers = self._backbone_step(inp, state.layers, pos)
        return self._head(h), ModelState(pos + 1, B, layers)

    @torch.no_grad()
    def step_forward(self, x):
        """The full forward computed by ``step`` one position at a time (for checks)."""
        t, squeeze = self._as_input(x)
        state = self.init_state(t.shape[0])
        outs = []
        for i in range(t.shape[1]):
            out, state = self.step(None if i == 0 else t[:, i - 1], state)
            outs.append(out)
        if self.discrete:
            return torch.stack(outs, dim=1)
        mean = torch.stack([o[0] for o in outs], dim=1)
        std = torch.stack([o[1] for o in outs], dim=1)
        if squeeze:
            mean, std = mean[..., 0], std[..., 0]
        return mean, std

    # -- numpy interface (model-based estimators) ------------------------------------------

    @torch.no_grad()
    def conditional_moments(self, x, batch_size: int = 64):
        """Numpy ``(mean, std)`` shaped like ``x`` (continuous models; eval, no grad)."""
        if self.discrete:
            raise TypeError("conditional_moments() is for continuous models; use conditional_probs()")
        x = np.asarray(x)
        ms, ss = [], []
        for i in range(0, len(x), batch_size):
            m, s = self(x[i:i + batch_size])
            ms.append(m.double().cpu().numpy())
            ss.append(s.double().cpu().numpy())
        return np.concatenate(ms), np.concatenate(ss)

    @torch.no_grad()
    def conditional_probs(self, tokens, batch_size: int = 64):
        """Numpy ``p(w_t = . | w_{<t})``, shape ``(n, L, M)`` (discrete models)."""
        if not self.discrete:
            raise TypeError("conditional_probs() is for discrete models; use conditional_moments()")
        tokens = np.asarray(tokens)
        out = [torch.softmax(self(tokens[i:i + batch_size]).double(), -1).cpu().numpy()
               for i in range(0, len(tokens), batch_size)]
        return np.concatenate(out)

    @torch.no_grad()
    def position_log_probs(self, w, batch_size: int = 64):
        """Numpy ``log q(w_t | w_{<t})`` per position, channels summed: shape ``(n, L)``."""
        w = np.asarray(w)
        res = []
        for i in range(0, len(w), batch_size):
            chunk = w[i:i + batch_size]
            if self.discrete:
                lp = torch.log_softmax(self(chunk).double(), -1)
                tok = torch.as_tensor(chunk, device=lp.device).long()
                res.append(lp.gather(-1, tok[..., None])[..., 0].cpu().numpy())
            else:
                m, s = self(chunk)
                xt = torch.as_tensor(chunk, dtype=torch.float64, device=m.device)
                m, s = m.double(), s.double()
                lp = -0.5 * ((xt - m) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)
                res.append((lp if lp.dim() == 2 else lp.sum(-1)).cpu().numpy())
        return np.concatenate(res)


class ResidualMixerLayer(nn.Module):
    """Pre-norm residual block ``h + mixer(LayerNorm(h))`` around a recurrent mixer that
    has ``init_state(batch, device, dtype)`` and ``step(h, conv, ssm) -> (out, conv, ssm)``."""

    def __init__(self, d_model, mixer):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = mixer

    def forward(self, h):
        return h + self.mixer(self.norm(h))


class MixerStackModel(SequenceModel):
    """``n_layer`` :class:`ResidualMixerLayer` blocks and a final norm (Mamba, Mamba-2);
    a subclass provides ``_make_mixer()`` and ``history_state_size``."""

    def _make_mixer(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_backbone(self):
        c = self.config
        self.layers = nn.ModuleList(ResidualMixerLayer(c.d_model, self._make_mixer())
                                    for _ in range(c.n_layer))
        self.norm_f = nn.LayerNorm(c.d_model)

    def _backbone(self, h):
        for layer in self.layers:
            h = layer(h)
        return self.norm_f(h)

    def _init_layers(self, batch, device, dtype):
        return [layer.mixer.init_state(batch, device, dtype) for layer in self.layers]

    def _backbone_step(self, h, layers, position):
        new = []
        for layer, (conv, ssm) in zip(self.layers, layers):
            out, conv, ssm = layer.mixer.step(layer.norm(h), conv, ssm)
            h = h + out
            new.append((conv, ssm))
        return self.norm_f(h), new


class LayerStackModel(SequenceModel):
    """``n_layer`` residual layers that each carry one state vector between steps (GRU,
    StateCore) and a final norm; a subclass provides ``_make_layer()`` (a module with
    ``forward(h)`` and ``step(h, state, position) -> (h, state)``) and ``_state_width()``."""

    def _make_layer(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _state_width(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_backbone(self):
        self.layers = nn.ModuleList(self._make_layer() for _ in range(self.config.n_layer))
        self.norm_f = nn.LayerNorm(self.config.d_model)

    def _backbone(self, h):
        for layer in self.layers:
            h = layer(h)
        return self.norm_f(h)

    def _init_layers(self, batch, device, dtype):
        return [(torch.zeros(batch, self._state_width(), device=device, dtype=dtype),)
                for _ in range(self.config.n_layer)]

    def _backbone_step(self, h, layers, position):
        new = []
        for layer, (s,) in zip(self.layers, layers):
            h, s = layer.step(h, s, position)
            new.append((s,))
        return self.norm_f(h), new

    def history_state_size(self, position) -> int:
        """``n_layer`` times the per-layer state width, at every position."""
        check_int("position", position, 0, None)
        return self.config.n_layer * self._state_width()
