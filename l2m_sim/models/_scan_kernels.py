"""Private numba kernels of the selective scan (Mamba's S6 recurrence) and its adjoint.

Notation (one batch element ``b``, one channel ``d``, state index ``n``, time ``t``)::

    a_t[n] = exp(delta_t * A[n])                       (decay, 0 < a <= 1 for A <= 0)
    h_t[n] = a_t[n] * h_{t-1}[n] + delta_t * B_t[n] * u_t,    h_{-1} = 0
    y_t    = sum_n C_t[n] * h_t[n] + D * u_t

Backward (reverse-mode, ``gy_t = dLoss/dy_t``). The adjoint of the state,
``g_t[n] = dLoss/dh_t[n]``, obeys the same recurrence run backwards in time::

    g_t[n] = gy_t * C_t[n] + a_{t+1}[n] * g_{t+1}[n],          g_L = 0

and every input's gradient is a local product of ``g_t``, ``gy_t`` and the forward values::

    dC_t[n]  += gy_t * h_t[n]                          (summed over d)
    dB_t[n]  += g_t[n] * delta_t * u_t                 (summed over d)
    du_t      = sum_n g_t[n] * delta_t * B_t[n] + D * gy_t
    ddelta_t  = sum_n g_t[n] * (B_t[n] * u_t + A[n] * a_t[n] * h_{t-1}[n])
    dA[n]    += sum_t g_t[n] * delta_t * a_t[n] * h_{t-1}[n]   (summed over b)
    dD       += sum_t gy_t * u_t                                (summed over b)

**Time chunks.** The decays ``a`` are computed by the caller (torch's vectorised ``exp``;
numba has no vectorised ``exp`` without SVML and a scalar ``exp`` per element would
dominate the cost) one *time chunk* ``[t0, t0 + T)`` at a time, shape ``(Bt, D, T, N)``,
and the kernels below process one chunk per call, carrying the state ``h`` (forward) or
the adjoint carry ``a_{t+1} g_{t+1}`` and the dA / dD accumulators (backward) between calls.

**Checkpoints.** The backward pass needs ``h_{t-1}`` in reverse order. Inverting the
recurrence (``h_{t-1} = (h_t - ...) / a_t``) is unstable when ``a_t`` is tiny, so the
forward pass stores the state every ``K`` steps and the backward pass recomputes the states
of ``K`` steps (a small thread-local buffer) from the checkpoint, with the same arithmetic
as the forward pass, then runs the adjoint through them. Cost: one extra forward
recurrence; memory ``L / K * N`` values per (b, d).

Layouts (C-contiguous): ``u, delta, y, du, ddelta: (Bt, D, L)``; ``a: (Bt, D, T, N)``;
``A: (D, N)``; ``Bm, Cm: (Bt, L, N)`` (time-major: the state index is contiguous);
``Dv: (D,)``; checkpoints ``ck: (Bt, D, ceil(L / K), N)``; carries ``(Bt, D, N)``.
Internal arithmetic is float64 (float32 inputs are promoted on load, rounded on store).

Parallelism: the forward pass is parallel over the ``Bt * D`` independent recurrences. The
backward pass is parallel over ``Bt * G`` tasks, task (b, g) owning a contiguous group of
channels; the reductions over channels (dB, dC) go to per-group partial buffers
``(Bt, G, T, N)`` that the caller sums. ``G`` is fixed by the caller, not by the thread
count, so results do not depend on the number of numba threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def scan_fwd_chunk(u, dl, a, Bm, Cm, Dv, t0, K, h, y, ck):
    """Forward scan over ``[t0, t0 + a.shape[2])``; updates ``h``, writes ``y`` and ``ck``."""
    nb, nd, L = u.shape
    T = a.shape[2]
    N = a.shape[3]
    for task in prange(nb * nd):
        b = task // nd
        d = task % nd
        hl = np.empty(N)
        for n in range(N):
            hl[n] = h[b, d, n]
        Dd = float(Dv[d])
        for i in range(T):
            t = t0 + i
            if t % K == 0:
                c = t // K
                for n in range(N):
                    ck[b, d, c, n] = hl[n]
            ut = float(u[b, d, t])
            dtu = float(dl[b, d, t]) * ut
            for n in range(N):
                hl[n] = a[b, d, i, n] * hl[n] + dtu * Bm[b, t, n]
            acc = 0.0
            for n in range(N):
                acc += Cm[b, t, n] * hl[n]
            y[b, d, t] = acc + Dd * ut
        for n in range(N):
            h[b, d, n] = hl[n]


@njit(cache=True, parallel=True)
def scan_bwd_chunk(u, dl, a, A, Bm, Cm, Dv, gy, ck, t0, K, G, carry, gA, gD, du, ddl, dB_part, dC_part):
    """Adjoint over ``[t0, t0 + T)`` (``t0`` a multiple of ``K``), run after the later chunks.

    Updates ``carry`` (a_{t+1} g_{t+1}), ``gA`` (Bt, D, N) and ``gD`` (Bt, D); writes
    ``du, ddl`` on the chunk and ``dB_part, dC_part`` (Bt, G, T, N) (chunk-local time).
    """
    nb, nd, L = u.shape
    T = a.shape[2]
    N = a.shape[3]
    for task in prange(nb * G):
        b = task // G
        g = task % G
        d0 = (g * nd) // G
        d1 = ((g + 1) * nd) // G
        hbuf = np.empty((K + 1, N))  # hbuf[j + 1] = h after step j of the sub-chunk
        cr = np.empty(N)
        gAl = np.empty(N)
        gvec = np.empty(N)
        ahv = np.empty(N)
        for n in range(N):  # the partial buffers of this chunk start at zero
            for i in range(T):
                dB_part[b, g, i, n] = 0.0
                dC_part[b, g, i, n] = 0.0
        for d in range(d0, d1):
            for n in range(N):
                cr[n] = carry[b, d, n]
                gAl[n] = gA[b, d, n]
            Dd = float(Dv[d])
            gDl = gD[b, d]
            nsub = (T + K - 1) // K
            for s in range(nsub - 1, -1, -1):
                i0 = s * K
                i1 = min(T, i0 + K)
                c = (t0 + i0) // K
                # recompute the states of the sub-chunk from its checkpoint (as the forward did)
                for n in range(N):
                    hbuf[0, n] = ck[b, d, c, n]
                for j in range(i1 - i0):
                    i = i0 + j
                    t = t0 + i
                    dtu = float(dl[b, d, t]) * float(u[b, d, t])
                    for n in range(N):
                        hbuf[j + 1, n] = a[b, d, i, n] * hbuf[j, n] + dtu * Bm[b, t, n]
                # adjoint, backwards in time (elementwise loops over n vectorise; the two
                # reductions over n are separate short loops)
                for j in range(i1 - i0 - 1, -1, -1):
                    i = i0 + j
                    t = t0 + i
                    dt = float(dl[b, d, t])
                    ut = float(u[b, d, t])
                    gyt = float(gy[b, d, t])
                    dtu = dt * ut
                    for n in range(N):
                        gn = gyt * Cm[b, t, n] + cr[n]
                        ah = a[b, d, i, n] * hbuf[j, n]
                        gvec[n] = gn
                        ahv[n] = ah
                        dC_part[b, g, i, n] += gyt * hbuf[j + 1, n]
                        dB_part[b, g, i, n] += gn * dtu
                        gAl[n] += gn * dt * ah
                        cr[n] = a[b, d, i, n] * gn
                    acc_u = 0.0
                    acc_dt = 0.0
                    for n in range(N):
                        bn = float(Bm[b, t, n])
                        acc_u += gvec[n] * bn
                        acc_dt += gvec[n] * (bn * ut + A[d, n] * ahv[n])
                    du[b, d, t] = acc_u * dt + Dd * gyt
                    ddl[b, d, t] = acc_dt
                    gDl += gyt * ut
            for n in range(N):
                carry[b, d, n] = cr[n]
                gA[b, d, n] = gAl[n]
            gD[b, d] = gDl
