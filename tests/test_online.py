"""partial_fit: stepwise (online) EM (issue 16).

References: a plain-NumPy/SciPy stepwise EM written here from uncentred
moments; scikit-learn's EM step (a step of 1 is one EM iteration on the batch);
invariants (integer weights = repeated rows, errors leave the model as it was).
"""

import copy
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from fastem import GaussianMixture
from fastem._online import recentre
from fastem._stats import SuffStats

from .conftest import COVARIANCE_TYPES

K, D = 3, 2
CENTRES = np.array([[0.0, 0.0], [4.0, 1.0], [0.5, 5.0]])


def batch(rng, n, centres=CENTRES):
    lab = rng.integers(0, len(centres), n)
    return centres[lab] + rng.normal(size=(n, centres.shape[1])) * np.array([1.0, 0.6])


def start(covariance_type, D=D):
    """Fixed initial parameters (weights, means, covariances, precisions)."""
    weights = np.array([0.3, 0.3, 0.4])
    means = CENTRES[:, :D] + 0.7
    full = np.array(
        [[[1.5, 0.3], [0.3, 1.0]], [[1.0, -0.2], [-0.2, 0.8]], [[2.0, 0.0], [0.0, 1.2]]]
    )
    covs = {
        "full": full,
        "tied": full[0],
        "diag": np.array([[1.5, 1.0], [1.0, 0.8], [2.0, 1.2]]),
        "spherical": np.array([1.2, 0.9, 1.6]),
    }[covariance_type]
    precs = np.linalg.inv(covs) if covariance_type in ("full", "tied") else 1.0 / covs
    return weights, means, covs, precs


def _cov_matrix(covs, covariance_type, k):
    if covariance_type == "full":
        return covs[k]
    if covariance_type == "tied":
        return covs
    if covariance_type == "diag":
        return np.diag(covs[k])
    return covs[k] * np.eye(D)


class NumpyStepwiseEM:
    """Stepwise EM from uncentred moments (S0, S1, S2 per unit weight), in NumPy/SciPy."""

    def __init__(self, weights, means, covs, covariance_type, reg):
        self.ct, self.reg = covariance_type, reg
        self.w, self.mu, self.cov = weights, means, covs
        I = np.eye(D)
        C = np.array([_cov_matrix(covs, covariance_type, k) for k in range(K)])
        self.S0 = weights.copy()
        self.S1 = weights[:, None] * means
        self.S2 = weights[:, None, None] * (C - reg * I + means[:, :, None] * means[:, None, :])

    def update(self, X, g, w=None):
        w = np.ones(len(X)) if w is None else w
        logp = np.column_stack(
            [
                np.log(self.w[k])
                + multivariate_normal(self.mu[k], _cov_matrix(self.cov, self.ct, k)).logpdf(X)
                for k in range(K)
            ]
        )
        ll = np.logaddexp.reduce(logp, axis=1)
        r = np.exp(logp - ll[:, None]) * w[:, None] / w.sum()
        self.S0 = (1 - g) * self.S0 + g * r.sum(0)
        self.S1 = (1 - g) * self.S1 + g * r.T @ X
        self.S2 = (1 - g) * self.S2 + g * np.einsum("nk,ni,nj->kij", r, X, X)
        nk = self.S0 + 10 * np.finfo(float).eps
        self.w = nk / nk.sum()
        self.mu = self.S1 / nk[:, None]
        C = self.S2 / nk[:, None, None] - self.mu[:, :, None] * self.mu[:, None, :]
        if self.ct == "full":
            self.cov = C + self.reg * np.eye(D)
        elif self.ct == "tied":
            self.cov = (C * nk[:, None, None]).sum(0) / nk.sum() + self.reg * np.eye(D)
        elif self.ct == "diag":
            self.cov = np.diagonal(C, axis1=1, axis2=2) + self.reg
        else:
            self.cov = np.diagonal(C, axis1=1, axis2=2).mean(1) + self.reg
        return float(np.average(ll, weights=w))


def _gm(covariance_type, **kw):
    w, m, _, p = start(covariance_type)
    return GaussianMixture(
        K,
        covariance_type=covariance_type,
        weights_init=w,
        means_init=m,
        precisions_init=p,
        **kw,
    )


@pytest.mark.parametrize("layout", ["full", "diag"])
def test_recentre_matches_numpy(layout):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, D)) * 3 + 100.0  # far from the origin: cancellation would show
    r = rng.uniform(size=(50, K))
    a, b = rng.normal(size=(K, D)) + 100, rng.normal(size=(K, D)) + 100

    def stats_at(shift):
        xc = X[:, None, :] - shift[None]  # (n, K, D)
        s1 = np.einsum("nk,nkd->kd", r, xc)
        if layout == "full":
            s2 = np.einsum("nk,nki,nkj->kij", r, xc, xc)
        else:
            s2 = np.einsum("nk,nkd->kd", r, xc * xc)
        return SuffStats(r.sum(0), s1, s2, 0.0, 50.0, 50, shift)

    moved = recentre(stats_at(a), b)
    want = stats_at(b)
    np.testing.assert_array_equal(moved.shift, b)
    np.testing.assert_allclose(moved.s1, want.s1, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(moved.s2, want.s2, rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_updates_match_numpy_reference(covariance_type, weighted):
    rng = np.random.default_rng(1)
    w0, m0, c0, _ = start(covariance_type)
    ref = NumpyStepwiseEM(w0, m0, c0, covariance_type, 1e-6)
    gm = _gm(covariance_type)
    for t in range(1, 6):
        X = batch(rng, 400 + 37 * t)
        sw = rng.uniform(0.1, 3.0, len(X)) if weighted else None
        gm.partial_fit(X, sample_weight=sw)
        ll = ref.update(X, (t + 2.0) ** -0.6, sw)
        np.testing.assert_allclose(gm.lower_bound_, ll, rtol=1e-10)
        np.testing.assert_allclose(gm.weights_, ref.w, rtol=1e-10)
        np.testing.assert_allclose(gm.means_, ref.mu, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gm.covariances_, ref.cov, rtol=1e-9)
    assert gm.n_iter_ == 5 and gm.converged_ is False


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_unit_step_is_sklearn_em_iteration(covariance_type):
    """With step_size=1 each call is one EM iteration on its batch, as in scikit-learn."""
    X = batch(np.random.default_rng(2), 700)
    w0, m0, _, p0 = start(covariance_type)
    gm = _gm(covariance_type, step_size=1.0)
    for _ in range(3):
        gm.partial_fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkGaussianMixture(
            K,
            covariance_type=covariance_type,
            weights_init=w0,
            means_init=m0,
            precisions_init=p0,
            max_iter=3,
            tol=0.0,
        ).fit(X)
    np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(gm.covariances_, sk.covariances_, rtol=1e-9)
    np.testing.assert_allclose(gm.weights_, sk.weights_, rtol=1e-9)
    np.testing.assert_allclose(gm.precisions_cholesky_, sk.precisions_cholesky_, rtol=1e-8)


def test_integer_weights_are_repeated_rows():
    rng = np.random.default_rng(3)
    a, b = _gm("full"), _gm("full")
    for _ in range(3):
        X = batch(rng, 300)
        w = rng.integers(1, 4, len(X))
        a.partial_fit(X, sample_weight=w)
        b.partial_fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_first_call_initializes_from_its_batch(covariance_type):
    """As fit(max_iter=0) on the batch, then one update with step (1 + 2) ** -0.6."""
    X = batch(np.random.default_rng(4), 600)
    gm = GaussianMixture(K, covariance_type=covariance_type, random_state=0).partial_fit(X)
    init = GaussianMixture(K, covariance_type=covariance_type, random_state=0, max_iter=0).fit(X)
    ref = NumpyStepwiseEM(init.weights_, init.means_, init.covariances_, covariance_type, 1e-6)
    ref.update(X, 3.0**-0.6)
    np.testing.assert_allclose(gm.means_, ref.mu, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(gm.covariances_, ref.cov, rtol=1e-9)
    assert gm.n_features_in_ == D and gm.n_iter_ == 1


def test_partial_fit_after_fit_continues():
    rng = np.random.default_rng(5)
    X = batch(rng, 2000)
    gm = GaussianMixture(K, random_state=0).fit(X)
    ref = NumpyStepwiseEM(gm.weights_, gm.means_, gm.covariances_, "full", 1e-6)
    for t in (1, 2):
        B = batch(rng, 500)
        gm.partial_fit(B)
        ref.update(B, (t + 2.0) ** -0.6)
    np.testing.assert_allclose(gm.means_, ref.mu, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(gm.covariances_, ref.cov, rtol=1e-9)
    gm.fit(X)  # a new fit: partial_fit restarts from it, not from the old running statistics
    ref = NumpyStepwiseEM(gm.weights_, gm.means_, gm.covariances_, "full", 1e-6)
    B = batch(rng, 500)
    gm.partial_fit(B)
    ref.update(B, 3.0**-0.6)
    np.testing.assert_allclose(gm.means_, ref.mu, rtol=1e-9, atol=1e-11)


def test_one_pass_comes_close_to_exact_em():
    """One pass in batches of 1,000 over 200,000 rows: within 0.1 % of exact EM's log-likelihood."""
    rng = np.random.default_rng(6)
    X = batch(rng, 200_000)
    exact = GaussianMixture(K, random_state=0, tol=1e-8, max_iter=300).fit(X)
    online = GaussianMixture(K, random_state=0)
    for r0 in range(0, len(X), 1000):
        online.partial_fit(X[r0 : r0 + 1000])
    gap = (exact.score(X) - online.score(X)) / abs(exact.score(X))
    assert 0 <= gap < 1e-3, gap


def _two_halves(rng, n_batches, rows=400):
    """A 1-D stream whose component means move from (0, 10) to (3, 13) halfway."""
    before, after = np.array([[0.0], [10.0]]), np.array([[3.0], [13.0]])
    for t in range(2 * n_batches):
        c = before if t < n_batches else after
        yield c[rng.integers(0, 2, rows)] + rng.normal(size=(rows, 1)) * 0.5


def _stream_fit(n_batches, **kw):
    w, m, p = np.array([0.5, 0.5]), np.array([[0.0], [10.0]]), np.array([[[4.0]], [[4.0]]])
    gm = GaussianMixture(2, weights_init=w, means_init=m, precisions_init=p, **kw)
    for X in _two_halves(np.random.default_rng(7), n_batches):
        gm.partial_fit(X)
    return np.sort(gm.means_.ravel())


def test_constant_step_follows_the_second_half():
    np.testing.assert_allclose(_stream_fit(200, step_size=0.05), [3.0, 13.0], atol=0.05)


@pytest.mark.parametrize(("decay", "offset"), [(0.6, 2.0), (1.0, 0.0), (0.8, 10.0)])
def test_decaying_step_keeps_the_documented_share(decay, offset):
    """The second half's share of the running statistics is 1 - prod(1 - g_t) over its steps."""
    n = 200
    share = 1 - np.prod([1 - (t + offset) ** -decay for t in range(n + 1, 2 * n + 1)])
    means = _stream_fit(n, step_decay=decay, step_offset=offset)
    np.testing.assert_allclose(means, [3.0 * share, 10.0 + 3.0 * share], atol=0.03)


@pytest.mark.parametrize(
    ("kw", "steps"),
    [
        ({}, [(t + 2.0) ** -0.6 for t in (1, 2, 3)]),  # the default
        ({"step_decay": 1.0, "step_offset": 0.0}, [1.0, 1 / 2, 1 / 3]),
        ({"step_decay": 0.8, "step_offset": 10.0}, [(t + 10.0) ** -0.8 for t in (1, 2, 3)]),
        ({"step_size": 0.25}, [0.25, 0.25, 0.25]),
    ],
)
def test_each_update_takes_the_documented_step(kw, steps):
    """online.md's table: the t-th update blends the batch in with g_t = (t + step_offset) **
    -step_decay, or the constant step_size. One component in 1-D shows g_t exactly: its new
    mean is (1 - g_t) * old mean + g_t * the batch's mean."""
    rng = np.random.default_rng(11)
    gm = GaussianMixture(1, weights_init=[1.0], means_init=[[0.0]], precisions_init=[[[1.0]]], **kw)
    mean = 0.0
    for want in steps:
        X = rng.normal(5.0, 1.0, (50, 1))
        gm.partial_fit(X)
        g = (gm.means_[0, 0] - mean) / (X.mean() - mean)
        assert g == pytest.approx(want, rel=1e-12)
        mean = gm.means_[0, 0]


def test_float32_batches():
    rng = np.random.default_rng(8)
    a, b = _gm("diag"), _gm("diag")
    for _ in range(3):
        X = batch(rng, 500)
        a.partial_fit(X)
        b.partial_fit(X.astype(np.float32))
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-5, atol=1e-5)
    assert b.means_.dtype == np.float64


def test_marginalize_missing_values():
    rng = np.random.default_rng(9)
    X = batch(rng, 800)
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0
    w0, m0, _, p0 = start("full")
    gm = _gm("full", missing="marginalize", step_size=1.0).partial_fit(X)
    # a unit step is one exact EM iteration with marginalized NaN, as fit(max_iter=1)
    ref = _gm("full", missing="marginalize", max_iter=1).fit(X)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-10)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-10)
    gm.step_size = None
    gm.partial_fit(X[:100])  # and it goes on
    assert np.all(np.isfinite(gm.covariances_))


def _state(gm):
    return copy.deepcopy({k: v for k, v in vars(gm).items() if k.endswith("_") or k[0] == "_"})


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        elif k == "_online":
            np.testing.assert_array_equal(a[k].stats.s2, b[k].stats.s2)
            assert a[k].n_steps == b[k].n_steps
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize(
    ("kw", "X", "match"),
    [
        ({}, np.ones((5, 3)), "3 features"),
        ({}, np.array([[1.0, np.nan]] * 5), "NaN"),
        ({}, np.array([[1.0, 2.0], [np.inf, 0.0]] * 5), "infinity"),
        ({"step_decay": 0.5}, None, "step_decay must lie in"),
        ({"step_decay": 1.2}, None, "step_decay must lie in"),
        ({"step_size": 0.0}, None, "step_size must be"),
        ({"step_size": 1.5}, None, "step_size must be"),
        ({"step_offset": -1.0}, None, "step_offset must be"),
    ],
)
def test_bad_input_leaves_the_model_as_it_was(kw, X, match):
    rng = np.random.default_rng(10)
    gm = GaussianMixture(K, random_state=0).partial_fit(batch(rng, 300))
    gm.partial_fit(batch(rng, 300))
    before = _state(gm)
    gm.set_params(**kw)
    with pytest.raises(ValueError, match=match):
        gm.partial_fit(batch(rng, 300) if X is None else X)
    _same(_state(gm), before)


def test_batch_with_a_row_beyond_every_component_leaves_the_model_as_it_was():
    """A row whose density underflows under every component has no responsibilities: the batch
    is refused (as by fit and predict) and the model keeps its parameters and running state,
    instead of an update that silently leaves the row out (and a lower_bound_ of -inf)."""
    rng = np.random.default_rng(12)
    gm = GaussianMixture(K, reg_covar=0, random_state=0).partial_fit(batch(rng, 300) * 1e-100)
    gm.partial_fit(batch(rng, 300) * 1e-100)  # tiny variances
    before = _state(gm)
    bad = batch(rng, 300) * 1e-100
    bad[7] = [1e140, 0.0]
    with pytest.raises(ValueError, match="zero density under every component"):
        gm.partial_fit(bad)
    _same(_state(gm), before)


def test_first_batch_too_small_leaves_the_model_unfitted():
    gm = GaussianMixture(5, random_state=0)
    with pytest.raises(ValueError, match="fewer than n_components = 5.*means_init"):
        gm.partial_fit(batch(np.random.default_rng(11), 4))
    assert not hasattr(gm, "n_features_in_") and not hasattr(gm, "means_")
    gm.partial_fit(batch(np.random.default_rng(11), 50))  # then a good batch works
    assert gm.means_.shape == (5, D)


def test_first_batch_smaller_than_k_with_initial_parameters():
    gm = _gm("diag").partial_fit(batch(np.random.default_rng(12), 2))
    assert np.all(np.isfinite(gm.means_))


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_single_row_batches_with_initial_parameters(covariance_type):
    """Batches of one row, the first included when all three initial parameters are given
    (the first was refused: 'a minimum of 2 is required'), are stepwise EM's updates."""
    rng = np.random.default_rng(13)
    w0, m0, c0, _ = start(covariance_type)
    ref = NumpyStepwiseEM(w0, m0, c0, covariance_type, 1e-6)
    gm = _gm(covariance_type)
    for t in range(1, 4):
        X = batch(rng, 1)
        gm.partial_fit(X)
        ll = ref.update(X, (t + 2.0) ** -0.6, None)
        np.testing.assert_allclose(gm.lower_bound_, ll, rtol=1e-10)
        np.testing.assert_allclose(gm.means_, ref.mu, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gm.covariances_, ref.cov, rtol=1e-9)
    with pytest.raises(ValueError, match="minimum of 2"):  # no initial parameters: 2 rows
        GaussianMixture(K, means_init=m0).partial_fit(batch(rng, 1))


def test_model_file_carries_the_running_statistics(tmp_path):
    import fastem

    rng = np.random.default_rng(13)
    batches = [batch(rng, 400) for _ in range(5)]
    whole = GaussianMixture(K, covariance_type="diag", random_state=0)
    for X in batches:
        whole.partial_fit(X)
    part = GaussianMixture(K, covariance_type="diag", random_state=0)
    for X in batches[:3]:
        part.partial_fit(X)
    path = fastem.save(part, tmp_path / "online.npz")
    resumed = fastem.load(path)
    for X in batches[3:]:
        resumed.partial_fit(X)
    np.testing.assert_array_equal(resumed.means_, whole.means_)
    np.testing.assert_array_equal(resumed.covariances_, whole.covariances_)
    assert resumed.n_iter_ == 5 and resumed._online.n_rows == whole._online.n_rows


def test_model_file_without_running_statistics_after_fit(tmp_path):
    import fastem

    X = batch(np.random.default_rng(14), 500)
    gm = GaussianMixture(K, random_state=0).fit(X)
    names = np.load(fastem.save(gm, tmp_path / "m.npz")).files
    assert not [n for n in names if n.startswith("online__")]
    gm.partial_fit(X)
    gm.fit(X)  # the running statistics belong to older parameters: not saved
    names = np.load(fastem.save(gm, tmp_path / "m.npz")).files
    assert not [n for n in names if n.startswith("online__")]


def test_altered_running_statistics_are_refused(tmp_path):
    import json

    import fastem

    gm = GaussianMixture(K, random_state=0).partial_fit(batch(np.random.default_rng(15), 500))
    path = fastem.save(gm, tmp_path / "m.npz")
    arrays = dict(np.load(path))
    arrays["online__s1"] = arrays["online__s1"][:, :1]
    meta = json.loads(str(arrays["__metadata__"]))
    arrays["__metadata__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="online__s1"):
        fastem.load(tmp_path / "bad.npz")


def test_batch_layouts_and_feature_names():
    """The shortcut for C-contiguous float arrays agrees with scikit-learn's validation."""
    import pandas as pd

    rng = np.random.default_rng(16)
    batches = [batch(rng, 300) for _ in range(3)]
    a, b = _gm("full"), _gm("full")
    for X in batches:
        a.partial_fit(X)
        b.partial_fit(np.asfortranarray(X).tolist() if X is batches[1] else np.asfortranarray(X))
    np.testing.assert_array_equal(a.means_, b.means_)
    with pytest.raises(ValueError, match="infinity"):
        a.partial_fit(np.where(batches[0] > 3, np.inf, batches[0]))
    df = _gm("full").partial_fit(pd.DataFrame(batches[0], columns=["u", "v"]))
    with pytest.warns(UserWarning, match="feature names"):
        df.partial_fit(batches[1])
    with pytest.raises(ValueError, match="feature names"):
        df.partial_fit(pd.DataFrame(batches[1], columns=["v", "u"]))


# --------------------------------------------------------------------------
# with the other estimators' features (merged branches: mclust's models, float32
# results, the prior)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("model, sk_layout", [("EEE", "full"), ("VEV", "full"), ("VEI", "diag")])
def test_unit_step_is_an_em_iteration_of_mclust_models(model, sk_layout):
    """step_size=1: each call is one EM iteration of the model on its batch (its own
    M-step, the iterative ones warm-started), as three iterations of fit() from the start."""
    X = batch(np.random.default_rng(12), 900)
    w0, m0, _, p0 = start(sk_layout)
    p0 = p0 if sk_layout == "diag" else np.broadcast_to(p0, (K, D, D)).copy()
    kw = dict(weights_init=w0, means_init=m0, precisions_init=p0)
    online = GaussianMixture(K, covariance_type=model, step_size=1.0, **kw)
    for _ in range(3):
        online.partial_fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch_em = GaussianMixture(K, covariance_type=model, max_iter=3, tol=0.0, **kw).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(online, name), getattr(batch_em, name), rtol=1e-7, atol=1e-10
        )


def test_float32_batches_and_start_give_float32_parameters():
    w, m, _, p = start("full")
    f32 = dict(weights_init=w.astype(np.float32), means_init=m.astype(np.float32))
    gm = GaussianMixture(K, precisions_init=p.astype(np.float32), **f32)
    X = batch(np.random.default_rng(13), 600).astype(np.float32)
    gm.partial_fit(X)
    gm.partial_fit(X)
    assert gm.means_.dtype == gm.covariances_.dtype == np.float32  # as fit() gives
    assert gm.predict_proba(X).dtype == np.float32


def test_prior_is_refused_online_and_the_model_stays_unfitted():
    gm = GaussianMixture(K, prior="default", random_state=0)
    X = batch(np.random.default_rng(14), 300)
    with pytest.raises(ValueError, match="prior= is not supported by partial_fit"):
        gm.partial_fit(X)
    assert not hasattr(gm, "means_")
    with pytest.raises(ValueError, match="prior= is not supported by partial_fit"):
        gm.fit_online(X)


@pytest.mark.numpy_passes
def test_partial_fit_runs_numpy_only_64_times_below_fits_small_size(monkeypatch):
    """docs/online.md: partial_fit uses NumPy only for batches 64 times below fit's
    small-input size (rows x components x features), so a stream of ordinary batches runs
    in the compiled kernel even where fit would run in NumPy."""
    import fastem._online
    from fastem import _small

    seen = []
    original = fastem._online._stats.kernel_params

    def spy(*args):
        seen.append(args[-1])  # small: the NumPy pass
        return original(*args)

    monkeypatch.setattr(fastem._online._stats, "kernel_params", spy)
    monkeypatch.setattr(_small, "SMALL_WORK", 64 * 1000 * 8 * 2)  # 1,000 rows at K = 8, D = 2
    rng = np.random.default_rng(0)
    gm = GaussianMixture(8, covariance_type="diag", random_state=0)
    for rows, small in ((2000, False), (1000, True), (1001, False)):
        gm.partial_fit(rng.normal(size=(rows, 2)))
        assert seen[-1] is small, rows
        assert _small.is_small(rows, 8, 2)  # fit would run every one of them in NumPy


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_updates_do_not_depend_on_the_thread_count(covariance_type):
    """README: results do not depend on n_threads; for partial_fit too (batches of several
    chunks, so the threads split each pass)."""
    fits = []
    for n_threads in (1, 2, 3):
        rng = np.random.default_rng(14)
        gm = _gm(covariance_type, n_threads=n_threads)
        for _ in range(3):
            gm.partial_fit(batch(rng, 40_000))
        fits.append(gm)
    for other in fits[1:]:
        for name in ("weights_", "means_", "covariances_", "lower_bound_"):
            np.testing.assert_array_equal(getattr(other, name), getattr(fits[0], name), name)


def test_a_float32_batch_continues_a_model_of_float64_rows_in_float64():
    """It rounded the model's parameters to float32 (the next batches started from them, 3e-9
    off); predict widens such rows to the model's float64, and so does an update now: the
    same values as float32 or float64 give the same model, bit for bit."""
    rng = np.random.default_rng(21)
    batches = [batch(rng, 400) for _ in range(4)]
    a, b = _gm("full"), _gm("full")
    for i, X in enumerate(batches):
        rounded = X.astype(np.float32)
        a.partial_fit(rounded.astype(np.float64) if i == 2 else X)
        b.partial_fit(rounded if i == 2 else X)
        assert b.means_.dtype == b.covariances_.dtype == np.float64
        np.testing.assert_array_equal(b.means_, a.means_)
        np.testing.assert_array_equal(b.covariances_, a.covariances_)
