"""fastem.BayesianGaussianMixture beyond its answers: pruning, bad priors and starts,
concurrent use, checkpoints and model files (its equivalence to scikit-learn's estimator is
``tests/test_bayesian.py``). The conftest fixture makes every pass run in the compiled kernels.
"""

import json
import warnings

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture as SkBGM
from sklearn.utils._param_validation import InvalidParameterError

import fastem
from fastem import BayesianGaussianMixture as BGM

from .conftest import BGM_STATE as STATE
from .conftest import COVARIANCE_TYPES, PRIOR_TYPES, blobs, rel_err


def test_prune_threshold_keeps_exactly_the_components_at_or_above_it():
    """bayesian.md: the components whose expected weight ends *below* the threshold are
    removed: a threshold equal to a component's weight keeps it, one just above removes it."""
    X = blobs(600, 2, 3, seed=8)
    kw = dict(n_components=6, weight_concentration_prior=1e-3, random_state=0, max_iter=200)
    weights = BGM(**kw).fit(X).weights_
    levels = np.unique(weights)
    for threshold in [*levels, *np.nextafter(levels[:-1], 1.0)]:  # at least one kept
        pruned = BGM(prune_threshold=threshold, **kw).fit(X)
        np.testing.assert_array_equal(pruned.kept_components_, np.flatnonzero(weights >= threshold))


def test_a_threshold_above_every_weight_keeps_the_heaviest_component():
    X = blobs(600, 2, 3, seed=8)
    kw = dict(n_components=4, random_state=0, max_iter=200)
    weights = BGM(**kw).fit(X).weights_
    pruned = BGM(prune_threshold=0.99, **kw).fit(X)
    assert weights.max() < 0.99
    np.testing.assert_array_equal(pruned.kept_components_, [np.argmax(weights)])
    np.testing.assert_array_equal(pruned.weights_, [1.0])
    np.testing.assert_array_equal(pruned.predict(X), np.zeros(len(X)))


def test_pruning_keeps_the_components_in_use():
    """10 components on 3 clusters: the Dirichlet process leaves most near zero weight."""
    X = blobs(1500, 2, 3, seed=8)
    kw = dict(n_components=10, weight_concentration_prior=1e-3, random_state=0, max_iter=500)
    full = BGM(**kw).fit(X)
    pruned = BGM(prune_threshold=0.01, **kw).fit(X)
    keep = np.flatnonzero(full.weights_ >= 0.01)
    assert full.n_components_effective_ == 10
    # pruning happens at the end: the iterations and bounds are the unpruned fit's
    assert (pruned.n_iter_, pruned.lower_bounds_) == (full.n_iter_, full.lower_bounds_)
    assert pruned.n_components_effective_ == keep.size == 3
    np.testing.assert_array_equal(pruned.kept_components_, keep)
    np.testing.assert_allclose(pruned.weights_, full.weights_[keep] / full.weights_[keep].sum())
    np.testing.assert_array_equal(pruned.means_, full.means_[keep])
    proba = pruned.predict_proba(X)
    assert proba.shape == (1500, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # the kept components' posterior, renormalized: the same as the unpruned model's
    ref = full.predict_proba(X)[:, keep]
    np.testing.assert_allclose(proba, ref / ref.sum(axis=1, keepdims=True), atol=1e-12)
    labels = pruned.predict(X)
    assert set(np.unique(labels)) <= set(range(3))
    np.testing.assert_array_equal(keep[labels], full.predict(X))  # pruned ones owned no row
    with pytest.raises(ValueError, match="cannot continue a pruned fit"):
        pruned.set_params(warm_start=True).fit(X)
    with pytest.raises(ValueError, match="whose covariances_ have shape"):
        full.set_params(warm_start=True, n_components=4).fit(X)  # 10 fitted components
    # n_components set to the kept count: the state that would continue still has 10
    with pytest.raises(ValueError, match="pruned fit .prune_threshold removed 7 components"):
        pruned.set_params(warm_start=True, n_components=3).fit(X)
    # a pruned model is a start for its kept components only (the error said n_features = 10)
    with pytest.raises(ValueError, match="init_from holds 3 components, .* n_components=10"):
        BGM(**kw).fit(X, init_from=pruned)
    again = BGM(**{**kw, "n_components": 3, "max_iter": 1}).fit(X, init_from=pruned)
    assert again.n_components_effective_ == 3


BAD = [
    (dict(mean_prior=[0.0, 1.0]), "mean_prior must be an array of numbers of shape \\(3,\\)"),
    (dict(covariance_prior=np.eye(2)), "covariance_prior must be a full covariance matrix of "),
    (dict(covariance_prior=-np.eye(3)), "covariance_prior must be symmetric, positive-definite"),
    (
        dict(covariance_type="diag", covariance_prior=[1.0, -1.0, 1.0]),
        "covariance_prior must be positive for covariance_type='diag'",
    ),
    (
        dict(covariance_type="spherical", covariance_prior=[1.0, 2.0]),
        "covariance_prior must be a number > 0 for covariance_type='spherical'",
    ),
    (dict(weight_concentration_prior=-1.0), "weight_concentration_prior must be None or a"),
    (dict(mean_precision_prior=0.0), "mean_precision_prior must be None or a finite number > 0"),
    (dict(degrees_of_freedom_prior=1.5), "'degrees_of_freedom_prior' should be greater than 2"),
    (dict(degrees_of_freedom_prior=np.inf), "degrees_of_freedom_prior must be None or a finite"),
    (dict(weight_concentration_prior_type="beta"), "weight_concentration_prior_type must be"),
    (dict(prune_threshold=1.5), "prune_threshold must be None or a number in \\[0, 1\\)"),
    (dict(n_components=0), "n_components must be an integer >= 1"),
    # GaussianMixture's mclust models and hc start have no variational M-step here
    (dict(covariance_type="EVE"), "covariance_type must be one of .* for BayesianGaussian"),
    (dict(init_params="hc"), "init_params must be one of .* for BayesianGaussianMixture"),
]


@pytest.mark.parametrize("prior", [np.array(2.0), [2.0], np.array([2.0])], ids=repr)
def test_spherical_covariance_prior_in_a_one_number_array_is_that_number(prior, tmp_path):
    """scikit-learn takes a 0-d or one-element array as the spherical prior (its parameter
    check takes any array-like); fastem refused it, and its model file could not store a 0-d
    one. The fit is scikit-learn's, and the fit with the number; saved and loaded, it scores
    the same; a number <= 0 is refused with scikit-learn's exception."""
    X = blobs(200, 2, 2, seed=3)
    kw = dict(n_components=2, covariance_type="spherical", random_state=0)
    ours = BGM(covariance_prior=prior, **kw).fit(X)
    theirs = SkBGM(covariance_prior=prior, **kw).fit(X)
    number = BGM(covariance_prior=2.0, **kw).fit(X)
    assert ours.lower_bound_ == number.lower_bound_
    np.testing.assert_array_equal(ours.means_, number.means_)
    assert rel_err(ours.means_, theirs.means_) < 1e-6
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-8)
    fastem.save(ours, tmp_path / "m.npz")
    loaded = fastem.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict_proba(X), ours.predict_proba(X))
    for bad in (0.0, -1.0, np.inf):
        with pytest.raises(InvalidParameterError):
            SkBGM(covariance_prior=bad, **kw).fit(X)
        with pytest.raises(InvalidParameterError, match="covariance_prior must be a number > 0"):
            BGM(covariance_prior=bad, **kw).fit(X)


@pytest.mark.parametrize("params, message", BAD)
def test_bad_priors_name_the_parameter_and_the_expected_shape(params, message):
    X = blobs(60, 3, 2, seed=9)
    est = BGM(**{"n_components": 2, **params})
    with pytest.raises(ValueError, match=message):
        est.fit(X)
    assert not hasattr(est, "weights_") and not hasattr(est, "n_features_in_")


def test_bad_starting_points_are_refused():
    X = blobs(60, 3, 2, seed=9)
    with pytest.raises(ValueError, match=r"resp_init must have shape .* = \(60, 2\)"):
        BGM(n_components=2).fit(X, resp_init=np.full((60, 3), 1 / 3))
    with pytest.raises(ValueError, match="each row of resp_init must sum to 1"):
        BGM(n_components=2).fit(X, resp_init=np.full((60, 2), 0.6))
    with pytest.raises(ValueError, match="resp_init must hold finite, non-negative"):
        BGM(n_components=2).fit(X, resp_init=np.tile([1.5, -0.5], (60, 1)))  # rows sum to 1
    with pytest.raises(ValueError, match="init_from must be a fitted BayesianGaussianMixture"):
        BGM(n_components=2).fit(X, init_from=fastem.GaussianMixture(2).fit(X))
    other = BGM(n_components=2, covariance_type="diag", max_iter=2).fit(X)
    with pytest.raises(ValueError, match="init_from has covariance_type='diag'"):
        BGM(n_components=2).fit(X, init_from=other)
    # covariances that are not covariances: the error blamed the data ("ill-defined empirical
    # covariance ... singleton or collapsed samples")
    for covariance_type in COVARIANCE_TYPES:
        start = BGM(n_components=2, covariance_type=covariance_type, max_iter=2).fit(X)
        start.covariances_ = -start.covariances_
        with pytest.raises(ValueError, match="init_from.covariances_ must be positive-definite"):
            BGM(n_components=2, covariance_type=covariance_type).fit(X, init_from=start)


def test_concurrent_fits_and_predictions_equal_sequential_ones():
    from concurrent.futures import ThreadPoolExecutor

    datasets = [blobs(6000, 3, 3, seed=s) for s in range(4)]

    def job(X):
        m = BGM(n_components=4, tol=0, max_iter=6, random_state=0).fit(X)
        return m.means_, m.covariances_, m.predict_proba(X), m.lower_bound_

    sequential = [job(X) for X in datasets]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(job, datasets))
    for a, b in zip(sequential, concurrent):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    shared = BGM(n_components=4, max_iter=6, random_state=0).fit(datasets[0])
    with ThreadPoolExecutor(4) as pool:
        probas = list(pool.map(shared.predict_proba, datasets))
    for X, p in zip(datasets, probas):
        np.testing.assert_array_equal(p, shared.predict_proba(X))


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_interrupted_fit_resumes_from_its_checkpoint_exactly(tmp_path, monkeypatch, prior_type):
    from fastem import _passes

    X = blobs(3000, 3, 3, seed=10)
    kw = dict(
        n_components=5,
        weight_concentration_prior_type=prior_type,
        tol=0,
        max_iter=12,
        n_init=2,
        random_state=0,
    )
    plain = BGM(**kw).fit(X)
    calls = {"n": 0}
    original = _passes.ArrayData.stats

    def interrupted(self, params, n_threads):
        calls["n"] += 1
        if calls["n"] == 17:  # in the second initialization
            raise KeyboardInterrupt
        return original(self, params, n_threads)

    monkeypatch.setattr(_passes.ArrayData, "stats", interrupted)
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        BGM(**kw).fit(X, checkpoint=tmp_path / "fit.npz")
    calls["n"] = -(10**9)  # count the passes of the resumed fit, never interrupt it
    resumed = BGM(**kw).fit(X, checkpoint=tmp_path / "fit.npz")
    # one pass for the priors, then the 9 iterations left of the second initialization
    # (the first ran 12, the second 3 before the interrupt)
    assert calls["n"] + 10**9 == 1 + 9
    for name in (*STATE, "lower_bound_", "lower_bounds_", "n_iter_", "elbo_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(plain, name), name)
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        BGM(**{**kw, "mean_precision_prior": 2.0}).fit(X, checkpoint=tmp_path / "fit.npz")


def _sparse_six(prior_type, covariance_type):
    """The model-file tests' estimator: six components, a sparse weight prior (some prune)."""
    return dict(
        n_components=6,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        weight_concentration_prior=1e-3,
        random_state=0,
        max_iter=300,
    )


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_model_files_round_trip_without_pickle(tmp_path, prior_type, covariance_type):
    X = blobs(900, 3, 3, seed=11)
    kw = _sparse_six(prior_type, covariance_type)
    for extra in ({}, {"prune_threshold": 0.01}):
        model = BGM(**kw, **extra).fit(X)
        path = fastem.save(model, tmp_path / "vb.npz")
        with np.load(path, allow_pickle=False) as archive:  # plain arrays only
            assert all(archive[name].dtype != object for name in archive.files)
        back = fastem.load(path)
        assert type(back) is BGM and back.get_params() == model.get_params()
        for name in (*STATE, "lower_bound_", "lower_bounds_", "elbo_", "kept_components_"):
            np.testing.assert_array_equal(getattr(back, name), getattr(model, name), name)
            is_array = [isinstance(getattr(m, name), np.ndarray) for m in (back, model)]
            assert is_array[0] == is_array[1], name  # a float stays a float, not a 0-d array
        np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
        np.testing.assert_array_equal(back.score_samples(X), model.score_samples(X))
    # continuing a loaded model is continuing the original
    again = fastem.load(fastem.save(BGM(**{**kw, "max_iter": 3}).fit(X), tmp_path / "w.npz"))
    original = BGM(**{**kw, "max_iter": 3}).fit(X)
    for m in (again, original):
        m.set_params(warm_start=True, max_iter=5).fit(X)
    np.testing.assert_array_equal(again.means_, original.means_)


def test_altered_model_files_are_refused(tmp_path):
    X = blobs(300, 2, 3, seed=12)
    path = fastem.save(BGM(n_components=3, random_state=0).fit(X), tmp_path / "vb.npz")
    with np.load(path, allow_pickle=False) as archive:
        arrays = dict(archive)
    for name, change, message in [
        ("weights_", lambda a: a * 2, "weights_ must sum to 1"),
        ("precisions_", lambda a: a * 1.01, "precisions_ does not match"),
        ("mean_precision_", lambda a: -a, "mean_precision_ must be positive"),
        ("means_", lambda a: a[:1], r"means_ must be finite float64 of shape \(3, 2\)"),
        # positive but at most D - 1 (= 1): the Wishart is improper, E[log det] is NaN
        ("degrees_of_freedom_", lambda a: np.full_like(a, 0.5), "degrees_of_freedom_ <= D-1"),
        ("log_weights", lambda a: a + 2.0, "log_weights must be <= 0"),  # weights above 1
        ("kept_components_", lambda a: a[::-1].copy(), "kept_components_ must be increasing"),
    ]:
        bad = {**arrays, name: change(arrays[name])}
        np.savez(tmp_path / "bad.npz", **bad)
        with pytest.raises(ValueError, match=message):
            fastem.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "extra.npz", **arrays, payload=np.zeros(3))
    with pytest.raises(ValueError, match="unexpected entries"):
        fastem.load(tmp_path / "extra.npz")
    # a hyper-parameter covariance_type other than the metadata's (the arrays' shapes): it
    # loaded, and predict blamed a set_params the user never called
    meta = json.loads(str(arrays["__metadata__"]))
    meta["params"]["covariance_type"] = "spherical"
    np.savez(tmp_path / "type.npz", **{**arrays, "__metadata__": np.array(json.dumps(meta))})
    with pytest.raises(ValueError, match="covariance_type in the hyper-parameters does not match"):
        fastem.load(tmp_path / "type.npz")
    meta = json.loads(str(arrays["__metadata__"]))
    meta["entries"].remove("means_")
    np.savez(tmp_path / "e.npz", **{**arrays, "__metadata__": np.array(json.dumps(meta))})
    with pytest.raises(ValueError, match="the entries were altered"):
        fastem.load(tmp_path / "e.npz")
    # fitted scalars of the wrong type or value, and feature names of the wrong shape
    for name, value in [
        ("converged_", "yes"),
        ("mean_precision_prior_", -1.0),
        ("n_components_effective_", 4),
    ]:
        meta = json.loads(str(arrays["__metadata__"]))
        meta["fitted"][name] = value
        np.savez(tmp_path / "s.npz", **{**arrays, "__metadata__": np.array(json.dumps(meta))})
        match = f"{name}' has the wrong type|must be positive|n_components_effective_ mismatch"
        with pytest.raises(ValueError, match=match):
            fastem.load(tmp_path / "s.npz")
    meta = json.loads(str(arrays["__metadata__"]))
    meta["entries"] = [*meta["entries"], "feature_names_in_"]
    named = {**arrays, "__metadata__": np.array(json.dumps(meta))}
    np.savez(tmp_path / "n.npz", **named, feature_names_in_=np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="feature_names_in_ is malformed"):
        fastem.load(tmp_path / "n.npz")


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_model_files_with_inconsistent_variational_parameters_are_refused(
    tmp_path, prior_type, covariance_type
):
    """Each change below loaded, and the model then scored (or reported weights) silently
    differently from the one saved: the expected log weights and weights_ are functions of
    the concentrations, and every variational M-step ties mean_precision_,
    degrees_of_freedom_ and the concentrations to the same N_k."""
    X = blobs(600, 2, 3, seed=12)
    kw = _sparse_six(prior_type, covariance_type)
    a_name = "weight_concentration_a_" if prior_type == "dirichlet_process" else None
    a_name = a_name or "weight_concentration_"
    changes = [
        ("log_weights", lambda a: a - 0.5),  # every score shifted by 0.5
        ("weights_", lambda a: (a + np.arange(a.size)) / (a + np.arange(a.size)).sum()),
        ("degrees_of_freedom_", lambda a: a * 1.5),
        ("mean_precision_", lambda a: a * 3),
        (a_name, lambda a: a * 2),
        ("weight_concentration_b_", lambda a: a * 2),  # (Dirichlet process)
        ("weight_concentration_b_", lambda a: np.r_[a[:-1], a[-1] / 2]),  # below the prior
        ("log_weights", lambda a: np.r_[a[:1], a[1:] + 0.01]),  # a stick's E[log(1-v)] lost
        ("lower_bounds_", lambda a: a[:, None]),
    ]
    for extra in ({}, {"prune_threshold": 0.01}):
        model = BGM(**kw, **extra).fit(X)
        path = fastem.save(model, tmp_path / "vb.npz")
        with np.load(path, allow_pickle=False) as archive:
            arrays = dict(archive)
        for name, change in changes:
            if name not in arrays:
                continue
            if extra and covariance_type == "tied" and name == "degrees_of_freedom_":
                continue  # tied: the mean N_k of all components, the removed ones too
            np.savez(tmp_path / "bad.npz", **{**arrays, name: change(arrays[name])})
            with pytest.raises(ValueError, match="altered|lower_bounds_ must hold"):
                fastem.load(tmp_path / "bad.npz")
        if model.n_components_effective_ < 6:  # a pruned file that says it was not pruned
            meta = json.loads(str(arrays["__metadata__"]))
            meta["params"]["prune_threshold"] = None
            np.savez(tmp_path / "p.npz", **{**arrays, "__metadata__": np.array(json.dumps(meta))})
            with pytest.raises(ValueError, match="fewer components than n_components but was not"):
                fastem.load(tmp_path / "p.npz")
    # a start's parameters kept by max_iter=0 need not satisfy the M-step's relations
    start = BGM(**{**kw, "max_iter": 2, "mean_precision_prior": 5.0}).fit(X)
    kept = BGM(**{**kw, "max_iter": 0}).fit(X, init_from=start)
    back = fastem.load(fastem.save(kept, tmp_path / "start.npz"))
    np.testing.assert_array_equal(back.score_samples(X), kept.score_samples(X))


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_model_files_with_priors_far_above_the_counts_load(tmp_path, prior_type, covariance_type):
    """A prior of 1e20 rounds N_k off in beta_0 + N_k: the file of such a fit (scikit-learn
    fits it too) must still load, its M-step relations checked to that rounding only."""
    X = blobs(300, 2, 3, seed=12)
    for prior in ("mean_precision_prior", "weight_concentration_prior", "degrees_of_freedom_prior"):
        for extra in ({}, {"prune_threshold": 0.1}):
            model = BGM(
                n_components=4,
                covariance_type=covariance_type,
                weight_concentration_prior_type=prior_type,
                random_state=0,
                max_iter=20,
                **{prior: 1e20},
                **extra,
            ).fit(X)
            back = fastem.load(fastem.save(model, tmp_path / "big.npz"))
            np.testing.assert_array_equal(back.score_samples(X), model.score_samples(X))


def test_one_feature_and_verbose_output(capsys):
    X = blobs(300, 1, 2, seed=13)
    m = BGM(n_components=2, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1" in out and "lower bound" in out
    sk = SkBGM(n_components=2, random_state=0, init_params="random_from_data").fit(X)
    fe = BGM(n_components=2, random_state=0, init_params="random_from_data").fit(X)
    assert m.means_.shape == (2, 1)
    assert rel_err(fe.means_, sk.means_) < 1e-7


def test_sample_of_a_pruned_model_labels_its_kept_components():
    """sample() of a model whose pruning kept fewer components than n_components failed
    ("operands could not be broadcast") once its labels were built from n_components."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(m, 0.3, (200, 2)) for m in (0.0, 5.0)])
    bgm = BGM(n_components=6, prune_threshold=0.05, random_state=0, max_iter=200).fit(X)
    kept = len(bgm.weights_)
    assert kept < 6
    Xs, y = bgm.sample(300)
    assert Xs.shape == (300, 2) and y.shape == (300,)
    assert set(np.unique(y)) <= set(range(kept))
    np.testing.assert_array_equal(np.bincount(y, minlength=kept).sum(), 300)
