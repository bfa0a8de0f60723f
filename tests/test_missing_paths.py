"""Rows with NaN in compact coordinates through the complete-data kernels
(``fastem._patterns``), the missing-value kernels (``fastem._pattern_kernels``), and the
rule that chooses between them."""

import numpy as np
import pytest

from fastem import GaussianMixture, _missing

from ._incomplete_ref import COV_TYPES, blobs, fit_fixed, initial
from .conftest import traced_peak

# --------------------------------------------------------------------------
# rows with NaN as complete rows in compact coordinates (fastem._patterns)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_missing_float32_follows_float64(covariance_type, missing_path):
    """float32 rows with NaN: densities in float32 as for complete rows, statistics in
    float64; the same model as from float64 rows, to float32's precision."""
    _, Xm, _ = blobs(400, 4, 3, seed=33, missing_rate=0.2)
    init = initial(Xm, 3, covariance_type, seed=34)
    g64 = fit_fixed(Xm, 3, covariance_type, 3, init)
    g32 = fit_fixed(Xm.astype(np.float32), 3, covariance_type, 3, init)
    np.testing.assert_allclose(g32.means_, g64.means_, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(g32.covariances_, g64.covariances_, rtol=2e-3, atol=2e-4)
    lp32 = g32.score_samples(Xm.astype(np.float32))
    np.testing.assert_allclose(lp32, g64.score_samples(Xm), rtol=1e-3, atol=1e-3)


def test_compact_coordinates_and_the_observed_block_check():
    from fastem import _patterns, _stats
    from fastem._kernels import _config

    assert _patterns.TILE == _config.TILE  # the padding the kernels expect
    X = np.array([[1.0, np.nan, 3.0], [np.nan, 5.0, 6.0], [7.0, 8.0, 9.0]])
    perm = np.array([[0, 2, 1], [1, 2, 0]])
    out = np.empty((2, 3))
    _patterns.compact_rows(X, np.array([0, 1]), perm, out)
    np.testing.assert_array_equal(out, [[1.0, 3.0, 0.0], [5.0, 6.0, 0.0]])
    # a covariance whose observed block is singular is refused, not factored into NaN
    prec = np.eye(3)[None]
    params = _stats.kernel_params(np.ones(1), np.zeros((1, 3)), prec, "full", np.float64)
    Sigma = np.zeros((1, 3, 3))
    Sigma[0, 1, 1] = Sigma[0, 2, 2] = 1.0  # feature 0 has variance 0
    with pytest.raises(ValueError, match="not positive-definite. Increase reg_covar"):
        _patterns.Factors(
            params,
            Sigma,
            np.zeros(1),
            _patterns._Batch(perm, np.array([2, 2]), np.array([0, 1, 2])),
        )


def test_the_path_of_rows_with_nan_follows_the_data(missing_path):
    """Few patterns or many rows per pattern: compact coordinates; many patterns of few
    rows: the missing-value kernels. Either gives the same statistics."""
    from fastem import _stats
    from fastem._pattern_kernels import PatternKernels
    from fastem._patterns import CompactRows

    _, Xm, _ = blobs(2000, 6, 3, seed=41, missing_rate=0.2)
    gm = GaussianMixture(3, random_state=0, max_iter=3, missing="marginalize").fit(Xm)
    args = (gm.weights_, gm.means_, gm.precisions_cholesky_, "full", np.float64)
    small = missing_path == "numpy"
    params = _stats.kernel_params(*args, small=small)
    data = _missing.MissingData(Xm)
    handler = data._rows_with_nan(params)
    compact = missing_path != "kernels"
    assert isinstance(handler, CompactRows if compact else PatternKernels)
    other = PatternKernels if compact else CompactRows
    a = data.stats(params, None)
    model = _missing._model(params)
    b = other(data, _missing._FACTOR_BUDGET).stats(params, model, None)
    b = b + data.complete.stats(params, None)
    for x, y in zip((a.nk, a.s1, a.s2, a.loglik), (b.nk, b.s1, b.s2, b.loglik)):
        np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-9)
    # float32 rows: the compact path forms densities in float32, the kernels in float64
    X32 = Xm.astype(np.float32)
    p32 = _stats.kernel_params(*args[:4], np.float32, small=small)
    d32 = _missing.MissingData(X32)
    c = d32.stats(p32, None)
    d = other(d32, _missing._FACTOR_BUDGET).stats(p32, _missing._model(p32), None)
    d = d + d32.complete.stats(p32, None)
    for x, y in zip((c.nk, c.s1, c.s2, c.loglik), (d.nk, d.s1, d.s2, d.loglik)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6 * np.abs(y).max())


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_rows_with_nan_of_zero_density_and_tied_components(covariance_type, missing_path):
    """Every path of the rows with NaN, as the complete rows' pass: a row whose observed
    values are far from every component gets log p(x) = -inf and responsibilities 0 (not
    NaN), and of two identical components (equal marginal densities) the first is the
    label, never the copy, as NumPy's argmax and scikit-learn give."""
    from fastem import _stats

    rng = np.random.default_rng(8)
    n, D = 400, 4
    X = rng.normal(size=(n, D)) + 4 * rng.integers(0, 2, size=(n, 1))
    X[rng.random((n, D)) < 0.3] = np.nan
    X[:, 0] = np.where(np.isnan(X).all(axis=1), 1.0, X[:, 0])  # no row all NaN
    far = [3, 150, 399]
    X[far] = [1e200, np.nan, 1.0, np.nan]  # observed values far: every density underflows
    means = np.array([[0.0] * D, [4.0] * D, [4.0] * D])  # component 2 is component 1
    if covariance_type == "full":
        A = rng.normal(size=(D, D)) * 0.3
        cov = np.stack([np.eye(D), A @ A.T + np.eye(D), A @ A.T + np.eye(D)])
    else:
        cov = np.stack([np.ones(D), np.full(D, 1.5), np.full(D, 1.5)])
    pc = _stats.precision_cholesky(cov, covariance_type)
    small = missing_path == "numpy"
    params = _stats.kernel_params(np.array([0.4, 0.3, 0.3]), means, pc, covariance_type,
                                  np.float64, small=small)  # fmt: skip
    md = _missing.MissingData(X)
    assert md.rows.size > 100 and set(far) <= set(md.rows.tolist())
    lp, resp, lab = md.rowwise(params, None, logprob=True, resp=True, labels=True)
    assert np.all(lp[far] == -np.inf) and np.all(resp[far] == 0.0)
    ok = np.setdiff1d(np.arange(n), far)
    assert np.all(np.isfinite(lp[ok])) and np.all(np.isfinite(resp[ok]))
    np.testing.assert_allclose(resp[ok].sum(axis=1), 1.0, rtol=1e-12)
    assert np.any(lab[md.rows] == 1) and not np.any(lab == 2)


def test_a_pattern_over_several_kernel_calls():
    """One pattern of 3,000 rows: several kernel calls, added in order. Both paths, one
    thread and all threads, statistics and row-wise outputs agree."""
    from fastem import _stats
    from fastem._pattern_kernels import PatternKernels
    from fastem._patterns import CompactRows

    X, _, _ = blobs(6000, 4, 3, seed=44)
    X[::2, 1] = np.nan
    gm = GaussianMixture(3, random_state=0, max_iter=3, missing="marginalize").fit(X)
    args = (gm.weights_, gm.means_, gm.precisions_cholesky_, "full", np.float64)
    params = _stats.kernel_params(*args)
    data = _missing.MissingData(X)
    compact = CompactRows(data, _missing._FACTOR_BUDGET)
    tp, r0, r1, first = compact._batches_for(3)[0].tasks(1024)
    assert len(tp) == 3 and list(first) == [0]  # the test is about a split pattern
    model = _missing._model(params)
    kern = PatternKernels(data, _missing._FACTOR_BUDGET)
    for n_threads in (1, None):
        a = compact.stats(params, model, n_threads)
        b = kern.stats(params, model, n_threads)
        for x, y in zip((a.nk, a.s1, a.s2, a.loglik), (b.nk, b.s1, b.s2, b.loglik)):
            np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-9)
        what = dict(logprob=True, resp=True, labels=True)
        for x, y in zip(compact.rowwise(params, model, n_threads, **what),
                        kern.rowwise(params, model, n_threads, **what)):  # fmt: skip
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)


def test_tasks_split_each_pattern_in_order():
    from fastem._patterns import _Batch

    offsets = np.array([10, 15, 2100, 2101, 5000])
    p, r0, r1, first = _Batch(None, None, offsets).tasks(1024)
    assert p.tolist() == [0, 1, 1, 1, 2, 3, 3, 3]
    assert r0.tolist() == [10, 15, 1039, 2063, 2100, 2101, 3125, 4149]
    assert r1.tolist() == [15, 1039, 2063, 2100, 2101, 3125, 4149, 5000]
    assert first.tolist() == [0, 1, 4, 5]


def test_small_inputs_with_nan_never_start_the_compiler():
    """docs/cold_start.md: a small input with NaN in a few patterns runs in NumPy."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, fastem\n"
        "X = np.random.default_rng(0).normal(size=(500, 3)); X[::4, 1] = np.nan\n"
        "gm = fastem.GaussianMixture(2, missing='marginalize', random_state=0).fit(X)\n"
        "gm.predict_proba(X); gm.score_samples(X)\n"
        "print('numba' in sys.modules)\n"
    )
    env = dict(os.environ)
    env.pop("FASTEM_SMALL_WORK", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_default_choice_of_path():
    """Little per-pattern work (patterns x K x D^2) or many rows per pattern: compact
    coordinates; many patterns of few rows: the missing-value kernels, small inputs too."""
    from fastem import _stats
    from fastem._pattern_kernels import PatternKernels
    from fastem._patterns import CompactRows

    def params(D, small=False):
        args = (np.full(2, 0.5), np.zeros((2, D)), np.eye(D)[None].repeat(2, 0), "full")
        return _stats.kernel_params(*args, np.float64, small=small)

    one = np.random.default_rng(0).normal(size=(3000, 6))
    one[::3, 2] = np.nan  # one pattern
    assert isinstance(_missing.MissingData(one)._rows_with_nan(params(6)), CompactRows)
    _, many, _ = blobs(6000, 16, 2, seed=43, missing_rate=0.3)  # thousands of patterns
    data = _missing.MissingData(many)
    assert data.n_patterns * 2 * 16 * 16 > _missing.COMPACT_WORK
    assert data.rows.size < _missing.COMPACT_ROWS * data.n_patterns
    assert isinstance(data._rows_with_nan(params(16)), PatternKernels)
    # small inputs too: thousands of patterns would cost seconds per pass in NumPy
    assert isinstance(data._rows_with_nan(params(16, small=True)), PatternKernels)
    # much per-pattern work, but 1,000 rows per pattern: compact
    wide = np.random.default_rng(1).normal(size=(17_000, 64))
    wide[np.arange(17_000), np.arange(17_000) % 17] = np.nan
    data = _missing.MissingData(wide)
    K = 8
    assert data.n_patterns * K * 64 * 64 > _missing.COMPACT_WORK
    kp = _stats.kernel_params(np.full(K, 1 / K), np.zeros((K, 64)),
                              np.eye(64)[None].repeat(K, 0), "full", np.float64)  # fmt: skip
    assert isinstance(data._rows_with_nan(kp), CompactRows)


def test_choice_of_path_at_its_thresholds():
    """docs/incomplete.md: compact coordinates when the per-pattern work (patterns x K x D^2)
    is *at most* 2^19, or with 1,000 rows with NaN per pattern *or more* on average."""
    from fastem import _stats
    from fastem._pattern_kernels import PatternKernels
    from fastem._patterns import CompactRows

    def handler(X, K):
        D = X.shape[1]
        kp = _stats.kernel_params(np.full(K, 1 / K), np.zeros((K, D)),
                                  np.eye(D)[None].repeat(K, 0), "full", np.float64)  # fmt: skip
        return type(_missing.MissingData(X)._rows_with_nan(kp))

    # one row per pattern: P patterns of 16 features (the bits of 1 .. P in columns 0 .. 10)
    def patterns(P):
        X = np.ones((P, 16))
        X[:, :11][(np.arange(1, P + 1)[:, None] >> np.arange(11)) & 1 == 1] = np.nan
        return X

    assert 1024 * 2 * 16 * 16 == _missing.COMPACT_WORK == 2**19
    assert handler(patterns(1024), 2) is CompactRows
    assert handler(patterns(1025), 2) is PatternKernels
    # two patterns of 64 features, K = 65 (work 2 x 65 x 64^2 > 2^19): 1,000 rows a pattern
    X = np.ones((2000, 64))
    X[:1000, 0] = X[1000:, 1] = np.nan
    assert _missing.COMPACT_ROWS == 1000
    assert handler(X, 65) is CompactRows
    assert handler(X[1:], 65) is PatternKernels


def test_rows_with_nan_are_freed_when_the_call_returns(missing_path):
    """The handler of the rows with NaN (cached on the data object) held the data object,
    which held it: a reference cycle that kept the copies of X's rows (the complete rows and
    the compact ones, 1.2 times X here) alive after ``fit`` and after every ``predict_proba``
    until Python's cyclic collector ran, which large NumPy allocations do not trigger (a loop
    of predictions grew by that much per call). Measured with the collector off."""
    import gc
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50_000, 6)) + rng.integers(0, 3, size=(50_000, 1)) * 4.0
    X[rng.random(X.shape) < 0.1] = np.nan  # ~47 % of the rows have a NaN
    gm = GaussianMixture(3, missing="marginalize", random_state=0, max_iter=2)
    gm.fit(X[:2000]).predict_proba(X[:2000])  # (compiled)
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        gm.fit(X)
        after_fit = tracemalloc.get_traced_memory()[0]
        resp = gm.predict_proba(X)
        after_predict = tracemalloc.get_traced_memory()[0] - resp.nbytes
    finally:
        tracemalloc.stop()
        gc.enable()
    assert after_fit < X.nbytes / 10, after_fit  # (the fitted parameters: kilobytes)
    assert after_predict < X.nbytes / 10, after_predict


def test_a_missing_values_fit_makes_no_extra_copies_of_x():
    """With ``missing="marginalize"``, a fit's start filled the NaN with column means from
    ``np.nanmean(X, axis=0)`` (a zeroed copy of X and a mask of it) and a mask of X's NaN:
    3.1x X traced at the peak. The means are summed a chunk at a time (to NumPy's last bit)
    and the NaN filled a chunk at a time. What stays is by design: the copies of the rows
    (complete ones, and those with NaN in compact coordinates: 1.0x X) and the start's
    filled copy (1.0x X)."""

    rng = np.random.default_rng(0)
    n, d = 300_000, 8
    X = rng.normal(size=(n, d)) + rng.integers(0, 4, size=(n, 1)) * 3.0
    X[rng.random(X.shape) < 0.05] = np.nan  # a third of the rows have a NaN
    gm = GaussianMixture(
        8, missing="marginalize", covariance_type="diag", random_state=0, max_iter=2
    )
    gm.fit(X)  # (compiled)
    _, peak = traced_peak(lambda: gm.fit(X))
    assert peak < 2.7 * X.nbytes, peak / X.nbytes  # (2.4x; 3.1x before)
    for dtype in (np.float64, np.float32):
        Xt = X.astype(dtype)
        assert np.array_equal(_missing.column_nanmeans(Xt), np.nanmean(Xt, axis=0))
