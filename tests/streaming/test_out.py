"""Streaming: row-wise results written chunk by chunk to ``out=``."""

import numpy as np
import pytest

from fastem import source

from .helpers import (
    CHUNK,
    K,
    N,
    _fit,
    _init,
)

# ------------------------------------------------------------------ out=


def test_out_path_and_arrays(X, tmp_path):
    h5py = pytest.importorskip("h5py")
    gm = _fit(X, **_init(X))
    src = source(X, chunk_rows=CHUNK)
    lab = gm.predict(src, out=tmp_path / "lab.npy")
    np.testing.assert_array_equal(lab, gm.predict(X))
    assert np.array_equal(np.load(tmp_path / "lab.npy"), gm.predict(X))
    resp = np.empty((N, K))
    assert gm.predict_proba(src, out=resp) is resp
    np.testing.assert_allclose(resp, gm.predict_proba(X), rtol=1e-12, atol=1e-15)
    with h5py.File(tmp_path / "out.h5", "w") as f:
        ds = f.create_dataset("lp", shape=(N,), dtype="f8")
        gm.score_samples(src, out=ds)
        np.testing.assert_allclose(ds[:], gm.score_samples(X), rtol=1e-12)
    # in-memory input written chunk by chunk too
    lp = gm.score_samples(X, out=tmp_path / "lp.npy")
    np.testing.assert_allclose(lp, gm.score_samples(X), rtol=1e-12)
    # unknown row count (callable) to a .npy path: the header is fixed at the end
    lab = gm.predict(lambda: iter([X[:100], X[100:]]), out=tmp_path / "lab2.npy")
    np.testing.assert_array_equal(lab, gm.predict(X))
    with pytest.raises(ValueError, match="shape"):
        gm.predict_proba(src, out=np.empty((N, K + 1)))
    with pytest.raises(ValueError, match=".npy"):
        gm.predict(src, out=tmp_path / "lab.txt")


def test_failed_write_to_out_keeps_the_file_that_was_there(X, tmp_path):
    """``out=`` a path is written to a temporary file, renamed over it only on success."""
    gm = _fit(X, **_init(X))
    out = tmp_path / "lab.npy"
    np.save(out, np.arange(5))
    before = out.read_bytes()
    bad = X.copy()
    bad[345, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match="row offset 345"):
        gm.predict(source(tmp_path / "bad.npy", chunk_rows=CHUNK), out=out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy", "lab.npy"]
    np.testing.assert_array_equal(gm.predict(X, out=out), gm.predict(X))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy", "lab.npy"]
