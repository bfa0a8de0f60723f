"""Which kernel a call may use: parallel or serial, and with how many threads.

Numba's default (workqueue) threading layer aborts the whole process when two
Python threads enter parallel kernels at the same time. fastem never lets that
happen: a process-wide lock admits one thread at a time into the parallel
kernels; a thread that finds the lock taken runs the serial (``nogil``) variant
of the same chunk function instead. Both variants add the same per-chunk
partial sums in the same order, so the result does not depend on which one ran.
"""

import threading
from contextlib import contextmanager

import numba

_LOCK = threading.Lock()


def resolve_threads(n_threads):
    """Number of threads for a call: None means every thread Numba has."""
    max_threads = numba.config.NUMBA_NUM_THREADS
    if n_threads is None:
        return max_threads
    return max(1, min(int(n_threads), max_threads))


@contextmanager
def parallel_section(n_threads):
    """Yield True if the caller may run parallel kernels, False for serial ones."""
    n = resolve_threads(n_threads)
    if n == 1 or not _LOCK.acquire(blocking=False):
        yield False
        return
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(n)
        # Dynamic scheduling, one chunk at a time: a thread that the OS
        # preempts (a prefetch thread, a neighbour on a shared machine) does
        # not hold the others at the end-of-region barrier. Results do not
        # depend on which thread runs a chunk.
        previous_chunksize = numba.set_parallel_chunksize(1)
        try:
            yield True
        finally:
            numba.set_parallel_chunksize(previous_chunksize)
    finally:
        numba.set_num_threads(previous)
        _LOCK.release()


def chunk_rows_for(n_samples, bytes_per_chunk, block=256, max_chunks=128, budget=32 << 20):
    """Rows per chunk: a multiple of ``block``, a function of ``n_samples`` only.

    Enough chunks to balance many threads, but never so many that the
    per-chunk partial statistics exceed ``budget`` bytes.
    """
    n_chunks = max(
        1, min(max_chunks, -(-n_samples // (4 * block)), budget // max(bytes_per_chunk, 1))
    )
    rows = -(-n_samples // n_chunks)
    rows = -(-rows // block) * block
    return max(block, rows)


def readonly(a):
    """``a`` itself if read-only, else a read-only view of it (no copy).

    Numba compiles a separate specialization (tens of seconds for the EM pass)
    for each distinct array type, and read-only is part of the type. Handing
    every kernel its row data read-only means a memory map opened with
    ``mmap_mode="r"``, a Dask block or a frozen array share the compiled code
    of an ordinary array.
    """
    if not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v
