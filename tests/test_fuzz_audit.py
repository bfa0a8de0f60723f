"""Regressions found by the adversarial input audit (issue: bad and unusual input).

Each test pins one problem the audit found: an input scikit-learn handles one way and fastem
another (the reference is scikit-learn itself, from the same arguments), or an error that came
from deep inside NumPy or Python without naming the argument that was wrong.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM
from sklearn.mixture import GaussianMixture as SkGM

import fastem
from fastem import BayesianGaussianMixture as BGM
from fastem import GaussianMixture as GM

from ._audit_ref import ESTIMATORS, PARAMS, X, _quiet

# ------------------------------------------------------------ constructor arguments


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
@pytest.mark.parametrize(
    "value",
    [-1, 2**32, 1.5, "a", np.random.default_rng(0)],
    ids=["-1", "2**32", "1.5", "str", "Generator"],
)
def test_bad_random_state_is_refused_naming_it(ours, theirs, value):
    """NumPy's "Seed must be between 0 and 2**32 - 1" named no argument; scikit-learn refuses
    the same values."""
    with pytest.raises(ValueError, match="random_state"):
        theirs(n_components=2, random_state=value).fit(X)
    with pytest.raises(ValueError, match=r"^random_state must be None, an integer in \[0, 2\*\*32"):
        ours(n_components=2, random_state=value).fit(X)


@pytest.mark.parametrize("value", [None, 0, 2**32 - 1, np.int64(3), True], ids=repr)
def test_random_states_scikit_learn_accepts_are_accepted(value):
    ours = GM(2, random_state=value, max_iter=3).fit(X)
    if value is None:
        return
    theirs = _quiet(lambda: SkGM(2, random_state=value, max_iter=3).fit(X))
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-6)
    state = np.random.RandomState(7)
    GM(2, random_state=state, max_iter=3).fit(X)


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
@pytest.mark.parametrize(
    "name, value, message",
    [
        ("verbose", "a", "verbose must be an integer >= 0 (or a bool), got 'a'."),
        ("verbose", None, "verbose must be an integer >= 0 (or a bool), got None."),
        ("verbose", -1, "verbose must be an integer >= 0 (or a bool), got -1."),
        ("verbose", 1.5, "verbose must be an integer >= 0 (or a bool), got 1.5."),
        ("warm_start", "yes", "warm_start must be True or False, got 'yes'."),
        ("warm_start", None, "warm_start must be True or False, got None."),
    ],
)
def test_verbose_and_warm_start_of_the_wrong_kind(ours, theirs, name, value, message):
    """verbose='a' raised "'>=' not supported between instances of 'str' and 'int'"; the other
    values were silently accepted. scikit-learn refuses every one of them."""
    with pytest.raises(ValueError, match=name):
        theirs(n_components=2, **{name: value}).fit(X)
    with pytest.raises(ValueError) as exc:
        ours(n_components=2, **{name: value}).fit(X)
    assert str(exc.value) == message


_EYE2 = np.eye(2)


@pytest.mark.parametrize(
    "ours, theirs, kw",
    [
        (GM, SkGM, {"weights_init": np.array([0.5, 0.5]) + 0j}),
        (GM, SkGM, {"means_init": np.array([[0.0, 0.0], [6.0, 6.0]]) + 1j}),
        (GM, SkGM, {"precisions_init": np.array([_EYE2, _EYE2]) + 0.1j}),
        (GM, SkGM, {"precisions_init": np.ones(2) + 0.1j, "covariance_type": "spherical"}),
        (BGM, SkBGM, {"mean_prior": np.zeros(2) + 1j}),
        (BGM, SkBGM, {"covariance_prior": _EYE2 + 0.1j}),
        (BGM, SkBGM, {"covariance_prior": np.ones(2) + 1j, "covariance_type": "diag"}),
    ],
    ids=["weights_init", "means_init", "precisions_init", "spherical", "mean_prior", "cov", "diag"],
)
def test_complex_initial_parameters_and_priors_are_refused_like_scikit_learn(ours, theirs, kw):
    """NumPy's cast to float dropped their imaginary part, with a ComplexWarning, and the fit
    went on from other parameters than the ones given; scikit-learn refuses them."""
    with pytest.raises(ValueError, match="Complex data not supported"):
        theirs(n_components=2, random_state=0, **kw).fit(X)
    name = next(k for k in kw if k != "covariance_type")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no ComplexWarning on the way)
        with pytest.raises(ValueError, match=f"^Complex data not supported: {name} holds"):
            ours(n_components=2, random_state=0, **kw).fit(X)


@pytest.mark.parametrize("key", ["mean", "scale"])
def test_complex_prior_values_and_resp_init_are_refused(key):
    """The same for fastem's own arrays: a MAP prior's mean or scale, and resp_init."""
    value = {"mean": np.zeros(2) + 1j, "scale": _EYE2 + 0.1j}[key]
    with pytest.raises(ValueError, match=rf"^Complex data not supported: prior\['{key}'\]"):
        GM(2, prior={key: value}, random_state=0).fit(X)
    resp = np.full((X.shape[0], 2), 0.5) + 1j
    with pytest.raises(ValueError, match="^Complex data not supported: resp_init holds"):
        BGM(n_components=2).fit(X, resp_init=resp)


@pytest.mark.parametrize("excess", [-1e-3, 1e-5, 0.0], ids=repr)
def test_weights_init_must_sum_to_one_like_scikit_learn(excess):
    """weights_init off 1 by 1e-5 or more is refused by both libraries; float32 weights
    normalized in float32 (a sum that is 1 to float32's rounding) are taken by both."""
    w = np.array([0.2, 0.3, 0.5 + excess])
    tried = [w, w.astype(np.float32), np.full(3, 1 / 3, dtype=np.float32)]
    for weights in tried if excess == 0 else tried[:2]:
        kw = dict(n_components=3, weights_init=weights, max_iter=2, random_state=0)
        if excess == 0:
            _quiet(lambda kw=kw: SkGM(**kw).fit(X))
            _quiet(lambda kw=kw: GM(**kw).fit(X))
            continue
        with pytest.raises(ValueError, match="should be normalized"):
            SkGM(**kw).fit(X)
        with pytest.raises(ValueError, match="^weights_init must sum to 1, but sums to"):
            GM(**kw).fit(X)


def test_checkpoint_that_is_not_a_path_names_the_argument():
    """Was "expected str, bytes or os.PathLike object, not int" from deep in posixpath."""
    message = r"^checkpoint must be a file path \(str or os.PathLike\), got 123\.$"
    with pytest.raises(TypeError, match=message):
        GM(2).fit(X, checkpoint=123)
    with pytest.raises(TypeError, match=message):
        BGM(n_components=2).fit(X, checkpoint=123)
    with pytest.raises(TypeError, match=message):
        GM(2).fit_online(X, checkpoint=123)


# ------------------------------------------------------------ drop-in: same answers


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
@pytest.mark.parametrize("init_params", ["kmeans", "random", "random_from_data", "k-means++"])
def test_max_iter_0_with_several_inits_keeps_the_last_like_scikit_learn(ours, theirs, init_params):
    """With max_iter=0 no initialization has a lower bound; scikit-learn keeps the last one,
    fastem kept the first: other parameters from the same random_state."""
    kw = dict(n_components=3, max_iter=0, n_init=3, random_state=0, init_params=init_params)
    a = ours(**kw).fit(X)
    b = theirs(**kw).fit(X)
    if init_params in ("kmeans", "random"):  # scikit-learn's sum to K / n for the others
        np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-7)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-7, atol=1e-20)
    assert a.n_iter_ == b.n_iter_ == 0


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
def test_n_init_keeps_the_first_of_equal_lower_bounds_like_scikit_learn(ours, theirs, monkeypatch):
    """Of several initializations with the same final lower bound, scikit-learn keeps the
    first (``lower_bound > max_lower_bound``). Every bound is made -1 in both libraries: each
    start converges at its second iteration, and the kept parameters are the first start's."""
    flat = ours._m_step_and_bound

    def constant_bound(self, *args):
        return flat(self, *args)[0], -1.0

    monkeypatch.setattr(ours, "_m_step_and_bound", constant_bound)
    monkeypatch.setattr(theirs, "_compute_lower_bound", lambda self, *a, **k: -1.0)
    kw = dict(n_components=3, init_params="random_from_data", n_init=3, random_state=0)
    a, b = _quiet(lambda: ours(**kw).fit(X)), _quiet(lambda: theirs(**kw).fit(X))
    first = _quiet(lambda: ours(**{**kw, "n_init": 1}).fit(X))
    assert a.n_iter_ == b.n_iter_ == 2 and a.lower_bound_ == b.lower_bound_ == -1.0
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-9)
    np.testing.assert_array_equal(a.means_, first.means_)


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
@pytest.mark.parametrize("max_iter, warm_start", [(0, False), (0, True), (1, False), (1, True)])
def test_convergence_warnings_are_scikit_learns(ours, theirs, max_iter, warm_start):
    """The same ConvergenceWarnings, word for word, as scikit-learn for the same calls: none
    with max_iter=0 (an initialization only), one for a fit that stops at max_iter, also
    when a warm start continues (n_init=2 is then one run, without a warning of its own)."""

    def warnings_of(cls):
        est = cls(n_components=3, max_iter=max_iter, n_init=2, random_state=0)
        est.set_params(warm_start=warm_start)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(X)
            if warm_start:
                est.fit(X)
        return [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]

    expected = warnings_of(theirs)
    assert len(expected) == (0 if max_iter == 0 else 2 if warm_start else 1)
    assert warnings_of(ours) == expected


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
def test_max_iter_0_announces_each_init_and_has_no_bound_like_scikit_learn(ours, theirs, capsys):
    """max_iter=0 runs no iteration. scikit-learn still prints each initialization (verbose)
    and leaves no lower bound, -inf, also when it continues a fit (warm_start); fastem printed
    nothing and a warm start kept the previous fit's bound."""
    printed, bounds = [], []
    for cls in (ours, theirs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls(n_components=2, n_init=2, max_iter=0, verbose=1, random_state=0).fit(X)
            printed.append(capsys.readouterr().out)
            warm = cls(n_components=2, warm_start=True, random_state=0).fit(X)
            assert np.isfinite(warm.lower_bound_)
            bounds.append(warm.set_params(max_iter=0).fit(X).lower_bound_)
    assert printed[0] == printed[1] == "Initialization 0\nInitialization 1\n"
    assert bounds[0] == bounds[1] == -np.inf


def test_warm_start_on_float32_keeps_the_float64_parameters_like_scikit_learn():
    """Continuing float64 parameters on float32 data gives float64 parameters in scikit-learn
    (its responsibilities are float64); fastem cast them to float32. As for float64 initial
    parameters (``tests/test_dtype_parity.py``), fastem's rule is uniform and the comparison
    is where scikit-learn's is: every attribute for 'tied', 'diag', 'spherical', the weights
    and means for 'full' (whose covariances stay float32 there by accident of its code)."""
    X32 = X.astype(np.float32)
    for covariance_type in ("full", "tied", "diag", "spherical"):
        for first, second in [(X, X32), (X32, X), (X32, X32), (X, X)]:
            kw = dict(covariance_type=covariance_type, warm_start=True, random_state=0)
            ours, theirs = GM(2, max_iter=5, **kw), SkGM(2, max_iter=5, **kw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # not converged in 5 iterations: the point
                ours.fit(first).fit(second)
                theirs.fit(first).fit(second)
            want = np.result_type(first.dtype, second.dtype)
            names = PARAMS[:2] if covariance_type == "full" else PARAMS
            for name in PARAMS:
                assert getattr(ours, name).dtype == want, (name, covariance_type, first.dtype)
            for name in names:
                assert getattr(theirs, name).dtype == want, (name, covariance_type, first.dtype)
            np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-4)


def test_float16_rows_on_a_float32_model_give_float32_like_scikit_learn():
    ours = GM(2, random_state=0).fit(X.astype(np.float32))
    theirs = SkGM(2, random_state=0).fit(X.astype(np.float32))
    for rows in (X[:5].astype(np.float16), X[:5].astype(np.float32), X[:5]):
        for method in ("predict_proba", "score_samples"):
            got, want = getattr(ours, method)(rows), getattr(theirs, method)(rows)
            assert got.dtype == want.dtype, (method, rows.dtype)
            exact = getattr(ours, method)(rows.astype(np.float64))  # float16 -> 32 is exact
            np.testing.assert_allclose(got, exact, rtol=1e-6, atol=1e-6)
            # the two float32 models agree to float32 accuracy (tests/test_dtype_parity.py)
            np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-3)


def test_float16_rows_on_a_float64_model_are_computed_in_float64():
    """The float16 promotion follows the model: a float64 model scores float16 rows exactly
    as the same rows in float64 (the first version of the fix computed them in float32),
    and partial_fit on float16 batches keeps a float64 model float64."""
    ours = GM(2, random_state=0).fit(X)
    rows = X[:7].astype(np.float16)
    for method in ("predict_proba", "score_samples"):
        got = getattr(ours, method)(rows)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, getattr(ours, method)(rows.astype(np.float64)))
    gm = GM(2, random_state=0).partial_fit(X[:40])
    gm.partial_fit(X[40:].astype(np.float16))
    assert gm.means_.dtype == np.float64


def test_partial_fit_dtype_does_not_depend_on_warm_start():
    """Online updates keep the batch's dtype whatever warm_start says (warm_start is about
    fit; the first version of the warm-start dtype fix made partial_fit depend on it)."""
    out = []
    for warm in (False, True):
        gm = GM(2, random_state=0, warm_start=warm).partial_fit(X[:40])
        out.append(gm.partial_fit(X[40:].astype(np.float32)).means_.dtype)
    assert out[0] == out[1]


def test_bic_is_a_python_float_like_aic_and_scikit_learn():
    ours, theirs = GM(2, random_state=0).fit(X), SkGM(2, random_state=0).fit(X)
    assert type(ours.bic(X)) is type(theirs.bic(X)) is float
    assert type(ours.aic(X)) is type(theirs.aic(X)) is float
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-9)


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
def test_sample_takes_a_whole_float_like_scikit_learn(ours, theirs):
    a = ours(n_components=2, random_state=0).fit(X)
    b = theirs(n_components=2, random_state=0).fit(X)
    Xa, ya = a.sample(4.0)
    Xb, yb = b.sample(4.0)
    assert Xa.shape == Xb.shape == (4, 2) and ya.shape == (4,)
    np.testing.assert_array_equal(Xa, a.sample(4)[0])  # the same draws as the integer
    for bad in (2.5, float("nan"), 0.0):
        with pytest.raises(ValueError, match=r"sampling requires at least one sample \(a whole"):
            a.sample(bad)


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
def test_sample_takes_a_zero_d_array_like_scikit_learn_and_names_a_bool(ours, theirs):
    """``sample(np.array(3))`` drew scikit-learn's 3 samples there and was refused here;
    ``sample(True)`` failed with NumPy's "an integer is required" (booleans are refused as
    numbers, as for the hyper-parameters)."""
    a = ours(n_components=2, random_state=0).fit(X)
    b = theirs(n_components=2, random_state=0).fit(X)
    for n in (np.array(3), np.array(3.0), np.int64(3)):
        Xa, ya = a.sample(n)
        Xb, yb = b.sample(n)
        assert Xa.shape == Xb.shape == (3, 2) and ya.dtype == yb.dtype
        np.testing.assert_array_equal(Xa, a.sample(3)[0])  # the same draws as the integer
    for bad in (True, np.bool_(True), np.array(True), np.array([3])):
        with pytest.raises(ValueError, match=r"sampling requires at least one sample \(a whole"):
            a.sample(bad)


# ------------------------------------------------------------ select_components


@pytest.mark.parametrize(
    "grid, message",
    [
        ([2.5], r"^n_components must be integers >= 1, got \[2.5\]\.$"),  # was silently K=2
        ("12", r"^n_components must be an integer >= 1 or an iterable of them"),  # was K=1, 2
        (2.5, r"^n_components must be an integer >= 1 or an iterable of them"),
        (None, r"^n_components must be an integer >= 1 or an iterable of them"),
        (["a"], r"^n_components must be integers >= 1, got \['a'\]\.$"),
        ([True], r"^n_components must be integers >= 1, got \[True\]\.$"),
    ],
)
def test_select_refuses_a_grid_of_non_integers(grid, message):
    with pytest.raises(ValueError, match=message):
        fastem.select_components(X, grid, "full", random_state=0)


@pytest.mark.parametrize("types", [None, 1, ["full", None]])
def test_select_refuses_covariance_types_that_are_not_names(types):
    with pytest.raises(ValueError, match="^covariance_types must be"):
        fastem.select_components(X, [1, 2], types, random_state=0)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(reg_covar=-1), "reg_covar must be a finite number >= 0.0, got -1."),
        (dict(tol=float("nan")), "tol must be a finite number >= 0.0, got nan."),
        (dict(max_iter=-1), "max_iter must be an integer >= 0, got -1."),
        (dict(n_threads=0), "n_threads must be None (all cores) or an integer >= 1, got 0."),
        (
            dict(random_state=-1),
            "random_state must be None, an integer in [0, 2**32 - 1] or a "
            "numpy.random.RandomState instance, got -1.",
        ),
    ],
)
def test_select_checks_shared_settings_once_with_the_estimators_message(kw, message, monkeypatch):
    """reg_covar=-1 was reported as "every fit failed; ... ill-defined empirical covariance",
    random_state=-1 came from deep in NumPy: the settings are now checked before any fit."""
    fits = []
    monkeypatch.setattr(GM, "fit", lambda self, *a, **k: fits.append(1))
    with pytest.raises(ValueError) as exc:
        fastem.select_components(X, [1, 2], "full", **kw)
    assert str(exc.value) == message
    assert not fits


def test_select_refuses_a_callback_that_cannot_be_called_before_fitting(monkeypatch):
    fits = []
    monkeypatch.setattr(GM, "fit", lambda self, *a, **k: fits.append(1))
    monkeypatch.setattr(GM, "partial_fit", lambda self, *a, **k: fits.append(1))
    with pytest.raises(TypeError, match=r"^callback must be a callable or None, got 3\.$"):
        fastem.select_components(X, [1, 2], "full", callback=3)
    with pytest.raises(TypeError, match=r"^callback must be a callable or None, got 3\.$"):
        GM(2).fit_online(X, batch_rows=20, callback=3)
    assert not fits


@pytest.mark.parametrize(
    "data, message",
    [
        (np.where(X > 5, np.nan, X), "X contains NaN at row "),
        (np.where(X > 5, np.inf, X), "X contains infinity at row "),
        (X * 1e200, "values this large"),
        (X[:, 0], "X must be 2-D (n_samples, n_features), got a 1-D array"),
    ],
    ids=["nan", "inf", "huge", "1-D"],
)
def test_select_in_memory_data_gets_the_estimators_messages(data, message):
    """scikit-learn's "Input contains NaN." (no row, no remedy) and the wrap "every fit failed"
    for values whose squares overflow became fastem's messages, as fit gives them (for NaN
    with select_components' own fix: its ``missing=``)."""
    from fastem import _validation, select

    with pytest.raises(ValueError) as fit_exc:
        GM(2).fit(data)
    with pytest.raises(ValueError) as exc:
        fastem.select_components(data, [1, 2], "full", random_state=0)
    assert message in str(exc.value)
    expected = str(fit_exc.value).replace(_validation.MISSING_FIX, select.MISSING_FIX)
    assert str(exc.value) == expected


def test_select_on_a_dask_array_of_unknown_chunk_sizes_says_what_to_do():
    """select_components counted a Dask array's rows before any fit: unknown chunk sizes
    failed with "cannot convert float NaN to integer"; now fit's message."""
    da = pytest.importorskip("dask.array")
    dX = da.from_array(X, chunks=50)
    unknown = dX[dX[:, 0] > -np.inf]  # boolean indexing: row chunks of unknown size
    with pytest.raises(ValueError, match=r"unknown chunk sizes; call X\.compute_chunk_sizes"):
        fastem.select_components(unknown, n_components=[1, 2])


def test_select_on_a_path_counts_the_rows_read(tmp_path):
    """A bare path was counted as len(path) rows in BIC and AIC (a wrong table, often the wrong
    model chosen), a pathlib.Path failed with "object of type 'PosixPath' has no len()"."""
    data = np.vstack([X + shift for shift in (0.0, 0.25, 0.5, 0.75, 1.0)])  # 400 rows
    path = tmp_path / "X.npy"
    np.save(path, data)
    assert len(str(path)) != len(data)
    kw = dict(n_components=[1, 2, 3], covariance_types=["full", "diag"], random_state=0)
    ref_best, ref = fastem.select_components(data, **kw)
    for given in (str(path), path, fastem.source(path)):
        best, table = fastem.select_components(given, **kw)
        for column in ("bic", "aic", "icl"):
            np.testing.assert_allclose(table[column], ref[column], rtol=1e-9, err_msg=column)
        assert (best.n_components, best.covariance_type) == (
            ref_best.n_components,
            ref_best.covariance_type,
        )


# ------------------------------------------------------------ degenerate and weighted data


@pytest.mark.parametrize("point", [np.ones((10, 2)), np.zeros((5, 3)), np.full((6, 1), -2.5)])
@pytest.mark.parametrize("n_components", [1, 2])
def test_hc_start_on_identical_rows_fits_as_documented(point, n_components):
    """docs/robustness.md: identical rows fit, covariances equal reg_covar. init_params='hc'
    raised ZeroDivisionError there (the SVD transform has no axis left)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reg_covar dominates: the point here
        gm = GM(n_components, init_params="hc", random_state=0).fit(point)
        best, _ = fastem.select_components(point, [1, 2], "full", init_params="hc")
    d = point.shape[1]
    np.testing.assert_allclose(gm.means_, np.broadcast_to(point[0], (n_components, d)))
    np.testing.assert_allclose(
        gm.covariances_, np.broadcast_to(1e-6 * np.eye(d), (n_components, d, d))
    )
    np.testing.assert_allclose(best.means_[0], point[0])


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data", "hc"])
def test_all_the_weight_on_one_value_fits_like_that_value_alone(init_params):
    """Was refused with "Feature 0 spreads over only 9.75, so its variance underflows" (and a
    remedy to rescale): the weighted variance is exactly 0, as for identical rows. (All the
    weight on one row is refused as one row is: tests/test_weight_zero_rows.py.)"""
    Y = X.copy()
    Y[30] = X[7]
    w = np.zeros(len(X))
    w[[7, 30]] = [3.0, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GM(1, init_params=init_params, random_state=0).fit(Y, sample_weight=w)
        ref = GM(1, random_state=0).fit(np.repeat(X[[7]], 2, axis=0))  # identical rows
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-9)
    # a real underflow is still refused, also with weights
    with pytest.raises(ValueError, match="variance underflows"):
        GM(1).fit(X * 1e-300, sample_weight=np.ones(len(X)))


def test_empty_component_is_never_reseeded_at_a_row_of_weight_zero():
    """A row of weight zero is not part of the data; the re-seed took the worst-explained row
    among all rows, so a component ended at a far row that had weight zero."""
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    P = np.repeat(centres, 10, axis=0) + rng.normal(0, 0.1, (30, 2))
    far = rng.normal(100, 1, (30, 2))
    data = np.vstack([P, far])
    w = np.r_[np.ones(30), np.zeros(30)]
    with pytest.warns(fastem.DegenerateComponentWarning):  # the re-seed ran
        gm = GM(5, init_params="random_from_data", random_state=0).fit(data, sample_weight=w)
    assert np.all(np.abs(gm.means_) < 6), gm.means_
    assert np.isfinite(gm.score(P))


# ------------------------------------------------------------ chunked sources


def test_streamed_labels_of_the_caller_are_not_written_to(tmp_path):
    """NaN labels (unknown, in a source) were replaced by -1 in the caller's own array."""
    path = str(tmp_path / "X.npy")
    np.save(path, X)
    labels = np.full(len(X), np.nan)
    labels[:3] = 0
    given = labels.copy()
    streamed = GM(2, random_state=0).fit(path, labels=labels)
    np.testing.assert_array_equal(labels, given)  # NaN still NaN
    coded = np.where(np.isnan(given), -1, given).astype(int)
    in_memory = GM(2, random_state=0).fit(X, labels=coded)
    np.testing.assert_allclose(streamed.means_, in_memory.means_, rtol=1e-10)


def test_streamed_labels_that_end_early_are_called_labels(tmp_path):
    path = str(tmp_path / "X.csv")  # a CSV's length is found while reading
    np.savetxt(path, X, delimiter=",", fmt="%.17g")
    with pytest.raises(ValueError, match="^labels, row offset 3: the labels end before the data$"):
        GM(2).fit(path, labels=np.full(3, -1))
    with pytest.raises(ValueError, match="the weights end before the data$"):
        GM(2).fit(path, sample_weight=np.ones(3))


def test_complex_chunks_are_refused_like_complex_arrays():
    """A callable's complex chunks were cast to float (the imaginary parts dropped, with only
    NumPy's ComplexWarning); a complex array in memory or in a file is refused."""
    with pytest.raises(ValueError, match="Complex data not supported"):
        GM(2).fit(X + 1j)
    message = "row offset 0: complex values; pass the real part"
    with pytest.raises(ValueError, match=message):
        GM(2).fit(lambda: iter([X + 1j]))
    fitted = GM(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match=message):
        fitted.predict(lambda: iter([X[:5] + 0j]))


def test_source_options_of_the_wrong_kind(tmp_path):
    """chunk_rows=2.5 was read as 2 and 'a' failed in int(); columns='ab' selected columns 'a'
    and 'b', columns=0 failed with "'int' object is not iterable"."""
    path = str(tmp_path / "X.csv")
    np.savetxt(path, X, delimiter=",", header="a,b", comments="", fmt="%.17g")
    for bad in (2.5, "a", 0, True):
        with pytest.raises(ValueError, match=r"^chunk_rows must be a positive integer, got "):
            fastem.source(path, chunk_rows=bad)
    fastem.source(path, chunk_rows=np.int64(7))
    with pytest.raises(ValueError, match="no column 'ab'"):
        GM(2).fit(fastem.source(path, columns="ab"))
    one = GM(1, random_state=0).fit(fastem.source(path, columns=0))
    np.testing.assert_allclose(one.means_, X[:, :1].mean(axis=0, keepdims=True), rtol=1e-12)


def test_a_callables_1d_chunks_are_refused_not_read_as_one_column():
    """A callable yielding rows of shape (2,) (a database cursor, say) was read as one feature:
    80 rows x 2 features became 160 x 1 and a one-feature model was fitted. A callable's chunks
    of rows must be 2-D (docs/streaming.md), refused when a pass reads them; a 1-D .npy file or
    array source stays one column, and so do a callable's 1-D chunks of weights or labels."""
    message = r"row offset 0: chunk of shape \(2,\) is 1-D; a callable of rows must yield 2-D"
    with pytest.raises(fastem.SourceError, match=message):
        fastem.source(lambda: iter(X)).shape  # noqa: B018 (a pass counts the rows)
    with pytest.raises(ValueError, match=r"chunk.reshape\(-1, 1\) for a chunk of one feature"):
        GM(2).fit(lambda: iter(X))
    later = r"row offset 40: chunk of shape \(40,\) is 1-D; a callable of rows must yield 2-D"
    with pytest.raises(ValueError, match=later):
        GM(2).fit(lambda: iter([X[:40, :1], X[40:, 0]]))
    assert fastem.source(X[:, 0]).shape == (len(X), 1)  # documented: one column
    w = np.linspace(0.5, 2.0, len(X))
    ref = GM(2, random_state=0).fit(X, sample_weight=w)
    for weights in (lambda: iter([w[:30], w[30:]]), fastem.source(lambda: iter([w[:30], w[30:]]))):
        got = GM(2, random_state=0).fit(fastem.source(X, chunk_rows=25), sample_weight=weights)
        np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-10)
    labels = np.full(len(X), -1)
    labels[:3] = 1
    ref = GM(2, random_state=0).fit(X, labels=labels)
    unknown = fastem.source(lambda: iter([labels[:30], labels[30:]]))
    got = GM(2, random_state=0).fit(fastem.source(X, chunk_rows=25), labels=unknown)
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-10)


def test_a_callable_that_returns_the_same_iterator_is_told_to_return_a_fresh_one():
    """The same (exhausted) generator on every call failed with "n_components = 2,
    n_samples = 0; pass more rows or lower n_components", which does not say what is wrong;
    the same list iterator gave the rows after the first chunk to a single pass (predict
    returned 60 labels for 80 rows). The callable's earlier iterator is refused by identity
    (the first pass reads every row: it continues the iterator the source opened)."""
    message = (
        r"row offset 0: the callable returned its earlier iterator; the callable must "
        r"return a fresh iterator over all the rows on each call"
    )
    gen = (X[i : i + 20] for i in range(0, len(X), 20))
    with pytest.raises(fastem.SourceError, match=message):
        GM(2).fit(lambda: gen)
    fitted = GM(2, random_state=0).fit(X)
    it = iter([X[:20], X[20:50], X[50:]])  # not a generator: a pass would read what is left
    src = fastem.source(lambda: it)
    np.testing.assert_array_equal(fitted.predict(src), fitted.predict(X))
    with pytest.raises(fastem.SourceError, match=message):
        fitted.predict(src)


def test_a_weight_column_listed_among_the_features_is_refused(tmp_path):
    """columns=[0, 1, 2] with weight_column=2 used column 2 both as a feature and as the sample
    weights; docs/streaming.md: "A weight column is never a feature"."""
    path = str(tmp_path / "Xw.csv")
    np.savetxt(path, np.column_stack([X, np.ones(len(X))]), delimiter=",", header="a,b,w",
               comments="", fmt="%.17g")  # fmt: skip
    for columns, weight, named in [
        ([0, 1, 2], 2, "2"),
        (["a", "b", "w"], "w", "'w'"),
        (["a", "w"], -1, "-1"),  # the same column by name and by index
    ]:
        message = rf"Xw\.csv': column {named} is listed in both columns= and weight_column=; a "
        with pytest.raises(ValueError, match=message + "weight column is never a feature"):
            fastem.source(path, columns=columns, weight_column=weight)
    with pytest.raises(ValueError, match="column 'w' is listed in both columns="):
        GM(2).fit(fastem.source(path, columns=["a", "w"]), sample_weight="w")
    src = fastem.source(path, columns=["a", "b"], weight_column="w")
    assert src.n_features == 2  # the weight column apart is still fine


def test_a_column_listed_twice_is_refused(tmp_path):
    """columns=[0, 0] (or a name and its index) fitted the same data as two features: a
    singular covariance (reg_covar hid it) and, for diag, the feature counted twice."""
    path = str(tmp_path / "X.csv")
    np.savetxt(path, X, delimiter=",", header="a,b", comments="", fmt="%.17g")
    for columns, message in [
        ([0, 0], r"lists column 0 twice \(0 and 0\)"),
        (["a", 1, -1], r"lists column 1 twice \(1 and -1\)"),
        (["b", "a", 0], r"lists column 0 twice \('a' and 0\)"),
    ]:
        with pytest.raises(ValueError, match=rf"X\.csv': columns= {message}; list each feature"):
            fastem.source(path, columns=columns)
    assert fastem.source(path, columns=["b", "a"]).n_features == 2


# ------------------------------------------------------------ set_params after fit


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
@pytest.mark.parametrize("changed", ["diag", "spherical", "tied"])
def test_covariance_type_changed_after_fit_is_named_not_a_numpy_crash(ours, theirs, changed):
    """scikit-learn and fastem both failed inside NumPy ("input operand has more dimensions
    than allowed by the axis remapping"); fastem now says what happened."""
    a = ours(n_components=2, random_state=0).fit(X).set_params(covariance_type=changed)
    b = theirs(n_components=2, random_state=0).fit(X).set_params(covariance_type=changed)
    with pytest.raises((ValueError, IndexError)):
        _quiet(lambda: b.predict(X))  # scikit-learn fails too, with NumPy's message
    message = r"^the fitted covariances_ have shape \(2, 2, 2\), but covariance_type="
    for call in (a.predict, a.predict_proba, a.score_samples, a.score, lambda X: a.sample(3)):
        with pytest.raises(ValueError, match=message):
            call(X)
    a.set_params(covariance_type="full")  # set back: the fitted model works again
    a.predict(X)


def test_covariance_type_of_the_same_layout_still_predicts():
    """mclust's 'VVV' is the layout of 'full': its fitted parameters serve it as they are."""
    gm = GM(2, random_state=0).fit(X)
    expected = gm.score_samples(X)
    np.testing.assert_array_equal(gm.set_params(covariance_type="VVV").score_samples(X), expected)


def test_bic_counts_the_parameters_of_the_fitted_model():
    """set_params(n_components=3) after a 2-component fit: predictions still come from the 2
    fitted components (as in scikit-learn), and BIC and AIC now count their parameters too
    (scikit-learn counts those of 3 components, a deliberate difference)."""
    gm = GM(2, random_state=0).fit(X)
    bic, aic = gm.bic(X), gm.aic(X)
    n = len(X)
    p = 2 * 2 * 3 / 2 + 2 * 2 + 1  # full covariances, means, weights
    assert bic == pytest.approx(-2 * gm.score(X) * n + p * np.log(n), rel=1e-12)
    assert aic == pytest.approx(-2 * gm.score(X) * n + 2 * p, rel=1e-12)
    gm.set_params(n_components=3)
    assert gm.bic(X) == bic and gm.aic(X) == aic
    assert gm.predict_proba(X).shape == (n, 2)
