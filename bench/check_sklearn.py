"""Check fastem against scikit-learn from identical initial parameters.

    PYTHONPATH=. python bench/check_sklearn.py

For every covariance type and both dtypes: fit scikit-learn for one iteration
to get parameters, start both libraries from them with ``tol=0`` and
``max_iter=20``, and print the largest relative difference of ``weights_``,
``means_`` and ``covariances_`` (float64 must stay below 1e-7). Exits with status 1
on FAIL; under pytest, ``test_agrees_with_sklearn`` runs the same check on fewer rows.
"""

import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SK
from workloads import max_rel

from fastem import GaussianMixture as FE


def main(n=20000, D=5, K=4, quiet=False):
    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(K, D)) * 3
    X64 = centres[rng.integers(0, K, n)] + rng.normal(size=(n, D))
    worst = 0.0
    for dtype in (np.float64, np.float32):
        X = X64.astype(dtype)
        for cov in ("full", "tied", "diag", "spherical"):
            sk0 = SK(K, covariance_type=cov, max_iter=1, random_state=0).fit(X)
            init = dict(
                weights_init=sk0.weights_, means_init=sk0.means_, precisions_init=sk0.precisions_
            )
            kw = dict(covariance_type=cov, tol=0, max_iter=20, **init)
            a = FE(K, **kw).fit(X)
            b = SK(K, **kw).fit(X)
            attrs = ("weights_", "means_", "covariances_")
            d = max(max_rel(getattr(a, x), getattr(b, x)) for x in attrs)
            if dtype == np.float64:
                worst = max(worst, d)
            if not quiet:
                print(f"{np.dtype(dtype).name:8s} {cov:10s} max relative difference {d:.2e}")
    if not quiet:
        print("float64 worst", f"{worst:.2e}", "OK" if worst < TOL else "FAIL")
    return worst


TOL = 1e-7


def test_agrees_with_sklearn():
    assert main(n=3000, quiet=True) < TOL


def test_max_rel_sees_a_difference():
    a = np.array([1.0, 2.0])
    assert max_rel(a, a) == 0 and max_rel(a * (1 + 1e-6), a) > TOL


if __name__ == "__main__":
    sys.exit(0 if main() < TOL else 1)
