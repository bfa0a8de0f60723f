import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
#: BayesianGaussianMixture's weight priors, and the fitted state compared between two fits
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
BGM_STATE = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "mean_precision_",
    "degrees_of_freedom_",
    "mean_prior_",
    "covariance_prior_",
)

ROOT = Path(__file__).resolve().parents[1]


def checkout_env(cache=None, **extra):
    """The environment of a child process that runs this checkout's fastem, compiles the
    kernels even on small data (``FASTEM_SMALL_WORK=0``) and uses ``cache`` as its Numba
    cache folder (None: Numba's default folder); ``extra`` set on top."""
    env = dict(os.environ, FASTEM_SMALL_WORK="0", **extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if cache is None:
        env.pop("NUMBA_CACHE_DIR", None)
    else:
        env["NUMBA_CACHE_DIR"] = str(cache)
    return env


def two_blobs(n=300, seed=0):
    """Two unit-variance blobs in two features, six apart (the integrity tests' data)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (n // 2, 2)), rng.normal(6, 1, (n - n // 2, 2))])


def blobs(n=600, d=3, k=3, offset=0.0, seed=0, dtype=np.float64):
    """Well-separated, anisotropic Gaussian blobs, optionally far from the origin."""
    rng = np.random.default_rng(seed)
    parts = []
    for j in range(k):
        A = rng.normal(size=(d, d)) * (0.5 + j)
        parts.append(rng.normal(size=(n // k, d)) @ A + rng.normal(size=d) * 8)
    X = np.vstack(parts) + offset
    return rng.permutation(X).astype(dtype)


def sklearn_start(X, k, covariance_type, seed=0):
    """Initial weights, means, precisions from one scikit-learn EM step."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGaussianMixture(k, covariance_type=covariance_type, max_iter=1, random_state=seed)
        sk.fit(X)
    return dict(weights_init=sk.weights_, means_init=sk.means_, precisions_init=sk.precisions_)


def traced_peak(call):
    """``(call(), the peak of the bytes tracemalloc traced during it)``."""
    import tracemalloc

    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Best performing initialization")
        yield


@pytest.fixture(autouse=True)
def _compiled_kernels(request):
    """Run the compiled kernels even on the small inputs of the tests.

    Users' small inputs run in NumPy (``fastem._small``: no compiler); the
    tests use small data too, and would otherwise never reach the kernels.
    ``tests/test_small.py`` tests the NumPy passes (marker ``numpy_passes``).
    """
    import fastem._small

    # a MonkeyPatch of its own: a test's monkeypatch.undo() must not undo this
    with pytest.MonkeyPatch.context() as mp:
        if request.node.get_closest_marker("numpy_passes") is None:
            mp.setattr(fastem._small, "SMALL_WORK", 0)
            mp.setenv("FASTEM_SMALL_WORK", "0")  # and in the tests' subprocesses
        yield


def force_missing_path(mp, path):
    """Force one path of the rows with NaN (``fastem._missing.MissingData._rows_with_nan``):
    "compact" (compact coordinates through the kernels), "numpy" (the same in NumPy, as for
    small inputs) or "kernels" (the missing-value kernels)."""
    import fastem._missing
    import fastem._small

    compact = path != "kernels"
    mp.setattr(fastem._missing, "COMPACT_WORK", 10**18 if compact else -1)
    mp.setattr(fastem._missing, "COMPACT_ROWS", 0 if compact else 10**18)
    if path == "numpy":
        mp.setattr(fastem._small, "SMALL_WORK", 10**15)


@pytest.fixture(params=["compact", "kernels", "numpy"])
def missing_path(request, monkeypatch):
    """Each path of the rows with NaN, forced (``force_missing_path``)."""
    force_missing_path(monkeypatch, request.param)
    return request.param


def diag_tile(monkeypatch, name, cols, lanes, dtype=np.float64):
    """``(logdens, rows)``: ``_density.<name>`` (the diagonal log-density's tile, or its unit
    variant) compiled for ``cols`` components x two vectors of ``lanes`` rows in ``dtype``
    (whichever shape this machine would compile), and the rows a tile covers."""
    from numba import njit

    from fastem._kernels import _config, _density

    monkeypatch.setattr(_density, "DIAG_COLS", cols)
    monkeypatch.setattr(_density, "DIAG_LANES32" if dtype == np.float32 else "DIAG_LANES", lanes)
    tile = getattr(_density, name)

    @njit(**_config._NO_CACHE)
    def logdens(xt, nb, prec, npm, const, logp):
        tile(xt, nb, prec, npm, const, logp)

    return logdens, 2 * lanes


def log_density_in_blocks(shared, x, mup, up, const, dtype=np.float64):
    """``logp`` (K, rows) of the rows ``x`` by the shared log-density ``shared``
    (``_density.full_logprob`` or ``tied_logprob``) in ``dtype``, as a chunk's kernel calls it:
    the means' shift made once with the parameters (``_passes.log_density_start``), then
    blocks of 128 rows over one ``xs`` buffer, spare columns filled with 7."""
    from numba import njit

    from fastem._passes import log_density_start

    call = shared.call
    address = shared.address(0 if dtype == np.float64 else 1)

    @njit
    def logprob(xt, nb, mu, up, const, xs, npm, q, logp):
        call(address, xt, nb, mu, up, const, xs, npm, q, logp)

    (K, Dp), (nb, D) = mup.shape, x.shape
    npm = log_density_start(mup, up)
    xs, q = np.zeros((Dp, 128 + 16), dtype), np.zeros(128, dtype)
    logp = np.zeros((K, nb))
    for r0 in range(0, nb, 128):
        xt = np.full((Dp, 128 + 16), 7.0, dtype)
        rows = x[r0 : r0 + 128]
        xt[:, : len(rows)] = 0.0
        xt[:D, : len(rows)] = rows.T
        out = np.zeros((K, 128 + 16))
        logprob(xt, len(rows), mup, up, const, xs, npm, q, out)
        logp[:, r0 : r0 + len(rows)] = out[:, : len(rows)]
    return logp


def placed_means(rng, K, D, place):
    """Four components' means for the log-density precision tests: about 1e6 ("offset"),
    spread over 1e4 ("spread"), or near 3 ("narrow")."""
    centre = {"offset": 1e6, "spread": 0.0, "narrow": 3.0}[place]
    mu = rng.normal(size=(K, D)) + centre
    if place == "spread":
        mu += np.array([1e4, -1e4, 5e3, 0.0])[:, None]
    return mu
