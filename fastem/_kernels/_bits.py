"""Bit casts between float64 and int64 for the kernels' exp and log; float64 buffers as float32.

``ndarray.view`` does the same on whole arrays, but each of its two uses
compiles Numba's generic view implementation (0.3 s of a first fit, for two
casts); an LLVM ``bitcast`` of one value compiles in no time and vectorizes
the same way.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic


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


@intrinsic
def as_dtype_of(typingctx, buf, X):
    """The float64 C-contiguous 2-D ``buf`` as an array of ``X``'s dtype, same shape, same memory.

    ``buf`` itself for float64 ``X``; for float32, its first half of bytes read as float32
    (all zeros stays all zeros). A float32 kernel then allocates its scratch buffers with
    the float64 allocation every kernel has already compiled: ``np.zeros`` and
    ``np.empty`` of float32 compiled 0.3 s of a float32 first use.
    """
    ok = (
        isinstance(buf, types.Array)
        and buf.dtype == types.float64
        and buf.ndim == 2
        and buf.layout == "C"
        and isinstance(X, types.Array)
        and X.dtype in (types.float32, types.float64)
    )
    if not ok:
        return None
    retty = buf.copy(dtype=X.dtype)

    def codegen(context, builder, signature, args):
        src = context.make_array(buf)(context, builder, args[0])
        if X.dtype == types.float64:
            return impl_ret_borrowed(context, builder, retty, args[0])
        dst = context.make_array(retty)(context, builder)
        size = context.get_abi_sizeof(context.get_data_type(X.dtype))
        itemsize = context.get_constant(types.intp, size)
        rows, cols = cgutils.unpack_tuple(builder, src.shape, 2)
        strides = cgutils.pack_array(builder, [builder.mul(cols, itemsize), itemsize])
        context.populate_array(
            dst,
            data=builder.bitcast(src.data, dst.data.type),
            shape=src.shape,
            strides=strides,
            itemsize=itemsize,
            meminfo=src.meminfo,
            parent=src.parent,
        )
        return impl_ret_borrowed(context, builder, retty, dst._getvalue())

    return retty(buf, X), codegen
