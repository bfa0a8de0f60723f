"""Compile every kernel for this machine ahead of time.

``fastem.warmup()`` (or ``fastem warmup`` on the command line) compiles every
compiled kernel that fastem's estimators use, for both dtypes and every
covariance family, into the Numba disk cache, in parallel processes. Run it
once when building a container image, in a CI job whose cache folder is kept
(``NUMBA_CACHE_DIR``; see ``docs/cold_start.md``), or on each Dask worker
machine: later processes load the kernels instead of compiling them.

Small inputs never need it: they run in NumPy (``fastem._small``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ._parallel import default_threads

#: One job per process: the kernels that one kind of call compiles.
JOBS = (
    ("float64", "full"),
    ("float64", "diag"),
    ("float32", "full"),
    ("float32", "diag"),
    ("float64", "missing"),
    ("float32", "missing"),
)


def _job(dtype, kind):
    """Run the calls of one job on tiny data with the compiled kernels (in a child process)."""
    import warnings

    import numpy as np

    from . import _small
    from .mixture import GaussianMixture

    _small.SMALL_WORK = 0  # the kernels, even for these tiny inputs
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(m, 1, (64, 3)) for m in (0, 6)]).astype(dtype)
    kw = dict(max_iter=2, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "missing":
            # rows with NaN in few patterns run the kernels above; many patterns of few rows
            # run the missing-value kernels (``fastem._pattern_kernels``), forced here
            from . import _missing

            _missing.COMPACT_WORK, _missing.COMPACT_ROWS = -1, 1 << 62
            X[::7, 1] = np.nan
            for cov in ("full", "diag"):
                gm = GaussianMixture(2, covariance_type=cov, missing="marginalize", **kw).fit(X)
                gm.predict_proba(X)
                gm.score_samples(X)
        else:
            for cov in (kind, "tied") if kind == "full" else (kind,):
                # (tied: float64 blocks transformed once, ``_density.logprob_tied``)
                gm = GaussianMixture(2, covariance_type=cov, **kw).fit(X)
                gm.predict(X)
                gm.predict_proba(X)
                gm.score_samples(X)
            if kind == "full":  # the full statistics of 29 features and more (register
                # tiles, float64 whatever X's dtype) and each dtype's load of rows in transposed
                # tiles (``_density.load_tiles``: 8 features and more in float32, any family)
                wide = np.repeat(X, 11, axis=1)[:, :32] + rng.normal(size=(len(X), 32))
                GaussianMixture(2, covariance_type=kind, **kw).fit(wide.astype(dtype))


def _run_job(job):
    code = f"from fastem.warmup import _job; _job{job!r}"
    t = time.perf_counter()
    env = dict(os.environ, FASTEM_COMPILE_AHEAD="0")  # the jobs are the parallelism
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"warm-up job {job} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t


def warmup(processes=None, verbose=False):
    """Compile every kernel into the disk cache, in parallel processes.

    Parameters
    ----------
    processes : int, default=None
        Processes at once; None means one per usable core (CPU affinity and a
        cgroup CPU quota counted; ``NUMBA_NUM_THREADS`` where set).
    verbose : bool, default=False
        Print each job's time as it ends.

    Returns
    -------
    seconds : dict
        Wall-clock seconds of each job, keyed ``"dtype kind"``, and
        ``"total"``.

    Examples
    --------
    >>> import fastem
    >>> times = fastem.warmup()  # doctest: +SKIP
    """
    n = processes or default_threads()
    t0 = time.perf_counter()
    out = {}
    with ThreadPoolExecutor(max_workers=max(1, int(n))) as pool:
        for job, sec in zip(JOBS, pool.map(_run_job, JOBS)):
            out[" ".join(job)] = sec
            if verbose:
                print(f"{' '.join(job):<20} {sec:6.1f} s", flush=True)
    out["total"] = time.perf_counter() - t0
    return out
