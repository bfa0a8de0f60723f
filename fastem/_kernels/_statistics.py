"""The weighted sufficient statistics of one block, centred on the current means.

Always float64 whatever X's dtype: a float32 block is widened once
(``as_float64``), so how rows are split into blocks, chunks or Dask blocks changes
the statistics only by float64 rounding. Full and tied: the upper triangle of
``(resp (x - mu))^T (x - mu)`` in 4 x 4 register tiles (as two 4 x 2 halves where
the kernels are compiled for 16 vector registers: ``NARROW``); diagonal and
spherical: two components x two features per pass.
"""

from numba import types
from numba.extending import overload

from ._config import _NO_CACHE, TILE, jit, jit_ordered, vector_registers, wide_vectors
from ._shared import F1, F2, I8, Shared


def accumulate_full(xt, nb, mu, resp, diff, rd, nk, s1, s2):
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
            _tile_add(s2, k, D, i0, i0, a00, a01, a02, a03)
            _tile_add(s2, k, D, i0 + 1, i0, 0.0, a11, a12, a13)
            _tile_add(s2, k, D, i0 + 2, i0, 0.0, 0.0, a22, a23)
            _tile_add(s2, k, D, i0 + 3, i0, 0.0, 0.0, 0.0, a33)
            for j0 in range(i0 + TILE, Dp, TILE):
                if NARROW:
                    _tile_pairs(rd, diff, nb, i0, j0, s2, k, D)
                    continue
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
                _tile_add(s2, k, D, i0, j0, a00, a01, a02, a03)
                _tile_add(s2, k, D, i0 + 1, j0, a10, a11, a12, a13)
                _tile_add(s2, k, D, i0 + 2, j0, a20, a21, a22, a23)
                _tile_add(s2, k, D, i0 + 3, j0, a30, a31, a32, a33)


#: 16 vector registers (AVX2): a 4 x 4 tile's 16 sums and their 8 operands do not fit, and
#: LLVM kept 5 of the sums on the stack (a load and a store each per pass); the tile is then
#: summed as two 4 x 2 halves (8 sums, 6 operands). Fixed when the module is imported, from
#: the features Numba compiles for (``_config.vector_registers``); bench/NOTES.md section 24.
NARROW = vector_registers() < 32


@jit
def _tile_pairs(rd, diff, nb, i0, j0, s2, k, D):
    """The off-diagonal tile (rows i0.., columns j0..) of accumulate_full as two 4 x 2 halves
    (inlined: its sums over rows are reassociated and vectorized like the 4 x 4 tile's)."""
    for h in range(j0, j0 + TILE, 2):
        a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = 0.0
        for b in range(nb):
            r0 = rd[i0, b]
            r1 = rd[i0 + 1, b]
            r2 = rd[i0 + 2, b]
            r3 = rd[i0 + 3, b]
            e0 = diff[h, b]
            e1 = diff[h + 1, b]
            a00 += r0 * e0
            a01 += r0 * e1
            a10 += r1 * e0
            a11 += r1 * e1
            a20 += r2 * e0
            a21 += r2 * e1
            a30 += r3 * e0
            a31 += r3 * e1
        # (adding 0.0 to the two other columns leaves them as they are)
        _tile_add(s2, k, D, i0, h, a00, a01, 0.0, 0.0)
        _tile_add(s2, k, D, i0 + 1, h, a10, a11, 0.0, 0.0)
        _tile_add(s2, k, D, i0 + 2, h, a20, a21, 0.0, 0.0)
        _tile_add(s2, k, D, i0 + 3, h, a30, a31, 0.0, 0.0)


@jit_ordered
def _tile_add(s2, k, D, i, j0, a0, a1, a2, a3):
    """s2[k, i, j] += a_q for j = j0 + q, upper triangle inside D.

    Not inlined (each of its call sites would cost Numba an inlining pass); four
    plain additions, so every compiled copy gives the same bits.
    """
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


def accumulate_diag(xt, nb, mu, resp, diff, rd, nk, s1, s2):
    """Diagonal statistics of one block (float64).

    Two components x two features per pass (8 sums): each load of x serves
    two components and each load of resp two features. An odd last
    component is paired with itself and added once. The arguments of
    :func:`accumulate_full` (one kernel calls either): ``diff`` and ``rd`` unused.
    """
    wide_vectors()
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


# compiled once per process, called by address from both dtypes' kernels (``_shared``)
full_stats = Shared(accumulate_full, (F2, I8, F2, F2, F2, F2, F1, F2, F2))
diag_stats = Shared(accumulate_diag, (F2, I8, F2, F2, F2, F2, F1, F2, F2))


def as_float64(xt, nb, x64):
    """The block in float64: ``xt`` itself, or ``x64`` with ``xt`` widened into it (float32).

    Chosen when the kernel is compiled (an ``overload``): a float64 kernel has no
    widening loop.
    """


@overload(as_float64, inline="always", jit_options=dict(_NO_CACHE))
def _as_float64(xt, nb, x64):
    if xt.dtype == types.float64:
        return lambda xt, nb, x64: xt

    def widen(xt, nb, x64):
        for d in range(xt.shape[0]):
            for b in range(nb):
                x64[d, b] = xt[d, b]
        return x64

    return widen
