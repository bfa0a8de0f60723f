"""The conjugate prior (MAP): Fraley & Raftery's VVV update, the log-posterior against a
generic optimizer with SciPy's densities, finite fits where maximum likelihood collapses,
and clear errors for bad hyper-parameters."""

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import invwishart, multivariate_normal

import fastem
from fastem import GaussianMixture, _models, _prior
from fastem._stats import SuffStats, m_step

from .conftest import traced_peak
from .test_models import _builder

MULTIVARIATE = [m for m in _prior.SUPPORTED if m not in ("E", "V")]


def _problem(seed, n=40, K=2, d=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * [1.0, 3.0] + rng.normal(size=d)
    resp = rng.dirichlet(np.ones(K), size=n)
    prior = _prior.Prior(0.3, rng.normal(size=d), d + 2.5, np.array([[2.0, 0.4], [0.4, 1.0]]))
    return X, resp, prior


def _stats(X, resp, family):
    shift = np.zeros((resp.shape[1], X.shape[1]))
    s2 = np.einsum("nk,ni,nj->kij", resp, X, X)
    if family == "diag":
        s2 = np.diagonal(s2, axis1=1, axis2=2).copy()
    return SuffStats(resp.sum(0), resp.T @ X, s2, 0.0, float(len(X)), len(X), shift)


def _log_posterior(X, resp, prior, means, covs):
    """Expected complete-data log-posterior of the means and covariances (SciPy densities)."""
    total = 0.0
    for k in range(resp.shape[1]):
        S = covs[k]
        total += resp[:, k] @ multivariate_normal(means[k], S).logpdf(X)
        total += multivariate_normal(prior.mean, S / prior.shrinkage).logpdf(means[k])
        total += invwishart(df=prior.dof, scale=prior.scale).logpdf(S)
    return total


def test_vvv_is_fraley_raftery_closed_form():
    X, resp, prior = _problem(0)
    _, means, covs = m_step(_stats(X, resp, "full"), "VVV", 0.0, prior=prior)
    d = X.shape[1]
    for k in range(resp.shape[1]):
        n = resp[:, k].sum()
        xbar = resp[:, k] @ X / n
        W = (resp[:, k, None] * (X - xbar)).T @ (X - xbar)
        kap = prior.shrinkage
        mu = (n * xbar + kap * prior.mean) / (n + kap)
        dev = xbar - prior.mean
        S = (prior.scale + W + kap * n / (n + kap) * np.outer(dev, dev)) / (prior.dof + n + d + 2)
        np.testing.assert_allclose(means[k], mu, rtol=1e-12)
        np.testing.assert_allclose(covs[k], S, rtol=1e-10)


@pytest.mark.parametrize("name", MULTIVARIATE)
def test_map_step_maximizes_the_log_posterior(name):
    X, resp, prior = _problem(MULTIVARIATE.index(name))
    K, d = resp.shape[1], X.shape[1]
    fam = _models.MODELS[name].family
    if fam == "diag":  # mclust's scale for the diagonal models: a multiple of the identity
        prior.scale = np.trace(prior.scale) / d * np.eye(d)
    _, means, covs = m_step(_stats(X, resp, fam), name, 0.0, prior=prior)
    full = covs if covs.ndim == 3 else np.stack([np.diag(c) for c in covs])
    ours = _log_posterior(X, resp, prior, means, full)
    build, n_free = _builder(name, K, d)

    def neg(theta):
        return -_log_posterior(X, resp, prior, theta[: K * d].reshape(K, d), build(theta[K * d :]))

    best = -np.inf
    rng = np.random.default_rng(1)
    for _ in range(2):
        theta0 = np.concatenate([means.ravel() + rng.normal(scale=0.3, size=K * d),
                                 rng.normal(scale=0.3, size=n_free)])  # fmt: skip
        best = max(best, -optimize.minimize(neg, theta0, method="BFGS", tol=1e-10).fun)
    assert ours >= best - 1e-7 * abs(best)
    assert ours <= best + 1e-4 * abs(best)


def _collapsing_data():
    rng = np.random.default_rng(0)
    return np.vstack(
        [rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2)), np.full((3, 2), 12.0)]
    )


def test_prior_keeps_fits_finite_where_maximum_likelihood_collapses():
    X = _collapsing_data()
    means = np.array([[0.0, 0.0], [6.0, 6.0], [12.0, 12.0]])
    kw = dict(covariance_type="VVV", reg_covar=0.0, means_init=means, max_iter=200, random_state=0)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(3, **kw).fit(X)
    gm = GaussianMixture(3, prior="default", **kw).fit(X)
    assert np.all(np.isfinite(gm.covariances_)) and np.isfinite(gm.score(X))
    small = np.linalg.eigvalsh(gm.covariances_).min()
    assert small > 1e-2  # the prior scale keeps the point mass a proper component
    np.testing.assert_allclose(gm.means_[2], 12.0, atol=0.2)


def test_default_hyperparameters_are_mclusts():
    X = fastem.load_old_faithful()
    p = _prior.resolve("default", "VVV", X, None, 3)
    assert p.shrinkage == 0.01 and p.dof == 4
    np.testing.assert_allclose(p.mean, X.mean(axis=0))
    np.testing.assert_allclose(p.scale, np.cov(X.T) / 3 ** (2 / 2))
    q = _prior.resolve("default", "VVI", X, None, 3)
    np.testing.assert_allclose(q.scale, np.trace(np.cov(X.T)) / 2 / 3 * np.eye(2))


@pytest.mark.parametrize("name", ["VVV", "VVI"])
def test_default_prior_with_missing_values_is_that_of_the_complete_rows(name, tmp_path):
    """With missing="marginalize" the default prior comes from the complete rows (as
    _prior.resolve intends); it came from the rows with NaN replaced by the column means,
    whose variances are too small (the mean-imputation bias of docs/incomplete.md)."""
    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(c, 0.8, (300, 3)) for c in ([0, 0, 0], [4, 0, 1], [0, 4, 2])])
    X[rng.random(X.shape) < 0.2] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    complete = X[~np.isnan(X).any(axis=1)]
    cov = np.cov(complete.T) / 3 ** (2 / 3)  # mclust: var(X) / G^(2/d)
    scale = cov if name == "VVV" else np.trace(cov) / 3 * np.eye(3)
    explicit = {"mean": complete.mean(axis=0), "scale": scale}
    kw = dict(covariance_type=name, missing="marginalize", random_state=0, max_iter=10, tol=0)
    ref = GaussianMixture(3, prior=explicit, **kw).fit(X)
    np.save(tmp_path / "x.npy", X)
    for data in (X, fastem.source(tmp_path / "x.npy", chunk_rows=200)):
        got = GaussianMixture(3, prior="default", **kw).fit(data)
        np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.covariances_, ref.covariances_, rtol=1e-10)


@pytest.mark.parametrize(
    "prior, name, match",
    [
        ({"dof": 0.5}, "VVV", r"prior\['dof'\] must be greater than n_features - 1 = 1"),
        ({"shrinkage": -1}, "VVV", r"prior\['shrinkage'\] must be a finite number >= 0"),
        ({"scale": [[1, 2], [2, 1]]}, "VVV", r"prior\['scale'\] must be .*positive-definite"),
        ({"mean": [1, 2, 3]}, "VVV", r"prior\['mean'\] must be 2 finite numbers"),
        ({"bogus": 1}, "VVV", r"unknown keys \['bogus'\]"),
        ("default", "EVE", r"prior is not available for covariance_type='EVE'"),
        ("yes", "VVV", r"prior must be None, 'default' or a dict"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(prior, name, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, covariance_type=name, prior=prior).fit(fastem.load_old_faithful())


def test_the_default_scale_needs_a_total_weight_above_one(tmp_path):
    """The default scale is var(X) with ddof 1 on the total weight; weights summing to 0.3
    floored the divisor at 1e-300 and fitted covariances near 1e300 without a word."""
    X = fastem.load_old_faithful()
    w = np.full(len(X), 0.3 / len(X))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "w.npy", w)
    for data, weights in (
        (X, w),
        (fastem.source(tmp_path / "X.npy", chunk_rows=50), fastem.source(tmp_path / "w.npy")),
    ):
        with pytest.raises(ValueError, match="total sample_weight above 1"):
            GaussianMixture(2, prior="default", random_state=0).fit(data, sample_weight=weights)
    given = GaussianMixture(2, prior={"scale": 1.0}, random_state=0).fit(X, sample_weight=w)
    assert np.all(np.abs(given.covariances_) < 1e4)


def test_prior_in_model_files_checkpoints_and_streams(tmp_path):
    X = fastem.load_old_faithful()
    prior = {"shrinkage": 0.05, "dof": 5.0}
    kw = dict(covariance_type="EEV", prior=prior, random_state=0, max_iter=30, tol=0)
    a = GaussianMixture(3, **kw).fit(X)
    fastem.save(a, tmp_path / "m.npz")
    back = fastem.load(tmp_path / "m.npz")
    assert back.prior == prior
    np.testing.assert_array_equal(back.covariances_, a.covariances_)
    b = GaussianMixture(3, **kw).fit(X, checkpoint=tmp_path / "ck.npz")
    np.testing.assert_array_equal(b.covariances_, a.covariances_)
    np.save(tmp_path / "X.npy", X)
    c = GaussianMixture(3, **kw).fit(fastem.source(str(tmp_path / "X.npy"), chunk_rows=50))
    np.testing.assert_allclose(c.covariances_, a.covariances_, rtol=1e-9)


@pytest.mark.parametrize("name", ["VVV", "EEV", "VEI"])
def test_em_with_the_prior_raises_the_log_posterior(name):
    """Observed-data log-likelihood plus log-prior (SciPy densities) after 1, 2, ... passes."""
    X = fastem.load_old_faithful()
    X = (X - X.mean(0)) / X.std(0)
    p = _prior.resolve("default", name, X, None, 3)
    values = []
    for t in range(1, 16):
        gm = GaussianMixture(3, covariance_type=name, prior="default", max_iter=t, tol=0,
                             random_state=0).fit(X)  # fmt: skip
        full = (
            gm.covariances_
            if gm.covariances_.ndim == 3
            else np.stack([np.diag(c) for c in gm.covariances_])
        )
        log_prior = sum(
            multivariate_normal(p.mean, S / p.shrinkage).logpdf(m)
            + invwishart(df=p.dof, scale=p.scale).logpdf(S)
            for m, S in zip(gm.means_, full)
        )
        values.append(gm.score(X) * X.shape[0] + log_prior)
    v = np.asarray(values)
    assert np.all(np.diff(v) >= -1e-9 * np.abs(v[1:])), np.diff(v)


def test_prior_avoids_the_collapse_on_rounded_old_faithful():
    """Durations rounded to whole minutes: maximum likelihood puts diag components on single
    values (variance = reg_covar, logL > 0, a BIC no real model can match); the prior keeps
    every variance at the scale of the data."""
    X = fastem.load_old_faithful()
    X[:, 0] = np.round(X[:, 0])
    kw = dict(covariance_type="diag", n_init=10, random_state=0, tol=1e-6, max_iter=1000)
    ml = GaussianMixture(5, **kw).fit(X)
    assert ml.covariances_.min() <= 1e-5 and ml.score(X) > 0
    gm = GaussianMixture(5, prior="default", **kw).fit(X)
    assert gm.covariances_.min() > 0.1 and gm.score(X) < 0


def test_the_default_prior_reads_the_data_a_chunk_at_a_time():
    """mclust's default prior takes the mean and covariance of X: computed whole, ``X -
    mean`` (with the weighted deviations, a float64 copy of float32 rows and the mask of
    NaN) made (n_samples, n_features) temporaries, and a fit traced twice the size of X.
    A chunk at a time: the same moments (to rounding), whatever the weights, NaN rows and
    dtype."""

    rng = np.random.default_rng(5)
    n, d = 300_000, 8
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 50.0
    gm = GaussianMixture(4, prior="default", random_state=0, max_iter=2)
    gm.fit(X)  # (compiled)
    _, peak = traced_peak(lambda: gm.fit(X))
    assert peak < 0.6 * X.nbytes, peak / X.nbytes  # (0.2x; 2.0x whole)
    w = rng.uniform(0.5, 2.0, size=n)
    Xn = X.copy()
    Xn[::7, 3] = np.nan
    for rows, weights in ((X, None), (X, w), (Xn, w), (X.astype(np.float32), None)):
        keep = ~np.isnan(rows).any(axis=1)
        x64 = rows[keep].astype(np.float64)
        mean, cov = _prior._moments(rows, weights)
        wk = None if weights is None else weights[keep]
        np.testing.assert_allclose(mean, np.average(x64, axis=0, weights=wk), rtol=1e-13)
        expected = np.cov(x64.T, aweights=wk) if wk is None else None
        if wk is not None:  # the weighted covariance with ddof 1 on the total weight
            dev = x64 - np.average(x64, axis=0, weights=wk)
            expected = (dev.T * wk) @ dev / (wk.sum() - 1)
        np.testing.assert_allclose(cov, expected, rtol=1e-12)
