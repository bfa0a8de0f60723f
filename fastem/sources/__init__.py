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

from ._arrays import H5FileSource, NpySource, SliceSource, _Nothing
from ._base import (
    _BLOCK,  # noqa: F401 - importable from here as before the split
    DEFAULT_CHUNK_BYTES,  # noqa: F401
    Source,
    SourceError,
    _check_finite,
    _check_weights,
    _default_chunk_rows,
    _err,
    _first_non_numeric,
    _is_numeric_dtype,
    _optional,
    _target_dtype,
)
from ._callable import CallableSource
from ._factory import _make, _module_of, _zarr_source, is_source_like, source
from ._prefetch import _DONE, Progress, prefetch  # noqa: F401
from ._tables import ArrowSource, CsvSource, _BadChunk

__all__ = ["Source", "SourceError", "prefetch", "source"]

# Everything above was defined in this module before it became a package: the
# classes and functions keep ``fastem.sources`` as their module, so that their
# names in tracebacks and reprs, and pickles of sources, stay the same.
for _obj in (
    H5FileSource,
    NpySource,
    SliceSource,
    _Nothing,
    Source,
    SourceError,
    _check_finite,
    _check_weights,
    _default_chunk_rows,
    _err,
    _first_non_numeric,
    _is_numeric_dtype,
    _optional,
    _target_dtype,
    CallableSource,
    _make,
    _module_of,
    _zarr_source,
    is_source_like,
    source,
    Progress,
    prefetch,
    ArrowSource,
    CsvSource,
    _BadChunk,
):
    _obj.__module__ = __name__
del _obj
