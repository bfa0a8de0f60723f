"""Reading the DATA argument: a chunked source, or NumPy for .csv and .npy files."""

from __future__ import annotations

import os

import numpy as np


def _csv_columns(path, columns):
    """(header names or None, indices to read or None, rows to skip) of a CSV file."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    if not first.strip():
        raise ValueError(f"{path} is empty.")
    fields = [h.strip().strip('"').strip("'") for h in first.rstrip("\r\n").split(",")]
    try:
        [float(h) for h in fields]
        names, skip = None, 0  # no header row
    except ValueError:
        names, skip = fields, 1
    if not columns:
        return names, None, skip
    idx = []
    for c in columns:
        if names is not None and c in names:
            idx.append(names.index(c))
            continue
        try:
            i = int(c)
        except ValueError:
            known = ", ".join(names) if names else "none (the file has no header row)"
            raise ValueError(f"no column {c!r} in {path}; columns are: {known}.") from None
        if not -len(fields) <= i < len(fields):
            raise ValueError(
                f"column index {i} is out of range for {path} ({len(fields)} columns)."
            )
        idx.append(i % len(fields))
    return names, idx, skip


def _read_data(path, columns=None, dataset=None, chunk_rows=None, weight_column=None):
    """The data at ``path``: a :func:`fastem.source` where fastem has one, else an array.

    Without ``fastem.source``, ``.csv`` (with or without a header row) and
    ``.npy`` files are read into memory with NumPy.

    Parameters
    ----------
    path : str
        The data file.
    columns : list of str, default=None
        Column names or integer indices to use; all columns by default.
    dataset : str, default=None
        The dataset inside an HDF5 or Zarr file.
    chunk_rows : int, default=None
        Rows per chunk when streaming.
    weight_column : str, default=None
        The column (name or integer index) of the rows' sample weights, never a feature.

    Returns
    -------
    data : ndarray of shape (n_samples, n_features) or a data source
    """
    import fastem

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    source = getattr(fastem, "source", None)
    if source is not None:
        kwargs = {"chunk_rows": chunk_rows, "columns": columns, "dataset": dataset}
        kwargs["weight_column"] = weight_column  # a name, or an index as a string of digits
        return source(path, **{k: v for k, v in kwargs.items() if v is not None})
    ext = os.path.splitext(path)[1].lower()
    if dataset is not None:
        raise ValueError(f"--dataset applies to HDF5 and Zarr files, not to {ext or path!r} files.")
    if weight_column is not None:
        raise ValueError("--weight-column needs fastem.source, which this fastem lacks.")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; expected a .csv or .npy file.")
    if ext == ".csv":
        names, idx, skip = _csv_columns(path, columns)
        try:
            X = np.loadtxt(
                path, delimiter=",", skiprows=skip, usecols=idx, ndmin=2, dtype=np.float64
            )
        except ValueError as e:
            raise ValueError(f"cannot read {path} as comma-separated numbers: {e}") from None
    elif ext == ".npy":
        try:
            X = np.load(path, allow_pickle=False, mmap_mode="r")
        except ValueError as e:
            raise ValueError(f"cannot read {path} as a .npy array: {e}") from None
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if X.ndim != 2:
            raise ValueError(
                f"{path} holds an array of shape {X.shape}; expected 2-D rows x features."
            )
        if columns:
            try:
                X = X[:, [int(c) for c in columns]]
            except (ValueError, IndexError):
                raise ValueError(
                    f"--columns for a .npy file must be integer indices below {X.shape[1]}, "
                    f"got {columns}."
                ) from None
        X = np.asarray(X)
    else:
        raise ValueError(
            f"cannot read {path}: unsupported format {ext or '(no extension)'!r}; "
            "this fastem reads .csv (header row optional) and .npy files."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{path} holds no rows.")
    return X


def _n_rows(data):
    n = getattr(data, "n_samples", None)
    if n is None:
        n = np.shape(data)[0]
    return int(n)


def _n_features(data):
    d = getattr(data, "n_features", None)
    if d is None:
        d = np.shape(data)[1]
    return int(d)
