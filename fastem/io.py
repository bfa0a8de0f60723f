"""Safe model files: arrays in ``.npz`` plus JSON metadata, never pickle.

A model file is an ordinary NumPy ``.npz`` archive. It holds the fitted arrays
(``weights_``, ``means_``, ``covariances_``, ``precisions_``,
``precisions_cholesky_``, ``lower_bounds_``), any array-valued
hyper-parameters (``weights_init`` ...), and one entry ``__metadata__``: a
JSON document with the format name and version, the fastem version that wrote
the file, the hyper-parameters and the scalar fitted attributes.

:func:`load` opens the archive with ``allow_pickle=False``, so opening a model
file can never run code, and checks everything before it builds an estimator:
the format version, the set of entries, dtypes and shapes against the
metadata, finite values, weights that sum to one, and that the stored
precisions and their Cholesky factors agree with the covariances, and that an
mclust model's covariances satisfy its constraint. Whatever is wrong is
reported as a :class:`ValueError` that says what.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from . import _model_file, _models, _online
from ._model_file import META as _META
from ._model_file import check as _check
from ._model_file import check_replaceable as _check_replaceable  # noqa: F401 (the CLI)
from ._model_file import json_scalar as _json_scalar

FORMAT_NAME = "fastem.GaussianMixture"
FORMAT_VERSION = 1

_FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
_ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init")
_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical", *_models.MCLUST_NAMES)


def _cov_shape(covariance_type, K, D):
    covariance_type = _models.layout(covariance_type)
    return {
        "full": (K, D, D),
        "tied": (D, D),
        "diag": (K, D),
        "spherical": (K,),
    }[covariance_type]


def save(model, path):
    """Save a fitted :class:`~fastem.GaussianMixture` (or ``BayesianGaussianMixture``) to a
    safe ``.npz`` model file.

    The file holds only numeric arrays and a JSON document (no pickle), so
    :func:`load` can open it with ``allow_pickle=False``. The write is atomic:
    a crash never leaves a half-written file at ``path``.

    Parameters
    ----------
    model : GaussianMixture or BayesianGaussianMixture
        A fitted estimator.
    path : str or os.PathLike
        Where to write; the name is used as given (no suffix is added).

    Returns
    -------
    path : str
        The path written.

    Notes
    -----
    A ``random_state`` that is a ``RandomState`` instance is stored as ``None``;
    integers and ``None`` are stored as they are.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import fastem
    >>> X = fastem.load_old_faithful()
    >>> gm = fastem.GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "faithful.npz")
    >>> _ = fastem.save(gm, path)
    >>> again = fastem.load(path)
    >>> bool(np.array_equal(again.means_, gm.means_))
    True
    >>> bool(np.array_equal(again.predict(X), gm.predict(X)))
    True
    """
    return _write(model, path)


def _write(model, path, durable=False):
    """:func:`save`; ``durable``: the file flushed to disk before it replaces ``path``, as a
    checkpoint is (``fit_online``'s)."""
    from . import _vb_io
    from .bayesian import BayesianGaussianMixture
    from .mixture import GaussianMixture

    if isinstance(model, BayesianGaussianMixture):
        return _model_file.write(_vb_io, model, path, durable)
    if not isinstance(model, GaussianMixture):
        raise TypeError(
            "save() expects a fastem.GaussianMixture or BayesianGaussianMixture, got "
            f"{type(model).__name__}."
        )
    return _model_file.write(sys.modules[__name__], model, path, durable)


def contents(model):
    """``(arrays, metadata fields)`` of a fitted GaussianMixture (``fastem._model_file``)."""
    _check_saveable(model)
    arrays, meta_params = {}, {}
    for name, value in model.get_params(deep=False).items():
        if name in _ARRAY_PARAMS:
            if value is not None:
                arrays["param__" + name] = np.asarray(value, dtype=np.float64)
        elif name == "prior" and isinstance(value, dict):  # a JSON object, kept as text
            meta_params[name] = json.dumps(
                {str(k): np.asarray(v, dtype=np.float64).tolist() for k, v in value.items()}
            )
        else:
            meta_params[name] = _json_scalar(value, name)
    for name in _FITTED:
        arrays[name] = np.asarray(getattr(model, name), dtype=np.float64)
    arrays["lower_bounds_"] = np.asarray(model.lower_bounds_, dtype=np.float64).reshape(-1)
    _model_file.feature_names(model, arrays)
    online_arrays, online_meta = _online.saved_state(model)  # partial_fit's running statistics
    arrays.update(online_arrays)
    fields = {
        "n_components": int(arrays["means_"].shape[0]),
        "params": meta_params,
        "array_params": sorted(n for n in _ARRAY_PARAMS if "param__" + n in arrays),
        "fitted": {
            "converged_": bool(model.converged_),
            "n_iter_": int(model.n_iter_),
            "lower_bound_": float(model.lower_bound_),
            "n_features_in_": int(model.n_features_in_),
            # stored as float64 (exact for float32); read back in the fitted dtype
            "dtype": np.dtype(model.means_.dtype).name,
        },
    }
    _model_file.add_fit_dtype(model, fields["fitted"])  # (the kernels that score float32 rows)
    if online_meta is not None:
        fields["online"] = online_meta
    return arrays, fields


def _check_saveable(model):
    """Refuse what :func:`load` would refuse: hyper-parameters set (``set_params``) after
    ``fit`` that no longer describe the fitted arrays."""
    from ._validation import check_means_init, check_precisions_init, check_weights_init

    K, D = np.shape(model.means_)
    if model.n_components != K:
        raise ValueError(
            f"n_components={model.n_components!r}, but the fitted model has {K} components: "
            "n_components was changed after fit (by set_params). Fit again, or set it back "
            f"to {K}."
        )
    ct = model.covariance_type
    for name, check in (
        ("weights_init", lambda v: check_weights_init(v, K)),
        ("means_init", lambda v: check_means_init(v, K, D)),
        ("precisions_init", lambda v: check_precisions_init(v, ct, K, D)),
    ):
        if getattr(model, name) is not None:
            check(getattr(model, name))


def allowed(name):
    return (
        name in _FITTED
        or name in (_META, "lower_bounds_", "feature_names_in_")
        or name in ("param__" + n for n in _ARRAY_PARAMS)
        or name in _online.STATE_ENTRIES
    )


def entry_limits(meta):
    """The most bytes each entry may hold, from the model the metadata declares."""
    K, D, ct = meta["n_components"], meta["n_features"], meta["covariance_type"]
    cov = 8 * int(np.prod(_cov_shape(ct, K, D), dtype=object))
    n_iter = meta["fitted"]["n_iter_"]  # checked by check_metadata
    limits = dict.fromkeys(_FITTED, cov)
    limits.update(
        {
            "weights_": 8 * K,
            "means_": 8 * K * D,
            "lower_bounds_": 8 * (n_iter + 1),
            "feature_names_in_": 4 * 1024 * D,
            "param__weights_init": 8 * K,
            "param__means_init": 8 * K * D,
            "param__precisions_init": cov,
        }
    )
    for name, shape in _online.state_shapes(ct, K, D).items():
        limits[name] = 8 * int(np.prod(shape, dtype=object))
    return limits


def check_metadata(meta, path):
    """The fields of a GaussianMixture file's parsed metadata (``fastem._model_file``)."""
    _check(
        meta.get("format") == FORMAT_NAME,
        path,
        f"format is {meta.get('format')!r}, expected {FORMAT_NAME!r}.",
    )
    _model_file.check_version(meta, path, FORMAT_VERSION)
    _model_file.check_fields(
        meta,
        path,
        (
            ("n_components", int),
            ("n_features", int),
            ("covariance_type", str),
            ("params", dict),
            ("fitted", dict),
            ("entries", list),
            ("array_params", list),
        ),
    )
    _check(
        meta["covariance_type"] in _COVARIANCE_TYPES,
        path,
        f"unknown covariance_type {meta['covariance_type']!r}.",
    )
    _check(
        meta["n_components"] >= 1 and meta["n_features"] >= 1,
        path,
        "n_components and n_features must be >= 1.",
    )
    _model_file.check_n_iter(meta, path)


def _checked_arrays(arrays, meta, path):
    K, D, ct = meta["n_components"], meta["n_features"], meta["covariance_type"]
    expected = set(_FITTED) | {"lower_bounds_"}
    expected |= {"param__" + n for n in meta["array_params"]}
    if "online" in meta:
        expected |= set(_online.STATE_ENTRIES)
    optional = {"feature_names_in_"}
    present = set(arrays) - {_META}
    missing = sorted(expected - present)
    _check(not missing, path, f"missing entries {missing}; the file is incomplete.")
    unknown = sorted(present - expected - optional)
    _check(not unknown, path, f"unexpected entries {unknown}; the file was altered.")
    _check(
        sorted(present) == sorted(meta["entries"]),
        path,
        "the entries do not match those listed in the metadata; the file was altered.",
    )
    shapes = {
        "weights_": (K,),
        "means_": (K, D),
        "covariances_": _cov_shape(ct, K, D),
        "precisions_": _cov_shape(ct, K, D),
        "precisions_cholesky_": _cov_shape(ct, K, D),
    }
    for name, shape in shapes.items():
        a = arrays[name]
        _check(a.dtype == np.float64, path, f"{name} has dtype {a.dtype}, expected float64.")
        _check(
            a.shape == shape,
            path,
            f"{name} has shape {a.shape}, expected {shape} for a {K}-component "
            f"{ct!r} mixture of {D} features.",
        )
        _check(bool(np.all(np.isfinite(a))), path, f"{name} contains NaN or infinity.")
    lb = arrays["lower_bounds_"]
    _check(lb.dtype == np.float64 and lb.ndim == 1, path, "lower_bounds_ is malformed.")
    if "feature_names_in_" in arrays:
        names = arrays["feature_names_in_"]
        _check(
            names.dtype.kind == "U" and names.shape == (D,), path, "feature_names_in_ is malformed."
        )
    w = arrays["weights_"]
    _check(
        bool(np.all(w >= 0)) and abs(w.sum() - 1.0) < 1e-6,
        path,
        "weights_ must be non-negative and sum to 1.",
    )
    _check_precisions(arrays, ct, path, _rounding(meta))
    init_shapes = {
        "weights_init": (K,),
        "means_init": (K, D),
        "precisions_init": _cov_shape(ct, K, D),
    }
    for name in meta["array_params"]:
        _check(name in init_shapes, path, f"unknown array hyper-parameter {name!r}.")
        a = arrays["param__" + name]
        _check(
            a.dtype == np.float64 and a.shape == init_shapes[name],
            path,
            f"{name} has dtype {a.dtype} and shape {a.shape}, expected float64 "
            f"{init_shapes[name]}.",
        )


def _rounding(meta):
    """The relative rounding of the stored fitted arrays: the machine epsilon of the dtype
    they were fitted in (stored as float64, rounded to it), 0 for float64 (not rounded)."""
    dtype = np.dtype(meta["fitted"].get("dtype", "float64"))
    return 0.0 if dtype == np.float64 else float(np.finfo(dtype).eps)


def _close(a, b, rtol=1e-6, atol=1e-9):
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-300)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol * scale))


def _check_precisions(arrays, ct, path, rounding=0.0):
    """The stored covariances are positive-definite, and the precisions and their Cholesky
    factors are theirs. ``rounding``: the relative rounding of each stored array (float32
    fits; 0: none), which moves a Cholesky factor recomputed from the rounded covariances
    by up to about ``rounding`` times their condition number, relative to its largest entry."""
    from . import _stats

    cov = arrays["covariances_"]
    chol = arrays["precisions_cholesky_"]
    prec = arrays["precisions_"]
    ct = _models.layout(ct)
    cond = 1.0
    if ct in ("diag", "spherical"):
        _check(bool(np.all(cov > 0)), path, "covariances_ must be positive.")
    else:
        for m in cov if ct == "full" else cov[None]:
            vals = np.linalg.eigvalsh(m)
            _check(
                np.allclose(m, m.T) and bool(np.all(vals > 0)),
                path,
                "covariances_ must be symmetric positive-definite.",
            )
            cond = max(cond, vals[-1] / vals[0])
    try:
        expected_chol = _stats.precision_cholesky(cov, ct)
    except ValueError:
        raise ValueError(f"{path}: covariances_ are not valid covariance matrices.") from None
    d = cov.shape[-1] if ct != "spherical" else 1
    _check(
        _close(chol, expected_chol, atol=1e-9 + d * rounding * cond),
        path,
        "precisions_cholesky_ does not match covariances_; the file was altered.",
    )
    _check(
        _close(prec, _stats.precisions_from_cholesky(chol, ct), atol=1e-9 + d * rounding),
        path,
        "precisions_ does not match precisions_cholesky_; the file was altered.",
    )


def _check_model_constraint(covariances, covariance_type, dtype, path):
    """An mclust model's covariances satisfy its constraint (equal volumes, shapes,
    orientations ...), within the rounding of the dtype it was fitted in: otherwise the
    file's predictions would come from another model than the one it declares."""
    if covariance_type not in _models.MODELS:
        return
    problem = _models.constraint_violation(covariance_type, covariances, np.finfo(dtype).eps)
    model = _models.MODELS[covariance_type]
    _check(
        problem is None,
        path,
        f"covariances_ do not satisfy {covariance_type!r} ({model.description}): {problem}; "
        "the file was altered.",
    )


def _check_params(meta, path):
    from .mixture import GaussianMixture

    params = meta["params"]
    known = set(GaussianMixture().get_params()) - set(_ARRAY_PARAMS)
    unknown = sorted(set(params) - known)
    _check(not unknown, path, f"unknown hyper-parameters {unknown}.")
    for name in params:
        value = params[name]
        _check(
            value is None or isinstance(value, (bool, int, float, str)),
            path,
            f"hyper-parameter {name} has an invalid value {value!r}.",
        )
    _check(
        params.get("n_components") == meta["n_components"],
        path,
        "n_components in the hyper-parameters does not match the arrays.",
    )
    _check(
        params.get("covariance_type") == meta["covariance_type"],
        path,
        "covariance_type in the hyper-parameters does not match the metadata.",
    )
    fitted = meta["fitted"]
    for key, kind in (
        ("converged_", bool),
        ("n_iter_", int),
        ("lower_bound_", (int, float)),
        ("n_features_in_", int),
    ):
        _check(
            key in fitted and isinstance(fitted[key], kind),
            path,
            f"fitted attribute {key!r} is missing or has the wrong type.",
        )
    _check(
        fitted["n_features_in_"] == meta["n_features"],
        path,
        "n_features_in_ does not match the arrays.",
    )
    _check(
        fitted.get("dtype", "float64") in ("float32", "float64"),
        path,
        "the fitted dtype is neither float32 nor float64.",
    )


def load(path):
    """Load a model written by :func:`save`, safely.

    The archive is opened with ``allow_pickle=False``: a file that holds
    pickled objects is refused, so loading can never run code. Everything is
    validated before an estimator is built.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npz`` model file written by :func:`save`.

    Returns
    -------
    model : GaussianMixture
        The fitted estimator, with bit-identical parameters.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a fastem model file, holds pickled objects, is
        truncated or altered, or was written in an unsupported format version;
        the message says what is wrong.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import fastem
    >>> path = os.path.join(tempfile.mkdtemp(), "evil.npz")
    >>> np.savez(path, payload=np.array([object()], dtype=object))
    >>> fastem.load(path)
    Traceback (most recent call last):
    ...
    fastem._npz.ArchiveError: ...evil.npz: no fastem metadata; this is not a model file ...
    """
    return _load(path)[0]


def _load(path):
    """(model, metadata) of a model file of either estimator; see :func:`load`."""
    from . import _vb_io

    this = sys.modules[__name__]
    formats = {FORMAT_NAME: this, _vb_io.FORMAT_NAME: _vb_io}
    return _model_file.read(path, formats, default=this)


def build(arrays, meta, path):
    """The GaussianMixture of a model file's arrays and metadata, everything checked first."""
    from ._missing import check_missing_option
    from ._validation import check_hyperparameters
    from .mixture import GaussianMixture

    _check_params(meta, path)
    _checked_arrays(arrays, meta, path)
    params = dict(meta["params"])
    if isinstance(params.get("prior"), str) and params["prior"].startswith("{"):
        try:
            params["prior"] = json.loads(params["prior"])
        except ValueError:
            raise ValueError(f"{path}: the prior hyper-parameter is not valid JSON.") from None
    for name in meta["array_params"]:
        params[name] = arrays["param__" + name]
    try:
        model = GaussianMixture(**params)
    except TypeError as e:
        raise ValueError(f"{path}: invalid hyper-parameters ({e}).") from None
    _model_file.check_hyperparameters(
        model,
        path,
        (
            check_hyperparameters,
            lambda m: check_missing_option(m.missing),
            _online.check_step_params,
        ),
    )
    fitted = meta["fitted"]
    dtype = np.dtype(fitted.get("dtype", "float64"))  # files before it was stored: float64
    _check_model_constraint(arrays["covariances_"], meta["covariance_type"], dtype, path)
    for name in _FITTED:
        with np.errstate(over="ignore", under="ignore"):
            value = arrays[name].astype(dtype, copy=False)
        if dtype != np.float64:  # the checks above ran in float64: the values must fit too
            big = np.abs(arrays[name])
            tiny = big[big > 0]
            _check(
                bool(np.all(np.isfinite(value)))
                and (tiny.size == 0 or tiny.min() >= np.finfo(dtype).tiny),
                path,
                f"{name} does not fit {dtype} (values {big.max():.3g} to "
                f"{tiny.min() if tiny.size else 0.0:.3g}); the file was altered.",
            )
        setattr(model, name, value)
    model.converged_ = fitted["converged_"]
    model.n_iter_ = fitted["n_iter_"]
    model.lower_bound_ = float(fitted["lower_bound_"])
    model.lower_bounds_ = arrays["lower_bounds_"].tolist()
    model.n_features_in_ = fitted["n_features_in_"]
    _model_file.restore_fit_dtype(model, fitted, path)
    if "feature_names_in_" in arrays:
        model.feature_names_in_ = arrays["feature_names_in_"].astype(object)
    if "online" in meta:
        _online.restore_state(model, arrays, meta["online"], lambda c, m: _check(c, path, m))
    return model
