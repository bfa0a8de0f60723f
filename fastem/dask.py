"""Exact distributed EM on Dask arrays.

:class:`GaussianMixture` accepts a :class:`dask.array.Array` wherever it
accepts an in-memory array; this module is what it dispatches to. It is
imported only when a Dask array is passed, so ``import fastem`` never imports
Dask.

One EM iteration over a Dask array is the in-memory iteration, spread out:

1. the kernel parameters are shared with the workers once (one graph key that
   every block task depends on; large ones are scattered to every worker with
   ``broadcast=True`` on a ``dask.distributed`` cluster);
2. every block of rows is mapped to its :class:`~fastem._stats.SuffStats` by
   the GIL-releasing Numba kernel on the task's own thread
   (:func:`fastem._passes.array_stats` with one thread), the same pass as in
   memory;
3. the statistics are added in a tree of fixed shape (``split_every`` blocks
   per node), so the result does not depend on scheduling;
4. the client receives one ``SuffStats`` and runs the M-step.

The input is validated, rechunked so that every block holds all the columns,
and persisted once per ``fit``: later passes read the persisted blocks, never
recompute the graph that produced them. Row-wise methods (``predict``,
``predict_proba``, ``score_samples``) return lazy Dask arrays with the row
chunks of the input.

Concurrency: a task runs the kernel on its own thread only (``nogil``, no
threading layer), so any number of scheduler threads may run tasks at
once, and each task uses exactly one core (the kernels call no BLAS).
Parallelism comes from the scheduler: worker threads x 1.

Examples
--------
>>> import numpy as np
>>> import dask.array as da
>>> from fastem import GaussianMixture
>>> rng = np.random.RandomState(0)
>>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(8, 1, (200, 2))])
>>> dX = da.from_array(X, chunks=(100, 2))
>>> gm = GaussianMixture(n_components=2, random_state=0).fit(dX)
>>> labels = gm.predict(dX)   # a lazy dask array
>>> labels.chunks
((100, 100, 100, 100),)
>>> bool((labels.compute() == gm.fit(X).predict(X)).all())
True
"""

from __future__ import annotations

import functools
import hashlib
import numbers
import operator
import os

import dask
import dask.array as da
import numpy as np

from ._digest import BLOCK as _DIGEST_BYTES  # bytes of rows per hashed block
from ._digest import buffer_digest
from ._passes import ArrayData, array_rowwise, array_stats
from ._validation import (
    WEIGHT_RANGE,
    ZERO_WEIGHTS,
    check_densities,
    check_positive_rows,
    first_bad_value,
    too_large_message,
    weight_scale_message,
)

__all__ = ["DaskData", "is_dask_array", "INIT_SAMPLE_ROWS", "SCATTER_BYTES", "SPLIT_EVERY"]

#: Rows drawn from the blocks to initialize (k-means etc.) when the array is larger.
INIT_SAMPLE_ROWS = 500_000

#: Kernel parameters larger than this are scattered (broadcast) to the workers.
SCATTER_BYTES = 1 << 20

#: Fan-in of the tree that adds the per-block statistics.
SPLIT_EVERY = 8


def is_dask_array(X):
    """True if ``X`` is a :class:`dask.array.Array`.

    Parameters
    ----------
    X : object

    Returns
    -------
    bool
    """
    return isinstance(X, da.Array)


# ---------------------------------------------------------------------------
# tasks: what runs on the workers, one call per block
# ---------------------------------------------------------------------------


def _block_name(block_info):
    info = block_info[0]
    r0, r1 = info["array-location"][0]
    return f"block {info['chunk-location'][0]} (rows {r0}:{r1})"


def _check_finite(block, name, block_info, magnitude=False, nan_hint=""):
    """Raise ValueError locating the first NaN/inf (or, with ``magnitude``, too-large value)
    of a block by its global row and column: ``_validation.first_bad_value``'s rule."""
    bad = first_bad_value(block if block.ndim == 2 else block[:, None], magnitude=magnitude)
    if bad is None:
        return
    row = block_info[0]["array-location"][0][0] + bad.row
    if bad.kind == "large":
        raise ValueError(
            f"{_block_name(block_info)} of {name} holds, at row {row}, column {bad.column}, "
            + too_large_message(bad.value, block.dtype)
        )
    where = f"{_block_name(block_info)} of {name} contains {{}} at row {row}"
    if block.ndim > 1:
        where += f", column {bad.column}"
    if bad.kind == "nan":
        raise ValueError(
            where.format("NaN") + "; remove or impute the missing values first." + nan_hint
        )
    raise ValueError(
        where.format("infinity") + "; infinity is not a measurement: drop or clip those rows."
    )


def _check_shape(block, name, block_info):
    """Raise ValueError if a block's shape is not the one its array's chunks declare (a shape
    given to ``da.from_delayed``, a ``map_blocks`` that drops rows): its rows would be lost,
    or other rows' weights and labels shifted onto them."""
    if block_info is None:  # Dask's inference of the output's type: no block yet
        return
    declared = tuple(hi - lo for lo, hi in block_info[0]["array-location"])
    if block.shape != declared:
        raise ValueError(
            f"{_block_name(block_info)} of {name} has shape {block.shape}, but the Dask array's "
            f"chunks declare {declared} for it; give the array its true chunks (for rows, "
            f"{name}.compute_chunk_sizes() reads them from the blocks)."
        )


def _check_block(block, dtype, block_info=None, nan_hint=""):
    """Validate one block of ``X``: 2-D, of its declared shape, float, finite; return it
    C-contiguous in ``dtype``."""
    block = np.ascontiguousarray(block, dtype=dtype)
    if block.ndim != 2:
        raise ValueError(f"{_block_name(block_info)} of X is not 2-D (shape {block.shape}).")
    _check_shape(block, "X", block_info)
    _check_finite(block, "X", block_info, magnitude=True, nan_hint=nan_hint)
    return block


def _check_weight_block(block, block_info=None):
    """Validate one block of the sample weights: of its declared length, finite and
    non-negative, float64."""
    block = np.ascontiguousarray(block, dtype=np.float64)
    _check_shape(block, "sample_weight", block_info)
    _check_finite(block, "sample_weight", block_info)
    if (block < 0).any():
        raise ValueError(
            f"{_block_name(block_info)} of sample_weight contains negative values; "
            "weights must be >= 0."
        )
    return block


def _block_stats(X, w, params):
    """Sufficient statistics of one (validated) block: the GIL-releasing pass, one thread."""
    return array_stats(X, w, None, params, 1)


def _add_stats(*parts):
    """Add a group of statistics left to right (one node of the reduction tree)."""
    return functools.reduce(operator.add, parts)


def _block_outputs(X, params, what, dtype, nan_hint="", block_info=None):
    """The row-wise outputs ``(logprob, resp, labels)`` of one block of ``X`` (``what``: the
    keyword arguments of ``array_rowwise``; the log-likelihood always computed)."""
    X = _check_block(X, dtype, block_info, nan_hint)
    out = array_rowwise(X, params, 1, **dict(what, logprob=True))
    if what.get("resp") or what.get("labels"):  # undefined where every density underflows:
        # refused as in memory, naming the row of the array
        check_densities(out[0], block_info[0]["array-location"][0][0])
    return out


def _block_rowwise(X, params, what, dtype, nan_hint="", block_info=None):
    """One of the row-wise outputs (``what``) of one block of ``X``."""
    out = _block_outputs(X, params, {what: True}, dtype, nan_hint, block_info)
    return out[("logprob", "resp", "labels").index(what)]


def _block_sums(X, w, params, dtype, nan_hint, block_info, weight_info):
    """``[sum w log p(x), sum w log max_k resp_k, sum w, sum w^2]`` of one block (without
    weights, w = 1): a model selection's BIC and ICL terms, summed on the worker."""
    lp, resp, _ = _block_outputs(X, params, {"resp": True}, dtype, nan_hint, block_info)
    with np.errstate(divide="ignore"):
        log_max = np.log(resp.max(axis=1))
    if w is None:
        return np.array([lp.sum(), log_max.sum(), lp.shape[0], lp.shape[0]], dtype=np.float64)
    w = _check_weight_block(w, weight_info)
    return np.array([w @ lp, w @ log_max, w.sum(), w @ w])


def _location(bounds, i, n_features=None):
    """The ``block_info`` ``map_blocks`` passes for block ``i`` of rows ``bounds[i]:bounds[i +
    1]`` (of a 2-D array of ``n_features`` columns, or of a 1-D one), for the errors that
    name rows."""
    rows = (bounds[i], bounds[i + 1])
    if n_features is None:
        return [{"array-location": [rows], "chunk-location": (i,)}]
    return [{"array-location": [rows, (0, n_features)], "chunk-location": (i, 0)}]


def score_sums(estimator, X, sample_weight=None):
    """``(score, sum_i w_i log max_k resp_ik, (sum w, sum w^2) or None)`` of a Dask array in
    one pass: each block's sums made on its worker and added in a tree (a model selection's
    ICL read the blocks twice, for ``score`` and for ``predict_proba``)."""
    data = predict_data(estimator, X, sample_weight)
    params = estimator._fitted_kernel_params(data)
    shared = _share(params)
    sums = dask.delayed(_block_sums, pure=True)
    bounds = np.cumsum((0, *data.X.chunks[0])).tolist()
    parts = [
        sums(x, w, shared, data.dtype, data.nan_hint, _location(bounds, i, data.n_features),
             _location(bounds, i))
        for i, (x, w) in enumerate(data._blocks())
    ]  # fmt: skip
    ((lp, log_max, wsum, w2sum),) = dask.compute(_tree_sum(parts))
    if not wsum > 0:
        raise ValueError(ZERO_WEIGHTS)
    return lp / wsum, log_max, None if sample_weight is None else (wsum, w2sum)


def _scheduler_threads():
    """The threads the scheduler of ``dask.compute`` runs tasks on now."""
    client = _distributed_client()
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return max(1, dask.config.get("num_workers", None) or os.cpu_count() or 1)


def _sorted_unique(a):
    """``np.unique(a)`` by a sort: NumPy 2's hashing unique took 0.3 s per 500,000 integers,
    and a draw of nearly all the rows calls it dozens of times."""
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if a.size else a


def _take_rows(block, rows):
    return block[rows]


# ---------------------------------------------------------------------------
# client side
# ---------------------------------------------------------------------------


def _distributed_client():
    """The ``distributed.Client`` that ``dask.compute`` would use now, or None."""
    import sys

    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:
        return None
    scheduler = dask.base.get_scheduler()
    return client if scheduler == client.get else None


def _nbytes(params):
    return sum(a.nbytes for a in (params.mu, params.prec, params.const, params.shift))


def _share(params):
    """``params`` as an argument for tasks, shipped to the workers once per pass.

    On a ``dask.distributed`` cluster, parameters larger than
    :data:`SCATTER_BYTES` are scattered to every worker (``broadcast=True``)
    and tasks receive a future. Smaller ones, and all parameters on the local
    schedulers, become a single key of the graph that every block task depends
    on: the scheduler sends it to each worker once, without the extra round
    trip of a scatter.
    """
    client = _distributed_client()
    if client is not None and _nbytes(params) > SCATTER_BYTES:
        return client.scatter(params, broadcast=True, hash=False)
    return dask.delayed(params, pure=False, traverse=False)


def _tree_sum(parts, split_every=SPLIT_EVERY):
    """Add delayed statistics in a tree of fixed shape; return one delayed."""
    add = dask.delayed(_add_stats, pure=True)
    while len(parts) > 1:
        parts = [add(*parts[i : i + split_every]) for i in range(0, len(parts), split_every)]
    return parts[0]


def _as_row_chunked(X, name):
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features), got {X.ndim}-D.")
    if any(np.isnan(c) for c in X.chunks[0]) or any(np.isnan(c) for c in X.chunks[1]):
        raise ValueError(
            f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() first."
        )
    return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X


def _float_dtype(X):
    if X.dtype in (np.float32, np.float64):
        return X.dtype
    if X.dtype.kind in "biuf":  # integers, float16, longdouble: float64, as in memory
        return np.dtype(np.float64)
    raise ValueError(
        f"X must hold real numbers (float32, float64 or integers), got dtype {X.dtype}."
    )


class DaskData:
    """A Dask array as a *data* object of the EM loop (see :mod:`fastem._passes`).

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Float32 or float64 data (integers are read as float64). Rechunked so
        that each block holds all the columns; the row chunks are kept.
    sample_weight : dask.array.Array, array-like or None, default=None
        Non-negative weights, rechunked to the row chunks of ``X``.
    persist : bool, default=True
        Validate and persist the blocks now (for ``fit``: every EM pass then
        reads them from memory). With False, blocks are validated inside each
        row-wise task instead (for one-pass methods such as ``predict``).
    nan_hint : str, default=""
        Added to the error on a NaN in ``X`` (an estimator that marginalizes NaN
        says here that Dask arrays do not take them yet).

    Attributes
    ----------
    n_samples, n_features : int
    dtype : numpy.dtype
        float32 or float64, the dtype the kernels read.
    X : dask.array.Array
        The validated (and, with ``persist=True``, persisted) array.
    sample_weight : dask.array.Array or None
    """

    @property
    def kernels_here(self):
        """Whether the blocks' passes run the pass kernel in this process (Dask's threaded or
        synchronous scheduler, no ``distributed`` client): a fit may then start the compile
        helper (``_kernels._ahead``), as for an in-memory fit."""
        import dask.local
        import dask.threaded

        if _distributed_client() is not None:
            return False
        return dask.base.get_scheduler(collections=[self.X]) in (
            dask.threaded.get,
            dask.local.get_sync,
        )

    def __init__(self, X, sample_weight=None, *, persist=True, nan_hint=""):
        X = _as_row_chunked(X, "X")
        self.dtype = _float_dtype(X)
        self.n_samples, self.n_features = (int(s) for s in X.shape)
        if self.n_samples < 1 or self.n_features < 1:
            raise ValueError(
                f"Found array with shape {X.shape}: X needs at least one row and one column."
            )
        w = None
        if sample_weight is not None:
            w = self._weights(sample_weight, X.chunks[0])
        if persist:
            X = X.map_blocks(_check_block, self.dtype, nan_hint=nan_hint, dtype=self.dtype)
            if w is not None:
                w = w.map_blocks(_check_weight_block, dtype=np.float64)
                X, w = dask.persist(X, w)
                largest, positive = dask.compute(w.max(), (w > 0).sum())
                largest, self.positive_rows = float(largest), int(positive)
                if not largest > 0:
                    raise ValueError(ZERO_WEIGHTS)
                if not WEIGHT_RANGE[0] <= largest <= WEIGHT_RANGE[1]:  # as in memory
                    raise ValueError(weight_scale_message(largest))
            else:
                (X,) = dask.persist(X)
        self.X = X
        self.sample_weight = w
        self.persisted = persist
        self.nan_hint = nan_hint
        self._samples = {}

    def _weights(self, sample_weight, row_chunks):
        n = self.n_samples
        if isinstance(sample_weight, numbers.Number):
            return da.full(n, float(sample_weight), chunks=(row_chunks,))
        if not is_dask_array(sample_weight):
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.ndim != 1 or sample_weight.shape[0] != n:
            raise ValueError(
                f"sample_weight must have shape ({n},) to match X, got {sample_weight.shape}."
            )
        if is_dask_array(sample_weight):
            if any(np.isnan(c) for c in sample_weight.chunks[0]):
                raise ValueError(
                    "sample_weight has unknown chunk sizes; call compute_chunk_sizes() first."
                )
            return sample_weight.astype(np.float64).rechunk((row_chunks,))
        return da.from_array(sample_weight, chunks=(row_chunks,))

    # -- blocks ----------------------------------------------------------------

    def _blocks(self):
        xb = list(self.X.to_delayed().ravel())
        if self.sample_weight is None:
            return [(x, None) for x in xb]
        return list(zip(xb, self.sample_weight.to_delayed().ravel(), strict=True))

    # -- the data-object protocol -------------------------------------------------

    def stats(self, params, n_threads=None):
        """Sufficient statistics of the whole array: map blocks, tree-add, compute.

        Parameters
        ----------
        params : KernelParams
            The parameters of this pass; shipped to the workers once.
        n_threads : int or None
            Ignored: every task runs the kernel on one core; the
            scheduler supplies the parallelism.

        Returns
        -------
        SuffStats
        """
        shared = _share(params)
        block_stats = dask.delayed(_block_stats, pure=True)
        parts = [block_stats(x, w, shared) for x, w in self._blocks()]
        (total,) = dask.compute(_tree_sum(parts))
        return total

    def rowwise(self, params, n_threads=None, *, logprob=False, resp=False, labels=False):
        """Row-wise outputs as lazy Dask arrays with the row chunks of ``X``.

        Parameters
        ----------
        params : KernelParams
        n_threads : int or None
            Ignored (one thread per block).
        logprob, resp, labels : bool
            Which outputs to build.

        Returns
        -------
        (logprob, resp, labels) : tuple of dask.array.Array or None
        """
        shared = dask.delayed(params, pure=True, traverse=False)
        K = params.mu.shape[0]
        out = []
        for what, want in (("logprob", logprob), ("resp", resp), ("labels", labels)):
            if not want:
                out.append(None)
                continue
            kw = dict(dtype=np.int64 if what == "labels" else np.float64)
            if what == "resp":
                kw["chunks"] = (self.X.chunks[0], (K,))
            else:
                kw["drop_axis"] = 1
            out.append(
                self.X.map_blocks(
                    _block_rowwise,
                    shared,
                    what,
                    self.dtype,
                    self.nan_hint,
                    token=f"fastem-{what}",
                    **kw,
                )
            )
        return tuple(out)

    def iter_rowwise(self, params, n_threads=None, **what):
        """``(offset, (logprob, resp, labels))`` block by block in row order, computed as
        many blocks at a time as the scheduler has threads: ``out=`` holds those blocks'
        results, never an ``(n_samples, n_components)`` array (``rowwise``'s lazy arrays
        stored into it were computed whole first). ``n_threads`` is ignored, as in
        :meth:`rowwise`."""
        shared = _share(params)
        outputs = dask.delayed(_block_outputs, pure=True)
        bounds = np.cumsum((0, *self.X.chunks[0])).tolist()
        blocks = self.X.to_delayed().ravel()
        batch = _scheduler_threads()
        for b0 in range(0, len(blocks), batch):
            got = dask.compute(*[
                outputs(blocks[i], shared, what, self.dtype, self.nan_hint,
                        _location(bounds, i, self.n_features))
                for i in range(b0, min(len(blocks), b0 + batch))
            ])  # fmt: skip
            for i, res in enumerate(got, b0):
                yield bounds[i], res

    def initial_stats(self, est, rng, method, covariance_type):
        """``(stats, sample)`` of the in-memory initialization of these rows, or None.

        See ``fastem._dask_init``: with the same ``random_state`` a fit on
        more rows than :data:`INIT_SAMPLE_ROWS` starts where the in-memory fit
        of the same rows starts (fewer: the sample is every row).
        """
        from ._dask_init import dask_initial_stats

        return dask_initial_stats(self, est, rng, method, covariance_type)

    def sample_for_init(self, max_rows, random_state):
        """An in-memory sample of rows for the initialization.

        Every row when ``n_samples <= max_rows`` (then the initialization is
        exactly the in-memory one), otherwise ``max_rows`` distinct rows drawn
        uniformly from all the blocks, in their order, with their weights.
        Samples are kept, so asking again (for instance when EM re-seeds an
        empty component) reads no block.

        Parameters
        ----------
        max_rows : int or None
            None means :data:`INIT_SAMPLE_ROWS`.
        random_state : numpy.random.RandomState or None
            Draws the rows; None draws a fixed sample (seed 0).

        Returns
        -------
        ArrayData
        """
        max_rows = INIT_SAMPLE_ROWS if max_rows is None else int(max_rows)
        if self.n_samples <= max_rows:
            key = "all"  # every row: the same sample for any random_state
        elif random_state is None:
            key = ("fixed", max_rows)
        else:
            key = None  # a fresh draw (each of n_init initializations draws its own)
        if key in self._samples:
            return self._samples[key]
        if key == "all":
            picks = [(x, w, slice(None)) for x, w in self._blocks()]
        else:
            rng = np.random.RandomState(0) if random_state is None else random_state
            picks = self._picks(self._draw(max_rows, rng))
        sample = self._gather(picks)
        if key is not None:
            self._samples[key] = sample
        return sample

    def rows_at(self, index):
        """The rows (and weights) at ``index`` (any order, no repeats), as ``ArrayData``.

        Each block's rows are taken by a task on its worker; only those rows
        reach the client.
        """
        index = np.asarray(index, dtype=np.int64)
        order = np.argsort(index, kind="stable")
        got = self._gather(self._picks(index[order]))
        X = np.empty_like(got.X)
        X[order] = got.X
        w = None
        if got.sample_weight is not None:
            w = np.empty_like(got.sample_weight)
            w[order] = got.sample_weight
        return ArrayData(X, w)

    def chunks(self, what=None):
        """Every block in order, computed and brought to the client one at a time, as a
        source's chunks: ``(first row, X, weights or None, None)``."""
        offset = 0
        for x, w in self._blocks():
            X, w = dask.compute(x, w)
            yield offset, X, w, None
            offset += X.shape[0]

    def _draw(self, max_rows, rng):
        """``max_rows`` distinct random rows, sorted."""
        n = self.n_samples
        rows = _sorted_unique(rng.randint(0, n, size=max_rows))
        while rows.shape[0] < max_rows:
            more = rng.randint(0, n, size=max_rows - rows.shape[0])
            rows = _sorted_unique(np.concatenate([rows, more]))
        return rows

    def _picks(self, rows):
        """``(block, weights block, local rows)`` of the blocks that hold the sorted ``rows``."""
        starts = np.cumsum((0,) + self.X.chunks[0])
        lo, hi = np.searchsorted(rows, starts[:-1]), np.searchsorted(rows, starts[1:])
        return [
            (x, w, rows[lo[b] : hi[b]] - starts[b])
            for b, (x, w) in enumerate(self._blocks())
            if hi[b] > lo[b]
        ]

    def _gather(self, picks):
        """The picked rows (and weights), taken by tasks and joined on the client."""
        take = dask.delayed(_take_rows, pure=True)
        xs = [take(x, r) for x, _, r in picks]
        ws = [take(w, r) for _, w, r in picks] if self.sample_weight is not None else []
        xs, ws = dask.compute(xs, ws)
        X = np.ascontiguousarray(np.concatenate(xs))
        w = np.ascontiguousarray(np.concatenate(ws)) if ws else None
        return ArrayData(X, w)

    def fingerprint(self):
        """A digest of every row (and weight) for checkpoints, computed on the workers.

        The rows are cut into blocks of a fixed number of rows, each hashed
        where it lives (``fastem._digest.buffer_digest``), and the digests are
        hashed in order: the chunking does not enter, so the same data in
        other blocks resumes the same checkpoint.

        Returns
        -------
        str
        """
        rows = max(1, _DIGEST_BYTES // (self.n_features * self.dtype.itemsize))
        parts = [self.X.rechunk({0: rows, 1: -1})]
        if self.sample_weight is not None:
            parts.append(self.sample_weight.rechunk({0: rows}))
        h = hashlib.sha256(f"dask{self.X.shape}{self.dtype}".encode())
        for part in parts:
            blocks = part.to_delayed().ravel()
            for digest in dask.compute(*[dask.delayed(buffer_digest)(b) for b in blocks]):
                h.update(digest.encode())
        return h.hexdigest()


def _nan_hint(estimator):
    """What the NaN error adds for an estimator that marginalizes NaN (not on Dask yet)."""
    if getattr(estimator, "missing", "error") != "marginalize":
        return ""
    return (
        ' missing="marginalize" does not reach Dask arrays yet: compute the rows into '
        "memory (X.compute()) or read them from a file (fastem.source)."
    )


def fit_data(estimator, X, sample_weight):
    """Wrap a Dask array for ``fit`` (sets ``n_features_in_``), as ``_fit_data`` does."""
    from ._stream_api import check_feature_names

    check_feature_names(estimator, X, reset=True)  # none: drops a previous fit's
    data = DaskData(X, sample_weight, persist=True, nan_hint=_nan_hint(estimator))
    if data.n_samples < 2:  # scikit-learn's check of an in-memory X (with one component too)
        raise ValueError(
            f"Found array with {data.n_samples} sample(s) (shape={X.shape}) while a minimum "
            f"of 2 is required by {type(estimator).__name__}."
        )
    if data.n_samples < estimator.n_components:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = "
            f"{estimator.n_components}, n_samples = {data.n_samples}; pass more rows or "
            "lower n_components."
        )
    if data.sample_weight is not None:
        check_positive_rows(data.positive_rows, estimator.n_components)
    estimator.n_features_in_ = data.n_features
    return data


def predict_data(estimator, X, sample_weight=None):
    """Wrap a Dask array (and its weights, for scores) for the row-wise methods (checks the
    number of features)."""
    from ._stream_api import check_feature_names

    check_feature_names(estimator, X, reset=False)  # warns after a fit with names
    data = DaskData(X, sample_weight, persist=False, nan_hint=_nan_hint(estimator))
    # float16 rows promoted with the model's dtype, float32 rows on a model fitted on float64
    # rows read as float64: each block read in the dtype the rows are scored in, as in memory
    data.dtype = estimator._scoring_dtype(X.dtype if X.dtype == np.float16 else data.dtype)
    if data.n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {data.n_features} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return data
