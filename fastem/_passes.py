"""Passes over in-memory data: the EM statistics pass and the row-wise pass.

A *data* object is what the estimator's EM loop talks to. It has
``n_samples``, ``n_features``, ``dtype``, and two methods:

* ``stats(params, n_threads) -> SuffStats``: one pass, the sufficient statistics;
* ``rowwise(params, n_threads, logprob=, resp=, labels=)``: log p(x), resp or
  argmax per row.

:class:`ArrayData` is the in-memory case; chunked sources and Dask arrays
provide the same two methods by mapping chunks to ``SuffStats`` and adding them.
"""

import hashlib

import numba
import numpy as np

from ._kernels import _em
from ._kernels._config import TILE
from ._parallel import chunk_rows_for, parallel_section, readonly
from ._stats import SuffStats

_EMPTY_F = np.empty(0, dtype=np.float64)
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_2D = np.empty((0, 0), dtype=np.float64)


def kernel_args(params):
    """``mu, prec, mu64, const`` as the kernels take them.

    Zero-padded to a multiple of ``TILE`` features, and always fresh,
    writeable, C-contiguous arrays: Numba compiles a separate specialization
    (tens of seconds) for each distinct array type, and a read-only array is
    a distinct type.
    """
    K, D = params.mu.shape
    Dp = -(-D // TILE) * TILE
    mu = np.zeros((K, Dp), dtype=params.mu.dtype)
    mu[:, :D] = params.mu
    rows = params.prec.shape[1]
    prec = np.zeros((K, 1 if rows == 1 else Dp, Dp), dtype=params.prec.dtype)
    prec[:, :rows, :D] = params.prec
    return mu, prec, mu.astype(np.float64), np.array(params.const, dtype=np.float64)


def stats_chunk_rows(n, params):
    """Rows per kernel chunk of a statistics pass over ``n`` rows."""
    return chunk_rows_for(n, 8 * int(np.prod(params.stats_shape)))


def _partials(n, n_features, params):
    """``chunk_rows`` and the zeroed per-chunk partial sums ``nk, s1, s2, scal``."""
    shape = params.stats_shape
    chunk_rows = stats_chunk_rows(n, params)
    C = -(-n // chunk_rows)
    nk = np.zeros((C, shape[0]))
    s1 = np.zeros((C, shape[0], n_features))
    s2 = np.zeros((C, shape[0], int(np.prod(shape[1:]))))
    return chunk_rows, nk, s1, s2, np.zeros((C, 2))


def _suffstats(n, params, nk, s1, s2, scal):
    shape = (nk.shape[0], *params.stats_shape)
    return SuffStats.from_chunks(nk, s1, s2.reshape(shape), scal, n, params.shift)


def array_stats(X, w, labels, params, n_threads, *, serial=False):
    """Sufficient statistics of ``X`` (validated, C-contiguous) under ``params``."""
    n = X.shape[0]
    chunk_rows, nk, s1, s2, scal = _partials(n, X.shape[1], params)
    w = _EMPTY_F if w is None else w
    labels = _EMPTY_I if labels is None else labels
    X, w, labels = readonly(X), readonly(w), readonly(labels)
    args = (X, w, labels, chunk_rows, *kernel_args(params), nk, s1, s2, scal)
    if serial:
        _em.stats_serial(*args)
    else:
        with parallel_section(n_threads) as parallel:
            (_em.stats_parallel if parallel else _em.stats_serial)(*args)
    return _suffstats(n, params, nk, s1, s2, scal)


def file_stats(fd, offset, n, bufs, w, labels, params, n_threads):
    """Sufficient statistics of ``n`` rows read from byte ``offset`` of ``fd``.

    The rows are C-ordered, in native byte order, in ``bufs``' dtype and of
    its width; ``bufs`` has shape ``(threads, stats_chunk_rows(n, params),
    n_features)``. The kernel chunks (and so the result) are those of
    :func:`array_stats` on the same rows in memory. Returns the statistics and
    ``None``, or ``None`` and ``(row, nbytes)``: the first row of a chunk
    that could not be read whole, and the bytes read of it (-1: an error).
    """
    chunk_rows, nk, s1, s2, scal = _partials(n, bufs.shape[2], params)
    _check_buffers(bufs, chunk_rows)
    status = np.zeros(nk.shape[0], dtype=np.int64)
    w = readonly(_EMPTY_F if w is None else w)
    labels = readonly(_EMPTY_I if labels is None else labels)
    args = (fd, offset, n, chunk_rows, readonly(bufs), w, labels, *kernel_args(params))
    args += (nk, s1, s2, scal, status)
    with parallel_section(n_threads) as parallel:
        parallel = _parallel_reads(parallel, bufs)
        (_em.stats_file_parallel if parallel else _em.stats_file_serial)(*args)
    failed = _short_read(status, chunk_rows, n, bufs)
    return (None if failed else _suffstats(n, params, nk, s1, s2, scal)), failed


def _check_buffers(bufs, chunk_rows):
    if bufs.shape[1] < chunk_rows or not bufs.flags.c_contiguous:
        # pread would write past the buffers
        raise ValueError(f"read buffers of {bufs.shape[1]} rows; {chunk_rows} are needed")


def _parallel_reads(parallel, bufs):
    # one buffer per thread: the parallel kernels index them by thread id
    return parallel and bufs.shape[0] >= numba.get_num_threads()


def _short_read(status, chunk_rows, n, bufs):
    """``(first row, bytes read)`` of the first chunk not read whole, or None."""
    row_bytes = bufs.shape[2] * bufs.itemsize
    expected = np.minimum(chunk_rows, n - chunk_rows * np.arange(len(status))) * row_bytes
    bad = np.flatnonzero(status != expected)
    if bad.size:
        return int(bad[0]) * chunk_rows, int(status[bad[0]])
    return None


def _rowwise_outputs(n, K, logprob, resp, labels):
    return (
        np.empty(n) if logprob else _EMPTY_F,
        np.empty((n, K)) if resp else _EMPTY_2D,
        np.empty(n, dtype=np.int64) if labels else _EMPTY_I,
    )


def file_rowwise(
    fd, offset, n, bufs, params, n_threads, *, logprob=False, resp=False, labels=False
):
    """Row-wise outputs of ``n`` rows read from byte ``offset`` of ``fd``.

    As :func:`array_rowwise` on the same rows (same chunks, same results),
    with ``bufs`` of shape ``(threads, chunk_rows_for(n, 0), n_features)``.
    Returns ``(logprob, resp, labels)`` and None, or None and the ``(row,
    nbytes)`` of the first chunk that could not be read whole.
    """
    chunk_rows = chunk_rows_for(n, 0)
    _check_buffers(bufs, chunk_rows)
    status = np.zeros(-(-n // chunk_rows), dtype=np.int64)
    outs = _rowwise_outputs(n, params.mu.shape[0], logprob, resp, labels)
    mu, prec, _, const = kernel_args(params)
    args = (fd, offset, n, chunk_rows, readonly(bufs), mu, prec, const, *outs, status)
    with parallel_section(n_threads) as parallel:
        parallel = _parallel_reads(parallel, bufs)
        (_em.rowwise_file_parallel if parallel else _em.rowwise_file_serial)(*args)
    failed = _short_read(status, chunk_rows, n, bufs)
    if failed:
        return None, failed
    return tuple(out if want else None for out, want in zip(outs, (logprob, resp, labels))), None


def array_rowwise(X, params, n_threads, *, logprob=False, resp=False, labels=False, serial=False):
    """Row-wise outputs of ``X`` under ``params``; returns (logprob, resp, labels)."""
    n = X.shape[0]
    chunk_rows = chunk_rows_for(n, 0)
    C = -(-n // chunk_rows)
    out_lp, out_resp, out_lab = _rowwise_outputs(n, params.mu.shape[0], logprob, resp, labels)
    mu, prec, _, const = kernel_args(params)
    args = (readonly(X), chunk_rows, C, mu, prec, const, out_lp, out_resp, out_lab)
    if serial:
        _em.rowwise_serial(*args)
    else:
        with parallel_section(n_threads) as parallel:
            (_em.rowwise_parallel if parallel else _em.rowwise_serial)(*args)
    return (
        out_lp if logprob else None,
        out_resp if resp else None,
        out_lab if labels else None,
    )


class ArrayData:
    """In-memory data: a validated C-contiguous float32/float64 array."""

    def __init__(self, X, sample_weight=None, labels=None):
        self.X = X
        self.sample_weight = sample_weight
        self.labels = labels
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype

    def stats(self, params, n_threads):
        return array_stats(self.X, self.sample_weight, self.labels, params, n_threads)

    def rowwise(self, params, n_threads, **what):
        return array_rowwise(self.X, params, n_threads, **what)

    def sample_for_init(self, max_rows, random_state):
        """The data itself: in memory, initialization sees every row."""
        return self

    def fingerprint(self):
        """A cheap digest of the data (shape, dtype, 1024 spread rows, weights)."""
        h = hashlib.sha256(f"{self.X.shape}{self.X.dtype}".encode())
        h.update(np.ascontiguousarray(self.X[:: max(1, self.n_samples // 1024)]).tobytes())
        for extra in (self.sample_weight, self.labels):
            if extra is not None:
                h.update(np.ascontiguousarray(extra).tobytes())
        return h.hexdigest()
