"""select_components: the grid, the table, the reuse of k-means, errors."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import _select_init
from fastem import select as select_mod

X = fastem.load_old_faithful()


def test_grid_table_and_best():
    calls = []
    best, table = fastem.select_components(
        X,
        n_components=[1, 2, 3],
        covariance_types=("full", "diag", "spherical"),
        random_state=0,
        callback=lambda d, t, row: calls.append((d, t)),
    )
    assert len(table["bic"]) == 9
    assert set(table) >= {"n_components", "covariance_type", "bic", "aic", "converged"}
    i = int(np.argmin(table["bic"]))
    assert (best.n_components, best.covariance_type) == (
        table["n_components"][i],
        table["covariance_type"][i],
    )
    assert best.n_components == 2
    assert best.bic(X) == pytest.approx(table["bic"][i], rel=1e-12)
    assert best.aic(X) == pytest.approx(table["aic"][i], rel=1e-12)
    assert calls[-1] == (9, 9)
    # docs (select_components' Notes): the shared start's weights_init, means_init and
    # precisions_init are reset to None, and random_state is the one given
    assert best.weights_init is None and best.means_init is None
    assert best.precisions_init is None and best.random_state == 0


def test_aic_criterion_and_scalars():
    best, table = fastem.select_components(X, 2, "tied", criterion="aic", random_state=0)
    assert best.covariance_type == "tied" and len(table["aic"]) == 1


def test_kmeans_runs_once_per_k_and_init(monkeypatch):
    calls = []
    real = _select_init.lloyd

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(_select_init, "lloyd", counting)
    fastem.select_components(
        X, [2, 3], ("full", "tied", "diag", "spherical"), n_init=2, random_state=0
    )
    assert len(calls) == 2 * 2


def test_same_as_fitting_from_the_shared_initialization():
    """Each cell equals a plain fit from the same k-means labelling."""
    best, table = fastem.select_components(X, [2], ("diag",), random_state=0, tol=1e-8)
    gm = fastem.GaussianMixture(2, covariance_type="diag", random_state=0, tol=1e-8).fit(X)
    # the same computation: equal (1e-12 leaves room only for a change of summation order)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(best, name), getattr(gm, name), rtol=1e-12, atol=0)
    assert best.n_iter_ == gm.n_iter_
    assert best.lower_bound_ == pytest.approx(gm.lower_bound_, rel=1e-12)


def test_failed_fits_are_recorded():
    Y = np.repeat(X[:3], 2, axis=0)  # 6 rows, 3 distinct
    best, table = fastem.select_components(Y, [1, 8], ("full",), random_state=0)
    assert best.n_components == 1
    assert np.isnan(table["bic"][1]) and table["error"][1]


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"n_components": [0, 1]}, "n_components"),
        ({"covariance_types": ("full", "round")}, "covariance_types"),
        ({"criterion": "dic"}, "criterion"),
        ({"n_init": 0}, "n_init"),
    ],
)
def test_bad_grid(kw, message):
    with pytest.raises(ValueError, match=message):
        fastem.select_components(X, **kw)


@pytest.mark.parametrize("bad", [None, 3, 2.5])
def test_data_that_is_not_an_array_is_refused_as_fit_refuses_it(bad):
    """What is neither an array-like, a source nor a Dask array (None, a number) gets the
    estimator's own error for it (it reached ``.shape``: an AttributeError)."""
    with pytest.raises(ValueError) as expected:
        fastem.GaussianMixture(2).fit(bad)
    with pytest.raises(ValueError) as got:
        fastem.select_components(bad, [1, 2])
    assert str(got.value) == str(expected.value)
    assert "Expected 2D array" in str(got.value)


def test_n_init_keeps_the_restart_with_the_highest_likelihood_in_every_cell(monkeypatch):
    """select_components' n_init: "the best by log-likelihood is kept for every cell of the
    grid". Every fit is recorded; each cell's row is that of its restart of highest
    ``lower_bound_`` (keeping the lowest passed the suite)."""
    fits = []

    class Recording(fastem.GaussianMixture):
        def fit(self, X, *args, **kwargs):
            fits.append(self)
            return super().fit(X, *args, **kwargs)

    monkeypatch.setattr(select_mod, "GaussianMixture", Recording)
    cts = ("full", "spherical")
    best, table = fastem.select_components(X, [4, 5, 6], cts, n_init=4, random_state=0)
    assert len(fits) == 3 * len(cts) * 4
    spread = 0.0
    for i, (K, ct) in enumerate(zip(table["n_components"], table["covariance_type"])):
        cell = [gm for gm in fits if gm.n_components == K and gm.covariance_type == ct]
        assert len(cell) == 4
        kept = max(cell, key=lambda gm: gm.lower_bound_)
        assert table["log_likelihood"][i] == pytest.approx(kept.score(X), rel=1e-12)
        spread = max(spread, np.ptp([gm.score(X) for gm in cell]))
    assert spread > 1e-3  # the restarts differ: keeping another one would show
    assert best.score(X) == pytest.approx(
        table["log_likelihood"][int(np.argmin(table["bic"]))], rel=1e-12
    )


def test_missing_values_marginalized_in_every_fit_and_score():
    """``missing="marginalize"``: NaN are not observed in every fit and score. With NaN the
    initialization is not shared, so each cell is the estimator's own fit with
    ``missing="marginalize"`` from the seed the grid hands it: log-likelihood bit for bit,
    BIC from it. Without NaN the option changes nothing (the shared start, the same table);
    with the default, NaN are refused naming the option."""
    X = fastem.load_old_faithful()
    gaps = X.copy()
    gaps[::9, 1] = np.nan
    gaps[4::9, 0] = np.nan
    with pytest.raises(ValueError, match=r'select_components\(\.\.\., missing="marginalize"\)'):
        fastem.select_components(gaps, range(1, 3))
    ks, cts = [1, 2, 3], ["full", "diag", "VVI"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        best, table = fastem.select_components(
            gaps, ks, cts, missing="marginalize", random_state=0, n_init=2
        )
        assert best.missing == "marginalize"
        rng = np.random.RandomState(0)
        for i, K in enumerate(ks):
            fits = {ct: [] for ct in cts}
            for _ in range(2):
                seed = int(rng.randint(np.iinfo(np.int32).max))
                for ct in cts:
                    gm = fastem.GaussianMixture(
                        K, covariance_type=ct, random_state=seed, missing="marginalize"
                    )
                    fits[ct].append(gm.fit(gaps))
            for j, ct in enumerate(cts):
                gm = max(fits[ct], key=lambda g: g.lower_bound_)
                row = i * len(cts) + j
                assert table["log_likelihood"][row] == gm.score(gaps), (K, ct)
                np.testing.assert_allclose(table["bic"][row], gm.bic(gaps), rtol=1e-13)
        same = [
            fastem.select_components(X, ks, cts, missing=m, random_state=0)
            for m in ("error", "marginalize")
        ]
    for name in ("bic", "log_likelihood", "n_iter"):
        np.testing.assert_array_equal(same[0].table[name], same[1].table[name])
