"""Model files written by earlier code still load, and ``save`` writes the same format.

``tests/data/models/*.npz`` were written by ``fastem.save`` at commit 1c524a3 (before the
GaussianMixture and BayesianGaussianMixture writers and readers were merged into one):
scikit-learn's four-type family with feature names and an array hyper-parameter, an mclust
model with a prior written as float32, a ``partial_fit`` model with its running statistics,
and variational models of both weight priors. Loading them must give back exactly their
arrays; saving the loaded model must give the same entries in the same order with the same
bytes and the same metadata (the file format did not change).
"""

import io
import json
import os
import zipfile

import numpy as np
import pytest

import fastem

DATA = os.path.join(os.path.dirname(__file__), "data", "models")
FILES = sorted(f for f in os.listdir(DATA) if f.endswith(".npz"))
X = fastem.load_old_faithful()


def _entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def _meta(raw):
    """The metadata of a raw ``__metadata__.npy`` entry, without the writing version."""
    meta = json.loads(str(np.load(io.BytesIO(raw), allow_pickle=False)))
    meta.pop("fastem_version")
    return meta


def test_the_fixtures_are_there():
    assert len(FILES) == 5
    assert sum(f.startswith("vb_") for f in FILES) == 2


@pytest.mark.parametrize("name", FILES)
def test_old_files_load_with_their_arrays(name):
    path = os.path.join(DATA, name)
    model = fastem.load(path)
    expected = fastem.BayesianGaussianMixture if name.startswith("vb_") else fastem.GaussianMixture
    assert type(model) is expected
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["__metadata__"]))
        dtype = np.dtype(meta["fitted"].get("dtype", "float64"))
        for entry in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            got = getattr(model, entry)
            assert got.dtype == dtype
            assert np.array_equal(got, f[entry].astype(dtype)), entry
        assert model.lower_bounds_ == f["lower_bounds_"].tolist()
    assert model.n_iter_ == meta["fitted"]["n_iter_"]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        assert list(names) == ["eruptions", "waiting"]
        del model.feature_names_in_  # X here is an array: no names to check
    proba = model.predict_proba(X)
    assert proba.shape == (X.shape[0], model.means_.shape[0])
    assert np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", FILES)
def test_saving_a_loaded_file_writes_the_same_bytes(tmp_path, name):
    path = os.path.join(DATA, name)
    model = fastem.load(path)
    if name == "gmm_diag_online.npz":
        assert model._online.n_rows == 400  # the running statistics came back too
    again = fastem.save(model, tmp_path / name)
    old, new = _entries(path), _entries(again)
    assert [n for n, _ in new] == [n for n, _ in old]  # the same entries in the same order
    for (n, a), (_, b) in zip(old, new, strict=True):
        if n == "__metadata__.npy":
            assert _meta(b) == _meta(a)
        else:
            assert a == b, n


@pytest.mark.parametrize("name", ["gmm_diag_online.npz", "vb_full_process.npz"])
def test_a_load_opens_the_archive_and_parses_the_metadata_once(monkeypatch, name):
    opened, parsed = [], []
    real_zip, real_loads = zipfile.ZipFile, json.loads

    class Counting(real_zip):
        def __init__(self, *args, **kwargs):
            opened.append(args[0])
            super().__init__(*args, **kwargs)

    def loads(text, *args, **kwargs):
        if '"format"' in text:
            parsed.append(text)
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(zipfile, "ZipFile", Counting)
    monkeypatch.setattr(json, "loads", loads)
    fastem.load(os.path.join(DATA, name))
    assert len(opened) == 1
    assert len(parsed) == 1


def _with(src, dst, **extra):
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(extra)
    np.savez(dst, **arrays)


@pytest.mark.parametrize(
    "name, entry",
    [("gmm_diag_online.npz", "mean_precision_"), ("vb_full_process.npz", "online__nk")],
)
def test_an_entry_of_the_other_format_is_refused_before_it_is_read(
    tmp_path, monkeypatch, name, entry
):
    """Both formats' entries pass the first check; the file's own format refuses the other's."""
    _with(os.path.join(DATA, name), tmp_path / "bad.npz", **{entry: np.zeros(3)})
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile,
        "open",
        lambda self, n, *a, **k: (
            opened.append(getattr(n, "filename", n)) or real_open(self, n, *a, **k)
        ),
    )
    with pytest.raises(ValueError, match=rf"unexpected entries \['{entry}.npy'\]"):
        fastem.load(tmp_path / "bad.npz")
    assert opened == ["__metadata__.npy"]  # only the metadata, to learn the format


def test_a_file_with_both_problems_reports_its_entries_first(tmp_path):
    """As before the readers were merged: unreadable metadata is read as a GaussianMixture
    file's, whose entry names are checked before its metadata."""
    _with(
        os.path.join(DATA, "gmm_diag_online.npz"),
        tmp_path / "bad.npz",
        __metadata__=np.array("{not json"),
        mean_precision_=np.zeros(3),
    )
    with pytest.raises(ValueError, match=r"unexpected entries \['mean_precision_.npy'\]"):
        fastem.load(tmp_path / "bad.npz")
    # a variational file whose metadata cannot be read is not known to be one
    _with(os.path.join(DATA, "vb_full_process.npz"), tmp_path / "bad.npz", __metadata__=[1, 2])
    with pytest.raises(ValueError, match=r"unexpected entries \['param__mean_prior.npy', 'mean_p"):
        fastem.load(tmp_path / "bad.npz")
    _with(os.path.join(DATA, "gmm_diag_online.npz"), tmp_path / "bad.npz", __metadata__=[1, 2])
    with pytest.raises(ValueError, match="the metadata entry is malformed"):
        fastem.load(tmp_path / "bad.npz")
