"""Missing values (``missing="marginalize"``): the reference EM and SciPy marginals on every
path, the fast path for complete rows, errors, chunks, checkpoints, Dask."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastem import GaussianMixture, _missing

from ._incomplete_ref import (
    COV_TYPES,
    assert_like_reference,
    blobs,
    fit_fixed,
    initial,
    marginal_logpdf,
    reference_em,
)

# --------------------------------------------------------------------------
# missing values
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_missing_matches_reference_em(covariance_type, missing_path):
    _, Xm, _ = blobs(150, 3, 2, seed=7)
    init = initial(Xm, 2, covariance_type, seed=8)
    gm = fit_fixed(Xm, 2, covariance_type, 4, init)
    assert_like_reference(gm, reference_em(Xm, *init, covariance_type, 4))


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_missing_with_labels_and_weights_matches_reference(covariance_type, missing_path):
    _, Xm, z = blobs(120, 3, 2, seed=9, missing_rate=0.25)
    rng = np.random.default_rng(1)
    labels = np.where(rng.random(120) < 0.3, z, -1)
    sw = rng.random(120) + 0.5
    init = initial(Xm, 2, covariance_type, seed=10)
    gm = fit_fixed(Xm, 2, covariance_type, 3, init, labels=labels, sample_weight=sw)
    assert_like_reference(gm, reference_em(Xm, *init, covariance_type, 3, sw=sw, labels=labels))


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_score_samples_is_scipy_marginal(covariance_type, missing_path):
    _, Xm, _ = blobs(400, 4, 3, seed=11)
    gm = GaussianMixture(3, covariance_type=covariance_type, missing="marginalize", random_state=0)
    gm.fit(Xm)
    rows = Xm[:40]
    lp = gm.score_samples(rows)
    proba = gm.predict_proba(rows)
    pred = gm.predict(rows)
    for i, x in enumerate(rows):
        ref, per = marginal_logpdf(gm, x)
        np.testing.assert_allclose(lp[i], ref, rtol=1e-10)
        np.testing.assert_allclose(proba[i], np.exp(per - ref), rtol=1e-8, atol=1e-14)
        assert pred[i] == np.argmax(per)


def test_no_nan_is_identical_to_complete_path():
    X, _, _ = blobs(500, 3, 3, seed=12)
    a = GaussianMixture(3, random_state=0).fit(X)
    b = GaussianMixture(3, random_state=0, missing="marginalize").fit(X)
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    assert a.lower_bound_ == b.lower_bound_
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_complete_rows_of_a_nan_input_use_the_fast_path():
    X, Xm, _ = blobs(300, 3, 2, seed=13)
    gm = GaussianMixture(2, random_state=0, missing="marginalize").fit(Xm)
    complete = ~np.isnan(Xm).any(axis=1)
    np.testing.assert_array_equal(gm.score_samples(Xm)[complete], gm.score_samples(Xm[complete]))


def test_missing_thread_count_and_batching_do_not_matter(monkeypatch, missing_path):
    _, Xm, _ = blobs(3000, 4, 3, seed=14, missing_rate=0.3)
    kw = dict(random_state=0, missing="marginalize", max_iter=5, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(3, n_threads=1, **kw).fit(Xm)
        b = GaussianMixture(3, **kw).fit(Xm)
        np.testing.assert_array_equal(a.means_, b.means_)
        np.testing.assert_array_equal(a.covariances_, b.covariances_)
        monkeypatch.setattr(_missing, "_FACTOR_BUDGET", 1)  # one pattern per batch
        c = GaussianMixture(3, **kw).fit(Xm)
    np.testing.assert_allclose(a.means_, c.means_, rtol=1e-12)
    np.testing.assert_allclose(a.covariances_, c.covariances_, rtol=1e-12)
    np.testing.assert_allclose(a.score_samples(Xm), c.score_samples(Xm), rtol=1e-12)


@pytest.mark.parametrize("init_params", ["kmeans", "hc"])
def test_sample_weight_with_nan_is_repetition(init_params):
    """A row of weight zero counts as no row and a row of weight 2 as two, NaN included: the
    start filled the NaN with the unweighted column means, so rows of weight zero moved the
    start and the fit (2e-5 in the means here), unlike complete data."""
    _, Xm, z = blobs(800, 3, 3, seed=8, missing_rate=0.2)
    rng = np.random.default_rng(1)
    labels = np.where(rng.random(800) < 0.1, z, -1)
    sw = rng.integers(0, 3, 800).astype(float)
    rep = np.repeat(np.arange(800), sw.astype(int))
    keep = sw > 0
    kw = dict(init_params=init_params, random_state=0, missing="marginalize")
    a = GaussianMixture(3, **kw).fit(Xm, sample_weight=sw, labels=labels)
    b = GaussianMixture(3, **kw).fit(Xm[keep], sample_weight=sw[keep], labels=labels[keep])
    c = GaussianMixture(3, **kw).fit(Xm[rep], labels=labels[rep])
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-10)
        np.testing.assert_allclose(getattr(a, attr), getattr(c, attr), rtol=1e-8)


def test_weighted_column_means_of_the_start():
    """The start's fill: each column's weighted mean over its observed values; where they all
    weigh zero, its unweighted mean (the fit then still starts from finite values)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    X[rng.random(X.shape) < 0.3] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.5
    w = rng.random(300) * (rng.random(300) < 0.7)
    X[w > 0, 2] = np.nan  # column 2 observed in rows of weight zero only
    X[np.isnan(X).all(axis=1), 0] = 0.5
    seen = ~np.isnan(X)
    want = [np.average(X[seen[:, j], j], weights=w[seen[:, j]]) for j in range(2)]
    got = _missing.column_nanmeans(X, w)
    np.testing.assert_allclose(got[:2], want, rtol=1e-12)
    assert got[2] == np.nanmean(X[:, 2])
    with pytest.warns(UserWarning, match="variance of feature 2"):  # it weighs nothing
        gm = GaussianMixture(2, missing="marginalize", random_state=0).fit(X, sample_weight=w)
    assert np.isfinite(gm.means_).all() and np.isfinite(gm.covariances_).all()


def test_nan_rejected_by_default():
    _, Xm, _ = blobs(50, 2, 2, seed=17)
    with pytest.raises(ValueError, match='missing="marginalize"'):
        GaussianMixture(2).fit(Xm)
    gm = GaussianMixture(2, random_state=0).fit(np.nan_to_num(Xm))
    with pytest.raises(ValueError, match="contains NaN at row"):
        gm.predict(Xm)
    with pytest.raises(ValueError, match='missing="marginalize"'):
        _missing.wrap_data(Xm)


def test_row_with_every_value_missing_is_rejected():
    _, Xm, _ = blobs(50, 2, 2, seed=18)
    Xm[7] = np.nan
    with pytest.raises(ValueError, match=r"Row 7 of X has every value missing"):
        GaussianMixture(2, missing="marginalize").fit(Xm)


def test_invalid_missing_option():
    with pytest.raises(ValueError, match="missing must be one of"):
        GaussianMixture(2, missing="drop").fit(np.arange(8.0).reshape(4, 2))


def test_inf_still_rejected():
    X = np.arange(8.0).reshape(4, 2)
    X[2, 1] = np.inf
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="infinity at row 2, column 1"):
        GaussianMixture(2, missing="marginalize").fit(X)


def test_column_without_observed_value():
    _, Xm, _ = blobs(60, 3, 2, seed=19)
    gm = GaussianMixture(2, missing="marginalize", random_state=0).fit(Xm)
    # scoring rows that all miss column 1 is fine
    assert np.isfinite(gm.score_samples([[0.0, np.nan, 1.0], [np.nan, np.nan, 2.0]])).all()
    Xm[:, 1] = np.nan
    Xm[:, 0] = np.nan_to_num(Xm[:, 0])
    with pytest.raises(ValueError, match="Column 1 of X has no observed value"):
        GaussianMixture(2, missing="marginalize").fit(Xm)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_chunked_stats_add_up(covariance_type, missing_path):
    """Chunk by chunk (labels from a label column, NaN marginalized) equals the whole."""
    from fastem import _stats

    _, Xm, z = blobs(2000, 3, 3, seed=20, missing_rate=0.2)
    labels = np.where(np.arange(2000) % 5 == 0, z, -1)
    sw = np.random.default_rng(0).random(2000) + 0.5
    gm = GaussianMixture(3, covariance_type=covariance_type, missing="marginalize", random_state=0)
    gm.fit(Xm, labels=labels, sample_weight=sw)
    params = _stats.kernel_params(
        gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type, np.float64
    )
    whole = _missing.wrap_data(Xm, sw, labels, missing="marginalize").stats(params, None)
    table = np.column_stack([Xm, np.where(labels >= 0, labels, np.nan)])
    total = None
    for r0 in range(0, 2000, 300):
        X, lab = _missing.split_label_column(table[r0 : r0 + 300], -1)
        data = _missing.wrap_data(X, sw[r0 : r0 + 300], lab, missing="marginalize")
        part = data.stats(params, None)
        total = part if total is None else total + part
    for field in ("nk", "s1", "s2", "loglik", "wsum"):
        np.testing.assert_allclose(getattr(total, field), getattr(whole, field), rtol=1e-10)
    assert total.n_rows == 2000
    with pytest.raises(ValueError, match='missing="marginalize"'):
        _missing.wrap_data(Xm)


@parametrize_with_checks([GaussianMixture(missing="marginalize")])
def test_sklearn_compatible_with_nan_allowed(estimator, check):
    check(estimator)


def test_docs_page_examples_run():
    """docs/incomplete.md is outside testpaths: run its examples here."""
    import doctest
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "incomplete.md"
    result = doctest.testfile(str(path), module_relative=False, verbose=False)
    assert result.failed == 0


def test_checkpoint_with_missing_and_labels(tmp_path):
    _, Xm, z = blobs(400, 3, 2, seed=23)
    labels = np.where(np.arange(400) % 4 == 0, z, -1)
    kw = dict(random_state=0, missing="marginalize")
    path = tmp_path / "ck.npz"
    ref = GaussianMixture(2, **kw).fit(Xm, labels=labels, checkpoint=path)
    again = GaussianMixture(2, **kw).fit(Xm, labels=labels, checkpoint=path)
    np.testing.assert_array_equal(again.means_, ref.means_)
    other = np.where(labels >= 0, 1 - labels, -1)
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GaussianMixture(2, **kw).fit(Xm, labels=other, checkpoint=path)
    Xo = Xm.copy()
    Xo[np.isnan(Xo)] = 0.0
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GaussianMixture(2, **kw).fit(Xo, labels=labels, checkpoint=path)


def test_model_fitted_on_complete_data_scores_rows_with_gaps():
    X, Xm, _ = blobs(300, 3, 2, seed=24)
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        gm.score_samples(Xm)
    gm.set_params(missing="marginalize")
    lp = gm.score_samples(Xm)
    i = int(np.flatnonzero(np.isnan(Xm).any(axis=1))[0])
    np.testing.assert_allclose(lp[i], marginal_logpdf(gm, Xm[i])[0], rtol=1e-10)


@pytest.mark.parametrize("n, D, budget", [(80, 10, None), (300, 12, 100_000)])
def test_missing_many_features_matches_reference(n, D, budget, missing_path, monkeypatch):
    """More than 8 features: patterns span two packed bytes. With 12, almost every row is
    its own pattern, a few patterns per batch."""
    if budget:
        monkeypatch.setattr(_missing, "_FACTOR_BUDGET", budget)
    _, Xm, _ = blobs(n, D, 2, seed=25, missing_rate=0.3)
    data = _missing.MissingData(Xm)
    assert data.n_patterns > n // 2
    for t, r in enumerate(data.rows):
        p = data.pat[t]
        np.testing.assert_array_equal(data.obs[p, : data.nobs[p]], np.flatnonzero(~np.isnan(Xm[r])))
        np.testing.assert_array_equal(data.mis[p, : data.nmis[p]], np.flatnonzero(np.isnan(Xm[r])))
    init = initial(Xm, 2, "full", seed=26)
    gm = fit_fixed(Xm, 2, "full", 2, init)
    w, m, c, ll = reference_em(Xm, *init, "full", 2)
    np.testing.assert_allclose(gm.means_, m, rtol=1e-8)
    np.testing.assert_allclose(gm.covariances_, c, rtol=1e-8)
    np.testing.assert_allclose(gm.lower_bound_, ll, rtol=1e-8)


def test_nan_in_a_dask_array_with_marginalize_says_it_is_not_supported():
    """docs/incomplete.md: Dask arrays do not take NaN yet. With missing="marginalize" the
    error says so (it said only 'remove or impute the missing values first'); a Dask array
    without NaN fits as in memory under either setting."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(5, 1, (150, 2))])
    Xm = X.copy()
    Xm[7, 1] = np.nan
    gm = GaussianMixture(2, missing="marginalize", random_state=0)
    with pytest.raises(ValueError, match=r"row 7, column 1.*does not reach Dask arrays yet"):
        gm.fit(da.from_array(Xm, chunks=100))
    with pytest.raises(ValueError, match="remove or impute") as info:
        GaussianMixture(2, random_state=0).fit(da.from_array(Xm, chunks=100))
    assert "marginalize" not in str(info.value)
    kw = dict(random_state=0, tol=0, max_iter=5)
    ref = GaussianMixture(2, **kw).fit(X)
    got = GaussianMixture(2, missing="marginalize", **kw).fit(da.from_array(X, chunks=100))
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-12)
    # the row-wise methods of a marginalizing model say the same when the result is computed
    for method in ("predict", "predict_proba", "score_samples"):
        with pytest.raises(ValueError, match=r"row 7, column 1.*does not reach Dask arrays"):
            getattr(got, method)(da.from_array(Xm, chunks=100)).compute()
    np.testing.assert_array_equal(got.predict(da.from_array(X, chunks=100)).compute(),
                                  got.predict(X))  # fmt: skip
    # a NaN weight is not about marginalizing X: no such hint
    w = np.ones(len(X))
    w[3] = np.nan
    with pytest.raises(ValueError, match="NaN") as info:
        gm.fit(da.from_array(X, chunks=100), sample_weight=da.from_array(w, chunks=100))
    assert "does not reach Dask arrays" not in str(info.value)
