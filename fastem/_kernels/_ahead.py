"""A first fit's block functions compiled by a helper process, on a second core.

Numba compiles one function at a time in a process (its compiler lock). A first
fit on a new machine (an empty cache) compiles, one after the other, the k-means
kernels, the family's log-density, the normalization, the statistics, the block
load and the pass kernel: 3.2 s of its 4.3 s at 1M x 8, full (bench/NOTES.md
section 22). With a second core, :func:`start` hands the normalization, the
statistics and the block load (the :class:`~._shared.Shared` functions a
statistics pass needs besides the log-density) to one helper process
(``python -c``, importing the kernels only), which compiles them into the disk
cache while this process compiles and runs k-means and compiles the
log-density. When the pass asks for one of them (:meth:`~._shared.Shared.address`),
this process waits for the helper (:func:`wait`) and loads it from the cache.

It changes no result: a :class:`~._shared.Shared` function runs the same code
whether compiled here or loaded from the cache (``tests/test_cache.py``), and one
whose helper failed, or outlived :data:`WAIT`, is compiled here. The helper runs
only where it can pay: at least two usable cores, a writable Numba disk cache that
does not hold the functions yet (:func:`._cache.cached`), at least
:data:`MIN_FUNCTIONS` to compile, and ``FASTEM_COMPILE_AHEAD`` not ``0``.
"""

import os
import subprocess
import sys
import threading

#: seconds a pass waits for the helper before compiling the function itself
WAIT = 60.0

#: fewer functions to compile than this: the helper's start-up (about 0.25 s of the
#: other core) is not worth it, this process compiles them
MIN_FUNCTIONS = 2

_PENDING = {}  # (Shared.key, signature index) -> the helper's Popen
_LOCK = threading.Lock()


def enabled():
    """Whether a helper may run: ``FASTEM_COMPILE_AHEAD`` not ``0``, a Python interpreter
    to run it, two usable cores."""
    if os.environ.get("FASTEM_COMPILE_AHEAD", "1").strip() == "0":
        return False
    # a frozen or embedded interpreter's executable may not run ``-c``: no helper
    name = os.path.basename(sys.executable or "").lower()
    if getattr(sys, "frozen", False) or not ("python" in name or "pypy" in name):
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return cores >= 2


def start(full, dtype):
    """Start a helper compiling the statistics pass's block functions for ``full`` (the
    full and tied family, else diagonal and spherical) and ``dtype`` (X's) that are
    neither compiled in this process nor in the disk cache; returns its ``Popen``, or
    None where no helper runs."""
    if not enabled():
        return None
    from ._em import statistics_functions

    with _LOCK:
        todo = [
            (fn.key, i)
            for fn, i in statistics_functions(full, dtype)
            if (fn.key, i) not in _PENDING and fn.ready(i) is False
        ]
        if len(todo) < MIN_FUNCTIONS:
            return None
        try:
            proc = subprocess.Popen(
                _command(todo),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:  # no process to be had: this process compiles them
            return None
        for item in todo:
            _PENDING[item] = proc
    return proc


def _command(items):
    """The helper's command line, compiling ``items`` (``(key, i)`` pairs)."""
    return [sys.executable, "-c", f"from fastem._kernels._ahead import _helper; _helper({items!r})"]


def wait(key, i):
    """Before signature ``i`` of the function ``key`` is compiled here: wait (at most
    :data:`WAIT` seconds) for the helper compiling it, if one is; a helper that overruns
    is stopped. Either way, what follows loads the function from the cache, or compiles it."""
    with _LOCK:
        proc = _PENDING.pop((key, i), None)
    if proc is None:
        return
    try:
        proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _helper(items):
    """In the helper: compile ``items`` (``(key, i)`` pairs) into the disk cache."""
    from . import _em  # noqa: F401  (defines every Shared function)
    from ._shared import SHARED

    for key, i in items:
        SHARED[key].address(i)
