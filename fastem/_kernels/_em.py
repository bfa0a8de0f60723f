"""The fused EM pass and the row-wise (predict) kernels.

One call of a ``stats_*`` kernel is one pass over ``X``: for every block of
``BLOCK`` rows it computes the Gaussian log-densities of all components,
normalizes them into responsibilities with log-sum-exp, adds the
log-likelihood, and accumulates the weighted sufficient statistics centred on
the current means. Rows are split into chunks of ``chunk_rows`` rows; chunk
``c`` writes its own partial sums into ``nk[c]``, ``s1[c]``, ``s2[c]`` and
``scal[c]``, which the caller adds in a fixed order. The chunking depends on
``n_samples`` only, never on the thread count, so results are bit-identical for
any number of threads, and the serial and parallel drivers agree bit for bit.

Inside a block (``block_rows``: 64-256 rows for full and tied, up to 1024 for
diagonal and spherical; a function of the shape only) the
rows are transposed into a ``(Dp, rows)`` buffer, ``Dp`` = ``D`` rounded up to
``TILE`` with zero padding, so every inner loop runs over rows and vectorizes:

* full/tied log-density: ``y = U^T (x - mu)`` in 4 x 4 register tiles of the
  upper-triangular ``U`` (diagonal tiles use their 10 non-zero products), the
  squares summed straight into ``q`` when a column tile is complete;
* normalization: max, one pass of a vectorizable ``exp`` (``exp_rows``),
  ``resp = w * e / s`` and a vectorizable ``log`` (``log_into``) for
  log-sum-exp: Numba's ``np.exp`` is a scalar libm call without SVML;
* statistics: ``x - mu`` and ``resp * (x - mu)``, then the upper triangle of
  ``(resp (x - mu))^T (x - mu)`` in 4 x 4 tiles of 16 sums (diagonal: 2
  components x 2 features per pass).

Precision. Log-densities are computed in X's dtype (as scikit-learn does).
The statistics are always float64 and centred on the current means (never
raw moments), whatever X's dtype: a float32 block is widened once
(``widen``) so that the partition of rows into blocks, chunks or Dask
blocks changes the statistics only by float64 rounding. Normalization (exp,
log-sum-exp) is float64.

Kernels never validate, raise or allocate per row: buffers are allocated once
per chunk. The block helpers live in ``_density`` (load, log-densities),
``normalize`` (exp, log-sum-exp, responsibilities) and ``_statistics``;
``_cache`` keeps Numba's disk cache consistent across these modules.

Shapes (``K`` components, ``D`` features, ``Dp`` = ``D`` rounded up to ``TILE``,
``C`` chunks). The parameters come zero-padded to ``Dp`` features and as
fresh writeable arrays (``fastem._passes.kernel_args``), and the statistics
of every covariance type have the same number of dimensions, so one compiled
specialization per dtype serves all four covariance types::

    X      (n, D)      float32 or float64, C-contiguous
    w      (n,) f64    sample weights, or an empty array for unit weights
    labels (n,) i64    known component (>= 0) or -1, or an empty array
    mu     (K, Dp)     means (shift), in X's dtype
    prec   (K, Dp, Dp) upper-triangular precision Cholesky factors (full, tied)
           (K, 1, Dp)  diagonal precision Cholesky factors (diag, spherical)
    mu64   (K, Dp) f64 mu in float64
    const  (K,) f64    log weight + log det(prec_chol) - D/2 log(2 pi)
    nk     (C, K)      sum of w * resp
    s1     (C, K, D)   sum of w * resp * (x - mu_k)
    s2     (C, K, D*D) upper triangle of sum of w * resp * (x - mu_k)(x - mu_k)^T,
                       row-major (full, tied)
           (C, K, D)   its diagonal (diag, spherical)
    scal   (C, 2)      [sum of w * log p(x), sum of w]
"""

import numpy as np
from numba import get_thread_id, njit, prange

from ._config import JIT, PAD, TILE
from ._density import block_rows, load_block, logprob_diag, logprob_full
from ._fileio import read_rows
from ._normalize import log_into, normalize, softmax
from ._statistics import accumulate, widen

# A literal 0 passed to a jitted function is typed ``Literal[int](0)``, and
# Numba compiles a separate specialization of the callee for it: the row
# offsets below are passed as ``ZERO(0)`` (an ordinary int64) instead, so that
# every driver shares one compiled ``_chunk_stats``.
ZERO = np.int64

# --------------------------------------------------------------------------
# one chunk of rows
# --------------------------------------------------------------------------


@njit(**JIT)
def _chunk_stats(X, w, labels, r0, r1, w0, mu, prec, mu64, const, nk, s1, s2, scal):
    # rows r0:r1 of X; row i of X has its weight and label at w[w0 + i], labels[w0 + i]
    K, Dp = mu.shape
    full = prec.shape[1] > 1
    B = block_rows(Dp, K, full)
    Bp = B + PAD
    xt = np.zeros((Dp, Bp), dtype=X.dtype)
    x64 = np.zeros((Dp, Bp), dtype=np.float64)
    diff = np.zeros((Dp, Bp), dtype=X.dtype)
    y = np.empty((TILE, Bp), dtype=X.dtype)
    q = np.empty(B, dtype=X.dtype)
    q2 = np.empty(B, dtype=X.dtype)
    logp = np.empty((K, Bp), dtype=np.float64)
    rx = np.empty((K, Bp), dtype=np.float64)
    m = np.empty(B, dtype=np.float64)
    s = np.empty(B, dtype=np.float64)
    poly = np.empty(B, dtype=np.float64)
    bits = np.empty(B, dtype=np.int64)
    lab_lp = np.empty(B, dtype=np.float64)
    ev = np.empty(B, dtype=np.float64)
    diff64 = np.zeros((Dp, Bp), dtype=np.float64)
    rd = np.zeros((Dp, Bp), dtype=np.float64)
    for start in range(r0, r1, B):
        nb = min(B, r1 - start)
        load_block(X, start, nb, xt)
        if full:
            logprob_full(xt, nb, mu, prec, const, diff, y, q, logp)
        else:
            logprob_diag(xt, nb, mu, prec, const, q, q2, logp)
        ll, ws = normalize(logp, nb, w, labels, w0 + start, m, s, poly, bits, lab_lp, ev, rx)
        scal[0] += ll
        scal[1] += ws
        if X.itemsize == 8:
            accumulate(xt, nb, mu64, rx, diff64, rd, nk, s1, s2, full)
        else:
            # float32: the block widened once, not once per component
            widen(xt, nb, x64)
            accumulate(x64, nb, mu64, rx, diff64, rd, nk, s1, s2, full)


@njit(**JIT)
def _chunk_rowwise(X, r0, r1, o0, mu, prec, const, out_lp, out_resp, out_lab):
    # rows r0:r1 of X; row i of X has its outputs at row o0 + i of out_*
    K, Dp = mu.shape
    full = prec.shape[1] > 1
    B = block_rows(Dp, K, full)
    Bp = B + PAD
    xt = np.zeros((Dp, Bp), dtype=X.dtype)
    diff = np.zeros((Dp, Bp), dtype=X.dtype)
    y = np.empty((TILE, Bp), dtype=X.dtype)
    q = np.empty(B, dtype=X.dtype)
    q2 = np.empty(B, dtype=X.dtype)
    logp = np.empty((K, Bp), dtype=np.float64)
    m = np.empty(B, dtype=np.float64)
    s = np.empty(B, dtype=np.float64)
    poly = np.empty(B, dtype=np.float64)
    bits = np.empty(B, dtype=np.int64)
    ev = np.empty(B, dtype=np.float64)
    want_lp = out_lp.shape[0] > 0
    want_resp = out_resp.shape[0] > 0
    want_lab = out_lab.shape[0] > 0
    for start in range(r0, r1, B):
        nb = min(B, r1 - start)
        load_block(X, start, nb, xt)
        if full:
            logprob_full(xt, nb, mu, prec, const, diff, y, q, logp)
        else:
            logprob_diag(xt, nb, mu, prec, const, q, q2, logp)
        if want_lab:
            for b in range(nb):
                best = 0
                for k in range(1, K):
                    if logp[k, b] > logp[best, b]:
                        best = k
                out_lab[o0 + start + b] = best
        if want_lp or want_resp:
            softmax(logp, nb, m, s, poly, bits)
            if want_lp:
                log_into(s, nb, poly, bits, ev)
                for b in range(nb):
                    out_lp[o0 + start + b] = m[b] + poly[b]
            if want_resp:
                for b in range(nb):
                    s[b] = 1.0 / s[b] if s[b] > 0.0 else 0.0
                for b in range(nb):
                    for k in range(K):
                        out_resp[o0 + start + b, k] = logp[k, b] * s[b]


# --------------------------------------------------------------------------
# drivers: the same chunk function in parallel (prange) or serially
#
# Two small functions rather than one function jitted twice with different
# ``parallel=`` flags: Numba's on-disk cache index is keyed on the function's
# bytecode and signature, not on its flags, so two dispatchers of one function
# would overwrite each other's cache entries.
#
# A literal ``0`` passed to a jitted function is typed ``Literal[int](0)``,
# and Numba compiles the callee again for it: the drivers pass row offsets of
# 0 as ``np.int64(0)``, so that all four share one compiled ``_chunk_stats``.
# --------------------------------------------------------------------------


@njit(parallel=True, **JIT)
def stats_parallel(X, w, labels, chunk_rows, mu, prec, mu64, const, nk, s1, s2, scal):
    z = np.int64(0)  # not a literal 0: see the note above the drivers
    n = X.shape[0]
    for c in prange(nk.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_stats(X, w, labels, r0, r1, z, mu, prec, mu64, const, nk[c], s1[c], s2[c], scal[c])


@njit(**JIT)
def stats_serial(X, w, labels, chunk_rows, mu, prec, mu64, const, nk, s1, s2, scal):
    z = np.int64(0)  # not a literal 0: see the note above the drivers
    n = X.shape[0]
    for c in range(nk.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_stats(X, w, labels, r0, r1, z, mu, prec, mu64, const, nk[c], s1[c], s2[c], scal[c])


@njit(parallel=True, **JIT)
def rowwise_parallel(X, chunk_rows, n_chunks, mu, prec, const, out_lp, out_resp, out_lab):
    z = np.int64(0)  # not a literal 0: see the note above the drivers
    n = X.shape[0]
    for c in prange(n_chunks):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_rowwise(X, r0, r1, z, mu, prec, const, out_lp, out_resp, out_lab)


@njit(**JIT)
def rowwise_serial(X, chunk_rows, n_chunks, mu, prec, const, out_lp, out_resp, out_lab):
    z = np.int64(0)  # not a literal 0: see the note above the drivers
    n = X.shape[0]
    for c in range(n_chunks):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_rowwise(X, r0, r1, z, mu, prec, const, out_lp, out_resp, out_lab)


# --------------------------------------------------------------------------
# the statistics and row-wise passes over rows read from a file (``_fileio``)
#
# ``bufs`` holds one (chunk_rows, D) buffer per thread, in X's dtype; chunk
# ``c`` reads its rows into its thread's buffer and processes them while they
# are in cache. The chunks, and so the results, are those of the in-memory
# drivers on the same rows. ``status[c]`` gets the bytes read; nothing is
# computed for a chunk with a short read.
# --------------------------------------------------------------------------


@njit(parallel=True, **JIT)
def stats_file_parallel(
    fd, offset, n, chunk_rows, bufs, w, labels, mu, prec, mu64, const, nk, s1, s2, scal, status
):
    z = np.int64(0)  # not a literal 0: see the note above the drivers
    row_bytes = bufs.shape[2] * bufs.itemsize
    for c in prange(nk.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        buf = bufs[get_thread_id()]
        status[c] = read_rows(fd, buf, r1 - r0, offset + r0 * row_bytes)
        if status[c] == (r1 - r0) * row_bytes:
            _chunk_stats(
                buf, w, labels, z, r1 - r0, r0, mu, prec, mu64, const, nk[c], s1[c], s2[c], scal[c]
            )


@njit(**JIT)
def stats_file_serial(
    fd, offset, n, chunk_rows, bufs, w, labels, mu, prec, mu64, const, nk, s1, s2, scal, status
):
    z = np.int64(0)  # not a literal 0: see the note above the drivers
    row_bytes = bufs.shape[2] * bufs.itemsize
    for c in range(nk.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        buf = bufs[0]
        status[c] = read_rows(fd, buf, r1 - r0, offset + r0 * row_bytes)
        if status[c] == (r1 - r0) * row_bytes:
            _chunk_stats(
                buf, w, labels, z, r1 - r0, r0, mu, prec, mu64, const, nk[c], s1[c], s2[c], scal[c]
            )


@njit(parallel=True, **JIT)
def rowwise_file_parallel(
    fd, offset, n, chunk_rows, bufs, mu, prec, const, out_lp, out_resp, out_lab, status
):
    row_bytes = bufs.shape[2] * bufs.itemsize
    z = np.int64(0)
    for c in prange(status.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        buf = bufs[get_thread_id()]
        status[c] = read_rows(fd, buf, r1 - r0, offset + r0 * row_bytes)
        if status[c] == (r1 - r0) * row_bytes:
            _chunk_rowwise(buf, z, r1 - r0, r0, mu, prec, const, out_lp, out_resp, out_lab)


@njit(**JIT)
def rowwise_file_serial(
    fd, offset, n, chunk_rows, bufs, mu, prec, const, out_lp, out_resp, out_lab, status
):
    row_bytes = bufs.shape[2] * bufs.itemsize
    z = np.int64(0)
    for c in range(status.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        buf = bufs[0]
        status[c] = read_rows(fd, buf, r1 - r0, offset + r0 * row_bytes)
        if status[c] == (r1 - r0) * row_bytes:
            _chunk_rowwise(buf, z, r1 - r0, r0, mu, prec, const, out_lp, out_resp, out_lab)
