"""Data integrity (issue 18) of what is read: a checkpoint's fingerprint of its data, CSV
rows, and files or folders changed under a source (every reproduced case, as an example test).

The outputs, model files and messages of the same issue are in ``tests/test_integrity.py``;
the property tests in ``tests/test_integrity_properties.py``.
"""

import os

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture as GM
from fastem.cli import main

from .conftest import two_blobs

X = two_blobs()


@pytest.fixture(scope="module")
def gm():
    return GM(2, random_state=0).fit(X)


# ------------------------------------------------------------- 1. fingerprint


def test_checkpoint_refuses_data_changed_outside_sampled_rows(tmp_path):
    rng = np.random.default_rng(0)
    A = np.concatenate([rng.normal(m, 1, (1024, 3)) for m in (0, 4, 8, 12)])
    ckpt = tmp_path / "c.npz"
    GM(4, random_state=0, max_iter=5).fit(A, checkpoint=ckpt)
    B = A.copy()
    B[np.arange(4096) % 4 != 0] += 100
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GM(4, random_state=0, max_iter=5).fit(B, checkpoint=ckpt)


def test_checkpoint_refuses_weights_or_callable_changed_after_first_chunk(tmp_path):
    ckpt = tmp_path / "c.npz"
    chunks = [X[:100], X[100:200], X[200:]]
    GM(2, random_state=0, max_iter=3).fit(lambda: iter(chunks), checkpoint=ckpt)
    other = [X[:100], X[100:200], X[200:] + 1]
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GM(2, random_state=0, max_iter=3).fit(lambda: iter(other), checkpoint=ckpt)


def test_checkpoint_refuses_npy_file_changed_in_one_value(tmp_path):
    path, ckpt = tmp_path / "X.npy", tmp_path / "c.npz"
    np.save(path, X)
    GM(2, random_state=0, max_iter=3).fit(str(path), checkpoint=ckpt)
    st = os.stat(path)
    Y = X.copy()
    Y[150, 1] += 1e-9
    np.save(path, Y)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and modification time
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GM(2, random_state=0, max_iter=3).fit(str(path), checkpoint=ckpt)


@pytest.mark.parametrize("form", ["memory", "npy"])
def test_checkpoint_refuses_data_changed_past_the_first_hashed_block(tmp_path, monkeypatch, form):
    """Buffers and files are hashed in blocks of ``_digest.BLOCK`` bytes (8 MB): a change in
    the last row, many blocks after the first, is another call's data too."""
    monkeypatch.setattr("fastem._digest.BLOCK", 512)  # X's 4,800 bytes are ten blocks
    path, ckpt = tmp_path / "X.npy", tmp_path / "c.npz"
    np.save(path, X)
    GM(2, random_state=0, max_iter=3).fit(X if form == "memory" else str(path), checkpoint=ckpt)
    Y = X.copy()
    Y[-1, 1] += 1e-9
    np.save(path, Y)
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GM(2, random_state=0, max_iter=3).fit(Y if form == "memory" else str(path), checkpoint=ckpt)


@pytest.mark.parametrize("form", ["memory", "source"])
@pytest.mark.parametrize("what", ["sample_weight", "labels"])
def test_checkpoint_refuses_weights_or_labels_vector_changed_in_one_row(tmp_path, what, form):
    """The fingerprint covers the weights and labels vectors of in-memory data and of a source,
    not only the rows: a checkpoint of a fit with other weights (labels) returned that fit's
    parameters."""
    ckpt = tmp_path / "c.npz"
    data = X if form == "memory" else fastem.source(X, chunk_rows=128)
    value = np.ones(len(X)) if what == "sample_weight" else np.full(len(X), -1)
    value[:2] = [0, 1] if what == "labels" else [1, 1]
    GM(2, random_state=0, max_iter=3).fit(data, checkpoint=ckpt, **{what: value})
    other = value.copy()
    other[-1] = 2 if what == "sample_weight" else 1
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GM(2, random_state=0, max_iter=3).fit(data, checkpoint=ckpt, **{what: other})


def test_checkpoint_accepts_numpy_scalars_for_python_numbers(tmp_path):
    ckpt = tmp_path / "c.npz"
    a = GM(2, random_state=0, tol=1e-6, max_iter=4).fit(X, checkpoint=ckpt)
    b = GM(2, random_state=np.int64(0), tol=np.float64(1e-6), max_iter=np.int32(4))
    b.fit(X, checkpoint=ckpt)
    np.testing.assert_array_equal(a.means_, b.means_)


def _three_columns(tmp_path, kind):
    """A file of columns a, b, c (``X``'s two and a third), and how a column is selected
    in it (a name, or an index where there are no names)."""
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": np.linspace(1, 2, len(X))})
    if kind == "npy":
        np.save(tmp_path / "d.npy", table.to_numpy())
        return tmp_path / "d.npy", {"a": 0, "b": 1, "c": 2}.get
    if kind == "csv":
        table.to_csv(tmp_path / "d.csv", index=False)
        return tmp_path / "d.csv", str
    pytest.importorskip("pyarrow")
    if kind == "parquet":
        table.to_parquet(tmp_path / "d.parquet")
        return tmp_path / "d.parquet", str
    (tmp_path / "d.parquet").mkdir()  # a folder of two parts
    table[:100].to_parquet(tmp_path / "d.parquet" / "p0.parquet")
    table[100:].to_parquet(tmp_path / "d.parquet" / "p1.parquet")
    return tmp_path / "d.parquet", str


@pytest.mark.parametrize("kind", ["parquet", "parquet folder", "csv", "npy"])
def test_checkpoint_refuses_other_columns_of_the_same_file(tmp_path, kind):
    """The fingerprint covers the columns read (names and order) and the weight column, next
    to the file's bytes: a parquet file's selection was renumbered from 0 by its reader, so
    ``columns=["b", "a"]`` or ``["a", "c"]`` resumed the ``["a", "b"]`` checkpoint and
    returned its means."""
    path, col = _three_columns(tmp_path, kind)
    ckpt = tmp_path / "c.npz"

    def fit(columns, weight_column=None):
        src = fastem.source(
            path, columns=[col(c) for c in columns], weight_column=weight_column and col("c")
        )
        return GM(2, random_state=0, max_iter=3).fit(src, checkpoint=ckpt)

    first = fit(["a", "b"])
    for columns, weight in ((["b", "a"], None), (["a", "c"], None), (["a", "b"], "c")):
        with pytest.raises(ValueError, match="other hyper-parameters or data"):
            fit(columns, weight)
    np.testing.assert_array_equal(fit(["a", "b"]).means_, first.means_)  # the same: resumed


# ------------------------------------------------------------------- 2. CSV


def test_csv_blank_line_runs_do_not_stop_reading(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n\n3,4\n5,6\n7,8\n9,1\n")
    src = fastem.source(str(path), chunk_rows=1)
    np.testing.assert_array_equal(src.read(), [[1, 2], [3, 4], [5, 6], [7, 8], [9, 1]])
    assert src.n_rows == 5


def test_csv_without_header_keeps_its_first_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2\n3,4\n5,6\n")
    src = fastem.source(str(path))
    assert src.shape == (3, 2)
    np.testing.assert_array_equal(src.read(), [[1, 2], [3, 4], [5, 6]])


def test_csv_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbfx,y\n1,2\n3,4\n")
    src = fastem.source(str(path), columns=["x"])
    assert src.feature_names == ["x"]
    np.testing.assert_array_equal(src.read(), [[1], [3]])


def test_cli_fit_counts_every_csv_row(tmp_path, capsys):
    path = tmp_path / "d.csv"
    np.savetxt(path, X, delimiter=",")  # no header
    text = path.read_text().replace("\n", "\n\n\n", 3)
    path.write_text(text)
    assert main(["fit", str(path), "-k", "2", "-o", str(tmp_path / "m.npz")]) == 0
    assert f"{len(X)} rows" in capsys.readouterr().out


# ------------------------------------------------- 4. files changed under a source


def _rewrite_npy(path, array):
    np.save(path, array)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # coarse clocks: a visible change


def test_reused_source_reads_the_rewritten_file_with_its_new_header(tmp_path, gm):
    path = tmp_path / "X.npy"
    np.save(path, X)
    src = fastem.source(str(path))
    assert gm.predict(src).shape == (300,)
    big = np.concatenate([X, X])
    _rewrite_npy(path, big)
    np.testing.assert_array_equal(gm.predict(src), gm.predict(big))
    _rewrite_npy(path, X.astype(np.float32))
    assert gm.score(src) == pytest.approx(gm.score(X.astype(np.float32)), rel=1e-5)


def test_file_rewritten_during_a_fit_is_refused(tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)

    class Rewriting(GM):
        def _print_iter_end(self, n_iter, change):
            if n_iter == 2:
                _rewrite_npy(path, X[:200] + 1)

    with pytest.raises(ValueError, match="changed while it was being read"):
        Rewriting(2, random_state=0, max_iter=10, tol=0).fit(str(path))


def _rewrite_one_part_of_its_identity(path, part):
    """Rewrite ``path`` (``X`` as .npy) so that one of the size, ``mtime_ns``, inode and header
    a source compares changes, and none of the others ("ctime": only the system's ``ctime``,
    which no call sets back)."""
    st = os.stat(path)
    if part == "mtime":  # in place, other values of the same shape
        np.save(path, X + 1)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    elif part == "ctime":  # in place, other values of the same shape, the old time restored
        np.save(path, X + 1)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif part == "inode":  # another file renamed over it, with the old modification time
        new = path.with_name("new.npy")
        np.save(new, X + 1)
        os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(new, path)
    else:  # in place, the header of float32 rows of the same byte count, the old time
        np.save(path, np.concatenate([X, X]).astype(np.float32))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    now = os.stat(path)
    assert now.st_size == st.st_size
    assert (now.st_mtime_ns != st.st_mtime_ns) == (part == "mtime")
    assert (now.st_ino != st.st_ino) == (part == "inode")


@pytest.mark.parametrize("part", ["mtime", "ctime", "inode", "header"])
def test_file_rewritten_to_the_same_size_during_a_fit_is_refused(tmp_path, part):
    """robustness.md: the file's size, ``mtime_ns``, ``ctime_ns``, inode and header are each
    compared; a rewrite that keeps the size (the same shape, new values) mixed old and new
    rows, also one that set the old modification time back."""
    path = tmp_path / "X.npy"
    np.save(path, X)

    class Rewriting(GM):
        def _print_iter_end(self, n_iter, change):
            if n_iter == 2:
                _rewrite_one_part_of_its_identity(path, part)

    with pytest.raises(ValueError, match="changed while it was being read"):
        Rewriting(2, random_state=0, max_iter=10, tol=0).fit(str(path))


def test_csv_rewritten_during_a_pass_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    np.savetxt(path, X, delimiter=",", header="a,b", comments="")
    src = fastem.source(str(path), chunk_rows=50)
    chunks = iter(src)
    next(chunks)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="changed while it was being read"):
        list(chunks)


def _write_folder(path, kind, A, part="p0"):
    """``A`` as a zarr store (rewritten whole), or as the part file ``part`` of a parquet
    folder (the other parts kept)."""
    import shutil

    if kind == "zarr":
        zarr = pytest.importorskip("zarr")
        shutil.rmtree(path, ignore_errors=True)
        zarr.open_array(str(path), mode="w", shape=A.shape, chunks=(50, 2), dtype=A.dtype)[:] = A
        return
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path.mkdir(exist_ok=True)
    pq.write_table(pa.table({"a": A[:, 0], "b": A[:, 1]}), path / f"{part}.parquet")


@pytest.mark.parametrize("kind", ["zarr", "parquet folder"])
def test_reused_folder_source_reads_the_changed_folder(tmp_path, gm, kind):
    """robustness.md: a folder's identity is that of every file under it. A zarr source kept
    across a rewrite of its store read the new chunks with the old shape (1000 rows after a
    rewrite to 1500, zeros invented after one to 500); a parquet folder ignored a part added
    (rows lost) or failed on a part rewritten ("Page was smaller than expected")."""
    path = tmp_path / ("d.zarr" if kind == "zarr" else "d.parquet")
    _write_folder(path, kind, X)
    src = fastem.source(str(path), chunk_rows=100)
    assert gm.predict(src).shape == (300,)
    if kind == "zarr":
        changes = [np.concatenate([X, X[:150] + 1]), X[:100] + 2]  # the store rewritten
    else:
        changes = [("p1", X[:150] + 1), ("p0", np.concatenate([X, X]))]  # a part added, rewritten
    now = X
    for change in changes:
        if kind == "zarr":
            _write_folder(path, kind, change)
            now = change
        else:
            _write_folder(path, kind, change[1], change[0])
            now = np.concatenate([change[1], now[300:]] if change[0] == "p0" else [now, change[1]])
        np.testing.assert_array_equal(gm.predict(src), gm.predict(now))
        np.testing.assert_array_equal(fastem.source(src, chunk_rows=64).read(), now)
        assert src.n_rows == len(now)


class _ChangingAtPass2(GM):
    """Calls ``change`` after the second EM pass (as another process writing then)."""

    def __init__(self, change, **kw):
        super().__init__(2, random_state=0, max_iter=10, tol=0, **kw)
        self.change = change

    def _print_iter_end(self, n_iter, change):
        if n_iter == 2:
            self.change()


@pytest.mark.parametrize(
    "kind, change",
    [("zarr", "rewritten"), ("parquet folder", "rewritten"), ("parquet folder", "added")],
)
def test_folder_changed_during_a_fit_is_refused(tmp_path, kind, change):
    """A zarr store or a parquet folder changed between EM passes of a fit (values rewritten in
    place in the same shape, a part file added) was read on: the fit ended silently on a mix
    of old and new rows."""
    path = tmp_path / ("d.zarr" if kind == "zarr" else "d.parquet")
    _write_folder(path, kind, X)

    def rewrite():
        if kind == "zarr":  # in place, the same shape and chunks
            import zarr

            zarr.open_array(str(path), mode="r+")[:] = X + 1
        else:
            _write_folder(path, kind, X[:100] + 1, "p0" if change == "rewritten" else "p1")

    with pytest.raises(ValueError, match="changed while it was being read"):
        _ChangingAtPass2(rewrite).fit(fastem.source(str(path), chunk_rows=100))


def test_zarr_source_watches_its_own_array(tmp_path):
    """A zarr source's identity is its array's folder: a write of another array of the same
    store during a fit (results written next to the data) is no change; one of its own is."""
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    for name in ("x", "other"):
        group.create_array(name, shape=X.shape, chunks=(50, 2), dtype=X.dtype)[:] = X
    src = fastem.source(str(tmp_path / "d.zarr"), dataset="x", chunk_rows=100)

    def write(name):
        return lambda: group[name].__setitem__(slice(0, 10), X[:10] + 1)

    ref = GM(2, random_state=0, max_iter=10, tol=0).fit(X)  # (sums chunk by chunk: ~1e-16)
    np.testing.assert_allclose(_ChangingAtPass2(write("other")).fit(src).means_, ref.means_)
    with pytest.raises(ValueError, match="changed while it was being read"):
        _ChangingAtPass2(write("x")).fit(src)


def test_parquet_part_rewritten_during_a_pass_is_refused(tmp_path):
    """A part rewritten while a pass reads the folder: refused at the end of the pass."""
    path = tmp_path / "d.parquet"
    _write_folder(path, "parquet folder", X, "p0")
    _write_folder(path, "parquet folder", X, "p1")
    chunks = iter(fastem.source(str(path), chunk_rows=100))
    next(chunks)
    _write_folder(path, "parquet folder", np.concatenate([X, X])[:500], "p1")
    with pytest.raises(ValueError, match="changed while it was being read"):
        list(chunks)


def test_a_read_error_after_the_folder_changed_names_the_change(tmp_path):
    """Arrow reads a part rewritten under it with the sizes it had listed, and fails ("Page
    was smaller than expected"): the error says that the folder changed, not Arrow's words
    (the failure is made here, as it comes only when Arrow had not read ahead)."""
    path = tmp_path / "d.parquet"
    _write_folder(path, "parquet folder", X, "p0")
    src = fastem.source(str(path), chunk_rows=100)
    batches = src._batches

    def failing():
        it = batches()
        yield next(it)
        _write_folder(path, "parquet folder", X[:100] + 1, "p0")
        raise OSError("Unexpected end of stream: Page was smaller (1265) than expected (1370)")

    src._batches = failing
    with pytest.raises(ValueError, match="changed while it was being read"):
        src.read()


def test_folder_identity_skips_what_the_reader_skips(tmp_path):
    """A parquet folder's ``_SUCCESS`` or ``.crc`` files are not read (pyarrow.dataset skips
    names starting with '_' or '.'): written during a call, they are no change."""
    path = tmp_path / "d.parquet"
    _write_folder(path, "parquet folder", X)
    src = fastem.source(str(path), chunk_rows=100)
    (path / "_SUCCESS").write_text("")
    (path / ".p0.parquet.crc").write_text("")
    np.testing.assert_array_equal(src.read(), X)


def test_a_kept_labels_source_reads_its_rewritten_file(tmp_path):
    """Data and weight sources kept across a rewrite are re-opened at the next call; a labels
    source was not, so every later fit failed with "changed while it was being read ... run
    the call again", and running it again failed the same way."""
    rng = np.random.default_rng(0)
    Y = np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(5, 1, (150, 2))])
    lab = np.full(300, -1)
    lab[:10], lab[150:160] = 0, 1
    np.save(tmp_path / "X.npy", Y)
    np.save(tmp_path / "lab.npy", lab)
    labels = fastem.source(tmp_path / "lab.npy")
    GM(2, random_state=0).fit(tmp_path / "X.npy", labels=labels)
    lab[10:20] = 1  # new labels, the same size
    _rewrite_npy(tmp_path / "lab.npy", lab)
    got = GM(2, random_state=0).fit(tmp_path / "X.npy", labels=labels)
    want = GM(2, random_state=0).fit(Y, labels=lab)
    np.testing.assert_allclose(got.means_, want.means_, rtol=1e-12)


def test_a_npy_file_of_format_version_3_is_read(tmp_path):
    """np.load reads it; the source called a private numpy function that numpy 2 moved, and
    every call failed with an AttributeError. An unknown version gets a clear error."""
    from numpy.lib import format as npformat

    with open(tmp_path / "v3.npy", "wb") as f:
        npformat.write_array(f, X, version=(3, 0))
    np.testing.assert_array_equal(np.vstack(list(fastem.source(tmp_path / "v3.npy"))), X)
    raw = bytearray((tmp_path / "v3.npy").read_bytes())
    raw[6] = 9  # the major version byte
    (tmp_path / "v9.npy").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="not a valid .npy file.*version 9.0.*np.save"):
        fastem.source(tmp_path / "v9.npy")
