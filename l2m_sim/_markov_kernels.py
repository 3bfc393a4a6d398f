"""Private numba kernels of the discrete Markov families (``markov.py``).

Everything here takes validated arrays and returns arrays; the public classes validate.

**Inverse-CDF draws.** A probability row ``p`` (length M) is stored as its cumulative sums
with every entry from the last positive one onwards set to ``+inf``; a uniform ``u`` in
[0, 1) maps to the first index ``k`` with ``u < cum[k]``. A zero-probability index never
wins (its cumulative sum equals the one before it), and rounding in the cumulative sums
can never push the draw past the last state with positive probability.

**Tree layout.** A tree with branching ``b`` and ``l`` levels has ``L = b**l`` leaves; leaf
``p`` has base-b digits ``d_1 .. d_l`` (most significant first): ``d_s`` is the child index
taken at depth ``s - 1``. Kernels are stacked as ``Ks[c]`` (shape ``(b, M, M)``), the kernel
that draws child ``c`` from its parent's state.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Below this many states a linear scan beats bisection.
_LINEAR_MAX = 8


@njit(cache=True, inline="always")
def _draw(cum, u):
    """First index ``k`` with ``u < cum[k]`` (``cum`` non-decreasing, ends in ``+inf``)."""
    M = cum.shape[0]
    if M <= _LINEAR_MAX:
        k = 0
        while u >= cum[k]:
            k += 1
        return k
    lo = 0
    hi = M - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if u < cum[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, parallel=True)
def _sample_chain(u, cum0, cum, out):
    """Markov chain: ``out[r, 0] ~ cum0``, ``out[r, t] ~ cum[out[r, t-1]]`` from uniforms ``u``."""
    n, L = u.shape
    for r in prange(n):
        s = _draw(cum0, u[r, 0])
        out[r, 0] = s
        for t in range(1, L):
            s = _draw(cum[s], u[r, t])
            out[r, t] = s


@njit(cache=True, parallel=True)
def _sample_tree(u, cum_root, cums, b, levels, out):
    """Tree process, level by level in place in ``out[r]`` (uniforms in breadth-first order).

    Level ``s`` (``b**s`` nodes) is written over level ``s - 1`` from the last parent to the
    first: the children of parent ``j`` go to ``j*b .. j*b + b - 1``, which are either parents
    already expanded (index > j) or ``j`` itself (``j = 0``, read before it is written).
    """
    n = u.shape[0]
    for r in prange(n):
        row = out[r]
        ur = u[r]
        row[0] = _draw(cum_root, ur[0])
        off = 1
        width = 1
        for _s in range(levels):
            for j in range(width - 1, -1, -1):
                a = row[j]
                base = j * b
                for c in range(b - 1, -1, -1):
                    row[base + c] = _draw(cums[c, a], ur[off + base + c])
            off += width * b
            width *= b


@njit(cache=True, parallel=True)
def _tree_forward(tokens, root, Ks, b, levels, want_probs, probs, logc):
    """Exact forward pass over the leaves of a tree process (belief propagation).

    For each sequence and each leaf ``t`` (left to right) it writes
    ``logc[r, t] = ln p(w_t | w_<t)`` and, if ``want_probs``, ``probs[r, t] = p(. | w_<t)``.
    Once a prefix has probability zero the remaining ``logc`` entries are ``-inf`` and
    the remaining ``probs`` rows are NaN (the caller refuses such input).

    State kept along the path from the root to the current leaf (depth ``s = 0..l-1``):

    * ``digit[s]``: child index taken at depth ``s`` (the path to leaf ``t``);
    * ``lp[s]``: product over the completed children ``c < digit[s]`` of the node at depth
      ``s`` of their upward messages ``(K_c beta_child)(a)``; a child's ``beta`` is the
      likelihood of its (fully observed) leaves given its state;
    * ``alpha[s]``: joint of the depth-s path node's state and every observed leaf outside
      its subtree, ``alpha[s+1][y] = sum_a alpha[s][a] lp[s][a] K_{digit[s]}[a, y]``.

    ``alpha[l]`` normalised is the predictive law of leaf ``t``. Every vector is rescaled
    freely (only ratios matter). Moving to the next leaf changes the path below the depth
    whose digit increments, so the amortised cost is O(M^2 b / (b - 1)) per leaf.
    """
    n, L = tokens.shape
    M = root.shape[0]
    for r in prange(n):
        lp = np.ones((levels, M))
        alpha = np.empty((levels + 1, M))
        alpha[0, :] = root
        digit = np.zeros(levels, np.int64)
        msg = np.empty(M)
        beta = np.empty(M)
        start = 0
        dead = False
        for t in range(L):
            if dead:
                logc[r, t] = -np.inf
                if want_probs:
                    probs[r, t, :] = np.nan
                continue
            # forward messages from depth `start` down to the leaf
            for s in range(start, levels):
                K = Ks[digit[s]]
                tot = 0.0
                for y in range(M):
                    alpha[s + 1, y] = 0.0
                for a in range(M):
                    w = alpha[s, a] * lp[s, a]
                    if w != 0.0:
                        for y in range(M):
                            alpha[s + 1, y] += w * K[a, y]
                for y in range(M):
                    tot += alpha[s + 1, y]
                if tot > 0.0:
                    for y in range(M):
                        alpha[s + 1, y] /= tot
            pred = alpha[levels]
            tot = 0.0
            for y in range(M):
                tot += pred[y]
            x = tokens[r, t]
            p = pred[x] / tot if tot > 0.0 else 0.0
            if want_probs:
                for y in range(M):
                    probs[r, t, y] = pred[y] / tot if tot > 0.0 else np.nan
            if p <= 0.0:
                logc[r, t] = -np.inf
                dead = True
                continue
            logc[r, t] = np.log(p)
            # upward: the leaf's message to its parent, then complete finished subtrees
            s = levels - 1
            K = Ks[digit[s]]
            for a in range(M):
                msg[a] = K[a, x]
            while True:
                mx = 0.0
                for a in range(M):
                    lp[s, a] *= msg[a]
                    if lp[s, a] > mx:
                        mx = lp[s, a]
                if mx > 0.0:
                    for a in range(M):
                        lp[s, a] /= mx
                if digit[s] < b - 1:
                    digit[s] += 1
                    start = s
                    break
                # the depth-s node is complete: its beta is lp[s]
                for a in range(M):
                    beta[a] = lp[s, a]
                    lp[s, a] = 1.0
                digit[s] = 0
                if s == 0:
                    break
                s -= 1
                K = Ks[digit[s]]
                for a in range(M):
                    acc = 0.0
                    for y in range(M):
                        acc += K[a, y] * beta[y]
                    msg[a] = acc
