"""Streaming: passes over `.npy` and contiguous HDF5 files that read rows in the kernel."""

import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture, source

from .helpers import (
    CHUNK,
    D,
    K,
    N,
    _assert_same,
    _fit,
    _init,
)

# ------------------------------------------------------------ direct reads


def _count_direct_passes(monkeypatch):
    """Record the rows of every chunk the EM pass read inside the kernel."""
    from fastem import _direct

    rows = []
    original = _direct.file_stats

    def counting(fd, offset, n, *args):
        rows.append(n)
        return original(fd, offset, n, *args)

    monkeypatch.setattr(_direct, "file_stats", counting)
    return rows


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_npy_em_pass_reads_in_the_kernel(X, w, tmp_path, monkeypatch, dtype, covariance_type):
    """An EM pass over a plain ``.npy`` file reads its rows inside the kernel
    (``pread``), chunk by chunk, and gives what the reader-thread pass gives,
    with weights and partial labels."""
    from fastem import _direct

    path = tmp_path / "X.npy"
    np.save(path, X.astype(dtype))
    labels = np.full(N, -1)
    labels[:40] = np.arange(40) % K
    kw = dict(covariance_type=covariance_type, **_init(X, covariance_type))

    def fit():
        gm = GaussianMixture(K, max_iter=6, tol=0.0, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return gm.fit(source(path, chunk_rows=CHUNK), sample_weight=w, labels=labels)

    rows = _count_direct_passes(monkeypatch)
    direct = fit()
    assert rows and rows[: -(-N // CHUNK)] == [CHUNK] * (N // CHUNK) + [N % CHUNK]
    monkeypatch.setattr(_direct, "DIRECT_READS", False)
    n_calls = len(rows)
    threaded = fit()
    assert len(rows) == n_calls  # the reader thread this time
    # the same kernel chunks: equal up to rounding (bit for bit in every run measured;
    # two separately compiled drivers may round differently under fastmath)
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        np.testing.assert_allclose(
            getattr(direct, name), getattr(threaded, name), rtol=1e-12, atol=0, err_msg=name
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_npy_rowwise_passes_read_in_the_kernel(X, w, tmp_path, monkeypatch, dtype):
    """predict, predict_proba, score_samples and score of a plain ``.npy`` file
    read its rows inside the kernel, and equal the reader-thread results."""
    from fastem import _direct

    path = tmp_path / "X.npy"
    np.save(path, X.astype(dtype))
    gm = _fit(X.astype(dtype), **_init(X))
    calls = []
    original = _direct.file_rowwise

    def counting(fd, offset, n, *args, **kw):
        calls.append(n)
        return original(fd, offset, n, *args, **kw)

    monkeypatch.setattr(_direct, "file_rowwise", counting)

    def results():
        src = source(path, chunk_rows=CHUNK)
        return (
            gm.predict(src),
            gm.predict_proba(src),
            gm.score_samples(src),
            gm.score(src, sample_weight=w),
            gm.predict_proba(src, out=tmp_path / "resp.npy").copy(),
        )

    direct = results()
    assert calls[: -(-N // CHUNK)] == [CHUNK] * (N // CHUNK) + [N % CHUNK]
    assert len(calls) == 5 * -(-N // CHUNK)
    monkeypatch.setattr(_direct, "DIRECT_READS", False)
    threaded = results()
    assert len(calls) == 5 * -(-N // CHUNK)
    np.testing.assert_array_equal(direct[0], threaded[0])
    for a, b in zip(direct[1:], threaded[1:]):  # equal up to rounding (see above)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(direct[0], gm.predict(X.astype(dtype)))


def test_npy_rowwise_pass_errors_name_the_row(X, tmp_path, monkeypatch):
    """A NaN, or a file cut short during a row-wise pass: the error names the file and row."""
    from fastem import _direct, _passes

    gm = _fit(X, **_init(X))
    bad = X.copy()
    bad[345, 2] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score):
        with pytest.raises(ValueError, match=r"bad\.npy.*row offset 345.*NaN or infinite"):
            method(source(tmp_path / "bad.npy", chunk_rows=CHUNK))
    path = tmp_path / "X.npy"
    np.save(path, X)
    src = source(path, chunk_rows=CHUNK)
    size = os.path.getsize(path)
    original = _passes.file_rowwise

    def truncating(fd, offset, n, *args, **kw):
        if n == N % CHUNK:
            os.truncate(path, size - 10 * D * 8)
        return original(fd, offset, n, *args, **kw)

    monkeypatch.setattr(_direct, "file_rowwise", truncating)
    with pytest.raises(ValueError, match=r"X\.npy.*row offset 591.*truncated"):
        gm.predict(src)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_contiguous_hdf5_read_in_the_kernel(X, tmp_path, monkeypatch, dtype):
    """A contiguous HDF5 dataset is read inside the kernel like a .npy file; a
    chunked (or compressed) one, or one stored in another dtype, is not."""
    h5py = pytest.importorskip("h5py")
    rows = _count_direct_passes(monkeypatch)
    path = tmp_path / "X.h5"
    with h5py.File(path, "w") as f:
        f.attrs["note"] = "x" * 5000  # the data does not start at a round offset
        f.create_dataset("plain", data=X.astype(dtype))
        f.create_dataset("chunked", data=X.astype(dtype), chunks=(64, D), compression="gzip")
        f.create_dataset("ints", data=np.rint(X * 100).astype(np.int32))
        bad = X.astype(dtype)
        bad[345, 1] = np.nan
        f.create_dataset("bad", data=bad)
    init = _init(X)
    ref = _fit(X.astype(dtype), **init)
    got = _fit(source(path, dataset="plain", chunk_rows=CHUNK), **init)
    _assert_same(ref, got, rtol=1e-10 if dtype == np.float64 else 1e-5)
    assert rows and rows[: -(-N // CHUNK)] == [CHUNK] * (N // CHUNK) + [N % CHUNK]
    rows.clear()
    _fit(source(path, dataset="chunked", chunk_rows=CHUNK), max_iter=2)
    _fit(source(path, dataset="ints", chunk_rows=CHUNK), max_iter=2)
    assert rows == []
    with pytest.raises(ValueError, match=r"X\.h5.*'bad'.*row offset 345.*NaN or infinite"):
        _fit(source(path, dataset="bad", chunk_rows=CHUNK), **init)
    assert rows  # found by the in-kernel pass


def test_direct_reads_only_where_the_file_is_the_rows(X, tmp_path, monkeypatch):
    """Selected columns, a weight column or a dtype to convert go through the reader thread."""
    rows = _count_direct_passes(monkeypatch)
    Xw = np.column_stack([X, np.ones(N)])
    np.save(tmp_path / "Xw.npy", Xw)
    np.save(tmp_path / "Xi.npy", np.rint(X * 100).astype(np.int32))
    ref = _fit(X, max_iter=3)
    _assert_same(ref, _fit(source(tmp_path / "Xw.npy", columns=[0, 1, 2]), max_iter=3))
    _fit(source(tmp_path / "Xw.npy", weight_column=3), max_iter=3)
    _fit(source(tmp_path / "Xi.npy"), max_iter=3)
    assert rows == []


def test_file_stats_reports_a_short_read(X, tmp_path):
    """The kernel never raises: a chunk it cannot read whole comes back as a status."""
    from fastem._passes import ArrayData, array_stats, file_stats, stats_chunk_rows

    path = tmp_path / "X.npy"
    np.save(path, X)
    gm = _fit(X, max_iter=1)
    params = gm._fitted_kernel_params(ArrayData(X))
    offset = os.path.getsize(path) - X.nbytes
    rows = stats_chunk_rows(N, params)
    bufs = np.empty((2, rows, D))
    with open(path, "rb") as f:
        s, failed = file_stats(f.fileno(), offset, N, bufs, None, None, params, None)
        assert failed is None
        ref = array_stats(X, None, None, params, None)
        for name in ("nk", "s1", "s2", "loglik"):
            np.testing.assert_array_equal(getattr(s, name), getattr(ref, name))
        # ask for rows past the end of the file: the chunk holding them is reported
        s, failed = file_stats(f.fileno(), offset + 5 * D * 8, N, bufs, None, None, params, None)
        assert s is None
        last = (N - 1) // rows * rows
        assert failed == (last, (N - last - 5) * D * 8)
        with pytest.raises(ValueError, match="read buffers"):
            file_stats(f.fileno(), offset, N, bufs[:, :-1], None, None, params, None)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_file_stats_weights_and_labels_follow_their_rows_in_every_kernel_chunk(
    tmp_path, dtype, covariance_type
):
    """A file pass of several kernel chunks (chunk ``c`` reads its rows into a buffer of
    its own, their weights and labels at rows ``r0`` on of the pass) gives the in-memory
    pass's statistics bit for bit, with weights and partial labels, for any thread count:
    each chunk's weights and labels are its own rows', not the first chunk's."""
    from fastem._passes import ArrayData, array_stats, file_stats, stats_chunk_rows

    rng = np.random.default_rng(3)
    n = 2 * 1024 + 301  # three kernel chunks, the last one short
    Xn = (rng.normal(size=(n, D)) + 4 * rng.integers(0, K, size=(n, 1))).astype(dtype)
    w = rng.uniform(0.1, 3.0, size=n)
    labels = np.where(rng.random(n) < 0.3, rng.integers(0, K, size=n), -1)
    path = tmp_path / "X.npy"
    np.save(path, Xn)
    gm = _fit(Xn, max_iter=1, covariance_type=covariance_type)
    params = gm._fitted_kernel_params(ArrayData(Xn))
    rows = stats_chunk_rows(n, params)
    assert n // rows == 2  # (the premise: several chunks)
    offset = os.path.getsize(path) - Xn.nbytes
    for threads in (1, 3):
        ref = array_stats(Xn, w, labels, params, threads)
        bufs = np.empty((threads, rows, D), dtype=dtype)
        with open(path, "rb") as f:
            s, failed = file_stats(f.fileno(), offset, n, bufs, w, labels, params, threads)
        assert failed is None
        for name in ("nk", "s1", "s2", "loglik", "wsum"):
            np.testing.assert_array_equal(getattr(s, name), getattr(ref, name), err_msg=name)


def test_read_buffers_hold_the_kernel_chunks_of_a_short_last_chunk(tmp_path, monkeypatch):
    """Rows per kernel chunk are not monotone in a source chunk's rows (1,025 rows: two
    kernel chunks of 768; 1,024 rows: one of 1,024), so the read buffers are sized for the
    last, shorter source chunk too: an EM pass and a row-wise pass over 2,049 rows in source
    chunks of 1,025 read in the kernel and give what the reader-thread passes give."""
    from fastem import _direct
    from fastem._parallel import chunk_rows_for

    n, step = 2049, 1025
    assert chunk_rows_for(n - step, 0) > chunk_rows_for(step, 0)  # (the premise)
    rng = np.random.default_rng(4)
    Xn = rng.normal(size=(n, D)) + 4 * rng.integers(0, K, size=(n, 1))
    path = tmp_path / "X.npy"
    np.save(path, Xn)
    calls = _count_direct_passes(monkeypatch)
    kw = dict(max_iter=3, **_init(Xn))
    direct = _fit(source(path, chunk_rows=step), **kw)
    proba = direct.predict_proba(source(path, chunk_rows=step))
    assert calls[:2] == [step, n - step]
    monkeypatch.setattr(_direct, "DIRECT_READS", False)
    _assert_same(direct, _fit(source(path, chunk_rows=step), **kw), rtol=1e-12)
    np.testing.assert_allclose(
        proba, direct.predict_proba(source(path, chunk_rows=step)), rtol=1e-12, atol=1e-300
    )


def test_file_truncated_during_a_fit_names_the_row(X, tmp_path, monkeypatch):
    """A file cut short after the source was opened: the error names the file and row."""
    from fastem import _direct, _passes

    path = tmp_path / "X.npy"
    np.save(path, X)
    src = source(path, chunk_rows=CHUNK)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 10 * D * 8)
    with pytest.raises(ValueError, match=r"X\.npy.*row offset 591.*truncated"):
        _fit(src)
    # cut short between the size check and the kernel's read of the last chunk
    np.save(path, X)
    src = source(path, chunk_rows=CHUNK)
    original = _passes.file_stats

    def truncating(fd, offset, n, *args):
        if n == N % CHUNK:
            os.truncate(path, size - 10 * D * 8)
        return original(fd, offset, n, *args)

    monkeypatch.setattr(_direct, "file_stats", truncating)
    with pytest.raises(ValueError, match=r"X\.npy.*row offset 591.*truncated"):
        _fit(src)


def test_direct_read_recovers_from_a_transient_failure(X, tmp_path, monkeypatch):
    """A chunk the kernel could not read is read again; if that works, the fit goes on."""
    from fastem import _direct, _passes

    path = tmp_path / "X.npy"
    np.save(path, X)
    ref = _fit(source(path, chunk_rows=CHUNK))
    original = _passes.file_stats
    failures = []

    def flaky(fd, offset, n, *args):
        if len(failures) < 3:
            failures.append(offset)
            return None, (0, -1)
        return original(fd, offset, n, *args)

    monkeypatch.setattr(_direct, "file_stats", flaky)
    _assert_same(ref, _fit(source(path, chunk_rows=CHUNK)), rtol=0)
    assert len(failures) == 3


def test_concurrent_streamed_fits_in_threads(X, tmp_path):
    """Threads fitting ``.npy`` sources at once: one runs the parallel kernel,
    the others the serial one, each with its own read buffers; same results."""
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"X{i}.npy")
        np.save(paths[-1], X[i:])

    def job(path):
        gm = _fit(source(path, chunk_rows=CHUNK), max_iter=8)
        return gm.means_, gm.covariances_

    sequential = [job(p) for p in paths]
    with ThreadPoolExecutor(3) as pool:
        concurrent = list(pool.map(job, paths * 2))
    for a, b in zip(sequential * 2, concurrent):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
