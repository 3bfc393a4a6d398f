"""Named process families with stable ids, and the ground-truth task adapter.

Every family has a name and an ordered set of parameters with defaults. A **process id**
is the family name followed by *all* its parameters, in declared order::

    subvolume:levels=5,coupling=0.0,channels=1
    ar1:phi=0.9,length=64
    markov-binary:flip=0.1,length=256

so an id read back from a results file rebuilds exactly the same process
(:func:`make_process`), and two runs with the same id compare like with like. Values are
ints, floats (``repr``), ``true``/``false``, ``none`` or tuples of numbers joined by ``|``
(``arma:ar=0.5|-0.2,ma=0.3,length=128``).

A family has a *length parameter* (``levels`` for the tree-structured families, where
``L = b**levels``; ``length`` otherwise): :meth:`Family.at_length` builds the process of a
given sequence length, which is how sweeps and the validation harness vary ``L``.

:class:`GroundTruthTask` turns any process into the shape estimator benchmarks use:
``sample(n, rng) -> (X, Y)`` split at a cut, and ``mutual_information()`` (exact, or a
Monte-Carlo average of exact log-probabilities with its standard error where the family
has no exact bipartite MI at that size).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._limits import check_memory
from .protocol import Process, TokenProcess, bipartite_mi_estimate, check_cut, check_float, check_int

__all__ = [
    "Family",
    "GroundTruthTask",
    "families",
    "family",
    "make_process",
    "parse_process_id",
    "process_id",
    "canonical_id",
    "as_task",
]


# ------------------------------------------------------------------------------ factories
# Imports inside the factories keep ``import l2m_sim.registry`` light.


def _hierarchical(branching, copies, levels, coupling, channels, pair_mi):
    from .processes.hierarchical import HierarchicalGaussian

    # registry convention: pair_mi 0 means the default mixing (ids cannot hold None)
    strength = None if pair_mi is None or float(pair_mi) == 0.0 else float(pair_mi)
    return HierarchicalGaussian(branching, copies, levels, coupling=_coupling(coupling),
                                channels=channels, pair_mi=strength)


def _paper(name):
    def make(levels, coupling, channels):
        from .processes.hierarchical import paper_family

        return paper_family(name, levels, coupling=_coupling(coupling) or False,
                            channels=channels)

    return make


def _coupling(value):
    """Registry convention: coupling 0 means none (ids cannot hold ``None`` and 0 is the
    uncoupled map anyway)."""
    return None if value is None or float(value) == 0.0 else float(value)


def _ar1(phi, length, channels):
    from .processes.stationary import AR1

    return AR1(phi, length, channels=channels)


def _arma(ar, ma, length, channels):
    from .processes.stationary import ARMA

    # ids hold a one-term tuple as a plain number: accept scalars
    ar = tuple(np.atleast_1d(np.asarray(ar, dtype=float)).tolist())
    ma = tuple(np.atleast_1d(np.asarray(ma, dtype=float)).tolist())
    return ARMA(ar=ar, ma=ma, length=length, channels=channels)


def _fgn(hurst, length, channels):
    from .processes.stationary import FractionalGaussianNoise

    return FractionalGaussianNoise(hurst, length, channels=channels)


def _markov_binary(flip, length):
    from .processes.markov import MarkovChain

    f = check_float("flip", flip, 0.0, 1.0)
    return MarkovChain(np.array([[1 - f, f], [f, 1 - f]]), length)


def _markov_two_state(p, q, length):
    from .processes.markov import MarkovChain

    p, q = check_float("p", p, 0.0, 1.0), check_float("q", q, 0.0, 1.0)
    if p + q == 0.0:
        raise ValueError("p + q must be > 0 (p = q = 0 never leaves the start state)")
    return MarkovChain(np.array([[1 - p, p], [q, 1 - q]]), length)


def _all_equal(vocab, length):
    from .processes.markov import MarkovChain

    return MarkovChain.all_equal(vocab, length)


def _tree(branching, levels, vocab, flip):
    from .processes.markov import VOCAB_MAX
    from .processes.tree import HierarchicalMarkov

    f = check_float("flip", flip, 0.0, 1.0)
    M = check_int("vocab", vocab, 2, VOCAB_MAX)
    # before the (M, M) kernel exists: it and the exact methods' dense matrices
    check_memory("vocab", 100.0 * M * M, f"a tree process with vocab={M} (dense {M}x{M} "
                                         "matrices)")
    # symmetric kernel: keep the parent's symbol with prob 1 - flip, else uniform over others
    K = np.full((M, M), f / (M - 1))
    np.fill_diagonal(K, 1.0 - f)
    return HierarchicalMarkov(branching, levels, K)


def _discrete(branching, copies, levels, alphabet, noise, bijection):
    from .processes.discrete import HierarchicalDiscrete

    return HierarchicalDiscrete(branching, copies, levels, alphabet, noise=noise,
                                bijection=bijection)


def _santa_fe(exponent, facts, length):
    from .processes.santafe import SantaFe

    return SantaFe(exponent, facts, length)


def _santa_fe_drift(exponent, facts, length, flip_scale, flip_exponent):
    from .processes.santafe import DriftingSantaFe

    return DriftingSantaFe(exponent, facts, length, flip_scale, flip_exponent)


# ------------------------------------------------------------------------------ families


@dataclass(frozen=True)
class Family:
    """A named process family.

    Attributes
    ----------
    name : str
        Stable name (the part of an id before ``:``).
    kind : {"gaussian", "token"}
    defaults : dict
        Every parameter with its default, in declared (id) order.
    factory : callable
        ``factory(**params) -> process``.
    length_param : {"levels", "length"}
        How :meth:`at_length` sets the sequence length.
    description : str
    """

    name: str
    kind: str
    defaults: dict
    factory: Callable[..., Any] = field(repr=False)
    length_param: str
    description: str

    def params(self, **overrides) -> dict:
        """All parameters (defaults updated by ``overrides``), unknown names rejected.

        Each value is checked against the type of its default, naming the parameter: an
        integer parameter takes an integer (an integral float such as ``3.0`` is read as
        ``3``; ``2.5``, ``true`` or a word are refused), a real parameter a finite number, a
        tuple parameter a number or a sequence of finite numbers. Ranges are checked when
        the process is built."""
        unknown = set(overrides) - set(self.defaults)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} for family {self.name!r}; "
                             f"its parameters are {list(self.defaults)}")
        out = dict(self.defaults)
        for key, value in overrides.items():
            out[key] = _typed(self.name, key, self.defaults[key], value)
        return out

    def make(self, **overrides):
        """Build the process with these parameters."""
        return self.factory(**self.params(**overrides))

    def id(self, **overrides) -> str:
        """The stable id of the process with these parameters."""
        return process_id(self.name, **self.params(**overrides))

    def levels_for(self, length: int, **overrides) -> dict:
        """Parameters that give sequence length ``length`` (``levels`` or ``length`` set)."""
        length = check_int("length", length, 1)
        params = self.params(**overrides)
        if self.length_param == "length":
            params["length"] = length
            return params
        b = int(params["branching"]) if "branching" in params else 4
        lv = round(math.log(length) / math.log(b)) if length >= 1 else 0
        if lv < 1 or b**lv != length:
            raise ValueError(f"length must be a power of the branching {b} (>= {b}) for family "
                             f"{self.name!r}, got {length}")
        params["levels"] = lv
        return params

    def at_length(self, length: int, **overrides):
        """The process of this family with sequence length ``length``."""
        return self.factory(**self.levels_for(length, **overrides))

    def id_at_length(self, length: int, **overrides) -> str:
        return process_id(self.name, **self.levels_for(length, **overrides))


#: Real parameters that also take ``None`` (``none`` in an id): the factory reads it as 0.
_NONE_OK = frozenset({"coupling", "pair_mi"})


def _typed(family_name: str, key: str, default, value):
    """``value`` converted to the type of ``default``, or ``ValueError`` / ``TypeError``
    naming ``key`` (and the family)."""
    where = f"{key} (family {family_name!r})"
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(default, (bool, np.bool_)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return bool(value)
    if isinstance(default, numbers.Integral):
        if isinstance(value, str):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        if value is None:
            raise ValueError(f"{where} must be an integer, got none")
        return check_int(where, value)
    if isinstance(default, numbers.Real):
        if value is None and key in _NONE_OK:
            return None
        return _real(where, value)
    if isinstance(default, tuple):
        if isinstance(value, (str, bytes)) or value is None:
            raise ValueError(f"{where} must be a number or a list of numbers, got {value!r}")
        if isinstance(value, (numbers.Real, np.generic)) and not isinstance(value, (bool, np.bool_)):
            return (_real(where, value),)
        if isinstance(value, (tuple, list, np.ndarray)):
            items = np.asarray(value, dtype=object).ravel().tolist()
            return tuple(_real(where, v) for v in items)
        raise ValueError(f"{where} must be a number or a list of numbers, got {value!r}")
    if isinstance(default, str) and not isinstance(value, str):
        raise ValueError(f"{where} must be a word, got {value!r}")
    return value


def _real(where: str, value) -> float:
    try:
        return check_float(where, value)
    except TypeError as exc:  # an id's word where a number belongs: a malformed value
        raise ValueError(str(exc)) from None


_FAMILIES: dict[str, Family] = {}


def _register(name, kind, defaults, factory, length_param, description):
    _FAMILIES[name] = Family(name, kind, dict(defaults), factory, length_param, description)


_register("hierarchical", "gaussian",
          dict(branching=4, copies=3, levels=5, coupling=0.0, channels=1, pair_mi=0.0),
          _hierarchical, "levels",
          "hierarchical Gaussian (Hadamard-type mixing), beta = log_b k; pair_mi > 0 sets the "
          "nats of every canonical pair (0: default mixing)")
_register("subvolume", "gaussian", dict(levels=5, coupling=0.0, channels=1), _paper("subvolume"),
          "levels", "the study's sub-volume family (b = 4, k = 3, beta = log_4 3)")
_register("log", "gaussian", dict(levels=5, coupling=0.0, channels=1), _paper("log"),
          "levels", "the study's b = 4, k = 1 family (constant I_BP; ~ log L with coupling)")
_register("ar1", "gaussian", dict(phi=0.9, length=64, channels=1), _ar1, "length",
          "Gaussian AR(1), unit variance: I_BP = -1/2 ln(1 - phi^2) at every cut")
_register("arma", "gaussian", dict(ar=(0.5,), ma=(0.3,), length=64, channels=1), _arma,
          "length", "Gaussian ARMA(p, q): exponential two-point decay, bounded I_BP")
_register("fgn", "gaussian", dict(hurst=0.75, length=1024, channels=1), _fgn, "length",
          "fractional Gaussian noise: two-point ~ d^(2H-2), I_BP ~ log L")
_register("markov-binary", "token", dict(flip=0.1, length=256), _markov_binary, "length",
          "symmetric two-state Markov chain (flip probability)")
_register("markov-two-state", "token", dict(p=0.1, q=0.2, length=256), _markov_two_state,
          "length", "two-state Markov chain, P(0->1) = p, P(1->0) = q")
_register("all-equal", "token", dict(vocab=2, length=256), _all_equal, "length",
          "every token equals the first (uniform): two-point MI = I_BP = log M")
_register("tree", "token", dict(branching=2, levels=6, vocab=2, flip=0.1), _tree, "levels",
          "hierarchical Markov (tree) process with a symmetric flip kernel")
_register("discrete-subvolume", "token",
          dict(branching=4, copies=3, levels=4, alphabet=2, noise=0.25, bijection="random"),
          _discrete, "levels",
          "discrete hierarchical copy process, I_BP = k^(l-1) I_1, beta = log_b k; noise sets "
          "the copy strength, bijection=identity keeps copies as plain copies (random: "
          "scrambled into higher-order dependence)")
_register("santa-fe", "token", dict(exponent=2.0, facts=4096, length=256), _santa_fe, "length",
          "Santa Fe process (Zipf facts, fixed bits): I_BP ~ L^(1/a), constant two-point MI")
_register("santa-fe-drift", "token",
          dict(exponent=2.0, facts=4096, length=256, flip_scale=0.25, flip_exponent=2.0),
          _santa_fe_drift, "length",
          "Santa Fe with drifting facts (flip eps_k ∝ k^-gamma): two-point ~ d^-(2a-1)/gamma")


def families() -> dict[str, Family]:
    """All registered families by name (a copy; registering is internal)."""
    return dict(_FAMILIES)


def family(name: str) -> Family:
    """The family called ``name`` (``ValueError`` listing the names otherwise)."""
    if not isinstance(name, str):
        raise TypeError(f"family name must be a str, got {type(name).__name__}")
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(_FAMILIES)}") from None


# ------------------------------------------------------------------------------ ids


def _fmt(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"parameter values in an id must be finite, got {value!r}")
        return repr(v)
    if isinstance(value, (tuple, list, np.ndarray)):
        items = [_fmt(v) for v in np.asarray(value).ravel().tolist()]
        return "|".join(items) if items else "()"
    if isinstance(value, str):
        if any(c in value for c in ":,=|") or not value:
            raise ValueError(f"string parameter {value!r} cannot hold ':', ',', '=' or '|'")
        return value
    raise TypeError(f"cannot put a {type(value).__name__} into a process id")


def _parse(text: str):
    if text == "none":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text == "()":
        return ()
    if "|" in text:
        return tuple(_parse(t) for t in text.split("|"))
    # plain decimal literals only ("1_000", "0x10" stay words and are refused where a
    # number is expected)
    if _INT_RE.fullmatch(text):
        return int(text)
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    return text


_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)",
                       re.IGNORECASE)


def process_id(name: str, **params) -> str:
    """``name:k1=v1,k2=v2`` with the parameters in the order given."""
    if not params:
        return name
    return name + ":" + ",".join(f"{k}={_fmt(v)}" for k, v in params.items())


def parse_process_id(text: str) -> tuple[str, dict]:
    """``(family name, parameters)`` of an id; parameters not given stay out of the dict."""
    if not isinstance(text, str):
        raise TypeError(f"process id must be a str, got {type(text).__name__}")
    name, colon, rest = text.partition(":")
    if not name.strip():
        raise ValueError(f"malformed process id {text!r}: it must start with a family name "
                         "(name or name:key=value,...)")
    params = {}
    if colon and not rest.strip():
        raise ValueError(f"malformed process id {text!r}: nothing after ':' (expected "
                         "name:key=value,...)")
    if rest:
        for item in rest.split(","):
            key, eq, val = item.partition("=")
            key, val = key.strip(), val.strip()
            if not eq or not key:
                raise ValueError(f"malformed process id {text!r}: {item!r} is not key=value "
                                 "(expected name:key=value,...)")
            if key in params:
                raise ValueError(f"malformed process id {text!r}: parameter {key!r} is given "
                                 "twice")
            if not val:
                raise ValueError(f"malformed process id {text!r}: parameter {key!r} has no "
                                 "value")
            params[key] = _parse(val)
    return name.strip(), params


def make_process(spec, length=None):
    """Build a process from an id (``"ar1:phi=0.5,length=128"``, or just a family name for
    its defaults). With ``length``, the family's length parameter is replaced so that the
    process has that sequence length (:meth:`Family.at_length`). A process object is
    returned unchanged (``length`` must then be None or its own length)."""
    if not isinstance(spec, str):
        if isinstance(spec, Process):
            if length is not None and int(length) != spec.length:
                raise ValueError(f"length={length} differs from the process's own length "
                                 f"{spec.length}; pass an id to rebuild it at another length")
            return spec
        raise TypeError(f"spec must be a process id (str) or a process, got {type(spec).__name__}")
    name, params = parse_process_id(spec)
    fam = family(name)
    if length is None:
        return fam.make(**params)
    params.pop(fam.length_param, None)
    return fam.at_length(length, **params)


def canonical_id(spec) -> str:
    """The full id (every parameter) of a family name or (partial) id."""
    name, params = parse_process_id(spec)
    return family(name).id(**params)


# ------------------------------------------------------------------------------ tasks


class GroundTruthTask:
    """A process as an estimator benchmark task: samples split at a cut, and the truth.

    Parameters
    ----------
    process : process or str
        Any process of the package (or an id for :func:`make_process`).
    cut : int, optional
        ``X`` = the first ``cut`` positions, ``Y`` = the rest (default: the middle).
    truth_samples : int, optional
        Samples of the Monte-Carlo truth, used only when the process has no exact
        bipartite MI at this size (then :meth:`mutual_information_se` is > 0); ``None``:
        the package's sample-count rule (:func:`l2m_sim.protocol.bipartite_mi_estimate`).

    ``sample(n, rng)`` returns ``(X, Y)``: float arrays ``(n, cut * C)`` and
    ``(n, (L - cut) * C)`` for Gaussian processes (channels flattened position-major), int64
    token arrays ``(n, cut)`` and ``(n, L - cut)`` for token processes.
    """

    def __init__(self, process, cut=None, truth_samples: int | None = None):
        self.id = canonical_id(process) if isinstance(process, str) else repr(process)
        self.process = make_process(process)
        self.cut = check_cut(cut, self.process.length)
        self.truth_samples = (None if truth_samples is None
                              else check_int("truth_samples", truth_samples, 2))
        self._truth = None

    @property
    def is_token(self) -> bool:
        return isinstance(self.process, TokenProcess)

    def sample(self, n, rng=None):
        W = self.process.sample(n, rng=rng)
        X, Y = W[:, : self.cut], W[:, self.cut:]
        if W.ndim == 3:  # (n, L, C) -> flatten positions and channels
            X = X.reshape(X.shape[0], -1)
            Y = Y.reshape(Y.shape[0], -1)
        return np.ascontiguousarray(X), np.ascontiguousarray(Y)

    def _compute_truth(self):
        if self._truth is None:
            est, se = bipartite_mi_estimate(self.process, self.cut, self.truth_samples)
            self._truth = (float(est), float(se))
        return self._truth

    def mutual_information(self) -> float:
        """``I(X; Y)`` in nats: exact, or the Monte-Carlo average of exact log-probabilities."""
        return self._compute_truth()[0]

    def mutual_information_se(self) -> float:
        """Standard error of :meth:`mutual_information` (0 when exact)."""
        return self._compute_truth()[1]

    def __repr__(self):
        return f"GroundTruthTask({self.process!r}, cut={self.cut})"


def as_task(spec, cut=None) -> GroundTruthTask:
    """A :class:`GroundTruthTask` from a task, a process or an id."""
    if isinstance(spec, GroundTruthTask):
        return spec if cut is None else GroundTruthTask(spec.process, cut)
    return GroundTruthTask(spec, cut)
