"""Missing values against references: float32 input against the NumPy reference EM,
marginalizing against dropping the incomplete rows, and mclust's models with labels and
missing values against the reference E-step."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture, _stats
from fastem._models import MCLUST_NAMES, MODELS

from ._incomplete_ref import blobs, fit_fixed, initial, reference_e_step, reference_em


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_missing_float32(covariance_type):
    """float32 input, float64 statistics: the NumPy reference EM on the same values."""
    _, Xm, _ = blobs(400, 3, 2, seed=15, dtype=np.float32)
    X64 = Xm.astype(np.float64)
    init = initial(X64, 2, covariance_type, seed=3)
    gm = fit_fixed(Xm, 2, covariance_type, 5, init)
    w, m, c, ll = reference_em(X64, *init, covariance_type, 5)
    # the log-densities are float32 (measured: 2e-8 on the means, 3e-7 on the covariances)
    np.testing.assert_allclose(gm.means_, m, rtol=1e-6)
    np.testing.assert_allclose(gm.covariances_, c, rtol=1e-5)
    np.testing.assert_allclose(gm.lower_bound_, ll, rtol=1e-6)
    lp = gm.score_samples(Xm)
    assert lp.dtype == np.float64
    np.testing.assert_allclose(lp, gm.score_samples(X64), rtol=1e-5)


def test_missing_recovers_means_better_than_dropping_rows():
    """Values missing at random: marginalizing keeps the information of partial rows."""
    X, Xm, z = blobs(4000, 3, 2, seed=16, missing_rate=0.3)
    kw = dict(random_state=0, tol=1e-8)
    gm = GaussianMixture(2, missing="marginalize", **kw).fit(Xm)
    complete = ~np.isnan(Xm).any(axis=1)  # 35 % of the rows
    dropped = GaussianMixture(2, **kw).fit(Xm[complete])
    truth = np.array([X[z == k].mean(axis=0) for k in range(2)])

    def error(means):
        return np.abs(means[np.argsort(means[:, 0])] - truth[np.argsort(truth[:, 0])]).max()

    # measured: 0.047 marginalizing, 0.072 dropping the incomplete rows
    assert error(gm.means_) < 0.8 * error(dropped.means_)


@pytest.mark.parametrize("name", [n for n in MCLUST_NAMES if len(n) == 3])  # not E, V (1-D)
def test_mclust_models_with_labels_missing_values_and_weights(name):
    """docs/incomplete.md: labels and missing values "work with every covariance_type", so
    with mclust's models too. One step from a fixed start: the E-step (marginal densities,
    conditional means and covariances, one-hot labelled rows, weights) is the row-by-row
    reference's; the model's M-step (``fastem._stats.m_step``, tested against mclust
    elsewhere) then runs on the reference's statistics. Every bound of a longer fit rises."""
    _, Xm, z = blobs(120, 3, 3, seed=33, missing_rate=0.25)
    rng = np.random.default_rng(3)
    labels = np.where(rng.random(120) < 0.3, z, -1)
    sw = rng.random(120) + 0.5
    w0, m0, _ = initial(Xm, 3, "full", seed=34)
    diag = MODELS[name].family == "diag"
    # a start of the model's form: its M-step on the statistics of a generic start
    A = rng.normal(0, 0.3, (3, 3, 3)) + np.eye(3)
    generic = A @ A.transpose(0, 2, 1) + 0.5 * np.eye(3)
    _, _, cov0 = _stats.m_step(_reference_stats(Xm, w0, m0, generic, sw, labels, diag), name, 1e-6)
    full0 = np.stack([np.diag(c) for c in cov0]) if diag else cov0
    gm = GaussianMixture(3, covariance_type=name, weights_init=w0, means_init=m0,
                         precisions_init=1 / cov0 if diag else np.linalg.inv(cov0), max_iter=1,
                         tol=0, missing="marginalize")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(Xm, sample_weight=sw, labels=labels)
    stats = _reference_stats(Xm, w0, m0, full0, sw, labels, diag)
    want = _stats.m_step(stats, name, 1e-6, previous=cov0)
    for got, ref in zip((gm.weights_, gm.means_, gm.covariances_), want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-8)
    assert np.isclose(gm.lower_bound_, stats.loglik / sw.sum(), rtol=1e-10)
    long = GaussianMixture(3, covariance_type=name, missing="marginalize", random_state=0,
                           tol=1e-9, max_iter=40)  # fmt: skip
    long.fit(Xm, sample_weight=sw, labels=labels)
    assert np.diff(long.lower_bounds_).min() > -1e-9


def _reference_stats(X, weights, means, Sigma, sw, labels, diag):
    """``reference_e_step``'s statistics as ``fastem._stats.SuffStats`` (centred on 0)."""
    nk, sx, sxx, loglik = reference_e_step(X, weights, means, Sigma, sw, labels)
    s2 = np.diagonal(sxx, axis1=1, axis2=2).copy() if diag else sxx
    return _stats.SuffStats(nk, sx, s2, loglik, sw.sum(), X.shape[0], np.zeros_like(means))
