"""The kernels' register tiles, each against a naive NumPy reference in every shape it
compiles: the block loads' transposed tiles, the full statistics' tiles, and the full and
diagonal log-densities' micro-kernels (LLVM vector IR), with the rules that pick them.

Split from ``tests/test_kernels.py``, which pins whole passes to a reference; the tiles'
shapes are set by monkeypatching their module constants, so both instruction sets' shapes
run on any host.
"""

import numpy as np
import pytest

from .conftest import diag_tile, log_density_in_blocks, placed_means


@pytest.mark.parametrize("tiled", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_both_block_loads_transpose_in_every_order(dtype, tiled):
    """Both block loads, the narrow one and the tiled one (``_density.load_block``,
    ``load_tiled``: a pass compiles the one its features need, ``load_tiles``), copy
    X[start:start + nb].T into xt exactly, in each order they choose from the shape
    (transposed tiles; rows per pass or features per pass), for any number of features,
    leaving the padding rows and the columns past nb untouched."""
    from numba import njit

    from fastem._kernels._config import PAD
    from fastem._kernels._density import (
        LOAD_L1_BYTES,
        LOAD_LANES,
        LOAD_LANES32,
        load_tiles,
        shared_load,
        tiled_load,
    )

    shared = tiled_load if tiled else shared_load
    load = shared.call  # the copy the pass kernel calls, by address

    @njit
    def call(address, X, start, nb, xt):
        load(address, X, start, nb, xt)

    address = shared.address(0 if dtype == np.float64 else 1)
    lanes = LOAD_LANES if dtype == np.float64 else LOAD_LANES32
    for D in range(1, 40):  # the rule: tiles from a whole tile of features on
        assert load_tiles(D, dtype) == (D >= lanes), D

    rng = np.random.default_rng(5)
    orders = set()
    for D, B in [(1, 64), (2, 256), (3, 1024), (7, 1024), (8, 256), (8, 1024), (13, 256),
                 (32, 128), (64, 256), (70, 64)]:  # fmt: skip
        X = rng.normal(size=(B + 40, D)).astype(dtype)
        Dp = D + (-D) % 4
        if tiled:
            orders.add("tiles" if D >= lanes else "features")
        else:  # by features or by rows
            orders.add(D * (B + PAD) * X.itemsize > LOAD_L1_BYTES)
        for start, nb in [(0, B), (5, B - 3), (31, 1), (9, 0)]:
            xt = np.full((Dp, B + PAD), 7.0, dtype=dtype)
            xt[D:] = 0
            X.flags.writeable = False  # as the passes hand it over
            call(address, X, start, nb, xt)
            X.flags.writeable = True
            expect = np.full_like(xt, 7.0)
            expect[D:] = 0
            expect[:D, :nb] = X[start : start + nb].T
            np.testing.assert_array_equal(xt, expect, err_msg=f"D={D} B={B} nb={nb}")
    # every order was exercised
    assert orders == ({"tiles", "features"} if tiled else {True, False})


@pytest.mark.parametrize("lanes, dtype", [(8, np.float64), (4, np.float64), (8, np.float32)])
def test_the_block_loads_transposed_tiles_in_every_shape(lanes, dtype, monkeypatch):
    """The block load's register tiles (``_density._transpose_tile``: L rows x L features
    transposed by shuffles) in each shape, whichever this machine compiles (float64 8 x 8
    on AVX-512, 4 x 4 on AVX2; float32 8 x 8): every block row and feature copied exactly,
    the rows and features past whole tiles included, nothing else written."""
    from numba import njit

    from fastem._kernels import _config, _density

    monkeypatch.setattr(_density, "LOAD_LANES" if dtype == np.float64 else "LOAD_LANES32", lanes)
    load = njit(**_config._NO_CACHE)(_density.load_tiled)
    rng = np.random.default_rng(lanes)
    for D in (1, 3, 4, 7, 8, 9, 13, 16, 32, 70):
        X = rng.normal(size=(200, D)).astype(dtype)
        X.flags.writeable = False  # as the passes hand it over
        Dp = D + (-D) % 4
        for start, nb in [(0, 150), (3, 8), (5, 17), (31, 1), (9, 0), (1, 64)]:
            xt = np.full((Dp, 150 + 16), 7.0, dtype=dtype)
            xt[D:] = 0
            load(X, start, nb, xt)
            expect = np.full_like(xt, 7.0)
            expect[D:] = 0
            expect[:D, :nb] = X[start : start + nb].T
            np.testing.assert_array_equal(xt, expect, err_msg=f"D={D} start={start} nb={nb}")


def _random_block(rng, D, nb, K):
    """``(x, mu, resp)`` of ``nb`` rows of ``D`` features and ``K`` components, and the same
    transposed and padded as the kernels hold them, ``(xt, mu, resp)``, with NaN in the
    padding (the kernels hold zeros there): a sum that reads it, or adds a feature past D,
    turns NaN."""
    Dp = (D + 3) // 4 * 4
    x = rng.normal(size=(nb, D)) + 5.0
    mu = rng.normal(size=(K, D)) + 5.0
    resp = rng.dirichlet(np.ones(K), size=nb).T.copy()
    xt = np.full((Dp, nb + 16), np.nan)
    xt[:D, :nb] = x.T
    mup = np.full((K, Dp), np.nan)
    mup[:, :D] = mu
    respp = np.full((K, nb + 16), np.nan)
    respp[:, :nb] = resp
    return (x, mu, resp), (xt, mup, respp)


def _full_statistics_case(D, nb, K=3):
    """A block of ``nb`` rows of ``D`` features, transposed and padded as the kernels hold it,
    means, responsibilities, and a function giving the NumPy reference's nk, s1 and the
    upper triangle of s2 for each component (padding NaN: :func:`_random_block`)."""
    (x, mu, resp), padded = _random_block(np.random.default_rng(D * nb), D, nb, K)

    def check(nk, s1, s2):
        iu = np.triu_indices(D)
        for k in range(K):
            d = x - mu[k]
            want = (resp[k, :, None] * d).T @ d
            np.testing.assert_allclose(s2[k].reshape(D, D)[iu], want[iu], rtol=1e-12, atol=1e-10)
            assert not np.tril(s2[k].reshape(D, D), -1).any()  # the upper triangle only
            np.testing.assert_allclose(s1[k], resp[k] @ d, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(nk, resp.sum(axis=1), rtol=1e-12)

    return (padded[0], nb, *padded[1:]), check


def _full_statistics(tiled):
    """``run(xt, nb, mu, resp, nk, s1, s2)``: add a block's statistics with
    ``accumulate_tiled`` (``tiled``) or ``accumulate_full`` compiled here (reading the tile
    constants as they are now), its buffers of the shapes ``full_buffers`` gives for them
    (called in Python: its compiled copy keeps the constants it was compiled with)."""
    from numba import njit

    from fastem._kernels import _config, _statistics

    fn = _statistics.accumulate_tiled if tiled else _statistics.accumulate_full
    acc = njit(**_config._NO_CACHE)(fn)

    def run(xt, nb, mu, resp, nk, s1, s2):
        n1, m1, n2, m2 = _statistics.full_buffers(*xt.shape)
        acc(xt, nb, mu, resp, np.zeros((n1, m1)), np.zeros((n2, m2)), nk, s1, s2)

    return run


@pytest.mark.parametrize("narrow", [False, True])
@pytest.mark.parametrize("D", [3, 5, 10, 23])
def test_both_full_statistics_tiles_match_the_reference(narrow, D, monkeypatch):
    """The full statistics of few features (``accumulate_full``): off-diagonal tiles as
    4 x 4 (32 vector registers) and as two 4 x 2 halves (16, AVX2). Whichever this machine
    compiles, the other is compiled here too (a fresh dispatcher reads ``NARROW`` when it
    compiles), and both give the centred second moments of a NumPy reference."""
    from fastem._kernels import _statistics

    monkeypatch.setattr(_statistics, "NARROW", narrow)
    assert not _statistics.register_tiles(D)
    run = _full_statistics(False)
    for nb in (1, 17, 150):
        args, check = _full_statistics_case(D, nb)
        K = args[2].shape[0]
        # s1 and s2 followed by -0.0: a write past their ends (+0.0 added) flips its sign
        after1, after2 = np.full(K * D + 8, -0.0), np.full(K * D * D + 64, -0.0)
        s1, s2 = after1[: K * D].reshape(K, D), after2[: K * D * D].reshape(K, D * D)
        s1[:] = 0.0
        s2[:] = 0.0
        nk = np.zeros(K)
        run(*args, nk, s1, s2)
        check(nk, s1, s2)
        assert np.signbit(after1[K * D :]).all() and np.signbit(after2[K * D * D :]).all()


def _diagonal_statistics(pair, monkeypatch):
    """``run(xt, nb, mu, resp, nk, s1, s2)``: ``accumulate_diag`` compiled here with passes of
    four components x ``pair`` features (``_diag_tiles``: 2 where the kernels have 32 vector
    registers, 1 with 16; a fresh compile reads the constants as they are now)."""
    from numba import njit

    from fastem._kernels import _config, _diag_tiles, _statistics

    monkeypatch.setattr(_diag_tiles, "PAIR", pair)
    monkeypatch.setattr(_diag_tiles, "LANES", _diag_tiles.GROUP * pair)
    acc = njit(**_config._NO_CACHE)(_statistics.accumulate_diag)
    empty = np.zeros((0, 1))
    return lambda xt, nb, mu, resp, nk, s1, s2: acc(xt, nb, mu, resp, empty, empty, nk, s1, s2)


def _diagonal_reference(x, mu, resp):
    """nk, s1 and s2 of the diagonal statistics about each mean, in NumPy."""
    d = x[None, :, :] - mu[:, None, :]  # (K, n, D)
    return (
        resp.sum(axis=1),
        (resp[:, :, None] * d).sum(axis=1),
        (resp[:, :, None] * d * d).sum(axis=1),
    )


@pytest.mark.parametrize("pair", [1, 2])
@pytest.mark.parametrize("K", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("D", [1, 2, 5])
def test_diagonal_statistics_match_the_reference(K, D, pair, monkeypatch):
    """``accumulate_diag`` (four components x one or two features per pass, about a centre
    they share): a last group of fewer than four components, an odd feature, blocks of 1, 17
    and 150 rows (a last vector of fewer rows), features and rows past the block NaN (a sum
    that reads them turns NaN): every case gives the sums about each mean of a NumPy
    reference."""
    run = _diagonal_statistics(pair, monkeypatch)
    rng = np.random.default_rng(K * 10 + D)
    for nb in (1, 17, 150):
        (x, mu, resp), (xt, mup, respp) = _random_block(rng, D, nb, K)
        nk, s1, s2 = np.zeros(K), np.zeros((K, D)), np.zeros((K, D))
        run(xt, nb, mup, respp, nk, s1, s2)
        for got, want in zip((nk, s1, s2), _diagonal_reference(x, mu, resp), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("pair", [1, 2])
@pytest.mark.parametrize(
    "far, spread",
    [
        (1e6, 1e-3),  # every component far from the centre of the four
        (10.0, 1e-4),  # three near the centre, one tight component off it
    ],
)
def test_diagonal_statistics_of_a_tight_component_far_from_the_others_stay_exact(
    far, spread, pair, monkeypatch
):
    """Components near 0 and a tight one at ``far`` (``spread``): every component's sums stay
    exact. About a centre the four share (``_diag_tiles``: their midrange, ``far / 2``), the
    far one's second moment would round by ``(far / 2)^2 eps`` against its ``spread^2``:
    such sums are made again about their means (at 1e6 every component's is; at 10 only the
    tight one's, the others moved from the centre)."""
    run = _diagonal_statistics(pair, monkeypatch)
    rng = np.random.default_rng(7)
    nb, K, D = 256, 4, 2
    centres = np.array([[0.0, 0.0], [1.0, -1.0], [-1.0, 1.0], [far, -far]])
    label = rng.integers(0, K, nb)
    x = centres[label] + np.where(label == 3, spread, 1.0)[:, None] * rng.normal(size=(nb, D))
    mu = centres + rng.normal(size=(K, D)) * np.array([[0.1], [0.1], [0.1], [spread / 10]])
    resp = np.zeros((K, nb))
    resp[label, np.arange(nb)] = 1.0
    xt = np.zeros((4, nb + 16))
    xt[:D, :nb] = x.T
    mup = np.zeros((K, 4))
    mup[:, :D] = mu
    respp = np.zeros((K, nb + 16))
    respp[:, :nb] = resp
    nk, s1, s2 = np.zeros(K), np.zeros((K, D)), np.zeros((K, D))
    run(xt, nb, mup, respp, nk, s1, s2)
    want = _diagonal_reference(x, mu, resp)
    np.testing.assert_allclose(s2, want[2], rtol=1e-9)
    np.testing.assert_allclose(s1, want[1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("lanes, cols", [(8, 8), (4, 4)])
def test_both_full_statistics_register_tiles_match_the_reference(lanes, cols, monkeypatch):
    """The full statistics' register tiles (``_statistics._outer_tile``) in both shapes,
    whichever this machine compiles: AVX-512's two vectors of 8 features x 8 broadcast
    features, AVX2's two of 4 x 4. One- and two-vector tiles, the triangle's diagonal, the
    features past D in the last vector and tile (D = 33, 45, 50, 70), blocks of 1, 17 and
    150 rows: every case gives the NumPy reference, and writes nothing past s2's end (the
    tiles' masked adds)."""
    from fastem._kernels import _statistics

    monkeypatch.setattr(_statistics, "OUTER_LANES", lanes)
    monkeypatch.setattr(_statistics, "OUTER_COLS", cols)
    monkeypatch.setattr(_statistics, "OUTER_WIDTH", 2 * lanes)
    run = _full_statistics(True)
    for D in (29, 32, 33, 40, 45, 50, 64, 70):
        assert _statistics.register_tiles(D)  # else its buffers are not the tiles'
        for nb in (1, 17, 150):
            args, check = _full_statistics_case(D, nb)
            K = args[2].shape[0]
            # s2 followed by -0.0: a masked-off lane written (+0.0 added) would flip its sign
            after = np.full(K * D * D + 64, -0.0)
            nk, s1, s2 = np.zeros(K), np.zeros((K, D)), after[: K * D * D].reshape(K, D * D)
            s2[:] = 0.0
            run(*args, nk, s1, s2)
            check(nk, s1, s2)
            assert np.signbit(after[K * D * D :]).all(), D


@pytest.mark.parametrize(
    "lanes, cols, dtype",
    [(8, 8, np.float64), (4, 4, np.float64), (16, 8, np.float32), (8, 4, np.float32)],
)
@pytest.mark.parametrize("D", [3, 8, 10, 20, 33])
@pytest.mark.parametrize("nb", [1, 17, 150])
def test_both_full_log_density_tiles_match_the_reference(lanes, cols, dtype, D, nb, monkeypatch):
    """The full log-density's register tile (``_density._tri_rows``) in every shape,
    whichever this machine compiles: float64 on AVX-512, two vectors of 8 rows x 8 columns
    of U (then one of 4 columns where Dp is not a multiple of 8), on AVX2 two of 4 rows x 4
    columns; float32 two vectors of 16 rows x 8 columns, or of 8 x 4. Each gives
    |U^T x + npm|^2 of a NumPy reference for every row of a block, rows past a whole tile
    included (the buffers' spare columns hold the vectors' spare rows)."""
    from numba import njit

    from fastem._kernels import _config, _density

    monkeypatch.setattr(_density, "TRI_COLS", cols)
    monkeypatch.setattr(_density, "TRI_LANES32" if dtype == np.float32 else "TRI_LANES", lanes)
    rows = 2 * lanes
    tri = _density._tri_rows

    @njit(**_config._NO_CACHE)
    def squares(xt, up, npm, k, nb, q):
        for b0 in range(0, nb, rows):
            tri(xt, up, npm, k, b0, q)

    rng = np.random.default_rng(D * nb)
    K, Dp = 2, (D + 3) // 4 * 4
    width = -(-nb // rows) * rows
    x = rng.normal(size=(nb, D)).astype(dtype)
    xt = (rng.normal(size=(Dp, width + 3)) * 1e3).astype(dtype)  # spare rows: not used
    xt[:, :nb] = 0.0
    xt[:D, :nb] = x.T
    up = np.zeros((K, Dp, Dp), dtype)
    npm = np.zeros((K, Dp), dtype)
    for k in range(K):
        up[k, :D, :D] = np.triu(rng.normal(size=(D, D)))
        npm[k, :D] = rng.normal(size=D)
    after = np.full(width + 32, -7.0, dtype)
    q = after[:width]
    for k in range(K):
        squares(xt, up, npm, k, nb, q)
        y = x.astype(np.float64) @ up[k, :D, :D].astype(np.float64) + npm[k, :D]
        want = (y**2).sum(axis=1)
        np.testing.assert_allclose(q[:nb], want, rtol=1e-13 if dtype == np.float64 else 2e-5)
        assert (after[width:] == -7.0).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("D", [5, 16, 33])
@pytest.mark.parametrize("place", ["offset", "spread", "narrow"])
def test_full_log_density_does_not_cancel_on_offset_data(dtype, D, place):
    """``_density.logprob_full`` against a float64 reference of the same (rounded) data,
    within the rounding bound of the way each dtype sums ``y = U^T (x - mu)``: float64
    shifts the block by ``c``, the mean of the means, and sums ``U^T (x - c) - U^T (mu - c)``;
    float32 centres the block on each component. Data offset by 1e6, means spread over
    1e4, a nearly singular component (U of 1e3) ten from the others. Without the shift
    (``U^T x - U^T mu``, as scikit-learn sums it) the offset float64 data fail; float32
    summed as float64 is (shifted) fails the spread and the narrow data."""
    from fastem._kernels import _density

    rng = np.random.default_rng(D)
    K, nb, Dp = 4, 200, (D + 3) // 4 * 4
    mu = placed_means(rng, K, D, place)
    A = rng.normal(size=(K, D, D))
    cov = A @ A.transpose(0, 2, 1) / D + np.eye(D)
    if place == "narrow":
        cov[0] = np.eye(D) * 1e-6
        mu[1:] -= 10.0
    U = np.linalg.inv(np.linalg.cholesky(cov)).transpose(0, 2, 1)
    pick = np.arange(nb) % K
    scale = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))[pick]
    x = mu[pick] + rng.normal(size=(nb, D)) * scale
    x, mu, U = (a.astype(dtype).astype(np.float64) for a in (x, mu, U))
    mup = np.zeros((K, Dp), dtype)
    mup[:, :D] = mu
    up = np.zeros((K, Dp, Dp), dtype)
    up[:, :D, :D] = U
    const = rng.normal(size=K)
    # the means' shift, once per pass with the parameters (as ``_passes.kernel_args``), then
    # two blocks, as a chunk's, over the same ``xs``
    logp = log_density_in_blocks(_density.full_logprob, x, mup, up, const, dtype)
    y = np.stack([(x - mu[k]) @ U[k] for k in range(K)])  # (K, nb, D)
    want = const[:, None] - 0.5 * (y**2).sum(axis=2)
    # each y_j is a sum of D + 1 terms: off by at most (D + 2) u times their magnitudes
    u = np.finfo(dtype).eps / 2
    c = mu.mean(axis=0) if dtype == np.float64 else mu  # the reference each dtype sums from
    c = np.broadcast_to(c, mu.shape)
    terms = np.stack(
        [np.abs(x - c[k]) @ np.abs(U[k]) + np.abs(mu[k] - c[k]) @ np.abs(U[k]) for k in range(K)]
    )
    dy = (D + 2) * u * terms
    bound = (np.abs(y) * dy + dy**2).sum(axis=2) + (D + 2) * u * (y**2).sum(axis=2)
    err = np.abs(logp - want)
    assert (err <= 2 * bound + 2 * u * np.abs(const)[:, None]).all(), (err / bound).max()


@pytest.mark.parametrize(
    "lanes, cols, dtype",
    [(8, 8, np.float64), (4, 4, np.float64), (16, 8, np.float32), (8, 4, np.float32)],
)
@pytest.mark.parametrize("K", [1, 2, 3, 7, 8, 13, 20])
@pytest.mark.parametrize("D, nb", [(4, 1), (8, 17), (60, 150), (3, 33), (12, 32)])
def test_both_diagonal_log_density_tiles_match_the_reference(
    lanes, cols, dtype, K, D, nb, monkeypatch
):
    """The diagonal log-density's register tile (``_density._diag_rows``) in every shape,
    whichever this machine compiles: float64 two vectors of 8 rows x 8 components on
    AVX-512, 4 x 4 on AVX2; float32 16 x 8 and 8 x 4. Every component count (whole tiles,
    then one of each narrower width), rows past a whole vector computed in the spare
    columns, which must hold: nothing is written past the buffer's last row, and a row's
    spare lanes never reach the next component's row (its width is the rows rounded up
    to whole tiles). On data offset by 1e4 the error stays within the bound of
    ``x p - mu p`` (half an ulp of ``mu p`` per feature: first order in the offset)."""
    logdens, rows = diag_tile(monkeypatch, "_diag_rows", cols, lanes, dtype)
    rng = np.random.default_rng(K * D + nb)
    Dp = (D + 3) // 4 * 4
    width = -(-nb // rows) * rows
    unit = np.finfo(dtype).eps / 2
    for offset in (0.0, 1e4):
        x = (rng.normal(size=(nb, D)) * 3 + offset).astype(dtype).astype(np.float64)
        xt = np.full((Dp, width + 5), 1e3, dtype)  # spare rows: not used
        xt[:, :nb] = 0.0
        xt[:D, :nb] = x.T
        mu = np.zeros((K, Dp), dtype)
        prec = np.zeros((K, 1, Dp), dtype)
        mu[:, :D] = rng.normal(size=(K, D)) + offset
        prec[:, 0, :D] = rng.uniform(0.3, 3.0, size=(K, D))
        npm = np.full((K + 1, Dp), 1e3, dtype)  # as the kernel's: a spare row past K
        npm[:K] = -(mu * prec[:, 0])
        const = rng.normal(size=K)
        after = np.full(K * width + 64, -7.0)
        logp = after[: K * width].reshape(K, width)
        logdens(xt, nb, prec, npm, const, logp)
        p64, m64 = prec[:, 0, :D].astype(np.float64), mu[:, :D].astype(np.float64)
        t = (x[None] - m64[:, None]) * p64[:, None]  # (K, nb, D), exact enough in float64
        q = (t**2).sum(axis=2)
        tol = 1e-14 if dtype == np.float64 else 3e-6  # of the terms' size
        mp = unit * np.abs(m64 * p64)[:, None]  # half an ulp of mu p
        bound = tol * (np.abs(const)[:, None] + q) + (1.1 * np.abs(t) * mp + mp**2).sum(axis=2)
        err = np.abs(logp[:, :nb] - (const[:, None] - 0.5 * q))
        assert (err <= bound).all(), (offset, (err / bound).max())
        assert (after[K * width :] == -7.0).all()


def test_a_pass_compiles_the_block_load_its_features_need():
    """Transposed tiles from a whole tile of features on, the narrow load below, for a
    statistics pass and a row-wise pass alike (``_density.load_tiles``)."""
    from fastem._kernels import _density, _em

    for dtype, lanes in ((np.float64, _density.LOAD_LANES), (np.float32, _density.LOAD_LANES32)):
        i = 0 if dtype == np.float64 else 1
        for D in (1, lanes - 1, lanes, lanes + 3, 64):
            want = _density.tiled_load if D >= lanes else _density.shared_load
            for full in (True, False):
                assert _em.statistics_functions(full, dtype, D)[2] == (want, i), (dtype, D)
            assert _em.rowwise_functions(dtype, D)[1] == (want, i), (dtype, D)


def test_blocks_hold_whole_register_tiles_of_rows():
    """Blocks are a power of two of 64 rows or more (``_density.block_rows``), so the
    register tiles' vectors of rows (up to 32: the float32 diagonal log-density's) never
    run past a block's buffers, whatever the shape."""
    from numba import njit

    from fastem._kernels._config import full_block_bytes
    from fastem._kernels._density import block_rows as _block_rows

    @njit
    def block_rows(*args):  # the callee has no Python wrapper: call it from compiled code
        return _block_rows(*args)

    for full in (True, False):
        for Dp in (4, 8, 64, 256, 1024, 4096):
            for K in (1, 16, 512, 4096):
                for budget in (full_block_bytes(), 1 << 14, 1 << 22):
                    B = block_rows(Dp, K, full, budget)
                    assert B >= 64 and B & (B - 1) == 0, (full, Dp, K, budget, B)


def test_the_full_statistics_run_in_register_tiles_from_32_padded_features():
    """A pass compiles the full statistics it runs: register tiles from 32 padded features
    (``_statistics.register_tiles``), the 4 x 4 tiles below (bench/NOTES.md sections 27
    and 30 measured both)."""
    from fastem._kernels import _em, _statistics

    def stats(D):
        return _em.statistics_functions(True, np.float64, D)[1][0]

    for D in (29, 32, 33, 36, 45, 64, 256):
        assert stats(D) is _statistics.tiled_stats, D
    for D in (1, 4, 8, 9, 12, 13, 16, 17, 20, 21, 24, 28):
        assert stats(D) is _statistics.full_stats, D
    assert _em.statistics_functions(False, np.float64, 64)[1][0] is _statistics.diag_stats
