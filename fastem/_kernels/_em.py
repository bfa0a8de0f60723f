"""The fused EM pass and the row-wise (predict) outputs: one kernel per dtype.

One call of :func:`pass_chunk` is one chunk of rows of a pass over ``X``:
for every block of ``BLOCK`` rows it computes the Gaussian log-densities of all components,
normalizes them into responsibilities with log-sum-exp, adds the
log-likelihood, and accumulates the weighted sufficient statistics centred on
the current means; or, when the caller hands it row-wise outputs, writes the
rows' log p(x), responsibilities or labels instead. Rows are split into chunks
of ``chunk_rows`` rows (a function of ``n_samples`` only); the caller
(:func:`fastem._parallel.run_chunks`) runs the chunks on a pool of Python
threads, chunk ``c`` writes its own partial sums into ``nk[c]``, ``s1[c]``,
``s2[c]`` and ``scal[c]``, and the caller adds them in chunk order: results
are bit-identical for any number of threads.

Each covariance family has its own block functions (log-density and statistics:
full and tied, diagonal and spherical), called by address (below), so a call
compiles only the tiles it runs: a diagonal fit never compiles the
full-covariance tiles. The kernel itself, the loop over blocks, is one per
dtype for every family. The statistics and the row-wise outputs share it, so a
``predict`` after a fit compiles only the row-wise outputs' block function (which a fit's
helper process compiles ahead, ``_ahead``). There are no ``prange`` drivers.

Inside a block (``block_rows``: 64-256 rows for full and tied, 256-1024 for
diagonal and spherical; a function of the shape and the L2 cache's size) the
rows are transposed into a ``(Dp, rows)`` buffer, ``Dp`` = ``D`` rounded up to
``TILE`` with zero padding, so every inner loop runs over rows and vectorizes:

* full/tied log-density: ``y = U^T (x - c) - U^T (mu - c)`` (``c`` the mean of the
  means, taken out of the block once; float32: ``U^T (x - mu)``) for 16 rows (float32:
  32) x 8 columns of the upper-triangular ``U`` at a time, the sums in registers (LLVM
  vector IR, ``_density._tri_rows``), the squares summed into ``q``; float64 with one ``U``
  for every component (tied, EEE: ``chunk_kernel``'s ``tied``): ``U^T (x - c)`` once per
  row, in place (``_density._tri_store``), then ``|y - U^T (mu - c)|^2`` per component as
  the diagonal tiles sum theirs (``_density.logprob_tied``);
* diagonal/spherical log-density: ``sum_d (x_d p_kd - mu_kd p_kd)^2`` for 16
  rows (float32: 32) x 8 components at a time, the sums in registers over all
  features (``_density._diag_rows``);
* normalization: strips of 16 rows whose maxima, ``exp`` (in registers:
  Numba's ``np.exp`` is a scalar libm call without SVML), sums and ``resp = w * e / s``
  never leave registers but for the strip's logp, in L1 (LLVM vector IR,
  ``_normalize.softmax``), and a vectorizable ``log`` (``log_into``) for log-sum-exp;
* statistics: the upper triangle of ``(resp (x - mu))^T (x - mu)``, from 32
  padded features on in register tiles over a row-major copy of the block (two
  vectors of features x 8 broadcast ones, LLVM vector IR,
  ``_statistics.accumulate_tiled``), below in 4 x 4 tiles of 16 sums over rows that
  make x - mu in registers (diagonal: 2 components x 2 features per pass).

Precision. Log-densities are computed in X's dtype (as scikit-learn does).
The statistics are always float64 and centred on the current means (never
raw moments), whatever X's dtype: a float32 block is widened once
(``as_float64``) so that the partition of rows into blocks, chunks or Dask
blocks changes the statistics only by float64 rounding. Normalization (exp,
log-sum-exp) is float64.

Kernels never validate, raise or allocate per row: buffers are allocated once
per chunk. The block helpers live in ``_density`` (load, log-densities),
``normalize`` (exp, log-sum-exp, responsibilities) and ``_statistics``;
``_cache`` keeps Numba's disk cache consistent across these modules.

The block functions are compiled once per process each and called by address
(``_shared``; the kernels' last argument ``fns``, from :func:`chunk_kernel`):
the normalization, the row-wise outputs and each family's statistics (all
float64) serve both dtypes, and each family's log-density is compiled once per
dtype. A kernel itself is the loop over blocks: it inlines, types and optimizes
none of them again, and a float32 kernel compiles only its own load and
log-density. Scratch buffers come from ``_bits.zeros`` / ``_bits.empty``, which
compile no allocation overload for either dtype.

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
    nk     (K,)        sum of w * resp               (one chunk's row of the
    s1     (K, D)      sum of w * resp * (x - mu_k)   caller's (C, ...) arrays)
    s2     (K, D*D)    upper triangle of sum of w * resp * (x - mu_k)(x - mu_k)^T,
                       row-major (full, tied)
           (K, D)      its diagonal (diag, spherical)
    scal   (2,)        [sum of w * log p(x), sum of w]
    out_lp   (n,) f64    log p(x)          (row-wise outputs: each empty
    out_resp (n, K) f64  responsibilities   when not wanted; all empty in
    out_lab  (n,) i64    labels             an EM pass)
    fns    (6,) int64  addresses: normalization, row-wise outputs, statistics, log-density,
                       block load; then the full family's block budget in bytes

A row-wise call passes empty ``nk``, ``s1``, ``s2`` and ``scal`` (nothing is
accumulated) with the types of an EM pass's, so both share one specialization.
"""

import numpy as np

from . import _ahead
from ._bits import empty, zeros
from ._config import PAD, full_block_bytes, kernel, wide_vectors
from ._density import (
    block_rows,
    diag_logprob,
    full_logprob,
    load_tiles,
    shared_load,
    tied_logprob,
    tiled_load,
)
from ._normalize import log_into, normalize_buffers, shared_normalize, softmax
from ._shared import F1, F2, I1, I8, Shared
from ._statistics import (
    as_float64,
    diag_stats,
    full_buffers,
    full_stats,
    register_tiles,
    tiled_stats,
)

# --------------------------------------------------------------------------
# one chunk of a pass: rows r0:r1 of X; row i of X has its weight and label at
# w[w0 + i], labels[w0 + i] and its row-wise outputs at row w0 + i of out_*
# --------------------------------------------------------------------------


def _rowwise_outputs(logp, nb, K, o, m, s, poly, bits, out_lp, out_resp, out_lab):
    wide_vectors()
    if out_lab.shape[0] > 0:
        # the first component of largest log-density; over rows, so that it vectorizes
        for b in range(nb):
            m[b] = logp[0, b]
            bits[b] = 0
        for k in range(1, K):
            for b in range(nb):
                if logp[k, b] > m[b]:
                    m[b] = logp[k, b]
                    bits[b] = k
        for b in range(nb):
            out_lab[o + b] = bits[b]
    want_lp = out_lp.shape[0] > 0
    want_resp = out_resp.shape[0] > 0
    if want_lp or want_resp:
        softmax(logp, nb, m, s, s[:0])
        if want_lp:
            log_into(s, nb, poly)
            for b in range(nb):
                out_lp[o + b] = m[b] + poly[b]
        if want_resp:
            for b in range(nb):
                s[b] = 1.0 / s[b] if s[b] > 0.0 else 0.0
            for b in range(nb):
                for k in range(K):
                    out_resp[o + b, k] = logp[k, b] * s[b]


rowwise_outputs = Shared(
    _rowwise_outputs, (F2, I8, I8, I8, F1, F1, F1, I1, F1, F2, I1), ordered=True
)

# the intrinsics that call them by address (``_shared``)
_normalize = shared_normalize.call
_rowwise = rowwise_outputs.call
_stats = full_stats.call  # either family's: the same signature
_logprob = full_logprob.call  # either family's, in X's dtype
_load = shared_load.call  # either load's: the same signatures


def chunk_kernel(full, dtype, n_features, rows=False, args=None, tied=False):
    """``(kernel, fns)``: the chunk kernel and its last argument, the addresses of the
    normalization, the row-wise outputs, the family's statistics (for ``n_features``:
    :func:`statistics_functions`), its log-density in ``dtype`` (X's, float32 or float64;
    ``tied``, one precision factor for every component: float64 blocks transformed once,
    ``_density.logprob_tied``) and the block load in that dtype, then the block budget of
    the full family (``_config.full_block_bytes``, from the L2 cache).

    Each is compiled once per process (the first three for both dtypes), and the kernel
    calls them through these addresses (``_shared``): its own module holds none of them,
    so it does not optimize them again. Only what the call runs is
    compiled: ``rows`` (row-wise outputs wanted: the kernel's own test, some ``out_*``
    non-empty) needs the row-wise outputs, a statistics pass the normalization and the
    statistics; the others' addresses are 0 and never called. So a fit compiles no
    row-wise outputs, and a ``predict`` with a loaded model no statistics.

    ``args``, the pass's kernel arguments but ``fns``: while a helper process compiles the
    others (``_ahead``: a fit's first pass, a loaded model's first ``predict``), the kernel
    is compiled for their types between the log-density and the others, instead of at its
    first call.
    """
    i = 0 if dtype == np.float64 else 1
    if rows:  # on an empty cache (a loaded model's first predict), a helper compiles the
        # row-wise outputs and the block load while this process compiles the rest
        _ahead.start(full, dtype, n_features, True)
    if tied and dtype == np.float64:
        logprob = tied_logprob.address(0)
    else:
        logprob = (full_logprob if full else diag_logprob).address(i)
    if args is not None and _ahead.pending():
        sig = tuple(map(pass_chunk.typeof_pyval, (*args, (0,) * 6)))
        if sig not in pass_chunk.overloads:  # (compile takes Numba's lock, even if compiled)
            pass_chunk.compile(sig)
    if rows:
        norm, stats = 0, 0
        rowwise, load = (fn.address(j) for fn, j in rowwise_functions(dtype, n_features))
    else:
        rowwise = 0
        functions = statistics_functions(full, dtype, n_features)
        norm, stats, load = (fn.address(j) for fn, j in functions)
    return pass_chunk, (norm, rowwise, stats, logprob, load, full_block_bytes())


def rowwise_functions(dtype, n_features):
    """The ``(Shared function, signature index)`` pairs of a row-wise pass of
    ``n_features`` features that :func:`chunk_kernel` compiles after the log-density (a
    helper's share, ``_ahead``)."""
    return [(rowwise_outputs, 0), _load_function(dtype, n_features)]


def statistics_functions(full, dtype, n_features):
    """The ``(Shared function, signature index)`` pairs of a statistics pass that
    :func:`chunk_kernel` compiles after the log-density (a helper's share, ``_ahead``).
    The full family's statistics of ``n_features`` features: register tiles or not
    (``_statistics.register_tiles``, the rule the kernel's buffers follow too), and the
    block load for them (:func:`_load_function`)."""
    if not full:
        stats = diag_stats
    else:
        stats = tiled_stats if register_tiles(n_features) else full_stats
    return [(shared_normalize, 0), (stats, 0), _load_function(dtype, n_features)]


def _load_function(dtype, n_features):
    """The block load a pass of ``n_features`` features in ``dtype`` runs (and compiles):
    transposed tiles or not (``_density.load_tiles``), with its signature index."""
    load = tiled_load if load_tiles(n_features, dtype) else shared_load
    return load, 0 if dtype == np.float64 else 1


@kernel
def pass_chunk(
    X, w, labels, r0, r1, w0, mu, prec, mu64, const, npm, nk, s1, s2, scal,
    out_lp, out_resp, out_lab, fns,
):  # fmt: skip
    """One chunk of a pass: its statistics, or, when any ``out_*`` is non-empty, its
    row-wise outputs instead (one compiled kernel for both: a ``predict`` after a fit
    compiles no second kernel).

    One kernel for every covariance family: the family is ``prec``'s shape ((K, Dp, Dp)
    full and tied, (K, 1, Dp) diagonal and spherical) and the functions whose addresses
    ``fns`` holds (its log-density and statistics, :func:`chunk_kernel`). The two
    families' block functions take the same arguments (``npm``, made once per pass with
    the parameters, ``fastem._passes.log_density_start``, is -U^T (mu - c) for the float64
    full log-density, with ``xs`` its block shifted by ``c``, zero for the float32 one,
    with ``xs`` the block centred on each mean in turn, and -mu p for the diagonal one,
    which ignores ``xs`` and ``q``; the diagonal statistics ignore ``xr`` and ``rd``), so
    a second family compiles its own block functions only.
    """
    K, Dp = mu.shape
    full = prec.shape[1] > 1
    rows = out_lp.shape[0] + out_resp.shape[0] + out_lab.shape[0] > 0
    B = block_rows(Dp, K, full, fns[5])
    Bp = B + PAD
    # buffers in X's dtype (like X) or float64 (like mu64), from ``_bits.zeros`` /
    # ``_bits.empty``: no np.zeros / np.empty overload to compile, for either dtype;
    # the full family's ``xs`` and ``q`` and its statistics' buffers (``xr``, ``rd``:
    # ``_statistics.full_buffers``: those of its register tiles) are empty for the diagonal
    xt = zeros(Dp, Bp, X)
    x64 = zeros(Dp if X.itemsize == 4 else 0, Bp, mu64)  # float32's block widened
    xs = zeros(Dp if full else 0, Bp, X)
    q = empty(1, B if full else 0, X)[0]
    logp, m, s, poly, bits, lab_lp, ev = normalize_buffers(K, Bp, B, mu64, labels)
    n1, m1, n2, m2 = full_buffers(Dp, Bp) if full else (0, Bp, 0, Bp)
    xr = zeros(n1, m1, mu64)
    rd = zeros(n2, m2, mu64)
    for start in range(r0, r1, B):
        nb = min(B, r1 - start)
        _load(fns[4], X, start, nb, xt)
        _logprob(fns[3], xt, nb, mu, prec, const, xs, npm, q, logp)
        if rows:
            _rowwise(fns[1], logp, nb, K, w0 + start, m, s, poly, bits, out_lp, out_resp, out_lab)
            continue
        # logp becomes w * resp (in place)
        _normalize(fns[0], logp, nb, w, labels, w0 + start, m, s, poly, lab_lp, ev, scal)
        # float32: the block widened once, not once per component
        _stats(fns[2], as_float64(xt, nb, x64), nb, mu64, logp, xr, rd, nk, s1, s2)
