"""The entry point: :func:`source` picks the reader for a path or an object."""

from __future__ import annotations

import os
import types

import numpy as np

from ._arrays import H5FileSource, NpySource, SliceSource, ZarrSource, _no_dataset, zarr_array
from ._base import _BLOCK, Source, _err, _optional
from ._callable import CallableSource
from ._tables import ArrowSource, CsvSource


def _module_of(obj):
    return type(obj).__module__.split(".")[0]


def is_source_like(obj):
    """True if ``obj`` is read chunk by chunk rather than as an in-memory array."""
    if isinstance(obj, (Source, str, os.PathLike, types.GeneratorType)):
        return True  # a generator: refused by source() with a message saying what to pass
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
        The dataset inside an HDF5 file or the array inside a zarr group, by
        its path in a sub-group too (``"sub/x"``); optional when there is only
        one.
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


def _must_exist(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file or directory: {path!r}; check the path.")


def _make(obj, chunk_rows, columns, dataset, weight_column):
    cw = (chunk_rows, columns, weight_column)
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        low = path.lower().rstrip("/\\")
        if low.endswith(".npy"):
            _must_exist(path)
            _no_dataset(dataset, "a .npy file")
            return NpySource(path, *cw)
        if low.endswith(".csv"):
            _must_exist(path)
            _no_dataset(dataset, "a .csv file")
            return CsvSource(path, *cw)
        if low.endswith((".h5", ".hdf5", ".he5")):
            return H5FileSource(path, dataset, *cw)
        if low.endswith(".zarr"):
            return ZarrSource(path, dataset, *cw)
        if low.endswith((".parquet", ".pq")):
            _no_dataset(dataset, "a parquet file")
            if os.path.isdir(path):
                pa = _optional("pyarrow", "parquet")
                try:
                    ds = _optional("pyarrow.dataset", "parquet").dataset(path, format="parquet")
                except (OSError, pa.ArrowException) as e:
                    raise _err(repr(path), 0, f"could not open as a parquet dataset ({e})") from e
                if not ds.files:  # (its schema has no columns: "no feature columns selected")
                    raise _err(
                        repr(path),
                        0,
                        "the folder holds no parquet files (a folder is read as the dataset of "
                        "the parquet files under it, names starting with '.' or '_' skipped); "
                        "check the path",
                    )
                return ArrowSource(repr(path), ds, *cw, "dataset", path=path)
            return ArrowSource(repr(path), path, *cw, "parquet")
        ext = os.path.splitext(low)[1] or "(none)"
        folder = (  # (a folder of parquet files is read by its name)
            "; a folder is read as a parquet dataset when its name ends with .parquet, or pass "
            "pyarrow.dataset.dataset(path)"
            if os.path.isdir(path)
            else ""
        )
        raise ValueError(
            f"{path!r}: unsupported format {ext!r}; fastem reads .npy, .csv, .h5/.hdf5, .zarr "
            f"and .parquet files{folder}"
        )
    mod = _module_of(obj)
    tname = type(obj).__name__
    if mod == "h5py":
        h5py = _optional("h5py", "hdf5")
        if isinstance(obj, h5py.Dataset):
            _no_dataset(dataset, "an h5py.Dataset (it is one)")
            return SliceSource(f"h5py.Dataset {obj.name!r}", obj, *cw)
    if mod == "zarr":
        return _zarr_source(obj, f"zarr.{tname}", dataset, cw)
    if mod == "pyarrow":
        _no_dataset(dataset, f"a pyarrow {tname}")
        pa = _optional("pyarrow", "parquet")
        if isinstance(obj, pa.Table):
            return ArrowSource("pyarrow.Table", obj, *cw, "table")
        if hasattr(obj, "to_batches") and hasattr(obj, "count_rows"):
            return ArrowSource(f"pyarrow.{tname}", obj, *cw, "dataset")
    if isinstance(obj, np.ndarray):
        _no_dataset(dataset, "a NumPy array")
        return SliceSource(f"ndarray {obj.shape}", obj, *cw)
    if callable(obj):
        _no_dataset(dataset, "a callable")
        return CallableSource(obj, *cw)
    if isinstance(obj, types.GeneratorType) or (
        hasattr(obj, "__next__") and not hasattr(obj, "__array__")
    ):
        raise TypeError(
            f"got a {tname} (an iterator), which can be read only once, but EM reads the data "
            "once per iteration. Pass a function that returns a fresh iterator of 2-D chunks "
            "on each call, e.g. lambda: make_chunks()."
        )
    frame = hasattr(obj, "to_numpy") and hasattr(obj, "columns")  # (pandas, polars)
    raise TypeError(
        f"cannot read {tname} as a chunked source; pass a path, an h5py.Dataset, a zarr.Array, "
        "a pyarrow Table or dataset, a NumPy array, or a callable returning an iterator of "
        "2-D arrays"
        + (
            f"; a frame in memory as its rows, {tname}.to_numpy() (fit and partial_fit take "
            "the frame itself)."
            if frame
            else "."
        )
    )


def _zarr_source(z, name, dataset, cw):
    arr, _, name = zarr_array(z, name, dataset)
    multiple = int(arr.chunks[0]) if getattr(arr, "chunks", None) else _BLOCK
    return SliceSource(name, arr, *cw, multiple=multiple)
