"""Helpers of the streaming tests: sizes, fixed initial parameters, fits, a writer per source kind.

The data (fixtures ``X`` and ``w``, a small 3-component mixture) are in this folder's conftest."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture

N, D, K = 601, 3, 3
CHUNK = 97  # does not divide N


def _init(X, covariance_type="full"):
    """Fixed initial parameters, so in-memory and streamed fits start identically."""
    gm = GaussianMixture(K, covariance_type=covariance_type, random_state=0, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X[:200])
    return dict(weights_init=gm.weights_, means_init=gm.means_, precisions_init=gm.precisions_)


def _fit(X, sample_weight=None, **kw):
    kw = {"n_components": K, "random_state": 0, "max_iter": 15, "tol": 0.0, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**kw).fit(X, sample_weight=sample_weight)


def _assert_same(a, b, rtol=1e-10):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(
            getattr(b, name), getattr(a, name), rtol=rtol, atol=0, err_msg=name
        )
    assert b.n_iter_ == a.n_iter_
    assert b.converged_ == a.converged_
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=rtol, atol=0)


# ------------------------------------------------------------------ writers


def _write(kind, X, tmp_path, names=None):
    """Write ``X`` in a format; return what to pass to :func:`fastem.source`."""
    names = names or [f"c{i}" for i in range(X.shape[1])]
    if kind == "npy":
        path = tmp_path / "X.npy"
        np.save(path, X)
        return path, {}
    if kind == "csv":
        path = tmp_path / "X.csv"
        np.savetxt(path, X, delimiter=",", header=",".join(names), comments="", fmt="%.17g")
        return str(path), {}
    if kind == "ndarray":
        return X, {}
    if kind == "callable":

        def chunks():  # uneven chunks of its own
            for r0 in range(0, X.shape[0], 150):
                yield X[r0 : r0 + 150]

        return chunks, {}
    if kind in ("h5", "h5 contiguous", "h5py.Dataset"):
        h5py = pytest.importorskip("h5py")
        path = tmp_path / "X.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("other", data=np.zeros(3))
            chunks = None if kind == "h5 contiguous" else (64, X.shape[1])
            f.create_dataset("data/X", data=X, chunks=chunks)
        if kind in ("h5", "h5 contiguous"):
            return path, {"dataset": "data/X"}
        f = h5py.File(path, "r")
        return f["data/X"], {}
    if kind in ("zarr", "zarr.Array"):
        zarr = pytest.importorskip("zarr")
        path = str(tmp_path / "X.zarr")
        z = zarr.open_array(path, mode="w", shape=X.shape, chunks=(50, X.shape[1]), dtype=X.dtype)
        z[:] = X
        return (path if kind == "zarr" else zarr.open_array(path, mode="r")), {}
    if kind in ("parquet", "pyarrow.Table", "pyarrow.dataset"):
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        table = pa.table({n: X[:, i] for i, n in enumerate(names)})
        if kind == "pyarrow.Table":
            return table, {}
        path = tmp_path / "X.parquet"
        pq.write_table(table, path, row_group_size=128)
        if kind == "parquet":
            return path, {}
        import pyarrow.dataset as ds

        return ds.dataset(path, format="parquet"), {}
    raise AssertionError(kind)


KINDS = [
    "npy",
    "csv",
    "ndarray",
    "callable",
    "h5",
    "h5 contiguous",
    "h5py.Dataset",
    "zarr",
    "zarr.Array",
    "parquet",
    "pyarrow.Table",
    "pyarrow.dataset",
]
