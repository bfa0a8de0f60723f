"""A fork while another thread compiles (``fastem._kernels._numba.hold_at_fork``).

The child of a fork has only the forking thread: a lock that another thread held at the fork
stays held for ever there. Numba's compiler lock and ``_shared._LOCK`` are held across a
compile, so a child forked during one hung on its first compile. The fork now waits for the
compile and the child gets both locks free. The lock ``_ahead.start`` holds while it starts a
helper process is made afresh in the child.
"""

import os
import subprocess
import sys
import threading

import pytest

from fastem._kernels import _ahead

from .conftest import checkout_env

# A thread fits on an empty cache (its first compiles); once it holds the lock named by
# argv[1] (Numba's compiler lock: its first compile, a k-means kernel; ``_shared._LOCK``: a
# block function's, which takes the compiler lock inside it) the main thread forks; the child
# fits too (compiling) and exits. The parent gives the child 120 s, then kills it,
# before it waits for its own thread: a hung child also holds the cache's file lock (``_cache``)
# if it was forked during a load or a save, and the parent's next save waits for it.
_FORK = """
import os, signal, sys, threading, time
import numpy as np
import fastem
from numba.core.compiler_lock import global_compiler_lock
from fastem._kernels import _shared

rng = np.random.default_rng(0)
X = np.concatenate([rng.normal(m, 1, (200, 2)) for m in (0, 5)])
errors = []

# what a fit imports, imported first (a fit in NumPy, then the kernel modules: compiles
# nothing): the thread's fit then imports only inside its compiles. A fork while another
# thread imports leaves that module's import lock held in the child (Python's own hazard)
fastem._small.SMALL_WORK = 1 << 40
fastem.GaussianMixture(2, random_state=0, max_iter=3).fit(X)
fastem._small.SMALL_WORK = 0
import fastem._kernels._em, fastem._kernels._kmeans

def fit():
    try:
        fastem.GaussianMixture(2, random_state=0, max_iter=3).fit(X)
    except BaseException as exc:
        errors.append(repr(exc))

def held(lock):  # by another thread: this one cannot take it
    if lock.acquire(blocking=False):
        lock.release()
        return False
    return True

lock = {"compiler": global_compiler_lock._lock, "shared": _shared._LOCK}[sys.argv[1]]
thread = threading.Thread(target=fit)
thread.start()
deadline = time.monotonic() + 120
while not held(lock):
    assert thread.is_alive() and time.monotonic() < deadline, ("no compile seen", errors)
    time.sleep(0.001)
pid = os.fork()
if pid == 0:
    fit()
    os._exit(1 if errors else 0)
deadline = time.monotonic() + 120
while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print("the child hung")
        sys.exit(1)
    time.sleep(0.05)
print("the child exited with", os.waitstatus_to_exitcode(status[1]))
thread.join()
assert not errors, errors
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
@pytest.mark.parametrize("lock", ["compiler", "shared"])
def test_a_fork_while_another_thread_compiles_gives_a_child_that_compiles(tmp_path, lock):
    # compiled in this process (no helper), on an empty cache: 5-10 s on two cores
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _FORK, lock],
        env=checkout_env(tmp_path / "cache", FASTEM_COMPILE_AHEAD="0"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.stdout.strip().splitlines()[-1:] == ["the child exited with 0"], (
        proc.stdout + proc.stderr
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_child_forked_while_another_thread_starts_a_helper_can_start_one():
    held, done = threading.Event(), threading.Event()

    def starting():  # as ``_ahead.start`` holds it, across ``subprocess.Popen``
        with _ahead._LOCK:
            held.set()
            done.wait(30)

    thread = threading.Thread(target=starting)
    thread.start()
    try:
        assert held.wait(30)
        pid = os.fork()
        if pid == 0:
            os._exit(0 if _ahead._LOCK.acquire(timeout=5) else 1)
    finally:
        done.set()
        thread.join()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
