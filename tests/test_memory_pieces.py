"""No ``(n_samples, n_components)`` array where results are consumed piece by piece.

``out=`` for every kind of input (in memory, with NaN marginalized, a Dask array), a model
selection's scores and the command line's ``predict`` hold one piece's probabilities at a
time. Each is measured with tracemalloc (NumPy traces its buffers) against the
``n_samples x n_components`` float64 array they used to hold, and compared with the
results computed whole. The pieces are made small here (``PIECE_VALUES``) so that the
arrays are small too; a mutant that computes the whole result at once holds 1x.
"""

import json

import numpy as np
import pytest

import fastem
import fastem._missing
import fastem._passes
from fastem import GaussianMixture, select_components

from .conftest import force_missing_path, traced_peak


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of 1,024 rows at 64 components and more (512 KiB of probabilities)."""
    monkeypatch.setattr(fastem._passes, "PIECE_VALUES", 1 << 16)
    monkeypatch.setattr(fastem._missing, "MIN_PIECE_ROWS", 1024)


def _data(n, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + rng.integers(0, 4, size=(n, 1)) * 3.0


def test_select_scores_every_cell_piece_by_piece(small_pieces):
    """select_components scored each cell through predict_proba's whole array (BIC needs the
    log-likelihood, ICL the largest probability of each row): n_samples x n_components
    float64 per cell, more than the fit itself. Its scores are still those of the fitted
    model's own ``bic`` and of the whole probabilities."""
    n, K = 40_000, 128
    X = _data(n, 2)
    kw = dict(n_components=[K], covariance_types=["diag"], max_iter=1, random_state=0)
    select_components(X, **kw)  # (compiled)
    (best, table), peak = traced_peak(lambda: select_components(X, **kw))
    assert peak < 0.25 * n * K * 8, peak / (n * K * 8)
    assert table["bic"][0] == best.bic(X)  # the same sums, bit for bit
    penalty = -2 * np.log(best.predict_proba(X).max(axis=1)).sum()
    np.testing.assert_allclose(table["icl"][0], best.bic(X) + penalty, rtol=1e-12)


def test_select_weighted_scores_match_the_whole_arrays(small_pieces):
    n, K = 6_000, 64
    X = _data(n, 2, seed=1)
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=n)
    best, table = select_components(
        X, n_components=[K], covariance_types=["spherical"], max_iter=1, random_state=0,
        sample_weight=w,
    )  # fmt: skip
    assert table["log_likelihood"][0] == best.score(X, sample_weight=w)
    n_eff = w.sum() ** 2 / (w @ w)
    log_max = np.log(best.predict_proba(X).max(axis=1))
    icl_penalty = -2 * (n_eff / w.sum()) * (w @ log_max)
    np.testing.assert_allclose(table["icl"][0] - table["bic"][0], icl_penalty, rtol=1e-10)


@pytest.mark.parametrize("path", ["compact", "kernels"])
def test_out_with_nan_marginalized_holds_one_piece(small_pieces, monkeypatch, path):
    """missing='marginalize': predict_proba(X, out=) computed every row's probabilities into
    one array, then copied them into ``out``."""
    force_missing_path(monkeypatch, path)
    n, K = 30_000, 64
    X = _data(n, seed=3)
    missing = np.random.default_rng(4).random(X.shape) < 0.05
    missing[:, 0] = False  # (no row without a value: 4 patterns)
    X[missing] = np.nan
    gm = GaussianMixture(K, missing="marginalize", max_iter=1, random_state=0).fit(X[:4000])
    expected = gm.predict_proba(X)
    out = np.empty_like(expected)
    gm.predict_proba(X, out=out)  # (compiled)
    out[:] = -1.0
    _, peak = traced_peak(lambda: gm.predict_proba(X, out=out))
    assert peak < 0.4 * n * K * 8, peak / (n * K * 8)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(gm.predict(X, out=np.empty(n, np.int64)), gm.predict(X))
    lp = gm.score_samples(X, out=np.empty(n))
    np.testing.assert_allclose(lp, gm.score_samples(X), rtol=1e-12)


def test_float32_probabilities_with_nan_hold_one_float64_piece(small_pieces):
    """float32 rows with NaN on a float32 model: the float64 probabilities were computed
    whole and then narrowed into the float32 result (1.5x the result's bytes more)."""
    n, K = 30_000, 64
    X = _data(n, seed=5).astype(np.float32)
    missing = np.random.default_rng(6).random(X.shape) < 0.05
    missing[:, 0] = False  # (no row without a value: 4 patterns)
    X[missing] = np.nan
    gm = GaussianMixture(K, missing="marginalize", max_iter=1, random_state=0).fit(X[:4000])
    expected = gm.predict_proba(X)
    resp, peak = traced_peak(lambda: gm.predict_proba(X))
    assert resp.dtype == np.float32
    # (the whole float64 array computed first: resp.nbytes + n x K x 8)
    assert peak < resp.nbytes + 0.5 * n * K * 8, (peak - resp.nbytes) / (n * K * 8)
    np.testing.assert_array_equal(resp, expected)


def test_streamed_csv_out_holds_one_piece(small_pieces, tmp_path):
    """A source read in Python (CSV) in one chunk: its rows' probabilities in pieces too."""
    n, K = 20_000, 256  # (the parsing's own memory varies: 4-5 MB here)
    X = _data(n, seed=9)
    np.savetxt(tmp_path / "X.csv", X, delimiter=",")
    gm = GaussianMixture(K, max_iter=1, random_state=0).fit(X[:4000])
    src = fastem.source(tmp_path / "X.csv", chunk_rows=n)
    out = np.empty((n, K))
    gm.predict_proba(src, out=out)  # (compiled)
    _, peak = traced_peak(lambda: gm.predict_proba(src, out=out))
    np.testing.assert_allclose(
        out,
        gm.predict_proba(np.loadtxt(tmp_path / "X.csv", delimiter=",")),
        rtol=1e-12,
        atol=1e-300,
    )
    assert peak < 0.3 * n * K * 8, peak / (n * K * 8)


def test_dask_out_holds_a_few_blocks(tmp_path):
    """predict_proba(dask_array, out=) computed the lazy result whole (dask computes a
    store's source before copying it) and then wrote it: n_samples x n_components at once.
    Now as many blocks at a time as the scheduler has threads, in row order."""
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    n, K, block = 60_000, 64, 2000
    X = _data(n, seed=7)
    gm = GaussianMixture(K, max_iter=1, random_state=0).fit(X[:4000])
    dX = da.from_array(X, chunks=(block, 3))
    expected = gm.predict_proba(X)
    out = np.empty_like(expected)
    with dask.config.set(scheduler="threads", num_workers=2):
        gm.predict_proba(dX, out=out)  # (compiled)
        out[:] = -1.0
        _, peak = traced_peak(lambda: gm.predict_proba(dX, out=out))
        np.testing.assert_array_equal(out, expected)
        assert peak < 0.4 * n * K * 8, peak / (n * K * 8)
        labels = gm.predict(dX, out=tmp_path / "labels.npy")
        np.testing.assert_array_equal(labels, gm.predict(X))
        lp = gm.score_samples(dX, out=np.empty(n))
        np.testing.assert_array_equal(lp, gm.score_samples(X))
        # errors name the row of the array, in any block: a value too large to square,
        bad = X.copy()
        bad[11 * block + 3, 1] = 1e200
        with pytest.raises(ValueError, match=f"at row {11 * block + 3}, column 1"):
            gm.predict(da.from_array(bad, chunks=(block, 3)), out=np.empty(n, np.int64))
        # a row whose density underflows under every component (tiny variances)
        tiny = GaussianMixture(2, reg_covar=0, random_state=0).fit(X[:4000] * 1e-100)
        far = X * 1e-100
        far[7 * block + 5] = [1e140, 0.0, 0.0]
        with pytest.raises(ValueError, match=f"^row {7 * block + 5} .*underflows"):
            tiny.predict_proba(da.from_array(far, chunks=(block, 3)), out=np.empty((n, 2)))


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_cli_predict_writes_probabilities_piece_by_piece(small_pieces, tmp_path, suffix,
                                                         monkeypatch, capsys):  # fmt: skip
    """``fastem predict --proba -o file`` computed the probabilities whole, then wrote them;
    and a source's row-wise pass held a chunk's probabilities, a chunk being sized by its
    rows' bytes (32 MiB of 3 columns: 1.4 million rows)."""
    from fastem.cli import main

    n, K = 20_000, 64
    X = _data(n, seed=8)
    np.save(tmp_path / "X.npy", X)
    gm = GaussianMixture(K, max_iter=1, random_state=0).fit(X[:4000])
    fastem.save(gm, tmp_path / "m.npz")
    monkeypatch.chdir(tmp_path)
    # the source's default chunks (32 MiB of rows: one chunk here) are split into pieces
    args = ["predict", "--json", "m.npz", "X.npy", "--proba"]
    assert main([*args, "-o", "warm" + suffix]) == 0  # (compiled)
    capsys.readouterr()
    code, peak = traced_peak(lambda: main([*args, "-o", "p" + suffix]))
    assert code == 0
    extra = 0 if suffix == ".npy" else 2 << 20  # (text lines: NumPy's savetxt, row by row)
    assert peak < 0.25 * n * K * 8 + extra, peak / (n * K * 8)
    expected = gm.predict_proba(X)
    got = np.load("p.npy") if suffix == ".npy" else np.loadtxt("p.csv", delimiter=",")
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-300)
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["shape"] == [n, K]
    assert summary["counts"] == np.bincount(expected.argmax(axis=1), minlength=K).tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["X.npy", "m.npz", "warm" + suffix, "p" + suffix]
    )  # no temporary file left
