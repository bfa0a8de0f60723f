"""A first fit's block functions compiled by a helper process (``fastem._kernels._ahead``).

Each case runs a fresh process on its own empty ``NUMBA_CACHE_DIR``, fitting with the
compiled kernels (``FASTEM_SMALL_WORK=0``). The helper must change no result, must
end (or be stopped) before the fit returns, and must not run where it cannot pay.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastem import _digest, _parallel
from fastem._kernels import _ahead, _cache

from .conftest import ROOT, checkout_env

# Fits one float64 full model; prints JSON: the result to 17 digits, whether a helper
# started and its exit status once it ended (after the fit and score_samples), the helpers
# still awaited after them, and for each of the helper's functions whether this process
# loaded it from the cache (True) or compiled it (False): a fit's helper compiles the
# statistics pass's three, then the row-wise outputs of score_samples.
_FIT = """
import json, sys
import numpy as np
from fastem._kernels import _ahead
mode = sys.argv[1]
if mode == "fails":
    _ahead._command = lambda *items: [sys.executable, "-c", "raise SystemExit(3)"]
if mode == "slow":  # a helper that finishes after this process asks for its functions
    command = _ahead._command
    _ahead._command = lambda *items: [
        *command(*items)[:-1], "import time; time.sleep(3); " + command(*items)[-1]]
if mode == "hangs":
    _ahead.WAIT = 1.0
    _ahead._command = lambda *items: [sys.executable, "-c", "import time; time.sleep(300)"]
helpers, row_helpers = [], []
start = _ahead.start
def recorded(full, dtype, n_features, rows=False):
    (row_helpers if rows else helpers).append(start(full, dtype, n_features, rows))
    return (row_helpers if rows else helpers)[-1]
_ahead.start = recorded
import fastem
from fastem._kernels import _em
rng = np.random.default_rng(0)
X = np.concatenate([rng.normal(m, 1, (500, 3)) for m in (0, 4, 8)])
if mode == "predict":  # a model fitted in NumPy (compiles nothing): its first predict
    fastem._small.SMALL_WORK = 1 << 40
    gm = fastem.GaussianMixture(3, random_state=0, max_iter=5, tol=0).fit(X)
    fastem._small.SMALL_WORK = 0
    result = repr(gm.predict_proba(X).tolist())
    functions = _em.rowwise_functions(np.float64, 3)
else:
    gm = fastem.GaussianMixture(3, random_state=0, max_iter=5, tol=0).fit(X)
    result = repr((gm.means_.tolist(), gm.covariances_.tolist(), gm.score_samples(X).tolist()))
    functions = _em.statistics_functions(True, np.float64, 3)
    functions += [f for f in _em.rowwise_functions(np.float64, 3) if f not in functions]
pending = _ahead.pending()
loaded = [fn.dispatcher.stats.cache_hits[fn.signatures[i]] > 0 for fn, i in functions]
print(json.dumps(dict(
    result=result, helpers=[None if p is None else p.wait(60) for p in helpers],
    row_helpers=[None if p is None else p.wait(60) for p in row_helpers],
    pending=pending, loaded=loaded)))
"""


def _run(code, cache, *args, **env):
    """The last line ``python -c code *args`` prints (which must succeed): this checkout's
    fastem, the kernels on small data, ``cache`` as the Numba cache folder."""
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, *args],
        env=checkout_env(cache, **env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def _fit(mode, cache, **env):
    return json.loads(_run(_FIT, cache, mode, **env))


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The fit with no helper (``FASTEM_COMPILE_AHEAD=0``), on an empty cache."""
    out = _fit("plain", tmp_path_factory.mktemp("alone"), FASTEM_COMPILE_AHEAD="0")
    assert out["helpers"] == [None] and out["loaded"] == [False] * 4
    return out["result"]


@pytest.mark.skipif(not _ahead.enabled(), reason="one usable core: no helper runs")
def test_a_helper_compiles_the_first_fits_block_functions_and_changes_no_result(tmp_path, alone):
    cache = tmp_path / "cache"
    out = _fit("plain", cache)
    assert out["helpers"] == [0]  # started, and ended well
    assert not out["pending"]
    assert out["loaded"] == [True] * 4  # its work was used, not redone
    assert out["result"] == alone
    # score_samples after the fit: its row-wise outputs were the fit's helper's last
    # function, so no helper of its own (a first predict on an empty cache waited 0.4-0.8 s
    # for compiling them)
    assert out["row_helpers"] == [None]
    # a second process finds them in the cache: no helper
    again = _fit("plain", cache)
    assert again["helpers"] == [None] and again["result"] == alone


@pytest.mark.skipif(not _ahead.enabled(), reason="one usable core: no helper runs")
def test_a_helper_compiles_a_first_predicts_row_functions_and_changes_no_result(tmp_path):
    """A loaded model's first ``predict_proba`` on an empty cache: the helper compiles the
    row-wise outputs and the block load while this process compiles the log-density and
    the kernel; the same probabilities as with no helper."""
    alone = _fit("predict", tmp_path / "alone", FASTEM_COMPILE_AHEAD="0")
    assert alone["row_helpers"] == [None] and alone["loaded"] == [False] * 2
    out = _fit("predict", tmp_path / "cache")
    assert out["helpers"] == [] and out["row_helpers"] == [0] and not out["pending"]
    assert out["loaded"] == [True] * 2  # its work was used, not redone
    assert out["result"] == alone["result"]


@pytest.mark.skipif(not _ahead.enabled(), reason="one usable core: no helper runs")
def test_the_fit_does_not_wait_for_the_row_wise_outputs(tmp_path):
    """The helper reports each function as it is saved: a fit waits for its statistics
    pass's three, not for the row-wise outputs the helper compiles after them (held back
    here by 60 s, where it lowers its priority)."""
    code = (
        "import time, numpy as np\n"
        "from fastem._kernels import _ahead\n"
        "command = _ahead._command\n"
        "hold = 'import os, time; nice = os.nice; os.nice = lambda i: (time.sleep(60), nice(i))'\n"
        "_ahead._command = lambda *a: [*command(*a)[:-1], hold + '\\n' + command(*a)[-1]]\n"
        "import fastem\n"
        "X = np.random.default_rng(0).normal(size=(1500, 3))\n"
        "t = time.perf_counter()\n"
        "fastem.GaussianMixture(3, random_state=0, max_iter=5, tol=0).fit(X)\n"
        "t = time.perf_counter() - t\n"
        "(proc,) = {proc for proc, _ in _ahead._PENDING.values()}\n"
        "running = proc.poll() is None\n"
        "proc.kill()\n"
        "proc.wait()\n"
        "print(running, t < 40)\n"
    )
    assert _run(code, tmp_path) == "True True"


@pytest.mark.skipif(not _ahead.enabled(), reason="one usable core: no helper runs")
def test_the_fit_waits_for_a_slow_helper(tmp_path, alone):
    """A helper still compiling when the pass needs its functions is waited for: they
    are loaded from the cache, not compiled again here."""
    out = _fit("slow", tmp_path / "cache")
    assert out["helpers"] == [0] and out["loaded"] == [True] * 4
    assert out["result"] == alone


@pytest.mark.skipif(not _ahead.enabled(), reason="one usable core: no helper runs")
@pytest.mark.parametrize("mode", ["fails", "hangs"])
def test_a_failed_or_hung_helper_is_replaced_by_this_process(tmp_path, alone, mode):
    out = _fit(mode, tmp_path / "cache")
    (status,) = out["helpers"]
    assert status == 3 if mode == "fails" else status is not None and status < 0  # killed
    assert not out["pending"] and out["loaded"] == [False] * 4  # compiled here
    assert out["result"] == alone


def test_no_helper_where_it_cannot_pay(monkeypatch):
    monkeypatch.setenv("FASTEM_COMPILE_AHEAD", "0")
    assert not _ahead.enabled() and _ahead.start(True, np.float64, 3) is None
    monkeypatch.delenv("FASTEM_COMPILE_AHEAD")
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
        assert not _ahead.enabled() and _ahead.start(True, np.float64, 3) is None


def test_a_cpu_quota_counts_as_cores(tmp_path, monkeypatch):
    """``docker --cpus=2.5`` (cgroup v2 ``cpu.max``, or v1's quota and period) leaves 2.5
    cores whatever the affinity: the default thread count rounds it up, the helper needs 2."""
    inf = float("inf")
    absent = str(tmp_path / "absent")
    v2 = tmp_path / "cpu.max"
    for text, cores in [("100000 100000\n", 1.0), ("250000 100000\n", 2.5), ("max 100000\n", inf)]:
        v2.write_text(text)
        assert _parallel.cpu_quota(str(v2), (absent, absent)) == cores
    quota, period = tmp_path / "cpu.cfs_quota_us", tmp_path / "cpu.cfs_period_us"
    period.write_text("100000\n")
    for text, cores in [("150000\n", 1.5), ("-1\n", inf)]:
        quota.write_text(text)
        assert _parallel.cpu_quota(absent, (str(quota), str(period))) == cores
    assert _parallel.cpu_quota(absent, (absent, absent)) == inf

    # what reads it: the threads of n_threads=None, the compile helper, the digest's threads
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setenv("FASTEM_COMPILE_AHEAD", "1")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    cases = [(inf, 64, True), (2.5, 3, True), (1.5, 2, False), (0.5, 1, False)]
    for cores, threads, helper in cases:
        monkeypatch.setattr(_parallel, "process_quota", lambda cores=cores: cores)
        assert _parallel.default_threads() == threads
        assert _ahead.enabled() == helper or not _ahead.runs_code()
        assert _digest._threads() == min(threads, 8)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "5")  # the user's setting wins
    assert _parallel.default_threads() == 5


def test_small_inputs_start_no_helper(monkeypatch):
    """The NumPy passes (``_small``) need no kernel: a small fit starts nothing."""
    calls = []
    monkeypatch.setattr(_ahead, "start", lambda *args: calls.append(args))
    monkeypatch.setattr("fastem._small.SMALL_WORK", 1 << 20)
    import fastem

    X = np.random.default_rng(0).normal(size=(200, 2))
    fastem.GaussianMixture(2, random_state=0).fit(X)
    assert calls == []
    monkeypatch.setattr("fastem._small.SMALL_WORK", 0)
    fastem.GaussianMixture(2, covariance_type="diag", random_state=0).fit(X.astype(np.float32))
    # mclust's names: the family of their layout (VVV full, VVI diagonal)
    fastem.GaussianMixture(2, covariance_type="VVV", random_state=0).fit(X)
    fastem.GaussianMixture(2, covariance_type="VVI", random_state=0).fit(X)
    assert calls == [(False, np.float32, 2), (True, np.float64, 2), (False, np.float64, 2)]


def test_online_and_missing_value_fits_start_the_helper_like_fit(monkeypatch):
    """A first ``partial_fit`` (and so ``fit_online``'s first batch) and a fit with NaN
    marginalized run the pass kernel too: each starts the helper once, weighed by the same
    size rule as its passes (an online batch as ``ONLINE_SMALL_FACTOR`` times its rows)."""
    import fastem
    from fastem import _online

    calls = []
    monkeypatch.setattr(_ahead, "start", lambda *args: calls.append(args))
    monkeypatch.setattr("fastem._small.SMALL_WORK", 100_000)
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(m, 1, (300, 4)) for m in (0, 5)])  # 600 x 4, K = 2
    assert 600 * 2 * 4 <= 100_000 < _online.ONLINE_SMALL_FACTOR * 600 * 2 * 4
    gm = fastem.GaussianMixture(2, covariance_type="diag", random_state=0)
    gm.partial_fit(X)
    gm.partial_fit(X)  # not a first batch: nothing more
    assert calls == [(False, np.float64, 4)]
    calls.clear()
    fastem.GaussianMixture(2, random_state=0).partial_fit(X[:10])  # NumPy even x 64
    assert calls == []
    monkeypatch.setattr("fastem._small.SMALL_WORK", 0)
    X[::3, 1] = np.nan
    fastem.GaussianMixture(2, random_state=0, missing="marginalize").fit(X.astype(np.float32))
    assert calls == [(True, np.float32, 4)]


def test_a_dask_fit_on_the_local_threads_starts_the_helper(monkeypatch):
    """Dask's threaded (default) or synchronous scheduler runs the blocks' passes in this
    process: a fit starts the helper as an in-memory one does; with worker processes (or a
    ``distributed`` client) they compile where they run, and none is started here."""
    da = pytest.importorskip("dask.array")
    import dask

    import fastem
    from fastem.dask import DaskData

    calls = []
    monkeypatch.setattr(_ahead, "start", lambda *args: calls.append(args))
    monkeypatch.setattr("fastem._small.SMALL_WORK", 0)
    X = np.random.default_rng(0).normal(size=(600, 3))
    Xd = da.from_array(X, chunks=200)
    fastem.GaussianMixture(2, covariance_type="diag", max_iter=2, random_state=0).fit(Xd)
    assert calls == [(False, np.float64, 3)]
    with dask.config.set(scheduler="sync"):
        assert DaskData(Xd, persist=False).kernels_here
    with dask.config.set(scheduler="processes"):
        assert not DaskData(Xd, persist=False).kernels_here


def test_the_cache_probe_reads_the_index():
    """``_cache.cached``: False for a signature never compiled, True once saved, None for a
    function without a disk cache."""
    from numba import njit, types

    from fastem._kernels import _statistics

    fn = _statistics.full_stats
    fn.address()  # compiled (or loaded) and in the cache
    assert _cache.cached(fn.dispatcher, fn.signatures[0]) is True
    other = (types.float32[:, ::1],) + fn.signatures[0][1:]
    assert _cache.cached(fn.dispatcher, other) is False
    assert _cache.cached(njit(lambda x: x), (types.int64,)) is None


def test_the_helper_imports_the_kernels_only(tmp_path):
    """``import fastem`` imports each public name on first use (PEP 562), so the helper's
    ``import fastem._kernels._ahead`` does not pay for scikit-learn's import (a second).
    The public names still resolve, as do submodules, ``dir`` and ``import *``."""
    code = (
        "import sys, fastem._kernels._em; assert 'sklearn' not in sys.modules, 'sklearn'\n"
        "import fastem; assert 'sklearn' not in sys.modules\n"
        "from fastem import *\n"
        "names = [n for n in fastem.__all__ if n != '__version__']\n"
        "assert all(getattr(fastem, n) is globals()[n] for n in names)\n"
        "assert set(names) <= set(dir(fastem))\n"
        "assert fastem.mixture.GaussianMixture is GaussianMixture\n"
        "try:\n    fastem.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    assert "has no attribute 'no_such_name'" in _run(code, tmp_path)
    # ``warmup`` is also a submodule's name: importing the submodule first keeps the function
    code = "import fastem.warmup, fastem; print(callable(fastem.warmup))"
    assert _run(code, tmp_path) == "True"
    import fastem

    assert set(fastem.__all__) == {*fastem._PUBLIC, "warmup", "__version__"}


@pytest.mark.skipif(
    not _ahead.enabled() or not os.path.isdir("/proc/self"), reason="no helper, or no /proc"
)
def test_a_helper_of_a_failed_fit_is_reaped(tmp_path):
    """A fit that fails before its first pass never asks for the helper's functions; the
    helper still ends and is reaped (no zombie process left behind)."""
    code = (
        "import os, time, numpy as np, fastem\n"
        "from fastem import _em_loop\n"
        "from fastem._kernels import _ahead\n"
        "def fail(*args, **kwargs):\n    raise KeyboardInterrupt\n"
        "_em_loop._EMLoop._initial_stats = fail\n"
        "try:\n"
        "    fastem.GaussianMixture(3).fit(np.random.default_rng(0).normal(size=(3000, 4)))\n"
        "except KeyboardInterrupt:\n    pass\n"
        "(proc,) = {proc for proc, _ in _ahead._PENDING.values()}\n"
        "proc.wait(60)\n"
        "print('reaped', proc.returncode, os.path.exists(f'/proc/{proc.pid}'))\n"
    )
    assert _run(code, tmp_path) == "reaped 0 False"


@pytest.mark.skipif(not _ahead.enabled(), reason="one usable core: no helper runs")
def test_the_helper_compiles_the_copy_of_fastem_this_process_runs(tmp_path):
    """The helper imports with this process's ``sys.path``: a copy of fastem this process
    found on ``PYTHONPATH``, or inserted into ``sys.path``, is the one the helper compiles
    (its functions are loaded here, not compiled again), even with another ``fastem``
    folder in the working folder (first on a ``python -c``'s own path)."""
    import shutil

    for where in ("PYTHONPATH", "sys.path"):
        base = tmp_path / where
        src = base / "src"
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "fastem", src / "fastem", ignore=ignore)
        (base / "cwd" / "fastem").mkdir(parents=True)
        (base / "cwd" / "fastem" / "__init__.py").write_text("raise ImportError('wrong copy')")
        script = base / "fit.py"
        script.write_text(
            ("" if where == "PYTHONPATH" else f"import sys; sys.path.insert(0, {str(src)!r})\n")
            + "import numpy as np, fastem\n"
            "from fastem._kernels import _em\n"
            f"assert fastem.__file__.startswith({str(src)!r}), fastem.__file__\n"
            "rng = np.random.default_rng(0)\n"
            "X = np.concatenate([rng.normal(m, 1, (500, 3)) for m in (0, 4, 8)])\n"
            "fastem.GaussianMixture(3, random_state=0, max_iter=5, tol=0).fit(X)\n"
            "print([fn.dispatcher.stats.cache_hits[fn.signatures[i]] > 0\n"
            "       for fn, i in _em.statistics_functions(True, np.float64, 3)])\n"
        )
        env = dict(os.environ, FASTEM_SMALL_WORK="0", NUMBA_CACHE_DIR=str(base / "cache"))
        env.pop("PYTHONPATH", None)
        if where == "PYTHONPATH":
            env["PYTHONPATH"] = str(src)
        proc = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, cwd=base / "cwd"
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().splitlines()[-1] == "[True, True, True]", where


@pytest.mark.skipif(not _ahead.enabled() or not hasattr(os, "fork"), reason="no helper, or no fork")
def test_a_forked_child_does_not_wait_for_its_parents_helper(tmp_path):
    """A process forked while a helper runs (a fork-start multiprocessing pool) inherits
    no helper to wait for, or to stop: its own first fit compiles or loads, and ends, and
    the parent's helper runs to its end."""
    code = (
        "import os, time, numpy as np, fastem\n"
        "from fastem._kernels import _ahead\n"
        "helper = _ahead.start(False, np.float64, 3)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    if _ahead._PENDING:  # inherited: it would wait for a helper it cannot reap\n"
        "        os._exit(2)\n"
        "    _ahead.WAIT = 3.0\n"
        "    X = np.random.default_rng(0).normal(size=(4000, 3))\n"
        "    fastem.GaussianMixture(3, covariance_type='diag', max_iter=3).fit(X)\n"
        "    os._exit(0)\n"
        "for _ in range(1200):\n"
        "    done, status = os.waitpid(pid, os.WNOHANG)\n"
        "    if done:\n"
        "        print('child', os.waitstatus_to_exitcode(status), 'helper', helper.wait())\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        "else:\n"
        "    os.kill(pid, 9)\n"
        "    print('child hung')\n"
    )
    assert _run(code, tmp_path) == "child 0 helper 0"  # the helper not stopped by the child
