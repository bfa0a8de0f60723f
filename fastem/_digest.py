"""Digests of the data a checkpoint belongs to: every byte that enters the fit.

A checkpoint may only be resumed by the call that wrote it, so its
fingerprint must change when any value of the data changes. Sampling rows is
not enough (a change in the rows left out resumes someone else's fit), so
every byte is hashed:

* in-memory data (:class:`~fastem._passes.ArrayData`, ``MissingData``): the
  buffers of ``X``, the weights and the labels, hashed in place (no copy);
* a source read from a file (``.npy``, ``.csv``, HDF5, parquet, a zarr or
  parquet folder): the file's bytes, read in blocks (no parsing), plus the
  columns selected and the weight column (in order, by name where the reader
  has names: ``Source._selection``);
* any other source (a callable, an in-memory array, an ``h5py.Dataset``, a
  pyarrow table): every validated chunk, in one pass;
* a Dask array: every row, in blocks of fixed size (so the result does not
  depend on the chunking), hashed on the workers.

Buffers are cut into blocks of :data:`BLOCK` bytes whose SHA-256 digests are
computed in parallel threads (``hashlib`` releases the GIL) and then hashed
together, so the digest does not depend on the number of threads. SHA-256
runs at about 1.7 GB/s per core with the SHA extensions; see
``docs/robustness.md`` for the measured cost per GB.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._parallel import default_threads

#: Bytes per hashed block (the unit of the parallel tree hash).
BLOCK = 8 << 20


def _threads():
    return max(1, min(8, default_threads()))


def _tree(n_blocks, hash_block):
    """SHA-256 over the digests of ``n_blocks`` blocks, each hashed by ``hash_block``."""
    if n_blocks <= 1:
        return hash_block(0) if n_blocks else hashlib.sha256().digest()
    with ThreadPoolExecutor(min(_threads(), n_blocks)) as pool:
        digests = list(pool.map(hash_block, range(n_blocks)))
    h = hashlib.sha256(b"tree%d;" % n_blocks)
    for d in digests:
        h.update(d)
    return h.digest()


def buffer_digest(a):
    """SHA-256 tree digest of the bytes of array ``a`` (C order), with its shape and dtype."""
    a = np.ascontiguousarray(a)
    view = memoryview(a.reshape(-1).view(np.uint8)) if a.size else memoryview(b"")
    n_blocks = -(-len(view) // BLOCK)

    def hash_block(i):
        return hashlib.sha256(view[i * BLOCK : (i + 1) * BLOCK]).digest()

    head = f"{a.shape}|{a.dtype.str};".encode()
    return hashlib.sha256(head + _tree(n_blocks, hash_block)).hexdigest()


def file_digest(path):
    """SHA-256 tree digest of a file's bytes, or of every file under a folder (with names)."""
    if os.path.isdir(path):
        h = hashlib.sha256(b"folder;")
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                h.update(f"{os.path.relpath(full, path)}={file_digest(full)};".encode())
        return h.hexdigest()
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        fd = f.fileno()

        def hash_block(i):
            want = min(BLOCK, size - i * BLOCK)
            data = os.pread(fd, want, i * BLOCK)
            if len(data) != want:
                raise OSError(f"{path!r} changed size while it was being hashed")
            return hashlib.sha256(data).digest()

        tree = _tree(-(-size // BLOCK), hash_block)
    return hashlib.sha256(f"file{size};".encode() + tree).hexdigest()


def source_digest(src):
    """Digest of the rows a source yields (its file's bytes when it reads a file)."""
    features, weight = src._selection()  # by name where the reader renumbers (parquet)
    h = hashlib.sha256(
        f"{src.kind}|{src.n_features}|{src.dtype}|{features!r}|{weight!r}|"
        f"{getattr(src, 'dataset', None)};".encode()
    )
    path = getattr(src, "path", None)
    if path is None:
        obj = getattr(src, "_obj", None)
        path = obj if isinstance(obj, (str, os.PathLike)) else None
    if path is not None and os.path.exists(path):
        h.update(file_digest(os.fspath(path)).encode())
        return h.hexdigest()
    for _, X, w in src._chunks(None):  # every chunk, as validated
        h.update(buffer_digest(X).encode())
        if w is not None:
            h.update(buffer_digest(w).encode())
    return h.hexdigest()


def _extra_digest(value):
    """Digest of a parallel vector (weights, labels): an array, a source or a constant."""
    from .sources import Source

    if value is None:
        return "none"
    if isinstance(value, Source):
        return source_digest(value)
    if isinstance(value, np.ndarray):
        return buffer_digest(value)
    return repr(float(value)) if isinstance(value, (int, float, np.number)) else repr(value)


def data_digest(data):
    """The digest of a *data* object of the EM loop (see ``fastem._passes``).

    Parameters
    ----------
    data : ArrayData, MissingData, StreamData or DaskData

    Returns
    -------
    str
        A hex digest that changes when any value of the data changes.
    """
    source = getattr(data, "source", None)
    if source is not None:  # a streamed source, with parallel weights and labels
        parts = ["stream", source_digest(source)]
        parts += [_extra_digest(data.weights), _extra_digest(data.label_values)]
    elif isinstance(getattr(data, "X", None), np.ndarray):
        parts = ["array", buffer_digest(data.X)]
        parts += [_extra_digest(data.sample_weight), _extra_digest(data.labels)]
    else:  # Dask: hashed on the workers
        parts = ["other", data.fingerprint()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
