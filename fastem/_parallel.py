"""Running a kernel over chunks of rows on several threads.

Every kernel is a ``nogil`` Numba function that processes one chunk of rows
and writes that chunk's own outputs (partial sums, or its rows of a row-wise
result). :func:`run_chunks` calls it for every chunk from a pool of ordinary
Python threads: the calling thread plus up to ``n_threads - 1`` pool threads,
each taking the next chunk until none is left. The chunking is a function of
the number of rows only and the caller adds the per-chunk partial sums in
chunk order, so results are bit-identical for any thread count.

Why Python threads and not Numba's ``prange``:

* a ``parallel=True`` driver is a second compiled function per kernel (the
  parfor wrapper: seconds of LLVM work on every new machine), and a serial
  twin was needed beside it for callers that may not use the threading layer;
* Numba's default (workqueue) threading layer aborts the process when two
  Python threads enter parallel kernels at once; ``nogil`` kernels called from
  Python threads never enter it, so many fits may run at once in one process
  with no lock;
* idle pool threads block on a queue; they never spin on idle cores between
  calls, as OpenMP's threads do.
"""

import functools
import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

_POOL = None
_MAX_POOL = 256
_POOL_LOCK = threading.Lock()


#: The cgroup files of a CPU quota (``docker --cpus``, a Kubernetes CPU limit): v2's
#: ``cpu.max`` ("quota period" or "max period"), else v1's quota and period (-1: none).
CGROUP_V2 = "/sys/fs/cgroup/cpu.max"
CGROUP_V1 = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def cpu_quota(v2=CGROUP_V2, v1=CGROUP_V1):
    """The cgroup CPU quota in cores (2.5 for ``docker --cpus=2.5``); infinite where none is set
    or the files cannot be read."""
    try:
        with open(v2) as f:
            quota, period = f.read().split()[:2]
        return float("inf") if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(v1[0]) as f, open(v1[1]) as g:
            quota, period = int(f.read()), int(g.read())
        return float("inf") if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return float("inf")


@functools.cache
def process_quota():
    """:func:`cpu_quota`, read once per process: every pass asks for its thread count."""
    return cpu_quota()


def cpu_budget():
    """The cores this process may use: its CPU affinity, lowered to a cgroup CPU quota where
    one is set (a container sees every core of its host but runs on its quota's worth)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(float(cores), process_quota())


def default_threads():
    """Threads of a call with ``n_threads=None``: ``NUMBA_NUM_THREADS`` if set, else the
    usable cores (:func:`cpu_budget`, rounded up: a quota of 2.5 cores runs 3 threads)."""
    env = os.environ.get("NUMBA_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, math.ceil(cpu_budget()))


def resolve_threads(n_threads):
    """Number of threads for a call: None means :func:`default_threads`."""
    if n_threads is None:
        return default_threads()
    return max(1, int(n_threads))


def _forget_pool():
    """In a forked child: the parent's pool threads do not exist here; start afresh."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # threads are started on demand, up to the most any call has asked for
            _POOL = ThreadPoolExecutor(max_workers=_MAX_POOL, thread_name_prefix="fastem")
        return _POOL


def run_chunks(task, n_chunks, n_threads):
    """Call ``task(c, slot)`` for every chunk ``c`` in ``range(n_chunks)``.

    At most ``n_threads`` threads (None: all) run the calls; ``slot`` (0 to
    threads - 1) names the thread, for per-thread buffers. Chunks are handed
    out one at a time, so a preempted thread does not hold the others up.
    If a call raises (or Ctrl-C interrupts the calling thread), no further
    chunk starts, the running ones finish, and the exception propagates.
    """
    t = min(resolve_threads(n_threads), n_chunks, _MAX_POOL)
    if t <= 1:
        for c in range(n_chunks):
            task(c, 0)
        return
    counter = itertools.count()  # next() is atomic under the GIL
    stop = threading.Event()

    def worker(slot):
        try:
            while not stop.is_set():
                c = next(counter)
                if c >= n_chunks:
                    return
                task(c, slot)
        except BaseException:
            stop.set()  # the other threads start no further chunk
            raise

    pool = _pool()
    futures = [pool.submit(worker, slot) for slot in range(1, t)]
    try:
        worker(0)
    finally:
        wait(futures)
    for f in futures:
        if f.exception() is not None:
            raise f.exception()


def chunk_rows_for(n_samples, bytes_per_chunk, block=256, max_chunks=128, budget=32 << 20):
    """Rows per chunk: a multiple of ``block``, a function of ``n_samples`` only.

    Enough chunks to balance many threads, but never so many that the
    per-chunk partial statistics exceed ``budget`` bytes.
    """
    n_chunks = max(
        1, min(max_chunks, -(-n_samples // (4 * block)), budget // max(bytes_per_chunk, 1))
    )
    rows = -(-n_samples // n_chunks)
    rows = -(-rows // block) * block
    return max(block, rows)


def readonly(a):
    """``a`` itself if read-only, else a read-only view of it (no copy).

    Numba compiles a separate specialization (tens of seconds for the EM pass)
    for each distinct array type, and read-only is part of the type. Handing
    every kernel its row data read-only means a memory map opened with
    ``mmap_mode="r"``, a Dask block or a frozen array share the compiled code
    of an ordinary array.
    """
    if not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v
