"""Validation at the boundary: hyper-parameters, initial parameters, weights.

Everything is checked once here, so that no kernel is ever entered with input
it does not expect. Messages say what was wrong and what to do.
"""

import numbers

import numpy as np

from ._init import INIT_METHODS
from ._stats import COVARIANCE_TYPES


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_hyperparameters(est):
    """Raise ValueError/TypeError for an invalid constructor argument."""
    if not _is_int(est.n_components) or est.n_components < 1:
        raise ValueError(
            f"n_components must be an integer >= 1, got {est.n_components!r}; "
            "pass the number of mixture components, e.g. n_components=3."
        )
    if est.covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {est.covariance_type!r}."
        )
    if est.init_params not in INIT_METHODS:
        raise ValueError(f"init_params must be one of {INIT_METHODS}, got {est.init_params!r}.")
    for name, low in (("tol", 0.0), ("reg_covar", 0.0)):
        value = getattr(est, name)
        if not _is_real(value) or not np.isfinite(value) or value < low:
            raise ValueError(f"{name} must be a finite number >= {low}, got {value!r}.")
    if not _is_int(est.max_iter) or est.max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got {est.max_iter!r}.")
    if not _is_int(est.n_init) or est.n_init < 1:
        raise ValueError(f"n_init must be an integer >= 1, got {est.n_init!r}.")
    if not _is_int(est.verbose_interval) or est.verbose_interval < 1:
        raise ValueError(f"verbose_interval must be an integer >= 1, got {est.verbose_interval!r}.")
    if est.n_threads is not None and (not _is_int(est.n_threads) or est.n_threads < 1):
        raise ValueError(
            f"n_threads must be None (all cores) or an integer >= 1, got {est.n_threads!r}."
        )


def _as_float_array(value, name, shape):
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers of shape {shape}.") from None
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity; pass finite values.")
    return arr


def check_weights_init(weights, n_components):
    w = _as_float_array(weights, "weights_init", (n_components,))
    if np.any(w < 0) or np.any(w > 1):
        raise ValueError(
            f"weights_init must lie in [0, 1], got min {w.min():.5f}, max {w.max():.5f}."
        )
    if not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):
        raise ValueError(
            f"weights_init must sum to 1, but sums to {w.sum():.5f}; divide it by its sum."
        )
    return w


def check_means_init(means, n_components, n_features):
    return _as_float_array(means, "means_init", (n_components, n_features))


def check_precisions_init(precisions, covariance_type, n_components, n_features):
    shape = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]
    p = _as_float_array(precisions, "precisions_init", shape)
    if covariance_type in ("diag", "spherical"):
        if np.any(p <= 0):
            raise ValueError(
                f"precisions_init must be positive for covariance_type={covariance_type!r}."
            )
        return p
    for k, m in enumerate(p if covariance_type == "full" else p[None]):
        if not np.allclose(m, m.T):
            raise ValueError(f"precisions_init[{k}] must be symmetric.")
        if np.any(np.linalg.eigvalsh(m) <= 0):
            raise ValueError(f"precisions_init[{k}] must be positive-definite.")
    return p


def check_sample_weight(sample_weight, n_samples):
    """Validated float64 sample weights, or None for unit weights."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("sample_weight must be an array of numbers.") from None
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},) to match X, got {w.shape}.")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or infinity; pass finite weights.")
    if np.any(w < 0):
        raise ValueError("sample_weight contains negative values; weights must be >= 0.")
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to zero; at least one row needs a positive weight.")
    return np.ascontiguousarray(w)


def precheck_array(X, name="X"):
    """Shape and kind checks with messages that say what to do (before conversion)."""
    if isinstance(X, (list, tuple)):
        try:
            X = np.asarray(X)
        except ValueError:
            raise ValueError(
                f"{name} is a ragged sequence; pass a 2-D array of shape (n_samples, n_features)."
            ) from None
    if not isinstance(X, np.ndarray):
        return
    if np.iscomplexobj(X):
        raise ValueError(
            f"Complex data not supported: {name} holds complex numbers. Pass the real part, "
            "or the real and imaginary parts as separate features."
        )
    if X.ndim != 2:
        hint = (
            "Reshape your data: X.reshape(-1, 1) for a single feature or X.reshape(1, -1) "
            "for a single sample"
            if X.ndim == 1
            else "Flatten the extra axes into features"
        )
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got a {X.ndim}-D array of shape "
            f"{X.shape}. {hint}."
        )


def check_all_finite(X, name="X", chunk=65536, *, allow_nan=False):
    """Raise ValueError naming the first NaN/inf (only inf with ``allow_nan``).

    A finite sum proves every value finite (no temporary); only otherwise is
    ``X`` scanned chunk by chunk, never with an (n_samples, n_features) mask.
    """
    if np.isfinite(np.sum(X, dtype=np.float64)):
        return
    for r0 in range(0, X.shape[0], chunk):
        block = X[r0 : r0 + chunk]
        bad = np.isinf(block) if allow_nan else ~np.isfinite(block)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            where = f"{name} contains {{}} at row {r0 + r}, column {c}."
            if np.isnan(X[r0 + r, c]):
                raise ValueError(
                    where.format("NaN") + " Remove or impute the missing values, or fit with "
                    'GaussianMixture(missing="marginalize") to treat NaN as not observed.'
                )
            raise ValueError(
                where.format("infinity") + " Infinity is not a measurement: drop or clip those "
                "rows before fitting" + (" (NaN marks a missing value)." if allow_nan else ".")
            )
