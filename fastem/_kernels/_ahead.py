"""A first fit's block functions compiled by a helper process, on a second core.

Numba compiles one function at a time in a process (its compiler lock). A first
fit on a new machine (an empty cache) compiles, one after the other, the k-means
kernels, the family's log-density, the normalization, the statistics, the block
load and the pass kernel: 3.2 s of the fit's 4.3 s (5.2 s with the import) at
1M x 8, full (bench/NOTES.md section 22). With a second core, :func:`start` hands
the normalization, the statistics and the block load (the
:class:`~._shared.Shared` functions a statistics pass needs besides the
log-density) to one helper process (``python -c``, importing the kernels only),
which compiles them into the disk cache while this process compiles and runs
k-means and compiles the log-density and the pass kernel. When the pass asks for
one of them (:meth:`~._shared.Shared.address`), this process waits for the
helper (:func:`wait`) and loads it from the cache. The helper reports each function as
it is saved (a line on its standard output), so a pass waits for its own functions
only. A fit's helper then compiles, at the lowest CPU priority, the row-wise outputs
that a ``predict`` after the fit runs (0.4-0.8 s of compiling that a first ``predict``
otherwise waited for; bench/NOTES.md section 32): on two cores it takes the time the
fit leaves idle, and a ``predict`` that comes first waits for it as a pass does. A
helper that fails costs only time.

It changes no result: a :class:`~._shared.Shared` function runs the same code
whether compiled here or loaded from the cache (``tests/test_cache.py``), and one
whose helper failed, or outlived :data:`WAIT`, is compiled here. The helper runs
only where it can pay: at least two usable cores, a Python interpreter to run it (not a
frozen or embedded one), a Numba disk cache (Numba uses a folder it can write to) that
does not hold the functions yet (:func:`._cache.cached`), at least :data:`MIN_FUNCTIONS`
to compile, and ``FASTEM_COMPILE_AHEAD`` not ``0``; for in-memory and streamed fits
of inputs too large for NumPy (``_em_loop``), a first online batch (``_online._step``),
fits with NaN marginalized (their complete rows run the same pass), Dask fits on the
local threads (``DaskData.kernels_here``; not on worker processes or clusters), and the
first row-wise pass compiled in a process (``_em.chunk_kernel``: a loaded model's first
``predict``).
"""

import os
import subprocess
import sys
import threading

from .._parallel import cpu_budget

#: seconds a pass waits for the helper before compiling the function itself
WAIT = 60.0

#: fewer functions to compile than this: the helper's start-up (about 0.25 s of the
#: other core) is not worth it, this process compiles them
MIN_FUNCTIONS = 2

_PENDING = {}  # (Shared.key, signature index) -> (the helper's Popen, its end: an Event)
_LOCK = threading.Lock()


def _forget():
    # a forked child has no reaper thread and the helper is not its child: never wait; and
    # the lock may have been held by a thread starting a helper, which the child has not
    global _LOCK
    _PENDING.clear()
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)


def enabled():
    """Whether a helper may run: ``FASTEM_COMPILE_AHEAD`` not ``0``, a Python interpreter
    to run it, two usable cores (CPU affinity and a cgroup CPU quota counted)."""
    if os.environ.get("FASTEM_COMPILE_AHEAD", "1").strip() == "0":
        return False
    return runs_code() and cpu_budget() >= 2


def runs_code():
    """Whether this interpreter can run a helper (``python -c``): a frozen or embedded
    interpreter's executable may not."""
    name = os.path.basename(sys.executable or "").lower()
    return not getattr(sys, "frozen", False) and ("python" in name or "pypy" in name)


def pending():
    """Whether a helper's functions are still awaited."""
    return any(not done.is_set() for _, done in _PENDING.values())


def start(full, dtype, n_features, rows=False):
    """Start a helper compiling the block functions of a statistics pass (or of a row-wise
    pass: ``rows``) for ``full`` (the full and tied family, else diagonal and spherical),
    ``dtype`` (X's) and ``n_features`` that are neither compiled in this process nor in the
    disk cache; returns its ``Popen``, or None where no helper runs."""
    from ._em import rowwise_functions, statistics_functions

    if rows:
        functions, after = rowwise_functions(dtype, n_features), []
    else:  # and then the row-wise outputs of a predict after the fit
        functions, after = (
            statistics_functions(full, dtype, n_features),
            rowwise_functions(dtype, n_features),
        )
    # each probed once (compiled here: a dict lookup; else the cache's index), and the CPU
    # budget read only when there is something to compile
    missing = [(fn.key, i) for fn, i in functions if fn.ready(i) is False]
    if len(missing) < MIN_FUNCTIONS or not enabled():
        return None
    later = [(fn.key, i) for fn, i in after if (fn.key, i) not in missing and fn.ready(i) is False]
    with _LOCK:
        todo = [item for item in missing if item not in _PENDING]
        if len(todo) < MIN_FUNCTIONS:
            return None
        later = [item for item in later if item not in _PENDING]
        try:
            proc = subprocess.Popen(
                _command(todo, later),
                env=_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:  # no process to be had: this process compiles them
            return None
        # reaped as soon as it ends, even if no pass asks for its functions (a failed fit);
        # each function's event wakes the pass waiting for it as soon as it is saved
        # (Popen.wait with a timeout polls)
        items = todo + later
        done = [threading.Event() for _ in items]
        threading.Thread(target=_reap, args=(proc, done), daemon=True).start()
        for item, event in zip(items, done):
            _PENDING[item] = (proc, event)
    return proc


def _reap(proc, done):
    """Set ``done[n]`` when the helper reports its n-th function saved, and every one when
    it ends (a function it did not report is compiled by the process that needs it)."""
    try:
        for line in proc.stdout:
            try:
                done[int(line)].set()
            except (ValueError, IndexError):
                pass
    finally:
        proc.stdout.close()
        proc.wait()
        for event in done:
            event.set()


def _command(items, later=()):
    """The helper's command line, compiling ``items``, then ``later`` at the lowest
    priority (``(key, i)`` pairs), of the copy of fastem this process runs: the helper
    imports with this process's ``sys.path`` (not its own, which starts with its
    working folder)."""
    path = [entry for entry in sys.path if isinstance(entry, str)]
    code = (
        f"import sys; sys.path[:] = {path!r}\n"
        f"from fastem._kernels._ahead import _helper; _helper({items!r}, {later!r})"
    )
    return [sys.executable, "-c", code]


def _environment():
    """This process's environment with its Numba cache folder (which may have been set in
    this process after start-up): the helper must compile into this cache, or its work
    is lost."""
    import numba

    env = dict(os.environ, FASTEM_COMPILE_AHEAD="0")
    if numba.config.CACHE_DIR:
        env["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR
    return env


def wait(key, i):
    """Before signature ``i`` of the function ``key`` is compiled here: wait (at most
    :data:`WAIT` seconds) for the helper compiling it, if one is; a helper that overruns
    is stopped. Either way, what follows loads the function from the cache, or compiles it.
    Threads that need the same function wait together."""
    helper = _PENDING.get((key, i))
    if helper is None:
        return
    proc, done = helper
    if not done.wait(WAIT):
        proc.kill()
        done.wait(WAIT)
    with _LOCK:
        _PENDING.pop((key, i), None)


def _helper(items, later=()):
    """In the helper: compile ``items``, then ``later`` at the lowest CPU priority
    (``(key, i)`` pairs) into the disk cache, writing the index of each one saved."""
    from . import _em  # noqa: F401  (defines every Shared function)
    from ._shared import SHARED

    for n, (key, i) in enumerate((*items, *later)):
        if n == len(items) and hasattr(os, "nice"):
            try:  # what the fit does not wait for takes only the time it leaves idle
                os.nice(19)
            except OSError:
                pass
        SHARED[key].address(i)
        sys.stdout.write(f"{n}\n")
        sys.stdout.flush()
    os._exit(0)  # saved to the cache: skip the interpreter's teardown (40 ms or more)
