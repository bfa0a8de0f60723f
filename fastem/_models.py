"""mclust's parsimonious covariance models: their table, M-steps and parameter counts.

Every model writes component ``k``'s covariance as ``lambda_k D_k A_k D_k^T``:
a volume ``lambda_k`` (``det(Sigma_k) ** (1 / d)``), a shape ``A_k`` (diagonal,
determinant 1) and an orientation ``D_k`` (orthogonal). The three letters of
the name say whether each is Equal across components, Variable, or (shape
and orientation) the Identity (Celeux & Govaert 1995; Fraley & Raftery 2002).

All of them need only the per-component scatter matrices
``W_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T`` that every pass already
computes (``fastem._stats.SuffStats``); only the M-step differs. The six
diagonal models (``EII`` ... ``VVI``) need the diagonal of ``W_k`` alone and
run the diagonal kernels; the eight others run the full-covariance kernels.

Nine M-steps are closed form. ``VEI``, ``VEE``, ``VEV`` alternate between the
volumes and the common shape (or shape and orientation); ``EVE`` and ``VVE``
alternate the closed-form volumes and shapes with sweeps of exact plane
rotations of the common orientation (the role that the Minorization-Maximization
update of Browne & McNicholas (2014) plays there, which measured far slower
here). Each step of these inner iterations lowers the same objective, the
negative expected complete-data log-likelihood
``sum_k n_k log det(Sigma_k) + tr(W_k Sigma_k^{-1})``, so a warm start from the
previous EM iteration keeps EM monotone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._warn import warn


@dataclass(frozen=True)
class Model:
    """One row of the model table."""

    name: str
    family: str  # "diag" or "full": the kernels and statistics it uses
    volume: str  # "E", "V"
    shape: str  # "E", "V", "I"
    orientation: str  # "E", "V", "I"
    iterative: bool
    description: str


_TABLE = (
    ("EII", "diag", False, "spherical, equal volume"),
    ("VII", "diag", False, "spherical, unequal volume"),
    ("EEI", "diag", False, "diagonal, equal volume and shape"),
    ("VEI", "diag", True, "diagonal, varying volume, equal shape"),
    ("EVI", "diag", False, "diagonal, equal volume, varying shape"),
    ("VVI", "diag", False, "diagonal, varying volume and shape"),
    ("EEE", "full", False, "ellipsoidal, equal volume, shape and orientation"),
    ("VEE", "full", True, "ellipsoidal, equal shape and orientation"),
    ("EVE", "full", True, "ellipsoidal, equal volume and orientation"),
    ("VVE", "full", True, "ellipsoidal, equal orientation"),
    ("EEV", "full", False, "ellipsoidal, equal volume and shape"),
    ("VEV", "full", True, "ellipsoidal, equal shape"),
    ("EVV", "full", False, "ellipsoidal, equal volume"),
    ("VVV", "full", False, "ellipsoidal, varying volume, shape and orientation"),
)

#: mclust's model table, by name (the 14 multivariate models, then "E" and "V").
MODELS = {
    name: Model(name, fam, name[0], name[1], name[2], it, desc) for name, fam, it, desc in _TABLE
}
MODELS["E"] = Model("E", "diag", "E", "I", "I", False, "one feature, equal variance")
MODELS["V"] = Model("V", "diag", "V", "I", "I", False, "one feature, unequal variance")

MCLUST_NAMES = tuple(MODELS)

#: scikit-learn's four names and the mclust model each one is.
SKLEARN_EQUIVALENT = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}

#: Inner iterations of the iterative M-steps: relative tolerance on the objective, cap.
INNER_TOL = 1e-10
INNER_MAX_ITER = 500


class InnerConvergenceWarning(ConvergenceWarning):
    """An iterative M-step stopped at its iteration cap before reaching its tolerance."""


def layout(covariance_type):
    """The scikit-learn type whose array layout (and kernels) a covariance type uses."""
    model = MODELS.get(covariance_type)
    return covariance_type if model is None else model.family


def check_model(covariance_type, n_features):
    """Refuse "E"/"V" with more than one feature (mclust's univariate names)."""
    if covariance_type in ("E", "V") and n_features != 1:
        raise ValueError(
            f"covariance_type={covariance_type!r} is mclust's name for one feature, but X has "
            f"{n_features} features; use {'EII' if covariance_type == 'E' else 'VII'!r} "
            "(or another of the 14 multivariate models)."
        )


def n_covariance_parameters(name, K, d):
    """mclust's count of free covariance parameters (``nVarParams``)."""
    tri = d * (d + 1) // 2
    rot = d * (d - 1) // 2
    return {
        "E": 1,
        "V": K,
        "EII": 1,
        "VII": K,
        "EEI": d,
        "VEI": K + d - 1,
        "EVI": 1 + K * (d - 1),
        "VVI": K * d,
        "EEE": tri,
        "VEE": K + tri - 1,
        "EVE": 1 + K * (d - 1) + rot,
        "VVE": K * d + rot,
        "EEV": d + K * rot,
        "VEV": K + d - 1 + K * rot,
        "EVV": 1 + K * (tri - 1),
        "VVV": K * tri,
    }[name]


def _geomean(a, axis=-1):
    return np.exp(np.mean(np.log(a), axis=axis))


def _objective(nk, W, covs, family):
    """``sum_k n_k log det(Sigma_k) + tr(W_k Sigma_k^{-1})`` (the quantity each M-step lowers)."""
    if family == "diag":
        return float(np.sum(nk * np.log(covs).sum(axis=1)) + np.sum(W / covs))
    sign, logdet = np.linalg.slogdet(covs)
    tr = np.einsum("kij,kji->k", W, np.linalg.inv(covs))
    return float(np.sum(nk * logdet) + np.sum(tr))


def _singular_scatter(name):
    """The error of an iterative M-step whose scatter matrices are not all positive-definite."""
    return ValueError(
        f"the {name} M-step needs every component's scatter matrix to be "
        "positive-definite; some components have ill-defined empirical covariance "
        "(singleton or collapsed samples, a constant feature). Increase reg_covar, "
        "decrease the number of components, or scale the input data."
    )


class _Inner:
    """Bookkeeping of an inner iteration: convergence, the best iterate, the warning."""

    def __init__(self, name, nk, W, family):
        self.name, self.nk, self.W, self.family = name, nk, W, family
        self.scale = float(np.sum(nk))  # f is homogeneous of degree 1 in (nk, W)
        self.best, self.best_f, self.prev = None, np.inf, np.inf

    def done(self, covs):
        try:
            f = _objective(self.nk, self.W, covs, self.family)
        except np.linalg.LinAlgError:
            f = np.nan
        if not np.isfinite(f):  # a singular scatter (reg_covar=0): no covariance to find
            raise _singular_scatter(self.name)
        if f < self.best_f:
            self.best, self.best_f = covs, f
        # relative to f, floored at the total weight (f is near 0 when det(Sigma_k) ~ e^-d);
        # a floor of 1.0 stopped the steps early for weights below 1 (e.g. summing to 1):
        # the fit changed with their scale, of which only the ratios matter
        stop = abs(self.prev - f) <= INNER_TOL * max(self.scale, abs(f))
        self.prev = f
        return stop

    def give_up(self):
        warn(
            f"the {self.name} M-step did not converge in {INNER_MAX_ITER} inner iterations; "
            "EM continues from the best parameters it found.",
            InnerConvergenceWarning,
        )
        return self.best


def _diag_m_step(name, nk, W, previous):
    """Diagonal models: ``W`` is (K, D), the diagonals of the scatter matrices."""
    K, d = W.shape
    n = nk.sum()
    if name in ("EII", "E"):
        return np.full((K, d), W.sum() / (n * d))
    if name in ("VII", "V"):
        return np.repeat((W.sum(axis=1) / (nk * d))[:, None], d, axis=1)
    if name == "EEI":
        return np.broadcast_to(W.sum(axis=0) / n, (K, d)).copy()
    if name == "VVI":
        return W / nk[:, None]
    if name == "EVI":
        g = _geomean(W)
        return (g.sum() / n) * (W / g[:, None])
    # VEI: volumes lambda_k and one shape B (det 1), alternately
    B = previous[0] / _geomean(previous[0]) if previous is not None else np.ones(d)
    inner = _Inner(name, nk, W, "diag")
    for _ in range(INNER_MAX_ITER):
        lam = (W / B).sum(axis=1) / (nk * d)
        B = (W / lam[:, None]).sum(axis=0)
        B = B / _geomean(B)
        covs = lam[:, None] * B
        if inner.done(covs):
            return covs
    return inner.give_up()


def _sym_eig(W):
    """Eigenvalues (decreasing) and eigenvectors of each symmetric matrix of W."""
    vals, vecs = np.linalg.eigh(W)
    return vals[..., ::-1], vecs[..., ::-1]


def _compose(lam, D, A):
    """``lam_k D_k diag(A_k) D_k^T`` for every k (D may be shared: shape (d, d))."""
    D = np.broadcast_to(D, (A.shape[0], *D.shape[-2:]))
    return lam[:, None, None] * np.einsum("kij,kj,klj->kil", D, A, D)


def _orientation_start(previous, W):
    """The common orientation to warm-start from: the previous one, else that of sum W_k."""
    source = previous[0] if previous is not None else W.sum(axis=0)
    return _sym_eig(source)[1]


def _rotation_sweep(D, W, B):
    """One sweep of exact plane rotations of the common orientation (Jacobi-style).

    Lowers ``f(D) = sum_k tr(D^T W_k D B_k^{-1})`` over orthogonal ``D`` (``B_k``
    diagonal, given). Rotating axes ``i`` and ``j`` by ``theta`` changes ``f`` by
    ``P cos(2 theta) + Q sin(2 theta)`` plus a constant, whose minimum is in closed
    form, so every rotation is the best one in its plane and ``f`` never rises.
    The Minorization-Maximization update of Browne & McNicholas (2014) lowers the
    same function but, measured here (8 features, 8 components), by about 1e-9 of
    it per step: hundreds of steps per M-step, where sweeps need a handful.
    """
    d = D.shape[0]
    M = np.einsum("ji,kjl,lm->kim", D, W, D)  # D^T W_k D
    inv = 1.0 / B
    for i in range(d - 1):
        for j in range(i + 1, d):
            g = inv[:, i] - inv[:, j]
            P = 0.5 * np.dot(M[:, i, i] - M[:, j, j], g)
            Q = np.dot(M[:, i, j], g)
            if P == 0.0 and Q == 0.0:
                continue
            theta = 0.5 * np.arctan2(-Q, -P)
            c, s = np.cos(theta), np.sin(theta)
            # axes i, j -> (c d_i + s d_j, -s d_i + c d_j); M -> R^T M R on rows and columns
            for view in (D.T, M.transpose(1, 0, 2), M.transpose(2, 0, 1)):
                vi = view[i].copy()
                view[i] = c * vi + s * view[j]
                view[j] = c * view[j] - s * vi
    return D


def _full_m_step(name, nk, W, previous, live=None):
    """Full-covariance models: ``W`` is (K, D, D); ``live``: see :func:`m_step_covariances`."""
    K, d = W.shape[:2]
    n = nk.sum()
    if name == "EEE":
        return np.broadcast_to(W.sum(axis=0) / n, (K, d, d)).copy()
    if name == "VVV":
        return W / nk[:, None, None]
    if name == "EVV":
        sign, logdet = np.linalg.slogdet(W)
        if np.any(sign <= 0) or not np.all(np.isfinite(logdet)):
            raise ValueError(
                "covariance_type='EVV' needs every component's scatter matrix to be "
                "positive-definite (more rows in each component than features); use fewer "
                "components, a model with a shared orientation (e.g. 'EEV' or 'VVE'), or "
                "reg_covar > 0."
            )
        g = np.exp(logdet / d)
        return (g.sum() / n) * W / g[:, None, None]
    if name in ("EEV", "VEV"):
        omega, L = _sym_eig(W)
        omega = np.maximum(omega, 0.0)
        if name == "EEV":
            A = omega.sum(axis=0)
            g = _geomean(A)
            return _compose(np.full(K, g / n), L, np.broadcast_to(A / g, (K, d)))
        if previous is not None:
            A = _sym_eig(previous[0])[0]
            A = A / _geomean(A)
        else:
            A = np.ones(d)
        inner = _Inner(name, nk, W, "full")
        for _ in range(INNER_MAX_ITER):
            lam = (omega / A).sum(axis=1) / (nk * d)
            A = (omega / lam[:, None]).sum(axis=0)
            A = A / _geomean(A)
            covs = _compose(lam, L, np.broadcast_to(A, (K, d)))
            if inner.done(covs):
                return covs
        return inner.give_up()
    inner = _Inner(name, nk, W, "full")
    if name == "VEE":
        if previous is not None:
            C = previous[0] / np.exp(np.linalg.slogdet(previous[0])[1] / d)
        else:
            C = np.eye(d)
        for _ in range(INNER_MAX_ITER):
            Cinv = np.linalg.inv(C)
            lam = np.einsum("kij,ji->k", W, Cinv) / (nk * d)
            C = (W / lam[:, None, None]).sum(axis=0)
            C = C / np.exp(np.linalg.slogdet(C)[1] / d)
            covs = lam[:, None, None] * C
            if inner.done(covs):
                return covs
        return inner.give_up()
    # EVE and VVE: a common orientation D, alternating with the closed-form rest. The W_k of
    # every live component must be positive-definite: a null direction (reg_covar=0, a
    # constant feature) makes the likelihood unbounded (a shape of 0 along it); floored at
    # 1e-300, it gave a "fit" with a singular covariance (EVE) or precisions that overflow
    # float32 (VVE). A component that lost its weight keeps the floor: EM re-seeds it.
    live = np.ones(K, dtype=bool) if live is None else np.asarray(live, dtype=bool)
    try:
        np.linalg.cholesky(W[live])
    except np.linalg.LinAlgError:
        raise _singular_scatter(name) from None
    D = _orientation_start(previous, W).copy()
    for _ in range(INNER_MAX_ITER):
        M = np.einsum("ji,kjl,li->ki", D, W, D)  # diag(D^T W_k D)
        if not np.all(M[live] > 0):  # a positive-definite W_k rounded to 0 along an axis
            raise _singular_scatter(name)
        M = np.maximum(M, 1e-300)
        if name == "EVE":
            g = _geomean(M)
            lam = np.full(K, g.sum() / n)
            A = M / g[:, None]
        else:  # VVE
            Bk = M / nk[:, None]
            lam = _geomean(Bk)
            A = Bk / lam[:, None]
        covs = _compose(lam, D, A)
        if inner.done(covs):
            return covs
        D = _rotation_sweep(D, W, lam[:, None] * A)
    return inner.give_up()


def m_step_covariances(name, nk, W, reg_covar, previous=None, live=None):
    """Covariances of model ``name`` that maximize the expected complete-data log-likelihood.

    Parameters
    ----------
    name : str
        One of :data:`MCLUST_NAMES`.
    nk : ndarray of shape (n_components,)
        Weighted responsibilities per component.
    W : ndarray of shape (n_components, n_features, n_features) or (n_components, n_features)
        Scatter matrices about the new means (their diagonals for diagonal models).
    reg_covar : float
        Added to the diagonal of every ``W_k / n_k`` before the model's M-step.
    previous : ndarray, optional
        The covariances of the previous EM iteration: the warm start of the
        iterative M-steps.
    live : ndarray of bool of shape (n_components,), optional
        The components that kept their weight (default: all). EVE and VVE refuse a
        singular scatter matrix of a live component; the others are re-seeded by EM.

    Returns
    -------
    covariances : ndarray of the shape of ``W``
    """
    family = MODELS[name].family
    # a singular scatter (reg_covar=0) divides by 0 on its way to the named error (the
    # iterative steps' objective, EVV's determinants) or to the non-finite covariances
    # that ``_stats.precision_cholesky`` refuses: no RuntimeWarning before the error
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == "diag":
            W = W + reg_covar * nk[:, None]
            return _diag_m_step(name, nk, W, previous)
        d = W.shape[1]
        W = W + reg_covar * nk[:, None, None] * np.eye(d)
        return _full_m_step(name, nk, W, previous, live)


def constraint_violation(name, covariances, eps):
    """What of model ``name``'s constraint ``covariances`` break, or None (a model file's check).

    ``covariances`` in the model's layout, (K, D) or (K, D, D), positive-definite;
    ``eps``: the machine epsilon of the dtype they were fitted in, for a tolerance
    that rounding meets (the M-steps satisfy the constraints by construction). Every
    measure is relative: volumes by their ratio, diagonal shapes entry by entry,
    full matrices against their own diagonals or largest eigenvalue, orientations by
    commuting (symmetric matrices share their axes exactly when they commute).
    """
    model = MODELS[name]
    cov = np.asarray(covariances, dtype=np.float64)
    K, d = cov.shape[:2]
    tol = 1e-6 + 16 * d * eps
    if model.family == "diag":
        vol = _geomean(cov)
        shape = cov / vol[:, None]
        if model.volume == "E" and np.ptp(np.log(vol)) > tol:
            return "the components' volumes differ"
        if model.shape == "I" and np.max(np.abs(np.log(shape))) > tol:
            return "a component's variances differ across features (it is not spherical)"
        if model.shape == "E" and np.max(np.ptp(np.log(shape), axis=0)) > tol:
            return "the components' shapes differ"
        return None
    vals = np.linalg.eigvalsh(cov)  # increasing
    if model.volume == "E":
        # rounding moves each eigenvalue by about eps * the largest: relatively more the
        # smaller it is, so the volume (their geometric mean) by up to eps * condition
        cond = vals[:, -1] / vals[:, 0]
        if np.ptp(np.mean(np.log(vals), axis=1)) > tol + 16 * d * eps * cond.max():
            return "the components' volumes differ"
    if model.shape == "E" and model.orientation == "E":  # one matrix, scaled (by 1: EEE)
        scale = np.einsum("kij,ij->k", cov, cov[0]) / np.sum(cov[0] ** 2)
        if model.volume == "E":
            scale = np.ones(K)
        diag = np.sqrt(np.einsum("kii->ki", cov))
        gap = np.abs(cov - scale[:, None, None] * cov[0]) / (diag[:, :, None] * diag[:, None, :])
        if gap.max() > tol:
            return "the components' covariances are not " + (
                "equal" if model.volume == "E" else "proportional"
            )
    elif model.shape == "E":  # EEV, VEV: the same eigenvalues (up to the volume)
        # over the largest (VEV) or the largest of all (EEV): rounding moves each by ~eps
        shape = vals / (vals.max() if model.volume == "E" else vals[:, -1:])
        if np.max(np.ptp(shape, axis=0)) > tol:
            return "the components' shapes differ"
    elif model.orientation == "E":  # EVE, VVE: one set of axes: the matrices commute
        norm = np.linalg.norm(cov, axis=(1, 2))
        for j in range(K - 1):  # a pair at a time: memory K d^2, not K^2 d^2
            comm = np.linalg.norm(cov[j] @ cov[j + 1 :] - cov[j + 1 :] @ cov[j], axis=(1, 2))
            if np.max(comm / (norm[j] * norm[j + 1 :])) > tol:
                return "the components' orientations differ"
    return None


def decompose(covariances, covariance_type):
    """Volume, shape and orientation of every component's covariance.

    Returns ``(volumes, shapes, orientations)`` of shapes (K,), (K, D) and
    (K, D, D) with ``Sigma_k = volumes[k] * O_k diag(shapes[k]) O_k^T``,
    ``O_k = orientations[k]`` (columns: principal axes, by decreasing
    variance; identity for the diagonal models, whose shape is then in
    feature order), ``prod(shapes[k]) == 1``. scikit-learn's ``'spherical'``
    (one variance per component, shape (K,)) carries no feature count: its caller
    passes it as ``'diag'`` with the variance repeated along every feature.
    """
    kind = layout(covariance_type)
    cov = np.asarray(covariances, dtype=np.float64)
    if kind == "tied":
        cov = cov[None]
        kind = "full"
    if kind == "diag":
        K, d = cov.shape
        vol = _geomean(cov)
        return vol, cov / vol[:, None], np.broadcast_to(np.eye(d), (K, d, d)).copy()
    vals, vecs = _sym_eig(cov)
    # a deterministic sign: the largest entry of each axis is positive
    idx = np.argmax(np.abs(vecs), axis=1)
    signs = np.sign(np.take_along_axis(vecs, idx[:, None, :], axis=1))
    vecs = vecs * np.where(signs == 0, 1.0, signs)
    vol = _geomean(vals)
    return vol, vals / vol[:, None], vecs
