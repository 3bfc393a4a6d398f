"""Private numba kernels of the hierarchical discrete family (``discrete.py``).

Notation. Branching ``b``, copies ``k``, alphabet size ``M``, levels ``l``. A level-s
process (length ``lens[s] = b**s``) is one of ``nodes[s] = k**(l - s)`` nodes of the tree
of copies: node ``n`` of level ``s >= 2`` has children ``n*k + m`` (``m < k``) at level
``s - 1``. Row ``r`` of node ``n`` (positions ``r*b .. r*b + b - 1``) is
``perm[u]`` written as ``b`` base-M digits (most significant first), where the input tuple
``u = (c_0, .., c_{k-1}, f_0, .., f_{b-k-1})`` (again most significant first) holds the
symbol at position ``r`` of each child and ``b - k`` fresh symbols. Level-1 nodes are rows
drawn from the base law.

**Storage of one sequence's tree.** Level ``s`` occupies ``nodes[s] * lens[s]`` symbols at
offset ``soff[s]`` (node after node), conditionals use the same layout times ``M``.

**Random numbers.** ``ub[j, g]`` (one uniform per level-1 node, node order) picks the base
row by inverse CDF; ``uf[j, .]`` holds one uniform per fresh symbol, ordered by level
``s = 2..l``, node, row, fresh column. Each sequence uses only its own row of ``ub`` and
``uf``, so results do not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _search(cdf, u):
    """First index ``i`` with ``cdf[i] > u`` (``np.searchsorted(cdf, u, 'right')``)."""
    lo = 0
    hi = cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, inline="always")
def _draw(cdf, u):
    """Same result as :func:`_search`; branch-free count for small alphabets (random bits
    make the comparisons of a search unpredictable, each mispredict costs ~15 cycles)."""
    n = cdf.shape[0]
    if n > 32:
        return _search(cdf, u)
    x = 0
    for i in range(n - 1):
        x += u >= cdf[i]
    return x


@njit(cache=True)
def _sample_one(ubj, ufj, b, k, M, nodes, lens, soff, base_cdf, fresh_cdf, odig, buf, outj):
    """One sequence: base rows, then every level bottom-up, into ``buf``; top level to ``outj``."""
    nl = lens.shape[0] - 1
    nf = b - k
    for g in range(nodes[1]):
        v = _search(base_cdf, ubj[g])
        o = soff[1] + g * b
        for i in range(b - 1, -1, -1):
            buf[o + i] = v % M
            v //= M
    fpos = 0
    for s in range(2, nl + 1):
        Lc = lens[s - 1]
        co = soff[s - 1]
        for g in range(nodes[s]):
            o = soff[s] + g * lens[s]
            c0 = co + g * k * Lc
            for r in range(Lc):
                u = 0
                for m in range(k):
                    u = u * M + buf[c0 + m * Lc + r]
                for f in range(nf):
                    u = u * M + _draw(fresh_cdf, ufj[fpos])
                    fpos += 1
                base = o + r * b
                for i in range(b):
                    buf[base + i] = odig[u, i]
    top = soff[nl]
    for p in range(lens[nl]):
        outj[p] = buf[top + p]


@njit(parallel=True, cache=True)
def sample_tree(ub, uf, b, k, M, nodes, lens, soff, total, base_cdf, fresh_cdf, odig, out, nchunk):
    """Sample ``out.shape[0]`` sequences bottom-up from the uniforms ``ub`` and ``uf``.

    ``odig[u, i]`` is digit ``i`` of ``perm[u]`` (the row written for input tuple ``u``).
    """
    n = out.shape[0]
    nchunk = max(1, min(n, nchunk))
    for c in prange(nchunk):
        buf = np.empty(total, dtype=np.int32)
        for j in range(c, n, nchunk):
            _sample_one(ub[j], uf[j], b, k, M, nodes, lens, soff, base_cdf, fresh_cdf, odig, buf, out[j])
    return out


@njit(cache=True)
def _invert(tok, b, k, M, nodes, lens, soff, idig, fresh_logp, buf):
    """Fill the tree ``buf`` from one top-level sequence; return the fresh log-probability.

    ``idig[v, m]`` is digit ``m`` of ``inv[v]`` (the input tuple of row ``v``).
    """
    nl = lens.shape[0] - 1
    top = soff[nl]
    for p in range(lens[nl]):
        buf[top + p] = tok[p]
    lf = 0.0
    for s in range(nl, 1, -1):
        Lc = lens[s - 1]
        co = soff[s - 1]
        for g in range(nodes[s]):
            o = soff[s] + g * lens[s]
            c0 = co + g * k * Lc
            for r in range(Lc):
                v = 0
                base = o + r * b
                for i in range(b):
                    v = v * M + buf[base + i]
                for f in range(k, b):
                    lf += fresh_logp[idig[v, f]]
                for m in range(k):
                    buf[c0 + m * Lc + r] = idig[v, m]
    return lf


@njit(parallel=True, cache=True)
def log_prob_tree(tokens, b, k, M, nodes, lens, soff, total, idig, fresh_logp, base_logp, nchunk):
    """Exact log-probability of each sequence: base rows plus fresh symbols (bijections)."""
    n = tokens.shape[0]
    out = np.empty(n)
    nchunk = max(1, min(n, nchunk))
    for c in prange(nchunk):
        buf = np.empty(total, dtype=np.int32)
        for j in range(c, n, nchunk):
            lp = _invert(tokens[j], b, k, M, nodes, lens, soff, idig, fresh_logp, buf)
            for g in range(nodes[1]):
                o = soff[1] + g * b
                v = 0
                for i in range(b):
                    v = v * M + buf[o + i]
                lp += base_logp[v]
            out[j] = lp
    return out


@njit(cache=True)
def _cond_one(tok, b, k, M, nodes, lens, soff, idig, odig, fresh, fresh_logp, psum, psum_off,
              buf, cb, A, S, obs):
    """Conditionals of every node of one sequence's tree into ``cb``; False if undefined."""
    nl = lens.shape[0] - 1
    MB = odig.shape[0]
    _invert(tok, b, k, M, nodes, lens, soff, idig, fresh_logp, buf)
    ok = True
    # level 1: conditionals of the base row from prefix block sums
    for g in range(nodes[1]):
        o = soff[1] + g * b
        pre = 0
        for i in range(b):
            den = psum[psum_off[i] + pre]
            if den <= 0.0:
                ok = False
                den = 1.0
            for x in range(M):
                cb[(o + i) * M + x] = psum[psum_off[i + 1] + pre * M + x] / den
            pre = pre * M + buf[o + i]
    for s in range(2, nl + 1):
        Lc = lens[s - 1]
        co = soff[s - 1]
        for g in range(nodes[s]):
            o = soff[s] + g * lens[s]
            c0 = co + g * k * Lc
            for r in range(Lc):
                # law of the input tuple: outer product of the k predictive laws and fresh
                A[0] = 1.0
                ln = 1
                for d in range(b):
                    if d < k:
                        q0 = (c0 + d * Lc + r) * M
                        for jj in range(ln - 1, -1, -1):
                            a = A[jj]
                            for x in range(M - 1, -1, -1):
                                A[jj * M + x] = a * cb[q0 + x]
                    else:
                        for jj in range(ln - 1, -1, -1):
                            a = A[jj]
                            for x in range(M - 1, -1, -1):
                                A[jj * M + x] = a * fresh[x]
                    ln *= M
                base = o + r * b
                for i in range(b):
                    obs[i] = buf[base + i]
                for i in range(b * M):
                    S[i] = 0.0
                for u in range(MB):
                    a = A[u]
                    for i in range(b):
                        dd = odig[u, i]
                        S[i * M + dd] += a
                        if dd != obs[i]:
                            break
                for i in range(b):
                    tot = 0.0
                    for x in range(M):
                        tot += S[i * M + x]
                    if tot <= 0.0:
                        ok = False
                        tot = 1.0
                    inv_tot = 1.0 / tot
                    for x in range(M):
                        cb[(base + i) * M + x] = S[i * M + x] * inv_tot
    return ok


@njit(parallel=True, cache=True)
def cond_tree(tokens, b, k, M, nodes, lens, soff, total, idig, odig, fresh, fresh_logp,
              psum, psum_off, full, out_full, out_obs, bad, nchunk):
    """Exact ``p(w_t | w_<t)`` by message passing over the tree of copies.

    Top-down, every complete row is inverted to the copies' symbols; bottom-up, each
    node's row ``r`` gets the law ``A`` of its input tuple from the children's one-step
    predictive laws at position ``r`` (independent copies) and the fresh law. One pass
    over the input tuples ``u`` adds ``A[u]`` to ``S[i, d_i]`` for the output digits
    ``d_i = odig[u, i]`` while the output prefix ``d_<i`` equals the observed row prefix,
    so ``S[i, x] / sum_x S[i, x] = p(entry i = x | observed entries < i, past)``.
    ``full``: write ``out_full[j] (L, M)``; else ``out_obs[j, t] = log p(w_t | w_<t)``.
    ``bad[j]`` is set when a conditional is undefined (a zero-probability prefix).
    """
    n = tokens.shape[0]
    nl = lens.shape[0] - 1
    L = lens[nl]
    MB = odig.shape[0]
    nchunk = max(1, min(n, nchunk))
    for c in prange(nchunk):
        buf = np.empty(total, dtype=np.int32)
        cb = np.empty(total * M)
        A = np.empty(MB)
        S = np.empty(b * M)
        obs = np.empty(b, dtype=np.int64)
        for j in range(c, n, nchunk):
            ok = _cond_one(tokens[j], b, k, M, nodes, lens, soff, idig, odig, fresh, fresh_logp,
                           psum, psum_off, buf, cb, A, S, obs)
            bad[j] = not ok
            top = soff[nl]
            if full:
                for p in range(L):
                    for x in range(M):
                        out_full[j, p, x] = cb[(top + p) * M + x]
            else:
                for p in range(L):
                    out_obs[j, p] = np.log(cb[(top + p) * M + tokens[j, p]])
