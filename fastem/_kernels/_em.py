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

Kernels never validate, raise or allocate per row: buffers are allocated once
per chunk. Every helper lives in this module so that Numba's on-disk cache
(keyed on this file) is invalidated together with its callees.

Shapes (``K`` components, ``D`` features, ``C`` chunks, ``B = BLOCK``)::

    X      (n, D)      float32 or float64, C-contiguous
    w      (n,) f64    sample weights, or an empty array for unit weights
    labels (n,) i64    known component (>= 0) or -1, or an empty array
    mu     (K, D)      means (shift), in X's dtype
    prec   (K, D, D)   upper-triangular precision Cholesky factors (full, tied)
           (K, 1, D)   diagonal precision Cholesky factors (diag, spherical)
    const  (K,) f64    log weight + log det(prec_chol) - D/2 log(2 pi)
    nk     (C, K)      sum of w * resp
    s1     (C, K, D)   sum of w * resp * (x - mu_k)
    s2     (C, K, D, D) upper triangle of sum of w * resp * (x - mu_k)(x - mu_k)^T
           (C, K, D)   its diagonal (diag, spherical)
    scal   (C, 2)      [sum of w * log p(x), sum of w]
"""

import numpy as np
from numba import njit, prange

from ._config import BLOCK, JIT

# --------------------------------------------------------------------------
# block helpers: fill logp[k, :nb] with log(weight_k) + log N(x_b | k)
# --------------------------------------------------------------------------


@njit(**JIT)
def _load_block(X, start, nb, xt):
    D = X.shape[1]
    for b in range(nb):
        for d in range(D):
            xt[d, b] = X[start + b, d]


@njit(**JIT)
def _centre(xt, mu, k, nb, diff):
    D = xt.shape[0]
    for d in range(D):
        m = mu[k, d]
        for b in range(nb):
            diff[d, b] = xt[d, b] - m


@njit(**JIT)
def _logprob_full(xt, nb, mu, prec, const, diff, y, q, logp):
    K, D = mu.shape
    for k in range(K):
        _centre(xt, mu, k, nb, diff)
        for b in range(nb):
            q[b] = 0
        for j in range(D):
            p = prec[k, 0, j]
            for b in range(nb):
                y[b] = diff[0, b] * p
            for i in range(1, j + 1):
                p = prec[k, i, j]
                for b in range(nb):
                    y[b] += diff[i, b] * p
            for b in range(nb):
                q[b] += y[b] * y[b]
        c = const[k]
        for b in range(nb):
            logp[k, b] = c - 0.5 * q[b]


@njit(**JIT)
def _logprob_diag(xt, nb, mu, prec, const, diff, q, logp):
    K, D = mu.shape
    for k in range(K):
        _centre(xt, mu, k, nb, diff)
        for b in range(nb):
            q[b] = 0
        for d in range(D):
            p = prec[k, 0, d]
            for b in range(nb):
                t = diff[d, b] * p
                q[b] += t * t
        c = const[k]
        for b in range(nb):
            logp[k, b] = c - 0.5 * q[b]


@njit(**JIT)
def _normalize(logp, nb, w, labels, start, m, s):
    """Turn logp[:, :nb] into w * resp in place; return (sum w*log p(x), sum w).

    Rows with a known label keep their component: resp is one-hot and the row
    contributes log(weight_j) + log N(x | j).
    """
    K = logp.shape[0]
    for b in range(nb):
        m[b] = logp[0, b]
    for k in range(1, K):
        for b in range(nb):
            if logp[k, b] > m[b]:
                m[b] = logp[k, b]
    for b in range(nb):
        s[b] = 0.0
    for k in range(K):
        for b in range(nb):
            s[b] += np.exp(logp[k, b] - m[b])
    has_w = w.shape[0] > 0
    has_lab = labels.shape[0] > 0
    ll = 0.0
    wsum = 0.0
    for b in range(nb):
        lse = m[b] + np.log(s[b])
        if has_lab and labels[start + b] >= 0:
            lse = logp[labels[start + b], b]
        wb = w[start + b] if has_w else 1.0
        ll += wb * lse
        wsum += wb
        # -inf: the row has zero density everywhere; its resp becomes 0 and
        # the caller sees ll = -inf.
        m[b] = lse if lse > -np.inf else np.inf
        s[b] = wb
    for k in range(K):
        for b in range(nb):
            logp[k, b] = np.exp(logp[k, b] - m[b]) * s[b]
    if has_lab:
        for b in range(nb):
            lab = labels[start + b]
            if lab >= 0:
                for k in range(K):
                    logp[k, b] = s[b] if k == lab else 0.0
    return ll, wsum


@njit(**JIT)
def _accumulate(xt, nb, mu, resp, full, diff, rd, nk, s1, s2):
    """Add the centred, weighted statistics of one block (resp = w * resp)."""
    K, D = mu.shape
    for k in range(K):
        tot = 0.0
        for b in range(nb):
            tot += resp[k, b]
        if tot == 0.0:
            continue
        nk[k] += tot
        _centre(xt, mu, k, nb, diff)
        for i in range(D):
            for b in range(nb):
                rd[b] = resp[k, b] * diff[i, b]
            acc = 0.0
            for b in range(nb):
                acc += rd[b]
            s1[k, i] += acc
            if full:
                for j in range(i, D):
                    acc = 0.0
                    for b in range(nb):
                        acc += rd[b] * diff[j, b]
                    s2[k, i * D + j] += acc
            else:
                acc = 0.0
                for b in range(nb):
                    acc += rd[b] * diff[i, b]
                s2[k, i] += acc


# --------------------------------------------------------------------------
# one chunk of rows
# --------------------------------------------------------------------------


@njit(**JIT)
def _chunk_stats(X, w, labels, r0, r1, mu, prec, const, nk, s1, s2, scal):
    K, D = mu.shape
    full = prec.shape[1] > 1
    xt = np.empty((D, BLOCK), dtype=X.dtype)
    diff = np.empty((D, BLOCK), dtype=X.dtype)
    y = np.empty(BLOCK, dtype=X.dtype)
    q = np.empty(BLOCK, dtype=X.dtype)
    logp = np.empty((K, BLOCK), dtype=np.float64)
    m = np.empty(BLOCK, dtype=np.float64)
    s = np.empty(BLOCK, dtype=np.float64)
    rd = np.empty(BLOCK, dtype=np.float64)
    s2flat = s2.reshape((K, -1))
    for start in range(r0, r1, BLOCK):
        nb = min(BLOCK, r1 - start)
        _load_block(X, start, nb, xt)
        if full:
            _logprob_full(xt, nb, mu, prec, const, diff, y, q, logp)
        else:
            _logprob_diag(xt, nb, mu, prec, const, diff, q, logp)
        ll, ws = _normalize(logp, nb, w, labels, start, m, s)
        scal[0] += ll
        scal[1] += ws
        _accumulate(xt, nb, mu, logp, full, diff, rd, nk, s1, s2flat)


@njit(**JIT)
def _chunk_rowwise(X, r0, r1, mu, prec, const, out_lp, out_resp, out_lab):
    K, D = mu.shape
    full = prec.shape[1] > 1
    xt = np.empty((D, BLOCK), dtype=X.dtype)
    diff = np.empty((D, BLOCK), dtype=X.dtype)
    y = np.empty(BLOCK, dtype=X.dtype)
    q = np.empty(BLOCK, dtype=X.dtype)
    logp = np.empty((K, BLOCK), dtype=np.float64)
    m = np.empty(BLOCK, dtype=np.float64)
    s = np.empty(BLOCK, dtype=np.float64)
    want_lp = out_lp.shape[0] > 0
    want_resp = out_resp.shape[0] > 0
    want_lab = out_lab.shape[0] > 0
    for start in range(r0, r1, BLOCK):
        nb = min(BLOCK, r1 - start)
        _load_block(X, start, nb, xt)
        if full:
            _logprob_full(xt, nb, mu, prec, const, diff, y, q, logp)
        else:
            _logprob_diag(xt, nb, mu, prec, const, diff, q, logp)
        if want_lab:
            for b in range(nb):
                best = 0
                for k in range(1, K):
                    if logp[k, b] > logp[best, b]:
                        best = k
                out_lab[start + b] = best
        if want_lp or want_resp:
            for b in range(nb):
                m[b] = logp[0, b]
            for k in range(1, K):
                for b in range(nb):
                    if logp[k, b] > m[b]:
                        m[b] = logp[k, b]
            for b in range(nb):
                s[b] = 0.0
            for k in range(K):
                for b in range(nb):
                    s[b] += np.exp(logp[k, b] - m[b])
            for b in range(nb):
                m[b] = m[b] + np.log(s[b])
            if want_lp:
                for b in range(nb):
                    out_lp[start + b] = m[b]
            if want_resp:
                for b in range(nb):
                    for k in range(K):
                        out_resp[start + b, k] = np.exp(logp[k, b] - m[b])


# --------------------------------------------------------------------------
# drivers: the same chunk function in parallel (prange) or serially
# --------------------------------------------------------------------------


@njit(parallel=True, **JIT)
def stats_parallel(X, w, labels, chunk_rows, mu, prec, const, nk, s1, s2, scal):
    n = X.shape[0]
    for c in prange(nk.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_stats(X, w, labels, r0, r1, mu, prec, const, nk[c], s1[c], s2[c], scal[c])


@njit(**JIT)
def stats_serial(X, w, labels, chunk_rows, mu, prec, const, nk, s1, s2, scal):
    n = X.shape[0]
    for c in range(nk.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_stats(X, w, labels, r0, r1, mu, prec, const, nk[c], s1[c], s2[c], scal[c])


@njit(parallel=True, **JIT)
def rowwise_parallel(X, chunk_rows, n_chunks, mu, prec, const, out_lp, out_resp, out_lab):
    n = X.shape[0]
    for c in prange(n_chunks):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_rowwise(X, r0, r1, mu, prec, const, out_lp, out_resp, out_lab)


@njit(**JIT)
def rowwise_serial(X, chunk_rows, n_chunks, mu, prec, const, out_lp, out_resp, out_lab):
    n = X.shape[0]
    for c in range(n_chunks):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        _chunk_rowwise(X, r0, r1, mu, prec, const, out_lp, out_resp, out_lab)
