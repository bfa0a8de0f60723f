"""Safe model files for :class:`fastem.BayesianGaussianMixture` (``fastem.save`` / ``fastem.load``).

The same container as ``fastem.io``: an ``.npz`` of float64 arrays plus one JSON
entry, opened with ``allow_pickle=False`` and with bounded memory, and every
array checked before an estimator is built: the entries, shapes, finite
values, positive concentrations, precisions and degrees of freedom, weights
that sum to one, precisions that agree with the covariances, and variational
parameters that agree with one another (``_check_posterior``).
"""

import numpy as np

from . import _model_file, io
from ._model_file import META as _META
from ._model_file import check as _check

FORMAT_NAME = "fastem.BayesianGaussianMixture"
FORMAT_VERSION = 1
_ARRAY_PARAMS = ("mean_prior", "covariance_prior")
_FITTED = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "mean_precision_",
    "degrees_of_freedom_",
    "mean_prior_",
    "covariance_prior_",
    "lower_bounds_",
    "kept_components_",
    "log_weights",
)
_SCALARS = (
    "converged_",
    "n_iter_",
    "lower_bound_",
    "elbo_",
    "n_features_in_",
    "n_components_effective_",
    "weight_concentration_prior_",
    "mean_precision_prior_",
    "degrees_of_freedom_prior_",
)
_ALLOWED = {
    *_FITTED,
    _META,
    "feature_names_in_",
    "weight_concentration_",
    "weight_concentration_a_",
    "weight_concentration_b_",
    *("param__" + n for n in _ARRAY_PARAMS),
}


def allowed(name):
    """Whether a BayesianGaussianMixture model file may hold the entry ``name``."""
    return name in _ALLOWED


def contents(model):
    """``(arrays, metadata fields)`` of a fitted BayesianGaussianMixture (see ``_model_file``)."""
    arrays, meta_params = {}, {}
    for name, value in model.get_params(deep=False).items():
        array = np.ndim(value) > 0 or isinstance(value, np.ndarray)  # (0-d: spherical's prior)
        if name in _ARRAY_PARAMS and value is not None and array:
            arrays["param__" + name] = np.asarray(value, dtype=np.float64)
        else:
            meta_params[name] = _model_file.json_scalar(value, name)
    for name in _FITTED:
        source = model._log_weights if name == "log_weights" else getattr(model, name)
        arrays[name] = np.asarray(source, dtype=np.float64)
    arrays["lower_bounds_"] = np.array([float(np.squeeze(b)) for b in model.lower_bounds_])
    wc = model.weight_concentration_
    if isinstance(wc, tuple):
        arrays["weight_concentration_a_"] = np.asarray(wc[0], dtype=np.float64)
        arrays["weight_concentration_b_"] = np.asarray(wc[1], dtype=np.float64)
    else:
        arrays["weight_concentration_"] = np.asarray(wc, dtype=np.float64)
    _model_file.feature_names(model, arrays)
    fitted = {}
    for name in _SCALARS:
        value = getattr(model, name)
        fitted[name] = None if value is None else _model_file.json_scalar(value, name)
    _model_file.add_fit_dtype(model, fitted)  # (the kernels that score float32 rows)
    fields = {
        "n_components_kept": int(arrays["means_"].shape[0]),
        "params": meta_params,
        "fitted": fitted,
    }
    return arrays, fields


def entry_limits(meta):
    """The most bytes each entry may hold, from the model the metadata declares."""
    K, D = meta["n_components_kept"], meta["n_features"]
    n_iter = meta["fitted"]["n_iter_"]  # checked by check_metadata
    limits = dict.fromkeys(_ALLOWED, 8 * (K * D * D + K + D * D + 16 + n_iter))
    limits["feature_names_in_"] = 4096 * D
    return limits


def build(arrays, meta, path):
    """The BayesianGaussianMixture of a model file's arrays and metadata, every array checked."""
    from ._validation import check_hyperparameters
    from ._variational import Priors
    from ._vb_validation import check_vb_options
    from .bayesian import BayesianGaussianMixture

    K, D, ct = meta["n_components_kept"], meta["n_features"], meta["covariance_type"]
    _check(sorted(arrays) == sorted(meta["entries"]), path, "the entries were altered.")
    params = dict(meta["params"])
    for name in _ARRAY_PARAMS:
        if "param__" + name in arrays:
            params[name] = arrays["param__" + name]
    try:
        model = BayesianGaussianMixture(**params)
    except TypeError as e:
        raise ValueError(f"{path}: invalid hyper-parameters ({e}).") from None
    _model_file.check_hyperparameters(model, path, (check_hyperparameters, check_vb_options))
    prior_type = model.weight_concentration_prior_type
    cov_shape = io._cov_shape(ct, K, D)
    shapes = {
        "weights_": (K,),
        "means_": (K, D),
        "covariances_": cov_shape,
        "precisions_": cov_shape,
        "precisions_cholesky_": cov_shape,
        "mean_precision_": (K,),
        "degrees_of_freedom_": () if ct == "tied" else (K,),
        "mean_prior_": (D,),
        "covariance_prior_": {"full": (D, D), "tied": (D, D), "diag": (D,)}.get(ct, ()),
        "kept_components_": (K,),
        "log_weights": (K,),
    }
    if prior_type == "dirichlet_process":
        shapes.update(weight_concentration_a_=(K,), weight_concentration_b_=(K,))
    else:
        shapes["weight_concentration_"] = (K,)
    for name, shape in shapes.items():
        _check(name in arrays, path, f"missing entry {name}; the file is incomplete.")
        a = arrays[name]
        _check(
            a.dtype == np.float64 and a.shape == shape and bool(np.all(np.isfinite(a))),
            path,
            f"{name} must be finite float64 of shape {shape}, got {a.dtype} {a.shape}.",
        )
    positive = ["mean_precision_", "degrees_of_freedom_"] + [
        n for n in shapes if n.startswith("weight_concentration")
    ]
    for name in positive:
        _check(bool(np.all(arrays[name] > 0)), path, f"{name} must be positive.")
    _check(bool(np.all(arrays["degrees_of_freedom_"] > D - 1)), path, "degrees_of_freedom_ <= D-1.")
    _check(bool(np.all(arrays["log_weights"] <= 0)), path, "log_weights must be <= 0.")
    kept = arrays["kept_components_"]
    n_comp = model.n_components
    _check(
        bool(np.all(kept == np.round(kept)))
        and bool(np.all(np.diff(kept) > 0))
        and (K == 0 or (kept[0] >= 0 and kept[-1] < n_comp)),
        path,
        "kept_components_ must be increasing component indices.",
    )
    w = arrays["weights_"]
    _check(bool(np.all(w >= 0)) and abs(w.sum() - 1.0) < 1e-6, path, "weights_ must sum to 1.")
    io._check_precisions(arrays, ct, path)
    fitted = meta["fitted"]
    for name in _SCALARS:
        _check(name in fitted, path, f"fitted attribute {name!r} is missing.")
    _check(fitted["n_components_effective_"] == K, path, "n_components_effective_ mismatch.")
    _check(fitted["n_features_in_"] == D, path, "n_features_in_ does not match the arrays.")
    _check_fitted_scalars(fitted, arrays, D, path)
    _check_posterior(arrays, fitted, model, path)
    # build the estimator
    for name in _FITTED:
        if name not in ("log_weights", "kept_components_", "lower_bounds_"):
            setattr(model, name, arrays[name])
    if prior_type == "dirichlet_process":
        wc = (arrays["weight_concentration_a_"], arrays["weight_concentration_b_"])
    else:
        wc = arrays["weight_concentration_"]
    model.weight_concentration_ = wc
    if ct == "tied":
        model.degrees_of_freedom_ = float(model.degrees_of_freedom_)
    if ct == "spherical":
        model.covariance_prior_ = float(model.covariance_prior_)
    model.kept_components_ = kept.astype(np.int64)
    model.lower_bounds_ = arrays["lower_bounds_"].tolist()
    for name in _SCALARS:
        setattr(model, name, fitted[name])
    _model_file.restore_fit_dtype(model, fitted, path)
    model._log_weights = arrays["log_weights"]
    state = (
        wc,
        model.mean_precision_,
        model.means_,
        model.degrees_of_freedom_,
        model.covariances_,
        model.precisions_cholesky_,
    )
    model._state = model._state_kept = state
    model._priors = Priors(
        model.weight_concentration_prior_,
        model.mean_precision_prior_,
        model.mean_prior_,
        model.degrees_of_freedom_prior_,
        model.covariance_prior_,
    )
    if "feature_names_in_" in arrays:
        model.feature_names_in_ = arrays["feature_names_in_"].astype(object)
    return model


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _check_fitted_scalars(fitted, arrays, D, path):
    """The fitted scalars' types, and ``lower_bounds_`` (one bound per iteration)."""
    for name, ok in (
        ("converged_", isinstance(fitted["converged_"], bool)),
        ("n_features_in_", isinstance(fitted["n_features_in_"], int)),
        ("lower_bound_", isinstance(fitted["lower_bound_"], (int, float))),
        ("elbo_", fitted["elbo_"] is None or _is_number(fitted["elbo_"])),
        ("weight_concentration_prior_", _is_number(fitted["weight_concentration_prior_"])),
        ("mean_precision_prior_", _is_number(fitted["mean_precision_prior_"])),
        ("degrees_of_freedom_prior_", _is_number(fitted["degrees_of_freedom_prior_"])),
    ):
        _check(ok, path, f"fitted attribute {name!r} has the wrong type or value.")
    _check(
        fitted["weight_concentration_prior_"] > 0
        and fitted["mean_precision_prior_"] > 0
        and fitted["degrees_of_freedom_prior_"] > D - 1,
        path,
        "the priors must be positive (degrees_of_freedom_prior_ > n_features - 1).",
    )
    lb = arrays["lower_bounds_"]
    _check(
        lb.dtype == np.float64 and lb.shape == (fitted["n_iter_"],),
        path,
        "lower_bounds_ must hold one float64 bound per iteration (n_iter_).",
    )
    if "feature_names_in_" in arrays:
        names = arrays["feature_names_in_"]
        _check(
            names.dtype.kind == "U" and names.shape == (D,), path, "feature_names_in_ is malformed."
        )


def _check_posterior(arrays, fitted, model, path):
    """The variational parameters agree with one another, as the fit leaves them.

    ``weights_`` and the expected log weights are functions of the weight
    concentrations; and every variational M-step (so every model fitted for at
    least one iteration) sets ``mean_precision_ = beta_0 + N_k``,
    ``degrees_of_freedom_ = nu_0 + N_k`` (tied: the mean ``N_k``), and the
    concentrations from the same ``N_k``. A pruned model holds its kept
    components only, so what depends on the removed ones is checked as far as
    the kept ones determine it.
    """
    from scipy.special import digamma

    from ._variational import expected_log_weights, expected_weights

    def agree(a, b, what):
        _check(io._close(a, b), path, f"{what}; the file was altered.")

    n_components, ct = model.n_components, model.covariance_type
    prior_type = model.weight_concentration_prior_type
    dp = prior_type == "dirichlet_process"
    _check(
        arrays["means_"].shape[0] == n_components or model.prune_threshold is not None,
        path,
        "the model holds fewer components than n_components but was not pruned.",
    )
    if dp:
        wc = a, b = arrays["weight_concentration_a_"], arrays["weight_concentration_b_"]
    else:
        wc = arrays["weight_concentration_"]
    lw, K = arrays["log_weights"], arrays["means_"].shape[0]
    bad_weights = "weights_ do not match weight_concentration_"
    bad_log_weights = "the log weights do not match weight_concentration_"
    if K == n_components:
        agree(arrays["weights_"], expected_weights(wc, prior_type), bad_weights)
        agree(lw, expected_log_weights(wc, prior_type), bad_log_weights)
    elif not dp:  # E[log pi_k] = digamma(wc_k) - digamma(S), S the sum of all wc
        agree(arrays["weights_"], wc / wc.sum(), bad_weights)
        shift = lw - digamma(wc)
        agree(shift, np.full(K, shift.mean()), bad_log_weights)
        # each removed wc_j is at least the prior (after an M-step) and below threshold * S
        dropped, t = n_components - K, model.prune_threshold
        s_lo = wc.sum() + (
            dropped * fitted["weight_concentration_prior_"] if fitted["n_iter_"] else 0
        )
        s_hi = wc.sum() / (1 - dropped * t) if dropped * t < 1 else np.inf
        tol = 1e-9 * max(1.0, abs(shift[0]))
        _check(
            -digamma(s_hi) - tol <= shift[0] <= -digamma(s_lo) + tol,
            path,
            f"{bad_log_weights}; the file was altered.",
        )
    else:  # E[log v_k] + sum_{j<k} E[log(1 - v_j)]: the sum is <= 0 (0 for the first), and
        # from one kept stick to the next it falls by at least the first one's E[log(1 - v)]
        left = lw - (digamma(a) - digamma(a + b))
        e_log_1v = digamma(b) - digamma(a + b)
        # weights likewise: w_k+1 / w_k = E[v_k+1] E[1 - v_k] / E[v_k] times the removed
        # sticks' E[1 - v_j] between them (at most 1; exactly 1 where none was removed)
        w, ev, e1v = arrays["weights_"], a / (a + b), b / (a + b)
        ratio, bound = w[1:] * ev[:-1], w[:-1] * ev[1:] * e1v[:-1]
        next_kept = np.diff(arrays["kept_components_"]) == 1
        _check(
            bool(np.all(ratio <= bound * (1 + 1e-9)))
            and io._close(ratio[next_kept], bound[next_kept]),
            path,
            f"{bad_weights}; the file was altered.",
        )
        _check(
            bool(np.all(left <= 1e-9))
            and (arrays["kept_components_"][0] > 0 or abs(left[0]) < 1e-9)
            and bool(np.all(np.diff(left) <= e_log_1v[:-1] + 1e-9 * (1 + np.abs(left[1:])))),
            path,
            f"{bad_log_weights}; the file was altered.",
        )
    if fitted["n_iter_"] == 0:  # max_iter=0: the start's parameters, which may be anyone's
        return

    def same(x, y, scale, what):  # x = y up to the rounding of sums of terms of size scale
        _check(bool(np.all(np.abs(x - y) <= 1e-9 * scale)), path, f"{what}; the file was altered.")

    disagree = "weight_concentration_ and mean_precision_ disagree"
    beta, beta0 = arrays["mean_precision_"], fitted["mean_precision_prior_"]
    nk, nk_scale = beta - beta0, beta + beta0  # (a prior far above N_k rounds N_k off)
    dof, nu0 = arrays["degrees_of_freedom_"], fitted["degrees_of_freedom_prior_"]
    what = "degrees_of_freedom_ and mean_precision_ disagree"
    if ct != "tied":
        same(dof - nu0, nk, nk_scale + dof + nu0, what)
    elif K == n_components:
        same(dof - nu0, nk.mean(), nk_scale.max() + dof + nu0, what)
    alpha0 = fitted["weight_concentration_prior_"]
    if not dp:
        same(wc - alpha0, nk, nk_scale + wc + alpha0, disagree)
        return
    same(a - 1.0, nk, nk_scale + a + 1.0, disagree)
    rest, rest_scale = (  # the N_j of the kept j > k
        np.concatenate((np.cumsum(v[::-1])[-2::-1], [0.0])) for v in (nk, nk_scale)
    )
    scale = rest_scale + b + alpha0
    if K == n_components:
        same(b - alpha0, rest, scale, disagree)
    else:  # b_k - alpha0 - rest: the N_j of the removed j > k, >= 0 and non-increasing
        removed, tol = b - alpha0 - rest, 1e-9 * scale
        _check(
            bool(np.all(removed >= -tol) and np.all(np.diff(removed) <= tol[:-1] + tol[1:])),
            path,
            f"{disagree}; the file was altered.",
        )


def check_metadata(meta, path):
    """The fields of a BayesianGaussianMixture file's parsed metadata (``fastem._model_file``)."""
    _model_file.check_version(meta, path, FORMAT_VERSION)
    _model_file.check_fields(
        meta,
        path,
        (
            ("n_components_kept", int),
            ("n_features", int),
            ("covariance_type", str),
            ("params", dict),
            ("fitted", dict),
            ("entries", list),
        ),
    )
    _check(meta["covariance_type"] in io._COVARIANCE_TYPES, path, "unknown covariance_type.")
    _check(
        meta["params"].get("covariance_type") == meta["covariance_type"],
        path,
        "covariance_type in the hyper-parameters does not match the metadata.",
    )
    _check(meta["n_components_kept"] >= 1 and meta["n_features"] >= 1, path, "empty model.")
    _model_file.check_n_iter(meta, path)
