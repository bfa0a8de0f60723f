"""Promises of README.md and docs/ that no other test file covered: any thread count gives
bit-identical results (in memory and with in-kernel reads of a .npy file), bic/aic of a
source, Dask integer input and the fixed shape of its summation tree."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture

from .conftest import COVARIANCE_TYPES, blobs

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------ thread counts

_THREADS_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys, warnings
    import numba, numpy as np
    import fastem
    assert numba.config.NUMBA_NUM_THREADS == 4
    warnings.simplefilter("ignore")
    X = np.load(sys.argv[1])
    digests = {}
    for t in (1, 2, 3, 4):
        for ct in sys.argv[2].split(","):
            for what, data in (("memory", X), ("npy", fastem.source(sys.argv[1], chunk_rows=9000))):
                gm = fastem.GaussianMixture(
                    3, covariance_type=ct, max_iter=4, tol=0, random_state=0, n_threads=t
                ).fit(data)
                h = hashlib.sha256()
                for a in (gm.weights_, gm.means_, gm.covariances_, gm.score_samples(X)):
                    h.update(np.ascontiguousarray(a).tobytes())
                h.update(repr(gm.lower_bounds_).encode())
                digests[(ct, what, t)] = h.hexdigest()
    for key, value in sorted(digests.items()):
        print(*key, value)
    """
)


def test_results_are_bit_identical_for_1_2_3_4_threads(tmp_path):
    """README: "results are bit-identical for any thread count" - with 4 Numba threads (even
    on 2 cores), in memory and streamed from .npy with the rows read inside the kernel."""
    X = blobs(40_000, 3, 3, seed=5)
    np.save(tmp_path / "X.npy", X)
    env = dict(os.environ, NUMBA_NUM_THREADS="4")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cov = ",".join(COVARIANCE_TYPES)
    out = subprocess.run(
        [sys.executable, "-c", _THREADS_SCRIPT, str(tmp_path / "X.npy"), cov],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout.split("\n")
    digests = {}
    for line in filter(None, out):
        ct, what, t, digest = line.split()
        digests.setdefault((ct, what), {})[int(t)] = digest
    assert len(digests) == 2 * len(COVARIANCE_TYPES)
    for key, by_threads in digests.items():
        assert sorted(by_threads) == [1, 2, 3, 4]
        assert len(set(by_threads.values())) == 1, (key, by_threads)


# ------------------------------------------------------------------ bic / aic of a source


@pytest.mark.parametrize("criterion", ["bic", "aic"])
@pytest.mark.parametrize("form", ["source", "path"])
def test_bic_and_aic_of_a_source(criterion, form, tmp_path):
    X = blobs(3000, 2, 2, seed=6)
    np.save(tmp_path / "X.npy", X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    data = str(tmp_path / "X.npy")
    if form == "source":
        data = fastem.source(data, chunk_rows=700)
    got = getattr(gm, criterion)(data)
    assert got == pytest.approx(getattr(gm, criterion)(X), rel=1e-12)


# ------------------------------------------------------------------ Dask


def test_dask_integer_input_is_read_as_float64():
    da = pytest.importorskip("dask.array")
    X = np.round(blobs(3000, 2, 3, seed=7) * 10).astype(np.int32)
    kw = dict(random_state=0, max_iter=10, tol=0)
    a = GaussianMixture(3, **kw).fit(da.from_array(X, chunks=(500, 2)))
    b = GaussianMixture(3, **kw).fit(da.from_array(X.astype(np.float64), chunks=(500, 2)))
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    mem = GaussianMixture(3, **kw).fit(X.astype(np.float64))
    np.testing.assert_allclose(a.means_, mem.means_, rtol=1e-10)
    labels = a.predict(da.from_array(X, chunks=(500, 2)))
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels.compute(), mem.predict(X))


def test_dask_tree_has_a_fixed_shape(monkeypatch):
    """docs/dask.md: "added in a tree of fixed shape (SPLIT_EVERY inputs per node), so the
    result does not depend on scheduling order" - the tree, traced with strings."""
    dask = pytest.importorskip("dask")
    from fastem import dask as fdask

    monkeypatch.setattr(fdask, "_add_stats", lambda *parts: "(" + "+".join(parts) + ")")
    parts = [dask.delayed(str(i)) for i in range(20)]
    (tree,) = dask.compute(fdask._tree_sum(parts, split_every=8), scheduler="threads")
    assert tree == "((0+1+2+3+4+5+6+7)+(8+9+10+11+12+13+14+15)+(16+17+18+19))"
    (tree,) = dask.compute(fdask._tree_sum(parts[:3], split_every=2), scheduler="sync")
    assert tree == "((0+1)+(2))"
    assert fdask.SPLIT_EVERY == 8


def test_dask_same_blocks_bit_identical_on_any_scheduler():
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X = blobs(6000, 3, 3, seed=8)
    kw = dict(random_state=0, max_iter=5, tol=0, covariance_type="full")
    fits = []
    for scheduler, workers in (("sync", 1), ("threads", 4), ("threads", 2)):
        with dask.config.set(scheduler=scheduler, num_workers=workers):
            fits.append(GaussianMixture(3, **kw).fit(da.from_array(X, chunks=(250, 3))))
    for gm in fits[1:]:
        np.testing.assert_array_equal(gm.means_, fits[0].means_)
        np.testing.assert_array_equal(gm.covariances_, fits[0].covariances_)
    # other blocks add in another order: the same fit to rounding (1e-10, docs/dask.md)
    other = GaussianMixture(3, **kw).fit(da.from_array(X, chunks=(1700, 3)))
    np.testing.assert_allclose(other.means_, fits[0].means_, rtol=1e-10)
    np.testing.assert_allclose(other.covariances_, fits[0].covariances_, rtol=1e-10)
