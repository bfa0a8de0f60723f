"""Numba and the parts of it the kernels use, imported with Ctrl-C held off
(:func:`fastem._interrupt.deferred`): the first import happens inside a ``fit``, and one
stopped half-way left ``numba`` half-initialized for the rest of the process. Every kernel
module that imports Numba imports this module first.

It also holds Numba's compiler lock across a fork (:func:`hold_at_fork`): a process forked
while another thread compiled (``multiprocessing``'s fork start method, a plain
``os.fork``) got that lock held by a thread that does not exist in the child, and hung for
ever on its first compile (and the cache's file lock, ``_cache``, taken inside a compile,
stayed held by the hung child: the parent's next save waited for it)."""

import os

from .._interrupt import deferred

with deferred():
    import llvmlite.ir  # noqa: F401
    import numba  # noqa: F401
    import numba.core.cgutils  # noqa: F401
    import numba.core.compiler_lock  # noqa: F401
    import numba.core.errors  # noqa: F401
    import numba.core.imputils  # noqa: F401
    import numba.extending  # noqa: F401
    import numba.np.arrayobj  # noqa: F401


def hold_at_fork(lock):
    """Take ``lock`` before every fork of the process and release it after, in the parent
    and in the child: a fork waits for the thread holding it (a compile in progress), and
    the child gets it free. Python runs the hooks before a fork last registered first, so
    the locks are taken in the reverse order of these calls: the order a compile takes
    them is kept (no deadlock) where the lock it takes first is registered last."""
    held = []  # a hook registered while a fork was under way releases nothing it did not take

    def before():
        lock.acquire()
        held.append(lock)

    def after():
        if held:
            held.pop().release()

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=before, after_in_parent=after, after_in_child=after)


# its RLock, not the lock object: the object's acquire broadcasts a "numba:compiler_lock"
# event, which the timer of a compile in another thread would count as its own
_compiler_lock = numba.core.compiler_lock.global_compiler_lock
hold_at_fork(getattr(_compiler_lock, "_lock", _compiler_lock))
