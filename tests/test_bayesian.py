"""fastem.BayesianGaussianMixture against scikit-learn's from identical starting points.

The reference is scikit-learn's own estimator: started from the same responsibilities (its
private ``_initialize`` substituted for its initialization), from the same fitted state
(its ``warm_start``), or from the same random draws (``random`` and ``random_from_data``
initializations draw the same numbers from the same ``RandomState``). The conftest fixture
makes every pass run in the compiled kernels.
"""

import copy
import warnings

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture as SkBGM

import fastem
from fastem import BayesianGaussianMixture as BGM

from .conftest import BGM_STATE as STATE
from .conftest import COVARIANCE_TYPES, PRIOR_TYPES, blobs, rel_err


def _resp(n, k, seed=0):
    r = np.random.RandomState(seed).rand(n, k)
    return r / r.sum(axis=1, keepdims=True)


def _sk_from_resp(resp, X, **kw):
    sk = SkBGM(**kw)
    # scikit-learn's own first M-step on the given responsibilities
    sk._initialize_parameters = lambda X_, random_state, xp=None: sk._initialize(X_, resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sk.fit(X)


def _assert_same_from_resp(X, resp, **kw):
    """fastem and scikit-learn, each from its first M-step on ``resp``, end the same."""
    sk = _sk_from_resp(resp, X, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fe = BGM(**kw).fit(X, resp_init=resp)
    assert_same(fe, sk, X)


def assert_same(fe, sk, X, rtol=1e-7):
    for name in STATE:
        assert rel_err(getattr(fe, name), getattr(sk, name)) < rtol, name
    wc_fe, wc_sk = fe.weight_concentration_, sk.weight_concentration_
    if isinstance(wc_sk, tuple):
        for a, b in zip(wc_fe, wc_sk):
            assert rel_err(a, b) < rtol
    else:
        assert rel_err(wc_fe, wc_sk) < rtol
    assert rel_err(fe.lower_bound_, sk.lower_bound_) < rtol
    # scikit-learn's tied lower_bounds_ hold 1-element arrays
    sk_bounds = np.array([float(np.squeeze(b)) for b in sk.lower_bounds_])
    assert rel_err(fe.lower_bounds_, sk_bounds) < rtol
    assert fe.n_iter_ == sk.n_iter_ and fe.converged_ == sk.converged_
    np.testing.assert_allclose(fe.predict_proba(X), sk.predict_proba(X), rtol=0, atol=rtol)
    assert rel_err(fe.score_samples(X), sk.score_samples(X)) < rtol
    np.testing.assert_array_equal(fe.predict(X), sk.predict(X))


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_answers_as_sklearn_from_responsibilities(prior_type, covariance_type):
    X = blobs(600, 3, 3, seed=1)
    resp = _resp(600, 6)
    kw = dict(
        n_components=6,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        max_iter=30,
        tol=0,
    )
    _assert_same_from_resp(X, resp, **kw)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_answers_as_sklearn_with_every_prior_given(prior_type, covariance_type):
    """The tests above resolve the priors from the data; here each is given explicitly."""
    X = blobs(600, 3, 3, seed=1)
    resp = _resp(600, 5)
    full = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])  # no zero: rel_err
    covariance_prior = {"full": full, "tied": full, "diag": np.diag(full), "spherical": 1.7}
    kw = dict(
        n_components=5,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        weight_concentration_prior=0.05,
        mean_precision_prior=0.3,
        mean_prior=np.array([1.0, -1.0, 0.5]),
        degrees_of_freedom_prior=4.5,
        covariance_prior=covariance_prior[covariance_type],
        max_iter=30,
        tol=0,
    )
    _assert_same_from_resp(X, resp, **kw)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_answers_as_sklearn_from_its_fitted_state(prior_type, covariance_type):
    """init_from= a scikit-learn model; scikit-learn continues the same model (warm_start)."""
    X = blobs(900, 2, 3, seed=2)
    kw = dict(
        n_components=5,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=0,
        tol=1e-4,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = SkBGM(max_iter=3, **kw).fit(X)
        sk = copy.deepcopy(start).set_params(warm_start=True, max_iter=200).fit(X)
        fe = BGM(max_iter=200, **kw).fit(X, init_from=start)
    assert_same(fe, sk, X)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_warm_start_continues_like_sklearns_warm_start(covariance_type):
    """warm_start=True continues the fitted variational state as scikit-learn's does."""
    X = blobs(900, 3, 3, seed=11)
    kw = dict(n_components=4, covariance_type=covariance_type, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = SkBGM(**kw).fit(X)
        fe = BGM(**kw).fit(X, init_from=start)  # start's state, then 3 iterations
        sk = copy.deepcopy(start).set_params(warm_start=True).fit(X)  # the same
        sk.fit(X)  # each continues by 3 more iterations
        fe.set_params(warm_start=True).fit(X)
    assert rel_err(fe.means_, sk.means_) < 1e-7
    assert rel_err(fe.covariances_, sk.covariances_) < 1e-7
    assert rel_err(fe.lower_bound_, sk.lower_bound_) < 1e-7
    assert fe.n_iter_ == sk.n_iter_


@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_default_fit_equals_sklearn_for_the_same_random_draws(init_params, covariance_type):
    """The whole fit path (priors from the data, initialization, n_init) from one seed;
    scikit-learn's 'tied' start from random_from_data differs on purpose (robustness.md)."""
    if (init_params, covariance_type) == ("random_from_data", "tied"):
        pytest.skip("scikit-learn's tied covariance of a one-hot start: a documented difference")
    X = blobs(600, 3, 3, seed=3)
    kw = dict(
        n_components=4,
        covariance_type=covariance_type,
        init_params=init_params,
        n_init=2,
        random_state=7,
        max_iter=500,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkBGM(**kw).fit(X)
        fe = BGM(**kw).fit(X)
    assert_same(fe, sk, X)


def test_sample_weight_equals_repeated_rows():
    X = blobs(300, 2, 3, seed=4)
    w = np.random.default_rng(0).integers(0, 4, 300)
    kw = dict(n_components=4, tol=0, max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = SkBGM(**{**kw, "max_iter": 1}).fit(X)
        weighted = BGM(**kw).fit(X, sample_weight=w, init_from=start)
        repeated = BGM(**kw).fit(np.repeat(X, w, axis=0), init_from=start)
    for name in STATE:
        assert rel_err(getattr(weighted, name), getattr(repeated, name)) < 1e-10, name
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_weight_with_resp_init_equals_repeated_rows(covariance_type):
    """The first variational M-step on given responsibilities weighs each row by its
    sample weight, as repeating the row (and its responsibilities) would."""
    X = blobs(300, 2, 3, seed=4)
    w = np.random.default_rng(1).integers(0, 4, 300)
    resp = _resp(300, 4, seed=2)
    kw = dict(n_components=4, covariance_type=covariance_type, tol=0, max_iter=5)
    weighted = BGM(**kw).fit(X, sample_weight=w, resp_init=resp)
    repeated = BGM(**kw).fit(np.repeat(X, w, axis=0), resp_init=np.repeat(resp, w, axis=0))
    for name in STATE:
        assert rel_err(getattr(weighted, name), getattr(repeated, name)) < 1e-10, name
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-10)


def test_the_data_covariance_prior_needs_a_total_weight_above_one(tmp_path):
    """covariance_prior=None is the data's covariance with ddof 1 on the total weight (an
    integer weight counting as repeated rows): defined for a total weight above 1. Below, the
    divisor was floored at 1e-300 and the prior came out near 1e300 times the scatter, a fit
    that ran and answered nonsense."""
    X = blobs(3000, 3, 3, seed=3)
    w = np.full(len(X), 1e-3)  # total 3: the frequency-weighted covariance, divisor 2
    dev = X - np.average(X, axis=0, weights=w)
    expected = (dev.T * w) @ dev / (w.sum() - 1)
    got = BGM(n_components=3, random_state=0, max_iter=2).fit(X, sample_weight=w)
    np.testing.assert_allclose(got.covariance_prior_, expected, rtol=1e-9)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "w.npy", w / 10)  # total 0.3: less than two rows' worth
    for data, weights in (
        (X, w / 10),
        (fastem.source(tmp_path / "x.npy"), fastem.source(tmp_path / "w.npy")),
    ):
        for covariance_type in ("full", "spherical"):
            est = BGM(n_components=3, covariance_type=covariance_type, max_iter=2)
            with pytest.raises(ValueError, match="total sample_weight above 1"):
                est.fit(data, sample_weight=weights)
    # given, the covariance prior does not need the data's
    prior = BGM(n_components=3, covariance_prior=np.eye(3), max_iter=2, random_state=0)
    assert np.all(np.isfinite(prior.fit(X, sample_weight=w / 10).covariances_))


@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_streamed_and_dask_fits_equal_the_in_memory_fit(tmp_path, covariance_type):
    da = pytest.importorskip("dask.array")
    X = blobs(6000, 3, 3, seed=5)
    w = np.random.default_rng(1).uniform(0.5, 2.0, 6000)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "w.npy", w)
    kw = dict(n_components=5, covariance_type=covariance_type, tol=0, max_iter=10)
    kw["random_state"] = 0
    mem = BGM(**kw).fit(X, sample_weight=w)
    fits = {
        "source": BGM(**kw).fit(
            fastem.source(tmp_path / "x.npy", chunk_rows=1000),
            sample_weight=fastem.source(tmp_path / "w.npy", chunk_rows=1000),
        ),
        "dask": BGM(**kw).fit(
            da.from_array(X, chunks=(1500, 3)), sample_weight=da.from_array(w, chunks=1500)
        ),
    }
    for how, fe in fits.items():
        for name in STATE:
            assert rel_err(getattr(fe, name), getattr(mem, name)) < 1e-9, (how, name)
        assert fe.lower_bound_ == pytest.approx(mem.lower_bound_, rel=1e-10)
    src = fastem.source(tmp_path / "x.npy", chunk_rows=1000)
    np.testing.assert_array_equal(mem.predict(src), mem.predict(X))
    lazy = mem.predict_proba(da.from_array(X, chunks=(1500, 3)))
    np.testing.assert_array_equal(np.asarray(lazy), mem.predict_proba(X))


def test_thread_count_does_not_change_the_result():
    X = blobs(30000, 4, 3, seed=6)
    fits = [BGM(n_components=6, n_threads=t, tol=0, max_iter=8, random_state=0).fit(X)
            for t in (1, 2)]  # fmt: skip
    for name in STATE:
        np.testing.assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))


def test_the_iterations_form_no_per_row_array():
    """bayesian.md: the lower bound's sum r log r comes from the pass's statistics, and "no
    (n_samples, n_components) array is ever formed". Traced after a first fit compiled the
    kernels; the priors' pass takes a fixed-size sample (at most 65,536 rows) for its shift."""
    from .conftest import traced_peak

    n, d, k = 200_000, 8, 8
    X = blobs(n, d, k, seed=12)
    for covariance_type in ("full", "diag"):
        kw = dict(n_components=k, covariance_type=covariance_type, tol=0)
        start = BGM(**kw, max_iter=1, random_state=0).fit(X[:20_000])
        BGM(**kw, max_iter=1).fit(X, init_from=start)
        _, peak = traced_peak(lambda: BGM(**kw, max_iter=3).fit(X, init_from=start))  # noqa: B023
        assert peak < 0.1 * n * k * 8, peak


def test_float32_input_close_to_float64():
    X = blobs(3000, 3, 3, seed=7)
    kw = dict(n_components=4, tol=0, max_iter=20, random_state=0)
    resp = _resp(3000, 4, seed=1)
    f64 = BGM(**kw).fit(X, resp_init=resp)
    f32 = BGM(**kw).fit(X.astype(np.float32), resp_init=resp)
    for name in ("weights_", "means_", "covariances_"):
        assert rel_err(getattr(f32, name), getattr(f64, name)) < 1e-4, name
        assert getattr(f32, name).dtype == np.float64  # as scikit-learn's BayesianGaussianMixture


@pytest.mark.parametrize(
    "fitted, asked",
    [("dirichlet_process", "dirichlet_distribution"),
     ("dirichlet_distribution", "dirichlet_process")],
)  # fmt: skip
def test_warm_start_under_another_prior_type_is_refused_and_keeps_the_fit(fitted, asked):
    """set_params(weight_concentration_prior_type=...) then a warm start failed deep in NumPy
    ("input operand has more dimensions than allowed by the axis remapping", "too many values
    to unpack"); scikit-learn fails as unclearly."""
    X = blobs(300, 2, 3, seed=4)
    gm = BGM(n_components=3, random_state=0, weight_concentration_prior_type=fitted).fit(X)
    before = copy.deepcopy(gm.means_)
    gm.set_params(warm_start=True, weight_concentration_prior_type=asked)
    with pytest.raises(ValueError, match=f"made with weight_concentration_prior_type='{fitted}'"):
        gm.fit(X)
    np.testing.assert_array_equal(gm.means_, before)
    gm.set_params(weight_concentration_prior_type=fitted).fit(X)  # the fix it names


def test_init_from_a_converged_model_stops_where_sklearns_warm_start_stops():
    """docs/bayesian.md: init_from=start is deepcopy(start).set_params(warm_start=True). Its
    first iteration was compared with -inf, not start's lower_bound_, so a converged start
    ran two iterations where scikit-learn's warm start runs one."""
    X = blobs(600, 2, 3, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = SkBGM(n_components=3, random_state=0).fit(X)
        sk = copy.deepcopy(start).set_params(warm_start=True, max_iter=50).fit(X)
    fe = BGM(n_components=3, max_iter=50).fit(X, init_from=start)
    assert start.converged_ and sk.n_iter_ == 1
    assert fe.n_iter_ == sk.n_iter_ and fe.converged_
    np.testing.assert_allclose(np.ravel(fe.lower_bounds_), np.ravel(sk.lower_bounds_), rtol=1e-9)
    assert rel_err(fe.means_, sk.means_) < 1e-9
