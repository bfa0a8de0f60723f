"""Passes over in-memory data: the EM statistics pass and the row-wise pass.

A *data* object is what the estimator's EM loop talks to. It has
``n_samples``, ``n_features``, ``dtype``, and two methods:

* ``stats(params, n_threads) -> SuffStats``: one pass, the sufficient statistics;
* ``rowwise(params, n_threads, logprob=, resp=, labels=)``: log p(x), resp or
  argmax per row.

:class:`ArrayData` is the in-memory case; chunked sources and Dask arrays
provide the same two methods by mapping chunks to ``SuffStats`` and adding them.
"""

import os

import numpy as np

from . import _small
from ._parallel import chunk_rows_for, readonly, resolve_threads, run_chunks
from ._stats import SuffStats

_EMPTY_F = np.empty(0, dtype=np.float64)
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_2D = np.empty((0, 0), dtype=np.float64)
# the arguments of the pass kernels that a call does not use, typed as those it
# does (read-only weights and labels, writeable statistics and outputs), so
# statistics and row-wise outputs share one compiled specialization
_NO_WEIGHTS = (readonly(_EMPTY_F), readonly(_EMPTY_I))
_NO_STATS = (_EMPTY_F, _EMPTY_2D, _EMPTY_2D, _EMPTY_F)
_NO_ROWS = (_EMPTY_F, _EMPTY_2D, _EMPTY_I)


def log_density_start(mu, prec):
    """``npm``, where the kernels' log-densities start each component's sums, from ``mu`` and
    ``prec`` in the kernels' layout (``(..., K, Dp)`` and ``(..., K, Dp or 1, Dp)``): a
    ``(..., K + 1, Dp)`` array in their dtype, computed once per pass.

    * diagonal and spherical: ``-mu p`` (the sums are ``x p - mu p``);
    * full and tied, float64: ``c``, the mean of the means, in row K, and
      ``-U_k^T (mu_k - c)`` in row k, in float64 (the sums are ``U^T (x - c) - U^T (mu - c)``:
      ``_density.logprob_full``);
    * full and tied, float32: zero (the block is centred on each mean).
    """
    K, Dp = mu.shape[-2:]
    npm = np.zeros((*mu.shape[:-2], K + 1, Dp), dtype=mu.dtype)
    if prec.shape[-2] == 1:
        npm[..., :K, :] = -(mu * prec[..., 0, :])
    elif mu.dtype == np.float64:
        c = mu.mean(axis=-2)
        npm[..., K, :] = c
        npm[..., :K, :] = -np.einsum("...ki,...kij->...kj", mu - c[..., None, :], prec)
    return npm


def kernel_args(params):
    """``mu, prec, mu64, const, npm`` as the kernels take them (``npm``:
    :func:`log_density_start`).

    Zero-padded to a multiple of ``TILE`` features, and always fresh,
    writeable, C-contiguous arrays: Numba compiles a separate specialization
    (tens of seconds) for each distinct array type, and a read-only array is
    a distinct type.
    """
    from ._kernels._config import TILE  # not at import: it loads Numba

    K, D = params.mu.shape
    Dp = -(-D // TILE) * TILE
    mu = np.zeros((K, Dp), dtype=params.mu.dtype)
    mu[:, :D] = params.mu
    rows = params.prec.shape[1]
    prec = np.zeros((K, 1 if rows == 1 else Dp, Dp), dtype=params.prec.dtype)
    prec[:, :rows, :D] = params.prec
    const = np.array(params.const, dtype=np.float64)
    return mu, prec, mu.astype(np.float64), const, log_density_start(mu, prec)


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


def _check_width(n_features, params):
    """The kernels trust shapes (a wrong one writes out of bounds): one cheap check per pass."""
    if n_features != params.mu.shape[1]:
        raise ValueError(
            f"X has {n_features} features, but the model has {params.mu.shape[1]}; "
            "pass data with the features the model was fitted on."
        )


def _kernel(params, outs=None, args=None):
    """``(kernel, fns)``: the chunk kernel (statistics and row-wise outputs) and its last
    argument, the addresses of ``params``' family's block functions for a statistics
    pass, or for a row-wise pass into ``outs`` (``_kernels._em.chunk_kernel``; ``args``:
    the pass's first kernel arguments but ``fns``, for an early compile, see there).

    The kernel modules are imported here, on the first pass that needs them:
    importing Numba takes a third of a second, and small inputs never need it.
    """
    from ._kernels import _em

    rows = outs is not None and sum(out.shape[0] for out in outs) > 0  # the kernel's test
    full = params.prec.shape[1] > 1
    tied = full and params.shared  # (one component too: a tied fit compiles one log-density)
    return _em.chunk_kernel(full, params.mu.dtype, params.mu.shape[1], rows, args, tied=tied)


def array_stats(X, w, labels, params, n_threads):
    """Sufficient statistics of ``X`` (validated, C-contiguous) under ``params``."""
    _check_width(X.shape[1], params)
    if params.small:
        return _small.stats(X, w, labels, params)
    n = X.shape[0]
    chunk_rows, nk, s1, s2, scal = _partials(n, X.shape[1], params)
    w = readonly(_EMPTY_F if w is None else w)
    labels = readonly(_EMPTY_I if labels is None else labels)
    X = readonly(X)
    args = kernel_args(params)

    def call(c, r0, r1):  # chunk c's kernel arguments but ``fns``
        return (X, w, labels, r0, r1, 0, *args, nk[c], s1[c], s2[c], scal[c], *_NO_ROWS)

    # (``args=``: the first call's types, for an early compile: ``_kernel``)
    kernel, fns = _kernel(params, args=call(0, 0, 0) if len(nk) else None)

    def task(c, slot):
        r0 = c * chunk_rows
        kernel(*call(c, r0, min(n, r0 + chunk_rows)), fns)

    run_chunks(task, nk.shape[0], n_threads)
    return _suffstats(n, params, nk, s1, s2, scal)


def read_chunk(fd, buf, n_rows, offset):
    """Read ``n_rows`` rows at byte ``offset`` of ``fd`` into ``buf``; the bytes read.

    ``os.preadv`` releases the GIL, so the threads of a pass read their own
    chunks at once, each into its own buffer that stays in its cache. Fewer
    bytes than asked for (end of file) or -1 (an ``OSError``) tells the
    caller the chunk could not be read whole.
    """
    view = memoryview(buf.reshape(-1)[: n_rows * buf.shape[1]]).cast("B")
    want = view.nbytes
    got = 0
    try:
        while got < want:
            r = os.preadv(fd, [view[got:]], offset + got)
            if r <= 0:
                break
            got += r
    except OSError:
        return -1
    return got


def _file_pass(fd, offset, n, chunk_rows, bufs, n_threads, compute):
    """Read every chunk of ``n`` rows from ``fd`` into its thread's buffer and ``compute`` it.

    ``compute(c, rows, r0)`` runs on rows ``r0:r0 + len(rows)``. Returns the
    ``(first row, bytes read)`` of the first chunk not read whole, or None.
    """
    C = -(-n // chunk_rows)
    status = np.zeros(C, dtype=np.int64)
    row_bytes = bufs.shape[2] * bufs.itemsize

    def task(c, slot):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        buf = bufs[slot]
        status[c] = read_chunk(fd, buf, r1 - r0, offset + r0 * row_bytes)
        if status[c] == (r1 - r0) * row_bytes:
            # read-only: the same compiled kernel as for in-memory rows
            compute(c, readonly(buf), r0, r1)

    run_chunks(task, C, min(resolve_threads(n_threads), bufs.shape[0]))
    return _short_read(status, chunk_rows, n, bufs)


def file_stats(fd, offset, n, bufs, w, labels, params, n_threads):
    """Sufficient statistics of ``n`` rows read from byte ``offset`` of ``fd``.

    The rows are C-ordered, in native byte order, in ``bufs``' dtype and of
    its width; ``bufs`` has shape ``(threads, stats_chunk_rows(n, params),
    n_features)``. The kernel chunks (and so the result) are those of
    :func:`array_stats` on the same rows in memory. Returns the statistics and
    ``None``, or ``None`` and ``(row, nbytes)``: the first row of a chunk
    that could not be read whole, and the bytes read of it (-1: an error).
    """
    _check_width(bufs.shape[2], params)
    chunk_rows, nk, s1, s2, scal = _partials(n, bufs.shape[2], params)
    _check_buffers(bufs, chunk_rows)
    w = readonly(_EMPTY_F if w is None else w)
    labels = readonly(_EMPTY_I if labels is None else labels)
    args = kernel_args(params)

    def call(c, buf, r0, r1):  # chunk c's kernel arguments but ``fns``
        return (buf, w, labels, 0, r1 - r0, r0, *args, nk[c], s1[c], s2[c], scal[c], *_NO_ROWS)

    kernel, fns = _kernel(params, args=call(0, readonly(bufs[0]), 0, 0) if len(nk) else None)

    def compute(c, buf, r0, r1):
        kernel(*call(c, buf, r0, r1), fns)

    failed = _file_pass(fd, offset, n, chunk_rows, bufs, n_threads, compute)
    return (None if failed else _suffstats(n, params, nk, s1, s2, scal)), failed


def _check_buffers(bufs, chunk_rows):
    if bufs.shape[1] < chunk_rows or not bufs.flags.c_contiguous:
        # the reads would write past the buffers
        raise ValueError(f"read buffers of {bufs.shape[1]} rows; {chunk_rows} are needed")


def _short_read(status, chunk_rows, n, bufs):
    """``(first row, bytes read)`` of the first chunk not read whole, or None."""
    row_bytes = bufs.shape[2] * bufs.itemsize
    expected = np.minimum(chunk_rows, n - chunk_rows * np.arange(len(status))) * row_bytes
    bad = np.flatnonzero(status != expected)
    if bad.size:
        return int(bad[0]) * chunk_rows, int(status[bad[0]])
    return None


def _rowwise_outputs(n, K, logprob, resp, labels):
    if not (logprob or resp or labels):
        # the kernels take all-empty outputs for a statistics pass (into empty arrays)
        raise ValueError("a row-wise pass needs at least one of logprob, resp or labels")
    return (
        np.empty(n) if logprob else _EMPTY_F,
        np.empty((n, K)) if resp else _EMPTY_2D,
        np.empty(n, dtype=np.int64) if labels else _EMPTY_I,
    )


def _wanted(outs, logprob, resp, labels):
    return tuple(out if want else None for out, want in zip(outs, (logprob, resp, labels)))


def file_rowwise(
    fd, offset, n, bufs, params, n_threads, *, logprob=False, resp=False, labels=False
):
    """Row-wise outputs of ``n`` rows read from byte ``offset`` of ``fd``.

    As :func:`array_rowwise` on the same rows (same chunks, same results),
    with ``bufs`` of shape ``(threads, chunk_rows_for(n, 0), n_features)``.
    Returns ``(logprob, resp, labels)`` and None, or None and the ``(row,
    nbytes)`` of the first chunk that could not be read whole.
    """
    _check_width(bufs.shape[2], params)
    chunk_rows = chunk_rows_for(n, 0)
    _check_buffers(bufs, chunk_rows)
    outs = _rowwise_outputs(n, params.mu.shape[0], logprob, resp, labels)
    args = kernel_args(params)
    kernel, fns = _kernel(params, outs)

    def compute(c, buf, r0, r1):
        kernel(buf, *_NO_WEIGHTS, 0, r1 - r0, r0, *args, *_NO_STATS, *outs, fns)

    failed = _file_pass(fd, offset, n, chunk_rows, bufs, n_threads, compute)
    if failed:
        return None, failed
    return _wanted(outs, logprob, resp, labels), None


def array_rowwise(X, params, n_threads, *, logprob=False, resp=False, labels=False, widen=False):
    """Row-wise outputs of ``X`` under ``params``; returns (logprob, resp, labels).

    ``widen``: ``X`` is float32 and ``params`` float64 (float32 rows on a model fitted on
    float64 rows, ``_MixtureAPI._scoring_dtype``): each chunk is widened to float64 on its
    own, so memory holds one chunk's copy per thread, not a float64 copy of ``X``.
    """
    _check_width(X.shape[1], params)
    if params.small:
        X = X.astype(np.float64) if widen else X  # (small)
        return _small.rowwise(X, params, logprob=logprob, resp=resp, labels=labels)
    n = X.shape[0]
    chunk_rows = chunk_rows_for(n, 0)
    outs = _rowwise_outputs(n, params.mu.shape[0], logprob, resp, labels)
    args = kernel_args(params)
    X = readonly(X)

    def call(r0, r1):  # the kernel's arguments but ``fns``
        if widen:  # rows r0:r1 as a float64 chunk of their own, writing outputs r0:r1
            chunk = readonly(X[r0:r1].astype(np.float64))
            return (chunk, *_NO_WEIGHTS, 0, r1 - r0, r0, *args, *_NO_STATS, *outs)
        return (X, *_NO_WEIGHTS, r0, r1, 0, *args, *_NO_STATS, *outs)

    kernel, fns = _kernel(params, outs, args=call(0, 0))  # (``args=``: an early compile)

    def task(c, slot):
        r0 = c * chunk_rows
        kernel(*call(r0, min(n, r0 + chunk_rows)), fns)

    run_chunks(task, -(-n // chunk_rows), n_threads)
    return _wanted(outs, logprob, resp, labels)


#: results per piece of a row-wise pass consumed piece by piece (:meth:`ArrayData.iter_rowwise`)
#: at most: 32 MiB of float64 probabilities, whatever the number of components
PIECE_VALUES = 1 << 22


def piece_rows(n_components):
    """Rows per piece of a row-wise pass consumed piece by piece: 65,536, fewer where their
    probabilities would pass :data:`PIECE_VALUES` (64 components and more), 1,024 at least."""
    return max(1024, min(65536, PIECE_VALUES // n_components))


class ArrayData:
    """In-memory data: a validated C-contiguous float32/float64 array."""

    #: its passes run the complete-data pass kernel in this process (``_kernels._ahead``)
    kernels_here = True

    def __init__(self, X, sample_weight=None, labels=None, *, widen=False):
        self.X = X
        self.sample_weight = sample_weight
        self.labels = labels
        self.n_samples, self.n_features = X.shape
        #: float32 rows scored in float64, each chunk widened on its own (``predict`` data:
        #: row-wise passes only; a fit never widens)
        self.widen = widen
        self.dtype = np.dtype(np.float64) if widen else X.dtype

    def stats(self, params, n_threads):
        return array_stats(self.X, self.sample_weight, self.labels, params, n_threads)

    def rowwise(self, params, n_threads, **what):
        return array_rowwise(self.X, params, n_threads, widen=self.widen, **what)

    def iter_rowwise(self, params, n_threads, **what):
        """``(offset, (logprob, resp, labels))`` of pieces of :func:`piece_rows` rows, in
        order: ``out=`` and the scores of a model selection hold one piece's results, never
        an ``(n_samples, n_components)`` array (a row's results do not depend on its piece)."""
        rows = piece_rows(params.mu.shape[0])
        for r0 in range(0, self.n_samples, rows):
            piece = self.X[r0 : r0 + rows]  # float32 rows of a float64 model: widened
            yield r0, array_rowwise(piece, params, n_threads, widen=self.widen, **what)

    def sample_for_init(self, max_rows, random_state):
        """The data itself: in memory, initialization sees every row."""
        return self
