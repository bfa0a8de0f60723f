"""The estimator: parameters, validation, the EM loop and the scikit-learn API."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from . import _models, _small, _stats
from ._em_loop import _EMLoop
from ._mixture_api import _MixtureAPI, _output
from ._online_api import _OnlineMixin
from ._validation import (
    check_hyperparameters,
)


class GaussianMixture(_EMLoop, _OnlineMixin, _MixtureAPI, DensityMixin, BaseEstimator):
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
    covariance_type : str, default='full'
        The form of the covariance matrices: scikit-learn's 'full', 'tied',
        'diag', 'spherical', or one of mclust's 14 models 'EII', 'VII', 'EEI',
        'VEI', 'EVI', 'VVI', 'EEE', 'VEE', 'EVE', 'VVE', 'EEV', 'VEV', 'EVV',
        'VVV' ('E' and 'V' for one feature), which fix or free the volume,
        shape and orientation of the components (``docs/models.md``). The six
        diagonal models store covariances of shape (n_components, n_features),
        the eight others (n_components, n_features, n_features).
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of covariances
        (a large value regularizes on purpose; see Notes).
    max_iter : int, default=100
        The number of EM iterations to perform.
    n_init : int, default=1
        The number of initializations; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'}, default='kmeans'
        The method used to initialize the responsibilities: 'kmeans' runs
        k-means++ seeding and Lloyd iterations (Numba kernels) and starts from
        the hard assignment of every row; 'k-means++' starts from the seeds
        alone. Above 100,000 rows both run on a seeded uniform sample of that
        size (the final assignment still uses every row), so initialization
        costs a few EM iterations at most. 'hc' is mclust's start: model-based
        agglomerative hierarchical clustering (on a seeded sample of 2,000
        rows above that size); with ``n_init > 1`` the further
        initializations are k-means starts (``docs/models.md``).
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
        Threads for the Numba kernels; None uses ``NUMBA_NUM_THREADS`` if set,
        else every usable core (the CPU affinity, lowered to a container's CPU
        quota). The result does not depend on it.
    missing : {'error', 'marginalize'}, default='error'
        What a NaN in ``X`` means. 'error' rejects it. 'marginalize' treats it
        as a value that was not observed (missing at random): densities are the
        marginals over each row's observed coordinates and the M-step uses the
        conditional expectations of the missing ones (exact EM). Rows without
        NaN take the usual fast path. See ``docs/incomplete.md``.
    prior : None, 'default' or dict, default=None
        A conjugate prior (Fraley & Raftery 2007) for maximum a posteriori
        estimation, which keeps fits finite where maximum likelihood collapses.
        'default' uses mclust's ``priorControl()`` hyper-parameters: shrinkage
        0.01, mean the column means of ``X``, dof ``n_features + 2``, scale
        ``var(X) / n_components ** (2 / n_features)``; a dict overrides any of
        ``'shrinkage'``, ``'mean'``, ``'dof'``, ``'scale'``. Available for the
        models mclust offers it for (E, V, EII, VII, EEI, VEI, EVI, VVI, EEE,
        EEV, VEV, VVV and scikit-learn's four names). See ``docs/models.md``.
    step_size : float in (0, 1], default=None
        Online EM only (:meth:`partial_fit`, :meth:`fit_online`): a constant
        step of stepwise EM, which forgets old batches geometrically (weight
        ``(1 - step_size) ** age``) so that the model follows a drifting
        stream. None uses the decaying step ``(t + step_offset) **
        -step_decay`` of the ``t``-th update.
    step_decay : float in (0.5, 1], default=0.6
        Online EM only: the exponent of the decaying step; stepwise EM
        converges for values in (0.5, 1]. Smaller values forget the early
        batches faster. See ``docs/online.md``.
    step_offset : float >= 0, default=2.0
        Online EM only: delays the decay; the initial parameters keep a share
        ``1 - (1 + step_offset) ** -step_decay`` after the first update (0.48
        by default).

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
    volumes_ : ndarray of shape (n_components,)
        ``det(covariance) ** (1 / n_features)`` of each component (a property).
    shapes_ : ndarray of shape (n_components, n_features)
        Eigenvalues of each covariance over its volume (product 1), by
        decreasing size; for the diagonal models, the diagonal in feature order.
    orientations_ : ndarray of shape (n_components, n_features, n_features)
        Principal axes (columns) of each covariance, matching ``shapes_``:
        ``covariance = volume * orientation @ diag(shape) @ orientation.T``.

    Notes
    -----
    The fitted parameters are float32 when ``X`` is float32 (and no initial
    parameter is float64), as in scikit-learn; EM accumulates its statistics in
    float64 either way. ``score_samples`` and ``predict_proba`` return float32
    when both the rows and the model are float32. A ``reg_covar`` of at least a
    tenth of a feature's variance fits as in scikit-learn, with a
    :class:`fastem.RegularizationWarning` (when the fit initializes from the data).

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
        prior: str | dict | None = None,
        step_size: float | None = None,
        step_decay: float = 0.6,
        step_offset: float = 2.0,
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
        self.prior = prior
        self.step_size = step_size
        self.step_decay = step_decay
        self.step_offset = step_offset

    # ------------------------------------------------------------------ data

    # ------------------------------------------------------------ parameters

    def _kernel_params(self, weights, means, prec_chol, data):
        """The parameters of a pass over ``data``, in NumPy if ``data`` is small."""
        small = _small.is_small(data.n_samples, *means.shape)
        cov = self.covariance_type
        return _stats.kernel_params(weights, means, prec_chol, cov, data.dtype, small)

    def _fitted_kernel_params(self, data):
        return self._kernel_params(self.weights_, self.means_, self.precisions_cholesky_, data)

    # ---------------------------------------------------------------- EM loop

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
        data = None
        continued = self.warm_start and hasattr(self, "converged_")  # as _fit's do_init

        def run():
            nonlocal data
            data = self._fit_data(X, sample_weight, labels)
            # The M-step works on tiny (K, D, D) matrices: threaded BLAS only
            # spins up threads that then compete with the Numba kernels.
            with threadpool_limits(limits=1, user_api="blas"):
                return self._fit(data, checkpoint)

        def apply(result):
            self._set_result(*result, dtype=self._result_dtype(data, continued))
            self._fit_dtype = np.dtype(data.dtype)  # the kernels' (_scoring_dtype)
            self.__dict__.pop("n_rows_seen_", None)  # a previous fit_online's, not this fit's

        return self._guarded_fit(run, apply)

    def _result_dtype(self, data, continued=False):
        """The dtype of the fitted parameters: float32 for float32 data, unless a
        float64 initial parameter promotes it (as in scikit-learn, where it promotes the
        responsibilities). EM itself always runs in float64. A ``fit`` that continues
        (``warm_start``) uses no initial parameter: the previous ones promote instead.
        Online updates (``partial_fit``, ``fit_online``) keep the data's dtype."""
        dtype = np.dtype(data.dtype)
        if continued:
            return np.result_type(dtype, self.means_.dtype)
        for init in (self.weights_init, self.means_init, self.precisions_init):
            if init is not None:
                given = getattr(init, "dtype", None)  # a list is read as float64
                dtype = np.result_type(dtype, given if given == np.float32 else np.float64)
        return dtype

    def _set_result(self, params, lower_bound, n_iter, lower_bounds, converged, *, dtype):
        # EM runs in float64; like scikit-learn, the fitted parameters take X's dtype
        weights, means, prec_chol, covariances = params
        precisions = _stats.precisions_from_cholesky(prec_chol, self.covariance_type)
        self.weights_ = _output(weights, dtype)
        self.means_ = _output(means, dtype)
        self.covariances_ = _output(covariances, dtype)
        self.precisions_cholesky_ = _output(prec_chol, dtype)
        self.precisions_ = _output(precisions, dtype)
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = lower_bounds

    # ------------------------------------------ volume, shape, orientation

    def _decomposition(self):
        check_is_fitted(self)
        cov, kind = self.covariances_, self.covariance_type
        if kind == "spherical":  # one variance per component: shape 1 along every feature
            cov, kind = np.repeat(cov[:, None], self.means_.shape[1], axis=1), "diag"
        vol, shape, orient = _models.decompose(cov, kind)
        K = self.means_.shape[0]  # fitted (n_components may have changed since)
        if vol.shape[0] != K:  # tied: one matrix for all components
            vol, shape, orient = (np.repeat(a, K, axis=0) for a in (vol, shape, orient))
        return vol, shape, orient

    @property
    def volumes_(self) -> np.ndarray:
        """Volume of each component, ``det(covariance) ** (1 / n_features)``."""
        return self._decomposition()[0]

    @property
    def shapes_(self) -> np.ndarray:
        """Shape of each component: the covariance's eigenvalues over its volume."""
        return self._decomposition()[1]

    @property
    def orientations_(self) -> np.ndarray:
        """Orientation of each component: the covariance's eigenvectors (columns)."""
        return self._decomposition()[2]

    # ------------------------------------------------------------- row-wise

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

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion for ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (scored in one pass).
        sample_weight : array-like of shape (n_samples,), default=None
            As in :meth:`score` (a source's weight column weights it too). Only the
            weights' ratios matter, so ``n`` is their effective number of rows,
            ``(sum w)^2 / sum w^2`` (as in :func:`~fastem.select_components`).

        Returns
        -------
        bic : float
        """
        score, n = self._score_and_rows(X, sample_weight)
        return float(-2 * score * n + self._n_parameters() * np.log(n))

    def aic(self, X, sample_weight=None):
        """Akaike information criterion for ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (scored in one pass).
        sample_weight : array-like of shape (n_samples,), default=None
            As in :meth:`bic`.

        Returns
        -------
        aic : float
        """
        score, n = self._score_and_rows(X, sample_weight)
        return -2 * score * n + 2 * self._n_parameters()

    def _n_parameters(self):  # of the fitted model (n_components may have changed since)
        return _stats.n_parameters(self.covariance_type, *self.means_.shape)

    # --------------------------------------------------------------- verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "marginalize"
        return tags
