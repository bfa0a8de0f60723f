"""LLVM vector IR for the register tiles of the log-densities and the full statistics.

The full log-density (``_density._tri_rows``), the diagonal one (``_density._diag_rows``)
and the full statistics (``_statistics._outer_tile``) are GEMM's micro-kernel: two vectors x
a few broadcast scalars, their sums held in registers over a whole contraction. LLVM's
vectorizers keep sums in registers only along the loop's own index, so these tiles are
written as vector IR inside Numba intrinsics (``bench/NOTES.md`` sections 26-28). So is
the normalization's strip (``_normalize.softmax``: a strip's maxima, sums and scale held in
registers across the components, section 34). This module holds what they write: the
vector type (float64, or float32 for the float32 log-densities), loads, stores (masked or
not), broadcasts, constants, multiply-adds and masked adds.
"""

from . import _numba  # noqa: F401  (first: Numba imported with Ctrl-C held off)

# isort: split
from llvmlite import ir
from numba import types
from numba.core import cgutils

F64, F32, I64, I32 = ir.DoubleType(), ir.FloatType(), ir.IntType(64), ir.IntType(32)


def register_tile(registers):
    """``(lanes, columns)`` of a register tile for ``registers`` vector registers: two
    vectors x ``columns`` broadcast columns of sums, 16 of AVX-512's 32 registers (8 lanes
    x 8 columns, zmm) or 8 of AVX2's 16 (4 x 4, ymm), the rest for the operands."""
    return (8, 8) if registers == 32 else (4, 4)


def const(i):
    """An int64 constant."""
    return ir.Constant(I64, i)


class Vectors:
    """Vectors of ``lanes`` float64 (or ``element`` = ``F32``: float32) lanes in the
    function ``builder`` writes."""

    def __init__(self, builder, lanes, element=F64):
        self.builder = builder
        self.lanes = lanes
        self.type = ir.VectorType(element, lanes)
        self._suffix = f"v{lanes}{'f32' if element == F32 else 'f64'}"
        self.itemsize = 4 if element == F32 else 8
        self._align = self.itemsize
        self.zero = ir.Constant(self.type, [0.0] * lanes)
        self._mask = ir.Constant(ir.VectorType(I32, lanes), [0] * lanes)
        self._fmuladd = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(self.type, [self.type] * 3),
            f"llvm.fmuladd.{self._suffix}",
        )

    def at(self, ptr, offset):
        """The element pointer ``ptr + offset`` (offset: an int or an int64 value)."""
        if isinstance(offset, int):
            offset = const(offset)
        return self.builder.gep(ptr, [offset])

    def load(self, ptr):
        """The vector at the element pointer ``ptr`` (aligned to its element)."""
        b = self.builder
        return b.load(b.bitcast(ptr, self.type.as_pointer()), align=self._align)

    def store(self, value, ptr):
        b = self.builder
        b.store(value, b.bitcast(ptr, self.type.as_pointer()), align=self._align)

    def splat(self, ptr):
        """The scalar at ``ptr`` in every lane."""
        b = self.builder
        u = b.insert_element(ir.Constant(self.type, ir.Undefined), b.load(ptr), ir.Constant(I32, 0))
        return b.shuffle_vector(u, ir.Constant(self.type, ir.Undefined), self._mask)

    def constant(self, value):
        """``value`` in every lane."""
        return ir.Constant(self.type, [value] * self.lanes)

    def shuffle(self, a, b, indices):
        """The lanes ``indices`` of ``a`` followed by ``b`` (LLVM's ``shufflevector``)."""
        mask = ir.Constant(ir.VectorType(I32, len(indices)), list(indices))
        return self.builder.shuffle_vector(a, b, mask)

    def transpose(self, rows):
        """The columns of the square of ``rows`` (``lanes`` vectors of ``lanes`` lanes, a
        power of two): log2(lanes) rounds of pairwise shuffles, ``lanes`` per round."""
        n, h = self.lanes, 1
        rows = list(rows)
        while h < n:
            lo = [p if not p & h else n + p - h for p in range(n)]
            hi = [p + h if not p & h else n + p for p in range(n)]
            for i in range(n):
                if not i & h:
                    a, b = rows[i], rows[i + h]
                    rows[i], rows[i + h] = self.shuffle(a, b, lo), self.shuffle(a, b, hi)
            h *= 2
        return rows

    def sums(self, n):
        """``n`` zeroed vector slots (allocas that LLVM keeps in registers)."""
        return [cgutils.alloca_once_value(self.builder, self.zero) for _ in range(n)]

    def lanes_from(self, start):
        """The int64 vector ``start, start + 1, ...`` (``start``: an int64 value)."""
        steps = ir.Constant(ir.VectorType(I64, self.lanes), list(range(self.lanes)))
        return self.builder.add(self.splat_int(start), steps)

    def splat_int(self, x):
        """The int64 value ``x`` in every lane."""
        b = self.builder
        it = ir.VectorType(I64, self.lanes)
        x = b.insert_element(ir.Constant(it, ir.Undefined), x, ir.Constant(I32, 0))
        return b.shuffle_vector(x, ir.Constant(it, ir.Undefined), self._mask)

    def _masked(self, what, mask):
        """LLVM's ``llvm.masked.load`` or ``llvm.masked.store`` for these vectors and
        ``mask``'s type."""
        mt, pt = mask.type, self.type.as_pointer()
        if what == "load":
            fnty = ir.FunctionType(self.type, [pt, I32, mt, self.type])
        else:
            fnty = ir.FunctionType(ir.VoidType(), [self.type, pt, I32, mt])
        name = f"llvm.masked.{what}.{self._suffix}.p0"
        return cgutils.get_or_insert_function(self.builder.module, fnty, name)

    def load_masked(self, ptr, mask):
        """The vector at ``ptr`` in the lanes where ``mask`` (an i1 vector), zero in the
        others, whose addresses are not read."""
        b, align = self.builder, ir.Constant(I32, self._align)
        ptr = b.bitcast(ptr, self.type.as_pointer())
        return b.call(self._masked("load", mask), [ptr, align, mask, self.zero])

    def store_masked(self, value, ptr, mask):
        """``ptr[l] = value[l]`` where ``mask[l]``; the other lanes are not written."""
        b, align = self.builder, ir.Constant(I32, self._align)
        ptr = b.bitcast(ptr, self.type.as_pointer())
        b.call(self._masked("store", mask), [value, ptr, align, mask])

    def add_masked(self, value, ptr, mask):
        """``ptr[l] += value[l]`` where ``mask[l]`` (an i1 vector); the other lanes are not
        read or written, wherever ``ptr + l`` points."""
        self.store_masked(self.builder.fadd(self.load_masked(ptr, mask), value), ptr, mask)

    def fma(self, a, b, c):
        return self.builder.call(self._fmuladd, [a, b, c])

    def add_product(self, slot, a, b):
        """``slot += a * b``."""
        self.builder.store(self.fma(a, b, self.builder.load(slot)), slot)


def vectors_of(builder, dtype, lanes, lanes32):
    """:class:`Vectors` for an array of Numba dtype ``dtype``: float64 in vectors of
    ``lanes``, float32 in vectors of ``lanes32``."""
    if dtype == types.float32:
        return Vectors(builder, lanes32, F32)
    return Vectors(builder, lanes)


def data(context, builder, signature, args, i):
    """Argument ``i``'s array structure."""
    return context.make_array(signature.args[i])(context, builder, args[i])


def stride(builder, array, axis, itemsize=8):
    """Array ``array``'s stride along ``axis``, in elements of ``itemsize`` bytes."""
    return builder.sdiv(builder.extract_value(array.strides, axis), const(itemsize))
