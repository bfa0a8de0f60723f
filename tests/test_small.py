"""Small inputs run in NumPy (``fastem._small``): the same answers, no compiler.

Each NumPy pass is compared with the compiled kernel on the same input (the
kernels themselves are pinned to a naive reference in ``test_kernels.py``),
and the estimator on its default path is compared with scikit-learn from the
same start. ``python -m fastem`` on an empty Numba cache must not even import
Numba.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastem
from fastem import _init, _small
from fastem._passes import ArrayData, array_rowwise, array_stats
from fastem._stats import kernel_params

from .conftest import blobs, rel_err, sklearn_start
from .test_kernels import LAYOUTS, _problem

ROOT = Path(__file__).resolve().parents[1]


def _both(params):
    """The same parameters for the NumPy pass and for the kernel."""
    from dataclasses import replace

    return replace(params, small=True), replace(params, small=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", LAYOUTS)
def test_numpy_pass_equals_the_kernel(cov, dtype):
    X, p = _problem(cov, 3000, 5, 4, dtype, seed=3)
    small, kern = _both(p)
    rng = np.random.default_rng(1)
    w = rng.uniform(0, 3, len(X))
    labels = np.where(rng.uniform(size=len(X)) < 0.1, rng.integers(0, 4, len(X)), -1)
    tol = 1e-11 if dtype == np.float64 else 2e-5  # float32 log-densities: other rounding
    for args in ((None, None), (w, None), (w, labels), (None, labels)):
        a, b = array_stats(X, *args, small, 2), array_stats(X, *args, kern, 2)
        for name in ("nk", "s1", "s2"):
            scale = np.abs(getattr(b, name)).max()
            assert np.abs(getattr(a, name) - getattr(b, name)).max() <= tol * scale, name
        assert a.loglik == pytest.approx(b.loglik, rel=tol)
        assert a.wsum == pytest.approx(b.wsum, rel=1e-14)
        assert a.n_rows == b.n_rows and a.s2.shape == b.s2.shape
    ra = array_rowwise(X, small, 2, logprob=True, resp=True, labels=True)
    rb = array_rowwise(X, kern, 2, logprob=True, resp=True, labels=True)
    np.testing.assert_allclose(ra[0], rb[0], rtol=tol)
    np.testing.assert_allclose(ra[1], rb[1], rtol=tol, atol=tol)
    agree = np.mean(ra[2] == rb[2])
    assert agree == 1.0 if dtype == np.float64 else agree > 0.999
    assert [r.dtype for r in ra] == [r.dtype for r in rb]


def test_numpy_pass_zero_weight_component_and_far_rows():
    X, p = _problem("full", 500, 3, 3, np.float64, weights=np.array([0.5, 0.0, 0.5]))
    small, kern = _both(p)
    st = array_stats(X, None, None, small, 1)
    assert st.nk[1] == 0.0 and np.isfinite(st.loglik)
    far = np.full((2, 3), 1e9)  # log-densities near -1e18: log-sum-exp keeps them finite
    a, b = (array_rowwise(far, q, 1, logprob=True, resp=True, labels=True) for q in (small, kern))
    np.testing.assert_allclose(a[0], b[0], rtol=1e-14)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    assert np.all(a[1][:, 1] == 0) and np.all(a[1].sum(axis=1) == 1)


def test_one_feature_full_covariance():
    X = blobs(300, 1, 2, seed=2)
    gm = fastem.GaussianMixture(2, random_state=0).fit(X)
    st = array_stats(X, None, None, gm._fitted_kernel_params(ArrayData(X)), 1)
    assert st.s2.shape == (2, 1, 1)


def test_kmeans_in_numpy_equals_the_kernels():
    X = blobs(2000, 3, 4, seed=4)
    w = np.random.default_rng(0).uniform(0.5, 2, len(X))
    results = []
    for work in (0, 1 << 30):  # kernels, then NumPy
        old, _small.SMALL_WORK = _small.SMALL_WORK, work
        try:
            rng = np.random.RandomState(0)
            seeds = _init.kmeans_plusplus(X, w, 4, rng)
            centers, labels = _init.lloyd(X, w, X[seeds], None)
            results.append((seeds, centers, labels))
        finally:
            _small.SMALL_WORK = old
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)
    np.testing.assert_array_equal(results[0][2], results[1][2])


@pytest.mark.numpy_passes
@pytest.mark.parametrize("cov", LAYOUTS)
def test_default_path_equals_sklearn_and_the_kernels(cov):
    X = blobs(600, 3, 3, seed=5)
    assert _small.is_small(len(X), 3, 3)
    init = sklearn_start(X, 3, cov)
    kw = dict(covariance_type=cov, max_iter=30, tol=0, **init)
    ours = fastem.GaussianMixture(3, **kw).fit(X)
    sk = SkGaussianMixture(3, **kw).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        assert rel_err(getattr(ours, name), getattr(sk, name)) < 1e-8
    old, _small.SMALL_WORK = _small.SMALL_WORK, 0
    try:
        kern = fastem.GaussianMixture(3, **kw).fit(X)
    finally:
        _small.SMALL_WORK = old
    for name in ("weights_", "means_", "covariances_"):
        assert rel_err(getattr(ours, name), getattr(kern, name)) < 1e-10
    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-10)


@pytest.mark.numpy_passes
def test_the_path_is_a_function_of_the_size_only():
    assert _small.is_small(272, 5, 2)
    assert not _small.is_small(1_000_000, 8, 8)
    assert not _small.is_small(None, 2, 2)  # a stream of unknown length: the kernels
    n = _small.SMALL_WORK // (4 * 2)
    assert _small.is_small(n, 4, 2) and not _small.is_small(n + 1, 4, 2)
    X = blobs(300, 2, 2, seed=1)
    a = fastem.GaussianMixture(2, random_state=0).fit(X)
    b = fastem.GaussianMixture(2, random_state=0).fit(X)
    assert np.array_equal(a.means_, b.means_)
    params = a._fitted_kernel_params(ArrayData(X))
    assert params.small
    assert (
        kernel_params(a.weights_, a.means_, a.precisions_cholesky_, "full", X.dtype).small is False
    )


@pytest.mark.numpy_passes
def test_python_m_fastem_never_starts_the_compiler(tmp_path):
    """The README's first command on a new machine: no Numba import, no cache written."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("FASTEM_SMALL_WORK", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    code = (
        "import sys, runpy\n"
        "sys.argv = ['fastem']\n"
        "try:\n    runpy.run_module('fastem', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('numba loaded:', 'numba' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "Old Faithful" in out and "BIC" in out
    assert "numba loaded: False" in out
    # and its timing line says so (it claimed "includes compilation" for a NumPy fit)
    assert "(in NumPy, nothing to compile)" in out
    cached = list((tmp_path / "cache").rglob("*.nbi")) if (tmp_path / "cache").exists() else []
    assert cached == []


@pytest.mark.numpy_passes
def test_small_streamed_passes_never_read_in_the_kernels(tmp_path, monkeypatch):
    """fit, score_samples and score of a small .npy source all take the NumPy path."""
    from fastem import _direct

    X = blobs(600, 3, 3, seed=8)
    np.save(tmp_path / "X.npy", X)
    src = fastem.source(tmp_path / "X.npy", chunk_rows=1000)

    def no_kernel(*args, **kw):
        raise AssertionError("a small input reached the in-kernel reads")

    monkeypatch.setattr(_direct, "stats", no_kernel)
    monkeypatch.setattr(_direct, "iter_rowwise", no_kernel)
    gm = fastem.GaussianMixture(3, random_state=0).fit(src)
    assert gm.score(src) == pytest.approx(gm.score(X), rel=1e-14)
    np.testing.assert_allclose(gm.score_samples(src), gm.score_samples(X), rtol=1e-14)


@pytest.mark.numpy_passes
@pytest.mark.parametrize(("value", "work", "small"), [("0", 0, False), ("4000", 4000, True)])
def test_fastem_small_work_moves_the_threshold(value, work, small):
    """docs/cold_start.md: the environment variable FASTEM_SMALL_WORK moves the threshold
    (0: always the kernels); Old Faithful (272 x 2, K = 2: 1,088) is small by default."""
    env = dict(os.environ, FASTEM_SMALL_WORK=value)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    code = "from fastem import _small\nprint(_small.SMALL_WORK, _small.is_small(272, 2, 2))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(work), str(small)]
    env.pop("FASTEM_SMALL_WORK")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(1 << 20), "True"]


@pytest.mark.parametrize("widen_rows", [7, 4096])
def test_kmeans_kernels_on_float32_rows_equal_their_float64_copy(widen_rows, monkeypatch):
    """The k-means kernels are float64 only: float32 rows reach them widened, a few
    thousand at a time (``_init.rows64``: memory bounded). Widening is exact and the
    pieces are added in row order, so the seeds, centres and labels are those of the
    float64 copy of the same data, bit for bit, however the rows are cut."""
    X = blobs(3000, 5, 4, seed=7).astype(np.float32)
    w = np.random.default_rng(1).uniform(0.5, 2, len(X))
    monkeypatch.setattr(_small, "SMALL_WORK", 0)
    monkeypatch.setattr(_init, "WIDEN_ROWS", widen_rows)
    results = []
    for data in (X, X.astype(np.float64)):
        rng = np.random.RandomState(0)
        seeds = _init.kmeans_plusplus(data, w, 4, rng, 2)
        centers, labels = _init.lloyd(data, w, data[seeds].astype(np.float64), 2)
        results.append((seeds, centers, labels))
    for got, want in zip(results[0], results[1]):
        np.testing.assert_array_equal(got, want)
