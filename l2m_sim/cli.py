"""The ``l2m-sim`` command-line tool.

One sub-command per main job: ``families`` (what can be simulated), ``sample``, ``mi``
(exact tables), ``validate`` (estimators against the truth), ``train``, ``sweep CONFIG``,
``plot RESULTS`` and ``demo``. Each has a ``_add_<name>(subparsers)`` function that builds
its parser and sets ``func`` to a handler ``(args, command) -> exit code``. Processes are
named by family or id (``l2m-sim families`` lists them), e.g. ``subvolume``,
``ar1:phi=0.5`` or ``markov-binary:flip=0.2,length=64``.

Exit codes: 0 success, 2 any error: bad arguments (checked before any work, output paths
included), refusing to overwrite an existing output file, or a failure while running. An
error is one line on stderr (``l2m-sim COMMAND: error: ...``), never a traceback (set
``L2M_SIM_TRACEBACK=1`` to see one when debugging).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from pathlib import Path

from . import __version__
from ._names import SSM_MODELS, TRAIN_MODELS
from .protocol import check_float, check_int

__all__ = ["main", "build_parser"]


def _int_in(lo: int, hi: int | None = None):
    """An argparse ``type`` accepting integers in ``[lo, hi]`` with a message naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        try:
            return check_int("the value", value, lo, hi)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


# ---------------------------------------------------------------------- demo


def _add_demo(sub) -> None:
    from .demo import COUPLED_LEVELS_LIMIT, LEVELS_MAX_LIMIT, DemoConfig

    defaults = DemoConfig()
    p = sub.add_parser(
        "demo",
        help="exact bipartite / two-point scaling tables of the study's families",
        description=("Part 1: compute the exact bipartite MI (middle cut) and two-point MI "
                     "of the study's 'subvolume' and 'log' hierarchical families, uncoupled "
                     "and coupled, print the tables, and write OUT/demo.nc and OUT/demo.png. "
                     "Part 2: the same for one process of every kind (Gaussian, Markov, "
                     "tree, discrete sub-volume) over L = 16..1024 as a resumable sweep, "
                     "written to OUT/demo_families.nc and OUT/demo_families_exact_mi.png."),
    )
    p.add_argument("--levels-max", type=_int_in(2, LEVELS_MAX_LIMIT), default=defaults.levels_max,
                   metavar="N", help=f"largest level, L = 4**N (default {defaults.levels_max})")
    p.add_argument("--coupled-levels-max", type=_int_in(2, COUPLED_LEVELS_LIMIT), default=None,
                   metavar="N", help=("largest level of the coupled variants (dense log-det; "
                                      f"default min({defaults.coupled_levels_max}, --levels-max))"))
    p.add_argument("--fit-levels", type=_int_in(2), default=defaults.fit_levels, metavar="N",
                   help=f"fit the exponent over the last N levels (default {defaults.fit_levels})")
    p.add_argument("--no-families", action="store_true",
                   help="skip part 2 (the exact-MI sweep over every kind of process)")
    p.add_argument("--out", default="results", metavar="DIR",
                   help="output folder (default: results)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=_run_demo, parser=p)


def _run_demo(args, command: str) -> int:
    from .demo import DemoConfig, check_outputs, run

    coupled = args.coupled_levels_max
    if coupled is None:
        coupled = min(DemoConfig.coupled_levels_max, args.levels_max)
    elif coupled > args.levels_max:
        args.parser.error(f"--coupled-levels-max must be <= --levels-max ({args.levels_max}), got {coupled}")
    if args.fit_levels > args.levels_max:
        args.parser.error(f"--fit-levels must be <= --levels-max ({args.levels_max}), "
                          f"got {args.fit_levels}")
    if _check_out("demo", args.out, folder=True):
        return 2
    cfg = DemoConfig(levels_max=args.levels_max, coupled_levels_max=coupled, fit_levels=args.fit_levels)
    try:
        check_outputs(args.out, args.force)
    except (FileExistsError, NotADirectoryError) as exc:
        print(f"l2m-sim demo: error: {exc}", file=sys.stderr)
        return 2
    run(cfg, out=args.out, force=args.force, command=command, families=not args.no_families)
    return 0


# ---------------------------------------------------------------------- helpers


#: Largest seed (seeds are stored as int64 in the results files).
SEED_MAX = 2**63 - 1


def _float_in(lo: float = 0.0, hi: float = math.inf):
    """An argparse ``type`` accepting finite numbers in ``(lo, hi]``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        try:
            return check_float("the value", value, lo, None if hi == math.inf else hi,
                               lo_open=True)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


_float_pos = _float_in(0.0)


def _out_problem(path, option: str = "--out", suffixes=None, folder: bool = False):
    """What is wrong with an output path, checked before any work (None: fine).

    ``folder``: the path is a folder to create or fill; otherwise a file whose parent folder
    is created when missing (no ancestor may be a file; an existing target must not be a
    folder; a writable folder is needed where it exists).
    """
    text = str(path)
    if not text:
        return f"{option} must not be empty"
    if suffixes and not text.endswith(tuple(suffixes)):
        return f"{option} must end in {' or '.join(suffixes)}, got {text!r}"
    p = Path(text)
    if not folder and (text.endswith(("/", os.sep)) or p.is_dir()):
        return f"{option} {text!r} is a folder; give a file path"
    if folder and p.exists() and not p.is_dir():
        return f"{option} {text!r} exists and is not a folder"
    start = p if folder else p.parent
    for parent in [start, *start.parents]:
        if parent.exists():
            if not parent.is_dir():
                return f"{option} {text!r}: {str(parent)!r} is a file, not a folder"
            if not os.access(parent, os.W_OK | os.X_OK):
                return f"{option} {text!r}: the folder {str(parent)!r} is not writable"
            break
    return None


def _check_out(command: str, path, option: str = "--out", suffixes=None,
               folder: bool = False) -> bool:
    """Print the problem with an output path and return True (the caller exits 2)."""
    problem = _out_problem(path, option, suffixes, folder)
    if problem:
        print(f"l2m-sim {command}: error: {problem}", file=sys.stderr)
        return True
    return False


def _refuse_existing(path, force: bool, name: str) -> bool:
    """Print an error and return True if ``path`` exists and may not be overwritten."""
    from pathlib import Path

    if Path(path).exists() and not force:
        print(f"l2m-sim: error: {name} {str(path)!r} exists; pass --force to overwrite it",
              file=sys.stderr)
        return True
    return False


def _process_at(spec: str, length):
    """A process from an id / family name, at ``length`` if given."""
    from .registry import make_process

    return make_process(spec, length)


def _fail(command: str, exc: Exception) -> int:
    print(f"l2m-sim {command}: error: {exc}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------------- families


def _add_families(sub) -> None:
    p = sub.add_parser("families", help="list the process families and their parameters",
                       description="List the registered process families, their default "
                                   "ids and what they are.")
    p.set_defaults(func=_run_families, parser=p)


def _run_families(args, command: str) -> int:
    from .registry import families

    for name, fam in families().items():
        print(f"{name:<20} {fam.kind:<9} {fam.description}")
        print(f"{'':<20} {'':<9} default id: {fam.id()}  (length set by {fam.length_param})")
    return 0


# ---------------------------------------------------------------------- sample


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="draw seeded samples of a process to .npy or .nc",
                       description="Draw N seeded sequences of a process and save them "
                                   "(.npy: the array; .nc: a labelled dataset with the id).")
    p.add_argument("process", help="family name or process id (see `l2m-sim families`)")
    p.add_argument("--n", type=_int_in(1), default=8, help="number of sequences (default 8)")
    p.add_argument("--length", type=_int_in(2), default=None,
                   help="sequence length (default: the id's own)")
    p.add_argument("--seed", type=_int_in(0, SEED_MAX), default=0, help="seed (default 0)")
    p.add_argument("--out", required=True, metavar="FILE", help="output .npy or .nc file")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_run_sample, parser=p)


def _run_sample(args, command: str) -> int:
    import numpy as np
    import xarray as xr

    if not args.out.endswith((".npy", ".nc")):
        args.parser.error(f"--out must end in .npy or .nc, got {args.out!r}")
    if _check_out("sample", args.out):
        return 2
    if _refuse_existing(args.out, args.force, "--out"):
        return 2
    try:
        from ._seeds import cell_streams, stream_id

        p = _process_at(args.process, args.length)
        # the stream validate() draws for the cell (process id, length, n, seed)
        rng, _ = cell_streams(stream_id(args.process, p.length), p.length, args.n, args.seed)
        x = p.sample(args.n, rng=rng)
    except (ValueError, TypeError) as exc:
        return _fail("sample", exc)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if args.out.endswith(".npy"):
        np.save(args.out, x)
    else:
        dims = ("sample", "position") + (("channel",) if x.ndim == 3 else ())
        xr.Dataset({"x": (dims, x)}, attrs={"process": args.process, "seed": args.seed,
                                             "command": command}).to_netcdf(
            args.out, engine="h5netcdf")
    print(f"wrote {args.out}: {x.shape} {x.dtype} from {p!r}")
    return 0


# ---------------------------------------------------------------------- mi


def _add_mi(sub) -> None:
    p = sub.add_parser("mi", help="exact bipartite and two-point MI tables",
                       description="Print the exact bipartite MI (at --cut, default the "
                                   "middle) and two-point MI I(W_0; W_d) of processes over "
                                   "lengths, in nats, with the fitted exponent.")
    p.add_argument("processes", nargs="+", help="family names or process ids")
    p.add_argument("--lengths", type=_int_in(2), nargs="+", default=None,
                   help="sequence lengths (default: each id's own)")
    p.add_argument("--distances", type=_int_in(1), nargs="+", default=[1, 4, 16],
                   help="two-point distances (default 1 4 16)")
    p.add_argument("--out", default=None, metavar="FILE", help="also write a .nc dataset")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_run_mi, parser=p)


def _run_mi(args, command: str) -> int:
    import numpy as np
    import xarray as xr

    from ._util import fit_exponent

    if args.out is not None and (_check_out("mi", args.out)
                                 or _refuse_existing(args.out, args.force, "--out")):
        return 2
    for option, values in (("--lengths", args.lengths), ("--distances", args.distances),
                           ("processes", args.processes)):
        dup = sorted({str(v) for v in values or [] if values.count(v) > 1})
        if dup:
            args.parser.error(f"{option} must be distinct, got {', '.join(dup)} more than once")
    rows = []
    for spec in args.processes:
        lengths = args.lengths or [None]
        for L in lengths:
            try:
                p = _process_at(spec, L)
                bp, se = p.bipartite_mi_estimate()  # exact, or the one Monte-Carlo path
            except (ValueError, TypeError, FloatingPointError) as exc:
                return _fail("mi", exc)
            try:
                tp = [p.two_point_mi(0, d) if d < p.length else math.nan
                      for d in args.distances]
            except (ValueError, TypeError) as exc:
                return _fail("mi", exc)
            rows.append((spec, p.length, bp, se, tp))
            del p
    head = f"{'process':<28} {'L':>8} {'I_BP (nats)':>14} " + " ".join(
        f"{'I(0;' + str(d) + ')':>10}" for d in args.distances)
    print(head)
    for spec, L, bp, se, tp in rows:
        bps = f"{bp:.6g}" + (f"±{se:.2g}" if se else "")
        print(f"{spec:<28} {L:>8} {bps:>14} " + " ".join(f"{v:>10.4g}" for v in tp))
    if args.lengths and len(args.lengths) >= 2:
        for spec in args.processes:
            r = [(L, bp) for s, L, bp, _, _ in rows if s == spec]
            print(f"fitted exponent of I_BP vs L, {spec}: "
                  f"{fit_exponent([a for a, _ in r], [b for _, b in r]):.4f}")
    if args.out is not None:
        specs = list(dict.fromkeys(s for s, *_ in rows))
        Ls = sorted({L for _, L, *_ in rows})
        bpa = np.full((len(specs), len(Ls)), np.nan)
        sea = np.full_like(bpa, np.nan)
        tpa = np.full((len(specs), len(Ls), len(args.distances)), np.nan)
        for s, L, bp, se, tp in rows:
            i, j = specs.index(s), Ls.index(L)
            bpa[i, j], sea[i, j], tpa[i, j] = bp, se, tp
        ds = xr.Dataset({"bipartite_mi": (("process", "length"), bpa, {"units": "nats"}),
                         "bipartite_mi_se": (("process", "length"), sea, {"units": "nats"}),
                         "two_point_mi": (("process", "length", "distance"), tpa,
                                          {"units": "nats"})},
                        coords={"process": specs, "length": Ls, "distance": args.distances},
                        attrs={"command": command})
        ds.to_netcdf(args.out, engine="h5netcdf")
        print(f"wrote {args.out}")
    return 0


# ---------------------------------------------------------------------- validate


def _add_validate(sub) -> None:
    p = sub.add_parser("validate", help="score MI estimators against the exact truth",
                       description="Run estimators on samples of processes over lengths, "
                                   "sample sizes and seeds; print estimate vs truth and "
                                   "write the xarray dataset.")
    p.add_argument("--estimators", nargs="+", default=["gaussian", "ksg1"],
                   help="estimator names (default: gaussian ksg1)")
    p.add_argument("--processes", nargs="+", default=["subvolume", "ar1"],
                   help="family names or ids (default: subvolume ar1)")
    p.add_argument("--lengths", type=_int_in(2), nargs="+", default=[16, 64],
                   help="sequence lengths (default 16 64)")
    p.add_argument("--n-samples", type=_int_in(2), nargs="+", default=[2000],
                   help="sample sizes (default 2000)")
    p.add_argument("--seeds", type=_int_in(0, SEED_MAX), nargs="+", default=[0],
                   help="seeds (default 0)")
    p.add_argument("--timeout", type=_float_pos, default=None,
                   help="seconds per estimator call (killed past it; default: none)")
    p.add_argument("--out", default="results/validate.nc", metavar="FILE",
                   help="output dataset (default results/validate.nc)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_run_validate, parser=p)


def _run_validate(args, command: str) -> int:
    from pathlib import Path

    from .estimators import ESTIMATORS
    from .validate import validate

    unknown = [e for e in args.estimators if e not in ESTIMATORS]
    if unknown:
        args.parser.error(f"--estimators: unknown {unknown}; known: {', '.join(ESTIMATORS)}")
    if _check_out("validate", args.out):
        return 2
    if _refuse_existing(args.out, args.force, "--out"):
        return 2
    try:
        ds = validate(args.estimators, args.processes, lengths=args.lengths,
                      n_samples=args.n_samples, seeds=args.seeds, timeout=args.timeout,
                      progress=True)
    except (ValueError, TypeError) as exc:
        return _fail("validate", exc)
    ds.attrs["command"] = command
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(args.out, engine="h5netcdf")
    failed = int((ds.status != "ok").sum())
    if failed == ds.status.size:
        print(f"l2m-sim validate: error: no estimator call returned a value ({failed} of "
              f"{failed}); first message: {str(ds.message.values.ravel()[0])[:300]} "
              f"(dataset written to {args.out})", file=sys.stderr)
        return 2
    red = [d for d in ("n_samples", "seed") if d in ds.dims]
    est = ds.estimate.mean(red)
    print(f"{'estimator':<12} {'process':<28} {'L':>6} {'truth':>9} {'estimate':>9} {'rel.err':>8}")
    for e in ds.estimator.values:
        for pr in ds.process.values:
            for L in ds.length.values:
                t = float(ds.truth.sel(process=pr, length=L))
                v = float(est.sel(estimator=e, process=pr, length=L))
                print(f"{e:<12} {pr:<28} {L:>6} {t:>9.4f} {v:>9.4f} {(v - t) / t if t else float('nan'):>8.3f}")
    if failed:
        print(f"{failed} estimator call(s) did not return a value (see status / message)")
    print(f"wrote {args.out}")
    return 0


# ---------------------------------------------------------------------- train


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model on a process (exact-KL evaluation)",
                       description="Train a small model on fresh samples of a process (exact "
                                   "conditional KL loss for Gaussian processes, cross-entropy "
                                   "for token processes) and write the results dataset.")
    p.add_argument("process", help="family name or process id (e.g. subvolume:channels=4)")
    p.add_argument("--model", default="gpt",
                   choices=list(TRAIN_MODELS),
                   help="model family (default gpt)")
    p.add_argument("--length", type=_int_in(2), default=None,
                   help="sequence length (default: the id's own)")
    p.add_argument("--d-model", type=_int_in(1), default=32, help="width (default 32)")
    p.add_argument("--n-layer", type=_int_in(1), default=2, help="layers (default 2)")
    p.add_argument("--d-state", type=_int_in(1), default=None,
                   help="SSM state size per channel (mamba / mamba2 only)")
    p.add_argument("--steps", type=_int_in(1), default=300, help="optimiser steps (default 300)")
    p.add_argument("--batch-size", type=_int_in(1), default=8, help="sequences per step (default 8)")
    p.add_argument("--lr", type=_float_in(0.0, 1.0), default=3e-3,
                   help="peak learning rate, in (0, 1] (default 3e-3)")
    p.add_argument("--seed", type=_int_in(0, SEED_MAX), default=0, help="seed (default 0)")
    p.add_argument("--eval-samples", type=_int_in(1), default=128,
                   help="held-out sequences for the final evaluation (default 128)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--checkpoint", default=None, metavar="FILE",
                   help="checkpoint file: saved periodically, resumed from if it exists")
    p.add_argument("--out", default="results/train.nc", metavar="FILE",
                   help="output dataset (default results/train.nc)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_run_train, parser=p)


def _device_problem(text):
    """What is wrong with a ``--device`` (None: usable here)."""
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        return f"--device must be cpu, cuda, cuda:N or mps, got {text!r}"
    if dev.type == "cpu":
        return None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return f"--device {text!r}: CUDA is not available on this machine (use cpu)"
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return (f"--device {text!r}: this machine has {torch.cuda.device_count()} CUDA "
                    f"device(s) (cuda:0..cuda:{torch.cuda.device_count() - 1})")
        return None
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            return f"--device {text!r}: MPS is not available on this machine (use cpu)"
        return None
    return f"--device must be cpu, cuda, cuda:N or mps, got {text!r}"


def _checkpoint_problem(path):
    """What is wrong with a ``--checkpoint`` (None: absent, to be created, or loadable)."""
    problem = _out_problem(path, "--checkpoint")
    if problem:
        return problem
    p = Path(path)
    if not p.exists():
        return None
    import torch

    try:
        state = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        return (f"--checkpoint {str(path)!r} is not a readable l2m-sim checkpoint "
                f"({type(exc).__name__}); delete it or choose another path")
    if not isinstance(state, dict) or not {"run_key", "model", "optimizer", "step"} <= set(state):
        return (f"--checkpoint {str(path)!r} is not an l2m-sim checkpoint (no run_key / model / "
                f"optimizer / step); delete it or choose another path")
    return None


def _run_train(args, command: str) -> int:
    from ._limits import check_memory

    if args.d_state is not None and args.model not in SSM_MODELS:
        args.parser.error(f"--d-state applies to mamba / mamba2, not {args.model}")
    if _check_out("train", args.out):
        return 2
    if _refuse_existing(args.out, args.force, "--out"):
        return 2
    if args.device is not None:
        problem = _device_problem(args.device)
        if problem:
            print(f"l2m-sim train: error: {problem}", file=sys.stderr)
            return 2
    if args.checkpoint is not None:
        problem = _checkpoint_problem(args.checkpoint)
        if problem:
            print(f"l2m-sim train: error: {problem}", file=sys.stderr)
            return 2
    try:
        p = _process_at(args.process, args.length)
        # parameters, gradients and optimiser state (~16 bytes per parameter, ~12 d^2 per
        # layer) and the activations of one batch: refused before the model is built
        d, nl = args.d_model, args.n_layer
        C = p.channels
        check_memory("--d-model", 16.0 * 12 * nl * d * d
                     + 4.0 * 32 * args.batch_size * p.length * max(d, C) * nl,
                     f"a {args.model} of width {d} with {nl} layer(s) on length {p.length}")
    except (ValueError, TypeError) as exc:
        return _fail("train", exc)
    mc = {"d_model": args.d_model, "n_layer": args.n_layer}
    if args.d_state is not None:
        mc["d_state"] = args.d_state
    from .training import train

    try:
        ds = train(p, args.model, model_config=mc, steps=args.steps, batch_size=args.batch_size,
                   lr=args.lr, seed=args.seed, eval_samples=args.eval_samples,
                   device=args.device, checkpoint=args.checkpoint, progress=True)
    except (ValueError, TypeError) as exc:
        return _fail("train", exc)
    ds.attrs["command"] = command
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(args.out, engine="h5netcdf")
    if not math.isfinite(float(ds.kl.item())):
        print(f"l2m-sim train: error: training diverged (held-out KL {ds.kl.item()}); try a "
              f"smaller --lr (dataset written to {args.out})", file=sys.stderr)
        return 2
    print(f"{args.model} on {p!r}: held-out KL {ds.kl.item():.5f} nats/token/channel, "
          f"NLL {ds.nll.item():.4f} (exact {ds.nll_exact.item():.4f}), history state at the "
          f"middle cut {int(ds.history_state)} floats, {int(ds.n_params)} parameters, "
          f"{ds.tokens_per_second.item():.0f} tokens/s")
    print(f"wrote {args.out}")
    return 0


# ---------------------------------------------------------------------- sweep


def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="run a TOML sweep (resumable; serial or on Dask)",
                       description="Run the sweep described in CONFIG (sections [sweep] "
                                   "job/out, [grid], [fixed]). Finished cells are kept in "
                                   "OUT.cells/; running again resumes.")
    p.add_argument("config", help="sweep TOML file")
    p.add_argument("--out", default=None, help="combined netCDF (default: [sweep] out)")
    p.add_argument("--scheduler", default=None,
                   help="'local' for a Dask LocalCluster, or a scheduler address "
                        "tcp://host:port (default: run in this process)")
    p.add_argument("--workers", type=_int_in(1), default=2,
                   help="workers of the local cluster (default 2)")
    p.add_argument("--retry-failed", action="store_true", help="run failed cells again")
    p.add_argument("--force", action="store_true",
                   help="discard finished cells and overwrite the output")
    p.set_defaults(func=_run_sweep, parser=p)


def _run_sweep(args, command: str) -> int:
    import xarray as xr

    from .sweep import SweepError, cells_dir, load_sweep, run_sweep

    try:
        sw = load_sweep(args.config)
    except SweepError as exc:
        return _fail("sweep", exc)
    out_text = args.out or sw.out or "results/sweep.nc"
    if _check_out("sweep", out_text, "--out" if args.out else "[sweep] out"):
        return 2
    out = Path(out_text)
    if cells_dir(out).exists() and not cells_dir(out).is_dir():
        print(f"l2m-sim sweep: error: --out {str(out)!r}: its cell folder "
              f"{str(cells_dir(out))!r} is a file", file=sys.stderr)
        return 2
    if out.exists() and not args.force and not cells_dir(out).exists():
        print(f"l2m-sim sweep: error: {str(out)!r} exists and is not this sweep's output; "
              f"pass --force to overwrite it", file=sys.stderr)
        return 2
    if out.exists() and not args.force:
        try:
            with xr.open_dataset(out, engine="h5netcdf") as old:
                same = old.attrs.get("job") == sw.job
        except Exception as exc:  # noqa: BLE001 - unreadable: rebuilt from the cells
            print(f"l2m-sim sweep: warning: {str(out)!r} is unreadable ({type(exc).__name__}); "
                  f"rebuilding it from the cells in {str(cells_dir(out))!r}", file=sys.stderr)
            same = True
        if not same:
            print(f"l2m-sim sweep: error: {str(out)!r} holds another sweep; pass --force to "
                  f"overwrite it", file=sys.stderr)
            return 2
    try:
        ds = run_sweep(sw, out=out, scheduler=args.scheduler, workers=args.workers,
                       force=args.force, retry_failed=args.retry_failed)
    except (SweepError, OSError) as exc:
        return _fail("sweep", exc)
    n_bad = int((ds["status"] != "ok").sum()) if "status" in ds else 0
    print(f"wrote {out}: {ds.attrs['n_cells']} cells, {n_bad} failed")
    return 0


# ---------------------------------------------------------------------- plot


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="standard figures from a results file",
                       description="Draw the standard figures of a results netCDF (exact MI "
                                   "tables, estimator validation, training runs) as PNGs.")
    p.add_argument("results", help="results netCDF file")
    p.add_argument("--out", default=None,
                   help="stem of the PNG files (default: next to RESULTS)")
    p.add_argument("--force", action="store_true", help="overwrite existing PNGs")
    p.set_defaults(func=_run_plot, parser=p)


def _run_plot(args, command: str) -> int:
    from .plot import plot_results

    if args.out is not None and _check_out("plot", args.out):
        return 2
    try:
        paths = plot_results(args.results, args.out, force=args.force)
    except (FileNotFoundError, FileExistsError, ValueError, OSError) as exc:
        return _fail("plot", exc)
    for path in paths:
        print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    """The ``l2m-sim`` parser with all sub-commands."""
    parser = argparse.ArgumentParser(
        prog="l2m-sim",
        description="Processes with exactly known mutual-information structure (all MI in nats).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_families(sub)
    _add_sample(sub)
    _add_mi(sub)
    _add_validate(sub)
    _add_train(sub)
    _add_sweep(sub)
    _add_plot(sub)
    _add_demo(sub)
    return parser


def main(argv=None) -> int:
    """Run ``l2m-sim`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = shlex.join(["l2m-sim", *argv])
    try:
        return args.func(args, command)
    except KeyboardInterrupt:
        print(f"l2m-sim {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 2
        if os.environ.get("L2M_SIM_TRACEBACK"):
            raise
        text = " ".join(str(exc).split())[:500]
        print(f"l2m-sim {args.command}: error: {type(exc).__name__}: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
