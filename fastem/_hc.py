"""``init_params="hc"``: model-based agglomerative hierarchical clustering, mclust's start.

mclust starts EM from the partition that model-based hierarchical clustering
gives at K groups (Fraley 1998; Scrucca et al. 2016). This module does the same:

1. **Transform** the rows as mclust's default ``hcUse="SVD"`` does: centre and
   scale every feature, rotate onto the principal axes and divide each axis by
   the square root of its singular value (``Z = X_s V diag(s^-1/2)``).
2. **Merge** greedily, starting from the groups of identical rows (mclust's
   ``dupPartition``), the pair of groups whose union raises mclust's ``hcVVV``
   criterion ``sum_k n_k log(det(W_k / n_k) + (tr(W_k) + alpha) / n_k)`` the
   least, the determinant left out while a group has at most d rows. ``W_k`` is
   the scatter matrix of group k and ``alpha`` the trace of the scatter of ``Z``
   over ``n d`` (mclust's ``alpha = traceW(Z / sqrt(n d))``, ``beta = 1``). On
   mclust's diabetes data the tree is mclust's at every level from 2 to 9
   (``tests/test_hc.py``); exact ties (rounded data) may be broken otherwise.
3. **Bound the memory**: above ``HC_MAX_ROWS`` rows the tree is built on a
   seeded uniform sample (mclust's ``subset`` option does the same, with the same
   2,000 rows); the merge matrix is ``HC_MAX_ROWS ** 2`` float64 at most (32 MB).

Rows with zero weight take no part; positive weights count as row weights, relative to
the smallest (weights that differ by a common factor give the same tree).
"""

import numpy as np

#: Rows the hierarchical clustering runs on at most (a seeded sample above).
HC_MAX_ROWS = 2000


def svd_transform(X, w=None):
    """mclust's ``hcUse="SVD"`` transform of the rows of ``X`` (float64).

    With row weights ``w`` it is the transform of the data with each row
    repeated ``w`` times (the weighted mean, standard deviation and SVD).
    """
    X = np.asarray(X, dtype=np.float64)
    if w is None:  # as before weights: the same bits
        mean = X.mean(axis=0)
        sd = X.std(axis=0, ddof=1) if X.shape[0] > 1 else np.ones(X.shape[1])
    else:
        w = np.asarray(w, dtype=np.float64)
        total = w.sum()
        mean = w @ X / total
        # ddof 1 on the total weight; weights summing to 1 or less (normalized) still
        # standardize: the tree does not depend on the scale common to all features
        sd = np.sqrt(w @ (X - mean) ** 2 / (total - 1 if total > 1 else total))
    Xs = (X - mean) / np.where(sd > 0, sd, 1.0)
    _, s, Vt = np.linalg.svd(Xs if w is None else np.sqrt(w)[:, None] * Xs, full_matrices=False)
    keep = s > s[0] * 1e-12 if s.size else s > 0
    return Xs @ Vt[keep].T / np.sqrt(s[keep])


def _term(n, logdet, trace, alpha, d):
    """mclust's hcVVV criterion of groups of ``n`` rows (weight) with scatter ``W``:
    ``n log(det(W / n) + (tr(W) + alpha) / n)``, the determinant left out while
    ``n <= d`` (``logdet`` is ``log det W``, ``-inf`` where ``W`` is singular)."""
    n = np.asarray(n, dtype=np.float64)
    base = np.log((trace + alpha) / n)
    with np.errstate(invalid="ignore"):
        det = np.where(n > d, logdet - d * np.log(n), -np.inf)
    return n * np.logaddexp(det, base)


def _logdet(W):
    sign, logdet = np.linalg.slogdet(W)
    return np.where(sign > 0, logdet, -np.inf)


def agglomerate(Z, w, n_clusters):
    """Labels (0..n_clusters-1, by first row) of the ``n_clusters``-group level of the tree.

    ``n_clusters`` may be a list: then a dict of labels for each of its levels
    (one tree, cut at every level, as mclust does for a range of K). Identical rows
    start as one group (mclust's ``dupPartition``); levels above the number of
    distinct rows split such groups row by row.
    """
    levels = sorted({int(k) for k in np.atleast_1d(n_clusters)})
    n, d = Z.shape
    cuts = {}
    w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    alpha = max(float(np.average(((Z - np.average(Z, axis=0, weights=w)) ** 2).sum(axis=1),
                                 weights=w)) / d, 1e-300)  # fmt: skip
    # identical rows are one group from the start: their merges all cost the same, so
    # which pair went first was decided by rounding errors (and the tree with it)
    _, first, same = np.unique(Z, axis=0, return_index=True, return_inverse=True)
    same = first[same.ravel()]  # each row's first identical row
    nk = np.bincount(same, weights=w, minlength=n)
    size = np.bincount(same, minlength=n)  # rows in each group
    active = size > 0
    parent = same.copy()
    mean = Z.copy()
    W = np.zeros((n, d, d))
    trace = np.zeros(n)
    cost = np.where(active, _term(np.where(active, nk, 1.0), -np.inf, 0.0, alpha, d), 0.0)
    # merge costs of pairs of groups without scatter (single or identical rows), in closed
    # form: W_ij = c dd^T, c = n_i n_j / (n_i + n_j), of rank one (a determinant only for
    # d = 1), a block of rows at a time (the (n, n) matrix is the only large array)
    delta = np.full((n, n), np.inf)
    norms = (Z * Z).sum(axis=1)
    for r0 in range(0, n, 256):
        r1 = min(n, r0 + 256)
        sq = np.maximum(norms[r0:r1, None] + norms[None, :] - 2 * Z[r0:r1] @ Z.T, 0.0)
        nij = nk[r0:r1, None] + nk[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):  # rows merged into others
            tr = nk[r0:r1, None] * nk[None, :] / nij * sq
            ld = np.log(tr) if d == 1 else -np.inf
            delta[r0:r1] = _term(nij, ld, tr, alpha, d) - cost[r0:r1, None] - cost[None, :]
    delta[~active, :] = np.inf
    delta[:, ~active] = np.inf
    np.fill_diagonal(delta, np.inf)
    row_arg = np.argmin(delta, axis=1)
    row_min = delta[np.arange(n), row_arg]
    groups = int(active.sum())
    for k in levels:
        if k >= groups:
            cuts[k] = _split_identical(parent, size, k - groups)
    while groups > levels[0]:
        i = int(np.argmin(row_min))
        j = int(row_arg[i])
        i, j = min(i, j), max(i, j)
        dm = mean[j] - mean[i]
        ntot = nk[i] + nk[j]
        W[i] = W[i] + W[j] + (nk[i] * nk[j] / ntot) * np.outer(dm, dm)
        trace[i] = np.trace(W[i])
        mean[i] = (nk[i] * mean[i] + nk[j] * mean[j]) / ntot
        nk[i] = ntot
        size[i] += size[j]
        cost[i] = _term(nk[i], _logdet(W[i]) if nk[i] > d else -np.inf, trace[i], alpha, d)
        parent[parent == j] = i
        active[j] = False
        delta[j, :] = delta[:, j] = np.inf
        row_min[j] = np.inf
        others = np.flatnonzero(active)
        others = others[others != i]
        if others.size:
            dmo = mean[others] - mean[i]
            no = nk[others]
            tot = no + nk[i]
            cw = no * nk[i] / tot
            tr = trace[others] + trace[i] + cw * (dmo * dmo).sum(axis=1)
            logdet = np.full(others.size, -np.inf)
            need = tot > d  # the determinant counts from d + 1 rows on
            # a group without scatter adds a rank-one term: det(A + c dd^T) = det(A) (1 +
            # c d^T A^-1 d), where A = W_i is positive-definite
            one = need & (trace[others] == 0)
            chol = None
            if one.any():
                try:
                    chol = np.linalg.cholesky(W[i])
                except np.linalg.LinAlgError:
                    chol = None
            if chol is not None and np.all(np.diag(chol) > 0):
                y = np.linalg.solve(chol, dmo[one].T)
                logdet[one] = 2 * np.log(np.diag(chol)).sum() + np.log1p(cw[one] * (y * y).sum(0))
                many = need & ~one
            else:
                many = need
            if many.any():
                dm2 = dmo[many]
                outer = dm2[:, :, None] * dm2[:, None, :]
                Wm = W[others[many]] + W[i] + cw[many, None, None] * outer
                logdet[many] = _logdet(Wm)
            new = _term(tot, logdet, tr, alpha, d) - cost[others] - cost[i]
            delta[i, others] = delta[others, i] = new
        row_arg[i] = np.argmin(delta[i])
        row_min[i] = delta[i, row_arg[i]]
        # rows whose best partner was i or j, or for whom i is now better
        stale = active & ((row_arg == i) | (row_arg == j))
        stale[i] = False
        better = np.zeros(n, dtype=bool)
        if others.size:
            better[others] = delta[others, i] < row_min[others]
        row_arg[better] = i
        row_min[better] = delta[better, i]
        for r in np.flatnonzero(stale & ~better):
            row_arg[r] = np.argmin(delta[r])
            row_min[r] = delta[r, row_arg[r]]
        groups -= 1
        if groups in levels:
            roots = np.unique(parent)  # sorted: the group of the first row is 0
            cuts[groups] = np.searchsorted(roots, parent)
    return cuts if np.ndim(n_clusters) else cuts[int(n_clusters)]


def _split_identical(parent, size, extra):
    """Labels of the groups of identical rows, ``extra`` more groups split off them (one
    row each, from the largest group first): levels above the number of distinct rows."""
    parent = parent.copy()
    for _ in range(extra):
        g = int(np.argmax(size))
        rows = np.flatnonzero(parent == g)
        parent[rows[-1]] = rows[-1]
        size = size.copy()
        size[g] -= 1
        size[rows[-1]] = 1
    roots = np.unique(parent)
    return np.searchsorted(roots, parent)


def hc_labels(X, w, n_clusters, rng):
    """``(rows, labels)``: the rows the tree was built on and their groups.

    ``rows`` is None when every row took part.
    """
    n = X.shape[0]
    rows = None
    if w is not None:
        rows = np.flatnonzero(w > 0)
    candidates = n if rows is None else rows.size
    if candidates > HC_MAX_ROWS:
        pick = np.sort(rng.choice(candidates, size=HC_MAX_ROWS, replace=False))
        rows = pick if rows is None else rows[pick]
    Xs = X if rows is None else X[rows]
    ws = None if w is None else (w if rows is None else w[rows])
    if Xs.shape[0] < np.max(n_clusters):
        raise ValueError(
            f"init_params='hc' needs at least n_components={np.max(n_clusters)} rows with "
            f"positive weight, got {Xs.shape[0]}."
        )
    if ws is not None:
        # weights count relative to the smallest: weights that differ by a common factor
        # give the same tree (the criterion counts rows: 0.5 for every row was another
        # tree), and integer weights whose smallest is 1 count as the rows repeated
        ws = np.asarray(ws, dtype=np.float64)
        ws = ws / ws.min()
        if np.all(ws == 1.0):
            ws = None  # the unweighted tree, to the last bit
    Z = svd_transform(Xs, ws)
    if Z.shape[1] == 0:  # the rows are all one point: no axis to spread along, and every
        Z = np.zeros((Z.shape[0], 1))  # grouping is as good (a zero column keeps it finite)
    return rows, agglomerate(Z, ws, n_clusters)
