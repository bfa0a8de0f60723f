"""Variational Bayesian Gaussian mixtures from sufficient statistics.

The variational E-step is the Gaussian log-density with each component's
expected precision plus per-component constants (expected log weights, the
expected log-determinant, ``-D / (2 beta_k)``): exactly what the fused EM
kernels compute when those constants are folded into ``KernelParams.const``.
So one pass of the existing kernels (in memory, streamed or on Dask) returns
the statistics ``N_k``, the first and second moments centred on the current
means, and ``sum(w log p(x))``, from which this module computes the
variational M-step, scikit-learn's ``lower_bound_`` and the full evidence
lower bound. Formulas follow scikit-learn's ``BayesianGaussianMixture``
(Bishop, *Pattern Recognition and Machine Learning*, section 10.2, and Blei &
Jordan 2006 for the Dirichlet process).

The variational state is scikit-learn's ``_get_parameters()`` tuple:
``(weight_concentration, mean_precision, means, degrees_of_freedom,
covariances, precisions_cholesky)``.
"""

import dataclasses
import math

import numpy as np
from scipy.special import betaln, digamma, gammaln

from . import _stats
from ._stats import KernelParams, SuffStats

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
_LOG_2PI = math.log(2 * math.pi)


@dataclasses.dataclass
class Priors:
    """The resolved priors (scikit-learn's ``*_prior_`` attributes)."""

    weight_concentration: float
    mean_precision: float
    mean: np.ndarray  # (n_features,)
    degrees_of_freedom: float
    covariance: np.ndarray | float  # (D, D) full/tied, (D,) diag, float spherical


# ----------------------------------------------------------------- weights


def expected_log_weights(weight_concentration, prior_type):
    """E[log pi_k] under the variational posterior of the weights."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        digamma_sum = digamma(a + b)
        digamma_a = digamma(a)
        digamma_b = digamma(b)
        return digamma_a - digamma_sum + np.hstack((0, np.cumsum(digamma_b - digamma_sum)[:-1]))
    return digamma(weight_concentration) - digamma(np.sum(weight_concentration))


def expected_weights(weight_concentration, prior_type):
    """E[pi_k] (scikit-learn's ``weights_``)."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        total = a + b
        weights = a / total * np.hstack((1, np.cumprod(b / total)[:-1]))
        return weights / np.sum(weights)
    return weight_concentration / np.sum(weight_concentration)


def _weight_concentration(nk, prior, prior_type):
    if prior_type == "dirichlet_process":
        return (1.0 + nk, prior + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)))
    return prior + nk


# ------------------------------------------------------------------ M-step


def gaussian_moments(stats, covariance_type, reg_covar):
    """``nk, xk, sk`` as scikit-learn's ``_estimate_gaussian_parameters`` (from ``stats``)."""
    _, xk, sk = _stats.m_step(stats, covariance_type, reg_covar)
    return stats.nk + _stats.nk_floor(stats), xk, sk


def m_step(stats, covariance_type, reg_covar, priors, prior_type):
    """The variational parameters from one pass's statistics."""
    return m_step_from_moments(
        *gaussian_moments(stats, covariance_type, reg_covar), covariance_type, priors, prior_type
    )


def m_step_from_moments(nk, xk, sk, covariance_type, priors, prior_type):
    """scikit-learn's ``_estimate_weights``, ``_estimate_means`` and ``_estimate_precisions``."""
    K = nk.shape[0]
    wc = _weight_concentration(nk, priors.weight_concentration, prior_type)
    beta0, m0, nu0, cov0 = (
        priors.mean_precision,
        priors.mean,
        priors.degrees_of_freedom,
        priors.covariance,
    )
    beta = beta0 + nk
    means = (beta0 * m0 + nk[:, None] * xk) / beta[:, None]
    diff = xk - m0
    if covariance_type == "full":
        dof = nu0 + nk
        outer = diff[:, :, None] * diff[:, None, :]
        cov = cov0 + nk[:, None, None] * sk + (nk * beta0 / beta)[:, None, None] * outer
        cov = cov / dof[:, None, None]
    elif covariance_type == "tied":
        dof = nu0 + nk.sum() / K
        cov = cov0 + sk * nk.sum() / K + beta0 / K * np.dot((nk / beta) * diff.T, diff)
        cov = cov / dof
    elif covariance_type == "diag":
        dof = nu0 + nk
        cov = cov0 + nk[:, None] * (sk + (beta0 / beta)[:, None] * np.square(diff))
        cov = cov / dof[:, None]
    else:
        dof = nu0 + nk
        cov = cov0 + nk * (sk + beta0 / beta * np.mean(np.square(diff), 1))
        cov = cov / dof
    prec_chol = _stats.precision_cholesky(cov, covariance_type)
    return wc, beta, means, dof, cov, prec_chol


# ------------------------------------------------------------------ E-step


def _log_lambda(dof, n_features):
    """E[log det Lambda_k] - log det W_k (Bishop 10.65 without the W term)."""
    dof = np.atleast_1d(dof)
    return n_features * math.log(2.0) + np.sum(
        digamma(0.5 * (dof - np.arange(n_features)[:, None])), 0
    )


def component_constants(state, covariance_type, prior_type, log_weights=None):
    """Per-component constants of the variational log-density (the kernels' ``const``).

    ``log p_k(x) = const_k - 0.5 || U_k^T (x - m_k) ||^2``, with ``U_k`` the
    Cholesky factor of the expected precision (``precisions_cholesky_``, which
    already carries ``dof_k``) and ``const_k`` holding E[log pi_k],
    log det U_k, -D/2 log(2 pi), -D/2 log dof_k and the expected log
    determinant and mean-uncertainty terms. ``log_weights`` replaces E[log pi_k]
    (for a pruned model, whose kept sticks no longer describe the weights alone).
    """
    wc, beta, means, dof, _, prec_chol = state
    K, D = means.shape
    log_det = _stats.log_det_cholesky(prec_chol, covariance_type, D)
    if log_weights is None:
        log_weights = expected_log_weights(wc, prior_type)
    const = (
        log_weights
        + log_det
        - 0.5 * D * _LOG_2PI
        - 0.5 * D * np.log(dof)
        + 0.5 * (_log_lambda(dof, D) - D / beta)
    )
    return np.ascontiguousarray(np.broadcast_to(const, (K,)), dtype=np.float64)


def kernel_params(state, covariance_type, prior_type, dtype, small=False, log_weights=None):
    """The kernels' parameters for a variational E-step pass."""
    means, prec_chol = state[2], state[5]
    base = _stats.kernel_params(np.ones(means.shape[0]), means, prec_chol, covariance_type, dtype)
    const = component_constants(state, covariance_type, prior_type, log_weights)
    return dataclasses.replace(base, const=const, small=small)


def subset_state(state, keep, covariance_type):
    """The variational state of the components ``keep`` (pruning)."""
    wc, beta, means, dof, cov, prec_chol = state
    wc = tuple(c[keep] for c in wc) if isinstance(wc, tuple) else wc[keep]
    if covariance_type == "tied":
        return wc, beta[keep], means[keep], dof, cov, prec_chol
    return wc, beta[keep], means[keep], dof[keep], cov[keep], prec_chol[keep]


def weighted_log_resp_sum(stats, params):
    """``sum_n w_n sum_k r_nk log r_nk`` from the statistics of the pass that ran with ``params``.

    ``log r_nk = log p_k(x_n) - log p(x_n)``, ``log p_k(x) = const_k - q_k(x) / 2``
    and ``sum_n w_n r_nk q_k(x_n) = tr(P_k S_k)``, where ``S_k`` is the second
    moment centred on the means the pass ran with (the statistics' shift) and
    ``P_k = U_k U_k^T`` the precision it used: no per-row term is needed.
    """
    prec = params.prec.astype(np.float64)  # (K, D, D) full/tied, (K, 1, D) diag/spherical
    if stats.s2.ndim == 3:  # full, tied (one feature: prec is (K, 1, 1) either way)
        P = np.einsum("kij,klj->kil", prec, prec)
        quad = np.einsum("kij,kij->k", P, stats.s2)
    else:
        quad = np.einsum("kd,kd->k", prec[:, 0] ** 2, stats.s2)
    return float(np.dot(stats.nk, params.const) - 0.5 * quad.sum() - stats.loglik)


# ------------------------------------------------------------ lower bounds


def _log_wishart_norm(dof, log_det_prec_chol, n_features):
    """scikit-learn's ``_log_wishart_norm`` (without the log(pi) term)."""
    return -(
        dof * log_det_prec_chol
        + dof * n_features * 0.5 * math.log(2.0)
        + np.sum(gammaln(0.5 * (dof - np.arange(n_features)[:, None])), 0)
    )


def _log_dirichlet_norm(concentration):
    return gammaln(np.sum(concentration)) - np.sum(gammaln(concentration))


def sklearn_lower_bound(state, covariance_type, prior_type, resp_log_resp):
    """scikit-learn's ``_compute_lower_bound`` (its constants dropped), given ``sum r log r``."""
    wc, beta, means, dof, _, prec_chol = state
    K, D = means.shape
    log_det = _stats.log_det_cholesky(prec_chol, covariance_type, D) - 0.5 * D * np.log(dof)
    if covariance_type == "tied":
        log_wishart = K * float(np.squeeze(_log_wishart_norm(dof, log_det, D)))
    else:
        log_wishart = float(np.sum(_log_wishart_norm(dof, log_det, D)))
    if prior_type == "dirichlet_process":
        log_norm_weight = -float(np.sum(betaln(wc[0], wc[1])))
    else:
        log_norm_weight = float(_log_dirichlet_norm(wc))
    return float(-resp_log_resp - log_wishart - log_norm_weight - 0.5 * D * np.sum(np.log(beta)))


def _log_wishart_b(log_det_w, dof, n_features):
    """Bishop's (B.79) ``ln B(W, nu)``, every constant kept."""
    D = n_features
    i = np.arange(1, D + 1)
    return (
        -0.5 * dof * log_det_w
        - 0.5 * dof * D * math.log(2.0)
        - 0.25 * D * (D - 1) * math.log(math.pi)
        - np.sum(gammaln(0.5 * (np.atleast_1d(dof)[:, None] + 1 - i)), axis=1)
    )


def full_elbo(state, prior_type, priors, stats, resp_log_resp):
    """The evidence lower bound with every constant: Bishop's (10.70)-(10.77), 'full' only.

    ``E_q[ln p(X, Z, pi, mu, Lambda)] - E_q[ln q(Z, pi, mu, Lambda)]`` for the
    responsibilities of one pass (its statistics ``stats`` and ``sum w r ln r``)
    and the variational parameters ``state`` that the M-step produced from
    them; the weights' terms are those of scikit-learn's model (a Dirichlet, or
    ``n_components`` Beta sticks). Unlike ``lower_bound_`` it is comparable
    across numbers of components and priors. With ``reg_covar = 0`` it differs
    from scikit-learn's ``lower_bound_`` by a constant of the data size and the
    priors only (``tests/test_bayesian_elbo.py``).
    """
    wc, beta, means, dof, cov, prec_chol = state
    K, D = means.shape
    beta0, m0, nu0, cov0 = (
        priors.mean_precision,
        priors.mean,
        priors.degrees_of_freedom,
        np.asarray(priors.covariance, dtype=np.float64),
    )
    # W_k = E[Lambda_k] / nu_k: scikit-learn's precisions_ divided by the degrees of freedom
    prec = np.einsum("kij,klj->kil", prec_chol, prec_chol)
    W = prec / dof[:, None, None]
    log_det_W = 2 * np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1) - D * np.log(dof)
    log_lambda = _log_lambda(dof, D) + log_det_W  # E[ln |Lambda_k|]
    # the statistics of the pass: N_k, the weighted mean and scatter (no reg_covar)
    nk = stats.nk
    safe = np.where(nk > 0, nk, 1.0)
    delta = stats.s1 / safe[:, None]
    xbar = stats.shift + delta
    S = stats.s2 / safe[:, None, None] - delta[:, :, None] * delta[:, None, :]
    d_x = xbar - means
    d_0 = means - m0
    tr_SW = np.einsum("kij,kji->k", S, W)
    # (10.71)
    e_log_px = 0.5 * np.sum(
        nk
        * (
            log_lambda
            - D / beta
            - dof * tr_SW
            - dof * np.einsum("ki,kij,kj->k", d_x, W, d_x)
            - D * _LOG_2PI
        )
    )
    # (10.72) and the weights' prior and posterior, (10.73) and (10.76)
    e_log_pi = expected_log_weights(wc, prior_type)
    e_log_pz = float(np.dot(nk, e_log_pi))
    if prior_type == "dirichlet_process":
        a, b = wc
        alpha0 = priors.weight_concentration
        e_ln_v = digamma(a) - digamma(a + b)
        e_ln_1v = digamma(b) - digamma(a + b)
        e_log_p_pi = np.sum(math.log(alpha0) + (alpha0 - 1) * e_ln_1v)
        e_log_q_pi = np.sum(-betaln(a, b) + (a - 1) * e_ln_v + (b - 1) * e_ln_1v)
    else:
        alpha0 = np.full(K, priors.weight_concentration)
        e_log_p_pi = _log_dirichlet_norm(alpha0) + np.sum((alpha0 - 1) * e_log_pi)
        e_log_q_pi = _log_dirichlet_norm(wc) + np.sum((wc - 1) * e_log_pi)
    # (10.74)
    log_det_W0 = -np.linalg.slogdet(cov0)[1]
    e_log_p_mu_lambda = (
        0.5
        * np.sum(
            D * math.log(beta0 / (2 * math.pi))
            + log_lambda
            - D * beta0 / beta
            - beta0 * dof * np.einsum("ki,kij,kj->k", d_0, W, d_0)
        )
        + K * float(_log_wishart_b(log_det_W0, nu0, D)[0])
        + 0.5 * (nu0 - D - 1) * np.sum(log_lambda)
        - 0.5 * np.sum(dof * np.einsum("ij,kji->k", cov0, W))
    )
    # (10.77), with the Wishart entropy (B.82)
    entropy_lambda = (
        -_log_wishart_b(log_det_W, dof, D) - 0.5 * (dof - D - 1) * log_lambda + 0.5 * dof * D
    )
    e_log_q_mu_lambda = np.sum(
        0.5 * log_lambda + 0.5 * D * np.log(beta / (2 * math.pi)) - 0.5 * D - entropy_lambda
    )
    return float(
        e_log_px
        + e_log_pz
        + e_log_p_pi
        + e_log_p_mu_lambda
        - resp_log_resp
        - e_log_q_pi
        - e_log_q_mu_lambda
    )


# ------------------------------------------------------------ data moments


def data_moments(data, covariance_type, n_threads):
    """Weighted mean and covariance (ddof = 1) of all of ``data``, in one kernel pass.

    A single component with unit precision makes every responsibility one, so
    the pass returns the total weight and the moments centred on ``shift``
    (the mean of the initialization sample): scikit-learn's ``X.mean(0)``
    and ``np.cov(X.T)`` (``np.var(X, ddof=1)`` for diag and spherical), read
    chunk by chunk for sources and Dask arrays.
    """
    from ._small import is_small

    sample = data.sample_for_init(None, None)
    D = data.n_features
    shift = np.asarray(sample.X[: 1 << 16], dtype=np.float64).mean(axis=0)[None]
    mu = np.ascontiguousarray(shift, dtype=data.dtype)
    full = covariance_type in ("full", "tied")
    prec = np.eye(D, dtype=data.dtype)[None] if full else np.ones((1, 1, D), dtype=data.dtype)
    small = is_small(data.n_samples, 1, D)
    # (tied: the log-density its fit's passes take, so a first fit compiles one)
    shared = covariance_type == "tied"
    kp = KernelParams(mu, prec, np.zeros(1), mu.astype(np.float64), covariance_type, small, shared)
    stats = data.stats(kp, n_threads)
    nk = stats.nk[0]
    delta = stats.s1[0] / nk
    mean = stats.shift[0] + delta
    if full:
        scatter = stats.s2[0] - nk * np.outer(delta, delta)
    else:
        scatter = stats.s2[0] - nk * delta**2
    return mean, ddof1_covariance(scatter, nk)


def ddof1_covariance(scatter, total_weight):
    """``scatter / (total_weight - 1)``: the covariance with ddof 1 of rows whose weights sum
    to ``total_weight`` (an integer weight counts as repeating the row, as ``np.cov``'s
    ``fweights``). NaN where ``total_weight <= 1`` (less than two rows' worth), where it is
    undefined; the priors that take it from the data refuse it there."""
    if not total_weight > 1.0:
        return np.full_like(scatter, np.nan)
    return scatter / (total_weight - 1.0)


#: what a prior taken from the data says when its covariance is undefined (``ddof1_covariance``)
UNDEFINED_COVARIANCE = (
    "the covariance of X (ddof 1, an integer sample_weight counting as a repeated row), which "
    "needs a total sample_weight above 1"
)


def stats_from_resp(X, w, resp, covariance_type):
    """:class:`SuffStats` of given responsibilities (a start from ``resp``), centred on the
    responsibility-weighted means, in float64."""
    X64 = np.asarray(X, dtype=np.float64)
    r = np.asarray(resp, dtype=np.float64)
    if w is not None:
        r = r * w[:, None]
    nk = r.sum(axis=0)
    K, D = r.shape[1], X64.shape[1]
    shift = (r.T @ X64) / np.where(nk > 0, nk, 1.0)[:, None]
    full = covariance_type in ("full", "tied")
    s1 = np.zeros((K, D))
    s2 = np.zeros((K, D, D) if full else (K, D))
    for k in range(K):
        diff = X64 - shift[k]
        rd = diff * r[:, k, None]
        s1[k] = rd.sum(axis=0)
        s2[k] = rd.T @ diff if full else (rd * diff).sum(axis=0)
    wsum = float(X64.shape[0] if w is None else w.sum())
    return SuffStats(nk, s1, s2, 0.0, wsum, X64.shape[0], shift)
