"""Neural variational MI bounds (torch, CPU): InfoNCE and NWJ, with a held-out split.

Both train a *separable* critic ``f(x, y) = g(x) . h(y) / sqrt(e)`` (``g``, ``h``: small MLPs
with ``layers`` hidden ReLU layers of width ``hidden`` and an ``e``-dimensional output) on a
training part of the data (``1 - test_fraction``), with Adam, minibatches drawn with
replacement from a seeded generator, and report the bound **evaluated on the held-out
part** (so a critic that memorises its training pairs is not rewarded). Inputs are
standardised with the training part's mean and std. Everything is seeded (``rng``); the
global torch RNG is left untouched.

Bounds, for a batch of ``B`` pairs with scores ``S_ij = f(x_i, y_j)``:

* InfoNCE: ``1/B sum_i [S_ii - log(1/B sum_j exp S_ij)]``. It is a lower bound on ``I``
  capped at ``log B``: it can never exceed ``log`` of the evaluation batch size
  (``eval_batch``, default ``min(n_test, 4096)``), whatever the true MI.
* NWJ (Nguyen--Wainwright--Jordan, "f-GAN KL"): ``1/B sum_i S_ii - e^{-1} 1/(B(B-1))
  sum_{i != j} exp S_ij``. A lower bound with no cap but with a variance that grows like
  ``e^I``.

The held-out set is split into ``ceil(n_test / eval_batch)`` near-equal batches; the bound
is the sample-weighted mean over them. ``return_se=True`` adds the standard error
``std(t_i) / sqrt(n_test)`` of the per-pair terms ``t_i`` (the ``i``-th summand above),
which ignores the weak dependence between terms of one batch.
"""

from __future__ import annotations

import math

import numpy as np

from ..protocol import as_generator, check_int
from ._common import Estimate, check_fraction, check_positive_float, check_xy

__all__ = ["infonce", "nwj"]


def _mlp(d_in, hidden, layers, d_out):
    from torch import nn

    mods = []
    d = d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


def _scores(g, h, x, y, scale):
    return (g(x) @ h(y).T) * scale


def _infonce_terms(S):
    import torch

    B = S.shape[0]
    return torch.diagonal(S) - torch.logsumexp(S, dim=1) + math.log(B)


def _nwj_terms(S):
    import torch

    B = S.shape[0]
    off = torch.exp(S - 1.0)
    off = (off.sum(dim=1) - torch.diagonal(off)) / (B - 1)
    return torch.diagonal(S) - off


_TERMS = {"infonce": _infonce_terms, "nwj": _nwj_terms}


def _neural(kind, x, y, rng, steps, batch_size, lr, hidden, layers, embed, test_fraction,
            eval_batch, return_se, threads):
    xa, ya = check_xy(x, y, min_rows=4)
    n = xa.shape[0]
    steps = check_int("steps", steps, 1)
    hidden = check_int("hidden", hidden, 1)
    layers = check_int("layers", layers, 0)
    embed = check_int("embed", embed, 1)
    lr = check_positive_float("lr", lr)
    test_fraction = check_fraction("test_fraction", test_fraction)
    n_test = int(round(n * test_fraction))
    n_train = n - n_test
    if n_test < 2 or n_train < 2:
        raise ValueError(
            f"test_fraction={test_fraction} leaves {n_train} training and {n_test} held-out samples; "
            "both must be >= 2"
        )
    batch_size = check_int("batch_size", batch_size, 2)
    batch_size = min(batch_size, n_train)
    eval_batch = min(4096, n_test) if eval_batch is None else check_int("eval_batch", eval_batch, 2)
    eval_batch = min(eval_batch, n_test)
    threads = check_int("threads", threads, 1)

    gen = as_generator(0 if rng is None else rng)
    perm = gen.permutation(n)
    tr, te = perm[:n_train], perm[n_train:]
    mx, sx = xa[tr].mean(0), xa[tr].std(0)
    my, sy = ya[tr].mean(0), ya[tr].std(0)
    sx = np.where(sx > 0, sx, 1.0)
    sy = np.where(sy > 0, sy, 1.0)
    import torch  # imported on first use: importing the package stays fast

    X = torch.from_numpy(((xa - mx) / sx).astype(np.float32))
    Y = torch.from_numpy(((ya - my) / sy).astype(np.float32))
    terms = _TERMS[kind]
    scale = 1.0 / math.sqrt(embed)
    seed = int(gen.integers(2**62))
    batches = gen.integers(0, n_train, size=(steps, batch_size))

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = _train_eval(terms, X, Y, tr, te, seed, batches, xa.shape[1], ya.shape[1], hidden,
                        layers, embed, lr, scale, n_test, eval_batch)
    finally:
        torch.set_num_threads(old_threads)
    if not np.all(np.isfinite(t)):
        raise FloatingPointError(f"{kind}: the held-out bound overflowed (critic scores too large)")
    val = float(t.mean())
    if return_se:
        return Estimate(val, float(t.std(ddof=1) / math.sqrt(t.size)))
    return val


def _train_eval(terms, X, Y, tr, te, seed, batches, dx, dy, hidden, layers, embed, lr, scale,
                n_test, eval_batch):
    import torch

    steps = batches.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = _mlp(dx, hidden, layers, embed)
        h = _mlp(dy, hidden, layers, embed)
        opt = torch.optim.Adam(list(g.parameters()) + list(h.parameters()), lr=lr)
        Xtr, Ytr = X[tr], Y[tr]
        for s in range(steps):
            b = torch.from_numpy(batches[s])
            S = _scores(g, h, Xtr[b], Ytr[b], scale)
            loss = -terms(S).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            Xte, Yte = X[te], Y[te]
            nb = -(-n_test // eval_batch)
            parts = []
            for idx in np.array_split(np.arange(n_test), nb):
                ii = torch.from_numpy(idx)
                parts.append(terms(_scores(g, h, Xte[ii], Yte[ii], scale)).double().numpy())
    return np.concatenate(parts)


def infonce(x, y, rng=None, steps: int = 400, batch_size: int = 256, lr: float = 1e-3,
            hidden: int = 64, layers: int = 2, embed: int = 32, test_fraction: float = 0.5,
            eval_batch=None, return_se: bool = False, threads: int = 1):
    """InfoNCE lower bound on ``I(X; Y)`` in nats, evaluated on held-out data.

    Capped at ``log(eval_batch)`` (module docstring).

    Parameters
    ----------
    x, y : array_like, shapes ``(n, dx)``/``(n,)`` and ``(n, dy)``/``(n,)``, ``n >= 4``
    rng : None, int or numpy.random.Generator
        Seed of the split, the minibatches and the critic's initialisation (None: 0).
    steps, batch_size, lr : training length, minibatch size, Adam learning rate.
    hidden, layers, embed : critic MLP width, hidden layers, embedding dimension.
    test_fraction : fraction of samples held out for evaluation, in (0, 1).
    eval_batch : batch size of the held-out evaluation (default ``min(n_test, 4096)``).
    return_se : also return the standard error (``Estimate``).
    threads : torch intra-op threads during the call (restored afterwards). Default 1: these
        critics are small, and on a loaded machine more threads spin and run many times slower.
    """
    return _neural("infonce", x, y, rng, steps, batch_size, lr, hidden, layers, embed,
                   test_fraction, eval_batch, return_se, threads)


def nwj(x, y, rng=None, steps: int = 400, batch_size: int = 256, lr: float = 5e-4,
        hidden: int = 64, layers: int = 2, embed: int = 32, test_fraction: float = 0.5,
        eval_batch=None, return_se: bool = False, threads: int = 1):
    """NWJ (f-divergence) lower bound on ``I(X; Y)`` in nats, evaluated on held-out data.

    Parameters as :func:`infonce`.
    """
    return _neural("nwj", x, y, rng, steps, batch_size, lr, hidden, layers, embed,
                   test_fraction, eval_batch, return_se, threads)
