"""Time of one EM iteration with 10 % of the values missing, relative to complete data.

1M x 8, K=8, full covariances; values are removed independently with
probability 0.1, so about 57 % of the rows hold at least one NaN, spread over
up to 255 missingness patterns. One iteration is one call of the data object's
``stats`` (the E-step and the sufficient statistics; the M-step is the same
small computation in both cases).

Run the real benchmark with::

    PYTHONPATH=. python -m pytest bench/bench_missing.py --benchmark-enable

or ``PYTHONPATH=. python bench/bench_missing.py`` to print the ratio. With
``--benchmark-disable`` (the default ``addopts``), each case runs once on
20 000 rows so the normal test run stays fast, unless ``FASTEM_BENCH_FULL=1``.
"""

import os
import time

import numpy as np
import pytest

from fastem import GaussianMixture, _stats
from fastem._missing import MissingData
from fastem._passes import ArrayData

N_FULL, N_SMALL, D, K, RATE = 1_000_000, 20_000, 8, 8, 0.10


def make_case(n, seed=0):
    """Complete data, the same data with NaN, and fitted-looking parameters."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (K, D))
    X = centers[rng.integers(0, K, n)] + rng.normal(size=(n, D))
    Xm = X.copy()
    Xm[rng.random(X.shape) < RATE] = np.nan
    Xm[np.isnan(Xm).all(axis=1), 0] = 0.0
    gm = GaussianMixture(K, max_iter=2, tol=0, random_state=0).fit(X[:20000])
    params = _stats.kernel_params(
        gm.weights_, gm.means_, gm.precisions_cholesky_, "full", np.float64
    )
    return ArrayData(X), MissingData(Xm), params


_CASES = {}


def _case(n):
    if n not in _CASES:
        _CASES.clear()
        _CASES[n] = make_case(n)
    return _CASES[n]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("which", ["complete", "missing"])
def test_iteration(benchmark, which):
    full = not benchmark.disabled or os.environ.get("FASTEM_BENCH_FULL") == "1"
    n = N_FULL if full else N_SMALL
    complete, missing, params = _case(n)
    data = complete if which == "complete" else missing
    data.stats(params, None)  # compile and warm up
    stats = benchmark(data.stats, params, None)
    assert np.isfinite(stats.loglik)
    assert stats.n_rows == n
    benchmark.extra_info.update(n=n, d=D, k=K, missing_rate=RATE)


def main(repeat=5):
    import warnings

    warnings.simplefilter("ignore")
    complete, missing, params = make_case(N_FULL)
    best = {}
    for name, data in (("complete", complete), ("missing", missing)):
        data.stats(params, None)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            data.stats(params, None)
            times.append(time.perf_counter() - t)
        best[name] = min(times)
    print(
        f"{N_FULL}x{D}, K={K}, {RATE:.0%} of values missing "
        f"({missing.n_samples - missing.n_complete} rows with NaN, {missing.n_patterns} patterns)"
    )
    for name, t in best.items():
        print(f"  {name:9s} {t * 1e3:8.1f} ms / iteration")
    print(f"  ratio     {best['missing'] / best['complete']:8.2f}")


if __name__ == "__main__":
    main()
