"""Model selection: fit a grid of mixtures and keep the best by BIC or AIC.

Here :func:`select_components` fits every cell of the grid (the best of its restarts,
:func:`_fit_restarts`) and builds the table of scores (:func:`_table_row`). What it checks
before fitting is in ``fastem._select_checks``, the initialization it shares across the
grid in ``fastem._select_init``, and the table's text forms (:func:`format_table`,
:func:`format_mclust`) in ``fastem._select_format``; the public names of those modules are
re-exported here.
"""

from __future__ import annotations

import numbers
import time
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from . import _missing, _stats, _validation
from ._select_checks import (
    CRITERIA,
    MCLUST_MODELS,
    MISSING_FIX,
    _check_grid,
    _check_settings,
    _check_weights,
    _in_memory,
)
from ._select_format import format_mclust, format_table
from ._select_init import SharedStarts, _initial_parameters, _n_features, _n_rows
from ._validation import effective_rows
from .mixture import GaussianMixture

__all__ = [
    "COLUMNS",
    "CRITERIA",
    "MCLUST_MODELS",
    "MISSING_FIX",
    "Selection",
    "format_mclust",
    "format_table",
    "effective_rows",
    "select_components",
]

#: the table's columns and their dtypes
_COLUMN_DTYPES = {
    "n_components": np.int64,
    "covariance_type": str,
    "bic": np.float64,
    "aic": np.float64,
    "icl": np.float64,
    "log_likelihood": np.float64,
    "n_parameters": np.int64,
    "converged": bool,
    "n_iter": np.int64,
    "seconds": np.float64,
    "error": str,
}
COLUMNS = tuple(_COLUMN_DTYPES)


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
        are their negatives),
        ``log_likelihood`` (mean per row), ``n_parameters``, ``converged``,
        ``n_iter``, ``seconds`` and ``error`` (empty unless the fit failed, in
        which case the scores are NaN). ``pandas.DataFrame(table)`` makes a
        data frame of it.
    """

    best_model: GaussianMixture
    table: dict


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
    sample_weight=None,
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
        ``icl = bic - 2 sum_i log max_k resp_ik``).
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
    sample_weight : array-like of shape (n_samples,), source or str, default=None
        Weights of the rows, as :meth:`GaussianMixture.fit` takes them with ``X``: an
        array for rows in memory; for a Dask array, a Dask array of weights chunked as
        its rows (or an array); for a source, an array, a one-column source or the name
        of its weight column (as ``fastem.source(..., weight_column=...)``). Every
        fit, its shared start and every score are weighted. Only the ratios of the
        weights matter, so the ``n`` of BIC and AIC (and the scale of ICL's
        entropy) is the weights' effective number of rows,
        ``(sum w)^2 / sum w^2``: the number of rows for equal weights, the rows of
        positive weight for weights of 0 and 1 (a row of weight 0 is not there).

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
    source, weights = _check_weights(sample_weight, arr, source)
    data = arr if arr is not None else source
    # NaN (or a source that may hold them): each fit starts itself, from rows it fills
    shared = missing != "marginalize" or (arr is not None and not _missing.has_nan(arr))
    ks, cts = _check_grid(n_components, covariance_types, criterion, _n_features(data))
    params = dict(
        max_iter=max_iter, tol=tol, reg_covar=reg_covar, prior=prior, n_threads=n_threads,
        missing=missing,
    )  # fmt: skip
    _check_settings(init_params, callback, ks[0], n_init, random_state, params)
    n = _n_rows(data)
    rng = check_random_state(random_state)
    seed = random_state if isinstance(random_state, numbers.Integral) else None
    starts = SharedStarts(arr, source, rng, ks, init_params, n_threads, weights) if shared else None
    rows = []
    models = []
    for K in ks:
        cells = _fit_restarts(data, weights, K, cts, n_init, starts, rng, init_params, params)
        for ct in cts:
            gm, error, seconds = cells[ct]
            if gm is not None:
                gm.set_params(
                    weights_init=None, means_init=None, precisions_init=None, random_state=seed
                )
            rows.append(_table_row(K, ct, gm, error, seconds, arr, source, weights, n))
            models.append(gm)
            if callback is not None:
                callback(len(rows), len(ks) * len(cts), dict(rows[-1]))
    table = {c: np.array([row[c] for row in rows], dtype=t) for c, t in _COLUMN_DTYPES.items()}
    scores = table[criterion]
    if np.all(np.isnan(scores)):
        raise ValueError(f"every fit failed; the first error was: {rows[0]['error']}")
    best = int(np.nanargmin(scores))
    return Selection(models[best], table)


def _fit_restarts(data, weights, K, cts, n_init, starts, rng, init_params, params):
    """Each covariance type's best fit of ``K`` components over ``n_init`` restarts
    (``weights``: the rows' sample weights, or None).

    Every restart draws one start from ``starts`` (None: each fit initializes itself) and
    one seed from ``rng`` for all the types; the fit of highest ``lower_bound_`` is kept.

    Returns
    -------
    cells : dict of str to (GaussianMixture or None, str, float)
        Per covariance type: the kept fit (None if every restart failed), the last
        failure's message, and the seconds of its fits with its share of the starts.
    """
    best = {ct: None for ct in cts}
    errors = {ct: "" for ct in cts}
    seconds = {ct: 0.0 for ct in cts}
    for restart in range(n_init):
        t0 = time.perf_counter()
        labelling = None if starts is None else starts.labelling(K, restart)
        t_shared = (time.perf_counter() - t0) / len(cts)
        fit_seed = int(rng.randint(np.iinfo(np.int32).max))
        for ct in cts:
            t0 = time.perf_counter()
            gm = GaussianMixture(
                K,
                covariance_type=ct,
                random_state=fit_seed,
                init_params=init_params if restart == 0 else "kmeans",
                **params,
            )
            try:
                if labelling is not None:
                    w0, m0, p0 = _initial_parameters(labelling, ct, params["reg_covar"])
                    gm.set_params(weights_init=w0, means_init=m0, precisions_init=p0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    gm.fit(data, sample_weight=weights)
            except ValueError as e:
                errors[ct] = str(e)
                gm = None
            seconds[ct] += time.perf_counter() - t0 + t_shared
            prev = best[ct]
            if gm is not None and (prev is None or gm.lower_bound_ > prev.lower_bound_):
                best[ct] = gm
    return {ct: (best[ct], errors[ct], seconds[ct]) for ct in cts}


def _table_row(K, ct, gm, error, seconds, X, source, weights, n):
    """The table's row of one cell: the scores of its fit ``gm`` on the ``n`` rows (with
    ``weights``, their effective number), or NaN scores and the ``error`` of a cell whose
    every restart failed (``gm`` None)."""
    row = {c: None for c in COLUMNS}
    row.update(n_components=K, covariance_type=ct, seconds=seconds, error="")
    if gm is None:
        row.update(
            bic=np.nan,
            aic=np.nan,
            icl=np.nan,
            log_likelihood=np.nan,
            converged=False,
            n_iter=0,
            n_parameters=-1,
            error=error,
        )
        return row
    ll, penalty, n = _score_and_entropy(gm, X, source, weights, n)
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
    return row


def _score_and_entropy(gm, X, source, weights, n):
    """``(score, -2 sum_i log max_k resp_ik, n)``: the (weighted) mean log-likelihood, ICL's
    penalty and BIC's number of rows (one pass). With
    weights, ``n`` is their effective number of rows (:func:`effective_rows`) and each row's
    entropy counts by its weight, scaled to that ``n``."""
    from . import _stream, _stream_api

    if X is not None:
        # the probabilities piece by piece (an (n_samples, n_components) array per cell was
        # the peak of a selection's memory), each row's log-likelihood and largest log
        # probability kept: the sums are those of ``score`` and of the whole arrays
        data = gm._predict_data(X)
        params = gm._fitted_kernel_params(data)
        log_prob, entropy = np.empty(X.shape[0]), np.empty(X.shape[0])
        for r0, (lp, resp, _) in data.iter_rowwise(params, gm.n_threads, logprob=True, resp=True):
            log_prob[r0 : r0 + lp.shape[0]] = lp
            with np.errstate(divide="ignore"):
                entropy[r0 : r0 + lp.shape[0]] = np.log(resp.max(axis=1))
            lp = resp = None  # (not held while the next piece is computed)
        _validation.check_densities(log_prob)  # as predict_proba
        w = weights
        score = float(np.average(log_prob, weights=w))
        if w is None:
            return score, float(-2 * entropy.sum()), n
        n_eff, scale = effective_rows(float(w.sum()), float(w @ w))
        return score, float(-2 * scale * (w @ entropy)), n_eff
    if _stream.is_streamed(source):
        data = _stream_api.predict_data(gm, source, weights)
        score, penalty, sums = _stream_api.score_sums(gm, data, True)
        if sums is None:  # no weights
            return score, penalty, n
        n_eff, scale = effective_rows(*sums)
        return score, scale * penalty, n_eff
    from .dask import score_sums

    # a Dask array: each block's log-likelihoods and largest log probabilities summed on its
    # worker, in one pass
    score, entropy, sums = score_sums(gm, source, weights)
    if sums is None:
        return score, -2 * entropy, n
    n_eff, scale = effective_rows(*sums)
    return score, -2 * scale * entropy, n_eff
