"""Online (stepwise) EM against exact EM: log-likelihood, time, per-call overhead, drift.

Run it as a script (not a timed test)::

    PYTHONPATH=. python bench/bench_online.py --rows 1000000            # table
    PYTHONPATH=. python bench/bench_online.py --rows 1000000 --plot docs/images/online_loglik.png
    PYTHONPATH=. python bench/bench_online.py --rows 10000000           # the issue's size

On one data set (``--rows`` rows, 8 features, 8 overlapping components,
``full`` covariances, saved as a ``.npy`` file in the page cache):

* **exact EM**: ``fit`` on the source to ``tol=1e-6`` from the same initial
  parameters as the online fit (k-means on the first batch), and both with
  their defaults (``random_state=0``): time, iterations, and
  its mean log-likelihood after every iteration (rows read = iterations x n);
  scikit-learn's time per EM iteration from the same initial parameters in the
  same run (its whole fit is estimated as that times fastem's iterations);
* **online EM**: ``fit_online`` (one pass, batches of ``--batch-rows``) on the
  same source: time, and the mean log-likelihood of all rows as the pass goes
  (measured in a second, untimed pass); the gap to exact EM;
* **per-call overhead**: ``partial_fit`` on in-memory batches of
  ``--batch-rows`` rows against the statistics pass alone (``ArrayData.stats``:
  the kernel with its thread pool) with the same parameters;
* **drift**: a stream whose component means move by 3 standard deviations
  halfway; the distance of the fitted means to the second half's means for the
  default step, a constant step and the running average (``step_decay=1,
  step_offset=0``).

Under pytest (``bench_*.py`` is collected) only a small smoke run executes, and
``test_batch_update`` (pytest-benchmark: ``partial_fit``, its statistics pass, and
scikit-learn's one EM iteration on the batch, side by side) runs once on 1,000 rows;
``--benchmark-enable`` times it on batches of 10,000 rows.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings

import numpy as np
import pytest

D, K = 8, 8


def make_data(n, seed=0, shift=0.0, spread=1.5, rows_per_block=1_000_000):
    """n rows of a K-component mixture in D dimensions (means ~N(0, spread^2), unit covariances).

    With the default spread the components overlap enough that exact EM needs
    tens of passes; the drift experiment uses well-separated ones (spread 5).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(K, D))
    X = np.empty((n, D))
    for r0 in range(0, n, rows_per_block):
        m = min(rows_per_block, n - r0)
        X[r0 : r0 + m] = centres[rng.integers(0, K, m)] + rng.standard_normal((m, D)) + shift
    return X, centres


def exact_vs_online(X, path, batch_rows=10_000, curve_points=40, sk_iters=2):
    """The exact and the online fit of the same source; see the module docstring."""
    import fastem
    from fastem import GaussianMixture

    n = X.shape[0]
    src = fastem.source(path)
    # the same start for both: k-means on the first batch, as the online fit initializes
    first = GaussianMixture(K, random_state=0, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first.fit(X[:batch_rows])
    start = dict(
        weights_init=first.weights_, means_init=first.means_, precisions_init=first.precisions_
    )
    runs = {}
    for name, kw in (("same start", start), ("defaults", {"random_state": 0})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            exact = GaussianMixture(K, tol=1e-6, max_iter=500, **kw).fit(src)
            exact_s = time.perf_counter() - t
        online = GaussianMixture(K, **kw)
        t = time.perf_counter()
        online.fit_online(src, batch_rows=batch_rows)
        online_s = time.perf_counter() - t
        exact_ll, online_ll = exact.score(X), online.score(X)
        runs[name] = {
            "exact_s": exact_s,
            "exact_iter": exact.n_iter_,
            "exact_ll": exact_ll,
            "online_s": online_s,
            "online_ll": online_ll,
            "gap": (exact_ll - online_ll) / abs(exact_ll),
        }
        if name == "same start":
            exact_curve = [(i * n, ll) for i, ll in enumerate(exact.lower_bounds_, 1)]
            exact_same = exact
    # the curve of the online pass, in a second (untimed) run of the same pass
    n_batches = -(-n // batch_rows)
    every = max(1, n_batches // curve_points)
    curve = []

    def record(model, rows):
        if (rows // batch_rows) % every == 0 or rows in (batch_rows, n):
            curve.append((rows, model.score(X)))

    GaussianMixture(K, **start).fit_online(src, batch_rows=batch_rows, callback=record)
    sk = sklearn_iteration(X, exact_same, sk_iters)
    same = runs["same start"]
    return {
        "rows": n,
        "batch_rows": batch_rows,
        **same,
        "runs": runs,
        "exact_curve": exact_curve,
        "online_curve": curve,
        "sklearn_iter_s": sk,
        "sklearn_fit_estimate_s": sk * same["exact_iter"],
    }


def sklearn_iteration(X, start, iters):
    """scikit-learn's seconds per EM iteration from ``start``'s parameters (best of two runs)."""
    from sklearn.mixture import GaussianMixture as SkGM

    best = np.inf
    for _ in range(2):
        sk = SkGM(
            K,
            max_iter=iters,
            tol=0.0,
            weights_init=start.weights_,
            means_init=start.means_,
            precisions_init=start.precisions_,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            sk.fit(X)
            best = min(best, (time.perf_counter() - t) / iters)
    return best


def overhead(X, batch_rows=10_000, calls=200):
    """ms per ``partial_fit`` call and per statistics pass alone, median of ``calls``."""
    from fastem import GaussianMixture, _online, _small, _stats
    from fastem._passes import ArrayData

    gm = GaussianMixture(K, random_state=0)
    n_b = min(calls, X.shape[0] // batch_rows - 1)
    batches = [np.ascontiguousarray(X[i * batch_rows : (i + 1) * batch_rows]) for i in range(n_b)]
    gm.partial_fit(batches[0])
    gm.partial_fit(batches[1])  # compiled, warm
    per_call, per_pass = [], []
    for B in batches:
        t = time.perf_counter()
        gm.partial_fit(B)
        per_call.append(time.perf_counter() - t)
        data = ArrayData(B)
        small = _small.is_small(_online.ONLINE_SMALL_FACTOR * B.shape[0], K, D)
        kp = _stats.kernel_params(
            gm.weights_, gm.means_, gm.precisions_cholesky_, "full", B.dtype, small
        )
        t = time.perf_counter()
        data.stats(kp, None)
        per_pass.append(time.perf_counter() - t)
    call, kern = 1e3 * np.median(per_call), 1e3 * np.median(per_pass)
    return {"batch_rows": batch_rows, "call_ms": call, "pass_ms": kern, "overhead_ms": call - kern}


def drift(n, batch_rows=10_000, move=3.0):
    """Fitted means vs. the second half's means on a stream that moves halfway."""
    from fastem import GaussianMixture, _online

    X1, centres = make_data(n // 2, seed=1, spread=5.0)
    X2, _ = make_data(n - n // 2, seed=1, shift=move, spread=5.0)  # same centres, moved
    rng = np.random.default_rng(2)
    X1, X2 = rng.permutation(X1), rng.permutation(X2)
    target = centres + move
    out = {}
    for name, kw in (
        ("default step (0.6, 2)", {}),
        ("constant step 0.05", {"step_size": 0.05}),
        ("running average (1, 0)", {"step_decay": 1.0, "step_offset": 0.0}),
    ):
        gm = GaussianMixture(K, random_state=0, **kw)
        for Xh in (X1, X2):
            for r0 in range(0, Xh.shape[0], batch_rows):
                gm.partial_fit(Xh[r0 : r0 + batch_rows])
        # match each fitted component to its nearest moved centre
        dist = np.linalg.norm(gm.means_[:, None] - target[None], axis=2)
        # the documented share of the first half in the running statistics: the product
        # of (1 - g_t) over the second half's updates; the means lag by that share of the move
        n1, n_all = -(-X1.shape[0] // batch_rows), gm.n_iter_
        steps = [_online.step(gm, t) for t in range(n1 + 1, n_all + 1)]
        share = float(np.prod(1 - np.asarray(steps)))
        out[name] = {
            "distance": float(dist.min(axis=1).mean()),
            "first_half_share": share,
            "predicted_distance": share * move * np.sqrt(D),
        }
    return out


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    er, el = zip(*result["exact_curve"])
    orows, oll = zip(*result["online_curve"])
    ax.plot(er, el, "o-", ms=3, label=f"exact EM ({result['exact_iter']} passes)")
    ax.plot(orows, oll, "-", label=f"online EM, one pass, batches of {result['batch_rows']:,}")
    ax.axhline(result["exact_ll"], color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    values = list(el) + list(oll)
    lo, hi = min(values), max(values)
    ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
    ax.set_xlabel("rows seen")
    ax.set_ylabel("mean log-likelihood of all rows")
    ax.set_title(f"{result['rows']:,} rows x {D} features, {K} full components")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-rows", type=int, default=10_000)
    ap.add_argument("--plot", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    X, _ = make_data(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        np.save(path, X)
        res = exact_vs_online(X, path, args.batch_rows)
    res["overhead"] = overhead(X, args.batch_rows)
    res["drift"] = drift(min(args.rows, 1_000_000), args.batch_rows)
    res["load_average"] = os.getloadavg()
    print(f"rows {res['rows']:,}, batches of {res['batch_rows']:,}, load {res['load_average']}")
    print("| start | fit | time s | passes | mean log-likelihood | gap to exact |")
    print("|---|---|---|---|---|---|")
    for name, r in res["runs"].items():
        print(
            f"| {name} | exact EM (fit, tol=1e-6) | {r['exact_s']:.2f} | {r['exact_iter']} | "
            f"{r['exact_ll']:.5f} | |"
        )
        print(
            f"| {name} | online EM (fit_online) | {r['online_s']:.2f} | 1 | "
            f"{r['online_ll']:.5f} | {100 * r['gap']:.4f} % |"
        )
    print(
        f"| same start | scikit-learn exact EM (estimate: {res['sklearn_iter_s']:.3f} "
        f"s/iteration x {res['exact_iter']}) | {res['sklearn_fit_estimate_s']:.1f} | | | |"
    )
    o = res["overhead"]
    print(
        f"partial_fit at {o['batch_rows']:,} rows: {o['call_ms']:.3f} ms/call, statistics pass "
        f"{o['pass_ms']:.3f} ms, overhead {o['overhead_ms']:.3f} ms "
        f"({o['call_ms'] / o['pass_ms']:.2f}x the pass)"
    )
    for name, d in res["drift"].items():
        print(
            f"drift: {name}: first half's share {d['first_half_share']:.4f}, mean distance to "
            f"the second half's means {d['distance']:.3f} (predicted {d['predicted_distance']:.3f})"
        )
    if args.plot:
        plot(res, args.plot)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


def test_online_bench_smoke(tmp_path):
    """A tiny run of every measurement (no timing assertions)."""
    X, _ = make_data(30_000)
    path = str(tmp_path / "x.npy")
    np.save(path, X)
    res = exact_vs_online(X, path, batch_rows=2_000, curve_points=5, sk_iters=1)
    assert res["online_curve"][-1][0] == 30_000 and res["exact_iter"] >= 1
    assert np.isfinite(res["gap"])
    o = overhead(X, batch_rows=2_000, calls=3)
    assert o["call_ms"] > 0 and o["pass_ms"] > 0
    assert set(drift(20_000, batch_rows=2_000)) == {
        "default step (0.6, 2)",
        "constant step 0.05",
        "running average (1, 0)",
    }


_BATCHES = {}


def _batch_setup(full):
    """Batches of 10,000 (full size) or 1,000 rows and a model updated twice (compiled)."""
    if full not in _BATCHES:
        from fastem import GaussianMixture

        rows = 10_000 if full else 1_000
        X, _ = make_data(12 * rows)
        batches = [np.ascontiguousarray(X[i * rows : (i + 1) * rows]) for i in range(12)]
        gm = GaussianMixture(K, random_state=0).partial_fit(batches[0]).partial_fit(batches[1])
        _BATCHES[full] = batches[2:], gm
    return _BATCHES[full]


@pytest.mark.parametrize(
    "how", ["fastem partial_fit", "fastem statistics pass alone", "sklearn one EM iteration"]
)
def test_batch_update(benchmark, bench_full, how):
    """One update on a batch of 10,000 rows (8 features, K=8 full), side by side in one group:
    ``partial_fit``, the statistics pass it runs (the kernel with its thread pool), and
    scikit-learn's nearest equivalent, one EM iteration on the batch from the same parameters
    (it has no ``partial_fit``). The ratio of the first two is partial_fit's overhead."""
    import copy

    from sklearn.mixture import GaussianMixture as SkGM

    from fastem import _online, _small, _stats
    from fastem._passes import ArrayData

    batches, model = _batch_setup(bench_full)
    gm = copy.deepcopy(model)
    rows = batches[0].shape[0]
    it = iter(range(10**9))

    def nxt():
        return batches[next(it) % len(batches)]

    if how == "fastem partial_fit":

        def run():
            gm.partial_fit(nxt())

    elif how == "fastem statistics pass alone":
        small = _small.is_small(_online.ONLINE_SMALL_FACTOR * rows, K, D)
        kp = _stats.kernel_params(
            gm.weights_, gm.means_, gm.precisions_cholesky_, "full", np.dtype(np.float64), small
        )

        def run():
            ArrayData(nxt()).stats(kp, None)

    else:
        sk = SkGM(
            K,
            max_iter=1,
            tol=0.0,
            weights_init=gm.weights_,
            means_init=gm.means_,
            precisions_init=gm.precisions_,
        )

        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sk.fit(nxt())

    run()
    benchmark.group = f"online update, batch of {rows} x {D}, K={K} full"
    benchmark.extra_info.update(how=how, rows=rows)
    benchmark.pedantic(run, rounds=50 if bench_full else 1, iterations=1)


if __name__ == "__main__":
    main()
