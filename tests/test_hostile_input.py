"""Hostile input: every call either works or refuses with ValueError / TypeError naming the
parameter; nothing hangs, allocates past the memory limit, answers silently wrong or (CLI)
ends in a traceback.

Property-based over constructors, process ids, arrays and CLI arguments (hypothesis, small
sizes, derandomized), plus the specific cases of issue 11 as plain tests.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import l2m_sim as lm
from l2m_sim.cli import main
from l2m_sim.registry import canonical_id, families, make_process

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def small_memory_limit(monkeypatch):
    # a call over this must be refused before it allocates
    monkeypatch.setenv("L2M_SIM_MEMORY_LIMIT", "256M")


def works_or_names(fn, names):
    """Call ``fn``; it must return or raise ValueError / TypeError naming one of ``names``."""
    try:
        return fn()
    except (ValueError, TypeError) as exc:
        msg = str(exc).lower()
        assert any(n.lower() in msg for n in names), f"message names none of {names}: {exc}"
        return exc


def refuses(fn, names):
    out = works_or_names(fn, names)
    assert isinstance(out, (ValueError, TypeError)), f"accepted: {out!r}"
    return out


# ------------------------------------------------------------------ values

HUGE = [2**31, 10**18, 2**100]
ints = st.one_of(st.integers(-3, 12), st.sampled_from(HUGE))
not_ints = st.sampled_from([2.5, math.nan, math.inf, -math.inf, "3", [1, 2], True, None, b"3"])
reals = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                  st.sampled_from([0.0, 0.5, 1.0, -1.0, 1e300, 1e-300]))
not_reals = st.sampled_from(["0.5", [0.1], True, None, object()])

CTORS = {
    # name: (constructor, base kwargs, {param: kind}, extra names a message may use)
    "HierarchicalGaussian": (lm.HierarchicalGaussian,
                             dict(branching=4, copies=3, levels=2),
                             dict(branching="int", copies="int", levels="int", channels="int",
                                  coupling="real", pair_mi="real")),
    "HierarchicalDiscrete": (lm.HierarchicalDiscrete, dict(branching=4, copies=3, levels=2),
                             dict(branching="int", copies="int", levels="int", alphabet="int",
                                  noise="real", seed="int")),
    "AR1": (lm.AR1, dict(phi=0.5, length=16), dict(phi="real", length="int", channels="int")),
    "FractionalGaussianNoise": (lm.FractionalGaussianNoise, dict(hurst=0.7, length=16),
                                dict(hurst="real", length="int", channels="int")),
    "SantaFe": (lm.SantaFe, dict(exponent=2.0, facts=16, length=16),
                dict(exponent="real", facts="int", length="int")),
    "DriftingSantaFe": (lm.DriftingSantaFe, dict(exponent=2.0, facts=16, length=16),
                        dict(exponent="real", facts="int", length="int", flip_scale="real",
                             flip_exponent="real")),
    "MarkovChain.all_equal": (lm.MarkovChain.all_equal, dict(vocab_size=3, length=16),
                              dict(vocab_size="int", length="int")),
}
# a message about one parameter may be phrased through the one it constrains
RELATED = {"branching": ["copies", "alphabet"], "alphabet": ["branching"],
           "copies": ["branching"], "length": ["levels"], "levels": ["length"]}


@st.composite
def ctor_call(draw):
    name = draw(st.sampled_from(sorted(CTORS)))
    ctor, base, kinds = CTORS[name]
    param = draw(st.sampled_from(sorted(kinds)))
    kind = kinds[param]
    if kind == "int":
        value = draw(st.one_of(ints, not_ints))
    else:
        value = draw(st.one_of(reals, not_reals))
    return name, ctor, dict(base, **{param: value}), param, value, kind


@FAST
@given(ctor_call())
def test_constructors_work_or_name_the_parameter(call):
    name, ctor, kw, param, value, kind = call
    if kind == "real" and param in ("coupling", "pair_mi") and value is None:
        return  # None is the documented default there
    out = works_or_names(lambda: ctor(**kw), [param] + RELATED.get(param, []))
    bad_int = kind == "int" and (isinstance(value, (bool, str, bytes, list, type(None)))
                                 or (isinstance(value, float) and not float(value).is_integer()))
    bad_real = kind == "real" and (isinstance(value, (bool, str, list, object))
                                   and not isinstance(value, (int, float))
                                   or (isinstance(value, float) and not math.isfinite(value)))
    if bad_int or bad_real:
        assert isinstance(out, (ValueError, TypeError)), f"{name}({param}={value!r}) accepted"


@FAST
@given(st.sampled_from(["hg", "ar", "tree", "hd", "sf"]),
       st.one_of(st.integers(-2, 4), st.sampled_from([10**8, 10**9, 10**15, 2.5, math.nan, "2",
                                                      True, None])))
def test_sample_sizes_refused_before_allocating(which, n):
    p = {"hg": lm.HierarchicalGaussian(4, 3, 2), "ar": lm.AR1(0.5, 16),
         "tree": make_process("tree:levels=4"), "hd": lm.HierarchicalDiscrete(4, 3, 2),
         "sf": lm.SantaFe(2.0, 8, 16)}[which]
    out = works_or_names(lambda: p.sample(n, rng=0), ["n"])
    if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n >= 10**8:
        assert isinstance(out, (ValueError, TypeError))
    else:
        assert out.shape[0] == n


# ------------------------------------------------------------------ ids

FAMILY_NAMES = sorted(families())
id_values = st.one_of(
    st.integers(-2, 12).map(str),
    st.sampled_from(["2.5", "3.0", "nan", "inf", "-inf", "1e400", "abc", "", "true", "none",
                     "()", "0.5|0.2", "1_000", "0x10", "2147483648", "1e3", "0.5:x", " 7 "]),
)


@st.composite
def process_ids(draw):
    name = draw(st.sampled_from(FAMILY_NAMES))
    keys = list(families()[name].defaults) + ["bogus"]
    items = draw(st.lists(st.tuples(st.sampled_from(keys), id_values), max_size=3))
    text = name + (":" + ",".join(f"{k}={v}" for k, v in items) if items else "")
    return text, name, items


def _is_int_text(v):
    try:
        int(v.strip())
        return "_" not in v
    except ValueError:
        return False


@FAST
@given(process_ids())
def test_ids_parse_strictly(case):
    text, name, items = case
    keys = [k for k, _ in items]
    names = keys + ["process id", "family"]
    out = works_or_names(lambda: canonical_id(text), names)
    defaults = families()[name].defaults
    duplicated = len(set(keys)) != len(keys)
    non_int = any(isinstance(defaults.get(k), int) and not isinstance(defaults.get(k), bool)
                  and not _is_int_text(v) and v.strip() not in ("3.0", "1e3")
                  for k, v in items)
    if duplicated or non_int or "bogus" in keys or any(not v.strip() for _, v in items):
        assert isinstance(out, (ValueError, TypeError)), f"{text!r} -> {out!r}"
    if isinstance(out, str):
        # building it either works or names a parameter (never another exception type)
        works_or_names(lambda: make_process(text), keys + ["length", "levels", "process id",
                                                           "vocab", "alphabet", "copies",
                                                           "branching", "channels", "facts"])


@FAST
@given(st.sampled_from(["ar1", "subvolume", "tree", "santa-fe", "markov-binary"]),
       st.one_of(st.integers(-2, 70), st.sampled_from([2.5, math.nan, math.inf, "64", True, None,
                                                       10**12])))
def test_length_argument_is_an_integer(fam, length):
    out = works_or_names(lambda: make_process(fam, length), ["length", "levels"])
    if not isinstance(length, int) or isinstance(length, bool):
        if length is not None:
            assert isinstance(out, (ValueError, TypeError))
    elif not isinstance(out, Exception):
        assert out.length == length


# ------------------------------------------------------------------ arrays


array_strategy = st.one_of(
    hnp.arrays(st.sampled_from([np.float64, np.int64, np.bool_, np.complex128, np.float32]),
               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=17)),
    st.sampled_from([None, "x", [[0] * 16], [[0.5] * 16]]),
)


@FAST
@given(st.sampled_from(["hg", "ar", "markov", "tree", "hd", "sf"]), array_strategy)
def test_exact_conditionals_take_arrays_or_name_them(which, x):
    p = {"hg": lm.HierarchicalGaussian(4, 3, 2), "ar": lm.AR1(0.5, 16),
         "markov": make_process("markov-binary:length=16"), "tree": make_process("tree:levels=4"),
         "hd": lm.HierarchicalDiscrete(4, 3, 2), "sf": lm.SantaFe(2.0, 8, 16)}[which]
    method = "conditional_moments" if hasattr(p, "conditional_moments") else "conditional_probs"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        works_or_names(lambda: getattr(p, method)(x), ["x", "tokens"])
        works_or_names(lambda: p.log_prob(x), ["x", "tokens"])


@FAST
@given(st.one_of(st.integers(-3, 40), st.sampled_from([2.5, math.nan, "8", True, 10**9])),
       st.one_of(st.integers(-3, 40), st.sampled_from([2.5, math.nan, None])))
def test_positions_and_cuts(i, j):
    p = lm.AR1(0.5, 16)
    works_or_names(lambda: p.bipartite_mi(i), ["cut"])
    works_or_names(lambda: p.two_point_mi(i, j), ["i", "j"])


# ------------------------------------------------------------------ validate


@FAST
@given(st.sampled_from([
    dict(cut=0), dict(cut=1.5), dict(cut=math.nan), dict(cut="middle"), dict(cut=True),
    dict(cut=100), dict(lengths=[17], processes=["subvolume"]), dict(lengths=[]),
    dict(lengths=[8, 8]), dict(n_samples=[1]), dict(n_samples=[]), dict(n_samples=[10**12]),
    dict(seeds=[-1]), dict(seeds=[0, 0]), dict(timeout=math.inf), dict(timeout=0),
    dict(timeout=math.nan), dict(distances=[0]), dict(processes=["ar1:phi=2"]),
    dict(processes=["nosuch"]), dict(lengths=[10**12]),
]))
def test_validate_checks_global_arguments_before_work(kw):
    args = dict(lengths=[8], n_samples=[40], processes=["ar1"])
    args.update(kw)
    procs = args.pop("processes")
    refuses(lambda: lm.validate(["gaussian"], procs, **args),
            list(kw) + ["length", "family", "phi"])


# ------------------------------------------------------------------ CLI


def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    cap = capsys.readouterr()
    return code, cap.out, cap.err


cli_process = st.sampled_from(["ar1:length=8", "tree:vocab=2.5", "ar1:phi=0.5,phi=0.7",
                               "ar1:length=2.5", "nosuch", "tree:vocab=20000",
                               "hierarchical:levels=15", "subvolume:levels=2", "ar1:phi=2"])
cli_int = st.sampled_from(["0", "-1", "2.5", "nan", "x", "17", "16", "10000000000",
                           str(2**70)])
cli_real = st.sampled_from(["inf", "nan", "-1", "0", "1e308", "x", "0.5"])


@st.composite
def cli_argv(draw):
    cmd = draw(st.sampled_from(["sample", "mi", "validate"]))
    out = draw(st.sampled_from(["OUT/x.nc", "OUT/x.npy", "FILE/x.nc", "DIR", "OUT/sub/",
                                "OUT/x.txt"]))
    if cmd == "sample":
        argv = ["sample", draw(cli_process), "--n", draw(st.sampled_from(["2", "0", "x",
                                                                          "10000000000"]))]
        if draw(st.booleans()):
            argv += ["--length", draw(cli_int)]
    elif cmd == "mi":
        argv = ["mi", draw(cli_process), "--distances", "1"]
        if draw(st.booleans()):
            argv += ["--lengths", draw(cli_int)]
    else:
        argv = ["validate", "--estimators", "gaussian", "--processes", draw(cli_process),
                "--n-samples", draw(st.sampled_from(["40", "1", "10000000000"])),
                "--lengths", draw(st.sampled_from(["8", "17", "1", "8 8"]))]
        argv = argv[:-1] + argv[-1].split()
        if draw(st.booleans()):
            argv += ["--timeout", draw(cli_real)]
    return argv + ["--out", out, "--force"]


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(argv=cli_argv())
def test_cli_exits_0_or_2_with_one_line(argv, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "FILE").write_text("a file")
    (tmp / "DIR").mkdir(exist_ok=True)
    argv = [a.replace("OUT", str(tmp / "o")).replace("FILE", str(tmp / "FILE"))
            .replace("DIR", str(tmp / "DIR")) for a in argv]
    code, out, err = run_cli(argv, capsys)
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err
    if code == 2:
        assert "error" in err.strip().splitlines()[-1]
    else:
        assert "nan" not in out.lower() or argv[0] == "mi", out


# ------------------------------------------------------------------ the cases of issue 11


def test_huge_sizes_are_refused_fast():
    refuses(lambda: lm.HierarchicalDiscrete(branching=2**31, copies=1, levels=1), ["branching"])
    refuses(lambda: lm.design(0.5, 1.0, levels=10**5), ["levels"])
    err = refuses(lambda: lm.HierarchicalGaussian(4, 3, 15).bipartite_mi(), ["length"])
    assert "memory limit" in str(err) and "would need" in str(err)
    err = refuses(lambda: make_process("tree:vocab=20000"), ["vocab"])
    refuses(lambda: make_process("tree:vocab=5000"), ["vocab"])  # under VOCAB_MAX, over memory
    refuses(lambda: lm.HierarchicalGaussian(4, 3, 8).sample(10**7, rng=0), ["n"])
    refuses(lambda: lm.AR1(0.5, 16, channels=2**20), ["channels"])


def test_ids_and_lengths_are_strict():
    refuses(lambda: make_process("ar1:phi=0.5,phi=0.7"), ["phi"])
    refuses(lambda: make_process("ar1", 2.5), ["length"])
    refuses(lambda: make_process("tree:vocab=2.5"), ["vocab"])
    refuses(lambda: canonical_id("tree:vocab=2.5"), ["vocab"])
    refuses(lambda: make_process("ar1:phi=abc"), ["phi"])
    refuses(lambda: make_process("ar1:phi=nan"), ["phi"])
    refuses(lambda: make_process("ar1:phi="), ["phi"])
    refuses(lambda: make_process("ar1:length=1_000"), ["length"])
    # valid ids are unchanged
    assert canonical_id("ar1:phi=0.5") == "ar1:phi=0.5,length=64,channels=1"
    assert make_process("arma:ar=0.5|-0.2,ma=0.3,length=128").length == 128
    assert make_process("ar1", 16).length == 16


def test_validate_cut_zero_is_refused_not_an_all_error_dataset():
    refuses(lambda: lm.validate(["gaussian"], ["ar1"], lengths=[8], n_samples=[40], cut=0),
            ["cut"])


def test_cli_bad_arguments_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint" * 8)
    (tmp_path / "cfgdir").mkdir()
    (tmp_path / "bin.toml").write_bytes(bytes(range(256)) * 4)
    v = ["validate", "--estimators", "gaussian", "--processes", "ar1", "--n-samples", "40"]
    t = ["train", "ar1:length=8", "--steps", "1", "--device", "cpu"]
    cases = [
        (["validate", "--processes", "subvolume", "--lengths", "17"], "length"),
        (v + ["--timeout", "inf"], "--timeout"),
        (v + ["--out", "afile/x.nc"], "--out"),
        (t + ["--lr", "inf"], "--lr"),
        (t + ["--checkpoint", "garbage.pt"], "--checkpoint"),
        (t + ["--out", "cfgdir"], "--out"),
        (["sweep", "cfgdir"], "directory"),
        (["sweep", "bin.toml"], "bin.toml"),
        (["sample", "ar1", "--out", "afile/x.npy"], "--out"),
        (["mi", "ar1", "--out", "cfgdir"], "--out"),
        (["demo", "--out", "afile/sub", "--no-families"], "--out"),
    ]
    import torch

    if not torch.cuda.is_available():
        cases.append((t[:-2] + ["--device", "cuda"], "--device"))
    for argv, name in cases:
        code, out, err = run_cli(argv, capsys)
        assert code == 2, (argv, out, err)
        assert "Traceback" not in err
        assert name in err.strip().splitlines()[-1], (argv, err)
    assert not (tmp_path / "results").exists()  # nothing was computed or written


def _tiny_sweep(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text('[sweep]\njob = "exact_mi"\n[fixed]\ndistances = [1]\n'
                   '[grid]\nprocess = ["ar1"]\nlength = [8, 16]\n')
    return cfg


def test_corrupt_cell_is_set_aside_and_recomputed(tmp_path, capsys):
    from l2m_sim.sweep import cells_dir, load_sweep, run_sweep

    sw = load_sweep(_tiny_sweep(tmp_path))
    out = tmp_path / "s.nc"
    first = run_sweep(sw, out=out, progress=False)
    cell = sorted(cells_dir(out).glob("*.nc"))[0]
    cell.write_bytes(cell.read_bytes()[:200])  # truncated
    with pytest.warns(RuntimeWarning, match=cell.name):
        again = run_sweep(sw, out=out, progress=False)
    assert (cell.parent / (cell.name + ".corrupt")).exists()
    np.testing.assert_array_equal(first.bipartite_mi.values, again.bipartite_mi.values)
    # a corrupt combined file is rebuilt from the cells
    out.write_bytes(b"garbage")
    code, _, err = run_cli(["sweep", str(_tiny_sweep(tmp_path)), "--out", str(out)], capsys)
    assert code == 0 and "rebuilding" in err
    import xarray as xr

    with xr.open_dataset(out, engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds.bipartite_mi.values, first.bipartite_mi.values)


@pytest.mark.parametrize("grid, name", [
    ('process = ["subvolume"]\nlength = [17]', "length"),
    ('process = ["ar1:phi=2"]\nlength = [8]', "phi"),
    ('process = ["ar1:phi=0.5,phi=0.6"]\nlength = [8]', "phi"),
    ('process = ["ar1"]\nlength = [10000000000]', "length"),
])
def test_invalid_sweep_cells_refused_before_work(tmp_path, grid, name):
    from l2m_sim.sweep import SweepError, load_sweep

    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[sweep]\njob = "exact_mi"\n[grid]\n{grid}\n')
    with pytest.raises(SweepError, match=name):
        load_sweep(cfg)


@pytest.mark.parametrize("address, match", [
    ("tcp://256.1.1.1:1", "IPv4"),
    ("tcp://localhost:0", "port"),
    ("tcp://localhost:70000", "port"),
    ("localhost:8786", "tcp://host:port"),
    ("tcp://", "tcp://host:port"),
])
def test_bad_scheduler_address_refused_before_work(tmp_path, address, match):
    """A malformed Dask scheduler address is refused before any cell runs (no connection
    attempt, no hang), with the address named."""
    from l2m_sim.sweep import Sweep, SweepError, cells_dir, run_sweep

    sw = Sweep("exact_mi", grid={"process": ["ar1"], "length": [8]})
    with pytest.raises(SweepError, match=match):
        run_sweep(sw, tmp_path / "o.nc", scheduler=address, progress=False)
    assert not cells_dir(tmp_path / "o.nc").exists()


def test_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    """A well-formed address nobody listens on ends in a SweepError after the connect
    timeout, not a hang or a raw traceback."""
    from l2m_sim import sweep as sweep_mod

    monkeypatch.setattr(sweep_mod, "CONNECT_TIMEOUT", 2)
    sw = sweep_mod.Sweep("exact_mi", grid={"process": ["ar1"], "length": [8]})
    with pytest.raises(sweep_mod.SweepError, match="cannot reach the Dask scheduler"):
        sweep_mod.run_sweep(sw, tmp_path / "o.nc", scheduler="tcp://127.0.0.1:9", progress=False)
