"""The model-file container both estimators share: writing it, and reading it once.

A model file is an ``.npz`` archive of arrays plus one JSON entry
``__metadata__`` naming its format. What differs between
:class:`~fastem.GaussianMixture` (``fastem.io``) and
:class:`~fastem.BayesianGaussianMixture` (``fastem._vb_io``) is a *format*: a
module with ``FORMAT_NAME``, ``FORMAT_VERSION``, ``allowed(entry)``,
``contents(model) -> (arrays, metadata fields)``, ``check_metadata(meta,
path)``, ``entry_limits(meta) -> {entry: bytes}`` and ``build(arrays, meta,
path) -> model``. Here is the rest, written once: the atomic write, and a read
that opens the archive once, parses the metadata once, picks the format from
it and reads every other entry within that format's limits.
"""

from __future__ import annotations

import json
import numbers
import os
import zipfile

import numpy as np

from ._files import replacing
from ._npz import MAX_JSON_DEPTH, ArchiveError, json_depth, open_archive, read_entry

META = "__metadata__"
#: Largest metadata entry read (fastem writes about 1 kB).
MAX_META_BYTES = 1 << 20


def check(cond, path, msg):
    if not cond:
        raise ValueError(f"{path}: {msg}")


#: The most iterations a model file may record (its ``lower_bounds_`` entry is sized by it).
MAX_N_ITER = 10**8


def check_n_iter(meta, path):
    """``fitted["n_iter_"]`` is an integer in [0, MAX_N_ITER), checked before the entries'
    limits are sized from it."""
    n_iter = meta["fitted"].get("n_iter_")
    check(
        isinstance(n_iter, int) and not isinstance(n_iter, bool) and 0 <= n_iter < MAX_N_ITER,
        path,
        f"fitted attribute 'n_iter_' must be an integer in [0, {MAX_N_ITER}), got {n_iter!r}; "
        "the file was altered.",
    )


def check_version(meta, path, version_read):
    """The file's ``format_version`` is ``version_read``; a newer one says to upgrade."""
    version = meta.get("format_version")
    check(
        isinstance(version, int) and not isinstance(version, bool),
        path,
        f"format_version is {version!r}, expected an integer.",
    )
    if version > version_read:
        raise ValueError(
            f"{path}: model format version {version} was written by fastem "
            f"{meta.get('fastem_version', '?')}, newer than this fastem reads "
            f"(version {version_read}); upgrade fastem."
        )
    check(
        version == version_read,
        path,
        f"unsupported model format version {version} (this fastem reads {version_read}).",
    )


def check_hyperparameters(model, path, checks):
    """Run the estimator's own hyper-parameter checks (``checks``: functions of the model)
    on a model built from a file, so that an altered value is refused at load, naming the
    file, not at the first ``predict`` or ``fit``."""
    try:
        for check_one in checks:
            check_one(model)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: invalid hyper-parameter: {e} The file was altered.") from None


def json_scalar(value, name):
    """A JSON-safe copy of a scalar hyper-parameter."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if name == "random_state":  # a RandomState or Generator instance cannot be stored safely
        return None
    raise ValueError(f"cannot store hyper-parameter {name}={value!r} in a model file.")


def add_fit_dtype(model, fitted):
    """Record in ``fitted`` the dtype of the rows ``model`` was fitted on, by name, where it is
    known (``_MixtureAPI._scoring_dtype``; a model loaded from a file that predates it has
    none, and is saved again as it was)."""
    if hasattr(model, "_fit_dtype"):
        fitted["fit_dtype"] = np.dtype(model._fit_dtype).name


def restore_fit_dtype(model, fitted, path):
    """So that the loaded ``model`` scores float32 rows in the kernels the original used; a
    file's ``fit_dtype`` (optional: files before it was stored have none) must be a float."""
    check(
        fitted.get("fit_dtype", "float64") in ("float32", "float64"),
        path,
        "the dtype the model was fitted on is neither float32 nor float64.",
    )
    if "fit_dtype" in fitted:
        model._fit_dtype = np.dtype(fitted["fit_dtype"])


def feature_names(model, arrays):
    """Add the model's ``feature_names_in_`` (if any) to ``arrays`` as a string array."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        arrays["feature_names_in_"] = np.asarray([str(n) for n in names], dtype=str)


# --------------------------------------------------------------------------- writing


def write(fmt, model, path, durable=False):
    """Write the fitted ``model`` in the format ``fmt`` at ``path`` (atomically); the path.
    ``durable``: flushed to disk before it replaces ``path`` (``_files.replacing``)."""
    from . import __version__

    if not hasattr(model, "precisions_cholesky_"):
        raise ValueError("the model is not fitted; call fit() before save().")
    from ._validation import check_fitted_layout

    try:  # never write a file that load() refuses (hyper-parameters set after fit)
        check_fitted_layout(model.covariance_type, model.weights_, model.means_, model.covariances_)
        arrays, fields = fmt.contents(model)
    except ValueError as e:
        raise ValueError(f"cannot save the model: {e}") from None
    meta = {
        "format": fmt.FORMAT_NAME,
        "format_version": fmt.FORMAT_VERSION,
        "fastem_version": __version__,
        "n_features": int(arrays["means_"].shape[1]),
        "covariance_type": model.covariance_type,
        **fields,
        "entries": sorted(arrays),
    }
    arrays[META] = np.array(json.dumps(meta, allow_nan=True, sort_keys=True))
    path = os.fspath(path)
    check_replaceable(path)
    with replacing(path, suffix=".npz.tmp", durable=durable) as f:
        np.savez(f, **arrays)
    return path


def check_replaceable(path):
    """Refuse to replace an existing file that is not a fastem model file (data, say)."""
    if not os.path.exists(path):
        return
    try:
        with zipfile.ZipFile(path) as z:
            ok = META + ".npy" in z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"{path} exists and is not a fastem model file (it may be your data); refusing to "
            "replace it. Choose another path, or delete the file first."
        )


# --------------------------------------------------------------------------- reading


def read(path, formats, default):
    """``(model, metadata)`` of the model file at ``path``.

    ``formats`` maps format names to format modules; a file naming none of
    them is checked (and refused) as ``default``'s. Entry names are checked
    against those the formats know before anything is decompressed, and
    against the file's own format before any entry but the metadata is.
    """
    path = os.fspath(path)
    _check_path(path)
    known = [fmt.allowed for fmt in formats.values()]
    zf, entries = open_archive(path, lambda name: any(a(name) for a in known), required=META)
    with zf:
        try:
            raw = read_entry(path, zf, entries[META], META, MAX_META_BYTES)
            meta, problem = parse_metadata(raw, path), None
        except ValueError as e:
            meta, problem = None, e
        name = None if meta is None else meta.get("format")
        fmt = formats.get(name, default) if isinstance(name, str) else default
        bad = [info.filename for name, info in entries.items() if not fmt.allowed(name)]
        if bad:
            raise ArchiveError(
                f"{path}: unexpected entries {bad}; this is not a fastem model file (or it was "
                "altered)."
            )
        if problem is not None:
            raise problem
        fmt.check_metadata(meta, path)
        limits = fmt.entry_limits(meta)
        arrays = {
            name: read_entry(path, zf, info, name, limits.get(name, 0))
            for name, info in entries.items()
            if name != META
        }
    return fmt.build(arrays, meta, path), meta


def _check_path(path):
    """A regular file that may be an ``.npz`` archive: say what it is otherwise."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a model file.")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise ValueError(
            f"{path} holds a single .npy array, not a fastem model file (.npz written by "
            "fastem.save())."
        )
    if magic[:1] == b"\x80" or magic[:1] in (b"(", b"c") and not magic.startswith(b"PK"):
        raise ValueError(
            f"{path} holds pickled data, which fastem refuses to load because unpickling "
            "can run arbitrary code; model files are written by fastem.save()."
        )
    if not magic.startswith(b"PK"):
        raise ValueError(
            f"{path} is not a fastem model file: expected a .npz archive written by fastem.save()."
        )


def parse_metadata(raw, path):
    """The metadata entry ``raw`` as a dict (any format's; its fields are the format's to check)."""
    check(raw.shape == () and raw.dtype.kind == "U", path, "the metadata entry is malformed.")
    text = str(raw)
    check(
        json_depth(text) <= MAX_JSON_DEPTH,
        path,
        f"the metadata is nested deeper than {MAX_JSON_DEPTH} levels; this is not a model file "
        "written by fastem.save().",
    )
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: the metadata is not valid JSON ({e}).") from None
    check(isinstance(meta, dict), path, "the metadata is not a JSON object.")
    return meta


def check_fields(meta, path, fields):
    """Each ``(key, type)`` of ``fields`` is in ``meta`` with that type (a bool is no int)."""
    for key, kind in fields:
        check(
            isinstance(meta.get(key), kind) and not isinstance(meta.get(key), bool),
            path,
            f"metadata field {key!r} is missing or not a {kind.__name__}.",
        )
