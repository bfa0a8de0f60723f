"""Promises of docs/dask.md that no other test proved (the audit of that page; each test names
its sentence): row-wise dtypes, n_threads, the value rule, the parameters as one graph key and
the reduction tree, the validated copy's lifetime, and the cost model's sizes."""

import warnings

import numpy as np
import pytest

from fastem import GaussianMixture

from .conftest import blobs

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dask_rowwise_dtypes_are_the_in_memory_ones(dtype):
    """dask.md: predict is int64; predict_proba and score_samples are in the model's float
    dtype, as in memory (float32 for a model fitted to float32 rows, as in scikit-learn), and
    the lazy arrays declare the dtype their blocks have."""
    X = blobs(1200, 2, 3, seed=4, dtype=dtype)
    dX = da.from_array(X, chunks=(300, 2))
    mem = GaussianMixture(3, random_state=0).fit(X)
    with dask.config.set(scheduler="sync"):
        gm = GaussianMixture(3, random_state=0).fit(dX)
        assert gm.means_.dtype == mem.means_.dtype == dtype
        for method, want in (("predict", np.int64), ("predict_proba", dtype)):
            lazy = getattr(gm, method)(dX)
            assert lazy.dtype == want == getattr(mem, method)(X).dtype, method
            assert lazy.compute().dtype == want, method
        lazy = gm.score_samples(dX)
        assert lazy.dtype == lazy.compute().dtype == mem.score_samples(X).dtype == dtype
        assert type(gm.score(dX)) is float  # "gm.score(X)  # a float (computes)"
        # rows of the other dtype: float64 output, as in memory
        other = np.float32 if dtype == np.float64 else np.float64
        dY = da.from_array(X.astype(other), chunks=(300, 2))
        for method in ("predict_proba", "score_samples"):
            lazy = getattr(gm, method)(dY)
            want = getattr(mem, method)(X.astype(other)).dtype
            assert lazy.dtype == lazy.compute().dtype == want == np.float64, method


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [np.float16, np.int32, np.uint8])
def test_dask_rows_of_other_dtypes_score_as_in_memory(model_dtype, rows):
    """The same rule for the other dtypes of rows. float16 rows are promoted with the model's
    dtype, as in memory and in scikit-learn: on a float32 model they gave float64 results on
    Dask (float32 in memory)."""
    from fastem import BayesianGaussianMixture

    X = blobs(1200, 2, 3, seed=4, dtype=np.float64)
    Y = (X * 3).astype(rows)
    dY = da.from_array(Y, chunks=(300, 2))
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore")
        for est in (GaussianMixture(3), BayesianGaussianMixture(n_components=3)):
            est.set_params(random_state=0).fit(X.astype(model_dtype))
            for method in ("predict", "predict_proba", "score_samples"):
                want = getattr(est, method)(Y)
                lazy = getattr(est, method)(dY)
                assert lazy.dtype == lazy.compute().dtype == want.dtype, (type(est), method)
                np.testing.assert_allclose(lazy.compute(), want, rtol=1e-6, atol=1e-7)


def test_dask_n_threads_does_not_change_the_passes():
    """dask.md: "The estimator's n_threads does not affect the Dask passes" - bit for bit."""
    X = blobs(3000, 3, 3, seed=5)
    dX = da.from_array(X, chunks=(700, 3))
    kw = dict(random_state=0, max_iter=6, tol=0)
    with dask.config.set(scheduler="threads", num_workers=2), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [GaussianMixture(3, n_threads=t, **kw).fit(dX) for t in (1, 2, 3)]
    for gm in fits[1:]:
        np.testing.assert_array_equal(gm.means_, fits[0].means_)
        np.testing.assert_array_equal(gm.covariances_, fits[0].covariances_)
        assert gm.lower_bounds_ == fits[0].lower_bounds_


@pytest.mark.parametrize("where", ["fit", "predict"])
def test_dask_value_whose_square_overflows_is_refused_naming_the_block(where):
    """dask.md: the block check refuses "a value whose square overflows" (the in-memory rule),
    naming the block."""
    X = blobs(1200, 2, 3, seed=6)
    bad = X.copy()
    bad[650, 1] = 1e200  # finite, but its square is not
    with pytest.raises(ValueError, match="overflow when squared"):  # the in-memory rule
        GaussianMixture(3, random_state=0).fit(bad)
    gm = GaussianMixture(3, random_state=0).fit(X)
    dX = da.from_array(bad, chunks=(300, 2))
    named = r"block 2 \(rows 600:900\) of X holds, at row 650, .*overflow when squared"
    with dask.config.set(scheduler="sync"), pytest.raises(ValueError, match=named):
        if where == "fit":
            GaussianMixture(3, random_state=0).fit(dX)
        else:
            gm.predict(dX).compute()


def _find_params(obj, depth=0):
    """Whether ``obj`` (a task of the graph) holds the KernelParams object itself."""
    from fastem._stats import KernelParams

    if isinstance(obj, KernelParams):
        return True
    if depth > 6:
        return False
    if isinstance(obj, (list, tuple)):
        return any(_find_params(x, depth + 1) for x in obj)
    if isinstance(obj, dict):
        return any(_find_params(x, depth + 1) for x in obj.values())
    return any(
        _find_params(getattr(obj, attr), depth + 1)
        for attr in ("args", "kwargs", "value")
        if hasattr(obj, attr) and not callable(getattr(obj, attr))
    )


def test_dask_parameters_are_one_key_every_block_task_depends_on(monkeypatch):
    """dask.md: "The kernel parameters (...) become one key of the graph, and every block task
    depends on it. (...) Large arrays are never embedded in every task." - the pass's graph."""
    X = blobs(2000, 3, 2, seed=10)
    graphs = []
    compute = dask.compute

    def spy(*args, **kwargs):
        graphs.extend(dict(a.__dask_graph__()) for a in args if hasattr(a, "__dask_graph__"))
        return compute(*args, **kwargs)

    monkeypatch.setattr(dask, "compute", spy)
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianMixture(2, max_iter=2, tol=0, random_state=0).fit(da.from_array(X, chunks=(100, 3)))
    passes = [g for g in graphs if any(str(k).startswith("_block_stats") for k in g)]
    assert passes
    for graph in passes:
        holders = [k for k, task in graph.items() if _find_params(task)]
        assert len(holders) == 1, holders  # one key, not one copy per task
        blocks = [t for k, t in graph.items() if str(k).startswith("_block_stats")]
        assert len(blocks) == 20
        assert all(holders[0] in t.dependencies for t in blocks)
        # "added in a tree of fixed shape (SPLIT_EVERY = 8 inputs per node)": 20 -> 3 -> 1
        adds = [t for k, t in graph.items() if str(k).startswith("_add_stats")]
        assert sorted(len(t.dependencies) for t in adds) == [3, 4, 8, 8]


def test_dask_validated_copy_lives_only_for_the_fit(monkeypatch):
    """dask.md: "The persisted, validated copy of X lives for the duration of fit" - no block
    of it is held once fit returns."""
    import gc
    import weakref

    import fastem.dask as fdask

    X = blobs(2000, 3, 2, seed=11)
    refs = []
    check = fdask._check_block

    def keep_ref(*args, **kwargs):
        block = check(*args, **kwargs)
        refs.append(weakref.ref(block))
        return block

    monkeypatch.setattr(fdask, "_check_block", keep_ref)
    with dask.config.set(scheduler="threads"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(2, max_iter=3, tol=0, random_state=0).fit(
            da.from_array(X, chunks=(250, 3))
        )
    gc.collect()
    assert len(refs) >= 8
    assert [r for r in refs if r() is not None] == []
    assert gm.predict(X).shape == (2000,)


@pytest.mark.parametrize("covariance_type, kb", [("full", 87), ("diag", 7.7)])
def test_dask_statistics_and_parameters_shipped_per_block(covariance_type, kb):
    """dask.md's cost model at K = 10, D = 32: "One block's SuffStats holds nk, s1, s2, shift
    and three scalars, about 87 KB (7.7 KB)"; the parameters "come to (...) 87 KB (7.7 KB for
    diag)", "below the 1 MiB scatter threshold"."""
    import pickle

    import fastem.dask as fdask
    from fastem._stats import kernel_params

    X = np.random.default_rng(13).normal(size=(400, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(10, covariance_type=covariance_type, max_iter=1, random_state=0)
        gm.fit(X)
    params = kernel_params(
        gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type, np.float64
    )
    stats = fdask._block_stats(X, None, params)
    arrays = (stats.nk, stats.s1, stats.s2, stats.shift)
    assert [f for f in vars(stats) if not isinstance(vars(stats)[f], np.ndarray)] == [
        "loglik",
        "wsum",
        "n_rows",
    ]
    assert sum(a.nbytes for a in arrays) / 1000 == pytest.approx(kb, rel=0.03)
    assert len(pickle.dumps(stats)) / 1000 == pytest.approx(kb, rel=0.08)
    assert fdask._nbytes(params) / 1000 == pytest.approx(kb, rel=0.03)
    assert fdask._nbytes(params) < fdask.SCATTER_BYTES


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_dask_row_beyond_every_component_is_not_silently_labelled(method):
    """robustness.md: rows whose density underflows under every component (their component
    is 0/0) are refused by predict and predict_proba, as in memory. On Dask they got label 0
    and a row of zero probabilities; the error names the row of the array, not of the block."""
    X = blobs(300, 2, 2, seed=3) * 1e-100  # tiny variances
    far = GaussianMixture(2, random_state=0, reg_covar=0).fit(X)
    Y = np.concatenate([X[:3], [[1e140, 0.0]]])
    with pytest.raises(ValueError, match="underflows to zero under all"):
        getattr(far, method)(Y)  # in memory
    with dask.config.set(scheduler="sync"):
        lazy = getattr(far, method)(da.from_array(Y, chunks=(2, 2)))
        with pytest.raises(ValueError, match="^row 3 .*underflows to zero under all"):
            lazy.compute()
        # score_samples returns the limit of the log-density there, as in memory
        scores = far.score_samples(da.from_array(Y, chunks=(2, 2))).compute()
    assert scores[3] == -np.inf and np.all(np.isfinite(scores[:3]))


def test_dask_rowwise_methods_read_no_block_until_computed():
    """dask.md: the row-wise methods "return lazy Dask arrays (...) They are not persisted:
    one pass, with each block validated inside its task" - calling them reads no block, and
    computing one reads each block once."""
    X = blobs(1200, 2, 3, seed=7)
    gm = GaussianMixture(3, random_state=0).fit(X)
    reads = []

    def source(block):
        if block.shape[0]:  # not Dask's inference of the output type
            reads.append(block.shape[0])
        return block

    dX = da.from_array(X, chunks=(300, 2)).map_blocks(source, dtype=X.dtype)
    with dask.config.set(scheduler="sync"):
        lazy = [getattr(gm, m)(dX) for m in ("predict", "predict_proba", "score_samples")]
        assert reads == []
        for got, method in zip(lazy, ("predict", "predict_proba", "score_samples")):
            reads.clear()
            np.testing.assert_allclose(got.compute(), getattr(gm, method)(X), rtol=1e-12)
            assert reads == [300] * 4, method


@pytest.mark.parametrize("weight", [0.0, -1.0, 1e120, np.nan])
def test_dask_scalar_weight_is_refused_as_in_memory(weight):
    """dask.md: "sample_weight can be a Dask array (...), a NumPy array or a scalar", checked
    the same way: a scalar weight that memory refuses is refused."""
    X = blobs(600, 2, 2, seed=8)
    with pytest.raises(ValueError) as mem:
        GaussianMixture(2, random_state=0).fit(X, sample_weight=weight)
    key = {0.0: "sums to zero", -1.0: "contains negative", 1e120: "ratios", np.nan: "NaN"}[weight]
    assert key in str(mem.value)
    with dask.config.set(scheduler="sync"), pytest.raises(ValueError, match=key):
        GaussianMixture(2, random_state=0).fit(
            da.from_array(X, chunks=(150, 2)), sample_weight=weight
        )


def test_dask_scalar_weight_counts_as_in_memory():
    """A scalar weight is every row's weight: it changes a variational fit (the data against
    the priors), and the Dask fit is the in-memory fit with the same scalar."""
    from fastem import BayesianGaussianMixture

    X = blobs(600, 2, 3, seed=9)
    dX = da.from_array(X, chunks=(150, 2))
    kw = dict(n_components=3, random_state=0, max_iter=50, tol=1e-8)
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore")
        one = BayesianGaussianMixture(**kw).fit(X)
        mem = BayesianGaussianMixture(**kw).fit(X, sample_weight=0.05)
        got = BayesianGaussianMixture(**kw).fit(dX, sample_weight=0.05)
    assert not np.allclose(mem.covariances_, one.covariances_, rtol=1e-3)  # the scalar counts
    np.testing.assert_allclose(got.covariances_, mem.covariances_, rtol=1e-10)
    np.testing.assert_allclose(got.weight_concentration_, mem.weight_concentration_, rtol=1e-10)
    assert got.lower_bound_ == pytest.approx(mem.lower_bound_, rel=1e-10)
