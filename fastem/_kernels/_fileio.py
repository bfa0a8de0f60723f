"""Reading rows of a file from inside a kernel, with ``pread``.

A streamed ``.npy`` pass through a background reader thread costs a copy of
every chunk into a chunk-sized buffer (memory-bound, about 6-10 GB/s) that
competes with the kernel's threads for the cores and the memory bus. Instead,
each chunk of rows of the statistics and row-wise passes reads its own rows
with ``pread`` into a small buffer of its thread, then processes them while
they are still in the thread's cache: no extra thread, no chunk-sized buffer,
and the reads spread over all the kernel's threads.

``pread`` is declared as an external C function (resolved from the C library
when the kernel is linked, so the kernel stays cacheable). The buffer address
is passed as an integer: the same registers as a pointer on the 64-bit POSIX
platforms where this is used (``fastem._direct.DIRECT_READS``). It returns the
number of bytes read; kernels report short reads in a status array and never
raise.
"""

from numba import njit, types

from ._config import JIT

# ssize_t pread(int fd, void *buf, size_t count, off_t offset)
_pread = types.ExternalFunction(
    "pread", types.intp(types.int32, types.uintp, types.uintp, types.int64)
)


@njit(**JIT)
def read_rows(fd, buf, n_rows, offset):
    """Read ``n_rows`` rows of ``buf``'s width from byte ``offset`` of ``fd`` into ``buf``.

    Returns the number of bytes read: fewer than asked at the end of the
    file, or -1 on an error.
    """
    nbytes = n_rows * buf.shape[1] * buf.itemsize
    address = buf.ctypes.data
    got = 0
    while got < nbytes:
        k = _pread(fd, address + got, nbytes - got, offset + got)
        if k <= 0:
            return got if k == 0 else -1
        got += k
    return got
