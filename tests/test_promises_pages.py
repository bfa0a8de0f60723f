"""Promises of docs/streaming.md, docs/em.md, docs/quickstart.md, docs/index.md, the API
reference and the README that no other test proved (the audit of those pages; each test names
its sentence). docs/dask.md: tests/test_promises_dask.py; docs/cli.md: test_promises_cli.py."""

import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastem
from fastem import GaussianMixture

from .conftest import COVARIANCE_TYPES, blobs

# ------------------------------------------------------------------ README / index: drop-in


def test_constructor_arguments_and_fitted_attributes_are_scikit_learns():
    """README: "takes scikit-learn's constructor arguments (...) plus n_threads (...), and has
    the same fitted attributes and methods" - compared with scikit-learn's own estimator."""
    X = blobs(300, 2, 2, seed=1)
    sk = SkGaussianMixture(2, random_state=0).fit(X)
    fe = GaussianMixture(2, random_state=0).fit(X)
    assert set(sk.get_params()) <= set(fe.get_params())
    assert "n_threads" in fe.get_params()
    for name in sk.get_params():
        assert fe.get_params()[name] == SkGaussianMixture().get_params()[name] or name in (
            "n_components",
            "random_state",
        ), name  # the same defaults
    fitted = {a for a in vars(sk) if a.endswith("_") and not a.startswith("_")}
    assert fitted <= set(vars(fe)), fitted - set(vars(fe))
    public = {m for m in dir(sk) if not m.startswith("_") and callable(getattr(sk, m))}
    assert public <= {m for m in dir(fe) if callable(getattr(fe, m))}, public - set(dir(fe))


# ------------------------------------------------------------------ em.md


def test_n_init_keeps_the_start_with_the_highest_likelihood_as_scikit_learn():
    """em.md: "n_init runs EM from that many starting points and keeps the one with the
    highest likelihood" - scikit-learn draws the same 'random_from_data' starts."""
    X = blobs(600, 2, 3, seed=1)
    kw = dict(init_params="random_from_data", n_init=4, random_state=0, max_iter=200)
    sk = SkGaussianMixture(3, **kw).fit(X)
    fe = GaussianMixture(3, **kw).fit(X)
    assert fe.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(fe.means_, sk.means_, rtol=1e-8)
    # and it is the highest of the four single starts scikit-learn ran
    singles = []
    rng = np.random.RandomState(0)
    for _ in range(4):
        one = SkGaussianMixture(3, init_params="random_from_data", max_iter=200)
        one.set_params(random_state=rng)  # the same stream of draws as n_init=4
        singles.append(one.fit(X).lower_bound_)
    assert len(set(np.round(singles, 8))) > 1  # the starts end in different optima
    assert fe.lower_bound_ == pytest.approx(max(singles), rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_convergence_is_an_improvement_below_tol(covariance_type):
    """em.md: "EM climbs until the improvement per iteration falls below tol, which is the
    convergence test (converged_, n_iter_ and the history lower_bounds_ record it)"."""
    X = blobs(900, 2, 3, seed=2)
    tol = 1e-4
    gm = GaussianMixture(3, covariance_type=covariance_type, tol=tol, random_state=0).fit(X)
    lbs = np.asarray(gm.lower_bounds_)
    assert gm.converged_ and len(lbs) == gm.n_iter_ and gm.lower_bound_ == lbs[-1]
    steps = np.diff(lbs)
    assert abs(steps[-1]) < tol
    assert (np.abs(steps[:-1]) >= tol).all()  # it did not stop earlier, nor run on
    assert (steps >= -1e-12 * np.abs(lbs[1:])).all()  # and never went down
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        short = GaussianMixture(
            3, covariance_type=covariance_type, tol=tol, random_state=0, max_iter=gm.n_iter_ - 1
        ).fit(X)
    assert not short.converged_  # one iteration fewer is not converged


# ------------------------------------------------------------------ streaming.md


@pytest.mark.parametrize("dtype, n_features", [(np.float64, 5), (np.float32, 7), (np.float64, 64)])
def test_default_chunk_is_about_32_mb(tmp_path, dtype, n_features):
    """streaming.md: "chunk_rows defaults to about 32 MB per chunk, counted in float64 values
    (a float32 file's chunks hold as many rows)"."""
    np.save(tmp_path / "X.npy", np.zeros((10, n_features), dtype=dtype))
    src = fastem.source(tmp_path / "X.npy")
    chunk_bytes = src.chunk_rows * n_features * 8
    assert 31 << 20 <= chunk_bytes <= 32 << 20, chunk_bytes
    assert fastem.source(np.zeros((10, n_features), dtype=dtype)).chunk_rows == src.chunk_rows


def test_default_chunk_of_a_zarr_array_is_a_multiple_of_its_chunking(tmp_path):
    """streaming.md: a Zarr path is read in row slices, "chunk_rows a multiple of the zarr
    chunking" (the default; about 32 MB too)."""
    zarr = pytest.importorskip("zarr")
    z = zarr.open_array(str(tmp_path / "X.zarr"), mode="w", shape=(1000, 3), chunks=(48, 3))
    z[:] = 1.0
    rows = fastem.source(str(tmp_path / "X.zarr")).chunk_rows
    assert rows % 48 == 0 and 30 << 20 <= rows * 3 * 8 <= 34 << 20, rows


def test_memmap_source_and_memmap_out(tmp_path):
    """streaming.md: a "NumPy array (or memmap)" is a source, and ``out=`` takes "a NumPy
    array or memmap" - the same answers as the array in memory."""
    X = blobs(900, 3, 3, seed=3)
    np.save(tmp_path / "X.npy", X)
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    kw = dict(random_state=0, max_iter=20, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GaussianMixture(3, **kw).fit(X)
        got = GaussianMixture(3, **kw).fit(fastem.source(mm, chunk_rows=200))
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-10)
    np.testing.assert_allclose(got.covariances_, ref.covariances_, rtol=1e-10)
    out = np.lib.format.open_memmap(tmp_path / "resp.npy", mode="w+", shape=(900, 3))
    ref.predict_proba(fastem.source(mm, chunk_rows=200), out=out)
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "resp.npy"), ref.predict_proba(X), rtol=1e-12)
    # "a .npy path (written chunk by chunk, returned memory-mapped read-only)"
    got = ref.predict_proba(fastem.source(mm, chunk_rows=200), out=tmp_path / "r2.npy")
    assert isinstance(got, np.memmap) and not got.flags.writeable
    np.testing.assert_array_equal(got, np.load(tmp_path / "resp.npy"))


def _fixed_start(X, k=3):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(k, random_state=0, max_iter=2).fit(X)
    return dict(weights_init=gm.weights_, means_init=gm.means_, precisions_init=gm.precisions_)


@pytest.mark.parametrize("direct", [True, False])
def test_npy_is_read_without_np_load_or_a_memory_map(tmp_path, monkeypatch, direct):
    """streaming.md: a .npy file's "row ranges [are] read (...) into reusable buffers (no
    np.load, no memory map)" - in the kernel and through the reader thread."""
    import mmap

    import fastem._direct

    X = blobs(900, 3, 3, seed=7)
    np.save(tmp_path / "X.npy", X)
    kw = dict(max_iter=5, tol=0, **_fixed_start(X))
    ref = GaussianMixture(3, **kw).fit(X)

    def refuse(*args, **kwargs):
        raise AssertionError("the .npy source loaded or mapped the file")

    monkeypatch.setattr(fastem._direct, "DIRECT_READS", direct)
    for owner, name in ((np, "load"), (np, "memmap"), (np, "fromfile"), (mmap, "mmap")):
        monkeypatch.setattr(owner, name, refuse)
    src = fastem.source(tmp_path / "X.npy", chunk_rows=200)
    got = GaussianMixture(3, **kw).fit(src)
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-10)
    np.testing.assert_allclose(got.predict_proba(src), ref.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_parquet_directory_and_hdf5_without_dataset(tmp_path):
    """streaming.md: "*.parquet path (file, or directory read as a dataset)" and "dataset=
    optional when the file has one" - each read as the rows in memory."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    h5py = pytest.importorskip("h5py")
    X = blobs(600, 3, 3, seed=8)
    table = pa.table({f"c{i}": X[:, i] for i in range(3)})
    (tmp_path / "X.parquet").mkdir()
    pq.write_table(table.slice(0, 250), tmp_path / "X.parquet" / "part-0.parquet")
    pq.write_table(table.slice(250), tmp_path / "X.parquet" / "part-1.parquet")
    with h5py.File(tmp_path / "X.h5", "w") as f:
        f.create_dataset("group/X", data=X)
    for path in (tmp_path / "X.parquet", tmp_path / "X.h5"):
        src = fastem.source(path, chunk_rows=100)
        assert src.shape == X.shape
        np.testing.assert_array_equal(np.vstack(list(src)), X)
    kw = dict(max_iter=5, tol=0, **_fixed_start(X))
    ref = GaussianMixture(3, **kw).fit(X)
    got = GaussianMixture(3, **kw).fit(fastem.source(tmp_path / "X.parquet", chunk_rows=100))
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-10)


def test_a_callable_is_read_once_per_pass_plus_the_start_sample():
    """streaming.md: "EM reads the data once per iteration (plus one pass for the
    initialization sample unless all of weights_init, means_init and precisions_init are
    given)"; a callable that does not return a fresh iterator gets an error that says so."""
    X = blobs(600, 3, 3, seed=9)
    calls = []

    def chunks():
        calls.append(1)
        for r0 in range(0, len(X), 128):
            yield X[r0 : r0 + 128]

    counts = {}
    for given in (False, True):
        for max_iter in (3, 6):
            kw = dict(max_iter=max_iter, tol=0, random_state=0)
            if given:
                kw.update(_fixed_start(X))
            src = fastem.source(chunks)
            calls.clear()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                GaussianMixture(3, **kw).fit(src)
            counts[given, max_iter] = len(calls)
    assert counts[False, 6] - counts[False, 3] == 3  # one pass per iteration
    assert counts[True, 6] - counts[True, 3] == 3
    assert counts[False, 3] == counts[True, 3] + 1  # and one for the start's sample
    parts = iter([X[:300], X[300:]])
    with pytest.raises(fastem.SourceError, match="must return a fresh iterator"):
        GaussianMixture(3, max_iter=3).fit(fastem.source(lambda: parts))


@pytest.mark.parametrize("kind", ["reader thread", "csv", "callable"])
def test_bad_value_found_by_the_em_pass_of_a_read_source_names_the_row(tmp_path, kind):
    """streaming.md: "In an EM pass, the scan for NaN and infinite values runs only for a chunk
    whose log-likelihood or first moments are not finite (...) (a row of weight zero adds
    (...) a NaN to the moments); the error is the
    same" - for the sources read in Python (tests/streaming covers the kernel's .npy reads)."""
    import fastem._direct

    X = blobs(600, 3, 3, seed=12)
    start = _fixed_start(X)  # every parameter given: the first read is an EM pass
    bad = X.copy()
    bad[345, 1] = np.nan
    if kind == "reader thread":
        np.save(tmp_path / "bad.npy", bad)
        obj = tmp_path / "bad.npy"
    elif kind == "csv":
        np.savetxt(tmp_path / "bad.csv", bad, delimiter=",", fmt="%.17g")
        obj = tmp_path / "bad.csv"
    else:

        def obj():
            for r0 in range(0, len(bad), 100):
                yield bad[r0 : r0 + 100]

    w = np.ones(len(X))
    w[345] = 0.0  # a zero weight does not hide it
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fastem._direct, "DIRECT_READS", False)
        for sw in (None, w):
            with pytest.raises(fastem.SourceError, match=r"row offset 345: NaN or infinite"):
                GaussianMixture(3, max_iter=3, **start).fit(
                    fastem.source(obj, chunk_rows=128), sample_weight=sw
                )


def test_documented_constants():
    """The numbers the pages quote: KMEANS_MAX_ROWS = 100,000 and INIT_SAMPLE_ROWS = 100,000
    (streaming.md), INIT_SAMPLE_ROWS = 500_000, SCATTER_BYTES (1 MiB), SPLIT_EVERY = 8
    (dask.md), and SourceError is a ValueError."""
    import fastem._init
    import fastem._stream
    import fastem.dask as fdask

    assert fastem._init.KMEANS_MAX_ROWS == 100_000
    assert fastem._stream.INIT_SAMPLE_ROWS == 100_000
    assert fdask.INIT_SAMPLE_ROWS == 500_000 and fdask.SCATTER_BYTES == 1 << 20
    assert fdask.SPLIT_EVERY == 8
    assert issubclass(fastem.SourceError, ValueError)


def test_a_label_column_name_gets_an_error_naming_labels(tmp_path):
    """streaming.md: "A label *column* inside the data source is not supported; split it into
    its own file" - a column name passed as labels= says so (it read as an unknown format)."""
    X = blobs(300, 3, 3, seed=14)
    np.save(tmp_path / "X.npy", np.column_stack([X, np.zeros(len(X))]))
    src = fastem.source(tmp_path / "X.npy", columns=[0, 1, 2])
    for labels in ("3", "label"):
        with pytest.raises(ValueError, match=r"labels='.*' is not a file; a label column"):
            GaussianMixture(3).fit(src, labels=labels)
    typo = str(tmp_path / "lbls.npy")  # a mistyped file is a missing file, not a column
    with pytest.raises(Exception, match="lbls.npy") as exc:
        GaussianMixture(3).fit(src, labels=typo)
    assert "label column" not in str(exc.value)
    np.save(tmp_path / "y.npy", np.full(len(X), -1.0))  # a file of labels still works
    got = GaussianMixture(3, random_state=0).fit(src, labels=str(tmp_path / "y.npy"))
    ref = GaussianMixture(3, random_state=0).fit(src)
    np.testing.assert_array_equal(got.means_, ref.means_)


@pytest.mark.parametrize("change", ["columns", "weight_column", "labels"])
def test_checkpoint_fingerprint_covers_the_columns_weights_and_labels_of_a_file(tmp_path, change):
    """streaming.md: the checkpoint's data fingerprint covers "a file's whole content (...), the
    weights and labels, and the columns selected" - the same file read another way is refused."""
    X = blobs(600, 3, 2, seed=15)
    w = np.random.default_rng(15).uniform(0.5, 2.0, len(X))
    np.save(tmp_path / "X.npy", np.column_stack([X, w, w[::-1]]))
    np.save(tmp_path / "y1.npy", np.full(len(X), -1.0))
    y2 = np.full(len(X), -1.0)
    y2[:10] = 0
    np.save(tmp_path / "y2.npy", y2)
    first = dict(columns=[0, 1, 2], weight_column=3)
    then = {
        "columns": dict(columns=[0, 1, 4], weight_column=3),
        "weight_column": dict(columns=[0, 1, 2], weight_column=4),
        "labels": first,
    }[change]
    kw = dict(random_state=0, max_iter=3, tol=0)
    ckpt = tmp_path / "c.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = fastem.source(tmp_path / "X.npy", chunk_rows=128, **first)
        done = GaussianMixture(2, **kw).fit(src, checkpoint=ckpt, labels=str(tmp_path / "y1.npy"))
        # the same call again is a finished checkpoint: the same model, no error
        again = GaussianMixture(2, **kw).fit(src, checkpoint=ckpt, labels=str(tmp_path / "y1.npy"))
        np.testing.assert_array_equal(again.means_, done.means_)
        other = fastem.source(tmp_path / "X.npy", chunk_rows=128, **then)
        labels = tmp_path / ("y2.npy" if change == "labels" else "y1.npy")
        with pytest.raises(ValueError, match="other hyper-parameters or data"):
            GaussianMixture(2, **kw).fit(other, checkpoint=ckpt, labels=str(labels))


def test_kmeans_on_a_sample_still_assigns_every_row(monkeypatch):
    """api.md (GaussianMixture's init_params): "Above 100,000 rows both run on a seeded uniform
    sample of that size (the final assignment still uses every row)" - with the limit lowered,
    the start's weights and means are those of every row assigned to its nearest centre
    (plain NumPy), not of the sample's rows."""
    import fastem._init

    monkeypatch.setattr(fastem._init, "KMEANS_MAX_ROWS", 200)
    rng = np.random.default_rng(16)
    sizes = (700, 500, 301)  # separated blobs: the nearest centre is the nearest mean
    X = np.vstack([rng.normal(20.0 * j, 1.0, (m, 2)) for j, m in enumerate(sizes)])
    X = rng.permutation(X)
    gm = GaussianMixture(3, init_params="kmeans", max_iter=0, random_state=0).fit(X)
    nearest = np.argmin(((X[:, None, :] - gm.means_[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=3)
    assert sorted(counts) == sorted(sizes)  # every one of the 1,501 rows, not 200
    np.testing.assert_allclose(gm.weights_, counts / len(X), rtol=1e-12)
    for k in range(3):
        np.testing.assert_allclose(gm.means_[k], X[nearest == k].mean(axis=0), rtol=1e-10)
