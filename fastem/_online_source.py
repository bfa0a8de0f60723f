"""One pass of stepwise EM over a chunked source: ``GaussianMixture.fit_online``.

The source's chunks (read one ahead in a background thread and validated, as
in ``fit``) are cut into batches of ``batch_rows`` rows, each of which is one
``partial_fit`` update. The pass stops at the end of the source, after
``max_rows`` rows, or when the ``callback`` returns True (the stopping rule of
a callable source that yields batches forever). With ``checkpoint=`` the model,
its running statistics and the number of rows used are saved every
``checkpoint_every`` batches; the same call resumes after the rows already used.
"""

from __future__ import annotations

import os
import time
from contextlib import closing

import numpy as np

from . import _missing, _online, _stream, _stream_api
from ._paths import check_path
from ._validation import WEIGHT_RANGE, ZERO_WEIGHTS, check_hyperparameters, check_sample_weight
from .sources._base import _err

#: Rows per partial_fit update by default.
BATCH_ROWS = 10_000


def _check_args(batch_rows, max_rows, checkpoint_every):
    for name, value, low in (
        ("batch_rows", batch_rows, 1),
        ("checkpoint_every", checkpoint_every, 1),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    if max_rows is not None and (
        not isinstance(max_rows, (int, np.integer)) or isinstance(max_rows, bool) or max_rows < 1
    ):
        raise ValueError(
            f"max_rows must be None (the whole source) or an integer >= 1, got {max_rows!r}."
        )


def _batches(data, batch_rows, skip):
    """``(X, w)`` batches of ``batch_rows`` rows (the last may be shorter), after ``skip`` rows."""
    pending_x, pending_w, n_pending = [], [], 0
    with closing(data.chunks("online EM")) as chunks:
        for offset, X, w, _ in chunks:
            if offset + X.shape[0] <= skip:
                continue
            if offset < skip:
                X, w = X[skip - offset :], None if w is None else w[skip - offset :]
            r0 = 0
            while r0 < X.shape[0]:
                take = min(batch_rows - n_pending, X.shape[0] - r0)
                # copies: the reader reuses its chunk buffers
                pending_x.append(np.array(X[r0 : r0 + take]))
                pending_w.append(None if w is None else np.array(w[r0 : r0 + take]))
                n_pending += take
                r0 += take
                if n_pending == batch_rows:
                    yield _joined(pending_x, pending_w)
                    pending_x, pending_w, n_pending = [], [], 0
    if n_pending:
        yield _joined(pending_x, pending_w)


def _joined(xs, ws):
    X = xs[0] if len(xs) == 1 else np.concatenate(xs)
    w = None if ws[0] is None else (ws[0] if len(ws) == 1 else np.concatenate(ws))
    return np.ascontiguousarray(X), w


def _resume(est, checkpoint, batch_rows):
    """Rows already used by a checkpointed run of the same call, or 0 (a fresh start)."""
    from .io import _load

    if checkpoint is None or not os.path.exists(checkpoint):
        return 0
    model, meta = _load(checkpoint)
    online = meta.get("online")
    mine = {k: v for k, v in est.get_params().items() if k not in _UNCHECKED}
    theirs = {k: v for k, v in model.get_params().items() if k not in _UNCHECKED}
    if online is None or any(
        not np.array_equal(np.asarray(mine[k], dtype=object), np.asarray(theirs[k], dtype=object))
        for k in mine
    ):
        raise ValueError(
            f"the checkpoint {checkpoint} was not written by fit_online with these "
            "hyper-parameters; delete it to start afresh, or pass another path."
        )
    written = online.get("batch_rows")  # (checkpoints before it was stored have none)
    if written is not None and written != batch_rows:
        raise ValueError(
            f"the checkpoint {checkpoint} was written by fit_online with batch_rows={written}; "
            f"resume with batch_rows={written} (with batch_rows={batch_rows} the batches after "
            "the rows already used would differ from the interrupted run's), or delete it to "
            "start afresh."
        )
    est.__dict__.update(
        {k: v for k, v in vars(model).items() if k.endswith("_") or k.startswith("_online")}
    )
    # the rows read, batches of weight 0 included (their running statistics skip those: a
    # resume after the first n_rows rows applied the batches after a skipped one twice);
    # checkpoints written before n_rows_seen was recorded have only n_rows
    return int(online.get("n_rows_seen", online["n_rows"]))


_UNCHECKED = ("verbose", "verbose_interval", "n_threads", "random_state")


def fit_online(
    est,
    X,
    sample_weight=None,
    *,
    batch_rows=BATCH_ROWS,
    max_rows=None,
    callback=None,
    checkpoint=None,
    checkpoint_every=100,
):
    """See ``GaussianMixture.fit_online``."""
    _check_args(batch_rows, max_rows, checkpoint_every)
    if callback is not None and not callable(callback):  # not after the first batch
        raise TypeError(f"callback must be a callable or None, got {callback!r}.")
    _check_params(est)  # once (and after each callback): the batches skip partial_fit's checks
    if checkpoint is not None:
        check_path(checkpoint, "checkpoint")
        checkpoint = os.fspath(checkpoint)
    if checkpoint is not None and est.warm_start:
        raise ValueError(
            "checkpoint= resumes a fresh one-pass fit and counts the rows it used from the "
            "start of the source; it cannot be combined with warm_start=True."
        )
    previous_features = est.__dict__.get("n_features_in_")
    try:
        data = _stream_api.fit_data(est, X, sample_weight)  # opens and checks the source first
    finally:  # fit_data sets n_features_in_; the first partial_fit does that here
        est.__dict__.pop("n_features_in_", None)
        if previous_features is not None:
            est.n_features_in_ = previous_features
    before = dict(vars(est))  # restored if the pass fails before its first update
    skip = _resume(est, checkpoint, batch_rows)
    fresh = not skip and not (est.warm_start and hasattr(est, "precisions_cholesky_"))
    if fresh and batch_rows < est.n_components and _online._needs_rows(est):
        raise ValueError(  # before anything of the previous model is dropped
            f"batch_rows={batch_rows} is smaller than n_components={est.n_components}: the "
            "first batch initializes the model. Use batch_rows >= n_components (the default "
            f"is {BATCH_ROWS}), or give weights_init, means_init and precisions_init."
        )
    if fresh and max_rows is not None and max_rows < est.n_components and _online._needs_rows(est):
        raise ValueError(  # the first batch is cut to max_rows
            f"max_rows={max_rows} is smaller than n_components={est.n_components}: the first "
            "batch, at most max_rows rows, initializes the model. Use max_rows >= "
            "n_components, or give weights_init, means_init and precisions_init."
        )
    if fresh:
        for name in [k for k in vars(est) if k.endswith("_") or k.startswith("_online")]:
            delattr(est, name)  # a fresh start, as fit: the first batch initializes
    rows, n_batches = skip, 0
    t0 = last = time.perf_counter()
    try:
        fitted_features = getattr(est, "n_features_in_", None)
        if fitted_features is not None and data.n_features != fitted_features:
            raise ValueError(
                f"X has {data.n_features} features, but the model continued from has "
                f"{fitted_features}; pass data with the features the model was fitted on."
            )
        for Xb, wb in _batches(data, batch_rows, skip):
            if max_rows is not None and rows >= max_rows:
                break
            if max_rows is not None and rows + Xb.shape[0] > max_rows:
                Xb = Xb[: max_rows - rows]
                wb = None if wb is None else wb[: max_rows - rows]
            if wb is not None and not wb.max() > 0:  # rows of weight zero are not data:
                rows += Xb.shape[0]  # a batch of them updates nothing (it was an error)
                continue
            try:
                _update(est, Xb, wb)
            except _missing.EmptyRowError as e:  # its row in the batch: say where in the source
                raise _stream.row_in_source(e, data.source.name, rows) from None
            except _missing.EmptyColumnError as e:  # the first batch, which initializes
                raise _err(
                    data.source.name,
                    rows,
                    f"column {e.column} has no observed value in the first batch "
                    f"({Xb.shape[0]} rows), which initializes the model: raise batch_rows, or "
                    "give weights_init, means_init and precisions_init",
                ) from None
            rows += Xb.shape[0]
            n_batches += 1
            now = time.perf_counter()
            if est.verbose >= 1 and n_batches % est.verbose_interval == 0:
                print(
                    f"  Batch {n_batches}\t rows {rows}\t mean log-likelihood "
                    f"{est.lower_bound_:.5f}"
                    + (f"\t time lapse {now - last:.5f}s" if est.verbose >= 2 else "")
                )
                last = now
            if checkpoint is not None and n_batches % checkpoint_every == 0:
                _save_checkpoint(est, checkpoint, rows, batch_rows)
            if callback is not None:
                if callback(est, rows):
                    break
                _check_params(est)  # the callback may have changed them (set_params(...))
        if n_batches == 0 and not hasattr(est, "precisions_cholesky_"):
            if rows > skip:  # every batch weighed nothing
                raise ValueError(ZERO_WEIGHTS)
            raise _err(data.source.name, skip, "no rows to fit")
    except BaseException:
        if n_batches == 0:  # no update: the model as it was before the call
            vars(est).clear()
            vars(est).update(before)
        else:  # the updates before the error are kept: n_rows_seen_ says how many rows
            est.n_rows_seen_ = rows
        raise
    if checkpoint is not None and n_batches:
        _save_checkpoint(est, checkpoint, rows, batch_rows)
    if est.verbose >= 1:
        print(f"Online pass done: {rows} rows in {time.perf_counter() - t0:.3f}s.")
    est.n_rows_seen_ = rows
    return est


def _check_params(est):
    """What ``partial_fit`` checks of the estimator before each update."""
    check_hyperparameters(est)
    _online.check_step_params(est)
    _online.check_no_prior(est)
    _missing.check_missing_option(est.missing)


def _update(est, X, w):
    """One stepwise-EM update on a batch of the source, validated once.

    The source checked every chunk (``Source._finish``: dtype, width, finite
    values or NaN where marginalized, magnitudes, weights finite, >= 0 and not
    too large), so only what a chunk's checks cannot see is checked here: the
    batch's weights must not all be zero or underflow. The first update (it
    initializes, sets ``n_features_in_`` and needs at least two rows) and a
    model fitted with feature names (scikit-learn warns on every batch without
    them) go through the public ``partial_fit``.
    """
    if not hasattr(est, "precisions_cholesky_") or hasattr(est, "feature_names_in_"):
        est.partial_fit(X, sample_weight=w)
        return
    if w is not None and not w.max() >= WEIGHT_RANGE[0]:
        check_sample_weight(w, w.shape[0])  # raises partial_fit's error (zero sum or scale)
    _online.update(est, X, w)


def _save_checkpoint(est, checkpoint, rows, batch_rows):
    from .io import _write

    est.n_rows_seen_ = rows
    est._checkpoint_batch_rows = batch_rows  # recorded in the file: a resume must match it
    try:
        _write(est, checkpoint, durable=True)  # on disk before it replaces the last one
    finally:
        del est._checkpoint_batch_rows
