"""Block functions compiled once per process and called by address.

The pass kernels (``_em``) are loops over blocks of rows. What they do to a block
(the log-density, the normalization, the row-wise outputs, the statistics) was
inlined into each kernel (``_config.jit``), so each kernel typed, inlined and
optimized its own copy of everything: a float32 kernel compiled the float64
statistics again, and a diagonal kernel the normalization (bench/NOTES.md
section 21: a float32 first use compiled 3.4-3.7 s, now 1.5 s).

A :class:`Shared` function is compiled on its own, for fixed signatures (one, or
one per dtype), with the kernels' fastmath flags (reassociation included, except
where ``ordered``) and its own disk cache entry. A kernel does not link it: it
takes the function's machine-code address as an ``int64`` argument
(:meth:`Shared.address`, from Python) and calls it through that pointer with
Numba's native calling convention (:meth:`Shared.call`, an intrinsic). So every
kernel of the process runs the one compiled copy, whether that copy was compiled
here or loaded from the cache: a cold and a warm process compute the same bits
(``tests/test_cache.py``). That is why a reassociated function may not simply be
linked: a linked copy is optimized again inside each kernel, and the kernel
loaded from the cache and the one compiled in the process could run differently
optimized copies (bench/NOTES.md section 13).

A kernel that passes other argument types than a signature's fails to compile (a
``TypingError`` naming both); it never calls code compiled for other types.
"""

from . import _numba  # noqa: F401  (first: Numba imported with Ctrl-C held off)

# isort: split
import threading

from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from . import _ahead, _cache
from ._config import _CALLEE, JIT, JIT_ORDERED
from ._numba import hold_at_fork

# held across a compile, which then takes Numba's compiler lock: a fork takes both, this one
# first (registered after ``_numba``'s), and waits for the compile; reentrant, so a fork from
# a thread that holds it does not wait for itself
_LOCK = threading.RLock()
hold_at_fork(_LOCK)

#: every :class:`Shared` function, by :attr:`Shared.key` (the helper process of ``_ahead``
#: finds them here)
SHARED = {}


def _caller(name, signatures):
    """An intrinsic ``call(address, *args)`` calling a ``None``-returning native function
    compiled for one of ``signatures`` (the one ``args`` have)."""

    @intrinsic
    def call(typingctx, address, *args):
        if address != types.int64:
            return None
        argtypes = tuple(args)
        if argtypes not in signatures:
            raise TypingError(
                f"{name} is compiled for {' or '.join(map(str, signatures))}, and a kernel "
                f"passes {argtypes}: allocate the kernel's buffers with those types."
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
    """``fn`` compiled once per signature, called by the kernels through its address.

    ``signatures``: the argument types, one tuple or a list of them (one per dtype);
    ``ordered``: compiled without reassociation (``_config.JIT_ORDERED``), for code whose
    rounding is part of the algorithm (the normalization's exp and log).
    """

    def __init__(self, fn, signatures, ordered=False):
        if not isinstance(signatures, list):
            signatures = [signatures]
        self.signatures = [tuple(sig) for sig in signatures]
        options = JIT_ORDERED if ordered else JIT
        self.dispatcher = _cache.guard(njit(**options, **_CALLEE)(fn))
        self.call = _caller(fn.__name__, self.signatures)
        self._address = {}
        self.key = f"{fn.__module__}.{fn.__qualname__}"
        SHARED[self.key] = self

    def ready(self, i=0):
        """Whether signature ``i`` needs no compiling here: compiled in this process
        (True), in the disk cache (True) or not (False); None where the cache cannot tell."""
        if i in self._address or self.signatures[i] in self.dispatcher.overloads:
            return True
        return _cache.cached(self.dispatcher, self.signatures[i])

    def address(self, i=0):
        """The address of the callee compiled for signature ``i`` (compiled, or loaded
        from the cache, on first use)."""
        if i not in self._address:
            _ahead.wait(self.key, i)  # for a helper compiling it (cold cache)
            with _LOCK:
                if i not in self._address:
                    sig = self.signatures[i]
                    self.dispatcher.compile(sig)
                    cres = self.dispatcher.overloads[sig]
                    # the intrinsic calls it as a function returning nothing
                    assert cres.signature.return_type == types.none, cres.signature
                    name = cres.fndesc.llvm_func_name
                    self._address[i] = cres.library.get_pointer_to_function(name)
        return self._address[i]


# the argument types the kernels pass (see ``_em``'s shapes): float64 and int64
# C-contiguous arrays, writeable except the weights and labels (read-only views)
F1, F2 = types.float64[::1], types.float64[:, ::1]
I1, I8 = types.int64[::1], types.int64
W = types.Array(types.float64, 1, "C", readonly=True)
L = types.Array(types.int64, 1, "C", readonly=True)


def dtype_signatures(spec):
    """One signature per dtype (float64, then float32) from ``spec``: ``A1``, ``A2``,
    ``A3`` are C-contiguous arrays of that dtype, ``R2`` a read-only 2-D one, the other
    names those above."""
    sigs = []
    for dt in (types.float64, types.float32):
        names = dict(F1=F1, F2=F2, I1=I1, I8=I8, W=W, L=L)
        names.update(A1=dt[::1], A2=dt[:, ::1], A3=dt[:, :, ::1])
        names.update(R2=types.Array(dt, 2, "C", readonly=True))
        sigs.append(tuple(names[word] for word in spec.split()))
    return sigs
