"""Declarative, resumable, parallel sweeps that write labelled xarray results.

A **sweep** is a job kind plus a grid of parameters. Each grid point (a *cell*) becomes a
typed, frozen, validated job config; running it returns an :class:`xarray.Dataset` whose
grid parameters are length-1 dimensions, so the engine combines all cells by coordinates.

Given as TOML::

    [sweep]
    job = "exact_mi"                 # a key of JOBS
    out = "results/scaling.nc"       # where the combined dataset goes

    [fixed]                          # the same for every cell
    distances = [1, 4, 16]

    [grid]                           # the cartesian product of these lists
    process = ["subvolume", "log", "fgn"]
    length = [16, 64, 256, 1024]

or in Python: ``Sweep("exact_mi", grid={...}, fixed={...})``, or an explicit list of
configs ``Sweep.from_configs([ExactMIJob(...), ...])``.

Guarantees
----------
* **Validated before any work**: every cell's config is built (and so type- and
  range-checked, unknown keys refused, naming the key) before the first cell runs.
* **Resumable and lossless**: each finished cell is written atomically (temporary file +
  ``os.replace``) to ``<out>.cells/<hash>.nc``, the hash taken over the job kind and the
  full config. A re-run skips cells that are already there, so a sweep killed at any
  moment (even SIGKILL) and run again ends with exactly the dataset of an uninterrupted
  run: no cell lost, none duplicated, no partial file (a killed write leaves only a
  ``*.tmp`` file, which is ignored and overwritten).
* **Failures are data**: a job that raises gives a cell with ``status = "error"`` and the
  message; the sweep goes on (``retry_failed=True`` runs such cells again).
* **Parallel on Dask**: ``scheduler="local"`` starts an embedded ``LocalCluster``;
  ``scheduler="tcp://host:port"`` uses an existing ``dask.distributed`` scheduler. Workers
  compute cells and return them; the client persists each as it arrives. Jobs are seeded
  from their configs, so results equal a serial run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import time
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__
from ._names import (
    FULL_CONTEXT_MODELS,
    LINEAR_REFERENCE_MODELS,
    SSM_MODELS,
    STATE_MODELS,
    TRAIN_MODELS,
)
from ._util import git_revision
from .protocol import GaussianProcess, LinearStateMI, check_float

__all__ = [
    "JOBS",
    "ExactMIJob",
    "ValidateJob",
    "SampleJob",
    "TrainJob",
    "Sweep",
    "SweepError",
    "load_sweep",
    "run_sweep",
    "config_hash",
    "cells_dir",
    "deterministic",
    "register_job",
]

ENGINE = "h5netcdf"
#: Attributes of timing variables: they differ between runs, so :func:`deterministic`
#: drops them before two sweeps are compared.
TIMING = {"units": "s", "nondeterministic": "timing"}


class SweepError(ValueError):
    """A sweep or job config that is refused (names the key)."""


# ------------------------------------------------------------------------------ configs


def _check_fields(cfg) -> None:
    """Type- and range-check every field of a job config from its annotations/metadata."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        tp = hints[f.name]
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is tuple:
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(cfg, f.name, value)
            if not isinstance(value, tuple):
                raise SweepError(f"{f.name} must be a list, got {type(value).__name__}")
            elem = args[0]
            for v in value:
                _check_scalar(f.name, v, elem, f.metadata)
        elif origin is typing.Union or str(origin) == "types.UnionType":
            if value is None and type(None) in args:
                continue
            _check_scalar(f.name, value, [a for a in args if a is not type(None)][0], f.metadata)
        else:
            new = _check_scalar(f.name, value, tp, f.metadata)
            if new is not value:
                object.__setattr__(cfg, f.name, new)


def _check_scalar(name, value, tp, meta):
    if tp is float:
        try:
            value = check_float(name, value)
        except (TypeError, ValueError) as exc:
            raise SweepError(f"{exc} ({type(value).__name__} {value!r})") from None
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SweepError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        if not -2**63 <= value < 2**63:  # stored as int64 in the cell files
            raise SweepError(f"{name} must fit in 64 bits, got {value!r}")
    elif tp is str:
        if not isinstance(value, str):
            raise SweepError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    elif tp is bool:
        if not isinstance(value, bool):
            raise SweepError(f"{name} must be true or false, got {value!r}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise SweepError(f"{name} must be in {rng}, got {value!r}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise SweepError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _check_process(name: str, spec: str, length: int | None = None) -> None:
    """Refuse a process id that does not parse (strictly: duplicate keys, values of the
    wrong type) and, with ``length``, one that cannot be built at that length (a length
    the family cannot have, a parameter out of range, a size over the limits): so a cell
    that would fail for its config is refused before any cell runs."""
    from .registry import family, parse_process_id

    try:
        fam, params = parse_process_id(spec)
        fam = family(fam)
        fam.params(**params)
        if length is not None:
            params.pop(fam.length_param, None)
            fam.at_length(length, **params)
    except (ValueError, TypeError) as e:
        at = "" if length is None else f" ({spec!r} at length {length})"
        raise SweepError(f"{name}: {e}{at}") from None


class Job:
    """Base of the job configs: frozen dataclasses validated on construction.

    Subclasses define ``kind`` (the key in :data:`JOBS`), ``grid_dims`` (the fields that
    become dimensions of the cell dataset) and ``run() -> xarray.Dataset``.
    """

    kind: typing.ClassVar[str] = ""

    def __post_init__(self):
        _check_fields(self)
        self.check()

    def check(self) -> None:
        """Cross-field checks (override)."""

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise SweepError(f"unknown key(s) {unknown} for job {cls.kind!r}; "
                             f"allowed: {sorted(names)}")
        try:
            return cls(**d)
        except TypeError as e:  # missing required fields
            raise SweepError(f"job {cls.kind!r}: {e}") from None

    def cell_dims(self) -> dict:
        """Grid coordinates of this cell (length-1 dims of its dataset)."""
        return {name: getattr(self, name) for name in self.grid_dims}

    def run(self) -> xr.Dataset:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class ExactMIJob(Job):
    """Exact bipartite MI (middle cut) and two-point MI ``I(W_0; W_d)`` of one process at
    one length. ``process``: a family name or id (its length parameter is replaced)."""

    kind: typing.ClassVar[str] = "exact_mi"
    grid_dims: typing.ClassVar[tuple] = ("process", "length")
    process: str = "subvolume"
    length: int = field(default=256, metadata={"min": 2})
    distances: tuple[int, ...] = (1, 2, 4, 8, 16)

    def check(self):
        _check_process("process", self.process, self.length)
        if any(d < 1 for d in self.distances):
            raise SweepError(f"distances must be >= 1, got {self.distances}")

    def run(self) -> xr.Dataset:
        from .registry import make_process

        p = make_process(self.process, self.length)
        t0 = time.perf_counter()
        bp, bp_se = p.bipartite_mi_estimate()  # exact, or the one Monte-Carlo path
        d = np.array(self.distances)
        tp = np.array([p.two_point_mi(0, int(x)) if x < self.length else np.nan for x in d])
        ds = xr.Dataset(
            {
                "bipartite_mi": ((), bp, {"units": "nats", "long_name": "I_BP at the middle cut"}),
                "bipartite_mi_se": ((), float(bp_se),
                                    {"units": "nats", "long_name": "standard error (0: exact)"}),
                "two_point_mi": (("distance",), tp,
                                 {"units": "nats", "long_name": "I(W_0; W_d)"}),
                "seconds": ((), time.perf_counter() - t0, TIMING),
            },
            coords={"distance": d},
        )
        return ds


@dataclass(frozen=True)
class ValidateJob(Job):
    """One estimator on one process at one length / sample size / seed
    (:func:`l2m_sim.validate`)."""

    kind: typing.ClassVar[str] = "validate"
    grid_dims: typing.ClassVar[tuple] = ("estimator", "process", "length", "n_samples", "seed")
    estimator: str = "gaussian"
    process: str = "ar1"
    length: int = field(default=16, metadata={"min": 2})
    n_samples: int = field(default=1000, metadata={"min": 2})
    seed: int = field(default=0, metadata={"min": 0})
    timeout: float = field(default=600.0, metadata={"min": 0.001})

    def check(self):
        _check_process("process", self.process, self.length)
        from .estimators import ESTIMATORS

        if self.estimator not in ESTIMATORS:
            raise SweepError(f"estimator must be one of {sorted(ESTIMATORS)}, "
                             f"got {self.estimator!r}")

    def run(self) -> xr.Dataset:
        from .validate import validate

        ds = validate([self.estimator], [self.process], lengths=[self.length],
                      n_samples=[self.n_samples], seeds=[self.seed], timeout=self.timeout)
        keep = ["estimate", "stderr", "truth", "truth_se", "error", "rel_error", "wall_time",
                "status", "message"]
        ds = ds[keep].rename({"status": "estimator_status", "message": "estimator_message"})
        ds["wall_time"].attrs.update(TIMING)
        ds = ds.assign_coords(process=[self.process])  # the id as given, not the label
        return ds.isel(estimator=0, process=0, length=0, n_samples=0, seed=0, drop=True)


@dataclass(frozen=True)
class SampleJob(Job):
    """Sampling throughput of one process at one length (values per second)."""

    kind: typing.ClassVar[str] = "sample"
    grid_dims: typing.ClassVar[tuple] = ("process", "length")
    process: str = "subvolume"
    length: int = field(default=4096, metadata={"min": 2})
    n: int = field(default=64, metadata={"min": 1})
    repeats: int = field(default=5, metadata={"min": 1})

    def check(self):
        _check_process("process", self.process, self.length)

    def run(self) -> xr.Dataset:
        from .registry import make_process

        p = make_process(self.process, self.length)
        p.sample(1, rng=0)  # compile / warm
        ts = []
        for r in range(self.repeats):
            t0 = time.perf_counter()
            x = p.sample(self.n, rng=r)
            ts.append(time.perf_counter() - t0)
        t = float(np.median(ts))
        return xr.Dataset({
            "values_per_second": ((), x.size / t, {"units": "1/s", "nondeterministic": "timing"}),
            "seconds": ((), t, dict(TIMING, long_name=f"median of {self.repeats}")),
        })


@dataclass(frozen=True)
class TrainJob(Job):
    """Train one model on one process at one length (:func:`l2m_sim.train`) and record the
    held-out KL beside the exact yardsticks (Gaussian processes with a dense covariance):
    ``window_kl`` (the optimal predictor that sees the last ``window`` values) and, for
    hierarchical Gaussian processes, ``linear_bound`` (minimum KL of a predictor whose
    state at the middle cut is a linear map of the past with ``history_state`` floats),
    both per token and channel. ``d_state = 0`` keeps the model's default."""

    kind: typing.ClassVar[str] = "train"
    grid_dims: typing.ClassVar[tuple] = ("process", "length", "model", "d_model", "n_layer",
                                         "d_state", "seed")
    process: str = "subvolume:channels=4"
    length: int = field(default=64, metadata={"min": 2})
    model: str = field(default="gpt", metadata={
        "choices": TRAIN_MODELS})
    d_model: int = field(default=32, metadata={"min": 1})
    n_layer: int = field(default=2, metadata={"min": 1})
    d_state: int = field(default=0, metadata={"min": 0})
    steps: int = field(default=300, metadata={"min": 1})
    batch_size: int = field(default=8, metadata={"min": 1})
    lr: float = field(default=3e-3, metadata={"min": 1e-8, "max": 1.0})
    warmup: int = field(default=30, metadata={"min": 0})
    seed: int = field(default=0, metadata={"min": 0})
    eval_samples: int = field(default=128, metadata={"min": 1})
    window: int = field(default=64, metadata={"min": 0})

    def check(self):
        _check_process("process", self.process, self.length)
        if self.warmup > self.steps:
            raise SweepError(f"warmup must be <= steps ({self.steps}), got {self.warmup}")
        if self.d_state and self.model not in SSM_MODELS:
            raise SweepError(f"d_state applies to mamba / mamba2 only, got model {self.model!r}")

    def run(self) -> xr.Dataset:
        from .registry import make_process
        from .training import train
        from .yardsticks import linear_state_kl, window_kl

        p = make_process(self.process, self.length)
        mc = {"d_model": self.d_model, "n_layer": self.n_layer}
        if self.d_state:
            mc["d_state"] = self.d_state
        ds = train(p, self.model, model_config=mc, steps=self.steps,
                   batch_size=self.batch_size, lr=self.lr, warmup=self.warmup, seed=self.seed,
                   eval_samples=self.eval_samples, threads=1)
        out = ds[["kl", "nll", "nll_exact", "kl_position", "history_state", "bipartite_mi",
                  "n_params", "train_seconds", "tokens_per_second"]]
        out = out.rename({"position": "t"})
        wk = lb = np.nan
        if isinstance(p, GaussianProcess):
            try:
                wk = float(window_kl(p, self.window).mean()) if self.window else np.nan
            except (ValueError, MemoryError):
                pass
            if isinstance(p, LinearStateMI):
                lb = linear_state_kl(p, int(ds.history_state))["per_token"]
        out["window_kl"] = ((), wk, {"units": "nats",
                                     "long_name": f"exact KL of the best window-{self.window} "
                                                  "predictor, per token and channel"})
        out["linear_bound"] = ((), lb, {"units": "nats", "long_name": "minimum KL of a "
                                        "linear state of size history_state, per token and channel"})
        return out


@dataclass(frozen=True)
class StateJob(Job):
    """One cell of the history-state phase diagram: train ``model`` with a history state of
    ``state`` floats (``state_core`` / ``state_core_ltv`` / ``linear_state``; 0 for the full-context
    ``causal_linear`` and ``gpt``) on a process at one length, with the held-out KL
    evaluated at every quarter of training (``converged`` by
    :func:`l2m_sim.training.is_converged`), beside the predictable information per token
    (the marginal predictor's KL, :func:`l2m_sim.yardsticks.predictable_information`) and,
    for the hierarchical Gaussian family, the exact middle-cut linear-state bound for that
    state (NaN for other processes), all per token and channel.

    Token processes (those with an exact joint entropy and marginals, such as
    ``discrete-subvolume``) train the neural models only: the linear reference learners
    are for continuous data."""

    kind: typing.ClassVar[str] = "state"
    grid_dims: typing.ClassVar[tuple] = ("process", "length", "model", "state", "lr", "seed")
    process: str = "hierarchical:pair_mi=2.0"
    length: int = field(default=64, metadata={"min": 2})
    model: str = field(default="state_core", metadata={
        "choices": STATE_MODELS + FULL_CONTEXT_MODELS})
    state: int = field(default=8, metadata={"min": 0})
    d_model: int = field(default=64, metadata={"min": 1})
    n_layer: int = field(default=1, metadata={"min": 1})
    steps: int = field(default=1000, metadata={"min": 4})
    batch_size: int = field(default=16, metadata={"min": 1})
    lr: float = field(default=1e-2, metadata={"min": 1e-8, "max": 1.0})
    warmup: int = field(default=50, metadata={"min": 0})
    seed: int = field(default=0, metadata={"min": 0})
    eval_samples: int = field(default=128, metadata={"min": 1})

    def check(self):
        _check_process("process", self.process, self.length)
        if self.model in LINEAR_REFERENCE_MODELS:
            from .registry import family, parse_process_id

            if family(parse_process_id(self.process)[0]).kind != "gaussian":
                raise SweepError(f"model {self.model!r} is a linear reference for continuous "
                                 f"data; process {self.process!r} is a token process (use "
                                 "'state_core', 'state_core_ltv' or 'gpt')")
        if self.warmup > self.steps:
            raise SweepError(f"warmup must be <= steps ({self.steps}), got {self.warmup}")
        stateful = self.model in STATE_MODELS
        if stateful and self.state < 1:
            raise SweepError(f"state must be >= 1 for model {self.model!r}, got {self.state}")
        if not stateful and self.state != 0:
            raise SweepError(f"state must be 0 for the full-context model {self.model!r}, "
                             f"got {self.state}")

    def run(self) -> xr.Dataset:
        from .registry import make_process
        from .training import train
        from .yardsticks import linear_state_kl, predictable_information

        p = make_process(self.process, self.length)
        mc = {}
        if self.model not in LINEAR_REFERENCE_MODELS:  # the neural models: width and depth
            mc.update(d_model=self.d_model, n_layer=self.n_layer)
        if self.model in STATE_MODELS:
            mc["state_size"] = self.state
        ds = train(p, self.model, model_config=mc, steps=self.steps, batch_size=self.batch_size,
                   lr=self.lr, warmup=self.warmup, seed=self.seed,
                   eval_samples=self.eval_samples, eval_every=max(1, self.steps // 4), threads=1)
        out = ds[["kl", "converged", "history_state", "bipartite_mi", "n_params",
                  "train_seconds"]]
        out["converged"] = out["converged"].astype(np.int8)  # netCDF has no bool
        curve = np.full(4, np.nan)
        curve[:min(4, ds.sizes["eval_step"])] = ds["eval_kl"].values[-4:]
        out["kl_curve"] = (("quarter",), curve, {"units": "nats", "long_name": "held-out KL "
                           "after each quarter of training (last 4 evaluations)"})
        out = out.assign_coords(quarter=np.arange(1, 5))
        out["predictable"] = ((), predictable_information(p), {
            "units": "nats", "long_name": "KL of the marginal predictor per token (the "
                                          "predictable information)"})
        if not isinstance(p, LinearStateMI):
            lb = float("nan")  # no linear-state bound outside the hierarchical Gaussian family
        else:
            lb = linear_state_kl(p, self.state)["per_token"] if self.state else 0.0
        out["linear_bound"] = ((), lb, {"units": "nats", "long_name": "middle-cut linear-state "
                                        "bound for `state` floats, per token and channel"})
        return out


#: Job kinds by name (the ``job`` key of a sweep file).
JOBS: dict[str, type[Job]] = {j.kind: j for j in (ExactMIJob, ValidateJob, SampleJob, TrainJob,
                                                 StateJob)}


def register_job(cls: type[Job]) -> type[Job]:
    """Add a job kind (a frozen dataclass subclass of :class:`Job`)."""
    JOBS[cls.kind] = cls
    return cls


# ------------------------------------------------------------------------------ sweeps


def _canonical(value):
    if isinstance(value, tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def config_hash(cfg: Job) -> str:
    """Stable hash of a cell: job kind and every config field (not the package version)."""
    payload = json.dumps({"job": cfg.kind, "config": {k: _canonical(v) for k, v in
                                                       cfg.to_dict().items()}},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass
class Sweep:
    """A job kind and its cells (validated configs, in grid order)."""

    job: str
    configs: list
    out: str | None = None
    source: dict = field(default_factory=dict)

    def __init__(self, job: str, grid: dict | None = None, fixed: dict | None = None,
                 out: str | None = None):
        if not isinstance(job, str) or job not in JOBS:
            raise SweepError(f"job must be one of {sorted(JOBS)}, got {job!r}")
        cls = JOBS[job]
        for section, d in (("grid", grid), ("fixed", fixed)):
            if d is not None and not isinstance(d, dict):
                raise SweepError(f"[{section}] must be a table of key = value, got "
                                 f"{type(d).__name__} {d!r}")
        if out is not None and not isinstance(out, (str, os.PathLike)):
            raise SweepError(f"out must be a path, got {type(out).__name__} {out!r}")
        grid = dict(grid or {})
        fixed = dict(fixed or {})
        names = {f.name for f in dataclasses.fields(cls)}
        for section, d in (("grid", grid), ("fixed", fixed)):
            unknown = sorted(set(d) - names)
            if unknown:
                raise SweepError(f"unknown key(s) {unknown} in [{section}] for job {job!r}; "
                                 f"allowed: {sorted(names)}")
        both = sorted(set(grid) & set(fixed))
        if both:
            raise SweepError(f"key(s) {both} appear in both [grid] and [fixed]")
        for k, v in grid.items():
            if not isinstance(v, (list, tuple)) or len(v) == 0:
                raise SweepError(f"grid.{k} must be a non-empty list, got {v!r}")
        keys = list(grid)
        configs = []
        for combo in itertools.product(*(grid[k] for k in keys)):
            d = dict(fixed)
            d.update(zip(keys, combo))
            try:
                configs.append(cls.from_dict(d))
            except SweepError as e:
                raise SweepError(f"cell {dict(zip(keys, combo))}: {e}") from None
        self.job = job
        self.configs = configs
        self.out = out
        self.source = {"job": job, "grid": grid, "fixed": fixed}
        seen = {}
        for c in configs:
            h = config_hash(c)
            if h in seen:
                raise SweepError(f"two cells have the same config: {c}")
            seen[h] = c

    @classmethod
    def from_configs(cls, configs, out=None) -> "Sweep":
        configs = list(configs)
        if not configs:
            raise SweepError("a sweep needs at least one config")
        kinds = {c.kind for c in configs}
        if len(kinds) != 1:
            raise SweepError(f"all configs of a sweep must be one job kind, got {sorted(kinds)}")
        self = cls.__new__(cls)
        self.job = configs[0].kind
        self.configs = configs
        self.out = out
        self.source = {"job": self.job, "configs": [c.to_dict() for c in configs]}
        return self


def load_sweep(path) -> Sweep:
    """Read a TOML sweep file (sections ``[sweep]``, ``[grid]``, ``[fixed]``)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise SweepError(f"sweep file not found: {path}") from None
    except IsADirectoryError:
        raise SweepError(f"sweep file {str(path)!r} is a directory, not a TOML file") from None
    except OSError as e:
        raise SweepError(f"cannot read sweep file {str(path)!r}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise SweepError(f"{path}: not a TOML file (not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{path}: not valid TOML: {e}") from None
    unknown = sorted(set(doc) - {"sweep", "grid", "fixed"})
    if unknown:
        raise SweepError(f"unknown section(s) {unknown} in {path}; allowed: sweep, grid, fixed")
    head = doc.get("sweep", {})
    if not isinstance(head, dict):
        raise SweepError(f"[sweep] must be a table (job = ..., out = ...), got {head!r}")
    bad = sorted(set(head) - {"job", "out"})
    if bad:
        raise SweepError(f"unknown key(s) {bad} in [sweep]; allowed: job, out")
    if "job" not in head:
        raise SweepError(f"[sweep] job is required (one of {sorted(JOBS)})")
    out = head.get("out")
    if out is not None and not isinstance(out, str):
        raise SweepError(f"[sweep] out must be a string path, got {out!r}")
    return Sweep(head["job"], doc.get("grid", {}), doc.get("fixed", {}), out=out)


# ------------------------------------------------------------------------------ running


def deterministic(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without the variables marked ``nondeterministic`` (timings): what two runs
    of the same sweep with the same seeds must agree on exactly."""
    return ds.drop_vars([k for k, v in ds.data_vars.items() if "nondeterministic" in v.attrs])


def cells_dir(out) -> Path:
    """Where the finished cells of the sweep writing ``out`` live."""
    out = Path(out)
    return out.with_name(out.name + ".cells")


def _atomic_write(ds: xr.Dataset, path: Path) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    ds.to_netcdf(tmp, engine=ENGINE)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read_cell(path: Path, cfg: Job) -> xr.Dataset:
    """The stored cell of ``cfg`` (loaded); raises if the file is unreadable, truncated or
    not this cell's."""
    with xr.open_dataset(path, engine=ENGINE) as c:
        ds = c.load()
    if "status" not in ds.variables:
        raise ValueError("no status variable")
    h = ds.attrs.get("config_hash")
    if h != config_hash(cfg):
        raise ValueError(f"its config hash {h!r} is not this cell's")
    return ds


def _set_aside(path: Path, exc: BaseException) -> Path:
    """Move an unreadable cell file to ``<name>.corrupt`` (kept for inspection) and warn,
    naming it; the cell is then computed again."""
    import warnings

    bad = path.with_name(path.name + ".corrupt")
    os.replace(path, bad)
    warnings.warn(f"sweep cell file {str(path)!r} is unreadable ({type(exc).__name__}: "
                  f"{str(exc)[:200]}); moved to {bad.name!r} and computing the cell again",
                  RuntimeWarning, stacklevel=3)
    return bad


def _check_run_args(out: Path, scheduler, workers) -> None:
    """Arguments of :func:`run_sweep`, checked before any cell runs."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SweepError(f"workers must be an integer >= 1, got {workers!r}")
    if scheduler is not None and not isinstance(scheduler, str):
        raise SweepError(f"scheduler must be None, 'local' or an address, got {scheduler!r}")
    if isinstance(scheduler, str) and scheduler != "local":
        _check_address(scheduler)
    if str(out).endswith(("/", os.sep)) or out.is_dir():
        raise SweepError(f"out {str(out)!r} is a directory; give a .nc file path")
    for parent in [out.parent, *out.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise SweepError(f"out {str(out)!r}: {str(parent)!r} is a file, not a directory")
            break
    cdir = cells_dir(out)
    if cdir.exists() and not cdir.is_dir():
        raise SweepError(f"out {str(out)!r}: its cell folder {str(cdir)!r} is a file")


def run_cell(cfg: Job) -> xr.Dataset:
    """Run one cell; a job that raises gives a dataset with ``status = "error"``."""
    t0 = time.perf_counter()
    try:
        ds = cfg.run()
        status, message = "ok", ""
    except Exception as e:  # noqa: BLE001 - failures are data
        ds = xr.Dataset()
        status, message = "error", f"{type(e).__name__}: {e}"
    ds = ds.copy()
    ds["status"] = ((), status)
    ds["message"] = ((), message)
    ds["cell_seconds"] = ((), time.perf_counter() - t0, {"units": "s", "nondeterministic": "timing"})
    ds = ds.expand_dims({k: [v] for k, v in cfg.cell_dims().items()})
    ds.attrs = {"job": cfg.kind, "config": json.dumps(cfg.to_dict(), default=list),
                "config_hash": config_hash(cfg)}
    return ds


def _combine(cells: list[xr.Dataset], sweep: Sweep) -> xr.Dataset:
    parts = []
    for c in cells:
        c = c.copy()
        c.attrs = {}
        # encodings read from a cell file (e.g. a fixed string width) must not carry over:
        # a longer label from another cell would be silently truncated on writing
        for v in c.variables.values():
            v.encoding = {}
        parts.append(c)
    ds = xr.merge(parts, join="outer", compat="no_conflicts", combine_attrs="drop_conflicts")
    # grid order (merge sorts coordinates): the order of first appearance in the sweep
    order = {}
    for cfg in sweep.configs:
        for k, v in cfg.cell_dims().items():
            order.setdefault(k, [])
            if v not in order[k]:
                order[k].append(v)
    ds = ds.reindex({k: v for k, v in order.items() if k in ds.dims})
    ds.attrs = {
        "title": f"l2m-sim sweep: {sweep.job}",
        "job": sweep.job,
        "sweep": json.dumps(sweep.source, default=list),
        "n_cells": len(cells),
        "l2m_sim_version": __version__,
        "git_revision": git_revision(),
    }
    return ds


def _restore_cells(sweep: Sweep, out: Path) -> int:
    """Write back into ``<out>.cells/`` the cells of ``sweep`` that are missing there but
    stored in the combined file ``out``: only where ``out`` was made from exactly that
    config (same config hash), failed cells included (``retry_failed`` reruns those). An
    unreadable ``out`` restores nothing. Returns the number restored."""
    if not out.exists():
        return 0
    cdir = cells_dir(out)
    missing = {config_hash(c): c for c in sweep.configs
               if not (cdir / f"{config_hash(c)}.nc").exists()}
    if not missing:
        return 0
    try:
        with xr.open_dataset(out, engine=ENGINE) as f:
            combined = f.load()
        src = json.loads(combined.attrs.get("sweep", "{}"))
        if "configs" in src:  # Sweep.from_configs
            made = [JOBS[src["job"]].from_dict(c) for c in src["configs"]]
        else:  # a grid sweep (TOML file or Sweep(job, grid, fixed))
            made = Sweep(src["job"], src.get("grid"), src.get("fixed")).configs
        stored = {config_hash(c) for c in made}
    except Exception:  # noqa: BLE001 - a corrupt combined file is rebuilt from the cells
        return 0
    cdir.mkdir(parents=True, exist_ok=True)
    n = 0
    for h, cfg in missing.items():
        if h not in stored:
            continue
        cell = combined.sel({k: [v] for k, v in cfg.cell_dims().items()})
        if str(cell["status"].values.ravel()[0]) not in ("ok", "error"):
            continue  # not in the combined file
        for v in cell.variables.values():
            v.encoding = {}
        cell.attrs = {"job": cfg.kind, "config": json.dumps(cfg.to_dict(), default=list),
                      "config_hash": h}
        _atomic_write(cell, cdir / f"{h}.nc")
        n += 1
    return n


def run_sweep(sweep: Sweep, out=None, scheduler=None, workers: int = 2, force: bool = False,
              retry_failed: bool = False, progress: bool = True) -> xr.Dataset:
    """Run the cells not yet done, persist each, and write the combined dataset.

    Parameters
    ----------
    sweep : Sweep
    out : path, optional
        The combined netCDF (default: ``sweep.out``). Finished cells live in
        ``<out>.cells/``. An existing ``out`` is rewritten from all cells (the cells are the
        record; ``force=True`` deletes them first and starts over). A cell missing from
        the folder but stored in an existing ``out`` made from exactly its config is put
        back from it (:func:`_restore_cells`), so a committed combined file is enough to
        extend or re-assemble a sweep in a fresh clone without recomputing.
    scheduler : None, "local" or an address
        None runs in this process; "local" starts a ``LocalCluster`` with ``workers``
        single-threaded worker processes; ``"tcp://..."`` connects to a running scheduler.
    retry_failed : bool
        Run again the cells whose stored status is "error".
    """
    out = Path(out if out is not None else (sweep.out or "results/sweep.nc"))
    _check_run_args(out, scheduler, workers)
    cdir = cells_dir(out)
    if force and cdir.exists():
        for f in cdir.glob("*.nc"):
            f.unlink()
    cdir.mkdir(parents=True, exist_ok=True)
    restored = _restore_cells(sweep, out)
    if restored and progress:
        print(f"restored {restored} finished cells from {out.name}", flush=True)
    todo = []
    done = {}  # config hash -> the loaded cell
    for cfg in sweep.configs:
        h = config_hash(cfg)
        path = cdir / f"{h}.nc"
        if path.exists():
            try:
                old = _read_cell(path, cfg)
            except Exception as e:  # noqa: BLE001 - any unreadable file is set aside
                _set_aside(path, e)
            else:
                if retry_failed and "error" in np.asarray(old["status"]).ravel().tolist():
                    path.unlink()
                else:
                    done[h] = old
        if h not in done:
            todo.append(cfg)
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"sweep {sweep.job}", unit="cell")

    def persist(cfg, ds):
        _atomic_write(ds, cdir / f"{config_hash(cfg)}.nc")
        if bar is not None:
            bar.update(1)

    try:
        if scheduler is None:
            for cfg in todo:
                persist(cfg, run_cell(cfg))
        elif todo:
            _run_dask(todo, persist, scheduler, workers)
    finally:
        if bar is not None:
            bar.close()
    cells = []
    for cfg in sweep.configs:
        h = config_hash(cfg)
        cells.append(done[h] if h in done else _read_cell(cdir / f"{h}.nc", cfg))
    ds = _combine(cells, sweep)
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(ds, out)
    return ds


#: Seconds to wait for a remote Dask scheduler before giving up with a clear error.
CONNECT_TIMEOUT = 10


def _check_address(address: str) -> None:
    """A scheduler address ``tcp://host:port`` (or ``tls://``), checked before any work:
    a port in [1, 65535] and, for a numeric host, a valid IPv4 address."""
    import ipaddress
    import re

    m = re.fullmatch(r"(tcp|tls)://([^:/\s]+):(\d+)", address)
    if m is None:
        raise SweepError(f"scheduler must be None, 'local' or an address tcp://host:port, "
                         f"got {address!r}")
    host, port = m.group(2), int(m.group(3))
    if not 1 <= port <= 65535:
        raise SweepError(f"scheduler address {address!r}: port must be in [1, 65535]")
    if re.fullmatch(r"[\d.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise SweepError(f"scheduler address {address!r}: {host!r} is not a valid "
                             f"IPv4 address") from None


def _run_dask(todo, persist, scheduler, workers):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise SweepError(f"cannot reach the Dask scheduler {scheduler!r} within "
                             f"{CONNECT_TIMEOUT} s: {e}") from None
    try:
        futures = {client.submit(run_cell, cfg, pure=False): cfg for cfg in todo}
        for fut in as_completed(futures):
            persist(futures[fut], fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
