"""Reading an untrusted ``.npz`` archive with bounded memory: model files and checkpoints.

``np.load`` decompresses every entry it is asked for, trusts the ``.npy``
header's shape (a header declaring 10**12 elements allocates them), and hands
back raw bytes for an entry that is not a ``.npy`` array. Here:

* the zip directory is read first; the entry names are checked against the
  expected ones **before** anything is decompressed;
* each entry's declared size is checked against its limit, and a compressed
  entry may expand at most :data:`MAX_RATIO` times (no zip bombs);
* the ``.npy`` header of each entry is parsed (at most :data:`MAX_HEADER`
  bytes), its dtype must be a plain number, string or boolean type (never an
  object), and its shape must account for exactly the declared size;
* only then is the data read, exactly that many bytes, CRC-checked by
  ``zipfile``.

So memory is bounded by the limits the caller gives, never by what the file
says. Every problem is a ``ValueError`` that says what is wrong.
"""

from __future__ import annotations

import ast
import re
import zipfile

import numpy as np

#: Largest ``.npy`` header read (NumPy writes < 200 bytes; its own limit is 10,000).
MAX_HEADER = 10_000
#: Largest expansion of a compressed entry (NumPy's ``savez`` does not compress at all).
MAX_RATIO = 100
#: Most entries an archive may hold.
MAX_ENTRIES = 64
#: Deepest JSON nesting accepted in metadata (fastem writes depth 3).
MAX_JSON_DEPTH = 16

_MAGIC = b"\x93NUMPY"


class ArchiveError(ValueError):
    """An archive that is not what it should be (a ``ValueError``)."""


def _fail(path, msg):
    return ArchiveError(f"{path}: {msg}")


def open_archive(path, allowed, *, required=None, what="model file"):
    """The open ``ZipFile`` and its ``{name: ZipInfo}``, names checked before any read.

    ``allowed(name) -> bool`` says whether an entry name (without ``.npy``) may
    be present; ``required`` names an entry that must be.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
        # (RuntimeError: zipfile's NotImplementedError for a corrupt version or compression)
        msg = f"{path} cannot be read as a .npz archive; it is truncated or corrupt ({e})."
        raise ArchiveError(msg) from None
    infos = zf.infolist()
    names = [i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in infos]
    problem = None
    if len(infos) > MAX_ENTRIES:
        problem = f"holds {len(infos)} entries; a fastem {what} holds a few."
    elif required is not None and required not in names:
        problem = f"no fastem metadata; this is not a {what} written by fastem."
    else:
        bad = [
            i.filename
            for i, n in zip(infos, names)
            if not i.filename.endswith(".npy") or not allowed(n) or names.count(n) > 1
        ]
        if bad:
            problem = f"unexpected entries {bad}; this is not a fastem {what} (or it was altered)."
    if problem is not None:
        zf.close()
        raise _fail(path, problem)
    return zf, dict(zip(names, infos))


def _header(path, name, f):
    magic = f.read(8)
    if len(magic) < 8 or not magic.startswith(_MAGIC):
        raise _fail(path, f"entry {name!r} is not a NumPy array (it holds raw bytes).")
    major = magic[6]
    if major == 1:
        hlen = int.from_bytes(f.read(2), "little")
    elif major in (2, 3):
        hlen = int.from_bytes(f.read(4), "little")
    else:
        raise _fail(path, f"entry {name!r} has an unknown .npy version {major}.")
    if hlen > MAX_HEADER:
        raise _fail(path, f"entry {name!r} has a header of {hlen} bytes; refusing it.")
    text = f.read(hlen)
    try:
        d = ast.literal_eval(text.decode("latin1" if major < 3 else "utf8"))
        descr, fortran, shape = d["descr"], d["fortran_order"], d["shape"]
        dtype = np.dtype(descr) if isinstance(descr, str) else None
    except Exception:  # noqa: BLE001 - anything unparsable is a corrupt header
        raise _fail(path, f"entry {name!r} has a corrupt .npy header.") from None
    if dtype is not None and dtype.hasobject:
        raise _fail(
            path,
            f"entry {name!r} is an object array (pickled Python objects), which fastem refuses "
            "to load because unpickling can run arbitrary code; this file was not written by "
            "fastem.save().",
        )
    if dtype is None or dtype.kind not in "biufU":
        raise _fail(path, f"entry {name!r} has dtype {descr!r}; fastem stores plain numbers.")
    if (
        not isinstance(shape, tuple)
        or len(shape) > 8
        or not all(isinstance(s, int) and s >= 0 for s in shape)
        or not isinstance(fortran, bool)
    ):
        raise _fail(path, f"entry {name!r} has a corrupt .npy header (shape {shape!r}).")
    return dtype, shape, fortran, (8 + (2 if major == 1 else 4) + hlen)


def read_entry(path, zf, info, name, max_bytes):
    """Entry ``name`` as an array, reading at most ``max_bytes`` of data."""
    size = info.file_size
    if size > max_bytes + MAX_HEADER + 16:
        raise _fail(
            path, f"entry {name!r} declares {size} bytes, more than it can hold; refusing it."
        )
    if info.compress_type != zipfile.ZIP_STORED and size > MAX_RATIO * info.compress_size + 4096:
        ratio = size // max(1, info.compress_size)
        raise _fail(path, f"entry {name!r} expands {ratio} times when decompressed; refusing it.")
    try:
        with zf.open(info) as f:
            dtype, shape, fortran, header_bytes = _header(path, name, f)
            count = int(np.prod(shape, dtype=object))
            nbytes = count * dtype.itemsize
            if nbytes > max_bytes:
                raise _fail(path, f"entry {name!r} declares shape {shape}, more than it can hold.")
            if header_bytes + nbytes != size:
                raise _fail(
                    path,
                    f"entry {name!r} declares shape {shape} ({nbytes} bytes) but holds "
                    f"{size - header_bytes}; the file is truncated or altered.",
                )
            data = f.read(nbytes)
            if len(data) != nbytes or f.read(1):
                raise _fail(path, f"entry {name!r} is truncated.")
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
        raise _fail(
            path, f"entry {name!r} cannot be read; the file is truncated or corrupt ({e})."
        ) from None
    except Exception as e:  # noqa: BLE001 - zlib.error and friends
        raise _fail(path, f"entry {name!r} is corrupt ({type(e).__name__}: {e}).") from None
    arr = np.frombuffer(data, dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C").copy()


def json_depth(text):
    """The deepest nesting of ``[`` and ``{`` in a JSON text (strings skipped)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    steps = np.frombuffer(bare.encode("utf8", "replace"), dtype=np.uint8)
    delta = np.isin(steps, (ord("["), ord("{"))).astype(np.int64)
    delta -= np.isin(steps, (ord("]"), ord("}")))
    return int(np.cumsum(delta).max(initial=0))
