"""Blocks of rows and the Gaussian log-densities of a block.

A block of rows is transposed into a ``(Dp, rows + PAD)`` buffer so that
every inner loop runs over rows and vectorizes; ``block_rows`` chooses its
length from the shape and the L2 cache's size (never from the thread count). The log-density
of component k is ``const_k - |U_k^T (x - mu_k)|^2 / 2``, computed in X's
dtype, by register micro-kernels in LLVM vector IR: for the upper-triangular ``U``
(full, tied: :func:`_tri_rows`), or for the diagonal ``p`` (diagonal, spherical:
:func:`_diag_rows`, ``(x - mu) p`` as one multiply-add), float64 and float32.
"""

from . import _numba  # noqa: F401  (first: Numba imported with Ctrl-C held off)

# isort: split
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import _ir
from ._config import (
    BLOCK,
    BLOCK_DIAG,
    BLOCK_DIAG_BYTES,
    BLOCK_DIAG_L1_BYTES,
    BLOCK_DIAG_MIN,
    BLOCK_DIAG_SMALL_LIMIT,
    BLOCK_MIN,
    jit,
    jit_ordered,
    vector_registers,
    wide_vectors,
)
from ._shared import Shared, dtype_signatures


@jit_ordered
def block_rows(n_features_padded, n_components, full, budget):
    """Rows per block: a function of the problem's shape and of ``budget`` (bytes,
    ``_config.full_block_bytes``: the machine's L2 cache), never of threads.

    Full and tied: ``BLOCK`` rows, halved while the rule's nominal float64 working set
    (x and two more (Dp, rows) buffers: the register tiles' row-major copy and
    resp (x - mu); the 4 x 4 tiles of few features store neither) exceeds ``budget``.
    Diagonal and
    spherical keep only x and the responsibilities per block, so their blocks
    grow up to ``BLOCK_DIAG`` rows within ``BLOCK_DIAG_BYTES``: longer
    reductions over rows per (component, feature); within ``BLOCK_DIAG_L1_BYTES``
    where few features and components allow it (``BLOCK_DIAG_SMALL_LIMIT``); never
    below ``BLOCK_DIAG_MIN`` rows (large K).
    """
    if full:
        b = BLOCK
        while b > BLOCK_MIN and 3 * 8 * n_features_padded * b > budget:
            b //= 2
        return b
    row_bytes = 8 * (n_features_padded + n_components)
    limit = BLOCK_DIAG_BYTES
    if row_bytes * BLOCK_DIAG_MIN <= BLOCK_DIAG_SMALL_LIMIT:
        limit = BLOCK_DIAG_L1_BYTES  # few features and components: in L1
    b = BLOCK_DIAG
    while b > BLOCK_DIAG_MIN and row_bytes * b > limit:
        b //= 2
    return b


# A transposed block larger than this (bytes) no longer sits in L1 beside its rows of X.
LOAD_L1_BYTES = 24 << 10


#: The block load's transposed tiles (:func:`_transpose_tile`): ``LOAD_LANES`` float64 rows
#: x as many features (8 in zmm, 4 in ymm), float32 8 x 8 (ymm). Read when a caller is
#: compiled (tests set them).
LOAD_LANES = 8 if vector_registers() == 32 else 4
LOAD_LANES32 = 8


@intrinsic
def _transpose_tile(typingctx, X, r, d0, xt, b0):
    """xt[d0:d0 + L, b0:b0 + L] = X[r:r + L, d0:d0 + L].T, L = ``LOAD_LANES`` (float32:
    ``LOAD_LANES32``): L vector loads from X's rows, log2(L) rounds of shuffles in
    registers and L vector stores into xt's rows (LLVM vector IR, ``_ir``)."""
    sig = types.void(X, r, d0, xt, b0)

    def codegen(context, builder, signature, args):
        vec = _ir.vectors_of(builder, signature.args[0].dtype, LOAD_LANES, LOAD_LANES32)
        lanes, size = vec.lanes, vec.itemsize
        a_x, a_t = (_ir.data(context, builder, signature, args, i) for i in (0, 3))
        rv, d0v, b0v = args[1], args[2], args[4]
        s_x = _ir.stride(builder, a_x, 0, size)
        s_t = _ir.stride(builder, a_t, 0, size)
        src = vec.at(a_x.data, builder.add(builder.mul(rv, s_x), d0v))
        rows = [vec.load(vec.at(src, builder.mul(_ir.const(i), s_x))) for i in range(lanes)]
        dst = vec.at(a_t.data, builder.add(builder.mul(d0v, s_t), b0v))
        for j, column in enumerate(vec.transpose(rows)):
            vec.store(column, vec.at(dst, builder.mul(_ir.const(j), s_t)))
        return context.get_dummy_value()

    return sig, codegen


def load_block(X, start, nb, xt):
    """xt[:D, :nb] = X[start:start + nb].T (rows D..Dp of xt stay zero): the load of a
    block of fewer than L features (:func:`load_tiles`; any D is copied right).

    The order of the copy is chosen from the shape (the result is the same):

    * a block whose buffer fits in L1: four rows per pass over the features, four stores
      into each row of ``xt`` per pass instead of one;
    * a longer block: four features per pass over the rows: four store streams that stay
      in L1 (with four rows per pass, the ``D`` streams of a long block evicted one
      another: 1.5x slower, ``bench/NOTES.md`` section 20).
    """
    D = X.shape[1]
    # (``D < L``, true wherever this load is chosen, lets LLVM keep the short loop over the
    # features scalar: a D = 2 load 1.6x faster than without it)
    L = LOAD_LANES32 if X.itemsize == 4 else LOAD_LANES
    if D < L and D * xt.shape[1] * X.itemsize <= LOAD_L1_BYTES:
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
        return
    _features_from(X, start, nb, xt, 0)


def load_tiled(X, start, nb, xt):
    """xt[:D, :nb] = X[start:start + nb].T (rows D..Dp of xt stay zero): the load of a
    block of L features or more (:func:`load_tiles`; any D is copied right).

    L x L tiles transposed in registers (:func:`_transpose_tile`; ``bench/NOTES.md``
    section 28: a D = 32 load 2.2x faster than element by element), the rows past whole
    tiles one at a time, the features past whole tiles four per pass over the rows.
    """
    D = X.shape[1]
    L = LOAD_LANES32 if X.itemsize == 4 else LOAD_LANES
    Dl = D - D % L
    nl = nb - nb % L
    for b0 in range(0, nl, L):
        for d0 in range(0, Dl, L):
            _transpose_tile(X, start + b0, d0, xt, b0)
    for b in range(nl, nb):
        for d in range(Dl):
            xt[d, b] = X[start + b, d]
    _features_from(X, start, nb, xt, Dl)


@jit
def _features_from(X, start, nb, xt, d0):
    """xt[d0:D, :nb] = X[start:start + nb, d0:].T, four features per pass over the rows."""
    D = X.shape[1]
    while d0 + 4 <= D:
        for b in range(nb):
            r = start + b
            a0 = X[r, d0]
            a1 = X[r, d0 + 1]
            a2 = X[r, d0 + 2]
            a3 = X[r, d0 + 3]
            xt[d0, b] = a0
            xt[d0 + 1, b] = a1
            xt[d0 + 2, b] = a2
            xt[d0 + 3, b] = a3
        d0 += 4
    for d in range(d0, D):
        for b in range(nb):
            xt[d, b] = X[start + b, d]


def load_tiles(n_features, dtype):
    """Whether a block of ``n_features`` features in ``dtype`` is loaded in transposed
    tiles (:func:`load_tiled`, from ``LOAD_LANES`` features on; float32
    ``LOAD_LANES32``) or not (:func:`load_block`). A pass compiles only the one it runs."""
    return n_features >= (LOAD_LANES32 if dtype == np.float32 else LOAD_LANES)


#: The full log-density's register tile (:func:`_tri_rows`): a block's rows in two float64
#: vectors (16 rows in zmm, 8 in ymm) x ``TRI_COLS`` columns of U, their sums held in
#: registers over the whole contraction: 16 of the 32 AVX-512 registers, 8 of AVX2's 16.
TRI_LANES, TRI_COLS = _ir.register_tile(vector_registers())
TRI_ROWS = 2 * TRI_LANES
#: float32: two vectors of twice as many rows (32 rows in zmm, 16 in ymm), as many columns.
TRI_LANES32 = 2 * TRI_LANES
TRI_ROWS32 = 2 * TRI_LANES32


def _tri_intrinsic(store):
    """The full log-density's register tile (:func:`_tri_rows`), or with ``store`` the
    shared transform of a block (:func:`_tri_store`): one generator, so both are GEMM's
    same micro-kernel."""

    def tri(typingctx, xt, up, npm, k, b0, q):
        sig = types.void(xt, up, npm, k, b0, q)

        def codegen(context, builder, signature, args):
            # (the constants read here, when the caller is compiled, not when it is typed)
            vec = _ir.vectors_of(builder, signature.args[0].dtype, TRI_LANES, TRI_LANES32)
            lanes, size = vec.lanes, vec.itemsize
            a_d, a_u, a_n, a_q = (
                _ir.data(context, builder, signature, args, i) for i in (0, 1, 2, 5)
            )
            kv, b0v = args[3], args[4]
            dp = builder.extract_value(a_d.shape, 0)
            s_d = _ir.stride(builder, a_d, 0, size)
            s_u1 = _ir.stride(builder, a_u, 1, size)
            ubase = vec.at(a_u.data, builder.mul(kv, _ir.stride(builder, a_u, 0, size)))
            nbase = vec.at(a_n.data, builder.mul(kv, _ir.stride(builder, a_n, 0, size)))
            qacc = vec.sums(2)
            sums = vec.sums(2 * TRI_COLS)

            def at_row(i):
                return vec.at(a_d.data, builder.add(builder.mul(i, s_d), b0v))

            def step(i, j0, columns):
                """The products of row i of U (its ``columns`` of the tile at j0) and the
                block's row i (feature i of its rows)."""
                row = at_row(i)
                xs = [vec.load(vec.at(row, v * lanes)) for v in range(2)]
                urow = vec.at(ubase, builder.add(builder.mul(i, s_u1), j0))
                for jj in columns:
                    u = vec.splat(vec.at(urow, jj))
                    for v in range(2):
                        vec.add_product(sums[2 * jj + v], u, xs[v])

            def tile(j0, width):
                """Columns j0 .. j0 + width of U: rows i < j0 whole, then the tile's own
                upper triangle (U is zero below its diagonal) unrolled."""
                for jj in range(width):
                    if store:
                        n = vec.zero
                    else:
                        n = vec.splat(vec.at(nbase, builder.add(j0, _ir.const(jj))))
                    for v in range(2):
                        builder.store(n, sums[2 * jj + v])
                with cgutils.for_range(builder, j0) as loop:
                    step(loop.index, j0, range(width))
                for ii in range(width):
                    step(builder.add(j0, _ir.const(ii)), j0, range(ii, width))
                for jj in range(width):
                    row = at_row(builder.add(j0, _ir.const(jj)))
                    for v in range(2):
                        y = builder.load(sums[2 * jj + v])
                        if store:  # (the tile's reads are done: y_j replaces row j)
                            vec.store(y, vec.at(row, v * lanes))
                        else:
                            vec.add_product(qacc[v], y, y)

            def rest():
                if TRI_COLS == 8:  # Dp is a multiple of TILE = 4: at most one 4-column tile
                    left = builder.urem(dp, cols)
                    with builder.if_then(builder.icmp_unsigned("!=", left, _ir.const(0))):
                        tile(builder.sub(dp, _ir.const(4)), 4)

            cols = _ir.const(TRI_COLS)
            ntiles = builder.udiv(dp, cols)
            if store:  # the last columns first: a tile writes rows no later tile reads
                rest()
            with cgutils.for_range(builder, ntiles) as loop:
                t = loop.index
                if store:
                    t = builder.sub(builder.sub(ntiles, _ir.const(1)), t)
                tile(builder.mul(t, cols), TRI_COLS)
            if not store:
                rest()
                for v in range(2):
                    at = vec.at(a_q.data, builder.add(b0v, _ir.const(v * lanes)))
                    vec.store(builder.load(qacc[v]), at)
            return context.get_dummy_value()

        return sig, codegen

    tri.__name__ = tri.__qualname__ = "_tri_store" if store else "_tri_rows"
    return intrinsic(tri)


_tri_rows = _tri_intrinsic(False)
_tri_rows.__doc__ = """q[b0:b0 + TRI_ROWS] = |U_k^T x_b + npm_k|^2 for those rows of ``xt``
(float64; float32: ``TRI_ROWS32`` rows, in vectors of ``TRI_LANES32``); ``npm_k``: the shift of
the means :func:`logprob_full` computes (-U_k^T (mu_k - c)), or zero.

For each ``TRI_COLS`` (then 4) columns j of U, y_j = npm_kj + sum_{i <= j} x_i U_ij
with the rows in vectors and U's entries broadcast, the sums held in registers for the
whole contraction, then added squared. GEMM's micro-kernel written as LLVM vector IR
(``_ir``)."""
_tri_store = _tri_intrinsic(True)
_tri_store.__doc__ = """xt[:, b0:b0 + TRI_ROWS] <- U_k^T xt[:, b0:b0 + TRI_ROWS], in place
(:func:`_tri_rows`' tile, its sums stored instead of squared: the last columns' tile first,
so no tile reads a row an earlier one wrote; ``npm`` and ``q`` unused)."""


#: The diagonal log-density's register tile (:func:`_diag_rows`): two vectors of rows x
#: ``DIAG_COLS`` components, their sums held in registers over all features: 16 float64
#: rows (32 float32) x 8 components in zmm, 8 (16) x 4 in ymm. Read when a caller is
#: compiled (tests set them).
DIAG_LANES, DIAG_COLS = _ir.register_tile(vector_registers())
DIAG_LANES32 = 2 * DIAG_LANES


def _diag_intrinsic(unit):
    """The diagonal log-density's register tile (:func:`_diag_rows`), or with ``unit`` the
    same without precisions (:func:`_unit_rows`): one generator."""

    def diag(typingctx, xt, nb, prec, npm, const, logp):
        sig = types.void(xt, nb, prec, npm, const, logp)

        def codegen(context, builder, signature, args):
            vec = _ir.vectors_of(builder, signature.args[0].dtype, DIAG_LANES, DIAG_LANES32)
            lanes, size = vec.lanes, vec.itemsize
            out = _ir.Vectors(builder, lanes)
            a_x, a_p, a_n, a_c, a_l = (
                _ir.data(context, builder, signature, args, i) for i in (0, 2, 3, 4, 5)
            )
            nbv = args[1]
            dp = builder.extract_value(a_x.shape, 0)
            # K: prec's (npm may hold more rows), or const's (unit: prec is not read)
            kk = builder.extract_value((a_c if unit else a_p).shape, 0)
            s_x = _ir.stride(builder, a_x, 0, size)
            s_p = _ir.stride(builder, a_p, 0, size)
            s_n = _ir.stride(builder, a_n, 0, size)
            s_l = _ir.stride(builder, a_l, 0)
            rows = _ir.const(2 * lanes)
            sums = vec.sums(2 * DIAG_COLS)
            half = out.constant(-0.5)

            def tile(k0, b0, comps):
                """Components k0 .. k0 + comps x rows b0 .. b0 + 2 lanes."""
                for acc in sums[: 2 * comps]:
                    builder.store(vec.zero, acc)
                ks = [builder.add(k0, _ir.const(c)) for c in range(comps)]
                pbase = [vec.at(a_p.data, builder.mul(k, s_p)) for k in ks]
                nbase = [vec.at(a_n.data, builder.mul(k, s_n)) for k in ks]
                xbase = vec.at(a_x.data, b0)
                with cgutils.for_range(builder, dp) as loop:
                    d = loop.index
                    row = vec.at(xbase, builder.mul(d, s_x))
                    xs = [vec.load(vec.at(row, v * lanes)) for v in range(2)]
                    for c in range(comps):
                        p = None if unit else vec.splat(vec.at(pbase[c], d))
                        n = vec.splat(vec.at(nbase[c], d))
                        for v in range(2):
                            t = builder.fadd(xs[v], n) if unit else vec.fma(xs[v], p, n)
                            vec.add_product(sums[2 * c + v], t, t)
                for c in range(comps):
                    cv = out.splat(out.at(a_c.data, ks[c]))
                    lrow = out.at(a_l.data, builder.add(builder.mul(ks[c], s_l), b0))
                    for v in range(2):
                        q = builder.load(sums[2 * c + v])
                        if size == 4:  # float32 sums, widened
                            q = builder.fpext(q, out.type)
                        out.store(out.fma(q, half, cv), out.at(lrow, v * lanes))

            def tiles(k0, comps):
                """Components k0 .. k0 + comps for every vector of rows."""
                nvec = builder.udiv(builder.add(nbv, _ir.const(2 * lanes - 1)), rows)
                with cgutils.for_range(builder, nvec) as loop:
                    tile(k0, builder.mul(loop.index, rows), comps)

            cols = _ir.const(DIAG_COLS)
            with cgutils.for_range(builder, builder.udiv(kk, cols)) as loop:
                tiles(builder.mul(loop.index, cols), DIAG_COLS)
            rest = builder.urem(kk, cols)
            k0 = builder.sub(kk, rest)
            width = DIAG_COLS // 2
            while width:  # the rest: at most one tile of each narrower width
                w = _ir.const(width)
                has = builder.icmp_unsigned("!=", builder.and_(rest, w), _ir.const(0))
                with builder.if_then(has):
                    tiles(k0, width)
                k0 = builder.add(k0, builder.and_(rest, w))
                width //= 2
            return context.get_dummy_value()

        return sig, codegen

    diag.__name__ = diag.__qualname__ = "_unit_rows" if unit else "_diag_rows"
    return intrinsic(diag)


_diag_rows = _diag_intrinsic(False)
_diag_rows.__doc__ = """logp[k, b] = const_k - sum_d (x_db p_kd + npm_kd)^2 / 2 for every
component k and the block's rows b (``npm`` = -mu p), in whole vectors of rows: at most 32 rows, so
the last ones stay inside a block's buffers (blocks are a power of two of 64 rows or
more, :func:`block_rows`); rows past ``nb`` are computed and ignored.

Components ``DIAG_COLS`` at a time (then one tile of each halved width for the rest),
for each two vectors of rows: the ``2 x DIAG_COLS`` sums of squares held in registers
over all features, each feature's row of x loaded once for the tile and each ``p``,
``npm`` broadcast once for its two vectors: GEMM's micro-kernel (two multiply-adds per
row, component and feature), LLVM vector IR (``_ir``). The sums (float32 for float32
blocks) are widened and written as float64.

Precision: ``x p - mu p`` (as LLVM compiled the earlier ``(x - mu) p`` too) is off by
up to half an ulp of ``mu p``: the result for a mean moved by an ulp, the precision
``mu`` is held in. First order in the data's offset, never second order as raw
moments are (``tests/test_kernel_tiles.py`` checks the bound on offset data).
"""
_unit_rows = _diag_intrinsic(True)
_unit_rows.__doc__ = """logp[k, b] = const_k - sum_d (x_db + npm_kd)^2 / 2: :func:`_diag_rows`' tile
with every precision 1 (``prec`` unused; K is ``const``'s length), one addition per row,
component and feature where the diagonal one has a multiply-add: the tied log-density's
second half (:func:`logprob_tied`)."""


def logprob_full(xt, nb, mu, up, const, xs, npm, q, logp):
    """logp[k, :nb] = const_k - |U_k^T (x - mu_k)|^2 / 2 for all k.

    ``up`` is the upper-triangular U padded to (K, Dp, Dp) with zeros. The rows of the
    block sixteen at a time (float32 32; on AVX2 eight and 16) against eight columns of U
    (AVX2: four), the sums in registers (:func:`_tri_rows`), from ``xs``, a (Dp, rows)
    buffer:

    * float64: ``U^T (x - c) - U^T (mu - c)``, one shifted copy of the block for all
      components instead of a centred one per component. ``c``, the mean of the
      components' means, takes the data's offset out before the products are summed,
      and ``npm_k = -U_k^T (mu_k - c)`` is computed in float64 with the parameters, once
      per pass (rows :K of ``npm``, (K + 1, Dp); ``c`` in its last row:
      ``fastem._passes.log_density_start``). What cancels is of the size of a mean's
      distance from ``c`` (and of the rows' own), times U: each term off by float64's
      1e-16 of that, the rounding of data the size of the means' spread, whatever their
      offset (``tests/test_kernel_tiles.py``: the bound on offset and spread data);
    * float32: ``U^T (x - mu_k)``, the block centred on each component (``npm`` zero).
      float32's 6e-8 would not: a nearly singular component (``reg_covar``'s 1e-6, U of
      1e3) ten from ``c`` would lose 1e-2 of its log-density.

    Blocks are a power of two of 64 rows or more (:func:`block_rows`), so the last rows'
    vectors stay inside the buffers (rows past ``nb`` are computed and ignored).
    """
    wide_vectors()
    K, Dp = mu.shape
    rows = TRI_ROWS32 if xt.itemsize == 4 else TRI_ROWS
    for k in range(K):
        if k == 0 or xt.itemsize == 4:  # the block minus c once (float64), or minus each mean
            centre = npm[K] if xt.itemsize == 8 else mu[k]
            for d in range(Dp):
                m = centre[d]
                for b in range(nb):
                    xs[d, b] = xt[d, b] - m
        for b0 in range(0, nb, rows):
            _tri_rows(xs, up, npm, k, b0, q)
        c = const[k]
        for b in range(nb):
            logp[k, b] = c - 0.5 * q[b]


def logprob_tied(xt, nb, mu, up, const, xs, npm, q, logp):
    """logp[k, :nb] = const_k - |U^T (x - mu_k)|^2 / 2 for all k, one ``U`` for every
    component (tied, and mclust's EEE; float64): the block is transformed once,
    ``y = U^T (x - c)`` in place in ``xs`` (:func:`_tri_store`), then each component's
    ``|y - U^T (mu_k - c)|^2`` is an addition and a multiply-add per feature
    (:func:`_unit_rows`, with ``npm`` as :func:`logprob_full` has it). The same terms as
    :func:`logprob_full`'s, summed in another order (as scikit-learn's tied log-density:
    ``X U - mu U``, here about ``c``): ``D (D + 1) / 2`` multiply-adds per row and ``2 D``
    per row and component, where the full one has ``D (D + 1) / 2 + 2 D`` per row and
    component. ``q`` unused.
    """
    wide_vectors()
    K, Dp = mu.shape
    for d in range(Dp):
        m = npm[K, d]
        for b in range(nb):
            xs[d, b] = xt[d, b] - m
    for b0 in range(0, nb, TRI_ROWS):
        _tri_store(xs, up, npm, 0, b0, q)
    _unit_rows(xs, nb, up, npm, const, logp)


def logprob_diag(xt, nb, mu, prec, const, xs, npm, q, logp):
    """logp[k, :nb] = const_k - sum_d ((x_d - mu_kd) p_kd)^2 / 2 for all k.

    Each ``(x_d - mu_kd) p_kd`` is one multiply-add, ``x_d p_kd - mu_kd p_kd``, with
    ``npm = -mu p`` made with the parameters (rows :K of ``npm``:
    ``fastem._passes.log_density_start``), then the sums of squares in register tiles
    (:func:`_diag_rows`). The arguments of :func:`logprob_full` (one kernel calls either):
    ``mu``, ``xs`` and ``q`` unused.
    """
    wide_vectors()
    _diag_rows(xt, nb, prec, npm, const, logp)


#: the log-densities compiled once per dtype and called by address (``_shared``): a
#: kernel does not inline, type and optimize them again
full_logprob = Shared(logprob_full, dtype_signatures("A2 I8 A2 A3 F1 A2 A2 A1 F2"))
diag_logprob = Shared(logprob_diag, dtype_signatures("A2 I8 A2 A3 F1 A2 A2 A1 F2"))
#: float64 only: a float32 block transformed once would round ``U^T (x - c)`` to float32
#: before the means' shift is taken off (:func:`logprob_full`'s reason to centre float32
#: on each mean), so tied float32 blocks take the full log-density
tied_logprob = Shared(logprob_tied, dtype_signatures("A2 I8 A2 A3 F1 A2 A2 A1 F2")[:1])
#: :func:`load_block` and :func:`load_tiled` for the pass kernel, once per dtype, called by
#: address (a linked copy was optimized again inside the kernel: 0.1 s of its compile); a
#: pass compiles the one its features need (:func:`load_tiles`)
shared_load = Shared(load_block, dtype_signatures("R2 I8 I8 A2"), ordered=True)
tiled_load = Shared(load_tiled, dtype_signatures("R2 I8 I8 A2"), ordered=True)
