"""The study's measurement pipelines scored against token processes with exact information.

Processes: :class:`~l2m_sim.SantaFe` (``SantaFe.from_beta(beta, K, L)``: ``I_BP ~ L^beta``,
two-point MI constant in ``d``, so ``alpha = 0``) and :class:`~l2m_sim.DriftingSantaFe`
with the same ``a = 1/beta`` and ``gamma = a`` (the language-like design of its docstring:
``beta = 1/a``, ``alpha = (2a - 1)/gamma = 2 - beta``), over a beta grid, ``K`` facts.

Pipelines, each scored against the exact value of the same quantity:

* **two-point**: Grassberger two-point MI pooled over positions and sequences, fitted with
  ``A d^-alpha + C`` (:func:`l2m_sim.estimators.fit_power_law`), at several token budgets:
  alpha-hat against the exact alpha. Truth: the exact per-position two-point MI
  ``I(X_t; X_{t+d})``. Both families are stationary (iid indices; fixed or stationary
  Markov bits), so the law of ``(X_t, X_{t+d})`` does not depend on ``t`` and the
  position-pooled pair law *is* the per-position law: the pooled truth equals the
  per-position truth. Checked numerically by enumeration on a tiny drifting case
  (dataset attribute ``pooled_check``).
* **block**: Grassberger block-entropy bipartite MI (each half coded as one symbol), only at
  small ``L`` (the joint alphabet is ``(2K)^L``; the fraction of distinct blocks is stored).
* **direct / vclub, exact q**: the model-based estimators with the exact process as ``q``
  (control; direct is unbiased, vCLUB an upper bound -- infinite for the non-drifting Santa
  Fe, whose mismatched pairs contradict a fact and have probability 0).
* **direct / vclub, trained q**: a GPT (``d_model = 32``, ``n_layer = 2``) trained by
  :func:`l2m_sim.train` on the same process (cross-entropy, fresh samples every step) at
  two cumulative step budgets, and a fixed-state model (``state_core``, ``state_size``
  8) at the larger budget on one beta of the drifting family. Kept to ``L <= 256`` and a
  few hundred steps (CPU budget): these are *barely trained* models, which is the regime
  the table describes, not a converged one. The block marginal ``log q(y)`` of a trained
  model is its run on ``y`` as a fresh sequence (``marginal = "fresh"``; the process law
  of the block equals the fresh law because the process is stationary).

beta-hat: least-squares slope of ``log I-hat`` on ``log L`` over the lengths the pipeline
has; it is compared with the slope of the *exact* ``I_BP`` over the same lengths
(``beta_exact_fit``; finite ``K`` and small ``L`` make it differ from ``1/a``, given as
``beta_design``).

Writes ``sims/results/token_pipeline_study.nc`` and ``.png`` and prints the tables.

    python sims/token_pipeline_study.py [--fast] [--out PATH]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    # one thread when run as a script; never when imported (the test suite imports it after
    # numba's threads are running, and changing NUMBA_NUM_THREADS then breaks later calls)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from l2m_sim import estimators as E  # noqa: E402
from l2m_sim.processes.santafe import DriftingSantaFe, SantaFe  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FAMILIES = ("santa-fe", "santa-fe-drift")
FLIP_SCALE = 0.25


# ----------------------------------------------------------------------------- processes


def make(family, beta, facts, length):
    """Santa Fe at ``a = 1/beta``, or its drifting variant with ``gamma = a``."""
    sf = SantaFe.from_beta(beta, facts, length)
    if family == "santa-fe":
        return sf
    return DriftingSantaFe(sf.exponent, facts, length, FLIP_SCALE, sf.exponent)


def design_exponents(family, beta):
    a = 1.0 / beta
    if family == "santa-fe":
        return beta, 0.0
    return beta, (2 * a - 1) / a


def slope(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


# ----------------------------------------------------------------------------- pipelines


def block_grassberger(tokens, cut):
    """Grassberger ``H(X) + H(Y) - H(X, Y)`` with each block (row slice) coded as one symbol.
    Returns (estimate, fraction of distinct joint blocks among the samples)."""
    def codes(a):
        return np.unique(np.ascontiguousarray(a), axis=0, return_inverse=True)[1].ravel()

    def H(c):
        return E.grassberger_entropy(np.bincount(c))

    cx, cy = codes(tokens[:, :cut]), codes(tokens[:, cut:])
    cxy = codes(tokens)
    return H(cx) + H(cy) - H(cxy), np.unique(cxy).size / tokens.shape[0]


class TorchQ:
    """A trained token model as ``q``: ``position_log_probs`` from its logits (batched)."""

    def __init__(self, net, batch=32):
        self.net, self.batch = net, batch

    def position_log_probs(self, w):
        import torch

        w = np.asarray(w)
        out = np.empty(w.shape)
        self.net.eval()
        with torch.no_grad():
            for s in range(0, w.shape[0], self.batch):
                t = torch.as_tensor(w[s:s + self.batch], dtype=torch.long)
                lq = torch.log_softmax(self.net.logits(t).double(), dim=-1)
                out[s:s + self.batch] = lq.gather(-1, t[..., None])[..., 0].numpy()
        return out


def heldout_kl(ds):
    """train()'s held-out KL, or NLL - exact NLL (its expectation) where train() gives NaN:
    on Santa Fe some exact conditionals are 0 and train()'s float32 clamp_min(1e-300)
    underflows to 0, so its KL is 0 * -inf = NaN (a training.py issue, worked around here)."""
    k = float(ds.kl)
    return k if math.isfinite(k) else float(ds.nll) - float(ds.nll_exact)


def model_based(q, x, marginal):
    d = E.direct_bipartite(q, x, marginal=marginal)
    try:
        v = E.vclub_bipartite(q, x, rng=1)
        v = (v.value, v.se)
    except FloatingPointError:  # a mismatched pair with q = 0 (non-drifting Santa Fe, exact q)
        v = (math.inf, math.nan)
    return (d.value, d.se), v


def pooled_check():
    """Exact pooled vs per-position two-point MI by enumeration on a tiny drifting case."""
    p = DriftingSantaFe(1.5, 2, 5, 0.2, 1.5)
    M, L = p.vocab_size, p.length
    seqs = np.array(list(itertools.product(range(M), repeat=L)), dtype=np.int64)
    prob = np.exp(p.log_prob(seqs))
    worst = 0.0
    for d in range(1, L):
        pooled = np.zeros((M, M))
        per = []
        for t in range(L - d):
            J = np.zeros((M, M))
            np.add.at(J, (seqs[:, t], seqs[:, t + d]), prob)
            per.append(_mi(J))
            pooled += J / (L - d)
        exact = float(p.two_point_mi(0, d))
        worst = max(worst, abs(_mi(pooled) - exact), max(abs(v - exact) for v in per))
    return worst, float(prob.sum())


def _mi(J):
    px, py = J.sum(1, keepdims=True), J.sum(0, keepdims=True)
    ok = J > 0
    return float(np.sum(J[ok] * np.log(J[ok] / (px @ py)[ok])))


# ----------------------------------------------------------------------------- the study


def run(cfg, log=print):
    import torch

    import l2m_sim
    from l2m_sim.training import build_model

    torch.set_num_threads(1)
    betas, K = cfg["betas"], cfg["facts"]
    lengths = sorted(set(cfg["exact_lengths"]) | set(cfg["block_lengths"]) | set(cfg["train_lengths"]))
    budgets = cfg["gpt_steps"]
    pipes = ["block (grassberger)", "direct (exact q)", "vclub (exact q)"]
    for s in budgets:
        pipes += [f"direct (gpt, {s} steps)", f"vclub (gpt, {s} steps)"]
    sc = f"state_core(d={cfg['state_size']}), {budgets[-1]} steps"
    pipes += [f"direct ({sc})", f"vclub ({sc})"]
    F, B, NL, NP = len(FAMILIES), len(betas), len(lengths), len(pipes)
    exact = np.full((F, B, NL), np.nan)
    est = np.full((NP, F, B, NL), np.nan)
    se = np.full((NP, F, B, NL), np.nan)
    kl = np.full((NP, F, B, NL), np.nan)
    distinct = np.full((F, B, NL), np.nan)
    dists = cfg["distances"]
    toks = cfg["tp_tokens"]
    tp_exact = np.full((F, B, len(dists)), np.nan)
    tp_est = np.full((F, B, len(toks), len(dists)), np.nan)
    tp_se = np.full_like(tp_est, np.nan)
    alpha_hat = np.full((F, B, len(toks)), np.nan)
    fit_C = np.full_like(alpha_hat, np.nan)
    alpha_exact_fit = np.full((F, B), np.nan)
    alpha_design = np.full((F, B), np.nan)
    beta_design = np.full((F, B), np.nan)
    li = {L: i for i, L in enumerate(lengths)}
    t_start = time.time()
    for (fi, fam), (bi, beta) in itertools.product(enumerate(FAMILIES), enumerate(betas)):
        beta_design[fi, bi], alpha_design[fi, bi] = design_exponents(fam, beta)
        seed = 1000 * fi + bi
        for L in lengths:
            exact[fi, bi, li[L]] = make(fam, beta, K, L).bipartite_mi()
        # two-point MI: sequences of length tp_length, pooled, at each token budget
        p = make(fam, beta, K, cfg["tp_length"])
        tp_exact[fi, bi] = [p.two_point_mi(0, d) for d in dists]
        alpha_exact_fit[fi, bi] = -slope(dists, tp_exact[fi, bi]) if fam != "santa-fe" else 0.0
        for ti, T in enumerate(toks):
            x = p.sample(T // p.length, rng=np.random.default_rng([seed, 1, ti]))
            m, s = E.two_point_mi(x, dists, return_se=True, vocab_size=p.vocab_size)
            tp_est[fi, bi, ti], tp_se[fi, bi, ti] = m, s
            try:
                fit = E.fit_power_law(np.asarray(dists), m, se=np.maximum(s, 1e-12))
                alpha_hat[fi, bi, ti], fit_C[fi, bi, ti] = fit.alpha, fit.C
            except ValueError:
                pass
        # block entropy at small L
        for L in cfg["block_lengths"]:
            x = make(fam, beta, K, L).sample(cfg["block_n"], rng=np.random.default_rng([seed, 2, L]))
            est[0, fi, bi, li[L]], distinct[fi, bi, li[L]] = block_grassberger(x, L // 2)
        # model-based with the exact process as q
        for L in cfg["exact_lengths"]:
            p = make(fam, beta, K, L)
            x = p.sample(cfg["exact_n"], rng=np.random.default_rng([seed, 3, L]))
            (est[1, fi, bi, li[L]], se[1, fi, bi, li[L]]), (est[2, fi, bi, li[L]], se[2, fi, bi, li[L]]) = \
                model_based(p, x, "reversed")
        log(f"[{time.time() - t_start:6.0f}s] {fam} beta={beta}: two-point, block, exact-q done")
        # model-based with trained models as q
        for L in cfg["train_lengths"]:
            p = make(fam, beta, K, L)
            x = p.sample(cfg["train_eval_n"], rng=np.random.default_rng([seed, 4, L]))
            net = build_model("gpt", p, dict(d_model=32, n_layer=2))
            done = 0
            for k, steps in enumerate(budgets):
                ds = l2m_sim.train(p, net, steps=steps - done, batch_size=cfg["batch"], lr=cfg["lr"],
                                   seed=k, eval_samples=cfg["eval_samples"], device="cpu")
                done = steps
                j = 3 + 2 * k
                (est[j, fi, bi, li[L]], se[j, fi, bi, li[L]]), (est[j + 1, fi, bi, li[L]], se[j + 1, fi, bi, li[L]]) = \
                    model_based(TorchQ(net), x, "fresh")
                kl[j, fi, bi, li[L]] = kl[j + 1, fi, bi, li[L]] = heldout_kl(ds)
            if fam == cfg["state_family"] and beta == cfg["state_beta"]:
                net = build_model("state_core", p, dict(state_size=cfg["state_size"]))
                ds = l2m_sim.train(p, net, steps=budgets[-1], batch_size=cfg["batch"], lr=cfg["lr"],
                                   seed=0, eval_samples=cfg["eval_samples"], device="cpu")
                (est[NP - 2, fi, bi, li[L]], se[NP - 2, fi, bi, li[L]]), (est[NP - 1, fi, bi, li[L]], se[NP - 1, fi, bi, li[L]]) = \
                    model_based(TorchQ(net), x, "fresh")
                kl[NP - 2, fi, bi, li[L]] = kl[NP - 1, fi, bi, li[L]] = heldout_kl(ds)
            log(f"[{time.time() - t_start:6.0f}s] {fam} beta={beta} L={L}: trained models done")

    beta_hat = np.full((NP, F, B), np.nan)
    beta_exact_fit = np.full((NP, F, B), np.nan)
    for j, fi, bi in itertools.product(range(NP), range(F), range(B)):
        ok = np.isfinite(est[j, fi, bi]) & (est[j, fi, bi] > 0)
        if ok.sum() >= 2:
            Ls = np.asarray(lengths)[ok]
            beta_hat[j, fi, bi] = slope(Ls, est[j, fi, bi][ok])
            beta_exact_fit[j, fi, bi] = slope(Ls, exact[fi, bi][ok])
    worst, total = pooled_check()
    ds = xr.Dataset(
        {
            "exact_ibp": (("family", "beta", "length"), exact,
                          {"units": "nats", "long_name": "exact I_BP at the middle cut"}),
            "estimate": (("pipeline", "family", "beta", "length"), est, {"units": "nats"}),
            "stderr": (("pipeline", "family", "beta", "length"), se, {"units": "nats"}),
            "model_kl": (("pipeline", "family", "beta", "length"), kl,
                         {"units": "nats", "long_name": "held-out KL per token of the trained q"}),
            "block_distinct_fraction": (("family", "beta", "length"), distinct),
            "beta_hat": (("pipeline", "family", "beta"), beta_hat),
            "beta_exact_fit": (("pipeline", "family", "beta"), beta_exact_fit, {
                "long_name": "log-log slope of the exact I_BP over the lengths the pipeline has"}),
            "beta_design": (("family", "beta"), beta_design),
            "twopoint_exact": (("family", "beta", "distance"), tp_exact, {
                "units": "nats", "long_name": "exact per-position two-point MI (= exact pooled "
                "two-point MI: stationary process)"}),
            "twopoint_estimate": (("family", "beta", "tokens", "distance"), tp_est, {"units": "nats"}),
            "twopoint_stderr": (("family", "beta", "tokens", "distance"), tp_se, {"units": "nats"}),
            "alpha_hat": (("family", "beta", "tokens"), alpha_hat,
                          {"long_name": "alpha of the A d^-alpha + C fit to the Grassberger estimates"}),
            "fit_C": (("family", "beta", "tokens"), fit_C, {"units": "nats"}),
            "alpha_exact_fit": (("family", "beta"), alpha_exact_fit, {
                "long_name": "log-log slope (negated) of the exact two-point MI over the same distances"}),
            "alpha_design": (("family", "beta"), alpha_design),
        },
        coords={"family": list(FAMILIES), "beta": list(betas), "length": lengths, "pipeline": pipes,
                "distance": list(dists), "tokens": list(toks)},
        attrs={
            "title": "l2m-sim token pipeline study",
            "facts": K, "flip_scale": FLIP_SCALE,
            "drift_design": "DriftingSantaFe(a = 1/beta, K, L, flip_scale, gamma = a): beta = 1/a, alpha = 2 - beta",
            "twopoint_truth": "exact per-position two-point MI I(X_t; X_t+d); both families are "
                              "stationary, so it equals the MI of the position-pooled pair law",
            "pooled_check": f"DriftingSantaFe(1.5, K=2, L=5, 0.2, 1.5), all {4 ** 5} sequences "
                            f"enumerated (total probability {total:.12f}): max |pooled-pair MI - "
                            f"exact two_point_mi| and |per-position MI - two_point_mi| over d, t "
                            f"= {worst:.2e} nats",
            "pooled_check_max_abs_error": worst,
            "trained_models": f"gpt d_model=32 n_layer=2 at cumulative steps {budgets} (second "
                              f"budget continues the same weights with a new schedule); "
                              f"state_core state_size={cfg['state_size']} at {budgets[-1]} steps on "
                              f"{cfg['state_family']} beta={cfg['state_beta']}; batch {cfg['batch']}, "
                              f"lr {cfg['lr']}; L <= {max(cfg['train_lengths'])}; block marginal 'fresh'",
            "exact_q_marginal": "reversed (exact: the process law is reversible)",
            "config": repr(cfg),
            "wall_seconds": time.time() - t_start,
        },
    )
    return ds


# ----------------------------------------------------------------------------- output


def plot(ds, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(13, 13))
    betas = [float(b) for b in ds.beta.values]
    styles = ["-", "--", ":", "-."]
    pipes = [str(p) for p in ds.pipeline.values]
    colours = {p: f"C{i}" for i, p in enumerate(pipes)}
    T = int(ds.tokens.values[-1])
    for fi, fam in enumerate(ds.family.values):
        ax = axes[0, fi]
        for bi, b in enumerate(betas):
            ax.loglog(ds.distance, ds.twopoint_exact.isel(family=fi, beta=bi), "k" + styles[bi % 4],
                      label=f"exact, beta={b}")
            e = ds.twopoint_estimate.isel(family=fi, beta=bi, tokens=-1).values
            ok = e > 0
            ax.loglog(ds.distance.values[ok], e[ok], "o" + styles[bi % 4], color=f"C{bi}",
                      label=f"Grassberger, {T} tokens, alpha_hat={float(ds.alpha_hat.isel(family=fi, beta=bi, tokens=-1)):.2f}"
                            f" (exact {float(ds.alpha_exact_fit.isel(family=fi, beta=bi)):.2f})")
            c = e - float(ds.fit_C.isel(family=fi, beta=bi, tokens=-1))
            ok = c > 0
            ax.loglog(ds.distance.values[ok], c[ok], "x", color=f"C{bi}", ms=5,
                      label="estimate - fitted C" if bi == 0 else None)
        ax.set_title(f"{fam}: two-point MI; truth = exact per-position MI\n"
                     "(= exact pooled-pair MI: the process is stationary)", fontsize=9)
        ax.set_xlabel("distance d")
        ax.set_ylabel("I(X_t; X_t+d), nats")
        ax.legend(fontsize=6)
        ax = axes[1, fi]
        for p in pipes:
            for bi, b in enumerate(betas):
                r = (ds.estimate.sel(pipeline=p).isel(family=fi, beta=bi)
                     / ds.exact_ibp.isel(family=fi, beta=bi)).values
                ok = np.isfinite(r)
                if ok.any():
                    ax.semilogx(ds.length.values[ok], r[ok], "o" + styles[bi % 4], color=colours[p],
                                label=p if bi == 0 or not np.isfinite(
                                    (ds.estimate.sel(pipeline=p).isel(family=fi, beta=0)).values).any()
                                else None)
        ax.axhline(1, color="k", lw=1)
        ax.set_ylim(-0.1, 2.5)
        ax.set_xlabel("L (cut at L/2)")
        ax.set_ylabel("estimate / exact I_BP (clipped; vCLUB exact q = inf on santa-fe)")
        ax.set_title(f"{fam}: bipartite MI; truth = exact I_BP\n(line style: beta "
                     + ", ".join(f"{b} {styles[i % 4]}" for i, b in enumerate(betas)) + ")", fontsize=9)
        ax.legend(fontsize=6)
    ax = axes[2, 0]
    for fi, fam in enumerate(ds.family.values):
        for bi, b in enumerate(betas):
            ax.semilogx(ds.tokens, ds.alpha_hat.isel(family=fi, beta=bi), "o" + styles[bi % 4],
                        color=f"C{fi}", label=f"{fam} beta={b}")
            ax.axhline(float(ds.alpha_exact_fit.isel(family=fi, beta=bi)), color=f"C{fi}",
                       ls=styles[bi % 4], lw=0.8)
    ax.set_xlabel("tokens used")
    ax.set_ylabel("alpha_hat (A d^-alpha + C fit); lines: exact alpha")
    ax.set_title("two-point exponent vs token budget (truth: exact per-position = pooled)", fontsize=9)
    ax.legend(fontsize=6)
    ax = axes[2, 1]
    cases = [(fi, bi) for fi in range(ds.sizes["family"]) for bi in range(len(betas))]
    h = 0.8 / len(cases)
    for c, (fi, bi) in enumerate(cases):
        r = (ds.beta_hat / ds.beta_exact_fit).isel(family=fi, beta=bi).values
        ax.barh(np.arange(len(pipes)) + c * h, np.where(np.isfinite(r), r, 0.0), h,
                color=f"C{c}", label=f"{ds.family.values[fi]} beta={betas[bi]}")
    ax.set_yticks(np.arange(len(pipes)) + 0.4 - h / 2)
    ax.set_yticklabels(pipes, fontsize=7)
    ax.axvline(1, color="k", lw=1)
    ax.set_xlim(-1.5, 4)
    ax.set_xlabel("beta_hat / beta_exact (slope of the exact I_BP over the same lengths; clipped)")
    ax.set_title("bipartite exponent per pipeline (missing bar: no fit, e.g. vCLUB exact q = inf)",
                 fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def report(ds):
    fams, pipes = list(ds.family.values), [str(p) for p in ds.pipeline.values]
    print("\nbeta_hat / beta_exact_fit per pipeline (beta_exact_fit: slope of the exact I_BP over "
          "the lengths the pipeline has; beta_design = 1/a)")
    print(f"{'pipeline':<36}{'family':<16}{'beta':>6}{'lengths':>12}{'beta_hat':>10}"
          f"{'exact':>8}{'ratio':>8}")
    for p, fam, b in itertools.product(pipes, fams, ds.beta.values):
        bh = float(ds.beta_hat.sel(pipeline=p, family=fam, beta=b))
        bx = float(ds.beta_exact_fit.sel(pipeline=p, family=fam, beta=b))
        if not np.isfinite(bh):
            continue
        e = ds.estimate.sel(pipeline=p, family=fam, beta=b).values
        Ls = ds.length.values[np.isfinite(e) & (e > 0)]
        print(f"{p:<36}{fam:<16}{float(b):>6.2f}{f'{Ls.min()}-{Ls.max()}':>12}{bh:>10.3f}"
              f"{bx:>8.3f}{bh / bx:>8.3f}")
    print("\nI_hat / I_exact at each L (exact I_BP in nats on the first row of each block)")
    for fam, b in itertools.product(fams, ds.beta.values):
        ex = ds.exact_ibp.sel(family=fam, beta=b).values
        print(f"\n{fam} beta={float(b)}" + "".join(f"{'L=' + str(L):>9}" for L in ds.length.values))
        print(f"{'exact I_BP':<36}" + "".join(f"{v:>9.3f}" for v in ex))
        for p in pipes:
            e = ds.estimate.sel(pipeline=p, family=fam, beta=b).values
            if np.isfinite(e).any() or np.isinf(e).any():
                print(f"{p:<36}" + "".join(f"{v:>9.3f}" if not np.isnan(v) else f"{'':>9}" for v in e / ex))
    print("\ntwo-point: alpha_hat (A d^-alpha + C fit) by tokens used; exact alpha = slope of the "
          "exact two-point MI over the same distances (truth: per-position = pooled, stationary)")
    print(f"{'family':<16}{'beta':>6}{'design':>8}{'exact':>8}"
          + "".join(f"{'T=' + str(T):>12}" for T in ds.tokens.values))
    for fam, b in itertools.product(fams, ds.beta.values):
        a = ds.alpha_hat.sel(family=fam, beta=b).values
        print(f"{fam:<16}{float(b):>6.2f}{float(ds.alpha_design.sel(family=fam, beta=b)):>8.3f}"
              f"{float(ds.alpha_exact_fit.sel(family=fam, beta=b)):>8.3f}"
              + "".join(f"{v:>12.3f}" for v in a))
    print(f"\npooled check: {ds.attrs['pooled_check']}")


CONFIGS = {
    "fast": dict(betas=[0.5], facts=64, exact_lengths=[32, 64], block_lengths=[2, 4],
                 train_lengths=[32, 64], gpt_steps=[4, 12], state_size=8,
                 state_family="santa-fe-drift", state_beta=0.5, batch=4, lr=2e-3, eval_samples=8,
                 train_eval_n=32, exact_n=200, block_n=2**11, tp_length=256,
                 distances=[1, 2, 4, 8, 16, 32, 64], tp_tokens=[2**12, 2**14]),
    "full": dict(betas=[0.3, 0.5, 0.8], facts=1024, exact_lengths=[64, 128, 256, 512, 1024, 4096],
                 block_lengths=[2, 4, 8, 16], train_lengths=[64, 128, 256], gpt_steps=[100, 300],
                 state_size=8, state_family="santa-fe-drift", state_beta=0.5, batch=8, lr=2e-3,
                 eval_samples=32, train_eval_n=256, exact_n=1000, block_n=2**16, tp_length=1024,
                 distances=[1, 2, 4, 8, 16, 32, 64, 128, 256], tp_tokens=[2**16, 2**18, 2**20, 2**22]),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="tiny sizes (the test suite runs it)")
    ap.add_argument("--out", type=Path, default=RESULTS / "token_pipeline_study.nc")
    ap.add_argument("--plot-only", action="store_true", help="redraw the figure from --out")
    args = ap.parse_args(argv)
    if args.plot_only:
        with xr.open_dataset(args.out, engine="h5netcdf") as f:
            ds = f.load()
        report(ds)
        return plot(ds, args.out.with_suffix(".png"))
    cfg = CONFIGS["fast" if args.fast else "full"]
    ds = run(cfg, log=(lambda *a: None) if args.fast else (lambda *a: print(*a, flush=True)))
    ds.attrs["command"] = "python sims/token_pipeline_study.py" + (" --fast" if args.fast else "")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(args.out, engine="h5netcdf")
    report(ds)
    png = plot(ds, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {png}")
    return ds


if __name__ == "__main__":
    main()
