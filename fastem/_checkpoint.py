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
    return value


def fingerprint(est, data):
    """A digest of the hyper-parameters and of every byte of the data a checkpoint belongs to.

    Numeric hyper-parameters are normalized first (``tol=1e-6`` and
    ``tol=np.float64(1e-6)`` are the same call); the data digest is
    :func:`fastem._digest.data_digest` (all rows, weights and labels).
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
    return h.hexdigest()


def _params_arrays(prefix, params):
    out = {}
    for name, value in zip(_PARAMS, params):
        if value is not None:
            out[f"{prefix}{name}"] = np.asarray(value, dtype=np.float64)
    return out


def _params_from(arrays, prefix):
    return tuple(arrays.get(f"{prefix}{name}") for name in _PARAMS)


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
):
    """Atomically write the state after a complete EM pass."""
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
    arrays.update(_params_arrays("cur_", params))
    if best is not None:
        arrays.update(_params_arrays("best_", best[0]))
    folder = os.path.dirname(os.path.abspath(path))
    with replacing(path, suffix=".ckpt.npz", durable=True) as f:
        np.savez(f, **arrays)
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some file systems cannot fsync a folder
        pass


def load(path, expected_fingerprint):
    """The saved state as a dict, or None when there is no checkpoint yet.

    Raises ValueError for a file that is not a fastem checkpoint, is damaged,
    or belongs to a different call (other hyper-parameters or data).
    """
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        header = json.loads(arrays.pop("header").tobytes().decode())
    except Exception as exc:
        raise ValueError(
            f"checkpoint {path!r} cannot be read ({exc}); delete it to start the fit afresh."
        ) from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(
            f"{path!r} is not a fastem checkpoint of version {VERSION}; pass another path."
        )
    if header["fingerprint"] != expected_fingerprint:
        raise ValueError(
            f"checkpoint {path!r} belongs to a fit with other hyper-parameters or data; "
            "pass a new checkpoint path, or delete the file to start afresh."
        )
    kind, pos, has_gauss, cached = header["rng"]
    header["rng_state"] = (kind, arrays.pop("rng_key"), pos, has_gauss, cached)
    header["params"] = _params_from(arrays, "cur_")
    if header["best"] is not None:
        b = header["best"]
        header["best"] = (
            _params_from(arrays, "best_"),
            b["lower_bound"],
            b["n_iter"],
            b["lower_bounds"],
            b["converged"],
        )
    return header
