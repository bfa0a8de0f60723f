"""What :func:`~fastem.select.select_components` checks before it fits anything.

The data (:func:`_in_memory`: an array validated as the estimator validates it, NaN refused
unless ``missing="marginalize"``; a path or chunked source opened; a Dask array's chunks
checked), the grid of numbers of components and covariance types (:func:`_check_grid`,
which expands ``'mclust'``) and the settings every fit shares (:func:`_check_settings`),
each refused with a message that says what to pass instead. The grid's names
(:data:`CRITERIA`, :data:`MCLUST_MODELS`) and :data:`MISSING_FIX` are re-exported by
:mod:`fastem.select`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.utils import check_array

from . import _models, _stats, _validation
from ._mixture_api import _is_dask_array
from .mixture import GaussianMixture

CRITERIA = ("bic", "aic", "icl")
#: ``covariance_types="mclust"``: mclust's 14 models (its ``mclustBIC`` default)
MCLUST_MODELS = tuple(m for m in _models.MCLUST_NAMES if m not in ("E", "V"))
#: the call a NaN error of select_components names for treating NaN as not observed
MISSING_FIX = 'select_components(..., missing="marginalize")'


def _in_memory(X, missing="error"):
    """(validated array, None) for array-likes, (None, source) for what is read chunk by
    chunk (a path becomes the :class:`~fastem.Source` ``fit`` opens, so the row count of
    BIC and AIC is that of the rows read), (None, X) for Dask arrays. NaN in an array:
    refused, naming ``missing=``, unless ``missing="marginalize"``."""
    from . import _stream
    from .sources import source

    module = type(X).__module__ or ""
    dask = module.startswith("dask")
    if not (isinstance(X, (np.ndarray, list, tuple)) or (hasattr(X, "__array__") and not dask)):
        if _stream.is_streamed(X):
            return None, source(X)
        if dask:  # unknown chunk sizes: fit's message, not int(nan)'s
            from .dask import _as_row_chunked

            _as_row_chunked(X, "X")
            return None, X
    # an array-like, or anything else (None, a number): refused as fit refuses it
    _validation.precheck_array(X)  # 1-D, 3-D, complex: messages that say what to do
    arr = check_array(
        X, dtype=[np.float64, np.float32], ensure_min_samples=2, ensure_all_finite=False
    )
    arr = np.ascontiguousarray(arr)
    # the row and column of a NaN, inf or huge value
    _validation.check_all_finite(arr, allow_nan=missing == "marginalize", missing_fix=MISSING_FIX)
    return arr, None


def _check_weights(sample_weight, arr, source):
    """``(source, weights)``: ``sample_weight`` validated for the rows ``arr`` in memory
    (float64, None for unit weights); for a source read chunk by chunk, what ``fit`` takes
    with it (a parallel vector or one-column source, a constant, or a column name, which
    reopens the source with that weight column); a Dask array for a Dask ``source`` (a
    NumPy one chunked as its rows; ``fit`` checks it)."""
    from . import _stream, _stream_api

    if sample_weight is None:
        return source, None
    if arr is not None:
        return source, _validation.check_sample_weight(sample_weight, arr.shape[0])
    if _stream.is_streamed(source):
        return _stream_api._weights(source, sample_weight)
    if _is_dask_array(sample_weight):
        return source, sample_weight
    import dask.array as da

    w = _validation.check_sample_weight(sample_weight, int(source.shape[0]))
    return source, da.from_array(w, chunks=(source.chunks[0],))


def _grid_list(values, name, expected):
    """``values`` as a list, refusing a string of digits or a scalar that is not an iterable."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be {expected}, got {values!r}.")
    return list(values)


def _check_grid(n_components, covariance_types, criterion, n_features=None):
    if _validation._is_int(n_components):
        n_components = [n_components]
    expected = "an integer >= 1 or an iterable of them, e.g. range(1, 7)"
    ks = _grid_list(n_components, "n_components", expected)
    if not ks or any(not _validation._is_int(k) or k < 1 for k in ks):
        raise ValueError(f"n_components must be integers >= 1, got {ks!r}.")
    ks = [int(k) for k in ks]
    if isinstance(covariance_types, str):
        if covariance_types == "mclust":
            covariance_types = ("E", "V") if n_features == 1 else MCLUST_MODELS
        else:
            covariance_types = (covariance_types,)
    cts = _grid_list(
        covariance_types, "covariance_types", "'mclust', a covariance type or a list of them"
    )
    bad = [c for c in cts if not isinstance(c, str) or c not in _stats.ALL_COVARIANCE_TYPES]
    if not cts or bad:
        raise ValueError(
            f"covariance_types must be 'mclust' or a non-empty subset of "
            f"{_stats.ALL_COVARIANCE_TYPES}, got {cts!r}."
        )
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}.")
    return ks, cts


def _check_settings(init_params, callback, k, n_init, random_state, params):
    """Refuse, before any fit, the settings every fit of the grid shares.

    With the estimator's messages for its hyperparameters (not reported as "every fit
    failed"); the prior's model-by-model availability stays per fit.
    """
    if init_params not in ("kmeans", "hc"):
        raise ValueError(f"init_params must be 'kmeans' or 'hc', got {init_params!r}.")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable or None, got {callback!r}.")
    _validation.check_hyperparameters(
        GaussianMixture(k, n_init=n_init, random_state=random_state, **params)
    )
