"""Private numba kernels of the hierarchical Gaussian family.

Notation (shared with ``hierarchical.py``). A design has levels ``t = 1..l`` with
branching ``b_t``, copies ``k_t`` and a ``b_t x b_t`` mixing matrix ``M_t``; the level-t
sequence has length ``Ls[t] = b_1 * ... * b_t`` (``Ls[0] = 1``: level 0 is one N(0, 1)).
Level t takes ``k_t`` independent level-(t-1) sequences as the first columns of an
``(Ls[t-1], b_t)`` matrix, fills the other columns with fresh N(0, 1), multiplies every row
by ``M_t`` and flattens row-major. Optional boundary coupling then applies the symmetric
2x2 map ``[[ca_r, cb_r], [cb_r, ca_r]]`` to each pair ``(r*b + b-1, (r+1)*b)``.

**Layout of the normals.** A level-t block of ``Ls[t]`` normals is read as ``b_t``
consecutive rows of length ``Ls[t-1]`` (the transposed row matrix): row ``i < k_t`` is the
(recursively transformed) i-th copy, rows ``i >= k_t`` are the fresh columns. So the
``Ls[t]`` normals of a level-t process occupy a contiguous block, and the "segments" at
level t inside a level-T block are the blocks reached by choosing a copy index
``i_s < k_s`` at every level ``s = t+1..T``: offset ``sum_s i_s * Ls[s-1]``.

Everything here takes arrays and returns arrays; the public class validates input.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Level-t blocks up to this many float64 are transformed depth-first so that the lower
# levels of one block run while the block is still in cache.
_BLOCK = 8192


@njit(cache=True)
def _segment_offset(g, t, T, ks, Ls):
    """Offset of the g-th level-t segment inside a level-T block (mixed radix over k)."""
    # the copy index chosen at level s is a mixed-radix digit of g (level t+1 least significant)
    off = 0
    rem = g
    for s in range(t + 1, T + 1):
        k = ks[s - 1]
        i = rem % k
        rem //= k
        off += i * Ls[s - 1]
    return off


@njit(cache=True)
def _n_segments(t, T, ks):
    n = 1
    for s in range(t + 1, T + 1):
        n *= ks[s - 1]
    return n


@njit(cache=True, inline="always")
def _mix_rows_4(src, dst, n, M):
    """``b = 4`` row mixing of one segment, ``dst[4 r + j] = sum_i M[j, i] src[i n + r]``.

    ``src`` and ``dst`` are views that start at the segment. Two details keep this loop
    vectorised (AVX) instead of scalar, several times faster: the matrix is held in
    scalars (read from an array inside the loop, it is reloaded after every store because
    LLVM cannot prove that ``M`` does not alias ``dst``), and the indices are offsets from 0
    inside the loop (``off + r`` with a run-time ``off`` could be negative as far as LLVM
    knows, and numba's negative-index wraparound then blocks vectorisation).
    """
    m00, m01, m02, m03 = M[0, 0], M[0, 1], M[0, 2], M[0, 3]
    m10, m11, m12, m13 = M[1, 0], M[1, 1], M[1, 2], M[1, 3]
    m20, m21, m22, m23 = M[2, 0], M[2, 1], M[2, 2], M[2, 3]
    m30, m31, m32, m33 = M[3, 0], M[3, 1], M[3, 2], M[3, 3]
    for r in range(n):
        z0 = src[r]
        z1 = src[n + r]
        z2 = src[2 * n + r]
        z3 = src[3 * n + r]
        d = 4 * r
        dst[d] = m00 * z0 + m01 * z1 + m02 * z2 + m03 * z3
        dst[d + 1] = m10 * z0 + m11 * z1 + m12 * z2 + m13 * z3
        dst[d + 2] = m20 * z0 + m21 * z1 + m22 * z2 + m23 * z3
        dst[d + 3] = m30 * z0 + m31 * z1 + m32 * z2 + m33 * z3


@njit(cache=True, inline="always")
def _mix_rows_2(src, dst, n, M):
    """``b = 2`` row mixing of one segment (views, matrix in scalars)."""
    m00, m01, m10, m11 = M[0, 0], M[0, 1], M[1, 0], M[1, 1]
    for r in range(n):
        z0 = src[r]
        z1 = src[n + r]
        d = 2 * r
        dst[d] = m00 * z0 + m01 * z1
        dst[d + 1] = m10 * z0 + m11 * z1


@njit(cache=True, inline="always")
def _mix_rows_any(src, dst, n, b, M):
    """Row mixing of one segment for any branching (the plain loop)."""
    for r in range(n):
        base = r * b
        for j in range(b):
            acc = 0.0
            for i in range(b):
                acc += M[j, i] * src[i * n + r]
            dst[base + j] = acc


@njit(cache=True, inline="always")
def _couple_segment(dst, n, b, c0, cpl_a, cpl_b):
    """Apply the boundary maps of one level-t block (a view): pairs ``(r b + b - 1, (r + 1) b)``."""
    for r in range(n - 1):
        ia = r * b + b - 1
        ic = ia + 1
        a = dst[ia]
        c = dst[ic]
        al = cpl_a[c0 + r]
        be = cpl_b[c0 + r]
        dst[ia] = al * a + be * c
        dst[ic] = be * a + al * c


@njit(cache=True, inline="always")
def _next_segment(off, digits, t, T, ks, Ls):
    """Offset of the next level-t segment: increment the copy index of level t+1, carrying."""
    s = t + 1
    while s <= T:
        digits[s] += 1
        off += Ls[s - 1]
        if digits[s] < ks[s - 1]:
            break
        off -= digits[s] * Ls[s - 1]
        digits[s] = 0
        s += 1
    return off


@njit(cache=True, inline="always")
def _dense_apply(src, dst, m, AT):
    """``dst[:m] = A @ src[:m]`` for a small dense ``A`` given transposed (outer-product form,
    which vectorises over the output without reassociating sums)."""
    for j in range(m):
        dst[j] = 0.0
    for i in range(m):
        x = src[i]
        row = AT[i]
        for j in range(m):
            dst[j] += row[j] * x


@njit(cache=True)
def _dense_pass(src, dst, base, tf, T, digits, ks, Ls, AT):
    """Levels 1..tf of every level-tf segment inside the level-T block at ``base`` at once:
    one small dense map ``A`` (the exact transform of a level-tf block, ``Ls[tf] <= 16``).

    The bottom levels have many tiny segments (level 1 has one row of b values per
    segment), where per-segment overhead dominated; one fused dense map is cheaper.
    """
    m = Ls[tf]
    nseg = _n_segments(tf, T, ks)
    for s in range(tf + 1, T + 1):
        digits[s] = 0
    off = base
    for g in range(nseg):
        _dense_apply(src[off:off + m], dst[off:off + m], m, AT)
        off = _next_segment(off, digits, tf, T, ks, Ls)


@njit(cache=True)
def _level_pass(src, dst, base, t, T, digits, bs, ks, Ls, Ms, cpl_a, cpl_b, cpl_off, coupled):
    """Mix every level-t segment inside the level-T block at ``base`` from ``src`` into ``dst``.

    Kept as a separate (not inlined) function so that ``src`` and ``dst`` are plain
    arguments here: selecting them with a branch in the same function made LLVM reload the
    array pointers on every store and the loop several times slower. Segments are visited
    with an incremental mixed-radix counter (no divisions).
    """
    b = bs[t - 1]
    n = Ls[t - 1]
    M = Ms[t - 1]  # (bmax, bmax); the leading b x b block is the matrix
    c0 = cpl_off[t - 1]
    nseg = _n_segments(t, T, ks)
    for s in range(t + 1, T + 1):
        digits[s] = 0
    off = base
    for g in range(nseg):
        # dst[off + r*b + j] = sum_i M[j, i] src[off + i*n + r], then the boundary maps
        seg_src = src[off:off + b * n]
        seg_dst = dst[off:off + b * n]
        if b == 4:
            _mix_rows_4(seg_src, seg_dst, n, M)
        elif b == 2:
            _mix_rows_2(seg_src, seg_dst, n, M)
        else:
            _mix_rows_any(seg_src, seg_dst, n, b, M)
        if coupled:
            _couple_segment(seg_dst, n, b, c0, cpl_a, cpl_b)
        off = _next_segment(off, digits, t, T, ks, Ls)


@njit(cache=True)
def _transform_levels(bufA, bufB, base, t_lo, t_hi, T, digits, bs, ks, Ls, Ms, cpl_a,
                      cpl_b, cpl_off, coupled, AT, tf):
    """Apply levels t_lo..t_hi to every segment inside the level-T block at ``base``.

    Two buffers both start as copies of the normals. Level t writes to ``bufA`` when
    ``l - t`` is even (so the top level lands in ``bufA``) and to ``bufB`` otherwise, and
    reads from the other one: its copy rows hold the level-(t-1) outputs and its fresh rows
    still hold the original normals (lower levels only write inside copy rows).
    With ``tf >= 2`` and ``t_lo == 1``, levels 1..tf are done by one dense map ``AT``.
    """
    nlev = bs.shape[0]
    if t_lo == 1 and tf >= 2 and t_hi >= tf:
        if (nlev - tf) % 2 == 0:
            _dense_pass(bufB, bufA, base, tf, T, digits, ks, Ls, AT)
        else:
            _dense_pass(bufA, bufB, base, tf, T, digits, ks, Ls, AT)
        t_lo = tf + 1
    for t in range(t_lo, t_hi + 1):
        if (nlev - t) % 2 == 0:
            _level_pass(bufB, bufA, base, t, T, digits, bs, ks, Ls, Ms, cpl_a, cpl_b, cpl_off,
                        coupled)
        else:
            _level_pass(bufA, bufB, base, t, T, digits, bs, ks, Ls, Ms, cpl_a, cpl_b, cpl_off,
                        coupled)


@njit(cache=True)
def _transform_one(bufA, bufB, digits, bs, ks, Ls, Ms, cpl_a, cpl_b, cpl_off, coupled, AT, tf):
    """Map one block of normals (held in both buffers) to one sequence, left in ``bufA``."""
    nlev = bs.shape[0]
    t0 = 0
    for t in range(1, nlev + 1):
        if Ls[t] <= _BLOCK:
            t0 = t
    if t0 > 0:
        # depth-first part: every level-t0 block does its levels 1..t0 while in cache
        nseg = _n_segments(t0, nlev, ks)
        for g in range(nseg):
            off = _segment_offset(g, t0, nlev, ks, Ls)
            _transform_levels(bufA, bufB, off, 1, t0, t0, digits, bs, ks, Ls, Ms, cpl_a,
                              cpl_b, cpl_off, coupled, AT, tf)
    if t0 < nlev:
        _transform_levels(bufA, bufB, 0, t0 + 1, nlev, nlev, digits, bs, ks, Ls, Ms, cpl_a,
                          cpl_b, cpl_off, coupled, AT, tf)


@njit(parallel=True, cache=True)
def _sample_hier(eps, bs, ks, Ls, Ms, cpl_a, cpl_b, cpl_off, coupled, AT, tf, nchunk):
    """Map each row of ``eps`` (rows of ``Ls[l]`` iid normals) to one sequence, in place.

    Returns ``eps``, overwritten with the sequences. The second ping-pong buffer is one
    row of scratch per chunk of rows, reused while in cache; writing the result into a
    freshly allocated ``(n, L)`` array instead cost several ns per value in first-touch page
    faults, as much as the transform itself. ``AT, tf``: the fused bottom levels (see
    ``_dense_pass``; ``tf = 0`` for none). ``nchunk`` rows-chunks run in parallel (pass a
    few per thread). Rows are transformed independently, so the result does not depend on
    the number of threads or on the chunking.
    """
    nrow = eps.shape[0]
    L = eps.shape[1]
    nlev = bs.shape[0]
    nchunk = max(1, min(nrow, nchunk))
    for c in prange(nchunk):
        digits = np.zeros(nlev + 2, dtype=np.int64)
        scratch = np.empty(L)
        for s in range(c, nrow, nchunk):
            row = eps[s]
            for p in range(L):  # both buffers start as the normals (copied while in cache)
                scratch[p] = row[p]
            _transform_one(row, scratch, digits, bs, ks, Ls, Ms, cpl_a, cpl_b, cpl_off, coupled,
                           AT, tf)
    return eps


# ------------------------------------------------------------------------------------------
# Conditional variances and the row factors of the exact one-step predictor (uncoupled).
# ------------------------------------------------------------------------------------------


@njit(cache=True)
def _row_factor(M, k, b, v, A, F):
    """Lower factor ``F`` (positive diagonal) of ``M diag(v, .., v, 1, .., 1) M^T`` into F.

    The product is never formed: with ``A = diag(sqrt v, .., 1, ..) M^T`` (rows: the
    coordinates of ``Z``, columns: the positions of the row) we have ``A^T A`` equal to it, so
    Householder QR ``A = Q R`` gives ``F = R^T`` (signs fixed). Rows of ``A`` are taken in
    order of decreasing norm, which makes Householder QR row-wise backward stable (Powell &
    Reid; Cox & Higham): the small conditional variances that a copy of variance ``v << 1``
    leaves are then accurate to a few ulps relative, where a Cholesky factor of the formed
    ``Q + v P`` loses ``log10(1/v)`` digits per level (and at last positive definiteness).
    Returns False if a diagonal entry is not positive (``M`` singular to working precision).
    """
    sv = np.sqrt(v)
    # A[z, j] = scale_z * M[j, z]; rows sorted by norm (insertion sort, b <= 64)
    for z in range(b):
        sc = sv if z < k else 1.0
        for j in range(b):
            A[z, j] = sc * M[j, z]
    for z in range(1, b):
        nz = 0.0
        for j in range(b):
            nz += A[z, j] * A[z, j]
        y = z
        while y > 0:
            ny = 0.0
            for j in range(b):
                ny += A[y - 1, j] * A[y - 1, j]
            if ny >= nz:
                break
            for j in range(b):
                tmp = A[y - 1, j]
                A[y - 1, j] = A[y, j]
                A[y, j] = tmp
            y -= 1
    for j in range(b):
        # Householder reflection zeroing A[j+1:, j]
        scale = 0.0
        for i in range(j, b):
            scale = max(scale, abs(A[i, j]))
        if not scale > 0.0:
            return False
        nrm = 0.0
        for i in range(j, b):
            nrm += (A[i, j] / scale) ** 2
        nrm = scale * np.sqrt(nrm)
        x0 = A[j, j]
        r = -nrm if x0 >= 0.0 else nrm
        u0 = x0 - r
        # u = (u0, A[j+1:, j]); H = I - 2 u u^T / (u^T u), u^T u = 2 nrm (nrm + |x0|)
        utu = 2.0 * nrm * (nrm + abs(x0))
        if utu > 0.0:
            for c in range(j + 1, b):
                dot = u0 * A[j, c]
                for i in range(j + 1, b):
                    dot += A[i, j] * A[i, c]
                f = 2.0 * dot / utu
                A[j, c] -= f * u0
                for i in range(j + 1, b):
                    A[i, c] -= f * A[i, j]
        A[j, j] = r
    for j in range(b):
        if not A[j, j] != 0.0:
            return False
        sg = 1.0 if A[j, j] > 0.0 else -1.0
        for i in range(b):
            F[i, j] = sg * A[j, i] if i >= j else 0.0
    return True


@njit(cache=True)
def _level_factors(t, bs, ks, Ls, Ms, var_prev, factors, fac_off, store):
    """Row factors of level t and the conditional stds of the level-t process.

    Row r of level t is ``M Z_r`` with ``Z_r | past ~ N(., diag(v, .., v, 1, .., 1))`` where
    ``v = var_prev[r]`` is the one-step variance of a level-(t-1) copy at position r; its
    covariance is ``Q + v P`` (``P = M_c M_c^T``, ``Q = M_f M_f^T``). Its lower factor
    ``F_r`` (:func:`_row_factor`, from ``M`` and ``v`` without forming the covariance) gives
    the within-row predictor; ``diag(F_r)`` are the conditional stds.
    """
    b = bs[t - 1]
    k = ks[t - 1]
    n = Ls[t - 1]
    M = Ms[t - 1]
    sd = np.empty(n * b)
    A = np.empty((b, b))
    F = np.empty((b, b))
    ok = True
    for r in range(n):
        if not _row_factor(M, k, b, var_prev[r], A, F):
            ok = False
            break
        for j in range(b):
            sd[r * b + j] = F[j, j]
        if store:
            base = fac_off[t - 1] + r * b * b
            for i in range(b):
                for j in range(b):
                    factors[base + i * b + j] = F[i, j]
    return sd, ok


@njit(cache=True)
def _all_level_stds(bs, ks, Ls, Ms, factors, fac_off, store):
    """Conditional stds of the top-level sequence (and, if ``store``, all row factors)."""
    nlev = bs.shape[0]
    var_prev = np.ones(1)
    sd = np.ones(1)
    ok = True
    for t in range(1, nlev + 1):
        sd, ok = _level_factors(t, bs, ks, Ls, Ms, var_prev, factors, fac_off, store)
        if not ok:
            return sd, False
        var_prev = sd * sd
    return sd, ok


@njit(cache=True)
def _cond_mean_one(x, ybuf, mbuf, yoff, bs, ks, Ls, Ms, Minvs, factors, fac_off, out):
    """Exact conditional means of one sequence by message passing over the copy tree.

    Top-down: invert every row map to recover each copy's own sequence. Bottom-up: the
    one-step prediction of a level-t row is ``M_c m`` (m = the copies' predictions at that
    row) refined within the row by the row factor. ``ybuf``/``mbuf`` hold, for every level,
    the sequences / predicted means of all segments (compactly, segment-major).
    """
    nlev = bs.shape[0]
    L = Ls[nlev]
    for p in range(L):
        ybuf[yoff[nlev] + p] = x[p]
    # top-down: recover copy sequences
    for t in range(nlev, 0, -1):
        b = bs[t - 1]
        k = ks[t - 1]
        n = Ls[t - 1]
        Minv = Minvs[t - 1]
        nseg = _n_segments(t, nlev, ks)
        for g in range(nseg):
            src = yoff[t] + g * Ls[t]
            for r in range(n):
                for i in range(k):
                    acc = 0.0
                    for j in range(b):
                        acc += Minv[i, j] * ybuf[src + r * b + j]
                    ybuf[yoff[t - 1] + (g * k + i) * n + r] = acc
    # level 0: each scalar N(0, 1) has predicted mean 0
    n0 = _n_segments(0, nlev, ks)
    for g in range(n0):
        mbuf[yoff[0] + g] = 0.0
    e = np.empty(64)
    nu = np.empty(64)
    for t in range(1, nlev + 1):
        b = bs[t - 1]
        k = ks[t - 1]
        n = Ls[t - 1]
        M = Ms[t - 1]
        nseg = _n_segments(t, nlev, ks)
        for g in range(nseg):
            dst = yoff[t] + g * Ls[t]
            for r in range(n):
                for j in range(b):
                    acc = 0.0
                    for i in range(k):
                        acc += M[j, i] * mbuf[yoff[t - 1] + (g * k + i) * n + r]
                    nu[j] = acc
                fb = fac_off[t - 1] + r * b * b
                for j in range(b):
                    mu = nu[j]
                    for i in range(j):
                        mu += factors[fb + j * b + i] * e[i]
                    mbuf[dst + r * b + j] = mu
                    e[j] = (ybuf[dst + r * b + j] - mu) / factors[fb + j * b + j]
    for p in range(L):
        out[p] = mbuf[yoff[nlev] + p]


@njit(parallel=True, cache=True)
def _cond_means(X, yoff, bs, ks, Ls, Ms, Minvs, factors, fac_off):
    nrow = X.shape[0]
    L = X.shape[1]
    out = np.empty_like(X)
    total = yoff[yoff.shape[0] - 1] + L
    for s in prange(nrow):
        ybuf = np.empty(total)
        mbuf = np.empty(total)
        _cond_mean_one(X[s], ybuf, mbuf, yoff, bs, ks, Ls, Ms, Minvs, factors, fac_off, out[s])
    return out


# ------------------------------------------------------------------------------------------
# Boundary coupling: exact coefficients from the banded covariance of every level.
# ------------------------------------------------------------------------------------------


@njit(cache=True)
def _pre_cov(p, q, b, P, MMt, band_prev):
    """Covariance of positions p <= q (q - p <= 4) of the level-t sequence before coupling."""
    r = p // b
    s = q // b
    i = p - r * b
    j = q - s * b
    if r == s:
        return MMt[i, j]
    return P[i, j] * band_prev[r, s - r]


@njit(cache=True)
def _support(p, b, n, ca, cb, idx, coef):
    """Positions (and weights) of the pre-coupling sequence that coupled position p mixes."""
    r = p // b
    i = p - r * b
    if i == b - 1 and r < n - 1:
        idx[0] = p
        coef[0] = ca[r]
        idx[1] = p + 1
        coef[1] = cb[r]
        return 2
    if i == 0 and r > 0:
        idx[0] = p
        coef[0] = ca[r - 1]
        idx[1] = p - 1
        coef[1] = cb[r - 1]
        return 2
    idx[0] = p
    coef[0] = 1.0
    return 1


@njit(cache=True)
def _coupling_level(b, n, P, MMt, rho_star, band_prev):
    """Coupling coefficients of one level and the band (lags 0..2) of the coupled level."""
    ca = np.empty(max(n - 1, 0))
    cb = np.empty(max(n - 1, 0))
    pb = P[b - 1, 0]
    lp = np.sqrt(1.0 + rho_star)
    lm = np.sqrt(1.0 - rho_star)
    for r in range(n - 1):
        rho = pb * band_prev[r, 1]
        # K = C(rho*)^(1/2) C(rho)^(-1/2); both diagonal in the basis (1, 1), (1, -1)
        up = lp / np.sqrt(1.0 + rho)
        dn = lm / np.sqrt(1.0 - rho)
        ca[r] = 0.5 * (up + dn)
        cb[r] = 0.5 * (up - dn)
    m = n * b
    band = np.zeros((m, 3))
    ia = np.empty(2, dtype=np.int64)
    ib = np.empty(2, dtype=np.int64)
    wa = np.empty(2)
    wb = np.empty(2)
    for p in range(m):
        na = _support(p, b, n, ca, cb, ia, wa)
        for d in range(3):
            q = p + d
            if q >= m:
                break
            nb = _support(q, b, n, ca, cb, ib, wb)
            acc = 0.0
            for u in range(na):
                for v in range(nb):
                    x = ia[u]
                    y = ib[v]
                    if x <= y:
                        acc += wa[u] * wb[v] * _pre_cov(x, y, b, P, MMt, band_prev)
                    else:
                        acc += wa[u] * wb[v] * _pre_cov(y, x, b, P, MMt, band_prev)
            band[p, d] = acc
    return ca, cb, band
