"""Fuzz the public API and the CLI with hostile input; count the outcomes.

Every input runs in a forked child with a wall-clock limit and a memory limit, and is
classified as

* ``ok``       - returned (for an input marked valid or unknown),
* ``clear``    - ValueError / TypeError naming one of the expected parameters (CLI: exit 2
                 with a one-line message and no traceback),
* ``unclear``  - ValueError / TypeError that names none of them,
* ``silent``   - an input known to be invalid that returned (or CLI exit 0 / NaN output),
* ``other``    - any other exception type (MemoryError, FloatingPointError, numba errors...),
* ``traceback``- CLI: a raw traceback or an exit code other than 0 / 2,
* ``hang``     - past the time limit,
* ``crash``    - the child died (signal, out of memory).

Run: ``.venv/bin/python benchmarks/fuzz_hostile.py [--timeout 20] [--only api|cli] [-v]``.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import pickle
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
# the library's own memory limit below the child's hard limit (MEM_LIMIT): a call over it
# must be refused by the library before it allocates, not die with MemoryError
os.environ.setdefault("L2M_SIM_MEMORY_LIMIT", "2G")
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numpy as np  # noqa: E402

import l2m_sim as lm  # noqa: E402
from l2m_sim.registry import canonical_id, make_process, parse_process_id  # noqa: E402

MEM_LIMIT = 3 * 2**30  # bytes above the child's start
NAN, INF = float("nan"), float("inf")

INT_BAD = [2.5, NAN, INF, "3", [1, 2], True]  # never a valid integer
INT_ODD = [-1, 0, 1, 2**31, 10**5, 10**18, np.int64(3), 1e300]  # may be valid or not
REAL_BAD = [NAN, INF, -INF, "0.5", [0.1, 0.2], None]
REAL_ODD = [-1.0, 0.0, 1.0, 1e-300, 1e300, 0.5, 2, np.float32(0.25), True]


def exercise(p):
    """What a user does with a process right after building it."""
    p.bipartite_mi() if p.length <= 2**16 else None
    p.two_point_mi(0, 1)
    p.sample(2, rng=0)
    return p


def api_cases():
    """(label, thunk, expected names in the message, invalid?)"""
    cases = []

    def add(label, fn, names, invalid):
        cases.append((label, fn, tuple(names), invalid))

    ctors = {
        "HierarchicalGaussian": (lm.HierarchicalGaussian,
                                 dict(branching=4, copies=3, levels=3, coupling=None, channels=1,
                                      pair_mi=None),
                                 dict(branching="int", copies="int", levels="int",
                                      coupling="real", channels="int", pair_mi="real")),
        "HierarchicalDiscrete": (lm.HierarchicalDiscrete,
                                 dict(branching=4, copies=3, levels=3, alphabet=2, noise=0.25,
                                      seed=0),
                                 dict(branching="int", copies="int", levels="int",
                                      alphabet="int", noise="real", seed="int")),
        "AR1": (lm.AR1, dict(phi=0.5, length=32, channels=1),
                dict(phi="real", length="int", channels="int")),
        "FGN": (lm.FractionalGaussianNoise, dict(hurst=0.7, length=32, channels=1),
                dict(hurst="real", length="int", channels="int")),
        "SantaFe": (lm.SantaFe, dict(exponent=2.0, facts=64, length=32),
                    dict(exponent="real", facts="int", length="int")),
        "DriftingSantaFe": (lm.DriftingSantaFe,
                            dict(exponent=2.0, facts=64, length=32, flip_scale=0.01,
                                 flip_exponent=1.0),
                            dict(exponent="real", facts="int", length="int", flip_scale="real",
                                 flip_exponent="real")),
        "all_equal": (lm.MarkovChain.all_equal, dict(vocab_size=3, length=16),
                      dict(vocab_size="int", length="int")),
        "paper_family": (lambda levels=3, channels=1: lm.paper_family("subvolume", levels,
                                                                       channels=channels),
                         dict(levels=3, channels=1), dict(levels="int", channels="int")),
        "design": (lambda beta=0.5, alpha=1.0, branching=None, levels=4, channels=1:
                   lm.design(beta, alpha, branching=branching, levels=levels,
                             channels=channels).process,
                   dict(beta=0.5, alpha=1.0, branching=None, levels=4, channels=1),
                   dict(beta="real", alpha="real", branching="int", levels="int",
                        channels="int")),
    }
    for cname, (ctor, base, kinds) in ctors.items():
        for param, kind in kinds.items():
            bad = INT_BAD if kind == "int" else REAL_BAD
            odd = INT_ODD if kind == "int" else REAL_ODD
            if param in ("coupling", "pair_mi", "branching") and None in bad:
                bad = [v for v in bad if v is not None]
            for v in bad + odd:
                if kind == "real" and param in ("coupling", "pair_mi", "noise") and v is None:
                    continue
                kw = dict(base)
                kw[param] = v
                invalid = any(v is b or (isinstance(v, float) and isinstance(b, float)
                                         and (v == b or (math.isnan(v) and math.isnan(b))))
                              for b in bad)
                if kind == "int" and isinstance(v, bool):
                    invalid = True
                names = [param] + (["copies"] if param == "branching" else [])
                add(f"{cname}({param}={v!r})",
                    (lambda ctor=ctor, kw=kw: exercise(ctor(**kw))), names, invalid)

    # big sizes the issue names
    add("HierarchicalDiscrete(branching=2**31)",
        lambda: lm.HierarchicalDiscrete(branching=2**31, copies=1, levels=1), ["branching"], None)
    add("HierarchicalDiscrete(branching=40, alphabet=2)",
        lambda: lm.HierarchicalDiscrete(branching=40, copies=1, levels=1), ["branching", "alphabet"], None)
    add("design(levels=10**5)", lambda: lm.design(0.5, 1.0, levels=10**5), ["levels"], None)
    add("design(levels=10**9)", lambda: lm.design(0.5, 1.0, levels=10**9), ["levels"], None)
    add("HierarchicalGaussian(4, 3, 15).bipartite_mi()",
        lambda: lm.HierarchicalGaussian(4, 3, 15).bipartite_mi(), ["length", "levels"], None)
    add("HierarchicalGaussian(2, 1, 30).bipartite_mi()",
        lambda: lm.HierarchicalGaussian(2, 1, 30).bipartite_mi(), ["length", "levels"], None)
    add("HierarchicalGaussian(4, 3, 15).sample(1)",
        lambda: lm.HierarchicalGaussian(4, 3, 15).sample(1, rng=0), ["length", "n", "levels"], None)
    add("HierarchicalGaussian(4,3,8).sample(10**7)",
        lambda: lm.HierarchicalGaussian(4, 3, 8).sample(10**7, rng=0), ["n"], None)
    add("AR1(0.5, 2**26).sample(100)",
        lambda: lm.AR1(0.5, 2**26).sample(100, rng=0), ["n", "length"], None)
    add("AR1(0.5, 2**26).covariance()",
        lambda: lm.AR1(0.5, 2**26).covariance(), ["length"], None)
    add("FGN(0.7, 2**26)", lambda: lm.FractionalGaussianNoise(0.7, 2**26), ["length"], None)
    add("SantaFe(2, 2**20, 2**20).bipartite_mi()",
        lambda: lm.SantaFe(2.0, 2**20, 2**20).bipartite_mi(), ["facts", "length"], None)
    add("all_equal(8192, 2**40).sample(2)",
        lambda: lm.MarkovChain.all_equal(8192, 2**40).sample(2, rng=0), ["length", "vocab_size"], None)
    add("all_equal(8192, 2**30).sample(1000)",
        lambda: lm.MarkovChain.all_equal(8192, 2**30).sample(1000, rng=0), ["length", "n"], None)
    add("HierarchicalMarkov(1024, 6, eye(2))",
        lambda: lm.HierarchicalMarkov(1024, 6, np.eye(2)).sample(1, rng=0), ["length", "levels"], None)
    for idd, names in [("tree:vocab=20000", ["vocab"]), ("tree:vocab=8192,levels=2", ["vocab"]),
                       ("tree:vocab=3000", ["vocab", "bipartite_mi"]),
                       ("tree:branching=1024,levels=6", ["levels", "length"]),
                       ("discrete-subvolume:alphabet=256", ["alphabet"]),
                       ("santa-fe:facts=1000000000", ["facts"]),
                       ("fgn:length=100000000", ["length"]),
                       ("hierarchical:levels=15", ["levels", "length"]),
                       ("subvolume:levels=15,coupling=0.5", ["levels", "length"]),
                       ("hierarchical:channels=100000000", ["channels"]),
                       ("ar1:length=1000000000", ["length"])]:
        add(f"make_process({idd!r})+exercise", (lambda idd=idd: exercise(make_process(idd))),
            names, None)

    # ids
    bad_ids = [("ar1:phi=0.5,phi=0.7", ["phi"]), ("ar1:length=2.5", ["length"]),
               ("tree:vocab=2.5", ["vocab"]), ("tree:levels=3.0", ["levels"]),
               ("ar1:length=1e3", ["length"]), ("ar1:length=true", ["length"]),
               ("ar1:length=none", ["length"]), ("ar1:phi=nan", ["phi"]),
               ("ar1:phi=inf", ["phi"]), ("ar1:phi=abc", ["phi"]), ("ar1:phi=", ["phi"]),
               ("ar1:phi=0.5,", []), ("ar1:=3", []), ("ar1:phi", ["phi"]),
               ("ar1:phi=0.5|0.2", ["phi"]), ("ar1:length=0x10", ["length"]),
               ("ar1:length=1_000", ["length"]), ("ar1:length=-5", ["length"]),
               ("ar1:channels=0", ["channels"]), ("ar1:bogus=1", ["bogus"]),
               ("nosuch", ["nosuch"]), ("", ["family", "id"]), (":", ["family", "id"]),
               ("ar1::phi=1", ["phi", "id"]), ("ar1:phi=0.5:length=3", ["phi", "id"]),
               ("AR1", ["AR1"]), (" ar1", ["ar1"]), ("ar1:phi=1e400", ["phi"]),
               ("arma:ar=0.5|x", ["ar"]), ("arma:ar=()", []), ("arma:ma=true", ["ma"]),
               ("markov-binary:flip=2", ["flip"]), ("markov-binary:flip=nan", ["flip"]),
               ("markov-two-state:p=0,q=0", ["p", "q"]), ("markov-two-state:p=abc", ["p"]),
               ("tree:vocab=1", ["vocab"]), ("tree:flip=-0.1", ["flip"]),
               ("tree:flip=abc", ["flip"]), ("tree:branching=2.5", ["branching"]),
               ("hierarchical:coupling=1.5", ["coupling"]), ("hierarchical:coupling=abc", ["coupling"]),
               ("hierarchical:pair_mi=-1", ["pair_mi"]), ("hierarchical:pair_mi=abc", ["pair_mi"]),
               ("subvolume:levels=0", ["levels"]), ("subvolume:levels=2.5", ["levels"]),
               ("discrete-subvolume:noise=1.5", ["noise"]), ("discrete-subvolume:noise=abc", ["noise"]),
               ("santa-fe:exponent=0.5", ["exponent"]), ("santa-fe:facts=2.5", ["facts"]),
               ("santa-fe-drift:flip_scale=0", ["flip_scale"]),
               ("santa-fe-drift:flip_exponent=nan", ["flip_exponent"]),
               ("all-equal:vocab=2.5", ["vocab"]), ("all-equal:vocab=0", ["vocab"]),
               ("fgn:hurst=1", ["hurst"]), ("fgn:hurst=true", ["hurst"])]
    # ids whose values have the right type but are out of range: canonical_id only
    # formats them (ranges are checked when the process is built)
    range_only = {"ar1:length=-5", "ar1:channels=0", "markov-binary:flip=2",
                  "markov-two-state:p=0,q=0", "tree:vocab=1", "tree:flip=-0.1",
                  "hierarchical:coupling=1.5", "hierarchical:pair_mi=-1", "subvolume:levels=0",
                  "discrete-subvolume:noise=1.5", "santa-fe:exponent=0.5",
                  "santa-fe-drift:flip_scale=0", "all-equal:vocab=0", "fgn:hurst=1",
                  " ar1", "ar1:length=1e3", "tree:levels=3.0"}
    for idd, names in bad_ids:
        inv = idd not in ("arma:ar=()", " ar1", "ar1:length=1e3", "tree:levels=3.0")
        add(f"make_process({idd!r})", (lambda idd=idd: make_process(idd)), names, inv or None)
        add(f"canonical_id({idd!r})", (lambda idd=idd: canonical_id(idd)), names,
            (inv and idd not in range_only) or None)
    for L in [2.5, 0, 1, -3, NAN, INF, "64", True, 10**12, 2**31, 17, 3]:
        for fam in ["ar1", "subvolume", "tree", "santa-fe", "discrete-subvolume", "markov-binary"]:
            invalid = (isinstance(L, (float, str, bool)) and not (isinstance(L, float) and L == int(L) if isinstance(L, float) and math.isfinite(L) else False)) or (isinstance(L, int) and L < 1)
            add(f"make_process({fam!r}, {L!r})", (lambda fam=fam, L=L: make_process(fam, L)),
                ["length"], invalid or None)
    for spec in [None, 3, 2.5, b"ar1", ["ar1"], object()]:
        add(f"make_process({spec!r})", (lambda spec=spec: make_process(spec)), ["spec", "id"], True)

    # arrays into exact conditionals / log-probs
    hg = lm.HierarchicalGaussian(4, 3, 2)
    ar = lm.AR1(0.5, 16)
    mc = make_process("markov-binary:length=16")
    tr = make_process("tree:levels=4")
    hd = lm.HierarchicalDiscrete(4, 3, 2)
    sf = lm.SantaFe(2.0, 8, 16)
    arrays = [np.zeros((2, 15)), np.full((2, 16), np.nan), np.zeros((2, 16), dtype=complex),
              np.array([["a"] * 16]), np.zeros((0, 16)), np.zeros((2, 16, 3)), [[1] * 16],
              np.full((1, 16), 1e308), np.full((1, 16), -1), np.full((1, 16), 5),
              np.full((1, 16), 2**40), np.zeros((1, 16), dtype=bool), np.full((1, 16), 0.5),
              None, "x", np.zeros(()), np.zeros((2, 16), dtype=np.float16)]
    for pname, p in [("hg", hg), ("ar", ar), ("markov", mc), ("tree", tr), ("hd", hd), ("sf", sf)]:
        meth = "conditional_moments" if hasattr(p, "conditional_moments") else "conditional_probs"
        for i, a in enumerate(arrays):
            for m in (meth, "log_prob"):
                add(f"{pname}.{m}(array#{i})", (lambda p=p, m=m, a=a: getattr(p, m)(a)),
                    ["x", "tokens"], None)
        for args in [(-1, 2), (0, 10**9), (0.5, 1), (NAN, 1), ("0", 1), (3, 3), (None, 1)]:
            add(f"{pname}.two_point_mi{args}", (lambda p=p, args=args: p.two_point_mi(*args)),
                ["i", "j"], args != (3, 3) or None)
        for cut in [0, -1, 10**9, 2.5, NAN, "8", True, p.length]:
            add(f"{pname}.bipartite_mi({cut!r})", (lambda p=p, cut=cut: p.bipartite_mi(cut)),
                ["cut"], True)
        for n in [0, -1, 2.5, NAN, "3", 10**12, True]:
            add(f"{pname}.sample({n!r})", (lambda p=p, n=n: p.sample(n, rng=0)), ["n"], True)
        for rng in [-1, 2.5, "0", NAN, 2**70, [1, 2]]:
            add(f"{pname}.sample(2, rng={rng!r})", (lambda p=p, rng=rng: p.sample(2, rng=rng)),
                ["rng"], rng != 2**70 or None)

    # validate
    def V(**kw):
        base = dict(estimators=["gaussian"], processes=["ar1"], lengths=[8], n_samples=[50])
        base.update(kw)
        return lm.validate(base.pop("estimators"), base.pop("processes"), **base)

    for kw, names, inv in [
        (dict(cut=0), ["cut"], True), (dict(cut=1.5), ["cut"], True), (dict(cut=-0.5), ["cut"], True),
        (dict(cut=100), ["cut"], True), (dict(cut="middle"), ["cut"], True),
        (dict(cut=NAN), ["cut"], True), (dict(cut=True), ["cut"], True),
        (dict(lengths=[1]), ["lengths"], True), (dict(lengths=[2.5]), ["lengths"], True),
        (dict(lengths=[17], processes=["subvolume"]), ["length"], True),
        (dict(lengths=[]), ["lengths"], True), (dict(lengths=[10**12]), ["length"], True),
        (dict(n_samples=[1]), ["n_samples"], True), (dict(n_samples=[]), ["n_samples"], True),
        (dict(n_samples=[10**12]), ["n_samples"], True),
        (dict(seeds=[-1]), ["seeds"], True), (dict(seeds=[]), ["seeds"], True),
        (dict(seeds=[0, 0]), ["seeds"], True), (dict(n_samples=[50, 50]), ["n_samples"], True),
        (dict(lengths=[8, 8]), ["lengths"], True),
        (dict(timeout=0), ["timeout"], True), (dict(timeout=INF), ["timeout"], True),
        (dict(timeout=NAN), ["timeout"], True), (dict(timeout="1"), ["timeout"], True),
        (dict(distances=[0]), ["distances"], True), (dict(distances=[]), None, None),
        (dict(estimators=[]), ["estimators"], True), (dict(estimators=["nope"]), ["estimator"], True),
        (dict(estimators=[3]), ["estimators"], True), (dict(processes=[]), ["processes"], True),
        (dict(processes=["nosuch"]), ["nosuch", "family"], True),
        (dict(processes=["ar1:phi=2"]), ["phi"], True),
        (dict(processes=["ar1", "ar1"]), ["processes"], True),
        (dict(processes=[3]), ["processes"], True),
    ]:
        add(f"validate({kw})", (lambda kw=kw: V(**kw)), names or [], inv)
    return cases


def cli_cases(tmp):
    """(label, argv, invalid?)"""
    cfg_dir = os.path.join(tmp, "cfgdir")
    os.makedirs(cfg_dir, exist_ok=True)
    binf = os.path.join(tmp, "bin.toml")
    with open(binf, "wb") as fh:
        fh.write(bytes(range(256)) * 4)
    good = os.path.join(tmp, "good.toml")
    with open(good, "w") as fh:
        fh.write('[sweep]\njob = "exact_mi"\n[grid]\nprocess = ["ar1"]\nlength = [8]\n')
    badcell = os.path.join(tmp, "badcell.toml")
    with open(badcell, "w") as fh:
        fh.write('[sweep]\njob = "exact_mi"\n[grid]\nprocess = ["subvolume"]\nlength = [17]\n')
    badcell2 = os.path.join(tmp, "badcell2.toml")
    with open(badcell2, "w") as fh:
        fh.write('[sweep]\njob = "exact_mi"\n[grid]\nprocess = ["ar1:phi=2"]\nlength = [8]\n')
    badcell3 = os.path.join(tmp, "badcell3.toml")
    with open(badcell3, "w") as fh:
        fh.write('[sweep]\njob = "validate"\n[grid]\nprocess = ["tree"]\nlength = [100]\n')
    badcell4 = os.path.join(tmp, "badcell4.toml")
    with open(badcell4, "w") as fh:
        fh.write('[sweep]\njob = "exact_mi"\n[grid]\nprocess = ["ar1:phi=0.5,phi=0.6"]\nlength = [8]\n')
    badcell5 = os.path.join(tmp, "badcell5.toml")
    with open(badcell5, "w") as fh:
        fh.write('[sweep]\njob = "exact_mi"\nout = "%s"\n[grid]\nprocess = ["ar1"]\nlength = [8]\n'
                 % os.path.join(tmp, "nodir", "x.nc").replace("\\", "/"))
    badcell6 = os.path.join(tmp, "badcell6.toml")
    with open(badcell6, "w") as fh:
        fh.write('[sweep]\njob = "exact_mi"\n[grid]\nprocess = ["ar1"]\nlength = [10000000000]\n')
    utf = os.path.join(tmp, "bad_utf.toml")
    with open(utf, "wb") as fh:
        fh.write(b"[sweep]\njob = \"\xff\xfe\"\n")
    textf = os.path.join(tmp, "text.nc")
    with open(textf, "w") as fh:
        fh.write("hello")
    afile = os.path.join(tmp, "afile")
    open(afile, "w").close()
    garbage_ckpt = os.path.join(tmp, "garbage.pt")
    with open(garbage_ckpt, "wb") as fh:
        fh.write(b"not a checkpoint" * 10)
    notnc = os.path.join(tmp, "not.nc")
    with open(notnc, "w") as fh:
        fh.write("hello")
    o = lambda name: os.path.join(tmp, "o", name)  # noqa: E731
    bad_outs = [afile + "/x.nc", cfg_dir, os.path.join(tmp, "nodir2", "x.nc") + "/"]
    cases = []

    def add(argv, invalid):
        cases.append((" ".join(argv), argv, invalid))

    add(["sample", "ar1", "--out", o("s.npy"), "--n", "2"], False)
    for pr in ["ar1:length=2.5", "tree:vocab=2.5", "ar1:phi=0.5,phi=0.7", "nosuch", "ar1:phi=2",
               "tree:vocab=20000", "hierarchical:levels=15", "ar1:length=1000000000",
               "santa-fe:facts=1000000000"]:
        add(["sample", pr, "--out", o("s2.npy")], True)
    for n in ["0", "-1", "2.5", "nan", "100000000000"]:
        add(["sample", "ar1", "--n", n, "--out", o("s3.npy")], True)
    for L in ["17", "1", "0", "2.5", "10000000000"]:
        add(["sample", "subvolume", "--length", L, "--out", o("s4.npy")], True)
    for out in bad_outs + ["x.txt", ""]:
        add(["sample", "ar1", "--out", out], True)
    add(["sample", "ar1", "--out", o("x.nc"), "--seed", "-1"], True)
    add(["sample", "ar1", "--out", o("x.nc"), "--seed", str(2**70)], None)
    # mi
    add(["mi", "ar1"], False)
    for argv in [["subvolume", "--lengths", "17"], ["ar1", "--lengths", "1"],
                 ["ar1", "--distances", "0"], ["tree:vocab=2.5"], ["ar1:length=2.5"],
                 ["tree:vocab=20000"], ["hierarchical:levels=15"], ["nosuch"],
                 ["ar1", "--lengths", "10000000000"], ["subvolume", "--lengths", "4", "4"]]:
        add(["mi", *argv], True)
    for out in bad_outs:
        add(["mi", "ar1", "--out", out, "--force"], True)
    add(["mi", "ar1", "--out", notnc, "--force"], False)
    # validate
    base = ["validate", "--estimators", "gaussian", "--processes", "ar1", "--n-samples", "50"]
    add(base + ["--lengths", "8", "--out", o("v.nc")], False)
    add(base + ["--lengths", "17", "--out", o("v3.nc"), "--force"], False)  # ar1 at 17: valid
    for extra in [["--processes", "subvolume", "--lengths", "17"],
                  ["--timeout", "inf"], ["--timeout", "nan"], ["--timeout", "0"],
                  ["--timeout", "-1"], ["--lengths", "10000000000"], ["--n-samples", "1"],
                  ["--n-samples", "10000000000"], ["--seeds", "-1"], ["--seeds", "0", "0"],
                  ["--processes", "tree:vocab=2.5"], ["--processes", "ar1", "ar1"],
                  ["--estimators", "nope"]]:
        add(base + extra + ["--out", o("v2.nc"), "--force"], True)
    for out in bad_outs:
        add(base + ["--lengths", "8", "--out", out, "--force"], True)
    # train
    tbase = ["train", "ar1:length=8", "--steps", "1", "--eval-samples", "2", "--batch-size", "2",
             "--d-model", "8", "--n-layer", "1", "--device", "cpu"]
    for extra in [["--lr", "inf"], ["--lr", "nan"], ["--lr", "0"], ["--lr", "1e308"],
                  ["--checkpoint", garbage_ckpt], ["--checkpoint", cfg_dir],
                  ["--checkpoint", afile + "/x.pt"], ["--device", "cuda"],
                  ["--device", "nonsense"], ["--device", "cuda:99"],
                  ["--d-model", "100000000"], ["--steps", "0"], ["--d-state", "4"]]:
        add(tbase + extra + ["--out", o("t.nc"), "--force"], True)
    for out in bad_outs:
        add(tbase + ["--out", out, "--force"], True)
    add(["train", "tree:vocab=2.5", "--out", o("t2.nc"), "--force"], True)
    # sweep
    for cfg in [cfg_dir, binf, utf, afile, os.path.join(tmp, "missing.toml"), badcell, badcell2,
                badcell3, badcell4, badcell6]:
        add(["sweep", cfg, "--out", o("sw.nc")], True)
    add(["sweep", badcell5], False)
    for out in bad_outs:
        add(["sweep", good, "--out", out], True)
    add(["sweep", good, "--out", notnc], True)
    add(["sweep", good, "--workers", "0"], True)
    add(["sweep", good, "--out", o("sw3.nc"), "--scheduler", "tcp://256.1.1.1:1"], True)
    # plot
    for res in [textf, cfg_dir, binf, os.path.join(tmp, "missing.nc")]:
        add(["plot", res, "--out", o("plot")], True)
    # demo
    add(["demo", "--levels-max", "100"], True)
    add(["demo", "--out", afile, "--levels-max", "2", "--no-families"], True)
    add(["demo", "--out", afile + "/sub", "--levels-max", "2", "--no-families"], True)
    add(["demo", "--fit-levels", "50", "--levels-max", "2", "--no-families", "--out", o("demo")], True)
    add(["nosuch"], True)
    add([], True)
    return cases


# ---------------------------------------------------------------------- running


def _child_api(fn, wfd):
    try:
        fn()
        res = ("ok", "")
    except (ValueError, TypeError) as e:
        res = ("valueerror", f"{type(e).__name__}: {e}")
    except BaseException as e:  # noqa: BLE001
        res = ("other", f"{type(e).__name__}: {str(e)[:300]}")
    os.write(wfd, pickle.dumps(res))


def _child_cli(argv, wfd):
    from l2m_sim.cli import main

    err = io.StringIO()
    outb = io.StringIO()
    sys.stderr = err
    sys.stdout = outb
    try:
        code = main(argv)
        tb = ""
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        tb = ""
    except BaseException:  # noqa: BLE001
        code = "raise"
        tb = traceback.format_exc()
    os.write(wfd, pickle.dumps((code, err.getvalue()[-2000:], outb.getvalue()[-2000:], tb[-1500:])))


def run_forked(target, arg, timeout):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            os.setpgid(0, 0)
            with open("/proc/self/statm") as fh:
                vm = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            resource.setrlimit(resource.RLIMIT_AS, (vm + MEM_LIMIT, vm + MEM_LIMIT))
            target(arg, w)
        finally:
            os._exit(0)
    os.close(w)
    t0 = time.time()
    chunks = []
    import select

    while True:
        left = timeout - (time.time() - t0)
        if left <= 0:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(r)
            return "hang", None
        ready, _, _ = select.select([r], [], [], min(left, 0.5))
        if ready:
            data = os.read(r, 1 << 16)
            if not data:
                break
            chunks.append(data)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        return "crash", f"status {status}"
    return "done", pickle.loads(b"".join(chunks))


def classify_api(res, names, invalid):
    kind, val = res
    if kind == "hang":
        return "hang", ""
    if kind == "crash":
        return "crash", val
    status, msg = val
    if status == "ok":
        return ("silent" if invalid else "ok"), ""
    if status == "other":
        return "other", msg
    if not names or any(n.lower() in msg.lower() for n in names):
        return "clear", msg
    return "unclear", msg


def classify_cli(res, invalid):
    kind, val = res
    if kind == "hang":
        return "hang", ""
    if kind == "crash":
        return "crash", val
    code, err, out, tb = val
    if code == "raise" or "Traceback" in err:
        return "traceback", (tb or err)[-400:]
    if code == 0:
        if invalid or " nan" in out.lower():
            return "silent", out[-300:]
        return "ok", ""
    if code == 2:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        if lines and "error" in lines[-1]:
            return "clear", lines[-1][:300]
        return "unclear", err[-300:]
    return "traceback", f"exit {code}: {err[-300:]}"


def warm():
    """Compile the kernels in the parent so forked children do not."""
    for spec in ["subvolume:levels=2", "ar1:length=8", "markov-binary:length=8", "tree:levels=3",
                 "discrete-subvolume:levels=2", "santa-fe:length=8", "santa-fe-drift:length=8",
                 "fgn:length=8", "hierarchical:levels=2,pair_mi=1.0"]:
        try:
            p = make_process(spec)
            p.sample(2, rng=0)
            p.bipartite_mi()
        except Exception:  # noqa: BLE001
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--only", choices=["api", "cli"], default=None)
    ap.add_argument("--grep", default=None)
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    warm()
    tally = Counter()
    bad = []
    tmp = tempfile.mkdtemp(prefix="l2m_fuzz_")
    t0 = time.time()
    if a.only in (None, "api"):
        for label, fn, names, invalid in api_cases():
            if a.grep and a.grep not in label:
                continue
            res = run_forked(_child_api, fn, a.timeout)
            cls, msg = classify_api(res, names, invalid)
            tally["api:" + cls] += 1
            if cls not in ("ok", "clear") or a.v:
                bad.append(f"[api {cls}] {label}: {msg}")
    if a.only in (None, "cli"):
        cwd = os.getcwd()
        os.chdir(tmp)
        for label, argv, invalid in cli_cases(tmp):
            if a.grep and a.grep not in label:
                continue
            res = run_forked(_child_cli, argv, a.timeout)
            cls, msg = classify_cli(res, invalid)
            tally["cli:" + cls] += 1
            if cls not in ("ok", "clear") or a.v:
                bad.append(f"[cli {cls}] {label.replace(tmp, '$TMP')}: {str(msg).replace(tmp, '$TMP')}")
        os.chdir(cwd)
    for line in bad:
        print(line)
    print()
    for scope in ("api", "cli"):
        tot = sum(v for k, v in tally.items() if k.startswith(scope))
        if tot:
            parts = ", ".join(f"{k.split(':')[1]} {v}" for k, v in sorted(tally.items())
                              if k.startswith(scope))
            print(f"{scope}: {tot} inputs tried: {parts}")
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
