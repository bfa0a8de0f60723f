"""Kernels of the missing-data path: rows with NaN, grouped by missingness pattern.

Rows that hold at least one NaN are sorted by their *pattern* (the set of
missing coordinates). For every pattern ``p`` and component ``k`` the
``patterns_*`` kernels factor the observed block of the covariance once:

* ``Linv[p, k]``: inverse of the lower Cholesky factor of ``Sigma_OO``
  (``o x o``, zero-padded to ``D x D``);
* ``A[p, k] = Sigma_MO Sigma_OO^-1`` (``m x o``): the regression of the missing
  coordinates on the observed ones, so ``E[x_M - mu_M | x_O] = A (x_O - mu_O)``;
* ``Cc[p, k] = Sigma_MM - A Sigma_OM`` (``m x m``): the conditional covariance;
* ``cst[p, k] = log w_k - log det L - o/2 log(2 pi)``: so that
  ``log w_k + log N(x_O | mu_O, Sigma_OO) = cst - |Linv (x_O - mu_O)|^2 / 2``.

:func:`chunk_stats` then makes one pass over the sorted rows, in blocks of
up to ``BLOCK`` rows of one pattern transposed so that inner loops run over
rows (as in ``_em.py``): marginal log-densities, responsibilities (known
labels are one-hot), log-likelihood, and the expected sufficient statistics
centred on ``mu`` (missing coordinates filled with their conditional means);
or, for ``predict`` and ``score_samples``, only the marginal log-densities
(the same compiled kernel). The conditional covariance term is the
same for every row of a pattern, so the kernel only adds ``sum w * resp`` per
(pattern, component) into ``rsum``; :func:`add_condcov` adds
``rsum[p, k] * Cc[p, k]`` to the missing block afterwards.

As in ``_em.py``: the sorted rows are split into chunks, chunk ``c`` writes
its own partial sums (added by the caller in a fixed order), so results do
not depend on the thread count (``fastem._parallel.run_chunks`` runs the
chunks). Kernels never raise or allocate per row.

Shapes (``P`` patterns in this batch, ``K`` components, ``D`` features)::

    X      (n, D)        float32 or float64 with NaN, C-contiguous
    rows   (n_inc,) i64  indices of the rows with NaN, sorted by pattern
    pat    (n_inc,) i64  pattern of each sorted row, relative to this batch
    poff   (P + 1,) i64  rows of pattern p are rows[poff[p]:poff[p + 1]]
    obs    (P, D) i64    observed coordinates of each pattern (first nobs[p])
    mis    (P, D) i64    missing coordinates of each pattern (first nmis[p])
    Sigma  (K, D, D) f64 covariances;  mu (K, D) f64 means (the shift)
"""

import numpy as np

from ._bits import empty, zeros
from ._config import BLOCK, jit, kernel
from ._normalize import normalize, normalize_buffers

_LOG_2PI = np.log(2 * np.pi)

# --------------------------------------------------------------------------
# per-pattern factorizations
# --------------------------------------------------------------------------


@jit
def _pattern_one(Sigma, logw, obs, o, mis, m, k, L, Linv, A, Cc, B):
    """Factor component ``k`` for one pattern; return (cst, ok)."""
    for i in range(o):
        for j in range(i + 1):
            s = Sigma[k, obs[i], obs[j]]
            for t in range(j):
                s -= L[i, t] * L[j, t]
            if i == j:
                if not s > 0.0:
                    return 0.0, False
                L[i, i] = np.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    for i in range(o):
        for j in range(o):
            Linv[i, j] = 0.0
    logdet = 0.0
    for j in range(o):
        Linv[j, j] = 1.0 / L[j, j]
        logdet += np.log(L[j, j])
        for i in range(j + 1, o):
            s = 0.0
            for t in range(j, i):
                s -= L[i, t] * Linv[t, j]
            Linv[i, j] = s / L[i, i]
    # B = Sigma_MO Linv^T, A = B Linv, Cc = Sigma_MM - B B^T
    for a in range(m):
        for i in range(o):
            s = 0.0
            for t in range(i + 1):
                s += Sigma[k, mis[a], obs[t]] * Linv[i, t]
            B[a, i] = s
        for j in range(o):
            s = 0.0
            for i in range(j, o):
                s += B[a, i] * Linv[i, j]
            A[a, j] = s
    for a in range(m):
        for b in range(m):
            s = Sigma[k, mis[a], mis[b]]
            for i in range(o):
                s -= B[a, i] * B[b, i]
            Cc[a, b] = s
    return logw[k] - logdet - 0.5 * o * _LOG_2PI, True


@kernel
def pattern_range(Sigma, logw, obs, nobs, mis, nmis, q0, q1, Linv, A, Cc, cst, ok):
    K, D = Sigma.shape[0], Sigma.shape[1]
    L = zeros(D, D, Sigma)
    B = zeros(D, D, Sigma)
    for q in range(q0, q1):
        p = q // K
        k = q - p * K
        c, good = _pattern_one(
            Sigma, logw, obs[p], nobs[p], mis[p], nmis[p], k, L, Linv[p, k], A[p, k], Cc[p, k], B
        )
        cst[p, k] = c
        ok[p, k] = good


# --------------------------------------------------------------------------
# rows: blocks of up to BLOCK rows of one pattern, transposed so that the
# inner loops run over rows (as in _em.py)
# --------------------------------------------------------------------------


@jit
def _load_block(X, rows, t, nb, obs_p, o, xo):
    """xo[i, b] = X[rows[t + b], obs_p[i]] (observed coordinates, compacted)."""
    for b in range(nb):
        r = rows[t + b]
        for i in range(o):
            xo[i, b] = X[r, obs_p[i]]


@jit
def _centre_obs(xo, nb, obs_p, o, mu, k, dob):
    for i in range(o):
        m = mu[k, obs_p[i]]
        for b in range(nb):
            dob[i, b] = xo[i, b] - m


@jit
def _block_logp(xo, nb, p, obs, nobs, mu, Linv, cst, full, dob, y, y1, y2, y3, q, logp):
    """logp[k, b] = log w_k + log N(x_O | mu_kO, Sigma_kOO) for a block of pattern ``p``."""
    K = mu.shape[0]
    o = nobs[p]
    for k in range(K):
        _centre_obs(xo, nb, obs[p], o, mu, k, dob)
        for b in range(nb):
            q[b] = 0.0
        i = 0
        if full:  # four rows of Linv per pass (Linv is zero above the diagonal)
            while i + 4 <= o:
                for b in range(nb):
                    y[b] = 0.0
                    y1[b] = 0.0
                    y2[b] = 0.0
                    y3[b] = 0.0
                for j in range(i + 4):
                    c0 = Linv[p, k, i, j]
                    c1 = Linv[p, k, i + 1, j]
                    c2 = Linv[p, k, i + 2, j]
                    c3 = Linv[p, k, i + 3, j]
                    for b in range(nb):
                        d = dob[j, b]
                        y[b] += c0 * d
                        y1[b] += c1 * d
                        y2[b] += c2 * d
                        y3[b] += c3 * d
                for b in range(nb):
                    q[b] += y[b] * y[b] + y1[b] * y1[b] + y2[b] * y2[b] + y3[b] * y3[b]
                i += 4
        tiled = i
        for i in range(tiled, o):
            for b in range(nb):
                y[b] = 0.0
            # diagonal covariances: Linv is diagonal, only j = i contributes
            for j in range(0 if full else i, i + 1):
                c = Linv[p, k, i, j]
                for b in range(nb):
                    y[b] += c * dob[j, b]
            for b in range(nb):
                q[b] += y[b] * y[b]
        c = cst[p, k]
        for b in range(nb):
            logp[k, b] = c - 0.5 * q[b]


@jit
def _row_moments(rd, diff, nb, i, D, s2k):
    """s2k[i * D + j] += sum_b rd[b] * diff[j, b] for j >= i, four columns per pass."""
    j = i
    while j + 4 <= D:
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        for b in range(nb):
            r = rd[b]
            a0 += r * diff[j, b]
            a1 += r * diff[j + 1, b]
            a2 += r * diff[j + 2, b]
            a3 += r * diff[j + 3, b]
        s2k[i * D + j] += a0
        s2k[i * D + j + 1] += a1
        s2k[i * D + j + 2] += a2
        s2k[i * D + j + 3] += a3
        j += 4
    while j < D:
        acc = 0.0
        for b in range(nb):
            acc += rd[b] * diff[j, b]
        s2k[i * D + j] += acc
        j += 1


@jit
def _block_end(pat, poff, t, i1, block):
    return min(i1, poff[pat[t] + 1], t + block)


@kernel
def chunk_stats(
    X, rows, pat, poff, i0, i1, w, labels, obs, nobs, mis, nmis, mu, Linv, A, cst, full, out,
    nk, s1, s2, rsum, scal,
):  # fmt: skip
    """One chunk's expected statistics; or, when ``out`` (n_rows, K) is non-empty, only
    its rows' log w_k + marginal log-densities, written to ``out[t]`` for sorted row ``t``
    (one compiled kernel for both: a ``predict`` after a fit compiles nothing more)."""
    K, D = mu.shape
    logp_only = out.shape[0] > 0
    # float64 buffers like mu, int64 like rows (``_bits.empty``: nothing to compile)
    nbuf = min(BLOCK, max(i1 - i0, 1))
    xo = empty(D, nbuf, mu)
    dob = empty(D, nbuf, mu)
    diff = empty(D, nbuf, mu)
    vecs = empty(7, nbuf, mu)  # seven row buffers, one allocation
    y, y1, y2, y3, q, rd, wv = vecs[0], vecs[1], vecs[2], vecs[3], vecs[4], vecs[5], vecs[6]
    logp, m, s, poly, _, lab_lp, ev = normalize_buffers(K, nbuf, nbuf, mu, rows)
    lv = empty(1, nbuf, rows)[0]
    has_w = w.shape[0] > 0
    has_lab = labels.shape[0] > 0
    t = i0
    while t < i1:
        p = pat[t]
        end = _block_end(pat, poff, t, i1, BLOCK)
        nb = end - t
        o = nobs[p]
        mm = nmis[p]
        _load_block(X, rows, t, nb, obs[p], o, xo)
        _block_logp(xo, nb, p, obs, nobs, mu, Linv, cst, full, dob, y, y1, y2, y3, q, logp)
        if logp_only:
            for b in range(nb):
                for k in range(K):
                    out[t + b, k] = logp[k, b]
            t = end
            continue
        # normalize into w * resp (known labels: one-hot): the complete-data
        # kernel's step, on this block's weights and labels gathered in order
        for b in range(nb):
            r = rows[t + b]
            if has_w:
                wv[b] = w[r]
            if has_lab:
                lv[b] = labels[r]
        # row offset 0 as a run-time int64: a literal 0 would compile a second normalize
        normalize(
            logp, nb, wv if has_w else w, lv if has_lab else labels, np.int64(0), m, s, poly,
            lab_lp, ev, scal,
        )  # fmt: skip
        # logp is now w * resp (in place)
        # expected statistics, centred on mu_k; missing coordinates filled
        for k in range(K):
            tot = 0.0
            for b in range(nb):
                tot += logp[k, b]
            if tot == 0.0:
                continue
            nk[k] += tot
            rsum[p, k] += tot
            _centre_obs(xo, nb, obs[p], o, mu, k, dob)
            for i in range(o):
                jd = obs[p, i]
                for b in range(nb):
                    diff[jd, b] = dob[i, b]
            for a in range(mm):
                for b in range(nb):
                    y[b] = 0.0
                # diagonal covariances: A = 0, the missing coordinates sit at the mean
                for j in range(o if full else 0):
                    c = A[p, k, a, j]
                    for b in range(nb):
                        y[b] += c * dob[j, b]
                jd = mis[p, a]
                for b in range(nb):
                    diff[jd, b] = y[b]
            for i in range(D):
                for b in range(nb):
                    rd[b] = logp[k, b] * diff[i, b]
                acc = 0.0
                for b in range(nb):
                    acc += rd[b]
                s1[k, i] += acc
                if full:
                    _row_moments(rd, diff, nb, i, D, s2[k])
                else:
                    acc = 0.0
                    for b in range(nb):
                        acc += rd[b] * diff[i, b]
                    s2[k, i] += acc
        t = end


@kernel
def add_condcov(rsum, Cc, mis, nmis, s2):
    """s2[k][M_p, M_p] += rsum[p, k] * Cc[p, k]; ``s2`` is (K, D, D) or (K, D) (diagonal)."""
    P, K = rsum.shape
    D = Cc.shape[2]
    full = s2.size == K * D * D
    flat = s2.reshape(K, -1)
    for p in range(P):
        mm = nmis[p]
        for k in range(K):
            r = rsum[p, k]
            if r == 0.0:
                continue
            for a in range(mm):
                if full:
                    for b in range(mm):
                        flat[k, mis[p, a] * D + mis[p, b]] += r * Cc[p, k, a, b]
                else:
                    flat[k, mis[p, a]] += r * Cc[p, k, a, a]
