"""BayesianGaussianMixture: fastem against scikit-learn, side by side in one run.

Issue 15's workload: 1M x 8, K = 16, full covariance, Dirichlet-process prior. Both
libraries start from the same variational state (scikit-learn's after one iteration from
``random_from_data``): scikit-learn continues it with ``warm_start``, fastem with
``init_from=``, for ``N_ITER`` iterations at ``tol=0``, so both do the same work; each
timed fit also includes what every ``fit`` does (validation, the priors from the data).
The answers are checked against each other (1e-7 relative). Per-iteration ratio::

    PYTHONPATH=. python -m pytest bench/bench_bayesian.py --benchmark-enable \
        --benchmark-only --benchmark-columns=median,rounds

The CI pass (``--benchmark-disable``) runs it once on ``SMOKE_ROWS`` rows.
"""

import copy
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from workloads import SMOKE_ROWS, Workload, make_data, max_rel

N_ITER = 5
WORKLOAD = Workload("vb_full_1Mx8_K16", "fit", "full", 1_000_000, 8, 16)
_CACHE = {}


def _setup(bench_full):
    w = WORKLOAD if bench_full else WORKLOAD.scaled(SMOKE_ROWS)
    if w.n not in _CACHE:
        from sklearn.mixture import BayesianGaussianMixture

        _CACHE.clear()
        X, _ = make_data(w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = BayesianGaussianMixture(
                n_components=w.K,
                covariance_type=w.cov,
                init_params="random_from_data",
                max_iter=1,
                random_state=0,
            ).fit(X)
        _CACHE[w.n] = (w, X, start, {})
    return _CACHE[w.n]


def run(lib, X, start, n_iter):
    from fastem import BayesianGaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if lib == "sklearn":
            model = copy.deepcopy(start).set_params(warm_start=True, max_iter=n_iter, tol=0.0)
            return model.fit(X)
        model = BayesianGaussianMixture(
            n_components=start.n_components,
            covariance_type=start.covariance_type,
            max_iter=n_iter,
            tol=0.0,
        )
        return model.fit(X, init_from=start)


@pytest.mark.parametrize("lib", ["sklearn", "fastem"])  # sklearn first: its answer is reused
def test_bayesian_em(benchmark, bench_full, lib):
    w, X, start, answers = _setup(bench_full)
    run(lib, X[:2000], start, 1)  # warm-up: compiles fastem's kernels
    benchmark.group = f"bayesian {w.label}"
    benchmark.extra_info.update(workload=w.name, lib=lib, n_iter=N_ITER)
    rounds = 3 if lib == "fastem" else 1
    result = benchmark.pedantic(run, args=(lib, X, start, N_ITER), rounds=rounds, iterations=1)
    if lib == "sklearn":
        answers["sklearn"] = result
        return
    ref = answers.pop("sklearn", None) or run("sklearn", X, start, N_ITER)
    for attr in ("weights_", "means_", "covariances_", "degrees_of_freedom_"):
        d = max_rel(getattr(result, attr), getattr(ref, attr))
        assert d < 1e-7, (attr, d)
    assert abs(result.lower_bound_ - ref.lower_bound_) < 1e-7 * abs(ref.lower_bound_)
