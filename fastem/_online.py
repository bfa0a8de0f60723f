"""Stepwise (online) EM: ``GaussianMixture.partial_fit``.

Stepwise EM (Cappé & Moulines 2009) keeps running sufficient statistics
``s`` per unit of sample weight and, for each batch, runs one E-step with the
current parameters (the same fused pass as an exact EM iteration: the
batch's :class:`~fastem._stats.SuffStats`), blends

    s <- (1 - g_t) s + g_t s(batch) / wsum(batch)

and applies the usual M-step (:func:`fastem._stats.m_step`) to ``s``. The step
of the ``t``-th update (``t = 1, 2, ...``) is ``g_t = (t + step_offset) **
-step_decay``; it converges for ``0.5 < step_decay <= 1``. A constant
``step_size`` instead forgets old batches geometrically, so the model tracks a
drifting stream.

The initial parameters (from the first batch, from ``*_init``, or the model
that ``fit`` left) count as step 0: the running statistics start as the
statistics those parameters are the M-step of.

Statistics are centred on the means of the pass that computed them
(``shift``); the running statistics are re-centred exactly (in float64) on the
batch's shift before they are blended (:func:`recentre`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.utils import check_random_state

from . import _missing, _small, _stats
from ._stats import SuffStats
from ._validation import (
    ZERO_WEIGHTS,
    InvalidParameterError,
    _is_real,
    check_all_finite,
    check_positive_rows,
    check_sample_weight,
)

#: A batch runs in NumPy (``fastem._small``, no compiler) only when this many times its
#: rows would: the compile is paid once for a stream of batches, and at 10,000 rows of 8
#: features with 8 full components the compiled pass is ~40x faster than NumPy.
ONLINE_SMALL_FACTOR = 64


@dataclass
class OnlineState:
    """The running state of stepwise EM.

    Attributes
    ----------
    stats : SuffStats
        Running statistics per unit of sample weight (``nk`` sums to 1),
        centred on ``stats.shift``; ``loglik`` is the mean log-likelihood of
        the last batch.
    n_steps : int
        Updates applied so far (the initialization is step 0).
    n_rows : int
        Rows seen by ``partial_fit`` so far.
    """

    stats: SuffStats
    n_steps: int
    n_rows: int


# --------------------------------------------------------------------------- steps


def check_step_params(est):
    """Raise ValueError for a step-size schedule outside the range where stepwise EM converges."""
    step_size = est.step_size
    if step_size is not None:
        if not _is_real(step_size) or not 0 < step_size <= 1:
            raise InvalidParameterError(
                f"step_size must be None (a decaying step) or a number in (0, 1], got "
                f"{step_size!r}; a constant step g keeps the last ~1/g batches in view."
            )
    decay, offset = est.step_decay, est.step_offset
    if not _is_real(decay) or not 0.5 < decay <= 1:
        raise InvalidParameterError(
            f"step_decay must lie in (0.5, 1], got {decay!r}: stepwise EM converges only when "
            "the steps (t + step_offset) ** -step_decay sum to infinity while their squares "
            "do not. Use the default 0.6, or step_size= for a constant step."
        )
    if not _is_real(offset) or not np.isfinite(offset) or offset < 0:
        raise InvalidParameterError(
            f"step_offset must be a finite number >= 0, got {offset!r}; the first update's "
            "step is (1 + step_offset) ** -step_decay, at most 1."
        )


def step(est, t):
    """The step ``g_t`` of the ``t``-th update (``t >= 1``)."""
    if est.step_size is not None:
        return float(est.step_size)
    return float((t + est.step_offset) ** -est.step_decay)


# --------------------------------------------------------------------- statistics


def recentre(stats, shift):
    """The same statistics centred on ``shift`` instead of ``stats.shift`` (exact algebra).

    With ``d = stats.shift - shift``, ``x - shift = (x - stats.shift) + d``, so
    ``s1' = s1 + nk d`` and ``s2' = s2 + s1 d^T + d s1^T + nk d d^T`` (its
    diagonal for diag and spherical statistics).
    """
    shift = np.asarray(shift, dtype=np.float64)
    d = stats.shift - shift
    if not d.any():
        return replace(stats, shift=shift)
    nk, s1 = stats.nk, stats.s1
    s1_new = s1 + nk[:, None] * d
    if stats.s2.ndim == 3:
        outer = s1[:, :, None] * d[:, None, :]
        s2_new = stats.s2 + outer + outer.transpose(0, 2, 1)
        s2_new += nk[:, None, None] * d[:, :, None] * d[:, None, :]
    else:
        s2_new = stats.s2 + 2.0 * s1 * d + nk[:, None] * d * d
    return replace(stats, s1=s1_new, s2=s2_new, shift=shift)


def blend(running, batch, g):
    """``(1 - g) running + g batch / batch.wsum``, centred on the batch's shift."""
    running = recentre(running, batch.shift)
    a, b = 1.0 - g, g / batch.wsum
    return SuffStats(
        a * running.nk + b * batch.nk,
        a * running.s1 + b * batch.s1,
        a * running.s2 + b * batch.s2,
        batch.loglik / batch.wsum,
        1.0,
        running.n_rows + batch.n_rows,
        batch.shift,
    )


def stats_of(weights, means, covariances, covariance_type, reg_covar):
    """Statistics per unit weight whose M-step gives back these parameters."""
    K, D = means.shape
    w = np.asarray(weights, dtype=np.float64)
    cov = np.asarray(covariances, dtype=np.float64)
    covariance_type = _stats.layout(covariance_type)  # mclust's models: "full" or "diag"
    if covariance_type == "full":
        s2 = w[:, None, None] * (cov - reg_covar * np.eye(D))
    elif covariance_type == "tied":
        s2 = w[:, None, None] * (cov - reg_covar * np.eye(D))[None]
    elif covariance_type == "diag":
        s2 = w[:, None] * (cov - reg_covar)
    else:
        s2 = w[:, None] * np.broadcast_to((cov - reg_covar)[:, None], (K, D))
    shift = np.array(means, dtype=np.float64)
    return SuffStats(w.copy(), np.zeros((K, D)), s2, 0.0, 1.0, 0, shift)


# ------------------------------------------------------------------- partial_fit


def _current_state(est):
    """The running state to continue from, or None when the model is not fitted.

    A state whose parameters are no longer the estimator's (``fit`` ran since,
    or the attributes were set by hand) is rebuilt from the fitted parameters.
    """
    if not hasattr(est, "precisions_cholesky_"):
        return None
    est._continued_parameters("partial_fit continues the fitted model")  # shapes still fit
    state = getattr(est, "_online", None)
    if state is not None and getattr(est, "_online_means", None) is not None:
        if np.array_equal(est._online_means, est.means_) and np.array_equal(
            est._online_covariances, est.covariances_
        ):
            return state
    stats = stats_of(est.weights_, est.means_, est.covariances_, est.covariance_type, est.reg_covar)
    return OnlineState(stats, 0, 0)


def check_no_prior(est):
    """Stepwise EM blends statistics per unit weight; mclust's prior is scaled to a sample size."""
    if getattr(est, "prior", None) is not None:
        raise ValueError(
            "prior= is not supported by partial_fit / fit_online: the conjugate prior's "
            "hyper-parameters are set against the number of rows of one fit, which online EM "
            "never has; use fit() for a MAP fit, or prior=None."
        )


def partial_fit(est, X, sample_weight=None):
    """One stepwise-EM update of ``est`` on the batch ``X`` (see ``GaussianMixture.partial_fit``).

    Validates the hyper-parameters, ``X`` and ``sample_weight``, then runs
    :func:`_step`. Everything is computed first and assigned at the end, so an
    error leaves the estimator as it was.
    """
    from ._validation import check_hyperparameters

    check_hyperparameters(est)
    check_step_params(est)
    check_no_prior(est)
    _check_in_memory(X)
    state = _current_state(est)
    first = state is None
    previous_features = est.__dict__.get("n_features_in_")
    previous_names = est.__dict__.get("feature_names_in_")
    try:
        X = _validated_batch(est, X, first)
        if first and X.shape[0] < est.n_components and _needs_rows(est):
            raise ValueError(
                f"The first partial_fit batch has {X.shape[0]} rows, fewer than n_components = "
                f"{est.n_components}, and no initial parameters were given; pass a larger first "
                "batch, or weights_init, means_init and precisions_init."
            )
        w = check_sample_weight(sample_weight, X.shape[0])
        result = _step(est, X, w, state)
    except BaseException:
        _restore(est, "n_features_in_", previous_features)
        _restore(est, "feature_names_in_", previous_names)
        raise
    _apply(est, *result)


def update(est, X, w):
    """One update of a fitted ``est`` on a batch that is already valid input.

    What ``fit_online`` calls for the batches after its first: the source has
    checked every chunk (float32/float64, C-contiguous, the fitted width,
    finite or NaN only where marginalized, no value too large, weights finite,
    non-negative and not too large) and ``fit_online`` the hyper-parameters,
    so none of :func:`partial_fit`'s checks is run again. An error leaves the
    estimator as it was.
    """
    _apply(est, *_step(est, X, w, _current_state(est)))


def _step(est, X, w, state):
    """``(stats, t, n_rows, new parameters, their precision Cholesky factors, data)``.

    ``X`` and ``w`` are valid input; ``state`` is the running state, or None
    to initialize from this batch. Nothing of ``est`` is assigned but the
    ``_map_prior`` an initialization resets.
    """
    # the first batch initializes from its rows, unless every initial parameter is given:
    # then a column it does not observe is marginalized like any missing value
    if state is not None:
        # float32 rows on a model of float64 rows: widened, as predict scores them, so the
        # model stays float64 (its parameters were rounded to float32 by such a batch)
        X = X.astype(est._scoring_dtype(X.dtype), copy=False)
    fitting = state is None and _needs_rows(est)
    if fitting and w is not None:  # the first batch initializes from its rows of positive weight
        check_positive_rows(np.count_nonzero(w > 0), est.n_components)
    data = est._wrap(X, w, fitting=fitting)
    if state is None:
        # the first batch: on an empty cache a helper compiles the pass's block functions
        # while this process initializes, as for fit (the batch weighed as below)
        est._compile_ahead(data, ONLINE_SMALL_FACTOR * X.shape[0])
        rng = check_random_state(est.random_state)
        est._map_prior = None  # no prior online (check_no_prior), whatever a fit left
        params = est._initial_parameters(data, rng)
        weights, means, prec_chol, covariances = params
        state = OnlineState(
            stats_of(weights, means, covariances, est.covariance_type, est.reg_covar), 0, 0
        )
    else:
        weights, means, prec_chol, covariances = est._current_parameters()
    small = _small.is_small(ONLINE_SMALL_FACTOR * X.shape[0], *means.shape)
    kparams = _stats.kernel_params(
        weights, means, prec_chol, est.covariance_type, data.dtype, small
    )
    batch = data.stats(kparams, est.n_threads)
    if not np.isfinite(batch.loglik):
        raise ValueError(
            "Some rows of the batch have zero density under every component (log-likelihood "
            "is -inf); the data may hold extreme values. Scale the data or increase reg_covar."
        )
    if not batch.wsum > 0:
        raise ValueError(ZERO_WEIGHTS)
    t = state.n_steps + 1
    stats = blend(state.stats, batch, step(est, t))
    # mclust's iterative M-steps start from the current covariances
    new = _stats.m_step(stats, est.covariance_type, est.reg_covar, previous=covariances)
    new_prec_chol = _stats.precision_cholesky(new[2], est.covariance_type)
    return stats, t, state.n_rows + X.shape[0], new, new_prec_chol, data


def _apply(est, stats, t, n_rows, new, new_prec_chol, data):
    """Assign the result of :func:`_step` (the estimator's new fitted attributes)."""
    est._online = OnlineState(stats, t, n_rows)
    est._set_online_result(new, new_prec_chol, stats.loglik, t, est._result_dtype(data))
    est._fit_dtype = np.dtype(data.dtype)  # the kernels' (_MixtureAPI._scoring_dtype)
    est._online_means, est._online_covariances = est.means_, est.covariances_


def _check_in_memory(X):
    """A path, a source or a Dask array is not a batch: say what to call instead."""
    from ._stream import is_streamed

    lazy = type(X).__module__.startswith("dask") and hasattr(X, "__dask_graph__")
    if is_streamed(X) or lazy:
        raise TypeError(
            f"partial_fit takes one in-memory batch of rows, got {type(X).__name__}; for one "
            "pass over a file or source call fit_online(X), or pass its rows (an array)."
        )


def _validated_batch(est, X, first):
    """``est._validate_X(X)``, with a shortcut for the common case of a stream of batches.

    A C-contiguous float32/float64 NumPy array of the fitted width, for an
    estimator fitted without feature names, is what scikit-learn's
    ``validate_data`` would return unchanged (its ~80 us are a tenth of the
    pass over 10,000 rows); only the finiteness check remains to do.
    """
    if (
        not first
        and type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in (np.float64, np.float32)
        and X.flags.c_contiguous
        and X.shape[0] >= 1
        and X.shape[1] == est.n_features_in_
        and not hasattr(est, "feature_names_in_")
    ):
        _missing.check_missing_option(est.missing)
        check_all_finite(X, allow_nan=est.missing == "marginalize")
        return X
    # a first batch with all three initial parameters may be a single row, as later batches
    return est._validate_X(X, reset=first, min_samples=2 if first and _needs_rows(est) else 1)


def _needs_rows(est):
    return est.weights_init is None or est.means_init is None or est.precisions_init is None


def _restore(est, name, value):
    if value is None:
        est.__dict__.pop(name, None)
    else:
        setattr(est, name, value)


# ----------------------------------------------------------------- model files

#: The entries of a model file that hold the running statistics (``fastem.io``).
STATE_ENTRIES = ("online__nk", "online__s1", "online__s2", "online__shift")


def saved_state(est):
    """``(arrays, metadata)`` of the running statistics for a model file, or ``({}, None)``.

    Only a state that belongs to the estimator's current parameters is saved.
    """
    state = getattr(est, "_online", None)
    if state is None or _current_state(est) is not state:
        return {}, None
    s = state.stats
    arrays = dict(zip(STATE_ENTRIES, (s.nk, s.s1, s.s2, s.shift), strict=True))
    meta = {"n_steps": int(state.n_steps), "n_rows": int(state.n_rows), "loglik": s.loglik}
    batch_rows = getattr(est, "_checkpoint_batch_rows", None)  # a fit_online checkpoint's
    if batch_rows is not None:
        meta["batch_rows"] = int(batch_rows)
    if hasattr(est, "n_rows_seen_"):  # fit_online's rows read, batches of weight 0 included
        meta["n_rows_seen"] = int(est.n_rows_seen_)
    return {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}, meta


def state_shapes(covariance_type, n_components, n_features):
    K, D = n_components, n_features
    s2 = (K, D, D) if _stats.layout(covariance_type) in ("full", "tied") else (K, D)
    return dict(zip(STATE_ENTRIES, ((K,), (K, D), s2, (K, D)), strict=True))


def restore_state(model, arrays, meta, check):
    """Give a loaded ``model`` the running statistics of its file; ``check(cond, msg)`` raises."""
    K, D = model.means_.shape
    shapes = state_shapes(model.covariance_type, K, D)
    for name, shape in shapes.items():
        a = arrays[name]
        check(
            a.dtype == np.float64 and a.shape == shape and bool(np.all(np.isfinite(a))),
            f"{name} must be finite float64 of shape {shape}; the file was altered.",
        )
    check(
        isinstance(meta, dict)
        and all(isinstance(meta.get(k), int) and meta[k] >= 0 for k in ("n_steps", "n_rows"))
        and isinstance(meta.get("loglik"), (int, float))
        and (
            "batch_rows" not in meta
            or (isinstance(meta["batch_rows"], int) and meta["batch_rows"] >= 1)
        )
        and (
            "n_rows_seen" not in meta
            or (isinstance(meta["n_rows_seen"], int) and meta["n_rows_seen"] >= 0)
        ),
        "the online state's metadata is malformed.",
    )
    check(bool(np.all(arrays["online__nk"] >= 0)), "online__nk must be non-negative.")
    stats = SuffStats(
        arrays["online__nk"],
        arrays["online__s1"],
        arrays["online__s2"],
        float(meta["loglik"]),
        1.0,
        meta["n_rows"],
        arrays["online__shift"],
    )
    model._online = OnlineState(stats, meta["n_steps"], meta["n_rows"])
    if "n_rows_seen" in meta:
        model.n_rows_seen_ = meta["n_rows_seen"]
    model._online_means, model._online_covariances = model.means_, model.covariances_
