"""Model files of every covariance model: a fitted file loads (float32 and float64, well and
ill conditioned), and a file whose covariances break its model's constraint is refused.

The refusals are predicted from mclust's naming alone (Celeux & Govaert 1995): an alteration
that changes one component's volume, shape or orientation breaks exactly the models whose
corresponding letter is ``E`` (equal across components)."""

import warnings

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture
from fastem._models import MCLUST_NAMES, MODELS

from .test_io import _rewrite

SKLEARN = ("full", "tied", "diag", "spherical")
MULTI = tuple(m for m in MCLUST_NAMES if m not in ("E", "V"))


def _data(n_features, spread, seed=0, n=200):
    """Three clusters, each elongated along its own random axes: the covariances' condition
    numbers are about ``spread ** -2``."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(3):
        axes = np.linalg.qr(rng.normal(size=(n_features, n_features)))[0]
        scale = axes * np.geomspace(1.0, spread, n_features)
        centre = 6 * k * rng.normal(size=n_features)
        parts.append(rng.normal(size=(n, n_features)) @ scale.T + centre)
    return np.vstack(parts)


def _fit(ct, X, **kw):
    kw = {"random_state": 0, "max_iter": 30, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence, inner iterations
        return GaussianMixture(3, covariance_type=ct, **kw).fit(X)


def _round_trip(gm, path):
    fastem.save(gm, path)
    again = fastem.load(path)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(again, name).tobytes() == getattr(gm, name).tobytes(), name
    return again


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ct", [*MULTI, *SKLEARN])
@pytest.mark.parametrize(
    "n_features, spread", [(5, 0.3), (5, 1e-3), (8, 1e-6)], ids=["round", "long", "longer"]
)
def test_every_fitted_model_file_loads(tmp_path, ct, dtype, n_features, spread):
    """float32 fits of elongated clusters (condition numbers near 1e6) were refused at load:
    'precisions_cholesky_ does not match covariances_', since the factor recomputed from the
    float32-rounded covariances differs from the rounded factor by about eps * condition
    (and 'precisions_ does not match precisions_cholesky_' by eps, relative to the largest)."""
    X = _data(n_features, spread).astype(dtype)
    gm = _fit(ct, X)
    again = _round_trip(gm, tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict(X), gm.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ct", ["E", "V"])
def test_univariate_model_files_load(tmp_path, ct, dtype):
    X = _data(1, 1.0).astype(dtype)
    _round_trip(_fit(ct, X), tmp_path / "m.npz")


@pytest.mark.parametrize("ct", MULTI)
def test_a_fit_that_ends_on_a_reseed_keeps_its_model_and_loads(tmp_path, ct):
    """A re-seeded component got the live components' average covariance, whose volume or
    shape differs from theirs: a fit that ended there (here after one pass) was not of its
    declared model (EVI with unequal volumes ...). It now copies the heaviest live one's."""
    X = _data(2, 0.3)
    means = np.array([X[0], X[300], X.mean(0) + 1e4])  # the third mean sees no data
    with pytest.warns(fastem.DegenerateComponentWarning, match="re-seeded"):
        gm = GaussianMixture(3, covariance_type=ct, means_init=means, max_iter=1).fit(X)
    heaviest = int(np.argmax(gm.weights_[:2]))
    np.testing.assert_array_equal(gm.covariances_[2], gm.covariances_[heaviest])
    _round_trip(gm, tmp_path / "m.npz")


def _consistent(covariances):
    """The entries of a model file whose covariances are ``covariances``: the precisions and
    their Cholesky factors computed here (NumPy), so only the model's constraint is wrong."""
    if covariances.ndim == 2:  # diagonal layout
        return {"precisions_": 1 / covariances, "precisions_cholesky_": 1 / np.sqrt(covariances)}
    prec = np.linalg.inv(covariances)
    chol = np.linalg.cholesky(prec[:, ::-1, ::-1])[:, ::-1, ::-1]  # upper: prec = U U^T
    return {"precisions_": prec, "precisions_cholesky_": chol}


def _altered(cov, how, size):
    """``cov`` with component 0's volume, shape or orientation changed (nothing else), by a
    relative ``size``."""
    cov = cov.copy()
    grow = 1.0 + size
    if cov.ndim == 2:  # diagonal: the axes are the features (no orientation to change)
        cov[0] *= {"volume": [grow, grow], "shape": [grow, 1 / grow]}[how]
        return cov
    vals, vecs = np.linalg.eigh(cov[0])
    if how == "volume":
        cov[0] *= grow
    elif how == "shape":
        cov[0] = vecs @ np.diag(vals * [grow, 1 / grow]) @ vecs.T
    else:
        t = 0.6 * size
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        cov[0] = rot @ cov[0] @ rot.T
    return cov


@pytest.mark.parametrize(
    "ct, how",
    [
        (ct, how)
        for ct in MULTI
        for how in ("volume", "shape", "orientation")
        if MODELS[ct].family == "full" or how != "orientation"  # diagonal: no axes to turn
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1.0, 1e-4])
def test_covariances_that_break_the_model_are_refused(tmp_path, ct, how, size, dtype):
    """Also by a relative 1e-4, far above the rounding of either dtype (which the
    tolerance follows), but a tolerance of 1e-2 passed it."""
    model = MODELS[ct]
    X = _data(2, 0.3).astype(dtype)
    gm = _fit(ct, X)
    fastem.save(gm, tmp_path / "m.npz")
    cov = _altered(gm.covariances_.astype(np.float64), how, size)

    def change(arrays):
        arrays["covariances_"] = cov
        arrays.update(_consistent(cov))

    _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", change)
    letter = {"volume": model.volume, "shape": model.shape, "orientation": model.orientation}[how]
    # 'I' (spherical, or the features' axes): a changed shape is no longer the identity
    breaks = letter == "E" or (letter == "I" and how == "shape")
    if not breaks:
        again = fastem.load(tmp_path / "bad.npz")  # a model that allows it
        np.testing.assert_array_equal(again.covariances_, cov.astype(dtype))
        return
    with pytest.raises(ValueError, match=rf"bad\.npz: covariances_ do not satisfy {ct!r}"):
        fastem.load(tmp_path / "bad.npz")


def test_a_float32_model_file_with_an_altered_factor_is_still_refused(tmp_path):
    """The rounding tolerance of float32 files (eps times the condition number) still finds
    a factor changed by 1% where the covariances are well conditioned."""
    X = fastem.load_old_faithful().astype(np.float32)
    gm = GaussianMixture(2, random_state=0).fit(X)
    fastem.save(gm, tmp_path / "m.npz")
    _rewrite(
        tmp_path / "m.npz",
        tmp_path / "bad.npz",
        lambda a: a.__setitem__("precisions_cholesky_", a["precisions_cholesky_"] * 1.01),
    )
    with pytest.raises(ValueError, match="precisions_cholesky_ does not match"):
        fastem.load(tmp_path / "bad.npz")


def _bayesian(prior_type, prune):
    X = _data(2, 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fastem.BayesianGaussianMixture(
            n_components=6,
            weight_concentration_prior_type=prior_type,
            weight_concentration_prior=1e-3,
            prune_threshold=0.01 if prune else None,
            random_state=0,
            max_iter=200,
        ).fit(X)


def _shift_log_weights(shift):
    def change(arrays):
        arrays["log_weights"] = arrays["log_weights"] + shift(arrays["log_weights"])

    return change


@pytest.mark.parametrize("prune", [False, True], ids=["all", "pruned"])
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_altered_bayesian_log_weights_are_refused(tmp_path, prior_type, prune):
    """predict and score_samples use the stored log_weights, E[log pi_k] of the weight
    concentrations; only 'log_weights <= 0' was checked, so a file whose log-weights were
    shifted (still <= 0) loaded and predicted other labels than its concentrations give."""
    from scipy.special import digamma

    bgm = _bayesian(prior_type, prune)
    assert (bgm.n_components_effective_ < 6) == prune
    path = tmp_path / "b.npz"
    again = fastem.load(fastem.save(bgm, path))
    np.testing.assert_array_equal(again._log_weights, bgm._log_weights)
    # the reference, from the concentrations of all components (SciPy's digamma)
    if not prune:
        wc = bgm.weight_concentration_
        if prior_type == "dirichlet_process":
            a, b = wc
            step = digamma(b) - digamma(a + b)
            ref = digamma(a) - digamma(a + b) + np.concatenate(([0.0], np.cumsum(step)[:-1]))
        else:
            ref = digamma(wc) - digamma(wc.sum())
        np.testing.assert_allclose(bgm._log_weights, ref, rtol=1e-12)
    one = lambda lw: np.eye(lw.size)[np.argmax(lw)] * -3.0  # noqa: E731 (the heaviest one)
    for shift in (one, lambda lw: -np.abs(lw) * 0.5 * (np.arange(lw.size) % 2)):
        _rewrite(path, tmp_path / "bad.npz", _shift_log_weights(shift))
        with pytest.raises(ValueError, match=r"bad\.npz: the log weights do not match"):
            fastem.load(tmp_path / "bad.npz")
    if not prune:  # a shift of all of them (score_samples moves; pruned: undetectable)
        _rewrite(path, tmp_path / "bad.npz", _shift_log_weights(lambda lw: -1.0))
        with pytest.raises(ValueError, match="the log weights do not match weight_concentration_"):
            fastem.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("entry", ["precisions_cholesky_", "precisions_"])
@pytest.mark.parametrize("ct", [*SKLEARN, "VII", "EEE"])
def test_precisions_that_disagree_with_the_covariances_are_refused_in_every_layout(
    tmp_path, ct, entry
):
    """Only 'full' files were tested: a mutant that skipped the check for the diagonal
    layouts ('diag', 'spherical', and the six diagonal mclust models) survived."""
    gm = _fit(ct, _data(2, 0.3))
    fastem.save(gm, tmp_path / "m.npz")
    _rewrite(
        tmp_path / "m.npz", tmp_path / "bad.npz", lambda a: a.__setitem__(entry, a[entry] * 1.01)
    )
    with pytest.raises(ValueError, match=rf"bad\.npz: {entry} does not match"):
        fastem.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("prune", [False, True], ids=["all", "pruned"])
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_altered_bayesian_weights_are_refused(tmp_path, prior_type, prune):
    """sample() draws with weights_, E[pi_k] of the weight concentrations normalized over the
    kept components; only 'non-negative, summing to 1' was checked, so weights_ moved from
    one component to another loaded and sampled another mixture."""
    bgm = _bayesian(prior_type, prune)
    path = tmp_path / "b.npz"
    fastem.save(bgm, path)
    w = bgm.weights_
    i, j = np.argmax(w), np.argmin(w)

    def move(arrays):
        arrays["weights_"] = arrays["weights_"].copy()
        arrays["weights_"][[i, j]] += [-0.5 * w[i], 0.5 * w[i]]

    _rewrite(path, tmp_path / "bad.npz", move)
    with pytest.raises(ValueError, match=r"bad\.npz: weights_ do not match weight_concentration_"):
        fastem.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_a_bayesian_file_whose_weights_underflow_loads(tmp_path, prior_type):
    """Far down a Dirichlet process's stick the expected weights underflow to 0 (or to a
    subnormal with few bits): such a fitted file still loads."""
    X = np.random.default_rng(0).normal(size=(400, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bgm = fastem.BayesianGaussianMixture(
            n_components=150,
            weight_concentration_prior=1e-4,
            weight_concentration_prior_type=prior_type,
            random_state=0,
            max_iter=30,
        ).fit(X)
    if prior_type == "dirichlet_process":
        assert np.any(bgm.weights_ == 0)
    again = fastem.load(fastem.save(bgm, tmp_path / "b.npz"))
    np.testing.assert_array_equal(again.predict(X), bgm.predict(X))
