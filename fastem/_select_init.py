"""The initialization :func:`~fastem.select.select_components` shares across its grid.

For every number of components ``K`` and restart, k-means (or the K-group level of one
hierarchical clustering, ``init_params='hc'``) runs once on the rows initialization sees
(:func:`_init_rows`: the array itself, every row of a small chunked source, or a source's
sample); its labelling becomes the full-covariance statistics (:func:`_labelling_stats`,
:func:`_hc_labelling`) from which :func:`_initial_parameters` makes the starting weights,
means and precisions of every covariance type, as the estimator's own initialization would.
Also here: the rows and features of the data (:func:`_n_rows`, :func:`_n_features`) without
a pass over a source's rows where they are known.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import _stats
from ._init import _labels_stats, group_stats
from .mixture import GaussianMixture


def _held_rows(source):
    """Every row of a chunked source small enough for k-means to hold (as in memory), or None.

    With them, the shared k-means initialization of a source sees the same rows,
    and so gives the same models, as the in-memory selection of the same data
    (``fastem._stream_init`` does the same for ``fit``). Larger sources, and sources
    of unknown length, sample their rows.
    """
    from . import _stream
    from ._init import KMEANS_MAX_ROWS
    from ._stream_init import applies, rows_at

    if not _stream.is_streamed(source):
        return None
    data = GaussianMixture(1)._fit_data(source, None)
    if not applies(data) or data.n_samples > KMEANS_MAX_ROWS:
        return None
    rows = rows_at(data, np.arange(data.n_samples))
    return rows.X, rows.sample_weight


def _init_rows(X, source, rng, held=None):
    """Rows k-means initialization sees, or None where it cannot be shared."""
    if X is not None:
        return X, None
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
