"""Tests of ``l2m_sim.protocol``: the shared validators and the runtime-checkable protocols."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

import l2m_sim
from l2m_sim import protocol
from l2m_sim.protocol import as_generator, check_cut, check_int, check_position


# ------------------------------------------------------------------------------------------
# as_generator
# ------------------------------------------------------------------------------------------


def test_as_generator_passes_generators_through():
    g = np.random.default_rng(5)
    assert as_generator(g) is g


def test_as_generator_int_seed_is_default_rng():
    for seed in (0, 1, 2**40, np.int64(7), np.uint8(3)):
        a = as_generator(seed).standard_normal(5)
        b = np.random.default_rng(int(seed)).standard_normal(5)
        np.testing.assert_array_equal(a, b)


def test_as_generator_none_is_fresh():
    g1, g2 = as_generator(None), as_generator(None)
    assert isinstance(g1, np.random.Generator)
    assert g1 is not g2
    assert not np.array_equal(g1.standard_normal(4), g2.standard_normal(4))


@pytest.mark.parametrize("rng,exc", [(True, TypeError), (np.bool_(False), TypeError),
                                      (-1, ValueError), (1.0, TypeError), ("0", TypeError),
                                      (np.random.RandomState(1), TypeError), ([0], TypeError)])
def test_as_generator_rejects(rng, exc):
    with pytest.raises(exc, match="rng"):
        as_generator(rng)


# ------------------------------------------------------------------------------------------
# check_int / check_cut / check_position
# ------------------------------------------------------------------------------------------


def test_check_int_returns_python_int():
    for v in (3, np.int32(3), np.int64(3), np.uint16(3), 3.0, np.float64(3.0)):
        out = check_int("size", v)
        assert out == 3 and type(out) is int


@pytest.mark.parametrize(
    "value,lo,hi,exc",
    [
        (0, 1, None, ValueError),
        (11, None, 10, ValueError),
        (2.5, None, None, ValueError),
        (float("nan"), None, None, ValueError),
        (float("inf"), None, None, ValueError),
        ("3", None, None, TypeError),
        (None, None, None, TypeError),
        (True, None, None, TypeError),
        ([3], None, None, TypeError),
        (3 + 0j, None, None, TypeError),
    ],
)
def test_check_int_rejects_and_names(value, lo, hi, exc):
    with pytest.raises(exc, match="widgets"):
        check_int("widgets", value, lo, hi)


def test_check_int_message_states_range():
    with pytest.raises(ValueError, match=r"widgets must be in \[2, 5\], got 7"):
        check_int("widgets", 7, 2, 5)
    with pytest.raises(ValueError, match=r"\[2, inf\]"):
        check_int("widgets", 1, 2)
    assert check_int("widgets", 2, 2, 2) == 2


def test_check_cut():
    assert check_cut(None, 16) == 8
    assert check_cut(None, 15) == 7
    assert check_cut(None, 2) == 1
    assert check_cut(1, 16) == 1 and check_cut(15, 16) == 15
    for bad in (0, 16, -1, 100):
        with pytest.raises(ValueError, match="cut"):
            check_cut(bad, 16)
    with pytest.raises(ValueError, match="length"):
        check_cut(None, 1)
    with pytest.raises(TypeError, match="cut"):
        check_cut("8", 16)


def test_check_position():
    assert check_position("i", 0, 4) == 0 and check_position("i", 3, 4) == 3
    for bad in (-1, 4):
        with pytest.raises(ValueError, match="pos"):
            check_position("pos", bad, 4)


# ------------------------------------------------------------------------------------------
# Protocols
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "p",
    [l2m_sim.HierarchicalGaussian(4, 3, 2),
     l2m_sim.HierarchicalGaussian(4, 3, 2, coupling=0.5, channels=3),
     l2m_sim.HierarchicalGaussian.from_schedule([(2, 1), (4, 3)]),
     l2m_sim.paper_family("log", 2)],
)
def test_hierarchical_satisfies_gaussian_protocol(p):
    assert isinstance(p, l2m_sim.Process)
    assert isinstance(p, l2m_sim.GaussianProcess)
    assert not isinstance(p, l2m_sim.TokenProcess)  # no vocab_size / conditional_probs
    assert isinstance(p.length, int) and isinstance(p.channels, int)


def test_protocol_rejects_incomplete_objects():
    class NotAProcess:
        length = 4
        channels = 1

        def sample(self, n, rng=None):
            return np.zeros((n, 4))

    assert not isinstance(NotAProcess(), l2m_sim.Process)


def test_protocol_module_imports_nothing_from_the_package():
    tree = ast.parse(inspect.getsource(protocol))
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import from {node.module!r} in protocol.py"
            imported.append(node.module)
    assert imported, "expected some imports (numpy at least)"
    for name in imported:
        assert name.split(".")[0] != "l2m_sim", f"protocol.py imports {name}"
    # only the standard library and numpy
    allowed = {"__future__", "math", "numbers", "typing", "numpy", "abc", "collections",
               "dataclasses"}
    assert {name.split(".")[0] for name in imported} <= allowed


def test_protocol_exports():
    for name in ("Process", "GaussianProcess", "TokenProcess", "as_generator", "check_int",
                 "check_cut", "check_position"):
        assert name in protocol.__all__
        assert hasattr(protocol, name)


def test_check_float():
    from l2m_sim.protocol import check_float

    assert check_float("x", 0.5, 0, 1) == 0.5 and type(check_float("x", np.float32(2), 0)) is float
    assert check_float("x", np.array(3.0)) == 3.0
    with pytest.raises(ValueError, match=r"x must be in \(0, 1\), got 1"):
        check_float("x", 1, 0, 1, lo_open=True, hi_open=True)
    with pytest.raises(ValueError, match=r"x must be in \[0, inf\) and finite"):
        check_float("x", float("nan"), 0)
    for bad in ("1", None, True, [1.0], 1j):
        with pytest.raises(TypeError, match="x must be a real number"):
            check_float("x", bad)


def test_clip_rounding_one_tolerance():
    from l2m_sim.protocol import ROUNDING_TOL, clip_rounding

    assert clip_rounding(-ROUNDING_TOL / 2) == 0.0 and isinstance(clip_rounding(-1e-12), float)
    assert clip_rounding(-2 * ROUNDING_TOL) == -2 * ROUNDING_TOL  # a real error stays visible
    assert clip_rounding(1e-30) == 1e-30  # tiny positive values are exact values
    np.testing.assert_array_equal(clip_rounding(np.array([-1e-12, 0.5])), [0.0, 0.5])


def test_mc_sample_count_rule():
    from l2m_sim.protocol import MC_ABS_SE, MC_MAX_VALUES, MC_REL_SE, mc_sample_count

    assert mc_sample_count(64, 1.0, MC_REL_SE / 2, 2000) == 2000  # already precise enough
    assert mc_sample_count(64, 1.0, 2 * MC_REL_SE, 2000) == 8000  # se ~ 1/sqrt(n)
    assert mc_sample_count(64, 0.0, 2 * MC_ABS_SE, 2000) == 8000  # absolute floor
    assert mc_sample_count(1024, 1.0, 1.0, 2000) == MC_MAX_VALUES // 1024  # capped
