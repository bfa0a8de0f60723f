"""One rule for input values (``fastem._validation.first_bad_value``), in memory, in a
source's chunks and in Dask blocks: NaN (unless marginalized) and infinity are refused, then
values too large to square; every error names the first such row. Checked against a plain
NumPy statement of the rule."""

import re

import numpy as np
import pytest

import fastem
from fastem._validation import check_all_finite, magnitude_limit
from fastem.sources import SourceError


def _reference(X, allow_nan):
    """(row, column) the rule refuses first, or None, written with whole-array masks."""
    bad = np.isinf(X) if allow_nan else ~np.isfinite(X)
    if bad.any():
        return tuple(int(i) for i in np.argwhere(bad)[0])
    large = np.abs(X) > magnitude_limit(X.dtype)  # NaN compares False
    if large.any():
        return tuple(int(i) for i in np.argwhere(large)[0])
    return None


def _case(seed):
    rng = np.random.default_rng(seed)
    dtype = (np.float64, np.float32)[seed % 2]
    X = rng.normal(size=(int(rng.integers(1, 60)), int(rng.integers(1, 4)))).astype(dtype)
    for _ in range(rng.integers(0, 4)):
        value = rng.choice([np.nan, np.inf, -np.inf, 1e200, -1e20, 1e14])
        with np.errstate(over="ignore"):
            X[rng.integers(0, X.shape[0]), rng.integers(0, X.shape[1])] = dtype(value)
    return X


def _in_memory(X, allow_nan):
    try:
        check_all_finite(X, allow_nan=allow_nan, chunk=5)  # small scan blocks
    except ValueError as e:
        return tuple(int(v) for v in re.search(r"at row (\d+), column (\d+)", str(e)).groups())
    return None


def _from_source(X, allow_nan):
    src = fastem.source(X, chunk_rows=7)
    src.allow_nan = allow_nan
    try:
        src.read()
    except SourceError as e:
        return int(re.search(r"row offset (\d+)", str(e)).group(1))
    return None


@pytest.mark.parametrize("allow_nan", [False, True])
def test_memory_and_sources_refuse_the_rows_of_the_rule(allow_nan):
    refused = 0
    for seed in range(80):
        X = _case(seed)
        expected = _reference(X, allow_nan)
        assert _in_memory(X, allow_nan) == expected, seed
        # a source applies the rule to each chunk as it is read: the first chunk with a bad value
        by_chunk = [(r0, _reference(X[r0 : r0 + 7], allow_nan)) for r0 in range(0, len(X), 7)]
        first = next((r0 + found[0] for r0, found in by_chunk if found is not None), None)
        assert _from_source(X, allow_nan) == first, seed
        refused += expected is not None
    assert 30 < refused < 80  # both outcomes are exercised


def test_source_messages_say_what_and_what_to_do():
    X = np.zeros((20, 2))
    X[13, 1] = np.nan
    with pytest.raises(SourceError, match=r"row offset 13: NaN or infinite value; .*marginalize"):
        fastem.source(X, chunk_rows=6).read()
    X[13, 1] = 1e200
    with pytest.raises(SourceError, match=r"row offset 13: value 1e\+200: values this large"):
        fastem.source(X, chunk_rows=6).read()


def test_a_dask_block_refuses_a_value_too_large_to_square():
    """Before the rule was shared a Dask fit let 1e200 through, to a misleading covariance
    error; now it names the row as the in-memory fit does."""
    da = pytest.importorskip("dask.array")
    X = np.random.default_rng(0).normal(size=(2000, 2))
    X[1500, 1] = 1e200
    with pytest.raises(ValueError, match="X holds, at row 1500, column 1, 1e.200: values this"):
        fastem.GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(
        ValueError, match=r"block 3 \(rows 1500:2000\) of X holds, at row 1500, column 1, 1e.200"
    ):
        fastem.GaussianMixture(2, random_state=0).fit(da.from_array(X, chunks=500))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F", "strided"])
def test_the_one_pass_proof_refuses_just_beyond_the_limit(dtype, order):
    """The one-pass sum of squares (``within_limit``) accepts only what the exact rule
    accepts: a value 1 % beyond the limit, or the next float beyond it, among 400,000
    small ones is refused at its row and column; the limit itself, or many values each
    within it whose squares sum past the test, are accepted."""
    from fastem._validation import within_limit

    limit = magnitude_limit(dtype)
    rng = np.random.default_rng(3)
    base = rng.normal(size=(100_000, 4)).astype(dtype)

    def shaped(X):
        if order == "F":
            return np.asfortranarray(X)
        return np.repeat(X, 2, axis=1)[:, ::2] if order == "strided" else X

    for beyond in (dtype(-limit * 1.01), np.nextafter(dtype(limit), dtype(np.inf))):
        X = base.copy()
        X[77_777, 2] = beyond
        X = shaped(X)
        assert not within_limit(X)
        with pytest.raises(ValueError, match="at row 77777, column 2"):
            check_all_finite(X)
    X = base.copy()
    X[5, 1] = dtype(-limit * 0.6)
    assert within_limit(shaped(X)) == (order != "strided")  # (strided: never proved so)
    X[6, 3] = dtype(limit)  # the limit itself, found by the exact scans
    X = shaped(X)
    assert not within_limit(X)
    check_all_finite(X)
    X = shaped(np.full((1000, 4), limit * 0.9, dtype))  # squares sum to 3,240 limits squared
    assert not within_limit(X)
    check_all_finite(X)
    for value in (np.nan, np.inf):
        X = base.copy()
        X[99_999, 0] = value
        assert not within_limit(shaped(X))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.asmatrix
def test_the_one_pass_proof_leaves_other_dtypes_and_matrices_to_the_exact_rule():
    """float16 cannot hold the limit's square (an infinity would pass a comparison with
    an infinite bound): it is never proved in one pass; an ``np.matrix`` is read as an
    array."""
    from fastem._validation import first_bad_value, within_limit

    X = np.ones((10, 3), np.float16)
    X[4, 1] = np.inf
    assert not within_limit(X)
    assert first_bad_value(X)[:2] == (4, 1)
    assert within_limit(np.asmatrix(np.ones((4, 2))))
