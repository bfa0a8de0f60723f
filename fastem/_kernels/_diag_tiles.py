"""The diagonal statistics of four components x two features (one, in ymm) about a centre
they share, in LLVM vector IR.

Centred on each component's own mean, a (row, component, feature) element of the diagonal
statistics costs four vector operations: ``x - mu``, ``r (x - mu)``, its sum, and the square's
sum. About a centre ``c`` the four components share, ``y = x - c`` and ``y^2`` are made once per
row and feature, and each component adds ``r y`` and ``r y^2``: two multiply-adds, 2.5
operations per element in all (with one feature or two). After the pass over the block's
rows, each sum is moved to its own mean (``delta = mu - c``):

    sum r (x - mu)   = a - t delta                 (m1)
    sum r (x - mu)^2 = q - delta (a + m1)          (m2)

with ``a = sum r y``, ``q = sum r y^2``, ``t = sum r``. Exact up to the rounding of ``q``,
which holds the shift term ``t delta^2`` too: a sum is moved only where that term is at most
:data:`SHARED_LIMIT` times ``m2`` (rounding below ~4 eps SHARED_LIMIT of the result, 1e-12);
the pass reports the others (a tight component far from the others; a NaN or infinite value,
whose comparison is false) and the caller makes them again about their mean. The centre is the
midrange of the four means, the one closest to the farthest.

Sessions 23-24 (bench/NOTES.md sections 35-36): the same arithmetic written as Numba loops ran
10-27 % faster per core at 32 features than centring on each mean, but LLVM vectorizing and
Numba inlining it doubled the statistics' cold compile (0.51 -> 1.0 s). Here the pass is one
loop of vectors whose sums end in LLVM's reduction tree (``_small_tiles._reduce``), the move
to each mean is done on one vector of the (component, feature) sums, and each component's
sums are added to ``s1`` and ``s2`` by one masked add: it compiles in 0.54 s, and per core
an EM iteration of diag 1M x 32, K = 16 is 15-25 % faster, 1M x 64, K = 64 23 %.
A refused sum costs a pass about its component's mean (no more per sum than centring every
component on its own mean); where every sum is refused the statistics take ~1.5x as long as
before (bench/NOTES.md section 36 measures how often that happens).
"""

from . import _numba  # noqa: F401  (first: Numba imported with Ctrl-C held off)

# isort: split
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import _ir
from ._config import vector_registers
from ._small_tiles import _reduce

#: Components and features of one pass, one (component, feature) sum per lane of a vector:
#: 4 x 2 in zmm (32 vector registers: 16 sums), 4 x 1 in ymm (16 registers: 8 sums; as AVX2
#: code 4 x 1 and 2 x 2 ran alike, 4 x 2 would not fit). Read when the module is imported.
GROUP, PAIR = (4, 2) if vector_registers() == 32 else (4, 1)
#: The lanes of a pass's vectors.
LANES = GROUP * PAIR
#: A sum about the shared centre is moved to its mean where the shift term ``t delta^2`` is at
#: most this many times the result (see the module's docstring); else it is made again.
SHARED_LIMIT = 1e4


def _pass_factory(shared, group):
    @intrinsic
    def diag_pass(typingctx, xt, resp, mu, nb, ks, d, ts, s1, s2, D, lanes):
        """Add the block's diagonal statistics of the components ``ks`` (four, the first
        ``group`` read) and the ``PAIR`` features from ``d`` (those inside ``D``) to ``s1`` and
        ``s2``, for the (component ``i``, feature ``d + j``) sums whose bit ``PAIR i + j`` is
        set in ``lanes`` (a component repeated to fill a group has none set). ``shared``:
        about the midrange of their means, moved to each mean (``ts``: the components' weights
        in the block, ``sum r``); returns the bit mask of the sums not added (their move would
        round, or they are not finite). Else about each mean (4 operations per element): the
        sums the shared pass refused; returns 0."""
        sig = types.int64(xt, resp, mu, nb, ks, d, ts, s1, s2, D, lanes)

        def codegen(context, builder, signature, args):
            return _codegen(context, builder, signature, args, shared, group)

        return sig, codegen

    return diag_pass


def _codegen(context, builder, signature, args, shared, group):
    b_ = builder
    vec = _ir.Vectors(b_, LANES)
    a_x, a_r, a_m, a_s1, a_s2 = (_ir.data(context, b_, signature, args, i) for i in (0, 1, 2, 7, 8))
    nbv, ksv, dv, tsv, Dv, lanesv = (args[i] for i in (3, 4, 5, 6, 9, 10))
    kv = [b_.extract_value(ksv, i) for i in range(group)]
    slots = group * PAIR

    def row(a, index):
        return vec.at(a.data, b_.mul(index, _ir.stride(b_, a, 0)))

    def lane(i):
        return ir.Constant(_ir.I32, i)

    xrows = [row(a_x, b_.add(dv, _ir.const(j))) for j in range(PAIR)]
    rrows = [row(a_r, k) for k in kv]
    # the means, lane PAIR i + j: component i, feature d + j
    means = vec.zero
    for i, k in enumerate(kv):
        m = vec.at(row(a_m, k), dv)
        for j in range(PAIR):
            means = b_.insert_element(means, b_.load(vec.at(m, j)), lane(PAIR * i + j))
    if shared:
        # per feature the midrange of its four lanes (the same in each of them)
        lo = hi = means
        step = PAIR
        while step < LANES:
            order = [(q + step) % LANES for q in range(LANES)]
            lo2, hi2 = vec.shuffle(lo, lo, order), vec.shuffle(hi, hi, order)
            lo = b_.select(b_.fcmp_ordered("<", lo2, lo), lo2, lo)
            hi = b_.select(b_.fcmp_ordered(">", hi2, hi), hi2, hi)
            step *= 2
        centre = b_.fmul(b_.fadd(lo, hi), vec.constant(0.5))
        cs = [vec.shuffle(centre, centre, [j] * LANES) for j in range(PAIR)]
    else:
        cs = [vec.shuffle(means, means, [q] * LANES) for q in range(slots)]
    a = vec.sums(slots)  # sum r y (y = x - centre), slot PAIR i + j
    q = vec.sums(slots)  # sum r y^2

    def add_rows(load):
        """One vector of rows from the loader ``load(row pointer)``."""
        xs = [load(x) for x in xrows]
        if shared:
            ys = [b_.fsub(x, c) for x, c in zip(xs, cs, strict=True)]
            zs = [b_.fmul(y, y) for y in ys]
        for i, rr in enumerate(rrows):
            r = load(rr)
            for j in range(PAIR):
                h = PAIR * i + j
                if shared:
                    vec.add_product(a[h], r, ys[j])
                    vec.add_product(q[h], r, zs[j])
                else:
                    e = b_.fsub(xs[j], cs[h])
                    u = b_.fmul(r, e)
                    b_.store(b_.fadd(b_.load(a[h]), u), a[h])
                    vec.add_product(q[h], u, e)

    whole = b_.sdiv(nbv, _ir.const(LANES))
    with cgutils.for_range(b_, whole) as loop:
        first = b_.mul(loop.index, _ir.const(LANES))
        add_rows(lambda p: vec.load(vec.at(p, first)))
    # the rows past whole vectors: one masked vector (zeros: r = 0 adds nothing)
    tail = b_.mul(whole, _ir.const(LANES))
    with b_.if_then(b_.icmp_signed("<", tail, nbv)):
        live = b_.icmp_signed("<", vec.lanes_from(tail), vec.splat_int(nbv))
        add_rows(lambda p: vec.load_masked(vec.at(p, tail), live))

    spare = [vec.zero] * (LANES - slots)
    m1 = _reduce(vec, [b_.load(s) for s in a] + spare)
    m2 = _reduce(vec, [b_.load(s) for s in q] + spare)
    # lanes with a sum to add: bit PAIR i + j of ``lanes``, feature d + j < D
    mask = ir.IntType(LANES)
    feats = ir.Constant(ir.VectorType(_ir.I64, LANES), [q % PAIR for q in range(LANES)])
    inside = b_.and_(
        b_.bitcast(b_.trunc(lanesv, mask), ir.VectorType(ir.IntType(1), LANES)),
        b_.icmp_signed("<", feats, vec.splat_int(b_.sub(Dv, dv))),
    )
    add = inside
    if shared:
        t = ir.Constant(vec.type, ir.Undefined)
        for i in range(GROUP):
            w = b_.extract_value(tsv, i)
            for j in range(PAIR):
                t = b_.insert_element(t, w, lane(PAIR * i + j))
        delta = b_.fsub(means, centre)
        sum_a = m1
        m1 = b_.fsub(sum_a, b_.fmul(t, delta))
        m2 = b_.fsub(m2, b_.fmul(delta, b_.fadd(sum_a, m1)))
        shift = b_.fmul(b_.fmul(t, delta), delta)
        ok = b_.fcmp_ordered("<=", shift, b_.fmul(vec.constant(SHARED_LIMIT), m2))
        add = b_.and_(inside, ok)
    two = _ir.Vectors(b_, PAIR)
    for i, k in enumerate(kv):
        lanes = [PAIR * i + j for j in range(PAIR)]
        mk = two.shuffle(add, add, lanes)
        for out, s in ((a_s1, m1), (a_s2, m2)):
            two.add_masked(two.shuffle(s, s, lanes), vec.at(row(out, k), dv), mk)
    if not shared:
        return _ir.const(0)
    refused = b_.and_(inside, b_.not_(ok))
    return b_.zext(b_.bitcast(refused, mask), _ir.I64)


#: The pass about the shared centre of four components, and the pass about its mean of one
#: component whose sums it refused (as fast per sum: its four chains of sums keep both
#: vector units busy).
shared_pass = _pass_factory(True, GROUP)
mean_pass = _pass_factory(False, 1)
