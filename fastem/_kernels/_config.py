"""Compilation settings shared by every kernel.

Nothing here compiles anything: kernels are compiled lazily on first call and
cached on disk (``cache=True``), so ``import fastem`` stays cheap.
"""

from . import _numba  # noqa: F401  (first: Numba imported with Ctrl-C held off)

# isort: split
import functools
import pathlib

from numba import njit, types
from numba.extending import intrinsic, overload

from . import _cache

# The one named set of fastmath flags. Never ``nnan`` or ``ninf``: log-sum-exp
# relies on -inf for components with zero weight.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Rows per block (at most): a block of rows is transposed into a
# (n_features, rows) buffer so that the inner loops run over rows and
# vectorize. The kernels use BLOCK rows, halved (down to BLOCK_MIN) while one
# block's float64 working set exceeds a budget (``full_block_bytes``: from
# BLOCK_BYTES to BLOCK_BYTES_MAX with the L2 cache), so wide data stays in L2.
# Chunks are multiples of BLOCK rows.
BLOCK = 256
BLOCK_MIN = 64
BLOCK_BYTES = 192 << 10
BLOCK_BYTES_MAX = 768 << 10
BLOCK_DIAG = 1024
BLOCK_DIAG_BYTES = 512 << 10
# Diagonal blocks stop halving here, even past BLOCK_DIAG_BYTES (large K): each
# (component, feature) pair's sums over a block's rows end in a horizontal
# reduction, which at 64 rows cost more than the L2 misses of longer blocks
# (bench/NOTES.md section 22: 100k x 128, K = 1024, 2 threads 937 -> 733 ms).
BLOCK_DIAG_MIN = 256
# Few features and components (BLOCK_DIAG_MIN rows of x and of the responsibilities within
# BLOCK_DIAG_SMALL_LIMIT bytes): blocks no larger than BLOCK_DIAG_L1_BYTES, so that the
# block's passes (log-density, maxima, exp, scaling, statistics) read x and the
# responsibilities from L1; 1024-row blocks of D = 8, K = 8 (128 KiB) ran them from L2
# (bench/NOTES.md section 32: 1M x 8, K = 8 per core 10-20 % faster, D = 16, K = 16 16 %;
# D = 2, K = 2 keeps 1024 rows, 48 KiB, where shorter blocks were 8 % slower).
BLOCK_DIAG_SMALL_LIMIT = 64 << 10
BLOCK_DIAG_L1_BYTES = 48 << 10

# Extra columns in every (rows, block) buffer: a row stride of exactly
# 2^k bytes maps the rows of a transposed block onto two or three L1 cache
# sets, and the transposing load then evicts its own lines. (The register tiles'
# vectors of rows, at most 32, never reach them: blocks are 64 rows or more, a
# power of two, ``_density.block_rows``.)
PAD = 16

# Common keyword arguments of every kernel. The disk cache is invalidated as
# one unit whenever any kernel module changes (see ``_cache``).
JIT = dict(fastmath=FASTMATH, nogil=True, cache=_cache.install(), error_model="numpy")

# The same without ``reassoc``, for code whose rounding is part of the
# algorithm (the Cody-Waite argument reduction of the kernels' exp, which
# reassociation would fold into one inexact product).
FASTMATH_ORDERED = FASTMATH - {"reassoc"}
JIT_ORDERED = dict(JIT, fastmath=FASTMATH_ORDERED)

# Register tile: the quadratic form and the second moments are computed
# TILE x TILE entries per pass over a block (features are zero-padded to a
# multiple of TILE inside the kernels).
TILE = 4


def l2_bytes(root="/sys/devices/system/cpu/cpu0/cache"):
    """The L2 cache of one CPU in bytes (Linux's sysfs): its size divided by the number of
    CPUs that share it (hyperthreads, clusters of cores); 0 where unknown."""
    for index in sorted(pathlib.Path(root).glob("index*")):
        try:
            if (index / "level").read_text().strip() != "2":
                continue
            size = (index / "size").read_text().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
            return int(size.rstrip("KM")) * scale // _count_cpus(index / "shared_cpu_list")
        except (OSError, ValueError):
            continue
    return 0


def _count_cpus(path):
    """The number of CPUs in a sysfs list such as ``0-1,4`` (1 where it cannot be read)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return 1
    count = 0
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return max(count, 1)


def vector_registers(features=None):
    """How many vector registers the kernels are compiled for: 32 where Numba targets
    AVX-512 (``+avx512f`` in its CPU features: the host's, or ``NUMBA_CPU_FEATURES``), else
    16 (AVX2, SSE). Decided from the same features as the disk cache's key, so a cached
    kernel always matches it."""
    if features is None:
        features = _numba_features()
    return 32 if "+avx512f" in features.split(",") else 16


@functools.cache
def _numba_features():
    """The CPU features Numba compiles for (``NUMBA_CPU_FEATURES``, else the host's), read
    once: the LLVM query takes 0.24 ms, and each tile module and each 512-bit callee asked."""
    from numba.core import codegen, config

    features = config.CPU_FEATURES
    return features if features is not None else codegen.get_host_cpu_features()


@functools.cache
def full_block_bytes(l2=None):
    """The budget of a full or tied block, in the units of ``_density.block_rows``
    (``3 * 8 * Dp * rows`` bytes, the rule's nominal working set): three eighths of the L2
    cache, so that the (Dp, rows)-sized buffers a float64 block touches take about half of
    it, within
    ``[BLOCK_BYTES, BLOCK_BYTES_MAX]``; ``BLOCK_BYTES`` (a 512 KB L2) where the L2 is
    unknown. A function of the machine, never of the thread count or the chunking
    (``bench/NOTES.md`` section 24: 50k x 128, K = 16 1.2-1.4x faster on a 2 MB L2).
    """
    l2 = l2_bytes() if l2 is None else l2
    return min(max(BLOCK_BYTES, l2 * 3 // 8), BLOCK_BYTES_MAX)


#: LLVM's per-function vector width (a string attribute of the function's definition)
PREFER_512 = '"prefer-vector-width"="512"'


def wide_vectors():
    """Compile the function that calls this for 512-bit vectors (zmm) where Numba targets
    AVX-512; nothing elsewhere. Called first in a block function's body;
    in pure Python it does nothing.

    LLVM tunes most AVX-512 CPUs to prefer 256-bit vectors, and Numba sets that for the
    whole process. A loop bound by its vector instructions does twice the lanes per
    instruction in zmm, but many Intel CPUs then lower the core's clock, for the code
    around it too. The diagonal log-density and statistics gain (bench/NOTES.md
    section 25: their block functions 1.1-1.2x per core; a 2-thread pass at K = 512
    1.06-1.08x), and so does the full log-density's register tile (sections 26, 29).
    ``exp`` in zmm once made a full 1M x 8, K = 8 pass 5 % slower (section 25); with the
    block functions around it in zmm, the normalization and the row-wise outputs gain
    too (section 30), and so do the full statistics' 4 x 4 tiles of few features. The full
    statistics' register tiles (``accumulate_tiled``) are not marked: their IR vectors are
    512-bit without it.
    llvmlite's IR builder admits only the attribute names it knows, so the attribute goes
    into the function's set directly; were that set ever not a ``set``, the function is
    compiled as before (``tests/test_kernel_compile.py`` checks the zmm code on
    AVX-512 hosts).
    """


@intrinsic
def _prefer_512(typingctx):
    def codegen(context, builder, signature, args):
        if vector_registers() == 32:
            try:
                set.add(builder.function.attributes, PREFER_512)
            except TypeError:
                pass
        return context.get_dummy_value()

    return types.none(), codegen


@overload(wide_vectors, inline="always", jit_options=dict(fastmath=FASTMATH, cache=False))
def _wide_vectors():
    # inlined into the caller (Numba IR), so the intrinsic marks the caller's function
    return lambda: _prefer_512()


def jit(fn):
    """Compile ``fn`` as a callee inlined into each kernel (Numba IR), never cached alone.

    For the callees whose reductions ``reassoc`` may reorder, in the k-means and
    missing-value kernels. The pass kernels' log-densities and statistics, also
    reassociated, are compiled once and called by address instead (``_shared``);
    the normalization sums in a fixed order (``_normalize.sum_rows``), so any
    compiled copy of it gives the same bits.
    Compiled as separate functions, the others made a kernel compiled in the
    process and the same kernel loaded from the disk cache give different
    bits (1 ulp in the first moments, float64 full: the two builds ran
    differently optimized copies of a callee). Inlined,
    each kernel carries its only copy, and only the entry points
    (:func:`kernel`) are cached (``tests/test_cache.py`` compares the bits).
    """
    return njit(**_NO_CACHE, **_CALLEE, inline="always")(fn)


def jit_ordered(fn):
    """A callee compiled on its own (not inlined), with ``JIT_ORDERED`` (no reassociation).

    For helpers whose every compiled copy computes the same bits: copies,
    elementwise operations, comparisons, and the exp/log polynomials whose
    rounding is part of the algorithm. Not inlining them saves Numba an
    inlining pass and a type inference per call site (``_statistics._tile_add``
    alone, at eight call sites, cost 1.8 s of a 7 s compile).
    """
    return njit(**dict(JIT_ORDERED, cache=False, **_CALLEE))(fn)


def kernel(fn):
    """Compile ``fn`` as an entry point called from Python: cached on disk (guarded)."""
    return _cache.guard(njit(**JIT)(fn))


_NO_CACHE = dict(JIT, cache=False)

# Callees are only ever called from other kernels: no wrapper that converts Python
# objects (each costs its own lowering and LLVM module; measured, section 16 of
# bench/NOTES.md: ~10 % of a first fit's compile). Tests call them through an @njit shim.
_CALLEE = dict(no_cpython_wrapper=True, no_cfunc_wrapper=True)
