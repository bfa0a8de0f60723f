"""Background prefetch of chunks, and the per-pass progress bar."""

from __future__ import annotations

import queue
import sys
import threading
import time

_DONE = object()


def prefetch(iterable, depth=1):
    """Iterate ``iterable`` in a background thread, ``depth`` items ahead.

    Exceptions raised by the iterator are re-raised in the consumer. Closing
    the returned generator early stops the thread and closes ``iterable``.

    Examples
    --------
    >>> list(prefetch(iter(range(5))))
    [0, 1, 2, 3, 4]
    """
    q = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def work():
        it = iter(iterable)
        try:
            for item in it:
                if not put((True, item)):
                    return
            put((False, _DONE))
        except BaseException as e:  # handed to the consumer
            put((False, e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="fastem-prefetch", daemon=True)
    thread.start()
    interrupted = False
    try:
        while True:
            ok, item = q.get()
            if ok:
                yield item
            elif item is _DONE:
                return
            else:
                raise item
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        stop.set()
        # Ctrl-C is not held up by a source that is slow, or yields only empty chunks (the
        # thread sees ``stop`` only between items): the daemon thread ends on its own
        thread.join(timeout=1.0 if interrupted else None)


class Progress:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, enabled, total_rows, label="pass", stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(enabled) and getattr(self.stream, "isatty", lambda: False)()
        self.total = total_rows
        self.label = label
        self.rows = 0
        self.nbytes = 0
        self.t0 = time.perf_counter()
        self._last = 0.0

    def update(self, rows, nbytes):
        self.rows += rows
        self.nbytes += nbytes
        now = time.perf_counter()
        if self.enabled and now - self._last > 0.2:
            self._last = now
            self._draw(now)

    def _draw(self, now):
        rate = self.nbytes / max(now - self.t0, 1e-9) / 1e6
        if self.total:
            frac = min(1.0, self.rows / self.total)
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            text = f"\r{self.label} [{bar}] {100 * frac:5.1f}% {self.rows} rows {rate:8.1f} MB/s"
        else:
            text = f"\r{self.label} {self.rows} rows {rate:8.1f} MB/s"
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()
