"""Numba's on-disk cache, invalidated as one unit for all kernel modules.

Numba keys a cached function on its own source file only: code it inlined
from another module stays in the cache after that module changes (Numba
issues #1833, #9483). The kernels call each other across the modules of
this package, so every function defined here gets, as its cache's source
stamp, a digest of *all* the package's kernel sources: editing any of them
invalidates every kernel's cache.

:func:`install` wraps each of Numba's cache locator classes so that, for
files in this folder only, ``get_source_stamp`` returns that digest. It must
run before the first ``@njit(cache=True)`` of the package (``_config`` calls
it). It relies on Numba internals (``CacheImpl._locator_classes``, named
``_CacheImpl`` in older Numba, and the locators' ``get_source_stamp``); where
they are missing it returns False and the kernels are compiled without a disk
cache (slower first calls, same results).
Nothing is compiled or hashed at import: the digest is computed the first
time Numba asks for a stamp.
"""

import functools
import hashlib
import os

_DIR = os.path.dirname(os.path.abspath(__file__))


def _sources(folder=_DIR):
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".py"))


@functools.cache
def _digest(stats):
    h = hashlib.sha256()
    for path, _, _ in stats:
        h.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def source_stamp(folder=_DIR):
    """A digest of every kernel source in ``folder`` (re-hashed when one changes)."""
    stats = []
    for path in _sources(folder):
        st = os.stat(path)
        stats.append((path, st.st_mtime_ns, st.st_size))
    return _digest(tuple(stats))


class _PackageStamp:
    """Mixin for a Numba locator: the package digest for files in this folder."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != _DIR:
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return source_stamp()


def install():
    """Put package-stamped locators first in Numba's list; True if it could."""
    try:
        from numba.core import caching

        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # 0.59: private
        classes = impl._locator_classes
        if any(issubclass(c, _PackageStamp) for c in classes):
            return True
        wrapped = [
            type(f"Fastem{c.__name__}", (_PackageStamp, c), {})
            for c in classes
            if hasattr(c, "get_source_stamp")
        ]
    except (ImportError, AttributeError, TypeError):
        return False
    if not wrapped:
        return False
    classes[:0] = wrapped
    return True
