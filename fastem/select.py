"""Model selection: fit a grid of mixtures and keep the best by BIC or AIC.

:func:`select_components` validates the grid, fits every cell of it and builds the table of
scores; the initialization it shares across the grid is in ``fastem._select_init``, and
the table's text forms (:func:`format_table`, :func:`format_mclust`, re-exported here) in
``fastem._select_format``.
"""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state

from . import _missing, _models, _stats, _validation
from ._hc import hc_labels
from ._init import kmeans_plusplus, lloyd
from ._mixture_api import _is_dask_array
from ._select_format import format_mclust, format_table
from ._select_init import (
    _hc_labelling,
    _held_rows,
    _init_rows,
    _initial_parameters,
    _labelling_stats,
    _n_features,
    _n_rows,
)
from ._validation import check_sample_weight
from .mixture import GaussianMixture

__all__ = [
    "COLUMNS",
    "CRITERIA",
    "MCLUST_MODELS",
    "MISSING_FIX",
    "Selection",
    "format_mclust",
    "format_table",
    "select_components",
]

CRITERIA = ("bic", "aic", "icl")
#: ``covariance_types="mclust"``: mclust's 14 models (its ``mclustBIC`` default)
MCLUST_MODELS = tuple(m for m in _models.MCLUST_NAMES if m not in ("E", "V"))
COLUMNS = (
    "n_components",
    "covariance_type",
    "bic",
    "aic",
    "icl",
    "log_likelihood",
    "n_parameters",
    "converged",
    "n_iter",
    "seconds",
    "error",
)


class Selection(NamedTuple):
    """What :func:`select_components` returns; unpacks as ``best_model, table``.

    Attributes
    ----------
    best_model : GaussianMixture
        The fitted model with the lowest criterion.
    table : dict of str to ndarray
        One entry per column, one row per fitted model, in the order fitted:
        ``n_components``, ``covariance_type``, ``bic``, ``aic``, ``icl``
        (all three lower is better: scikit-learn's sign; mclust's BIC and ICL
        are their negatives; ``icl`` is NaN for a Dask array),
        ``log_likelihood`` (mean per row), ``n_parameters``, ``converged``,
        ``n_iter``, ``seconds`` and ``error`` (empty unless the fit failed, in
        which case the scores are NaN). ``pandas.DataFrame(table)`` makes a
        data frame of it.
    """

    best_model: GaussianMixture
    table: dict


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
    if isinstance(X, (np.ndarray, list, tuple)) or (
        hasattr(X, "__array__") and not module.startswith("dask")
    ):
        _validation.precheck_array(X)  # 1-D, 3-D, complex: messages that say what to do
        arr = check_array(
            X, dtype=[np.float64, np.float32], ensure_min_samples=2, ensure_all_finite=False
        )
        arr = np.ascontiguousarray(arr)
        # the row and column of a NaN, inf or huge value
        _validation.check_all_finite(
            arr,
            allow_nan=missing == "marginalize",
            missing_fix=MISSING_FIX,
        )
        return arr, None
    if _stream.is_streamed(X):
        return None, source(X)
    if module.startswith("dask"):  # unknown chunk sizes: fit's message, not int(nan)'s
        from .dask import _as_row_chunked

        _as_row_chunked(X, "X")
    return None, X


def _score_and_entropy(gm, X, source):
    """``(score, -2 sum_i log max_k resp_ik)``: the mean log-likelihood and ICL's penalty,
    from one pass (NaN penalty for a Dask array)."""
    from . import _stream, _stream_api

    if X is not None:
        log_prob, resp, _ = gm._rowwise(gm._predict_data(X), logprob=True, resp=True)
        _validation.check_densities(log_prob)  # as predict_proba
        score = float(np.average(log_prob, weights=check_sample_weight(None, X.shape[0])))
        with np.errstate(divide="ignore"):
            return score, float(-2 * np.log(resp.max(axis=1)).sum())
    if _stream.is_streamed(source):
        return _stream_api.score(gm, gm._predict_data(source), entropy=True)
    return gm.score(source), np.nan


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


def select_components(
    X,
    n_components=range(1, 7),
    covariance_types=("full", "tied", "diag", "spherical"),
    criterion="bic",
    *,
    n_init=1,
    max_iter=100,
    tol=1e-3,
    reg_covar=1e-6,
    random_state=None,
    n_threads=None,
    callback=None,
    init_params="kmeans",
    prior=None,
    missing="error",
):
    """Fit a grid of Gaussian mixtures and keep the best by BIC or AIC.

    Every combination of a number of components and a covariance type is
    fitted; the model with the lowest ``criterion`` is returned together with
    a table of the scores of all of them.

    Initialization work is shared: for every number of components ``K`` and
    every one of the ``n_init`` restarts, k-means (k-means++ seeding and Lloyd
    iterations, the expensive part of the default ``init_params='kmeans'``) runs
    once, and its labelling initializes the fits of *every* covariance type,
    through the one cheap pass that turns labels into initial weights, means
    and covariances of the given type. So a grid of ``len(n_components)`` K's
    and four covariance types runs k-means ``len(n_components) * n_init``
    times, not four times as often. For a data source that cannot hand out its
    rows for initialization, each fit initializes itself.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), or a data source
        The data: an array, or anything :meth:`GaussianMixture.fit` accepts.
    n_components : iterable of int or int, default=range(1, 7)
        The numbers of components to try.
    covariance_types : iterable of str or str, default=('full', 'tied', 'diag', 'spherical')
        The covariance types to try: any of :class:`GaussianMixture`'s, or
        ``'mclust'`` for mclust's 14 models (``'E'``, ``'V'`` for one feature),
        the grid of mclust's ``mclustBIC``.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The information criterion to minimize. All three are in scikit-learn's
        sign (lower is better): ``bic = -2 logL + p log n``. mclust reports
        ``2 logL - p log n`` (higher is better), the negative, and the same
        for ICL (BIC plus twice the entropy of the hard classification:
        ``icl = bic - 2 sum_i log max_k resp_ik``). ``'icl'`` is refused for a
        Dask array, whose ICL is not computed.
    n_init : int, default=1
        Restarts per number of components; the best by log-likelihood is kept
        for every cell of the grid.
    max_iter : int, default=100
        EM iterations per fit.
    tol : float, default=1e-3
        Convergence threshold of every fit.
    reg_covar : float, default=1e-6
        Regularization added to the diagonal of the covariances.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means initializations.
    n_threads : int, default=None
        Threads for the Numba kernels.
    callback : callable, default=None
        Called as ``callback(done, total, row)`` after each fit, with ``row`` a
        dict of that fit's table row; the command line uses it for its progress
        bar.
    init_params : {'kmeans', 'hc'}, default='kmeans'
        The shared initialization: k-means, or mclust's model-based
        hierarchical clustering (one tree, cut at every K; the first restart
        only, further restarts use k-means).
    prior : None, 'default' or dict, default=None
        The conjugate prior of every fit (:class:`GaussianMixture`'s
        ``prior``); as in mclust's ``mclustBIC(prior=priorControl())``, the
        models without one (VEE, EVE, VVE, EVV) get NaN scores and the
        reason in ``error``.
    missing : {'error', 'marginalize'}, default='error'
        NaN in ``X``: refused, or not observed (:class:`GaussianMixture`'s
        ``missing``): every fit and every score then marginalizes them. With NaN
        present the initialization is not shared: each fit makes its own from
        its ``init_params`` (k-means or the tree, on the rows filled as the
        estimator fills them).

    Returns
    -------
    selection : Selection
        A named tuple ``(best_model, table)``; ``table`` is a dict of columns
        (see :class:`~fastem.select.Selection`).

    Raises
    ------
    ValueError
        If the grid is empty or invalid, or if every fit failed.

    Notes
    -----
    The returned model's ``weights_init``, ``means_init`` and
    ``precisions_init`` are reset to ``None`` after fitting and its
    ``random_state`` is the one given here, so refitting it starts from its own
    k-means initialization as usual. Fits that fail (for instance more
    components than distinct rows) are kept in the table with NaN scores and
    the message in ``error``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastem
    >>> X = fastem.load_old_faithful()
    >>> best, table = fastem.select_components(
    ...     X, n_components=range(1, 4), covariance_types=("full", "diag"), random_state=0
    ... )
    >>> best.n_components, best.covariance_type
    (2, 'full')
    >>> len(table["bic"]), bool(np.min(table["bic"]) == best.bic(X))
    (6, True)
    """
    _missing.check_missing_option(missing)
    arr, source = _in_memory(X, missing)
    data = arr if arr is not None else source
    # NaN (or a source that may hold them): each fit starts itself, from rows it fills
    shared = missing != "marginalize" or (arr is not None and not _missing.has_nan(arr))
    ks, cts = _check_grid(n_components, covariance_types, criterion, _n_features(data))
    if criterion == "icl" and _is_dask_array(X):
        raise ValueError(
            "criterion='icl' needs every row's responsibilities, which select_components "
            "does not compute for a Dask array (its icl column is NaN); choose by "
            "criterion='bic' or 'aic', or pass the rows in memory (X.compute()) or as a file."
        )
    if init_params not in ("kmeans", "hc"):
        raise ValueError(f"init_params must be 'kmeans' or 'hc', got {init_params!r}.")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable or None, got {callback!r}.")
    # the settings every fit shares, checked once with the estimator's messages (not
    # reported as "every fit failed"); the prior's model-by-model availability stays per fit
    _validation.check_hyperparameters(
        GaussianMixture(
            ks[0], max_iter=max_iter, tol=tol, reg_covar=reg_covar, n_init=n_init,
            random_state=random_state, n_threads=n_threads, prior=prior, missing=missing,
        )
    )  # fmt: skip
    n = _n_rows(data)
    rng = check_random_state(random_state)
    seed = random_state if isinstance(random_state, numbers.Integral) else None
    rows = {c: [] for c in COLUMNS}
    models = []
    total = len(ks) * len(cts)
    done = 0
    hc = None
    held = _held_rows(source) if arr is None and shared else None
    if init_params == "hc" and shared:
        init = _init_rows(arr, source, rng, held)
        # the levels there are rows for: a K beyond them fails on its own (its row of the
        # table), and must not send the others to k-means starts
        levels = []
        if init is not None:  # rows with weight: those the tree is built on
            w0 = init[1]
            rows_in = len(init[0]) if w0 is None else int(np.count_nonzero(np.asarray(w0) > 0))
            levels = [k for k in ks if k <= rows_in]
        if levels:
            hc = (init, *hc_labels(init[0], init[1], levels, rng))
    for K in ks:
        best_per_type = {ct: None for ct in cts}
        errors = {ct: "" for ct in cts}
        t_type = {ct: 0.0 for ct in cts}
        for restart in range(n_init):
            t0 = time.perf_counter()
            tree = hc is not None and restart == 0 and K in hc[2]
            init = None if tree or not shared else _init_rows(arr, source, rng, held)
            labelling = None
            if tree:
                labelling = _hc_labelling(hc, K)
            elif init is not None and init[0].shape[0] >= K:
                Xi, wi = init
                seeds = kmeans_plusplus(Xi, wi, K, rng, n_threads)
                centers, labels = lloyd(Xi, wi, Xi[seeds], n_threads)
                labelling = _labelling_stats(Xi, wi, labels, centers)
            t_shared = (time.perf_counter() - t0) / len(cts)
            fit_seed = int(rng.randint(np.iinfo(np.int32).max))
            for ct in cts:
                t0 = time.perf_counter()
                gm = GaussianMixture(
                    K,
                    covariance_type=ct,
                    max_iter=max_iter,
                    tol=tol,
                    reg_covar=reg_covar,
                    random_state=fit_seed,
                    init_params=init_params if restart == 0 else "kmeans",
                    prior=prior,
                    n_threads=n_threads,
                    missing=missing,
                )
                try:
                    if labelling is not None:
                        w0, m0, p0 = _initial_parameters(labelling, ct, reg_covar)
                        gm.set_params(weights_init=w0, means_init=m0, precisions_init=p0)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        gm.fit(data)
                except ValueError as e:
                    errors[ct] = str(e)
                    gm = None
                t_type[ct] += time.perf_counter() - t0 + t_shared
                prev = best_per_type[ct]
                if gm is not None and (prev is None or gm.lower_bound_ > prev.lower_bound_):
                    best_per_type[ct] = gm
        for ct in cts:
            gm = best_per_type[ct]
            row = {c: None for c in COLUMNS}
            row.update(n_components=K, covariance_type=ct, seconds=t_type[ct], error="")
            if gm is None:
                row.update(
                    bic=np.nan,
                    aic=np.nan,
                    icl=np.nan,
                    log_likelihood=np.nan,
                    converged=False,
                    n_iter=0,
                    n_parameters=-1,
                    error=errors[ct],
                )
            else:
                gm.set_params(
                    weights_init=None, means_init=None, precisions_init=None, random_state=seed
                )
                ll, penalty = _score_and_entropy(gm, arr, source)
                p = _stats.n_parameters(ct, K, gm.means_.shape[1])
                bic = -2 * ll * n + p * np.log(n)
                row.update(
                    bic=bic,
                    aic=-2 * ll * n + 2 * p,
                    icl=bic + penalty,
                    log_likelihood=ll,
                    n_parameters=p,
                    converged=bool(gm.converged_),
                    n_iter=int(gm.n_iter_),
                )
            for c in COLUMNS:
                rows[c].append(row[c])
            models.append(gm)
            done += 1
            if callback is not None:
                callback(done, total, dict(row))
    table = {
        "n_components": np.array(rows["n_components"], dtype=np.int64),
        "covariance_type": np.array(rows["covariance_type"], dtype=str),
        "bic": np.array(rows["bic"], dtype=np.float64),
        "aic": np.array(rows["aic"], dtype=np.float64),
        "icl": np.array(rows["icl"], dtype=np.float64),
        "log_likelihood": np.array(rows["log_likelihood"], dtype=np.float64),
        "n_parameters": np.array(rows["n_parameters"], dtype=np.int64),
        "converged": np.array(rows["converged"], dtype=bool),
        "n_iter": np.array(rows["n_iter"], dtype=np.int64),
        "seconds": np.array(rows["seconds"], dtype=np.float64),
        "error": np.array(rows["error"], dtype=str),
    }
    scores = table[criterion]
    if np.all(np.isnan(scores)):
        raise ValueError(f"every fit failed; the first error was: {rows['error'][0]}")
    best = int(np.nanargmin(scores))
    return Selection(models[best], table)
