"""Writing a file so that a failed write leaves what was at the path."""

import contextlib
import os
import stat
import tempfile


def _umask():
    """The process's umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and set it back at once
    os.umask(mask)
    return mask


def _final_mode(path):
    """The mode the written file gets: the replaced file's, or ``0o666`` less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def replacing(path, suffix=".tmp", durable=False):
    """Yield a binary file to write; on success it replaces ``path``, on failure it is removed.

    The file is a temporary one in ``path``'s folder (so the final rename is
    atomic on POSIX and Windows). ``durable``: flush it to disk before the
    rename, and the folder after it (checkpoints: a power loss then leaves the old file
    or the new one, whole). Nothing a user saved is lost when a run fails. The
    written file gets the mode of the file it replaces, or for a new file
    ``0o666`` less the umask (as ``open`` would give it; the temporary file
    alone is private). An ``OSError`` names ``path``, never the temporary file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fastem-", suffix=suffix, dir=folder)
    except OSError as e:
        raise type(e)(e.errno, f"cannot write {path} ({e.strerror})", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, _final_mode(path))
        os.replace(tmp, path)
        if durable:
            _sync_folder(folder)
    except OSError as e:
        _remove(tmp)
        named = [os.fspath(n) for n in (e.filename, e.filename2) if n is not None]
        if tmp in named or tmp in str(e):
            raise type(e)(e.errno, f"cannot write {path} ({e.strerror})", path) from None
        raise
    except BaseException:
        _remove(tmp)
        raise


def _sync_folder(folder):
    """Flush ``folder``'s entries (a rename) to disk, where the file system can."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some file systems (and Windows) cannot fsync a folder
        pass


def _remove(tmp):
    if os.path.exists(tmp):
        os.unlink(tmp)
