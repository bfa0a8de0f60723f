"""Bit casts between float64 and int64 for the kernels' exp and log; scratch buffers.

``ndarray.view`` does the same on whole arrays, but each of its two uses
compiles Numba's generic view implementation (0.3 s of a first fit, for two
casts); an LLVM ``bitcast`` of one value compiles in no time and vectorizes
the same way.
"""

from . import _numba  # noqa: F401  (first: Numba imported with Ctrl-C held off)

# isort: split
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_new_ref
from numba.extending import intrinsic
from numba.np.arrayobj import _empty_nd_impl


@intrinsic
def float_of_bits(typingctx, bits):
    """The float64 whose IEEE-754 bits are the int64 ``bits``."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def bits_of_float(typingctx, x):
    """The IEEE-754 bits of the float64 ``x``, as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


def _scratch(zero):
    @intrinsic
    def alloc(typingctx, rows, cols, like):
        if not (
            isinstance(rows, types.Integer)
            and isinstance(cols, types.Integer)
            and isinstance(like, types.Array)
            and like.dtype in (types.float32, types.float64, types.int64)
        ):
            return None
        retty = types.Array(like.dtype, 2, "C")

        def codegen(context, builder, signature, args):
            shape = [context.cast(builder, v, t, types.intp) for v, t in zip(args, (rows, cols))]
            ary = _empty_nd_impl(context, builder, retty, shape)
            if zero:
                cgutils.memset(builder, ary.data, builder.mul(ary.itemsize, ary.nitems), 0)
            return impl_ret_new_ref(context, builder, retty, ary._getvalue())

        return retty(rows, cols, like), codegen

    return alloc


#: ``empty(rows, cols, like)`` and ``zeros(rows, cols, like)``: a new C-contiguous
#: (rows, cols) array of ``like``'s dtype (float32, float64 or int64), uninitialized or
#: zero-filled. What ``np.empty`` and ``np.zeros`` do, lowered straight to Numba's
#: allocation: their generic overloads (shape tuples, dtype objects) compiled 0.5 s of
#: a first fit, and again for each dtype. A 1-D buffer is row 0 of a (1, n) one.
empty = _scratch(False)
zeros = _scratch(True)
