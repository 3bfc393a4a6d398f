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
]
