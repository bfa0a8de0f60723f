"""Streaming benchmark: per-iteration cost of a streamed fit, MB/s per source kind, peak RSS.

Run it as a script (not a timed test)::

    PYTHONPATH=. python bench/bench_streaming.py            # timings + MB/s table
    PYTHONPATH=. python bench/bench_streaming.py --rss      # also: 750 MB .npy, peak RSS

* **per iteration**: the same EM fit (same initial parameters, ``max_iter``
  iterations, ``tol=0``) on an in-memory array and streamed from a ``.npy``
  file in the page cache; the ratio of the two per-iteration times (target:
  at most 1.15).
* **MB/s per source kind**: one pass that only reads and validates the chunks,
  and one EM statistics pass, for each source kind; MB are the bytes of the
  float64 table.
* **resident memory** (``--rss``): in a fresh process, a 750 MB ``.npy`` file is
  fitted in 200,000-row chunks; the growth of peak RSS over the RSS before the
  fit (target: at most 200 MB).

Under pytest (``bench_*.py`` is collected) only a small smoke run executes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pytest

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None


def make_data(n, d, k=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(k, d))
    lab = rng.integers(0, k, size=n)
    X = centres[lab]
    X += rng.standard_normal((n, d))
    return X.astype(dtype, copy=False)


def _initial(X, k):
    from fastem import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(k, max_iter=1, random_state=0).fit(X[:20000])
    return dict(weights_init=gm.weights_, means_init=gm.means_, precisions_init=gm.precisions_)


def _fit_time(X, k, init, max_iter):
    from fastem import GaussianMixture

    gm = GaussianMixture(k, max_iter=max_iter, tol=0.0, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, c = time.perf_counter(), time.process_time()
        gm.fit(X)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        return wall / gm.n_iter_, cpu / gm.n_iter_, gm


def per_iteration(X, path, k=4, max_iter=5, chunk_rows=None, repeats=3, direct=True):
    """Seconds per EM iteration in memory and streamed from ``path``.

    Returns a dict: wall and CPU (all threads) seconds per iteration, best of
    ``repeats`` interleaved runs, their ratios, the chunk rows, and the largest
    relative difference of the fitted means. ``direct=False`` streams through
    the reader thread instead of reading the rows inside the kernel.
    """
    import fastem
    from fastem import _direct

    previous, _direct.DIRECT_READS = _direct.DIRECT_READS, direct and _direct.DIRECT_READS
    try:
        return _per_iteration(X, path, k, max_iter, chunk_rows, repeats, fastem)
    finally:
        _direct.DIRECT_READS = previous


def _per_iteration(X, path, k, max_iter, chunk_rows, repeats, fastem):

    init = _initial(X, k)
    src = fastem.source(path, chunk_rows=chunk_rows)
    for _ in src:  # the file into the page cache
        pass
    _fit_time(X[:1000], k, init, 1)
    mem = [np.inf, np.inf]
    stream = [np.inf, np.inf]
    for _ in range(repeats):  # interleaved, best of: the machine may be shared
        *t, a = _fit_time(X, k, init, max_iter)
        mem = np.minimum(mem, t)
        *t, b = _fit_time(src, k, init, max_iter)
        stream = np.minimum(stream, t)
    rel = float(np.max(np.abs(a.means_ - b.means_) / np.abs(a.means_).max()))
    return dict(
        mem_wall=mem[0],
        stream_wall=stream[0],
        ratio_wall=stream[0] / mem[0],
        mem_cpu=mem[1],
        stream_cpu=stream[1],
        ratio_cpu=stream[1] / mem[1],
        chunk_rows=src.chunk_rows,
        rel=rel,
    )


def write_kind(kind, X, tmp):
    """Write ``X`` as ``kind``; return the object to pass to fastem.source."""
    if kind == "npy":
        p = os.path.join(tmp, "X.npy")
        np.save(p, X)
        return p
    if kind == "ndarray":
        return X
    if kind == "csv":
        p = os.path.join(tmp, "X.csv")
        names = ",".join(f"c{i}" for i in range(X.shape[1]))
        np.savetxt(p, X, delimiter=",", header=names, comments="", fmt="%.17g")
        return p
    if kind in ("hdf5", "hdf5 contiguous"):
        import h5py

        p = os.path.join(tmp, "X.h5")
        with h5py.File(p, "w") as f:
            chunks = None if kind == "hdf5 contiguous" else (min(len(X), 65536), X.shape[1])
            f.create_dataset("X", data=X, chunks=chunks)
        return p
    if kind == "zarr":
        import zarr

        p = os.path.join(tmp, "X.zarr")
        z = zarr.open_array(p, mode="w", shape=X.shape, chunks=(65536, X.shape[1]), dtype=X.dtype)
        z[:] = X
        return p
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        p = os.path.join(tmp, "X.parquet")
        pq.write_table(pa.table({f"c{i}": X[:, i] for i in range(X.shape[1])}), p)
        return p
    if kind == "callable":
        return lambda: (X[r0 : r0 + 200_000] for r0 in range(0, len(X), 200_000))
    raise ValueError(kind)


KINDS = ["ndarray", "npy", "hdf5", "hdf5 contiguous", "zarr", "parquet", "callable", "csv"]


def mb_per_s(X, kinds=KINDS, k=4, chunk_rows=200_000, csv_rows=200_000):
    """Rows of (kind, MB, read MB/s, EM pass MB/s)."""
    import fastem
    from fastem._passes import ArrayData
    from fastem._stream import StreamData

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = fastem.GaussianMixture(k, max_iter=1, random_state=0).fit(X[:20000])
    params = gm._fitted_kernel_params(ArrayData(X))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            data = X[:csv_rows] if kind == "csv" else X
            try:
                obj = write_kind(kind, data, tmp)
            except ImportError as e:
                rows.append((kind, data.nbytes / 1e6, None, None, f"skipped: {e}"))
                continue
            src = fastem.source(obj, chunk_rows=None if kind == "callable" else chunk_rows)
            for _ in src:  # page cache
                pass
            t = time.perf_counter()
            for _ in StreamData(src).chunks():
                pass
            read = time.perf_counter() - t
            t = time.perf_counter()
            StreamData(src).stats(params, None)
            em = time.perf_counter() - t
            mb = data.nbytes / 1e6
            rows.append((kind, mb, mb / read, mb / em, ""))
    return rows


# ------------------------------------------------------------------ peak RSS


def _rss_bytes():
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss():
    """Reset the kernel's peak-RSS counter to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes():
    """Peak RSS of this process: VmHWM (Linux), else ru_maxrss.

    ru_maxrss is inherited across fork+exec, so in a child process it may report
    the parent's peak; VmHWM belongs to the process's own address space.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def rss_child(path, chunk_rows, k, max_iter):
    """In a fresh process: fit ``path``; report RSS before and the peak after."""
    import fastem

    warm = np.load(path, mmap_mode="r")[:5000].copy()  # compile kernels before measuring
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fastem.GaussianMixture(k, max_iter=2, random_state=0).fit(warm)
        del warm
        _reset_peak_rss()
        before = _rss_bytes()
        peak_before = _peak_rss_bytes()
        t = time.perf_counter()
        gm = fastem.GaussianMixture(k, max_iter=max_iter, tol=0.0, random_state=0)
        gm.fit(fastem.source(path, chunk_rows=chunk_rows))
        elapsed = time.perf_counter() - t
    peak = _peak_rss_bytes()
    return dict(
        file_mb=os.path.getsize(path) / 1e6,
        rss_before_mb=before / 1e6,
        peak_before_fit_mb=peak_before / 1e6,
        peak_mb=peak / 1e6,
        growth_mb=(peak - before) / 1e6,
        fit_s=elapsed,
        n_iter=gm.n_iter_,
    )


def write_npy_in_chunks(path, n, d, chunk=500_000, seed=0):
    """A large .npy file, written chunk by chunk (never all in memory)."""
    from numpy.lib import format as npformat

    with open(path, "wb") as f:
        npformat.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (n, d)}
        )
        for r0 in range(0, n, chunk):
            f.write(make_data(min(chunk, n - r0), d, seed=seed + r0).tobytes())


def measure_rss(tmp, mb=750, d=8, chunk_rows=200_000, k=4, max_iter=3):
    n = int(mb * 1e6) // (8 * d)
    path = os.path.join(tmp, "big.npy")
    t = time.perf_counter()
    write_npy_in_chunks(path, n, d)
    write_s = time.perf_counter() - t
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    code = (
        f"import json, sys; sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r});"
        "import bench_streaming as b;"
        f"print(json.dumps(b.rss_child({path!r}, {chunk_rows}, {k}, {max_iter})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    res = json.loads(out.strip().splitlines()[-1])
    res["write_s"] = write_s
    res["rows"] = n
    os.remove(path)
    return res


# ------------------------------------------------------------------ report


def report(n=2_000_000, d=10, k=4, rss=False, csv_rows=200_000, repeats=3):
    X = make_data(n, d, k)
    print(f"data: {n} rows x {d} features float64 ({X.nbytes / 1e6:.0f} MB), K={k}, full\n")
    with tempfile.TemporaryDirectory() as tmp:
        p = write_kind("npy", X, tmp)
        rows = [
            (how, per_iteration(X, p, k, chunk_rows=c, repeats=repeats, direct=how == "kernel"))
            for how, c in (("kernel", None), ("kernel", 200_000), ("reader thread", None))
        ]
    print(
        "| .npy read by | chunk rows | in memory s/iter | streamed s/iter | ratio | "
        "CPU s/iter mem | CPU s/iter streamed | CPU ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for how, r in rows:
        print(
            f"| {how} | {r['chunk_rows']} | {r['mem_wall']:.3f} | {r['stream_wall']:.3f} | "
            f"{r['ratio_wall']:.3f} | {r['mem_cpu']:.3f} | {r['stream_cpu']:.3f} | "
            f"{r['ratio_cpu']:.3f} |"
        )
    rel = max(r["rel"] for _, r in rows)
    print(f"\nmax relative difference of the fitted means, streamed vs in memory: {rel:.2e}\n")
    print("| source | MB | read + validate MB/s | EM pass MB/s |")
    print("|---|---|---|---|")
    for kind, mb, read, em, note in mb_per_s(X, k=k, csv_rows=csv_rows):
        if read is None:
            print(f"| {kind} | {mb:.0f} | {note} | |")
        else:
            print(f"| {kind} | {mb:.0f} | {read:.0f} | {em:.0f} |")
    if rss:
        with tempfile.TemporaryDirectory() as tmp:
            r = measure_rss(tmp)
        print(
            f"\npeak RSS, {r['file_mb']:.0f} MB .npy ({r['rows']} rows), 200,000-row chunks, "
            f"{r['n_iter']} iterations: RSS before fit {r['rss_before_mb']:.0f} MB, "
            f"peak {r['peak_mb']:.0f} MB, growth {r['growth_mb']:.0f} MB "
            f"(fit {r['fit_s']:.1f} s)"
        )


def test_streaming_bench_smoke(tmp_path):
    """A tiny run of every measurement (no timing assertions)."""
    X = make_data(3000, 3, 2)
    p = write_kind("npy", X, str(tmp_path))
    for direct in (True, False):
        r = per_iteration(X, p, k=2, max_iter=2, chunk_rows=700, repeats=1, direct=direct)
        assert r["rel"] < 1e-10 and r["ratio_wall"] > 0
    rows = mb_per_s(X, kinds=["npy", "callable", "csv"], k=2, chunk_rows=700, csv_rows=500)
    assert [r[0] for r in rows] == ["npy", "callable", "csv"]
    assert all(r[2] > 0 for r in rows)


_STREAM_DATA = {}


def _stream_data(full, tmp_path_factory):
    """2M x 10 (full size) or 3,000 x 10 rows, their .npy file and initial parameters."""
    if full not in _STREAM_DATA:
        X = make_data(2_000_000 if full else 3000, 10, 4)
        path = str(tmp_path_factory.mktemp("stream") / "X.npy")
        np.save(path, X)
        _STREAM_DATA[full] = X, path, _initial(X, 4)
    return _STREAM_DATA[full]


@pytest.mark.parametrize(
    "how", ["fastem in memory", "fastem npy read in the kernel", "fastem npy reader thread"]
)
def test_streamed_fit(benchmark, bench_full, tmp_path_factory, monkeypatch, how):
    """Three EM iterations in memory and streamed from ``.npy`` (page cache), one group:
    the regression gate covers both streaming paths, side by side with in-memory."""
    import fastem
    from fastem import _direct

    X, path, init = _stream_data(bench_full, tmp_path_factory)
    direct = how != "fastem npy reader thread" and _direct.DIRECT_READS
    monkeypatch.setattr(_direct, "DIRECT_READS", direct)

    def fit(data):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fastem.GaussianMixture(4, max_iter=3, tol=0.0, **init).fit(data)

    in_memory = how == "fastem in memory"
    data = X if in_memory else fastem.source(path)
    fit(X[:1000] if in_memory else fastem.source(path, chunk_rows=1000))  # compile
    benchmark.group = f"streamed fit {len(X)}x10 K=4 full, 3 iterations"
    benchmark.extra_info.update(how=how, n_iter=3)
    gm = benchmark.pedantic(fit, args=(data,), rounds=5 if bench_full else 1, iterations=1)
    assert gm.n_iter_ == 3 and np.all(np.isfinite(gm.means_))


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_peak_rss_750mb_npy_bounded_by_chunk(tmp_path):
    """Fitting a 750 MB .npy in 200,000-row chunks grows peak RSS by at most 200 MB (~20 s)."""
    r = measure_rss(str(tmp_path), mb=750, chunk_rows=200_000, max_iter=1)
    assert r["file_mb"] >= 750
    assert r["growth_mb"] <= 200, r


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--components", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rss", action="store_true", help="also fit a 750 MB .npy and report RSS")
    args = ap.parse_args()
    report(args.rows, args.features, args.components, rss=args.rss, repeats=args.repeats)
