"""Sources' errors: each names the source, the row and what to do; a failed fit keeps the
model as it was."""

import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture, SourceError, source

from .helpers import (
    CHUNK,
    D,
    K,
    N,
    _assert_same,
    _fit,
    _init,
)


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


def test_a_callable_that_continues_its_first_iterator_loses_no_rows(X):
    """A callable whose iterators share one underlying iterator: opening the source read the
    first chunk, so the first pass read only the rest (``predict`` gave results for the rest
    alone). The first pass continues the iterator the source opened; the next, which has no
    rows left, is refused."""
    shared = iter([X[:500], X[500:]])
    src = source(lambda: (c for c in shared))
    gm = _fit(X)
    np.testing.assert_array_equal(gm.predict(src), gm.predict(X))
    with pytest.raises(SourceError, match=f"pass ended after 0 rows, expected {N}; the callable"):
        gm.predict(src)


def test_a_callable_over_one_shared_cursor_loses_no_rows(X):
    """docs/streaming.md's callable over a database cursor, each iterator reading on where the
    last stopped: ``source()`` read the first chunk to learn the width, so a one-pass call
    (predict, score, fit_online) read the rows after it only (900 of 1000, silently). It reads
    every row; a fit, which reads them once per iteration, is refused at its second pass; a
    source re-opened with a weight column continues the iterator the source opened."""
    Xw = np.column_stack([X, np.linspace(0.5, 2.0, N)])

    class Cursor:  # a DB-API cursor's fetchmany, over one result set
        pos = 0

        def fetchmany(self, k):
            rows = Xw[self.pos : self.pos + k]
            self.pos += len(rows)
            return rows

    def chunks():
        while len(rows := cursor.fetchmany(CHUNK)):
            yield rows[:, :D]

    def weighted():
        while len(rows := cursor.fetchmany(CHUNK)):
            yield rows

    gm = _fit(X)
    cursor = Cursor()
    np.testing.assert_array_equal(gm.predict(chunks), gm.predict(X))
    cursor = Cursor()
    np.testing.assert_allclose(gm.score(chunks), gm.score(X), rtol=1e-12)
    cursor = Cursor()
    assert GaussianMixture(K, random_state=0).fit_online(chunks).n_rows_seen_ == N
    cursor = Cursor()
    with pytest.raises(SourceError, match=f"pass ended after 0 rows, expected {N}; the callable"):
        _fit(chunks)
    cursor = Cursor()
    got = gm.score(source(weighted), sample_weight=str(D))  # re-opened with weight_column=D
    np.testing.assert_allclose(got, gm.score(X, sample_weight=Xw[:, D]), rtol=1e-12)


def test_a_callables_odd_first_chunk_or_return_value_is_told_what_to_yield(X):
    """A ragged first chunk got NumPy's message, naming no source; a first chunk of shape
    (0, 0) "no feature columns selected"; a callable that returns the array itself, and an
    empty 1-D chunk, were told to reshape rows; an empty chunk of another width, "0 columns,
    expected 3". Each names the source and what to yield, and the advice fits."""
    pd = pytest.importorskip("pandas")
    cases = [
        (
            lambda: iter([[[1.0, 2.0], [3.0]]]),
            r"row offset 0: the first chunk is not an array of numbers \(.*inhomogeneous.*\); "
            r"yield 2-D arrays \(rows x features\) whose rows all hold the same number of values",
        ),
        (
            lambda: X,
            rf"row offset 0: the callable returned a ndarray of shape \({N}, {D}\), not an "
            r"iterator of chunks: return a fresh iterator of 2-D chunks on each call \(lambda: "
            r"iter\(\[X\]\), or a generator function\), or pass the array itself",
        ),
        (
            lambda: pd.DataFrame(X),
            rf"row offset 0: the callable returned a DataFrame of shape \({N}, {D}\), not an ",
        ),
        (
            lambda: iter([np.empty((0, 0)), X]),
            r"row offset 0: the first chunk has shape \(0, 0\), no columns, and the number of "
            r"features is read from it; .* or yield it as np\.empty\(\(0, n_features\)\)",
        ),
        (
            lambda: iter([np.array([]), X]),
            r"row offset 0: empty chunk of shape \(0,\); chunks of rows are 2-D, all with the "
            r"first chunk's number of columns: skip an empty chunk, or yield it as "
            r"np\.empty\(\(0, n_features\)\)",
        ),
        (
            lambda: iter([X[:50], np.empty((0, 0)), X[50:]]),
            rf"row offset 50: empty chunk of shape \(0, 0\); .*np\.empty\(\(0, {D}\)\)",
        ),
    ]
    for func, message in cases:
        with pytest.raises(SourceError, match=r"^callable .*<lambda>, " + message):
            _fit(func)
    init = _init(X)
    chunks = [np.empty((0, D)), X[:50], np.empty((0, D)), X[50:]]
    _assert_same(_fit(X, **init), _fit(lambda: iter(chunks), **init), rtol=1e-12)


def test_a_callables_frames_are_read_by_their_column_names(X):
    """A callable yielding pandas frames: a later frame with its columns in another order was
    read by position (its columns swapped silently), and a model fitted on a frame named a, b,
    c predicted frames named c, b, a. The later frame is refused, naming both lists; the first
    frame's names are the source's: checked against a model's, selected by ``columns=``."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["a", "b", "c"])

    def chunks():
        yield df[:200]
        yield df[200:400][["c", "b", "a"]]
        yield df[400:]

    message = (
        r"row offset 200: chunk's columns are \['c', 'b', 'a'\], the first chunk's \['a', 'b', "
        r"'c'\]: frames are read by position; yield every frame with the first one's columns in "
        r"its order \(frame\[\['a', 'b', 'c'\]\]\)"
    )
    with pytest.raises(SourceError, match=message):
        _fit(chunks)
    gm = _fit(df)

    def reordered():
        return iter([df[["c", "b", "a"]]])

    with pytest.raises(ValueError, match="columns are c, b, a, but the model was fitted on a, b"):
        gm.predict(reordered)
    got = gm.predict(source(reordered, columns=["a", "b", "c"]))
    np.testing.assert_array_equal(got, gm.predict(df))


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


def test_a_zarr_array_in_a_sub_group_is_read_as_in_hdf5(X, tmp_path):
    """An array in a sub-group got "pass dataset= to choose one of the arrays []" and
    ``dataset="sub/x"`` was refused; as for HDF5's "grp/x", the path reads it, and the
    message lists every array of the store (sub-groups included)."""
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    sub = group.create_group("sub")
    sub.create_array("x", shape=X.shape, chunks=(50, D), dtype=X.dtype)[:] = X
    np.testing.assert_array_equal(source(tmp_path / "g.zarr").read(), X)  # the only array
    for dataset in ("sub/x", "/sub/x"):
        np.testing.assert_array_equal(source(tmp_path / "g.zarr", dataset=dataset).read(), X)
    np.testing.assert_array_equal(source(group, dataset="sub/x").read(), X)  # a zarr.Group
    sub.create_group("deeper").create_array("y", shape=(3, 2), dtype="f8")
    with pytest.raises(ValueError, match=r"choose one of the arrays \['sub/deeper/y', 'sub/x'\]"):
        source(tmp_path / "g.zarr")
    with pytest.raises(ValueError, match=r"no array 'x'; arrays are \['sub/deeper/y', 'sub/x'\]"):
        source(tmp_path / "g.zarr", dataset="x")
    zarr.open_group(str(tmp_path / "empty.zarr"), mode="w")
    with pytest.raises(ValueError, match="choose an array; it holds none"):
        source(tmp_path / "empty.zarr")


def test_an_empty_parquet_folder_is_named_as_such(tmp_path):
    """An empty folder (or one of files pyarrow.dataset skips) got "no feature columns
    selected"; it is told that it holds no parquet files."""
    pytest.importorskip("pyarrow")
    (tmp_path / "e.parquet").mkdir()
    with pytest.raises(SourceError, match=r"e\.parquet.*the folder holds no parquet files"):
        _fit(tmp_path / "e.parquet")
    (tmp_path / "e.parquet" / "_SUCCESS").write_text("")
    with pytest.raises(SourceError, match="the folder holds no parquet files"):
        source(tmp_path / "e.parquet")


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


def test_an_empty_source_is_refused_with_and_without_out(X, tmp_path):
    """predict(src) refused a source of no rows; predict(src, out=...) wrote an empty result."""
    gm = GaussianMixture(2, random_state=0).fit(X)
    np.save(tmp_path / "empty.npy", np.empty((0, X.shape[1])))
    np.save(tmp_path / "o.npy", np.arange(3))
    before = (tmp_path / "o.npy").read_bytes()
    for out in (None, tmp_path / "o.npy", np.empty(0, dtype=np.int64)):
        with pytest.raises(SourceError, match="the source holds no rows"):
            gm.predict(source(tmp_path / "empty.npy"), out=out)
    assert (tmp_path / "o.npy").read_bytes() == before  # the old file is kept


@pytest.mark.parametrize("any_thread", [False, True])
def test_a_database_cursor_tied_to_its_thread_is_told_how_to_allow_the_reader(any_thread):
    """A sqlite3 connection refuses the reader thread; the message said nothing of fastem's
    thread. With check_same_thread=False (the fix it names) the fit is the in-memory one."""
    import sqlite3

    rng = np.random.default_rng(0)
    Y = np.vstack([rng.normal(0, 1, (500, 2)), rng.normal(5, 1, (500, 2))])
    con = sqlite3.connect(":memory:", check_same_thread=not any_thread)
    con.execute("create table t (a real, b real)")
    con.executemany("insert into t values (?, ?)", Y.tolist())

    def chunks():
        cur = con.execute("select a, b from t order by rowid")
        while rows := cur.fetchmany(128):
            yield np.array(rows)

    gm = GaussianMixture(2, random_state=0)
    if not any_thread:
        with pytest.raises(SourceError, match=r"background thread.*check_same_thread=False"):
            gm.fit(source(chunks))
        return
    np.testing.assert_allclose(gm.fit(source(chunks)).means_, gm.fit(Y).means_, rtol=1e-12)


def test_a_frame_given_as_a_source_is_told_to_pass_its_rows(X):
    """fit and partial_fit take a pandas frame; fit_online (and fastem.source) got the list of
    what a source may be, with no word of the frame at hand."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    with pytest.raises(TypeError, match=r"DataFrame.to_numpy\(\) \(fit and partial_fit take"):
        GaussianMixture(2).fit_online(frame)
    with pytest.raises(TypeError, match=r"a NumPy array, or a callable .* 2-D arrays\.$"):
        source(object())
    gm = GaussianMixture(2, random_state=0).fit_online(frame.to_numpy())  # the fix it names
    assert gm.means_.shape == (2, X.shape[1])
