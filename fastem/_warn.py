"""Warnings that name the user's line, however deep in fastem they are raised.

A fit reaches its warnings through different depths (in memory, a source, Dask,
the guard around ``fit``), so a hand-counted ``stacklevel`` points into fastem
as soon as a path gains a frame. :func:`warn` counts the frames instead: it
attributes the warning to the first frame outside this package.
"""

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message, category):
    """``warnings.warn(message, category)`` at the first caller outside fastem."""
    frame, level = sys._getframe(1), 2  # level 2: the caller of this function
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level - 1 if frame is None else level)
