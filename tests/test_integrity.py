"""Data integrity (issue 18): every reproduced case, as an example test.

Nothing silently wrong, nothing lost, no input overwritten. The property tests
of the same classes are in ``tests/test_integrity_properties.py``.
"""

import os
import stat
import zipfile

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture as GM
from fastem.cli import main


def _two_blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (n // 2, 2)), rng.normal(6, 1, (n - n // 2, 2))])


X = _two_blobs()


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


# ------------------------------------------------------ 3. outputs never inputs


@pytest.fixture
def files(tmp_path, gm):
    np.save(tmp_path / "X.npy", X)
    fastem.save(gm, tmp_path / "m.npz")
    fastem.save(gm, tmp_path / "m.txt")  # a model file under another name
    return tmp_path


def _unchanged(path):
    before = path.read_bytes()
    return lambda: path.read_bytes() == before


@pytest.mark.parametrize(
    "argv, victim",
    [
        (["fit", "X.npy", "-k", "2", "-o", "X.npy"], "X.npy"),
        (["fit", "X.npy", "-k", "2", "-o", "m2.npz", "--checkpoint", "X.npy"], "X.npy"),
        (["predict", "m.npz", "X.npy", "-o", "X.npy"], "X.npy"),
        (["predict", "m.npz", "X.npy", "-o", "./sub/../X.npy"], "X.npy"),
        (["sample", "m.txt", "-n", "5", "-o", "m.txt"], "m.txt"),
        (["select", "X.npy", "--k-range", "1:2", "-o", "X.npy"], "X.npy"),
    ],
)
def test_cli_refuses_output_that_is_an_input(files, argv, victim, capsys, monkeypatch):
    monkeypatch.chdir(files)
    (files / "sub").mkdir()
    same = _unchanged(files / victim)
    assert main(argv) == 1
    assert "is the input file" in capsys.readouterr().err
    assert same()


def test_api_refuses_out_or_checkpoint_that_is_the_data(files, gm):
    path = str(files / "X.npy")
    same = _unchanged(files / "X.npy")
    with pytest.raises(ValueError, match="is the input file"):
        gm.score_samples(path, out=path)
    with pytest.raises(ValueError, match="is the input file"):
        gm.predict(np.load(path, mmap_mode="r"), out=path)
    with pytest.raises(ValueError, match="is the input file"):
        GM(2, random_state=0).fit(path, checkpoint=path)
    assert same()


@pytest.mark.parametrize("what", ["sample_weight", "labels"])
def test_api_refuses_a_checkpoint_that_is_a_weights_or_labels_file(files, what):
    """robustness.md: every path a call writes is checked against every file it reads, "the
    data, weight and label files" included."""
    np.save(files / "v.npy", np.ones(len(X)) if what == "sample_weight" else np.full(len(X), -1))
    same = _unchanged(files / "v.npy")
    with pytest.raises(ValueError, match="is the input file"):
        GM(2, random_state=0).fit(
            str(files / "X.npy"), checkpoint=str(files / "v.npy"), **{what: str(files / "v.npy")}
        )
    assert same()


def test_cli_refuses_two_outputs_that_are_one_file(files, capsys, monkeypatch):
    """robustness.md and cli.md: two outputs that are one file (here spelled two ways, neither
    existing yet) are refused before the fit."""
    monkeypatch.chdir(files)
    calls = []
    monkeypatch.setattr(GM, "fit", lambda *a, **k: calls.append(1))
    argv = ["fit", "X.npy", "-k", "2", "-o", "new.npz", "--checkpoint", "sub/../new.npz"]
    (files / "sub").mkdir()
    assert main(argv) == 1
    assert "is also the" in capsys.readouterr().err
    assert not calls and not (files / "new.npz").exists()


def test_save_refuses_to_replace_a_file_that_is_not_a_model(files, gm):
    same = _unchanged(files / "X.npy")
    with pytest.raises(ValueError, match="not a fastem model file"):
        fastem.save(gm, files / "X.npy")
    assert same()
    np.savez(files / "data.npz", X=X)  # data in a .npz archive: a zip file, not a model
    same = _unchanged(files / "data.npz")
    with pytest.raises(ValueError, match="not a fastem model file"):
        fastem.save(gm, files / "data.npz")
    assert same()
    fastem.save(gm, files / "m.npz")  # replacing a model file is fine


def test_unwritable_output_is_found_before_the_fit(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    calls = []
    monkeypatch.setattr(GM, "fit", lambda *a, **k: calls.append(1))
    assert main(["fit", "X.npy", "-k", "2", "-o", "no/such/folder/m.npz"]) == 1
    err = capsys.readouterr().err
    assert "no such directory" in err and ".fastem-" not in err
    assert not calls


@pytest.mark.parametrize("suffix, load", [(".txt", np.loadtxt), (".csv", None), (".npy", np.load)])
def test_cli_output_format_follows_the_suffix(files, gm, suffix, load, monkeypatch):
    monkeypatch.chdir(files)
    assert main(["predict", "m.npz", "X.npy", "-o", "lab" + suffix, "-q"]) == 0
    if load is None:
        got = np.loadtxt(files / ("lab" + suffix), delimiter=",")
    else:
        got = load(files / ("lab" + suffix))
    np.testing.assert_array_equal(got, gm.predict(X))


@pytest.mark.parametrize("suffix, delimiter", [(".csv", ","), (".txt", " ")])
def test_cli_text_output_of_several_columns_uses_the_suffixs_delimiter(
    files, gm, suffix, delimiter, monkeypatch
):
    """cli.md: .csv is comma-separated, .txt space-separated - seen only with more than one
    column (the probabilities of --proba), each line read back with exactly that delimiter."""
    monkeypatch.chdir(files)
    assert main(["predict", "m.npz", "X.npy", "--proba", "-o", "p" + suffix, "-q"]) == 0
    lines = (files / ("p" + suffix)).read_text().splitlines()
    got = np.array([[float(v) for v in line.split(delimiter)] for line in lines])
    np.testing.assert_array_equal(got, gm.predict_proba(X))


def test_cli_refuses_unknown_output_suffix(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    assert main(["predict", "m.npz", "X.npy", "-o", "lab.dat"]) == 2
    assert "unknown suffix '.dat'" in capsys.readouterr().err
    assert not (files / "lab.dat").exists()


# ------------------------------------------------------------ 8. file modes


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_written_files_respect_umask_and_keep_modes(files, gm):
    old = os.umask(0o022)
    try:
        fastem.save(gm, files / "new.npz")
        assert stat.S_IMODE(os.stat(files / "new.npz").st_mode) == 0o644
        out = files / "p.npy"
        np.save(out, np.zeros(1))
        os.chmod(out, 0o640)
        gm.predict(X, out=str(out))
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
        GM(2, random_state=0, max_iter=2).fit(X, checkpoint=files / "c.npz")
        assert stat.S_IMODE(os.stat(files / "c.npz").st_mode) == 0o644
    finally:
        os.umask(old)


# ----------------------------------------------------- 7. untrusted model files


def _zip_with(path, src, extra=None, replace=None):
    """Copy archive ``src`` to ``path``, adding ``extra`` and replacing ``replace`` entries."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = replace.get(info.filename, zin.read(info))
            zout.writestr(info.filename, data)
        for name, (data, method) in (extra or {}).items():
            zout.writestr(name, data, compress_type=method)


def test_model_entry_of_raw_bytes_is_refused(files):
    _zip_with(files / "bad.npz", files / "m.npz", replace={"weights_.npy": b"hello"})
    with pytest.raises(ValueError, match="raw bytes"):
        fastem.load(files / "bad.npz")


def test_deeply_nested_metadata_is_refused(files):
    deep = "[" * 100_000 + "]" * 100_000
    arr = np.array(deep)
    import io as _io

    buf = _io.BytesIO()
    np.lib.format.write_array(buf, arr)
    _zip_with(files / "bad.npz", files / "m.npz", replace={"__metadata__.npy": buf.getvalue()})
    with pytest.raises(ValueError, match="nested deeper"):
        fastem.load(files / "bad.npz")


def test_header_declaring_huge_array_is_refused_before_allocating(files):
    with zipfile.ZipFile(files / "m.npz") as z:
        raw = z.read("means_.npy")
    huge = raw.replace(b"(2, 2)", b"(1000000, 1000000)")
    _zip_with(files / "bad.npz", files / "m.npz", replace={"means_.npy": huge})
    with pytest.raises(ValueError, match="means_"):
        fastem.load(files / "bad.npz")


def test_compressed_entry_that_expands_over_100_times_is_refused(files):
    """robustness.md: "a compressed entry may expand at most 100 times" - also an entry whose
    size is within its limit (the metadata, padded with 200,000 spaces: 800 kB of text that
    deflates to about 1 kB). Stored uncompressed, the same entry loads: only the ratio counts."""
    import io as _io

    with np.load(files / "m.npz", allow_pickle=False) as f:
        meta = str(f["__metadata__"])
    buf = _io.BytesIO()
    np.save(buf, np.array(meta + " " * 200_000))
    padded = buf.getvalue()
    _zip_with(files / "ok.npz", files / "m.npz", replace={"__metadata__.npy": padded})
    fastem.load(files / "ok.npz")
    with zipfile.ZipFile(files / "m.npz") as zin, zipfile.ZipFile(files / "bad.npz", "w") as z:
        for info in zin.infolist():
            if info.filename == "__metadata__.npy":
                z.writestr(info.filename, padded, compress_type=zipfile.ZIP_DEFLATED)
            else:
                z.writestr(info.filename, zin.read(info))
    with pytest.raises(ValueError, match=r"__metadata__.* expands \d+ times"):
        fastem.load(files / "bad.npz")


def test_extra_entry_is_refused_before_decompressing(files, monkeypatch):
    zeros = b"\0" * (50 << 20)
    _zip_with(files / "bad.npz", files / "m.npz", extra={"big.npy": (zeros, zipfile.ZIP_DEFLATED)})
    assert os.path.getsize(files / "bad.npz") < 1 << 20
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile,
        "open",
        lambda self, name, *a, **k: opened.append(name) or real_open(self, name, *a, **k),
    )
    with pytest.raises(ValueError, match="unexpected entries"):
        fastem.load(files / "bad.npz")
    assert not opened


# ------------------------------------------------------------- 5. out= dtype


@pytest.mark.parametrize(
    "method, out",
    [
        ("predict_proba", np.empty((300, 2), dtype=int)),
        ("score_samples", np.empty(300, dtype=np.int32)),
        ("predict", np.empty(300, dtype=bool)),
        ("predict", np.empty(300, dtype="U5")),
    ],
)
def test_out_of_the_wrong_dtype_is_refused(gm, method, out):
    with pytest.raises(ValueError, match="out has dtype"):
        getattr(gm, method)(X, out=out)


def test_out_of_a_fitting_dtype_is_filled(gm):
    out = np.empty(300, dtype=np.uint8)
    gm.predict(X, out=out)
    np.testing.assert_array_equal(out, gm.predict(X))


def test_out_of_an_integer_dtype_too_small_for_the_labels_is_refused():
    """An integer ``out`` must hold every label, 0 .. n_components - 1: 300 components do not
    fit in uint8 (labels 256 and above would wrap around to other components silently)."""
    Y = np.random.default_rng(0).normal(size=(600, 2))
    many = GM(300, random_state=0, max_iter=1).fit(Y)
    with pytest.raises(ValueError, match="integer dtype that holds 299"):
        many.predict(Y, out=np.empty(600, dtype=np.uint8))
    out = np.empty(600, dtype=np.uint16)
    many.predict(Y, out=out)
    np.testing.assert_array_equal(out, many.predict(Y))


def test_out_that_is_read_only_is_refused(gm):
    out = np.empty(300, dtype=np.int64)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is a read-only array; pass a writable one"):
        gm.predict(X, out=out)


# ------------------------------------------------ 6. overflow and underflow


def test_row_beyond_every_component_is_not_silently_labelled(gm):
    with pytest.raises(ValueError, match="overflow when squared"):
        gm.predict_proba([[1e160, 0]])
    far = GM(2, random_state=0, reg_covar=0).fit(X * 1e-100)  # tiny variances
    with pytest.raises(ValueError, match="underflows to zero under all"):
        far.predict_proba([[1e140, 0]])
    with pytest.raises(ValueError, match="underflows to zero under all"):
        far.predict([[1e140, 0]])
    assert far.score_samples([[1e140, 0]])[0] == -np.inf  # the limit of the log-density


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_data_whose_squares_or_variances_leave_float64_is_refused(scale, recwarn):
    with pytest.raises(ValueError, match="Rescale|Scale the data"):
        GM(2, random_state=0).fit(X * scale)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_extreme_rows_and_weights_get_a_clear_error(recwarn):
    Y = X.copy()
    Y[5] = [1.7e308, -1.7e308]
    with pytest.raises(ValueError, match="overflow when squared"):
        GM(2, random_state=0).fit(Y)
    for w in (np.full(300, 1e308), np.full(300, 1e-310)):
        with pytest.raises(ValueError, match="ratios of the weights"):
            GM(2, random_state=0).fit(X, sample_weight=w)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_source_with_huge_values_gets_the_same_error(tmp_path):
    Y = X.copy()
    Y[250] = 1e200
    np.save(tmp_path / "Y.npy", Y)
    with pytest.raises(ValueError, match="row offset 250.*overflow when squared"):
        GM(2, random_state=0).fit(str(tmp_path / "Y.npy"))


# ------------------------------------------------------- 9. bic/aic of sources


def test_bic_and_aic_of_a_source_equal_those_in_memory(tmp_path, gm):
    np.save(tmp_path / "X.npy", X)
    path = str(tmp_path / "X.npy")
    assert gm.bic(path) == pytest.approx(gm.bic(X), rel=1e-10)
    assert gm.aic(fastem.source(path)) == pytest.approx(gm.aic(X), rel=1e-10)


# --------------------------------------------------------- 10. clear messages


def test_empty_source_score_says_it_is_empty(tmp_path, gm):
    (tmp_path / "e.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="holds no rows"):
        gm.score(str(tmp_path / "e.csv"))


def test_sample_weight_file_path_is_read_as_weights(tmp_path):
    np.save(tmp_path / "X.npy", X)
    w = np.linspace(0.5, 2, 300)
    np.save(tmp_path / "w.npy", w)
    a = GM(2, random_state=0).fit(str(tmp_path / "X.npy"), sample_weight=str(tmp_path / "w.npy"))
    b = GM(2, random_state=0).fit(X, sample_weight=w)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    w[7] = np.nan
    np.save(tmp_path / "w.npy", w)
    with pytest.raises(ValueError, match="row offset 7: NaN or infinite sample weight") as e:
        GM(2).fit(str(tmp_path / "X.npy"), sample_weight=str(tmp_path / "w.npy"))
    assert "marginalize" not in str(e.value)


def test_generator_object_gets_a_clear_error():
    gen = (c for c in [X[:150], X[150:]])
    with pytest.raises(TypeError, match="function that returns a fresh iterator"):
        GM(2).fit(gen)


def test_negative_seed_is_a_usage_error(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    assert main(["fit", "X.npy", "-k", "2", "-o", "m2.npz", "--seed", "-1"]) == 2
    assert "--seed" in capsys.readouterr().err


def test_warm_start_with_other_features_says_so():
    gm = GM(2, warm_start=True, random_state=0).fit(X)
    with pytest.raises(ValueError, match="warm_start=True continues the previous fit"):
        gm.fit(np.column_stack([X, X[:, 0]]))


def test_output_errors_name_the_output_not_a_temporary_file(tmp_path, gm, monkeypatch):
    def boom(src, dst):
        raise OSError(28, "No space left on device", src, None, dst)

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError) as e:
        fastem.save(gm, tmp_path / "m.npz")
    assert ".fastem-" not in str(e.value) and "m.npz" in str(e.value)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".fastem-")]


def test_out_path_refuses_rows_whose_density_underflows(tmp_path):
    far = GM(2, random_state=0, reg_covar=0).fit(X * 1e-100)
    Y = np.array([[0.0, 0.0], [1e140, 0.0]])
    with pytest.raises(ValueError, match="row 1 .*underflows to zero under all"):
        far.predict(Y, out=str(tmp_path / "lab.npy"))
    assert not (tmp_path / "lab.npy").exists()


def test_cli_fit_refuses_to_replace_a_non_model_before_the_fit(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    (files / "notes.txt").write_text("my notes")
    calls = []
    monkeypatch.setattr(GM, "fit", lambda *a, **k: calls.append(1))
    assert main(["fit", "X.npy", "-k", "2", "-o", "notes.txt"]) == 1
    assert "not a fastem model file" in capsys.readouterr().err
    assert not calls and (files / "notes.txt").read_text() == "my notes"


def test_zarr_folder_source_is_an_input_too(tmp_path, gm):
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "X.zarr")
    zarr.save(path, X)
    with pytest.raises(ValueError, match="lies inside the input folder"):
        gm.score_samples(fastem.source(path), out=os.path.join(path, "lp.npy"))


@pytest.mark.parametrize("scale", [1e-310, 1e308])
def test_streamed_weights_out_of_range_are_blamed_on_the_weights(tmp_path, scale):
    np.save(tmp_path / "Xw.npy", np.column_stack([X, np.full(300, scale)]))
    src = fastem.source(str(tmp_path / "Xw.npy"), weight_column=-1)
    with pytest.raises(ValueError, match="ratios of the weights"):
        GM(2, random_state=0).fit(src)
    with pytest.raises(ValueError, match="ratios of the weights"):
        GM(2, random_state=0).fit(str(tmp_path / "Xw.npy"), sample_weight=np.full(300, scale))


def test_streamed_weights_of_too_small_a_mean_say_it_is_the_mean(tmp_path):
    """Every chunk's largest weight in range, their mean per row not: the message gave the
    mean as the "largest value"."""
    w = np.zeros(300)
    w[::100] = 2e-100
    np.save(tmp_path / "Xw.npy", np.column_stack([X, w]))
    src = fastem.source(str(tmp_path / "Xw.npy"), weight_column=-1, chunk_rows=100)
    with pytest.raises(ValueError, match=r"sample_weight has mean value 2e-102; weights beyond"):
        GM(2, random_state=0).fit(src)


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
