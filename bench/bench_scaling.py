"""Thread scaling: time per EM iteration from 1 thread to every core.

Run it as a script on the machine you want the table for (issue 3 asks for
4M x 16, K = 16, full covariance, 1 to 16 threads on a 16-core machine)::

    PYTHONPATH=. python bench/bench_scaling.py                  # 4M x 16, K = 16
    PYTHONPATH=. python bench/bench_scaling.py --sklearn        # and scikit-learn
    PYTHONPATH=. python bench/bench_scaling.py --rows 400000    # a smaller problem

fastem runs with ``GaussianMixture(n_threads=t)`` for t = 1, 2, 4, ... up to
The default thread count (``NUMBA_NUM_THREADS`` if set, else the number of cores),
from the same initial parameters with ``tol=0``; time per iteration is
``(t(fit, 1 + N) - t(fit, 1)) / N`` as in ``bench/report.py``, median of
``--repeat`` runs. scikit-learn's BLAS threads are limited with threadpoolctl.
The table gives the speed-up over one thread and the parallel efficiency
(speed-up / threads).

Under pytest (``bench_*.py`` is collected) only a small smoke run executes.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import Workload, make_data, run  # noqa: E402

from fastem._parallel import default_threads  # noqa: E402


def thread_counts(max_threads):
    counts, t = [], 1
    while t < max_threads:
        counts.append(t)
        t *= 2
    return counts + [max_threads]


def per_iteration(lib, w, X, init, n_iter, repeat, n_threads):
    """Median seconds per EM iteration of ``lib`` with ``n_threads`` threads."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    def fit(max_iter):
        if lib == "fastem":
            from fastem import GaussianMixture

            gm = GaussianMixture(
                n_components=w.K,
                covariance_type=w.cov,
                max_iter=max_iter,
                tol=0.0,
                n_threads=n_threads,
                **init,
            )
            t = time.perf_counter()
            with _quiet():
                gm.fit(X)
            return time.perf_counter() - t
        with threadpool_limits(n_threads):
            t = time.perf_counter()
            run("sklearn", w, X, init, max_iter=max_iter)
            return time.perf_counter() - t

    per = []
    for _ in range(repeat):
        per.append(max(fit(1 + n_iter) - fit(1), 1e-9) / n_iter)
    return float(np.median(per))


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def scaling(rows=4_000_000, features=16, components=16, n_iter=3, repeat=3, sklearn=False):
    """Rows of (threads, fastem s/iter, speed-up, efficiency, sklearn s/iter or None)."""

    w = Workload("scaling", "fit", "full", rows, features, components)
    X, init = make_data(w)
    max_threads = default_threads()
    run("fastem", w, X[:1000], init)  # compile outside the timings
    out = []
    base = None
    for t in thread_counts(max_threads):
        s = per_iteration("fastem", w, X, init, n_iter, repeat, t)
        base = s if base is None else base
        sk = None
        if sklearn and t in (1, max_threads):
            sk = per_iteration("sklearn", w, X, init, 1, 1, t)
        out.append((t, s, base / s, base / s / t, sk))
    return w, out


def table(rows):
    lines = [
        "| threads | fastem ms/iter | speed-up | efficiency | scikit-learn ms/iter |",
        "|---|---|---|---|---|",
    ]
    for t, s, up, eff, sk in rows:
        sk_ms = "-" if sk is None else f"{sk * 1e3:.0f}"
        lines.append(f"| {t} | {s * 1e3:.1f} | {up:.2f}x | {eff:.0%} | {sk_ms} |")
    return "\n".join(lines)


def test_thread_counts():
    assert thread_counts(1) == [1]
    assert thread_counts(2) == [1, 2]
    assert thread_counts(6) == [1, 2, 4, 6]
    assert thread_counts(16) == [1, 2, 4, 8, 16]


def test_scaling_smoke():
    """The script's code path on a tiny problem (the CI pass), and the answers it times: the
    same parameters, bit for bit, for every thread count of the table."""
    import numpy as np

    w, rows = scaling(rows=4_000, features=4, components=3, n_iter=1, repeat=1, sklearn=True)
    counts = thread_counts(default_threads())
    assert [r[0] for r in rows] == counts
    for t, s, up, eff, _sk in rows:
        assert s > 0 and up == rows[0][1] / s and eff == up / t
    assert rows[0][4] is not None and rows[-1][4] is not None
    assert table(rows).count("\n") == len(rows) + 1

    X, init = make_data(w)
    from fastem import GaussianMixture

    fits = []
    for t in counts:
        gm = GaussianMixture(w.K, covariance_type=w.cov, max_iter=3, tol=0, n_threads=t, **init)
        with _quiet():
            fits.append(gm.fit(X))
    for gm in fits[1:]:
        np.testing.assert_array_equal(gm.means_, fits[0].means_)
        np.testing.assert_array_equal(gm.covariances_, fits[0].covariances_)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--n-iter", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sklearn", action="store_true", help="also scikit-learn, 1 and all threads")
    args = ap.parse_args(argv)
    import numba

    w, rows = scaling(
        args.rows, args.features, args.components, args.n_iter, args.repeat, args.sklearn
    )
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    cpu = platform.processor() or platform.machine()
    threads = default_threads()
    print(
        f"{stamp}; {cpu}, {os.cpu_count()} CPUs, Numba {numba.__version__} ({threads} threads); "
        f"full covariance, {w.n:,} x {w.D}, K = {w.K}, float64"
    )
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
