"""fit_online validates each batch once: the source checks its chunks, and only the first
batch goes through partial_fit's input checks; no check a batch needs is lost."""

import warnings

import numpy as np
import pytest

from fastem import GaussianMixture, _online

from .test_online_source import _manual


@pytest.fixture
def X():  # the data of test_online_source
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [4.0, 1.0], [0.5, 5.0]])
    return centres[rng.integers(0, 3, 5000)] + rng.normal(size=(5000, 2))


def _counting(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_only_the_first_batch_is_validated_again(X, monkeypatch):
    validated = _counting(monkeypatch, _online, "_validated_batch")
    updates = _counting(monkeypatch, _online, "update")
    gm = GaussianMixture(3, random_state=0).fit_online(X, batch_rows=1000)
    assert len(validated) == 1  # the first batch initializes through partial_fit
    assert len(updates) == 4  # the other four skip its checks
    ref = _manual(X, 1000)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-12)
    assert gm.n_iter_ == ref.n_iter_ == 5


def test_a_model_with_feature_names_still_warns_on_every_batch(X):
    pd = pytest.importorskip("pandas")
    gm = GaussianMixture(3, random_state=0, warm_start=True)
    gm.fit(pd.DataFrame(X, columns=["a", "b"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm.fit_online(X, batch_rows=1000)
    names = [w for w in caught if "feature names" in str(w.message)]
    assert len(names) == 5  # as five partial_fit calls on arrays without names warn


def test_a_batch_that_weighs_nothing_is_skipped(X):
    """Rows of weight zero are not part of the data (docs/robustness.md): a batch of them
    updates nothing, and the pass goes on (it stopped with "sample_weight sums to zero" after
    two batches, though the weights as a whole do not). As partial_fit on the other batches."""
    w = np.ones(len(X))
    w[1000:2000] = 0.0
    gm = GaussianMixture(3, random_state=0).fit_online(X, sample_weight=w, batch_rows=1000)
    ref = _manual(np.r_[X[:1000], X[2000:]], 1000, np.r_[w[:1000], w[2000:]])
    np.testing.assert_array_equal(gm.means_, ref.means_)
    assert gm.n_rows_seen_ == len(X) and gm.n_iter_ == 4
    with pytest.raises(ValueError, match="sample_weight sums to zero"):
        GaussianMixture(3).fit_online(X, sample_weight=np.zeros(len(X)), batch_rows=1000)


@pytest.mark.parametrize("scale, match", [(1e-120, "sample_weight has largest value 1e-120")])
def test_a_later_batch_of_underflowing_weights(X, scale, match):
    w = np.ones(len(X))
    w[1000:2000] = scale
    gm = GaussianMixture(3, random_state=0)
    with pytest.raises(ValueError, match=match) as online:
        gm.fit_online(X, sample_weight=w, batch_rows=1000)
    assert gm.n_iter_ == 1  # the update before it stays
    with pytest.raises(ValueError, match=match) as manual:
        _manual(X, 1000, w)
    assert str(online.value) == str(manual.value)  # partial_fit's own error


def test_hyper_parameters_of_a_continued_model_are_checked(X):
    gm = GaussianMixture(3, random_state=0, warm_start=True).fit(X)
    gm.reg_covar = -1.0  # set by hand after the fit: the first update must refuse it
    with pytest.raises(ValueError, match="reg_covar must be a finite number"):
        gm.fit_online(X, batch_rows=1000)


def test_a_callback_may_change_the_step_and_is_checked(X):
    def halve(model, rows):
        model.set_params(step_size=0.5)

    gm = GaussianMixture(3, random_state=0).fit_online(X, batch_rows=1000, callback=halve)
    ref = GaussianMixture(3, random_state=0)
    for r0 in range(0, len(X), 1000):
        ref.partial_fit(X[r0 : r0 + 1000])
        ref.set_params(step_size=0.5)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12, atol=1e-15)

    def bad(model, rows):
        model.set_params(step_size=2.0)

    gm = GaussianMixture(3, random_state=0)
    with pytest.raises(ValueError, match="step_size must be None"):
        gm.fit_online(X, batch_rows=1000, callback=bad)
    assert gm.n_iter_ == 1
