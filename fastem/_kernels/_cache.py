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

:func:`guard` makes the cache of one kernel safe to share (every cached
function of the package is guarded: the kernels, ``_config.kernel``, and the
block functions called by address, ``_shared.Shared``):

* processes that compile the same kernels at once (Dask workers, parallel
  test runners, ``fastem warmup``) take an exclusive ``flock`` on a lock file
  in the cache folder while they save, and a shared one while they load.
  Numba's save is load-index, add-entry, write-index: two processes could
  otherwise both give their entry the same data file name, leaving an index
  whose entry points at the other process's code;
* a cached entry that cannot be read (a truncated, corrupt or foreign file)
  is a cache miss, compiled again and saved over, never an exception; an
  index that cannot be read is replaced when the next entry is saved;
* a loaded entry whose signature is not the one asked for is a miss too.
"""

import contextlib
import functools
import hashlib
import os
import stat
import tempfile

try:
    import fcntl
except ImportError:  # Windows: no flock; Numba's own atomic renames remain
    fcntl = None

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


@functools.cache
def _temp_cache_folder():
    """This user's folder for the cache under the system's temporary directory, or None
    where it cannot be made private (not a folder of this user's, or writable by others:
    another user could plant code there)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    who = "user" if uid is None else uid
    base = os.path.join(tempfile.gettempdir(), f"fastem-numba-cache-{who}")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.lstat(base)
    except OSError:
        return None
    mine = uid is None or st.st_uid == uid
    if not (stat.S_ISDIR(st.st_mode) and mine and not st.st_mode & 0o022):
        return None
    return base


def _last_resort_locator():
    """A Numba locator class for this package's files, used where none of Numba's own can
    write (a read-only install, home and ``NUMBA_CACHE_DIR``): Numba refused to compile a
    function with ``cache=True`` at all ("no locator available"), so a fit crashed at import.
    It caches under :func:`_temp_cache_folder`; where even that is unusable its saves fail and
    its loads miss (guarded: the kernels compile each time, the results the same)."""
    from numba.core import caching

    class LastResortLocator(_PackageStamp, caching.UserWideCacheLocator):
        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            # (made only here: nothing is written in the temporary folder unless needed)
            folder = _temp_cache_folder() or os.path.join(os.devnull, "fastem-no-cache")
            self._cache_path = os.path.join(folder, self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.abspath(py_file)) != _DIR:
                return None
            return cls(py_func, py_file)

    return LastResortLocator


def install():
    """Put package-stamped locators first in Numba's list, and a last resort at its end;
    True if it could."""
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
    with contextlib.suppress(AttributeError, TypeError):  # (Numba internals: time only)
        classes.append(_last_resort_locator())
    return True


@contextlib.contextmanager
def _locked(folder, exclusive):
    """An advisory lock on ``folder``'s lock file, shared or exclusive (no-op without flock)."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(os.path.join(folder, ".fastem-cache.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # a folder we cannot write to: Numba will not save there either
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


class _GuardedCache:
    """A Numba ``FunctionCache`` whose loads and saves cannot hurt (see the module doc)."""

    def __init__(self, cache):
        self._cache = cache

    def __getattr__(self, name):
        return getattr(self._cache, name)

    def load_overload(self, sig, target_context):
        from numba.core import sigutils

        try:
            with _locked(self._cache._cache_path, exclusive=False):
                cres = self._cache.load_overload(sig, target_context)
        except Exception:  # unreadable entry: compile again
            return None
        if cres is not None:
            args, _ = sigutils.normalize_signature(sig)
            if tuple(cres.signature.args) != tuple(args):
                return None
        return cres

    def save_overload(self, sig, data):
        with _locked(self._cache._cache_path, exclusive=True):
            try:
                self._cache.save_overload(sig, data)
            except Exception:  # an unreadable index: start it afresh, once
                with contextlib.suppress(OSError):
                    os.remove(self._cache._cache_file._index_path)
                with contextlib.suppress(Exception):  # the cache only saves time
                    self._cache.save_overload(sig, data)


def cached(dispatcher, sig):
    """Whether ``dispatcher``'s disk cache holds a current entry for ``sig`` (a tuple of
    argument types): True or False, or None where it cannot tell (no disk cache, or
    Numba internals other than ``Cache._index_key`` and ``_CacheFile._load_index``).
    Reads the index only, never the code."""
    cache = getattr(dispatcher, "_cache", None)
    cache = getattr(cache, "_cache", cache)  # under the guard
    try:
        key = cache._index_key(sig, dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:
        return None


def guard(dispatcher):
    """``dispatcher`` with its disk cache guarded (unchanged if it has none)."""
    cache = getattr(dispatcher, "_cache", None)
    if cache is not None and hasattr(cache, "_cache_path") and not isinstance(cache, _GuardedCache):
        dispatcher._cache = _GuardedCache(cache)
    return dispatcher
