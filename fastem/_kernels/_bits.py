"""Bit casts between float64 and int64 for the kernels' exp and log.

``ndarray.view`` does the same on whole arrays, but each of its two uses
compiles Numba's generic view implementation (0.3 s of a first fit, for two
casts); an LLVM ``bitcast`` of one value compiles in no time and vectorizes
the same way.
"""

from llvmlite import ir
from numba import types
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
