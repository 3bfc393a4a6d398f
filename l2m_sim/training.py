"""Training sequence models on exact processes, with exact-KL evaluation.

:func:`train` trains one model on one process with **fresh samples every step** and
returns an :class:`xarray.Dataset`:

* **Gaussian processes**: the loss is the exact conditional KL of the study,
  per token and channel,

      KL_t = (1/C) sum_c [ ln(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2 ],

  where ``(m_p, s_p)`` are the process's exact conditional moments of ``x_t`` given
  ``x_<t`` (``conditional_moments``) and ``(m_q, s_q)`` the model's prediction.
* **Token processes**: the loss is the cross-entropy; the exact KL
  ``sum_m p(m) ln(p(m) / q(m))`` against ``conditional_probs`` is reported beside it.

Optimiser: AdamW (weight decay), linear warm-up then cosine decay to ``min_lr_ratio * lr``,
gradient-norm clipping, fp32. ``threads`` caps torch's threads and, for the run, numba's
(the samplers' parallel kernels). Everything is seeded: the model's initialisation
(``torch.manual_seed(seed)``), the training samples of step ``s`` (seed ``[seed, s]``) and
the held-out evaluation samples (seed ``[seed, 2**31]``), so a run resumed from a
checkpoint continues exactly as the uninterrupted run would.

Evaluation (at the end, and every ``eval_every`` steps for the curve) on ``eval_samples``
held-out sequences: average and position-wise KL, model NLL and the exact NLL (their
difference is the KL in expectation), nats per token and channel.
"""

from __future__ import annotations

import math
import numbers
import os
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ._util import numba_threads
from .protocol import ConditionalProbs, check_float, check_int

__all__ = ["train", "TrainConfig", "gaussian_kl", "build_model", "evaluate", "is_converged"]

#: Convergence rule of :func:`is_converged`: held-out KL changed by less than this
#: fraction over the last quarter of training (or by less than ``CONVERGED_ABS`` nats).
CONVERGED_REL = 0.02
CONVERGED_ABS = 1e-3


def is_converged(eval_steps, eval_kl, rel: float = CONVERGED_REL, abs_tol: float = CONVERGED_ABS) -> bool:
    """True when the held-out KL curve has flattened: the last value differs from the value
    at (or just before) 3/4 of training by less than ``rel`` of the last value or by less
    than ``abs_tol`` nats. Needs at least two evaluations (``eval_every <= steps / 4``);
    False otherwise."""
    steps = np.asarray(eval_steps, dtype=float)
    kl = np.asarray(eval_kl, dtype=float)
    if steps.size < 2 or not np.all(np.isfinite(kl)):
        return False
    mark = 0.75 * steps[-1]
    earlier = np.flatnonzero(steps <= mark + 1e-9)
    if earlier.size == 0:
        return False
    ref = kl[earlier[-1]]
    change = abs(kl[-1] - ref)
    return bool(change < rel * abs(kl[-1]) or change < abs_tol)

EVAL_SEED = 2**31


def _int_field(name: str, value, lo: int, hi: int | None = None) -> None:
    """Raise (naming ``name``) unless ``value`` is an integer (not a bool, not a float that
    happens to be whole) in ``[lo, hi]``."""
    check_int(name, value, lo, hi)
    if not isinstance(value, numbers.Integral):  # e.g. 10.0 or a 0-d array: stored as given
        raise ValueError(f"{name} must be an integer, got {value!r}")


def _real_field(name: str, value, *args, **kwargs) -> None:
    """Raise (naming ``name``) unless ``value`` is a finite real number in the range."""
    check_float(name, value, *args, **kwargs)
    if not isinstance(value, numbers.Real):  # a 0-d array: stored as given
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of :func:`train`: frozen and validated on construction.

    Construction only checks (a bad value raises ``ValueError`` / ``TypeError`` naming the
    field); no field is rewritten, so a config is exactly what was asked for and
    ``dataclasses.replace(cfg, steps=...)`` gives a valid new one. ``warmup=None`` means
    10% of the steps (at least 1), resolved by :attr:`warmup_steps` whenever ``steps``
    changes.
    """

    steps: int = 200
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int | None = None  # None: 10% of steps (see warmup_steps)
    min_lr_ratio: float = 0.1
    clip: float = 1.0
    seed: int = 0
    eval_samples: int = 64
    eval_batch: int = 16
    eval_every: int | None = None
    checkpoint_every: int = 100
    threads: int | None = None

    def __post_init__(self):
        _int_field("steps", self.steps, 1)
        _int_field("batch_size", self.batch_size, 1)
        _real_field("lr", self.lr, 0.0, lo_open=True)
        _real_field("clip", self.clip, 0.0, lo_open=True)
        _real_field("weight_decay", self.weight_decay, 0.0)
        _real_field("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        if self.warmup is not None:
            _int_field("warmup", self.warmup, 0, self.steps)
        _int_field("seed", self.seed, 0)
        _int_field("eval_samples", self.eval_samples, 1)
        _int_field("eval_batch", self.eval_batch, 1)
        if self.eval_every is not None:
            _int_field("eval_every", self.eval_every, 1)
        _int_field("checkpoint_every", self.checkpoint_every, 1)
        if self.threads is not None:
            _int_field("threads", self.threads, 1)

    @property
    def warmup_steps(self) -> int:
        """Warm-up steps in effect: ``warmup``, or 10% of ``steps`` (at least 1) when None."""
        return max(1, self.steps // 10) if self.warmup is None else self.warmup

    def with_overrides(self, **overrides) -> "TrainConfig":
        """A new config with ``overrides`` applied (validated; unknown names refused)."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown training setting(s) {unknown}; allowed: {sorted(names)}")
        return replace(self, **overrides)

    def to_dict(self) -> dict:
        """The fields as a plain dict, with ``warmup`` resolved to :attr:`warmup_steps`
        (what the run used; stored in checkpoints and in the result's attributes)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["warmup"] = self.warmup_steps
        return d

    def lr_at(self, step: int) -> float:
        """Learning rate of (0-based) step ``step``: linear warm-up, cosine decay."""
        warmup = self.warmup_steps
        if warmup and step < warmup:
            return self.lr * (step + 1) / warmup
        span = max(1, self.steps - warmup)
        frac = min(1.0, (step - warmup) / span)
        lo = self.lr * self.min_lr_ratio
        return lo + 0.5 * (self.lr - lo) * (1 + math.cos(math.pi * frac))


# ------------------------------------------------------------------------------ losses


def gaussian_kl(mean_p, std_p, mean_q, std_q):
    """Elementwise ``KL(N(m_p, s_p^2) || N(m_q, s_q^2))`` in nats (torch tensors)."""
    return (torch.log(std_q / std_p) + (std_p**2 + (mean_p - mean_q) ** 2) / (2 * std_q**2)
            - 0.5)


def _is_token(process) -> bool:
    return isinstance(process, ConditionalProbs)


def _as_btc(x: np.ndarray) -> np.ndarray:
    return x[..., None] if x.ndim == 2 else x


def _batch_terms(model, process, x_np):
    """Per-position terms of one batch: (loss tensor (B, L), kl (B, L), nll (B, L),
    exact nll (B, L)); continuous values are means over channels."""
    dev = next(model.parameters()).device
    if _is_token(process):
        tok = torch.as_tensor(x_np, dtype=torch.long, device=dev)
        p = torch.as_tensor(process.conditional_probs(x_np), dtype=torch.float32, device=dev)
        logq = torch.log_softmax(model.logits(tok), dim=-1)
        nll = -logq.gather(-1, tok[..., None])[..., 0]
        with torch.no_grad():
            # 0 ln 0 = 0: exact conditionals may be exactly 0 (e.g. a fact already seen), and
            # no clamp survives float32 (1e-300 underflows to 0, and 0 * -inf is NaN)
            pd = p.double()
            logp = torch.where(pd > 0, torch.log(pd.clamp_min(1e-300)), torch.zeros_like(pd))
            kl = torch.where(pd > 0, pd * (logp - logq.double()), torch.zeros_like(pd)).sum(-1)
            kl = kl.to(logq.dtype)
            nll_exact = -logp.gather(-1, tok[..., None])[..., 0].to(logq.dtype)
        return nll, kl, nll, nll_exact
    x3 = _as_btc(x_np)
    mu_p, sd_p = process.conditional_moments(x_np)
    mu_p, sd_p = _as_btc(np.asarray(mu_p)), _as_btc(np.asarray(sd_p))
    x = torch.as_tensor(x3, dtype=torch.float32, device=dev)
    mp = torch.as_tensor(mu_p, dtype=torch.float32, device=dev)
    sp = torch.as_tensor(sd_p, dtype=torch.float32, device=dev)
    mq, sq = model.predict(x)
    kl = gaussian_kl(mp, sp, mq, sq).mean(-1)
    with torch.no_grad():
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        nll = (torch.log(sq) + 0.5 * ((x - mq) / sq) ** 2 + half_log_2pi).mean(-1)
        nll_exact = (torch.log(sp) + 0.5 * ((x - mp) / sp) ** 2 + half_log_2pi).mean(-1)
    return kl, kl.detach(), nll, nll_exact


# ------------------------------------------------------------------------------ models


def build_model(model, process, model_config: dict | None = None):
    """A model for ``process``: a :class:`~l2m_sim.models.SequenceModel` is returned as is;
    a name of ``l2m_sim.models.MODELS`` or a config is built with the process's channels /
    vocabulary and ``max_len`` = its length."""
    from .models import MODELS, SequenceModel

    if isinstance(model, SequenceModel):
        return model
    overrides = dict(model_config or {})
    if _is_token(process):
        overrides.setdefault("vocab_size", process.vocab_size)
    else:
        overrides.setdefault("channels", process.channels)
    overrides.setdefault("max_len", process.length)
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
        cls, cfg_cls = MODELS[model]
        return cls(cfg_cls(**overrides))
    for cls, cfg_cls in MODELS.values():
        if isinstance(model, cfg_cls):
            return cls(model)
    raise TypeError(f"model must be a model name, a model config or a SequenceModel, "
                    f"got {type(model).__name__}")


def _model_name(model) -> str:
    from .models import MODELS

    for name, (cls, _) in MODELS.items():
        if type(model) is cls:
            return name
    return type(model).__name__


# ------------------------------------------------------------------------------ evaluation


@torch.no_grad()
def evaluate(model, process, n: int = 64, batch: int = 16, seed: int = 0) -> dict:
    """Average and position-wise KL / NLL on ``n`` held-out sequences (seed ``[seed, 2**31]``).

    Returns a dict of numpy arrays: ``kl_position``, ``nll_position``,
    ``nll_exact_position`` (shape ``(L,)``, nats per token and channel) and their means.
    """
    model.eval()
    rng = np.random.default_rng([seed, EVAL_SEED])
    L = process.length
    acc = {k: np.zeros(L) for k in ("kl", "nll", "nll_exact")}
    done = 0
    while done < n:
        m = min(batch, n - done)
        x = process.sample(m, rng=rng)
        _, kl, nll, nlle = _batch_terms(model, process, x)
        acc["kl"] += kl.sum(0).double().cpu().numpy()
        acc["nll"] += nll.sum(0).double().cpu().numpy()
        acc["nll_exact"] += nlle.sum(0).double().cpu().numpy()
        done += m
    model.train()
    out = {f"{k}_position": v / n for k, v in acc.items()}
    out.update({k: float(v.mean() / n) for k, v in acc.items()})
    return out


# ------------------------------------------------------------------------------ training


def _save_checkpoint(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def train(process, model="gpt", config: TrainConfig | None = None, *, model_config=None,
          checkpoint=None, device=None, progress: bool = False, **overrides) -> xr.Dataset:
    """Train ``model`` on ``process`` and evaluate it against the exact conditionals.

    Parameters
    ----------
    process : process or str
        A process of the package (or an id for :func:`l2m_sim.make_process`). Gaussian
        processes train on the exact KL, token processes on cross-entropy.
    model : str, model config or SequenceModel
        A name of ``l2m_sim._names.MODEL_NAMES`` (the keys of ``l2m_sim.models.MODELS``;
        the linear reference learners ``"causal_linear"`` / ``"linear_state"`` take
        Gaussian data only), built with ``model_config`` overrides; a config; or a model.
    config : TrainConfig, optional
        Optimisation settings (frozen); keyword ``overrides`` (``steps=``, ``lr=``...)
        give a new config from it (:meth:`TrainConfig.with_overrides`). An unset
        ``warmup`` stays 10% of the (overridden) steps.
    checkpoint : path, optional
        Saved (atomically) every ``checkpoint_every`` steps and at the end; if it exists
        and matches the run, training resumes from it.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.

    Returns
    -------
    xarray.Dataset
        Scalars ``kl``, ``nll``, ``nll_exact`` (nats per token and channel, held out),
        ``history_state`` (``model.history_state_size`` at the middle cut, i.e. after
        ``L//2 + 1`` steps), ``bipartite_mi`` (exact, middle cut, when available),
        ``n_params``, ``train_seconds``, ``tokens_per_second``; ``kl_position`` /
        ``nll_position`` / ``nll_exact_position`` over ``position``; the training curve
        ``loss`` and ``lr`` over ``step`` and, with ``eval_every``, ``eval_kl`` over
        ``eval_step``; ``converged`` (:func:`is_converged` of that curve). Attributes carry the model and training configs.
    """
    from .registry import make_process

    process = make_process(process)
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    cfg = (config if config is not None else TrainConfig()).with_overrides(**overrides)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but CUDA is not available here (use 'cpu')")
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    with numba_threads(cfg.threads):
        return _train(process, model, cfg, model_config, checkpoint, device, progress)


def _train(process, model, cfg, model_config, checkpoint, device, progress):
    torch.manual_seed(cfg.seed)
    net = build_model(model, process, model_config).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    L = process.length
    losses = np.full(cfg.steps, np.nan)
    lrs = np.array([cfg.lr_at(s) for s in range(cfg.steps)])
    eval_steps, eval_kls = [], []
    start = 0
    elapsed = 0.0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    run_key = {"process": repr(process), "model": _model_name(net),
               "model_config": net.config.to_dict(), "train": cfg.to_dict()}
    if ckpt is not None and ckpt.exists():
        try:
            state = torch.load(ckpt, map_location=device, weights_only=False)
        except Exception as e:  # noqa: BLE001 - any unreadable file
            raise ValueError(f"checkpoint {str(ckpt)!r} is not a readable l2m-sim checkpoint "
                             f"({type(e).__name__}); delete it or choose another path") from e
        if not isinstance(state, dict) or "run_key" not in state:
            raise ValueError(f"checkpoint {str(ckpt)!r} is not an l2m-sim training checkpoint")
        if state.get("run_key") != run_key:
            raise ValueError(f"checkpoint {str(ckpt)!r} belongs to another run "
                             f"(process, model or settings differ); delete it or choose another")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = state["step"]
        losses[:start] = state["losses"][:start]
        eval_steps, eval_kls = list(state["eval_steps"]), list(state["eval_kls"])
        elapsed = state["elapsed"]
        torch.set_rng_state(state["torch_rng"])

    def save(step):
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            _save_checkpoint(ckpt, {"run_key": run_key, "model": net.state_dict(),
                                    "optimizer": opt.state_dict(), "step": step,
                                    "losses": losses, "eval_steps": eval_steps,
                                    "eval_kls": eval_kls, "elapsed": elapsed,
                                    "torch_rng": torch.get_rng_state()})

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=f"train {_model_name(net)} L={L}",
                   unit="step")
    net.train()
    try:
        for step in range(start, cfg.steps):
            t0 = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = lrs[step]
            x = process.sample(cfg.batch_size, rng=np.random.default_rng([cfg.seed, step]))
            loss_terms, _, _, _ = _batch_terms(net, process, x)
            loss = loss_terms.mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}; "
                                         f"lower lr (now {lrs[step]:.3g}) or clip")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
            opt.step()
            losses[step] = loss.item()
            elapsed += time.perf_counter() - t0
            if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
                ev = evaluate(net, process, min(cfg.eval_samples, 16), cfg.eval_batch, cfg.seed)
                eval_steps.append(step + 1)
                eval_kls.append(ev["kl"])
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[step]:.4f}")
            if (step + 1) % cfg.checkpoint_every == 0:
                save(step + 1)
    finally:
        if bar is not None:
            bar.close()
    save(cfg.steps)
    ev = evaluate(net, process, cfg.eval_samples, cfg.eval_batch, cfg.seed)
    eval_steps.append(cfg.steps)
    eval_kls.append(ev["kl"])
    try:
        ibp = float(process.bipartite_mi())
    except ValueError:  # no exact value at this size (e.g. a tree past enumeration)
        ibp = float("nan")
    C = 1 if _is_token(process) else process.channels
    n_params = sum(p.numel() for p in net.parameters())
    ds = xr.Dataset(
        {
            "kl": ((), ev["kl"], {"units": "nats", "long_name": "held-out KL per token and channel"}),
            "nll": ((), ev["nll"], {"units": "nats", "long_name": "model NLL per token and channel"}),
            "nll_exact": ((), ev["nll_exact"], {"units": "nats",
                                                "long_name": "exact NLL per token and channel"}),
            "kl_position": (("position",), ev["kl_position"], {"units": "nats"}),
            "nll_position": (("position",), ev["nll_position"], {"units": "nats"}),
            "nll_exact_position": (("position",), ev["nll_exact_position"], {"units": "nats"}),
            "history_state": ((), int(net.history_state_size(L // 2 + 1)),
                              {"units": "floats", "long_name": "history state at the middle cut"}),
            "bipartite_mi": ((), ibp, {"units": "nats", "long_name": "exact I_BP, middle cut"}),
            "n_params": ((), int(n_params)),
            "loss": (("step",), losses, {"units": "nats"}),
            "lr": (("step",), lrs),
            "eval_kl": (("eval_step",), np.array(eval_kls), {"units": "nats"}),
            "converged": ((), is_converged(eval_steps, eval_kls), {
                "long_name": f"held-out KL changed < {CONVERGED_REL:.0%} (or < {CONVERGED_ABS} "
                             "nats) over the last quarter of steps (needs eval_every)"}),
            "train_seconds": ((), elapsed, {"units": "s", "nondeterministic": "timing"}),
            "tokens_per_second": ((), cfg.steps * cfg.batch_size * L / max(elapsed, 1e-9),
                                  {"units": "1/s", "nondeterministic": "timing"}),
        },
        coords={"position": np.arange(L), "step": np.arange(cfg.steps),
                "eval_step": np.array(eval_steps)},
        attrs={"process": repr(process), "model": _model_name(net),
               "model_config": repr(net.config.to_dict()), "train_config": repr(cfg.to_dict()),
               "channels": C, "device": str(device)},
    )
    return ds
