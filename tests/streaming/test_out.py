"""Streaming: row-wise results written chunk by chunk to ``out=``."""

import numpy as np
import pytest

from fastem import source

from ..conftest import traced_peak
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


def test_streamed_results_in_memory_are_held_once(tmp_path):
    """``predict_proba`` (and ``predict``, ``score_samples``) of a source without ``out=``
    kept each chunk's results in a list and concatenated them: two ``(n_samples,
    n_components)`` arrays at the peak (256 MB for 2M rows of 8 components). They are
    written into the result as the chunks come; a source whose length is known only after
    its first pass (CSV) is still concatenated, to the same values."""

    from fastem import GaussianMixture

    rng = np.random.default_rng(3)
    n, d, k = 200_000, 4, 8
    X = rng.normal(size=(n, d)) + rng.integers(0, 4, size=(n, 1)) * 3.0
    np.save(tmp_path / "X.npy", X)
    gm = GaussianMixture(k, covariance_type="diag", random_state=0, max_iter=2).fit(X)
    src = source(tmp_path / "X.npy", chunk_rows=20_000)
    for method, out_bytes in (("predict_proba", n * k * 8), ("predict", n * 8)):
        expected = getattr(gm, method)(X)
        getattr(gm, method)(src)  # (compiled)
        got, peak = traced_peak(lambda: getattr(gm, method)(src))  # noqa: B023
        np.testing.assert_array_equal(got, expected)
        # the result, the log-likelihoods (checked for underflow) and a few chunks' worth
        assert peak < out_bytes + n * 8 + 0.25 * n * k * 8, (method, peak)
    np.savetxt(tmp_path / "X.csv", X[:5000], delimiter=",")
    np.testing.assert_array_equal(
        gm.predict_proba(source(tmp_path / "X.csv", chunk_rows=700)), gm.predict_proba(X[:5000])
    )
