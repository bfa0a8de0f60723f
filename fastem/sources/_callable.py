"""The reader of a callable that returns a fresh iterator of chunks on each call."""

from __future__ import annotations

import numpy as np

from ._base import Source, _err, _is_numeric_dtype, _target_dtype


class CallableSource(Source):
    """A callable returning a fresh iterator of 2-D arrays on each call."""

    kind = "callable"
    _short_pass_hint = (
        "; the callable must return a fresh iterator over all the rows on each call "
        "(EM reads them once per iteration)"
    )
    _one_dim_refused = (
        "a callable must yield 2-D chunks (rows x features): yield chunk.reshape(-1, 1) for "
        "a chunk of one feature, row.reshape(1, -1) for a single row (or np.vstack a batch "
        "of rows)"
    )

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
        if first.ndim == 1:  # one row of features, or one feature's rows: no way to tell
            raise _err(
                self.name, 0, f"chunk of shape {first.shape} is 1-D; {self._one_dim_refused}"
            )
        if first.ndim != 2:
            raise _err(self.name, 0, f"chunk has {first.ndim} dimensions, expected 2")
        self._resolve_columns(None, first.shape[1])
        self._min_rows = first.shape[0]  # a pass with fewer rows is not a fresh iterator
        self.dtype = _target_dtype([first.dtype]) if _is_numeric_dtype(first.dtype) else self.dtype

    def _raw_chunks(self, n_buffers, ring=None):
        yield from self._func()
