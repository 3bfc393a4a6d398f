"""The process families: laws over sequences with exactly known information structure.

Every family implements :class:`l2m_sim.protocol.Process` (shared members in
:mod:`~l2m_sim.processes._base`); the numba kernels live in
:mod:`~l2m_sim.processes._kernels`, one module per family.

=====================================  ==================================================
module                                 families
=====================================  ==================================================
:mod:`~l2m_sim.processes.hierarchical`  :class:`HierarchicalGaussian` (sub-volume law),
                                       with :mod:`~l2m_sim.processes.mixing` (row maps)
                                       and :mod:`~l2m_sim.processes.design` (a design
                                       from target exponents: ``l2m_sim.design``)
:mod:`~l2m_sim.processes.stationary`   :class:`StationaryGaussian`, :class:`ARMA`,
                                       :class:`AR1`, :class:`FractionalGaussianNoise`
:mod:`~l2m_sim.processes.markov`       :class:`MarkovChain`,
                                       :class:`InhomogeneousMarkovChain`
:mod:`~l2m_sim.processes.tree`         :class:`HierarchicalMarkov` (tree / grammar)
:mod:`~l2m_sim.processes.discrete`     :class:`HierarchicalDiscrete` (sub-volume tokens)
:mod:`~l2m_sim.processes.santafe`      :class:`SantaFe`, :class:`DriftingSantaFe`
=====================================  ==================================================
"""

from .hierarchical import DEFAULT_COUPLING, HierarchicalGaussian, Level, paper_family
from .mixing import hadamard_mixing, paper_mixing
from .stationary import AR1, ARMA, FractionalGaussianNoise, StationaryGaussian
from .markov import InhomogeneousMarkovChain, MarkovChain
from .tree import HierarchicalMarkov
from .discrete import HierarchicalDiscrete
from .santafe import DriftingSantaFe, SantaFe

__all__ = [
    "HierarchicalGaussian",
    "Level",
    "paper_family",
    "DEFAULT_COUPLING",
    "hadamard_mixing",
    "paper_mixing",
    "StationaryGaussian",
    "AR1",
    "ARMA",
    "FractionalGaussianNoise",
    "MarkovChain",
    "InhomogeneousMarkovChain",
    "HierarchicalMarkov",
    "HierarchicalDiscrete",
    "SantaFe",
    "DriftingSantaFe",
]
