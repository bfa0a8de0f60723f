"""k-means kernels used for initialization: k-means++ seeding and Lloyd steps.

Like the EM pass, rows are split into chunks that depend on ``n_samples`` only;
each chunk writes its own partial sums, which the caller adds in order.

Shapes::

    X        (n, D)     float32 or float64, C-contiguous
    w        (n,) f64   sample weights, or an empty array for unit weights
    closest  (n,) f64   squared distance of each row to its nearest chosen centre
    cands    (T, D) f64 candidate centres
    pots     (C, T)     per-chunk sum of w * min(closest, |x - cand|^2)
    centers  (K, D) f64
    sums     (C, K, D)  per-chunk weighted sums of the rows assigned to each centre
    counts   (C, K)     per-chunk weighted counts
    inertia  (C,)       per-chunk weighted sum of squared distances
    labels   (n,) i64   nearest centre of each row, or an empty array
"""

from numba import njit, prange

from ._config import JIT


@njit(**JIT)
def _sqdist(X, i, c, centers):
    acc = 0.0
    for d in range(X.shape[1]):
        t = X[i, d] - centers[c, d]
        acc += t * t
    return acc


@njit(**JIT)
def _chunk_potentials(X, w, closest, cands, r0, r1, pots, update):
    has_w = w.shape[0] > 0
    for t in range(cands.shape[0]):
        acc = 0.0
        for i in range(r0, r1):
            dist = min(closest[i], _sqdist(X, i, t, cands))
            if update:
                closest[i] = dist
            acc += dist * (w[i] if has_w else 1.0)
        pots[t] = acc


@njit(**JIT)
def _chunk_lloyd(X, w, centers, r0, r1, sums, counts, labels):
    K, D = centers.shape
    has_w = w.shape[0] > 0
    want_lab = labels.shape[0] > 0
    for k in range(K):
        counts[k] = 0.0
        for d in range(D):
            sums[k, d] = 0.0
    acc = 0.0
    for i in range(r0, r1):
        best = 0
        bestd = _sqdist(X, i, 0, centers)
        for k in range(1, K):
            dist = _sqdist(X, i, k, centers)
            if dist < bestd:
                bestd = dist
                best = k
        wi = w[i] if has_w else 1.0
        counts[best] += wi
        for d in range(D):
            sums[best, d] += wi * X[i, d]
        acc += wi * bestd
        if want_lab:
            labels[i] = best
    return acc


@njit(parallel=True, **JIT)
def potentials_parallel(X, w, closest, cands, chunk_rows, pots, update):
    """pots[c, t] = sum over chunk c of w * min(closest, |x - cands[t]|^2).

    With ``update`` (one candidate), ``closest`` is lowered in place.
    """
    n = X.shape[0]
    for c in prange(pots.shape[0]):
        r0 = c * chunk_rows
        _chunk_potentials(X, w, closest, cands, r0, min(n, r0 + chunk_rows), pots[c], update)


@njit(**JIT)
def potentials_serial(X, w, closest, cands, chunk_rows, pots, update):
    n = X.shape[0]
    for c in range(pots.shape[0]):
        r0 = c * chunk_rows
        _chunk_potentials(X, w, closest, cands, r0, min(n, r0 + chunk_rows), pots[c], update)


@njit(parallel=True, **JIT)
def lloyd_parallel(X, w, centers, chunk_rows, sums, counts, inertia, labels):
    """Assign every row to its nearest centre; per-chunk weighted sums and counts."""
    n = X.shape[0]
    for c in prange(counts.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        inertia[c] = _chunk_lloyd(X, w, centers, r0, r1, sums[c], counts[c], labels)


@njit(**JIT)
def lloyd_serial(X, w, centers, chunk_rows, sums, counts, inertia, labels):
    n = X.shape[0]
    for c in range(counts.shape[0]):
        r0 = c * chunk_rows
        r1 = min(n, r0 + chunk_rows)
        inertia[c] = _chunk_lloyd(X, w, centers, r0, r1, sums[c], counts[c], labels)


@njit(**JIT)
def pick_in_chunk(closest, w, r0, r1, target):
    """First row in [r0, r1) where the running sum of w * closest exceeds target."""
    has_w = w.shape[0] > 0
    acc = 0.0
    for i in range(r0, r1):
        acc += closest[i] * (w[i] if has_w else 1.0)
        if acc > target:
            return i
    return r1 - 1
