"""k-means kernels used for initialization: k-means++ seeding and Lloyd steps.

Like the EM pass, each kernel processes one chunk of rows (the chunks depend
on ``n_samples`` only) and writes that chunk's own partial sums, which the
caller adds in order; :func:`fastem._parallel.run_chunks` runs the chunks.

One compiled specialization serves both dtypes: the arithmetic is float64
either way, so a float32 ``X`` is handed over a few thousand rows at a time,
widened to float64 (the same bits; :func:`fastem._init.rows64`), with ``x0`` the
row of the data that the piece's first row is. The kernels add to ``pots``,
``sums`` and ``counts`` (the caller zeroes them once per chunk), so a chunk
handed over in pieces is summed in the same order.

Shapes::

    X        (n, D) f64 C-contiguous (rows r0 - x0 : r1 - x0 of the data: row i is X[i - x0])
    w        (n,) f64   sample weights, or an empty array for unit weights
    closest  (n,) f64   squared distance of each row to its nearest chosen centre
    cands    (T, D) f64 candidate centres
    pots     (T,)       the chunk's sum of w * min(closest, |x - cand|^2)
    centers  (K, D) f64
    sums     (K, D)     the chunk's weighted sums of the rows assigned to each centre
    counts   (K,)       the chunk's weighted counts
    labels   (n,) i64   nearest centre of each row, or an empty array
"""

from ._config import jit, kernel


@jit
def _sqdist(X, i, c, centers):
    acc = 0.0
    for d in range(X.shape[1]):
        t = X[i, d] - centers[c, d]
        acc += t * t
    return acc


@kernel
def potentials(X, x0, w, closest, cands, r0, r1, pots, update):
    """pots[t] += sum over rows r0:r1 of w * min(closest, |x - cands[t]|^2).

    With ``update`` (one candidate), ``closest`` is lowered in place.
    """
    has_w = w.shape[0] > 0
    for t in range(cands.shape[0]):
        acc = pots[t]
        for i in range(r0, r1):
            dist = min(closest[i], _sqdist(X, i - x0, t, cands))
            if update:
                closest[i] = dist
            acc += dist * (w[i] if has_w else 1.0)
        pots[t] = acc


@kernel
def lloyd(X, x0, w, centers, r0, r1, sums, counts, labels):
    """Assign rows r0:r1 to their nearest centre; add their weighted sums and counts."""
    K, D = centers.shape
    has_w = w.shape[0] > 0
    want_lab = labels.shape[0] > 0
    for i in range(r0, r1):
        best = 0
        bestd = _sqdist(X, i - x0, 0, centers)
        for k in range(1, K):
            dist = _sqdist(X, i - x0, k, centers)
            if dist < bestd:
                bestd = dist
                best = k
        wi = w[i] if has_w else 1.0
        counts[best] += wi
        for d in range(D):
            sums[best, d] += wi * X[i - x0, d]
        if want_lab:
            labels[i] = best
