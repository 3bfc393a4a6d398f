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
def _draw(cum, row, u):
    """First index ``k`` with ``u < cum[row, k]`` (rows non-decreasing, ending in ``+inf``)."""
    M = cum.shape[1]
    if M <= _LINEAR_MAX:
        k = 0
        while u >= cum[row, k]:
            k += 1
        return k
    lo = 0
    hi = M - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if u < cum[row, mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, parallel=True)
def _sample_chain(u, cum0, cum, out):
    """Markov chain: ``out[r, 0] ~ cum0[0]``, ``out[r, t] ~ cum[out[r, t-1]]`` from uniforms ``u``."""
    n, L = u.shape
    for r in prange(n):
        s = _draw(cum0, 0, u[r, 0])
        out[r, 0] = s
        for t in range(1, L):
            s = _draw(cum, s, u[r, t])
            out[r, t] = s


@njit(cache=True, parallel=True)
def _sample_tree(u, cum_root, cums, b, levels, out):
    """Tree process, level by level (uniforms in breadth-first order, one per node).

    ``cums`` is ``(b * M, M)``: row ``c * M + a`` draws child ``c`` of a parent in state ``a``.
    Levels alternate between ``out[r]`` and a scratch row, starting so that the leaves
    land in ``out[r]``.
    """
    n = u.shape[0]
    M = cums.shape[1]
    L = out.shape[1]
    for r in prange(n):
        row = out[r]
        ur = u[r]
        scratch = np.empty(L, np.int64)
        if levels % 2 == 0:
            src, dst = row, scratch
        else:
            src, dst = scratch, row
        src[0] = _draw(cum_root, 0, ur[0])
        off = 1
        width = 1
        for _s in range(levels):
            for j in range(width):
                a = src[j]
                base = j * b
                for c in range(b):
                    dst[base + c] = _draw(cums, c * M + a, ur[off + base + c])
            off += width * b
            width *= b
            src, dst = dst, src


# Re-association lets LLVM vectorise the M x M products; no NaN/inf assumptions are made
# (the kernels produce -inf and NaN on purpose for impossible prefixes).
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
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
        tmp = np.empty(M)
        start = 0
        dead = False
        for t in range(L):
            if dead:
                logc[r, t] = -np.inf
                if want_probs:
                    probs[r, t, :] = np.nan
                continue
            for s in range(start, levels):
                K = Ks[digit[s]]
                tmp[:] = 0.0
                for a in range(M):
                    w = alpha[s, a] * lp[s, a]
                    if w != 0.0:
                        Ka = K[a]
                        for y in range(M):
                            tmp[y] += w * Ka[y]
                tot = 0.0
                for y in range(M):
                    tot += tmp[y]
                inv = 1.0 / tot if tot > 0.0 else 1.0
                for y in range(M):
                    alpha[s + 1, y] = tmp[y] * inv
            tot = 0.0
            for y in range(M):
                tot += alpha[levels, y]
            x = tokens[r, t]
            p = alpha[levels, x] / tot if tot > 0.0 else 0.0
            if want_probs:
                for y in range(M):
                    probs[r, t, y] = alpha[levels, y] / tot if tot > 0.0 else np.nan
            if p <= 0.0:
                logc[r, t] = -np.inf
                dead = True
                continue
            logc[r, t] = np.log(p)
            s = levels - 1
            K = Ks[digit[s]]
            for a in range(M):
                msg[a] = K[a, x]
            while True:
                mx = 0.0
                for a in range(M):
                    v = lp[s, a] * msg[a]
                    lp[s, a] = v
                    mx = max(mx, v)
                if mx > 0.0:
                    inv = 1.0 / mx
                    for a in range(M):
                        lp[s, a] *= inv
                if digit[s] < b - 1:
                    digit[s] += 1
                    start = s
                    break
                for a in range(M):
                    beta[a] = lp[s, a]
                    lp[s, a] = 1.0
                digit[s] = 0
                if s == 0:
                    break
                s -= 1
                K = Ks[digit[s]]
                for a in range(M):
                    Ka = K[a]
                    acc = 0.0
                    for y in range(M):
                        acc += Ka[y] * beta[y]
                    msg[a] = acc
