"""Validation of the variational estimator's priors and starting points.

Checked once, before any pass; each message names the parameter, says what was
wrong and what is expected (shape, sign, range).
"""

import numbers

import numpy as np

from ._validation import InvalidParameterError, refuse_complex
from ._variational import PRIOR_TYPES, UNDEFINED_COVARIANCE, Priors


def _positive_real(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and np.isfinite(value)
        and value > 0
    )


_VB_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_VB_INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


def check_vb_options(est):
    """The options that do not depend on the data."""
    # GaussianMixture also takes mclust's models and the "hc" start; the variational
    # M-step (scikit-learn's) exists for these four covariance types and starts only
    if est.covariance_type not in _VB_COVARIANCE_TYPES:
        raise InvalidParameterError(
            f"covariance_type must be one of {_VB_COVARIANCE_TYPES} for "
            f"BayesianGaussianMixture, got {est.covariance_type!r}; mclust's models (EII ... "
            "VVV) are fitted by fastem.GaussianMixture."
        )
    if est.init_params not in _VB_INIT_METHODS:
        raise InvalidParameterError(
            f"init_params must be one of {_VB_INIT_METHODS} for BayesianGaussianMixture, got "
            f"{est.init_params!r}."
        )
    if est.weight_concentration_prior_type not in PRIOR_TYPES:
        raise InvalidParameterError(
            f"weight_concentration_prior_type must be one of {PRIOR_TYPES}, got "
            f"{est.weight_concentration_prior_type!r}."
        )
    for name in ("weight_concentration_prior", "mean_precision_prior"):
        value = getattr(est, name)
        if value is not None and not _positive_real(value):
            raise InvalidParameterError(
                f"{name} must be None or a finite number > 0, got {value!r}; it is a scalar "
                "concentration (or precision) of the prior."
            )
    dof = est.degrees_of_freedom_prior
    if dof is not None and not _positive_real(dof):
        raise InvalidParameterError(
            f"degrees_of_freedom_prior must be None or a finite number > n_features - 1, "
            f"got {dof!r}."
        )
    t = est.prune_threshold
    if t is not None and not (
        isinstance(t, numbers.Real) and not isinstance(t, bool) and 0 <= t < 1
    ):
        raise InvalidParameterError(
            f"prune_threshold must be None or a number in [0, 1), got {t!r}; it is the "
            "expected weight below which a component is removed."
        )


def _array(value, name, shape, what):
    refuse_complex(value, name)
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what} of shape {shape}, got {value!r}.") from None
    if arr.shape != shape:
        raise ValueError(
            f"{name} must be {what} of shape {shape} (n_features = {shape[0]}), got shape "
            f"{arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity; pass finite values.")
    return arr


def check_priors(est, n_features, data_mean, data_cov):
    """The resolved :class:`~fastem._variational.Priors` (defaults from the data's moments)."""
    D = n_features
    wcp = est.weight_concentration_prior
    mpp = est.mean_precision_prior
    mean = data_mean if est.mean_prior is None else None
    if mean is None:
        mean = _array(est.mean_prior, "mean_prior", (D,), "an array of numbers")
    dof = est.degrees_of_freedom_prior
    if dof is None:
        dof = D
    elif not dof > D - 1.0:
        raise ValueError(
            f"The parameter 'degrees_of_freedom_prior' should be greater than {D - 1}, but "
            f"got {dof:.3f}. The Wishart prior needs degrees_of_freedom_prior > n_features - 1 "
            f"(n_features = {D}); None uses n_features."
        )
    ct = est.covariance_type
    cov = est.covariance_prior
    if cov is None:
        cov = data_cov
        if not np.all(np.isfinite(cov)):
            raise ValueError(
                f"covariance_prior=None takes {UNDEFINED_COVARIANCE}; scale the weights up or "
                "pass covariance_prior."
            )
    elif ct in ("full", "tied"):
        cov = _array(cov, "covariance_prior", (D, D), f"a {ct} covariance matrix")
        if not np.allclose(cov, cov.T) or np.any(np.linalg.eigvalsh(cov) <= 0):
            raise ValueError(
                f"covariance_prior must be symmetric, positive-definite for "
                f"covariance_type={ct!r}; pass an (n_features, n_features) covariance matrix."
            )
    elif ct == "diag":
        cov = _array(cov, "covariance_prior", (D,), "an array of variances")
        if np.any(cov <= 0):
            raise ValueError(
                "covariance_prior must be positive for covariance_type='diag'; pass one "
                "variance > 0 per feature."
            )
    else:  # spherical: a number, or one in a 0-d or one-element array (scikit-learn's too)
        given = cov
        if isinstance(cov, (np.ndarray, list, tuple)) and np.ndim(cov) <= 1 and np.size(cov) == 1:
            cov = np.ravel(cov)[0]
        if not _positive_real(cov):  # (scikit-learn's parameter check refuses it)
            raise InvalidParameterError(
                "covariance_prior must be a number > 0 for covariance_type='spherical', got "
                f"{given!r}."
            )
    return Priors(
        weight_concentration=1.0 / est.n_components if wcp is None else wcp,
        mean_precision=1.0 if mpp is None else mpp,
        mean=mean,
        degrees_of_freedom=dof,
        covariance=cov,
    )


def check_resp_init(resp, data, n_components):
    """Responsibilities to start from: (n_samples, n_components), >= 0, rows summing to 1."""
    if not hasattr(data, "X") or type(data).__name__ != "ArrayData":
        raise ValueError(
            "resp_init needs X in memory (an array); for a source or a Dask array, start "
            "from a fitted model with init_from=."
        )
    shape = (data.n_samples, n_components)
    refuse_complex(resp, "resp_init")
    try:
        r = np.array(resp, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"resp_init must be an array of numbers of shape {shape}.") from None
    if r.shape != shape:
        raise ValueError(
            f"resp_init must have shape (n_samples, n_components) = {shape}, got {r.shape}."
        )
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("resp_init must hold finite, non-negative responsibilities.")
    if not np.allclose(r.sum(axis=1), 1.0, rtol=0, atol=1e-6):
        raise ValueError("each row of resp_init must sum to 1; divide it by its row sums.")
    return r


_STATE_ATTRS = (
    "weight_concentration_",
    "mean_precision_",
    "means_",
    "degrees_of_freedom_",
    "covariances_",
)


def check_init_from(model, est, n_features):
    """The variational state of a fitted model (fastem's or scikit-learn's) to start from."""
    from . import _stats

    missing = [a for a in _STATE_ATTRS if not hasattr(model, a)]
    if missing:
        raise ValueError(
            f"init_from must be a fitted BayesianGaussianMixture (fastem's or scikit-learn's); "
            f"{type(model).__name__} has no {', '.join(missing)}."
        )
    K, D, ct = est.n_components, n_features, est.covariance_type
    if getattr(model, "covariance_type", ct) != ct:
        raise ValueError(
            f"init_from has covariance_type={model.covariance_type!r}, this estimator "
            f"{ct!r}; they must match."
        )
    held = np.shape(model.means_)[0] if np.ndim(model.means_) == 2 else None
    if held is not None and held != K:
        raise ValueError(
            f"init_from holds {held} components, this estimator has n_components={K}; they "
            "must match (a model pruned by prune_threshold holds only the components it kept)."
        )
    wc = model.weight_concentration_
    prior_type = est.weight_concentration_prior_type
    if prior_type == "dirichlet_process":
        if not (isinstance(wc, tuple) and len(wc) == 2):
            raise ValueError(
                "init_from was fitted with a Dirichlet distribution prior; "
                "weight_concentration_prior_type='dirichlet_process' needs its two Beta "
                "parameters per component."
            )
        wc = tuple(_array(c, "init_from.weight_concentration_", (K,), "an array") for c in wc)
        if np.any(wc[0] <= 0) or np.any(wc[1] <= 0):
            raise ValueError("init_from.weight_concentration_ must be positive.")
    else:
        if isinstance(wc, tuple):
            raise ValueError(
                "init_from was fitted with a Dirichlet process prior; "
                "weight_concentration_prior_type='dirichlet_distribution' needs one "
                "concentration per component."
            )
        wc = _array(wc, "init_from.weight_concentration_", (K,), "an array")
        if np.any(wc <= 0):
            raise ValueError("init_from.weight_concentration_ must be positive.")
    beta = _array(model.mean_precision_, "init_from.mean_precision_", (K,), "an array")
    means = _array(model.means_, "init_from.means_", (K, D), "an array")
    dof_shape = () if ct == "tied" else (K,)
    dof = np.array(model.degrees_of_freedom_, dtype=np.float64)
    if dof.shape != dof_shape or np.any(~(dof > D - 1)) or np.any(beta <= 0):
        raise ValueError(
            f"init_from.degrees_of_freedom_ must have shape {dof_shape} and exceed "
            f"n_features - 1 = {D - 1}, and init_from.mean_precision_ must be positive."
        )
    cov_shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[ct]
    cov = _array(model.covariances_, "init_from.covariances_", cov_shape, "an array")
    try:
        prec_chol = _stats.precision_cholesky(cov, ct)
    except ValueError:
        raise ValueError(
            f"init_from.covariances_ must be positive-definite ({ct!r} covariances: "
            f"{'positive variances' if ct in ('diag', 'spherical') else 'symmetric matrices'} "
            "with a Cholesky factor); pass a fitted model's."
        ) from None
    return wc, beta, means, float(dof) if ct == "tied" else dof, cov, prec_chol
