"""Per-iteration time of EM: in memory vs Dask threaded scheduler vs a LocalCluster.

One *iteration* is what ``GaussianMixture._em`` does per step: the statistics
pass over the data (``data.stats``), the M-step and the Cholesky factors.

Under pytest (``--benchmark-disable`` by default) each benchmark runs once on
:data:`SMALL` data, so the suite stays quick; with ``--benchmark-enable`` or
``FASTEM_BENCH_FULL=1`` the sizes grow to :data:`LARGE` (``bench/conftest.py``).
Every run checks the Dask iteration's answer against the in-memory one (relative
1e-10, the promise of ``docs/dask.md``). Run the file as a script to print the
table of ``docs/dask.md``::

    PYTHONPATH=. python bench/bench_dask.py
"""

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from fastem import _stats  # noqa: E402
from fastem._passes import ArrayData  # noqa: E402

#: (n_samples, n_features, n_components, rows per Dask block)
LARGE = (1_000_000, 16, 8, 125_000)
SMALL = (20_000, 16, 8, 5_000)
TINY = (2_000, 16, 8, 1_000)
MANY_BLOCKS = (20_000, 16, 8, 100)  # 200 blocks: the per-task cost of the schedulers
COV = "full"


def make_problem(n, d, k, seed=0):
    """Data from ``k`` Gaussian blobs and a starting point (parameters of the blobs)."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(0, 4, (k, d))
    X = centres[rng.randint(k, size=n)] + rng.normal(0, 1, (n, d))
    weights = np.full(k, 1.0 / k)
    covs = np.broadcast_to(np.eye(d), (k, d, d)).copy()
    prec_chol = _stats.precision_cholesky(covs, COV)
    return np.ascontiguousarray(X), (weights, centres + 0.3, prec_chol)


def one_iteration(data, params):
    """One EM step on a data object; returns the new (weights, means, prec_chol)."""
    weights, means, prec_chol = params
    kp = _stats.kernel_params(weights, means, prec_chol, COV, data.dtype)
    stats = data.stats(kp, None)
    weights, means, covs = _stats.m_step(stats, COV, 1e-6)
    return weights, means, _stats.precision_cholesky(covs, COV)


def start_cluster():
    """A LocalCluster of 2 worker processes x 1 thread on 127.0.0.1, and its client."""
    import distributed

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = ROOT + (os.pathsep + old if old else "")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    return cluster, distributed.Client(cluster, set_as_default=False)


def dask_data(X, block_rows):
    import dask.array as da

    from fastem.dask import DaskData

    return DaskData(da.from_array(X, chunks=(block_rows, X.shape[1])))


# ------------------------------------------------------------------ pytest-benchmark


def size_for(full):
    return LARGE if full else SMALL


def test_size_follows_the_benchmark_options():
    assert size_for(True) == LARGE and size_for(False) == SMALL


@pytest.fixture(scope="module")
def problem(bench_full):  # --benchmark-enable or FASTEM_BENCH_FULL=1 (bench/conftest.py)
    size = size_for(bench_full)
    X, params = make_problem(*size[:3])
    return X, params, size[3]


def check_answer(X, params, got):
    """A Dask iteration gives the in-memory iteration's parameters (relative 1e-10)."""
    want = one_iteration(ArrayData(X), params)
    assert len(got) == len(want) == 3
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_check_answer_notices_a_wrong_iteration():
    X, params = make_problem(*TINY[:3])
    good = one_iteration(ArrayData(X), params)
    check_answer(X, params, good)
    with pytest.raises(AssertionError):
        check_answer(X, params, one_iteration(ArrayData(X[1:]), params))


@pytest.fixture(scope="module")
def cluster_client():
    pytest.importorskip("distributed")
    cluster, client = start_cluster()
    yield client
    client.close()
    cluster.close()


def test_iteration_in_memory(benchmark, problem):
    X, params, _ = problem
    data = ArrayData(X)
    one_iteration(data, params)  # compile
    got = benchmark(one_iteration, data, params)
    assert all(np.all(np.isfinite(g)) for g in got)


def test_iteration_dask_threaded(benchmark, problem):
    dask = pytest.importorskip("dask")
    X, params, block_rows = problem
    with dask.config.set(scheduler="threads", num_workers=2):
        data = dask_data(X, block_rows)
        one_iteration(data, params)
        got = benchmark(one_iteration, data, params)
    check_answer(X, params, got)


def test_iteration_local_cluster(benchmark, problem, cluster_client):
    dask = pytest.importorskip("dask")
    X, params, block_rows = problem
    with cluster_client.as_current(), dask.config.set(scheduler=cluster_client):
        data = dask_data(X, block_rows)
        one_iteration(data, params)
        got = benchmark(one_iteration, data, params)
    check_answer(X, params, got)


# ------------------------------------------------------------------ script: the table


def _median_time(data, params, repeats):
    """(median, min) seconds of one iteration, after one warm-up iteration."""
    one_iteration(data, params)  # warm up: compile, load caches, ship first params
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        one_iteration(data, params)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), float(np.min(times))


def main(repeats=9):
    """Print the markdown table of ``docs/dask.md`` (median seconds per iteration)."""
    import dask
    from threadpoolctl import threadpool_limits

    # The M-step's BLAS calls are on D x D matrices: one BLAS thread on the client,
    # so that idle-spinning BLAS threads do not compete with the Numba threads.
    threadpool_limits(1, user_api="blas")
    # from_array of a local array embeds it in the graph (once, at persist)
    warnings.filterwarnings("ignore", message=".*[Ll]arge.*graph")
    sizes = (TINY, MANY_BLOCKS, LARGE)
    problems = [make_problem(*size[:3]) for size in sizes]
    local = []
    for (X, params), size in zip(problems, sizes, strict=True):  # no cluster running yet
        t_mem = _median_time(ArrayData(X), params, repeats)
        with dask.config.set(scheduler="threads", num_workers=2):
            t_thr = _median_time(dask_data(X, size[3]), params, repeats)
        local.append((t_mem, t_thr))
    cluster, client = start_cluster()
    rows = []
    try:
        for (X, params), size, (t_mem, t_thr) in zip(problems, sizes, local, strict=True):
            with client.as_current(), dask.config.set(scheduler=client):
                t_clu = _median_time(dask_data(X, size[3]), params, repeats)
            n, d, k, block_rows = size
            rows.append((n, d, k, n // block_rows, t_mem, t_thr, t_clu))
    finally:
        client.close()
        cluster.close()
    print(f"covariance_type={COV!r}; median (min) of {repeats} iterations\n")
    print(
        "| rows x features, K | blocks | in memory (2 Numba threads) | Dask threaded (2) "
        "| LocalCluster (2 proc x 1 thr) | cluster - in memory |"
    )
    print("|---|---|---|---|---|---|")
    for n, d, k, nb, t_mem, t_thr, t_clu in rows:
        print(
            f"| {n:,} x {d}, {k} | {nb} | {_ms(t_mem)} | {_ms(t_thr)} | {_ms(t_clu)} "
            f"| {(t_clu[0] - t_mem[0]) * 1e3:+.1f} ms |"
        )


def _ms(t):
    return f"{t[0] * 1e3:.1f} ({t[1] * 1e3:.1f}) ms"


if __name__ == "__main__":
    main()
