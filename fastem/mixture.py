"""The estimator: parameters, validation, the EM loop and the scikit-learn API."""

from __future__ import annotations

import warnings
from time import time

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from . import _checkpoint, _missing, _stats, _stream
from ._init import feature_variances, initial_stats, labelled_parameters
from ._passes import ArrayData
from ._validation import (
    check_all_finite,
    check_hyperparameters,
    check_means_init,
    check_precisions_init,
    check_sample_weight,
    check_weights_init,
    precheck_array,
)


def _is_dask_array(X):
    """A ``dask.array.Array``? (checked without importing Dask)"""
    return type(X).__module__.startswith("dask.array") and hasattr(X, "__dask_graph__")


class DegenerateComponentWarning(UserWarning):
    """A component lost all its weight during EM and was re-seeded."""


class _Interrupted(Exception):
    """Carries the best result so far out of an interrupted fit."""

    def __init__(self, best):
        super().__init__("interrupted")
        self.best = best


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture model fitted by expectation-maximization.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the
    same constructor, fitted attributes and methods, and the same answers from
    the same initial parameters. Each EM iteration is one pass over ``X`` in a
    fused, parallel Numba kernel that computes the log-densities, the
    responsibilities, the log-likelihood and the sufficient statistics block
    by block, without any (n_samples, n_components) temporary.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the covariance matrices.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of covariances.
    max_iter : int, default=100
        The number of EM iterations to perform.
    n_init : int, default=1
        The number of initializations; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        The method used to initialize the responsibilities.
    weights_init : array-like of shape (n_components,), default=None
        The user-provided initial weights.
    means_init : array-like of shape (n_components, n_features), default=None
        The user-provided initial means.
    precisions_init : array-like, default=None
        The user-provided initial precisions (inverse covariances), of shape
        (n_components,) for 'spherical', (n_features, n_features) for 'tied',
        (n_components, n_features) for 'diag' and
        (n_components, n_features, n_features) for 'full'.
    random_state : int, RandomState instance or None, default=None
        Controls the initialization.
    warm_start : bool, default=False
        If True, each ``fit`` starts from the solution of the previous one.
    verbose : int, default=0
        Print progress: 1 per initialization, 2 also per ``verbose_interval``
        iterations with timings.
    verbose_interval : int, default=10
        Iterations between two progress messages.
    n_threads : int, default=None
        Threads for the Numba kernels; None uses every core Numba sees. The
        result does not depend on it.
    missing : {'error', 'marginalize'}, default='error'
        What a NaN in ``X`` means. 'error' rejects it. 'marginalize' treats it
        as a value that was not observed (missing at random): densities are the
        marginals over each row's observed coordinates and the M-step uses the
        conditional expectations of the missing ones (exact EM). Rows without
        NaN take the usual fast path. See ``docs/incomplete.md``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shape depends on ``covariance_type`` as for ``precisions_init``.
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions (upper triangular), as in scikit-learn.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood of the training data at the last E-step of the best fit.
    lower_bounds_ : list of float
        ``lower_bound_`` at every iteration of the best fit.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0])
    array([ 1., 10.])
    >>> sorted(gm.predict([[0, 0], [12, 3]]).tolist()) == [0, 1]
    True
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        n_threads: int | None = None,
        missing: str = "error",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.missing = missing

    # ------------------------------------------------------------------ data

    def _validate_X(self, X, *, reset):
        precheck_array(X)
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2 if reset else 1,
            ensure_all_finite=False,
            reset=reset,
        )
        X = np.ascontiguousarray(X)
        if self.missing == "marginalize":
            _missing.check_no_inf(X)  # NaN: not observed
        else:
            check_all_finite(X)
        return X

    def _wrap(self, X, sample_weight=None, labels=None, *, fitting=False):
        """ArrayData, or MissingData when NaN are present and marginalized."""
        _missing.check_missing_option(self.missing)
        if not _missing.has_nan(X):
            return ArrayData(X, sample_weight, labels)
        return _missing.wrap_data(X, sample_weight, labels, missing=self.missing, fitting=fitting)

    def _fit_data(self, X, sample_weight, labels=None):
        """Wrap training input as a *data* object (see ``fastem._passes``)."""
        if _is_dask_array(X):
            from .dask import fit_data

            if labels is not None:
                raise NotImplementedError(
                    "labels= is not supported with a Dask array yet; compute X (and labels) "
                    "into memory, or fit without labels."
                )
            return fit_data(self, X, sample_weight)
        if _stream.is_streamed(X):  # a path, a chunked source: read chunk by chunk
            return _stream.fit_data(self, X, sample_weight, labels)
        X = self._validate_X(X, reset=True)
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {X.shape[0]}; pass more rows or "
                "lower n_components."
            )
        labels = _missing.check_labels(labels, X.shape[0], self.n_components)
        return self._wrap(X, check_sample_weight(sample_weight, X.shape[0]), labels, fitting=True)

    def _predict_data(self, X):
        """Wrap input of the row-wise methods as a *data* object."""
        check_is_fitted(self)
        if _is_dask_array(X):
            from .dask import predict_data

            return predict_data(self, X)
        if _stream.is_streamed(X):
            return _stream.predict_data(self, X)
        return self._wrap(self._validate_X(X, reset=False))

    # ------------------------------------------------------------ parameters

    def _initial_parameters(self, data, rng):
        """(weights, means, precisions_cholesky, covariances) to start EM from."""
        K, D = self.n_components, data.n_features
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = check_weights_init(self.weights_init, K)
        if self.means_init is not None:
            means = check_means_init(self.means_init, K, D)
        if self.precisions_init is not None:
            precisions = check_precisions_init(self.precisions_init, self.covariance_type, K, D)
        covariances = None
        if weights is None or means is None or precisions is None:
            init = data.sample_for_init(None, rng)
            self._check_scale(init)
            stats = initial_stats(
                init.X,
                init.sample_weight,
                K,
                self.init_params,
                self.covariance_type,
                rng,
                self.n_threads,
            )
            w0, m0, covariances = _stats.m_step(stats, self.covariance_type, self.reg_covar)
            if getattr(init, "labels", None) is not None:
                w0, m0, covariances = labelled_parameters(
                    init.X, init.sample_weight, init.labels, w0, m0, covariances,
                    self.covariance_type, self.reg_covar,
                )  # fmt: skip
            weights = w0 if weights is None else weights
            means = m0 if means is None else means
        if precisions is None:
            prec_chol = _stats.precision_cholesky(covariances, self.covariance_type)
        else:
            prec_chol = _stats.precision_cholesky_from_precisions(precisions, self.covariance_type)
            covariances = _stats.covariances_from_precisions(precisions, self.covariance_type)
        return weights, means, prec_chol, covariances

    def _check_scale(self, init):
        """Refuse data whose spread reg_covar would swamp (a silently wrong fit)."""
        var = feature_variances(init.X, init.sample_weight)
        positive = var[var > 0]
        if positive.size and self.reg_covar >= 0.1 * positive.min():
            j = int(np.flatnonzero(var == positive.min())[0])
            raise ValueError(
                f"Feature {j} has variance {positive.min():.3g}, which reg_covar="
                f"{self.reg_covar:g} would swamp. Scale the data (e.g. with "
                "sklearn.preprocessing.StandardScaler) or set reg_covar below "
                f"{0.01 * positive.min():.3g}."
            )

    def _kernel_params(self, weights, means, prec_chol, dtype):
        return _stats.kernel_params(weights, means, prec_chol, self.covariance_type, dtype)

    def _fitted_kernel_params(self, dtype):
        return self._kernel_params(self.weights_, self.means_, self.precisions_cholesky_, dtype)

    # ---------------------------------------------------------------- EM loop

    def _em(
        self,
        data,
        params,
        lower_bound,
        init,
        *,
        n_iter=0,
        lower_bounds=(),
        converged=False,
        on_pass=None,
    ):
        """Run EM from ``params`` (optionally resuming after ``n_iter`` passes).

        Returns ``(params, lower_bound, n_iter, lower_bounds, converged)``.
        ``on_pass`` is called with that tuple after every complete pass.
        """
        weights, means, prec_chol, covariances = params
        lower_bounds = list(lower_bounds)
        self._print_init_begin(init)
        while not converged and n_iter < self.max_iter:
            n_iter += 1
            prev = lower_bound
            kparams = self._kernel_params(weights, means, prec_chol, data.dtype)
            stats = data.stats(kparams, self.n_threads)
            if not np.isfinite(stats.loglik):
                raise ValueError(
                    "Some rows have zero density under every component (log-likelihood is "
                    "-inf); the data may hold extreme values. Scale the data or increase reg_covar."
                )
            weights, means, covariances = _stats.m_step(stats, self.covariance_type, self.reg_covar)
            weights, means, covariances = self._reseed_empty(
                stats, weights, means, covariances, data
            )
            prec_chol = _stats.precision_cholesky(covariances, self.covariance_type)
            lower_bound = stats.mean_loglik
            lower_bounds.append(lower_bound)
            self._print_iter_end(n_iter, lower_bound - prev)
            converged = abs(lower_bound - prev) < self.tol
            if on_pass is not None:
                on_pass(
                    (
                        (weights, means, prec_chol, covariances),
                        lower_bound,
                        n_iter,
                        lower_bounds,
                        converged,
                    )
                )
        self._print_init_end(lower_bound, converged)
        return (
            (weights, means, prec_chol, covariances),
            lower_bound,
            n_iter,
            lower_bounds,
            converged,
        )

    def _reseed_empty(self, stats, weights, means, covariances, data):
        """Re-seed components that lost (almost) all their weight.

        A component whose total responsibility falls below a thousandth of an
        average row's weight is moved to the worst-explained row (lowest
        log-likelihood under the current mixture), given the average covariance
        of the live components and the weight of one row, with a warning.
        """
        dead = stats.nk < 1e-3 * stats.wsum / max(stats.n_rows, 1)
        if not dead.any() or dead.all():
            return weights, means, covariances
        sample = data.sample_for_init(None, None)
        live_w = np.where(dead, 0.0, weights)
        live_w = live_w / live_w.sum()
        prec_chol = _stats.precision_cholesky(covariances, self.covariance_type)
        kp = self._kernel_params(live_w, means, prec_chol, sample.dtype)
        log_prob = sample.rowwise(kp, self.n_threads, logprob=True)[0]
        worst = np.argsort(log_prob, kind="stable")[: int(dead.sum())]
        means = means.copy()
        means[dead] = sample.X[worst]
        if self.covariance_type != "tied":
            covariances = covariances.copy()
            covariances[dead] = np.average(covariances[~dead], axis=0, weights=weights[~dead])
        weights = weights.copy()
        weights[dead] = 1.0 / max(stats.n_rows, 1)
        weights /= weights.sum()
        warnings.warn(
            f"{int(dead.sum())} component(s) lost all their weight and were re-seeded at the "
            "worst-explained rows; consider fewer components.",
            DegenerateComponentWarning,
            stacklevel=4,
        )
        return weights, means, covariances

    def fit(self, X, y=None, sample_weight=None, *, labels=None, checkpoint=None):
        """Estimate the model parameters with the EM algorithm.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            Training data, one row per sample: in memory, or a chunked source
            read chunk by chunk in every EM iteration (a path or object accepted
            by :func:`fastem.source`).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight counts like repeating the row.
            With a source, also a column name of the source or a parallel
            one-column source.
        labels : array-like of int of shape (n_samples,), default=None
            Known components: ``labels[i] = j`` fixes row ``i`` to component
            ``j`` in every E-step (and initialization starts component ``j``
            from its labelled rows), ``-1`` marks a row whose component is
            inferred. Component ``j`` is label ``j``, so ``predict`` fills in
            the unknown labels in the same coding.
        checkpoint : str or path-like, default=None
            If given, the state is written there atomically after every EM
            pass. Calling ``fit`` again with the same data, hyper-parameters
            and checkpoint resumes from the last complete pass and ends with
            exactly the parameters of an uninterrupted fit.

        Returns
        -------
        self : GaussianMixture
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.concatenate([rng.normal(0, 1, (100, 1)), rng.normal(5, 1, (100, 1))])
        >>> labels = np.full(200, -1)
        >>> labels[[0, 1, 100, 101]] = [1, 1, 0, 0]  # the user codes the high group 0
        >>> gm = GaussianMixture(2, random_state=0).fit(X, labels=labels)
        >>> np.round(gm.means_.ravel()).tolist()
        [5.0, 0.0]
        """
        check_hyperparameters(self)
        previous_n_features = getattr(self, "n_features_in_", None)
        try:
            data = self._fit_data(X, sample_weight, labels)
            # The M-step works on tiny (K, D, D) matrices: threaded BLAS only
            # spins up threads that then compete with the Numba kernels.
            with threadpool_limits(limits=1, user_api="blas"):
                result = self._fit(data, checkpoint)
        except _Interrupted as stop:
            self._set_result(*stop.best, warn=False)
            warnings.warn(
                f"fit interrupted after {stop.best[2]} EM iteration(s); the estimator holds the "
                "best parameters reached so far.",
                RuntimeWarning,
                stacklevel=2,
            )
            raise KeyboardInterrupt from None
        except BaseException:
            if previous_n_features is None:
                self.__dict__.pop("n_features_in_", None)
            else:
                self.n_features_in_ = previous_n_features
            raise
        self._set_result(*result)
        return self

    def _fit(self, data, checkpoint=None):
        """All initializations and EM runs; returns the best result (no state set)."""
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        rng = check_random_state(self.random_state)
        best, current, first_init, resume = None, None, 0, None
        if checkpoint is not None:
            key = _checkpoint.fingerprint(self, data)
            state = _checkpoint.load(checkpoint, key)
            if state is not None:
                if state["done"]:
                    return state["best"]
                rng.set_state(state["rng_state"])
                best, first_init = state["best"], state["init"]
                if state["n_iter"] > 0:
                    resume = state

        def on_pass(run):
            nonlocal current
            current = run
            if checkpoint is not None:
                _checkpoint.save(
                    checkpoint,
                    fingerprint=key,
                    init=init,
                    n_iter=run[2],
                    params=run[0],
                    lower_bound=run[1],
                    lower_bounds=run[3],
                    converged=run[4],
                    rng=rng,
                    best=best,
                    done=False,
                )

        try:
            for init in range(first_init, n_init):
                current = None
                if resume is not None:
                    params, lower_bound = resume["params"], resume["lower_bound"]
                    kw = dict(
                        n_iter=resume["n_iter"],
                        lower_bounds=resume["lower_bounds"],
                        converged=resume["converged"],
                    )
                    resume = None
                elif do_init:
                    params, lower_bound, kw = self._initial_parameters(data, rng), -np.inf, {}
                else:
                    params = (
                        self.weights_,
                        self.means_,
                        self.precisions_cholesky_,
                        self.covariances_,
                    )
                    lower_bound, kw = self.lower_bound_, {}
                if self.max_iter == 0:
                    run = (params, lower_bound, 0, [], False)
                else:
                    run = self._em(data, params, lower_bound, init, on_pass=on_pass, **kw)
                if best is None or run[1] > best[1]:
                    best = run
                if checkpoint is not None:
                    _checkpoint.save(
                        checkpoint,
                        fingerprint=key,
                        init=init + 1,
                        n_iter=0,
                        params=run[0],
                        lower_bound=run[1],
                        lower_bounds=[],
                        converged=False,
                        rng=rng,
                        best=best,
                        done=init + 1 == n_init,
                    )
        except KeyboardInterrupt:
            candidates = [r for r in (best, current) if r is not None]
            if not candidates:
                raise
            raise _Interrupted(max(candidates, key=lambda r: r[1])) from None
        return best

    def _set_result(self, params, lower_bound, n_iter, lower_bounds, converged, warn=True):
        weights, means, prec_chol, covariances = params
        self.weights_ = weights
        self.means_ = means
        self.covariances_ = covariances
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = _stats.precisions_from_cholesky(prec_chol, self.covariance_type)
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = lower_bounds
        if warn and not converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------- row-wise

    def _rowwise(self, data, out=None, **what):
        params = self._fitted_kernel_params(data.dtype)
        if out is not None:  # written chunk by chunk (fastem._stream)
            return _stream.rowwise_to(data, params, self.n_threads, out, **what)
        return data.rowwise(params, self.n_threads, **what)

    def fit_predict(self, X, y=None, sample_weight=None, *, labels=None):
        """Fit the model and return the most probable component of every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
        labels : array-like of int of shape (n_samples,), default=None
            Known components, -1 where unknown (see :meth:`fit`).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.fit(X, sample_weight=sample_weight, labels=labels).predict(X)

    def predict(self, X, out=None):
        """Most probable component of every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (see :func:`fastem.source`).
        out : str or writable array, default=None
            Write the result chunk by chunk to a ``.npy`` path (returned
            memory-mapped, read-only) or into a writable array of the result's
            shape (an ``h5py.Dataset``, a ``zarr.Array``, a NumPy array or
            memmap), for results that do not fit in memory.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._rowwise(self._predict_data(X), out=out, labels=True)[2]

    def predict_proba(self, X, out=None):
        """Posterior probability of each component for every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (see :func:`fastem.source`).
        out : str or writable array, default=None
            Write the result chunk by chunk to a ``.npy`` path (returned
            memory-mapped, read-only) or into a writable array of the result's
            shape (an ``h5py.Dataset``, a ``zarr.Array``, a NumPy array or
            memmap), for results that do not fit in memory.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._rowwise(self._predict_data(X), out=out, resp=True)[1]

    def score_samples(self, X, out=None):
        """Log-likelihood of every row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (see :func:`fastem.source`).
        out : str or writable array, default=None
            Write the result chunk by chunk to a ``.npy`` path (returned
            memory-mapped, read-only) or into a writable array of the result's
            shape (an ``h5py.Dataset``, a ``zarr.Array``, a NumPy array or
            memmap), for results that do not fit in memory.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._rowwise(self._predict_data(X), out=out, logprob=True)[0]

    def score(self, X, y=None, sample_weight=None):
        """Weighted mean log-likelihood of ``X`` under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (see :func:`fastem.source`),
            scored in one pass.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            With a source, also a column name of the source or a parallel
            one-column source.

        Returns
        -------
        log_likelihood : float
        """
        if _stream.is_streamed(X):  # one pass; sample_weight may be a column or a source
            check_is_fitted(self)
            return _stream.score(self, _stream.predict_data(self, X, sample_weight))
        log_prob = self.score_samples(X)
        w = check_sample_weight(sample_weight, log_prob.shape[0])
        return float(np.average(log_prob, weights=w))

    def bic(self, X):
        """Bayesian information criterion for ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion for ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()

    def _n_parameters(self):
        return _stats.n_parameters(self.covariance_type, self.n_components, self.means_.shape[1])

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at "
                "least one sample."
            )
        n_features = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        if self.covariance_type in ("full", "tied"):
            covs = self.covariances_
            if self.covariance_type == "tied":
                covs = [covs] * self.n_components
            X = np.vstack(
                [
                    rng.multivariate_normal(m, c, int(s))
                    for m, c, s in zip(self.means_, covs, counts)
                ]
            )
        else:
            X = np.vstack(
                [
                    m + rng.standard_normal(size=(s, n_features)) * np.sqrt(c)
                    for m, c, s in zip(self.means_, self.covariances_, counts)
                ]
            )
        y = np.concatenate([np.full(s, j, dtype=int) for j, s in enumerate(counts)])
        return X, y

    # --------------------------------------------------------------- verbose

    def _print_init_begin(self, init):
        if self.verbose >= 1:
            print(f"Initialization {init}")
        self._init_prev_time = self._iter_prev_time = time()

    def _print_iter_end(self, n_iter, change):
        if self.verbose and n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = time()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - self._iter_prev_time:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                self._iter_prev_time = now

    def _print_init_end(self, lower_bound, converged):
        msg = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {msg}.")
        elif self.verbose >= 2:
            t = time() - self._init_prev_time
            print(f"Initialization {msg}. time lapse {t:.5f}s\t lower bound {lower_bound:.5f}.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "marginalize"
        return tags
