"""docs/robustness.md, "Bad input": every row of the first table is reproduced here, and the
exception and its message must be the ones the page prints, word for word.

Numbers that depend on the data (a variance) are the only part not compared: ``<number>`` in
:data:`DATA_DEPENDENT` rows stands for any number.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from fastem import GaussianMixture

PAGE = Path(__file__).resolve().parent.parent / "docs" / "robustness.md"

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 2))
GM = GaussianMixture


def _with(value, row=3, col=1):
    Y = X.copy()
    Y[row, col] = value
    return Y


def _fitted():
    return GM(2, random_state=0).fit(X)


#: table row -> the call that gets the error
CASES = {
    "NaN in X": lambda: GM(2).fit(_with(np.nan)),
    "inf in X": lambda: GM(2).fit(_with(np.inf)),
    "1-D array": lambda: GM(2).fit(X[:, 0]),
    "3-D array": lambda: GM(2).fit(X[None]),
    "empty array": lambda: GM(2).fit(X[:0]),
    "one row": lambda: GM(1).fit(X[:1]),
    "strings": lambda: GM(2).fit(np.array([["a", "b"], ["c", "d"]])),
    "complex numbers": lambda: GM(2).fit(X + 1j),
    "object array of non-numbers": lambda: GM(2).fit(np.array([[None, None], [None, None]])),
    "n_components = 0": lambda: GM(0).fit(X),
    "n_components > n_samples": lambda: GM(61).fit(X),
    "unknown covariance_type": lambda: GM(2, covariance_type="banana").fit(X),
    "unknown init_params": lambda: GM(2, init_params="banana").fit(X),
    "negative tol": lambda: GM(2, tol=-1).fit(X),
    "n_threads = 0": lambda: GM(2, n_threads=0).fit(X),
    "random_state out of range": lambda: GM(2, random_state=-1).fit(X),
    "verbose not a number": lambda: GM(2, verbose="a").fit(X),
    "negative sample_weight": lambda: GM(2).fit(X, sample_weight=np.r_[-1.0, np.ones(59)]),
    "non-finite sample_weight": lambda: GM(2).fit(X, sample_weight=np.r_[np.nan, np.ones(59)]),
    "sample_weight of wrong length": lambda: GM(2).fit(X, sample_weight=np.ones(3)),
    "all-zero sample_weight": lambda: GM(2).fit(X, sample_weight=np.zeros(60)),
    "fewer positive weights than n_components": lambda: GM(2).fit(
        X, sample_weight=np.r_[1.0, np.zeros(59)]
    ),
    "weights_init not summing to 1": lambda: GM(2, weights_init=[0.2, 0.2]).fit(X),
    "means_init of wrong shape": lambda: GM(2, means_init=np.zeros((3, 2))).fit(X),
    "complex means_init": lambda: GM(2, means_init=np.zeros((2, 2)) + 1j).fit(X),
    "precisions_init not positive-definite": lambda: GM(
        2, covariance_type="full", precisions_init=-np.ones((2, 2, 2))
    ).fit(X),
    "wrong n_features at predict": lambda: _fitted().predict(np.zeros((4, 5))),
    "NaN at predict": lambda: _fitted().predict(np.full((4, 2), np.nan)),
    "predict before fit": lambda: GM(2).predict(X),
    "covariance_type changed after fit": lambda: (
        _fitted().set_params(covariance_type="diag").predict(X)
    ),
}
DATA_DEPENDENT: set[str] = set()  # rows whose message holds a number from the data
_NUMBER = r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?"


def table_rows():
    """(input, exception, message) of the first table of the page."""
    text = PAGE.read_text().split("## Bad input", 1)[1]
    table = text.split("\n\n")[2]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append((cells[0], cells[1].strip("`"), cells[2]))
    return rows


ROWS = table_rows()


def test_the_table_and_the_cases_agree():
    assert [r[0] for r in ROWS] == list(CASES)


@pytest.mark.parametrize("name, exception, message", ROWS, ids=[r[0] for r in ROWS])
def test_each_bad_input_gets_the_documented_error(name, exception, message):
    kind = {
        "ValueError": ValueError,
        "NotFittedError": NotFittedError,
        "InvalidParameterError": InvalidParameterError,  # scikit-learn's, as its estimators
    }[exception]
    with pytest.raises(kind) as exc:
        CASES[name]()
    assert type(exc.value).__name__ == exception
    got = str(exc.value)
    if name in DATA_DEPENDENT:
        masked = re.escape(re.sub(_NUMBER, "<number>", message))
        pattern = masked.replace(re.escape("<number>"), _NUMBER)
        assert re.fullmatch(pattern, got), (got, message)
    else:
        assert got == message


def test_sample_weight_forms():
    """A scalar weight is a weight for every row; a list of integers is read as float64."""
    kw = dict(random_state=0, max_iter=5, tol=0)
    plain = GM(2, **kw).fit(X)
    for weight in (2.5, 3):
        gm = GM(2, **kw).fit(X, sample_weight=weight)
        np.testing.assert_allclose(gm.means_, plain.means_, rtol=1e-12)
        np.testing.assert_allclose(gm.covariances_, plain.covariances_, rtol=1e-12)
    counts = [1, 2, 3] * 20
    a = GM(2, **kw).fit(X, sample_weight=counts)
    b = GM(2, **kw).fit(X, sample_weight=np.array(counts, dtype=np.float64))
    np.testing.assert_array_equal(a.means_, b.means_)
    with pytest.raises(ValueError, match="^sample_weight must be an array of numbers.$"):
        GM(2).fit(X, sample_weight=["a"] * 60)


def test_small_weights_are_weights():
    """Only a zero sum is refused: weights summing to less than one are fine."""
    kw = dict(random_state=0, max_iter=5, tol=0)
    gm = GM(2, **kw).fit(X, sample_weight=np.full(60, 1e-3))
    np.testing.assert_allclose(gm.means_, GM(2, **kw).fit(X).means_, rtol=1e-12)


def test_a_nan_past_the_first_scanned_block_is_found():
    """check_all_finite scans 65,536 rows at a time: the row is still named exactly."""
    Y = np.random.default_rng(1).normal(size=(70_000, 2))
    Y[69_999, 1] = np.nan
    with pytest.raises(ValueError, match="^X contains NaN at row 69999, column 1. Remove"):
        GM(2).fit(Y)
