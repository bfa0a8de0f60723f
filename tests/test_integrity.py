"""Data integrity (issue 18): every reproduced case, as an example test: outputs never
inputs, file modes, untrusted model files, ``out=``, overflow and clear messages.

What is read (checkpoint fingerprints, CSV rows, files changed under a source) is in
``tests/test_integrity_sources.py``; the property tests in ``tests/test_integrity_properties.py``.
"""

import os
import stat
import zipfile

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
