"""Print the fastem vs scikit-learn table: ms per iteration, ratio, GFLOP/s, memory.

    PYTHONPATH=. python bench/report.py                 # every workload
    PYTHONPATH=. python bench/report.py full_1Mx8_K8    # some of them
    PYTHONPATH=. python bench/report.py --quick         # 1/10 of the rows
    PYTHONPATH=. python bench/report.py --coldstart     # and the cold-start table
    PYTHONPATH=. python bench/report.py --suite b08f1b3 # and the test suite's time
    PYTHONPATH=. python bench/report.py --as-avx2       # as an AVX2 machine's code

``--as-avx2`` runs the same report in a child process whose code is what an AVX2 machine
gets: Numba compiles for Haswell with the host's features but AVX-512, AVX10 and AMX off
(16 ymm registers, no zmm: ``_kernels._config.vector_registers``), and NumPy's OpenBLAS runs
its Haswell (AVX2) kernels, so the dgemm the shares are taken of is an AVX2 dgemm too. It
emulates the instruction set, not another CPU's cores, caches or clocks.

Both libraries run in this process, interleaved, from identical initial
parameters with ``tol=0``. Time per iteration is ``(t(fit, 1 + N) - t(fit, 1)) / N``
so fixed costs (validation, the initial Cholesky, scikit-learn's final E-step)
cancel; row-wise workloads time one call. Medians over ``--repeat`` runs
(scikit-learn: fewer runs and iterations, it is slow). "CPU ms" is the
process CPU time per iteration (all threads): steadier than wall time on a
shared machine; ``--per-core`` runs both libraries and the dgemm on one thread and
computes the rates and the speed-up from CPU time. GFLOP/s counts the arithmetic in
``bench/workloads.py``; "dgemm" is NumPy's float64 matmul (2000 x 2000) timed
in this run, before and after the workloads. Memory: peak growth over the
run of one fit (or call), as RSS sampled every 2 ms (psutil) and as
tracemalloc's peak (NumPy allocations only: Numba's kernel buffers are not
traced).
"""

import argparse
import os
import platform
import sys
import threading
import time
import tracemalloc
from datetime import datetime, timezone

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import BY_NAME, WORKLOADS, fitted, make_data, run, warm_up  # noqa: E402


def dgemm_gflops(n=2000, repeat=5, per_core=False):
    """NumPy's dgemm rate: wall time on every core, or (``per_core``) CPU time of one thread."""
    from threadpoolctl import threadpool_limits

    clock = time.process_time if per_core else time.perf_counter
    a = np.random.default_rng(0).random((n, n))
    with threadpool_limits(1 if per_core else None, user_api="blas"):
        a @ a
        ts = []
        for _ in range(repeat):
            t = clock()
            a @ a
            ts.append(clock() - t)
    return 2 * n**3 / np.median(ts) / 1e9


class RssPeak:
    """Peak RSS growth of this process while the block runs (psutil, 2 ms)."""

    def __enter__(self):
        import psutil

        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self.stop = False
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self):
        while not self.stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.growth = self.peak - self.base


def timed(f, repeat):
    """Median wall and CPU (all threads of this process) seconds of f()."""
    ts, cs = [], []
    for _ in range(repeat):
        c = time.process_time()
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    return float(np.median(ts)), float(np.median(cs))


def measure(w, n_iter, sk_n_iter, repeat, sk_repeat, with_sklearn=True):
    X, init = make_data(w)
    libs = ["fastem", "sklearn"] if with_sklearn else ["fastem"]
    models = {lib: fitted(lib, w, X, init) if w.kind != "fit" else None for lib in libs}
    warm_up(w, X, init)
    out = {"workload": w, "input_mb": X.nbytes / 1e6}
    for lib in libs:
        reps = repeat if lib == "fastem" else sk_repeat
        its = n_iter if lib == "fastem" else sk_n_iter
        m = models[lib]
        if w.kind == "fit":
            # t(1 + N) <= t(1) is noise (one slow run of a single repetition), and so is an
            # iteration under an eighth of t(1), which holds one iteration and its setup (a
            # slow t(1) once made scikit-learn's diag 1M x 8 read 11 ms, not 1.2 s):
            # measure again, keep each time's fastest, and report "n/a", never a time of
            # zero, if it persists
            t_n = c_n = t_1 = c_1 = float("inf")
            for _ in range(3):
                t, c = timed(lambda lib=lib, its=its: run(lib, w, X, init, max_iter=1 + its), reps)
                t_n, c_n = min(t_n, t), min(c_n, c)
                t, c = timed(lambda lib=lib: run(lib, w, X, init, max_iter=1), reps)
                t_1, c_1 = min(t_1, t), min(c_1, c)
                if t_n > t_1 and c_n > c_1 and (t_n - t_1) / its >= t_1 / 8:
                    break
            per = (t_n - t_1) / its if t_n > t_1 else float("nan")
            cpu = (c_n - c_1) / its if c_n > c_1 else float("nan")
        else:
            per, cpu = timed(lambda lib=lib, m=m: run(lib, w, X, init, m), reps)
        with RssPeak() as rss:
            tracemalloc.start()
            run(lib, w, X, init, m, max_iter=2)
            traced = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        out[lib] = dict(
            ms=per * 1e3, cpu_ms=cpu * 1e3, rss_mb=rss.growth / 1e6, traced_mb=traced / 1e6
        )
    return out


def _num(value, spec, unit=""):
    """``value`` formatted, or ``n/a`` for a time that could not be measured (NaN)."""
    return "n/a" if np.isnan(value) else f"{value:{spec}}{unit}"


def table(rows, dgemm, per_core=False):
    sk_col = "sklearn CPU ms (1 thread)" if per_core else "sklearn ms"
    head = (
        f"| workload | fastem ms | {sk_col} | speed-up | fastem GFLOP/s | of dgemm "
        "| fastem CPU ms | fastem peak MB (RSS / traced) | sklearn peak MB (RSS / traced) "
        "| input MB |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        w, f = r["workload"], r["fastem"]
        s = r.get("sklearn")
        key = "cpu_ms" if per_core else "ms"  # per core: CPU time of one thread
        gf = w.flops() / (f[key] / 1e3) / 1e9  # NaN: not measured (see ``measure``)
        sk_ms = _num(s[key], ".0f") if s else "-"
        ratio = _num(s[key] / f[key], ".1f", "x") if s else "-"
        sk_mem = f"{s['rss_mb']:.0f} / {s['traced_mb']:.0f}" if s else "-"
        lines.append(
            f"| {w.label} | {_num(f['ms'], '.1f')} | {sk_ms} | {ratio} | {_num(gf, '.1f')} "
            f"| {_num(gf / dgemm, '.0%')} | {_num(f['cpu_ms'], '.0f')} "
            f"| {f['rss_mb']:.0f} / {f['traced_mb']:.0f} | {sk_mem} | {r['input_mb']:.0f} |"
        )
    return "\n".join(lines)


#: set in the child process ``--as-avx2`` starts
AS_AVX2 = "FASTEM_BENCH_AS_AVX2"


def avx2_environment():
    """The environment of ``--as-avx2``'s child: Numba's target and OpenBLAS's kernels for
    AVX2, on this CPU. Exits with a message where the CPU has no AVX2 and FMA."""
    import llvmlite.binding as ll
    import numba  # noqa: F401  (initializes LLVM's targets)

    features = ll.get_host_cpu_features()
    if not (features.get("avx2") and features.get("fma")):
        sys.exit("--as-avx2: this CPU has no AVX2 and FMA; run the report without it.")
    off = ("avx512", "avx10", "amx", "evex512")
    flags = ",".join(
        ("+" if on and not name.startswith(off) else "-") + name
        for name, on in sorted(features.items())
    )
    env = dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES=flags)
    env.update(OPENBLAS_CORETYPE="Haswell", **{AS_AVX2: "1"})
    return env


def check_avx2():
    """In ``--as-avx2``'s child: refuse to report unless both libraries run AVX2 code."""
    from threadpoolctl import threadpool_info

    from fastem._kernels._config import vector_registers

    blas = {i.get("architecture") for i in threadpool_info() if i.get("user_api") == "blas"}
    if vector_registers() != 16 or blas != {"Haswell"}:
        sys.exit(
            f"--as-avx2: Numba compiles for {vector_registers()} vector registers (16 wanted) "
            f"and OpenBLAS runs {sorted(map(str, blas))} kernels (Haswell wanted); a NumPy "
            "without OpenBLAS's DYNAMIC_ARCH cannot run this report."
        )


def machine():
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    code = " as AVX2 code (Numba and OpenBLAS)" if os.environ.get(AS_AVX2) else ""
    return (
        f"{cpu}{code}, {os.cpu_count()} cores, Numba {numba.__version__} "
        f"({numba.config.NUMBA_NUM_THREADS} threads), NumPy {np.__version__}"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="workload names (default: all)")
    ap.add_argument("--n-iter", type=int, default=3, help="timed fastem iterations")
    ap.add_argument("--sk-n-iter", type=int, default=1, help="timed scikit-learn iterations")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sk-repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="a tenth of the rows")
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument(
        "--per-core",
        action="store_true",
        help="one thread each (fastem n_threads=1, BLAS 1 thread), rates from CPU time: "
        "a per-core efficiency that other jobs on a shared machine disturb far less",
    )
    ap.add_argument(
        "--coldstart",
        action="store_true",
        help="also print the cold-start table (bench/coldstart.py: fresh processes, empty cache)",
    )
    ap.add_argument(
        "--suite",
        metavar="BASE",
        help="also time the test suite on an empty cache, beside the same tests at the commit "
        "BASE (bench/suite_time.py; minutes)",
    )
    ap.add_argument(
        "--as-avx2",
        action="store_true",
        help="run the report as an AVX2 machine's code: Numba without AVX-512, OpenBLAS's "
        "Haswell kernels (a child process; this CPU's cores and clocks)",
    )
    args = ap.parse_args(argv)
    if args.as_avx2 and not os.environ.get(AS_AVX2):
        import subprocess

        argv = sys.argv[1:] if argv is None else list(argv)
        argv = [a for a in argv if a != "--as-avx2"]
        child = [sys.executable, os.path.abspath(__file__), *argv]
        sys.exit(subprocess.run(child, env=avx2_environment()).returncode)
    if os.environ.get(AS_AVX2):
        check_avx2()
    ws = [BY_NAME[n] for n in args.names] if args.names else WORKLOADS
    if args.quick:
        ws = [w.scaled(w.n // 10) for w in ws]
    per_core = args.per_core
    if per_core:
        import workloads
        from threadpoolctl import threadpool_limits

        workloads.N_THREADS = 1
        limits = threadpool_limits(1, user_api="blas")  # scikit-learn on one core too
    g0 = dgemm_gflops(per_core=per_core)
    rows = []
    for w in ws:
        with_sk = not args.no_sklearn
        rows.append(measure(w, args.n_iter, args.sk_n_iter, args.repeat, args.sk_repeat, with_sk))
        print(table(rows[-1:], g0, per_core).splitlines()[-1], file=sys.stderr, flush=True)
    g1 = dgemm_gflops(per_core=per_core)
    if per_core:
        limits.unregister()
    dgemm = float(np.median([g0, g1]))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    how = "one thread, CPU time" if per_core else "all cores, wall time"
    print(
        f"{stamp}; {machine()}; dgemm {dgemm:.1f} GFLOP/s ({how}; before {g0:.1f}, after {g1:.1f})"
    )
    print(table(rows, dgemm, per_core))
    if args.coldstart:
        import coldstart

        print()
        coldstart.main(["--markdown"] + (["--quick"] if args.quick else []))
    if args.suite:
        import suite_time

        print()
        suite_time.main(["--base", args.suite])


if __name__ == "__main__":
    main()
