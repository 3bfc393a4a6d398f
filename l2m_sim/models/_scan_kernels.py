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

The backward pass needs ``h_{t-1}`` in reverse order. Inverting the recurrence
(``h_{t-1} = (h_t - ...) / a_t``) is unstable when ``a_t`` is tiny, so instead the forward
pass stores a *checkpoint* of the state every ``K`` steps and the backward pass recomputes
the states of one chunk (``K`` steps, kept in a small thread-local buffer) from its
checkpoint, bit-identically to the forward pass, then runs the adjoint through that chunk.
Cost: one extra forward recurrence; memory: ``L / K * N`` values per (b, d).

Layouts (all C-contiguous): ``u, delta, y, du, ddelta: (Bt, D, L)``; ``A: (D, N)``;
``Bm, Cm: (Bt, L, N)`` (time-major so that the state index is contiguous); ``Dv: (D,)``;
checkpoints ``ck: (Bt, D, ceil(L / K), N)``. Internal arithmetic is float64 whatever the
input dtype (float32 inputs are promoted on load and rounded once on store).

Parallelism: the forward pass is parallel over ``Bt * D`` independent recurrences. The
backward pass is parallel over ``Bt * G`` tasks, task (b, g) handling a contiguous group of
channels; the reductions over channels (dB, dC) go to per-group partial buffers
``(Bt, G, L, N)`` and the reductions over the batch (dA, dD) to per-batch partial buffers,
which the caller sums. ``G`` is fixed by the caller, not by the thread count, so results
are bitwise independent of the number of threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def scan_fwd(u, dl, A, Bm, Cm, Dv, K, y, ck):
    """Forward selective scan; writes ``y`` and the checkpoints ``ck`` (see module doc)."""
    nb, nd, L = u.shape
    N = A.shape[1]
    for task in prange(nb * nd):
        b = task // nd
        d = task % nd
        h = np.zeros(N)
        Ad = np.empty(N)
        for n in range(N):
            Ad[n] = A[d, n]
        Dd = float(Dv[d])
        for t in range(L):
            if t % K == 0:
                c = t // K
                for n in range(N):
                    ck[b, d, c, n] = h[n]
            dt = float(dl[b, d, t])
            ut = float(u[b, d, t])
            du = dt * ut
            acc = 0.0
            for n in range(N):
                hn = math.exp(dt * Ad[n]) * h[n] + du * Bm[b, t, n]
                h[n] = hn
                acc += Cm[b, t, n] * hn
            y[b, d, t] = acc + Dd * ut


@njit(cache=True, parallel=True)
def scan_bwd(u, dl, A, Bm, Cm, Dv, gy, ck, K, G, du, ddl, dA_part, dD_part, dB_part, dC_part):
    """Adjoint of :func:`scan_fwd`.

    Writes ``du, ddl`` (Bt, D, L), ``dA_part`` (Bt, D, N), ``dD_part`` (Bt, D) and
    adds into the zero-initialised ``dB_part, dC_part`` (Bt, G, L, N).
    """
    nb, nd, L = u.shape
    N = A.shape[1]
    nck = (L + K - 1) // K
    for task in prange(nb * G):
        b = task // G
        g = task % G
        d0 = (g * nd) // G
        d1 = ((g + 1) * nd) // G
        hbuf = np.empty((K + 1, N))  # hbuf[i + 1] = h at step i of the chunk, hbuf[0] = before
        abuf = np.empty((K, N))
        carry = np.empty(N)  # a_{t+1} * g_{t+1}
        gA = np.empty(N)
        Ad = np.empty(N)
        for d in range(d0, d1):
            for n in range(N):
                carry[n] = 0.0
                gA[n] = 0.0
                Ad[n] = A[d, n]
            Dd = float(Dv[d])
            gD = 0.0
            for c in range(nck - 1, -1, -1):
                t0 = c * K
                t1 = min(L, t0 + K)
                # recompute the chunk's states exactly as the forward pass did
                for n in range(N):
                    hbuf[0, n] = ck[b, d, c, n]
                for i in range(t1 - t0):
                    t = t0 + i
                    dt = float(dl[b, d, t])
                    dtu = dt * float(u[b, d, t])
                    for n in range(N):
                        a = math.exp(dt * Ad[n])
                        abuf[i, n] = a
                        hbuf[i + 1, n] = a * hbuf[i, n] + dtu * Bm[b, t, n]
                # adjoint through the chunk, backwards in time
                for i in range(t1 - t0 - 1, -1, -1):
                    t = t0 + i
                    dt = float(dl[b, d, t])
                    ut = float(u[b, d, t])
                    gyt = float(gy[b, d, t])
                    dtu = dt * ut
                    acc_u = 0.0
                    acc_dt = 0.0
                    for n in range(N):
                        gn = gyt * Cm[b, t, n] + carry[n]
                        a = abuf[i, n]
                        hprev = hbuf[i, n]
                        dC_part[b, g, t, n] += gyt * hbuf[i + 1, n]
                        dB_part[b, g, t, n] += gn * dtu
                        bn = float(Bm[b, t, n])
                        acc_u += gn * bn
                        ah = Ad[n] * a * hprev
                        acc_dt += gn * (bn * ut + ah)
                        gA[n] += gn * dt * a * hprev
                        carry[n] = a * gn
                    du[b, d, t] = acc_u * dt + Dd * gyt
                    ddl[b, d, t] = acc_dt
                    gD += gyt * ut
            for n in range(N):
                dA_part[b, d, n] = gA[n]
            dD_part[b, d] = gD
