"""Demo (c): estimator pitfalls -- k-NN and neural estimators against the exact truth as
the dimension grows.

Gaussian AR(1), phi = 0.9, split into two adjacent blocks of l values: the true MI is
-1/2 ln(1 - phi^2) = 0.830 nats for *every* l (the Markov property), so any drift with l
is estimator bias. Second panel: the study's sub-volume Gaussian, estimate / truth at the
middle cut as L grows (true I_BP ~ L^0.79). Estimators: KSG (k = 3), InfoNCE (held-out,
capped at log of its evaluation batch), the bias-corrected Gaussian log-det, and the
model-based direct estimator with the exact process as its model (unbiased: the truth
within Monte-Carlo error). Runs through :func:`l2m_sim.validate`.

    python sims/demos/estimator_pitfalls.py [--fast] [--out DIR]
"""

from __future__ import annotations

import sys


sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import parse, save  # noqa: E402

from l2m_sim import TaskEstimator, validate  # noqa: E402
from l2m_sim.validate import direct_exact  # noqa: E402

ESTIMATORS = {"KSG (k=3)": "ksg1", "InfoNCE": "infonce", "Gaussian log-det": "gaussian",
              "direct, exact model": TaskEstimator(direct_exact)}


def main(argv=None):
    args = parse(__doc__, argv)
    blocks = [1, 4] if args.fast else [1, 2, 4, 8, 16, 32]
    n = 400 if args.fast else 5000
    sub_lengths = [4, 16] if args.fast else [4, 16, 64, 256]
    from functools import partial

    from l2m_sim import estimators as E

    ests = {name: (E.ESTIMATORS[e] if isinstance(e, str) else e) for name, e in ESTIMATORS.items()}
    if args.fast:  # a short InfoNCE training: the point of fast mode is that the demo runs
        ests["InfoNCE"] = partial(E.infonce, steps=100)
    ar = validate(ests, ["ar1:phi=0.9"], lengths=[2 * b for b in blocks], n_samples=[n],
                  seeds=[0])
    sv = validate(ests, ["subvolume"], lengths=sub_lengths, n_samples=[n], seeds=[0])
    truth = float(ar.truth.isel(process=0, length=0))
    print(f"AR(1) phi = 0.9, true MI {truth:.3f} nats at every block size; n = {n}")
    print(f"{'block l':>8} " + " ".join(f"{k:>20}" for k in ests))
    for b in blocks:
        vals = [float(ar.estimate.sel(estimator=k, length=2 * b).squeeze()) for k in ests]
        print(f"{b:>8} " + " ".join(f"{v:>20.3f}" for v in vals))
    print("sub-volume Gaussian: estimate / truth")
    for L in sub_lengths:
        t = float(sv.truth.sel(length=L).squeeze())
        vals = [float(sv.estimate.sel(estimator=k, length=L).squeeze()) / t for k in ests]
        print(f"{L:>8} " + " ".join(f"{v:>20.3f}" for v in vals) + f"   (truth {t:.3f})")
    bad = ar.status.values[ar.status.values != "ok"]
    if bad.size:
        print(f"{bad.size} estimator calls failed: {set(ar.message.values.ravel()) - {''}}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for k in ests:
        ax[0].semilogx(blocks, [float(ar.estimate.sel(estimator=k, length=2 * b).squeeze())
                                for b in blocks], "o-", label=k)
        ax[1].loglog(sub_lengths, [float((sv.estimate / sv.truth).sel(estimator=k, length=L)
                                         .squeeze()) for L in sub_lengths], "o-", label=k)
    ax[0].axhline(truth, color="k", ls="--", lw=1, label="exact")
    ax[0].set_xlabel("block size l (each side)")
    ax[0].set_ylabel("estimated I(X; Y), nats")
    ax[0].set_title(f"AR(1), phi = 0.9, n = {n}")
    ax[0].legend(fontsize=8)
    ax[1].axhline(1.0, color="k", ls="--", lw=1)
    ax[1].set_xlabel("sequence length L")
    ax[1].set_ylabel("estimate / exact I_BP")
    ax[1].set_title("sub-volume Gaussian, middle cut")
    ax[1].legend(fontsize=8)
    return save(fig, args.out, "estimator_pitfalls.png")


if __name__ == "__main__":
    main()
