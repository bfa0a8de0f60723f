"""Initial parameters: k-means (k-means++ seeding + Lloyd), k-means++, random,
random_from_data.

Each method yields :class:`SuffStats` that the M-step turns into weights,
means and covariances, exactly as scikit-learn initializes from one-hot or
random responsibilities. The hot loops are Numba kernels; nothing allocates an
(n_samples, n_components) array.
"""

import numpy as np

from . import _small
from ._parallel import chunk_rows_for, readonly, run_chunks
from ._passes import _EMPTY_F, _EMPTY_I, array_stats
from ._stats import KernelParams, SuffStats, layout

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "hc")
_RANDOM_CHUNK = 8192
#: Rows k-means (seeding and Lloyd) runs on at most; see ``_subsample``.
KMEANS_MAX_ROWS = 100_000


def _kmeans():
    """The k-means kernels, imported when first needed (small inputs never load Numba)."""
    from ._kernels import _kmeans

    return _kmeans


#: Rows of a float32 chunk widened at a time for the k-means kernels (see ``rows64``).
WIDEN_ROWS = 4096


def rows64(X, r0, r1):
    """The pieces ``(rows, x0, s0, s1)`` of rows ``r0:r1`` of ``X`` for the k-means
    kernels, which read row i (``s0 <= i < s1``) at ``rows[i - x0]``.

    float64: ``X`` itself, in one piece. float32: float64 copies of ``WIDEN_ROWS`` rows
    at a time (memory bounded whatever the chunk), so float32 input compiles no k-means
    kernel of its own (0.46 s of its first use) and gives the same bits: the kernels
    widen every value to float64 anyway, and add the pieces in row order.
    """
    if X.dtype == np.float64:
        yield X, 0, r0, r1
        return
    for s0 in range(r0, r1, WIDEN_ROWS):
        s1 = min(r1, s0 + WIDEN_ROWS)
        yield readonly(X[s0:s1].astype(np.float64)), s0, s0, s1


def _chunks(n):
    rows = chunk_rows_for(n, 0)
    return rows, -(-n // rows)


def _potentials(X, w, closest, cands, pots, update, n_threads, small):
    n = X.shape[0]
    rows = chunk_rows_for(n, 0)
    if small:
        _small.potentials(X, w, closest, cands, np.arange(0, n, rows), pots, update)
        return
    X, w = readonly(X), readonly(w)
    kernel = _kmeans().potentials

    def task(c, slot):
        r0 = c * rows
        pots[c] = 0.0
        for part, x0, s0, s1 in rows64(X, r0, min(n, r0 + rows)):
            kernel(part, x0, w, closest, cands, s0, s1, pots[c], update)

    run_chunks(task, pots.shape[0], n_threads)


def kmeans_plusplus(X, w, n_clusters, rng, n_threads=None):
    """Indices of ``n_clusters`` rows chosen by greedy k-means++ seeding.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    w : ndarray of shape (n_samples,) or None
    n_clusters : int
    rng : numpy.random.RandomState

    Returns
    -------
    indices : ndarray of shape (n_clusters,)
    """
    n = X.shape[0]
    w = _EMPTY_F if w is None else w
    rows, C = _chunks(n)
    small = _small.is_small(n, n_clusters, X.shape[1])
    n_trials = 2 + int(np.log(n_clusters))
    # Draw the first centre by inverse CDF of the weights, so that an integer
    # weight and repeated rows pick the same row from the same random number.
    u = rng.uniform()
    if w.shape[0]:
        first = int(np.searchsorted(np.cumsum(w), u * w.sum(), side="right"))
    else:
        first = int(u * n)
    first = min(first, n - 1)
    indices = [first]
    closest = np.full(n, np.inf)
    pots = np.empty((C, 1))
    _potentials(X, w, closest, X[[first]].astype(np.float64), pots, True, n_threads, small)
    chunk_pots = pots[:, 0].copy()
    for _ in range(1, n_clusters):
        cum = np.cumsum(chunk_pots)
        total = cum[-1]
        cand = []
        for r in rng.uniform(size=n_trials) * total:
            c = min(int(np.searchsorted(cum, r, side="right")), C - 1)
            before = cum[c - 1] if c else 0.0
            r0, r1 = c * rows, min(n, (c + 1) * rows)
            # one running sum over one chunk: NumPy (np.cumsum adds in row order), no kernel
            cand.append(_small.pick_in_chunk(closest, readonly(w), r0, r1, r - before))
        cands = X[cand].astype(np.float64)
        trial_pots = np.empty((C, len(cand)))
        _potentials(X, w, closest, cands, trial_pots, False, n_threads, small)
        best = int(np.argmin(trial_pots.sum(axis=0)))
        _potentials(X, w, closest, cands[best : best + 1], pots, True, n_threads, small)
        chunk_pots = pots[:, 0].copy()
        indices.append(cand[best])
    return np.asarray(indices, dtype=np.int64)


def lloyd(X, w, centers, n_threads=None, max_iter=100, tol=1e-4, feature_var=None):
    """Lloyd iterations from ``centers``; returns (centers, labels).

    Stops when the squared centre shift falls below ``tol`` times the mean
    feature variance (scikit-learn's criterion; pass ``feature_var`` when the
    caller already has the per-feature variances of ``X``). Empty clusters keep
    their centre.
    """
    n = X.shape[0]
    w = _EMPTY_F if w is None else w
    rows, C = _chunks(n)
    K, D = centers.shape
    centers = np.array(centers, dtype=np.float64)
    sums = np.empty((C, K, D))
    counts = np.empty((C, K))
    if feature_var is None and max_iter:
        feature_var = feature_variances(X, w)
    var = float(np.mean(feature_var)) if max_iter else 0.0
    labels = np.empty(n, dtype=np.int64)
    for _ in range(max_iter):
        _lloyd_pass(X, w, centers, rows, sums, counts, _EMPTY_I, n_threads)
        cnt = counts.sum(axis=0)
        new = centers.copy()
        nonempty = cnt > 0
        new[nonempty] = sums.sum(axis=0)[nonempty] / cnt[nonempty, None]
        shift = ((new - centers) ** 2).sum()
        centers = new
        if shift <= tol * var:
            break
    _lloyd_pass(X, w, centers, rows, sums, counts, labels, n_threads)
    return centers, labels


def _lloyd_pass(X, w, centers, rows, sums, counts, labels, n_threads):
    n = X.shape[0]
    if _small.is_small(n, *centers.shape):
        _small.lloyd(X, w, centers, np.arange(0, n, rows), sums, counts, labels)
        return
    X, w = readonly(X), readonly(w)
    kernel = _kmeans().lloyd

    def task(c, slot):
        r0 = c * rows
        r1 = min(n, r0 + rows)
        sums[c], counts[c] = 0.0, 0.0
        for part, x0, s0, s1 in rows64(X, r0, r1):
            kernel(part, x0, w, centers, s0, s1, sums[c], counts[c], labels)

    run_chunks(task, counts.shape[0], n_threads)


def feature_variances(X, w):
    """Per-feature (weighted) variance, computed in chunks with a centred second pass."""
    n, D = X.shape
    w = _EMPTY_F if w is None else w
    wsum, s1 = 0.0, np.zeros(D)
    for r0 in range(0, n, _RANDOM_CHUNK):
        xc = X[r0 : r0 + _RANDOM_CHUNK].astype(np.float64)
        wc = w[r0 : r0 + _RANDOM_CHUNK] if w.shape[0] else np.ones(len(xc))
        wsum += wc.sum()
        s1 += wc @ xc
    mean = s1 / max(wsum, 1e-300)
    s2 = np.zeros(D)
    for r0 in range(0, n, _RANDOM_CHUNK):
        xc = X[r0 : r0 + _RANDOM_CHUNK] - mean
        wc = w[r0 : r0 + _RANDOM_CHUNK] if w.shape[0] else np.ones(len(xc))
        s2 += wc @ (xc * xc)
    return s2 / max(wsum, 1e-300)


def _labels_stats(X, w, labels, centers, covariance_type, n_threads=None):
    """Statistics of one-hot responsibilities given by ``labels`` (every row labelled)."""
    K, D = centers.shape
    name, covariance_type = covariance_type, layout(covariance_type)  # the kernels' family
    mu = np.ascontiguousarray(centers, dtype=X.dtype)
    if covariance_type in ("full", "tied"):
        prec = np.broadcast_to(np.eye(D, dtype=X.dtype), (K, D, D)).copy()
    else:
        prec = np.ones((K, 1, D), dtype=X.dtype)
    small = _small.is_small(X.shape[0], K, D)
    # (the identity for every component: a tied or EEE fit's start takes the log-density its
    # passes take, so that it compiles no other)
    shared = name in ("tied", "EEE")
    params = KernelParams(
        mu, prec, np.zeros(K), mu.astype(np.float64), covariance_type, small, shared
    )
    return array_stats(X, w, labels, params, n_threads)


def _random_stats(X, w, n_components, rng, covariance_type):
    """Statistics of uniform random responsibilities, drawn chunk by chunk."""
    n, D = X.shape
    K = n_components
    shift = X[: min(n, _RANDOM_CHUNK)].astype(np.float64).mean(axis=0)
    nk, s1, s2, wsum = random_sums([(X, w)], shift, K, rng, covariance_type)
    return SuffStats(nk, s1, s2, 0.0, wsum, n, np.broadcast_to(shift, (K, D)).copy())


def random_sums(pieces, shift, n_components, rng, covariance_type):
    """``(nk, s1, s2, wsum)`` of uniform random responsibilities of the rows of ``pieces``.

    ``pieces`` yields ``(X, w)`` (``w`` None for unit weights) in row order (in
    memory: one piece; a source: its chunks). The rows are centred on ``shift``;
    the random numbers are drawn row after row, at most ``_RANDOM_CHUNK`` rows at
    a time, so every row gets the same ones however the rows are split.
    """
    K, D = n_components, shift.shape[0]
    nk, s1 = np.zeros(K), np.zeros((K, D))
    s2 = np.zeros((K, D, D)) if layout(covariance_type) in ("full", "tied") else np.zeros((K, D))
    wsum = 0.0
    for X, w in pieces:
        wsum += X.shape[0] if w is None else float(w.sum())
        for r0 in range(0, X.shape[0], _RANDOM_CHUNK):
            xc = X[r0 : r0 + _RANDOM_CHUNK] - shift
            resp = rng.uniform(size=(len(xc), K))
            resp /= resp.sum(axis=1, keepdims=True)
            if w is not None:
                resp *= w[r0 : r0 + _RANDOM_CHUNK, None]
            nk += resp.sum(axis=0)
            s1 += resp.T @ xc
            if s2.ndim == 3:
                s2 += np.einsum("nk,ni,nj->kij", resp, xc, xc, optimize=True)
            else:
                s2 += resp.T @ (xc * xc)
    return nk, s1, s2, wsum


def _one_hot_stats(X, indices, covariance_type):
    """Statistics of responsibilities that are one for the chosen rows only."""
    K = len(indices)
    D = X.shape[1]
    s2 = np.zeros((K, D, D)) if layout(covariance_type) in ("full", "tied") else np.zeros((K, D))
    shift = X[indices].astype(np.float64)
    return SuffStats(np.ones(K), np.zeros((K, D)), s2, 0.0, float(K), K, shift)


def _hc_stats(X, w, n_components, rng, covariance_type):
    """Statistics of the groups of mclust-style hierarchical clustering (``fastem._hc``)."""
    from ._hc import hc_labels

    rows, labels = hc_labels(X, w, n_components, rng)
    Xs = X if rows is None else np.ascontiguousarray(X[rows])
    ws = w if rows is None or w is None else np.ascontiguousarray(w[rows])
    return group_stats(Xs, ws, labels.astype(np.int64), n_components, covariance_type)


def group_stats(X, w, labels, n_components, covariance_type):
    """Statistics of the hard groups ``labels`` (0 .. n_components - 1) about their means."""
    wts = np.ones(X.shape[0]) if w is None else w
    counts = np.bincount(labels, weights=wts, minlength=n_components)
    sums = [
        np.bincount(labels, weights=wts * X[:, j], minlength=n_components)
        for j in range(X.shape[1])
    ]
    centers = np.stack(sums, axis=1) / counts[:, None]
    return _labels_stats(X, w, labels, centers, covariance_type)


def _subsample(X, w, rng):
    """Rows the k-means seeding and Lloyd iterations run on: all, or a seeded uniform sample.

    Above ``KMEANS_MAX_ROWS`` rows, k-means on a sample finds the same centres
    for the purpose of starting EM, at a fraction of the cost, so that the
    initialization never dominates a fit; the final assignment (and so the
    initial statistics) still uses every row.
    """
    n = X.shape[0]
    if n <= KMEANS_MAX_ROWS:
        return X, w, None
    idx = subsample_indices(n, rng)
    return X[idx], None if w is None else w[idx], idx


def subsample_indices(n, rng):
    """The sorted rows of :func:`_subsample` (a chunked source draws the same ones)."""
    return np.sort(rng.choice(n, size=KMEANS_MAX_ROWS, replace=False))


def initial_stats(
    X, w, n_components, init_params, covariance_type, rng, n_threads, feature_var=None
):
    """Sufficient statistics from which the M-step gives the initial parameters.

    ``feature_var``: the per-feature variances of ``X``, if the caller has them.
    """
    if init_params in ("kmeans", "k-means++"):
        Xs, ws, idx = _subsample(X, w, rng)
        seeds = kmeans_plusplus(Xs, ws, n_components, rng, n_threads)
        if init_params == "k-means++":
            return _one_hot_stats(X, seeds if idx is None else idx[seeds], covariance_type)
        var = feature_var if idx is None else None  # variances of the rows k-means sees
        centers, labels = lloyd(Xs, ws, Xs[seeds], n_threads, feature_var=var)
        if idx is not None:  # assign every row to the centres found on the sample
            centers, labels = lloyd(X, w, centers, n_threads, max_iter=0)
        return _labels_stats(X, w, labels, centers, covariance_type)
    if init_params == "hc":
        return _hc_stats(X, w, n_components, rng, covariance_type)
    if init_params == "random_from_data":
        seeds = rng.choice(X.shape[0], size=n_components, replace=False)
        return _one_hot_stats(X, seeds, covariance_type)
    return _random_stats(X, w, n_components, rng, covariance_type)


def labelled_parameters(X, w, labels, weights, means, covariances, covariance_type, reg_covar):
    """Initial parameters in which component j is label j.

    Components with labelled rows start from those rows: their mean, and their
    covariance when there are more labelled rows of positive weight than features
    (otherwise the covariance of the unsupervised component they replace). The other
    components are the unsupervised ones (``weights``, ``means``,
    ``covariances``) left over after matching each labelled component to its
    nearest unsupervised component (optimal assignment on the means). When
    every component is labelled, the weights are the labelled proportions.
    """
    from scipy.optimize import linear_sum_assignment

    from ._stats import m_step

    known = labels >= 0
    if not known.any():
        return weights, means, covariances
    K, D = means.shape
    Xl = np.ascontiguousarray(X[known])
    ll = np.ascontiguousarray(labels[known])
    wl = None if w is None else np.ascontiguousarray(w[known])
    wts = np.ones(ll.size) if wl is None else wl
    counts = np.bincount(ll, weights=wts, minlength=K)
    n_rows = np.bincount(ll[wts > 0], minlength=K)  # a row of zero weight is no row
    have = counts > 0
    centers = np.zeros((K, D))
    for d in range(D):
        centers[:, d] = np.bincount(ll, weights=wts * Xl[:, d], minlength=K)
    centers[have] /= counts[have, None]
    lab_stats = _labels_stats(Xl, wl, ll, centers, covariance_type)
    lw, lm, lc = m_step(lab_stats, covariance_type, reg_covar)
    lab = np.flatnonzero(have)
    cost = ((lm[lab, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    _, match = linear_sum_assignment(cost)
    free = [u for u in range(K) if u not in set(match.tolist())]
    source = np.empty(K, dtype=np.int64)  # unsupervised component behind each slot
    source[lab] = match
    source[~have] = free
    new_w = weights[source].copy()
    new_m = means[source].copy()
    new_m[have] = lm[have]
    if layout(covariance_type) == "tied":
        new_c = lc if have.all() and n_rows.sum() > D + K else covariances
    else:
        new_c = covariances[source].copy()
        enough = have & (n_rows > (D if layout(covariance_type) == "full" else 1))
        new_c[enough] = lc[enough]
    if have.all():
        new_w = lw
    return new_w / new_w.sum(), new_m, new_c
