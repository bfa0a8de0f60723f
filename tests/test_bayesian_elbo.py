"""The full evidence lower bound (``elbo_``) against a per-row evaluation of Bishop's formulas.

The reference below is written independently of fastem: responsibilities from Bishop's
(10.46)-(10.49) row by row, and every term of (10.70)-(10.77) from those responsibilities and
the fitted parameters. fastem computes the same bound from the statistics of the kernel pass
(no per-row array). A second check ties it to scikit-learn: with ``reg_covar=0`` the two
bounds differ by a constant that does not change from one iteration to the next.
"""

import math
import warnings

import numpy as np
import pytest
from scipy.special import betaln, digamma, gammaln, logsumexp

from fastem import BayesianGaussianMixture as BGM

from .conftest import blobs

PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]


def _e_log_pi(m):
    if m.weight_concentration_prior_type == "dirichlet_process":
        a, b = m.weight_concentration_
        ln_v = digamma(a) - digamma(a + b)
        ln_1v = digamma(b) - digamma(a + b)
        return ln_v + np.concatenate([[0.0], np.cumsum(ln_1v)[:-1]])
    alpha = m.weight_concentration_
    return digamma(alpha) - digamma(alpha.sum())


def _wishart(m):
    """W_k, nu_k, E[ln |Lambda_k|] of a fitted model (covariances_ = W_k^-1 / nu_k)."""
    nu = m.degrees_of_freedom_
    W = np.linalg.inv(m.covariances_) / nu[:, None, None]
    D = W.shape[1]
    i = np.arange(1, D + 1)
    log_lambda = np.array(
        [
            digamma((n + 1 - i) / 2).sum() + D * math.log(2) + np.linalg.slogdet(w)[1]
            for n, w in zip(nu, W)
        ]
    )
    return W, nu, log_lambda


def _ln_b(W, nu):
    D = W.shape[0]
    i = np.arange(1, D + 1)
    return (
        -nu / 2 * np.linalg.slogdet(W)[1]
        - nu * D / 2 * math.log(2)
        - D * (D - 1) / 4 * math.log(math.pi)
        - gammaln((nu + 1 - i) / 2).sum()
    )


def reference_elbo(X, before, after):
    """Bishop's ELBO: responsibilities under ``before``, parameters of ``after``."""
    n, D = X.shape
    # (10.46)-(10.49), row by row
    W, nu, log_lambda = _wishart(before)
    beta, m = before.mean_precision_, before.means_
    log_rho = np.empty((n, len(nu)))
    for k in range(len(nu)):
        d = X - m[k]
        quad = D / beta[k] + nu[k] * np.einsum("ni,ij,nj->n", d, W[k], d)
        log_rho[:, k] = (
            _e_log_pi(before)[k] + 0.5 * log_lambda[k] - 0.5 * D * math.log(2 * math.pi)
        ) - 0.5 * quad
    log_r = log_rho - logsumexp(log_rho, axis=1, keepdims=True)
    r = np.exp(log_r)
    Nk = r.sum(axis=0)
    xbar = (r.T @ X) / Nk[:, None]
    S = np.array([((X - xbar[k]).T * r[:, k]) @ (X - xbar[k]) / Nk[k] for k in range(len(Nk))])
    # the terms, with the parameters after the M-step
    W, nu, log_lambda = _wishart(after)
    beta, m = after.mean_precision_, after.means_
    beta0, m0, nu0 = after.mean_precision_prior_, after.mean_prior_, after.degrees_of_freedom_prior_
    W0 = np.linalg.inv(after.covariance_prior_)
    K = len(nu)
    e_ln_pi = _e_log_pi(after)
    px = 0.0
    for k in range(K):
        dx = xbar[k] - m[k]
        px += (
            0.5
            * Nk[k]
            * (
                log_lambda[k]
                - D / beta[k]
                - nu[k] * np.trace(S[k] @ W[k])
                - nu[k] * dx @ W[k] @ dx
                - D * math.log(2 * math.pi)
            )
        )
    pz = float(np.sum(r * e_ln_pi))
    if after.weight_concentration_prior_type == "dirichlet_process":
        a, b = after.weight_concentration_
        alpha0 = after.weight_concentration_prior_
        ln_v, ln_1v = digamma(a) - digamma(a + b), digamma(b) - digamma(a + b)
        ppi = np.sum(math.log(alpha0) + (alpha0 - 1) * ln_1v)
        qpi = np.sum(-betaln(a, b) + (a - 1) * ln_v + (b - 1) * ln_1v)
    else:
        alpha = after.weight_concentration_
        alpha0 = np.full(K, after.weight_concentration_prior_)

        def ln_c(x):
            return gammaln(x.sum()) - gammaln(x).sum()

        ppi = ln_c(alpha0) + np.sum((alpha0 - 1) * e_ln_pi)
        qpi = ln_c(alpha) + np.sum((alpha - 1) * e_ln_pi)
    pml = K * _ln_b(W0, nu0) + (nu0 - D - 1) / 2 * log_lambda.sum()
    qml = 0.0
    for k in range(K):
        d0 = m[k] - m0
        pml += 0.5 * (
            D * math.log(beta0 / (2 * math.pi))
            + log_lambda[k]
            - D * beta0 / beta[k]
            - beta0 * nu[k] * d0 @ W[k] @ d0
        )
        pml -= 0.5 * nu[k] * np.trace(np.linalg.inv(W0) @ W[k])
        entropy = -_ln_b(W[k], nu[k]) - (nu[k] - D - 1) / 2 * log_lambda[k] + nu[k] * D / 2
        qml += 0.5 * log_lambda[k] + D / 2 * math.log(beta[k] / (2 * math.pi)) - D / 2 - entropy
    qz = float(np.sum(r * log_r))
    return px + pz + ppi + pml - qz - qpi - qml


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_elbo_equals_bishop_row_by_row(prior_type):
    X = blobs(900, 3, 3, seed=31)
    resp = np.random.RandomState(3).dirichlet(np.ones(5), size=900)
    kw = dict(
        n_components=5,
        weight_concentration_prior_type=prior_type,
        reg_covar=0.0,
        tol=0,
        mean_precision_prior=0.5,
        degrees_of_freedom_prior=4.5,
        weight_concentration_prior=0.3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = BGM(max_iter=4, **kw).fit(X, resp_init=resp)
        after = BGM(max_iter=5, **kw).fit(X, resp_init=resp)
    assert after.elbo_ == pytest.approx(reference_elbo(X, before, after), rel=1e-10)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_elbo_is_lower_bound_plus_a_constant(prior_type):
    """scikit-learn drops only constants: with reg_covar=0, elbo_ - lower_bound_ is the same
    after every iteration (and the full bound rises like scikit-learn's)."""
    X = blobs(600, 2, 3, seed=32)
    resp = np.random.RandomState(4).dirichlet(np.ones(4), size=600)
    gaps, elbos = [], []
    for n_iter in range(1, 7):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = BGM(
                n_components=4,
                weight_concentration_prior_type=prior_type,
                reg_covar=0.0,
                tol=0,
                max_iter=n_iter,
            ).fit(X, resp_init=resp)
        gaps.append(m.elbo_ - m.lower_bound_)
        elbos.append(m.elbo_)
    np.testing.assert_allclose(gaps, gaps[0], rtol=0, atol=1e-9 * abs(elbos[0]))
    assert np.all(np.diff(elbos) > 0)
    assert abs(gaps[0]) > 1.0  # the constants are not negligible


def test_elbo_is_only_defined_for_full_covariances():
    X = blobs(300, 2, 2, seed=33)
    assert BGM(n_components=2, covariance_type="diag").fit(X).elbo_ is None
    assert BGM(n_components=2, max_iter=0).fit(X).elbo_ is None
