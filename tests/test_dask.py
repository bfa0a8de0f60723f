"""Exact distributed EM on Dask arrays: threaded scheduler and a LocalCluster of processes."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastem.dask as fdask  # noqa: E402
from fastem import (  # noqa: E402
    BayesianGaussianMixture,
    DegenerateComponentWarning,
    GaussianMixture,
)

COV_TYPES = ["full", "tied", "diag", "spherical"]
ROOT = str(Path(__file__).resolve().parents[1])
RTOL = 1e-10


@pytest.fixture(scope="module")
def cluster_client():
    """A real LocalCluster: 2 worker processes x 1 thread on 127.0.0.1, no dashboard."""
    # Spawned workers inherit the environment: make sure they import this fastem.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = ROOT + (os.pathsep + old if old else "")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@pytest.fixture
def on_cluster(cluster_client):
    """Make the cluster the scheduler of dask.compute for one test."""
    with cluster_client.as_current(), dask.config.set(scheduler=cluster_client):
        yield cluster_client


def _data(n=1800, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X = np.vstack(
        [
            rng.normal(0, 1, (n // 3, 3)),
            rng.normal(4, 1.5, (n // 3, 3)) + [0, 2, 0],
            rng.normal(-3, 0.5, (n - 2 * (n // 3), 3)),
        ]
    )
    return X.astype(dtype)


def _init(cov_type):
    """Fixed initial parameters for 3 components of 3 features."""
    means = np.array([[0.5, 0.0, 0.0], [3.0, 5.0, 4.0], [-2.0, -2.0, -3.0]])
    weights = np.array([0.3, 0.3, 0.4])
    prec = {
        "full": np.stack([np.eye(3) * 0.5, np.eye(3) + 0.1, np.eye(3) * 2.0]),
        "tied": np.eye(3) * 0.7,
        "diag": np.array([[1.0, 0.5, 2.0], [0.4, 0.4, 0.4], [2.0, 1.0, 1.0]]),
        "spherical": np.array([1.0, 0.5, 2.0]),
    }[cov_type]
    return dict(weights_init=weights, means_init=means, precisions_init=prec)


def _gm(cov_type, **kw):
    kw = {"tol": 1e-8, "max_iter": 30, "random_state": 0, **kw}
    return GaussianMixture(n_components=3, covariance_type=cov_type, **kw)


def _assert_same_fit(a, b, rtol=RTOL):
    assert a.n_iter_ == b.n_iter_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(y, x, rtol=rtol, atol=rtol * np.abs(x).max(), err_msg=name)
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=rtol)


def _check_rowwise(a, b, X, dX):
    labels = b.predict(dX)
    assert isinstance(labels, da.Array) and labels.chunks == (dX.chunks[0],)
    np.testing.assert_array_equal(labels.compute(), a.predict(X))
    proba = b.predict_proba(dX)
    assert isinstance(proba, da.Array) and proba.chunks == (dX.chunks[0], (3,))
    np.testing.assert_allclose(proba.compute(), a.predict_proba(X), rtol=1e-9, atol=1e-12)
    lp = b.score_samples(dX)
    assert isinstance(lp, da.Array)
    np.testing.assert_allclose(lp.compute(), a.score_samples(X), rtol=1e-9)
    assert b.score(dX) == pytest.approx(a.score(X), rel=1e-9)


# ------------------------------------------------------------- threaded scheduler


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_threaded_equals_in_memory(cov_type):
    X = _data()
    dX = da.from_array(X, chunks=(500, 3))  # uneven last block
    a = _gm(cov_type, **_init(cov_type)).fit(X)
    with dask.config.set(scheduler="threads", num_workers=4):
        b = _gm(cov_type, **_init(cov_type)).fit(dX)
        _assert_same_fit(a, b)
        _check_rowwise(a, b, X, dX)


def test_threaded_float32_and_column_chunks():
    X = _data(dtype=np.float32)
    dX = da.from_array(X, chunks=(400, 2))  # blocks split columns: rechunked to all columns
    a = _gm("full", **_init("full")).fit(X)
    with dask.config.set(scheduler="threads"):
        b = _gm("full", **_init("full")).fit(dX)
    _assert_same_fit(a, b)
    assert b.score_samples(dX).dtype == np.float64


def test_kmeans_init_from_all_blocks_equals_in_memory():
    """Below INIT_SAMPLE_ROWS the init sample is every row: the same fit as in memory."""
    X = _data()
    a = _gm("full").fit(X)
    b = _gm("full").fit(da.from_array(X, chunks=(700, 3)))
    _assert_same_fit(a, b)


def test_sample_weight_threaded():
    X = _data()
    w = np.random.RandomState(1).uniform(0.1, 3.0, X.shape[0])
    dX = da.from_array(X, chunks=(500, 3))
    dw = da.from_array(w, chunks=333)  # not aligned: rechunked to X's rows
    a = _gm("diag", **_init("diag")).fit(X, sample_weight=w)
    b = _gm("diag", **_init("diag")).fit(dX, sample_weight=dw)
    _assert_same_fit(a, b)
    c = _gm("diag", **_init("diag")).fit(dX, sample_weight=w)  # numpy weights too
    _assert_same_fit(a, c)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_blocks_are_persisted_not_recomputed():
    X = _data()
    calls = []

    def source(block):
        if block.shape[0]:  # not dask's meta inference
            calls.append(block.shape[0])
        return block

    dX = da.from_array(X, chunks=(600, 3)).map_blocks(source, dtype=X.dtype)
    with dask.config.set(scheduler="threads"):
        gm = _gm("tied", tol=0.0, max_iter=5, **_init("tied")).fit(dX)
    assert gm.n_iter_ == 5
    assert len(calls) == 3  # each block produced once, for 5 passes


def test_sample_for_init_draws_from_blocks():
    X = _data(n=3000)
    w = np.arange(3000, dtype=np.float64)
    data = fdask.DaskData(da.from_array(X, chunks=(700, 3)), w)
    init = data.sample_for_init(500, np.random.RandomState(0))
    assert init.X.shape == (500, 3) and init.X.flags.c_contiguous
    rows = init.sample_weight.astype(int)  # the weights are the row indices
    assert np.unique(rows).shape[0] == 500 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(init.X, X[rows])
    assert len(np.unique(rows // 700)) == 5  # every block contributes


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_many_threads_serial_kernels_no_abort():
    """Tasks only run serial nogil kernels: concurrent threads never hit Numba's threading layer."""
    X = _data(n=6000)
    dX = da.from_array(X, chunks=(250, 3))
    with dask.config.set(scheduler="threads", num_workers=8):
        gm = _gm("full", max_iter=3, tol=0.0, **_init("full")).fit(dX)
        labels = gm.predict(dX).compute()
    assert labels.shape == (6000,)


# ------------------------------------------------------------------- validation


def test_nan_block_is_named():
    X = _data()
    X[1234, 1] = np.nan
    msg = r"block 2 \(rows 1000:1500\) of X contains NaN at row 1234, column 1; remove or impute"
    with pytest.raises(ValueError, match=msg):
        GaussianMixture(2).fit(da.from_array(X, chunks=(500, 3)))
    gm = GaussianMixture(2, random_state=0).fit(_data())
    with pytest.raises(ValueError, match="block 2 .* contains NaN"):
        gm.predict(da.from_array(X, chunks=(500, 3))).compute()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: da.ones(10, chunks=5), "2-D"),
        (lambda: da.ones((10, 2), chunks=5, dtype=complex), "real numbers"),
        (lambda: da.ones((10, 2), chunks=5)[da.arange(10, chunks=5) > 3], "unknown chunk"),
        (lambda: da.ones((1, 2), chunks=5), "minimum of 2 is required"),
        (lambda: da.ones((10, 0), chunks=5), "at least one row and one column"),
    ],
)
def test_invalid_input(make, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(make())


def test_one_row_is_refused_as_in_memory():
    """One row and one component: the in-memory refusal. The Dask fit said "Expected
    n_samples >= n_components but got n_components = 1, n_samples = 1", which holds."""
    for est in (GaussianMixture(1), BayesianGaussianMixture(n_components=1)):
        with pytest.raises(ValueError) as mem:
            est.fit(np.ones((1, 2)))
        with pytest.raises(ValueError, match=re.escape(str(mem.value))):
            est.fit(da.ones((1, 2), chunks=1))
    with pytest.raises(ValueError, match="n_components = 3, n_samples = 2"):
        GaussianMixture(3).fit(da.ones((2, 2), chunks=1))


def test_no_rows_to_predict_is_refused_as_in_memory():
    gm = GaussianMixture(2, random_state=0).fit(_data())
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match="0 sample"):
            getattr(gm, method)(np.ones((0, 3)))
        with pytest.raises(ValueError, match="at least one row"):
            getattr(gm, method)(da.ones((0, 3), chunks=5))


def test_invalid_weights_and_features():
    dX = da.from_array(_data(), chunks=(500, 3))
    with pytest.raises(ValueError, match="shape"):
        GaussianMixture(2).fit(dX, sample_weight=da.ones(5, chunks=5))
    bad = -da.ones(dX.shape[0], chunks=500)
    with pytest.raises(ValueError, match="sample_weight contains negative"):
        GaussianMixture(2).fit(dX, sample_weight=bad)
    nan_w = da.from_array(np.where(np.arange(dX.shape[0]) == 777, np.nan, 1.0), chunks=500)
    with pytest.raises(ValueError, match="block 1 .* of sample_weight contains NaN at row 777;"):
        GaussianMixture(2).fit(dX, sample_weight=nan_w)
    with pytest.raises(ValueError, match="sums to zero"):
        GaussianMixture(2).fit(dX, sample_weight=da.zeros(dX.shape[0], chunks=500))
    # the weights' range, as in memory (one huge weight gave an unrelated message about a
    # feature's variance; uniform 1e120 or 1e-300 were accepted)
    one_huge = np.ones(dX.shape[0])
    one_huge[7] = 1e300
    for w in (one_huge, np.full(dX.shape[0], 1e120), np.full(dX.shape[0], 1e-300)):
        for given in (w, da.from_array(w, chunks=500)):
            with pytest.raises(ValueError, match="Only the ratios of the weights matter"):
                GaussianMixture(2).fit(dX, sample_weight=given)
    gm = GaussianMixture(2, random_state=0).fit(dX)
    assert gm.n_features_in_ == 3
    with pytest.raises(ValueError, match="expecting 3 features"):
        gm.predict(da.ones((4, 2), chunks=2))


def test_import_fastem_does_not_import_dask():
    code = "import sys, fastem; print('dask' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        check=True,
    )
    assert out.stdout.strip() == "False"


# ------------------------------------------------------ LocalCluster of processes


def _worker_state():
    import numba

    try:
        layer = numba.threading_layer()  # raises until a parallel kernel has run
    except ValueError:
        layer = None
    return layer, os.environ.get("OPENBLAS_NUM_THREADS"), os.environ.get("OMP_NUM_THREADS")


def test_cluster_workers_run_serial_kernels_only(on_cluster, monkeypatch):
    info = on_cluster.scheduler_info()
    assert len(info["workers"]) == 2
    assert {w["host"] for w in info["workers"].values()} == {"127.0.0.1"}
    assert fdask._distributed_client() is on_cluster
    X = _data()
    dX = da.from_array(X, chunks=(450, 3))
    a = _gm("full", **_init("full")).fit(X)
    # force the scatter path too: parameters broadcast to both workers
    monkeypatch.setattr(fdask, "SCATTER_BYTES", 0)
    b = _gm("full", **_init("full")).fit(dX)
    _assert_same_fit(a, b)
    # no worker ever started Numba's threading layer, and BLAS is single-threaded:
    # one core per task, no oversubscription
    states = on_cluster.run(_worker_state)
    assert set(states.values()) == {(None, "1", "1")}


def test_cluster_large_parameters_are_broadcast_to_every_worker(on_cluster, monkeypatch):
    """dask.md: "parameters over fastem.dask.SCATTER_BYTES (1 MiB) are instead scattered with
    broadcast=True, and the block tasks get a future"; smaller ones are not scattered."""
    scattered = []
    scatter = on_cluster.scatter

    def spy(data, **kwargs):
        future = scatter(data, **kwargs)
        scattered.append(len(on_cluster.who_has([future])[future.key]))
        return future

    monkeypatch.setattr(on_cluster, "scatter", spy)
    dX = da.from_array(_data(), chunks=(450, 3))
    kw = dict(tol=0.0, max_iter=3, **_init("full"))
    with pytest.warns(ConvergenceWarning):
        _gm("full", **kw).fit(dX)
    assert scattered == []  # 3 x 3 parameters: one key of the graph
    monkeypatch.setattr(fdask, "SCATTER_BYTES", 0)
    with pytest.warns(ConvergenceWarning):
        gm = _gm("full", **kw).fit(dX)
    assert scattered == [2] * gm.n_iter_  # every pass (one per iteration), to both workers


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_cluster_equals_in_memory(on_cluster, cov_type):
    X = _data()
    w = np.random.RandomState(2).uniform(0.5, 2.0, X.shape[0])
    dX = da.from_array(X, chunks=(450, 3))
    dw = da.from_array(w, chunks=450)
    a = _gm(cov_type, **_init(cov_type)).fit(X, sample_weight=w)
    b = _gm(cov_type, **_init(cov_type)).fit(dX, sample_weight=dw)
    _assert_same_fit(a, b)
    _check_rowwise(a, b, X, dX)


@pytest.mark.parametrize("init", ["kmeans", "random_from_data"])
def test_cluster_start_above_the_client_sample_equals_in_memory(on_cluster, init, monkeypatch):
    """More rows than the client sample (lowered): the worker processes take the k-means
    sample's rows from their blocks and map the assignment (fastem._dask_init)."""
    import fastem._init

    monkeypatch.setattr(fdask, "INIT_SAMPLE_ROWS", 500)
    monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 700)
    X = _data()
    kw = dict(init_params=init, max_iter=0)
    a = _gm("full", **kw).fit(X)
    b = _gm("full", **kw).fit(da.from_array(X, chunks=(450, 3)))
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-11)


def test_cluster_nan_error_names_block(on_cluster):
    X = _data()
    X[10, 0] = np.inf
    with pytest.raises(
        ValueError, match=r"block 0 \(rows 0:450\) of X contains infinity at row 10"
    ):
        GaussianMixture(2).fit(da.from_array(X, chunks=(450, 3)))


def test_n_init_warm_start_fit_predict_and_criteria():
    X = _data()
    dX = da.from_array(X, chunks=(500, 3))
    a = _gm("spherical", n_init=2).fit(X)
    b = _gm("spherical", n_init=2).fit(dX)
    _assert_same_fit(a, b)
    assert b.bic(dX) == pytest.approx(a.bic(X), rel=1e-9)
    assert b.aic(dX) == pytest.approx(a.aic(X), rel=1e-9)
    w = np.linspace(0.5, 1.5, X.shape[0])
    assert b.score(dX, sample_weight=da.from_array(w, chunks=500)) == pytest.approx(
        a.score(X, sample_weight=w), rel=1e-9
    )
    labels = _gm("spherical").fit_predict(dX)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), _gm("spherical").fit_predict(X))
    a.set_params(warm_start=True, max_iter=3).fit(X)
    b.set_params(warm_start=True, max_iter=3).fit(dX)
    _assert_same_fit(a, b)


def test_empty_component_reseeded_like_in_memory():
    X = _data()
    means = np.array([X[0], X[700], X.mean(0) + 1e4])  # the third mean sees no data
    kw = dict(means_init=means, max_iter=100)
    with pytest.warns(DegenerateComponentWarning, match="re-seeded"):
        a = _gm("full", **kw).fit(X)
    with pytest.warns(DegenerateComponentWarning, match="re-seeded"):
        b = _gm("full", **kw).fit(da.from_array(X, chunks=(500, 3)))
    # The re-seeded component has a tiny spread (precision Cholesky entries ~800):
    # block-wise vs chunk-wise summation order differs in the last bits, and the
    # M-step amplifies it to ~1e-9 relative there.
    _assert_same_fit(a, b, rtol=1e-8)


def test_reseed_sample_of_large_array_is_fixed_and_kept():
    X = _data(n=3000)
    data = fdask.DaskData(da.from_array(X, chunks=(700, 3)))
    first = data.sample_for_init(400, None)
    assert first.X.shape == (400, 3)
    assert data.sample_for_init(400, None) is first  # kept: no second read
    drawn = data.sample_for_init(400, np.random.RandomState(5))
    assert drawn is not first and not np.array_equal(drawn.X, first.X)


def test_checkpoint_resume_on_dask(tmp_path):
    X = _data()
    dX = da.from_array(X, chunks=(500, 3))
    ckpt = tmp_path / "c.npz"
    a = _gm("diag", n_init=2).fit(dX, checkpoint=ckpt)
    again = _gm("diag", n_init=2).fit(da.from_array(X, chunks=(300, 3)), checkpoint=ckpt)
    np.testing.assert_array_equal(again.means_, a.means_)  # done: returned, not refitted
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        _gm("diag", n_init=2).fit(dX + 1, checkpoint=ckpt)


@pytest.mark.parametrize("change", ["last row", "one weight"])
def test_dask_checkpoint_refuses_a_change_in_any_row_or_weight(tmp_path, monkeypatch, change):
    """robustness.md: the fingerprint covers "every row of a Dask array", with the weights -
    also a row past the first hashed block (8 MB of rows; 1 kB here) and one weight."""
    monkeypatch.setattr("fastem.dask._DIGEST_BYTES", 1024)  # 1,800 rows: 43 hashed blocks
    X = _data()
    w = np.ones(len(X))
    ckpt = tmp_path / "c.npz"
    kw = dict(max_iter=3)
    _gm("diag", **kw).fit(da.from_array(X, chunks=(500, 3)), sample_weight=w, checkpoint=ckpt)
    Y, v = X.copy(), w.copy()
    if change == "last row":
        Y[-1, 2] += 1e-9
    else:
        v[-1] = 2.0
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        _gm("diag", **kw).fit(da.from_array(Y, chunks=(500, 3)), sample_weight=v, checkpoint=ckpt)


def test_empty_blocks_fit_and_predict_like_in_memory():
    """A Dask array may hold blocks of zero rows (boolean indexing, then
    compute_chunk_sizes): they add nothing, and the fit, the predictions and
    the weights' checks ignore them."""
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(0, 1, (30, 2)), rng.normal(6, 1, (30, 2))])
    w = rng.uniform(0.5, 2.0, 60)
    dX = da.from_array(X, chunks=((0, 30, 0, 30), (2,)))
    dw = da.from_array(w, chunks=((0, 30, 0, 30),))
    kw = dict(n_components=2, random_state=0, max_iter=20)
    ref = GaussianMixture(**kw).fit(X, sample_weight=w)
    with dask.config.set(scheduler="synchronous"):
        gm = GaussianMixture(**kw).fit(dX, sample_weight=dw)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12)
        np.testing.assert_array_equal(np.asarray(gm.predict(dX)), ref.predict(X))


def _lying_block(rows, declared):
    """X's first 120 rows as a block computed by a task (``da.from_delayed``) whose declared
    shape is ``declared``, followed by the other rows."""
    X = _data()
    first = da.from_delayed(dask.delayed(lambda: rows(X[:120]))(), shape=declared, dtype=X.dtype)
    return X, da.concatenate([first, da.from_array(X[120:], chunks=(450, 3))])


@pytest.mark.parametrize(
    "rows, declared",
    [
        (lambda b: b[:100], (120, 3)),  # fewer rows than declared
        (lambda b: b, (100, 3)),  # more
        (lambda b: b[:, :2], (120, 3)),  # fewer columns
    ],
    ids=["fewer rows", "more rows", "fewer columns"],
)
def test_a_block_of_another_shape_than_its_chunks_is_refused(rows, declared):
    """A block whose true shape is not the one the array's chunks declare (a wrong shape given
    to da.from_delayed) was fitted silently, on rows the array does not say it has (and
    predict returned 181 labels for an array of 1,800 - declared rows); with weights it
    failed in NumPy's matmul. Now every task that reads the block names it."""
    X, dX = _lying_block(rows, declared)
    got = rows(X[:120]).shape
    msg = re.escape(f"block 0 (rows 0:{declared[0]}) of X has shape {got}, but the Dask array's")
    gm = _gm("full").fit(X)
    with dask.config.set(scheduler="sync"):
        with pytest.raises(ValueError, match=msg):
            _gm("full").fit(dX)
        with pytest.raises(ValueError, match=msg):
            _gm("full").fit(dX, sample_weight=np.ones(dX.shape[0]))
        for method in ("predict", "predict_proba", "score_samples"):
            with pytest.raises(ValueError, match=msg):
                getattr(gm, method)(dX).compute()
        if got[1] == 3:  # the advice given: the true row chunks, then the in-memory answer
            dX.compute_chunk_sizes()
            kept = np.concatenate([rows(X[:120]), X[120:]])
            _assert_same_fit(
                _gm("full", **_init("full")).fit(kept), _gm("full", **_init("full")).fit(dX)
            )


def test_a_weight_block_of_another_length_than_its_chunks_is_refused():
    X = _data()
    w = np.ones(X.shape[0])
    lying = da.from_delayed(dask.delayed(lambda: w[:100])(), shape=(120,), dtype=w.dtype)
    dw = da.concatenate([lying, da.from_array(w[120:], chunks=450)])
    msg = r"block 0 \(rows 0:120\) of sample_weight has shape \(100,\), but the Dask array's"
    with dask.config.set(scheduler="sync"), pytest.raises(ValueError, match=msg):
        _gm("full").fit(da.from_array(X, chunks=(120, 3)), sample_weight=dw)
