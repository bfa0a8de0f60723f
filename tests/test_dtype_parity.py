"""Drop-in parity of output dtypes and of a large ``reg_covar`` with scikit-learn.

scikit-learn keeps float32 input float32 end to end: the fitted parameters, ``score_samples``
and ``predict_proba`` (``sample`` is float64 either way). fastem accumulates the statistics in
float64 and casts the results at the end, so the values are those of a float64 EM on the
float32 rows, rounded once.
"""

import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastem
from fastem import GaussianMixture

from .conftest import COVARIANCE_TYPES, blobs, rel_err, sklearn_start

PARAMS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def _start(X, covariance_type, dtype=np.float32):
    init = sklearn_start(X.astype(np.float64), 3, covariance_type)
    return {k: v.astype(dtype) for k, v in init.items()}


def _pair(X, covariance_type, init_dtype=np.float32, **kw):
    init = _start(X, covariance_type, init_dtype)
    common = dict(covariance_type=covariance_type, tol=0, max_iter=10, **init, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGaussianMixture(3, random_state=0, **common).fit(X)
        fe = GaussianMixture(3, random_state=0, **common).fit(X)
    return sk, fe


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_in_float32_out_like_sklearn(covariance_type):
    X = blobs(3000, 3, 3, seed=21, dtype=np.float32)
    sk, fe = _pair(X, covariance_type)
    for name in PARAMS:
        assert getattr(fe, name).dtype == getattr(sk, name).dtype == np.float32, name
    for method in ("score_samples", "predict_proba"):
        ours, theirs = getattr(fe, method)(X), getattr(sk, method)(X)
        assert ours.dtype == theirs.dtype == np.float32, method
    assert fe.predict(X).dtype == sk.predict(X).dtype
    assert fe.sample(5)[0].dtype == sk.sample(5)[0].dtype == np.float64
    # the values: float64 statistics (only the log-densities are formed in float32), so
    # close to a float64 EM on the same rows, rounded once at the end
    ref = GaussianMixture(**fe.get_params()).fit(X.astype(np.float64))
    for name in PARAMS:
        assert getattr(ref, name).dtype == np.float64
        assert rel_err(getattr(fe, name), getattr(ref, name)) < 1e-5, name
        # scikit-learn's float32 EM rounds at every step; the two agree to float32 accuracy
        assert rel_err(getattr(fe, name), getattr(sk, name)) < 1e-3, name
    np.testing.assert_allclose(fe.score_samples(X), sk.score_samples(X), rtol=1e-3)
    np.testing.assert_allclose(fe.score_samples(X), ref.score_samples(X.astype(float)), rtol=1e-5)
    np.testing.assert_allclose(fe.predict_proba(X), ref.predict_proba(X.astype(float)), atol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float64_initial_parameters_promote(covariance_type):
    """A float64 weights_init, means_init or precisions_init (or a list) gives float64 results.

    scikit-learn promotes its responsibilities, and so every result, for 'diag' and
    'spherical'; for 'full' and 'tied' some of its attributes stay float32 by accident of its
    code (means_init alone promotes nothing there, and 'full' covariances stay float32).
    fastem's rule is the same for every covariance type: float32 results need float32 data
    and float32 initial parameters; the test compares with scikit-learn where it is uniform.
    """
    X = blobs(600, 3, 3, seed=25, dtype=np.float32)
    for name in ("weights_init", "means_init", "precisions_init"):
        init = _start(X, covariance_type)
        init[name] = init[name].astype(np.float64)
        if name == "weights_init":
            init[name] /= init[name].sum()  # float64 sums must meet 1e-8
        for given in (init[name], init[name].tolist()):
            kw = dict(covariance_type=covariance_type, max_iter=3, **{**init, name: given})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sk = SkGaussianMixture(3, **kw).fit(X)
                fe = GaussianMixture(3, **kw).fit(X)
            for attr in PARAMS:
                assert getattr(fe, attr).dtype == np.float64
            assert fe.predict_proba(X).dtype == fe.score_samples(X).dtype == np.float64
            if covariance_type in ("diag", "spherical"):
                for attr in PARAMS:
                    assert getattr(sk, attr).dtype == np.float64
                assert sk.predict_proba(X).dtype == np.float64


@pytest.mark.parametrize(
    "x_dtype, model_dtype", [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_mixed_dtypes_give_float64_like_sklearn(x_dtype, model_dtype):
    """A float32 result needs both the rows and the model in float32 (NumPy's promotion)."""
    X = blobs(600, 2, 3, seed=22)
    sk = SkGaussianMixture(3, random_state=0).fit(X.astype(model_dtype))
    fe = GaussianMixture(3, random_state=0).fit(X.astype(model_dtype))
    for method in ("score_samples", "predict_proba"):
        ours = getattr(fe, method)(X.astype(x_dtype))
        assert ours.dtype == getattr(sk, method)(X.astype(x_dtype)).dtype == np.float64


def test_float32_model_round_trips_through_a_model_file(tmp_path):
    X = blobs(600, 3, 3, seed=23, dtype=np.float32)
    fe = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    fastem.save(fe, tmp_path / "m.npz")
    back = fastem.load(tmp_path / "m.npz")
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(back, name), getattr(fe, name))
        assert getattr(back, name).dtype == np.float32, name  # loads as it was saved
    assert back.score_samples(X).dtype == np.float32
    f64 = GaussianMixture(3, covariance_type="full", random_state=0).fit(X.astype(np.float64))
    fastem.save(f64, tmp_path / "m64.npz")
    assert fastem.load(tmp_path / "m64.npz").means_.dtype == np.float64


def test_float32_dask_and_source_keep_float32(tmp_path):
    da = pytest.importorskip("dask.array")
    X = blobs(4000, 3, 3, seed=24, dtype=np.float32)
    kw = dict(tol=0, max_iter=5, **_start(X, "full"))
    mem = GaussianMixture(3, **kw).fit(X)
    np.save(tmp_path / "x.npy", X)
    for data in (da.from_array(X, chunks=(1000, 3)), fastem.source(tmp_path / "x.npy")):
        fe = GaussianMixture(3, **kw).fit(data)
        for name in PARAMS:
            assert getattr(fe, name).dtype == np.float32
            np.testing.assert_allclose(getattr(fe, name), getattr(mem, name), rtol=1e-6)


def test_out_files_have_the_dtype_of_the_returned_results(tmp_path):
    """predict_proba and score_samples with out= a .npy path write what they return without
    out= (float32 for a float32 model on float32 rows; the file was float64), for in-memory
    rows and a source; float64 where either is float64."""
    X = blobs(3000, 3, 3, seed=25, dtype=np.float32)
    np.save(tmp_path / "x.npy", X)
    f32 = GaussianMixture(3, tol=0, max_iter=5, **_start(X, "full")).fit(X)
    f64 = GaussianMixture(3, tol=0, max_iter=5, **_start(X, "full", np.float64)).fit(X)
    assert f32.means_.dtype == np.float32 and f64.means_.dtype == np.float64
    for model, want in ((f32, np.float32), (f64, np.float64)):
        for data in (X, fastem.source(tmp_path / "x.npy", chunk_rows=700)):
            for method in ("predict_proba", "score_samples"):
                ref = getattr(model, method)(X)
                assert ref.dtype == want
                got = getattr(model, method)(data, out=tmp_path / f"{method}.npy")
                assert got.dtype == want, (method, type(data))
                np.testing.assert_array_equal(got, ref)
                assert np.load(tmp_path / f"{method}.npy").dtype == want


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_large_reg_covar_warns_and_fits_like_sklearn(covariance_type):
    """scikit-learn's users regularize with a large reg_covar on purpose: warn, fit the same."""
    X = np.random.RandomState(0).rand(200, 2)  # feature variances about 0.08
    init = sklearn_start(X, 2, covariance_type)
    common = dict(covariance_type=covariance_type, reg_covar=0.1, tol=0, max_iter=20, **init)
    sk = SkGaussianMixture(2, **common).fit(X)
    fe = GaussianMixture(2, **common).fit(X)  # all given: no initialization from the data
    # initialized from the data, the scale is checked: a warning, and scikit-learn's fit
    kw = dict(covariance_type=covariance_type, reg_covar=0.1, random_state=0, tol=0, max_iter=5)
    with pytest.warns(fastem.RegularizationWarning, match=r"reg_covar=0\.1 .* feature \d"):
        GaussianMixture(2, init_params="random_from_data", **kw).fit(X)
    sk_random = SkGaussianMixture(2, init_params="random_from_data", **kw).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.RegularizationWarning)
        fe_random = GaussianMixture(2, init_params="random_from_data", **kw).fit(X)
    if covariance_type != "tied":
        # (for 'tied', scikit-learn's start from one-hot rows differs: its tied covariance
        # takes X^T X over every row, as if all responsibilities summed to one)
        assert rel_err(fe_random.means_, sk_random.means_) < 1e-7
    for name in PARAMS:
        assert rel_err(getattr(fe, name), getattr(sk, name)) < 1e-7, name
    with warnings.catch_warnings():
        warnings.simplefilter("error", fastem.RegularizationWarning)
        GaussianMixture(2, **{**kw, "reg_covar": 1e-4}).fit(X)  # no warning
