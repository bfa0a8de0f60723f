"""mclust's models: an iterative M-step (EVE) beside VVV and scikit-learn's full, 1M x 8, K = 8.

EVE's M-step alternates a closed-form volume and shapes with the MM update of
the common orientation (``fastem._models``); everything else of an iteration,
the fused pass, is VVV's. The benchmark times ``N_ITER`` iterations of each
from the same start, and records in ``extra_info`` the share of one iteration
spent in the M-step (``mstep_share``), measured on the statistics of a pass
with the warm start EM gives it. Run with the other benchmarks::

    PYTHONPATH=. python -m pytest bench/bench_models.py --benchmark-enable --benchmark-only
"""

import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from workloads import SMOKE_ROWS, Workload, make_data

N_ITER = 3


def _setup(bench_full):
    n = 1_000_000 if bench_full else SMOKE_ROWS
    w = Workload("models_1Mx8_K8", "fit", "full", n, 8, 8)
    return make_data(w)


def _fit(lib, model, X, init, max_iter):
    if lib == "sklearn":
        from sklearn.mixture import GaussianMixture
    else:
        from fastem import GaussianMixture
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(8, covariance_type=model, max_iter=max_iter, tol=0.0, **init).fit(X)


def _mstep_seconds(X, gm, model):
    """One M-step of ``model`` on the statistics of a pass from ``gm``'s parameters."""
    from fastem import _stats
    from fastem._passes import ArrayData

    data = ArrayData(X, None, None)
    kp = gm._kernel_params(gm.weights_, gm.means_, gm.precisions_cholesky_, data)
    stats = data.stats(kp, None)
    t0 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        _stats.m_step(stats, model, gm.reg_covar, previous=gm.covariances_)
    return (time.perf_counter() - t0) / reps


@pytest.mark.parametrize("lib, model", [("sklearn", "full"), ("fastem", "VVV"), ("fastem", "EVE")])
def test_iterative_model_beside_vvv(benchmark, bench_full, lib, model):
    X, init = _setup(bench_full)
    _fit(lib, model, X[:1000], init, 1)  # compiles the kernels (fastem)
    benchmark.group = f"fit EVE vs VVV {X.shape[0]}x8 K=8"
    benchmark.extra_info.update(lib=lib, model=model, n_iter=N_ITER)
    rounds = 3 if lib == "fastem" else 1
    gm = benchmark.pedantic(_fit, args=(lib, model, X, init, N_ITER), rounds=rounds, iterations=1)
    assert np.all(np.isfinite(gm.covariances_))
    if lib == "fastem":
        per_iter = benchmark.stats.stats.median / N_ITER if benchmark.stats else None
        mstep = _mstep_seconds(X, gm, model)
        benchmark.extra_info.update(mstep_seconds=mstep)
        if per_iter:
            benchmark.extra_info.update(mstep_share=mstep / per_iter)
