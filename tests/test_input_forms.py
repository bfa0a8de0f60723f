"""Input forms that scikit-learn reads as arrays and fastem as sources (the input-forms audit).

scikit-learn's ``validate_data`` takes a ``pyarrow.Table`` as a table: it keeps its column
names as ``feature_names_in_``, warns when names are present on one side only, refuses other
or reordered names, and reads it as float64. fastem reads such objects chunk by chunk, as a
source; these tests pin that they get scikit-learn's answers (the reference is scikit-learn
itself, from the same arguments).
"""

import warnings

import numpy as np
import pytest

import fastem
from fastem import BayesianGaussianMixture, GaussianMixture

from ._audit_ref import ESTIMATORS, X
from .conftest import traced_peak

pa = pytest.importorskip("pyarrow")


def _table(columns, dtype=np.float64):
    return pa.table({name: X[:, i].astype(dtype) for i, name in enumerate(columns)})


def _record(fn, *args):
    """``(fn(*args) or the exception's type and message, the warnings' messages)``"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args)
        except ValueError as e:
            result = (type(e).__name__, str(e))
    return result, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
def test_a_pyarrow_table_has_feature_names_as_in_scikit_learn(ours, theirs):
    """fit(table) kept no feature_names_in_, so a predict on the table's columns in another
    order answered for the wrong features, silently (scikit-learn refuses), and no warning
    said that names were present on one side only."""
    table, reordered = _table(["a", "b"]), _table(["b", "a"])
    for est in (ours, theirs):
        gm = est(n_components=2, random_state=0, max_iter=5).fit(table)
        np.testing.assert_array_equal(gm.feature_names_in_, ["a", "b"])
        assert gm.feature_names_in_.dtype == object
    for call in (
        lambda m: m.fit(table).predict(reordered),
        lambda m: m.fit(table).score_samples(reordered),
        lambda m: m.fit(table).score(reordered),
        lambda m: m.fit(table).predict(X),  # names at fit only: a warning
        lambda m: m.fit(X).predict_proba(table),  # names at predict only: a warning
        lambda m: m.fit(table).fit(X).predict(table),  # a refit without names drops them
    ):
        expected = _record(call, theirs(n_components=2, random_state=0, max_iter=5))
        got = _record(call, ours(n_components=2, random_state=0, max_iter=5))
        assert got[1] == [m.replace(theirs.__name__, ours.__name__) for m in expected[1]]
        if isinstance(expected[0], tuple):  # the same error
            assert got[0] == expected[0]
        else:
            assert not isinstance(got[0], tuple), got[0]


def test_a_fit_on_a_path_drops_the_feature_names_of_a_previous_fit(tmp_path):
    """scikit-learn's refit resets feature_names_in_; a fit on a file kept those of an earlier
    DataFrame fit, so the new model refused a DataFrame in the old column order's place."""
    pd = pytest.importorskip("pandas")
    np.save(tmp_path / "X.npy", X)
    gm = GaussianMixture(2, random_state=0, max_iter=5).fit(pd.DataFrame(X, columns=["a", "b"]))
    gm.fit(tmp_path / "X.npy")
    assert not hasattr(gm, "feature_names_in_")


def test_a_dask_array_gets_scikit_learns_feature_name_rules():
    """A Dask array has no names (scikit-learn reads it as an array): a fit on one drops those
    of an earlier DataFrame fit, and a model fitted with names warns when it predicts one."""
    pd = pytest.importorskip("pandas")
    da = pytest.importorskip("dask.array")
    df = pd.DataFrame(X, columns=["a", "b"])
    gm = GaussianMixture(2, random_state=0, max_iter=5).fit(df)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        gm.predict(da.from_array(X, chunks=40))
    gm.fit(da.from_array(X, chunks=40))
    assert not hasattr(gm, "feature_names_in_")


@pytest.mark.filterwarnings("ignore:X has feature names")
@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
def test_a_float32_pyarrow_table_gives_scikit_learns_dtypes(ours, theirs):
    """scikit-learn's fit reads a pyarrow.Table (which has no dtype) as float64; fastem read
    one of float32 columns as float32 and returned float32 parameters and predictions. (Its
    other methods read float32 columns as float32: a float32 model answers in float32.)"""
    table = _table(["a", "b"], np.float32)
    results = []
    for est in (ours, theirs):
        gm = est(n_components=2, random_state=0, max_iter=5).fit(table)
        f32 = est(n_components=2, random_state=0, max_iter=5).fit(X.astype(np.float32))
        results.append(
            [getattr(gm, name).dtype for name in ("weights_", "means_", "covariances_")]
            + [gm.predict_proba(table).dtype, gm.score_samples(table).dtype]
            + [f32.predict_proba(table).dtype, f32.score_samples(table).dtype]
        )
    assert results[0] == results[1]
    assert results[0][1] == np.float64


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
@pytest.mark.parametrize("dtype", [*"int8 int64 uint8 bool float16 >f8 longdouble".split()])
def test_other_dtypes_are_read_as_the_float64_rows_they_stand_for(ours, theirs, dtype):
    """A deliberate difference (docs/robustness.md): integer, boolean and float16 rows are
    scored as the float64 rows they stand for (scikit-learn computes part of its answer in
    the array's dtype), and predict_proba of a longdouble array is float64 (scikit-learn's
    is longdouble). The fit is scikit-learn's (it converts all of them to float64)."""
    Xd = (X > 1) if dtype == "bool" else (np.round(X) + 20).astype(dtype)
    X64 = Xd.astype(np.float64)
    kw = dict(n_components=2, random_state=0, max_iter=5)
    gm, ref, sk = ours(**kw).fit(Xd), ours(**kw).fit(X64), theirs(**kw).fit(Xd)
    np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(gm.means_, ref.means_)
    for method in ("predict", "predict_proba", "score_samples"):
        got, expected = getattr(gm, method)(Xd), getattr(ref, method)(X64)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    assert gm.score(Xd) == ref.score(X64)


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
def test_float32_rows_on_a_float64_model_are_scored_in_float64(ours, theirs, tmp_path):
    """scikit-learn's arithmetic promotes float32 rows to the float64 model's dtype; fastem
    computed their log-densities in float32 (on an empty cache, after compiling the float32
    kernels: 1 s) and widened them, 20 times further from scikit-learn's answer than the
    same rows given as float64. A float32 .npy source or Dask array is scored as those rows
    in memory."""
    from fastem import source

    X32 = (X + 1000.0).astype(np.float32)  # far from 0: float32 arithmetic shows
    X64 = X32.astype(np.float64)
    np.save(tmp_path / "X32.npy", X32)
    kw = dict(n_components=2, random_state=0, max_iter=5)
    gm, sk = ours(**kw).fit(X64), theirs(**kw).fit(X64)
    da = pytest.importorskip("dask.array")
    for rows in (X32, source(tmp_path / "X32.npy", chunk_rows=30), da.from_array(X32, chunks=30)):
        for method in ("predict", "predict_proba", "score_samples"):
            got = np.asarray(getattr(gm, method)(rows))
            assert got.dtype == getattr(sk, method)(X32).dtype
            np.testing.assert_array_equal(got, getattr(gm, method)(X64))
        # the same log-densities, summed per chunk for a source or Dask array: their mean
        # may differ from the in-memory one in its last bits, never by float32's 1e-7
        np.testing.assert_allclose(float(gm.score(rows)), gm.score(X64), rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    "make, fit",
    [
        (lambda: BayesianGaussianMixture(n_components=2, random_state=0), "fit"),
        (lambda: GaussianMixture(2, means_init=[[0.0, 0.0], [6.0, 6.0]]), "fit"),
        (lambda: GaussianMixture(2, means_init=[[0.0, 0.0], [6.0, 6.0]]), "partial_fit"),
        (lambda: GaussianMixture(2, random_state=0).fit(X), "fit_online"),
    ],
    ids=["BGM", "GM float64 means_init", "partial_fit", "fit_online after a float64 fit"],
)
def test_a_model_fitted_on_float32_rows_scores_them_in_float32(make, fit, monkeypatch, tmp_path):
    """Its parameters are float64 (as scikit-learn's), but its fit ran the float32 kernels:
    its predictions run them too (widened to float64 they compiled the float64 kernels, a
    second more on an empty cache), in memory and from a source; float64 rows stay float64."""
    from fastem import _mixture_api, source

    X32 = X.astype(np.float32)
    np.save(tmp_path / "X32.npy", X32)
    gm = make()
    getattr(gm, fit)(X32)
    if fit != "fit_online":  # (which keeps the dtype of its float32 batches)
        assert gm.means_.dtype == np.float64
    seen = []
    rowwise = _mixture_api._MixtureAPI._rowwise

    def spy(self, data, *args, **kwargs):
        seen.append(np.dtype(data.dtype))
        return rowwise(self, data, *args, **kwargs)

    monkeypatch.setattr(_mixture_api._MixtureAPI, "_rowwise", spy)
    for rows in (X32, source(tmp_path / "X32.npy", chunk_rows=30), X):
        gm.predict(rows)
    assert seen == [np.float32, np.float32, np.float64]


@pytest.mark.parametrize("fit_rows", ["float32", "float64"])
@pytest.mark.parametrize("est", [BayesianGaussianMixture, GaussianMixture])
def test_a_loaded_model_scores_float32_rows_as_the_original(est, fit_rows, tmp_path):
    """docs/quickstart.md: the loaded model is bit-identical. The file records the dtype of
    the rows the model was fitted on, so a loaded model scores float32 rows in the kernels
    the original used (a BayesianGaussianMixture fitted on float32 rows has float64
    parameters: from those alone, its copy would score them in float64)."""
    import fastem

    X32 = (X + 100.0).astype(np.float32)
    gm = est(n_components=2, random_state=0, max_iter=5).fit(X32.astype(fit_rows))
    fastem.save(gm, tmp_path / "m.npz")
    back = fastem.load(tmp_path / "m.npz")
    for method in ("predict_proba", "score_samples"):
        np.testing.assert_array_equal(getattr(back, method)(X32), getattr(gm, method)(X32))


@pytest.mark.parametrize("est", [BayesianGaussianMixture, GaussianMixture])
def test_a_model_file_whose_fit_dtype_is_not_a_float_is_refused(est, tmp_path):
    import json

    import fastem

    fastem.save(est(n_components=2, random_state=0, max_iter=5).fit(X), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__metadata__"]))
    assert meta["fitted"]["fit_dtype"] == "float64"
    meta["fitted"]["fit_dtype"] = "int8"
    arrays["__metadata__"] = np.array(json.dumps(meta))
    with open(tmp_path / "bad.npz", "wb") as out:
        np.savez(out, **arrays)
    with pytest.raises(ValueError, match="fitted on is neither float32 nor float64"):
        fastem.load(tmp_path / "bad.npz")


def test_float32_rows_on_a_float64_model_are_widened_chunk_by_chunk():
    """In memory, float32 rows on a float64 model are widened one kernel chunk at a time: the
    same bits as the rows given as float64, without a float64 copy of X (it was made whole:
    25.6 MB here, twice the float32 input)."""

    rng = np.random.default_rng(0)
    X32 = (rng.normal(size=(400_000, 8)) + 100.0).astype(np.float32)
    X64 = X32.astype(np.float64)
    gm = GaussianMixture(4, covariance_type="diag", random_state=0, max_iter=2).fit(X64)
    gm.predict(X32)  # (compiled)
    labels, peak = traced_peak(lambda: gm.predict(X32))
    np.testing.assert_array_equal(labels, gm.predict(X64))
    assert peak < X64.nbytes / 2, peak  # the labels 3.2 MB, a chunk per thread (7 MB)
    for method in ("predict_proba", "score_samples"):
        np.testing.assert_array_equal(getattr(gm, method)(X32), getattr(gm, method)(X64))


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
@pytest.mark.parametrize(
    "params",
    [
        {"n_components": 0},
        {"tol": -1.0},
        {"reg_covar": -1.0},
        {"max_iter": -1},
        {"n_init": 0},
        {"covariance_type": "banana"},
        {"init_params": "banana"},
        {"random_state": -1},
        {"verbose": "a"},
        {"verbose_interval": 0},
        {"warm_start": "yes"},
    ],
    ids=lambda p: next(iter(p)),
)
def test_a_bad_hyper_parameter_raises_scikit_learns_exception(ours, theirs, params):
    """scikit-learn raises InvalidParameterError (a ValueError and a TypeError) for each;
    fastem raised a plain ValueError, which code catching TypeError (or the scikit-learn
    exception) missed."""
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError):
        theirs(**params).fit(X)
    with pytest.raises(InvalidParameterError):
        ours(**params).fit(X)


@pytest.mark.parametrize("ours", [GaussianMixture, BayesianGaussianMixture], ids=["GM", "BGM"])
def test_float32_rows_on_a_float64_model_with_out_equal_the_results_without(ours, tmp_path):
    """``out=`` (an array or a .npy path) of float32 rows on a float64 model: the rows were
    handed to the kernels unwidened, float32 rows with float64 parameters, and Numba failed
    to type the call (a ``TypingError``); they are widened chunk by chunk, as without ``out=``."""
    X32 = (X + 1000.0).astype(np.float32)
    gm = ours(n_components=2, random_state=0, max_iter=5).fit(X32.astype(np.float64))
    for method in ("predict", "predict_proba", "score_samples"):
        expected = getattr(gm, method)(X32)
        into = np.empty_like(expected)
        assert getattr(gm, method)(X32, out=into) is into
        np.testing.assert_array_equal(into, expected)
        path = tmp_path / f"{method}.npy"
        np.testing.assert_array_equal(getattr(gm, method)(X32, out=path), expected)


@pytest.mark.parametrize(
    "weights", [[1 + 1j] * 60, np.ones(60, dtype=complex), np.ones(60) * (1 + 0j), 1 + 0j]
)
def test_complex_sample_weight_is_refused(weights):
    """scikit-learn refuses complex sample weights ('Complex data not supported'); NumPy's cast
    to float64 dropped their imaginary part with only a ComplexWarning, and the fit went on.
    In memory, from a source and on Dask (the same check)."""
    X = np.random.default_rng(0).normal(size=(60, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning either
        with pytest.raises(ValueError, match="Complex data not supported"):
            GaussianMixture(2, random_state=0).fit(X, sample_weight=weights)
        # (a complex constant, from a source: 'must be a 1-D array of numbers, a source...')
        with pytest.raises(ValueError, match="Complex data not supported|1-D array of numbers"):
            GaussianMixture(2, random_state=0).fit(fastem.source(X), sample_weight=weights)


@pytest.mark.parametrize("ours, theirs", ESTIMATORS, ids=["GM", "BGM"])
def test_big_endian_float32_rows_on_a_float32_model_are_scored_in_float32(ours, theirs):
    """scikit-learn scores big-endian float32 rows with a float32-fitted model in float32; they
    were widened to float64 (results float64, and the float64 kernels compiled) as other
    non-native arrays are. They are now the native float32 rows they hold."""
    X32 = X.astype(np.float32)
    kw = dict(n_components=2, random_state=0, max_iter=5)
    gm, sk = ours(**kw).fit(X32), theirs(**kw).fit(X32)
    Xbe = X32.astype(">f4")
    for method in ("predict", "predict_proba", "score_samples"):
        got = getattr(gm, method)(Xbe)
        assert got.dtype == getattr(sk, method)(Xbe).dtype, method
        np.testing.assert_array_equal(got, getattr(gm, method)(X32))
