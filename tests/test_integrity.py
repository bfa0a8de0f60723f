"""Data integrity (issue 18): every reproduced case, as an example test.

Nothing silently wrong, nothing lost, no input overwritten. The property tests
of the same classes are in ``tests/test_integrity_properties.py``.
"""

import os
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture as GM
from fastem.cli import main


def _two_blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (n // 2, 2)), rng.normal(6, 1, (n - n // 2, 2))])


X = _two_blobs()


@pytest.fixture(scope="module")
def gm():
    return GM(2, random_state=0).fit(X)


# ------------------------------------------------------------- 1. fingerprint


def test_checkpoint_refuses_data_changed_outside_sampled_rows(tmp_path):
    rng = np.random.default_rng(0)
    A = np.concatenate([rng.normal(m, 1, (1024, 3)) for m in (0, 4, 8, 12)])
    ckpt = tmp_path / "c.npz"
    GM(4, random_state=0, max_iter=5).fit(A, checkpoint=ckpt)
    B = A.copy()
    B[np.arange(4096) % 4 != 0] += 100
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GM(4, random_state=0, max_iter=5).fit(B, checkpoint=ckpt)


def test_checkpoint_refuses_weights_or_callable_changed_after_first_chunk(tmp_path):
    ckpt = tmp_path / "c.npz"
    chunks = [X[:100], X[100:200], X[200:]]
    GM(2, random_state=0, max_iter=3).fit(lambda: iter(chunks), checkpoint=ckpt)
    other = [X[:100], X[100:200], X[200:] + 1]
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GM(2, random_state=0, max_iter=3).fit(lambda: iter(other), checkpoint=ckpt)


def test_checkpoint_refuses_npy_file_changed_in_one_value(tmp_path):
    path, ckpt = tmp_path / "X.npy", tmp_path / "c.npz"
    np.save(path, X)
    GM(2, random_state=0, max_iter=3).fit(str(path), checkpoint=ckpt)
    st = os.stat(path)
    Y = X.copy()
    Y[150, 1] += 1e-9
    np.save(path, Y)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and modification time
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GM(2, random_state=0, max_iter=3).fit(str(path), checkpoint=ckpt)


def test_checkpoint_accepts_numpy_scalars_for_python_numbers(tmp_path):
    ckpt = tmp_path / "c.npz"
    a = GM(2, random_state=0, tol=1e-6, max_iter=4).fit(X, checkpoint=ckpt)
    b = GM(2, random_state=np.int64(0), tol=np.float64(1e-6), max_iter=np.int32(4))
    b.fit(X, checkpoint=ckpt)
    np.testing.assert_array_equal(a.means_, b.means_)
