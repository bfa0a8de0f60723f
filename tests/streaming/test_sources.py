"""Streaming: chunked sources, exact EM chunk by chunk, validation, errors."""

import io
import os
import sys
import threading
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import GaussianMixture, SourceError, source
from fastem._stream import StreamData
from fastem.sources import prefetch
from fastem.sources._prefetch import Progress

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

# ------------------------------------------------------------------ exactness


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


def test_a_callable_chunk_float32_cannot_hold_is_refused_not_rounded(X):
    """A callable's dtype is its first chunk's: float32 first, then float64 chunks (or a
    list of Python floats) were rounded to float32, silently, where the in-memory fit of the
    same rows (concatenated: float64) keeps every digit. Refused at the chunk's row; chunks
    float32 holds exactly (float16, int16) are read, and float64 first reads all as float64."""
    X32 = X[:CHUNK].astype(np.float32)
    for later in (X[CHUNK:], X[CHUNK:].tolist(), X[CHUNK:].astype(np.int32)):
        src = source(lambda later=later: iter([X32, later]))
        with pytest.raises(SourceError, match=f"row offset {CHUNK}: chunk of dtype .* float32"):
            _fit(src)
    for later in (X[CHUNK:].astype(np.float16), (10 * X[CHUNK:]).astype(np.int16)):
        got = source(lambda later=later: iter([X32, later])).read()
        np.testing.assert_array_equal(got, np.concatenate([X32, later]).astype(np.float32))
    # float16 rows are scored in float32 by a float32 model: a float64 chunk after them too
    gm = _fit(X.astype(np.float32))
    src = source(lambda: iter([X[:CHUNK].astype(np.float16), X[CHUNK:]]))
    with pytest.raises(SourceError, match=f"row offset {CHUNK}: chunk of dtype float64 after"):
        gm.predict_proba(src)
    got = source(lambda: iter([X[:CHUNK], X32])).read()
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, np.concatenate([X[:CHUNK], X32]))


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


# ------------------------------------------------------------------ reservoir


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


# ------------------------------------------------------------------ weights


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


def test_weight_errors(X, w, tmp_path):
    src = source(X, chunk_rows=CHUNK)
    with pytest.raises(ValueError, match="shape"):
        _fit(src, sample_weight=w[:-1])
    bad = w.copy()
    bad[300] = -1
    np.save(tmp_path / "w.npy", bad)
    with pytest.raises(ValueError, match="row offset 300"):
        _fit(src, sample_weight=tmp_path / "w.npy")
    with pytest.raises(ValueError, match="more weights"):
        _fit(source(X[:-5], chunk_rows=CHUNK), sample_weight=lambda: iter([w[:, None]]))


# ------------------------------------------------------------------ errors


def test_errors_name_source_and_row(X, tmp_path):
    bad = X.copy()
    bad[345, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"nan\.npy.*row offset 345.*NaN"):
        _fit(source(tmp_path / "nan.npy", chunk_rows=CHUNK))
    bad[345, 1] = np.inf
    with pytest.raises(ValueError, match="row offset 345"):
        _fit(lambda: iter([bad[:300], bad[300:]]))

    def ragged():
        yield X[:200]
        yield X[200:400, :2]

    with pytest.raises(
        ValueError, match=r"callable.*ragged.*row offset 200.*2 columns, expected 3"
    ):
        _fit(ragged)

    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n5,6\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*row offset 1.*non-numeric"):
        _fit(tmp_path / "bad.csv")
    (tmp_path / "short.csv").write_text("a,b\n1,2\n3,4\n5\n")
    with pytest.raises(ValueError, match=r"row offset 2.*1 columns, expected 2"):
        _fit(tmp_path / "short.csv")

    np.save(tmp_path / "t.npy", X)
    size = os.path.getsize(tmp_path / "t.npy")
    with open(tmp_path / "t.npy", "r+b") as f:
        f.truncate(size - 10 * 3 * 8 - 4)
    with pytest.raises(ValueError, match=r"t\.npy.*row offset 590.*truncated"):
        source(tmp_path / "t.npy")
    (tmp_path / "garbage.npy").write_bytes(b"not a numpy file")
    with pytest.raises(ValueError, match=r"garbage\.npy.*row offset 0"):
        source(tmp_path / "garbage.npy")
    with pytest.raises(FileNotFoundError, match=r"no such file.*missing\.npy.*check the path"):
        _fit(tmp_path / "missing.npy")
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="non-numeric"):
        source(tmp_path / "s.npy")
    with pytest.raises(ValueError, match="unsupported format '.txt'"):
        source(tmp_path / "X.txt")
    with pytest.raises(TypeError):
        source(object())


def test_failed_fit_keeps_previous_state(X, tmp_path):
    gm = _fit(X)
    before = {k: np.copy(v) for k, v in vars(gm).items() if k.endswith("_")}
    bad = X.copy()
    bad[500] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="row offset 500"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(source(tmp_path / "nan.npy", chunk_rows=CHUNK))
    with pytest.raises(ValueError, match="columns"):  # 2 features, then 3: fails mid-pass
        gm.fit(lambda: iter([X[:300, :2], X[300:]]))
    after = {k: v for k, v in vars(gm).items() if k.endswith("_")}
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)
    with pytest.raises(ValueError, match="expecting 3 features"):
        gm.predict(lambda: iter([X[:, :2]]))


def test_missing_extra_names_it(monkeypatch, tmp_path):
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name.split(".")[0] in ("h5py", "zarr", "pyarrow"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    for ext, extra in ((".h5", "hdf5"), (".zarr", "zarr"), (".parquet", "parquet")):
        with pytest.raises(ImportError, match=rf"fastem\[{extra}\]"):
            source(tmp_path / f"X{ext}")


# ------------------------------------------------------------------ machinery


def test_source_iteration_and_shape(X, tmp_path):
    np.save(tmp_path / "X.npy", X)
    src = source(tmp_path / "X.npy", chunk_rows=CHUNK)
    chunks = list(src)  # public iteration hands out fresh arrays
    assert [len(c) for c in chunks] == [CHUNK] * 6 + [N - 6 * CHUNK]
    np.testing.assert_array_equal(np.concatenate(chunks), X)
    np.testing.assert_array_equal(src.read(), X)
    assert src.shape == (N, D)
    assert source(src) is src
    assert source(src, columns=[2, 0]).read().tolist() == X[:, [2, 0]].tolist()
    f = source(lambda: iter([X[:10], X[10:25]]))
    assert f.n_rows is None and f.n_features == D
    assert sum(len(c) for c in f) == 25 and f.n_rows == 25
    f = source(lambda: iter([X[:10], X[10:25]]))
    assert f.shape == (25, D)  # counted on demand
    np.savetxt(tmp_path / "X.csv", X, delimiter=",", header="a,b,c", comments="")
    with open(tmp_path / "X.csv", "a") as fh:
        fh.write("\n\n")
    c = source(tmp_path / "X.csv")
    assert c.n_rows is None and c.shape == (N, D) and np.shape(c) == (N, D)


def test_prefetch_runs_ahead_and_propagates_errors():
    seen = []

    def gen():
        for i in range(5):
            seen.append((i, threading.current_thread().name))
            yield i
        raise RuntimeError("boom")

    it = prefetch(gen())
    assert next(it) == 0
    with pytest.raises(RuntimeError, match="boom"):
        list(it)
    assert all(name == "fastem-prefetch" for _, name in seen)
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield 1
        finally:
            closed.set()

    it = prefetch(endless())
    next(it)
    it.close()
    assert closed.wait(2)


def test_progress_bar_only_on_terminal(X, capsys):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    bar = Progress(True, 100, "EM pass", stream=tty)
    bar._last = -1e9
    bar.update(50, 400)
    bar.close()
    assert "EM pass" in tty.getvalue() and "50.0%" in tty.getvalue()
    plain = io.StringIO()
    bar = Progress(True, 100, stream=plain)
    bar.update(100, 800)
    bar.close()
    assert plain.getvalue() == ""
    # verbose fits on a source print as in memory (no bar: stderr is not a terminal here)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(K, verbose=1, max_iter=2, random_state=0).fit(source(X))
    out = capsys.readouterr()
    assert "Initialization 0" in out.out
    assert sys.stderr.isatty() or "EM pass" not in out.err


def test_exported():
    assert fastem.source is source
    assert issubclass(SourceError, ValueError)


def test_columns_and_format_errors(X, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    h5py = pytest.importorskip("h5py")
    table = pa.table({"a": X[:, 0], "name": ["x"] * N, "b": X[:, 1].astype(np.float32)})
    pq.write_table(table, tmp_path / "t.parquet")
    src = source(tmp_path / "t.parquet", columns=["b", "a"], chunk_rows=CHUNK)
    expect = np.column_stack([X[:, 1].astype(np.float32), X[:, 0]])
    np.testing.assert_array_equal(src.read(), expect)
    assert src.feature_names == ["b", "a"] and src.dtype == np.float64
    with pytest.raises(ValueError, match=r"t\.parquet.*column 'name' has non-numeric type"):
        source(tmp_path / "t.parquet")
    with pytest.raises(ValueError, match="no column 'zz'"):
        source(tmp_path / "t.parquet", columns=["zz"])
    nulls = pa.table({"a": pa.array([1.0, 2.0, None, 4.0]), "b": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="row offset 2.*NaN"):
        source(nulls, chunk_rows=2).read()
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["x"] = X
        f["y"] = X
    with pytest.raises(ValueError, match="dataset="):
        source(tmp_path / "two.h5")
    with pytest.raises(ValueError, match="no dataset 'z'"):
        source(tmp_path / "two.h5", dataset="z")
    (tmp_path / "junk.h5").write_bytes(b"junk" * 100)
    with pytest.raises(ValueError, match=r"junk\.h5.*row offset 0"):
        source(tmp_path / "junk.h5")
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        _fit(lambda: iter([X[:2]]))


def test_fit_reads_in_background_thread_and_draws_bar_on_terminal(X, monkeypatch):
    threads = set()

    def chunks():
        for r0 in range(0, N, 200):
            threads.add(threading.current_thread().name)
            yield X[r0 : r0 + 200]

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(K, max_iter=2, verbose=1, random_state=0).fit(chunks)
    assert "fastem-prefetch" in threads
    assert "EM pass [" in tty.getvalue() and "100.0%" in tty.getvalue()


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


def test_bool_labels_from_a_source_are_refused(X, tmp_path):
    """A bool labels file (a mask, say) was read as labels 0 and 1: every False row became a
    known row of component 0. As in memory, and as a labels vector, bool labels are refused."""
    known = np.zeros(N, dtype=bool)
    known[:30] = True
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "mask.npy", known)
    src = source(tmp_path / "X.npy", chunk_rows=CHUNK)
    msg = r"mask\.npy'?, row offset 0: labels of dtype bool; they must be integers"
    for lab in (tmp_path / "mask.npy", source(tmp_path / "mask.npy", chunk_rows=61)):
        with pytest.raises(SourceError, match=msg):
            GaussianMixture(K, random_state=0).fit(src, labels=lab)
    with pytest.raises(ValueError, match="labels of dtype bool; they must be integers"):
        GaussianMixture(K, random_state=0).fit(src, labels=known)


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


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_bad_value_found_by_the_em_pass(X, tmp_path, value):
    """With every initial parameter given, the first read of the data is an EM
    pass, whose chunks are scanned for NaN/inf only when their log-likelihood
    is not finite: the error still names the file and the row."""
    ref = _fit(X)
    init = dict(weights_init=ref.weights_, means_init=ref.means_, precisions_init=ref.precisions_)
    bad = X.copy()
    bad[345, 1] = value
    np.save(tmp_path / "bad.npy", bad)
    w = np.ones(len(X))
    w[345] = 0.0  # a zero weight does not hide the bad value
    for sw in (None, w):
        with pytest.raises(ValueError, match=r"bad\.npy.*row offset 345.*NaN or infinite"):
            _fit(source(tmp_path / "bad.npy", chunk_rows=CHUNK), sample_weight=sw, **init)


def test_dataset_where_there_is_nothing_to_choose_is_refused(tmp_path):
    """dataset= names an array inside an HDF5 file or a zarr group; given with anything else
    (a .npy, .csv or parquet file, an array, a callable) it was silently ignored."""
    X = np.arange(12.0).reshape(6, 2)
    np.save(tmp_path / "X.npy", X)
    np.savetxt(tmp_path / "X.csv", X, delimiter=",", header="a,b", comments="")
    for obj in (tmp_path / "X.npy", tmp_path / "X.csv", X, lambda: iter([X])):
        with pytest.raises(ValueError, match=r"dataset='x' applies to HDF5 files and zarr groups"):
            source(obj, dataset="x")
        assert source(obj).shape[1] == 2  # without it, the same input reads


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_named_columns_in_another_order_are_refused_by_a_model_of_named_features(kind, tmp_path):
    """A model fitted on a pandas frame, then given a file whose columns are named (a CSV
    header, a Parquet schema) in another order: the rows were scored as they came, for the
    wrong features, silently. scikit-learn refuses a frame with reordered names; so does a
    named source now, and ``columns=`` picks the model's order."""
    pd = pytest.importorskip("pandas")
    if kind == "parquet":
        pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal((4, 0), 1, (300, 2))]),
        columns=["a", "b"],
    )
    gm = GaussianMixture(2, random_state=0).fit(frame)
    path = tmp_path / f"x.{kind}"
    swapped = frame[["b", "a"]]
    swapped.to_csv(path, index=False) if kind == "csv" else swapped.to_parquet(path)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match=r"columns are b, a, but the model was fitted on a, b"):
            getattr(gm, method)(path)
    src = source(path, columns=["a", "b"])
    np.testing.assert_array_equal(gm.predict(src), gm.predict(frame))
    np.testing.assert_allclose(gm.score_samples(src), gm.score_samples(frame), rtol=1e-12)
    frame.to_csv(tmp_path / "same.csv", index=False)  # the model's order: read as it comes
    np.testing.assert_array_equal(gm.predict(tmp_path / "same.csv"), gm.predict(frame))


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


def test_pass_and_weight_errors_name_the_row(X, tmp_path):
    """A negative weight in a weight column; a callable whose later pass holds more rows than
    its first; an ``out=`` array longer than a callable's rows: each refused, not fitted or
    left half written."""
    Xw = np.column_stack([X, np.ones(N)])
    Xw[150, -1] = -1.0
    with pytest.raises(SourceError, match="row offset 150: negative sample weight"):
        _fit(source(Xw, chunk_rows=CHUNK, weight_column=-1))
    calls = []

    def growing():
        calls.append(1)
        return iter([X] if len(calls) < 3 else [X, X[:5]])

    with pytest.raises(SourceError, match=f"pass ended after {N + 5} rows, expected {N}"):
        _fit(source(growing), max_iter=5)
    gm = _fit(X)
    with pytest.raises(ValueError, match=f"out has {N + 1} rows, but the data has {N}"):
        gm.predict(source(lambda: iter([X])), out=np.empty(N + 1, dtype=np.int64))


def test_a_callable_that_continues_its_first_iterator_is_refused(X):
    """A callable whose iterators share one underlying iterator: opening the source read the
    first chunk, so the first pass reads only the rest. That is fewer rows than the first
    chunk: refused, where ``predict`` gave results for the rest alone."""
    shared = iter([X[:500], X[500:]])
    src = source(lambda: (c for c in shared))
    gm = _fit(X)
    with pytest.raises(SourceError, match="pass ended after 101 rows, expected at least 500"):
        gm.predict(src)


def test_a_folder_of_parquet_files_not_named_parquet_is_told_how_to_read_it(X, tmp_path):
    """The error said only "unsupported format '(none)'"; it now says how a folder is read,
    and the way it says works (the same rows as in memory)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    (tmp_path / "parts").mkdir()
    pq.write_table(pa.table({f"c{i}": X[:, i] for i in range(D)}), tmp_path / "parts" / "a.pq")
    with pytest.raises(ValueError, match=r"ends with \.parquet, or pass pyarrow\.dataset"):
        source(tmp_path / "parts")
    np.testing.assert_array_equal(source(ds.dataset(tmp_path / "parts")).read(), X)
    (tmp_path / "parts").rename(tmp_path / "parts.parquet")
    np.testing.assert_array_equal(source(tmp_path / "parts.parquet").read(), X)


def test_infinity_with_nan_marginalized_is_named_as_infinity(X):
    """With missing="marginalize" a NaN is allowed: an infinite value was reported as "NaN or
    infinite value; fastem needs finite input", as if the NaN were the fault. It is named as
    infinity, as in memory, at its row."""
    Xi = X.copy()
    Xi[3, 0] = np.nan
    Xi[150, 1] = np.inf
    gm = GaussianMixture(K, missing="marginalize")
    with pytest.raises(ValueError, match="infinity") as mem:
        gm.fit(Xi)
    assert "NaN marks a missing value" in str(mem.value)
    for obj in (Xi, lambda: iter([Xi[:CHUNK], Xi[CHUNK:]])):
        with pytest.raises(SourceError, match="row offset 150: infinite value; infinity is not"):
            gm.fit(source(obj, chunk_rows=None if callable(obj) else CHUNK))


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
