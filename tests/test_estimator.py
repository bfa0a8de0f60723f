"""The estimator against scikit-learn, SciPy and EM's invariants."""

import tracemalloc
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from fastem import GaussianMixture, load_old_faithful
from fastem._init import KMEANS_MAX_ROWS

from .conftest import COVARIANCE_TYPES, blobs, rel_err, sklearn_start, traced_peak

PARAMS = ["weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"]


def _fit_both(X, k, covariance_type, n_iter=25, **kw):
    init = sklearn_start(X, k, covariance_type)
    common = dict(covariance_type=covariance_type, tol=0, max_iter=n_iter, **init, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkGaussianMixture(k, **common).fit(X)
        fe = GaussianMixture(k, **common).fit(X)
    return sk, fe


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("data", ["blobs3d", "blobs5d", "faithful"])
def test_equals_sklearn_from_identical_start(covariance_type, data):
    X, k = {
        "blobs3d": (blobs(600, 3, 3, seed=1), 3),
        "blobs5d": (blobs(900, 5, 4, seed=2), 4),
        "faithful": (load_old_faithful(), 2),
    }[data]
    sk, fe = _fit_both(X, k, covariance_type)
    for name in PARAMS:
        assert rel_err(getattr(fe, name), getattr(sk, name)) < 1e-7, name
    assert rel_err(fe.lower_bounds_, sk.lower_bounds_) < 1e-10
    assert fe.n_iter_ == sk.n_iter_ == 25
    X_new = blobs(50, X.shape[1], 2, seed=9)
    np.testing.assert_allclose(fe.score_samples(X_new), sk.score_samples(X_new), rtol=1e-9)
    np.testing.assert_allclose(fe.predict_proba(X_new), sk.predict_proba(X_new), atol=1e-9)
    np.testing.assert_array_equal(fe.predict(X_new), sk.predict(X_new))
    assert fe.bic(X) == pytest.approx(sk.bic(X), rel=1e-10)
    assert fe.aic(X) == pytest.approx(sk.aic(X), rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_far_from_origin(covariance_type):
    """Data offset by 1e6: compare with scikit-learn fitted on the centred data.

    A Gaussian mixture is translation-equivariant, so scikit-learn on X - c
    (where its raw-moment formulas are accurate) is an exact reference for
    fastem on X; scikit-learn on X itself loses digits to cancellation.
    """
    c = 1e6
    Xc = blobs(600, 3, 3, seed=3)
    init = sklearn_start(Xc, 3, covariance_type)
    common = dict(covariance_type=covariance_type, tol=0, max_iter=20)
    sk = SkGaussianMixture(3, **common, **init).fit(Xc)
    init["means_init"] = init["means_init"] + c
    fe = GaussianMixture(3, **common, **init).fit(Xc + c)
    assert rel_err(fe.means_ - c, sk.means_) < 1e-6
    assert rel_err(fe.covariances_, sk.covariances_) < 1e-6
    assert rel_err(fe.weights_, sk.weights_) < 1e-7


def test_float32_accurate_far_from_origin():
    """float32 data offset by 1e4 with a spread of 0.01: variances stay right."""
    rng = np.random.default_rng(0)
    X64 = np.vstack([rng.normal(0, 0.01, (2000, 2)), rng.normal(0.1, 0.01, (2000, 2))]) + 1e4
    X = X64.astype(np.float32)
    gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    ref = X.astype(np.float64)
    labels = gm.predict(X)
    for k in range(2):
        np.testing.assert_allclose(
            gm.covariances_[k] - gm.reg_covar, ref[labels == k].var(axis=0), rtol=1e-3
        )
    assert np.all(np.abs(gm.covariances_ - 1e-4) < 2e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_equals_scipy(covariance_type):
    X = blobs(300, 3, 3, seed=4)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    covs = {
        "full": lambda c: c,
        "tied": lambda c: [c] * 3,
        "diag": lambda c: [np.diag(v) for v in c],
        "spherical": lambda c: [v * np.eye(3) for v in c],
    }[covariance_type](gm.covariances_)
    dens = sum(
        w * multivariate_normal(m, c).pdf(X) for w, m, c in zip(gm.weights_, gm.means_, covs)
    )
    np.testing.assert_allclose(gm.score_samples(X), np.log(dens), rtol=1e-10)
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(gm.score_samples(X32), np.log(dens), rtol=1e-4)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_likelihood_never_decreases(covariance_type, init_params):
    X = blobs(400, 2, 4, seed=5)
    gm = GaussianMixture(
        4,
        covariance_type=covariance_type,
        init_params=init_params,
        tol=0,
        max_iter=40,
        random_state=1,
    ).fit(X)
    lb = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:]))


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_invariance(covariance_type, dtype):
    X = blobs(30000, 4, 3, seed=6, dtype=dtype)
    fits = [
        GaussianMixture(
            3, covariance_type=covariance_type, n_threads=t, tol=0, max_iter=10, random_state=0
        ).fit(X)
        for t in (1, 2)
    ]
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


# 20: the full statistics' 4 x 4 tiles of few features; 33: their register tiles
@pytest.mark.parametrize("D", [3, 20, 33])
def test_one_and_two_threads_agree_bitwise(D):
    from fastem._passes import ArrayData, array_rowwise, array_stats

    X = blobs(20000, D, 3, seed=7)
    gm = GaussianMixture(3, random_state=0).fit(X)
    params = gm._fitted_kernel_params(ArrayData(X))
    a = array_stats(X, None, None, params, 2)
    b = array_stats(X, None, None, params, 1)
    for name in ("nk", "s1", "s2"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.loglik == b.loglik
    ra = array_rowwise(X, params, 2, resp=True)[1]
    rb = array_rowwise(X, params, 1, resp=True)[1]
    np.testing.assert_array_equal(ra, rb)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type):
    X = blobs(300, 3, 3, seed=8)
    w = np.random.default_rng(0).integers(0, 4, size=len(X))
    init = sklearn_start(X, 3, covariance_type)
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=15, **init)
    a = GaussianMixture(3, **kw).fit(X, sample_weight=w)
    b = GaussianMixture(3, **kw).fit(np.repeat(X, w, axis=0))
    for name in PARAMS:
        assert rel_err(getattr(a, name), getattr(b, name)) < 1e-9, name
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-12)
    # with k-means initialization too, when the rows keep their order
    a = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X, sample_weight=w)
    b = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(np.repeat(X, w, 0))
    assert rel_err(a.means_, b.means_) < 1e-8
    assert a.score(X, sample_weight=w) == pytest.approx(b.score(np.repeat(X, w, 0)), rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_only_the_ratios_of_the_weights_matter(covariance_type):
    """Equal weights anywhere in the accepted range give the unweighted fit, and scaled
    weights the fit of the weights. The M-step's guard against empty components was an
    absolute 10 eps added to each component's weight, which swamped the sums of weights from
    1e-16 down: every weight 1e-20 collapsed the covariances to reg_covar."""
    X = blobs(400, 2, 2, seed=9)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    kw = dict(covariance_type=covariance_type, random_state=0, tol=0, max_iter=10)
    plain = GaussianMixture(2, **kw).fit(X)
    weighted = GaussianMixture(2, **kw).fit(X, sample_weight=w)
    for scale in (1e-90, 1e-20, 1e20, 1e90):
        same = GaussianMixture(2, **kw).fit(X, sample_weight=np.full(len(X), scale))
        scaled = GaussianMixture(2, **kw).fit(X, sample_weight=w * scale)
        for name in PARAMS:
            assert rel_err(getattr(same, name), getattr(plain, name)) < 1e-10, (scale, name)
            assert rel_err(getattr(scaled, name), getattr(weighted, name)) < 1e-10, (scale, name)
        assert same.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-12)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_old_faithful_mclust_loglik(init_params):
    X = load_old_faithful()
    gm = GaussianMixture(
        2, init_params=init_params, n_init=3, tol=1e-10, max_iter=1000, random_state=0
    ).fit(X)
    assert gm.score(X) * len(X) == pytest.approx(-1130.264, abs=1e-3)
    np.testing.assert_allclose(np.sort(gm.weights_), [0.356, 0.644], atol=1e-3)


def test_random_inits_match_sklearn():
    """'random' and 'random_from_data' draw exactly what scikit-learn draws."""
    X = blobs(300, 3, 3, seed=10)
    for init in ("random", "random_from_data"):
        kw = dict(init_params=init, max_iter=0, random_state=3)
        sk = SkGaussianMixture(3, **kw).fit(X)
        fe = GaussianMixture(3, **kw).fit(X)
        # scikit-learn divides one-hot initial weights by n_samples, so they sum
        # to k / n_samples; fastem normalizes them (same responsibilities).
        assert rel_err(fe.weights_, sk.weights_ / sk.weights_.sum()) < 1e-10
        assert rel_err(fe.means_, sk.means_) < 1e-10
        np.testing.assert_allclose(fe.covariances_, sk.covariances_, rtol=1e-6, atol=1e-20)


@pytest.mark.parametrize("init", ["random_from_data", "k-means++"])
def test_tied_start_from_seed_rows_is_their_scatter_not_scikit_learns(init):
    """A deliberate difference (docs/robustness.md): a 'tied' start from seed rows is the
    seeds' own scatter (none) plus reg_covar, as for 'full'. scikit-learn's tied formula
    assumes every row's responsibilities sum to one; for these one-hot starts it gives
    (X^T X - sum_k mu_k mu_k^T) / K over all rows: a covariance that grows with n / K and with
    the data's distance from the origin. Ours does neither; the means are scikit-learn's."""
    X = blobs(300, 3, 3, seed=10)
    kw = dict(covariance_type="tied", init_params=init, max_iter=0, random_state=3)
    fe = GaussianMixture(3, **kw).fit(X)
    sk = SkGaussianMixture(3, **kw).fit(X)
    assert rel_err(fe.means_, sk.means_) < 1e-10
    np.testing.assert_array_equal(fe.covariances_, 1e-6 * np.eye(3))
    for shift, rows in ((1e3, X), (0.0, np.repeat(X, 4, axis=0))):  # the origin, n / K
        moved = GaussianMixture(3, **kw).fit(rows + shift)
        np.testing.assert_array_equal(moved.covariances_, fe.covariances_)
    scale = np.trace(sk.covariances_) / np.trace(np.cov(X.T))
    assert scale > 10  # ~ n / K times the data's second moment: what ours does not copy


def test_kmeans_init_finds_the_clusters():
    X = blobs(3000, 2, 5, seed=11)
    fe = GaussianMixture(5, max_iter=0, random_state=0).fit(X)
    sk = SkGaussianMixture(5, max_iter=0, random_state=0).fit(X)
    m_fe = fe.means_[np.lexsort(fe.means_.T)]
    m_sk = sk.means_[np.lexsort(sk.means_.T)]
    np.testing.assert_allclose(m_fe, m_sk, atol=0.05)


def test_fit_allocates_no_per_row_temporaries():
    """Peak traced memory of a fit stays far below one (n_samples, n_components) array.

    Each fit runs once before it is traced, so that what it compiles (on an empty cache
    tracemalloc sees Numba's compiler: 4-11 MB) is not counted: a 2,000-row fit runs in
    NumPy and compiles nothing, and which kernels earlier tests compiled in this process
    depends on the test order."""
    n, d, k = 200_000, 8, 8
    X = blobs(n, d, k, seed=12)
    init = dict(
        weights_init=np.full(k, 1 / k),
        means_init=X[:k].copy(),
        precisions_init=np.broadcast_to(np.eye(d), (k, d, d)).copy(),
    )
    for X_in in (X, X.astype(np.float32)):
        GaussianMixture(k, tol=0, max_iter=1, **init).fit(X_in)  # compile outside the trace
        GaussianMixture(k, tol=0, max_iter=1, random_state=0).fit(X_in)
        tracemalloc.start()
        GaussianMixture(k, tol=0, max_iter=3, **init).fit(X_in)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 0.1 * n * k * 8, peak  # EM loop: chunk statistics only
        tracemalloc.start()
        GaussianMixture(k, tol=0, max_iter=3, random_state=0).fit(X_in)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # with k-means: a few (n_samples,) vectors and the fixed-size k-means sample
        sample = KMEANS_MAX_ROWS * d * X_in.itemsize
        assert peak < 0.5 * n * k * 8 + sample, peak


def test_float32_results_are_narrowed_piece_by_piece():
    """A float32 model's ``predict_proba`` of float32 rows is float32 (as in scikit-learn):
    it was computed whole in float64 and narrowed at the end, an (n_samples, n_components)
    float64 temporary twice the size of the result (peak 3x the result). Each piece is
    narrowed into the result as it comes: the same values."""
    n, d, k = 400_000, 8, 8
    X = blobs(n, d, k, seed=14, dtype=np.float32)
    gm = GaussianMixture(k, covariance_type="diag", tol=0, max_iter=2, random_state=0).fit(X)
    for method in ("predict_proba", "score_samples"):
        expected = getattr(gm, method)(X[:1000])
        got, peak = traced_peak(lambda: getattr(gm, method)(X))  # noqa: B023
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got[:1000], expected)
        if method == "predict_proba":  # the result, and a piece of 65,536 rows in float64
            assert peak < 1.6 * got.nbytes, peak
    da = pytest.importorskip("dask.array")
    for method in ("predict_proba", "score_samples"):  # from Dask: still lazy, still float32
        got = getattr(gm, method)(da.from_array(X[:5000], chunks=1000))
        assert isinstance(got, da.Array) and got.dtype == np.float32
        np.testing.assert_array_equal(got.compute()[:1000], getattr(gm, method)(X[:1000]))


def test_float32_is_not_upcast():
    X = blobs(1000, 3, 3, seed=13, dtype=np.float32)
    gm = GaussianMixture(3, random_state=0)
    assert gm._fit_data(X, None).X is X  # no copy
    gm.fit(X)
    gm64 = GaussianMixture(3, random_state=0).fit(X.astype(np.float64))
    assert rel_err(gm.means_, gm64.means_) < 1e-4


def test_convergence_warning_and_attributes():
    X = blobs(300, 2, 3, seed=14)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm = GaussianMixture(3, max_iter=2, tol=0, random_state=0).fit(X)
    assert gm.n_iter_ == 2 and not gm.converged_ and len(gm.lower_bounds_) == 2
    gm = GaussianMixture(3, random_state=0).fit(X)
    assert gm.converged_ and gm.n_features_in_ == 2
    assert gm.lower_bound_ == gm.lower_bounds_[-1]
    np.testing.assert_allclose(
        gm.precisions_ @ gm.covariances_, np.broadcast_to(np.eye(2), (3, 2, 2)), atol=1e-8
    )


def test_warm_start_continues():
    X = blobs(300, 2, 3, seed=15)
    full = GaussianMixture(3, tol=0, max_iter=10, random_state=0).fit(X)
    gm = GaussianMixture(3, tol=0, max_iter=5, random_state=0, warm_start=True)
    gm.fit(X)
    gm.fit(X)
    np.testing.assert_allclose(gm.means_, full.means_, rtol=1e-12)


@pytest.mark.parametrize(
    "change", [{"n_components": 4}, {"covariance_type": "diag"}, {"covariance_type": "tied"}]
)
def test_warm_start_with_other_shapes_is_a_clear_error(change):
    """warm_start=True with another n_components kept the old components silently (bic then
    counted the new n_components' parameters); another covariance layout failed inside NumPy
    ("operands could not be broadcast"). Both are refused, and the model is kept."""
    X = blobs(300, 2, 3, seed=15)
    gm = GaussianMixture(3, max_iter=5, random_state=0).fit(X)
    before = gm.means_.copy()
    gm.set_params(warm_start=True, **change)
    with pytest.raises(ValueError, match=r"warm_start=True continues the previous fit, whose"):
        gm.fit(X)
    np.testing.assert_array_equal(gm.means_, before)
    # the same layout under another name continues (VVV is 'full')
    gm.set_params(n_components=3, covariance_type="VVV", max_iter=2).fit(X)
    assert gm.covariances_.shape == (3, 2, 2)


@pytest.mark.parametrize("change", [{"n_components": 4}, {"covariance_type": "diag"}])
def test_partial_fit_after_a_change_of_shape_is_a_clear_error(change):
    """partial_fit continues the fitted model as warm_start does: after a change of
    n_components it kept updating the old components (bic counted the new ones); after a
    change of layout it failed inside NumPy. Refused, and the model is kept."""
    X = blobs(300, 2, 3, seed=15)
    gm = GaussianMixture(3, max_iter=5, random_state=0).fit(X)
    before = gm.means_.copy()
    gm.set_params(**change)
    with pytest.raises(ValueError, match=r"partial_fit continues the fitted model, whose"):
        gm.partial_fit(X)
    np.testing.assert_array_equal(gm.means_, before)


def test_fit_predict_and_sample():
    X = blobs(300, 2, 3, seed=16)
    gm = GaussianMixture(3, random_state=0)
    labels = gm.fit_predict(X)
    np.testing.assert_array_equal(labels, gm.predict(X))
    for ct in COVARIANCE_TYPES:
        gm = GaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
        sk = SkGaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
        for name in ("weights_", "means_", "covariances_"):
            setattr(sk, name, getattr(gm, name))
        Xs, ys = gm.sample(500)
        Xk, yk = sk.sample(500)
        np.testing.assert_allclose(Xs, Xk)
        np.testing.assert_array_equal(ys, yk)


@pytest.mark.parametrize("n_components", [1, 4])
def test_tied_sample_and_shapes_after_set_params_n_components(n_components):
    """A fitted 'tied' model drew from ``n_components`` copies of its covariance: after
    ``set_params(n_components=1)`` the other components' rows of ``sample`` were left
    uninitialized (``np.empty``), silently, and ``volumes_`` had one row per new component.
    scikit-learn's draws, from the same parameters, and the model's own before the change."""
    X = blobs(300, 2, 3, seed=16)
    gm = GaussianMixture(3, covariance_type="tied", random_state=0).fit(X)
    sk = SkGaussianMixture(3, covariance_type="tied", random_state=0).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        setattr(sk, name, getattr(gm, name))
    before, volumes = gm.sample(200), gm.volumes_
    gm.set_params(n_components=n_components)
    sk.set_params(n_components=n_components)
    Xs, ys = gm.sample(200)
    Xk, yk = sk.sample(200)
    np.testing.assert_array_equal(Xs, Xk)
    np.testing.assert_array_equal(ys, yk)
    np.testing.assert_array_equal(Xs, before[0])
    np.testing.assert_array_equal(gm.volumes_, volumes)
    assert gm.shapes_.shape == (3, 2) and gm.orientations_.shape == (3, 2, 2)


def test_sample_holds_the_draws_once():
    """``sample`` stacked the components' draws (and their labels) at the end, holding
    them twice: 1.6x the result traced. Each component's rows are copied into the result as
    they are drawn, and the labels made by one ``np.repeat``: the same rows as
    scikit-learn's, bit for bit, and at the peak the result and one component's draw."""
    X = blobs(3000, 4, 8, seed=17)
    for ct in COVARIANCE_TYPES:
        gm = GaussianMixture(8, covariance_type=ct, random_state=0, max_iter=5).fit(X)
        sk = SkGaussianMixture(8, covariance_type=ct, random_state=0, max_iter=5).fit(X)
        for name in ("weights_", "means_", "covariances_"):
            setattr(sk, name, getattr(gm, name))
        Xs, ys = gm.sample(300_000)
        Xk, yk = sk.sample(300_000)
        assert Xs.dtype == Xk.dtype
        np.testing.assert_array_equal(Xs, Xk)
        np.testing.assert_array_equal(ys, yk)
    tracemalloc.start()
    try:
        Xs, ys = gm.sample(300_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    result = Xs.nbytes + ys.nbytes
    assert peak < 1.4 * result, peak / result  # (1.3x: 8 components; 1.6x stacked)


BAD = [
    ("nan", lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), "NaN"),
    ("inf", lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X), "infinity"),
    ("1d", lambda X: X[:, 0], "must be 2-D.*Reshape your data"),
    ("3d", lambda X: X[None], "must be 2-D.*3-D array"),
    ("strings", lambda X: X.astype(str).astype(object) + "x", "string"),
    ("empty", lambda X: X[:0], "0 sample"),
    ("complex", lambda X: X + 1j, "Complex data not supported.*real part"),
]


@pytest.mark.parametrize("name,make,match", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises(name, make, match):
    X = blobs(60, 2, 3)
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(make(X))


def test_bad_parameters_and_predict_input():
    X = blobs(60, 2, 3)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(61).fit(X)
    with pytest.raises(ValueError, match="n_components must be"):
        GaussianMixture(0).fit(X)
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GaussianMixture(2, covariance_type="banana").fit(X)
    with pytest.raises(ValueError, match="init_params must be one of"):
        GaussianMixture(2, init_params="banana").fit(X)
    with pytest.raises(ValueError, match="negative"):
        GaussianMixture(2).fit(X, sample_weight=-np.ones(60))
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(X, sample_weight=np.full(60, np.nan))
    with pytest.raises(ValueError, match="shape"):
        GaussianMixture(2).fit(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sums to zero"):
        GaussianMixture(2).fit(X, sample_weight=np.zeros(60))
    with pytest.raises(ValueError, match="tol must be"):
        GaussianMixture(2, tol=-1).fit(X)
    with pytest.raises(ValueError, match="n_threads must be"):
        GaussianMixture(2, n_threads=0).fit(X)
    with pytest.raises(ValueError, match="Found array with 1 sample"):
        GaussianMixture(1).fit(X[:1])
    with pytest.raises(ValueError, match="could not convert string"):
        GaussianMixture(1).fit([["a", "b"], ["c", "d"]])
    with pytest.raises(NotFittedError):
        GaussianMixture(2).predict(X)
    with pytest.raises(ValueError, match="weights_init must sum to 1"):
        GaussianMixture(2, weights_init=[0.2, 0.2]).fit(X)
    with pytest.raises(ValueError, match="means_init must have shape"):
        GaussianMixture(2, means_init=np.zeros((3, 2))).fit(X)
    with pytest.raises(ValueError, match="positive-definite"):
        GaussianMixture(2, precisions_init=-np.stack([np.eye(2)] * 2)).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        gm.predict(np.ones((3, 5)))
    with pytest.raises(ValueError, match="NaN at row 0, column 0"):
        gm.score_samples(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="infinity at row 1, column 1"):
        gm.score_samples(np.array([[0, 0], [0, np.inf]]))


def test_failed_fit_keeps_previous_state():
    X = blobs(60, 2, 3)
    gm = GaussianMixture(2, random_state=0).fit(X)
    means = gm.means_.copy()
    with pytest.raises(ValueError):
        gm.fit(np.full((10, 3), np.nan))
    np.testing.assert_array_equal(gm.means_, means)
    assert gm.n_features_in_ == 2
    gm.predict(X)


@pytest.mark.parametrize("cls", ["GaussianMixture", "BayesianGaussianMixture"])
@pytest.mark.parametrize("named_first", [False, True], ids=["array-then-frame", "frame-then-array"])
def test_failed_refit_keeps_the_feature_names(cls, named_first):
    """A refit that failed (3 rows, 5 components) kept ``n_features_in_`` but took the failed
    data's ``feature_names_in_`` (or dropped the fitted ones): a model fitted on an array then
    warned that it was fitted with names, and refused every frame (three names for two
    features); one fitted on a frame lost its names. It now answers as before the call."""
    import fastem

    pd = pytest.importorskip("pandas")
    X = blobs(60, 2, 3)
    frame = pd.DataFrame(X, columns=["a", "b"])
    bad = pd.DataFrame(np.ones((3, 3)), columns=["x", "y", "z"])
    first, bad = (frame, bad.to_numpy()) if named_first else (X, bad)
    est = getattr(fastem, cls)(n_components=5, random_state=0).fit(first)
    before = est.predict_proba(first)
    names = getattr(est, "feature_names_in_", None)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        est.fit(bad)
    np.testing.assert_array_equal(getattr(est, "feature_names_in_", None), names)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no warning about feature names)
        np.testing.assert_array_equal(est.predict_proba(first), before)


@pytest.mark.parametrize("cls", ["GaussianMixture", "BayesianGaussianMixture"])
def test_warnings_point_at_the_callers_line(cls):
    """The ConvergenceWarning names the user's line, as scikit-learn's does (a warning
    located inside fastem is filtered and shown wrongly)."""
    import fastem

    X = blobs(300, 2, 2, seed=31)
    est = getattr(fastem, cls)(n_components=2, max_iter=1, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    found = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert found and all(w.filename == __file__ for w in found), [
        (w.filename, w.lineno) for w in found
    ]


def test_warnings_point_at_the_callers_line_from_a_source_and_for_reg_covar(tmp_path):
    """Deeper paths too (a source adds frames; the scale check sits in the initialization)."""
    import fastem

    X = blobs(300, 2, 2, seed=31)
    np.save(tmp_path / "x.npy", X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GaussianMixture(2, max_iter=1, random_state=0).fit(fastem.source(tmp_path / "x.npy"))
        GaussianMixture(2, reg_covar=1e3, random_state=0).fit(X)
    kinds = (ConvergenceWarning, fastem.RegularizationWarning)
    found = [w for w in caught if issubclass(w.category, kinds)]
    assert {w.category for w in found} == set(kinds)
    assert all(w.filename == __file__ for w in found), [(w.filename, w.lineno) for w in found]
