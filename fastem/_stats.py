"""Sufficient statistics of an EM pass, their merge, and the M-step.

An EM iteration is *map chunks -> sufficient statistics -> add -> M-step*.
:class:`SuffStats` is what a pass over any part of the data returns; the stats
of disjoint parts computed with the same parameters add up to the stats of the
whole, whether the parts are blocks of rows in one kernel, chunks read from
disk, or blocks on Dask workers.

The second moments are centred on the means the pass ran with (``shift``),
accumulated in float64, so covariances stay accurate for data far from the
origin and for float32 input.
"""

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from . import _models

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
#: every accepted covariance_type: scikit-learn's four and mclust's models
ALL_COVARIANCE_TYPES = COVARIANCE_TYPES + _models.MCLUST_NAMES
layout = _models.layout
_LOG_2PI = np.log(2 * np.pi)

_PRECISION_ERROR = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed samples). "
    "Try to decrease the number of components, increase reg_covar, or scale the input data."
)


def fill_lower(s2):
    """Symmetric matrices (stacked on the leading axes) from their upper triangles."""
    return np.triu(s2) + np.swapaxes(np.triu(s2, 1), -1, -2)


@dataclass
class SuffStats:
    """Mergeable sufficient statistics of one pass.

    Attributes
    ----------
    nk : ndarray of shape (n_components,)
        Sum of ``w * resp`` per component.
    s1 : ndarray of shape (n_components, n_features)
        Sum of ``w * resp * (x - shift_k)``.
    s2 : ndarray of shape (n_components, n_features, n_features) or (n_components, n_features)
        Sum of ``w * resp * (x - shift_k)(x - shift_k)^T`` (full and tied), or its
        diagonal (diag and spherical).
    loglik : float
        Sum of ``w * log p(x)``.
    wsum : float
        Sum of the sample weights.
    n_rows : int
        Number of rows seen.
    shift : ndarray of shape (n_components, n_features)
        The means the moments are centred on.
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float
    wsum: float
    n_rows: int
    shift: np.ndarray

    def finite(self):
        """Whether the log-likelihood and the first moments are finite. A NaN or infinite
        value in a row makes one of them NaN or -inf: the log-likelihood, or (a row of
        weight 0, which adds 0 to it) the first moments, ``0 * (x - shift)``."""
        return bool(np.isfinite(self.loglik) and np.isfinite(self.s1).all())

    def __add__(self, other):
        if not np.array_equal(self.shift, other.shift):
            raise ValueError("cannot add statistics centred on different means")
        return SuffStats(
            self.nk + other.nk,
            self.s1 + other.s1,
            self.s2 + other.s2,
            self.loglik + other.loglik,
            self.wsum + other.wsum,
            self.n_rows + other.n_rows,
            self.shift,
        )

    @classmethod
    def zeros(cls, params):
        """No rows: the statistics of ``params``' layout, centred on its shift."""
        K, D = params.shift.shape
        return cls(np.zeros(K), np.zeros((K, D)), np.zeros(params.stats_shape), 0.0, 0.0, 0,
                   params.shift)  # fmt: skip

    @classmethod
    def from_chunks(cls, nk, s1, s2, scal, n_rows, shift):
        """Add per-chunk partial sums (leading axis) in a fixed order."""
        s2 = s2.sum(axis=0)
        if s2.ndim == 3:  # kernels fill the upper triangle only
            s2 = fill_lower(s2)
        tot = scal.sum(axis=0)
        return cls(nk.sum(axis=0), s1.sum(axis=0), s2, float(tot[0]), float(tot[1]), n_rows, shift)

    @property
    def mean_loglik(self):
        return self.loglik / self.wsum

    @property
    def unit_weight(self):
        """What one row weighs in these sums: their mean weight per row (1 for unit weights;
        1 where there are no rows or no weight)."""
        return self.wsum / self.n_rows if self.n_rows > 0 and self.wsum > 0 else 1.0


def nk_floor(stats):
    """What ``nk`` gets so that empty components stay finite: scikit-learn's ``10 * eps``
    for rows of unit weight, in the statistics' own unit of weight (their mean weight per
    row), because only the weights' ratios matter: a fixed ``10 * eps`` swamped the counts
    of small weights (every weight 1e-20 collapsed the covariances to ``reg_covar``)."""
    return 10 * np.finfo(np.float64).eps * stats.unit_weight


def empty_components(stats):
    """The components that lost (almost) all their weight: a total responsibility below a
    thousandth of an average row's weight. EM re-seeds them (``_em_loop``); the M-steps
    that refuse a singular scatter exempt them."""
    return stats.nk < 1e-3 * stats.unit_weight


def m_step(stats, covariance_type, reg_covar, previous=None, prior=None):
    """Weights, means and covariances from the statistics of one pass.

    Mirrors scikit-learn's ``_estimate_gaussian_parameters`` (``nk`` gets
    ``10 * eps`` so empty components stay finite: :func:`nk_floor`) but from centred moments.
    mclust's models go to ``fastem._models`` with the scatter matrices;
    ``previous`` (the current covariances) warm-starts their iterative M-steps.
    ``prior`` (a resolved ``fastem._prior.Prior``): the MAP M-step instead.
    """
    nk = stats.nk + nk_floor(stats)
    delta = stats.s1 / nk[:, None]  # new mean - shift
    means = stats.shift + delta
    if prior is not None:
        return _map_step(stats, nk, delta, covariance_type, reg_covar, previous, prior)
    if covariance_type in _models.MODELS:
        live = ~empty_components(stats)  # the others are re-seeded (_em_loop)
        cov = _models.m_step_covariances(
            covariance_type, nk, _scatter(stats, nk, delta), reg_covar, previous, live
        )
        return nk / nk.sum(), means, cov
    if covariance_type in ("full", "tied"):
        cov = stats.s2 / nk[:, None, None] - delta[:, :, None] * delta[:, None, :]
        if covariance_type == "tied":
            cov = (cov * nk[:, None, None]).sum(axis=0) / nk.sum()
            cov.flat[:: cov.shape[0] + 1] += reg_covar
        else:
            idx = np.arange(cov.shape[1])
            cov[:, idx, idx] += reg_covar
    else:
        cov = stats.s2 / nk[:, None] - delta**2 + reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(axis=1)
    weights = nk / nk.sum()
    return weights, means, cov


def _scatter(stats, nk, delta):
    """Per-component scatter about the new means, from moments about ``shift``."""
    if stats.s2.ndim == 3:
        return stats.s2 - nk[:, None, None] * delta[:, :, None] * delta[:, None, :]
    return stats.s2 - nk[:, None] * delta**2


def _map_step(stats, nk, delta, covariance_type, reg_covar, previous, prior):
    """The M-step under the conjugate prior (``fastem._prior``), for every layout."""
    from ._prior import map_statistics, model_name

    means, n_eff, B = map_statistics(prior, nk, stats.shift + delta, _scatter(stats, nk, delta))
    kind = layout(covariance_type)
    if previous is not None and kind == "tied":
        previous = previous[None]
    elif previous is not None and kind == "spherical":
        previous = np.repeat(previous[:, None], means.shape[1], axis=1)
    cov = _models.m_step_covariances(model_name(covariance_type), n_eff, B, reg_covar, previous)
    if kind == "tied":
        cov = cov[0]
    elif kind == "spherical":
        cov = cov[:, 0]
    return nk / nk.sum(), means, cov


def precision_cholesky(covariances, covariance_type):
    """Cholesky factor of the precisions (scikit-learn's convention)."""
    covariance_type = layout(covariance_type)
    if covariance_type in ("full", "tied"):
        covs = covariances if covariance_type == "full" else covariances[None]
        out = np.empty_like(covs)
        # trtri (a triangular inverse) rather than solve_triangular(chol, eye):
        # the latter goes through a threaded BLAS trsm that, for these tiny
        # matrices, can cost milliseconds per call on a busy machine.
        # LAPACK's potrf directly, as scipy.linalg.cholesky calls it (the same bits), without
        # its per-call checks: 14 us -> 2 us a component, which partial_fit's small batches feel
        potrf, trtri = linalg.get_lapack_funcs(("potrf", "trtri"), (covs,))
        for k, cov in enumerate(covs):
            chol, info = potrf(cov, lower=1, clean=1)
            if info != 0:  # not positive definite (NaN/inf: caught by the check below)
                raise ValueError(_PRECISION_ERROR)
            inv, info = trtri(chol, lower=1)
            if info != 0:
                raise ValueError(_PRECISION_ERROR)
            out[k] = inv.T
        if not np.all(np.isfinite(out)):
            raise ValueError(_PRECISION_ERROR)
        return out if covariance_type == "full" else out[0]
    if np.any(~(covariances > 0)) or not np.all(np.isfinite(covariances)):
        raise ValueError(_PRECISION_ERROR)
    return 1.0 / np.sqrt(covariances)


def precisions_from_cholesky(prec_chol, covariance_type):
    covariance_type = layout(covariance_type)
    if covariance_type == "full":
        return prec_chol @ prec_chol.transpose(0, 2, 1)
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol**2


def covariances_from_precisions(precisions, covariance_type):
    covariance_type = layout(covariance_type)
    if covariance_type == "full":
        return np.linalg.inv(precisions)
    if covariance_type == "tied":
        return np.linalg.inv(precisions)
    return 1.0 / precisions


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Upper-triangular factor U with precision = U U^T (scikit-learn's convention)."""
    covariance_type = layout(covariance_type)
    if covariance_type in ("full", "tied"):
        precs = precisions if covariance_type == "full" else precisions[None]
        out = np.empty_like(precs)
        for k, p in enumerate(precs):
            flipped = np.flipud(np.fliplr(p))
            chol = linalg.cholesky(flipped, lower=True)
            out[k] = np.flipud(np.fliplr(chol))
        return out if covariance_type == "full" else out[0]
    return np.sqrt(precisions)


def log_det_cholesky(prec_chol, covariance_type, n_features):
    """log det of the precision Cholesky factor, per component (or scalar for tied)."""
    if covariance_type == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(prec_chol)).sum()
    if covariance_type == "diag":
        return np.log(prec_chol).sum(axis=1)
    return n_features * np.log(prec_chol)


@dataclass
class KernelParams:
    """Parameters laid out for the kernels, in the data's dtype."""

    mu: np.ndarray  # (K, D) in X's dtype: the shift of the statistics
    prec: np.ndarray  # (K, D, D) or (K, 1, D) in X's dtype
    const: np.ndarray  # (K,) float64
    shift: np.ndarray  # (K, D) float64 == mu as float64
    covariance_type: str
    # the pass runs in NumPy (``fastem._small``), not in the compiled kernels
    small: bool = False
    # one precision factor for every component (tied, mclust's EEE): the kernels' tied
    # log-density transforms a block once (``_kernels._density.logprob_tied``)
    shared: bool = False

    @property
    def stats_shape(self):
        K, D = self.mu.shape
        if self.covariance_type in ("full", "tied"):
            return (K, D, D)
        return (K, D)


def kernel_params(weights, means, prec_chol, covariance_type, dtype, small=False):
    """Lay out the fitted parameters for the kernels (``small``: for ``fastem._small``)."""
    name, covariance_type = covariance_type, layout(covariance_type)
    K, D = means.shape
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    const = log_w + log_det_cholesky(prec_chol, covariance_type, D) - 0.5 * D * _LOG_2PI
    if covariance_type == "full":
        prec = prec_chol
    elif covariance_type == "tied":
        prec = np.broadcast_to(prec_chol, (K, D, D))
    elif covariance_type == "diag":
        prec = prec_chol[:, None, :]
    else:
        prec = np.broadcast_to(prec_chol[:, None, None], (K, 1, D))
    mu = np.ascontiguousarray(means, dtype=dtype)
    prec = np.ascontiguousarray(prec, dtype=dtype)
    return KernelParams(
        mu=mu,
        prec=prec,
        const=np.ascontiguousarray(np.broadcast_to(const, (K,)), dtype=np.float64),
        shift=mu.astype(np.float64),
        covariance_type=covariance_type,
        small=small,
        shared=covariance_type == "tied" or (name == "EEE" and (prec == prec[0]).all()),
    )


def n_parameters(covariance_type, n_components, n_features):
    """Number of free parameters of the model (mclust's count for mclust's models)."""
    if covariance_type in _models.MODELS:
        cov = _models.n_covariance_parameters(covariance_type, n_components, n_features)
        return int(cov + n_components * n_features + n_components - 1)
    if covariance_type == "full":
        cov = n_components * n_features * (n_features + 1) / 2.0
    elif covariance_type == "diag":
        cov = n_components * n_features
    elif covariance_type == "tied":
        cov = n_features * (n_features + 1) / 2.0
    else:
        cov = n_components
    return int(cov + n_components * n_features + n_components - 1)
