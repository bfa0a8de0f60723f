"""The :class:`Source` base class: column selection, chunk validation, errors."""

from __future__ import annotations

import os

import numpy as np

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


def advise(f, offset, nbytes, advice):
    """``posix_fadvise`` of the open file ``f`` with ``os.<advice>``: a hint, never an error.

    ``nbytes=0`` means to the end of the file (as for ``posix_fadvise``). Does
    nothing where the OS has no ``posix_fadvise`` (macOS, Windows).
    """
    flag = getattr(os, advice, None)
    if flag is None or not hasattr(os, "posix_fadvise"):
        return
    try:
        os.posix_fadvise(f.fileno(), offset, nbytes, flag)
    except OSError:
        pass


def read_rows(f, name, offset, row_bytes, r0, buf):
    """Read ``len(buf)`` rows of ``row_bytes`` from row ``r0`` of a table at byte ``offset``.

    ``f`` is a file opened for binary reading; raises an error naming the
    source ``name`` and the row where the file ends early.
    """
    f.seek(offset + r0 * row_bytes)
    view = memoryview(buf.reshape(-1).view(np.uint8))
    got = 0
    while got < len(buf) * row_bytes:
        k = f.readinto(view[got:])
        if not k:
            raise _err(name, r0 + got // row_bytes, "file is truncated: unexpected end of file")
        got += k


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
    _short_pass_hint = ""  # what to add when a pass ends early (see CallableSource)
    #: Rows every pass has at least, known before the row count (a callable's first chunk).
    _min_rows = 0
    #: What to yield instead of a 1-D chunk of rows (a callable's), or None: a one-column
    #: reader's 1-D chunk is that column (a 1-D ``.npy`` file or array source, a weight or
    #: label source: docs/robustness.md).
    _one_dim_refused = None
    #: The file read, for the sources that read one (its changes are noticed).
    path = None
    #: Every feature column is stored as float16 (read as float64 for a fit, as in memory;
    #: scored in the model's dtype: ``fastem._stream_api.predict_data``).
    float16 = False
    _ident = None
    #: Names of files and sub-folders of a folder source that its reader skips (a parquet
    #: dataset's ``_SUCCESS``, ``.crc``), so that they are not part of its identity.
    _ignored_prefixes = ()

    def __init__(self, name, chunk_rows, columns, weight_column):
        self.name = name
        ok = chunk_rows is None or (
            isinstance(chunk_rows, (int, np.integer)) and not isinstance(chunk_rows, bool)
        )
        if not ok or (chunk_rows is not None and chunk_rows < 1):  # not 2.5 read as 2
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}.")
        self.chunk_rows = None if chunk_rows is None else int(chunk_rows)
        if isinstance(columns, (str, int, np.integer)):  # one column ('ab' is not 'a', 'b')
            columns = [columns]
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

    def _raw_chunks(self, n_buffers, ring=None):
        """Yield raw 2-D chunks in order (may reuse ``n_buffers`` buffers).

        ``ring``: a list in which a reader may keep those buffers from one
        pass to the next (the caller's passes must not overlap).
        """
        raise NotImplementedError

    def _set_dtype(self, dtypes):
        """Set :attr:`dtype` (and :attr:`float16`) from the feature columns' stored dtypes."""
        dtypes = [np.dtype(d) for d in dtypes]
        self.dtype = _target_dtype(dtypes)
        self.float16 = bool(dtypes) and all(d == np.float16 for d in dtypes)

    def _header_key(self):
        """What the header of the file says now (re-read for every pass), or None."""
        return None

    def _selection(self):
        """``(feature columns, weight column)`` of the raw columns, in order (None: none).

        A checkpoint's fingerprint covers it next to the file's bytes: two selections of one
        file (other columns, the same in another order, another weight column) are two data
        sets (``fastem._digest.source_digest``).
        """
        feat = range(self._raw_width or 0) if self._feat_idx is None else self._feat_idx
        return [int(i) for i in feat], self._w_idx

    # -- common machinery ----------------------------------------------------

    def _identity(self):
        """``(size, mtime_ns, ctime_ns, inode, device, header)`` of the file read, or None.

        ``ctime_ns`` is set by the system on every write and cannot be set back: a rewrite in
        place that restores the old ``mtime`` (``os.utime``, ``touch -r``) still changes it.
        A folder (a zarr store, a parquet dataset) has no such size or time of its own: its
        identity is that of every file under it (:func:`folder_identity`), so a chunk
        rewritten, a part file added or removed, or the folder replaced is seen.
        """
        if self.path is None:
            return None
        watched = self._watched()
        try:
            if os.path.isdir(watched):
                files = folder_identity(watched, self._ignored_prefixes)
                return ("folder", os.stat(watched).st_dev, files, self._header_key())
            st = os.stat(watched)
            header = self._header_key()
        except (OSError, ValueError, UnicodeDecodeError):
            return ("unreadable",)
        return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, header)

    def _watched(self):
        """The file or folder whose changes are noticed: :attr:`path` unless said otherwise."""
        return self.path

    def _changed(self):
        return self._ident is not None and self._identity() != self._ident

    def _check_unchanged(self):
        """Raise if the file changed since it was opened: its rows must not be mixed."""
        if self._changed():
            raise _err(
                self.name,
                0,
                "the file changed while it was being read (it was rewritten or modified); "
                "its rows cannot be mixed with those read before. Run the call again once the "
                "file is complete.",
            )

    def refresh(self):
        """Re-open the file with its current header if it changed since it was opened.

        Called at the start of every estimator call that reads the source, so a
        source object kept across a rewrite of its file reads the new file (its
        new number of rows, its new dtype), never the new bytes with the old
        header. A change during a call raises :class:`SourceError` instead.

        Returns
        -------
        self : Source
        """
        if self._changed():
            if "obj" not in self._args:
                raise _err(
                    self.name, 0, "the file changed since the source was opened; open it again"
                )
            fresh = self._reopen()
            for key in ("allow_nan", "role"):
                if key in self.__dict__:
                    setattr(fresh, key, self.__dict__[key])
            self.__dict__.clear()
            self.__dict__.update(fresh.__dict__)
        return self

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
            if w is not None and w in feat:  # a weight column is never a feature
                raise ValueError(
                    f"{self.name}: column {self.weight_column!r} is listed in both columns= and "
                    "weight_column=; a weight column is never a feature: remove it from columns="
                )
            seen = {}
            for c, i in zip(self.columns, feat):  # the same data twice: a singular covariance
                if i in seen:
                    raise ValueError(
                        f"{self.name}: columns= lists column {i} twice ({seen[i]!r} and {c!r}); "
                        "list each feature once"
                    )
                seen[i] = c
        if not feat:
            raise ValueError(f"{self.name}: no feature columns selected")
        self._w_idx = w
        self._feat_idx = None if (w is None and feat == list(range(n_columns))) else feat
        self.n_features = len(feat)
        self._raw_width = n_columns

    def _finish(self, offset, raw, check_finite=True):
        """Validate one raw chunk; return ``(X, w)`` (``w`` None without weight column).

        ``check_finite=False`` leaves the NaN/inf scan of ``X`` to the caller
        (the EM pass does it only when a chunk's log-likelihood is not finite).
        """
        if not isinstance(raw, np.ndarray):
            try:
                raw = np.asarray(raw)
            except (TypeError, ValueError) as e:
                raise _err(self.name, offset, f"chunk is not an array of numbers ({e})") from None
        if raw.ndim == 1 and self._one_dim_refused is not None and not hasattr(self, "role"):
            # (rows of features; a weight or label source, which has a role, is one column)
            raise _err(
                self.name, offset, f"chunk of shape {raw.shape} is 1-D; {self._one_dim_refused}"
            )
        if raw.ndim == 1 and self._raw_width == 1:
            raw = raw[:, None]
        if raw.ndim != 2:
            raise _err(self.name, offset, f"chunk has {raw.ndim} dimensions, expected 2")
        if raw.shape[1] != self._raw_width:
            raise _err(
                self.name, offset, f"chunk has {raw.shape[1]} columns, expected {self._raw_width}"
            )
        if raw.dtype.kind == "c":  # a cast would drop the imaginary parts (in memory: refused)
            raise _err(
                self.name, offset, "complex values; pass the real part, or the real and "
                "imaginary parts as separate columns"
            )  # fmt: skip
        if raw.dtype == np.bool_ and getattr(self, "role", None) == "label":
            # as labels in memory: True/False are not component indices (cast, 0 and 1 would be)
            raise _err(self.name, offset, f"labels of dtype {raw.dtype}; they must be integers")
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
        if check_finite:  # a weight or label source is checked as such, not as data
            role = getattr(self, "role", "value")
            _check_finite(X, self.name, offset, role, getattr(self, "allow_nan", False))
        if w is not None:
            _check_weights(w, self.name, offset)
        return X, w

    def _chunks(self, n_buffers=None, check_finite=True, ring=None):
        """Yield validated ``(offset, X, w)``; count the rows of a full pass.

        With ``n_buffers`` a reader may reuse that many buffers in a ring, so a
        consumer must be done with a chunk before asking for the next one after
        ``n_buffers - 1`` more; passing the same ``ring`` list to consecutive
        passes lets it keep those buffers (no fresh pages to fault in per pass).
        """
        offset = 0
        self._check_unchanged()
        raw_iter = self._raw_chunks(n_buffers, ring)
        try:
            while True:
                try:
                    raw = next(raw_iter)
                except StopIteration:
                    break
                except SourceError:
                    raise
                except Exception as e:  # an unreadable file, a failing callable
                    self._check_unchanged()  # (a file rewritten under the reader: say so)
                    hint = ""
                    if "thread" in str(e).lower():  # (sqlite3: "objects created in a thread")
                        hint = (
                            "; fastem reads a source in a background thread: an object tied to "
                            "the thread that made it needs to allow others (sqlite3.connect(..., "
                            "check_same_thread=False))"
                        )
                    raise _err(
                        self.name, offset, f"could not read ({type(e).__name__}: {e}){hint}"
                    ) from e
                X, w = self._finish(offset, raw, check_finite)
                if X.shape[0] == 0:
                    continue
                yield offset, X, w
                offset += X.shape[0]
        finally:
            close = getattr(raw_iter, "close", None)
            if close is not None:
                close()
        self._check_unchanged()
        if self.n_rows is None and offset < self._min_rows:
            raise _err(
                self.name,
                offset,
                f"pass ended after {offset} rows, expected at least {self._min_rows}"
                f"{self._short_pass_hint}",
            )
        if self.n_rows is None:
            self.n_rows = offset
        elif offset != self.n_rows:
            raise _err(
                self.name,
                offset,
                f"pass ended after {offset} rows, expected {self.n_rows}{self._short_pass_hint}",
            )

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
        from ._factory import source  # the factory imports the readers, which import this

        return source(obj, **args)


def folder_identity(path, ignored_prefixes=()):
    """``(relative path, size, mtime_ns, ctime_ns, inode)`` of every file under ``path``, sorted.

    A listing of each sub-folder and a ``stat`` of each file, at the start and the end of
    every pass: 25 to 90 ms for a zarr store of 10,000 chunk files (``docs/robustness.md``).
    Names that start with one of ``ignored_prefixes`` are skipped, with what is under them;
    links to folders are not followed (as :func:`os.walk`), so a loop of links cannot hang it.
    """
    out = []
    todo = [""]
    while todo:
        rel = todo.pop()
        with os.scandir(os.path.join(path, rel)) as entries:
            for entry in entries:
                if ignored_prefixes and entry.name.startswith(ignored_prefixes):
                    continue
                name = os.path.join(rel, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    todo.append(name)
                    continue
                try:
                    st = entry.stat()
                except OSError:  # removed since it was listed, or a broken link
                    out.append((name, None))
                    continue
                out.append((name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    out.sort()
    return tuple(out)


def _first_non_numeric(raw):
    for i, row in enumerate(raw):
        try:
            np.asarray(row, dtype=np.float64)
        except (TypeError, ValueError):
            return i
    return 0


def check_values(X, name, offset, allow_nan=False):
    """Raise the source's error for the first row of ``X`` holding NaN or inf."""
    _check_finite(X, name, offset, "value", allow_nan=allow_nan)


def _check_finite(X, name, offset, what, allow_nan=False):
    """Raise the source's error for the first value of ``X`` that fastem refuses.

    The rule and its explanation are ``fastem._validation``'s (the same as for an
    in-memory ``X``); the error names the source and the row's offset in it.
    ``what`` is what the column holds: a ``"value"`` is also checked for
    magnitude, a ``"sample weight"`` by :func:`_check_weights`.
    """
    from .._validation import bad_value_message, first_bad_value

    bad = first_bad_value(X, allow_nan=allow_nan, magnitude=what == "value")
    if bad is not None:
        msg = bad_value_message(bad, X.dtype, allow_nan=allow_nan, what=what)
        raise _err(name, offset + bad.row, msg)


def _check_weights(w, name, offset):
    from .._validation import WEIGHT_RANGE, weight_scale_message

    _check_finite(w[:, None], name, offset, "sample weight")
    if w.size and w.min() < 0:
        row = int(np.argmax(w < 0))
        raise _err(name, offset + row, "negative sample weight; weights must be >= 0")
    if w.size and w.max() > WEIGHT_RANGE[1]:
        raise _err(name, offset + int(np.argmax(w)), weight_scale_message(w.max()))
