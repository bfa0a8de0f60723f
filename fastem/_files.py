"""Writing a file so that a failed write leaves what was at the path."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def replacing(path, suffix=".tmp", durable=False):
    """Yield a binary file to write; on success it replaces ``path``, on failure it is removed.

    The file is a temporary one in ``path``'s folder (so the final rename is
    atomic on POSIX and Windows). ``durable``: flush it to disk before the
    rename (checkpoints). Nothing a user saved is lost when a run fails.
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    fd, tmp = tempfile.mkstemp(prefix=".fastem-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
