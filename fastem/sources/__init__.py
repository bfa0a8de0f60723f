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

from ._base import Source, SourceError
from ._factory import source
from ._prefetch import prefetch

__all__ = ["Source", "SourceError", "prefetch", "source"]

# The public classes are shown as ``fastem.sources.X`` in tracebacks and reprs.
Source.__module__ = SourceError.__module__ = __name__
