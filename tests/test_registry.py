"""The family registry (stable ids that rebuild the same process) and the task adapter."""

from __future__ import annotations

import numpy as np
import pytest

from l2m_sim import registry as R

ALL = sorted(R.families())


@pytest.mark.parametrize("name", ALL)
def test_id_round_trip_rebuilds_the_same_process(name):
    fam = R.family(name)
    pid = fam.id()
    assert pid.startswith(name + ":")
    assert list(R.parse_process_id(pid)[1]) == list(fam.defaults)  # every parameter, in order
    p1, p2 = fam.make(), R.make_process(pid)
    assert type(p1) is type(p2) and p1.length == p2.length
    assert R.canonical_id(name) == pid
    cut = max(1, p1.length // 3)
    assert R.GroundTruthTask(p2, cut).mutual_information() == pytest.approx(
        R.GroundTruthTask(p1, cut).mutual_information(), rel=1e-12)
    np.testing.assert_array_equal(p1.sample(3, rng=5), p2.sample(3, rng=5))


@pytest.mark.parametrize("name", ALL)
def test_at_length(name):
    fam = R.family(name)
    L = fam.make().length
    b = fam.params().get("branching", 4)
    target = L * b if fam.length_param == "levels" else L + 7
    p = fam.at_length(target)
    assert p.length == target
    assert R.make_process(fam.id_at_length(target)).length == target
    if fam.length_param == "levels":
        with pytest.raises(ValueError, match="power of the branching"):
            fam.at_length(L + 1)


def test_id_values_parse_back():
    pid = R.process_id("arma", ar=(0.5, -0.2), ma=(), length=128, channels=2)
    assert pid == "arma:ar=0.5|-0.2,ma=(),length=128,channels=2"
    name, params = R.parse_process_id(pid)
    assert name == "arma" and params == dict(ar=(0.5, -0.2), ma=(), length=128, channels=2)
    p = R.make_process(pid)
    assert p.length == 128 and p.channels == 2
    # a one-term tuple is written as a number and accepted back
    assert R.make_process("arma:ar=0.5,ma=0.3,length=16").length == 16
    assert R.parse_process_id("x:a=true,b=none,c=1e-3,d=word") == (
        "x", dict(a=True, b=None, c=1e-3, d="word"))


def test_monte_carlo_truth_where_no_exact_value():
    """The tree family past its enumeration limit gets an MC truth with a standard error;
    the same MC route agrees with the exact value where both exist (L = 16)."""
    task = R.GroundTruthTask("tree:levels=6", truth_samples=4000)
    assert task.mutual_information_se() > 0
    assert 0 < task.mutual_information() < np.log(2)  # bounded by the root entropy
    small = R.make_process("tree:levels=4")
    est, se = small.bipartite_mi_mc(8, 20000, rng=3)
    assert abs(est - small.bipartite_mi(8)) < 4 * se


def test_ar1_truth_is_the_closed_form():
    task = R.GroundTruthTask("ar1:phi=0.9,length=64", cut=20)
    assert task.mutual_information() == pytest.approx(-0.5 * np.log(1 - 0.81), rel=1e-10)
    assert task.mutual_information_se() == 0.0
    assert task.id == "ar1:phi=0.9,length=64,channels=1"


@pytest.mark.parametrize("spec, kind", [("subvolume:levels=3,channels=2", "gaussian"),
                                        ("fgn:length=50", "gaussian"),
                                        ("markov-binary:length=40", "token"),
                                        ("discrete-subvolume:levels=2", "token")])
def test_task_sample_shapes_and_truth(spec, kind):
    task = R.as_task(spec, cut=9)
    p = task.process
    X, Y = task.sample(6, rng=1)
    C = getattr(p, "channels", 1)
    assert X.shape == (6, 9 * C) and Y.shape == (6, (p.length - 9) * C)
    assert (X.dtype.kind == "i") == (kind == "token") == task.is_token
    W = p.sample(6, rng=1).reshape(6, -1)
    np.testing.assert_array_equal(np.hstack([X, Y]), W)
    assert task.mutual_information() == pytest.approx(p.bipartite_mi(9), rel=1e-12)
    assert R.as_task(task) is task
    assert R.as_task(task, cut=5).cut == 5


@pytest.mark.parametrize("bad, exc, match", [
    ("nosuch", ValueError, "unknown family"),
    ("ar1:phi=0.9,colour=3", ValueError, "unknown parameter"),
    ("ar1:phi", ValueError, "malformed"),
    ("ar1:phi=1.5", ValueError, "phi"),
    ("markov-binary:flip=2", ValueError, "flip"),
    ("tree:vocab=1", ValueError, "vocab"),
    ("subvolume:levels=0", ValueError, "levels"),
    ("discrete-subvolume:bijection=3", ValueError, "bijection"),
    ("discrete-subvolume:bijection=shuffled", ValueError, "bijection"),
    (3.5, TypeError, "spec"),
])
def test_bad_specs(bad, exc, match):
    with pytest.raises(exc, match=match):
        R.make_process(bad)


def test_discrete_bijection_knob():
    """``bijection=identity`` keeps copies plain: the same exact I_BP as the scrambled
    default (a bijection moves information, it does not create it), but the copy pairs
    show up as two-point MI."""
    plain = R.make_process("discrete-subvolume:levels=2,alphabet=4,noise=0.05,bijection=identity")
    scrambled = R.make_process("discrete-subvolume:levels=2,alphabet=4,noise=0.05")
    np.testing.assert_array_equal(plain.bijection, np.arange(4**4))
    assert plain.bipartite_mi() == pytest.approx(scrambled.bipartite_mi(), rel=1e-12)
    two = max(plain.two_point_mi(0, j) for j in range(1, 16))
    assert two > 1.0 > 0.1 > max(scrambled.two_point_mi(0, j) for j in range(1, 16))
    assert "bijection=identity" in R.family("discrete-subvolume").id(bijection="identity")


def test_bad_cut_and_values():
    with pytest.raises(ValueError, match="cut"):
        R.GroundTruthTask("ar1:length=10", cut=10)
    with pytest.raises(ValueError, match="finite"):
        R.process_id("ar1", phi=float("nan"))
    with pytest.raises(ValueError, match="cannot hold"):
        R.process_id("x", s="a,b")
    with pytest.raises(TypeError):
        R.family(3)


def test_make_process_at_a_length():
    assert R.make_process("ar1:phi=0.5,length=10", 33).length == 33
    assert R.make_process("subvolume", 256).length == 256
    p = R.make_process("fgn", 40)
    assert R.make_process(p, 40) is p
    with pytest.raises(ValueError, match="differs"):
        R.make_process(p, 41)
