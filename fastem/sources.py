"""Chunked data sources: read a table row range by row range, never all at once.

:func:`source` wraps a file path or an array-like object into a re-iterable
:class:`Source`. Iterating a source yields 2-D float arrays of consecutive rows;
every chunk is validated (width, numeric values, no NaN or infinity) before it
is handed out, and a problem raises :class:`SourceError` (a ``ValueError``)
that names the source and the row offset of the offending row.

Supported inputs
----------------
============================  =========================================  ==========
input                         read by                                    extra
============================  =========================================  ==========
``*.npy`` path                explicit ``readinto`` of row ranges        --
``*.csv`` path (header row)   lines in chunks, parsed by ``np.loadtxt``  --
``*.h5`` / ``*.hdf5`` path    row slices of ``dataset=``                 ``hdf5``
``*.zarr`` path               row slices, aligned on the zarr chunks     ``zarr``
``*.parquet`` path            record batches (``columns=`` selects)      ``parquet``
``h5py.Dataset``              row slices                                 ``hdf5``
``zarr.Array``                row slices                                 ``zarr``
``pyarrow.Table`` / dataset   record batches                             ``parquet``
``numpy.ndarray``             row slices (views)                         --
callable                      ``obj()`` returns an iterator of chunks    --
============================  =========================================  ==========

The optional formats import their library only when used; a missing library
raises an ``ImportError`` that names the extra to install.

:func:`prefetch` runs an iterator in a background thread, a fixed number of
items ahead: while a kernel (which releases the GIL) works on one chunk, the
next one is read and validated.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from itertools import islice

import numpy as np
from numpy.lib import format as npformat

__all__ = ["Source", "SourceError", "prefetch", "source"]

#: Target size of one chunk when ``chunk_rows`` is not given.
DEFAULT_CHUNK_BYTES = 32 << 20
_BLOCK = 256


class SourceError(ValueError):
    """A chunk of a source could not be read or is not valid input.

    The message names the source and the row offset at which the problem was found.
    """


def _err(name, offset, msg):
    return SourceError(f"{name}, row offset {offset}: {msg}")


def _optional(module, extra):
    """Import an optional dependency, or say which extra provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"reading this source needs the optional dependency {module.split('.')[0]!r}; "
            f"install it with: pip install 'fastem[{extra}]'"
        ) from None


def _default_chunk_rows(n_columns, itemsize=8, multiple=_BLOCK):
    rows = max(multiple, DEFAULT_CHUNK_BYTES // max(1, n_columns * itemsize))
    return max(multiple, rows // multiple * multiple)


def _target_dtype(dtypes):
    """float32 if every column is float32, else float64 (as the in-memory path)."""
    dtypes = list(dtypes)
    if dtypes and all(np.dtype(d) == np.float32 for d in dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _is_numeric_dtype(dtype):
    dtype = np.dtype(dtype)
    return dtype.fields is None and not dtype.hasobject and dtype.kind in "biuf"


# ----------------------------------------------------------------------------
# the base class
# ----------------------------------------------------------------------------


class Source:
    """A re-iterable, chunked, validated table of numbers.

    Do not instantiate directly: use :func:`source`. Each iteration is a fresh
    pass over the data from the first row; it yields C-contiguous float32 (if
    the data is float32) or float64 arrays of shape ``(rows, n_features)``.

    Attributes
    ----------
    name : str
        How error messages refer to the source.
    n_rows : int or None
        Number of rows; None until the first full pass when it cannot be known
        in advance (CSV files, callables).
    n_features : int
        Number of feature columns (the weight column, if any, excluded).
    dtype : numpy.dtype
        float32 or float64, the dtype chunks are yielded in.
    chunk_rows : int or None
        Rows per chunk read (None for callables: their chunks are used as they come).
    weight_column : int or str or None
        The column holding sample weights, excluded from the features.
    """

    kind = "source"

    def __init__(self, name, chunk_rows, columns, weight_column):
        self.name = name
        self.chunk_rows = None if chunk_rows is None else int(chunk_rows)
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}.")
        self.columns = columns
        self.weight_column = weight_column
        self.n_rows = None
        self.n_features = None
        self.dtype = np.dtype(np.float64)
        self._feat_idx = None  # indices into the raw chunk's columns, None = all
        self._w_idx = None  # index of the weight column in the raw chunk
        self._raw_width = None
        self._args = {}

    # -- to be provided by readers -------------------------------------------

    def _raw_chunks(self, n_buffers):
        """Yield raw 2-D chunks in order (may reuse ``n_buffers`` buffers)."""
        raise NotImplementedError

    # -- common machinery ----------------------------------------------------

    @property
    def shape(self):
        """``(n_rows, n_features)``; counts the rows if they are not known yet.

        Counting costs a pass over the lines of a CSV file, or a pass over the
        chunks of a callable.
        """
        if self.n_rows is None:
            self.n_rows = self._count_rows()
        return (self.n_rows, self.n_features)

    def _count_rows(self):
        n = 0
        for _, X, _ in self._chunks(None):
            n += X.shape[0]
        return n

    def __repr__(self):
        rows = "?" if self.n_rows is None else self.n_rows
        return f"<fastem {self.kind} source {self.name}: {rows} x {self.n_features} {self.dtype}>"

    def _resolve_columns(self, names, n_columns):
        """Set ``_feat_idx`` / ``_w_idx`` from ``columns`` and ``weight_column``."""

        def index(c):
            if isinstance(c, str) and (names is None or c not in names):
                try:  # "2" from a command line: an index where it names no column
                    c = int(c)
                except ValueError:
                    pass
            if isinstance(c, str):
                if names is None or c not in names:
                    raise ValueError(
                        f"{self.name}: no column {c!r}"
                        + (f"; columns are {list(names)}" if names is not None else "")
                    )
                return list(names).index(c)
            if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
                if not -n_columns <= c < n_columns:
                    raise ValueError(
                        f"{self.name}: column {c} out of range for {n_columns} columns"
                    )
                return int(c) % n_columns
            raise ValueError(f"{self.name}: columns are selected by name or index, got {c!r}")

        w = None if self.weight_column is None else index(self.weight_column)
        if self.columns is None:
            feat = [i for i in range(n_columns) if i != w]
        else:
            feat = [index(c) for c in self.columns]
        if not feat:
            raise ValueError(f"{self.name}: no feature columns selected")
        self._w_idx = w
        self._feat_idx = None if (w is None and feat == list(range(n_columns))) else feat
        self.n_features = len(feat)
        self._raw_width = n_columns

    def _finish(self, offset, raw):
        """Validate one raw chunk; return ``(X, w)`` (``w`` None without weight column)."""
        if not isinstance(raw, np.ndarray):
            try:
                raw = np.asarray(raw)
            except (TypeError, ValueError) as e:
                raise _err(self.name, offset, f"chunk is not an array of numbers ({e})") from None
        if raw.ndim == 1 and self._raw_width == 1:
            raw = raw[:, None]
        if raw.ndim != 2:
            raise _err(self.name, offset, f"chunk has {raw.ndim} dimensions, expected 2")
        if raw.shape[1] != self._raw_width:
            raise _err(
                self.name, offset, f"chunk has {raw.shape[1]} columns, expected {self._raw_width}"
            )
        if not _is_numeric_dtype(raw.dtype):
            try:
                raw = raw.astype(np.float64)
            except (TypeError, ValueError):
                bad = _first_non_numeric(raw)
                raise _err(
                    self.name, offset + bad, f"non-numeric value in chunk of dtype {raw.dtype}"
                ) from None
        w = None
        if self._w_idx is not None:
            w = np.ascontiguousarray(raw[:, self._w_idx], dtype=np.float64)
        X = raw if self._feat_idx is None else raw[:, self._feat_idx]
        X = np.ascontiguousarray(X, dtype=self.dtype)
        _check_finite(X, self.name, offset, "value", allow_nan=getattr(self, "allow_nan", False))
        if w is not None:
            _check_weights(w, self.name, offset)
        return X, w

    def _chunks(self, n_buffers=None):
        """Yield validated ``(offset, X, w)``; count the rows of a full pass.

        With ``n_buffers`` a reader may reuse that many buffers in a ring, so a
        consumer must be done with a chunk before asking for the next one after
        ``n_buffers - 1`` more.
        """
        offset = 0
        raw_iter = self._raw_chunks(n_buffers)
        try:
            while True:
                try:
                    raw = next(raw_iter)
                except StopIteration:
                    break
                except SourceError:
                    raise
                except Exception as e:  # an unreadable file, a failing callable
                    raise _err(
                        self.name, offset, f"could not read ({type(e).__name__}: {e})"
                    ) from e
                X, w = self._finish(offset, raw)
                if X.shape[0] == 0:
                    continue
                yield offset, X, w
                offset += X.shape[0]
        finally:
            close = getattr(raw_iter, "close", None)
            if close is not None:
                close()
        if self.n_rows is None:
            self.n_rows = offset
        elif offset != self.n_rows:
            raise _err(self.name, offset, f"pass ended after {offset} rows, expected {self.n_rows}")

    def __iter__(self):
        for _, X, _ in self._chunks(None):
            yield X

    def read(self):
        """All rows in one in-memory array (for data that fits in memory).

        Returns
        -------
        X : ndarray of shape (n_rows, n_features)
        """
        parts = [X.copy() for _, X, _ in self._chunks(None)]
        if not parts:
            return np.empty((0, self.n_features), dtype=self.dtype)
        return np.concatenate(parts)

    def _reopen(self, **changes):
        """The same source with some of :func:`source`'s arguments changed."""
        args = dict(self._args)
        args.update(changes)
        obj = args.pop("obj")
        return source(obj, **args)


def _first_non_numeric(raw):
    for i, row in enumerate(raw):
        try:
            np.asarray(row, dtype=np.float64)
        except (TypeError, ValueError):
            return i
    return 0


def _check_finite(X, name, offset, what, allow_nan=False):
    # fast path: a finite sum means every value is finite (no allocation)
    if X.size and not np.isfinite(X.sum()):
        bad = np.isinf(X) if allow_nan else ~np.isfinite(X)
        if bad.any():
            row = int(np.argmax(bad.any(axis=1)))
            raise _err(name, offset + row, f"NaN or infinite {what}; fastem needs finite input")


def _check_weights(w, name, offset):
    _check_finite(w[:, None], name, offset, "sample weight")
    if w.size and w.min() < 0:
        row = int(np.argmax(w < 0))
        raise _err(name, offset + row, "negative sample weight; weights must be >= 0")


# ----------------------------------------------------------------------------
# readers
# ----------------------------------------------------------------------------


class NpySource(Source):
    """A ``.npy`` file read by explicit reads of row ranges into reusable buffers.

    Unlike ``np.load(mmap_mode='r')``, resident memory does not grow with the
    part of the file already read: only the chunk buffers are resident.
    """

    kind = "npy"

    def __init__(self, path, chunk_rows, columns, weight_column):
        super().__init__(repr(os.fspath(path)), chunk_rows, columns, weight_column)
        self.path = os.fspath(path)
        try:
            with open(self.path, "rb") as f:
                version = npformat.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = npformat.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = npformat.read_array_header_2_0(f)
                else:
                    shape, fortran, dtype = npformat._read_array_header(f, version)
                self._data_offset = f.tell()
                size = os.fstat(f.fileno()).st_size
        except OSError as e:
            raise _err(self.name, 0, f"could not open ({e})") from e
        except ValueError as e:
            raise _err(self.name, 0, f"not a valid .npy file ({e})") from e
        if len(shape) not in (1, 2):
            raise _err(self.name, 0, f"array has shape {shape}; a 2-D array is expected")
        if fortran and len(shape) == 2 and shape[1] > 1:
            raise _err(
                self.name, 0, "array is Fortran-ordered; save it C-ordered to read it row by row"
            )
        if not _is_numeric_dtype(dtype):
            raise _err(self.name, 0, f"non-numeric dtype {dtype}")
        n_rows = int(shape[0])
        n_cols = int(shape[1]) if len(shape) == 2 else 1
        self._file_dtype = dtype
        self._row_bytes = n_cols * dtype.itemsize
        have = max(0, size - self._data_offset)
        if have < n_rows * self._row_bytes:
            raise _err(
                self.name,
                have // max(1, self._row_bytes),
                f"file is truncated: header says {n_rows} rows of {self._row_bytes} bytes, "
                f"but only {have} data bytes are present",
            )
        self._resolve_columns(None, n_cols)
        self.n_rows = n_rows
        self.dtype = _target_dtype([dtype])
        if self.chunk_rows is None:
            self.chunk_rows = _default_chunk_rows(n_cols, max(dtype.itemsize, 8))

    def _raw_chunks(self, n_buffers):
        n, step, rb = self.n_rows, self.chunk_rows, self._row_bytes
        width = self._raw_width
        ring = []
        with open(self.path, "rb", buffering=0) as f:
            if hasattr(os, "posix_fadvise"):  # cold reads: ask for aggressive read-ahead
                try:
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                except OSError:
                    pass
            f.seek(self._data_offset)
            for i, r0 in enumerate(range(0, n, step)):
                m = min(step, n - r0)
                if n_buffers:
                    if len(ring) < n_buffers:
                        ring.append(np.empty((min(step, n), width), dtype=self._file_dtype))
                    buf = ring[i % n_buffers][:m]
                else:
                    buf = np.empty((m, width), dtype=self._file_dtype)
                view = memoryview(buf.reshape(-1).view(np.uint8))
                got = 0
                while got < m * rb:
                    k = f.readinto(view[got:])
                    if not k:
                        raise _err(
                            self.name, r0 + got // rb, "file is truncated: unexpected end of file"
                        )
                    got += k
                yield buf


class SliceSource(Source):
    """Anything with ``shape``, ``dtype`` and row slicing: ndarray, h5py, zarr."""

    kind = "array"

    def __init__(self, name, arr, chunk_rows, columns, weight_column, multiple=_BLOCK):
        super().__init__(name, chunk_rows, columns, weight_column)
        self._arr = arr
        shape = tuple(arr.shape)
        if len(shape) not in (1, 2):
            raise _err(self.name, 0, f"array has shape {shape}; a 2-D array is expected")
        dtype = np.dtype(arr.dtype)
        if not _is_numeric_dtype(dtype):
            raise _err(self.name, 0, f"non-numeric dtype {dtype}")
        n_cols = shape[1] if len(shape) == 2 else 1
        self._resolve_columns(None, n_cols)
        self.n_rows = int(shape[0])
        self.dtype = _target_dtype([dtype])
        if self.chunk_rows is None:
            self.chunk_rows = _default_chunk_rows(n_cols, 8, multiple)

    def _open(self):
        return _Nothing(self._arr)

    def _raw_chunks(self, n_buffers):
        with self._open() as arr:
            for r0 in range(0, self.n_rows, self.chunk_rows):
                chunk = arr[r0 : r0 + self.chunk_rows]
                yield np.asarray(chunk)


class _Nothing:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return False


class H5FileSource(SliceSource):
    """A dataset of an HDF5 file, opened for each pass."""

    kind = "hdf5"

    def __init__(self, path, dataset, chunk_rows, columns, weight_column):
        h5py = _optional("h5py", "hdf5")
        self.path = os.fspath(path)
        name = repr(self.path)
        try:
            with h5py.File(self.path, "r") as f:
                if dataset is None:
                    found = []
                    f.visititems(
                        lambda k, v: found.append(k) if isinstance(v, h5py.Dataset) else None
                    )
                    if len(found) != 1:
                        raise ValueError(
                            f"{name}: pass dataset= to choose one of the datasets {found}"
                        )
                    dataset = found[0]
                if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
                    raise ValueError(f"{name}: no dataset {dataset!r} in the file")
                ds = f[dataset]
                self.dataset = dataset
                super().__init__(f"{name}[{dataset!r}]", ds, chunk_rows, columns, weight_column)
        except OSError as e:
            raise _err(name, 0, f"could not open as HDF5 ({e})") from e
        self._arr = None

    def _open(self):
        import contextlib

        import h5py

        @contextlib.contextmanager
        def opened():
            with h5py.File(self.path, "r") as f:
                yield f[self.dataset]

        return opened()


class ArrowSource(Source):
    """A parquet file, a ``pyarrow.Table`` or a ``pyarrow.dataset.Dataset``, batch by batch."""

    kind = "arrow"

    def __init__(self, name, obj, chunk_rows, columns, weight_column, kind):
        super().__init__(name, chunk_rows, columns, weight_column)
        pa = _optional("pyarrow", "parquet")
        self.kind = kind
        self._obj = obj
        if kind == "parquet":
            pq = _optional("pyarrow.parquet", "parquet")
            try:
                pf = pq.ParquetFile(obj)
            except (OSError, pa.ArrowException) as e:
                raise _err(self.name, 0, f"could not open as parquet ({e})") from e
            schema = pf.schema_arrow
            self.n_rows = pf.metadata.num_rows
        elif kind == "table":
            schema = obj.schema
            self.n_rows = obj.num_rows
        else:
            schema = obj.schema
            self.n_rows = None
        names = list(schema.names)
        self._resolve_columns(names, len(names))
        wanted = list(range(len(names))) if self._feat_idx is None else list(self._feat_idx)
        if self._w_idx is not None:
            wanted.append(self._w_idx)
        for i in wanted:
            t = schema.field(i).type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
                raise _err(self.name, 0, f"column {names[i]!r} has non-numeric type {t}")
        self._names = [names[i] for i in wanted]
        # the raw chunk holds the selected columns only, weight column last
        n_feat = self.n_features
        self._raw_width = len(wanted)
        self._feat_idx = None if self._w_idx is None else list(range(n_feat))
        self._w_idx = None if self._w_idx is None else n_feat
        self.dtype = _target_dtype(
            schema.field(names.index(c)).type.to_pandas_dtype() for c in self._names[:n_feat]
        )
        self.feature_names = self._names[:n_feat]
        if self.chunk_rows is None:
            self.chunk_rows = _default_chunk_rows(self._raw_width, 8)

    def _batches(self):
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(self._obj)
            return pf.iter_batches(batch_size=self.chunk_rows, columns=self._names)
        if self.kind == "table":
            return self._obj.select(self._names).to_batches(max_chunksize=self.chunk_rows)
        return self._obj.to_batches(columns=self._names, batch_size=self.chunk_rows)

    def _raw_chunks(self, n_buffers):
        dtype = self.dtype if self._w_idx is None else np.float64
        for batch in self._batches():
            out = np.empty((batch.num_rows, self._raw_width), dtype=dtype)
            for j in range(self._raw_width):
                out[:, j] = batch.column(j).to_numpy(zero_copy_only=False)
            yield out


class CsvSource(Source):
    """A CSV file with a header row, parsed ``chunk_rows`` lines at a time."""

    kind = "csv"

    def __init__(self, path, chunk_rows, columns, weight_column, delimiter=","):
        self.path = os.fspath(path)
        super().__init__(repr(self.path), chunk_rows, columns, weight_column)
        self.delimiter = delimiter
        try:
            with open(self.path, newline="") as f:
                header = f.readline()
        except (OSError, UnicodeDecodeError) as e:
            raise _err(self.name, 0, f"could not open ({e})") from e
        if not header.strip():
            raise _err(self.name, 0, "no header row")
        names = [c.strip().strip('"').strip("'") for c in header.rstrip("\r\n").split(delimiter)]
        self._resolve_columns(names, len(names))
        self.feature_names = [names[i] for i in (self._feat_idx or range(len(names)))]
        if self.chunk_rows is None:
            self.chunk_rows = _default_chunk_rows(len(names), 24)

    def _count_rows(self):
        """Non-blank lines after the header, without parsing them."""
        try:
            with open(self.path, "rb") as f:
                f.readline()
                return sum(1 for line in f if line.strip())
        except OSError as e:
            raise _err(self.name, 0, f"could not read ({e})") from e

    def _raw_chunks(self, n_buffers):
        with open(self.path, newline="") as f:
            f.readline()
            while True:
                lines = [ln for ln in islice(f, self.chunk_rows) if ln.strip()]
                if not lines:
                    return
                yield self._parse(lines)

    def _parse(self, lines):
        try:
            return np.loadtxt(
                lines, delimiter=self.delimiter, dtype=np.float64, ndmin=2, quotechar='"'
            )
        except ValueError:
            pass
        # find the offending line, so that the error names its row
        for i, line in enumerate(lines):
            fields = line.rstrip("\r\n").split(self.delimiter)
            if len(fields) != self._raw_width:
                return _BadChunk(i, f"row has {len(fields)} columns, expected {self._raw_width}")
            try:
                [float(v.strip().strip('"')) for v in fields]
            except ValueError:
                return _BadChunk(i, f"non-numeric value in line {line.strip()!r}")
        return _BadChunk(0, "could not parse the chunk")

    def _finish(self, offset, raw):
        if isinstance(raw, _BadChunk):
            raise _err(self.name, offset + raw.row, raw.msg)
        return super()._finish(offset, raw)


class _BadChunk:
    def __init__(self, row, msg):
        self.row, self.msg = row, msg


class CallableSource(Source):
    """A callable returning a fresh iterator of 2-D arrays on each call."""

    kind = "callable"

    def __init__(self, func, chunk_rows, columns, weight_column):
        name = getattr(func, "__qualname__", None) or type(func).__name__
        super().__init__(f"callable {name}", None, columns, weight_column)
        self._func = func
        try:
            it = iter(func())
            try:
                first = next(it)
            finally:
                if hasattr(it, "close"):
                    it.close()
        except StopIteration:
            raise _err(self.name, 0, "the iterator yielded no chunk") from None
        except Exception as e:
            raise _err(self.name, 0, f"could not read ({type(e).__name__}: {e})") from e
        first = np.asarray(first)
        if first.ndim == 1:
            first = first[:, None]
        if first.ndim != 2:
            raise _err(self.name, 0, f"chunk has {first.ndim} dimensions, expected 2")
        self._resolve_columns(None, first.shape[1])
        self.dtype = _target_dtype([first.dtype]) if _is_numeric_dtype(first.dtype) else self.dtype

    def _raw_chunks(self, n_buffers):
        yield from self._func()


# ----------------------------------------------------------------------------
# the entry point
# ----------------------------------------------------------------------------


def _module_of(obj):
    return type(obj).__module__.split(".")[0]


def is_source_like(obj):
    """True if ``obj`` is read chunk by chunk rather than as an in-memory array."""
    if isinstance(obj, (Source, str, os.PathLike)):
        return True
    mod = _module_of(obj)
    if mod in ("h5py", "zarr", "pyarrow"):
        return True
    return callable(obj) and not hasattr(obj, "__array__") and not hasattr(obj, "shape")


def source(obj, *, chunk_rows=None, columns=None, dataset=None, weight_column=None):
    """A re-iterable chunked source over a file or array too big for memory.

    Parameters
    ----------
    obj : path, array-like or callable
        A path to a ``.npy``, ``.csv`` (with a header row), ``.h5``/``.hdf5``,
        ``.zarr`` or ``.parquet`` file; an ``h5py.Dataset``, a ``zarr.Array``, a
        ``pyarrow.Table`` or ``pyarrow.dataset.Dataset``, a NumPy array; or a
        callable that returns a fresh iterator of 2-D arrays on each call. A
        :class:`Source` is returned as is.
    chunk_rows : int, default=None
        Rows per chunk; by default about 32 MB of data per chunk (a multiple of
        the zarr chunking for zarr). Ignored for callables, whose chunks are
        used as they come.
    columns : list of str or int, default=None
        The feature columns, by name (parquet, arrow, CSV) or index; by default
        all columns but the weight column.
    dataset : str, default=None
        The dataset inside an HDF5 file or the array inside a zarr group
        (optional when there is only one).
    weight_column : str or int, default=None
        A column holding the sample weights (excluded from the features).

    Returns
    -------
    Source
        Iterating it yields validated float32/float64 chunks of shape
        ``(rows, n_features)``; pass it to ``GaussianMixture.fit``, ``score``,
        ``score_samples``, ``predict`` and ``predict_proba``.

    Raises
    ------
    SourceError
        (a ``ValueError``) for an unreadable, truncated or non-numeric input,
        naming the source and the row offset.
    ImportError
        when the format needs an optional extra that is not installed.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> import fastem
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.arange(20.0).reshape(10, 2))
    >>> src = fastem.source(path, chunk_rows=4)
    >>> src.shape
    (10, 2)
    >>> [chunk.shape[0] for chunk in src]
    [4, 4, 2]
    >>> src = fastem.source(lambda: iter([np.ones((3, 2)), np.zeros((2, 2))]))
    >>> sum(len(c) for c in src), src.n_rows
    (5, 5)
    """
    if isinstance(obj, Source):
        if chunk_rows is None and columns is None and dataset is None and weight_column is None:
            return obj
        return obj._reopen(
            **{
                k: v
                for k, v in dict(
                    chunk_rows=chunk_rows,
                    columns=columns,
                    dataset=dataset,
                    weight_column=weight_column,
                ).items()
                if v is not None
            }
        )
    args = dict(
        obj=obj,
        chunk_rows=chunk_rows,
        columns=columns,
        dataset=dataset,
        weight_column=weight_column,
    )
    src = _make(obj, chunk_rows, columns, dataset, weight_column)
    src._args = args
    return src


def _make(obj, chunk_rows, columns, dataset, weight_column):
    cw = (chunk_rows, columns, weight_column)
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        low = path.lower().rstrip("/\\")
        if low.endswith(".npy"):
            return NpySource(path, *cw)
        if low.endswith(".csv"):
            return CsvSource(path, *cw)
        if low.endswith((".h5", ".hdf5", ".he5")):
            return H5FileSource(path, dataset, *cw)
        if low.endswith(".zarr"):
            zarr = _optional("zarr", "zarr")
            if not os.path.exists(path):
                raise _err(repr(path), 0, "could not open (no such file or directory)")
            try:
                z = zarr.open(path, mode="r")
            except Exception as e:
                raise _err(repr(path), 0, f"could not open as zarr ({e})") from e
            return _zarr_source(z, repr(path), dataset, cw)
        if low.endswith((".parquet", ".pq")):
            if os.path.isdir(path):
                ds = _optional("pyarrow.dataset", "parquet")
                return ArrowSource(repr(path), ds.dataset(path, format="parquet"), *cw, "dataset")
            return ArrowSource(repr(path), path, *cw, "parquet")
        ext = os.path.splitext(low)[1] or "(none)"
        raise ValueError(
            f"{path!r}: unsupported format {ext!r}; fastem reads .npy, .csv, .h5/.hdf5, .zarr "
            "and .parquet files"
        )
    mod = _module_of(obj)
    tname = type(obj).__name__
    if mod == "h5py":
        h5py = _optional("h5py", "hdf5")
        if isinstance(obj, h5py.Dataset):
            return SliceSource(f"h5py.Dataset {obj.name!r}", obj, *cw)
    if mod == "zarr":
        return _zarr_source(obj, f"zarr.{tname}", dataset, cw)
    if mod == "pyarrow":
        pa = _optional("pyarrow", "parquet")
        if isinstance(obj, pa.Table):
            return ArrowSource("pyarrow.Table", obj, *cw, "table")
        if hasattr(obj, "to_batches") and hasattr(obj, "count_rows"):
            return ArrowSource(f"pyarrow.{tname}", obj, *cw, "dataset")
    if isinstance(obj, np.ndarray):
        return SliceSource(f"ndarray {obj.shape}", obj, *cw)
    if callable(obj):
        return CallableSource(obj, *cw)
    raise TypeError(
        f"cannot read {tname} as a chunked source; pass a path, an h5py.Dataset, a zarr.Array, "
        "a pyarrow Table or dataset, a NumPy array, or a callable returning an iterator of "
        "2-D arrays."
    )


def _zarr_source(z, name, dataset, cw):
    zarr = _optional("zarr", "zarr")
    if isinstance(z, zarr.Group):
        names = [k for k, _ in z.arrays()]
        if dataset is None:
            if len(names) != 1:
                raise ValueError(f"{name}: pass dataset= to choose one of the arrays {names}")
            dataset = names[0]
        if dataset not in names:
            raise ValueError(f"{name}: no array {dataset!r}; arrays are {names}")
        z = z[dataset]
        name = f"{name}[{dataset!r}]"
    multiple = int(z.chunks[0]) if getattr(z, "chunks", None) else _BLOCK
    return SliceSource(name, z, *cw, multiple=multiple)


# ----------------------------------------------------------------------------
# background prefetch and progress
# ----------------------------------------------------------------------------

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
    try:
        while True:
            ok, item = q.get()
            if ok:
                yield item
            elif item is _DONE:
                return
            else:
                raise item
    finally:
        stop.set()
        thread.join()


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
