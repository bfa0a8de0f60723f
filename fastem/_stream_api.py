"""The estimator's hooks on a chunked source: its data objects, its checks, its score.

``fit_data`` and ``predict_data`` wrap a source (a path, a ``fastem.Source``, a table,
a callable) and its sample weights as a :class:`~fastem._stream.StreamData` for the
passes, after the checks the in-memory path makes (rows, features, scikit-learn's
feature names, a named source's columns against a model's names); ``score`` is the
weighted mean log-likelihood of a source in one pass.
"""

from __future__ import annotations

import numbers
import os
from contextlib import closing

import numpy as np

from . import _direct
from ._stream import StreamData, check_rows
from ._validation import WEIGHT_RANGE, ZERO_WEIGHTS, check_sample_weight, weight_scale_message
from ._warn import warn
from .sources import Source, source
from .sources._base import _err
from .sources._factory import is_source_like


def _as_source(X):
    src = source(X).refresh()  # a source kept across a rewrite of its file reads the new file
    if src.n_features is None:
        raise _err(src.name, 0, "could not determine the number of columns")
    return src


def _fitted_as_scikit_learn(X, src):
    """``src`` reading ``X`` for ``fit`` in the dtype scikit-learn fits it in: a
    ``pyarrow.Table`` has no ``dtype``, so ``fit``'s ``validate_data(dtype=[float64,
    float32])`` makes float64 of any table (the other methods, with ``dtype="numeric"``,
    read float32 columns as float32, as a source does; so does ``fastem.source(table)``)."""
    if not isinstance(X, Source) and type(X).__module__.startswith("pyarrow"):
        src.dtype = np.dtype(np.float64)
    return src


def _is_weight_file(src, name):
    """Is the string ``sample_weight`` (or ``labels``) a file rather than a column of ``src``?"""
    columns = getattr(src, "feature_names", None) or []
    if name in columns or name.lstrip("-").isdigit():
        return False
    return os.path.exists(name) or os.path.splitext(name)[1].lower() in _DATA_SUFFIXES


_DATA_SUFFIXES = (".npy", ".csv", ".h5", ".hdf5", ".he5", ".zarr", ".parquet", ".pq")


def _weights(src, sample_weight):
    """(source, parallel weights) for ``sample_weight`` given with a source."""
    if sample_weight is None:
        return src, None
    if isinstance(sample_weight, str) and _is_weight_file(src, sample_weight):
        sample_weight = os.fspath(sample_weight)  # a path: a one-column source below
    elif isinstance(sample_weight, str):
        if src.weight_column is not None:
            raise ValueError(f"{src.name} already has the weight column {src.weight_column!r}")
        return src._reopen(weight_column=sample_weight), None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        value = float(sample_weight)
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"a constant sample_weight must be finite and > 0, got {value!r}.")
        return src, value
    if src.weight_column is not None:
        raise ValueError(
            f"{src.name} has the weight column {src.weight_column!r}; "
            "do not also pass sample_weight."
        )
    if isinstance(sample_weight, (Source, os.PathLike)) or is_source_like(sample_weight):
        wsrc = source(sample_weight).refresh()
        wsrc.role = "sample weight"  # its NaN is a bad weight, not a missing value
        if wsrc.n_features != 1:
            raise ValueError(
                f"the sample_weight source {wsrc.name} has {wsrc.n_features} columns; it needs one."
            )
        if wsrc.n_rows is not None and src.n_rows is not None and wsrc.n_rows != src.n_rows:
            raise ValueError(
                f"the sample_weight source {wsrc.name} has {wsrc.n_rows} rows, "
                f"the data {src.n_rows}."
            )
        return src, wsrc
    if isinstance(sample_weight, str | bytes) or np.ndim(sample_weight) != 1:
        raise ValueError("sample_weight must be a 1-D array of numbers, a source or a column name.")
    n = src.n_rows if src.n_rows is not None else len(sample_weight)
    return src, check_sample_weight(sample_weight, n)


def check_feature_names(est, X, *, reset):
    """scikit-learn's feature names for ``X`` read chunk by chunk (a source, a Dask array).

    What scikit-learn reads as an array (it has ``__array__``: a ``pyarrow.Table``, whose
    column names it keeps, an h5py or zarr array, a Dask array) gets its rules, from
    ``validate_data`` itself: ``fit`` sets ``feature_names_in_`` (or drops a previous fit's);
    the other methods warn where names are present on one side only and refuse other or
    reordered names. A fit on a path, a fastem source or a callable sets no names and drops
    those of a previous fit (scikit-learn's reset); the other methods check a named source's
    columns against a model's names (:func:`check_header_names`, in :func:`predict_data`).
    """
    if _array_like(X):
        from sklearn.utils.validation import validate_data

        validate_data(est, X, skip_check_array=True, ensure_2d=False, reset=reset)
    elif reset and hasattr(est, "feature_names_in_"):
        del est.feature_names_in_


def _array_like(X):
    """What scikit-learn reads as an array (``__array__``), a fastem source aside."""
    return not isinstance(X, Source) and hasattr(X, "__array__")


def header_names(src):
    """The names of a source's columns (a CSV header, a Parquet schema), or None."""
    return getattr(src, "feature_names", None) if getattr(src, "has_header", True) else None


def check_header_names(est, src, name, cli=False, warn_unnamed=False):
    """A source whose columns are named (a CSV header, a Parquet schema) and a model fitted on
    named features (a pandas frame): as scikit-learn does for frames, other or reordered
    names are refused, never scored as they come. ``name``: the data, for the message;
    ``cli``: the fix named as the command line's option, not ``fastem.source``'s.
    ``warn_unnamed``: a source without names (a ``.npy`` file, a CSV file without a header)
    gets scikit-learn's warning for an array on a model fitted with feature names (where
    ``X`` was array-like, its own ``validate_data`` warned already)."""
    fitted = getattr(est, "feature_names_in_", None)
    header = header_names(src)
    if fitted is not None and header is None and warn_unnamed:
        warn(
            f"X does not have valid feature names, but {type(est).__name__} was fitted with "
            "feature names",
            UserWarning,
        )
    if fitted is None or header is None:
        return
    fitted = [str(n) for n in fitted]
    if list(header) != fitted:
        how = (
            (
                f"pick them in that order with --columns {' '.join(fitted)}"
                if cli
                else f"pick them in that order with fastem.source(..., columns={fitted!r})"
            )
            if set(fitted) <= set(header)
            else "rename the columns to the model's"
        )
        raise ValueError(
            f"{name}'s columns are {', '.join(header)}, but the model was fitted on "
            f"{', '.join(fitted)}; {how}."
        )


def fit_data(est, X, sample_weight, labels=None, *, as_scikit_learn=False):
    """The data object for ``fit`` on a source; sets ``n_features_in_`` like validate_data
    (``feature_names_in_``: :func:`check_feature_names`, called by the estimator's ``fit``).
    ``as_scikit_learn`` (``fit``, not ``fit_online``): in the dtype scikit-learn's ``fit``
    reads ``X`` in (:func:`_fitted_as_scikit_learn`)."""
    src, weights = _weights(_as_source(X), sample_weight)
    if as_scikit_learn:
        src = _fitted_as_scikit_learn(X, src)
    if labels is not None and not (isinstance(labels, Source) or is_source_like(labels)):
        labels = np.asarray(labels)
        if labels.ndim != 1 or (src.n_rows is not None and labels.shape[0] != src.n_rows):
            raise ValueError(
                f"labels must have shape ({src.n_rows},) to match X, got {labels.shape}; pass "
                "one label per row, -1 where unknown."
            )
    elif labels is not None:
        if isinstance(labels, str) and not _is_weight_file(src, labels):  # a column name
            raise ValueError(
                f"labels={labels!r} is not a file; a label column inside the data source is not "
                "supported: pass labels as an in-memory vector or a one-column source (its own "
                "file), -1 or NaN where unknown."
            )
        labels = source(labels).refresh()  # a kept source of a rewritten file: re-opened
        if labels.n_features != 1:
            raise ValueError(f"the labels source {labels.name} must have one column.")
        labels.role = "label"  # NaN is an unknown label (_LabelCutter), infinity an error
        labels.allow_nan = True
    # (``fit_online`` has its own rules: a first batch with initial parameters may be one row)
    fitted_by = type(est).__name__ if as_scikit_learn else None
    if src.n_rows is not None:
        check_rows(src.n_rows, src.n_features, est.n_components, fitted_by)
    est.n_features_in_ = src.n_features
    return StreamData(
        src,
        weights,
        progress=est.verbose > 0,
        min_rows=est.n_components,
        labels=labels,
        missing=est.missing,
        n_components=est.n_components,
        fitted_by=fitted_by,
    )


def predict_data(est, X, sample_weight=None):
    """The data object for the row-wise methods and ``score`` on a source."""
    check_feature_names(est, X, reset=False)
    src, weights = _weights(_as_source(X), sample_weight)
    if src.n_features != est.n_features_in_:
        raise ValueError(
            f"X has {src.n_features} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )
    check_header_names(est, src, src.name, warn_unnamed=not _array_like(X))
    data = StreamData(src, weights, progress=est.verbose > 0, missing=est.missing)
    # float16 columns (read as float64) promoted with the model's dtype, float32 rows on a
    # model fitted on float64 rows scored in float64, as in memory (_MixtureAPI._scoring_dtype);
    # the kernels never read the file's rows in another dtype
    dtype = est._scoring_dtype(np.float16 if src.float16 else data.dtype)
    if dtype != data.dtype:
        data.dtype, data.widen = dtype, True
    return data


def _logprob_and_weights(data, params, n_threads, resp=False):
    """``(log p(x), weights or None, resp or None)`` of each chunk of a streamed ``data``."""
    layout = _direct.layout(data, params)
    if layout is not None:  # the kernel reads the rows; the weights are cut here
        take, finish = data._row_extras()
        chunks = _direct.iter_rowwise(data, params, n_threads, *layout, logprob=True, resp=resp)
        for offset, (lp, r, _) in chunks:
            yield lp, take(offset, lp.shape[0])[0], r
        finish()
        return
    with closing(data.chunks("score")) as chunks:
        for offset, X, w, _ in chunks:
            lp, r, _ = data._wrap(X, rows=offset).rowwise(
                params, n_threads, logprob=True, resp=resp
            )
            yield lp, w, r


def score(est, data):
    """Weighted mean log-likelihood of a streamed ``data``, in one pass."""
    return score_sums(est, data)[0]


def score_sums(est, data, entropy=False):
    """``(mean, penalty, sums)`` of a streamed ``data``, in one pass: the weighted mean
    log-likelihood; with ``entropy``, ``-2 sum_i w_i log max_k resp_ik`` (ICL's penalty;
    ``w_i`` 1 without weights), else None; the weights' ``(sum w, sum w^2)``, or None
    without weights."""
    params = est._fitted_kernel_params(data)
    total = wsum = w2sum = penalty = 0.0
    rows = 0
    weighted = False
    for lp, w, r in _logprob_and_weights(data, params, est.n_threads, resp=entropy):
        rows += lp.shape[0]
        if w is None:
            total += float(lp.sum())
            wsum += lp.shape[0]
        else:
            weighted = True
            total += float(w @ lp)
            wsum += float(w.sum())
            w2sum += float(w @ w)
        if entropy:
            with np.errstate(divide="ignore"):
                log_max = np.log(r.max(axis=1))
            penalty -= 2 * float(log_max.sum() if w is None else w @ log_max)
    if not rows:
        raise _err(data.source.name, 0, "the source holds no rows; there is nothing to score")
    if not wsum > 0:
        raise ValueError(ZERO_WEIGHTS)
    if not (np.isfinite(wsum) and WEIGHT_RANGE[0] <= wsum / rows <= WEIGHT_RANGE[1]):
        raise ValueError(weight_scale_message(wsum / rows, "mean"))
    return total / wsum, penalty if entropy else None, (wsum, w2sum) if weighted else None
