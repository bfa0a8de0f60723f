"""Numba and the parts of it the kernels use, imported with Ctrl-C held off
(:func:`fastem._interrupt.deferred`): the first import happens inside a ``fit``, and one
stopped half-way left ``numba`` half-initialized for the rest of the process. Every kernel
module that imports Numba imports this module first."""

from .._interrupt import deferred

with deferred():
    import llvmlite.ir  # noqa: F401
    import numba  # noqa: F401
    import numba.core.cgutils  # noqa: F401
    import numba.core.errors  # noqa: F401
    import numba.core.imputils  # noqa: F401
    import numba.extending  # noqa: F401
    import numba.np.arrayobj  # noqa: F401
