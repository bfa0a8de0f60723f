"""The EM pass over a plain ``.npy`` file, with the rows read inside the kernel.

With a background reader thread, a streamed pass copies every chunk out of the
page cache into a chunk-sized buffer. That copy is bound by memory traffic
(6-10 GB/s) and takes cores away from the kernel's threads. Here each kernel
thread reads its own rows with ``pread`` into a small buffer of its own and
processes them while they are in its cache (``fastem._kernels._fileio``): no
extra thread and no chunk buffer. The kernel chunks are those of the in-memory
pass over the same rows, so the statistics are bit-identical to the
reader-thread pass (``bench/NOTES.md``, section 12).

The estimator reaches this through :meth:`fastem._stream.StreamData.stats`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from ._parallel import resolve_threads
from ._passes import ArrayData, file_stats, stats_chunk_rows
from .sources._base import _err, check_values
from .sources._prefetch import Progress

#: Let the EM pass of a plain ``.npy`` file read its rows inside the kernel
#: (``pread``: 64-bit POSIX only) instead of through a reader thread.
DIRECT_READS = os.name == "posix" and hasattr(os, "pread") and sys.maxsize > 2**32


def layout(data):
    """``(path, data offset)`` if ``data``'s EM pass may read its file in the kernel.

    ``data`` is a :class:`fastem._stream.StreamData`. Its source must be a
    ``.npy`` file that holds exactly the rows the estimator sees, and NaN must
    be an error (NaN marginalization has its own kernels).
    """
    direct_layout = getattr(data.source, "direct_layout", None)
    if not DIRECT_READS or direct_layout is None or data.missing == "marginalize":
        return None
    return direct_layout()


def _will_need(f, offset, nbytes):
    """Ask the OS to start reading a byte range of ``f`` into the page cache."""
    if nbytes > 0 and hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(f.fileno(), offset, nbytes, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass


def _buffers(data, n_threads, rows):
    """One ``(rows, n_features)`` read buffer per thread, kept by ``data`` between passes."""
    src = data.source
    key = (resolve_threads(n_threads), rows, src.n_features, src.dtype)
    if data._bufs is None or data._bufs[0] != key:
        data._bufs = key, np.empty(key[:3], dtype=src.dtype)
    return data._bufs[1]


def stats(data, params, n_threads, path, offset):
    """One EM pass over ``data`` (a ``StreamData``), each chunk read by the kernel.

    A chunk that the kernel cannot read whole, or whose log-likelihood is not
    finite, is read again here: that raises the error naming the row (a
    truncated file, a NaN or infinite value), or, after a transient failure,
    gives the rows to compute the chunk's statistics from. Returns the summed
    :class:`~fastem._stats.SuffStats`, or None for an empty source.
    """
    src = data.source
    n, step, D = src.n_rows, src.chunk_rows, src.n_features
    row_bytes = D * src.dtype.itemsize
    rows = max(stats_chunk_rows(min(m, n), params) for m in (step, n % step or step))
    bufs = _buffers(data, n_threads, rows)
    take, finish = data._row_extras()
    bar = Progress(data.progress, n, "EM pass")
    total = None
    try:
        with open(path, "rb", buffering=0) as f:
            have = os.fstat(f.fileno()).st_size - offset
            if have < n * row_bytes:
                raise _err(src.name, have // row_bytes, "file is truncated")
            # A file not in the page cache: the OS reads each chunk from disk in
            # large requests, the next one while the kernel works on this one.
            _will_need(f, offset, min(step, n) * row_bytes)
            for r0 in range(0, n, step):
                m = min(step, n - r0)
                _will_need(f, offset + (r0 + m) * row_bytes, min(step, n - r0 - m) * row_bytes)
                w, labels = take(r0, m)
                fd, at = f.fileno(), offset + r0 * row_bytes
                s, failed = file_stats(fd, at, m, bufs, w, labels, params, n_threads)
                if failed is not None or not np.isfinite(s.loglik):
                    X = np.empty((m, D), dtype=src.dtype)
                    src._read_rows(f, r0, X)
                    check_values(X, src.name, r0)
                    if failed is not None:
                        s = ArrayData(X, w, labels).stats(params, n_threads)
                total = s if total is None else total + s
                bar.update(m, m * row_bytes)
    except OSError as e:
        raise _err(src.name, 0, f"could not read ({e})") from e
    finally:
        bar.close()
    finish()
    return total
