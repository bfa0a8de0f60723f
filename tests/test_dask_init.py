"""Same seed, same model, from a Dask array of more rows than the client sample.

Above ``fastem.dask.INIT_SAMPLE_ROWS`` rows a fit on a Dask array used to
initialize on a random sample of that many rows, so it ended elsewhere than the
in-memory fit of the same rows. It now starts where the in-memory fit starts
(``fastem._dask_init``), for both estimators and every ``init_params``; the
sample and k-means sizes are lowered so small data take the large-data paths.
"""

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import fastem._init  # noqa: E402
import fastem.dask  # noqa: E402
from fastem import BayesianGaussianMixture, GaussianMixture  # noqa: E402

INITS = ["kmeans", "k-means++", "random", "random_from_data"]
ESTIMATORS = [GaussianMixture, BayesianGaussianMixture]


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    n = 3001
    centres = np.array([[0.0, 0.0], [3.0, 1.0], [0.0, 4.0]])
    X = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 2)) * [1.0, 0.7]
    return X, rng.uniform(0.2, 2.0, n)


def _pair(estimator, X, w, **kw):
    kw = {"n_components": 3, "random_state": 7, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = estimator(**kw).fit(X, sample_weight=w)
        dw = None if w is None else da.from_array(w, chunks=400)
        b = estimator(**kw).fit(da.from_array(X, chunks=(400, 2)), sample_weight=dw)
    return a, b


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=["gmm", "bgm"])
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("sampled", [False, True], ids=["all-rows", "sampled"])
def test_dask_array_starts_where_memory_starts(data, estimator, init, sampled, monkeypatch):
    X, w = data
    monkeypatch.setattr(fastem.dask, "INIT_SAMPLE_ROWS", 500)  # fewer rows than X
    if sampled:  # more rows than k-means runs on: the sampled path of both
        monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 700)
    for cov in ("full", "diag"):
        a, b = _pair(estimator, X, w, init_params=init, covariance_type=cov, max_iter=0)
        np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-11)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=["gmm", "bgm"])
def test_same_seed_same_fitted_model(data, estimator, monkeypatch):
    """Two starts and 30 iterations, no weights: the same model and bound."""
    X, _ = data
    monkeypatch.setattr(fastem.dask, "INIT_SAMPLE_ROWS", 500)
    monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 700)
    a, b = _pair(estimator, X, None, n_init=2, max_iter=30, tol=0.0)
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-12)


def test_default_prior_is_the_in_memory_one(data, monkeypatch):
    """mclust's default prior from every row (one pass), not from the client sample."""
    X, w = data
    monkeypatch.setattr(fastem.dask, "INIT_SAMPLE_ROWS", 500)
    a, b = _pair(GaussianMixture, X, w, prior="default", max_iter=20, tol=0.0)
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-10)


def test_rows_are_taken_from_their_blocks(data):
    """The k-means sample and the seeds: exactly the rows asked for, in the order asked."""
    X, w = data
    dd = fastem.dask.DaskData(da.from_array(X, chunks=(400, 2)), w)
    index = np.array([2999, 5, 400, 399, 1234, 0])
    rows = dd.rows_at(index)
    np.testing.assert_array_equal(rows.X, X[index])
    np.testing.assert_array_equal(rows.sample_weight, w[index])


def test_the_client_sample_draws_the_rows_numpy_unique_drew():
    """The draw's unique-by-sort (a speed fix: NumPy 2's hashing unique took 21 s to draw
    500,000 of 600,001 rows) keeps the drawn rows: the same as with np.unique."""
    from fastem.dask import _sorted_unique

    rng = np.random.RandomState(0)
    for n in (0, 1, 7, 5000):
        a = rng.randint(0, max(n // 3, 1), size=n)
        np.testing.assert_array_equal(_sorted_unique(a), np.unique(a))
