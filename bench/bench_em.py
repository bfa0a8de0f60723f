"""fastem against scikit-learn, side by side in one run (pytest-benchmark).

Each workload is benchmarked for both libraries in the same benchmark group,
from identical initial parameters and for a fixed number of EM iterations
(``tol=0``). Compilation is excluded: every fastem benchmark first fits (or
predicts on) a small slice of the same dtype. Run the timed suite with::

    PYTHONPATH=. python -m pytest bench --benchmark-enable --benchmark-only \
        --benchmark-group-by=group --benchmark-columns=median,iqr,rounds

``bench/report.py`` prints the per-iteration table with GFLOP/s and memory.
"""

import pytest
from workloads import (
    BY_NAME,
    SMOKE_ROWS,
    WORKLOADS,
    fitted,
    make_data,
    max_rel,
    run,
    smoke,
    warm_up,
)

N_ITER = 3  # EM iterations per timed fit
_DATA = {}


def _data(w):
    # one data set per workload at a time (the big ones are 64-256 MB)
    if w.name not in _DATA:
        _DATA.clear()
        _DATA[w.name] = make_data(w)
    return _DATA[w.name]


@pytest.mark.parametrize("lib", ["sklearn", "fastem"])  # sklearn first: its answer is reused
@pytest.mark.parametrize("name", [w.name for w in WORKLOADS])
def test_em(benchmark, bench_full, name, lib):
    w = BY_NAME[name]
    if not bench_full:
        w = smoke(w)
    X, init = _data(w)
    model = None
    if w.kind != "fit":
        model = fitted(lib, w, X, init)
    if lib == "fastem":
        warm_up(w, X, init)
    benchmark.group = w.label
    benchmark.extra_info.update(
        workload=w.name, lib=lib, n_iter=N_ITER if w.kind == "fit" else 1, gflop=w.flops() / 1e9
    )
    rounds = 3 if lib == "fastem" else 1
    result = benchmark.pedantic(
        run, args=(lib, w, X, init, model, N_ITER), rounds=rounds, iterations=1
    )
    if lib == "fastem":
        check_answer(w, X, init, result)
    else:
        _ANSWERS[name] = result


#: scikit-learn's result per workload, when its benchmark ran first (full sizes: no refit)
_ANSWERS = {}


def check_answer(w, X, init, result):
    """fastem's answer equals scikit-learn's from the same start (float64: 1e-7, float32:
    1e-4; scikit-learn computes float32 input in float32)."""
    ref = _ANSWERS.pop(w.name, None)
    if ref is None:
        model = fitted("sklearn", w, X, init) if w.kind != "fit" else None
        ref = run("sklearn", w, X, init, model, N_ITER)
    tol = 1e-7 if w.dtype == "float64" else 1e-4
    if w.kind == "fit":
        for attr in ("weights_", "means_", "covariances_"):
            d = max_rel(getattr(result, attr), getattr(ref, attr))
            assert d < tol, (w.name, attr, d)
    else:
        assert max_rel(result, ref) < tol, (w.name, max_rel(result, ref))


def test_check_answer_notices_a_wrong_fit():
    w = BY_NAME["full_1Mx2_K2"].scaled(SMOKE_ROWS)
    X, init = make_data(w)
    check_answer(w, X, init, run("fastem", w, X, init, None, N_ITER))
    with pytest.raises(AssertionError):
        check_answer(w, X, init, run("fastem", w, X, init, None, N_ITER - 1))


def test_full_size_follows_the_benchmark_options(monkeypatch):
    """``--benchmark-enable`` (over the addopts' ``--benchmark-disable``) times full sizes."""
    from conftest import full_size

    class Config:
        def __init__(self, enable, disable):
            self.options = {"benchmark_enable": enable, "benchmark_disable": disable}

        def getoption(self, name):
            return self.options[name]

    monkeypatch.delenv("FASTEM_BENCH_FULL", raising=False)
    assert not full_size(Config(False, True))  # the CI run: addopts only
    assert full_size(Config(True, True))  # --benchmark-enable on the command line
    assert full_size(Config(False, False))
    monkeypatch.setenv("FASTEM_BENCH_FULL", "1")
    assert full_size(Config(False, True))


def test_report_never_prints_a_zero_time_for_an_unmeasurable_difference(monkeypatch):
    """``report.measure`` times ``(t(fit, 1 + N) - t(fit, 1)) / N``. A difference at or
    below zero (one slow single run), or under an eighth of ``t(fit, 1)`` (a slow
    ``t(fit, 1)``), is measured again, keeping each time's fastest, and printed as n/a if
    it persists: never a time of zero and a speed-up of 0.0x."""
    import numpy as np
    import report

    w = BY_NAME["spherical_1Mx8_K8"]
    monkeypatch.setattr(report, "make_data", lambda w: (np.zeros((8, 8)), None))
    monkeypatch.setattr(report, "warm_up", lambda *a: None)
    monkeypatch.setattr(report, "run", lambda *a, **k: None)
    for times, want_ms in [
        # remeasured once; the fastest t(1 + N) and t(1): 2 - 1
        ([(2.0, 2.0), (3.0, 3.0), (3.0, 3.0), (1.0, 1.0)], 1000.0),
        # a difference under t(1) / 8 (a slow t(1)): remeasured; 2.05 - 1
        ([(2.05, 2.05), (2.0, 2.0), (2.1, 2.1), (1.0, 1.0)], 1050.0),
        ([(1.0, 1.0), (2.0, 2.0)] * 3, None),  # t(1 + N) < t(1) three times: n/a
    ]:
        clock = iter(times)
        monkeypatch.setattr(report, "timed", lambda f, reps, clock=clock: next(clock))
        out = report.measure(w, 1, 1, 1, 1, with_sklearn=False)
        if want_ms is None:
            assert np.isnan(out["fastem"]["ms"])
            assert "| n/a |" in report.table([out], 100.0)
        else:
            assert out["fastem"]["ms"] == pytest.approx(want_ms)


def _counted():
    """docs/benchmarks.md's "What is counted": ``{(kind, covariance): formula}`` and the
    worked example's (n, D, K, per row and component, GFLOP)."""
    import pathlib
    import re

    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
    text = page.read_text().split("## What is counted")[1].split("Time per iteration")[0]
    which = {
        "full, one EM iteration": [("fit", "full")],
        "tied, one EM iteration": [("fit", "tied")],
        "diag and spherical": [("fit", "diag"), ("fit", "spherical")],
        "`predict_proba` / `score_samples` (full)": [
            ("predict_proba", "full"),
            ("score_samples", "full"),
        ],
        "`predict_proba` / `score_samples` (diag and spherical)": [
            (k, c) for k in ("predict_proba", "score_samples") for c in ("diag", "spherical")
        ],
        "`predict` (full)": [("predict", "full")],
    }
    formulas, per_row = {}, {}
    for head, formula, rest in re.findall(r"^- (.*?): `([^`]*)`(.*)$", text, re.M):
        row = re.search(r"once per row `([^`]*)`", rest)
        for key in which[head]:
            formulas[key] = _python(formula)
            per_row[key] = _python(row.group(1)) if row else "0"
    assert len(formulas) == 11, formulas
    D, K, n, per, gflop = re.search(
        r"1M x (\d+) with K = (\d+): (1e6) x \d+ x (\d+) = ([0-9.]+) GFLOP", text
    ).groups()
    return formulas, per_row, (int(float(n)), int(D), int(K), int(per), float(gflop))


def _python(formula):
    """The page's ``2 D(D+1) + 6 D`` as Python's ``2*D*(D+1)+6*D``."""
    import re

    return re.sub(r"(?<=[0-9)D])(?=[D(])", "*", formula.replace(" ", ""))


def test_the_counted_arithmetic_is_the_pages():
    """docs/benchmarks.md's operation counts per row and component, and its worked example
    (1e6 x 8 x 199 = 1.59 GFLOP), are what ``Workload.flops`` counts (the GFLOP/s and the
    share of dgemm of the table and the README are taken of it)."""
    from workloads import Workload

    formulas, per_row, (n, D, K, per, gflop) = _counted()
    for (kind, cov), formula in formulas.items():
        for d in (1, 2, 3, 8, 32, 128):
            w = Workload("x", kind, cov, 1000, d, 7)
            # the page's own arithmetic
            want = 7 * eval(formula, {}, {"D": d}) + eval(per_row[kind, cov], {}, {"D": d})  # noqa: S307
            assert w.flops_per_row() == want, (kind, cov, d)
            assert w.flops() == 1000 * want
    w = BY_NAME["full_1Mx8_K8"]
    assert (w.n, w.D, w.K) == (n, D, K)
    assert w.flops() == n * K * per and round(w.flops() / 1e9, 2) == gflop


def test_the_table_takes_rates_and_shares_as_the_page_says(monkeypatch):
    """docs/benchmarks.md / bench/report.py: GFLOP/s is the counted arithmetic over fastem's
    time per iteration, "of dgemm" is that rate over NumPy's dgemm rate ``2 n^3 / t`` timed in
    the run, the speed-up scikit-learn's time over fastem's; ``--per-core`` takes all of them
    from CPU time."""
    import numpy as np
    import report

    w = BY_NAME["full_1Mx8_K8"]  # 1.592 GFLOP per iteration
    row = dict(
        workload=w,
        input_mb=64.0,
        fastem=dict(ms=200.0, cpu_ms=800.0, rss_mb=1.0, traced_mb=2.0),
        sklearn=dict(ms=3000.0, cpu_ms=4000.0, rss_mb=5.0, traced_mb=6.0),
    )
    for per_core, ms, sk_ms in [(False, 200.0, 3000.0), (True, 800.0, 4000.0)]:
        cells = [c.strip() for c in report.table([row], 40.0, per_core).splitlines()[-1].split("|")]
        rate = w.flops() / (ms / 1e3) / 1e9
        assert cells[3] == f"{sk_ms:.0f}"
        assert cells[4] == f"{sk_ms / ms:.1f}x"
        assert cells[5] == f"{rate:.1f}"
        assert cells[6] == f"{rate / 40.0:.0%}"
    # the dgemm rate: 2 n^3 over the median time of one n x n product
    ticks = iter(np.arange(0.0, 100.0, 0.25))
    monkeypatch.setattr(report.time, "perf_counter", lambda: next(ticks))
    assert report.dgemm_gflops(n=100, repeat=3) == pytest.approx(2 * 100**3 / 0.25 / 1e9)


def test_report_time_per_iteration_divides_by_the_extra_iterations(monkeypatch):
    """docs/benchmarks.md: "Time per iteration is (t(fit, 1 + N) - t(fit, 1)) / N for both
    libraries" (the other test has N = 1, where not dividing looks the same), in wall and
    CPU time, with fastem's N and scikit-learn's own."""
    import numpy as np
    import report

    w = BY_NAME["spherical_1Mx8_K8"]
    monkeypatch.setattr(report, "make_data", lambda w: (np.zeros((8, 8)), None))
    monkeypatch.setattr(report, "warm_up", lambda *a: None)
    monkeypatch.setattr(report, "run", lambda *a, **k: None)
    monkeypatch.setattr(report, "fitted", lambda *a: None)
    # fastem: t(1 + 4) = 5 s, t(1) = 1 s (CPU 9 and 1); scikit-learn: t(1 + 2) = 7, t(1) = 3
    clock = iter([(5.0, 9.0), (1.0, 1.0), (7.0, 7.0), (3.0, 3.0)])
    monkeypatch.setattr(report, "timed", lambda f, reps: next(clock))
    out = report.measure(w, 4, 2, 1, 1, with_sklearn=True)
    assert out["fastem"]["ms"] == pytest.approx(1000.0)
    assert out["fastem"]["cpu_ms"] == pytest.approx(2000.0)
    assert out["sklearn"]["ms"] == pytest.approx(2000.0)


def test_smoke_sizes_and_answer_tolerances_are_the_pages():
    """docs/benchmarks.md: the CI pass runs "2,000 rows per workload, at least 16 per
    component", and checks fastem against scikit-learn from the same start "float64 to 1e-7
    relative, float32 to 1e-4": an answer off by twice that fails, one off by half passes."""
    import copy

    for w in WORKLOADS:
        assert smoke(w).n == max(2000, 16 * w.K) and smoke(w).D == w.D and smoke(w).K == w.K
    for name, tol in [("full_1Mx2_K2", 1e-7), ("full_1Mx2_K2_f32", 1e-4)]:
        w = BY_NAME[name].scaled(SMOKE_ROWS)
        X, init = make_data(w)
        ref = run("sklearn", w, X, init, None, N_ITER)
        for factor, ok in [(0.5, True), (2.0, False)]:
            for attr in ("weights_", "means_", "covariances_"):
                off = copy.deepcopy(ref)
                setattr(off, attr, getattr(ref, attr) * (1 + factor * tol))
                if ok:
                    check_answer(w, X, init, off)
                else:
                    with pytest.raises(AssertionError):
                        check_answer(w, X, init, off)


def test_as_avx2_turns_off_wide_vectors_and_refuses_other_code(monkeypatch):
    """docs/benchmarks.md, ``--as-avx2``: Numba compiles for Haswell "with the host's features
    but AVX-512, AVX10 and AMX", ``OPENBLAS_CORETYPE=Haswell``, and "the child refuses to
    report unless both hold"; a CPU without AVX2 and FMA is told so."""
    import llvmlite.binding as ll
    import report
    import threadpoolctl

    from fastem._kernels import _config

    host = {"avx2": True, "fma": True, "sse4.2": True, "aes": False, "avx512f": True,
            "avx512vl": True, "avx10.1-512": True, "amx-tile": True, "evex512": True}  # fmt: skip
    monkeypatch.setattr(ll, "get_host_cpu_features", lambda: host)
    env = report.avx2_environment()
    assert env["NUMBA_CPU_NAME"] == "haswell" and env["OPENBLAS_CORETYPE"] == "Haswell"
    assert env[report.AS_AVX2] == "1"
    flags = set(env["NUMBA_CPU_FEATURES"].split(","))
    assert flags == {"+avx2", "+fma", "+sse4.2", "-aes", "-avx512f", "-avx512vl",
                     "-avx10.1-512", "-amx-tile", "-evex512"}  # fmt: skip
    monkeypatch.setattr(ll, "get_host_cpu_features", lambda: {**host, "fma": False})
    with pytest.raises(SystemExit, match="no AVX2 and FMA"):
        report.avx2_environment()

    def blas(arch):
        return lambda: [{"user_api": "blas", "architecture": arch}]

    for registers, arch, refused in [(16, "Haswell", False), (32, "Haswell", True),
                                     (16, "SkylakeX", True)]:  # fmt: skip
        monkeypatch.setattr(_config, "vector_registers", lambda r=registers: r)
        monkeypatch.setattr(threadpoolctl, "threadpool_info", blas(arch))
        if refused:
            with pytest.raises(SystemExit, match="--as-avx2: Numba compiles for"):
                report.check_avx2()
        else:
            report.check_avx2()
