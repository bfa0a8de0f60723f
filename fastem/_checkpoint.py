"""Checkpoints of a running fit: written atomically after every EM pass.

A checkpoint is an ``.npz`` of plain arrays (loaded with ``allow_pickle=False``,
so opening one can never run code) plus a JSON header. It holds everything
needed to continue the fit exactly where it stopped: the parameters after the
last complete pass, the lower bounds so far, the best finished initialization,
and the random generator's state. A fingerprint of the call (hyper-parameters
and data) makes sure a checkpoint is only resumed by the same call.

Writing goes to a temporary file in the same folder, is flushed and fsynced,
and then renamed over the old checkpoint, so a process killed at any moment
leaves either the previous or the new checkpoint, never a torn one.
"""

import hashlib
import json
import numbers
import os

import numpy as np

from ._digest import data_digest
from ._files import replacing
from ._npz import MAX_JSON_DEPTH, json_depth, open_archive, read_entry
from ._stats import layout

FORMAT = "fastem-checkpoint"
VERSION = 2  # 2: the data digest covers every byte
_PARAMS = ("weights", "means", "prec_chol", "covariances")


def _normalized(value):
    """A hyper-parameter in a canonical form: ``1e-6`` and ``np.float64(1e-6)`` hash alike."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.random.RandomState):
        return "RandomState"
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return repr(value)
        return f"array{arr.shape}:{hashlib.sha256(arr.tobytes()).hexdigest()}"
    if isinstance(value, dict):  # a prior: every value to the last bit (its repr rounds them),
        # numbers as arrays ("dof": 35 and 35.0 are one prior)
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return {str(k): _normalized(v if isinstance(v, str) else [v]) for k, v in items}
    return value


def start_digest(start):
    """Digest of the parameters a ``warm_start`` fit continues from (nested tuples of arrays)."""
    h = hashlib.sha256(b"warm-start;")

    def add(value):
        if isinstance(value, (tuple, list)):
            h.update(b"(")
            for v in value:
                add(v)
            h.update(b")")
        else:
            a = np.ascontiguousarray(value, dtype=np.float64)
            h.update(f"{a.shape};".encode() + a.tobytes())

    add(start)
    return h.hexdigest()


def fingerprint(est, data, start=None):
    """A digest of the hyper-parameters and of every byte of the data a checkpoint belongs to.

    Numeric hyper-parameters are normalized first (``tol=1e-6`` and
    ``tol=np.float64(1e-6)`` are the same call); the data digest is
    :func:`fastem._digest.data_digest` (all rows, weights and labels).
    ``start``: the :func:`start_digest` of the fitted parameters a ``warm_start`` fit
    continues from, which are part of the call too (to the last bit).
    """
    params = {
        k: v
        for k, v in est.get_params().items()
        if k not in ("verbose", "verbose_interval", "n_threads")
    }
    h = hashlib.sha256()
    for key in sorted(params):
        h.update(f"{key}={_normalized(params[key])!r};".encode())
    h.update(data_digest(data).encode())
    if start is not None:
        h.update(f"warm-start={start};".encode())
    return h.hexdigest()


def _params_arrays(prefix, params, names=_PARAMS):
    out = {}
    for name, value in zip(names, params):
        if value is not None:
            out[f"{prefix}{name}"] = np.asarray(value, dtype=np.float64)
    return out


def _params_from(arrays, prefix, names=_PARAMS):
    return tuple(arrays.get(f"{prefix}{name}") for name in names)


def save(
    path,
    *,
    fingerprint,
    init,
    n_iter,
    params,
    lower_bound,
    lower_bounds,
    converged,
    rng,
    best,
    done,
    names=_PARAMS,
):
    """Atomically write the state after a complete EM pass (``names``: of the parameters)."""
    state = rng.get_state()
    header = {
        "format": FORMAT,
        "version": VERSION,
        "fingerprint": fingerprint,
        "init": init,
        "n_iter": n_iter,
        "lower_bound": lower_bound,
        "lower_bounds": list(lower_bounds),
        "converged": bool(converged),
        "rng": [state[0], int(state[2]), int(state[3]), float(state[4])],
        "done": done,
        "best": None
        if best is None
        else {
            "lower_bound": best[1],
            "n_iter": best[2],
            "lower_bounds": list(best[3]),
            "converged": best[4],
        },
    }
    arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    arrays["rng_key"] = np.asarray(state[1], dtype=np.uint32)
    arrays.update(_params_arrays("cur_", params, names))
    if best is not None:
        arrays.update(_params_arrays("best_", best[0], names))
    with replacing(path, suffix=".ckpt.npz", durable=True) as f:
        np.savez(f, **arrays)


#: Largest JSON header of a checkpoint read (it grows by ~25 bytes per EM iteration).
_MAX_HEADER_BYTES = 16 << 20


def _shapes(est, n_features):
    """The shape of each parameter array of a checkpoint of ``est``'s fit (in order)."""
    custom = getattr(est, "_checkpoint_shapes", None)
    if custom is not None:  # an estimator with other parameters (the variational one)
        return custom(n_features)
    K, D = est.n_components, n_features
    cov = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}
    cov = cov.get(layout(est.covariance_type), (K, D, D))
    return {"weights": (K,), "means": (K, D), "prec_chol": cov, "covariances": cov}


def _entry_limits(est, n_features):
    """The most bytes each checkpoint entry may hold, for the call's model size."""
    limits = {"header": _MAX_HEADER_BYTES, "rng_key": 4 * 624}
    for prefix in ("cur_", "best_"):
        for name, shape in _shapes(est, n_features).items():
            limits[prefix + name] = 8 * int(np.prod(shape))
    return limits


def _check_shapes(state, est, n_features):
    shapes = _shapes(est, n_features)
    runs = [state["params"]] + ([state["best"][0]] if state["best"] is not None else [])
    for params in runs:
        for name, value in zip(shapes, params):
            if value is None:
                continue
            if value.shape != shapes[name] or not np.all(np.isfinite(value)):
                raise ValueError(f"{name} has shape {value.shape}, expected {shapes[name]}")


def _read(path, limits, fingerprint=None):
    """The arrays and the JSON header of a checkpoint, with bounded memory (``fastem._npz``).

    The arrays are read only for a checkpoint of this format and version and, given
    ``fingerprint``, of that call: the sizes ``limits`` allows are those of the call's model,
    so a checkpoint of another call (another ``n_components``) is named as such, not as damaged.
    """
    zf, entries = open_archive(path, limits.__contains__, required="header", what="checkpoint")
    with zf:
        raw = read_entry(path, zf, entries["header"], "header", limits["header"])
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"{path}: the checkpoint header is malformed.")
        text = raw.tobytes().decode("utf8", "replace")
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ValueError(f"{path}: the checkpoint header is nested too deeply.")
        header = json.loads(text)
        if not isinstance(header, dict):
            raise ValueError(f"{path}: the checkpoint header is not a JSON object.")
        arrays = {}
        ours = header.get("format") == FORMAT and header.get("version") == VERSION
        if ours and fingerprint in (None, header.get("fingerprint")):
            for name, info in entries.items():
                if name != "header":
                    arrays[name] = read_entry(path, zf, info, name, limits[name])
    return header, arrays


def load(path, expected_fingerprint, est=None, n_features=None):
    """The saved state as a dict, or None when there is no checkpoint yet.

    Raises ValueError for a file that is not a fastem checkpoint, is damaged,
    or belongs to a different call (other hyper-parameters or data). The file
    is read with bounded memory (entry names checked before anything is
    decompressed, sizes against the model of ``est`` with ``n_features``).
    """
    if not os.path.exists(path):
        return None
    limits = _entry_limits(est, n_features) if est is not None else None
    try:
        if limits is None:
            limits = {"header": _MAX_HEADER_BYTES, "rng_key": 4 * 624}
            limits.update({p + k: 1 << 30 for p in ("cur_", "best_") for k in _PARAMS})
        header, arrays = _read(path, limits, expected_fingerprint)
    except ValueError as exc:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} cannot be read ({exc}); delete it to start the fit "
            "afresh, or pass another path."
        ) from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(
            f"{os.fspath(path)!r} is not a fastem checkpoint of version {VERSION}; pass another "
            "path (or delete it if it is an old checkpoint)."
        )
    if header.get("fingerprint") != expected_fingerprint:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} belongs to a fit with other hyper-parameters or data; "
            "pass a new checkpoint path, or delete the file to start afresh."
        )
    try:
        state = _state(header, arrays, tuple(_shapes(est, n_features)) if est else _PARAMS)
        if est is not None:
            _check_shapes(state, est, n_features)
        return state
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} is damaged ({type(exc).__name__}: {exc}); delete it "
            "to start the fit afresh."
        ) from None


def _state(header, arrays, names=_PARAMS):
    kind, pos, has_gauss, cached = header["rng"]
    key = arrays.pop("rng_key")
    if key.dtype != np.uint32 or key.shape != (624,):
        raise ValueError("the random generator's state is malformed")
    header["rng_state"] = (str(kind), key, int(pos), int(has_gauss), float(cached))
    header["params"] = _params_from(arrays, "cur_", names)
    if header["best"] is not None:
        b = header["best"]
        header["best"] = (
            _params_from(arrays, "best_", names),
            float(b["lower_bound"]),
            int(b["n_iter"]),
            [float(v) for v in b["lower_bounds"]],
            bool(b["converged"]),
        )
    for name in ("init", "n_iter"):
        header[name] = int(header[name])
    header["lower_bounds"] = [float(v) for v in header["lower_bounds"]]
    return header
