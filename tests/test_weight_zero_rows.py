"""A row of weight zero is not part of the data (docs/robustness.md), even where its density
is zero under every component; yet a NaN or infinite value in it is still refused, naming the
row (docs/streaming.md), even in a block of rows all of weight zero."""

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture, _direct, _small

FAR = 1e149  # within the accepted values (1e150); its density underflows beside precision 1e10


def _narrow_blobs(n=900, seed=0):
    """Three clusters of standard deviation 1e-5 (precision 1e10) in two features."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    return centres[rng.integers(0, 3, n)] + 1e-5 * rng.normal(size=(n, 2))


def _start(X, ct):
    gm = GaussianMixture(3, covariance_type=ct, random_state=0, max_iter=5, reg_covar=1e-13).fit(X)
    return dict(weights_init=gm.weights_, means_init=gm.means_, precisions_init=gm.precisions_)


def _fits(data, w, ct, start):
    gm = GaussianMixture(3, covariance_type=ct, max_iter=4, tol=0, reg_covar=1e-13, **start)
    return gm.fit(data, sample_weight=w)


def _same(a, b):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.lower_bound_ == b.lower_bound_


@pytest.mark.parametrize("ct", ["full", "diag"])
@pytest.mark.parametrize("where", ["kernels", "numpy", "npy file", "npy file, Python reads"])
def test_a_row_of_weight_zero_at_zero_density_is_not_part_of_the_data(
    tmp_path, monkeypatch, ct, where
):
    """Its log-density is -inf under every component; it added 0 * -inf = NaN to the
    log-likelihood and the fit stopped ("zero density under every component"). Now the fit is
    bit for bit the one where that row holds an ordinary value (also of weight zero)."""
    X = _narrow_blobs()
    start = _start(X, ct)
    far, near = X.copy(), X.copy()
    far[417] = FAR
    near[417] = X[416]
    w = np.ones(len(X))
    w[417] = 0.0
    monkeypatch.setattr(_small, "SMALL_WORK", 10**9 if where == "numpy" else 0)
    monkeypatch.setattr(_direct, "DIRECT_READS", where != "npy file, Python reads")
    fits = []
    for data in (far, near):
        if where.startswith("npy"):
            path = tmp_path / f"{len(fits)}.npy"
            np.save(path, data)
            data = fastem.source(path, chunk_rows=256)
        fits.append(_fits(data, w, ct, start))
    _same(*fits)
    assert np.isfinite(fits[0].score(X))


@pytest.mark.parametrize("value", [np.inf, np.nan])
@pytest.mark.parametrize("ct", ["full", "tied", "diag"])
@pytest.mark.parametrize("direct", [True, False])
def test_a_bad_value_in_a_block_of_rows_all_of_weight_zero_is_still_found(
    tmp_path, monkeypatch, value, ct, direct
):
    """A source's values are checked in an EM pass only where its statistics are not finite;
    a row of weight 0 adds 0 to the log-likelihood and 0 * (x - mu) to the first moments, so
    an infinite value there shows in the moments. A component of weight 0 in a block skips
    its full statistics: in a block of rows all of weight 0, every one skipped and the value
    was hidden (the fit ran on). The skip is now taken only where the block is finite."""
    X = _narrow_blobs(4096)
    start = _start(X, ct)
    w = np.ones(len(X))
    w[1024:3072] = 0.0  # whole blocks of weight-zero rows
    bad = X.copy()
    bad[2000, 1] = value
    np.save(tmp_path / "bad.npy", bad)
    monkeypatch.setattr(_direct, "DIRECT_READS", direct)
    src = fastem.source(tmp_path / "bad.npy", chunk_rows=2048)
    with pytest.raises(fastem.SourceError, match=r"bad\.npy.*row offset 2000.*NaN or infinite"):
        _fits(src, w, ct, start)


def test_a_column_the_initialization_sample_never_saw_is_filled_with_its_weighted_mean(
    tmp_path,
):
    """A source larger than the initialization sample whose column 1 is observed in three
    rows only, none of them sampled: the sample's NaN in it are filled with the mean of
    those values over the whole source, weighted as the sample's own means are (a row of
    weight 0 counts as no row: 25, not the unweighted 20), and unweighted without weights."""
    n = 600_000  # six times the sample (fastem._stream.INIT_SAMPLE_ROWS)
    X = np.random.default_rng(0).normal(size=(n, 3))
    X[:, 1] = np.nan
    rows = [200_000, 300_000, 400_000]
    X[rows, 1] = [10.0, 20.0, 30.0]
    X[:, 2] = 1.0
    X[rows[0], 2] = 0.0
    np.save(tmp_path / "x.npy", X)
    for kw, fill in ((dict(weight_column=2), 25.0), (dict(columns=[0, 1]), 20.0)):
        src = fastem.source(tmp_path / "x.npy", **kw)
        data = fastem.GaussianMixture(2, missing="marginalize")._fit_data(src, None)
        sample = data.sample_for_init(None, np.random.RandomState(0))  # samples none of rows
        assert np.isnan(sample.raw_X[:, 1]).all()
        np.testing.assert_array_equal(np.unique(sample.X[:, 1]), [fill])


def _positive_only_in(rows, n=600, seed=1):
    X = np.random.default_rng(seed).normal(size=(n, 2))
    w = np.zeros(n)
    w[list(rows)] = 1.0
    return X, w


@pytest.mark.parametrize(
    "path",
    ["in memory", "bayesian", "partial_fit", "dask", "npy file", "npy file, Python reads",
     "weight column", "fit_online"],
)  # fmt: skip
def test_too_few_rows_of_positive_weight_are_refused_as_too_few_rows(tmp_path, monkeypatch, path):
    """Two rows of positive weight, in different chunks, are two rows: a fit of three
    components is refused as a fit on two rows is (it warned and returned a third component
    of weight 0.02, or 7e-17 online), and a fit of two goes on (the count adds every chunk's)."""
    X, w = _positive_only_in([50, 350])
    monkeypatch.setattr(_direct, "DIRECT_READS", path != "npy file, Python reads")
    if path == "dask":
        import dask.array as da

        data, w = da.from_array(X, chunks=100), da.from_array(w, chunks=100)
    elif path.startswith("npy"):
        np.save(tmp_path / "X.npy", X)
        data = fastem.source(tmp_path / "X.npy", chunk_rows=100)
    elif path in ("weight column", "fit_online"):
        np.save(tmp_path / "Xw.npy", np.column_stack([X, w]))
        data, w = fastem.source(tmp_path / "Xw.npy", chunk_rows=100, weight_column=2), None
    else:
        data = X
    cls = fastem.BayesianGaussianMixture if path == "bayesian" else GaussianMixture

    def fit(k):
        gm = cls(n_components=k, random_state=0, max_iter=3)
        if path == "partial_fit":
            return gm.partial_fit(data, sample_weight=w)
        if path == "fit_online":
            return gm.fit_online(data)
        return gm.fit(data, sample_weight=w)

    two = r"sample_weight gives 2 row\(s\) a positive weight; a fit of n_components = 3 needs"
    with pytest.raises(ValueError, match=two + " at least 3"):
        fit(3)
    with pytest.raises(ValueError, match="minimum of 2|n_samples >= n_components"):
        GaussianMixture(3).fit(X[[50, 350]])  # the same two rows alone
    assert np.all(fit(2).weights_ > 0.1)


def test_one_row_of_positive_weight_is_refused_as_one_row_is():
    """scikit-learn's fit needs two rows, whatever n_components, and so does a first online
    batch; with all three initial parameters, that batch may be one row, or one row of
    positive weight."""
    X, w = _positive_only_in([7], n=40)
    one = "gives 1 row\\(s\\) a positive weight; a fit of n_components = 1 needs at least 2"
    for fit in (GaussianMixture(1).fit, GaussianMixture(1).partial_fit):
        with pytest.raises(ValueError, match=one):
            fit(X, sample_weight=w)
        with pytest.raises(ValueError, match="minimum of 2"):
            fit(X[7:8])
    start = dict(weights_init=[1.0], means_init=X[7:8], precisions_init=np.eye(2)[None])
    GaussianMixture(1, **start).partial_fit(X[7:8])
    gm = GaussianMixture(1, **start).partial_fit(X, sample_weight=w)
    np.testing.assert_array_equal(gm.means_, X[7:8])
