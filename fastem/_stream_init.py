"""The initialization of a fit on a chunked source: the in-memory one, chunk by chunk.

With the same ``random_state``, a fit on a source starts from the same initial
parameters as the in-memory fit of the same rows (up to the rounding of sums
taken in another order), for every ``init_params``:

* ``'kmeans'`` and ``'k-means++'`` draw the same uniform sample of at most
  :data:`~fastem._init.KMEANS_MAX_ROWS` rows with the same random numbers
  (every row when there are no more), read just those rows, seed and run
  Lloyd on them, and then assign every row of the source to the centres found,
  chunk by chunk (the statistics of the chunks add up);
* ``'random_from_data'`` reads the rows the in-memory draw picks;
* ``'random'`` draws the responsibilities of each row from the same stream of
  random numbers, chunk by chunk, centred on the mean of the first rows.

This needs the number of rows before the first pass (a CSV file's lines are
counted first; a callable's rows are not known), no label source and
``missing='error'``; otherwise the estimator falls back on the reservoir
sample of :meth:`fastem._stream.StreamData.sample_for_init`.
"""

from contextlib import closing

import numpy as np

from . import _init
from ._init import (
    _RANDOM_CHUNK,
    _labels_stats,
    _one_hot_stats,
    initial_stats,
    kmeans_plusplus,
    lloyd,
    random_sums,
    subsample_indices,
)
from ._passes import ArrayData
from ._stats import SuffStats
from ._validation import WEIGHT_RANGE, weight_scale_message


def applies(data):
    """Can the initialization of ``data`` (a ``StreamData``) follow the in-memory one?

    A CSV file's lines are counted first (without parsing them), and only when the
    rest allows it. Fewer rows than components: no (the reservoir sample raises
    scikit-learn's error).
    """
    if data.label_values is not None or data.missing == "marginalize":
        return False
    if data.source.n_rows is None and data.source.kind == "csv":
        _ = data.source.shape  # counts the lines
    return data.source.n_rows is not None and data.n_samples >= data.min_rows


def rows_at(data, index, check_weights=True):
    """The rows (and weights) of ``data`` at ``index`` (any order, no repeats), in one pass.

    ``check_weights``: the weights are those of a sample to fit (not just seed rows).
    """
    index = np.asarray(index, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    wanted = index[order]
    parts_x, parts_w = [], []
    with closing(data.chunks("init sample")) as chunks:
        for offset, X, w, _ in chunks:
            lo, hi = np.searchsorted(wanted, [offset, offset + X.shape[0]])
            if hi > lo:
                local = wanted[lo:hi] - offset
                parts_x.append(X[local])  # a copy: the reader reuses its buffers
                parts_w.append(None if w is None else np.asarray(w)[local].astype(np.float64))
            if hi == wanted.shape[0]:
                break
    X = np.concatenate(parts_x)
    Xo = np.empty_like(X)
    Xo[order] = X
    w = None
    if parts_w and parts_w[0] is not None:
        w = np.empty(X.shape[0])
        w[order] = np.concatenate(parts_w)
        # as the reservoir sample checks its weights (the whole source's are checked per pass)
        if check_weights and not w.sum() > 0:
            raise ValueError("the sample weights of the initialization sample sum to zero.")
        if check_weights and not WEIGHT_RANGE[0] <= w.max() <= WEIGHT_RANGE[1]:
            raise ValueError(weight_scale_message(w.max()))
    return ArrayData(np.ascontiguousarray(Xo), w)


def _assigned_stats(data, centers, covariance_type, n_threads):
    """Statistics of the hard assignment of every row to its nearest centre, chunk by chunk."""
    total = None
    with closing(data.chunks("init assignment")) as chunks:
        for _, X, w, _ in chunks:
            _, labels = lloyd(X, w, centers, n_threads, max_iter=0)
            part = _labels_stats(X, w, labels, centers, covariance_type)
            total = part if total is None else total + part
    return total


def _random_stats(data, n_components, rng, covariance_type):
    """``fastem._init._random_stats`` over the chunks: the same random numbers, row by row."""
    K, D = n_components, data.n_features
    first = rows_at(data, np.arange(min(data.n_samples, _RANDOM_CHUNK)), check_weights=False)
    shift = first.X.astype(np.float64).mean(axis=0)
    with closing(data.chunks("init")) as chunks:
        pieces = ((Xc, wc) for _, Xc, wc, _ in chunks)
        nk, s1, s2, wsum = random_sums(pieces, shift, K, rng, covariance_type)
    n = data.n_samples
    return SuffStats(nk, s1, s2, 0.0, wsum, n, np.broadcast_to(shift, (K, D)).copy())


def stream_initial_stats(data, est, rng, method, covariance_type):
    """``(stats, sample)`` for the initial M-step of ``est`` on ``data``, or None.

    ``method`` is the start this initialization uses (``est.init_params``, or
    "kmeans" for the restarts of "hc") and ``covariance_type`` the kernels'
    layout of ``est``'s model ("full" or "diag" for mclust's names). ``sample``
    (an ``ArrayData``) is what the scale check ran on. None means :func:`applies`
    is false, or an "hc" start on more rows than k-means holds: the caller uses
    the reservoir sample instead.
    """
    if not applies(data):
        return None
    cov = covariance_type
    return exact_start(
        data, est, rng, method, cov,
        every_row=lambda: _held_rows(data),
        rows=lambda index: rows_at(data, index),
        seed_rows=lambda index: rows_at(data, index, check_weights=False).X,
        assigned=lambda centers: _assigned_stats(data, centers, cov, est.n_threads),
        in_order=data,
    )  # fmt: skip


def _held_rows(data):
    """Every row of ``data``, read once and kept for the next of ``n_init`` (as k-means would)."""
    sample = getattr(data, "_init_rows", None)
    if sample is None:
        sample = data._init_rows = rows_at(data, np.arange(data.n_samples))
    return sample


def exact_start(data, est, rng, method, cov, *, every_row, rows, seed_rows, assigned, in_order):
    """``(stats, sample)``: the in-memory start of ``est`` on the rows of ``data``, or None
    (an ``'hc'`` start on more rows than k-means holds).

    The one algorithm of the exact starts of chunked sources (here) and Dask
    arrays (``fastem._dask_init``), which supply how to get at their rows:
    ``every_row()`` and ``rows(index)`` (``ArrayData``), ``seed_rows(index)``
    (an array), ``assigned(centers)`` (the statistics of every row assigned
    to its nearest centre) and ``in_order`` (an object whose ``chunks``
    yields the rows in order, for ``'random'``).
    """
    n, K = data.n_samples, est.n_components
    if method == "hc" and n > _init.KMEANS_MAX_ROWS:
        return None  # the caller's sample (hc holds its rows)
    if n <= _init.KMEANS_MAX_ROWS:  # the in-memory initialization runs on every row
        sample = every_row()
        var = est._check_scale(sample)
        stats = initial_stats(
            sample.X, sample.sample_weight, K, method, cov, rng, est.n_threads, feature_var=var
        )
        return stats, sample
    if method in ("kmeans", "k-means++"):
        sample = rows(subsample_indices(n, rng))
        est._check_scale(sample)
        Xs, ws = sample.X, sample.sample_weight
        seeds = kmeans_plusplus(Xs, ws, K, rng, est.n_threads)
        if method == "k-means++":
            return _one_hot_stats(Xs, seeds, cov), sample
        centers, _ = lloyd(Xs, ws, Xs[seeds], est.n_threads)
        return assigned(centers), sample
    sample = data.sample_for_init(None, None)  # for the scale check only: rng is not used
    est._check_scale(sample)
    if method == "random_from_data":
        seeds = rng.choice(n, size=K, replace=False)
        return _one_hot_stats(seed_rows(seeds), np.arange(K), cov), sample
    return _random_stats(in_order, K, rng, cov), sample
