"""``out=``: row-wise results written chunk by chunk, to a ``.npy`` path or an array.

For results that do not fit in memory themselves (``predict_proba`` of a
source, say). A path is written to a temporary file next to it and renamed
over it only when every row is written: a failed run leaves what was at the
path untouched.
"""

from __future__ import annotations

import os

import numpy as np

from ._files import replacing
from ._paths import check_outputs
from ._validation import check_densities
from .sources._base import _err


class _NpyWriter:
    """Writes ``.npy`` rows range by range to the open file ``f``; ``finish`` fixes the header."""

    HEADER = 128  # bytes: room for any shape

    def __init__(self, f, dtype, row_shape):
        self.f = f
        self.dtype = np.dtype(dtype)
        self.row_shape = row_shape
        self.n = 0
        self._header(0)

    def _header(self, n):
        d = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (n, *self.row_shape),
        }
        text = repr(d).encode("latin1")
        pad = self.HEADER - 10 - len(text) - 1
        self.f.seek(0)
        self.f.write(b"\x93NUMPY\x01\x00" + (self.HEADER - 10).to_bytes(2, "little"))
        self.f.write(text + b" " * pad + b"\n")
        self.f.seek(0, os.SEEK_END)

    def write(self, offset, values):
        assert offset == self.n
        self.f.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.n += values.shape[0]

    def finish(self):
        self._header(self.n)


def _check_out_dtype(out, dtype, n_components):
    """Refuse an ``out`` array whose dtype cannot hold the results (ints for probabilities)."""
    have = getattr(out, "dtype", None)
    try:
        have = None if have is None else np.dtype(have)
    except TypeError:
        have = None
    if have is None:
        return
    if dtype.kind == "f":
        ok = have.kind == "f"
        need = "a floating-point dtype (float64)"
    else:  # labels: any integer dtype that holds 0 .. n_components - 1, or a float dtype
        ok = have.kind == "f" or (have.kind in "iu" and np.iinfo(have).max >= n_components - 1)
        need = f"an integer dtype that holds {n_components - 1} (int64) or a float dtype"
    if not ok:
        raise ValueError(f"out has dtype {have}, which cannot hold the results; pass {need}.")
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError("out is a read-only array; pass a writable one.")


class _ArrayWriter:
    def __init__(self, out, n, row_shape):
        shape = tuple(getattr(out, "shape", ()))
        if (
            len(shape) != 1 + len(row_shape)
            or tuple(shape[1:]) != tuple(row_shape)
            or (n is not None and shape[0] != n)
        ):
            want = ("n_samples" if n is None else n, *row_shape)
            raise ValueError(f"out has shape {shape}, expected {want}.")
        self.out = out
        self.n = shape[0]
        self.rows = 0

    def write(self, offset, values):
        if offset + values.shape[0] > self.n:
            raise ValueError(f"out has {self.n} rows, but the data has more.")
        self.rows = offset + values.shape[0]
        self.out[offset : offset + values.shape[0]] = values

    def finish(self):
        if self.rows != self.n:
            raise ValueError(f"out has {self.n} rows, but the data has {self.rows}.")


def rowwise_to(data, params, n_threads, out, float_dtype=np.float64, **what):
    """Row-wise results written chunk by chunk to ``out`` (a ``.npy`` path or an array).

    ``float_dtype``: the dtype of a ``.npy`` file of probabilities or
    log-likelihoods, that of the in-memory results (float32 for float32 data
    and parameters, as in scikit-learn). Returns the 3-tuple of the data
    protocol with the requested entry being ``out`` (or, for a path, the
    written file memory-mapped read-only).
    """
    (key,) = [k for k, v in what.items() if v]
    index = {"logprob": 0, "resp": 1, "labels": 2}[key]
    K = params.mu.shape[0]
    row_shape = (K,) if key == "resp" else ()
    dtype = np.int64 if key == "labels" else np.float64
    file_dtype = dtype if key == "labels" else np.dtype(float_dtype)

    # labels and probabilities: the log-likelihood too, to refuse rows where it underflows
    want = dict(what, logprob=True)

    def write_all(writer):
        rows = 0
        # piece by piece: a source's chunks, an array's rows, a Dask array's blocks
        for offset, res in data.iter_rowwise(params, n_threads, **want):
            if key != "logprob":
                check_densities(res[0], offset)
            writer.write(offset, res[index])
            rows += res[index].shape[0]
            res = None  # (not held while the next piece is computed)
        if rows == 0 and hasattr(data, "source"):  # as without out= (an empty file written)
            raise _err(data.source.name, 0, "the source holds no rows")
        writer.finish()

    if isinstance(out, (str, os.PathLike)):
        if not os.fspath(out).lower().endswith(".npy"):
            raise ValueError(
                f"out={os.fspath(out)!r}: a path must end with .npy; for other formats pass a "
                "writable array (an h5py.Dataset, a zarr.Array, a NumPy memmap)."
            )
        check_outputs([("out=", out)], [data])  # never the data it reads
        with replacing(out, suffix=".npy.partial") as f:  # a failed run keeps the old file
            write_all(_NpyWriter(f, file_dtype, row_shape))
        result = np.load(out, mmap_mode="r")
    else:
        _check_out_dtype(out, np.dtype(dtype), K)
        write_all(_ArrayWriter(out, data.n_samples, row_shape))
        result = out
    return tuple(result if i == index else None for i in range(3))
