"""The reader of a callable that returns a fresh iterator of chunks on each call."""

from __future__ import annotations

import numpy as np

from ._base import Source, SourceError, _err, _is_numeric_dtype


class CallableSource(Source):
    """A callable returning a fresh iterator of 2-D arrays on each call."""

    kind = "callable"
    _short_pass_hint = (
        "; the callable must return a fresh iterator over all the rows on each call "
        "(EM reads them once per iteration)"
    )
    _one_dim_refused = (
        "a callable of rows must yield 2-D chunks (rows x features): yield "
        "chunk.reshape(-1, 1) for a chunk of one feature, row.reshape(1, -1) for a single row "
        "(or np.vstack a batch of rows); 1-D chunks of weights or labels are fine"
    )

    def __init__(self, func, chunk_rows, columns, weight_column, opened=None):
        name = getattr(func, "__qualname__", None) or type(func).__name__
        super().__init__(f"callable {name}", None, columns, weight_column)
        self._func = func
        if opened is not None:  # (from :meth:`_reopen`, whose source keeps it if refused here)
            self._learn(opened[0])
        else:
            it = None
            try:
                it = self._call()
                opened = (next(it), it)
            except SourceError:
                raise
            except StopIteration:
                _close(it)
                raise _err(self.name, 0, "the iterator yielded no chunk") from None
            except Exception as e:
                _close(it)
                raise _err(self.name, 0, f"could not read ({type(e).__name__}: {e})") from e
            try:
                self._learn(opened[0])
            except BaseException:
                _close(it)
                raise
        # the first pass continues this iterator from the chunk read here: a callable over one
        # shared cursor (each iterator reads on where the last stopped) has no other first
        # chunk, and a second iterator would start at the next (:meth:`_raw_chunks`)
        self._opened = opened
        # kept after that pass: a callable that returns it again is not returning a fresh
        # iterator
        self._first = opened[1]

    def _call(self):
        """``iter(func())``; refused where the callable returned an array, whose iterator
        would give its rows as 1-D chunks (or a frame's column names)."""
        got = self._func()
        if hasattr(got, "__array__") and not hasattr(got, "__next__"):
            shape = getattr(got, "shape", None)
            of = "" if shape is None else f" of shape {tuple(shape)}"
            raise _err(
                self.name,
                0,
                f"the callable returned a {type(got).__name__}{of}, not an iterator of chunks: "
                "return a fresh iterator of 2-D chunks on each call (lambda: iter([X]), or a "
                "generator function), or pass the array itself instead of the callable",
            )
        return iter(got)

    def _learn(self, first):
        """Set the width, the dtype and the rows every pass has at least from the first chunk."""
        # a pandas frame's names are the columns' (``columns=`` by name, a model's names
        # checked); every later frame must hold them in that order (:meth:`_finish`)
        names = _frame_columns(first)
        self._names = names if names and all(isinstance(n, str) for n in names) else None
        try:
            first = np.asarray(first)
        except (TypeError, ValueError) as e:
            raise _err(
                self.name,
                0,
                f"the first chunk is not an array of numbers ({e}); yield 2-D arrays (rows x "
                "features) whose rows all hold the same number of values",
            ) from None
        # 1-D: one column where the source holds weights or labels; as rows of features,
        # refused when a pass reads it (``Source._finish``: the role is set after this)
        if first.ndim not in (1, 2):
            raise _err(self.name, 0, f"chunk has {first.ndim} dimensions, expected 2")
        if first.ndim == 2 and first.shape[1] == 0:
            raise _err(
                self.name,
                0,
                f"the first chunk has shape {first.shape}, no columns, and the number of "
                "features is read from it; yield chunks of shape (rows, n_features) from the "
                "first on: skip an empty chunk, or yield it as np.empty((0, n_features))",
            )
        self._resolve_columns(self._names, 1 if first.ndim == 1 else first.shape[1])
        if self._names is not None:
            self.feature_names = [self._names[i] for i in (self._feat_idx or range(len(names)))]
        self._min_rows = first.shape[0]  # a pass with fewer rows is not a fresh iterator
        if _is_numeric_dtype(first.dtype):
            self._set_dtype([first.dtype])

    def _finish(self, offset, raw, check_finite=True):
        columns = None if self._names is None else _frame_columns(raw)
        if columns is not None and columns != self._names:  # (read by position: swapped)
            raise _err(
                self.name,
                offset,
                f"chunk's columns are {columns}, the first chunk's {self._names}: frames are "
                "read by position; yield every frame with the first one's columns in its order "
                f"(frame[{self._names!r}])",
            )
        # np.asarray copies a Python sequence: its rows are already an array of their own
        fresh = isinstance(raw, (list, tuple))
        # the dtype is the first chunk's: a later chunk float32 (or float16) cannot hold is
        # refused, not narrowed (in memory the concatenated rows are float64, every digit kept)
        try:
            raw = np.asarray(raw)  # (a list of Python floats is float64)
        except (TypeError, ValueError):
            pass  # refused by Source._finish
        if getattr(raw, "ndim", 0) in (1, 2) and len(raw) == 0:  # (an empty page's chunk)
            column = raw.ndim == 1 and hasattr(self, "role")  # (a weight or label source's)
            if not column and (raw.ndim == 1 or raw.shape[1] != self._raw_width):
                # (after a 1-D first chunk, also empty, the number of features is not known)
                want = (0, self._raw_width) if raw.ndim == 2 else "(0, n_features)"
                raise _err(
                    self.name,
                    offset,
                    f"empty chunk of shape {raw.shape}; chunks of rows are 2-D, all with the first "
                    "chunk's number of columns: skip an empty chunk, or yield it as "
                    f"np.empty({want})",
                )
        dtype = getattr(raw, "dtype", None)
        numeric = dtype is not None and _is_numeric_dtype(dtype)  # (else: Source._finish)
        first = np.float16 if self.float16 else self.dtype  # (float16: scored in float32)
        if first != np.float64 and numeric and not np.can_cast(dtype, first):
            raise _err(
                self.name,
                offset,
                f"chunk of dtype {dtype} after {np.dtype(first)} chunks: the source is read as "
                "its first chunk's dtype, which would round these values; yield every chunk in "
                "one dtype (float64 to fit in float64)",
            )
        X, w = super()._finish(offset, raw, check_finite)
        if not fresh:
            # the callable may refill the array it yielded (one buffer for every chunk, as a
            # binary reader's readinto) while this chunk waits in the read-ahead queue, or
            # while a weight chunk is glued to the next: a chunk still in the callable's
            # memory is copied (never twice: validation's cast or column selection made one)
            if np.may_share_memory(X, raw):
                X = X.copy()
            if w is not None and np.may_share_memory(w, raw):
                w = w.copy()
        return X, w

    def _raw_chunks(self, n_buffers, ring=None):
        opened, self._opened = self._opened, None
        if opened is None:  # every pass after the first calls the callable again
            it = self._call()
            if it is self._first:
                raise _err(
                    self.name,
                    0,
                    f"the callable returned its earlier iterator{self._short_pass_hint}",
                )
        else:
            first, it = opened
            try:
                yield first
            except GeneratorExit:  # the pass stopped at its first chunk (later: ``yield from``)
                _close(it)
                raise
        yield from it

    def _reopen(self, **changes):
        """The same callable with other arguments, as :meth:`Source._reopen`; it continues
        the iterator opened by this source when no pass has read it (a shared cursor's first
        chunk was read by this source: another iterator would start after it)."""
        if self._opened is None or changes.get("dataset") is not None:
            return super()._reopen(**changes)
        args = {**self._args, **changes}
        cw = (args.get("chunk_rows"), args.get("columns"), args.get("weight_column"))
        src = CallableSource(self._func, *cw, opened=self._opened)
        self._opened = None  # (kept where the new arguments were refused)
        src._args = args
        return src


def _frame_columns(chunk):
    """The column names of a pandas (or other) frame, or None for an array."""
    columns = getattr(chunk, "columns", None)
    if columns is None or isinstance(chunk, np.ndarray):
        return None
    try:
        return list(columns)
    except TypeError:
        return None


def _close(it):
    """Close an iterator that has ``close`` (a generator: its ``finally`` clauses run)."""
    close = getattr(it, "close", None)
    if close is not None:
        close()
