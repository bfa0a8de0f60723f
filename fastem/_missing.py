"""Incomplete data: known labels for some rows, and missing feature values.

Two kinds of incompleteness are handled:

* **Partial labels.** ``fit(X, labels=...)`` with a component index for known
  rows and -1 for the others. The fused kernel of ``_em.py`` takes the labels
  as is (one-hot responsibilities, log-likelihood ``log w_j + log N(x | j)``);
  this module only validates them (:func:`check_labels`).

* **Missing values** (``missing="marginalize"``). A NaN means "not observed"
  and the data are assumed missing at random. :class:`MissingData` splits the
  rows into complete rows, which take the unchanged fast path
  (:class:`~fastem._passes.ArrayData`), and rows with NaN, grouped by
  missingness pattern. For a row with observed coordinates ``O`` and missing
  ``M``, component ``k`` contributes its marginal density
  ``N(x_O | mu_O, Sigma_OO)`` to the E-step, and the expected statistics

  .. math::

     E[x_M | x_O] = mu_M + Sigma_MO Sigma_OO^{-1} (x_O - mu_O), \\qquad
     Cov[x_M | x_O] = Sigma_MM - Sigma_MO Sigma_OO^{-1} Sigma_OM

  to the M-step: the row is filled with its conditional mean, and the
  conditional covariance is added to the missing block of the centred second
  moment. The statistics have the :class:`~fastem._stats.SuffStats` layout
  (centred on the current means) and add to those of the complete rows before
  the usual M-step: exact EM for data missing at random. Each pattern's
  observed blocks are factored once per iteration. With little per-pattern work
  (or many rows per pattern) that is batched NumPy, and the rows run through the
  complete-data kernels in compact coordinates (:mod:`fastem._patterns`): no
  kernel of their own to compile. With many patterns of few rows, the
  missing-value kernels do both (:mod:`fastem._pattern_kernels`). No
  ``(n_samples, n_components, n_features)`` temporary either way.
"""

import numbers
import weakref

import numpy as np

from ._passes import ArrayData, piece_rows
from ._stats import SuffStats
from ._validation import InvalidParameterError

MISSING_OPTIONS = ("error", "marginalize")
_LOG_2PI = np.log(2 * np.pi)
# Bytes of per-pattern factors (Linv, A, Cc) held at once; patterns beyond are batched.
_FACTOR_BUDGET = 64 << 20
_CHUNK = 65536  # rows per chunk when scanning for NaN
#: rows per piece of ``out=`` at least (:meth:`MissingData.iter_rowwise`): a pattern's factors,
#: computed again in each piece, cost at most those of ``n_features`` of its rows per row
#: (n_features^3 against n_features^2 per component), so a piece of 16,384 rows adds
#: n_patterns x n_features / 16,384 of the pass at most
MIN_PIECE_ROWS = 16384
# Which path the rows with NaN take (``MissingData._rows_with_nan``; a function of the data
# and the model's size alone). In compact coordinates through the complete-data kernels
# (``fastem._patterns``), nothing of their own compiles and each row costs less, but each
# pattern costs NumPy calls on every pass: about 40 us x (K / 8) x (D / 8)^2. That path runs
# when this per-pattern work is at most COMPACT_WORK = n_patterns x K x D^2 (about 35 ms per
# pass at most, so that a hundred passes cost no more than compiling the other path's kernels,
# 3.5-4 s), or when there are COMPACT_ROWS or more rows with NaN per pattern (where it is the
# faster path; bench/NOTES.md section 20). Otherwise the missing-value kernels run
# (``fastem._pattern_kernels``).
COMPACT_WORK = 1 << 19
COMPACT_ROWS = 1000


def check_missing_option(missing):
    if missing not in MISSING_OPTIONS:
        raise InvalidParameterError(
            f"missing must be one of {MISSING_OPTIONS}, got {missing!r}: 'error' rejects NaN, "
            "'marginalize' treats NaN as a value that was not observed."
        )


def nan_error():
    return ValueError(
        'X contains NaN. GaussianMixture(missing="error") rejects missing values: remove or '
        'impute them, or fit with GaussianMixture(missing="marginalize") to treat NaN as not '
        "observed (exact EM for values missing at random)."
    )


def check_labels(labels, n_samples, n_components):
    """Validated int64 labels of shape (n_samples,), or None.

    Parameters
    ----------
    labels : array-like of shape (n_samples,) or None
        Component index (``0 <= j < n_components``) for rows whose component is
        known, -1 for the others.
    n_samples, n_components : int

    Returns
    -------
    labels : ndarray of shape (n_samples,) and dtype int64, or None

    Examples
    --------
    >>> check_labels([0, -1, 1], 3, 2)
    array([ 0, -1,  1])
    >>> check_labels([0, 2], 2, 2)
    Traceback (most recent call last):
    ...
    ValueError: labels must lie in [-1, n_components) = [-1, 2), got max 2; ...
    """
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.dtype == object and arr.size and all(_is_int(v) for v in arr.flat):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu" or arr.dtype == np.bool_:
        hint = " (not NaN)" if arr.dtype.kind == "f" else ""
        raise ValueError(
            f"labels must be an integer array, got dtype {arr.dtype}; give the component index "
            f"of each known row and -1{hint} for rows whose component is unknown."
        )
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(
            f"labels must have shape ({n_samples},) to match X, got {arr.shape}; pass one "
            "label per row, -1 where unknown."
        )
    if arr.size and (arr.min() < -1 or arr.max() >= n_components):
        bad = "min" if arr.min() < -1 else "max"
        val = arr.min() if bad == "min" else arr.max()
        raise ValueError(
            f"labels must lie in [-1, n_components) = [-1, {n_components}), got {bad} {val}; "
            "use -1 for unknown rows, and code the known components 0, 1, ..., "
            "n_components - 1 (or raise n_components)."
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def _is_int(value):
    """An integer that is not a bool (True is no component index: a bool array is refused)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


# --------------------------------------------------------------------------
# model parameters from the kernel layout
# --------------------------------------------------------------------------


def _model(params):
    """(mu, Sigma, log w) in float64 from :class:`~fastem._stats.KernelParams`.

    Recomputed from the same (dtype-rounded) parameters the complete-data
    kernel uses, so both kinds of rows see one model.
    """
    mu = params.shift
    K, D = mu.shape
    prec = np.asarray(params.prec, dtype=np.float64)
    if prec.shape[1] > 1:  # upper U with precision U U^T: Sigma = U^-T U^-1
        Uinv = np.linalg.inv(prec)
        Sigma = np.einsum("kji,kjl->kil", Uinv, Uinv)
        Sigma = 0.5 * (Sigma + Sigma.transpose(0, 2, 1))
        logdet = np.log(np.diagonal(prec, axis1=1, axis2=2)).sum(axis=1)
    else:
        p = prec[:, 0, :]
        Sigma = np.zeros((K, D, D))
        idx = np.arange(D)
        Sigma[:, idx, idx] = 1.0 / (p * p)
        logdet = np.log(p).sum(axis=1)
    logw = params.const - logdet + 0.5 * D * _LOG_2PI
    return mu, np.ascontiguousarray(Sigma), logw


class MissingData:
    """In-memory data with NaN marking values that were not observed.

    Has the *data* interface of :class:`~fastem._passes.ArrayData`
    (``stats``, ``rowwise``, ``sample_for_init``); rows without NaN are
    delegated to an ``ArrayData`` of the complete rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated float32/float64 array; NaN marks a missing value.
    sample_weight : ndarray of shape (n_samples,) or None
    labels : ndarray of shape (n_samples,) of int64 or None
    fitting : bool, default=False
        Training data: also reject a column without any observed value.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, np.nan], [3.0, 4.0]])
    >>> data = MissingData(X)
    >>> data.n_complete, data.n_patterns
    (2, 2)
    """

    #: its complete rows, and rows with NaN in few patterns (in compact coordinates), run the
    #: complete-data pass kernel in this process, so a fit may start the compile helper
    #: (``_kernels._ahead``); with many patterns of few rows its functions may go unused
    kernels_here = True

    def __init__(self, X, sample_weight=None, labels=None, *, fitting=False):
        self.X = X
        self.sample_weight = sample_weight
        self.labels = labels
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        n, D = X.shape
        # one pass in chunks (no (n_samples, n_features) temporary): which rows
        # miss values, and the packed missingness pattern of those rows
        row_missing = np.zeros(n, dtype=np.bool_)
        col_seen = np.zeros(D, dtype=np.bool_)
        packed = []
        for r0 in range(0, n, _CHUNK):
            m = np.isnan(X[r0 : r0 + _CHUNK])
            any_m = m.any(axis=1)
            row_missing[r0 : r0 + _CHUNK] = any_m
            col_seen |= ~m.all(axis=0)
            empty = np.flatnonzero(m.all(axis=1))
            if empty.size:
                raise EmptyRowError(r0 + int(empty[0]))
            packed.append(np.packbits(m[any_m], axis=1))
        if fitting and not col_seen.all():
            raise EmptyColumnError(int(np.flatnonzero(~col_seen)[0]))
        complete = np.flatnonzero(~row_missing)
        self.complete_rows = complete
        self.n_complete = complete.size
        self.complete = ArrayData(
            np.ascontiguousarray(X[complete]),
            None if sample_weight is None else sample_weight[complete],
            None if labels is None else labels[complete],
        )
        inc = np.flatnonzero(row_missing)
        packed = np.ascontiguousarray(np.concatenate(packed))
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(inverse.ravel(), kind="stable")
        self.rows = inc[order].astype(np.int64)
        self.pat = inverse.ravel()[order].astype(np.int64)
        pmask = np.unpackbits(packed[first], axis=1, count=D).astype(np.bool_)  # True: missing
        self.n_patterns = P = pmask.shape[0]
        self.nobs = (~pmask).sum(axis=1).astype(np.int64)
        self.nmis = pmask.sum(axis=1).astype(np.int64)
        # a stable sort puts the observed (False) coordinates first, in order, and vice versa
        self.obs = np.argsort(pmask, axis=1, kind="stable").astype(np.int64)
        self.mis = np.argsort(~pmask, axis=1, kind="stable").astype(np.int64)
        self.offsets = np.searchsorted(self.pat, np.arange(P + 1))
        self._incomplete = {}

    def _rows_with_nan(self, params):
        """The handler of the rows with NaN: compact coordinates through the complete-data
        kernels (in NumPy for small inputs), or the missing-value kernels (many patterns of
        few rows). A function of the data and the model's size alone, like ``params.small``."""
        P, (K, D) = self.n_patterns, params.shift.shape
        # small inputs too: a pass in NumPy over thousands of patterns costs seconds
        compact = P * K * D * D <= COMPACT_WORK or self.rows.size >= COMPACT_ROWS * P
        if compact not in self._incomplete:
            from ._pattern_kernels import PatternKernels
            from ._patterns import CompactRows

            make = CompactRows if compact else PatternKernels
            # the handler is cached here and holds this object by a weak reference: a strong
            # one made a cycle that kept both (copies of X's rows, O(n_samples x n_features))
            # after the call, until Python's cyclic collector happened to run
            self._incomplete[compact] = make(weakref.proxy(self), _FACTOR_BUDGET)
        return self._incomplete[compact]

    def stats(self, params, n_threads):
        """Expected sufficient statistics of every row under ``params``."""
        if self.n_complete:
            total = self.complete.stats(params, n_threads)
        else:
            total = SuffStats.zeros(params)
        if self.rows.size:
            total = total + self._rows_with_nan(params).stats(params, _model(params), n_threads)
        return total

    def rowwise(self, params, n_threads, *, logprob=False, resp=False, labels=False):
        """Row-wise outputs (log p(x), resp, argmax) with marginal densities for rows with NaN."""
        what = dict(logprob=logprob, resp=resp, labels=labels)
        n, K = self.n_samples, params.shift.shape[0]
        outs = [np.empty(n) if logprob else None, np.empty((n, K)) if resp else None,
                np.empty(n, dtype=np.int64) if labels else None]  # fmt: skip
        parts = []
        if self.n_complete:
            parts.append((self.complete_rows, self.complete.rowwise(params, n_threads, **what)))
        if self.rows.size:
            handler = self._rows_with_nan(params)
            parts.append((self.rows, handler.rowwise(params, _model(params), n_threads, **what)))
        for rows, got in parts:
            for out, g in zip(outs, got):
                if out is not None:
                    out[rows] = g
        return tuple(outs)

    def iter_rowwise(self, params, n_threads, **what):
        """``(offset, (logprob, resp, labels))`` of pieces of rows in order, each piece a
        :class:`MissingData` of its own (``out=`` and a model selection's scores hold one
        piece's results). Each piece factors again the patterns its rows have, so a piece
        holds at least :data:`MIN_PIECE_ROWS` rows."""
        piece = max(MIN_PIECE_ROWS, piece_rows(params.shift.shape[0]))
        if self.n_samples <= piece:
            yield 0, self.rowwise(params, n_threads, **what)
            return
        for r0 in range(0, self.n_samples, piece):
            yield r0, MissingData(self.X[r0 : r0 + piece]).rowwise(params, n_threads, **what)

    def sample_for_init(self, max_rows, random_state, fill=None):
        """The rows with NaN replaced by the column means, weighted by the sample weights
        (initialization only); ``fill``: the means of the columns with no observed value in
        these rows (a source's initialization sample: those of the whole source), NaN
        elsewhere."""
        X = self.X.copy()
        if fill is None:
            means = column_nanmeans(self.X, self.sample_weight)
        else:
            given = ~np.isnan(fill)
            means = fill.copy()
            means[~given] = column_nanmeans(self.X, self.sample_weight)[~given]
        for r0 in range(0, X.shape[0], _CHUNK):  # (no (n_samples, n_features) mask)
            block = X[r0 : r0 + _CHUNK]
            rows, cols = np.nonzero(np.isnan(block))
            block[rows, cols] = means[cols]
        sample = ArrayData(X, self.sample_weight, self.labels)
        sample.raw_X = self.X  # with its NaN: prior="default" takes the complete rows
        return sample


def column_nanmeans(X, w=None):
    """``np.nanmean(X, axis=0)`` to the last bit, in chunks of rows: NumPy's made a copy of
    ``X`` with its NaN zeroed and a mask of its NaN, ``(n_samples, n_features)`` each. The
    sums run row after row in ``X``'s dtype, as NumPy's reduction over the first axis does.

    ``w`` (sample weights): the weighted means in float64, so that a row of weight zero
    counts as no row and a row of weight 2 as two; a column whose observed values all weigh
    zero gets its unweighted mean."""
    if w is not None:
        total, wsum = np.zeros(X.shape[1]), np.zeros(X.shape[1])
        for r0 in range(0, X.shape[0], _CHUNK):
            block, wc = X[r0 : r0 + _CHUNK], w[r0 : r0 + _CHUNK]
            seen = ~np.isnan(block)
            total += wc @ np.where(seen, block, 0.0)
            wsum += wc @ seen
        weighed = wsum > 0
        means = total / np.where(weighed, wsum, 1.0)
        if not weighed.all():
            means[~weighed] = column_nanmeans(X)[~weighed]
        return means
    total = np.zeros((1, X.shape[1]), dtype=X.dtype)
    count = np.zeros(X.shape[1], dtype=np.intp)
    for r0 in range(0, X.shape[0], _CHUNK):
        block = X[r0 : r0 + _CHUNK]
        nan = np.isnan(block)
        total = np.add.reduce(np.concatenate([total, np.where(nan, 0, block)]), 0, keepdims=True)
        count += (~nan).sum(axis=0)
    means = total[0]
    with np.errstate(invalid="ignore"):  # (a column without a value: NaN, as NumPy's)
        np.true_divide(means, count, out=means, casting="unsafe")
    return means


class EmptyColumnError(ValueError):
    """Column ``column`` of training ``X`` has no observed value (a ``ValueError``): a caller
    that fits from part of the data says which part (``fit_online``'s first batch)."""

    def __init__(self, column):
        super().__init__(f"Column {column} of X has no observed value; drop it before fitting.")
        self.column = column


class EmptyRowError(ValueError):
    """Row ``row`` of ``X`` has every value missing (a ``ValueError``, in-memory wording): a
    caller that read the rows from a source names the row there (``_stream.row_in_source``).

    Examples
    --------
    >>> str(EmptyRowError(3))[:37]
    'Row 3 of X has every value missing; s'
    """

    def __init__(self, row):
        super().__init__(
            f"Row {row} of X has every value missing; such a row carries no information: drop "
            "the rows where np.isnan(X).all(axis=1) before fitting or scoring."
        )
        self.row = row


# --------------------------------------------------------------------------
# chunked sources
# --------------------------------------------------------------------------


def has_nan(X):
    """Whether ``X`` holds a NaN (a cheap sum first; the mask only if it is not finite)."""
    return not np.isfinite(X.sum(dtype=np.float64)) and bool(np.isnan(X).any())


def wrap_data(X, sample_weight=None, labels=None, *, missing="error", fitting=False):
    """The data object for in-memory rows: the whole input, or one chunk of a chunked source.

    A chunked source maps each chunk to ``wrap_data(...).stats(params,
    n_threads)`` and adds the :class:`~fastem._stats.SuffStats`; labels (a
    parallel label source, or a column split off with
    :func:`split_label_column`) and NaN are handled chunk by chunk, and the
    sum equals the statistics of the whole data.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        C-contiguous float32/float64 chunk; may hold NaN when
        ``missing='marginalize'``.
    sample_weight : ndarray of shape (n_rows,) or None
    labels : ndarray of shape (n_rows,) of int64 or None
    missing : {'error', 'marginalize'}
    fitting : bool, default=False
        Training data: also reject a column without any observed value.

    Returns
    -------
    data : ArrayData or MissingData

    Examples
    --------
    >>> import numpy as np
    >>> chunk = np.array([[0.0, 1.0], [np.nan, 2.0]])
    >>> type(wrap_data(chunk, missing="marginalize")).__name__
    'MissingData'
    >>> type(wrap_data(chunk[:1])).__name__
    'ArrayData'
    """
    check_missing_option(missing)
    if has_nan(X):
        if missing == "error":
            raise nan_error()
        return MissingData(X, sample_weight, labels, fitting=fitting)
    return ArrayData(X, sample_weight, labels)


def split_label_column(chunk, column):
    """Split a label column off a chunk: (features, labels).

    The label column holds component indices; -1 or NaN mark unknown rows.

    Parameters
    ----------
    chunk : ndarray of shape (n_rows, n_columns)
    column : int
        Index of the label column.

    Returns
    -------
    X : ndarray of shape (n_rows, n_columns - 1), C-contiguous
    labels : ndarray of shape (n_rows,) of int64

    Examples
    --------
    >>> import numpy as np
    >>> chunk = np.array([[1.5, 0.0], [2.5, np.nan], [3.5, 1.0]])
    >>> X, labels = split_label_column(chunk, -1)
    >>> X.ravel().tolist(), labels.tolist()
    ([1.5, 2.5, 3.5], [0, -1, 1])
    """
    chunk = np.asarray(chunk)
    col = column % chunk.shape[1]
    raw = chunk[:, col]
    if raw.dtype.kind == "f":
        unknown = np.isnan(raw)
        filled = np.where(unknown, -1, raw)
        if np.any(filled != np.round(filled)):
            raise ValueError(
                f"label column {column} holds non-integer values; it must hold component "
                "indices, with -1 or NaN for unknown rows."
            )
        labels = filled.astype(np.int64)
    else:
        labels = raw.astype(np.int64)
    X = np.ascontiguousarray(np.delete(chunk, col, axis=1))
    return X, labels
