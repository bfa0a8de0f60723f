"""Ctrl-C held off for a moment: :func:`deferred`.

An import that ``KeyboardInterrupt`` stops half-way can leave a package half-initialized in
``sys.modules`` (Numba, pandas: their modules import each other), and then every later call in
the process fails on it (``AttributeError: module 'numba' has no attribute 'core'``) until the
interpreter restarts. fastem imports its heavy dependencies on first use, inside the first
``fit`` (Numba) or the first use of a public name (scikit-learn, pandas), so a Ctrl-C there
would break the session: those imports run with Ctrl-C held off, and it is delivered as soon as
they end. Standard library only.
"""

import contextlib
import signal
import threading


@contextlib.contextmanager
def deferred():
    """Run the block with SIGINT held off, then deliver it (to the handler that was set).

    Only in the main thread, where Python runs signal handlers, and only where that handler
    is a Python callable (``signal.default_int_handler`` raises ``KeyboardInterrupt``);
    nested uses deliver to the outer one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # ignored, the default action, or set outside Python
        yield
        return
    caught = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            previous(signal.SIGINT, caught[0])
