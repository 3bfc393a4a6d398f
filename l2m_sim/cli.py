"""The ``l2m-sim`` command-line tool.

One sub-command per main job. ``demo`` exists now; sample, exact MI, estimator
validation, training, sweeps and plots slot in as further sub-commands: each one adds a
``_add_<name>(subparsers)`` function that builds its parser and sets ``func`` to a
handler ``(args, command) -> exit code``.

Exit codes: 0 success, 1 failure while running, 2 bad arguments or refusing to
overwrite an existing output file.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from . import __version__

__all__ = ["main", "build_parser"]


def _int_in(lo: int, hi: int | None = None):
    """An argparse ``type`` accepting integers in ``[lo, hi]`` with a message naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    return parse


# ---------------------------------------------------------------------- demo


def _add_demo(sub) -> None:
    from .demo import COUPLED_LEVELS_LIMIT, LEVELS_MAX_LIMIT, DemoConfig

    defaults = DemoConfig()
    p = sub.add_parser(
        "demo",
        help="exact bipartite / two-point scaling tables of the study's families",
        description=("Compute the exact bipartite MI (middle cut) and two-point MI of the "
                     "study's 'subvolume' and 'log' hierarchical families, uncoupled and "
                     "coupled, print the tables, and write OUT/demo.nc and OUT/demo.png."),
    )
    p.add_argument("--levels-max", type=_int_in(2, LEVELS_MAX_LIMIT), default=defaults.levels_max,
                   metavar="N", help=f"largest level, L = 4**N (default {defaults.levels_max})")
    p.add_argument("--coupled-levels-max", type=_int_in(2, COUPLED_LEVELS_LIMIT), default=None,
                   metavar="N", help=("largest level of the coupled variants (dense log-det; "
                                      f"default min({defaults.coupled_levels_max}, --levels-max))"))
    p.add_argument("--fit-levels", type=_int_in(2), default=defaults.fit_levels, metavar="N",
                   help=f"fit the exponent over the last N levels (default {defaults.fit_levels})")
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
    cfg = DemoConfig(levels_max=args.levels_max, coupled_levels_max=coupled, fit_levels=args.fit_levels)
    try:
        check_outputs(args.out, args.force)
    except (FileExistsError, NotADirectoryError) as exc:
        print(f"l2m-sim demo: error: {exc}", file=sys.stderr)
        return 2
    run(cfg, out=args.out, force=args.force, command=command)
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
    _add_demo(sub)
    return parser


def main(argv=None) -> int:
    """Run ``l2m-sim`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = shlex.join(["l2m-sim", *argv])
    return args.func(args, command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
