"""The main demo: exact scaling tables of the study's two hierarchical families.

The demo makes the central point of the package visible in a few seconds. For the
source study's 4x4 matrix (``b = 4``) it computes, exactly and in nats,

* the **bipartite MI** at the middle cut, ``I(W_{1:L/2}; W_{L/2+1:L})``, against the length
  ``L = 4, 16, ..., 4**levels_max`` for the "subvolume" family (``k = 3``, grows like
  ``L**beta`` with ``beta = log_4 3``) and the "log" family (``k = 1``: constant without
  boundary coupling, ``~ log L`` with it), each uncoupled and with boundary coupling;
* the exponent fitted to the last few levels beside the closed forms of
  :meth:`~l2m_sim.HierarchicalGaussian.exponents` (``beta``, ``alpha_avg``, ``alpha_env``,
  ``alpha_antipodal``);
* the **two-point MI** against the distance ``d = 4**m`` (mean of the exact
  ``two_point_mi`` over pairs at that distance) and for the first-versus-last pair.

What it shows: the first-versus-last two-point MI is the *same* for both families at every
``L``, while their bipartite MI differs by orders of magnitude -- two-point decay cannot
tell sub-volume growth from a constant, and a model's history state must grow like the
bipartite MI (the L2M condition), not like anything the two-point curve suggests.

Coupled designs are evaluated by a dense log-det (``L <= DENSE_MAX``), which is slow
beyond ``L = 4**5`` on a small machine; the coupled part therefore stops at
``coupled_levels_max`` (default 5).

Outputs: aligned tables on stdout, ``demo.nc`` (an :class:`xarray.Dataset`, netCDF via
h5netcdf, every information variable with ``units = "nats"``) and ``demo.png`` (two
log-log panels).
"""

from __future__ import annotations

import sys
from pathlib import Path

import xarray as xr

from .report import format_families, format_tables, plot_dataset
from .tables import (
    BRANCHING,
    COUPLED_LEVELS_LIMIT,
    COUPLINGS,
    FAMILIES,
    FAMILY_DISTANCES,
    FAMILY_SWEEP,
    LEVELS_MAX_LIMIT,
    OUTPUT_FILES,
    SANTA_FE_DRIFT,
    DemoConfig,
    bipartite_tables,
    build_dataset,
    exponent_table,
    families_sweep,
    two_point_table,
)

__all__ = ["DemoConfig", "output_paths", "check_outputs", "build_dataset", "format_tables",
           "plot_dataset", "families_sweep", "format_families", "run", "BRANCHING",
           "COUPLED_LEVELS_LIMIT", "COUPLINGS", "FAMILIES", "FAMILY_DISTANCES", "FAMILY_SWEEP",
           "LEVELS_MAX_LIMIT", "OUTPUT_FILES", "SANTA_FE_DRIFT", "bipartite_tables",
           "exponent_table", "two_point_table"]


def output_paths(out) -> dict[str, Path]:
    """Paths of the demo's output files inside the folder ``out``."""
    return {key: Path(out) / name for key, name in OUTPUT_FILES.items()}


def check_outputs(out, force: bool = False) -> dict[str, Path]:
    """Validate the output folder; refuse to overwrite existing files unless ``force``.

    Raises
    ------
    FileExistsError
        An output file exists and ``force`` is false (the message names the path).
    NotADirectoryError
        ``out`` exists and is not a folder.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output folder {str(out)!r} exists and is not a folder")
    paths = output_paths(out)
    if not force:
        for path in paths.values():
            if path.exists():
                raise FileExistsError(f"{str(path)!r} exists; pass --force to overwrite it")
    return paths


def run(cfg: DemoConfig | None = None, out="results", force: bool = False, command: str = "",
        stream=None, families: bool = True) -> xr.Dataset:
    """Compute, print and save the demo.

    Parameters
    ----------
    cfg : DemoConfig, optional
    out : path
        Output folder (created if missing); receives ``demo.nc`` and ``demo.png``.
    force : bool
        Overwrite existing output files.
    command : str
        Command line recorded in the Dataset attributes.
    stream : file, optional
        Where the tables are printed (default ``sys.stdout``).

    Returns
    -------
    xarray.Dataset
    """
    cfg = cfg or DemoConfig()
    stream = stream or sys.stdout
    paths = check_outputs(out, force)  # before any work: fail fast
    ds = build_dataset(cfg, command)
    Path(out).mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(paths["netcdf"], engine="h5netcdf")
    plot_dataset(ds, paths["figure"])
    print(format_tables(ds), file=stream)
    print(f"\nwrote {paths['netcdf']} and {paths['figure']}", file=stream)
    if families:
        from ..plot import plot_exact_mi

        fam = families_sweep(out, force=force)
        fam.attrs["command"] = command
        plot_exact_mi(fam, paths["families"], force=True)
        print("\n" + format_families(fam), file=stream)
        print(f"\nwrote {paths['families']} and {paths['families_figure']}", file=stream)
    return ds
