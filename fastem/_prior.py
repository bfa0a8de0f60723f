"""The conjugate prior of Fraley & Raftery (2007): MAP instead of maximum likelihood.

Each component's mean and covariance get the normal-inverse-Wishart prior

    mu_k | Sigma_k ~ N(mean, Sigma_k / shrinkage),    Sigma_k ~ IW(dof, scale),

and the M-step maximizes the expected complete-data log-posterior under the
covariance model's constraints. With the statistics of one pass this is the
usual M-step on modified statistics: the means shrink towards the prior mean,
``mu_k = (n_k xbar_k + shrinkage mean) / (n_k + shrinkage)``, and every
model's covariance M-step (``fastem._models``) runs with

    n_k  ->  n_k + dof + d + 2
    W_k  ->  W_k + scale + shrinkage n_k / (n_k + shrinkage) (xbar_k - mean)(xbar_k - mean)^T

so it minimizes ``sum_k (n_k + dof + d + 2) log det Sigma_k + tr(B_k Sigma_k^-1)``:
for VVV exactly Fraley & Raftery's update. mclust's defaults (``priorControl()``,
``defaultPrior``): shrinkage 0.01, mean the column means of the data, dof
``d + 2``, scale ``var(data) / G^(2/d)`` (its average diagonal times the identity
for the spherical and diagonal models). The mixing weights keep their
maximum-likelihood update, as in mclust.

As in mclust, the prior is offered for the models mclust supports it for:
E, V, EII, VII, EEI, VEI, EVI, VVI, EEE, EEV, VEV and VVV (scikit-learn's
four names through their mclust equivalents). mclust's Fortran M-steps count
the prior's degrees of freedom slightly differently for some constrained
models (one prior for a shared covariance rather than one per component), so
fits of those models agree with mclust's closely but not to every digit.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from . import _models
from ._validation import InvalidParameterError, refuse_complex
from ._variational import UNDEFINED_COVARIANCE, ddof1_covariance

SUPPORTED = ("E", "V", "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "EEV", "VEV", "VVV")
_KEYS = ("shrinkage", "mean", "dof", "scale")


@dataclass
class Prior:
    """Resolved hyper-parameters (arrays in float64)."""

    shrinkage: float
    mean: np.ndarray  # (D,)
    dof: float
    scale: np.ndarray  # (D, D)


def model_name(covariance_type):
    """The mclust model a covariance type is (scikit-learn's names mapped)."""
    return _models.SKLEARN_EQUIVALENT.get(covariance_type, covariance_type)


def check_prior(prior, covariance_type):
    """Validate the ``prior`` hyper-parameter (before any data is seen)."""
    if prior is None:
        return
    if isinstance(prior, str) and prior == "default":
        prior = {}
    if not isinstance(prior, dict):
        raise InvalidParameterError(
            f"prior must be None, 'default' or a dict with keys among {_KEYS}, got {prior!r}."
        )
    bad = sorted(set(prior) - set(_KEYS))
    if bad:
        raise InvalidParameterError(f"prior has unknown keys {bad}; the keys are {_KEYS}.")
    name = model_name(covariance_type)
    if name not in SUPPORTED:
        raise InvalidParameterError(
            f"prior is not available for covariance_type={covariance_type!r} (mclust defines "
            f"its conjugate prior for {SUPPORTED} only); choose one of those or prior=None."
        )
    s = prior.get("shrinkage", 0.01)
    if not isinstance(s, numbers.Real) or not np.isfinite(s) or s < 0:
        raise InvalidParameterError(f"prior['shrinkage'] must be a finite number >= 0, got {s!r}.")


def population_moments(prior, data, rows, n_threads):
    """``(mean, covariance)`` (weighted, ddof 1) of every row of ``data`` in one pass, when
    ``rows`` (its initialization sample) is only some of them and ``prior`` leaves one of
    them to the data; None otherwise.

    A source or a Dask array larger than its sample then gets the prior of the
    in-memory fit of the same rows. Not with labels or missing values (the sample's).
    """
    n = data.n_samples
    if n is None or rows.n_samples >= n or getattr(data, "label_values", None) is not None:
        return None
    if isinstance(prior, dict) and {"mean", "scale"} <= prior.keys():
        return None  # both given: the data's moments are not used
    if getattr(data, "missing", "error") == "marginalize":
        return None
    from ._variational import data_moments

    return data_moments(data, "full", n_threads)


def resolve(prior, covariance_type, X, w, n_components, moments=None):
    """Hyper-parameters with mclust's defaults filled in from the data ``X`` (weights ``w``).

    ``moments``: :func:`population_moments`, which replace those of ``X`` when given.
    """
    spec = {} if isinstance(prior, str) else dict(prior)
    if moments is None:
        data_mean, cov = _moments(X, None if w is None or len(w) == 0 else w)
    else:
        data_mean, cov = moments
    D = data_mean.shape[0]
    if "mean" in spec:
        mean = _floats(spec["mean"], "mean").reshape(-1)
        if mean.shape != (D,) or not np.all(np.isfinite(mean)):
            raise ValueError(f"prior['mean'] must be {D} finite numbers, got {spec['mean']!r}.")
    else:
        mean = data_mean
    dof = _floats(spec.get("dof", D + 2), "dof")
    if dof.shape != () or not np.isfinite(dof) or dof <= D - 1:
        raise ValueError(
            f"prior['dof'] must be greater than n_features - 1 = {D - 1} (mclust's default is "
            f"n_features + 2 = {D + 2}), got {spec.get('dof')!r}."
        )
    name = model_name(covariance_type)
    if "scale" in spec:
        scale = _floats(spec["scale"], "scale")
        if scale.ndim == 0:
            scale = scale * np.eye(D)
        elif scale.shape == (D,):
            scale = np.diag(scale)
        ok = scale.shape == (D, D) and np.all(np.isfinite(scale)) and np.allclose(scale, scale.T)
        if not ok or np.linalg.eigvalsh(scale).min() <= 0:
            raise ValueError(
                f"prior['scale'] must be a positive number, {D} positive numbers or a symmetric "
                f"positive-definite ({D}, {D}) matrix, got {spec['scale']!r}."
            )
    else:
        if not np.all(np.isfinite(cov)):
            raise ValueError(
                f"the default prior scale takes {UNDEFINED_COVARIANCE}; scale the weights up "
                "or pass prior={'scale': ...}."
            )
        scale = cov / n_components ** (2.0 / D)
        if _models.layout(name) != "full":  # spherical and diagonal: the mean variance
            scale = np.trace(scale) / D * np.eye(D)
        if np.linalg.eigvalsh(scale).min() <= 0:
            raise ValueError(
                "the default prior scale var(X) / n_components^(2/d) is singular (a constant or "
                "collinear feature); drop that feature or pass prior={'scale': ...}."
            )
    shrinkage = float(spec.get("shrinkage", 0.01))
    return Prior(shrinkage, mean, float(dof), scale)


_CHUNK = 65536  # rows at a time in :func:`_moments`


def _moments(X, w):
    """Weighted mean and covariance (ddof 1) of the rows of ``X`` without NaN (the complete
    rows), in float64, ``_CHUNK`` rows at a time: two passes, the scatter centred on the
    mean. Made whole, ``X - mean`` (and a float64 copy of float32 rows, the weighted
    deviations, the mask of NaN) were ``(n_samples, n_features)`` temporaries: a fit with
    ``prior="default"`` traced twice the size of X."""
    n, D = X.shape

    def chunks():
        for r0 in range(0, n, _CHUNK):
            Xc = np.asarray(X[r0 : r0 + _CHUNK], dtype=np.float64)
            wc = None if w is None else np.asarray(w[r0 : r0 + _CHUNK], dtype=np.float64)
            complete = np.all(np.isfinite(Xc), axis=1)  # missing values: the complete rows
            if not complete.all():
                Xc = Xc[complete]
                wc = None if wc is None else wc[complete]
            yield Xc, wc

    total, wsum, rows = np.zeros(D), 0.0, 0
    for Xc, wc in chunks():
        total += Xc.sum(axis=0) if wc is None else wc @ Xc
        wsum += Xc.shape[0] if wc is None else wc.sum()
        rows += Xc.shape[0]
    if rows < 2:
        raise ValueError("the default prior needs at least 2 rows without missing values.")
    mean = total / wsum
    scatter = np.zeros((D, D))
    for Xc, wc in chunks():
        dev = Xc - mean
        scatter += (dev.T if wc is None else dev.T * wc) @ dev
    return mean, ddof1_covariance(scatter, wsum)


def _floats(value, key):
    """``value`` as a float64 array; NaN where it is not numbers (then refused as not finite:
    the message names the prior's key, not "could not convert string to float"). Complex
    numbers are refused (the cast would drop their imaginary part)."""
    refuse_complex(value, f"prior[{key!r}]")
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array(np.nan)


def map_statistics(prior, nk, xbar, scatter):
    """Means and the ``(n_k, B_k)`` the model's covariance M-step runs on."""
    D = xbar.shape[1]
    kappa = prior.shrinkage
    means = (nk[:, None] * xbar + kappa * prior.mean) / (nk + kappa)[:, None]
    dev = xbar - prior.mean
    c = kappa * nk / (nk + kappa)
    if scatter.ndim == 3:
        B = scatter + prior.scale + c[:, None, None] * dev[:, :, None] * dev[:, None, :]
    else:
        B = scatter + np.diag(prior.scale) + c[:, None] * dev**2
    return means, nk + prior.dof + D + 2, B
