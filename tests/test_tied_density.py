"""The tied log-density (one precision factor ``U`` for every component): the block is
transformed once, ``y = U^T (x - c)`` (``_density._tri_store``), then each component's
``|y - U^T (mu_k - c)|^2`` is summed by the diagonal tile without precisions
(``_density._unit_rows``). Each tile against a NumPy reference in every shape, the whole
log-density against a float64 rounding bound on offset data, and fits that take it
against the same fits through the full log-density."""

import numpy as np
import pytest

from .conftest import diag_tile, log_density_in_blocks, placed_means


@pytest.mark.parametrize("lanes, cols", [(8, 8), (4, 4)])
@pytest.mark.parametrize("D", [3, 8, 10, 20, 33])
@pytest.mark.parametrize("nb", [1, 17, 150])
def test_the_transform_tile_replaces_the_block_by_u_transposed_times_it(
    lanes, cols, D, nb, monkeypatch
):
    """``_tri_store`` in both shapes (AVX-512: two vectors of 8 rows x 8 columns of U, then
    one of 4 columns; AVX2: 4 x 4), in place: every tile reads rows a later tile would
    write only if the tiles ran first to last (a mutant running them in that order fails
    from 8 padded features on). Columns past the rows' whole vectors are untouched."""
    from numba import njit

    from fastem._kernels import _config, _density

    monkeypatch.setattr(_density, "TRI_COLS", cols)
    monkeypatch.setattr(_density, "TRI_LANES", lanes)
    rows = 2 * lanes
    store = _density._tri_store

    @njit(**_config._NO_CACHE)
    def transform(xs, up, npm, nb, q):
        for b0 in range(0, nb, rows):
            store(xs, up, npm, 0, b0, q)

    rng = np.random.default_rng(D * nb)
    Dp = (D + 3) // 4 * 4
    width = -(-nb // rows) * rows
    x = rng.normal(size=(nb, D))
    xs = rng.normal(size=(Dp, width + 5)) * 1e3  # spare columns: not rows of the block
    xs[:, :nb] = 0.0
    xs[:D, :nb] = x.T
    spare = xs[:, width:].copy()
    up = np.zeros((2, Dp, Dp))
    up[0, :D, :D] = np.triu(rng.normal(size=(D, D)))
    up[1] = 7.0  # another component's factor: not read
    npm = np.full((3, Dp), 5.0)  # not read
    transform(xs, up, npm, nb, np.zeros(width))
    want = x @ up[0, :D, :D]
    np.testing.assert_allclose(xs[:D, :nb].T, want, rtol=1e-13, atol=1e-13 * np.abs(want).max())
    assert (xs[D:, :nb] == 0.0).all()  # padded features stay zero
    assert (xs[:, width:] == spare).all()


@pytest.mark.parametrize("lanes, cols", [(8, 8), (4, 4)])
@pytest.mark.parametrize("K", [1, 2, 3, 7, 8, 13, 20])
@pytest.mark.parametrize("D, nb", [(4, 1), (8, 17), (60, 150), (3, 33)])
def test_the_unit_tile_sums_the_squares_without_precisions(lanes, cols, K, D, nb, monkeypatch):
    """``_unit_rows``: ``const_k - |y + npm_k|^2 / 2`` for every component count (whole
    tiles, then one of each narrower width), its K taken from ``const`` (``prec`` is not
    read: filled with garbage here); nothing written past the output's rows."""
    logdens, rows = diag_tile(monkeypatch, "_unit_rows", cols, lanes)
    rng = np.random.default_rng(K * D + nb)
    Dp = (D + 3) // 4 * 4
    width = -(-nb // rows) * rows
    y = np.full((Dp, width + 5), 1e3)
    y[:, :nb] = 0.0
    y[:D, :nb] = rng.normal(size=(D, nb)) * 3
    npm = np.full((K + 1, Dp), 1e3)  # as the kernel's: a spare row past K
    npm[:K] = 0.0
    npm[:K, :D] = rng.normal(size=(K, D)) * 3
    prec = np.full((K + 3, Dp, Dp), np.nan)  # not read, nor its length
    const = rng.normal(size=K)
    after = np.full(K * width + 64, -7.0)
    logp = after[: K * width].reshape(K, width)
    logdens(y, nb, prec, npm, const, logp)
    t = y[:D, :nb].T[None] + npm[:K, None, :D]  # (K, nb, D)
    want = const[:, None] - 0.5 * (t**2).sum(axis=2)
    np.testing.assert_allclose(logp[:, :nb], want, rtol=1e-14, atol=1e-14)
    assert (after[K * width :] == -7.0).all()


@pytest.mark.parametrize("D", [5, 16, 33])
@pytest.mark.parametrize("place", ["offset", "spread", "narrow"])
def test_the_tied_log_density_does_not_cancel_on_offset_data(D, place):
    """``_density.logprob_tied`` against a float64 reference of the same data, within the
    rounding bound of ``U^T (x - c) - U^T (mu - c)`` (``c`` the mean of the means, as
    ``_passes.log_density_start`` makes it): data offset by 1e6, means spread over 1e4,
    a nearly singular shared covariance (U of 1e3 along one direction, in which the means
    lie ten apart). A mutant that leaves the block unshifted (``U^T x - U^T mu``, as
    scikit-learn sums it) fails the offset data."""
    from fastem._kernels import _density

    rng = np.random.default_rng(D)
    K, nb, Dp = 4, 200, (D + 3) // 4 * 4
    mu = placed_means(rng, K, D, place)
    A = rng.normal(size=(D, D))
    cov = A @ A.T / D + np.eye(D)
    if place == "narrow":
        cov[0, :] = cov[:, 0] = 0.0
        cov[0, 0] = 1e-6
        mu[:, 0] += np.array([0.0, 10.0, -10.0, 20.0])
    U = np.linalg.inv(np.linalg.cholesky(cov)).T
    pick = np.arange(nb) % K
    x = mu[pick] + rng.normal(size=(nb, D)) @ np.linalg.cholesky(cov).T
    mup = np.zeros((K, Dp))
    mup[:, :D] = mu
    up = np.zeros((K, Dp, Dp))
    up[:, :D, :D] = U
    const = rng.normal(size=K)
    logp = log_density_in_blocks(_density.tied_logprob, x, mup, up, const)
    y = np.stack([(x - mu[k]) @ U for k in range(K)])  # (K, nb, D)
    want = const[:, None] - 0.5 * (y**2).sum(axis=2)
    u = np.finfo(np.float64).eps / 2
    c = mu.mean(axis=0)
    terms = (np.abs(x - c) @ np.abs(U))[None] + (np.abs(mu - c) @ np.abs(U))[:, None]
    dy = (D + 2) * u * terms
    bound = (np.abs(y) * dy + dy**2).sum(axis=2) + (D + 2) * u * (y**2).sum(axis=2)
    err = np.abs(logp - want)
    assert (err <= 2 * bound + 2 * u * np.abs(const)[:, None]).all(), (err / bound).max()


def _spy_tied(monkeypatch, force=None):
    """Record the ``tied`` each pass asks ``_em.chunk_kernel`` for (``force``: pass that
    instead, to run the same fit through the other log-density)."""
    from fastem._kernels import _em

    seen = []
    original = _em.chunk_kernel

    def spy(*args, tied=False, **kw):
        seen.append(tied)
        return original(*args, tied=tied if force is None else force, **kw)

    monkeypatch.setattr(_em, "chunk_kernel", spy)
    return seen


@pytest.mark.parametrize("cov", ["tied", "EEE"])
def test_tied_fits_take_the_transform_once_and_agree_with_the_full_log_density(cov, monkeypatch):
    """A tied fit, and mclust's EEE (the full layout, one covariance), run the shared
    transform (float64) and end where the same fit through the
    full log-density ends: parameters to 1e-10, the same labels, log-likelihoods to
    1e-10. A full fit does not take it. The k-means start's pass (the identity for every
    component) takes the log-density its fit's passes take: a first fit compiles one."""
    from fastem import GaussianMixture

    rng = np.random.default_rng(5)
    K, D = 4, 9
    A = rng.normal(size=(D, D)) / 3
    X = rng.normal(0, 4, (K, D))[rng.integers(0, K, 6000)] + rng.normal(size=(6000, D)) @ A
    X += 1e4  # offset data: the transform is about c, the mean of the means
    kw = dict(covariance_type=cov, max_iter=30, tol=0, random_state=0)

    seen = _spy_tied(monkeypatch)
    fast = GaussianMixture(K, **kw).fit(X)
    assert seen and all(seen), seen
    seen.clear()
    GaussianMixture(K, covariance_type="full", max_iter=2, random_state=0).fit(X)
    assert seen and not any(seen), seen
    monkeypatch.undo()

    _spy_tied(monkeypatch, force=False)
    slow = GaussianMixture(K, **kw).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        a, b = getattr(fast, name), getattr(slow, name)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max(), err_msg=name)
    assert (fast.predict(X) == slow.predict(X)).all()
    np.testing.assert_allclose(fast.score_samples(X), slow.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(fast.lower_bounds_, slow.lower_bounds_, rtol=1e-12)


def test_every_pass_of_a_tied_fit_takes_one_log_density(monkeypatch):
    """A Bayesian tied fit (its data-moments pass has one component) and a one-component
    tied fit ask for the tied log-density on every pass, so a first fit on an empty cache
    compiles it and not the full one too."""
    from fastem import BayesianGaussianMixture, GaussianMixture

    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 5)) + rng.integers(0, 3, (3000, 1)) * 4.0
    seen = _spy_tied(monkeypatch)
    BayesianGaussianMixture(n_components=3, covariance_type="tied", max_iter=3).fit(X)
    GaussianMixture(1, covariance_type="tied", max_iter=3).fit(X)
    assert seen and all(seen), seen
