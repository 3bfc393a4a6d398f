"""The ground-truth validation harness: score any MI estimator against exact values.

:func:`validate` runs every estimator on samples of every process over a grid of lengths,
sample sizes and seeds, and returns an :class:`xarray.Dataset` with the exact truth beside
every estimate. An estimator that raises, returns a non-finite value or exceeds its time
limit is recorded (``status``, ``message``) and the sweep goes on.

Estimators
----------
Three shapes are accepted:

* a callable ``f(x, y) -> float`` (nats), ``x`` of shape ``(n, dx)``, ``y`` ``(n, dy)``
  (the :class:`~l2m_sim.registry.GroundTruthTask` split at the cut; token processes give
  int64 arrays); if it accepts an ``rng`` keyword it gets a seeded Generator;
* a name from ``l2m_sim.estimators.ESTIMATORS`` (e.g. ``"gaussian"``, ``"ksg1"``);
* a :class:`TaskEstimator`, which receives the whole task (process, cut) instead of the
  split samples: ``f(task, n, rng) -> float`` or ``(float, standard_error)`` — the shape of
  model-based estimators, which need a model with per-position log-probabilities.

Exponents
---------
``beta_hat`` is the slope of ``log(estimate)`` against ``log(length)`` (least squares over
the lengths with a positive finite estimate, at least two), ``beta_true`` the same fit of the
exact values; with ``distances=`` the estimators are also run on the pairs
``(W_0, W_d)`` of the same samples and ``alpha_hat`` / ``alpha_true`` are minus the slopes of
``log I(d)`` against ``log d`` at the largest length.
"""

from __future__ import annotations

import inspect
import itertools
import math
import numbers
import multiprocessing as mp
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import xarray as xr

from ._limits import check_memory
from ._util import fit_exponent
from .protocol import Process, check_float, check_int
from ._seeds import cell_streams, stream_id
from .registry import GroundTruthTask, family, parse_process_id, process_id

__all__ = ["validate", "TaskEstimator", "fit_exponent"]

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_TIMEOUT = "timeout"
STATUS_NONFINITE = "nonfinite"
STATUS_NA = "n/a"


@dataclass(frozen=True)
class TaskEstimator:
    """An estimator that needs the task itself: ``fn(task, n, rng) -> float | (float, se)``."""

    fn: Callable[..., Any]
    name: str | None = None

    def __call__(self, task, n, rng):
        return self.fn(task, n, rng)


def direct_exact(task, n, rng):
    """The model-based direct estimator with the exact process as the model (a sanity
    check: it must return the truth within Monte-Carlo error)."""
    from .estimators import direct_bipartite

    samples = task.process.sample(n, rng=rng)
    return direct_bipartite(task.process, samples, task.cut)


def vclub_exact(task, n, rng):
    """The vCLUB upper bound with the exact process as the model."""
    from .estimators import vclub_bipartite

    samples = task.process.sample(n, rng=rng)
    return vclub_bipartite(task.process, samples, task.cut, rng=rng)


# --------------------------------------------------------------------------- helpers


def _resolve_estimators(estimators) -> dict[str, Callable]:
    if isinstance(estimators, dict):
        items = list(estimators.items())
    elif callable(estimators) or isinstance(estimators, str):
        items = [(None, estimators)]
    else:
        items = [(None, e) for e in estimators]
    out = {}
    for name, est in items:
        if isinstance(est, str):
            from .estimators import ESTIMATORS

            if est not in ESTIMATORS:
                raise ValueError(f"unknown estimator {est!r}; known: {', '.join(ESTIMATORS)}")
            name = name or est
            est = ESTIMATORS[est]
        if not callable(est):
            raise TypeError(f"estimators must be callables or names, got {type(est).__name__}")
        name = name or getattr(est, "name", None) or getattr(est, "__name__", None) or repr(est)
        if name in out:
            raise ValueError(f"two estimators are called {name!r}; pass a dict to name them")
        out[str(name)] = est
    if not out:
        raise ValueError("estimators must name at least one estimator")
    return out


def _accepts_rng(fn) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return "rng" in sig.parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())


def _label(spec):
    """``(label, build, own_length)`` for one process spec.

    ``build(L) -> (process, id)`` rebuilds an id / family name at length ``L`` (the label
    is its id without the length parameter); for process objects and tasks ``build`` returns
    the object itself whatever ``L`` and ``own_length`` says where it applies.
    """
    if isinstance(spec, str):
        name, params = parse_process_id(spec)
        fam = family(name)
        params = fam.params(**params)
        own = fam.make(**params).length
        params.pop(fam.length_param, None)
        label = process_id(name, **params)

        def build(L, fam=fam, params=params):
            return fam.at_length(L, **params), stream_id(spec, L)

        return label, build, own
    proc = spec.process if isinstance(spec, GroundTruthTask) else spec
    if not isinstance(proc, Process):
        raise TypeError(f"processes must be ids, processes or tasks, got {type(spec).__name__}")
    return repr(proc), (lambda L, proc=proc: (proc, repr(proc))), proc.length


def _cut_for(cut, L):
    if cut is None:
        return L // 2
    if isinstance(cut, (float, np.floating)):
        if not 0.0 < cut < 1.0:
            raise ValueError(f"cut as a fraction must be in (0, 1), got {cut}")
        return min(max(1, int(round(cut * L))), L - 1)
    return check_int("cut", cut, 1, L - 1)


def _check_cut_arg(cut):
    """``cut`` is None, an int >= 1 or a float fraction in (0, 1) (checked per length later)."""
    if cut is None:
        return None
    if isinstance(cut, np.ndarray) and cut.ndim == 0:
        cut = cut.item()
    if isinstance(cut, (bool, np.bool_)) or not isinstance(cut, (numbers.Integral, float,
                                                                 np.floating)):
        raise TypeError(f"cut must be None, an int or a float fraction in (0, 1), got "
                        f"{type(cut).__name__} {cut!r}")
    if isinstance(cut, (float, np.floating)):
        if not 0.0 < float(cut) < 1.0:
            raise ValueError(f"cut as a fraction must be in (0, 1), got {cut!r}")
        return float(cut)
    return check_int("cut", cut, 1)


def _int_list(name, values, minimum):
    """A non-empty list of distinct ints >= ``minimum`` (``ValueError`` naming ``name``)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {values!r}")
    try:
        items = np.atleast_1d(np.asarray(values, dtype=object)).ravel().tolist()
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be an int or a sequence of ints: {e}") from None
    if not items:
        raise ValueError(f"{name} must hold at least one value, got {values!r}")
    out = [check_int(name, v, minimum) for v in items]
    dup = sorted({v for v in out if out.count(v) > 1})
    if dup:
        raise ValueError(f"{name} must be distinct, got {dup} more than once")
    return out


def _call_in_child(conn, fn, args, kwargs):
    try:
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as e:  # noqa: BLE001 - everything is reported to the parent
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def _child_context(fn, args, kwargs):
    """The multiprocessing context of a timed call: ``forkserver`` when the call pickles.

    A plain ``fork`` of a process that has already run numba's parallel (OpenMP) kernels
    aborts in the child as soon as the child uses them too (GNU OpenMP does not survive a
    fork); the fork server is a clean process (it only imports the package), so children
    forked from it are safe. Calls that do not pickle (lambdas, closures) fall back to
    ``fork``.
    """
    import pickle

    try:  # arrays always pickle: test the rest only (the samples are pickled once, to send)
        pickle.dumps((fn, [a for a in args if not isinstance(a, np.ndarray)], kwargs))
    except Exception:  # noqa: BLE001 - anything unpicklable
        return mp.get_context("fork")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["l2m_sim.validate"])
    return ctx


def _run(fn, args, kwargs, timeout):
    """Call ``fn``; with a timeout, in a forked child that is killed when time runs out.
    Returns (status, value or message, seconds)."""
    t0 = time.perf_counter()
    if timeout is None:
        try:
            value = fn(*args, **kwargs)
            return STATUS_OK, value, time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
            tb = traceback.extract_tb(e.__traceback__)
            where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
            return STATUS_ERROR, f"{type(e).__name__}: {e}{where}", time.perf_counter() - t0
    ctx = _child_context(fn, args, kwargs)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_call_in_child, args=(child, fn, args, kwargs), daemon=True)
    proc.start()
    child.close()
    ready = parent.poll(timeout)
    elapsed = time.perf_counter() - t0
    if not ready:
        proc.kill()
        proc.join()
        return STATUS_TIMEOUT, f"no result within {timeout} s", elapsed
    try:
        kind, value = parent.recv()
    except EOFError:
        kind, value = "error", f"estimator process died (exit code {proc.exitcode})"
    proc.join()
    return (STATUS_OK if kind == "ok" else STATUS_ERROR), value, elapsed


def _as_estimate(value):
    """(estimate, standard error or nan) from a float or an (estimate, se) pair."""
    if isinstance(value, tuple) and len(value) == 2:
        return float(value[0]), float(value[1])
    if isinstance(value, _EstimateResult):
        return float(value.estimate), float(getattr(value, "stderr", getattr(value, "se", np.nan)))
    return float(value), np.nan


@runtime_checkable
class _EstimateResult(Protocol):
    """An estimator's result object with an ``estimate`` (and ``stderr`` or ``se``)."""

    estimate: float


# --------------------------------------------------------------------------- the harness
#
# validate() runs in four named steps:
#   1. _check_arguments  every global argument checked, every process built at every length
#                        it runs at (cut, memory of its samples) -- before any work;
#   2. _cell_list        the cells (process, length, n, seed) in run order, each with the
#                        identity its sample streams are keyed on;
#   3. _run_cell         every estimator on the samples of one cell (after _exact_values
#                        has computed the truth of the cell's process at its length);
#   4. _assemble_dataset the filled arrays as an xarray.Dataset with the exponent fits.


@dataclass
class _Plan:
    """Every checked argument of :func:`validate` and the processes it will run."""

    ests: dict
    labels: list
    L_list: list
    n_list: list
    seed_list: list
    d_list: list
    cut: Any
    timeout: Any
    built: dict  # (ip, il) -> (process, id at that length, cut); absent: n/a


def _check_timeout(timeout):
    """None (no limit) or a positive finite number of seconds."""
    if timeout is None:
        return None
    try:
        return check_float("timeout (seconds, or None for no limit)", timeout, 0.0, lo_open=True)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _build_processes(specs, processes, L_list, cut, n_max) -> dict:
    """Every process at every length it runs at: ``{(ip, il): (process, id, cut)}``.

    An id is rebuilt at each length; a process object or task only exists at its own
    length (other lengths are left out: ``status = "n/a"``). A process that cannot be
    built, a cut that does not fit, or samples that would not fit in memory raise here,
    naming the process and the length."""
    built = {}
    for ip, ((label, build, own), spec) in enumerate(zip(specs, processes)):
        for il, L in enumerate(L_list):
            if not isinstance(spec, str) and own != L:
                continue  # a process object exists at its own length only
            try:
                proc, pid = build(L)
            except (ValueError, TypeError) as e:
                raise type(e)(f"processes[{ip}] {label!r} at length {L}: {e}") from None
            c = _cut_for(cut, L)
            check_memory("n_samples", 24.0 * n_max * proc.length * proc.channels,
                         f"{n_max} samples of {label!r} at length {L}")
            built[ip, il] = (proc, pid, c)
    return built


def _check_arguments(estimators, processes, lengths, n_samples, seeds, cut, distances,
                     timeout) -> _Plan:
    """Step 1: check every global argument of :func:`validate` and build every process at
    every length it runs at, so that a bad argument raises before any work is done."""
    ests = _resolve_estimators(estimators)
    if isinstance(processes, (str, GroundTruthTask, Process)):
        processes = [processes]
    processes = list(processes)
    specs = [_label(p) for p in processes]
    if not specs:
        raise ValueError("processes must name at least one process")
    labels = [s[0] for s in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"processes must be distinct, got {labels}")
    n_list = _int_list("n_samples", n_samples, 2)
    seed_list = _int_list("seeds", seeds, 0)
    timeout = _check_timeout(timeout)
    cut = _check_cut_arg(cut)
    if lengths is None:
        L_list = sorted({own for _, _, own in specs})
    else:
        L_list = _int_list("lengths", lengths, 2)
    d_list = [] if distances is None else _int_list("distances", distances, 1)
    built = _build_processes(specs, processes, L_list, cut, max(n_list))
    return _Plan(ests, labels, L_list, n_list, seed_list, d_list, cut, timeout, built)


@dataclass(frozen=True)
class _Cell:
    """One cell of the grid: its indices in the plan's lists and its identity (the process
    id at this length, the length, n and seed), on which its sample streams are keyed."""

    ip: int
    il: int
    i_n: int
    i_s: int
    pid: str
    length: int
    n: int
    seed: int

    @property
    def index(self) -> tuple:
        """Position of the cell in the result arrays (after the estimator axis)."""
        return (self.ip, self.il, self.i_n, self.i_s)


def _cell_list(plan: _Plan) -> list[_Cell]:
    """Step 2: the cells to run, process by process, length by length (the order of the
    result arrays); ``(process, length)`` pairs left out of ``plan.built`` have none."""
    cells = []
    for ip in range(len(plan.labels)):
        for il, L in enumerate(plan.L_list):
            if (ip, il) not in plan.built:
                continue
            pid = plan.built[ip, il][1]
            cells.extend(_Cell(ip, il, i_n, i_s, pid, L, n, seed)
                         for i_n, n in enumerate(plan.n_list)
                         for i_s, seed in enumerate(plan.seed_list))
    return cells


class _Results:
    """The arrays of one :func:`validate` run, filled cell by cell."""

    def __init__(self, plan: _Plan):
        E, P, Lc = len(plan.ests), len(plan.labels), len(plan.L_list)
        N, S, D = len(plan.n_list), len(plan.seed_list), len(plan.d_list)
        shape = (E, P, Lc, N, S)
        self.estimate = np.full(shape, np.nan)
        self.stderr = np.full(shape, np.nan)
        self.wall = np.full(shape, np.nan)
        self.status = np.full(shape, STATUS_NA, dtype=object)
        self.message = np.full(shape, "", dtype=object)
        self.truth = np.full((P, Lc), np.nan)
        self.truth_se = np.full((P, Lc), np.nan)
        self.cuts = np.full((P, Lc), -1, dtype=np.int64)
        self.pids = np.full((P, Lc), "", dtype=object)
        self.tp_est = np.full(shape + (D,), np.nan)
        self.tp_truth = np.full((P, Lc, D), np.nan)


def _exact_values(res: _Results, plan: _Plan, ip, il):
    """The task of process ``ip`` at length index ``il`` with its exact values filled in;
    ``None`` (and its cells marked as errors) when the process fails."""
    proc, pid, c = plan.built[ip, il]
    L = plan.L_list[il]
    try:
        task = GroundTruthTask(proc, c)
        res.truth[ip, il] = task.mutual_information()
        res.truth_se[ip, il] = task.mutual_information_se()
        res.cuts[ip, il] = task.cut
        res.pids[ip, il] = pid
        for idx, d in enumerate(plan.d_list):
            if d < L:
                res.tp_truth[ip, il, idx] = proc.two_point_mi(0, d)
    except Exception as e:  # noqa: BLE001 - a process that cannot be built
        res.status[:, ip, il] = STATUS_ERROR
        res.message[:, ip, il] = f"process: {type(e).__name__}: {e}"
        return None
    return task


def _score(fn, args, kwargs, timeout):
    """One estimator call: ``(status, estimate, stderr, message, seconds)``."""
    st, value, dt = _run(fn, args, kwargs, timeout)
    est = se = np.nan
    if st == STATUS_OK:
        try:
            e, s = _as_estimate(value)
        except (TypeError, ValueError) as exc:
            st, value = STATUS_ERROR, f"bad return value: {exc}"
        else:
            if not math.isfinite(e):
                st, value = STATUS_NONFINITE, f"returned {e!r}"
            else:
                est, se = e, s
    return st, est, se, ("" if st == STATUS_OK else str(value)), dt


def _two_point(res: _Results, plan: _Plan, at, fn, kwargs, W, L):
    """The estimator on the pairs ``(W_0, W_d)`` of the cell's samples."""
    C = W.shape[1] // L
    for idx, d in enumerate(plan.d_list):
        if d >= L:
            continue
        st, value, _ = _run(fn, (W[:, 0:C], W[:, d * C:(d + 1) * C]), kwargs, plan.timeout)
        if st == STATUS_OK:
            try:
                res.tp_est[at + (idx,)] = _as_estimate(value)[0]
            except (TypeError, ValueError):
                pass


def _run_cell(res: _Results, plan: _Plan, task, cell: _Cell, bar):
    """Step 3: every estimator on the samples of one cell.

    The samples and the estimators' Generators come from
    :func:`l2m_sim._seeds.cell_streams` of the cell's identity (process id at this length,
    length, n, seed), never from grid positions, so the cell reproduces alone or in any
    batch. A sampling failure marks the whole cell as an error; an estimator's failure,
    non-finite value or timeout is recorded in its own entry."""
    every = (slice(None),) + cell.index
    data_rng, est_seed = cell_streams(cell.pid, cell.length, cell.n, cell.seed)
    try:
        X, Y = task.sample(cell.n, rng=data_rng)
        W = np.hstack([X, Y]) if plan.d_list else None
    except Exception as e:  # noqa: BLE001
        res.status[every] = STATUS_ERROR
        res.message[every] = f"sampling: {type(e).__name__}: {e}"
        bar.update(len(plan.ests))
        return
    for ie, fn in enumerate(plan.ests.values()):
        at = (ie,) + cell.index
        rng = np.random.default_rng(est_seed)
        if isinstance(fn, TaskEstimator):
            args, kwargs = (task, cell.n, rng), {}
        else:
            args = (X, Y)
            kwargs = {"rng": rng} if _accepts_rng(fn) else {}
        st, est, se, msg, dt = _score(fn, args, kwargs, plan.timeout)
        res.wall[at], res.status[at], res.message[at] = dt, st, msg
        res.estimate[at], res.stderr[at] = est, se
        if W is not None and not isinstance(fn, TaskEstimator):
            _two_point(res, plan, at, fn, kwargs, W, cell.length)
        bar.update(1)


def _assemble_dataset(res: _Results, plan: _Plan) -> xr.Dataset:
    """Step 4: the results as a Dataset, with the exponent fits (``beta`` over lengths;
    with distances, ``alpha`` over distances at the largest length)."""
    L_list, d_list, cut, timeout = plan.L_list, plan.d_list, plan.cut, plan.timeout
    tb = res.truth[None, :, :, None, None]
    err = res.estimate - tb
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(tb != 0, err / np.abs(tb), np.nan)
    coords = {
        "estimator": list(plan.ests),
        "process": plan.labels,
        "length": L_list,
        "n_samples": plan.n_list,
        "seed": plan.seed_list,
    }
    dims = ("estimator", "process", "length", "n_samples", "seed")
    ds = xr.Dataset(
        {
            "estimate": (dims, res.estimate, {"units": "nats", "long_name": "estimated I_BP"}),
            "stderr": (dims, res.stderr, {"units": "nats",
                                          "long_name": "standard error reported by the estimator"}),
            "truth": (("process", "length"), res.truth,
                      {"units": "nats", "long_name": "exact I_BP"}),
            "truth_se": (("process", "length"), res.truth_se,
                         {"units": "nats", "long_name": "standard error of the truth (0: exact)"}),
            "error": (dims, err, {"units": "nats", "long_name": "estimate - truth"}),
            "rel_error": (dims, rel, {"units": "1", "long_name": "(estimate - truth) / |truth|"}),
            "wall_time": (dims, res.wall, {"units": "s"}),
            "status": (dims, res.status.astype(str)),
            "message": (dims, res.message.astype(str)),
            "cut": (("process", "length"), res.cuts, {"long_name": "X = positions 0..cut-1"}),
            "process_id": (("process", "length"), res.pids.astype(str)),
        },
        coords=coords,
        attrs={
            "title": "l2m-sim estimator validation against exact mutual information",
            "cut_rule": "middle" if cut is None else str(cut),
            "timeout_s": "none" if timeout is None else float(timeout),
            "streams": "samples keyed on (process id, length, n_samples, seed); "
                       "see l2m_sim._seeds",
        },
    )
    # exponents: beta over lengths
    ds["beta_hat"] = xr.apply_ufunc(
        lambda y: fit_exponent(L_list, y), ds["estimate"], input_core_dims=[["length"]],
        vectorize=True)
    ds["beta_hat"].attrs["long_name"] = "slope of log estimate vs log length"
    ds["beta_true"] = xr.apply_ufunc(
        lambda y: fit_exponent(L_list, y), ds["truth"], input_core_dims=[["length"]],
        vectorize=True)
    ds["beta_true"].attrs["long_name"] = "slope of log exact I_BP vs log length"
    if d_list:
        ds = ds.assign_coords(distance=d_list)
        ds["tp_estimate"] = (dims + ("distance",), res.tp_est,
                             {"units": "nats", "long_name": "estimated I(W_0; W_d)"})
        ds["tp_truth"] = (("process", "length", "distance"), res.tp_truth,
                          {"units": "nats", "long_name": "exact I(W_0; W_d)"})
        last = ds.sel(length=L_list[-1])
        ds["alpha_hat"] = -xr.apply_ufunc(
            lambda y: fit_exponent(d_list, y), last["tp_estimate"],
            input_core_dims=[["distance"]], vectorize=True)
        ds["alpha_true"] = -xr.apply_ufunc(
            lambda y: fit_exponent(d_list, y), last["tp_truth"],
            input_core_dims=[["distance"]], vectorize=True)
    return ds


def validate(estimators, processes, lengths=None, n_samples=(1000,), seeds=(0,), cut=None,
             distances=None, timeout=None, progress=False) -> xr.Dataset:
    """Score estimators against the exact mutual information of processes.

    Parameters
    ----------
    estimators : callable, name, :class:`TaskEstimator`, or a list / dict of them
        See the module docstring; a dict gives the names used as coordinates.
    processes : list of process ids / family names, processes or tasks
        Ids and names are rebuilt at every ``length`` (their length parameter is replaced);
        process objects keep their own length (other lengths are ``status = "n/a"``).
    lengths : sequence of int, optional
        Sequence lengths (default: the processes' own lengths).
    n_samples, seeds : sequences of int
        Sample sizes and seeds; every estimator sees the same samples for the same
        (process, length, n_samples, seed). The samples (and the estimators' Generators)
        are keyed on that identity -- the process id at the length, the length, n and
        seed -- not on positions in these lists, so a cell gives the same samples alone,
        in a batch with other processes / lengths, or as one cell of a sweep.
    cut : None, int or float
        Bipartite cut: None = the middle, a float in (0, 1) = that fraction of ``L``.
    distances : sequence of int, optional
        Also estimate the two-point MI ``I(W_0; W_d)`` (one channel) at these distances.
    timeout : float, optional
        Seconds per estimator call; a call that runs longer is killed (it runs in a child
        process forked from a clean fork server, see ``_child_context``) and recorded as
        ``"timeout"``. None: no limit, in-process.
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    xarray.Dataset
        dims ``(estimator, process, length, n_samples, seed)``; variables ``estimate``,
        ``stderr`` (of the estimate, when the estimator reports one), ``truth``,
        ``truth_se`` (0 when exact), ``error``, ``rel_error``, ``wall_time``, ``status``,
        ``message``, ``cut``, ``process_id``; ``beta_hat`` / ``beta_true``; with
        ``distances``: ``tp_estimate``, ``tp_truth``, ``alpha_hat``, ``alpha_true``.
    """
    plan = _check_arguments(estimators, processes, lengths, n_samples, seeds, cut,
                            distances, timeout)
    cells = _cell_list(plan)
    res = _Results(plan)
    calls_per_cell = len(plan.ests)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(cells) * calls_per_cell, desc="validate", unit="call",
               disable=not progress)
    try:
        for (ip, il), group in itertools.groupby(cells, key=lambda c: (c.ip, c.il)):
            group = list(group)
            task = _exact_values(res, plan, ip, il)
            if task is None:  # the process failed: its cells are marked as errors
                bar.update(len(group) * calls_per_cell)
                continue
            for cell in group:
                _run_cell(res, plan, task, cell, bar)
    finally:
        bar.close()
    return _assemble_dataset(res, plan)
