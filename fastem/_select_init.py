"""The initialization :func:`~fastem.select.select_components` shares across its grid.

For every number of components ``K`` and restart, :meth:`SharedStarts.labelling` runs
k-means once (or cuts the one hierarchical clustering, ``init_params='hc'``, at ``K``) on
the rows initialization sees (:func:`_init_rows`: the array itself, every row of a small
chunked source, or a source's sample). Its labelling becomes the full-covariance
statistics (:func:`_labelling_stats`, :func:`_hc_labelling`) from which
:func:`_initial_parameters` makes the starting weights, means and precisions of every
covariance type, as the estimator's own initialization would. Also here: the rows and
features of the data (:func:`_n_rows`, :func:`_n_features`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import _stats
from ._hc import hc_labels
from ._init import _labels_stats, group_stats, kmeans_plusplus, lloyd
from .mixture import GaussianMixture


def _held_rows(source, weights=None):
    """Every row of a chunked source or a Dask array small enough for k-means to hold (as in
    memory), with their weights, or None.

    With them, the shared k-means initialization of a source sees the same rows,
    and so gives the same models, as the in-memory selection of the same data
    (``fastem._stream_init`` and ``fastem._dask_init`` do the same for ``fit``). Larger
    sources, and sources of unknown length, sample their rows; larger Dask arrays let each
    fit start itself.
    """
    from . import _stream
    from ._init import KMEANS_MAX_ROWS
    from ._mixture_api import _is_dask_array
    from ._stream_init import applies, rows_at

    if _is_dask_array(source):
        from .dask import fit_data

        if int(source.shape[0]) > KMEANS_MAX_ROWS:  # (before fit_data persists every block)
            return None
        data = fit_data(GaussianMixture(1), source, weights)
        rows = data.sample_for_init(data.n_samples, None)  # every row, in order
        return rows.X, rows.sample_weight
    if not _stream.is_streamed(source):
        return None
    data = GaussianMixture(1)._fit_data(source, weights)
    if not applies(data) or data.n_samples > KMEANS_MAX_ROWS:
        return None
    rows = rows_at(data, np.arange(data.n_samples))
    return rows.X, rows.sample_weight


def _init_rows(X, source, rng, held=None, weights=None):
    """Rows k-means initialization sees (and their ``weights``), or None where it cannot be
    shared."""
    if X is not None:
        return X, weights
    if held is not None:
        return held
    sampler = getattr(source, "sample_for_init", None)
    if sampler is None:
        return None
    try:
        init = sampler(None, rng)
        return np.ascontiguousarray(init.X), getattr(init, "sample_weight", None)
    except Exception:  # a source without in-memory sampling: each fit initializes itself
        return None


def _n_rows(data):
    """Rows of an array, a Dask array or a source (counted if not known yet)."""
    return int(data.shape[0])


def _n_features(data):
    """Columns of an array or a Dask array, features of a source (no pass over its rows)."""
    n_features = getattr(data, "n_features", None)
    if n_features is not None:
        return int(n_features)
    shape = getattr(data, "shape", None)
    return int(shape[1]) if shape is not None and len(shape) == 2 else None


def _labelling_stats(X, w, labels, centers):
    """Full-covariance statistics of one k-means labelling (the estimator's own init pass)."""
    return _labels_stats(X, None if w is None or len(w) == 0 else w, labels, centers, "full")


def _hc_labelling(hc, K):
    """Full-covariance statistics of the K-group level of the hierarchical clustering."""
    (Xi, wi), rows, cuts = hc
    wi = None if wi is None or len(wi) == 0 else wi
    Xs = Xi if rows is None else np.ascontiguousarray(Xi[rows])
    ws = wi if rows is None or wi is None else np.ascontiguousarray(wi[rows])
    return group_stats(Xs, ws, cuts[K].astype(np.int64), K, "full")


def _initial_parameters(stats, covariance_type, reg_covar):
    """weights_init, means_init, precisions_init for one covariance type.

    The M-step of the one-hot responsibilities, exactly as the estimator's
    k-means initialization computes it; diag and spherical use the diagonal
    of the full second moments.
    """
    if _stats.layout(covariance_type) in ("diag", "spherical"):
        stats = replace(stats, s2=np.diagonal(stats.s2, axis1=1, axis2=2).copy())
    weights, means, cov = _stats.m_step(stats, covariance_type, reg_covar)
    prec_chol = _stats.precision_cholesky(cov, covariance_type)
    return weights, means, _stats.precisions_from_cholesky(prec_chol, covariance_type)


class SharedStarts:
    """The labellings that start every covariance type of one ``K`` and restart.

    Parameters
    ----------
    X : ndarray or None
        The validated rows in memory, or None for data read chunk by chunk.
    source : Source, Dask array or None
        The data when ``X`` is None.
    rng : numpy.random.RandomState
        The grid's random state: k-means seeding, a source's sample of rows and the
        tree draw from it, in the order the grid is fitted.
    ks : list of int
        The numbers of components of the grid (the levels of the tree).
    init_params : {'kmeans', 'hc'}
        With ``'hc'``, the first restart of every ``K`` the tree has a level for starts
        from that level; every other start is k-means.
    n_threads : int or None
        Threads of k-means.
    weights : ndarray, source, float or None
        The sample weights of the rows of ``X``, or those ``fit`` takes with ``source``.
    """

    def __init__(self, X, source, rng, ks, init_params, n_threads, weights=None):
        self.X, self.source, self.rng, self.n_threads = X, source, rng, n_threads
        self.weights = weights
        self.held = _held_rows(source, weights) if X is None else None
        self.hc = None
        if init_params == "hc":
            init = _init_rows(X, source, rng, self.held, weights)
            # the levels there are rows for: a K beyond them fails on its own (its row of the
            # table), and must not send the others to k-means starts
            levels = []
            if init is not None:  # rows with weight: those the tree is built on
                w0 = init[1]
                rows_in = len(init[0]) if w0 is None else int(np.count_nonzero(np.asarray(w0) > 0))
                levels = [k for k in ks if k <= rows_in]
            if levels:
                self.hc = (init, *hc_labels(init[0], init[1], levels, self.rng))

    def labelling(self, K, restart):
        """Full-covariance statistics of the start of ``K`` components in this restart.

        Returns
        -------
        stats : SuffStats or None
            None where the rows cannot be shared (each fit then initializes itself) or
            are fewer than ``K``.
        """
        if self.hc is not None and restart == 0 and K in self.hc[2]:
            return _hc_labelling(self.hc, K)
        init = _init_rows(self.X, self.source, self.rng, self.held, self.weights)
        if init is None or init[0].shape[0] < K:
            return None
        Xi, wi = init
        seeds = kmeans_plusplus(Xi, wi, K, self.rng, self.n_threads)
        centers, labels = lloyd(Xi, wi, Xi[seeds], self.n_threads)
        return _labelling_stats(Xi, wi, labels, centers)
