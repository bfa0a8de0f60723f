"""The streamed data object: exact EM over a chunked source, one pass per iteration.

:class:`StreamData` speaks the *data* protocol of ``fastem._passes``: each
``stats`` call is one full pass over the source, chunk by chunk; the
:class:`~fastem._stats.SuffStats` of the chunks are added in order, so an EM
iteration is exact EM, not a stochastic approximation. The next chunk is read
and validated in a background thread while the kernel (which releases the GIL)
works on the current one, except in the passes over a plain ``.npy`` file,
whose kernels read the rows themselves (``fastem._direct``). Initialization is
the in-memory one where the row count is known (``fastem._stream_init``), and
otherwise runs on a seeded uniform reservoir sample of the rows.

The estimator reaches it through ``fastem._stream_api`` (``fit_data`` and
``predict_data`` wrap a source, ``score`` scores one); ``fastem._writers.rowwise_to``
writes row-wise results chunk by chunk to ``out=``.
"""

from __future__ import annotations

from contextlib import closing

import numpy as np

from . import _direct, _missing
from ._passes import ArrayData
from ._validation import WEIGHT_RANGE, ZERO_WEIGHTS, check_positive_rows, weight_scale_message
from .sources import Source, SourceError, prefetch
from .sources._base import _check_weights, _err, check_values
from .sources._factory import is_source_like
from .sources._prefetch import Progress

#: Rows of the reservoir sample the initialization runs on (at most ~64 MB).
INIT_SAMPLE_ROWS = 100_000
_INIT_SAMPLE_BYTES = 64 << 20
#: Chunks read ahead of the one being processed.
PREFETCH_DEPTH = 1


def is_streamed(X):
    """True if ``X`` is read as a chunked source instead of an in-memory array."""
    return is_source_like(X)


class _WeightCutter:
    """Cuts a parallel per-row vector (in memory or a one-column source) to each chunk."""

    name = "sample_weight"
    dtype = np.float64

    def __init__(self, weights):
        if isinstance(weights, Source):
            self.name = weights.name
            self._it = (w for _, w, _ in weights._chunks(None))
        else:
            self._it = iter([weights])
        self._buf = np.empty(0)
        self._pos = 0

    def _check(self, buf, offset):
        _check_weights(buf, self.name, offset)

    def take(self, offset, m):
        parts = []
        need = m
        while need:
            if self._pos == len(self._buf):
                try:
                    nxt = next(self._it)
                except StopIteration:
                    raise _err(
                        self.name, offset + m - need, f"the {self.what} end before the data"
                    ) from None
                self._buf = np.asarray(nxt).reshape(-1)
                self._pos = 0
                self._check(self._buf, offset + m - need)
                self._buf = self._buf.astype(self.dtype, copy=False)
                continue
            k = min(need, len(self._buf) - self._pos)
            parts.append(self._buf[self._pos : self._pos + k])
            self._pos += k
            need -= k
        w = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return np.ascontiguousarray(w)

    def finish(self, offset):
        if self._pos < len(self._buf) or next(self._it, None) is not None:
            raise _err(self.name, offset, f"there are more {self.what} than rows of data")

    what = "weights"


class _LabelCutter(_WeightCutter):
    """Cuts parallel labels (-1 or NaN: unknown) to each chunk, checking their range."""

    name = "labels"
    dtype = np.int64
    what = "labels"

    def __init__(self, labels, n_components):
        super().__init__(labels)
        self.n_components = n_components

    def _check(self, buf, offset):
        if buf.dtype.kind == "f":
            nan = np.isnan(buf)
            if nan.any():  # NaN: unknown, as -1 (in a copy: the caller's labels stay as given)
                buf = self._buf = np.where(nan, -1.0, buf)
            if np.any(buf != np.round(buf)):
                row = offset + int(np.argmax(buf != np.round(buf)))
                raise _err(self.name, row, "a label that is not an integer")
        elif buf.dtype.kind not in "iu":
            raise _err(self.name, offset, f"labels of dtype {buf.dtype}; they must be integers")
        bad = (buf < -1) | (buf >= self.n_components)
        if bad.any():
            row = offset + int(np.argmax(bad))
            raise _err(
                self.name, row, f"label outside [-1, {self.n_components}); use -1 for unknown"
            )


class StreamData:
    """A chunked source seen as one data set by the EM loop.

    Parameters
    ----------
    src : Source
        The data (its weight column, if any, gives the sample weights).
    weights : Source or ndarray or float, default=None
        Sample weights parallel to ``src``: a one-column source, an in-memory
        vector, or a constant.
    progress : bool, default=False
        Draw a progress bar per pass on a terminal.
    """

    #: its passes run the complete-data pass kernel in this process (``_kernels._ahead``)
    kernels_here = True

    def __init__(
        self,
        src,
        weights=None,
        progress=False,
        min_rows=1,
        labels=None,
        missing="error",
        n_components=None,
        fitted_by=None,
    ):
        self.source = src
        #: the estimator's class name in ``fit`` (at least 2 rows), else None
        self.fitted_by = fitted_by
        self.weights = weights
        self.label_values = labels  # parallel labels: an array or a one-column source
        self.missing = missing
        self.n_components = n_components
        src.allow_nan = missing == "marginalize"
        self.progress = progress
        self.n_features = src.n_features
        self.dtype = src.dtype
        #: chunks cast to ``dtype``: float32 rows on a float64 model widened to float64, or
        #: a float16 file's rows (read as float64) scored in float32 (:func:`predict_data`)
        self.widen = False
        self.sample_weight = None  # weights live in the stream, never in memory
        self._sample = None
        # True once a fit's pass found an observed value in every column (missing="marginalize")
        self._columns_observed = missing != "marginalize"
        self.min_rows = min_rows
        #: the rows of positive weight in the last whole pass; None: no weights, or no
        #: whole pass yet (a fit refuses too few of them, :meth:`_checked`)
        self.positive_rows = None
        # the reader's buffers, kept from pass to pass: passes of one StreamData
        # never overlap (each joins its reader thread before returning)
        self._ring = []
        self._bufs = None  # the direct reads' per-thread buffers: (key, array)

    @property
    def n_samples(self):
        return self.source.n_rows

    # -------------------------------------------------------------- reading

    def _row_extras(self):
        """``take(offset, rows, w) -> (w, labels)`` and ``finish()`` for one pass.

        They cut the parallel weights and labels (in memory or one-column
        sources) to each chunk; ``w`` is the chunk's weight column, if any.
        ``finish`` sets :attr:`positive_rows` from the pass's weights.
        """
        weights = self.weights
        positive = [0, False]  # rows of positive weight, whether any chunk had weights
        cutter = None
        if isinstance(weights, (Source, np.ndarray)):
            cutter = _WeightCutter(weights)
        lab_cutter = None
        if self.label_values is not None:
            lab_cutter = _LabelCutter(self.label_values, self.n_components)

        def take(offset, rows, w=None):
            if cutter is not None:
                w = cutter.take(offset, rows)
            elif isinstance(weights, float):
                w = np.full(rows, weights)
            if w is None:
                positive[0] += rows
            else:
                positive[0] += int(np.count_nonzero(np.asarray(w) > 0))
                positive[1] = True
            return w, None if lab_cutter is None else lab_cutter.take(offset, rows)

        def finish():
            self.positive_rows = positive[0] if positive[1] else None
            for c in (cutter, lab_cutter):
                if c is not None:
                    c.finish(self.source.n_rows)

        return take, finish

    def _reader(self, check_finite=True):
        """(offset, X, w, labels) validated, in the reader thread."""
        take, finish = self._row_extras()
        for offset, X, w in self.source._chunks(PREFETCH_DEPTH + 2, check_finite, self._ring):
            yield offset, X, *take(offset, X.shape[0], w)
        finish()

    def chunks(self, label="pass", check_finite=True):
        """Validated ``(offset, X, w)`` chunks, read one ahead in a background thread."""
        bar = Progress(self.progress, self.source.n_rows, label)
        try:
            for item in prefetch(self._reader(check_finite), PREFETCH_DEPTH):
                yield item
                bar.update(item[1].shape[0], item[1].nbytes)
        finally:
            bar.close()

    # ------------------------------------------------------------ protocol

    def stats(self, params, n_threads):
        # Without NaN marginalization the NaN/inf scan of each chunk is left to
        # this thread, and done only for a chunk whose statistics are not finite
        # (``SuffStats.finite``): any NaN or inf value makes them NaN or -inf. This keeps one
        # full read of every chunk off the reader thread, which competes with
        # the kernel's threads for the cores.
        defer = self.missing != "marginalize"
        layout = _direct.layout(self, params)
        if layout is not None:
            return self._checked(_direct.stats(self, params, n_threads, *layout))
        total = None
        unseen = None if self._columns_observed else np.arange(self.n_features)
        with closing(self.chunks("EM pass", check_finite=not defer)) as chunks:
            for offset, X, w, labels in chunks:
                s = self._wrap(X, w, labels, rows=offset).stats(params, n_threads)
                if defer and not s.finite():
                    check_values(X, self.source.name, offset)
                if unseen is not None:
                    unseen = _unobserved(X, unseen)
                total = s if total is None else total + s
        if unseen is not None and total is not None:
            self._check_observed(unseen)
        return self._checked(total)

    def _check_observed(self, unseen):
        """Refuse a column without any observed value in a whole pass (``unseen``: their indices).

        As in memory (``MissingData(fitting=True)``), but over every chunk: a
        column may be missing from some chunks and observed in others.
        """
        if unseen.size:
            raise SourceError(
                f"{self.source.name}: Column {unseen[0]} of X has no observed value in any row "
                "of the source; drop it before fitting."
            )
        self._columns_observed = True

    def _check_rows(self, n):
        """Refuse a fit on ``n`` rows, as in memory: fewer than 2 (``fit``), or than
        ``min_rows``."""
        check_rows(n, self.n_features, self.min_rows, self.fitted_by)

    def _checked(self, total):
        if total is None:
            raise _err(self.source.name, 0, "the source holds no rows")
        if self.source.n_rows is not None:  # (a callable's, known once a pass has read it)
            self._check_rows(self.source.n_rows)
        if not total.wsum > 0:
            raise ValueError(ZERO_WEIGHTS)
        if self.fitted_by is not None and self.positive_rows is not None:
            check_positive_rows(self.positive_rows, self.min_rows)
        mean = total.unit_weight
        if not (np.isfinite(total.wsum) and WEIGHT_RANGE[0] <= mean <= WEIGHT_RANGE[1]):
            raise ValueError(weight_scale_message(mean, "mean"))
        return total

    def iter_rowwise(self, params, n_threads, **what):
        """Yield ``(offset, (logprob, resp, labels))`` chunk by chunk."""
        layout = _direct.layout(self, params)
        if layout is not None:
            yield from _direct.iter_rowwise(self, params, n_threads, *layout, **what)
            return
        with closing(self.chunks("predict")) as chunks:
            for offset, X, _, _ in chunks:  # in pieces (their probabilities bounded)
                for r0, res in self._wrap(X, rows=offset).iter_rowwise(params, n_threads, **what):
                    yield offset + r0, res

    def rowwise(self, params, n_threads, **what):
        """``(logprob, resp, labels)`` of every row, each chunk's written into arrays of the
        source's length as it comes (the chunks' results kept in a list and then concatenated
        were held twice: two ``(n_samples, n_components)`` arrays for ``predict_proba``).
        Where the length is not known when the first chunk comes (a CSV file's first pass),
        or the chunks do not fill it, they are concatenated."""
        outs, parts, filled = None, [], 0
        for offset, res in self.iter_rowwise(params, n_threads, **what):
            rows = next(r.shape[0] for r in res if r is not None)
            n = self.source.n_rows  # (read after the pass opened the source: its length now)
            if outs is None and not parts and n is not None:
                outs = [None if r is None else np.empty((n, *r.shape[1:]), r.dtype) for r in res]
            fits = outs is not None and offset == filled and filled + rows <= n
            if fits and all(r is None or np.can_cast(r.dtype, o.dtype) for o, r in zip(outs, res)):
                for o, r in zip(outs, res):
                    if o is not None:
                        o[filled : filled + rows] = r
            else:  # in pieces from here on
                if outs is not None:
                    parts.append(tuple(None if o is None else o[:filled] for o in outs))
                    outs = None
                parts.append(res)
            filled += rows
        if filled == 0:
            raise _err(self.source.name, 0, "the source holds no rows")
        if outs is not None:
            return tuple(None if o is None else o[:filled] for o in outs)
        return tuple(
            None if parts[0][i] is None else np.concatenate([p[i] for p in parts]) for i in range(3)
        )

    def _wrap(self, X, w=None, labels=None, rows=0):
        """The in-memory data object of some rows (NaN handled when marginalizing).

        ``rows``: the source's row of the first row of ``X`` (a chunk), or of
        each row (the initialization sample), for the errors. A column without
        any observed value is not refused here (it may be observed in other
        chunks) but after a whole pass (:meth:`_check_observed`).
        """
        if self.widen:
            X = X.astype(self.dtype)
        if self.missing == "marginalize" and _missing.has_nan(X):
            try:
                return _missing.wrap_data(X, w, labels, missing="marginalize")
            except _missing.EmptyRowError as e:
                raise row_in_source(e, self.source.name, rows) from None
        return ArrayData(X, w, labels)

    def initial_stats(self, est, rng, method, covariance_type):
        """``(stats, sample)`` of the in-memory initialization of these rows, or None.

        See ``fastem._stream_init``: with the same ``random_state`` a fit on
        a source starts where the in-memory fit of the same rows starts.
        """
        from ._stream_init import stream_initial_stats

        return stream_initial_stats(self, est, rng, method, covariance_type)

    def sample_for_init(self, max_rows, rng):
        """A uniform reservoir sample of the rows (with their weights), drawn once.

        Algorithm R with one uniform draw from ``rng`` per row past the first
        ``max_rows``; the draws do not depend on the chunking, and when the
        source has at most ``max_rows`` rows the sample is all of it, in order,
        and ``rng`` is not used.
        """
        if self._sample is not None:
            return self._sample
        if rng is None:  # asked for outside initialization (re-seeding): any fixed seed
            rng = np.random.RandomState(0)
        D = self.n_features
        if max_rows is None:
            max_rows = max(1000, min(INIT_SAMPLE_ROWS, _INIT_SAMPLE_BYTES // (8 * D)))
        m = int(max_rows)
        res_X = None
        res_w = res_l = None
        res_r = np.empty(m, dtype=np.int64)  # the source's row in each slot (for errors)
        filled = seen = 0
        unseen = None if self._columns_observed else np.arange(D)
        with closing(self.chunks("init sample")) as chunks:
            for offset, X, w, lab in chunks:
                if res_X is None:
                    res_X = np.empty((m, D), dtype=X.dtype)
                    res_w = None if w is None else np.empty(m)
                    res_l = None if lab is None else np.empty(m, dtype=np.int64)
                if unseen is not None:
                    unseen = _unobserved(X, unseen)
                n = X.shape[0]
                take = min(m - filled, n)
                if take:
                    res_X[filled : filled + take] = X[:take]
                    res_r[filled : filled + take] = np.arange(offset, offset + take)
                    if res_w is not None:
                        res_w[filled : filled + take] = w[:take]
                    if res_l is not None:
                        res_l[filled : filled + take] = lab[:take]
                    filled += take
                if n > take:
                    i = np.arange(seen + take, seen + n, dtype=np.float64)
                    j = np.floor(rng.random_sample(n - take) * (i + 1)).astype(np.int64)
                    hit = np.nonzero(j < m)[0]
                    slots = j[hit]
                    # keep the last row that lands in each slot
                    uniq, first_rev = np.unique(slots[::-1], return_index=True)
                    rows = hit[len(slots) - 1 - first_rev] + take
                    res_X[uniq] = X[rows]
                    res_r[uniq] = offset + rows
                    if res_w is not None:
                        res_w[uniq] = w[rows]
                    if res_l is not None:
                        res_l[uniq] = lab[rows]
                seen += n
        self._check_rows(seen)
        if unseen is not None:
            self._check_observed(unseen)
        X = np.ascontiguousarray(res_X[:filled])
        w = None if res_w is None else np.ascontiguousarray(res_w[:filled])
        if w is not None and not w.sum() > 0:
            raise ValueError("the sample weights of the initialization sample sum to zero.")
        if w is not None and not WEIGHT_RANGE[0] <= w.max() <= WEIGHT_RANGE[1]:
            raise ValueError(weight_scale_message(w.max()))
        labels = None if res_l is None else np.ascontiguousarray(res_l[:filled])
        # NaN (missing="marginalize"): the sample's column means fill them, as in memory; a
        # column observed in the source but in none of the sample's rows, the mean of its
        # observed values in the source (one more pass, for those columns only)
        sample = self._wrap(X, w, labels, rows=res_r[:filled])
        if isinstance(sample, _missing.MissingData):
            gaps = np.flatnonzero(np.isnan(X).all(axis=0))
            fill = self._observed_means(gaps) if gaps.size else None
            self._sample = sample.sample_for_init(None, None, fill=fill)
        else:
            self._sample = sample.sample_for_init(None, None)
        return self._sample

    def _observed_means(self, cols):
        """The mean of the observed values of each column of ``cols`` over the source (NaN
        in the other columns): where the initialization sample saw none of them. Weighted by
        the sample weights as the sample's own means are (``_missing.column_nanmeans``: a
        row of weight 0 counts as no row), unweighted where a column's observed values all
        weigh 0."""
        total, count = np.zeros(cols.size), np.zeros(cols.size)
        w_total, w_sum = np.zeros(cols.size), np.zeros(cols.size)
        with closing(self.chunks("column means")) as chunks:
            for _, X, w, _ in chunks:
                values = X[:, cols].astype(np.float64)
                seen = ~np.isnan(values)
                values = np.where(seen, values, 0.0)
                total += values.sum(axis=0)
                count += seen.sum(axis=0)
                if w is not None:
                    w_total += w @ values
                    w_sum += w @ seen
        fill = np.full(self.n_features, np.nan)
        # every column is observed somewhere (_check_observed)
        weighed = w_sum > 0
        fill[cols] = np.where(weighed, w_total / np.where(weighed, w_sum, 1.0), total / count)
        return fill


def row_in_source(error, name, rows):
    """``error`` (``_missing.EmptyRowError``: a row of an array with every value missing) as
    the error of the source ``name``, at the row's place in it: ``rows`` is the source's row
    of the array's first row, or of each of its rows.

    Examples
    --------
    >>> str(row_in_source(_missing.EmptyRowError(1), "data.npy", np.array([40, 75, 90])))[:54]
    'data.npy, row offset 75: every value of the row is mis'
    """
    at = rows + error.row if np.ndim(rows) == 0 else int(rows[error.row])
    return _err(
        name,
        at,
        "every value of the row is missing; such a row carries no information: drop the rows "
        "without any observed value before fitting or scoring.",
    )


def _unobserved(X, unseen):
    """The columns of ``unseen`` (indices) that have no observed value in the chunk ``X`` either.

    A pass looks at a chunk's columns only while some have not yet shown an
    observed value, and at the first rows of the chunk first: usually the first
    rows of its first chunk show every column, and the rest of the pass costs nothing.
    """
    for rows in (X[:_FIRST_ROWS], X):
        if unseen.size:
            unseen = unseen[np.isnan(rows[:, unseen]).all(axis=0)]
    return unseen


_FIRST_ROWS = 1024  # rows of a chunk looked at first by _unobserved


def check_rows(n, n_features, n_components, who):
    """Refuse to fit ``n`` rows as the in-memory fit does: fewer than 2 (scikit-learn's
    ``ensure_min_samples=2``, its words) where ``who`` (the estimator's class name) is
    given, and fewer than ``n_components``."""
    if n < 2 and who is not None:
        raise ValueError(
            f"Found array with {n} sample(s) (shape=({n}, {n_features})) while a minimum of 2 "
            f"is required by {who}."
        )
    if n < n_components:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = {n_components}, "
            f"n_samples = {n}; pass more rows or lower n_components."
        )


__all__ = ["StreamData", "SourceError", "check_rows", "is_streamed", "row_in_source"]
