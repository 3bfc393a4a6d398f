"""l2m-sim: processes with exactly known mutual-information structure.

Study long-context sequence models on processes whose bipartite exponent beta and
two-point exponent alpha are set by the user, with exact mutual information (nats) and
exact per-position conditionals (the "L2M condition": history state must grow like the
bipartite MI, ~ L^beta).
"""

from .protocol import GaussianProcess, Process, TokenProcess
from .hierarchical import (
    DEFAULT_COUPLING,
    Exponents,
    HierarchicalGaussian,
    Level,
    paper_family,
)
from .mixing import hadamard_mixing, paper_mixing
from .design import Design, design
from .stationary import AR1, ARMA, FractionalGaussianNoise, StationaryGaussian
from .markov import HierarchicalMarkov, MarkovChain
from .discrete import HierarchicalDiscrete
from .registry import (
    Family,
    GroundTruthTask,
    as_task,
    families,
    make_process,
    process_id,
)
from .validate import TaskEstimator, validate


def __getattr__(name):
    # ``l2m_sim.estimators`` imports torch (neural estimators): load it on first use
    if name == "estimators":
        import importlib

        return importlib.import_module(".estimators", __name__)
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
    "Family",
    "GroundTruthTask",
    "as_task",
    "families",
    "make_process",
    "process_id",
    "TaskEstimator",
    "validate",
]
