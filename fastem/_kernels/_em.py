"""The fused EM pass and the row-wise (predict) kernels.

One call of a ``stats_*`` kernel is one pass over ``X``: for every block of
``BLOCK`` rows it computes the Gaussian log-densities of all components,
normalizes them into responsibilities with log-sum-exp, adds the
log-likelihood, and accumulates the weighted sufficient statistics centred on
the current means. Rows are split into chunks of ``chunk_rows`` rows; chunk
``c`` writes its own partial sums into ``nk[c]``, ``s1[c]``, ``s2[c]`` and
``scal[c]``, which the caller adds in a fixed order. The chunking depends on
``n_samples`` only, never on the thread count, so results are bit-identical for
any number of threads, and the serial and parallel drivers agree bit for bit.

Inside a block (``block_rows``: 64-256 rows for full and tied, up to 1024 for
diagonal and spherical; a function of the shape only) the
rows are transposed into a ``(Dp, rows)`` buffer, ``Dp`` = ``D`` rounded up to
``TILE`` with zero padding, so every inner loop runs over rows and vectorizes:

* full/tied log-density: ``y = U^T (x - mu)`` in 4 x 4 register tiles of the
  upper-triangular ``U`` (diagonal tiles use their 10 non-zero products), the
  squares summed straight into ``q`` when a column tile is complete;
* normalization: max, one pass of a vectorizable ``exp`` (``_exp_rows``),
  ``resp = w * e / s`` and a vectorizable ``log`` (``_log_into``) for
  log-sum-exp: Numba's ``np.exp`` is a scalar libm call without SVML;
* statistics: ``x - mu`` and ``resp * (x - mu)``, then the upper triangle of
  ``(resp (x - mu))^T (x - mu)`` in 4 x 4 tiles of 16 sums (diagonal: 2
  components x 2 features per pass).

Precision. Log-densities are computed in X's dtype (as scikit-learn does).
The statistics are always float64 and centred on the current means (never
raw moments), whatever X's dtype: a float32 block is widened once
(``_widen``) so that the partition of rows into blocks, chunks or Dask
blocks changes the statistics only by float64 rounding. Normalization (exp,
log-sum-exp) is float64.

Kernels never validate, raise or allocate per row: buffers are allocated once
per chunk. Every helper lives in this module so that Numba's on-disk cache
(keyed on this file) is invalidated together with its callees.

Shapes (``K`` components, ``D`` features, ``Dp`` = ``D`` rounded up to ``TILE``,
``C`` chunks). The parameters come zero-padded to ``Dp`` features and as
fresh writeable arrays (``fastem._passes.kernel_args``), and the statistics
of every covariance type have the same number of dimensions, so one compiled
specialization per dtype serves all four covariance types::

    X      (n, D)      float32 or float64, C-contiguous
    w      (n,) f64    sample weights, or an empty array for unit weights
    labels (n,) i64    known component (>= 0) or -1, or an empty array
    mu     (K, Dp)     means (shift), in X's dtype
    prec   (K, Dp, Dp) upper-triangular precision Cholesky factors (full, tied)
           (K, 1, Dp)  diagonal precision Cholesky factors (diag, spherical)
    mu64   (K, Dp) f64 mu in float64
    const  (K,) f64    log weight + log det(prec_chol) - D/2 log(2 pi)
    nk     (C, K)      sum of w * resp
    s1     (C, K, D)   sum of w * resp * (x - mu_k)
    s2     (C, K, D*D) upper triangle of sum of w * resp * (x - mu_k)(x - mu_k)^T,
                       row-major (full, tied)
           (C, K, D)   its diagonal (diag, spherical)
    scal   (C, 2)      [sum of w * log p(x), sum of w]
"""

import numpy as np
from numba import njit, prange

from ._config import (
    BLOCK,
    BLOCK_BYTES,
    BLOCK_DIAG,
    BLOCK_DIAG_BYTES,
    BLOCK_MIN,
    JIT,
    JIT_ORDERED,
    PAD,
    TILE,
)

# --------------------------------------------------------------------------
# elementwise exp that vectorizes
# --------------------------------------------------------------------------
# Numba's np.exp is a scalar libm call unless llvmlite was built with Intel
# SVML (pip wheels are not). exp is the dominant cost at small D, so the
# kernels use this one: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a
# degree-12 Taylor polynomial (truncation < 2e-16 relative) and 2^n built in
# the exponent bits. Plain arithmetic on arrays: LLVM vectorizes both loops.
# Arguments below -708 (including -inf) give exactly 0 (no subnormals).

_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125
_LN2_LO = 1.4286068203094173e-06
_EXP_LO = -708.0


@njit(**JIT_ORDERED)
def _exp_rows(a, k0, k1, nb, m, s, poly, bits):
    """a[k, :nb] = exp(a[k, :nb] - m[:nb]) and s[:nb] += a[k, :nb], k0 <= k < k1.

    ``a`` float64. The subtraction and the sum ride along the two passes
    the exp needs anyway (no separate passes over ``a``).
    """
    scale = bits.view(np.float64)
    for k in range(k0, k1):
        for b in range(nb):
            x = a[k, b] - m[b]
            xc = max(x, _EXP_LO)
            n = np.floor(xc * _LOG2E + 0.5)
            r = (xc - n * _LN2_HI) - n * _LN2_LO
            p = 1.0 / 479001600.0
            p = p * r + 1.0 / 39916800.0
            p = p * r + 1.0 / 3628800.0
            p = p * r + 1.0 / 362880.0
            p = p * r + 1.0 / 40320.0
            p = p * r + 1.0 / 5040.0
            p = p * r + 1.0 / 720.0
            p = p * r + 1.0 / 120.0
            p = p * r + 1.0 / 24.0
            p = p * r + 1.0 / 6.0
            p = p * r + 0.5
            p = p * r + 1.0
            p = p * r + 1.0
            poly[b] = p if x >= _EXP_LO else 0.0
            bits[b] = (np.int64(n) + 1023) << 52
        for b in range(nb):
            e = poly[b] * scale[b]
            a[k, b] = e
            s[b] += e


_LN2 = 0.6931471805599453
_SQRT2 = 1.4142135623730951
_MANT = (1 << 52) - 1
_ONE_BITS = 1023 << 52


@njit(**JIT_ORDERED)
def _log_into(s, nb, out, fbits, ev):
    """out[:nb] = log(s[:nb]) for s >= 0 (0 gives -inf; NaN stays NaN).

    s = 2^e f with f in [sqrt(1/2), sqrt(2)); log f = 2 atanh(u), u = (f-1)/(f+1),
    |u| < 0.172, by its series to u^19 (truncation < 1e-17 relative).
    Subnormal s is not handled (the kernels' s is a sum of exps >= 1).
    """
    sb = s.view(np.int64)
    for b in range(nb):
        ib = sb[b]
        ev[b] = np.float64((ib >> 52) - 1023)
        fbits[b] = (ib & _MANT) | _ONE_BITS
    f64 = fbits.view(np.float64)
    for b in range(nb):
        f = f64[b]
        e = ev[b]
        big = f > _SQRT2
        f = f * 0.5 if big else f
        e = e + 1.0 if big else e
        u = (f - 1.0) / (f + 1.0)
        u2 = u * u
        p = 1.0 / 19.0
        p = p * u2 + 1.0 / 17.0
        p = p * u2 + 1.0 / 15.0
        p = p * u2 + 1.0 / 13.0
        p = p * u2 + 1.0 / 11.0
        p = p * u2 + 1.0 / 9.0
        p = p * u2 + 1.0 / 7.0
        p = p * u2 + 1.0 / 5.0
        p = p * u2 + 1.0 / 3.0
        p = p * u2 + 1.0
        v = e * _LN2 + 2.0 * u * p
        x = s[b]
        out[b] = v if (x > 0.0 and x < np.inf) else (-np.inf if x == 0.0 else x)


# --------------------------------------------------------------------------
# block helpers
# --------------------------------------------------------------------------


@njit(**JIT)
def block_rows(n_features_padded, n_components, full):
    """Rows per block: a function of the problem's shape only (never of threads).

    Full and tied: ``BLOCK`` rows, halved while the float64 working set
    (x, x - mu, resp (x - mu)) exceeds ``BLOCK_BYTES``. Diagonal and
    spherical keep only x and the responsibilities per block, so their blocks
    grow up to ``BLOCK_DIAG`` rows within ``BLOCK_DIAG_BYTES``: longer
    reductions over rows per (component, feature).
    """
    if full:
        b = BLOCK
        while b > BLOCK_MIN and 3 * 8 * n_features_padded * b > BLOCK_BYTES:
            b //= 2
        return b
    b = BLOCK_DIAG
    while b > BLOCK_MIN and 8 * (n_features_padded + n_components) * b > BLOCK_DIAG_BYTES:
        b //= 2
    return b


@njit(**JIT)
def _load_block(X, start, nb, xt):
    """xt[:D, :nb] = X[start:start + nb].T (rows D..Dp of xt stay zero).

    Four rows per pass over the features: four stores into each row of
    ``xt`` per pass instead of one (about 1.5x faster than row by row).
    """
    D = X.shape[1]
    b0 = 0
    while b0 + 4 <= nb:
        r = start + b0
        for d in range(D):
            a0 = X[r, d]
            a1 = X[r + 1, d]
            a2 = X[r + 2, d]
            a3 = X[r + 3, d]
            xt[d, b0] = a0
            xt[d, b0 + 1] = a1
            xt[d, b0 + 2] = a2
            xt[d, b0 + 3] = a3
        b0 += 4
    for b in range(b0, nb):
        for d in range(D):
            xt[d, b] = X[start + b, d]


@njit(**JIT)
def _centre(xt, mu, k, nb, diff):
    for d in range(mu.shape[1]):
        m = mu[k, d]
        for b in range(nb):
            diff[d, b] = xt[d, b] - m


@njit(**JIT)
def _logprob_full(xt, nb, mu, up, const, diff, y, q, logp):
    """logp[k, :nb] = const_k - |U_k^T (x - mu_k)|^2 / 2 for all k.

    ``up`` is the upper-triangular U padded to (K, Dp, Dp) with zeros;
    y_j = sum_{i <= j} diff_i U_ij is formed TILE x TILE at a time so each
    pass over the block does 16 multiply-adds per 4 loads.
    """
    K = mu.shape[0]
    Dp = up.shape[1]
    for k in range(K):
        _centre(xt, mu, k, nb, diff)
        for b in range(nb):
            q[b] = 0
        for j0 in range(0, Dp, TILE):
            for i0 in range(0, j0 + 1, TILE):
                u00 = up[k, i0, j0]
                u01 = up[k, i0, j0 + 1]
                u02 = up[k, i0, j0 + 2]
                u03 = up[k, i0, j0 + 3]
                u10 = up[k, i0 + 1, j0]
                u11 = up[k, i0 + 1, j0 + 1]
                u12 = up[k, i0 + 1, j0 + 2]
                u13 = up[k, i0 + 1, j0 + 3]
                u20 = up[k, i0 + 2, j0]
                u21 = up[k, i0 + 2, j0 + 1]
                u22 = up[k, i0 + 2, j0 + 2]
                u23 = up[k, i0 + 2, j0 + 3]
                u30 = up[k, i0 + 3, j0]
                u31 = up[k, i0 + 3, j0 + 1]
                u32 = up[k, i0 + 3, j0 + 2]
                u33 = up[k, i0 + 3, j0 + 3]
                if i0 == j0 and i0 == 0:
                    # the whole column tile in one pass, straight into q; a
                    # diagonal tile of U is upper triangular (10 terms of 16)
                    for b in range(nb):
                        d0 = diff[i0, b]
                        d1 = diff[i0 + 1, b]
                        d2 = diff[i0 + 2, b]
                        d3 = diff[i0 + 3, b]
                        y0 = d0 * u00
                        y1 = d0 * u01 + d1 * u11
                        y2 = d0 * u02 + d1 * u12 + d2 * u22
                        y3 = d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
                        q[b] += y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3
                elif i0 == 0:
                    for b in range(nb):
                        d0 = diff[i0, b]
                        d1 = diff[i0 + 1, b]
                        d2 = diff[i0 + 2, b]
                        d3 = diff[i0 + 3, b]
                        y[0, b] = d0 * u00 + d1 * u10 + d2 * u20 + d3 * u30
                        y[1, b] = d0 * u01 + d1 * u11 + d2 * u21 + d3 * u31
                        y[2, b] = d0 * u02 + d1 * u12 + d2 * u22 + d3 * u32
                        y[3, b] = d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
                elif i0 < j0:
                    for b in range(nb):
                        d0 = diff[i0, b]
                        d1 = diff[i0 + 1, b]
                        d2 = diff[i0 + 2, b]
                        d3 = diff[i0 + 3, b]
                        y[0, b] += d0 * u00 + d1 * u10 + d2 * u20 + d3 * u30
                        y[1, b] += d0 * u01 + d1 * u11 + d2 * u21 + d3 * u31
                        y[2, b] += d0 * u02 + d1 * u12 + d2 * u22 + d3 * u32
                        y[3, b] += d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
                else:
                    for b in range(nb):
                        d0 = diff[i0, b]
                        d1 = diff[i0 + 1, b]
                        d2 = diff[i0 + 2, b]
                        d3 = diff[i0 + 3, b]
                        y0 = y[0, b] + d0 * u00
                        y1 = y[1, b] + (d0 * u01 + d1 * u11)
                        y2 = y[2, b] + (d0 * u02 + d1 * u12 + d2 * u22)
                        y3 = y[3, b] + (d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33)
                        q[b] += y0 * y0 + y1 * y1 + y2 * y2 + y3 * y3
        c = const[k]
        for b in range(nb):
            logp[k, b] = c - 0.5 * q[b]


@njit(**JIT)
def _logprob_diag(xt, nb, mu, prec, const, q, q2, logp):
    """logp[k, :nb] = const_k - sum_d ((x_d - mu_kd) p_kd)^2 / 2 for all k.

    Two components per pass over the block (each load of x serves both), four
    features at a time; an odd last component is paired with itself.
    """
    K = mu.shape[0]
    Dp = xt.shape[0]
    for k in range(0, K, 2):
        k2 = k + 1 if k + 1 < K else k
        for b in range(nb):
            q[b] = 0
            q2[b] = 0
        for d0 in range(0, Dp, TILE):
            m0 = mu[k, d0]
            m1 = mu[k, d0 + 1]
            m2 = mu[k, d0 + 2]
            m3 = mu[k, d0 + 3]
            p0 = prec[k, 0, d0]
            p1 = prec[k, 0, d0 + 1]
            p2 = prec[k, 0, d0 + 2]
            p3 = prec[k, 0, d0 + 3]
            n0 = mu[k2, d0]
            n1 = mu[k2, d0 + 1]
            n2 = mu[k2, d0 + 2]
            n3 = mu[k2, d0 + 3]
            o0 = prec[k2, 0, d0]
            o1 = prec[k2, 0, d0 + 1]
            o2 = prec[k2, 0, d0 + 2]
            o3 = prec[k2, 0, d0 + 3]
            for b in range(nb):
                x0 = xt[d0, b]
                x1 = xt[d0 + 1, b]
                x2 = xt[d0 + 2, b]
                x3 = xt[d0 + 3, b]
                t0 = (x0 - m0) * p0
                t1 = (x1 - m1) * p1
                t2 = (x2 - m2) * p2
                t3 = (x3 - m3) * p3
                u0 = (x0 - n0) * o0
                u1 = (x1 - n1) * o1
                u2 = (x2 - n2) * o2
                u3 = (x3 - n3) * o3
                q[b] += t0 * t0 + t1 * t1 + t2 * t2 + t3 * t3
                q2[b] += u0 * u0 + u1 * u1 + u2 * u2 + u3 * u3
        c = const[k]
        c2 = const[k2]
        for b in range(nb):
            logp[k, b] = c - 0.5 * q[b]
            logp[k2, b] = c2 - 0.5 * q2[b]


@njit(**JIT)
def _softmax(logp, nb, m, s, poly, bits):
    """logp[:, :nb] <- exp(logp - max); m <- max; s <- sum of the exps.

    ``lse = m + log(s)``; ``resp = logp / s``. A row with every logp = -inf
    gets m = 0, s = 0 (lse = -inf) and resp = 0 once divided safely.
    """
    K = logp.shape[0]
    for b in range(nb):
        m[b] = logp[0, b]
    for k in range(1, K):
        for b in range(nb):
            v = logp[k, b]
            m[b] = v if v > m[b] else m[b]
    for b in range(nb):
        m[b] = m[b] if m[b] > -np.inf else 0.0
        s[b] = 0.0
    _exp_rows(logp, 0, K, nb, m, s, poly, bits)


@njit(**JIT)
def _normalize(logp, nb, w, labels, start, m, s, poly, bits, lab_lp, ev, rx):
    """rx[:, :nb] = w * resp (in X's dtype); return (sum w*log p(x), sum w).

    ``logp`` (float64) is overwritten with the unnormalized exps.

    Rows with a known label keep their component: resp is one-hot and the row
    contributes log(weight_j) + log N(x | j).
    """
    K = logp.shape[0]
    has_w = w.shape[0] > 0
    has_lab = labels.shape[0] > 0
    if has_lab:
        # the labelled rows' log-density, read before logp is overwritten
        for b in range(nb):
            lab = labels[start + b]
            lab_lp[b] = logp[lab, b] if lab >= 0 else 0.0
    _softmax(logp, nb, m, s, poly, bits)
    _log_into(s, nb, poly, bits, ev)
    ll = 0.0
    wsum = 0.0
    for b in range(nb):
        lse = m[b] + poly[b]
        wb = w[start + b] if has_w else 1.0
        if has_lab and labels[start + b] >= 0:
            lse = lab_lp[b]
        ll += wb * lse
        wsum += wb
        # -inf: the row has zero density everywhere; its resp becomes 0 and
        # the caller sees ll = -inf.
        m[b] = wb / s[b] if s[b] > 0.0 else 0.0
    for k in range(K):
        for b in range(nb):
            rx[k, b] = logp[k, b] * m[b]
    if has_lab:
        for b in range(nb):
            lab = labels[start + b]
            if lab >= 0:
                wb = w[start + b] if has_w else 1.0
                for k in range(K):
                    rx[k, b] = wb if k == lab else 0.0
    return ll, wsum


@njit(**JIT)
def _accumulate_full(xt, nb, mu, resp, diff, rd, nk, s1, s2):
    """Add the centred, weighted statistics of one block (resp = w * resp).

    diff = x - mu_k and rd = resp_k * diff, then the upper triangle of
    rd^T diff one TILE x TILE tile at a time (16 sums per pass); all float64.
    """
    K, D = s1.shape
    Dp = diff.shape[0]
    for k in range(K):
        tot = 0.0
        for b in range(nb):
            tot += resp[k, b]
        if tot == 0:
            continue
        nk[k] += tot
        for d in range(D):
            m = mu[k, d]
            acc = 0.0
            for b in range(nb):
                t = xt[d, b] - m
                diff[d, b] = t
                r = resp[k, b] * t
                rd[d, b] = r
                acc += r
            s1[k, d] += acc
        for i0 in range(0, Dp, TILE):
            # diagonal tile: its upper triangle only (10 sums)
            a00 = a01 = a02 = a03 = 0.0
            a11 = a12 = a13 = a22 = a23 = a33 = 0.0
            for b in range(nb):
                r0 = rd[i0, b]
                r1 = rd[i0 + 1, b]
                r2 = rd[i0 + 2, b]
                r3 = rd[i0 + 3, b]
                e0 = diff[i0, b]
                e1 = diff[i0 + 1, b]
                e2 = diff[i0 + 2, b]
                e3 = diff[i0 + 3, b]
                a00 += r0 * e0
                a01 += r0 * e1
                a02 += r0 * e2
                a03 += r0 * e3
                a11 += r1 * e1
                a12 += r1 * e2
                a13 += r1 * e3
                a22 += r2 * e2
                a23 += r2 * e3
                a33 += r3 * e3
            _tile_add(s2, k, D, i0, i0, a00, a01, a02, a03, 0)
            _tile_add(s2, k, D, i0, i0, 0.0, a11, a12, a13, 1)
            _tile_add(s2, k, D, i0, i0, 0.0, 0.0, a22, a23, 2)
            _tile_add(s2, k, D, i0, i0, 0.0, 0.0, 0.0, a33, 3)
            for j0 in range(i0 + TILE, Dp, TILE):
                a00 = a01 = a02 = a03 = 0.0
                a10 = a11 = a12 = a13 = 0.0
                a20 = a21 = a22 = a23 = 0.0
                a30 = a31 = a32 = a33 = 0.0
                for b in range(nb):
                    r0 = rd[i0, b]
                    r1 = rd[i0 + 1, b]
                    r2 = rd[i0 + 2, b]
                    r3 = rd[i0 + 3, b]
                    e0 = diff[j0, b]
                    e1 = diff[j0 + 1, b]
                    e2 = diff[j0 + 2, b]
                    e3 = diff[j0 + 3, b]
                    a00 += r0 * e0
                    a01 += r0 * e1
                    a02 += r0 * e2
                    a03 += r0 * e3
                    a10 += r1 * e0
                    a11 += r1 * e1
                    a12 += r1 * e2
                    a13 += r1 * e3
                    a20 += r2 * e0
                    a21 += r2 * e1
                    a22 += r2 * e2
                    a23 += r2 * e3
                    a30 += r3 * e0
                    a31 += r3 * e1
                    a32 += r3 * e2
                    a33 += r3 * e3
                _tile_add(s2, k, D, i0, j0, a00, a01, a02, a03, 0)
                _tile_add(s2, k, D, i0, j0, a10, a11, a12, a13, 1)
                _tile_add(s2, k, D, i0, j0, a20, a21, a22, a23, 2)
                _tile_add(s2, k, D, i0, j0, a30, a31, a32, a33, 3)


@njit(**JIT)
def _tile_add(s2, k, D, i0, j0, a0, a1, a2, a3, p):
    """s2[k, i, j] += a_q for i = i0 + p, j = j0 + q, upper triangle inside D."""
    i = i0 + p
    if i >= D:
        return
    base = i * D
    if j0 >= i and j0 < D:
        s2[k, base + j0] += a0
    if j0 + 1 >= i and j0 + 1 < D:
        s2[k, base + j0 + 1] += a1
    if j0 + 2 >= i and j0 + 2 < D:
        s2[k, base + j0 + 2] += a2
    if j0 + 3 >= i and j0 + 3 < D:
        s2[k, base + j0 + 3] += a3


@njit(**JIT)
def _accumulate_diag(xt, nb, mu, resp, nk, s1, s2):
    """Diagonal statistics of one block (float64).

    Two components x two features per pass (8 sums): each load of x serves
    two components and each load of resp two features. An odd last
    component is paired with itself and added once.
    """
    K, D = s1.shape
    Dp = xt.shape[0]
    for k in range(K):
        tot = 0.0
        for b in range(nb):
            tot += resp[k, b]
        nk[k] += tot
    for k in range(0, K, 2):
        k2 = k + 1 if k + 1 < K else k
        for d in range(0, Dp, 2):
            m00 = mu[k, d]
            m01 = mu[k, d + 1]
            m10 = mu[k2, d]
            m11 = mu[k2, d + 1]
            a00 = a01 = a10 = a11 = 0.0
            c00 = c01 = c10 = c11 = 0.0
            for b in range(nb):
                r0 = resp[k, b]
                r1 = resp[k2, b]
                x0 = xt[d, b]
                x1 = xt[d + 1, b]
                t00 = x0 - m00
                t01 = x1 - m01
                t10 = x0 - m10
                t11 = x1 - m11
                u00 = r0 * t00
                u01 = r0 * t01
                u10 = r1 * t10
                u11 = r1 * t11
                a00 += u00
                a01 += u01
                a10 += u10
                a11 += u11
                c00 += u00 * t00
                c01 += u01 * t01
                c10 += u10 * t10
                c11 += u11 * t11
            if d < D:
                s1[k, d] += a00
                s2[k, d] += c00
                if k2 != k:
                    s1[k2, d] += a10
                    s2[k2, d] += c10
            if d + 1 < D:
                s1[k, d + 1] += a01
                s2[k, d + 1] += c01
                if k2 != k:
                    s1[k2, d + 1] += a11
                    s2[k2, d + 1] += c11


@njit(**JIT)
def _accumulate(x64, nb, mu64, resp, diff, rd, nk, s1, s2, full):
    if full:
        _accumulate_full(x64, nb, mu64, resp, diff, rd, nk, s1, s2)
    else:
        _accumulate_diag(x64, nb, mu64, resp, nk, s1, s2)


@njit(**JIT)
def _widen(xt, nb, x64):
    """x64[:, :nb] = xt[:, :nb] in float64."""
    for d in range(xt.shape[0]):
        for b in range(nb):
            x64[d, b] = xt[d, b]


# --------------------------------------------------------------------------
# one chunk of rows
# --------------------------------------------------------------------------


@njit(**JIT)
def _chunk_stats(X, w, labels, r0, r1, mu, prec, mu64, const, nk, s1, s2, scal):
    K, Dp = mu.shape
    full = prec.shape[1] > 1
    B = block_rows(Dp, K, full)
    Bp = B + PAD
    xt = np.zeros((Dp, Bp), dtype=X.dtype)
    x64 = np.zeros((Dp, Bp), dtype=np.float64)
    diff = np.zeros((Dp, Bp), dtype=X.dtype)
    y = np.empty((TILE, Bp), dtype=X.dtype)
    q = np.empty(B, dtype=X.dtype)
    q2 = np.empty(B, dtype=X.dtype)
    logp = np.empty((K, Bp), dtype=np.float64)
    rx = np.empty((K, Bp), dtype=np.float64)
    m = np.empty(B, dtype=np.float64)
    s = np.empty(B, dtype=np.float64)
    poly = np.empty(B, dtype=np.float64)
    bits = np.empty(B, dtype=np.int64)
    lab_lp = np.empty(B, dtype=np.float64)
    ev = np.empty(B, dtype=np.float64)
    diff64 = np.zeros((Dp, Bp), dtype=np.float64)
    rd = np.zeros((Dp, Bp), dtype=np.float64)
    for start in range(r0, r1, B):
        nb = min(B, r1 - start)
        _load_block(X, start, nb, xt)
        if full:
            _logprob_full(xt, nb, mu, prec, const, diff, y, q, logp)
        else:
            _logprob_diag(xt, nb, mu, prec, const, q, q2, logp)
        ll, ws = _normalize(logp, nb, w, labels, start, m, s, poly, bits, lab_lp, ev, rx)
        scal[0] += ll
        scal[1] += ws
        if X.itemsize == 8:
            _accumulate(xt, nb, mu64, rx, diff64, rd, nk, s1, s2, full)
        else:
            # float32: the block widened once, not once per component
            _widen(xt, nb, x64)
            _accumulate(x64, nb, mu64, rx, diff64, rd, nk, s1, s2, full)


@njit(**JIT)
def _chunk_rowwise(X, r0, r1, mu, prec, const, out_lp, out_resp, out_lab):
    K, Dp = mu.shape
    full = prec.shape[1] > 1
    B = block_rows(Dp, K, full)
    Bp = B + PAD
    xt = np.zeros((Dp, Bp), dtype=X.dtype)
    diff = np.zeros((Dp, Bp), dtype=X.dtype)
    y = np.empty((TILE, Bp), dtype=X.dtype)
    q = np.empty(B, dtype=X.dtype)
    q2 = np.empty(B, dtype=X.dtype)
    logp = np.empty((K, Bp), dtype=np.float64)
    m = np.empty(B, dtype=np.float64)
    s = np.empty(B, dtype=np.float64)
    poly = np.empty(B, dtype=np.float64)
    bits = np.empty(B, dtype=np.int64)
    ev = np.empty(B, dtype=np.float64)
    want_lp = out_lp.shape[0] > 0
    want_resp = out_resp.shape[0] > 0
    want_lab = out_lab.shape[0] > 0
    for start in range(r0, r1, B):
        nb = min(B, r1 - start)
        _load_block(X, start, nb, xt)
        if full:
            _logprob_full(xt, nb, mu, prec, const, diff, y, q, logp)
        else:
            _logprob_diag(xt, nb, mu, prec, const, q, q2, logp)
        if want_lab:
            for b in range(nb):
                best = 0
                for k in range(1, K):
                    if logp[k, b] > logp[best, b]:
                        best = k
                out_lab[start + b] = best
        if want_lp or want_resp:
            _softmax(logp, nb, m, s, poly, bits)
            if want_lp:
                _log_into(s, nb, poly, bits, ev)
                for b in range(nb):
                    out_lp[start + b] = m[b] + poly[b]
            if want_resp:
                for b in range(nb):
                    s[b] = 1.0 / s[b] if s[b] > 0.0 else 0.0
                for b in range(nb):
                    for k in range(K):
                        out_resp[start + b, k] = logp[k, b] * s[b]


# --------------------------------------------------------------------------
# drivers: the same chunk function in parallel (prange) or serially
#
# Two small functions rather than one function jitted twice with different
# ``parallel=`` flags: Numba's on-disk cache index is keyed on the function's
# bytecode and signature, not on its flags, so two dispatchers of one function
# would overwrite each other's cache entries.
# --------------------------------------------------------------------------


@njit(parallel=True, **JIT)
def stats_parallel(X, w, labels, chunk_rows, mu, prec, mu64, const, nk, s1, s2, scal):
    n = X.shape[0]
    for c in prange(nk.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_stats(X, w, labels, r0, r1, mu, prec, mu64, const, nk[c], s1[c], s2[c], scal[c])


@njit(**JIT)
def stats_serial(X, w, labels, chunk_rows, mu, prec, mu64, const, nk, s1, s2, scal):
    n = X.shape[0]
    for c in range(nk.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_stats(X, w, labels, r0, r1, mu, prec, mu64, const, nk[c], s1[c], s2[c], scal[c])


@njit(parallel=True, **JIT)
def rowwise_parallel(X, chunk_rows, n_chunks, mu, prec, const, out_lp, out_resp, out_lab):
    n = X.shape[0]
    for c in prange(n_chunks):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_rowwise(X, r0, r1, mu, prec, const, out_lp, out_resp, out_lab)


@njit(**JIT)
def rowwise_serial(X, chunk_rows, n_chunks, mu, prec, const, out_lp, out_resp, out_lab):
    n = X.shape[0]
    for c in range(n_chunks):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_rowwise(X, r0, r1, mu, prec, const, out_lp, out_resp, out_lab)
