"""Every EM kernel against a naive NumPy reference, and thread-count invariance.

The kernels in ``fastem/_kernels/_em.py`` are hand-tiled and use their own
vectorizable ``exp``; these tests pin them to a reference written the obvious
way so that optimizations cannot silently change the answers.
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from fastem import GaussianMixture
from fastem._passes import array_rowwise, array_stats
from fastem._stats import kernel_params

LAYOUTS = ["full", "tied", "diag", "spherical"]


def _problem(cov, n, D, K, dtype, seed=0, weights=None):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 3
    X = (centres[rng.integers(0, K, n)] + rng.normal(size=(n, D))).astype(dtype)
    weights = rng.dirichlet(np.ones(K) * 5) if weights is None else weights
    means = centres + 0.3 * rng.normal(size=(K, D))
    if cov == "full":
        A = rng.normal(size=(K, D, D)) * 0.3
        covs = A @ A.transpose(0, 2, 1) + np.eye(D)
        prec_chol = np.array([np.linalg.inv(np.linalg.cholesky(c)).T for c in covs])
    elif cov == "tied":
        A = rng.normal(size=(D, D)) * 0.3
        prec_chol = np.linalg.inv(np.linalg.cholesky(A @ A.T + np.eye(D))).T
    elif cov == "diag":
        prec_chol = 1 / np.sqrt(rng.uniform(0.5, 2, size=(K, D)))
    else:
        prec_chol = 1 / np.sqrt(rng.uniform(0.5, 2, size=K))
    return X, kernel_params(weights, means, prec_chol, cov, dtype)


def _reference(X, p):
    """Naive float64 E-step and centred statistics."""
    X = X.astype(np.float64)
    mu = p.mu.astype(np.float64)
    prec = p.prec.astype(np.float64)
    K, D = mu.shape
    logp = np.empty((X.shape[0], K))
    for k in range(K):
        diff = X - mu[k]
        if prec.shape[1] > 1:
            y = diff @ prec[k]
        else:
            y = diff * prec[k, 0]
        logp[:, k] = p.const[k] - 0.5 * (y * y).sum(axis=1)
    lse = logsumexp(logp, axis=1)
    resp = np.exp(logp - lse[:, None])
    nk = resp.sum(axis=0)
    s1 = np.stack([(resp[:, k, None] * (X - mu[k])).sum(0) for k in range(K)])
    if p.covariance_type in ("full", "tied"):
        s2 = np.stack([(resp[:, k, None] * (X - mu[k])).T @ (X - mu[k]) for k in range(K)])
    else:
        s2 = np.stack([(resp[:, k, None] * (X - mu[k]) ** 2).sum(0) for k in range(K)])
    return logp, lse, resp, nk, s1, s2


def _tol(dtype):
    # float32 input: log-densities are formed in float32 like scikit-learn does
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", LAYOUTS)
@pytest.mark.parametrize("D", [1, 3, 8, 13])
def test_stats_pass_matches_reference(cov, D, dtype):
    n, K = 1500, 5
    X, p = _problem(cov, n, D, K, dtype, seed=D)
    _, lse, _, nk, s1, s2 = _reference(X, p)
    st = array_stats(X, None, None, p, 2)
    tol = _tol(dtype)
    np.testing.assert_allclose(st.nk, nk, **tol)
    np.testing.assert_allclose(st.s1, s1, rtol=tol["rtol"], atol=tol["atol"] * n)
    np.testing.assert_allclose(st.s2, s2, rtol=tol["rtol"], atol=tol["atol"] * n)
    np.testing.assert_allclose(st.loglik, lse.sum(), rtol=tol["rtol"])
    assert st.wsum == n and st.n_rows == n


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", ["full", "diag"])
def test_stats_weights_and_labels(cov, dtype):
    n, D, K = 1000, 5, 4
    X, p = _problem(cov, n, D, K, dtype)
    rng = np.random.default_rng(1)
    w = rng.uniform(0, 3, n)
    labels = np.where(rng.random(n) < 0.3, rng.integers(0, K, n), -1).astype(np.int64)
    logp, lse, resp, *_ = _reference(X, p)
    known = labels >= 0
    resp[known] = np.eye(K)[labels[known]]
    lse[known] = logp[known, labels[known]]
    wr = w[:, None] * resp
    Xd = X.astype(np.float64)
    mu = p.mu.astype(np.float64)
    st = array_stats(X, w, labels, p, 2)
    tol = _tol(dtype)
    np.testing.assert_allclose(st.nk, wr.sum(0), **tol)
    np.testing.assert_allclose(st.loglik, (w * lse).sum(), rtol=tol["rtol"])
    np.testing.assert_allclose(st.wsum, w.sum(), rtol=1e-12)
    s1 = np.stack([(wr[:, k, None] * (Xd - mu[k])).sum(0) for k in range(K)])
    np.testing.assert_allclose(st.s1, s1, rtol=tol["rtol"], atol=tol["atol"] * n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", LAYOUTS)
def test_rowwise_matches_reference(cov, dtype):
    n, D, K = 1300, 6, 7
    X, p = _problem(cov, n, D, K, dtype, seed=3)
    logp, lse, resp, *_ = _reference(X, p)
    lp, r, lab = array_rowwise(X, p, 2, logprob=True, resp=True, labels=True)
    tol = _tol(dtype)
    np.testing.assert_allclose(lp, lse, **tol)
    np.testing.assert_allclose(r, resp, **tol)
    np.testing.assert_allclose(r.sum(1), 1.0, rtol=1e-12)
    if dtype == np.float64:
        np.testing.assert_array_equal(lab, logp.argmax(1))
    else:
        assert (lab == logp.argmax(1)).mean() > 0.99


def test_exp_accuracy_and_edges():
    """The kernels' exp: close to np.exp, exact 0 below -708 and for -inf."""
    from numba import njit

    from fastem._kernels._normalize import exp_rows as _exp_rows

    @njit
    def exp_rows(*args):  # the callee has no Python wrapper: call it from compiled code
        _exp_rows(*args)

    x = np.concatenate(
        [np.linspace(-745, 0, 20001), [-np.inf, -708.5, -700.0, -1e-300, 0.0, 1.0, 5.0]]
    )
    a = x[None, :].copy()
    zero, s = np.zeros(x.size), np.zeros(x.size)
    exp_rows(a, 0, 1, x.size, zero, s)
    ok = x >= -708
    np.testing.assert_allclose(a[0, ok], np.exp(x[ok]), rtol=4e-16, atol=0)
    assert np.all(a[0, ~ok] == 0.0)
    np.testing.assert_array_equal(s, a[0])  # the running sum rides along


def test_zero_weight_component_and_far_rows():
    """A component of weight 0 (log weight -inf) gets resp 0, not NaN."""
    X, p = _problem("full", 800, 4, 3, np.float64, weights=np.array([0.5, 0.0, 0.5]))
    assert p.const[1] == -np.inf
    st = array_stats(X, None, None, p, 2)
    assert np.isfinite(st.loglik) and st.nk[1] == 0.0
    lp, r, _ = array_rowwise(X, p, 2, logprob=True, resp=True)
    assert np.all(r[:, 1] == 0) and np.all(np.isfinite(lp))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", LAYOUTS)
def test_thread_counts_bit_identical(cov, dtype):
    X, p = _problem(cov, 5000, 7, 4, dtype, seed=5)
    ref = array_stats(X, None, None, p, 1)
    for n_threads in (2, 3, 4, 7, None):
        st = array_stats(X, None, None, p, n_threads)
        for name in ("nk", "s1", "s2"):
            np.testing.assert_array_equal(getattr(st, name), getattr(ref, name))
        assert st.loglik == ref.loglik
    out = [array_rowwise(X, p, t, logprob=True, resp=True, labels=True) for t in (1, 2, 3, 4)]
    for other in out[1:]:
        for a, b in zip(out[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cov", LAYOUTS)
def test_estimator_thread_count_invariance(cov):
    X, _ = _problem(cov, 6000, 5, 3, np.float64, seed=7)
    fits = [
        GaussianMixture(3, covariance_type=cov, n_threads=t, random_state=0, max_iter=5, tol=0).fit(
            X
        )
        for t in (1, 2)
    ]
    for attr in ("weights_", "means_", "covariances_", "lower_bound_"):
        np.testing.assert_array_equal(getattr(fits[0], attr), getattr(fits[1], attr))
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


def test_one_compiled_pass_for_every_covariance_type_and_read_only_input(tmp_path):
    """Each distinct argument type costs a compilation of tens of seconds: the
    four covariance types, read-only input (a memory map, a frozen array) and
    read-only parameters must all reuse one specialization per dtype."""
    from fastem import GaussianMixture
    from fastem._kernels import _em

    X = np.random.default_rng(0).normal(size=(600, 3))
    kernels = (_em.pass_chunk,)
    for cov in ("full", "diag"):
        GaussianMixture(2, covariance_type=cov, random_state=0, max_iter=2).fit(X).predict(X)
    before = [len(k.signatures) for k in kernels]
    np.save(tmp_path / "X.npy", X)
    frozen = X.copy()
    frozen.flags.writeable = False
    means = X[:2].copy()
    means.flags.writeable = False
    for data in (np.load(tmp_path / "X.npy", mmap_mode="r"), frozen):
        for cov in ("full", "tied", "diag", "spherical"):
            gm = GaussianMixture(2, covariance_type=cov, means_init=means, max_iter=2)
            gm.fit(data, sample_weight=np.ones(len(X))).predict(data)
    assert [len(k.signatures) for k in kernels] == before
    # the EM pass that reads a .npy file into per-thread buffers calls the same
    # compiled chunk functions (the buffers are handed over read-only)
    from fastem import source

    for cov in ("full", "diag"):
        gm = GaussianMixture(2, covariance_type=cov, random_state=0, max_iter=2)
        gm.fit(source(tmp_path / "X.npy")).predict(source(tmp_path / "X.npy"))
    assert [len(k.signatures) for k in kernels] == before
    for k in kernels:  # one float64 specialization each, whatever ran before
        assert sum(str(sig[0].dtype) == "float64" for sig in k.signatures) == 1, k.signatures


def test_predictions_after_a_fit_compile_nothing():
    """docs/cold_start.md: the fit's kernel writes the row-wise outputs too, so
    predict, predict_proba and score_samples after a fit (float32 and float64,
    both families, with missing values) start no compilation at all."""
    from numba.core import event

    from fastem import GaussianMixture

    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 3))
    Xm = X.copy()
    Xm[::5, 1] = np.nan
    fits = []
    for dtype in ("float64", "float32"):
        for cov in ("full", "tied", "diag", "spherical"):
            gm = GaussianMixture(2, covariance_type=cov, random_state=0, max_iter=2)
            fits.append((gm.fit(X.astype(dtype)), X.astype(dtype)))
        gm = GaussianMixture(2, missing="marginalize", random_state=0, max_iter=2)
        fits.append((gm.fit(Xm.astype(dtype)), Xm.astype(dtype)))
    rec = event.RecordingListener()
    event.register("numba:compile", rec)
    try:
        for gm, data in fits:
            gm.predict(data)
            gm.predict_proba(data)
            gm.score_samples(data)
            gm.score(data)
    finally:
        event.unregister("numba:compile", rec)
    compiled = {ev.data["dispatcher"].py_func.__name__ for _, ev in rec.buffer if ev.is_start}
    assert not compiled, compiled


def test_missing_values_compile_nothing_after_a_complete_fit():
    """Rows with NaN run through the complete-data kernel in compact coordinates
    (``fastem._patterns``): after a complete fit of each family, a
    ``missing="marginalize"`` fit, its predictions and its scores start no
    compilation (they had their own kernels, +3.5-4 s on a first use)."""
    from numba.core import event

    from fastem import GaussianMixture
    from fastem._kernels import _em

    X = np.random.default_rng(1).normal(size=(600, 3))
    Xm = X.copy()
    Xm[::5, 1] = np.nan
    Xm[1::7, 0] = np.nan
    for cov in ("full", "diag"):
        GaussianMixture(2, covariance_type=cov, max_iter=2, random_state=0).fit(X).predict(X)
    rec = event.RecordingListener()
    event.register("numba:compile", rec)
    try:
        for cov in ("full", "tied", "diag", "spherical"):
            gm = GaussianMixture(2, covariance_type=cov, missing="marginalize", max_iter=2)
            gm.fit(Xm, sample_weight=np.ones(len(Xm))).predict_proba(Xm)
            gm.score_samples(Xm)
            gm.fit(Xm, labels=np.r_[np.zeros(5, dtype=int), -np.ones(595, dtype=int)])
    finally:
        event.unregister("numba:compile", rec)
    compiled = {ev.data["dispatcher"].py_func.__name__ for _, ev in rec.buffer if ev.is_start}
    assert not compiled, compiled
    # and nothing compiled earlier in this process either: one specialization per dtype
    for k in (_em.pass_chunk,):
        assert sum(str(sig[0].dtype) == "float64" for sig in k.signatures) == 1, k.signatures


def test_missing_value_kernels_fit_and_predict_share_one_specialization(monkeypatch):
    """Many patterns of few rows run the missing-value kernels (forced here): their
    statistics and their row-wise log-densities are one compiled specialization, so a
    predict after a fit compiles nothing more."""
    from fastem import GaussianMixture, _missing
    from fastem._kernels import _missing as kmis

    monkeypatch.setattr(_missing, "COMPACT_WORK", -1)
    monkeypatch.setattr(_missing, "COMPACT_ROWS", 10**18)
    X = np.random.default_rng(1).normal(size=(600, 3))
    X[::5, 1] = np.nan
    for cov in ("full", "diag"):
        gm = GaussianMixture(2, covariance_type=cov, missing="marginalize", max_iter=2)
        gm.fit(X).predict_proba(X)
        gm.score_samples(X)
    sigs = [sig for sig in kmis.chunk_stats.signatures if str(sig[0].dtype) == "float64"]
    assert len(sigs) == 1, sigs


def test_shared_callees_are_compiled_once_for_every_kernel():
    """The normalization, the row-wise outputs, each family's statistics and (once per
    dtype) its log-density are compiled once per process and called by address
    (``fastem/_kernels/_shared.py``):
    a diagonal fit after a full one, a float32 fit after a float64 one, ``labels=``,
    weights and missing values reuse them instead of typing and optimizing their own
    copies (a float32 first use compiled 1.5 s less). The k-means kernels are
    float64 only: float32 rows reach them widened chunk by chunk (the same bits).
    The normalization is compiled without reassociation, so its copy here and the
    missing-value kernels' own copy give the same bits."""
    from fastem import GaussianMixture
    from fastem._kernels import _density, _em, _kmeans, _normalize, _statistics

    shared = {
        "normalize": _normalize.shared_normalize,
        "rowwise": _em.rowwise_outputs,
        "full": _statistics.full_stats,
        "diag": _statistics.diag_stats,
        "full log-density": _density.full_logprob,  # one per dtype
        "diag log-density": _density.diag_logprob,
        "block load": _density.shared_load,
    }
    for name in ("normalize", "rowwise"):
        assert "reassoc" not in shared[name].dispatcher.targetoptions["fastmath"], name
    assert "reassoc" not in _normalize.normalize.targetoptions["fastmath"]

    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 3))
    Xm = X.copy()
    Xm[::5, 1] = np.nan
    labels = np.full(len(X), -1)
    labels[:10] = 0
    for dtype in ("float64", "float32"):
        for cov in ("full", "diag"):
            gm = GaussianMixture(2, covariance_type=cov, random_state=0, max_iter=2)
            gm.fit(X.astype(dtype), sample_weight=np.ones(len(X)), labels=labels)
            gm.predict_proba(X.astype(dtype))
        GaussianMixture(2, missing="marginalize", random_state=0, max_iter=2).fit(Xm)
    for name, callee in shared.items():
        assert sorted(map(str, callee.dispatcher.signatures)) == sorted(
            map(str, callee.signatures)
        ), name
    for k in (_kmeans.lloyd, _kmeans.potentials):
        assert [str(sig[0].dtype) for sig in k.signatures] == ["float64"], k.signatures
    # one pass kernel per dtype, for every family
    sigs = _em.pass_chunk.signatures
    assert sorted(str(sig[0].dtype) for sig in sigs) == ["float32", "float64"]


def test_a_shared_callee_refuses_other_argument_types():
    """A kernel that passes a shared callee other types than it was compiled for
    fails to compile, with a message naming both, rather than call code compiled for
    other types."""
    from numba import njit
    from numba.core.errors import TypingError

    from fastem._kernels._statistics import diag_stats

    call = diag_stats.call

    @njit
    def wrong(address, xt, resp):
        call(address, xt, 4, xt, resp, resp, resp, resp[0], resp, resp)

    xt = np.zeros((4, 8), dtype=np.float32)
    with pytest.raises(TypingError, match="accumulate_diag is compiled for"):
        wrong(diag_stats.address(), xt, np.zeros((2, 8)))


def test_a_shared_callee_called_by_address_computes_what_it_computes_alone():
    """The same diagonal statistics called through the address (as the kernels do)
    and from plain Python (the function's source run by the interpreter)."""
    from numba import njit

    from fastem._kernels._statistics import accumulate_diag, diag_stats

    call = diag_stats.call

    @njit
    def by_address(address, xt, nb, mu, resp, nk, s1, s2):
        unused = np.zeros((0, 40))  # diff and rd: the full family's buffers
        call(address, xt, nb, mu, resp, unused, unused, nk, s1, s2)

    rng = np.random.default_rng(0)
    K, D, nb = 3, 4, 37
    xt, mu, resp = rng.normal(size=(D, 40)), rng.normal(size=(K, D)), rng.random((K, 40))
    got = [np.zeros(K), np.zeros((K, D)), np.zeros((K, D))]
    want = [np.zeros(K), np.zeros((K, D)), np.zeros((K, D))]
    by_address(diag_stats.address(), xt, nb, mu, resp, *got)
    accumulate_diag(xt, nb, mu, resp, None, None, *want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13)
    np.testing.assert_allclose(want[1], resp[:, :nb] @ xt[:, :nb].T - want[0][:, None] * mu)


def test_sum_rows_is_a_fixed_order_sum():
    """The log-likelihood's sum over a block's rows: eight partial sums added in
    a fixed order (the same bits in every compiled copy), against NumPy."""
    from numba import njit

    from fastem._kernels._normalize import sum_rows

    @njit
    def call(a, nb):
        return sum_rows(a, nb)

    rng = np.random.default_rng(4)
    a = rng.normal(size=300) * 1e3
    for nb in (0, 1, 7, 8, 9, 17, 256, 300):
        parts = [0.0] * 8
        full = nb - nb % 8
        for i in range(full):
            parts[i % 8] += a[i]
        for i in range(full, nb):
            parts[0] += a[i]
        expect = ((parts[0] + parts[1]) + (parts[2] + parts[3])) + (
            (parts[4] + parts[5]) + (parts[6] + parts[7])
        )
        assert call(a, nb) == pytest.approx(a[:nb].sum(), rel=1e-13, abs=1e-9)
        assert call(a, nb) == expect
    assert call(np.array([1.0, -np.inf, 2.0]), 3) == -np.inf


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_load_block_transposes_in_both_orders(dtype):
    """The block load copies X[start:start + nb].T into xt in either order it
    chooses from the shape (rows per pass, features per pass): exactly, leaving
    the padding rows and the columns past nb untouched."""
    from numba import njit

    from fastem._kernels._density import LOAD_L1_BYTES, LOAD_WIDE, shared_load

    load = shared_load.call  # the copy the pass kernel calls, by address

    @njit
    def call(address, X, start, nb, xt):
        load(address, X, start, nb, xt)

    address = shared_load.address(0 if dtype == np.float64 else 1)

    rng = np.random.default_rng(5)
    orders = set()
    for D, B in [(1, 64), (2, 256), (3, 1024), (7, 1024), (8, 256), (8, 1024), (13, 256),
                 (32, 128), (64, 256), (70, 64)]:  # fmt: skip
        X = rng.normal(size=(B + 40, D)).astype(dtype)
        Dp = D + (-D) % 4
        by_features = D < LOAD_WIDE and D * (B + 16) * X.itemsize > LOAD_L1_BYTES
        orders.add(by_features)
        for start, nb in [(0, B), (5, B - 3), (31, 1), (9, 0)]:
            xt = np.full((Dp, B + 16), 7.0, dtype=dtype)
            xt[D:] = 0
            X.flags.writeable = False  # as the passes hand it over
            call(address, X, start, nb, xt)
            X.flags.writeable = True
            expect = np.full_like(xt, 7.0)
            expect[D:] = 0
            expect[:D, :nb] = X[start : start + nb].T
            np.testing.assert_array_equal(xt, expect, err_msg=f"D={D} B={B} nb={nb}")
    assert orders == {True, False}  # both orders were exercised


def test_disk_cache_is_invalidated_by_any_kernel_module(tmp_path):
    """Numba keys a cached function on its own source file only, but the
    kernels call each other across modules: every kernel's cache is stamped
    with a digest of all kernel modules, so editing a callee (the
    log-density, say) invalidates the drivers' cached code too."""
    import shutil

    from fastem._kernels import _cache, _em, _kmeans, _missing, _statistics
    from fastem._kernels._config import JIT

    assert JIT["cache"] is True  # the locators were installed
    for kernel in (
        _em.pass_chunk,
        _kmeans.lloyd,
        _missing.chunk_stats,
        _statistics.full_stats.dispatcher,
    ):
        locator = kernel._cache._impl.locator
        assert isinstance(locator, _cache._PackageStamp)
        assert locator.get_source_stamp() == _cache.source_stamp()
    folder = tmp_path / "kernels"
    shutil.copytree(_cache._DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    before = _cache.source_stamp(str(folder))
    with open(folder / "_density.py", "a") as f:
        f.write("\n# edited\n")
    assert _cache.source_stamp(str(folder)) != before


def test_idle_threads_sleep_between_calls():
    """The pass's threads block on a queue between calls: no CPU spent while idle."""
    import threading
    import time

    X, p = _problem("full", 20000, 4, 3, np.float64, seed=2)
    for _ in range(3):
        array_stats(X, None, None, p, 4)
    pool = [t for t in threading.enumerate() if t.name.startswith("fastem")]
    assert pool, "the pass ran no pool thread"
    if hasattr(time, "pthread_getcpuclockid"):
        # the pool's threads only: threads other tests left in this worker (a Dask
        # client's event loop) may run meanwhile
        clocks = [time.pthread_getcpuclockid(t.ident) for t in pool]

        def cpu():
            return sum(time.clock_gettime(c) for c in clocks)
    else:
        cpu = time.process_time
    time.sleep(0.05)
    t0, c0 = time.perf_counter(), cpu()
    time.sleep(0.5)
    idle = cpu() - c0
    assert time.perf_counter() - t0 >= 0.5
    assert idle < 0.05, f"{idle:.3f} s of CPU while idle"


def test_a_forked_child_fits_after_its_parent_used_the_threads():
    """The parent's pool threads do not survive a fork: the child starts its own."""
    import multiprocessing as mp

    X, p = _problem("full", 20000, 4, 3, np.float64, seed=2)
    ref = array_stats(X, None, None, p, 2)
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        res = pool.apply_async(array_stats, (X, None, None, p, 2))
        child = res.get(timeout=120)  # a stale pool would wait forever
    np.testing.assert_array_equal(child.s1, ref.s1)


_FIRST_USES = r"""
import sys, warnings
import numpy as np
from numba.core import event
from fastem import GaussianMixture
warnings.simplefilter("ignore")
X = np.random.default_rng(0).normal(size=(600, 3))
def compiled(f):
    rec = event.RecordingListener()
    event.register("numba:compile", rec)
    try:
        f()
    finally:
        event.unregister("numba:compile", rec)
    return [(ev.data["dispatcher"].py_func.__qualname__, str(ev.data["args"]))
            for _, ev in rec.buffer if ev.is_start]
fit = lambda cov, dt: GaussianMixture(2, covariance_type=cov, random_state=0,
                                      max_iter=2).fit(X.astype(dt)).predict_proba(X.astype(dt))
gm = GaussianMixture(2, random_state=0, max_iter=2)
print(repr(compiled(lambda: gm.fit(X))))
print(repr(compiled(lambda: gm.predict_proba(X))))
print(repr(compiled(lambda: fit("diag", "float64"))))
print(repr(compiled(lambda: fit("full", "float32"))))
print(repr(compiled(lambda: fit("diag", "float32"))))
import re
from fastem._kernels import _em
ir = _em.pass_chunk.inspect_llvm(_em.pass_chunk.signatures[0])
defined = re.findall(r"^define[^@]*@(\S+)\(", ir, re.M)
print(repr((len(re.findall(r"= inttoptr i64", ir)), defined)))
"""


def test_a_float32_first_use_compiles_only_float32_code(tmp_path):
    """docs/cold_start.md: in a fresh process on an empty cache, float32 fits after
    float64 ones compile only code that handles float32 values (the load, the
    log-density and the kernel that loops over blocks); the normalization, the
    statistics and k-means are float64 code compiled once. A diagonal fit after a full
    one compiles its log-density and statistics only (one pass kernel for every
    family). A fit compiles no row-wise outputs, and its first ``predict_proba``
    nothing else. No kernel compiles
    NumPy's generic ``np.empty`` / ``np.zeros`` (``_bits.empty`` / ``zeros`` instead).
    Without the first fit's helper process (``_kernels._ahead``), which would compile
    some of them elsewhere."""
    import ast
    import os
    import subprocess
    import sys

    env = dict(
        os.environ, FASTEM_SMALL_WORK="0", NUMBA_CACHE_DIR=str(tmp_path), FASTEM_COMPILE_AHEAD="0"
    )
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_USES], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()[-6:]
    first, proba, diag, f32, diag32, (calls, defined) = map(ast.literal_eval, lines)
    # the pass kernel calls its five block functions through their addresses and holds
    # no copy of them (an inlined copy would be optimized again in every kernel)
    assert calls == 5, calls
    for name in defined:
        for block in ("accumulate_", "logprob_", "normalizeB", "_rowwise_outputs", "load_block"):
            assert block not in name, name
    names = {name for name, _ in first}
    assert {"pass_chunk", "logprob_full", "accumulate_full", "normalize", "lloyd"} <= names
    # a fit compiles no row-wise outputs; its first predict_proba those only
    assert "_rowwise_outputs" not in names
    assert {name for name, _ in proba} == {"_rowwise_outputs"}
    first = first + proba
    for name, _ in first + diag + f32 + diag32:
        assert "ol_np_empty" not in name and "ol_np_zeros" not in name, name
    diag_names = {name for name, _ in diag}
    assert {"logprob_diag", "accumulate_diag"} <= diag_names
    assert not diag_names & {"pass_chunk", "normalize", "_rowwise_outputs", "lloyd", "potentials"}
    for name, args in f32 + diag32:
        assert "float32" in args, (name, args)
    assert {"pass_chunk", "logprob_full"} <= {name for name, _ in f32}
    assert {name for name, _ in diag32} == {"logprob_diag"}  # its load: compiled with f32


def test_full_blocks_grow_with_the_l2_cache(tmp_path):
    """The full family's block budget is three eighths of the L2 (today's 192 KB below a
    512 KB L2 or where it is unknown, at most 768 KB), and the block length follows it."""
    from numba import njit

    from fastem._kernels import _config
    from fastem._kernels._density import block_rows

    for l2, budget in [(0, 192), (256, 192), (512, 192), (1024, 384), (1280, 480), (2048, 768)]:
        assert _config.full_block_bytes(l2 << 10) == budget << 10
    assert _config.full_block_bytes(32 << 20) == 768 << 10

    index = tmp_path / "index2"
    index.mkdir()
    (index / "level").write_text("2\n")
    (index / "size").write_text("2048K\n")
    (tmp_path / "index0").mkdir()
    (tmp_path / "index0" / "level").write_text("1\n")
    (tmp_path / "index0" / "size").write_text("48K\n")
    assert _config.l2_bytes(tmp_path) == 2 << 20
    (index / "size").write_text("1M\n")
    assert _config.l2_bytes(tmp_path) == 1 << 20
    assert _config.l2_bytes(tmp_path / "absent") == 0
    (index / "shared_cpu_list").write_text("0-1\n")  # two hyperthreads share it
    assert _config.l2_bytes(tmp_path) == 1 << 19
    (index / "shared_cpu_list").write_text("0,4-6\n")
    assert _config.l2_bytes(tmp_path) == 1 << 18
    (tmp_path / "index1").mkdir()  # an unreadable index does not hide the others
    assert _config.l2_bytes(tmp_path) == 1 << 18
    (index / "size").write_text("unknown\n")
    assert _config.l2_bytes(tmp_path) == 0

    rows = njit(lambda Dp, K, full, budget: block_rows(Dp, K, full, budget))
    # (Dp, budget in KB) -> rows: 3 * 8 * Dp * rows <= budget, within [64, 256]
    cases = [(8, 192, 256), (64, 192, 128), (64, 384, 256), (128, 384, 128)]
    cases += [(128, 768, 256), (256, 768, 128), (256, 192, 64), (512, 192, 64)]
    for Dp, kb, want in cases:
        assert rows(Dp, 4, True, kb << 10) == want, (Dp, kb)
    # the diagonal family's blocks do not depend on it
    assert rows(64, 512, False, 192 << 10) == rows(64, 512, False, 768 << 10) == 256


@pytest.mark.parametrize("cov", ["full", "tied"])
def test_every_full_block_budget_gives_the_reference_statistics(cov, monkeypatch):
    """At D = 64 the budgets give 64-, 128- and 256-row blocks: each pass matches the
    naive reference, and the budgets' answers differ only by rounding (they differ: the
    budget reaches the kernel, which passes this machine's)."""
    from fastem._kernels import _config, _em

    assert _em.chunk_kernel(cov == "full", np.float64)[1][5] == _config.full_block_bytes()

    X, p = _problem(cov, 700, 64, 3, np.float64, seed=11)
    _, lse, _, nk, s1, s2 = _reference(X, p)
    answers = []
    for kb in (96, 192, 768):
        monkeypatch.setattr(_em, "full_block_bytes", lambda kb=kb: kb << 10)
        st = array_stats(X, None, None, p, 2)
        np.testing.assert_allclose(st.nk, nk, rtol=1e-10)
        np.testing.assert_allclose(st.s1, s1, rtol=1e-10, atol=1e-10 * 700)
        np.testing.assert_allclose(st.s2, s2, rtol=1e-10, atol=1e-10 * 700)
        np.testing.assert_allclose(st.loglik, lse.sum(), rtol=1e-12)
        answers.append(st.s2)
    np.testing.assert_allclose(answers[0], answers[2], rtol=1e-12, atol=1e-9)
    assert not np.array_equal(answers[0], answers[2])


def test_vector_registers_follow_the_compiled_features():
    from fastem._kernels._config import vector_registers

    assert vector_registers("+avx,+avx2,+fma,-avx512f,-avx512vl") == 16
    assert vector_registers("+avx2,+avx512f,+avx512vl") == 32
    assert vector_registers("") == 16
    assert vector_registers() in (16, 32)


@pytest.mark.parametrize("narrow", [False, True])
@pytest.mark.parametrize("D", [5, 12, 21])
def test_both_full_statistics_tiles_match_the_reference(narrow, D, monkeypatch):
    """The full statistics' off-diagonal tiles as 4 x 4 (32 vector registers) and as two
    4 x 2 halves (16, AVX2): whichever this machine compiles, the other is compiled here
    too (a fresh dispatcher reads ``NARROW`` when it compiles) and both give the centred
    second moments of a NumPy reference."""
    from numba import njit

    from fastem._kernels import _config, _statistics

    monkeypatch.setattr(_statistics, "NARROW", narrow)
    acc = njit(**_config._NO_CACHE)(_statistics.accumulate_full)
    rng = np.random.default_rng(D)
    nb, K, Dp = 150, 3, (D + 3) // 4 * 4
    x = rng.normal(size=(nb, D)) + 5.0
    mu = rng.normal(size=(K, D)) + 5.0
    resp = rng.dirichlet(np.ones(K), size=nb).T.copy()
    xt = np.zeros((Dp, nb + 16))
    xt[:D, :nb] = x.T
    mup = np.zeros((K, Dp))
    mup[:, :D] = mu
    respp = np.zeros((K, nb + 16))
    respp[:, :nb] = resp
    nk, s1, s2 = np.zeros(K), np.zeros((K, D)), np.zeros((K, D * D))
    acc(xt, nb, mup, respp, np.zeros((Dp, nb + 16)), np.zeros((Dp, nb + 16)), nk, s1, s2)
    for k in range(K):
        d = x - mu[k]
        want = (resp[k, :, None] * d).T @ d
        got = s2[k].reshape(D, D)
        iu = np.triu_indices(D)
        np.testing.assert_allclose(got[iu], want[iu], rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(s1[k], resp[k] @ d, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(nk, resp.sum(axis=1), rtol=1e-12)
