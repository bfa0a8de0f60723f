"""Callees compiled once per process and called by address: statistics, normalization.

A float32 kernel and a float64 kernel compute their log-densities in their own
dtype, but their statistics are the same float64 code on the same float64
buffers. Inlined (``_config.jit``), each kernel typed, inlined and optimized
its own copy: 0.9 s of a float32 first use (bench/NOTES.md section 21).

A :class:`Shared` callee is compiled on its own, for one fixed signature, with
the kernels' fastmath flags (reassociation included) and its own disk cache
entry. A kernel does not link it: it takes the callee's machine-code address as
an ``int64`` argument (:meth:`Shared.address`, from Python) and calls it through
that pointer with Numba's native calling convention (:meth:`Shared.call`, an
intrinsic). So every kernel of the process runs the one compiled copy, whether
that copy was compiled here or loaded from the cache: a cold and a warm process
compute the same bits (``tests/test_cache.py``), which is why a reassociated
callee may not simply be linked (``_config.jit``).

The callee's argument types are fixed (:class:`Shared` ``argtypes``); a kernel
that passes others fails to compile (a ``TypingError`` naming both), never
calls code compiled for other types.
"""

import threading

from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from . import _cache
from ._config import _CALLEE, JIT, JIT_ORDERED

_LOCK = threading.Lock()


def _caller(name, argtypes):
    """An intrinsic ``call(address, *args)`` calling a ``None``-returning native function."""
    argtypes = tuple(argtypes)

    @intrinsic
    def call(typingctx, address, *args):
        if address != types.int64:
            return None
        if tuple(args) != argtypes:
            raise TypingError(
                f"{name} is compiled for {argtypes}, and a kernel passes {tuple(args)}: "
                "allocate the kernel's buffers with those types."
            )

        def codegen(context, builder, signature, llargs):
            fnty = context.call_conv.get_function_type(types.none, argtypes)
            fn = builder.inttoptr(llargs[0], fnty.as_pointer())
            values = cgutils.unpack_tuple(builder, llargs[1], len(argtypes))
            context.call_conv.call_function(builder, fn, types.none, argtypes, values)
            return context.get_dummy_value()

        return types.none(address, types.StarArgTuple.from_types(args)), codegen

    return call


class Shared:
    """``fn`` compiled once for ``argtypes``, called by the kernels through its address.

    ``ordered``: compiled without reassociation (``_config.JIT_ORDERED``), for code whose
    rounding is part of the algorithm (the normalization's exp and log).
    """

    def __init__(self, fn, argtypes, ordered=False):
        self.argtypes = tuple(argtypes)
        options = JIT_ORDERED if ordered else JIT
        self.dispatcher = _cache.guard(njit(**options, **_CALLEE)(fn))
        self.call = _caller(fn.__name__, self.argtypes)
        self._address = 0

    def address(self):
        """The compiled callee's address (compiled, or loaded from the cache, on first use)."""
        if not self._address:
            with _LOCK:
                if not self._address:
                    self.dispatcher.compile(self.argtypes)
                    cres = self.dispatcher.overloads[self.argtypes]
                    name = cres.fndesc.llvm_func_name
                    self._address = cres.library.get_pointer_to_function(name)
        return self._address


# the argument types the kernels pass (see ``_em``'s shapes): float64 and int64
# C-contiguous arrays, writeable except the weights and labels (read-only views)
F1, F2 = types.float64[::1], types.float64[:, ::1]
I1, I8 = types.int64[::1], types.int64
W = types.Array(types.float64, 1, "C", readonly=True)
L = types.Array(types.int64, 1, "C", readonly=True)
