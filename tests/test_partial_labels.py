"""Partial labels (``fit(labels=)``): Bayes' rule, the user's coding, supervised limits,
weights, validation; against the NumPy reference EM."""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture

from ._incomplete_ref import (
    COV_TYPES,
    HEIGHTS,
    assert_like_reference,
    bayes_rule,
    blobs,
    fit_fixed,
    initial,
    reference_em,
    simulate_heights,
)

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


def _supervised(X, z, w, K, covariance_type, reg_covar=1e-6):
    """Weighted class proportions, means and covariances (+ reg_covar), as full matrices."""
    D = X.shape[1]
    nk = np.array([w[z == k].sum() for k in range(K)])
    means = np.array([np.average(X[z == k], axis=0, weights=w[z == k]) for k in range(K)])
    C = np.array([np.cov(X[z == k].T, aweights=w[z == k], bias=True) for k in range(K)])
    if covariance_type == "tied":
        C = np.repeat(((C * nk[:, None, None]).sum(0) / nk.sum())[None], K, axis=0)
    elif covariance_type == "diag":
        C = np.stack([np.diag(np.diag(c)) for c in C])
    elif covariance_type == "spherical":
        C = np.stack([np.eye(D) * np.diag(c).mean() for c in C])
    return nk / nk.sum(), means, C + reg_covar * np.eye(D)


def _labelled_loglik(X, z, w, weights, means, covs):
    """Mean of w * (log weight_z + log N(x_O | z)) over the rows (observed coordinates O)."""
    total = 0.0
    for x, k, wi in zip(X, z, w, strict=True):
        o = ~np.isnan(x)
        mvn = stats.multivariate_normal(means[k, o], covs[k][np.ix_(o, o)])
        total += wi * (np.log(weights[k]) + mvn.logpdf(x[o]))
    return total / w.sum()


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("init_params", ["kmeans", "random", "hc"])
def test_every_row_labelled_starts_at_the_supervised_fit(covariance_type, weighted, init_params):
    """docs/incomplete.md: "initialization starts component j from the rows labelled j". With
    every row labelled the start is the supervised fit (weighted class proportions, means and
    covariances), whatever init_params: the first lower bound, the log-likelihood under the
    start, is the supervised log-likelihood, and one step changes nothing. With NaN the start
    is the supervised fit of X filled with its (weighted) column means; the bound is then the
    marginal log-likelihood of the observed values (SciPy)."""
    X, Xm, z = blobs(400, 3, 3, seed=31, missing_rate=0.1)
    rng = np.random.default_rng(2)
    w = rng.random(400) + 0.5 if weighted else np.ones(400)
    sw = w if weighted else None
    for data in (X, Xm):
        gm = GaussianMixture(3, covariance_type=covariance_type, init_params=init_params,
                             missing="marginalize", max_iter=1, random_state=0)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(data, sample_weight=sw, labels=z)
        seen = ~np.isnan(data)
        col_means = [np.average(data[seen[:, j], j], weights=w[seen[:, j]]) for j in range(3)]
        filled = np.where(seen, data, col_means)
        start = _supervised(filled, z, w, 3, covariance_type)
        assert np.isclose(gm.lower_bound_, _labelled_loglik(data, z, w, *start), rtol=1e-9)
        if data is X:  # complete data: the step from the supervised fit stays there
            np.testing.assert_allclose(gm.weights_, start[0], rtol=1e-9)
            np.testing.assert_allclose(gm.means_, start[1], rtol=1e-9)
            full = gm.covariances_
            if covariance_type == "tied":
                full = np.repeat(full[None], 3, axis=0)
            elif covariance_type == "diag":
                full = np.stack([np.diag(c) for c in full])
            elif covariance_type == "spherical":
                full = np.stack([np.eye(3) * c for c in full])
            np.testing.assert_allclose(full, start[2], rtol=1e-8, atol=1e-14)


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
    assert_like_reference(gm, reference_em(X, *init, covariance_type, 3, sw=sw, labels=labels))


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


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_labelled_rows_of_zero_weight_are_no_rows(covariance_type):
    """A labelled row of zero weight counts for nothing, as if it were absent: it used to
    count towards the labelled rows that give a component its starting covariance, which then
    came from the one weighted row (reg_covar alone) and the fit collapsed onto it."""
    _, X, z = blobs(600, 2, 2, seed=23, missing_rate=0)
    labels = np.full(600, -1)
    first = [np.flatnonzero(z == k)[:5] for k in range(2)]
    labels[first[0]], labels[first[1][0]] = 0, 1
    sw = np.ones(600)
    sw[first[0][1:]] = 0.0  # four of the five rows labelled 0
    keep = sw > 0
    kw = dict(covariance_type=covariance_type, random_state=0)
    a = GaussianMixture(2, **kw).fit(X, sample_weight=sw, labels=labels)
    b = GaussianMixture(2, **kw).fit(X[keep], labels=labels[keep])
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-10)


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.array([0.0, 1.0, -1.0, 0.0]), "integer array"),
        # streaming.md: "a bool file is refused, as bool labels are in memory" (True is not a
        # component index: it would be read as 1 and False as component 0, never as unknown)
        (np.array([True, False, True, False]), "integer array, got dtype bool"),
        # and in an object array (a pandas object column): False read as component 0
        (np.array([True, False, True, False], dtype=object), "integer array, got dtype object"),
        (np.array([0, 1, -1]), r"shape \(4,\)"),
        (np.array([0, 2, -1, 0]), r"\[-1, 2\)"),
        (np.array([0, -2, -1, 0]), "min -2"),
    ],
)
def test_labels_validation(labels, match):
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(X, labels=labels)


def test_labels_as_python_objects_are_integers():
    """An object array of Python or NumPy integers (a pandas object column) is labels."""
    X = np.concatenate([np.zeros((10, 2)), np.ones((10, 2))]) + np.arange(20)[:, None] * 0.01
    labels = np.array([0, -1] * 5 + [np.int64(1), -1] * 5, dtype=object)
    a = GaussianMixture(2, random_state=0).fit(X, labels=labels)
    b = GaussianMixture(2, random_state=0).fit(X, labels=labels.astype(np.int64))
    np.testing.assert_array_equal(a.means_, b.means_)


def test_labels_none_or_all_unknown_is_unsupervised():
    _, X, _ = blobs(300, 2, 2, seed=6, missing_rate=0)
    a = GaussianMixture(2, random_state=0).fit(X)
    b = GaussianMixture(2, random_state=0).fit(X, labels=np.full(300, -1))
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)


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


def test_labels_with_dask_array_say_so():
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.arange(40.0).reshape(20, 2), chunks=(10, 2))
    with pytest.raises(NotImplementedError, match="labels= is not supported with a Dask"):
        GaussianMixture(2).fit(X, labels=np.zeros(20, dtype=int))
