"""The passes in NumPy, for inputs too small to be worth a compiler.

A fitted kernel is fast, but compiling it costs seconds on a machine (or in a
container, CI runner or Dask worker) that has no cached copy yet. For a
small input (``n_rows * n_components * n_features <= SMALL_WORK``) the
whole fit takes milliseconds in NumPy, so fastem runs these functions
instead and never starts the compiler. They compute what the kernels
compute, with the same conventions (log-densities in X's dtype, statistics
in float64 centred on the current means, labels, weights, rows of zero
density), and are tested against them (``tests/test_small.py``).

Which one runs is a function of the size of the whole input only (never of
what happens to be compiled or cached), decided once per pass by
:func:`is_small` and carried in ``KernelParams.small``: the same data always
gives the same result.
"""

import os

import numpy as np

from ._stats import SuffStats


def _small_work(text):
    """``FASTEM_SMALL_WORK``'s value; unset or empty: 2**20."""
    if text is None or not text.strip():
        return 1 << 20
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"the environment variable FASTEM_SMALL_WORK={text!r} is not an integer; set it to "
            "the largest n_rows * n_components * n_features to run in NumPy (0: always the "
            "compiled kernels), or unset it."
        ) from None


#: Largest ``n_rows * n_components * n_features`` run in NumPy. Old Faithful
#: with 5 components is 2,720; 10,000 rows of 8 features with 8 components is
#: 640,000. Above it, the compiled kernels run. The environment variable
#: ``FASTEM_SMALL_WORK`` sets it (0: always the kernels, as the tests do).
SMALL_WORK = _small_work(os.environ.get("FASTEM_SMALL_WORK"))


def is_small(n_rows, n_components, n_features):
    """True if a pass over ``n_rows`` rows runs in NumPy (None: unknown, not small)."""
    return n_rows is not None and n_rows * n_components * max(n_features, 1) <= SMALL_WORK


def _log_densities(X, params):
    """(n, K) float64: log w_k + log N(x | k), as the kernels compute it (in X's dtype)."""
    mu, prec = params.mu, params.prec
    n, D = X.shape
    K = mu.shape[0]
    out = np.empty((n, K))
    for k in range(K):
        diff = X - mu[k]
        y = diff @ prec[k] if prec.shape[1] > 1 else diff * prec[k, 0]
        out[:, k] = params.const[k] - 0.5 * np.einsum("ij,ij->i", y, y).astype(np.float64)
    return out


def _softmax(logp):
    """Row maxima (0 for a row of -inf), exps of logp - max, and their sums."""
    m = logp.max(axis=1)
    m[~(m > -np.inf)] = 0.0
    e = np.exp(logp - m[:, None])
    return m, e, e.sum(axis=1)


def stats(X, w, labels, params):
    """:class:`SuffStats` of ``X`` under ``params``, as ``fastem._passes.array_stats``."""
    n, D = X.shape
    K = params.mu.shape[0]
    logp = _log_densities(X, params)
    m, e, s = _softmax(logp)
    with np.errstate(divide="ignore"):
        lse = m + np.log(s)
    wv = np.ones(n) if w is None or w.shape[0] == 0 else np.asarray(w, dtype=np.float64)
    safe = np.where(s > 0, s, 1.0)
    resp = e * np.where(s > 0, wv / safe, 0.0)[:, None]
    if labels is not None and labels.shape[0]:
        known = labels >= 0
        rows = np.flatnonzero(known)
        lse[rows] = logp[rows, labels[rows]]
        resp[rows] = 0.0
        resp[rows, labels[rows]] = wv[rows]
    X64 = X.astype(np.float64, copy=False)
    s1 = np.zeros((K, D))
    full = params.prec.shape[1] > 1
    s2 = np.zeros((K, D, D) if full else (K, D))
    for k in range(K):
        diff = X64 - params.shift[k]
        rd = diff * resp[:, k, None]
        s1[k] = rd.sum(axis=0)
        s2[k] = rd.T @ diff if full else (rd * diff).sum(axis=0)
    s2 = s2.reshape(params.stats_shape)  # one feature: (K, 1) is (K, 1, 1)
    ll = float(wv @ np.where(wv != 0.0, lse, 0.0))  # a row of weight 0 adds 0, -inf or not
    return SuffStats(resp.sum(axis=0), s1, s2, ll, float(wv.sum()), n, params.shift)


def rowwise(X, params, *, logprob=False, resp=False, labels=False):
    """``(log p(x), resp, argmax)`` as ``fastem._passes.array_rowwise`` (None where not asked)."""
    logp = _log_densities(X, params)
    lab = np.argmax(logp, axis=1).astype(np.int64) if labels else None
    lp = r = None
    if logprob or resp:
        m, e, s = _softmax(logp)
        if logprob:
            with np.errstate(divide="ignore"):
                lp = m + np.log(s)
        if resp:
            r = e * np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), 0.0)[:, None]
    return lp, r, lab


# --------------------------------------------------------------------------
# k-means (initialization), as fastem._kernels._kmeans computes it per chunk
# --------------------------------------------------------------------------


def _sqdist(X, centers):
    """(n, T) squared distances, each summed over features in order (as the kernel)."""
    out = np.zeros((X.shape[0], centers.shape[0]))
    for d in range(X.shape[1]):
        t = X[:, d, None] - centers[None, :, d]
        out += t * t
    return out


def potentials(X, w, closest, cands, starts, pots, update):
    """pots[c, t] = sum over chunk c of w * min(closest, |x - cands[t]|^2)."""
    dist = np.minimum(closest[:, None], _sqdist(X, cands))
    if update:
        closest[:] = dist[:, 0]
    if w.shape[0]:
        dist = dist * w[:, None]
    pots[:] = np.add.reduceat(dist, starts, axis=0)


def pick_in_chunk(closest, w, r0, r1, target):
    """First row in [r0, r1) where the running sum of w * closest exceeds target."""
    v = closest[r0:r1] * w[r0:r1] if w.shape[0] else closest[r0:r1]
    i = int(np.searchsorted(np.cumsum(v), target, side="right"))
    return r0 + min(i, r1 - r0 - 1)


def lloyd(X, w, centers, starts, sums, counts, labels):
    """One assignment pass: per-chunk weighted sums and counts; labels if asked."""
    n = X.shape[0]
    dist = _sqdist(X, centers)
    best = np.argmin(dist, axis=1)
    wv = w if w.shape[0] else np.ones(n)
    bounds = list(starts[1:]) + [n]
    for c, (r0, r1) in enumerate(zip(starts, bounds)):
        b = best[r0:r1]
        counts[c] = np.bincount(b, weights=wv[r0:r1], minlength=centers.shape[0])
        for d in range(X.shape[1]):
            sums[c, :, d] = np.bincount(b, weights=wv[r0:r1] * X[r0:r1, d], minlength=len(sums[c]))
    if labels.shape[0]:
        labels[:] = best
