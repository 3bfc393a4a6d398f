"""Reference learners for Gaussian processes: the linear predictors that bracket real models.

For a zero-mean Gaussian process every exact conditional mean is a linear function of the
past, so two linear learners have a known optimum and show what *training* alone costs:

* :class:`CausalLinear` -- full context: ``mean_t = sum_{s<t} G[t, s] x_s`` with ``G``
  strictly lower-triangular (one ``L x L`` matrix, shared by the channels) and a learned
  ``log std_t`` per position. The exact conditionals are in this class, so its optimum
  KL is **0**. Its history state grows with the position like a KV cache:
  ``history_state_size(p) = channels * p``.
* :class:`LinearState` -- a time-varying linear state of order ``d`` per channel::

      mean_t = c_t . z_{t-1},   z_t = A_t z_{t-1} + b_t x_t      (z in R^d, z_0 = 0)

  with per-position ``A_t (d x d)``, ``b_t``, ``c_t`` and ``log std_t``. Every ``G`` it
  realises has all its past-to-future blocks ``G[c:, :c]`` of rank ``<= d`` (and every
  such ``G`` is realised by some choice of the per-position maps), so at any cut its state
  is a ``d``-dimensional linear function of the past: its excess KL is at least the
  **linear-state bound** ``I_BP - I_lin(d)`` of :func:`l2m_sim.yardsticks.linear_state_kl`
  at every cut. That bound is a lower bound for the class, not always attained: the same
  ``d`` floats must serve every cut at once. ``history_state_size = channels * d``.

Both share the interface of the neural models (``predict``, ``step`` / ``init_state``,
``history_state_size``, ``conditional_moments``, ``position_log_probs``) and train with
:func:`l2m_sim.train` like them (``model="causal_linear"`` / ``"linear_state"``). Their
parameters are per position, so a model built for ``max_len`` takes sequences of length
``<= max_len``. They are for continuous data only.

Because they are linear, their *expected* KL is exact without sampling
(:func:`expected_kl`), and :func:`fit_exact` minimises it with L-BFGS: the reference at its
optimum (KL 0 for ``CausalLinear``; for ``LinearState`` a value between the exact lower
bound and what stochastic training reaches), beside the same model trained by
:func:`l2m_sim.train` on samples, which shows what the optimiser costs.

:func:`realize` builds a ``LinearState`` directly from the covariance (a subspace
realisation, as in system identification): its state at every cut holds the top-``d``
canonical variates of the past. With ``d`` at least the process's state order
(:func:`l2m_sim.yardsticks.state_order`) it *is* the exact predictor (KL 0 to rounding);
below it, it is a good starting point for :func:`fit_exact`, whose L-BFGS from the default
initialisation stalls far above the optimum once ``L`` reaches a few hundred.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn as nn

from ..protocol import check_int
from ._common import ModelState, SequenceModel

__all__ = ["CausalLinearConfig", "CausalLinear", "LinearStateConfig", "LinearState", "expected_kl",
           "fit_exact", "realize"]


@dataclass
class CausalLinearConfig:
    """:class:`CausalLinear` config: ``channels`` and the sequence length ``max_len``."""

    channels: int = 1
    max_len: int = 64
    vocab_size: None = None
    positional: bool = False

    def __post_init__(self):
        self.channels = check_int("channels", self.channels, 1, None)
        self.max_len = check_int("max_len", self.max_len, 1, 1 << 16)
        if self.vocab_size is not None:
            raise ValueError("vocab_size must be None: the linear reference learners are for "
                             "continuous (Gaussian) data")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class LinearStateConfig(CausalLinearConfig):
    """:class:`LinearState` config: besides ``channels`` and ``max_len``, the state order
    ``state_size`` (floats per channel) and ``init_scale`` of the input/readout maps."""

    state_size: int = 8
    init_scale: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        self.state_size = check_int("state_size", self.state_size, 1, 4096)
        s = self.init_scale
        if not (isinstance(s, (int, float)) and 0 <= s < float("inf")):
            raise ValueError(f"init_scale must be a finite number >= 0, got {s!r}")


class _LinearReference(SequenceModel):
    """Shared plumbing: no embedding, head or positions; per-position parameters."""

    config_class = CausalLinearConfig

    def __init__(self, config=None):
        nn.Module.__init__(self)
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"config must be a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.pos_emb = None
        self.log_std = nn.Parameter(torch.zeros(config.max_len))
        self._build()

    def _build(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _as_input(self, x):
        t, squeeze = super()._as_input(x)
        if t.shape[1] > self.config.max_len:
            raise ValueError(f"sequence length {t.shape[1]} exceeds max_len={self.config.max_len} "
                             f"(parameters are per position)")
        return t, squeeze

    def forward(self, x):
        t, squeeze = self._as_input(x)
        mean = self._means(t)
        std = torch.exp(self.log_std[: t.shape[1]])[None, :, None].expand_as(mean)
        if squeeze:
            return mean[..., 0], std[..., 0]
        return mean, std

    def step(self, x_prev, state: ModelState):
        if not isinstance(state, ModelState):
            raise TypeError(f"state must be a ModelState (from init_state), got {type(state).__name__}")
        pos, B, C = state.position, state.batch, self.config.channels
        if pos >= self.config.max_len:
            raise ValueError(f"position {pos} exceeds max_len={self.config.max_len}")
        if pos == 0:
            if x_prev is not None:
                raise ValueError("x_prev must be None at position 0 (the start token is implicit)")
            xp = None
        else:
            if x_prev is None:
                raise ValueError(f"x_prev is required at position {pos} >= 1")
            xp = torch.as_tensor(x_prev, device=self.log_std.device)
            if xp.dim() == 1 and C == 1:
                xp = xp[:, None]
            if xp.dim() != 2 or xp.shape != (B, C):
                raise ValueError(f"x_prev must have shape ({B}, {C}), got {tuple(xp.shape)}")
            xp, _ = self._as_input(xp[:, None, :])
            xp = xp[:, 0]
        mean, layers = self._step(xp, state.layers, pos)
        std = torch.exp(self.log_std[pos]).expand_as(mean)
        return (mean, std), ModelState(pos + 1, B, layers)


class CausalLinear(_LinearReference):
    """Full-context causal linear predictor (optimum KL 0 on any Gaussian process)."""

    config_class = CausalLinearConfig

    def _build(self):
        L = self.config.max_len
        self.weight = nn.Parameter(torch.zeros(L, L))
        self.register_buffer("mask", torch.tril(torch.ones(L, L), diagonal=-1), persistent=False)

    def _means(self, t):
        L = t.shape[1]
        G = (self.weight * self.mask)[:L, :L]
        return torch.einsum("ts,bsc->btc", G, t)

    def _init_layers(self, batch, device, dtype):
        return [(torch.zeros(batch, 0, self.config.channels, device=device, dtype=dtype),)]

    def _step(self, xp, layers, pos):
        (past,) = layers[0]
        if xp is not None:
            past = torch.cat([past, xp[:, None, :]], dim=1)
        G = (self.weight * self.mask)[pos, :pos]
        mean = torch.einsum("s,bsc->bc", G, past)
        return mean, [(past,)]

    def history_state_size(self, position) -> int:
        """``channels * (position - 1)`` past values once ``position >= 1`` steps were taken
        (the cache before step ``position`` holds the ``position - 1`` observed values)."""
        p = check_int("position", position, 0, None)
        return self.config.channels * max(p - 1, 0)


class LinearState(_LinearReference):
    """Order-``d`` time-varying linear state predictor (see the module doc)."""

    config_class = LinearStateConfig

    def _build(self):
        c = self.config
        L, d = c.max_len, c.state_size
        g = torch.Generator().manual_seed(0)
        self.A = nn.Parameter(torch.eye(d).repeat(L, 1, 1))
        self.b = nn.Parameter(c.init_scale * torch.randn(L, d, generator=g) / d**0.5)
        self.c = nn.Parameter(c.init_scale * torch.randn(L, d, generator=g) / d**0.5)

    def _means(self, t):
        B, L, C = t.shape
        x = t.permute(0, 2, 1).reshape(B * C, L)
        z = x.new_zeros(B * C, self.config.state_size)
        means = []
        for s in range(L):
            means.append(z @ self.c[s])
            z = z @ self.A[s].T + x[:, s, None] * self.b[s]
        mean = torch.stack(means, dim=1)  # (B C, L)
        return mean.reshape(B, C, L).permute(0, 2, 1)

    def _init_layers(self, batch, device, dtype):
        c = self.config
        return [(torch.zeros(batch, c.channels, c.state_size, device=device, dtype=dtype),)]

    def _step(self, xp, layers, pos):
        (z,) = layers[0]
        if xp is not None:
            z = z @ self.A[pos - 1].T + xp[..., None] * self.b[pos - 1]
        return z @ self.c[pos], [(z,)]

    def history_state_size(self, position) -> int:
        """``channels * state_size`` at every position."""
        check_int("position", position, 0, None)
        return self.config.channels * self.config.state_size


def _population(model, process):
    """The exact-expectation batch: the ``L`` columns of the Cholesky factor ``R`` of the
    covariance as sequences (every channel), and the exact conditional variances."""
    S = np.asarray(process.covariance(), dtype=float)
    L = S.shape[0]
    if L > model.config.max_len:
        raise ValueError(f"process length {L} exceeds the model's max_len={model.config.max_len}")
    R = np.linalg.cholesky(S)
    p = next(model.parameters())
    X = torch.as_tensor(R.T[:, :, None].repeat(model.config.channels, axis=2), dtype=p.dtype,
                        device=p.device)
    v = torch.as_tensor(np.diag(R) ** 2, dtype=p.dtype, device=p.device)
    return X, v


def _expected_terms(model, X, v):
    """``(E (x_t - mean_t)^2, expected KL per token)`` for the population batch ``X``."""
    mean, _ = model(X)
    err = ((X - mean) ** 2).sum(0).mean(-1)  # (L,)
    return err, 0.5 * torch.log(err / v).mean()


def expected_kl(model, process) -> torch.Tensor:
    """Exact expected KL per token and channel of a linear reference learner on a Gaussian
    process, as a differentiable scalar.

    With ``x = R eps`` (``R`` the Cholesky factor of the covariance, ``eps`` iid N(0, 1)) a
    linear predictor's error ``x_t - mean_t`` is linear in ``eps``, so feeding the ``L``
    columns of ``R`` as a batch gives ``E (x_t - mean_t)^2`` exactly; with the best std per
    position the KL is ``1/2 ln(E (x_t - mean_t)^2 / v_t)`` (``v_t`` the exact conditional
    variance). No sampling: its minimum over the parameters is the class's optimum.
    """
    return _expected_terms(model, *_population(model, process))[1]


def fit_exact(model, process, max_iter: int = 500, tol: float = 1e-10) -> float:
    """Minimise :func:`expected_kl` with L-BFGS (float64, deterministic); sets the model's
    ``log_std`` to the optimal per-position std and returns the final expected KL (nats per
    token and channel). For ``CausalLinear`` the optimum is 0; for ``LinearState`` the result
    is an upper bound on its class's optimum (a local minimum), to be read beside the exact
    lower bound :func:`l2m_sim.yardsticks.linear_state_bound`. The covariance and its
    Cholesky factor are computed once, not at every evaluation."""
    max_iter = check_int("max_iter", max_iter, 1, 100_000)
    model.double()
    X, v = _population(model, process)
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=max_iter, history_size=50,
                            line_search_fn="strong_wolfe", tolerance_grad=tol,
                            tolerance_change=tol * 1e-2)

    def closure():
        opt.zero_grad()
        loss = _expected_terms(model, X, v)[1]
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        err, _ = _expected_terms(model, X, v)
        model.log_std[: len(err)] = 0.5 * torch.log(err)
        return float(_expected_terms(model, X, v)[1])


#: Relative cut-off of the least-squares solves in :func:`realize`: state directions
#: weaker than this (rounding-level, or nearly lost below the state order) are dropped
#: instead of being amplified into huge, ill-conditioned maps.
_RCOND = 1e-8


def realize(process, state_size: int, channels: int | None = None) -> LinearState:
    """The canonical subspace realisation of a Gaussian process as a :class:`LinearState`
    of order ``state_size`` (float64, ``max_len = process.length``).

    With ``x = R eps`` (``R`` the Cholesky factor of the covariance, ``eps`` white) every
    state of a linear model is a linear function of the white past, ``z_c = T_c eps_{<c}``
    (``T_c`` is ``d x c``), and ``eps_{<c}`` is a prefix of ``eps_{<c+1}``. The target at
    cut ``c`` is ``W_c^T eps_{<c}``: the columns of ``W_c`` are the top-``d`` right singular
    vectors of ``Sigma_ff^{-1/2} R[c:, :c]``, the past's canonical directions (its singular
    values are the canonical correlations). Position by position:

    * read-out: ``c_c`` is the least-squares regression of the exact conditional mean
      ``R[c, :c] eps_{<c}`` on the model's state ``T_c eps_{<c}``, and ``std_c^2`` the exact
      error variance of the resulting mean;
    * update: ``(A_c, b_c)`` is the least-squares regression of the next target
      ``W_{c+1}^T eps_{<c+1}`` on the features ``(z_c, x_c)``; ``T_{c+1}`` follows exactly.

    All regressions are exact expectations (no sampling): in ``eps`` coordinates a
    mean-square error is a Frobenius norm. When ``d`` is at least the process's state order
    (:func:`l2m_sim.yardsticks.state_order`: the number of non-zero canonical correlations
    at the worst cut) every regression is exact -- ``W_{c+1}[:c]`` and ``R[c, :c]`` lie in
    the row span of ``W_c^T`` -- so the model *is* the exact predictor (KL 0 to rounding).
    Below it, the model is a consistent, drift-free approximation: an upper bound on the
    class's optimum and the warm start for :func:`fit_exact`.

    Cost: one dense Cholesky and SVD per cut, ``O(L^4)`` in all.
    """
    d = check_int("state_size", state_size, 1, 4096)
    S = np.asarray(process.covariance(), dtype=float)
    L = S.shape[0]
    C = process.channels if channels is None else check_int("channels", channels, 1)
    R = np.linalg.cholesky(S)

    def target(c):  # W_c^T, (d, c): the past's top-d canonical directions at cut c
        Wt = np.zeros((d, c))
        if 0 < c < L:
            M = np.linalg.solve(np.linalg.cholesky(S[c:, c:]), R[c:, :c])
            vt = np.linalg.svd(M, full_matrices=False)[2]
            Wt[: min(d, vt.shape[0])] = vt[:d]
        return Wt

    A = np.zeros((L, d, d))
    b = np.zeros((L, d))
    k = np.zeros((L, d))
    log_std = np.zeros(L)
    T = np.zeros((d, 0))  # the model's state before position c, in eps coordinates
    for c in range(L):
        row = R[c, : c + 1]  # x_c = row . eps_{<=c}
        k[c] = np.linalg.lstsq(T.T, row[:c], rcond=_RCOND)[0] if c else 0.0
        log_std[c] = 0.5 * np.log(np.sum((row[:c] - k[c] @ T) ** 2) + row[c] ** 2)
        if c + 1 == L:
            break
        F = np.vstack([np.hstack([T, np.zeros((d, 1))]), row])  # features (z_c, x_c)
        theta = np.linalg.lstsq(F.T, target(c + 1).T, rcond=_RCOND)[0].T  # (d, d + 1)
        A[c], b[c] = theta[:, :d], theta[:, d]
        T = theta @ F
    model = LinearState(LinearStateConfig(channels=C, max_len=L, state_size=d)).double()
    with torch.no_grad():
        for name, val in (("A", A), ("b", b), ("c", k), ("log_std", log_std)):
            getattr(model, name).copy_(torch.from_numpy(val))
    return model
