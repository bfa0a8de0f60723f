"""Compilation settings shared by every kernel.

Nothing here compiles anything: kernels are compiled lazily on first call and
cached on disk (``cache=True``), so ``import fastem`` stays cheap.
"""

# The one named set of fastmath flags. Never ``nnan`` or ``ninf``: log-sum-exp
# relies on -inf for components with zero weight.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Rows per block: a block of rows is transposed into a (n_features, BLOCK)
# buffer so that the inner loops run over rows and vectorize.
BLOCK = 256

# Common keyword arguments of every kernel.
JIT = dict(fastmath=FASTMATH, nogil=True, cache=True, error_model="numpy")
