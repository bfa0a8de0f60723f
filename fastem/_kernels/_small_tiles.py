"""The 4 x 4 tiles of the full statistics of few features, in LLVM vector IR.

``_statistics.accumulate_full`` adds, per component, the upper triangle of
``(resp (x - mu))^T (x - mu)`` one tile of features at a time, each a pass over the block's
rows with the tile's sums in vector registers: x - mu and resp (x - mu) made from the block
as the tile reads it. Written in Numba, LLVM vectorized these loops itself and ended each
tile's sums with a horizontal reduction per sum (six instructions, three of them shuffles)
and each row of the tile with a call that added four scalars to ``s2``. Here the same loop
is vector IR; a tile's sums end in one tree of shuffles shared by ``lanes`` sums at a time,
each row's sums added to ``s2`` (and ``s1``) by one masked vector add: 7-14 % faster per
block at 8-24 features in zmm (bench/NOTES.md section 35). Used where the kernels have 32
vector registers; with 16 (AVX2) ``accumulate_full`` keeps LLVM's loops (``NARROW``).

The same bits as LLVM's loops: lane ``l`` of a sum adds the rows ``l, l + lanes, ...`` in
order with the same operations (``r_i = r (x_i - mu_i)``, ``f_i += r_i``,
``a_ij = fma(r_i, x_j - mu_j, a_ij)``); the tree adds the lanes as LLVM's reductions do
(lane ``q`` + lane ``q + lanes/2``, ..., then lanes 0 + 1); the rows past whole vectors are
added one at a time to the reduced sums (as its scalar loop did), then the sums to ``s2``.
"""

from . import _numba  # noqa: F401  (first: Numba imported with Ctrl-C held off)

# isort: split
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import _ir
from ._config import TILE, vector_registers

#: float64 lanes of a tile's vectors: 8 (zmm) where the kernels have 32 vector registers,
#: else 4 (ymm). Read when a kernel is compiled.
LANES = _ir.register_tile(vector_registers())[0]
#: A tile's four rows, and its four columns.
ALL = tuple(range(TILE))


def _slots(diagonal):
    """A tile's sums in the order of its reduced vectors, four lanes per row of ``s2`` they
    are added to: ``("a", i, j)`` the sum of ``r_i e_j`` (tile row ``i``, column ``j``; on a
    diagonal tile only ``j >= i``), None a lane no sum is in; then, on a diagonal tile, the
    rows' first moments ``("f", i)`` (four lanes of ``s1``). So each row's sums are one run of
    lanes of a reduced vector (half a zmm, or a whole ymm), added with no shuffle across
    vectors."""
    slots = [("a", i, j) if j >= i or not diagonal else None for i in ALL for j in ALL]
    return slots + ([("f", i) for i in ALL] if diagonal else [])


def _reduce(vec, sums):
    """One vector of the lane totals of ``vec.lanes`` vectors, in their order: at each
    level the first and second halves of each vector's partial sums are added (LLVM's
    reduction tree: lane q + lane q + lanes/2, ..., then lanes 0 + 1), two vectors' halves
    gathered into one by a pair of shuffles."""
    n = vec.lanes
    block = n
    while block > 1:
        h = block // 2
        first = [m * block + q for m in range(n // block) for q in range(h)]
        lo = first + [n + p for p in first]
        hi = [p + h for p in lo]
        pairs = zip(sums[0::2], sums[1::2], strict=True)
        sums = [vec.builder.fadd(vec.shuffle(a, b, lo), vec.shuffle(a, b, hi)) for a, b in pairs]
        block = h
    return sums[0]


def _tile_factory(diagonal):
    slots = _slots(diagonal)

    @intrinsic
    def tile(typingctx, xt, resp, mu, nb, k, i0, j0, s1, s2, D):
        """Add component ``k``'s sums over the block's ``nb`` rows for the features
        ``i0..i0+3`` x ``j0..j0+3`` to ``s2``, inside ``D`` (``diagonal``: ``j0 = i0``, the
        upper triangle, and the first moments to ``s1``)."""
        sig = types.void(xt, resp, mu, nb, k, i0, j0, s1, s2, D)

        def codegen(context, builder, signature, args):
            vec = _ir.Vectors(builder, LANES)
            n = vec.lanes
            b_ = builder
            a_x, a_r, a_m, a_s1, a_s2 = (
                _ir.data(context, builder, signature, args, i) for i in (0, 1, 2, 7, 8)
            )
            nbv, kv, i0v, j0v, dv = args[3], args[4], args[5], args[6], args[9]

            def row(a, index):
                return vec.at(a.data, b_.mul(index, _ir.stride(b_, a, 0)))

            def operands(first):
                """(row of xt, element of mu) of the four features from ``first``."""
                mrow = row(a_m, kv)
                at = [b_.add(first, _ir.const(q)) for q in ALL]
                return [(row(a_x, f), vec.at(mrow, f)) for f in at]

            rrow = row(a_r, kv)
            # the tile's rows from i0, its columns from j0 (the same features on the diagonal)
            rx = operands(i0v)
            cx = rx if diagonal else operands(j0v)
            splat = {id(m): vec.splat(m) for _, m in rx + cx}

            def terms(load, mean):
                """``(r_i, e_j)`` of one vector of rows (or of one row) from the loaders."""
                r = load(rrow)
                e = [b_.fsub(load(x), mean(m)) for x, m in rx]
                ri = [b_.fmul(r, x) for x in e]
                if diagonal:
                    return ri, e
                return ri, [b_.fsub(load(x), mean(m)) for x, m in cx]

            slot_list = slots + [None] * (-len(slots) % n)
            acc = vec.sums(len(slot_list))
            nv = b_.sdiv(nbv, _ir.const(n))
            with cgutils.for_range(b_, nv) as loop:
                b = b_.mul(loop.index, _ir.const(n))
                ri, e = terms(lambda p: vec.load(vec.at(p, b)), lambda m: splat[id(m)])
                for slot, s in zip(slot_list, acc, strict=True):
                    if slot is None:
                        continue
                    if slot[0] == "f":
                        b_.store(b_.fadd(b_.load(s), ri[slot[1]]), s)
                    else:
                        vec.add_product(s, ri[slot[1]], e[slot[2]])
            values = [vec.zero if slot is None else b_.load(s) for slot, s in zip(slot_list, acc)]
            totals = [
                cgutils.alloca_once_value(b_, _reduce(vec, values[g : g + n]))
                for g in range(0, len(values), n)
            ]
            # the rows past whole vectors, one at a time: row i's r_i times column j's e_j
            # (1 for a first moment, 0 for a spare lane) added to each total's lanes
            one, zero = ir.Constant(_ir.F64, 1.0), ir.Constant(_ir.F64, 0.0)
            tail = b_.mul(nv, _ir.const(n))
            with cgutils.for_range_slice(b_, tail, nbv, _ir.const(1)) as (bi, _):
                ri, e = terms(lambda p: b_.load(vec.at(p, bi)), b_.load)
                for t, total in enumerate(totals):
                    rv = ev = ir.Constant(vec.type, ir.Undefined)
                    for q, slot in enumerate(slot_list[t * n : (t + 1) * n]):
                        r, x = (zero, zero) if slot is None else (ri[slot[1]], one)
                        if slot is not None and slot[0] == "a":
                            x = e[slot[2]]
                        rv = b_.insert_element(rv, r, ir.Constant(_ir.I32, q))
                        ev = b_.insert_element(ev, x, ir.Constant(_ir.I32, q))
                    vec.add_product(total, rv, ev)
            # each tile row's sums added to its row of s2, masked to the upper triangle (on
            # the diagonal) inside D
            totals = [b_.load(t) for t in totals]
            out = _ir.Vectors(b_, TILE)
            cols_v = out.lanes_from(j0v)
            inside = b_.icmp_signed("<", cols_v, out.splat_int(dv))

            def add(ptr, start):
                """Slots ``start..start+3`` (one row's sums, in one reduced vector) added at
                ``ptr``, masked to the lanes with a sum and inside D."""
                have = [slot_list[start + q] is not None for q in ALL]
                mask = b_.and_(inside, ir.Constant(ir.VectorType(ir.IntType(1), TILE), have))
                total, lane = totals[start // n], start % n
                out.add_masked(out.shuffle(total, total, range(lane, lane + TILE)), ptr, mask)

            s2row = row(a_s2, kv)
            for i in ALL:
                r = b_.add(i0v, _ir.const(i))
                add(vec.at(s2row, b_.add(b_.mul(r, dv), j0v)), TILE * i)
            if diagonal:
                add(vec.at(row(a_s1, kv), i0v), TILE * TILE)
            return context.get_dummy_value()

        return sig, codegen

    return tile


#: The tiles of ``accumulate_full`` where the kernels have 32 vector registers: the diagonal
#: one (its upper triangle and the first moments) and the off-diagonal 4 x 4.
diagonal_tile = _tile_factory(True)
off_tile = _tile_factory(False)
