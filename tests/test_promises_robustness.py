"""Promises of docs/robustness.md that no other test proved at their stated numbers: the one
overflow guard refuses values beyond 1e150 (1e15 in float32) and sample weights whose largest
value is outside [1e-100, 1e100], and accepts what lies inside (the other tests used values
far beyond, 1e200 or 1e308, so a limit moved by a factor of 100 went unnoticed)."""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture

from .conftest import blobs


@pytest.mark.parametrize("dtype, limit", [(np.float64, 1e150), (np.float32, 1e15)])
def test_values_beyond_the_documented_limit_are_refused_and_those_within_fit(dtype, limit):
    """docs/robustness.md: "values beyond 1e150 (1e15 in float32), whose squares overflow ...
    are refused with a message that says to rescale", in memory and in a source."""
    X = blobs(200, 2, 2, seed=4).astype(dtype)
    for factor, refused in [(1.5, True), (-1.5, True), (0.5, False), (-0.5, False)]:
        Y = X.copy()
        Y[7, 1] = factor * limit
        gm = GaussianMixture(2, random_state=0)
        if refused:
            with pytest.raises(
                ValueError, match=re.escape(f"beyond {limit:.0e} in ") + ".*Rescale the data"
            ):
                gm.fit(Y)
        else:
            gm.fit(Y)
            assert np.all(np.isfinite(gm.means_)) and np.all(np.isfinite(gm.covariances_))


def test_weights_outside_the_documented_range_are_refused_and_those_within_fit():
    """docs/robustness.md: "sample weights whose largest value is outside [1e-100, 1e100] (only
    their ratios matter) are refused"; inside the range the fit is that of the weights'
    ratios."""
    X = blobs(200, 2, 2, seed=4)
    w = np.random.default_rng(0).uniform(0.5, 1.0, len(X))
    w /= w.max()
    ref = GaussianMixture(2, random_state=0).fit(X, sample_weight=w)
    for scale, refused in [(1.5e100, True), (0.5e-100, True), (0.5e100, False), (2e-100, False)]:
        gm = GaussianMixture(2, random_state=0)
        if refused:
            with pytest.raises(ValueError, match=r"ratios of the weights"):
                gm.fit(X, sample_weight=w * scale)
        else:
            gm.fit(X, sample_weight=w * scale)
            np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-9)


@pytest.mark.parametrize("depth", [16, 17])
def test_model_metadata_may_nest_16_levels(tmp_path, depth):
    """docs/robustness.md: "JSON metadata may nest at most 16 levels" (the other test nested
    100,000 levels): a file whose metadata nests 17 levels is refused for its nesting, one of 16
    is not (it is refused for its unknown entry, as an altered file, or loads)."""
    import io
    import json
    import zipfile

    import fastem

    gm = GaussianMixture(2, random_state=0).fit(blobs(100, 2, 2, seed=1))
    fastem.save(gm, tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        entries = {i.filename: z.read(i) for i in z.infolist()}
    meta = json.loads(str(np.load(io.BytesIO(entries["__metadata__.npy"]))))
    nested = 0
    for _ in range(depth - 1):  # the object itself is the first level
        nested = [nested]
    meta["x"] = nested
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(json.dumps(meta)))
    entries["__metadata__.npy"] = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    if depth > 16:
        with pytest.raises(ValueError, match="nested deeper than 16 levels"):
            fastem.load(tmp_path / "bad.npz")
    else:
        try:
            fastem.load(tmp_path / "bad.npz")
        except ValueError as e:
            assert "nested deeper" not in str(e)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_lower_bounds_are_python_floats(tmp_path, dtype, covariance_type):
    """docs/robustness.md, the deliberate differences: "lower_bound_ and the entries of
    lower_bounds_ are Python floats (scikit-learn's are NumPy scalars: float32 on float32
    data, and one-element arrays for a 'tied' BayesianGaussianMixture)", also from a model
    file."""
    import fastem

    X = blobs(200, 2, 2, seed=4).astype(dtype)
    for cls in (fastem.GaussianMixture, fastem.BayesianGaussianMixture):
        gm = cls(n_components=2, covariance_type=covariance_type, max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X)
        fastem.save(gm, tmp_path / "m.npz")
        for model in (gm, fastem.load(tmp_path / "m.npz")):
            assert type(model.lower_bound_) is float, (cls, type(model.lower_bound_))
            assert model.lower_bounds_, cls
            assert {type(b) for b in model.lower_bounds_} == {float}, cls


@pytest.mark.parametrize("share, warns", [(0.15, True), (0.07, False)])
def test_reg_covar_warns_from_a_tenth_of_a_features_variance(share, warns):
    """docs/robustness.md, degenerate data: "a RegularizationWarning: reg_covar is at least a
    tenth of a feature's variance", naming the feature and advising a reg_covar below a
    hundredth of it; below a tenth, no warning (the tests used data scaled by 1e-8, far past
    the threshold either way, so warning from a hundredth, or from the whole variance, passed
    the suite)."""
    import fastem

    X = blobs(300, 3, 2, seed=2) * [3.0, 0.5, 2.0]  # feature 1 has the smallest variance
    var = X.var(axis=0)
    assert np.argmin(var) == 1
    gm = GaussianMixture(2, reg_covar=share * var[1], random_state=0)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        gm.fit(X)
    found = [w for w in seen if issubclass(w.category, fastem.RegularizationWarning)]
    if warns:
        assert len(found) == 1
        text = str(found[0].message)
        assert "at least a tenth of the variance of feature 1" in text
        assert f"set reg_covar below {0.01 * var[1]:.3g}" in text
    else:
        assert not found


GM_NUMBERS = ["tol", "reg_covar", "max_iter", "n_components", "n_init", "verbose_interval",
              "n_threads"]  # fmt: skip
ONLINE_NUMBERS = ["step_size", "step_decay", "step_offset"]
BGM_NUMBERS = ["weight_concentration_prior", "mean_precision_prior", "degrees_of_freedom_prior",
               "covariance_prior", "prune_threshold"]  # fmt: skip


@pytest.mark.parametrize("value", [True, False, np.True_], ids=["True", "False", "np.True_"])
@pytest.mark.parametrize("name", GM_NUMBERS + ONLINE_NUMBERS + BGM_NUMBERS)
def test_a_boolean_is_no_number_for_any_hyper_parameter(name, value):
    """docs/robustness.md, the deliberate differences: "fastem refuses tol=True, max_iter=True
    and a boolean for every other number among the hyper-parameters (n_components,
    reg_covar, n_init, verbose_interval, the Bayesian priors; scikit-learn takes them as 1)"
    (a real-valued one accepting True, as 1.0, passed the suite), naming the parameter."""
    import fastem

    X = blobs(100, 2, 2, seed=1)
    with pytest.raises(ValueError, match=f"^{name} must "), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name in BGM_NUMBERS:
            kw = dict(n_components=2, covariance_type="spherical", **{name: value})
            fastem.BayesianGaussianMixture(**kw).fit(X)
        elif name in ONLINE_NUMBERS:
            GaussianMixture(2, **{name: value}).partial_fit(X)
        else:
            GaussianMixture(**{"n_components": 2, name: value}).fit(X)
