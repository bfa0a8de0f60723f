"""Readers of tables: parquet files and pyarrow tables or datasets, CSV files."""

from __future__ import annotations

import csv
import os
from itertools import islice

import numpy as np

from .._validation import MISSING_FIX
from .._warn import warn
from ._base import Source, _default_chunk_rows, _err, _optional


class ArrowSource(Source):
    """A parquet file, a ``pyarrow.Table`` or a ``pyarrow.dataset.Dataset``, batch by batch."""

    kind = "arrow"

    def __init__(self, name, obj, chunk_rows, columns, weight_column, kind, path=None):
        super().__init__(name, chunk_rows, columns, weight_column)
        pa = _optional("pyarrow", "parquet")
        self.kind = kind
        self._obj = obj
        if path is not None:  # a folder read as a dataset: its files are watched from now
            self.path = os.fspath(path)
            self._ignored_prefixes = (".", "_")  # the files pyarrow.dataset skips
            self._ident = self._identity()
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
            try:  # (a parquet dataset: from its footers, no rows read) the in-memory start
                self.n_rows = int(obj.count_rows())
            except (OSError, pa.ArrowException) as e:
                raise _err(self.name, 0, f"could not count the rows ({e})") from e
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
        self._set_dtype(
            schema.field(names.index(c)).type.to_pandas_dtype() for c in self._names[:n_feat]
        )
        self.feature_names = self._names[:n_feat]
        if self.chunk_rows is None:
            self.chunk_rows = _default_chunk_rows(self._raw_width, 8)
        if kind == "parquet" and isinstance(obj, (str, os.PathLike)):
            self.path = os.fspath(obj)
            self._ident = self._identity()

    def _selection(self):
        """The names of the columns read (``_raw_chunks`` renumbers them from 0)."""
        n = self.n_features
        return self._names[:n], (self._names[n] if len(self._names) > n else None)

    def _batches(self):
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(self._obj)
            return pf.iter_batches(batch_size=self.chunk_rows, columns=self._names)
        if self.kind == "table":
            return self._obj.select(self._names).to_batches(max_chunksize=self.chunk_rows)
        return self._obj.to_batches(columns=self._names, batch_size=self.chunk_rows)

    def _raw_chunks(self, n_buffers, ring=None):
        dtype = self.dtype if self._w_idx is None else np.float64
        for batch in self._batches():
            out = np.empty((batch.num_rows, self._raw_width), dtype=dtype)
            for j in range(self._raw_width):
                out[:, j] = batch.column(j).to_numpy(zero_copy_only=False)
            yield out


#: The fields pandas' ``read_csv`` reads as missing by default (its ``na_values``), white
#: space around them ignored: with ``missing="marginalize"`` they are NaN, as there; otherwise
#: the error that names the line says how to treat them.
NA_FIELDS = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
)  # fmt: skip


def _na_or_float(field):
    """A CSV field as a float, NaN for a missing-value field (:data:`NA_FIELDS`)."""
    text = field.strip()
    return np.nan if text in NA_FIELDS else float(text)


def _is_number(field):
    try:
        float(field.strip().strip('"'))
    except ValueError:
        return False
    return True


def _fields(line, delimiter):
    """The fields of one CSV line, quotes removed: a quoted field may hold the delimiter."""
    return next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter, quotechar='"'), [""])


def _is_data(fields):
    """Whether a first line of these fields is a row of data, not a header: every field a
    number or a missing value (:data:`NA_FIELDS`), and at least one a number."""
    numbers = [_is_number(v) for v in fields]
    return any(numbers) and all(n or v.strip() in NA_FIELDS for n, v in zip(numbers, fields))


class CsvSource(Source):
    """A CSV file, with or without a header row, parsed ``chunk_rows`` lines at a time.

    Lines holding only white space are skipped wherever they are. The first
    other line is the header, unless every field of it parses as a number or is a
    missing value (:data:`NA_FIELDS`), at least one a number: then the file has no
    header and that line is the first row (columns are then selected by index). A
    UTF-8 byte-order mark is dropped. A first line ``0,1,...`` is a row, with a warning:
    it is what pandas writes as the header of a frame without column names.
    """

    kind = "csv"

    def __init__(self, path, chunk_rows, columns, weight_column, delimiter=","):
        self.path = os.fspath(path)
        super().__init__(repr(self.path), chunk_rows, columns, weight_column)
        self.delimiter = delimiter
        try:
            with self._open() as f:
                first = next((ln for ln in f if ln.strip()), "")
        except (OSError, UnicodeDecodeError) as e:
            raise _err(self.name, 0, f"could not open ({e})") from e
        if not first.strip():
            raise _err(self.name, 0, "the file holds no rows (it is empty or blank)")
        fields = _fields(first, delimiter)
        self.has_header = not _is_data(fields)
        if not self.has_header and [v.strip() for v in fields] == [
            str(i) for i in range(max(2, len(fields)))
        ]:
            warn(
                f"{self.name}: its first line {first.strip()!r} is read as a row of data (a "
                "first line of numbers is data); if it is the header pandas writes for a frame "
                "without column names, drop it (DataFrame.to_csv(..., header=False)).",
                UserWarning,
            )
        names = [c.strip().strip("'") for c in fields] if self.has_header else None
        self._resolve_columns(names, len(fields))
        if names is None:
            names = [str(i) for i in range(len(fields))]
        self.feature_names = [names[i] for i in (self._feat_idx or range(len(names)))]
        if self.chunk_rows is None:
            self.chunk_rows = _default_chunk_rows(len(fields), 24)
        self._ident = self._identity()

    def _open(self):
        return open(self.path, newline="", encoding="utf-8-sig")

    def _header_key(self):
        with self._open() as f:
            return next((ln for ln in f if ln.strip()), "")

    def _data_lines(self, f):
        """The non-blank lines of the open file ``f`` after the header row, if any."""
        lines = (ln for ln in f if ln.strip())
        if self.has_header:
            next(lines, None)
        return lines

    def _count_rows(self):
        """Non-blank lines after the header, without parsing them."""
        try:
            with self._open() as f:
                return sum(1 for _ in self._data_lines(f))
        except (OSError, UnicodeDecodeError) as e:
            raise _err(self.name, 0, f"could not read ({e})") from e

    def _raw_chunks(self, n_buffers, ring=None):
        with self._open() as f:
            lines = self._data_lines(f)
            while True:
                chunk = list(islice(lines, self.chunk_rows))  # blank runs never end a chunk
                if not chunk:
                    return
                yield self._parse(chunk)

    def _parse(self, lines):
        # comments=None: a '#' is no comment here, as for the row count (``_data_lines``),
        # so a line of one is an error naming it, not a row missing from one pass
        how = dict(
            delimiter=self.delimiter, dtype=np.float64, ndmin=2, quotechar='"', comments=None
        )
        allow_nan = getattr(self, "allow_nan", False)
        # a chunk that holds a missing-value field (NA_FIELDS) is parsed again, reading it as NaN
        tries = [{}, dict(converters=_na_or_float)] if allow_nan else [{}]
        for extra in tries:
            try:
                arr = np.loadtxt(lines, **how, **extra)
                if arr.shape[1] == self._raw_width:
                    return arr
            except ValueError:
                pass
        # find the offending line, so that the error names its row
        for i, line in enumerate(lines):
            fields = _fields(line, self.delimiter)
            if len(fields) != self._raw_width:
                return _BadChunk(
                    i,
                    f"row has {len(fields)} columns, expected {self._raw_width}, in line "
                    f"{line.strip()!r}",
                )
            for v in fields:
                try:
                    float(v)
                except ValueError:
                    if v.strip() in NA_FIELDS and not allow_nan:
                        return _BadChunk(
                            i,
                            f"missing value {v.strip()!r} in line {line.strip()!r}; fit with "
                            f"{MISSING_FIX} to treat it as not observed, or fill or drop it",
                        )
                    return _BadChunk(i, f"non-numeric value in line {line.strip()!r}")
        return _BadChunk(0, "could not parse the chunk")

    def _finish(self, offset, raw, check_finite=True):
        if isinstance(raw, _BadChunk):
            raise _err(self.name, offset + raw.row, raw.msg)
        return super()._finish(offset, raw, check_finite)


class _BadChunk:
    def __init__(self, row, msg):
        self.row, self.msg = row, msg
