"""Validation at the boundary: hyper-parameters, initial parameters, weights.

Everything is checked once here, so that no kernel is ever entered with input
it does not expect. Messages say what was wrong and what to do.
"""

import numbers
from typing import NamedTuple

import numpy as np

try:  # scikit-learn's own: a ValueError and a TypeError, so code that catches it catches ours
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:  # pragma: no cover  (a scikit-learn that moved it)

    class InvalidParameterError(ValueError, TypeError):
        """An invalid constructor argument (scikit-learn's exception of that name)."""


from ._init import INIT_METHODS
from ._stats import ALL_COVARIANCE_TYPES, layout


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_hyperparameters(est):
    """Raise ValueError/TypeError for an invalid constructor argument."""
    if not _is_int(est.n_components) or est.n_components < 1:
        raise InvalidParameterError(
            f"n_components must be an integer >= 1, got {est.n_components!r}; "
            "pass the number of mixture components, e.g. n_components=3."
        )
    if not isinstance(est.covariance_type, str) or est.covariance_type not in ALL_COVARIANCE_TYPES:
        raise InvalidParameterError(
            f"covariance_type must be one of {ALL_COVARIANCE_TYPES} (scikit-learn's four names "
            f"and mclust's models), got {est.covariance_type!r}."
        )
    from ._prior import check_prior

    check_prior(getattr(est, "prior", None), est.covariance_type)
    if est.init_params not in INIT_METHODS:
        raise InvalidParameterError(
            f"init_params must be one of {INIT_METHODS}, got {est.init_params!r}."
        )
    for name, low in (("tol", 0.0), ("reg_covar", 0.0)):
        value = getattr(est, name)
        if not _is_real(value) or not np.isfinite(value) or value < low:
            raise InvalidParameterError(f"{name} must be a finite number >= {low}, got {value!r}.")
    if not _is_int(est.max_iter) or est.max_iter < 0:
        raise InvalidParameterError(f"max_iter must be an integer >= 0, got {est.max_iter!r}.")
    if not _is_int(est.n_init) or est.n_init < 1:
        raise InvalidParameterError(f"n_init must be an integer >= 1, got {est.n_init!r}.")
    if not _is_int(est.verbose_interval) or est.verbose_interval < 1:
        raise InvalidParameterError(
            f"verbose_interval must be an integer >= 1, got {est.verbose_interval!r}."
        )
    if est.n_threads is not None and (not _is_int(est.n_threads) or est.n_threads < 1):
        raise InvalidParameterError(
            f"n_threads must be None (all cores) or an integer >= 1, got {est.n_threads!r}."
        )
    verbose = est.verbose
    if not isinstance(verbose, (bool, np.bool_)) and (not _is_int(verbose) or verbose < 0):
        raise InvalidParameterError(
            f"verbose must be an integer >= 0 (or a bool), got {verbose!r}."
        )
    if not isinstance(est.warm_start, (bool, np.bool_)):
        raise InvalidParameterError(f"warm_start must be True or False, got {est.warm_start!r}.")
    check_random_state_param(est.random_state)


def check_random_state_param(random_state):
    """Refuse what ``sklearn.utils.check_random_state`` refuses, naming the parameter.

    scikit-learn's estimators accept None, an integer in [0, 2**32 - 1] or a
    ``numpy.random.RandomState``; anything else (a negative seed, a float, a
    ``numpy.random.Generator``) would fail deep inside NumPy with a message
    that does not say which argument was wrong.
    """
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return
    if isinstance(random_state, numbers.Integral) and 0 <= random_state < 2**32:
        return
    hint = (
        " (a numpy.random.Generator cannot seed scikit-learn's RandomState; pass an integer "
        "seed, e.g. int(generator.integers(2**32)))"
        if isinstance(random_state, np.random.Generator)
        else ""
    )
    raise InvalidParameterError(
        "random_state must be None, an integer in [0, 2**32 - 1] or a numpy.random.RandomState "
        f"instance, got {random_state!r}{hint}."
    )


def refuse_complex(value, name):
    """Refuse complex numbers in ``value`` in scikit-learn's words (NumPy's cast to float drops
    their imaginary part, with only a ``ComplexWarning``); anything else is left to the
    caller's conversion, which names what is not an array of numbers."""
    try:
        is_complex = np.iscomplexobj(value)
    except (TypeError, ValueError):  # a ragged sequence: not numbers, said by the caller
        return
    if is_complex:
        raise ValueError(
            f"Complex data not supported: {name} holds complex numbers; pass real numbers."
        )


def _as_float_array(value, name, shape):
    refuse_complex(value, name)
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
    covariance_type = layout(covariance_type)
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
    refuse_complex(sample_weight, "sample_weight")
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
    largest = w.max() if w.size else 0.0
    if not largest > 0:
        raise ValueError(ZERO_WEIGHTS)
    if not WEIGHT_RANGE[0] <= largest <= WEIGHT_RANGE[1]:
        raise ValueError(weight_scale_message(largest))
    return np.ascontiguousarray(w)


def check_positive_rows(count, n_components):
    """Refuse weights that give fewer than ``n_components`` rows, or fewer than 2, a positive
    weight (``count`` of them): a row of weight 0 takes no part in a fit, so these are the
    rows the fit has, and a fit (a first online batch without initial parameters too) needs
    as many rows as components, and at least 2 (scikit-learn's ``ensure_min_samples=2``).

    Examples
    --------
    >>> check_positive_rows(3, 3)
    >>> check_positive_rows(2, 3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: sample_weight gives 2 row(s) a positive weight; a fit of n_components = 3 ...
    """
    need = max(n_components, 2)
    if count < need:
        raise ValueError(
            f"sample_weight gives {count} row(s) a positive weight; a fit of n_components = "
            f"{n_components} needs at least {need}, and a row of weight 0 takes no part in it. "
            "Give more rows a positive weight, or lower n_components."
        )


def effective_rows(w_sum, w2_sum):
    """``(n_eff, n_eff / sum w)``: the weights' effective number of rows
    ``(sum w)^2 / sum w^2`` (Kish's), and the factor that turns a weighted sum over the
    rows into one over that many rows.

    Examples
    --------
    >>> effective_rows(6.0, 12.0)  # three rows of weight 2
    (3.0, 0.5)
    >>> effective_rows(2.0, 2.0)  # weights 1, 1, 0
    (2.0, 1.0)
    """
    n_eff = w_sum * (w_sum / w2_sum)
    return n_eff, n_eff / w_sum


#: The error for weights that are all zero (every path that takes weights raises it)
ZERO_WEIGHTS = "sample_weight sums to zero; at least one row needs a positive weight."

#: Positive weights must have their largest value in this range: beyond it the weighted sums
#: overflow (or underflow to subnormal numbers). Only the ratios of the weights matter.
WEIGHT_RANGE = (1e-100, 1e100)


def magnitude_limit(dtype):
    """The largest ``|x|`` accepted: squares (and Mahalanobis terms) stay far from overflow."""
    return 1e150 if np.dtype(dtype) == np.float64 else 1e15


def first_too_large(X):
    """``(row, column, value)`` of the first value beyond :func:`magnitude_limit`, or None.

    Uses reductions that ignore NaN (no temporary of ``X``'s size) and scans
    only when one is found.
    """
    if X.size == 0 or X.dtype.kind != "f":
        return None
    limit = magnitude_limit(X.dtype)
    if not (np.fmax.reduce(X, axis=None) > limit or np.fmin.reduce(X, axis=None) < -limit):
        return None
    for r0 in range(0, X.shape[0], 65536):
        block = X[r0 : r0 + 65536]
        bad = np.abs(block) > limit
        if bad.any():
            r, c = np.argwhere(bad)[0]
            return r0 + int(r), int(c), float(block[r, c])
    return None


def sum_of_squares(X):
    """The sum of squares of a float32 or float64 ``X`` in one pass (``einsum``, contiguous
    ``X`` only, no temporary), or None where it is not computed. Never below the largest
    square (each rounded addition of a non-negative term is monotone); NaN exactly when
    ``X`` holds a NaN; infinite when ``X`` holds an infinity or the sum overflows.
    ``einsum``, not BLAS's dot: BLAS threads that spin after the call would take the cores
    from the pass that follows."""
    X = np.asarray(X)  # (np.matrix stays 2-D when raveled)
    if X.dtype not in (np.float32, np.float64) or not X.size:
        return None  # (float16 cannot hold the limit's square: the exact scans decide)
    if not (X.flags.c_contiguous or X.flags.f_contiguous):
        return None
    flat = X.ravel(order="K")
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.einsum("i,i->", flat, flat))


def _proves_within(squares, dtype):
    """A sum of squares at most half the limit's square: every value finite and within
    :func:`magnitude_limit` (NaN and infinity compare False)."""
    return squares is not None and squares <= 0.5 * magnitude_limit(dtype) ** 2


def within_limit(X):
    """Whether one pass (:func:`sum_of_squares`) proves every value of a float ``X``
    finite and within :func:`magnitude_limit`; False sends the caller to the exact scans."""
    return _proves_within(sum_of_squares(X), X.dtype)


def too_large_message(value, dtype):
    return (
        f"{value:.3g}: values this large (beyond {magnitude_limit(dtype):.0e} in "
        f"{np.dtype(dtype)}) overflow when squared, so their densities cannot be computed. "
        "Rescale the data (e.g. with sklearn.preprocessing.StandardScaler, or divide it by "
        "a constant)."
    )


def weight_scale_message(value, which="largest"):
    """Weights out of ``WEIGHT_RANGE``: their ``which`` ("largest" or "mean") ``value``."""
    return (
        f"sample_weight has {which} value {value:.3g}; weights beyond [{WEIGHT_RANGE[0]:.0e}, "
        f"{WEIGHT_RANGE[1]:.0e}] overflow or underflow in the weighted sums. Only the ratios of "
        "the weights matter: divide them by their maximum (sample_weight / sample_weight.max())."
    )


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


class BadValue(NamedTuple):
    """The first value of an array that fastem refuses (:func:`first_bad_value`)."""

    row: int
    column: int
    value: float
    kind: str  # "nan", "inf" or "large"


def first_bad_value(X, *, allow_nan=False, magnitude=True, chunk=65536):
    """The first NaN or infinity of a 2-D float ``X``, else its first too-large value, or None.

    The one rule for input values, in memory (:func:`check_all_finite`) and in
    a source's chunks (``fastem.sources``): NaN (unless ``allow_nan``: NaN
    marks a value not observed) and infinity are refused, then, with
    ``magnitude``, any ``|x|`` beyond :func:`magnitude_limit`. With ``magnitude``, one
    sum of squares (:func:`sum_of_squares`) proves the common case, and otherwise says
    whether every value is finite (finite sum) or some is NaN, unless it is infinite; then a
    finite plain sum proves every value finite (no temporary); only otherwise is ``X`` scanned,
    ``chunk`` rows at a time, never with an ``(n_samples, n_features)`` mask.
    """
    squares = sum_of_squares(X) if magnitude else None
    if _proves_within(squares, X.dtype):
        return None
    if squares is not None and not np.isinf(squares):
        finite = not np.isnan(squares)  # (finite squares: finite values; NaN: a NaN)
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # overflowing sums are scanned
            finite = not X.size or np.isfinite(X.sum())
    if not finite:
        for r0 in range(0, X.shape[0], chunk):
            block = X[r0 : r0 + chunk]
            bad = np.isinf(block) if allow_nan else ~np.isfinite(block)
            if bad.any():
                r, c = (int(i) for i in np.argwhere(bad)[0])
                v = float(block[r, c])
                return BadValue(r0 + r, c, v, "nan" if np.isnan(v) else "inf")
    big = first_too_large(X) if magnitude else None
    return None if big is None else BadValue(*big, "large")


#: the call a NaN error names for treating NaN as not observed
MISSING_FIX = 'GaussianMixture(missing="marginalize")'


def bad_value_message(
    bad, dtype, *, allow_nan=False, name=None, what="value", missing_fix=MISSING_FIX
):
    """What is wrong with ``bad`` (a :class:`BadValue`) and what to do about it.

    With ``name`` (an in-memory argument, ``"X"``) the whole message, which
    names the row and column; without, the message for a source's chunk, to
    follow the source's name and the row's offset (``fastem.sources``), where
    ``what`` says what the column holds (``"value"``, ``"sample weight"``).
    ``missing_fix``: the call that treats NaN as not observed, named for a NaN.
    """
    if name is None and bad.kind == "large":
        return "value " + too_large_message(bad.value, dtype)
    if name is None and allow_nan and what == "value" and bad.kind != "nan":  # (NaN: missing)
        return (
            f"infinite {what}; infinity is not a measurement: drop or clip those rows (NaN "
            "marks a missing value)"
        )
    if name is None:
        hint = (
            f" (for NaN as not observed, fit with {missing_fix})"
            if what == "value" and not allow_nan
            else ""
        )
        return f"NaN or infinite {what}; fastem needs finite input{hint}"
    if bad.kind == "large":
        return f"{name} holds, at row {bad.row}, column {bad.column}, " + too_large_message(
            bad.value, dtype
        )
    where = f"{name} contains {{}} at row {bad.row}, column {bad.column}."
    if bad.kind == "nan":
        return (
            where.format("NaN") + " Remove or impute the missing values, or fit with "
            f"{missing_fix} to treat NaN as not observed."
        )
    return (
        where.format("infinity") + " Infinity is not a measurement: drop or clip those "
        "rows before fitting" + (" (NaN marks a missing value)." if allow_nan else ".")
    )


def check_all_finite(X, name="X", chunk=65536, *, allow_nan=False, missing_fix=MISSING_FIX):
    """Raise ValueError naming the first NaN/inf (only inf with ``allow_nan``) or too-large value.

    See :func:`first_bad_value` for the rule and :func:`bad_value_message` for the message.
    """
    bad = first_bad_value(X, allow_nan=allow_nan, chunk=chunk)
    if bad is not None:
        message = bad_value_message(
            bad, X.dtype, allow_nan=allow_nan, name=name, missing_fix=missing_fix
        )
        raise ValueError(message)


def check_densities(log_prob, offset=0):
    """Refuse rows whose density underflows under every component (labels undefined there).

    ``log_prob`` is the per-row log-likelihood; ``-inf`` means every component's
    log-density overflowed or underflowed, so the posterior is 0/0. A lazy
    (Dask) array is not checked here: each block's task checks its rows
    (``fastem.dask._block_rowwise``).
    """
    if not isinstance(log_prob, np.ndarray) or not log_prob.size:
        return
    if np.isfinite(log_prob.sum()):
        return
    bad = np.flatnonzero(~np.isfinite(log_prob))
    if bad.size:
        raise ValueError(
            f"row {offset + int(bad[0])} (and {bad.size - 1} more in its chunk) lies so far "
            "from every component that its density underflows to zero under all of them, so "
            "its component is undefined. Check those rows for errors, or rescale the data and "
            "fit again."
        )


def check_variance_underflow(X, var, sample_weight=None):
    """Refuse features whose spread is so small that their variance underflows float64.

    ``var`` holds the computed per-feature variances of ``X`` (weighted by
    ``sample_weight``). A feature whose values differ but whose variance is
    (near) zero would be fitted as a constant by any scale check that skips
    zero variances. The spread is that of the rows with positive weight: rows
    of weight zero take no part in the variance (all the weight on one row is
    a variance of exactly zero, not an underflow).
    """
    if sample_weight is not None and not np.all(np.asarray(sample_weight) > 0):
        X = X[np.asarray(sample_weight) > 0]  # a copy only when some weight is zero
    with np.errstate(invalid="ignore"):
        spread = np.fmax.reduce(X, axis=0) - np.fmin.reduce(X, axis=0)
    under = (spread > 0) & ((var < 1e-280) | (spread < 1e-140))
    if under.any():
        j = int(np.flatnonzero(under)[0])
        raise ValueError(
            f"Feature {j} spreads over only {spread[j]:.3g}, so its variance underflows "
            f"float64 (computed as {var[j]:.3g}). Scale the data (e.g. with "
            "sklearn.preprocessing.StandardScaler, or multiply it by a constant)."
        )


def check_fitted_layout(covariance_type, weights, means, covariances):
    """Refuse row-wise methods when ``covariance_type`` no longer matches the fitted shapes.

    ``set_params(covariance_type=...)`` after ``fit`` leaves the fitted
    covariances of the old type; every method would then fail inside NumPy
    (in scikit-learn as well). The number of components is the fitted one
    (``weights``), as scikit-learn predicts with it after ``n_components``
    changes.
    """
    K, D = np.shape(means)
    want = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}
    want = want[layout(covariance_type)]
    got = np.shape(covariances)
    if got != want or np.shape(weights) != (K,):
        raise ValueError(
            f"the fitted covariances_ have shape {got}, but covariance_type="
            f"{covariance_type!r} needs {want}: covariance_type was changed after fit (by "
            "set_params). Fit again, or set covariance_type back to the fitted one."
        )
