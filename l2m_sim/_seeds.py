"""Sample streams keyed on what they sample, never on where a cell sits in a grid.

Every seeded stream of samples in l2m-sim (the harness :func:`l2m_sim.validate`, its
one-cell sweep job, ``l2m-sim sample``) derives from the identity of the cell:
``(process id at its length, length, n, seed)``. The key is hashed with SHA-256 (stable
across runs, machines and Python versions, unlike the salted built-in ``hash``) and the
digest is the entropy of a :class:`numpy.random.SeedSequence`. So a cell gives the same
samples alone, inside a larger batch, with other processes or lengths added in front, or
as one cell of a sweep; two different ids give unrelated streams.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["cell_seed_sequence", "cell_streams", "stream_id", "STREAM_VERSION"]

#: Part of every key: bump it only to change every stream on purpose.
STREAM_VERSION = "l2m-sim/streams/1"


def _check(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if int(value) < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return int(value)


def cell_seed_sequence(process_id: str, length: int, n: int, seed: int) -> np.random.SeedSequence:
    """The :class:`~numpy.random.SeedSequence` of one cell.

    Parameters
    ----------
    process_id : str
        The canonical id of the process at this length (every parameter spelled out, as
        ``Family.id_at_length`` gives it), or the ``repr`` of a process object.
    length, n, seed : int
        Sequence length, number of sequences and the user's seed (all >= 0).
    """
    if not isinstance(process_id, str):
        raise TypeError(f"process_id must be a str, got {type(process_id).__name__}")
    key = "\x00".join([STREAM_VERSION, process_id, str(_check("length", length)),
                       str(_check("n", n)), str(_check("seed", seed))])
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    return np.random.SeedSequence(words)


def cell_streams(process_id: str, length: int, n: int, seed: int):
    """``(data_rng, estimator_rng_seed)``: the Generator that draws the cell's samples and
    the :class:`~numpy.random.SeedSequence` every estimator's Generator starts from (each
    estimator gets a fresh ``default_rng`` of it, so all see the same randomness)."""
    data, est = cell_seed_sequence(process_id, length, n, seed).spawn(2)
    return np.random.default_rng(data), est


def stream_id(spec, length: int) -> str:
    """The key naming a process in :func:`cell_seed_sequence`: for an id or family name the
    canonical id at ``length`` (every parameter, length parameter set to give ``length``),
    so ``"ar1"``, ``"ar1:phi=0.5"`` and ``"ar1:length=7,phi=0.5"`` at the same length share
    their streams; for a process object its ``repr``."""
    if not isinstance(spec, str):
        return repr(spec)
    from .registry import family, parse_process_id

    name, params = parse_process_id(spec)
    fam = family(name)
    params = fam.params(**params)
    params.pop(fam.length_param, None)
    return fam.id_at_length(length, **params)
