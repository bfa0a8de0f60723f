"""Normalization of one block: log-sum-exp, responsibilities, log-likelihood.

Numba's ``np.exp`` and ``np.log`` are scalar libm calls unless llvmlite was
built with Intel SVML (pip wheels are not), and exp is the dominant cost at
small D, so the kernels use their own: ``exp`` inside the register strips of
:func:`softmax` (LLVM vector IR) and a vectorizable ``log_into``. Arrays are
``(K, rows)`` blocks of float64 log-densities.
"""

from . import _numba  # noqa: F401  (first: Numba imported with Ctrl-C held off)

# isort: split
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import _ir
from ._bits import bits_of_float, empty, float_of_bits
from ._config import jit_ordered, vector_registers, wide_vectors
from ._shared import F1, F2, I8, L, Shared, W

# --------------------------------------------------------------------------
# elementwise exp and log that vectorize
# --------------------------------------------------------------------------
# Numba's np.exp is a scalar libm call unless llvmlite was built with Intel
# SVML (pip wheels are not). exp is the dominant cost at small D, so the
# kernels use their own (:func:`_exp`, in registers), written as LLVM vector IR in
# :func:`softmax`, the one place it runs (bench/NOTES.md section 34: the same bits as
# the loop LLVM vectorized before; a normalization 10-15 % faster, 20-30 % as AVX2 code).

_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125
_LN2_LO = 1.4286068203094173e-06
_EXP_LO = -708.0
# 1.5 * 2^52: y + _ROUND is rounded to an integer n, held in the mantissa's low bits (for
# |n| < 2^51); (bits + 1023) << 52 is then 2^n's bits, with no float-to-int conversion
# (AVX2 has no vector one: LLVM made four scalar ones per vector of four)
_ROUND = 6755399441055744.0


#: A strip of :func:`softmax`: 16 rows, ``STRIP_VECTORS`` vectors of ``STRIP_LANES``
#: float64 (zmm: 2 x 8, ymm: 4 x 4; per element, 8 rows in zmm were as fast, 8 in ymm
#: 1.1-1.2x slower: bench/NOTES.md section 34).
STRIP_LANES = _ir.register_tile(vector_registers())[0]
STRIP_VECTORS = 16 // STRIP_LANES
_HORNER = [1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0]
_HORNER += [1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0]
_HORNER += [0.5, 1.0, 1.0]


def _exp(vec, x):
    """exp(x) of the float64 vector ``x``: Cody-Waite reduction x = n ln2 + r,
    |r| <= ln2/2, a degree-12 Taylor polynomial (truncation < 2e-16 relative) and 2^n
    built in the exponent bits, all in registers. Arguments below -708 (including -inf)
    give exactly 0 (no subnormals); NaN gives 0."""
    b = vec.builder
    low = vec.constant(_EXP_LO)
    xc = b.select(b.fcmp_ordered("<", x, low), low, x)
    t = vec.fma(xc, vec.constant(_LOG2E), vec.constant(_ROUND))
    n = b.fsub(t, vec.constant(_ROUND))
    minus_n = b.fneg(n)
    r = vec.fma(minus_n, vec.constant(_LN2_HI), xc)
    r = vec.fma(minus_n, vec.constant(_LN2_LO), r)
    p = vec.constant(_HORNER[0])
    for c in _HORNER[1:]:
        p = vec.fma(p, r, vec.constant(c))
    p = b.select(b.fcmp_ordered(">=", x, low), p, vec.zero)
    ints = ir.VectorType(_ir.I64, vec.lanes)
    bits = b.add(b.bitcast(t, ints), ir.Constant(ints, [1023] * vec.lanes))
    two_n = b.bitcast(b.shl(bits, ir.Constant(ints, [52] * vec.lanes)), vec.type)
    return b.fmul(p, two_n)


@intrinsic
def softmax(typingctx, logp, nb, m, s, scale):
    """Per row b < nb: m[b] = max_k logp[k, b] (0 for a row of -inf), logp[k, b] <-
    exp(logp[k, b] - m[b]), s[b] = their sum over k in order; and where ``scale`` is
    non-empty, logp[k, b] <- logp[k, b] * (scale[b] / s[b]) (0 where s[b] = 0).

    Strips of 16 rows (``STRIP_VECTORS`` vectors), each component's vectors loaded once per
    step: the strip's maxima, sums and scale stay in registers over the components
    (LLVM vector IR, ``_ir``), the strip's logp in L1 between its three loops. The last
    strip's loads and stores are masked to the rows below ``nb``: no buffer is read or
    written past it.
    """
    sig = types.void(logp, nb, m, s, scale)

    def codegen(context, builder, signature, args):
        vec = _ir.Vectors(builder, STRIP_LANES)
        lanes = vec.lanes
        a_l, a_m, a_s, a_w = (_ir.data(context, builder, signature, args, i) for i in (0, 2, 3, 4))
        nbv = args[1]
        kk = builder.extract_value(a_l.shape, 0)
        scaled = builder.icmp_signed(">", builder.extract_value(a_w.shape, 0), _ir.const(0))
        s_l = _ir.stride(builder, a_l, 0)
        nvec = STRIP_VECTORS
        step = _ir.const(nvec * lanes)
        maxima, sums = vec.sums(nvec), vec.sums(nvec)
        minus_inf = vec.constant(-np.inf)

        def where_above(a, b, yes, no):
            """``yes`` in the lanes where a > b, ``no`` in the others (NaN: ``no``)."""
            return builder.select(builder.fcmp_ordered(">", a, b), yes, no)

        def strip(b0, masks):
            def load(ptr, v):
                at = vec.at(ptr, v * lanes)
                return vec.load(at) if masks is None else vec.load_masked(at, masks[v])

            def store(value, ptr, v):
                at = vec.at(ptr, v * lanes)
                if masks is None:
                    vec.store(value, at)
                else:
                    vec.store_masked(value, at, masks[v])

            def row(k):
                return vec.at(a_l.data, builder.add(builder.mul(k, s_l), b0))

            first = row(_ir.const(0))
            for v in range(nvec):
                builder.store(load(first, v), maxima[v])
                builder.store(vec.zero, sums[v])
            with cgutils.for_range(builder, builder.sub(kk, _ir.const(1))) as loop:
                ptr = row(builder.add(loop.index, _ir.const(1)))
                for v in range(nvec):
                    x, mx = load(ptr, v), builder.load(maxima[v])
                    builder.store(where_above(x, mx, x, mx), maxima[v])
            mxs = []
            for v in range(nvec):
                mx = builder.load(maxima[v])
                mxs.append(where_above(mx, minus_inf, mx, vec.zero))
            with cgutils.for_range(builder, kk) as loop:
                ptr = row(loop.index)
                for v in range(nvec):
                    e = _exp(vec, builder.fsub(load(ptr, v), mxs[v]))
                    store(e, ptr, v)
                    builder.store(builder.fadd(builder.load(sums[v]), e), sums[v])
            sv = [builder.load(sums[v]) for v in range(nvec)]
            for v in range(nvec):
                store(mxs[v], vec.at(a_m.data, b0), v)
                store(sv[v], vec.at(a_s.data, b0), v)
            with builder.if_then(scaled):
                scales = []
                for v in range(nvec):
                    q = builder.fdiv(load(vec.at(a_w.data, b0), v), sv[v])
                    scales.append(where_above(sv[v], vec.zero, q, vec.zero))
                with cgutils.for_range(builder, kk) as loop:
                    ptr = row(loop.index)
                    for v in range(nvec):
                        store(builder.fmul(load(ptr, v), scales[v]), ptr, v)

        nfull = builder.sdiv(nbv, step)
        with cgutils.for_range(builder, nfull) as loop:
            strip(builder.mul(loop.index, step), None)
        b0 = builder.mul(nfull, step)
        with builder.if_then(builder.icmp_signed("<", b0, nbv)):
            limit = vec.splat_int(nbv)
            masks = []
            for v in range(nvec):
                at = vec.lanes_from(builder.add(b0, _ir.const(v * lanes)))
                masks.append(builder.icmp_signed("<", at, limit))
            strip(b0, masks)
        return context.get_dummy_value()

    return sig, codegen


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
    for b in range(nb):
        ev[b] = w[start + b] if has_w else 1.0
    # logp <- ev * exp(logp - m) / s, m the maxima, s the sums of the exps
    softmax(logp, nb, m, s, ev)
    log_into(s, nb, poly)
    for b in range(nb):
        lse = m[b] + poly[b]
        if has_lab and labels[start + b] >= 0:
            lse = lab_lp[b]
        # -inf: the row has zero density everywhere; its resp is 0 and the
        # log-likelihood -inf, unless its weight is 0 (not part of the data: it adds 0,
        # not 0 * -inf)
        poly[b] = ev[b] * lse if ev[b] != 0.0 else 0.0
    scal[0] += sum_rows(poly, nb)
    scal[1] += sum_rows(ev, nb) if has_w else float(nb)
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
