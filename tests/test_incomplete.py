"""Incomplete data: partial labels (``fit(labels=)``) and missing values (``missing=``)."""

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastem import GaussianMixture, _missing

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
        nk = np.zeros(K)
        sx = np.zeros((K, D))
        rows = []
        loglik = 0.0
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
            rows.append((r, xhat, ccov))
        nk = nk + 10 * np.finfo(float).eps
        new_means = sx / nk[:, None]
        cov = np.zeros((K, D, D))
        for r, xhat, ccov in rows:
            for k in range(K):
                d = xhat[k] - new_means[k]
                cov[k] += r[k] * (np.outer(d, d) + ccov[k])
        cov /= nk[:, None, None]
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


# --------------------------------------------------------------------------
# partial labels
# --------------------------------------------------------------------------


def test_heights_partial_labels_match_bayes_rule():
    x, g, labels = simulate_heights(20000, 0.10, seed=0)
    gm = GaussianMixture(2, random_state=0).fit(x, labels=labels)
    unknown = labels < 0
    acc = (gm.predict(x[unknown]) == g[unknown]).mean()
    bayes = (bayes_rule(x[unknown, 0]) == g[unknown]).mean()
    assert abs(acc - bayes) < 0.01, (acc, bayes)
    # component j is label j: no permutation needed
    np.testing.assert_allclose(gm.means_[:, 0], HEIGHTS["mean"], atol=0.5)
    np.testing.assert_allclose(np.sqrt(gm.covariances_[:, 0, 0]), HEIGHTS["sd"], atol=0.5)


def test_label_coding_is_the_users():
    """Swapped coding: component j follows label j, not the k-means order."""
    x, g, labels = simulate_heights(4000, 0.10, seed=1)
    swapped = np.where(labels >= 0, 1 - labels, -1)
    gm = GaussianMixture(2, random_state=0).fit(x, labels=swapped)
    assert gm.means_[0, 0] > gm.means_[1, 0]
    assert (gm.predict(x) == 1 - g).mean() > 0.75


def test_all_rows_labelled_is_supervised_mle():
    _, X, z = blobs(600, 3, 3, seed=2, missing_rate=0)
    gm = GaussianMixture(3, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, labels=z)
    for k in range(3):
        np.testing.assert_allclose(gm.means_[k], X[z == k].mean(axis=0), rtol=1e-10)
        cov = np.cov(X[z == k].T, bias=True) + 1e-6 * np.eye(3)
        np.testing.assert_allclose(gm.covariances_[k], cov, rtol=1e-8)
        np.testing.assert_allclose(gm.weights_[k], (z == k).mean(), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_labels_fix_responsibilities(covariance_type):
    """Labelled rows keep their component in every E-step: compare with the reference."""
    _, X, z = blobs(120, 2, 2, seed=3, missing_rate=0)
    rng = np.random.default_rng(0)
    labels = np.where(rng.random(120) < 0.3, z, -1)
    labels[:5] = 1 - z[:5]  # even a "wrong" label is kept
    sw = rng.integers(1, 4, 120).astype(float)
    init = initial(X, 2, covariance_type, seed=4)
    gm = fit_fixed(X, 2, covariance_type, 3, init, labels=labels, sample_weight=sw)
    w, m, c, ll = reference_em(X, *init, covariance_type, 3, sw=sw, labels=labels)
    np.testing.assert_allclose(gm.weights_, w, rtol=1e-8)
    np.testing.assert_allclose(gm.means_, m, rtol=1e-8)
    np.testing.assert_allclose(gm.covariances_, c, rtol=1e-8)
    np.testing.assert_allclose(gm.lower_bound_, ll, rtol=1e-8)


def test_labels_with_sample_weight_equal_repeated_rows():
    _, X, z = blobs(200, 2, 2, seed=5, missing_rate=0)
    labels = np.where(np.arange(200) % 7 == 0, z, -1)
    sw = np.arange(200) % 3
    kw = dict(random_state=0, tol=1e-10, max_iter=200)
    a = GaussianMixture(2, **kw).fit(X, sample_weight=sw, labels=labels)
    rep = np.repeat(np.arange(200), sw)
    b = GaussianMixture(2, means_init=a.means_, **kw).fit(X[rep], labels=labels[rep])
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-6)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-6)


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.array([0.0, 1.0, -1.0, 0.0]), "integer array"),
        (np.array([0, 1, -1]), r"shape \(4,\)"),
        (np.array([0, 2, -1, 0]), r"\[-1, 2\)"),
        (np.array([0, -2, -1, 0]), "min -2"),
    ],
)
def test_labels_validation(labels, match):
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(X, labels=labels)


def test_labels_none_or_all_unknown_is_unsupervised():
    _, X, _ = blobs(300, 2, 2, seed=6, missing_rate=0)
    a = GaussianMixture(2, random_state=0).fit(X)
    b = GaussianMixture(2, random_state=0).fit(X, labels=np.full(300, -1))
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)


# --------------------------------------------------------------------------
# missing values
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_missing_matches_reference_em(covariance_type, missing_path):
    _, Xm, _ = blobs(150, 3, 2, seed=7)
    init = initial(Xm, 2, covariance_type, seed=8)
    gm = fit_fixed(Xm, 2, covariance_type, 4, init)
    w, m, c, ll = reference_em(Xm, *init, covariance_type, 4)
    np.testing.assert_allclose(gm.weights_, w, rtol=1e-8)
    np.testing.assert_allclose(gm.means_, m, rtol=1e-8)
    np.testing.assert_allclose(gm.covariances_, c, rtol=1e-8)
    np.testing.assert_allclose(gm.lower_bound_, ll, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_missing_with_labels_and_weights_matches_reference(covariance_type, missing_path):
    _, Xm, z = blobs(120, 3, 2, seed=9, missing_rate=0.25)
    rng = np.random.default_rng(1)
    labels = np.where(rng.random(120) < 0.3, z, -1)
    sw = rng.random(120) + 0.5
    init = initial(Xm, 2, covariance_type, seed=10)
    gm = fit_fixed(Xm, 2, covariance_type, 3, init, labels=labels, sample_weight=sw)
    w, m, c, ll = reference_em(Xm, *init, covariance_type, 3, sw=sw, labels=labels)
    np.testing.assert_allclose(gm.weights_, w, rtol=1e-8)
    np.testing.assert_allclose(gm.means_, m, rtol=1e-8)
    np.testing.assert_allclose(gm.covariances_, c, rtol=1e-8)
    np.testing.assert_allclose(gm.lower_bound_, ll, rtol=1e-8)


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


def test_some_components_without_labels():
    """Labels for two of three components: the third is found unsupervised."""
    rng = np.random.default_rng(21)
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    z = rng.integers(0, 3, 900)
    X = centers[z] + rng.normal(size=(900, 2))
    truth = np.array([2, 0, 1])  # the user's codes of the three groups
    labels = np.where((rng.random(900) < 0.1) & (z < 2), truth[z], -1)
    assert set(labels[labels >= 0]) == {0, 2}
    gm = GaussianMixture(3, random_state=0).fit(X, labels=labels)
    np.testing.assert_allclose(gm.means_[2], centers[0], atol=0.3)
    np.testing.assert_allclose(gm.means_[0], centers[1], atol=0.3)
    np.testing.assert_allclose(gm.means_[1], centers[2], atol=0.3)
    assert (gm.predict(X) == truth[z]).mean() > 0.97


def test_single_labelled_row_per_component():
    """One labelled row is enough to pin a component (its covariance starts unsupervised)."""
    x, g, _ = simulate_heights(3000, 0.0, seed=22)
    labels = np.full(3000, -1)
    labels[np.flatnonzero(g == 0)[0]] = 1  # user codes: group 0 -> 1, group 1 -> 0
    labels[np.flatnonzero(g == 1)[0]] = 0
    gm = GaussianMixture(2, random_state=0, covariance_type="diag").fit(x, labels=labels)
    assert gm.means_[1, 0] < gm.means_[0, 0]
    assert (gm.predict(x) == 1 - g).mean() > 0.75


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


def test_labels_with_dask_array_say_so():
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.arange(40.0).reshape(20, 2), chunks=(10, 2))
    with pytest.raises(NotImplementedError, match="labels= is not supported with a Dask"):
        GaussianMixture(2).fit(X, labels=np.zeros(20, dtype=int))


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


# --------------------------------------------------------------------------
# rows with NaN as complete rows in compact coordinates (fastem._patterns)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_missing_float32_follows_float64(covariance_type, missing_path):
    """float32 rows with NaN: densities in float32 as for complete rows, statistics in
    float64; the same model as from float64 rows, to float32's precision."""
    _, Xm, _ = blobs(400, 4, 3, seed=33, missing_rate=0.2)
    init = initial(Xm, 3, covariance_type, seed=34)
    g64 = fit_fixed(Xm, 3, covariance_type, 3, init)
    g32 = fit_fixed(Xm.astype(np.float32), 3, covariance_type, 3, init)
    np.testing.assert_allclose(g32.means_, g64.means_, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(g32.covariances_, g64.covariances_, rtol=2e-3, atol=2e-4)
    lp32 = g32.score_samples(Xm.astype(np.float32))
    np.testing.assert_allclose(lp32, g64.score_samples(Xm), rtol=1e-3, atol=1e-3)


def test_compact_coordinates_and_the_observed_block_check():
    from fastem import _patterns, _stats
    from fastem._kernels import _config

    assert _patterns.TILE == _config.TILE  # the padding the kernels expect
    X = np.array([[1.0, np.nan, 3.0], [np.nan, 5.0, 6.0], [7.0, 8.0, 9.0]])
    perm = np.array([[0, 2, 1], [1, 2, 0]])
    out = np.empty((2, 3))
    _patterns.compact_rows(X, np.array([0, 1]), perm, out)
    np.testing.assert_array_equal(out, [[1.0, 3.0, 0.0], [5.0, 6.0, 0.0]])
    # a covariance whose observed block is singular is refused, not factored into NaN
    prec = np.eye(3)[None]
    params = _stats.kernel_params(np.ones(1), np.zeros((1, 3)), prec, "full", np.float64)
    Sigma = np.zeros((1, 3, 3))
    Sigma[0, 1, 1] = Sigma[0, 2, 2] = 1.0  # feature 0 has variance 0
    with pytest.raises(ValueError, match="not positive-definite. Increase reg_covar"):
        _patterns.Factors(
            params,
            Sigma,
            np.zeros(1),
            _patterns._Batch(perm, np.array([2, 2]), np.array([0, 1, 2])),
        )


def test_the_path_of_rows_with_nan_follows_the_data(missing_path):
    """Few patterns or many rows per pattern: compact coordinates; many patterns of few
    rows: the missing-value kernels. Either gives the same statistics."""
    from fastem import _stats
    from fastem._pattern_kernels import PatternKernels
    from fastem._patterns import CompactRows

    _, Xm, _ = blobs(2000, 6, 3, seed=41, missing_rate=0.2)
    gm = GaussianMixture(3, random_state=0, max_iter=3, missing="marginalize").fit(Xm)
    args = (gm.weights_, gm.means_, gm.precisions_cholesky_, "full", np.float64)
    small = missing_path == "numpy"
    params = _stats.kernel_params(*args, small=small)
    data = _missing.MissingData(Xm)
    handler = data._rows_with_nan(params)
    compact = missing_path != "kernels"
    assert isinstance(handler, CompactRows if compact else PatternKernels)
    other = PatternKernels if compact else CompactRows
    a = data.stats(params, None)
    model = _missing._model(params)
    b = other(data, _missing._FACTOR_BUDGET).stats(params, model, None)
    b = b + data.complete.stats(params, None)
    for x, y in zip((a.nk, a.s1, a.s2, a.loglik), (b.nk, b.s1, b.s2, b.loglik)):
        np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-9)
    # float32 rows: the compact path forms densities in float32, the kernels in float64
    X32 = Xm.astype(np.float32)
    p32 = _stats.kernel_params(*args[:4], np.float32, small=small)
    d32 = _missing.MissingData(X32)
    c = d32.stats(p32, None)
    d = other(d32, _missing._FACTOR_BUDGET).stats(p32, _missing._model(p32), None)
    d = d + d32.complete.stats(p32, None)
    for x, y in zip((c.nk, c.s1, c.s2, c.loglik), (d.nk, d.s1, d.s2, d.loglik)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6 * np.abs(y).max())


def test_a_pattern_over_several_kernel_calls():
    """One pattern of 3,000 rows: several kernel calls, added in order. Both paths, one
    thread and all threads, statistics and row-wise outputs agree."""
    from fastem import _stats
    from fastem._pattern_kernels import PatternKernels
    from fastem._patterns import CompactRows

    X, _, _ = blobs(6000, 4, 3, seed=44)
    X[::2, 1] = np.nan
    gm = GaussianMixture(3, random_state=0, max_iter=3, missing="marginalize").fit(X)
    args = (gm.weights_, gm.means_, gm.precisions_cholesky_, "full", np.float64)
    params = _stats.kernel_params(*args)
    data = _missing.MissingData(X)
    compact = CompactRows(data, _missing._FACTOR_BUDGET)
    tp, r0, r1, first = compact._batches_for(3)[0].tasks(1024)
    assert len(tp) == 3 and list(first) == [0]  # the test is about a split pattern
    model = _missing._model(params)
    kern = PatternKernels(data, _missing._FACTOR_BUDGET)
    for n_threads in (1, None):
        a = compact.stats(params, model, n_threads)
        b = kern.stats(params, model, n_threads)
        for x, y in zip((a.nk, a.s1, a.s2, a.loglik), (b.nk, b.s1, b.s2, b.loglik)):
            np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-9)
        what = dict(logprob=True, resp=True, labels=True)
        for x, y in zip(compact.rowwise(params, model, n_threads, **what),
                        kern.rowwise(params, model, n_threads, **what)):  # fmt: skip
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)


def test_tasks_split_each_pattern_in_order():
    from fastem._patterns import _Batch

    offsets = np.array([10, 15, 2100, 2101, 5000])
    p, r0, r1, first = _Batch(None, None, offsets).tasks(1024)
    assert p.tolist() == [0, 1, 1, 1, 2, 3, 3, 3]
    assert r0.tolist() == [10, 15, 1039, 2063, 2100, 2101, 3125, 4149]
    assert r1.tolist() == [15, 1039, 2063, 2100, 2101, 3125, 4149, 5000]
    assert first.tolist() == [0, 1, 4, 5]


def test_small_inputs_with_nan_never_start_the_compiler():
    """docs/cold_start.md: a small input with NaN in a few patterns runs in NumPy."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, fastem\n"
        "X = np.random.default_rng(0).normal(size=(500, 3)); X[::4, 1] = np.nan\n"
        "gm = fastem.GaussianMixture(2, missing='marginalize', random_state=0).fit(X)\n"
        "gm.predict_proba(X); gm.score_samples(X)\n"
        "print('numba' in sys.modules)\n"
    )
    env = dict(os.environ)
    env.pop("FASTEM_SMALL_WORK", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_default_choice_of_path():
    """Little per-pattern work (patterns x K x D^2) or many rows per pattern: compact
    coordinates; many patterns of few rows: the missing-value kernels, small inputs too."""
    from fastem import _stats
    from fastem._pattern_kernels import PatternKernels
    from fastem._patterns import CompactRows

    def params(D, small=False):
        args = (np.full(2, 0.5), np.zeros((2, D)), np.eye(D)[None].repeat(2, 0), "full")
        return _stats.kernel_params(*args, np.float64, small=small)

    one = np.random.default_rng(0).normal(size=(3000, 6))
    one[::3, 2] = np.nan  # one pattern
    assert isinstance(_missing.MissingData(one)._rows_with_nan(params(6)), CompactRows)
    _, many, _ = blobs(6000, 16, 2, seed=43, missing_rate=0.3)  # thousands of patterns
    data = _missing.MissingData(many)
    assert data.n_patterns * 2 * 16 * 16 > _missing.COMPACT_WORK
    assert data.rows.size < _missing.COMPACT_ROWS * data.n_patterns
    assert isinstance(data._rows_with_nan(params(16)), PatternKernels)
    # small inputs too: thousands of patterns would cost seconds per pass in NumPy
    assert isinstance(data._rows_with_nan(params(16, small=True)), PatternKernels)
    # much per-pattern work, but 1,000 rows per pattern: compact
    wide = np.random.default_rng(1).normal(size=(17_000, 64))
    wide[np.arange(17_000), np.arange(17_000) % 17] = np.nan
    data = _missing.MissingData(wide)
    K = 8
    assert data.n_patterns * K * 64 * 64 > _missing.COMPACT_WORK
    kp = _stats.kernel_params(np.full(K, 1 / K), np.zeros((K, 64)),
                              np.eye(64)[None].repeat(K, 0), "full", np.float64)  # fmt: skip
    assert isinstance(data._rows_with_nan(kp), CompactRows)
