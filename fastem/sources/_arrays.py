"""Readers of arrays: ``.npy`` files, and anything sliced by rows (ndarray, h5py, zarr)."""

from __future__ import annotations

import os

import numpy as np
from numpy.lib import format as npformat

from ._base import (
    _BLOCK,
    Source,
    _default_chunk_rows,
    _err,
    _is_numeric_dtype,
    _optional,
    advise,
    read_rows,
)


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
            shape, fortran, dtype, self._data_offset, size = _npy_header(self.path)
        except OSError as e:
            raise _err(self.name, 0, f"could not open ({e})") from e
        except ValueError as e:
            raise _err(self.name, 0, f"not a valid .npy file ({e})") from e
        if len(shape) not in (1, 2):
            raise _err(self.name, 0, f"array has shape {shape}; a 2-D array is expected")
        # Fortran order (``np.save(path, frame.to_numpy())``): each column is contiguous,
        # so a chunk of rows is read as one range per column (:meth:`_raw_chunks`)
        self._fortran = bool(fortran) and len(shape) == 2 and shape[1] > 1
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
        self._set_dtype([dtype])
        if self.chunk_rows is None:
            self.chunk_rows = _default_chunk_rows(n_cols, max(dtype.itemsize, 8))
        self._ident = self._identity()

    def _header_key(self):
        return _npy_header(self.path)[:4]

    def direct_layout(self):
        """``(path, data offset)`` if the rows can be read straight into kernel buffers.

        That is when the file holds exactly the rows the estimator sees: every
        column a feature, no weight column, C order, and already in the target
        dtype (float32 or float64, native byte order). Otherwise None.
        """
        self._check_unchanged()  # called before every pass
        dt = self._file_dtype
        if (
            self._feat_idx is None
            and self._w_idx is None
            and dt == self.dtype
            and dt.isnative
            and self._raw_width == self.n_features
            and not self._fortran
        ):
            return self.path, self._data_offset
        return None

    def _raw_chunks(self, n_buffers, ring=None):
        n, step = self.n_rows, self.chunk_rows
        width = self._raw_width
        ring = [] if ring is None else ring
        shape = (min(step, n), width)
        if ring and (ring[0].shape != shape or ring[0].dtype != self._file_dtype):
            ring.clear()
        with open(self.path, "rb", buffering=0) as f:
            advise(f, 0, 0, "POSIX_FADV_SEQUENTIAL")  # cold reads: aggressive read-ahead
            for i, r0 in enumerate(range(0, n, step)):
                m = min(step, n - r0)
                if n_buffers:
                    if len(ring) < n_buffers:
                        ring.append(np.empty(shape, dtype=self._file_dtype))
                    buf = ring[i % n_buffers][:m]
                else:
                    buf = np.empty((m, width), dtype=self._file_dtype)
                if self._fortran:
                    self._read_columns(f, r0, buf)
                else:
                    read_rows(f, self.name, self._data_offset, self._row_bytes, r0, buf)
                yield buf

    def _read_columns(self, f, r0, buf):
        """Rows ``r0 : r0 + len(buf)`` of a Fortran-ordered file: column j's values are
        ``n_rows`` contiguous items from the data offset plus j columns."""
        size = self._file_dtype.itemsize
        column = np.empty((len(buf), 1), dtype=self._file_dtype)
        for j in range(buf.shape[1]):
            offset = self._data_offset + j * self.n_rows * size
            read_rows(f, self.name, offset, size, r0, column)
            buf[:, j] = column[:, 0]


def _npy_header(path):
    """``(shape, fortran_order, dtype, data offset, file size)`` of a ``.npy`` file."""
    with open(path, "rb") as f:
        version = npformat.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            # 3.0 is 2.0's layout with a UTF-8 header: the same bytes for the numeric dtypes
            # read here (numpy's reader for it is private, and gone from numpy.lib.format)
            shape, fortran, dtype = npformat.read_array_header_2_0(f)
        else:
            raise ValueError(
                f".npy format version {version[0]}.{version[1]} is not one this numpy "
                "knows; save the array again with np.save."
            )
        return shape, fortran, dtype, f.tell(), os.fstat(f.fileno()).st_size


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
        self._set_dtype([dtype])
        if self.chunk_rows is None:
            self.chunk_rows = _default_chunk_rows(n_cols, 8, multiple)

    def _open(self):
        return _Nothing(self._arr)

    def _raw_chunks(self, n_buffers, ring=None):
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
        self._ident = self._identity()

    def direct_layout(self):
        """``(path, data offset)`` if the dataset's rows can be read straight into kernel buffers.

        That is a contiguous dataset (not chunked, so not compressed), stored in
        this file, 2-D, every column a feature, already in the target dtype in
        native byte order. Looked up again for every pass: the data may have
        moved if the file was rewritten. Otherwise None.
        """
        self._check_unchanged()  # called before every pass
        if self._feat_idx is not None or self._w_idx is not None:
            return None
        import h5py

        try:
            with h5py.File(self.path, "r") as f:
                ds = f[self.dataset]
                offset = ds.id.get_offset()
                plain = (
                    offset is not None
                    and ds.chunks is None
                    and ds.external is None
                    and not ds.is_virtual
                    and ds.ndim == 2
                    and ds.shape == (self.n_rows, self.n_features)
                    and ds.dtype == self.dtype
                    and ds.dtype.isnative
                )
        except (OSError, KeyError):
            return None  # the reader path reports it
        return (self.path, int(offset)) if plain else None

    def _open(self):
        import contextlib

        import h5py

        @contextlib.contextmanager
        def opened():
            with h5py.File(self.path, "r") as f:
                yield f[self.dataset]

        return opened()


class ZarrSource(SliceSource):
    """An array of a zarr store given by its path: a folder of chunk files, watched.

    The array is opened once, with its shape; the files of its folder (its metadata and
    chunks) and its shape, dtype and chunking as zarr reads them now are its identity
    (:meth:`Source._identity`), so a store rewritten under a kept source is re-opened at the
    next call, and one rewritten during a call is refused: never new chunks read with the old
    shape (rows invented as zeros, or rows lost).
    """

    kind = "zarr"

    def __init__(self, path, dataset, chunk_rows, columns, weight_column):
        zarr = _optional("zarr", "zarr")
        self.path = os.fspath(path)
        name = repr(self.path)
        if not os.path.exists(self.path):
            raise _err(name, 0, "could not open (no such file or directory)")
        try:
            z = zarr.open(self.path, mode="r")
        except Exception as e:
            raise _err(name, 0, f"could not open as zarr ({e})") from e
        arr, self.dataset, name = zarr_array(z, name, dataset)
        multiple = int(arr.chunks[0]) if getattr(arr, "chunks", None) else _BLOCK
        super().__init__(name, arr, chunk_rows, columns, weight_column, multiple=multiple)
        self._ident = self._identity()

    def _watched(self):
        """The array's own folder: a write to another array of the same store is no change."""
        if self.dataset is None:
            return self.path
        return os.path.join(self.path, *self.dataset.split("/"))

    def _header_key(self):
        zarr = _optional("zarr", "zarr")
        try:
            z = zarr.open(self.path, mode="r")
            arr = z if self.dataset is None else z[self.dataset]
            return tuple(arr.shape), str(arr.dtype), tuple(arr.chunks)
        except Exception:  # (zarr's errors are of many types) noticed as a change
            return "unreadable"


def zarr_array(z, name, dataset):
    """``(array, dataset, name)``: ``dataset`` of the zarr group ``z``, or ``z`` if an array.

    ``dataset`` may be a path to an array in a sub-group (``"sub/x"``, as for HDF5); it may
    be left out when the group holds one array (at any depth).
    """
    zarr = _optional("zarr", "zarr")
    if not isinstance(z, zarr.Group):
        _no_dataset(dataset, f"{name}, a zarr array (not a group)")
        return z, None, name
    names = _zarr_arrays(z, zarr)
    if dataset is None:
        if len(names) != 1:
            where = f"one of the arrays {names}" if names else "an array; it holds none"
            raise ValueError(f"{name}: pass dataset= to choose {where}")
        dataset = names[0]
    dataset = str(dataset).strip("/")
    if dataset not in names:
        raise ValueError(f"{name}: no array {dataset!r}; arrays are {names}")
    return z[dataset], dataset, f"{name}[{dataset!r}]"


def _zarr_arrays(group, zarr):
    """The paths of every array under ``group``, sub-groups included (``"sub/x"``), sorted."""
    found = []
    if hasattr(group, "members"):  # zarr 3
        for path, member in group.members(max_depth=None):
            if isinstance(member, zarr.Array):
                found.append(path)
    else:  # zarr 2
        group.visititems(lambda path, v: found.append(path) if isinstance(v, zarr.Array) else None)
    return sorted(found)


def _no_dataset(dataset, what):
    """Refuse ``dataset=`` where there is nothing to choose (it was silently ignored)."""
    if dataset is not None:
        raise ValueError(
            f"dataset={dataset!r} applies to HDF5 files and zarr groups only, not to {what}; "
            "leave it out."
        )
