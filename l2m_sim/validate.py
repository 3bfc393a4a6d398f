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
import math
import numbers
import multiprocessing as mp
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import xarray as xr

from ._limits import check_memory
from .protocol import check_int
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
            return fam.at_length(L, **params), fam.id_at_length(L, **params)

        return label, build, own
    proc = spec.process if isinstance(spec, GroundTruthTask) else spec
    if not (hasattr(proc, "sample") and hasattr(proc, "bipartite_mi")):
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
    if hasattr(value, "estimate"):
        return float(value.estimate), float(getattr(value, "stderr", getattr(value, "se", np.nan)))
    return float(value), np.nan


def fit_exponent(x, y) -> float:
    """Least-squares slope of ``log y`` on ``log x`` over the points with finite positive
    ``x, y`` (nan if fewer than two)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


# --------------------------------------------------------------------------- the harness


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
        (process, length, n_samples, seed).
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
    ests = _resolve_estimators(estimators)
    if isinstance(processes, (str, GroundTruthTask)) or hasattr(processes, "sample"):
        processes = [processes]
    specs = [_label(p) for p in processes]
    if not specs:
        raise ValueError("processes must name at least one process")
    labels = [s[0] for s in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"processes must be distinct, got {labels}")
    # ---- every global argument is checked before any work
    n_list = _int_list("n_samples", n_samples, 2)
    seed_list = _int_list("seeds", seeds, 0)
    if timeout is not None and (isinstance(timeout, (bool, np.bool_))
                                or not isinstance(timeout, numbers.Real)
                                or not (math.isfinite(timeout) and timeout > 0)):
        raise ValueError(f"timeout must be a positive finite number of seconds or None, "
                         f"got {timeout!r}")
    cut = _check_cut_arg(cut)
    fixed = [not isinstance(p, str) for p in processes]
    if lengths is None:
        L_list = sorted({own for _, _, own in specs})
    else:
        L_list = _int_list("lengths", lengths, 2)
    d_list = [] if distances is None else _int_list("distances", distances, 1)
    # every process at every length it will run at, its cut and the memory of its samples
    built = {}
    for ip, (label, build, own) in enumerate(specs):
        for il, L in enumerate(L_list):
            if fixed[ip] and own != L:
                continue
            try:
                proc, pid = build(L)
            except (ValueError, TypeError) as e:
                raise type(e)(f"processes[{ip}] {label!r} at length {L}: {e}") from None
            c = _cut_for(cut, L)
            C = getattr(proc, "channels", 1)
            check_memory("n_samples", 24.0 * max(n_list) * proc.length * C,
                         f"{max(n_list)} samples of {label!r} at length {L}")
            built[ip, il] = (proc, pid, c)

    E, P, Lc, N, S = len(ests), len(specs), len(L_list), len(n_list), len(seed_list)
    shape = (E, P, Lc, N, S)
    estimate = np.full(shape, np.nan)
    stderr = np.full(shape, np.nan)
    wall = np.full(shape, np.nan)
    status = np.full(shape, STATUS_NA, dtype=object)
    message = np.full(shape, "", dtype=object)
    truth = np.full((P, Lc), np.nan)
    truth_se = np.full((P, Lc), np.nan)
    cuts = np.full((P, Lc), -1, dtype=np.int64)
    pids = np.full((P, Lc), "", dtype=object)
    D = len(d_list)
    tp_est = np.full(shape + (D,), np.nan)
    tp_truth = np.full((P, Lc, D), np.nan)

    total = P * Lc * N * S * E
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="validate", unit="call")
    try:
        for ip, (label, build, own) in enumerate(specs):
            for il, L in enumerate(L_list):
                if fixed[ip] and own != L:  # a process object exists at its own length only
                    if bar is not None:
                        bar.update(N * S * E)
                    continue
                # ---- the task at this length
                try:
                    proc, pid, c = built[ip, il]
                    task = GroundTruthTask(proc, c)
                    truth[ip, il] = task.mutual_information()
                    truth_se[ip, il] = task.mutual_information_se()
                    cuts[ip, il] = task.cut
                    pids[ip, il] = pid
                    for idx, d in enumerate(d_list):
                        if d < L:
                            tp_truth[ip, il, idx] = proc.two_point_mi(0, d)
                except Exception as e:  # noqa: BLE001 - a process that cannot be built
                    status[:, ip, il] = STATUS_ERROR
                    message[:, ip, il] = f"process: {type(e).__name__}: {e}"
                    if bar is not None:
                        bar.update(N * S * E)
                    continue
                for i_n, n in enumerate(n_list):
                    for i_s, seed in enumerate(seed_list):
                        ss = np.random.SeedSequence([seed, ip, il, i_n])
                        data_seed, est_seed = ss.spawn(2)
                        try:
                            X, Y = task.sample(n, rng=np.random.default_rng(data_seed))
                            W = None
                            if d_list:
                                W = np.hstack([X, Y])
                        except Exception as e:  # noqa: BLE001
                            status[:, ip, il, i_n, i_s] = STATUS_ERROR
                            message[:, ip, il, i_n, i_s] = f"sampling: {type(e).__name__}: {e}"
                            if bar is not None:
                                bar.update(E)
                            continue
                        for ie, (ename, fn) in enumerate(ests.items()):
                            rng = np.random.default_rng(est_seed)
                            if isinstance(fn, TaskEstimator):
                                args, kwargs = (task, n, rng), {}
                            else:
                                args = (X, Y)
                                kwargs = {"rng": rng} if _accepts_rng(fn) else {}
                            st, value, dt = _run(fn, args, kwargs, timeout)
                            wall[ie, ip, il, i_n, i_s] = dt
                            if st == STATUS_OK:
                                try:
                                    est, se = _as_estimate(value)
                                except (TypeError, ValueError) as e:
                                    st, value = STATUS_ERROR, f"bad return value: {e}"
                                else:
                                    if not math.isfinite(est):
                                        st, value = STATUS_NONFINITE, f"returned {est!r}"
                                    else:
                                        estimate[ie, ip, il, i_n, i_s] = est
                                        stderr[ie, ip, il, i_n, i_s] = se
                            status[ie, ip, il, i_n, i_s] = st
                            message[ie, ip, il, i_n, i_s] = "" if st == STATUS_OK else str(value)
                            if d_list and not isinstance(fn, TaskEstimator) and W is not None:
                                C = W.shape[1] // L
                                for idx, d in enumerate(d_list):
                                    if d >= L:
                                        continue
                                    x = W[:, 0:C]
                                    y = W[:, d * C:(d + 1) * C]
                                    st2, v2, _ = _run(fn, (x, y), kwargs, timeout)
                                    if st2 == STATUS_OK:
                                        try:
                                            tp_est[ie, ip, il, i_n, i_s, idx] = _as_estimate(v2)[0]
                                        except (TypeError, ValueError):
                                            pass
                            if bar is not None:
                                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    err = estimate - truth[None, :, :, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(truth[None, :, :, None, None] != 0,
                       err / np.abs(truth[None, :, :, None, None]), np.nan)
    coords = {
        "estimator": list(ests),
        "process": labels,
        "length": L_list,
        "n_samples": n_list,
        "seed": seed_list,
    }
    dims = ("estimator", "process", "length", "n_samples", "seed")
    ds = xr.Dataset(
        {
            "estimate": (dims, estimate, {"units": "nats", "long_name": "estimated I_BP"}),
            "stderr": (dims, stderr, {"units": "nats",
                                      "long_name": "standard error reported by the estimator"}),
            "truth": (("process", "length"), truth, {"units": "nats", "long_name": "exact I_BP"}),
            "truth_se": (("process", "length"), truth_se,
                         {"units": "nats", "long_name": "standard error of the truth (0: exact)"}),
            "error": (dims, err, {"units": "nats", "long_name": "estimate - truth"}),
            "rel_error": (dims, rel, {"units": "1", "long_name": "(estimate - truth) / |truth|"}),
            "wall_time": (dims, wall, {"units": "s"}),
            "status": (dims, status.astype(str)),
            "message": (dims, message.astype(str)),
            "cut": (("process", "length"), cuts, {"long_name": "X = positions 0..cut-1"}),
            "process_id": (("process", "length"), pids.astype(str)),
        },
        coords=coords,
        attrs={
            "title": "l2m-sim estimator validation against exact mutual information",
            "cut_rule": "middle" if cut is None else str(cut),
            "timeout_s": "none" if timeout is None else float(timeout),
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
        ds["tp_estimate"] = (dims + ("distance",), tp_est, {"units": "nats",
                                                           "long_name": "estimated I(W_0; W_d)"})
        ds["tp_truth"] = (("process", "length", "distance"), tp_truth,
                          {"units": "nats", "long_name": "exact I(W_0; W_d)"})
        last = ds.sel(length=L_list[-1])
        ds["alpha_hat"] = -xr.apply_ufunc(
            lambda y: fit_exponent(d_list, y), last["tp_estimate"],
            input_core_dims=[["distance"]], vectorize=True)
        ds["alpha_true"] = -xr.apply_ufunc(
            lambda y: fit_exponent(d_list, y), last["tp_truth"],
            input_core_dims=[["distance"]], vectorize=True)
    return ds
