"""Reading the DATA argument: the chunked source of a file."""

from __future__ import annotations

import os

import numpy as np


def _read_data(path, columns=None, dataset=None, chunk_rows=None, weight_column=None):
    """The data at ``path``, as the :func:`fastem.source` that reads it chunk by chunk.

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
    data : Source
    """
    import fastem

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    kwargs = {"chunk_rows": chunk_rows, "columns": columns, "dataset": dataset}
    kwargs["weight_column"] = weight_column  # a name, or an index as a string of digits
    return fastem.source(path, **{k: v for k, v in kwargs.items() if v is not None})


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
