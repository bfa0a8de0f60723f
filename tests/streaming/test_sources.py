"""Fits on chunked sources: equal to the in-memory fit (every kind, dtype, layout, the reservoir
sample, weights, labels, NaN, checkpoints)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture, SourceError, source
from fastem._stream import StreamData

from .helpers import (
    CHUNK,
    KINDS,
    D,
    K,
    N,
    _assert_same,
    _fit,
    _init,
    _write,
)


@pytest.mark.parametrize("kind", KINDS)
def test_streamed_fit_equals_in_memory(kind, X, tmp_path):
    init = _init(X)
    ref = _fit(X, **init)
    obj, kw = _write(kind, X, tmp_path)
    src = source(obj, chunk_rows=CHUNK, **kw)
    got = _fit(src, **init)
    _assert_same(ref, got)
    assert got.n_features_in_ == D
    assert src.n_rows == N
    # row-wise methods and score on the source
    np.testing.assert_array_equal(got.predict(src), ref.predict(X))
    np.testing.assert_allclose(got.predict_proba(src), ref.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.score_samples(src), ref.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(got.score(src), ref.score(X), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_covariance_types_and_float32(covariance_type, dtype, X, tmp_path):
    Xd = X.astype(dtype)
    init = _init(X, covariance_type)
    ref = _fit(Xd, covariance_type=covariance_type, **init)
    path = tmp_path / "X.npy"
    np.save(path, Xd)
    src = source(path, chunk_rows=CHUNK)
    assert src.dtype == dtype
    got = _fit(src, covariance_type=covariance_type, **init)
    _assert_same(ref, got, rtol=1e-10 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("fit_dtype", [np.float32, np.float64])
def test_float16_rows_are_scored_in_the_models_dtype_as_in_memory(fit_dtype, X, tmp_path):
    """In memory (and in scikit-learn) float16 rows are promoted with the model's dtype:
    float32 results from a model fitted on float32 rows. A float16 source (a ``.npy`` file,
    a callable, an Arrow table) was read as float64 and scored in float64. A fit reads
    float16 as float64, as in memory."""
    import pyarrow as pa

    X16 = X.astype(np.float16)
    gm = _fit(X.astype(fit_dtype))
    np.save(tmp_path / "X.npy", X16)
    table = pa.table({f"c{i}": X16[:, i] for i in range(D)})
    srcs = [tmp_path / "X.npy", lambda: iter([X16[:CHUNK], X16[CHUNK:]]), table]
    for obj in srcs:
        src = source(obj, chunk_rows=None if callable(obj) else CHUNK)
        assert src.float16
        for method in ("predict_proba", "score_samples", "predict"):
            ref = getattr(gm, method)(X16)
            for got in (getattr(gm, method)(src), getattr(gm, method)(src, out=tmp_path / "o.npy")):
                assert got.dtype == ref.dtype, (obj, method)
                np.testing.assert_array_equal(got, ref)
        np.testing.assert_allclose(gm.score(src), gm.score(X16), rtol=1e-6)
    _assert_same(_fit(X16), _fit(source(tmp_path / "X.npy", chunk_rows=CHUNK)))


def test_default_init_from_reservoir_equals_in_memory_when_sample_holds_all(X, tmp_path):
    """At most INIT_SAMPLE_ROWS rows: the sample is the data, in order, rng untouched."""
    path = tmp_path / "X.npy"
    np.save(path, X)
    for init_params in ("kmeans", "k-means++", "random", "random_from_data"):
        kw = dict(n_init=2, init_params=init_params, max_iter=10, tol=1e-3)
        _assert_same(_fit(X, **kw), _fit(source(path, chunk_rows=CHUNK), **kw))


def test_tol_converges_like_in_memory(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    kw = dict(max_iter=200, tol=1e-3, **_init(X))
    ref, got = _fit(X, **kw), _fit(path, **kw)
    assert ref.converged_ and got.converged_
    _assert_same(ref, got)


def test_convergence_warning_as_in_memory(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    with pytest.warns(ConvergenceWarning):
        GaussianMixture(K, max_iter=1, random_state=0).fit(source(path))


def test_warm_start(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    kw = dict(warm_start=True, max_iter=3, tol=0.0, **_init(X))
    ref, got = GaussianMixture(K, **kw), GaussianMixture(K, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):
            ref.fit(X)
            got.fit(source(path, chunk_rows=CHUNK))
    _assert_same(ref, got)


def test_reservoir_sample_seeded_uniform_and_chunk_independent(X):
    def sample(chunk_rows, seed):
        data = StreamData(source(X, chunk_rows=chunk_rows))
        return data.sample_for_init(50, np.random.RandomState(seed)).X

    a = sample(CHUNK, 0)
    assert a.shape == (50, D)
    np.testing.assert_array_equal(a, sample(7, 0))  # same draws whatever the chunking
    np.testing.assert_array_equal(a, sample(N, 0))
    assert not np.array_equal(a, sample(CHUNK, 1))
    # every sampled row is a row of X, each at most once
    idx = [int(np.nonzero((X == r).all(axis=1))[0][0]) for r in a]
    assert len(set(idx)) == 50
    # uniform: the inclusion frequency of early and late rows is the same
    ids = np.arange(1000, dtype=np.float64)[:, None]
    counts = np.zeros(1000)
    for seed in range(200):
        data = StreamData(source(ids, chunk_rows=64))
        counts[data.sample_for_init(100, np.random.RandomState(seed)).X[:, 0].astype(int)] += 1
    assert abs(counts[:500].mean() - counts[500:].mean()) < 2.5  # expected 20 each


@pytest.mark.parametrize(
    "n_rows, n_features, want",
    [
        (150_000, 2, 100_000),  # at most INIT_SAMPLE_ROWS = 100,000 rows
        (2_100, 4096, 2048),  # and about 64 MB: 64 MiB / (8 x 4096) rows
        (1_100, 16384, 1000),  # but at least 1,000 rows
    ],
)
def test_reservoir_holds_at_most_100000_rows_and_about_64_mb(n_rows, n_features, want):
    """docs/streaming.md: the reservoir sample holds "at most fastem._stream.INIT_SAMPLE_ROWS
    = 100,000 rows and about 64 MB" (the other tests set the size or used fewer rows)."""
    base = np.arange(n_rows, dtype=np.float64)

    def chunks():  # a callable: its rows are not known ahead, so the reservoir runs
        for r0 in range(0, n_rows, 300):
            block = np.empty((min(300, n_rows - r0), n_features))
            block[:] = base[r0 : r0 + 300, None]
            yield block

    sample = StreamData(source(chunks)).sample_for_init(None, np.random.RandomState(0)).X
    assert sample.shape == (want, n_features)
    assert len(np.unique(sample[:, 0])) == want  # distinct rows of the source


def test_reservoir_fit_reproducible(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    import fastem._stream as st

    old = st.INIT_SAMPLE_ROWS
    st.INIT_SAMPLE_ROWS = 0  # the sample has its minimum of 1000 rows, fewer than the data
    try:
        big = np.concatenate([X] * 3)
        np.save(path, big)
        a = _fit(source(path, chunk_rows=CHUNK), max_iter=5)
        b = _fit(source(path, chunk_rows=250), max_iter=5)
        _assert_same(a, b, rtol=1e-9)
    finally:
        st.INIT_SAMPLE_ROWS = old


def test_sample_weight_kinds(X, w, tmp_path):
    init = _init(X)
    ref = _fit(X, sample_weight=w, **init)
    # a weight column in a .npy file (by index) and in a CSV file (by name)
    np.save(tmp_path / "Xw.npy", np.column_stack([X, w]))
    got = _fit(source(tmp_path / "Xw.npy", chunk_rows=CHUNK, weight_column=-1), **init)
    _assert_same(ref, got)
    np.savetxt(
        tmp_path / "Xw.csv",
        np.column_stack([w, X]),
        delimiter=",",
        header="w,a,b,c",
        comments="",
        fmt="%.17g",
    )
    got = _fit(source(tmp_path / "Xw.csv", chunk_rows=CHUNK), sample_weight="w", **init)
    _assert_same(ref, got)
    # a parallel one-column weight source, chunked differently
    np.save(tmp_path / "w.npy", w)
    src = source(tmp_path / "Xw.npy", columns=[0, 1, 2], chunk_rows=CHUNK)
    got = _fit(src, sample_weight=source(tmp_path / "w.npy", chunk_rows=50), **init)
    _assert_same(ref, got)
    # an in-memory weight vector
    got = _fit(src, sample_weight=w, **init)
    _assert_same(ref, got)
    np.testing.assert_allclose(got.score(src, sample_weight=w), ref.score(X, sample_weight=w))
    # a weight column is not a feature when predicting
    wsrc = source(tmp_path / "Xw.npy", chunk_rows=CHUNK, weight_column=3)
    np.testing.assert_array_equal(got.predict(wsrc), ref.predict(X))
    np.testing.assert_allclose(got.score(wsrc), ref.score(X, sample_weight=w), rtol=1e-10)


def _refilling(values, rows, order="C"):
    """A callable that yields every chunk in one buffer it refills (a binary reader's
    ``readinto``): a chunk holds its rows only until the next one is asked for."""

    def chunks():
        buf = np.empty((rows, *values.shape[1:]), order=order)
        for r0 in range(0, len(values), rows):
            part = values[r0 : r0 + rows]
            buf[: len(part)] = part
            yield buf[: len(part)]

    return chunks


def test_a_callable_refilling_one_buffer_equals_in_memory(X, w):
    """The reader, one chunk ahead, refilled the callable's buffer while the chunk before was
    still in use (a fit and predict on other rows), and a data chunk spanning weight chunks
    took its first weights from the refilled buffer. A chunk is copied out of the callable's
    memory: the in-memory fit, predict and score."""
    init = _init(X)
    ref = _fit(X, **init)
    got = _fit(source(_refilling(X, CHUNK)), **init)
    _assert_same(ref, got, rtol=1e-12)
    np.testing.assert_array_equal(got.predict(_refilling(X, CHUNK)), ref.predict(X))
    ref = _fit(X, sample_weight=w, **init)
    src = source(X, chunk_rows=CHUNK)
    got = _fit(src, sample_weight=source(_refilling(w, 5)), **init)
    _assert_same(ref, got, rtol=1e-12)
    score = got.score(src, sample_weight=_refilling(w, 5))
    np.testing.assert_allclose(score, ref.score(X, sample_weight=w), rtol=1e-12)
    # a weight column of a Fortran-ordered buffer: a view of it, where the features are a copy
    Xw = _refilling(np.column_stack([X, w]), CHUNK, order="F")
    _assert_same(ref, _fit(source(Xw, weight_column=-1), **init), rtol=1e-12)


def test_checkpoint_and_reseed_with_a_source(X, tmp_path):
    from fastem import DegenerateComponentWarning

    np.save(tmp_path / "X.npy", X)
    src = source(tmp_path / "X.npy", chunk_rows=CHUNK)
    ckpt = tmp_path / "c.npz"
    ref = _fit(X, max_iter=5)
    got = GaussianMixture(K, random_state=0, max_iter=5, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        got.fit(src, checkpoint=ckpt)
        _assert_same(ref, got)
        again = GaussianMixture(K, random_state=0, max_iter=5, tol=0.0).fit(src, checkpoint=ckpt)
    np.testing.assert_array_equal(again.means_, got.means_)
    np.save(tmp_path / "X.npy", X + 1)  # other data: the checkpoint is refused
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GaussianMixture(K, random_state=0, max_iter=5, tol=0.0).fit(
            tmp_path / "X.npy", checkpoint=ckpt
        )
    # a component that sees no data is re-seeded from the sample, as in memory
    means = np.array([X[0], X[1], X.mean(0) + 1e4])
    kw = dict(means_init=means, random_state=0, max_iter=200)
    with pytest.warns(DegenerateComponentWarning, match="re-seeded"):
        mem = GaussianMixture(K, **kw).fit(X)
    with pytest.warns(DegenerateComponentWarning, match="re-seeded"):
        got = GaussianMixture(K, **kw).fit(source(X, chunk_rows=CHUNK))
    _assert_same(mem, got, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_partial_labels_with_a_source_equal_in_memory(X, w, tmp_path, covariance_type):
    rng = np.random.default_rng(5)
    labels = np.where(rng.random(N) < 0.2, rng.integers(0, K, size=N), -1)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "labels.npy", labels[:, None].astype(np.float64))
    kw = dict(covariance_type=covariance_type, n_components=K, random_state=0, max_iter=15, tol=0.0)
    ref = GaussianMixture(**kw).fit(X, sample_weight=w, labels=labels)
    src = source(tmp_path / "X.npy", chunk_rows=97)
    for lab in (labels, source(tmp_path / "labels.npy", chunk_rows=61)):
        got = GaussianMixture(**kw).fit(src, sample_weight=w, labels=lab)
        _assert_same(ref, got)
    # docs/incomplete.md: a one-column labels source marks unknown rows with -1 or NaN
    np.save(tmp_path / "nan_labels.npy", np.where(labels < 0, np.nan, labels)[:, None])
    got = GaussianMixture(**kw).fit(
        src, sample_weight=w, labels=source(tmp_path / "nan_labels.npy", chunk_rows=61)
    )
    _assert_same(ref, got)
    np.save(tmp_path / "inf_labels.npy", np.where(labels < 0, np.inf, labels)[:, None])
    with pytest.raises(ValueError, match="NaN or infinite label"):
        GaussianMixture(**kw).fit(src, labels=tmp_path / "inf_labels.npy")
    with pytest.raises(ValueError, match="label outside"):
        GaussianMixture(**kw).fit(src, labels=np.full(N, K))
    with pytest.raises(ValueError, match="more labels than rows|labels must have shape"):
        GaussianMixture(**kw).fit(src, labels=np.zeros(N + 3, dtype=int))


def test_missing_values_in_a_source_equal_in_memory(X, tmp_path):
    rng = np.random.default_rng(6)
    Xm = X.copy()
    Xm[rng.random(Xm.shape) < 0.1] = np.nan
    Xm[np.isnan(Xm).all(axis=1), 0] = 0.0
    np.save(tmp_path / "Xm.npy", Xm)
    kw = dict(n_components=K, random_state=0, max_iter=15, tol=0.0, missing="marginalize")
    ref = GaussianMixture(**kw).fit(Xm)
    got = GaussianMixture(**kw).fit(source(tmp_path / "Xm.npy", chunk_rows=97))
    _assert_same(ref, got)
    np.testing.assert_allclose(
        got.score_samples(source(tmp_path / "Xm.npy", chunk_rows=97)),
        ref.score_samples(Xm),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="NaN or infinite"):
        GaussianMixture(K).fit(source(tmp_path / "Xm.npy", chunk_rows=97))


def test_big_endian_files_equal_in_memory(X, tmp_path):
    """A big-endian ``.npy`` file or HDF5 dataset is not read in the kernel (which reads
    native bytes): its fit and row-wise results are the in-memory ones of the same rows."""
    import h5py

    big = X.astype(">f8")
    np.save(tmp_path / "X.npy", big)
    with h5py.File(tmp_path / "X.h5", "w") as f:
        f["x"] = big
    init = _init(X)
    ref = _fit(X, **init)
    for src in (source(tmp_path / "X.npy", chunk_rows=CHUNK), source(tmp_path / "X.h5")):
        _assert_same(ref, _fit(src, **init))
        np.testing.assert_allclose(ref.score_samples(src), ref.score_samples(X), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
def test_a_fortran_ordered_npy_file_reads_as_its_c_ordered_copy(X, w, tmp_path, dtype):
    """``np.save(path, frame.to_numpy())`` writes a Fortran-ordered file (a pandas frame's
    array is its columns'). It was refused ("save it C-ordered"); each chunk is now read
    one column range at a time: the same chunks as the C-ordered file for any chunk size,
    with columns picked and a weight column, and the same fit bit for bit."""
    A = np.column_stack([X * 100, w]).astype(dtype)
    np.save(tmp_path / "c.npy", np.ascontiguousarray(A))
    np.save(tmp_path / "f.npy", np.asfortranarray(A))
    assert np.load(tmp_path / "f.npy").flags.f_contiguous
    for chunk_rows in (1, 7, 103, None):
        for kw in ({}, {"columns": [2, 0]}, {"weight_column": -1}):
            got = list(source(tmp_path / "f.npy", chunk_rows=chunk_rows, **kw))
            want = list(source(tmp_path / "c.npy", chunk_rows=chunk_rows, **kw))
            assert len(got) == len(want)
            for a, b in zip(got, want, strict=True):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
    init = _init(A[:, :-1].astype(np.float64))
    np.save(tmp_path / "xc.npy", np.ascontiguousarray(A[:, :-1]))  # float64: read directly
    np.save(tmp_path / "xf.npy", np.asfortranarray(A[:, :-1]))
    for c, f, kw in (("c.npy", "f.npy", {"weight_column": -1}), ("xc.npy", "xf.npy", {})):
        fits = [_fit(source(tmp_path / name, chunk_rows=CHUNK, **kw), **init) for name in (c, f)]
        for name in ("weights_", "means_", "covariances_"):
            np.testing.assert_array_equal(getattr(fits[1], name), getattr(fits[0], name))
    # a truncated Fortran-ordered file is refused when opened, as a C-ordered one
    data = (tmp_path / "f.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-8])
    with pytest.raises(SourceError, match="file is truncated"):
        source(tmp_path / "cut.npy")
