"""Normalization of one block: log-sum-exp, responsibilities, log-likelihood.

Numba's ``np.exp`` and ``np.log`` are scalar libm calls unless llvmlite was
built with Intel SVML (pip wheels are not), and exp is the dominant cost at
small D, so the kernels use their own vectorizable ``exp_rows`` and
``log_into``. Arrays are ``(K, rows)`` blocks of float64 log-densities.
"""

import numpy as np

from ._bits import bits_of_float, empty, float_of_bits
from ._config import jit_ordered, wide_vectors
from ._shared import F1, F2, I8, L, Shared, W

# --------------------------------------------------------------------------
# elementwise exp and log that vectorize
# --------------------------------------------------------------------------
# Numba's np.exp is a scalar libm call unless llvmlite was built with Intel
# SVML (pip wheels are not). exp is the dominant cost at small D, so the
# kernels use this one: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a
# degree-12 Taylor polynomial (truncation < 2e-16 relative) and 2^n built in
# the exponent bits. Plain arithmetic on arrays: LLVM vectorizes the loop.
# Arguments below -708 (including -inf) give exactly 0 (no subnormals).

_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125
_LN2_LO = 1.4286068203094173e-06
_EXP_LO = -708.0
# 1.5 * 2^52: y + _ROUND is rounded to an integer n, held in the mantissa's low bits (for
# |n| < 2^51); (bits + 1023) << 52 is then 2^n's bits, with no float-to-int conversion
# (AVX2 has no vector one: LLVM made four scalar ones per vector of four)
_ROUND = 6755399441055744.0


@jit_ordered
def exp_rows(a, k0, k1, nb, m, s):
    """a[k, :nb] = exp(a[k, :nb] - m[:nb]) and s[:nb] += a[k, :nb], k0 <= k < k1.

    ``a`` float64. One pass over ``a``: the subtraction, the exp (its 2^n
    made by a bit cast in registers) and the sum.
    """
    wide_vectors()
    for k in range(k0, k1):
        for b in range(nb):
            x = a[k, b] - m[b]
            xc = max(x, _EXP_LO)
            t = xc * _LOG2E + _ROUND
            n = t - _ROUND
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
            e = (p if x >= _EXP_LO else 0.0) * float_of_bits((bits_of_float(t) + 1023) << 52)
            a[k, b] = e
            s[b] += e


_LN2 = 0.6931471805599453
_SQRT2 = 1.4142135623730951
_MANT = (1 << 52) - 1
_ONE_BITS = 1023 << 52
# the exponent field e as a float with no int-to-float conversion (AVX2 has no vector one):
# the bits of 2^52 or'ed with e are the float 2^52 + e (0 <= e < 2^52)
_TWO52_BITS = 0x4330000000000000
_TWO52_1023 = 4503599627371519.0  # 2^52 + 1023


@jit_ordered
def log_into(s, nb, out):
    """out[:nb] = log(s[:nb]) for s >= 0 (0 gives -inf; NaN stays NaN).

    s = 2^e f with f in [sqrt(1/2), sqrt(2)); log f = 2 atanh(u), u = (f-1)/(f+1),
    |u| < 0.172, by its series to u^19 (truncation < 1e-17 relative).
    Subnormal s is not handled (the kernels' s is a sum of exps >= 1).
    """
    wide_vectors()
    for b in range(nb):
        x = s[b]
        ib = bits_of_float(x)
        e = float_of_bits((ib >> 52) | _TWO52_BITS) - _TWO52_1023
        f = float_of_bits((ib & _MANT) | _ONE_BITS)
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
        out[b] = v if (x > 0.0 and x < np.inf) else (-np.inf if x == 0.0 else x)


# --------------------------------------------------------------------------
# softmax over components
# --------------------------------------------------------------------------


@jit_ordered
def softmax(logp, nb, m, s):
    """logp[:, :nb] <- exp(logp - max); m <- max; s <- sum of the exps.

    ``lse = m + log(s)``; ``resp = logp / s``. A row with every logp = -inf
    gets m = 0, s = 0 (lse = -inf) and resp = 0 once divided safely.
    """
    wide_vectors()
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
    exp_rows(logp, 0, K, nb, m, s)


@jit_ordered
def sum_rows(a, nb):
    """a[0] + ... + a[nb - 1] in eight interleaved partial sums, added in a fixed order.

    The same bits in every compiled copy (no reassociation needed to
    vectorize: the eight partial sums are independent lanes).
    """
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    b = 0
    while b + 8 <= nb:
        a0 += a[b]
        a1 += a[b + 1]
        a2 += a[b + 2]
        a3 += a[b + 3]
        a4 += a[b + 4]
        a5 += a[b + 5]
        a6 += a[b + 6]
        a7 += a[b + 7]
        b += 8
    for i in range(b, nb):
        a0 += a[i]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@jit_ordered
def normalize_buffers(K, Bp, B, like_f8, like_i8):
    """The buffers :func:`normalize` works in, for blocks of up to ``B`` rows: ``logp``
    (K, Bp), then ``m``, ``s``, ``poly``, ``bits`` (int64), ``lab_lp`` and
    ``ev`` (B,). ``like_f8`` and ``like_i8`` are any float64 and int64 arrays (they give
    the dtypes, ``_bits.empty``). Every kernel allocates them here (one compiled
    allocation)."""
    vecs = empty(5, B, like_f8)  # the five float64 row buffers, one allocation
    return (
        empty(K, Bp, like_f8),
        vecs[0],
        vecs[1],
        vecs[2],
        empty(1, B, like_i8)[0],
        vecs[3],
        vecs[4],
    )


@jit_ordered
def normalize(logp, nb, w, labels, start, m, s, poly, lab_lp, ev, scal):
    """logp[:, :nb] <- w * resp (float64, in place); scal += (sum w*log p(x), sum w).

    In place: a separate (K, rows) output was one more buffer per thread (1.1 MB at
    K = 512; bench/NOTES.md section 25).

    Rows with a known label keep their component: resp is one-hot and the row
    contributes log(weight_j) + log N(x | j).

    With no reassociation: its sums over rows are fixed-order partial sums
    (:func:`sum_rows`), so every compiled copy computes the same bits. The pass
    kernel calls one copy, compiled once for both families and dtypes and called
    by address (:data:`shared_normalize`); the missing-value kernel links its own
    (``jit_ordered``), which gives the same bits.
    """
    wide_vectors()
    K = logp.shape[0]
    has_w = w.shape[0] > 0
    has_lab = labels.shape[0] > 0
    if has_lab:
        # the labelled rows' log-density, read before logp is overwritten
        for b in range(nb):
            lab = labels[start + b]
            lab_lp[b] = logp[lab, b] if lab >= 0 else 0.0
    softmax(logp, nb, m, s)
    log_into(s, nb, poly)
    for b in range(nb):
        lse = m[b] + poly[b]
        wb = w[start + b] if has_w else 1.0
        if has_lab and labels[start + b] >= 0:
            lse = lab_lp[b]
        poly[b] = wb * lse
        ev[b] = wb
        # -inf: the row has zero density everywhere; its resp becomes 0 and
        # the log-likelihood is -inf.
        m[b] = wb / s[b] if s[b] > 0.0 else 0.0
    scal[0] += sum_rows(poly, nb)
    scal[1] += sum_rows(ev, nb) if has_w else float(nb)
    for k in range(K):
        for b in range(nb):
            logp[k, b] *= m[b]
    if has_lab:
        for b in range(nb):
            lab = labels[start + b]
            if lab >= 0:
                wb = w[start + b] if has_w else 1.0
                for k in range(K):
                    logp[k, b] = wb if k == lab else 0.0


#: :func:`normalize` for the complete-data kernels: compiled once, called by address
#: (``_shared``), so no kernel links and optimizes a copy of it again
shared_normalize = Shared(
    normalize.py_func, (F2, I8, W, L, I8, F1, F1, F1, F1, F1, F1), ordered=True
)
