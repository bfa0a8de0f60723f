"""The EM pass over a plain ``.npy`` file, each thread reading its own rows.

With a background reader thread, a streamed pass copies every chunk out of the
page cache into a chunk-sized buffer. That copy is bound by memory traffic
(6-10 GB/s) and takes cores away from the kernel's threads. Here each thread
of the pass reads its own chunk's rows with ``os.preadv`` (GIL released) into
a small buffer of its own and hands them to the kernel while they are in its
cache (``fastem._passes.file_stats``): no extra thread and no chunk buffer.
The kernel chunks are those of the in-memory pass over the same rows, so the
statistics equal those of the reader-thread pass bit for bit.

The estimator reaches this through :meth:`fastem._stream.StreamData.stats`
(the EM pass) and :meth:`~fastem._stream.StreamData.iter_rowwise`
(``predict``, ``predict_proba``, ``score_samples``, ``score``).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from ._parallel import chunk_rows_for, resolve_threads
from ._passes import (
    ArrayData,
    array_rowwise,
    file_rowwise,
    file_stats,
    piece_rows,
    stats_chunk_rows,
)
from .sources._base import _err, advise, check_values, read_rows
from .sources._prefetch import Progress

#: Let the EM pass of a plain ``.npy`` file read its rows inside the kernel
#: (``os.preadv``: 64-bit POSIX only) instead of through a reader thread.
DIRECT_READS = os.name == "posix" and hasattr(os, "preadv") and sys.maxsize > 2**32


def layout(data, params):
    """``(path, data offset)`` if a pass under ``params`` may read ``data``'s file in the kernel.

    ``data`` is a :class:`fastem._stream.StreamData`. Its source must be a
    ``.npy`` file, or a contiguous HDF5 dataset, that holds exactly the rows
    the estimator sees, NaN must be an error (NaN marginalization has its
    own kernels), the pass must run in the kernels (a small input runs in
    NumPy, ``fastem._small``, through the reader thread), in the file's dtype (not
    widened: ``StreamData.widen``).
    """
    direct_layout = getattr(data.source, "direct_layout", None)
    if not DIRECT_READS or direct_layout is None or data.missing == "marginalize" or params.small:
        return None
    if getattr(data, "widen", False):  # float32 rows read as float64: the reader widens them
        return None
    return direct_layout()


def _will_need(f, offset, nbytes):
    """Ask the OS to start reading a byte range of ``f`` into the page cache."""
    if nbytes > 0:  # 0 would mean the whole rest of the file
        advise(f, offset, nbytes, "POSIX_FADV_WILLNEED")


def _buffers(data, n_threads, rows):
    """One ``(rows, n_features)`` read buffer per thread, kept by ``data`` between passes."""
    src = data.source
    key = (resolve_threads(n_threads), rows, src.n_features, src.dtype)
    if data._bufs is None or data._bufs[0] != key:
        data._bufs = key, np.empty(key[:3], dtype=src.dtype)
    return data._bufs[1]


def _pass(data, path, offset, label):
    """Yield ``(f, r0, rows)`` for each chunk of one pass over ``data``'s file.

    Opens the file, checks its size, asks the OS to read ahead, draws the
    progress bar, and turns an ``OSError`` into an error naming the source.
    After the last chunk it checks that the file was not rewritten while the
    pass read it (as the reader thread's chunks do, ``sources._base``).
    """
    src = data.source
    n, step = src.n_rows, src.chunk_rows
    row_bytes = src.n_features * src.dtype.itemsize
    bar = Progress(data.progress, n, label)
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
                yield f, r0, m
                bar.update(m, m * row_bytes)
    except OSError as e:
        raise _err(src.name, 0, f"could not read ({e})") from e
    finally:
        bar.close()
    src._check_unchanged()


def _reread(src, f, offset, r0, rows):
    """Rows ``r0:r0 + rows`` read in Python and validated: raises the error naming the row."""
    X = np.empty((rows, src.n_features), dtype=src.dtype)
    read_rows(f, src.name, offset, src.n_features * src.dtype.itemsize, r0, X)
    check_values(X, src.name, r0)
    return X


def _rows_per_kernel_chunk(src, per_chunk):
    n, step = src.n_rows, src.chunk_rows
    return max(per_chunk(min(m, n)) for m in (step, n % step or step))


def stats(data, params, n_threads, path, offset):
    """One EM pass over ``data`` (a ``StreamData``), each chunk read by the kernel.

    A chunk that the kernel cannot read whole, or whose log-likelihood is not
    finite, is read again here: that raises the error naming the row (a
    truncated file, a NaN or infinite value), or, after a transient failure,
    gives the rows to compute the chunk's statistics from. Returns the summed
    :class:`~fastem._stats.SuffStats`, or None for an empty source.
    """
    src = data.source
    row_bytes = src.n_features * src.dtype.itemsize
    rows = _rows_per_kernel_chunk(src, lambda m: stats_chunk_rows(m, params))
    bufs = _buffers(data, n_threads, rows)
    take, finish = data._row_extras()
    total = None
    for f, r0, m in _pass(data, path, offset, "EM pass"):
        w, labels = take(r0, m)
        at = offset + r0 * row_bytes
        s, failed = file_stats(f.fileno(), at, m, bufs, w, labels, params, n_threads)
        if failed is not None or not s.finite():
            X = _reread(src, f, offset, r0, m)
            if failed is not None:
                s = ArrayData(X, w, labels).stats(params, n_threads)
        total = s if total is None else total + s
    finish()
    return total


def iter_rowwise(data, params, n_threads, path, offset, **what):
    """Yield ``(offset, (logprob, resp, labels))`` chunk by chunk, each read by the kernel.

    The log-likelihood of every row is always computed: a NaN or infinite
    value makes it non-finite, and such a chunk is read again here to raise
    the error naming the row (as is a chunk that could not be read whole).
    """
    src = data.source
    row_bytes = src.n_features * src.dtype.itemsize
    bufs = _buffers(data, n_threads, _rows_per_kernel_chunk(src, lambda m: chunk_rows_for(m, 0)))
    want = dict(what, logprob=True)
    piece = piece_rows(params.mu.shape[0])
    for f, c0, cm in _pass(data, path, offset, "predict"):
        # each chunk in pieces: a chunk is sized by its rows' bytes (32 MiB of a few columns
        # is a million rows), its probabilities by the pieces (``piece_rows``)
        for r0 in range(c0, c0 + cm, piece):
            m = min(piece, c0 + cm - r0)
            at = offset + r0 * row_bytes
            res, failed = file_rowwise(f.fileno(), at, m, bufs, params, n_threads, **want)
            if failed is not None or not np.isfinite(res[0]).all():
                X = _reread(src, f, offset, r0, m)
                if failed is not None:
                    res = array_rowwise(X, params, n_threads, **want)
            yield r0, (res[0] if what.get("logprob") else None, res[1], res[2])
            res = None  # (not held while the next piece is computed)
