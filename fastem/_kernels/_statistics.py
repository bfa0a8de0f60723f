"""The weighted sufficient statistics of one block, centred on the current means.

Always float64 whatever X's dtype: a float32 block is widened once
(``as_float64``), so how rows are split into blocks, chunks or Dask blocks changes
the statistics only by float64 rounding. Full and tied: the upper triangle of
``(resp (x - mu))^T (x - mu)``, from 29 features on (``register_tiles``) in GEMM's
register tiles written as LLVM vector IR (``accumulate_tiled``: two vectors of
features x 8 broadcast ones, the sums in registers over the block's rows), below in
4 x 4 tiles over rows, x - mu and resp (x - mu) made in registers as each tile reads the
block (``accumulate_full``, its tiles in vector IR: ``_small_tiles``; as two 4 x 2 halves
where the kernels are compiled for 16 vector registers: ``NARROW``); diagonal and
spherical: four components x two features per pass (x one with 16 registers) about a centre
they share, moved to each mean (``_diag_tiles``).
"""

from . import _numba  # noqa: F401  (first: Numba imported with Ctrl-C held off)

# isort: split
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable

from . import _diag_tiles as _diag
from . import _ir
from . import _small_tiles as _tiles
from ._config import _NO_CACHE, TILE, jit, jit_ordered, vector_registers, wide_vectors
from ._shared import F1, F2, I8, Shared


def accumulate_full(xt, nb, mu, resp, xr, rd, nk, s1, s2):
    """Add the centred, weighted statistics of one block (resp = w * resp), all float64:
    a block of few features (:func:`register_tiles` false; the others:
    :func:`accumulate_tiled`).

    The upper triangle of (resp (x - mu))^T (x - mu) one TILE x TILE tile at a time
    (``_small_tiles``: LLVM vector IR), each a pass over the block's rows with its sums in
    registers: ``x - mu`` and ``resp (x - mu)`` are made in registers from the block as
    each tile reads it, never stored (stored once per component and read back by each
    tile, they took half the statistics' time at 8 features: bench/NOTES.md section 30).
    The diagonal tiles add ``s1`` too; off the diagonal, two 4 x 2 halves where the kernels
    are compiled for 16 vector registers (``NARROW``). ``xr`` and ``rd``: the arguments of
    :func:`accumulate_tiled` (one kernel calls either), unused (empty: :func:`full_buffers`).
    """
    wide_vectors()
    K, D = s1.shape
    Dp = xt.shape[0]
    finite = -1  # whether the block's values are finite: found at the first skip
    for k in range(K):
        if _add_weight(resp, k, nb, nk) == 0:
            finite = _skips(xt, nb, finite)
            if finite:
                continue
        for i0 in range(0, Dp, TILE):
            if NARROW:
                _narrow_tiles(xt, resp, mu, nb, k, i0, s1, s2)
                continue
            _tiles.diagonal_tile(xt, resp, mu, nb, k, i0, i0, s1, s2, D)
            for j0 in range(i0 + TILE, Dp, TILE):
                _tiles.off_tile(xt, resp, mu, nb, k, i0, j0, s1, s2, D)


#: The register tile of :func:`_outer_tile`: two vectors of x - mu's features (16 in zmm, 8
#: in ymm) x ``OUTER_COLS`` features of resp (x - mu), broadcast; 16 of AVX-512's 32
#: registers, 8 of AVX2's 16. Its IR vectors are zmm on AVX-512 whatever LLVM's preferred
#: width: that preference only steers LLVM's own vectorizers.
OUTER_LANES, OUTER_COLS = _ir.register_tile(vector_registers())
OUTER_WIDTH = 2 * OUTER_LANES
#: From this many (padded) features on, the full statistics run in register tiles. Below,
#: the 4 x 4 tiles that make x - mu in registers are faster (1.1-2.2x per block at 16-28
#: features; bench/NOTES.md section 30; section 27 had set 16 against the stored x - mu).
OUTER_MIN = 32


@register_jitable
def register_tiles(n_features):
    """Whether the full statistics of ``n_features`` features (padded to TILE, or not) run
    in register tiles (:func:`accumulate_tiled`), else :func:`accumulate_full`. The
    kernel's buffers (:func:`full_buffers`) and the function ``_em.chunk_kernel`` passes
    it follow this one rule."""
    return (n_features + TILE - 1) // TILE * TILE >= OUTER_MIN


@register_jitable
def full_buffers(n_features_padded, rows_padded):
    """``(rows, columns)`` of the full statistics' two float64 buffers for a block of
    ``rows_padded`` rows.

    Register tiles: the block row-major (one row per block row, then one for mu_k),
    ``Dv`` = Dp rounded up to a vector (``OUTER_LANES``) plus a spare cache line where
    that makes a row a whole multiple of two lines (rows a power of two apart share L1
    sets); then ``OUTER_COLS`` rows of resp (x - mu).
    Else none: :func:`accumulate_full` keeps its operands in registers.
    """
    Dp = n_features_padded
    if not register_tiles(Dp):
        return 0, rows_padded, 0, rows_padded
    Dv = (Dp + OUTER_LANES - 1) // OUTER_LANES * OUTER_LANES
    if (Dv + 7) // 8 % 2 == 0:
        Dv += 8
    return rows_padded + 1, Dv, OUTER_COLS, rows_padded


def _tile_factory(nvec):
    @intrinsic
    def outer_tile(typingctx, xr, rd, i0, nb, s2, k, j0, D):
        """s2[k, (j0 + j) D + i] += sum_{b < nb} rd[j, b] (x_b - mu)[i] for the tile's
        ``OUTER_COLS`` features j0 + j and its ``nvec`` vectors of features i from i0, where
        j0 + j <= i < D (the upper triangle of a D x D matrix: masked adds); x row-major in
        ``xr``, mu in its last row."""
        sig = types.void(xr, rd, i0, nb, s2, k, j0, D)

        def codegen(context, builder, signature, args):
            vec = _ir.Vectors(builder, OUTER_LANES)
            a_x, a_r, a_s = (_ir.data(context, builder, signature, args, i) for i in (0, 1, 4))
            i0v, nbv, kv, j0v, dv = args[2], args[3], args[5], args[6], args[7]
            s_x, s_r = _ir.stride(builder, a_x, 0), _ir.stride(builder, a_r, 0)
            xbase = vec.at(a_x.data, i0v)
            last = builder.sub(builder.extract_value(a_x.shape, 0), _ir.const(1))
            mrow = vec.at(xbase, builder.mul(last, s_x))
            mus = [vec.load(vec.at(mrow, v * OUTER_LANES)) for v in range(nvec)]
            rrows = [vec.at(a_r.data, builder.mul(_ir.const(j), s_r)) for j in range(OUTER_COLS)]
            sums = vec.sums(nvec * OUTER_COLS)
            with cgutils.for_range(builder, nbv) as loop:
                b = loop.index
                xrow = vec.at(xbase, builder.mul(b, s_x))
                xs = [
                    builder.fsub(vec.load(vec.at(xrow, v * OUTER_LANES)), mus[v])
                    for v in range(nvec)
                ]
                for j in range(OUTER_COLS):
                    u = vec.splat(vec.at(rrows[j], b))
                    for v in range(nvec):
                        vec.add_product(sums[j * nvec + v], u, xs[v])
            sbase = vec.at(a_s.data, builder.mul(kv, _ir.stride(builder, a_s, 0)))
            compare = builder.icmp_signed
            for v in range(nvec):
                first = builder.add(i0v, _ir.const(v * OUTER_LANES))
                cols = vec.lanes_from(first)
                inside = compare("<", cols, vec.splat_int(dv))
                for j in range(OUTER_COLS):
                    row = builder.add(j0v, _ir.const(j))
                    mask = builder.and_(inside, compare(">=", cols, vec.splat_int(row)))
                    at = vec.at(sbase, builder.add(builder.mul(row, dv), first))
                    vec.add_masked(builder.load(sums[j * nvec + v]), at, mask)
            return context.get_dummy_value()

        return sig, codegen

    return outer_tile


#: Tiles of two vectors of features, and of one (the last, where one is left).
_outer_tile1, _outer_tile2 = _tile_factory(1), _tile_factory(2)


def accumulate_tiled(xt, nb, mu, resp, xr, rd, nk, s1, s2):
    """Add the centred, weighted statistics of one block (resp = w * resp), all float64, in
    register tiles (:func:`_outer_tile`): blocks of :func:`register_tiles` features.

    The block is copied row-major into ``xr`` once. For each component, per
    ``OUTER_COLS`` features j: rd_j = resp (x_j - mu_j) (and s1), then the tiles of
    sum_b rd_j (x_b - mu) over the features i >= j0, ``OUTER_WIDTH`` at a time (the last
    one vector where one is left), added to the upper triangle of s2.
    """
    K, D = s1.shape
    Dp = xt.shape[0]
    # (written out, as in full_buffers: a compiled helper would keep the constants of its
    # first compile, which the tests set to the other tile's)
    Dv = (Dp + OUTER_LANES - 1) // OUTER_LANES * OUTER_LANES
    for d in range(D):
        for b in range(nb):
            xr[b, d] = xt[d, b]
    last = xr.shape[0] - 1
    finite = -1
    for k in range(K):
        if _add_weight(resp, k, nb, nk) == 0:
            finite = _skips(xt, nb, finite)
            if finite:
                continue
        for d in range(D):
            xr[last, d] = mu[k, d]
        for j0 in range(0, Dv, OUTER_COLS):
            for j in range(OUTER_COLS):
                d = j0 + j
                acc = 0.0
                if d < D:
                    m = mu[k, d]
                    for b in range(nb):
                        r = resp[k, b] * (xt[d, b] - m)
                        rd[j, b] = r
                        acc += r
                    s1[k, d] += acc
                else:
                    for b in range(nb):
                        rd[j, b] = 0.0
            for i0 in range(j0, Dv, OUTER_WIDTH):
                if i0 + OUTER_WIDTH > Dv:
                    _outer_tile1(xr, rd, i0, nb, s2, k, j0, D)
                else:
                    _outer_tile2(xr, rd, i0, nb, s2, k, j0, D)


@jit
def _add_weight(resp, k, nb, nk):
    """nk[k] += component k's weight in the block (sum of its ``resp`` over the rows); that
    weight (0: the block adds nothing to its statistics)."""
    tot = 0.0
    for b in range(nb):
        tot += resp[k, b]
    nk[k] += tot
    return tot


@jit
def _skips(xt, nb, finite):
    """Whether a component of weight 0 in the block may skip its statistics (1) or not (0):
    where every value of the block is finite, they add exactly 0; a NaN or infinite value
    (in a row of weight 0 of a source, whose values are checked only when a pass's
    statistics are not finite: ``SuffStats.finite``) makes them NaN, and skipping would hide
    it. ``finite``: the answer found at an earlier skip in the block, or -1."""
    if finite >= 0:
        return finite
    acc = 0.0
    for d in range(xt.shape[0]):
        for b in range(nb):
            acc += xt[d, b] * 0.0  # 0 for a finite value, NaN for NaN or inf
    return 1 if acc == 0.0 else 0


#: 16 vector registers (AVX2): a 4 x 4 tile's 16 sums and their 8 operands do not fit, and
#: LLVM kept 5 of the sums on the stack (a load and a store each per pass); the tile is then
#: summed as two 4 x 2 halves (8 sums, 6 operands). Fixed when the module is imported, from
#: the features Numba compiles for (``_config.vector_registers``); bench/NOTES.md section 24.
NARROW = vector_registers() < 32


@jit
def _narrow_tiles(xt, resp, mu, nb, k, i0, s1, s2):
    """Row ``i0``'s tiles of component ``k`` (the diagonal one, then two 4 x 2 halves of each
    off-diagonal one) as loops LLVM vectorizes itself, for 16 vector registers (``NARROW``):
    there the vector IR tiles of ``_small_tiles`` were 3-8 % slower at 12-16 features, LLVM's
    register allocator rotating the means through registers (bench/NOTES.md section 35).
    The same bits as the IR tiles."""
    K, D = s1.shape
    Dp = xt.shape[0]
    m0 = mu[k, i0]
    m1 = mu[k, i0 + 1]
    m2 = mu[k, i0 + 2]
    m3 = mu[k, i0 + 3]
    # diagonal tile: its upper triangle (10 sums) and the first moments (4)
    f0 = f1 = f2 = f3 = 0.0
    a00 = a01 = a02 = a03 = 0.0
    a11 = a12 = a13 = a22 = a23 = a33 = 0.0
    for b in range(nb):
        r = resp[k, b]
        e0 = xt[i0, b] - m0
        e1 = xt[i0 + 1, b] - m1
        e2 = xt[i0 + 2, b] - m2
        e3 = xt[i0 + 3, b] - m3
        r0 = r * e0
        r1 = r * e1
        r2 = r * e2
        r3 = r * e3
        f0 += r0
        f1 += r1
        f2 += r2
        f3 += r3
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
    _tile_add(s1, k, D, 0, i0, f0, f1, f2, f3)  # s1[k, i0 + q] inside D
    _tile_add(s2, k, D, i0, i0, a00, a01, a02, a03)
    _tile_add(s2, k, D, i0 + 1, i0, 0.0, a11, a12, a13)
    _tile_add(s2, k, D, i0 + 2, i0, 0.0, 0.0, a22, a23)
    _tile_add(s2, k, D, i0 + 3, i0, 0.0, 0.0, 0.0, a33)
    for j0 in range(i0 + TILE, Dp, TILE):
        _tile_pairs(xt, resp, mu, nb, i0, j0, s2, k, D)


@jit
def _tile_pairs(xt, resp, mu, nb, i0, j0, s2, k, D):
    """The off-diagonal tile (rows i0.., columns j0..) of accumulate_full as two 4 x 2 halves,
    for 16 vector registers (inlined: its sums over rows are reassociated and vectorized
    like the 4 x 4 tile's)."""
    m0 = mu[k, i0]
    m1 = mu[k, i0 + 1]
    m2 = mu[k, i0 + 2]
    m3 = mu[k, i0 + 3]
    for h in range(j0, j0 + TILE, 2):
        n0 = mu[k, h]
        n1 = mu[k, h + 1]
        a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = 0.0
        for b in range(nb):
            r = resp[k, b]
            r0 = r * (xt[i0, b] - m0)
            r1 = r * (xt[i0 + 1, b] - m1)
            r2 = r * (xt[i0 + 2, b] - m2)
            r3 = r * (xt[i0 + 3, b] - m3)
            e0 = xt[h, b] - n0
            e1 = xt[h + 1, b] - n1
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
    """s2[k, i, j] += a_q for j = j0 + q, upper triangle inside D (with i = 0 and s1 for
    s2: s1[k, j0 + q] += a_q inside D).

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


def accumulate_diag(xt, nb, mu, resp, xr, rd, nk, s1, s2):
    """Diagonal statistics of one block (float64), centred on the means.

    Four components x ``_diag_tiles.PAIR`` features per pass, about a centre the four share,
    moved to each mean (``_diag_tiles.shared_pass``: LLVM vector IR; an EM iteration 15-25 %
    faster per core than centring on each mean at 32 to 64 features, NOTES section 36); a sum that
    move would round (a tight component far from the others) or that is not finite is made
    again about its mean, one component's at a time (``_diag_tiles.mean_pass``). The last
    group of fewer than four repeats its last component, added once. The arguments of
    :func:`accumulate_tiled` (one kernel calls either): ``xr`` and ``rd`` unused.
    """
    wide_vectors()
    K, D = s1.shape
    Dp = xt.shape[0]
    for k0 in range(0, K, _diag.GROUP):
        ks = (k0, min(k0 + 1, K - 1), min(k0 + 2, K - 1), min(k0 + 3, K - 1))
        t0 = t1 = t2 = t3 = 0.0
        for b in range(nb):
            t0 += resp[ks[0], b]
            t1 += resp[ks[1], b]
            t2 += resp[ks[2], b]
            t3 += resp[ks[3], b]
        n = min(_diag.GROUP, K - k0)
        nk[k0] += t0
        if n > 1:
            nk[k0 + 1] += t1
        if n > 2:
            nk[k0 + 2] += t2
        if n > 3:
            nk[k0 + 3] += t3
        ts = (t0, t1, t2, t3)
        live = (1 << (_diag.PAIR * n)) - 1  # the sums of the group's n components
        for d in range(0, Dp, _diag.PAIR):
            refused = _diag.shared_pass(xt, resp, mu, nb, ks, d, ts, s1, s2, D, live)
            for i in range(n if refused else 0):
                lanes = (refused >> (_diag.PAIR * i)) & ((1 << _diag.PAIR) - 1)
                if lanes:
                    one = (k0 + i, k0 + i, k0 + i, k0 + i)
                    _diag.mean_pass(xt, resp, mu, nb, one, d, ts, s1, s2, D, lanes)


# compiled once per process, called by address from both dtypes' kernels (``_shared``);
# a pass compiles the one of the two full ones its features need (``_em.chunk_kernel``)
full_stats = Shared(accumulate_full, (F2, I8, F2, F2, F2, F2, F1, F2, F2))
tiled_stats = Shared(accumulate_tiled, (F2, I8, F2, F2, F2, F2, F1, F2, F2))
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
    if xt.dtype != types.float32:  # the kernel sizes x64 for float32 only (``pass_chunk``)
        return None

    def widen(xt, nb, x64):
        for d in range(xt.shape[0]):
            for b in range(nb):
                x64[d, b] = xt[d, b]
        return x64

    return widen
