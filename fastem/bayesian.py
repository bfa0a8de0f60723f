"""The variational Bayesian estimator: scikit-learn's ``BayesianGaussianMixture``.

The fitting machinery (initializations, ``n_init``, ``warm_start``, interrupts,
progress, the EM loop itself) is :class:`fastem._em_loop._EMLoop`'s, with this
estimator's hooks: ``_e_step_params`` (the variational constants in the
kernels' ``const``) and ``_m_step_and_bound`` (the variational M-step and the
bounds, :mod:`fastem._variational`'s). The pass is the data objects' ``stats``
(in memory, chunked sources, Dask).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from threadpoolctl import threadpool_limits

from . import _small, _stats, _variational
from ._em_loop import _EMLoop
from ._mixture_api import _MixtureAPI
from ._validation import check_hyperparameters
from ._vb_validation import check_init_from, check_priors, check_resp_init, check_vb_options


class BayesianGaussianMixture(_EMLoop, _MixtureAPI, DensityMixin, BaseEstimator):
    """Variational Bayesian Gaussian mixture, fitted with fastem's fused kernels.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`:
    the same constructor, fitted attributes and methods, and the same answers
    from the same starting point. Each variational iteration is one pass of
    the fused kernel that EM uses (the log-density under each component's
    expected precision, with the digamma and ``D / beta_k`` terms folded into
    per-component constants), then the variational M-step on the sufficient
    statistics, so sample weights, chunked sources and Dask arrays work as for
    :class:`fastem.GaussianMixture`.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components (an upper bound: the fit can leave
        some of them with almost no weight).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the covariance matrices.
    tol : float, default=1e-3
        Convergence threshold on the change of ``lower_bound_``.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of the empirical
        covariances.
    max_iter : int, default=100
        The number of iterations to perform.
    n_init : int, default=1
        The number of initializations; the one with the largest lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are chosen (as in
        :class:`fastem.GaussianMixture`).
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
        The prior on the weights: a stick-breaking Dirichlet process or a
        finite Dirichlet distribution.
    weight_concentration_prior : float, default=None
        The concentration of the weights prior (> 0); None: ``1 / n_components``.
    mean_precision_prior : float, default=None
        The precision prior on the means (> 0); None: 1.
    mean_prior : array-like of shape (n_features,), default=None
        The prior on the means; None: the mean of ``X``.
    degrees_of_freedom_prior : float, default=None
        The degrees of freedom of the Wishart prior (> n_features - 1); None:
        ``n_features``.
    covariance_prior : float or array-like, default=None
        The covariance of the Wishart prior: (n_features, n_features) for
        'full' and 'tied', (n_features,) for 'diag', a float for
        'spherical'; None: the empirical covariance of ``X``.
    random_state : int, RandomState instance or None, default=None
        Controls the initialization.
    warm_start : bool, default=False
        If True, each ``fit`` continues from the solution of the previous one.
    verbose : int, default=0
        Print progress: 1 per initialization, 2 also per ``verbose_interval`` iterations.
    verbose_interval : int, default=10
        Iterations between two progress messages.
    n_threads : int, default=None
        Threads for the kernels; None as in :class:`fastem.GaussianMixture` (the usable
        cores). The result does not depend on it.
    prune_threshold : float, default=None
        If given, components whose expected weight (``weights_``) ends below it
        are removed from the fitted model (if every one does, the heaviest is
        kept), so that ``predict``,
        ``predict_proba`` and ``n_components_effective_`` reflect only the
        components in use (``kept_components_`` maps them to the original
        indices). None keeps every component, as scikit-learn does.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Expected weight of each component.
    means_ : ndarray of shape (n_components, n_features)
        Mean of each component's mean posterior.
    covariances_ : ndarray
        Covariances (``W_k^-1 / dof_k``); shape as in :class:`fastem.GaussianMixture`.
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        scikit-learn's lower bound of the best fit (constants dropped), at its last iteration.
    lower_bounds_ : list of float
    elbo_ : float or None
        The full evidence lower bound at the last iteration (Bishop's 10.70,
        every constant kept), comparable across numbers of components and
        priors; 'full' covariances only (None otherwise: scikit-learn's
        'tied', 'diag' and 'spherical' updates are not the posterior of one
        Bayesian model, so they have no ELBO of their own).
    weight_concentration_prior_ : float
    weight_concentration_ : ndarray or tuple of two ndarrays
        Dirichlet concentrations, or the two Beta parameters of each stick.
    mean_precision_prior_ : float
    mean_precision_ : ndarray of shape (n_components,)
    mean_prior_ : ndarray of shape (n_features,)
    degrees_of_freedom_prior_ : float
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
    covariance_prior_ : float or ndarray
    n_components_effective_ : int
        Components kept after pruning (``n_components`` without pruning).
    kept_components_ : ndarray of int
        Original index of each kept component.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BayesianGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=42).fit(X)
    >>> np.round(bgm.means_, 1)  # scikit-learn's example gives the same
    array([[2.5, 2.3],
           [8.5, 4.5]])
    >>> bgm.predict([[0, 0], [9, 3]])
    array([0, 1])
    """

    #: the NaN policy of the shared input handling (``fastem._mixture_api``): refuse NaN
    missing = "error"

    def __init__(
        self,
        *,
        n_components: int = 1,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior=None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        n_threads: int | None = None,
        prune_threshold: float | None = None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.prune_threshold = prune_threshold

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        X,
        y=None,
        sample_weight=None,
        *,
        resp_init=None,
        init_from=None,
        checkpoint=None,
    ):
        """Fit the variational posterior.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), source or Dask array
            Training data: in memory, a chunked source (see :func:`fastem.source`)
            or a Dask array.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight counts like repeating the row.
        resp_init : array-like of shape (n_samples, n_components), default=None
            Start from these responsibilities (in-memory ``X`` only): the first
            variational M-step runs on them, as scikit-learn's initialization
            does on the responsibilities it draws.
        init_from : fitted BayesianGaussianMixture, default=None
            Start from the variational parameters of a fitted model with the
            same ``n_components`` and ``covariance_type``: fastem's or
            scikit-learn's (``weight_concentration_``, ``mean_precision_``,
            ``means_``, ``degrees_of_freedom_``, ``covariances_``).
        checkpoint : str or path-like, default=None
            If given, the state is written there atomically after every
            iteration; calling ``fit`` again with the same data,
            hyper-parameters and checkpoint resumes from the last complete
            iteration and ends with exactly the result of an uninterrupted fit.
            Not with ``resp_init`` or ``init_from``.

        Returns
        -------
        self : BayesianGaussianMixture
        """
        check_hyperparameters(self)
        check_vb_options(self)
        if checkpoint is not None and (resp_init is not None or init_from is not None):
            raise ValueError(
                "checkpoint= resumes a fit from its hyper-parameters and data, which do not "
                "include resp_init or init_from; fit without one of them."
            )
        if resp_init is not None and init_from is not None:
            raise ValueError("pass resp_init or init_from, not both.")

        data = None

        def run():
            nonlocal data
            data = self._fit_data(X, sample_weight)
            if resp_init is not None:
                resp = check_resp_init(resp_init, data, self.n_components)
                self._start = ("resp", resp, -np.inf)
            elif init_from is not None:
                state = check_init_from(init_from, self, data.n_features)
                # (scikit-learn's 'tied' lower_bound_ is an array of one value)
                bound = np.ravel(getattr(init_from, "lower_bound_", -np.inf))
                self._start = ("state", state, float(bound[0]) if bound.size == 1 else -np.inf)
            else:
                self._start = None
            with threadpool_limits(limits=1, user_api="blas"):
                self._priors = self._resolve_priors(data)
                return self._fit(data, checkpoint)

        def apply(result):
            self._set_result(*result)
            self._fit_dtype = np.dtype(data.dtype)  # the kernels' (_scoring_dtype)

        try:
            return self._guarded_fit(run, apply)
        finally:
            self._start = None

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model and return the most probable component of every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def _resolve_priors(self, data):
        """The priors (scikit-learn's ``*_prior_``), with the data's moments where not given."""
        need_data = self.mean_prior is None or self.covariance_prior is None
        mean = cov = None
        if need_data:
            mean, cov = _variational.data_moments(data, self.covariance_type, self.n_threads)
            if self.covariance_type == "spherical":
                cov = float(cov.mean())
        return check_priors(self, data.n_features, mean, cov)

    # ------------------------------------------------------- the EM machinery

    def _starting_bound(self):
        # init_from: its bound, as a warm start of that model compares with its lower_bound_
        # (scikit-learn's; a converged start stops after one iteration, not two)
        return -np.inf if self._start is None else self._start[2]

    def _initial_parameters(self, data, rng, init_index=0):
        # init_index: which of the n_init starts (GaussianMixture's "hc" uses it; the
        # variational starts are scikit-learn's, the same for every start)
        kind, value, _ = self._start if self._start is not None else (None, None, None)
        if kind == "state":
            return value
        if kind == "resp":
            stats = _variational.stats_from_resp(
                data.X, data.sample_weight, value, self.covariance_type
            )
        else:
            stats = self._initial_stats(data, rng, self.init_params)[0]
        return self._m_step(stats)

    def _m_step(self, stats):
        return _variational.m_step(
            stats,
            self.covariance_type,
            self.reg_covar,
            self._priors,
            self.weight_concentration_prior_type,
        )

    def _current_parameters(self):
        process = isinstance(self._state[0], tuple)  # (its Beta parameters: two per component)
        fitted = "dirichlet_process" if process else "dirichlet_distribution"
        if fitted != self.weight_concentration_prior_type:  # changed by set_params
            raise ValueError(
                f"warm_start=True cannot continue a fit made with weight_concentration_prior_type="
                f"{fitted!r} under {self.weight_concentration_prior_type!r}: their weight "
                f"concentrations differ in kind. Set it back to {fitted!r}, or fit with "
                "warm_start=False."
            )
        if self.n_components_effective_ != self._state[2].shape[0]:  # fewer kept than fitted
            raise ValueError(
                "warm_start=True cannot continue a pruned fit (prune_threshold removed "
                f"{self._state[2].shape[0] - self.n_components_effective_} components); fit with "
                "warm_start=False, or without prune_threshold."
            )
        return self._state

    # ----------------------------------------------------------- checkpoints

    _CHECKPOINT_NAMES = ("wc_a", "wc_b", "beta", "means", "dof", "covariances", "prec_chol")

    def _checkpoint_shapes(self, n_features):
        K, D, ct = self.n_components, n_features, self.covariance_type
        cov = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[ct]
        dof = () if ct == "tied" else (K,)
        shapes = (
            (K,), (K,), (K,), (K, D), dof, cov, cov, (),
        )  # fmt: skip
        return dict(zip((*self._CHECKPOINT_NAMES, "elbo"), shapes))

    def _checkpoint_pack(self, state):
        wc = state[0]
        a, b = wc if isinstance(wc, tuple) else (wc, None)
        return (a, b, *state[1:])

    def _checkpoint_unpack(self, arrays):
        a, b, beta, means, dof, cov, prec_chol, elbo = arrays
        wc = (a, b) if self.weight_concentration_prior_type == "dirichlet_process" else a
        if self.covariance_type == "tied":
            dof = float(dof)
        state = (wc, beta, means, dof, cov, prec_chol)
        return state if elbo is None else (*state, float(elbo))

    def _vb_kernel_params(self, state, data, log_weights=None):
        small = _small.is_small(data.n_samples, *state[2].shape)
        return _variational.kernel_params(
            state,
            self.covariance_type,
            self.weight_concentration_prior_type,
            data.dtype,
            small,
            log_weights=log_weights,
        )

    def _fitted_kernel_params(self, data):
        return self._vb_kernel_params(self._state_kept, data, self._log_weights)

    _MINUS_INF = "the lower bound is -inf"  # the -inf error's wording (``_EMLoop._em``)

    def _e_step_params(self, state, data):
        return self._vb_kernel_params(state[:6], data)

    def _m_step_and_bound(self, stats, state, kparams, data):
        """The variational M-step and scikit-learn's lower bound; for 'full' covariances
        the state carries the full ELBO of the pass as a seventh entry."""
        state = self._m_step(stats)
        r_log_r = _variational.weighted_log_resp_sum(stats, kparams)
        prior_type = self.weight_concentration_prior_type
        lower_bound = _variational.sklearn_lower_bound(
            state, self.covariance_type, prior_type, r_log_r
        )
        if self.covariance_type == "full":  # the only type that is one Bayesian model
            elbo = _variational.full_elbo(state, prior_type, self._priors, stats, r_log_r)
            state = (*state, elbo)
        return state, lower_bound

    # --------------------------------------------------------------- results

    def _set_result(self, state, lower_bound, n_iter, lower_bounds, converged):
        priors = self._priors
        self.weight_concentration_prior_ = priors.weight_concentration
        self.mean_precision_prior_ = priors.mean_precision
        self.mean_prior_ = priors.mean
        self.degrees_of_freedom_prior_ = priors.degrees_of_freedom
        self.covariance_prior_ = priors.covariance
        self.elbo_ = state[6] if len(state) > 6 else None
        state = tuple(state[:6])
        self._state = state
        wc, beta, means, dof, cov, prec_chol = state
        prior_type = self.weight_concentration_prior_type
        weights = _variational.expected_weights(wc, prior_type)
        log_weights = _variational.expected_log_weights(wc, prior_type)
        keep = np.arange(self.n_components)
        if self.prune_threshold is not None:
            keep = np.flatnonzero(weights >= self.prune_threshold)
            if keep.size == 0:
                keep = np.array([int(np.argmax(weights))])
        self.kept_components_ = keep
        self.n_components_effective_ = int(keep.size)
        self._log_weights = log_weights[keep]
        if keep.size < self.n_components:
            sub = _variational.subset_state(state, keep, self.covariance_type)
            wc, beta, means, dof, cov, prec_chol = sub
            weights = weights[keep] / weights[keep].sum()
        self._state_kept = (wc, beta, means, dof, cov, prec_chol)
        self.weight_concentration_ = wc
        self.mean_precision_ = beta
        self.means_ = means
        self.degrees_of_freedom_ = dof
        self.covariances_ = cov
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = _stats.precisions_from_cholesky(prec_chol, self.covariance_type)
        self.weights_ = weights
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = lower_bounds
