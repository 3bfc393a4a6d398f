"""l2m-sim: processes with exactly known mutual-information structure.

Study long-context sequence models on processes whose bipartite exponent beta and
two-point exponent alpha are set by the user, with exact mutual information (nats) and
exact per-position conditionals (the "L2M condition": history state must grow like the
bipartite MI, ~ L^beta).
"""

import sys as _sys

from .protocol import Exponents, GaussianProcess, Process, TokenProcess
from .processes import (
    AR1,
    ARMA,
    DEFAULT_COUPLING,
    DriftingSantaFe,
    FractionalGaussianNoise,
    HierarchicalDiscrete,
    HierarchicalGaussian,
    HierarchicalMarkov,
    Level,
    MarkovChain,
    SantaFe,
    StationaryGaussian,
    hadamard_mixing,
    paper_family,
    paper_mixing,
)
from .processes.design import Design, design

# Module paths from before the families moved into ``l2m_sim.processes`` stay importable
# (``from l2m_sim.mixing import ...``): the old name is the same module object.
for _old in ("hierarchical", "mixing", "design", "stationary", "markov", "discrete", "santafe"):
    _sys.modules.setdefault(f"{__name__}.{_old}", _sys.modules[f"{__name__}.processes.{_old}"])
del _old
from .registry import (
    Family,
    GroundTruthTask,
    as_task,
    families,
    make_process,
    process_id,
)
from .validate import TaskEstimator, validate


_LAZY_MODULES = ("estimators", "models", "training", "sweep", "plot", "yardsticks")


def __getattr__(name):
    # torch-backed parts (estimators, models, training) load on first use, so that
    # ``import l2m_sim`` stays light
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name == "train":
        return importlib.import_module(".training", __name__).train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "Process",
    "GaussianProcess",
    "TokenProcess",
    "HierarchicalGaussian",
    "Level",
    "Exponents",
    "paper_family",
    "paper_mixing",
    "hadamard_mixing",
    "DEFAULT_COUPLING",
    "Design",
    "design",
    "StationaryGaussian",
    "AR1",
    "ARMA",
    "FractionalGaussianNoise",
    "MarkovChain",
    "HierarchicalMarkov",
    "HierarchicalDiscrete",
    "SantaFe",
    "DriftingSantaFe",
    "Family",
    "GroundTruthTask",
    "as_task",
    "families",
    "make_process",
    "process_id",
    "TaskEstimator",
    "validate",
    "train",
]
