"""Every EM kernel against a naive NumPy reference, and thread-count invariance.

The kernels in ``fastem/_kernels/_em.py`` are hand-tiled and use their own
vectorizable ``exp``; these tests pin them to a reference written the obvious
way so that optimizations cannot silently change the answers.
"""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import logsumexp

from fastem import GaussianMixture
from fastem._passes import array_rowwise, array_stats
from fastem._stats import kernel_params

from .conftest import checkout_env

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
# 13: the full statistics' 4 x 4 tiles with padding; 33: their register tiles, padded
@pytest.mark.parametrize("D", [1, 3, 8, 13, 33])
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
def test_every_row_counted_once_at_block_and_chunk_boundaries(cov, dtype):
    """Row counts on each side of a block's and a chunk's end (one row, fewer rows than a
    block, a last block or chunk of one row): the statistics and every row's log p(x)
    equal the reference, and the weight summed is the row count."""
    from numba import njit

    from fastem._kernels._config import full_block_bytes
    from fastem._kernels._density import block_rows
    from fastem._passes import stats_chunk_rows

    D, K = 5, 4
    B = njit(lambda full, budget: block_rows(8, K, full, budget))(cov == "full", full_block_bytes())
    counts = {1, 2, 17, B - 1, B + 1, 2 * B + 1, 1025, 3 * 1024 + 1}
    X0, p = _problem(cov, max(counts), D, K, dtype, seed=21)
    assert stats_chunk_rows(3 * 1024 + 1, p) == 1024  # (the last chunk: one row)
    tol = _tol(dtype)
    for n in sorted(counts):
        X = X0[:n]
        _, lse, _, nk, s1, s2 = _reference(X, p)
        st = array_stats(X, None, None, p, 2)
        assert st.wsum == n and st.n_rows == n, n
        np.testing.assert_allclose(st.nk, nk, **tol, err_msg=str(n))
        np.testing.assert_allclose(st.s1, s1, rtol=tol["rtol"], atol=tol["atol"] * n)
        np.testing.assert_allclose(st.s2, s2, rtol=tol["rtol"], atol=tol["atol"] * n)
        np.testing.assert_allclose(st.loglik, lse.sum(), rtol=tol["rtol"], err_msg=str(n))
        np.testing.assert_allclose(array_rowwise(X, p, 2, logprob=True)[0], lse, **tol)


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


def _softmax_call():
    from numba import njit

    from fastem._kernels._normalize import softmax

    @njit
    def call(logp, nb, m, s, scale):  # the intrinsic runs inside compiled code only
        softmax(logp, nb, m, s, scale)

    return call


def test_exp_accuracy_and_edges():
    """The kernels' exp (inside the softmax: a row's exps of logp - max): close to np.exp,
    exact 0 below -708 and for -inf; the sum of a row's exps rides along, in order."""
    x = np.concatenate([np.linspace(-745, 0, 20001), [-np.inf, -708.5, -700.0, -1e-300, 0.0]])
    a = np.stack([np.zeros(x.size), x])  # component 0 at 0: the maximum
    m, s = np.full(x.size, 7.0), np.zeros(x.size)
    _softmax_call()(a, x.size, m, s, s[:0])
    ok = x >= -708
    np.testing.assert_allclose(a[1, ok], np.exp(x[ok]), rtol=4e-16, atol=0)
    assert np.all(a[1, ~ok] == 0.0) and np.all(a[0] == 1.0) and np.all(m == 0.0)
    np.testing.assert_array_equal(s, 1.0 + a[1])


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("K", [1, 3, 8, 17])
def test_softmax_against_numpy_and_no_row_past_nb(K, scaled):
    """Every row count (whole strips of rows and a masked last one): maxima (0 for a row
    of -inf), exps, their sums and the scaled responsibilities as NumPy computes them;
    nothing read or written at rows nb and beyond (they hold a sentinel, and NaN where
    they would be read)."""
    rng = np.random.default_rng(K)
    call = _softmax_call()
    for nb in range(1, 41):
        n = nb + 24
        logp = rng.normal(-20, 10, (K, n))
        logp[:, 0] = -np.inf  # a row of zero density
        logp[:, nb:] = np.nan
        w = np.where(np.arange(n) < nb, rng.random(n) * 3, np.nan)
        m, s = np.full(n, 7.0), np.full(n, 7.0)
        a = logp.copy()
        call(a, nb, m, s, w if scaled else w[:0])
        mx = logp[:, :nb].max(axis=0)
        mx[0] = 0.0
        e = np.exp(logp[:, :nb] - mx)
        np.testing.assert_array_equal(m[:nb], mx)
        np.testing.assert_allclose(s[:nb], e.sum(axis=0), rtol=1e-15)
        want = e * np.where(e.sum(0) > 0, w[:nb] / np.where(e.sum(0) > 0, e.sum(0), 1), 0)
        np.testing.assert_allclose(a[:, :nb], want if scaled else e, rtol=1e-15, atol=0)
        assert np.all(m[nb:] == 7.0) and np.all(s[nb:] == 7.0)
        np.testing.assert_array_equal(a[:, nb:], logp[:, nb:])  # NaN: untouched


_GUARDED_SOFTMAX = """
import ctypes, mmap, sys
import numpy as np
from numba import njit
from fastem._kernels._normalize import softmax

@njit
def call(logp, nb, m, s, scale):
    softmax(logp, nb, m, s, scale)

keep = []

def guarded(*shape):
    # a float64 array whose last element ends where an unreadable page begins
    page, size = mmap.PAGESIZE, 8 * int(np.prod(shape))
    pages = -(-size // page) + 1
    buf = mmap.mmap(-1, pages * page)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    libc = ctypes.CDLL(None)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    assert libc.mprotect(base + (pages - 1) * page, page, 0) == 0
    keep.append(buf)
    at = (pages - 1) * page - size
    return np.frombuffer(buf, np.float64, int(np.prod(shape)), at).reshape(shape)

rng = np.random.default_rng(0)
for K in (1, 3):
    for nb in range(1, 41):
        for scaled in (False, True):
            logp, m, s, w = guarded(K, nb), guarded(nb), guarded(nb), guarded(nb)
            logp[:] = rng.normal(-20, 10, (K, nb))
            w[:] = rng.random(nb)
            ref = np.exp(logp - logp.max(0))
            if scaled:
                ref = ref * (w / ref.sum(0))
            call(logp, nb, m, s, w if scaled else w[:0])
            np.testing.assert_allclose(logp, ref, rtol=1e-15, atol=0)
print("ok")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="mprotect through ctypes: Linux")
def test_softmax_reads_nothing_past_the_last_row(tmp_path):
    """The last strip's loads are masked to the rows below nb: the softmax of a block whose
    arrays end where an unreadable page begins (so a read one row past nb is a
    segmentation fault), for every row count and a tail of every width. In a child
    process, so that such a read fails this test only."""
    env = checkout_env(tmp_path / "cache")
    run = subprocess.run(
        [sys.executable, "-c", _GUARDED_SOFTMAX], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", (run.returncode, run.stderr[-2000:])


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
def test_rows_of_zero_density_everywhere_get_resp_zero(cov, dtype):
    """Rows so far from every component that all their log-densities are -inf: log p(x)
    is -inf and their responsibilities 0 (not NaN: 0 / 0) in the row-wise pass and in the
    statistics, and the other rows' results are those of the pass without them."""
    X, p = _problem(cov, 700, 5, 4, dtype, seed=11)
    far = X.copy()
    rows = [0, 1, 333, 699]
    far[rows] = 1e200 if dtype == np.float64 else 1e30  # squares overflow X's dtype
    lp, r, _ = array_rowwise(far, p, 2, logprob=True, resp=True)
    assert np.all(lp[rows] == -np.inf) and np.all(r[rows] == 0.0)
    keep = np.setdiff1d(np.arange(len(X)), rows)
    ref = array_rowwise(X, p, 2, logprob=True, resp=True)
    np.testing.assert_array_equal(lp[keep], ref[0][keep])
    np.testing.assert_array_equal(r[keep], ref[1][keep])
    st = array_stats(far, None, None, p, 2)
    assert st.loglik == -np.inf
    for name in ("nk", "s1", "s2"):
        assert np.all(np.isfinite(getattr(st, name))), name
    np.testing.assert_allclose(st.nk, array_stats(X[keep], None, None, p, 2).nk, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", LAYOUTS)
def test_labels_of_tied_components_are_the_first(cov, dtype):
    """Two identical components (equal log-densities, bit for bit): every row labelled
    with the second is labelled with the first, as NumPy's argmax and scikit-learn do."""
    X, p = _problem(cov, 900, 4, 4, dtype, seed=12)
    twin = {name: getattr(p, name).copy() for name in ("mu", "prec", "const")}
    for a in twin.values():  # (tied: prec holds the shared factor K times, equal already)
        a[2] = a[1]
    q = dataclasses.replace(p, **twin, shift=twin["mu"].astype(np.float64))
    logp, *_ = _reference(X, q)
    lab = array_rowwise(X, q, 2, labels=True)[2]
    assert np.any(lab == 1) and not np.any(lab == 2)
    if dtype == np.float64:
        np.testing.assert_array_equal(lab, logp.argmax(1))


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

    assert _em.chunk_kernel(cov == "full", np.float64, 64)[1][5] == _config.full_block_bytes()

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
