"""The one check of output paths against input paths, done before any work.

Every path fastem writes (a model file, a checkpoint, ``out=``, the command
line's ``-o``) is checked here against every file the same call reads (the
data, parallel weights or labels, a model file) before anything is read or
computed: an output that is one of the inputs (the same file by
:func:`os.path.samefile`, also through links, or a path inside an input
folder), two outputs that are the same file, and an output whose folder
cannot be written are refused with an error that says what to do.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np


def input_paths(*objs):
    """The file paths among ``objs`` (paths, sources, *data* objects); others are skipped."""
    out = []
    for obj in objs:
        if obj is None:
            continue
        if isinstance(obj, (str, os.PathLike)):
            out.append(os.fspath(obj))
            continue
        args = getattr(obj, "_args", None) or {}
        for p in (getattr(obj, "path", None), getattr(obj, "_obj", None), args.get("obj")):
            if isinstance(p, (str, os.PathLike)):  # a source reading a file or folder
                out.append(os.fspath(p))
        base = getattr(obj, "X", obj)
        while isinstance(base, np.ndarray):  # rows memory-mapped from a file
            if isinstance(base, np.memmap) and getattr(base, "filename", None):
                out.append(base.filename)
                break
            base = base.base
        for attr in ("source", "weights", "label_values"):  # a streamed data object
            inner = getattr(obj, attr, None)
            if inner is not None and not isinstance(inner, (str, os.PathLike, float)):
                out.extend(input_paths(inner))
    return out


def _same(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return os.path.realpath(a) == os.path.realpath(b)


def _inside(path, folder):
    if not os.path.isdir(folder):
        return False
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, top]) == top


def check_path(path, what):
    """Refuse a ``what`` (``"checkpoint"``) that is not a path, before any work."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a file path (str or os.PathLike), got {path!r}.")


def check_writable(path, what="output"):
    """Raise ``OSError`` now if ``path`` cannot be written (its folder, a directory there)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write the {what} {path}: no such directory {folder}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write the {what} {path}: it is a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".fastem-probe-", dir=folder)
    except OSError as e:
        raise PermissionError(
            f"cannot write the {what} {path}: the folder {folder} is not writable "
            f"({e.strerror or e}); choose another path."
        ) from None
    os.close(fd)
    os.unlink(probe)


def check_outputs(outputs, inputs):
    """Refuse outputs that would overwrite an input or each other; check they can be written.

    Parameters
    ----------
    outputs : list of (str, path or None)
        ``(what, path)`` of each file to be written, e.g. ``("-o", "m.npz")``.
    inputs : list of path or object
        The inputs of the same call: paths, sources or *data* objects.

    Raises
    ------
    ValueError
        If an output is an input, lies inside an input folder, or is another output.
    OSError
        If an output's folder does not exist or cannot be written.
    """
    ins = input_paths(*inputs)
    seen = []
    for what, path in outputs:
        if path is None or not isinstance(path, (str, os.PathLike)):
            continue
        path = os.fspath(path)
        for inp in ins:
            if _same(path, inp):
                raise ValueError(
                    f"the {what} path {path} is the input file {inp}: writing it would destroy "
                    "the input. Choose another path for the output."
                )
            if _inside(path, inp):
                raise ValueError(
                    f"the {what} path {path} lies inside the input folder {inp}: writing it "
                    "would change the input. Choose a path outside that folder."
                )
        for other_what, other in seen:
            if _same(path, other):
                raise ValueError(
                    f"the {what} path {path} is also the {other_what} path; choose two "
                    "different files."
                )
        check_writable(path, what)
        seen.append((what, path))
