"""Same seed, same model, whatever the source (issue 16, item 4).

A fit on a chunked source and the in-memory fit of the same rows (GaussianMixture and
BayesianGaussianMixture alike), with the same ``random_state``, start from the same
initial parameters for every ``init_params``; the k-means sample size is lowered so that
the sampled path (more rows than k-means runs on) is exercised on small data.
"""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
import fastem._init
import fastem._stream
from fastem import BayesianGaussianMixture, GaussianMixture

INITS = ["kmeans", "k-means++", "random", "random_from_data"]


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(3)
    n = 3001
    centres = np.array([[0.0, 0.0], [3.0, 1.0], [0.0, 4.0]])
    X = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 2)) * [1.0, 0.7]
    path = tmp_path / "x.npy"
    np.save(path, X)
    return X, rng.uniform(0.2, 2.0, n), path


def _pair(X, w, path, estimator=GaussianMixture, **kw):
    kw = {"n_components": 3, "random_state": 7, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = estimator(**kw).fit(X, sample_weight=w)
        b = estimator(**kw).fit(fastem.source(path, chunk_rows=250), sample_weight=w)
    return a, b


def _small_reservoir(monkeypatch):
    """As with 100,000+ rows: the old reservoir sample (1,000 rows here) is not every row."""
    monkeypatch.setattr(fastem._stream, "INIT_SAMPLE_ROWS", 500)


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("sampled", [False, True], ids=["all-rows", "sampled"])
def test_source_starts_where_memory_starts(data, init, sampled, monkeypatch):
    X, w, path = data
    _small_reservoir(monkeypatch)
    if sampled:  # more rows than k-means runs on: the sampled path of both
        monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 500)
    for cov in ("full", "diag"):
        a, b = _pair(X, w, path, init_params=init, covariance_type=cov, max_iter=0)
        np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-12)


#: the variational state: the expected weights, the posterior means, the Wishart and the
#: Dirichlet (or stick-breaking Beta) parameters
_VB_STATE = ("weights_", "means_", "covariances_", "mean_precision_", "degrees_of_freedom_")


def _assert_same_variational_state(a, b, rtol):
    for name in _VB_STATE:
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=rtol, err_msg=name)
    wa, wb = a.weight_concentration_, b.weight_concentration_
    for x, y in zip(wa if isinstance(wa, tuple) else (wa,), wb if isinstance(wb, tuple) else (wb,)):
        np.testing.assert_allclose(y, x, rtol=rtol, err_msg="weight_concentration_")


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("sampled", [False, True], ids=["all-rows", "sampled"])
def test_bayesian_source_starts_where_memory_starts(data, init, sampled, monkeypatch):
    """BayesianGaussianMixture takes GaussianMixture's initialization of a source (it used to
    start from the reservoir sample, so a source fit ended elsewhere than the in-memory one)."""
    X, w, path = data
    _small_reservoir(monkeypatch)
    if sampled:
        monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 500)
    for cov in ("full", "diag"):
        kw = dict(init_params=init, covariance_type=cov, max_iter=0)
        a, b = _pair(X, w, path, BayesianGaussianMixture, **kw)
        _assert_same_variational_state(a, b, rtol=1e-11)


@pytest.mark.parametrize("estimator", [GaussianMixture, BayesianGaussianMixture])
def test_a_csv_file_starts_where_memory_starts(data, estimator, tmp_path, monkeypatch):
    """A CSV file's row count is unknown until a pass; its lines are counted before the
    initialization (they used to be only for a variational fit that drew its priors from
    the data, so a GaussianMixture, or given priors, started from the reservoir sample)."""
    X, _, _ = data
    _small_reservoir(monkeypatch)
    monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 500)
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    kw = dict(n_components=3, random_state=7, max_iter=0)
    if estimator is BayesianGaussianMixture:  # no pass for the priors before the start
        kw.update(mean_prior=[0.0, 0.0], covariance_prior=np.eye(2))
    a = estimator(**kw).fit(X)
    b = estimator(**kw).fit(fastem.source(tmp_path / "x.csv", chunk_rows=250))
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-12)


@pytest.mark.parametrize("init", INITS)
def test_a_parquet_folder_starts_where_memory_starts(data, init, tmp_path, monkeypatch):
    """A parquet folder (a dataset of several files) has its row count before the first pass,
    from the files' footers (it had none: above the reservoir's size its fit started from the
    reservoir sample, so it ended elsewhere than the in-memory fit and the one-file fit)."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    X, _, _ = data
    _small_reservoir(monkeypatch)
    monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 500)
    (tmp_path / "x.parquet").mkdir()
    for i, r0 in enumerate(range(0, len(X), 1200)):  # three parts
        part = X[r0 : r0 + 1200]
        pq.write_table(pa.table({"a": part[:, 0], "b": part[:, 1]}), tmp_path / f"x.parquet/{i}.pq")
    src = fastem.source(tmp_path / "x.parquet", chunk_rows=250)
    assert src.n_rows == len(X)  # before any pass
    kw = dict(n_components=3, random_state=7, init_params=init, max_iter=0)
    a = GaussianMixture(**kw).fit(X)
    b = GaussianMixture(**kw).fit(src)
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-12)


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_a_csv_file_with_fewer_rows_than_components_is_refused(init, tmp_path):
    """As in memory: scikit-learn's error, whichever start (the line count must not let the
    exact start skip the reservoir's row check)."""
    np.savetxt(tmp_path / "x.csv", [[0.0, 1.0], [2.0, 3.0]], delimiter=",")
    for X in (np.array([[0.0, 1.0], [2.0, 3.0]]), fastem.source(tmp_path / "x.csv")):
        with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
            GaussianMixture(3, init_params=init, random_state=0).fit(X)


@pytest.mark.parametrize("cov", ["VVV", "diag"])
def test_default_prior_of_a_source_is_the_in_memory_one(data, cov, monkeypatch):
    """mclust's default prior (the data's mean and variance) from every row, not from the
    reservoir sample (a source of more rows than the sample used to fit another prior)."""
    X, w, path = data
    _small_reservoir(monkeypatch)
    a, b = _pair(X, w, path, prior="default", covariance_type=cov, max_iter=20, tol=0.0)
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-10)


def test_a_prior_with_its_mean_and_scale_reads_no_moments(data, monkeypatch):
    """A prior that gives both its mean and its scale takes nothing from the data: no pass
    over the source for the data's moments (it used to read every row for nothing)."""
    X, w, path = data
    _small_reservoir(monkeypatch)
    prior = {"mean": X.mean(axis=0), "scale": np.cov(X.T)}
    a, b = _pair(X, w, path, prior=prior, covariance_type="VVV", max_iter=5, tol=0.0)

    def no_pass(*args, **kwargs):
        raise AssertionError("the data's moments were computed")

    monkeypatch.setattr(fastem._variational, "data_moments", no_pass)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c = GaussianMixture(3, prior=prior, covariance_type="VVV", max_iter=5, tol=0.0,
                            random_state=7).fit(fastem.source(path, chunk_rows=250),
                                                sample_weight=w)  # fmt: skip
    np.testing.assert_array_equal(c.means_, b.means_)
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-10)


@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_bayesian_same_seed_same_fitted_model(data, prior_type, monkeypatch):
    """Two starts (n_init) and 30 variational iterations: the same model, bound and ELBO."""
    X, w, path = data
    _small_reservoir(monkeypatch)
    monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 500)
    kw = dict(weight_concentration_prior_type=prior_type, n_init=2, max_iter=30, tol=0.0)
    a, b = _pair(X, w, path, BayesianGaussianMixture, **kw)
    _assert_same_variational_state(a, b, rtol=1e-9)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-12)
    assert b.elbo_ == pytest.approx(a.elbo_, rel=1e-12)


def test_same_seed_same_fitted_model(data, monkeypatch):
    """The issue's case: the fitted means used to end about 1e-3 apart."""
    X, w, path = data
    _small_reservoir(monkeypatch)
    monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 500)
    a, b = _pair(X, None, path, max_iter=30, tol=0.0)
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-12)


def test_different_seed_differs(data, monkeypatch):
    """The comparison can fail: another seed draws another sample."""
    X, w, path = data
    monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 500)
    kw = {"n_components": 3, "init_params": "k-means++", "max_iter": 0}
    a = GaussianMixture(random_state=7, **kw).fit(X)
    b = GaussianMixture(random_state=8, **kw).fit(fastem.source(path, chunk_rows=250))
    assert np.abs(a.means_ - b.means_).max() > 1e-3


def test_callable_source_falls_back_on_the_reservoir(data):
    """Without a row count before the first pass the reservoir sample is used (documented)."""
    X, _, _ = data

    def batches():
        for r0 in range(0, X.shape[0], 700):
            yield X[r0 : r0 + 700]

    src = fastem.source(batches)
    gm = GaussianMixture(3, random_state=0, max_iter=5).fit(src)
    assert np.all(np.isfinite(gm.means_))


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [GaussianMixture, BayesianGaussianMixture])
def test_issue_case_at_full_size(tmp_path, estimator):
    """More rows than the real k-means sample and reservoir (100,000): the issue's setting."""
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(0, 1, (60_000, 2)), rng.normal(3, 1.5, (60_001, 2))])
    X = rng.permutation(X)
    np.save(tmp_path / "x.npy", X)
    kw = {"n_components": 2, "random_state": 0, "max_iter": 5, "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = estimator(**kw).fit(X)
        b = estimator(**kw).fit(fastem.source(tmp_path / "x.npy"))
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-10)
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-10)


@pytest.mark.parametrize("estimator", [GaussianMixture, BayesianGaussianMixture])
def test_one_row_is_refused_as_in_memory(estimator, tmp_path):
    """scikit-learn's ``ensure_min_samples=2``: one row and one component is refused in
    memory, in its words; a source (a file, a callable) fitted it."""
    row = np.array([[0.0, 1.0]])
    np.save(tmp_path / "x.npy", row)
    est = estimator(n_components=1)
    with pytest.raises(ValueError) as mem:
        est.fit(row)
    for src in (str(tmp_path / "x.npy"), fastem.source(lambda: iter([row]))):
        with pytest.raises(ValueError, match=re.escape(str(mem.value))):
            est.fit(src)
        assert not hasattr(est, "means_")


def test_a_callable_with_fewer_rows_than_components_and_every_init_is_refused():
    """With all three initial parameters there is no initialization pass to count a
    callable's rows: 2 rows and 3 components fitted. Refused once the first EM pass has
    counted them, as in memory."""
    two = np.array([[0.0, 1.0], [2.0, 3.0]])
    est = GaussianMixture(
        3,
        weights_init=[0.3, 0.3, 0.4],
        means_init=np.zeros((3, 2)),
        precisions_init=np.stack([np.eye(2)] * 3),
    )
    with pytest.raises(ValueError) as mem:
        est.fit(two)
    with pytest.raises(ValueError, match=re.escape(str(mem.value))):
        est.fit(fastem.source(lambda: iter([two])))
    assert not hasattr(est, "means_")
