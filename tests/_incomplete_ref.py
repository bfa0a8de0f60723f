"""Shared by the incomplete-data tests: data, identical starts, and a plain NumPy reference EM
for partial labels and missing values (loops over rows and components)."""

import warnings

import numpy as np
from scipy import stats
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture

COV_TYPES = ["full", "tied", "diag", "spherical"]


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

HEIGHTS = dict(mean=(163.0, 176.5), sd=(6.5, 7.0), weight=(0.5, 0.5))


def simulate_heights(n, frac_labelled, seed):
    """Heights of two groups (0, 1); labels recorded for ``frac_labelled`` of the rows."""
    rng = np.random.default_rng(seed)
    g = (rng.random(n) < HEIGHTS["weight"][1]).astype(np.int64)
    x = rng.normal(np.take(HEIGHTS["mean"], g), np.take(HEIGHTS["sd"], g))
    labels = np.where(rng.random(n) < frac_labelled, g, -1)
    return x[:, None], g, labels


def bayes_rule(x):
    """The Bayes-optimal group from the true distributions."""
    lp = [np.log(w) + stats.norm.logpdf(x, m, s) for m, s, w in zip(*HEIGHTS.values(), strict=True)]
    return (lp[1] > lp[0]).astype(np.int64)


def blobs(n, D, K, seed, missing_rate=0.15, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (K, D))
    z = rng.integers(0, K, n)
    A = rng.normal(0, 0.5, (K, D, D)) + np.eye(D)
    X = centers[z] + np.einsum("nij,nj->ni", A[z], rng.normal(size=(n, D)))
    Xm = X.copy()
    Xm[rng.random(X.shape) < missing_rate] = np.nan
    Xm[np.isnan(Xm).all(axis=1), 0] = X[np.isnan(Xm).all(axis=1), 0]
    return X.astype(dtype), Xm.astype(dtype), z


def initial(X, K, covariance_type, seed):
    """Identical initial parameters for fastem and the reference."""
    rng = np.random.default_rng(seed)
    D = X.shape[1]
    w = rng.random(K) + 0.5
    w /= w.sum()
    means = np.nanmean(X, axis=0) + rng.normal(0, 2, (K, D))
    if covariance_type == "full":
        prec = np.stack([np.eye(D) * (0.3 + 0.1 * k) for k in range(K)])
        prec[:, 0, 1] = prec[:, 1, 0] = 0.05
    elif covariance_type == "tied":
        prec = np.eye(D) * 0.4
        prec[0, 1] = prec[1, 0] = 0.05
    elif covariance_type == "diag":
        prec = 0.2 + rng.random((K, D))
    else:
        prec = 0.2 + rng.random(K)
    return w, means, prec


def _full_cov(prec, covariance_type, K, D):
    if covariance_type == "full":
        return np.linalg.inv(prec)
    if covariance_type == "tied":
        return np.repeat(np.linalg.inv(prec)[None], K, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(1 / p) for p in prec])
    return np.stack([np.eye(D) / p for p in prec])


# --------------------------------------------------------------------------
# reference EM for missing data: loops over rows and components
# --------------------------------------------------------------------------


def reference_e_step(X, weights, means, Sigma, sw, labels=None):
    """One E-step for values missing at random, row by row: ``(nk, sx, sxx, loglik)`` with
    ``sx = sum r x_hat`` and ``sxx = sum r (x_hat x_hat^T + Cov[x_M | x_O])`` (not centred),
    ``r`` the weighted responsibilities (one-hot for a known label) and ``x_hat`` the row with
    its missing values replaced by their conditional means; ``Sigma`` (K, D, D)."""
    n, D = X.shape
    K = means.shape[0]
    nk, sx, sxx, loglik = np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D)), 0.0
    for i in range(n):
        o = ~np.isnan(X[i])
        m = ~o
        lp = np.empty(K)
        xhat = np.empty((K, D))
        ccov = np.zeros((K, D, D))
        for k in range(K):
            S_oo = Sigma[k][np.ix_(o, o)]
            d = X[i, o] - means[k, o]
            sol = np.linalg.solve(S_oo, d)
            _, logdet = np.linalg.slogdet(S_oo)
            lp[k] = np.log(weights[k]) - 0.5 * (o.sum() * np.log(2 * np.pi) + logdet + d @ sol)
            xhat[k] = X[i]
            xhat[k, m] = means[k, m] + Sigma[k][np.ix_(m, o)] @ sol
            reg = Sigma[k][np.ix_(m, o)] @ np.linalg.solve(S_oo, Sigma[k][np.ix_(o, m)])
            ccov[k][np.ix_(m, m)] = Sigma[k][np.ix_(m, m)] - reg
        lse = logsumexp(lp)
        r = np.exp(lp - lse)
        if labels is not None and labels[i] >= 0:
            r = np.eye(K)[labels[i]]
            lse = lp[labels[i]]
        loglik += sw[i] * lse
        r = r * sw[i]
        nk += r
        sx += r[:, None] * xhat
        sxx += r[:, None, None] * (xhat[:, :, None] * xhat[:, None, :] + ccov)
    return nk, sx, sxx, loglik


def reference_em(
    X, w0, means0, prec0, covariance_type, n_iter, reg_covar=1e-6, sw=None, labels=None
):
    """Plain NumPy EM for a Gaussian mixture with values missing at random."""
    n, D = X.shape
    K = means0.shape[0]
    sw = np.ones(n) if sw is None else sw
    weights, means = w0.copy(), means0.copy()
    Sigma = _full_cov(prec0, covariance_type, K, D)
    for _ in range(n_iter):
        nk, sx, sxx, loglik = reference_e_step(X, weights, means, Sigma, sw, labels)
        nk = nk + 10 * np.finfo(float).eps
        new_means = sx / nk[:, None]
        cov = sxx / nk[:, None, None] - new_means[:, :, None] * new_means[:, None, :]
        if covariance_type == "tied":
            cov = np.repeat(((cov * nk[:, None, None]).sum(0) / nk.sum())[None], K, axis=0)
        cov += reg_covar * np.eye(D)
        if covariance_type == "diag":
            cov = np.stack([np.diag(np.diag(c)) for c in cov])
        elif covariance_type == "spherical":
            cov = np.stack([np.eye(D) * np.diag(c).mean() for c in cov])
        weights, means, Sigma = nk / nk.sum(), new_means, cov
        mean_loglik = loglik / sw.sum()
    if covariance_type == "tied":
        out = Sigma[0]
    elif covariance_type == "diag":
        out = np.diagonal(Sigma, axis1=1, axis2=2)
    elif covariance_type == "spherical":
        out = Sigma[:, 0, 0]
    else:
        out = Sigma
    return weights, means, out, mean_loglik


def assert_like_reference(gm, ref, rtol=1e-8):
    """The fitted weights, means, covariances and lower bound equal ``reference_em``'s."""
    for got, want in zip((gm.weights_, gm.means_, gm.covariances_, gm.lower_bound_), ref):
        np.testing.assert_allclose(got, want, rtol=rtol)


def fit_fixed(X, K, covariance_type, n_iter, init, **fit_kw):
    w, m, p = init
    gm = GaussianMixture(
        K,
        covariance_type=covariance_type,
        weights_init=w,
        means_init=m,
        precisions_init=p,
        max_iter=n_iter,
        tol=0,
        missing="marginalize",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X, **fit_kw)


def marginal_logpdf(gm, x):
    """log p(x_O) of one row under the fitted mixture, with SciPy."""
    o = ~np.isnan(x)
    K, D = gm.means_.shape
    covs = _full_cov(gm.precisions_, gm.covariance_type, K, D)
    lp = [
        np.log(gm.weights_[k])
        + stats.multivariate_normal(gm.means_[k, o], covs[k][np.ix_(o, o)]).logpdf(x[o])
        for k in range(K)
    ]
    return logsumexp(lp), np.array(lp)
