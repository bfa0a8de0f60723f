"""A CSV file's first line (docs/streaming.md): a header, unless it is a row of numbers (or
missing values among numbers); a quoted name may hold the delimiter; a first line ``0,1,...``
is data, with a warning that it may be pandas' header of a frame without column names.
The reference is pandas' reading of the same file."""

import warnings

import numpy as np
import pandas as pd
import pytest

import fastem
from fastem import GaussianMixture

rng = np.random.default_rng(5)
X = np.vstack([rng.normal(0, 1, (50, 3)), rng.normal(4, 1, (50, 3))])


def _same_fit(data, reference, **kw):
    kw = dict(n_components=2, random_state=0, max_iter=10, tol=0, **kw)
    a, b = GaussianMixture(**kw).fit(data), GaussianMixture(**kw).fit(reference)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    assert a.predict(data).shape == (len(reference),)


@pytest.mark.parametrize("field", ["", "NA"])
def test_a_first_row_with_a_missing_value_is_a_row_not_a_header(tmp_path, field):
    """It was taken for the header: under missing="marginalize" its row was lost (199 of 200
    rows fitted and predicted), otherwise errors named the row after the one meant."""
    Y = X.copy()
    Y[0, 1] = np.nan
    path = tmp_path / "x.csv"
    pd.DataFrame(Y).to_csv(path, index=False, header=False, na_rep=field)
    src = fastem.source(path, chunk_rows=16)
    assert not src.has_header
    reference = pd.read_csv(path, header=None).to_numpy()
    assert np.isnan(reference[0, 1])
    _same_fit(src, reference, missing="marginalize")
    with pytest.raises(ValueError, match="row offset 0: missing value"):
        GaussianMixture(2).fit(path)


def test_a_first_line_of_missing_values_alone_is_a_header(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame(X, columns=["NA", "null", "N/A"]).to_csv(path, index=False)
    assert fastem.source(path).feature_names == ["NA", "null", "N/A"]


def test_a_quoted_header_name_may_hold_the_delimiter(tmp_path):
    """ "x, cm" was split at its comma: the file was refused, blaming its first row, and
    columns=["x, cm"] was no column."""
    path = tmp_path / "x.csv"
    frame = pd.DataFrame(X, columns=["x, cm", "y", "z"])
    frame.to_csv(path, index=False)
    src = fastem.source(path, columns=["z", "x, cm"])
    assert src.feature_names == ["z", "x, cm"]
    _same_fit(src, pd.read_csv(path)[["z", "x, cm"]].to_numpy())
    _same_fit(fastem.source(path), frame.to_numpy())


def test_pandas_default_header_is_read_as_data_with_a_warning(tmp_path):
    """DataFrame.to_csv of a frame without column names writes the header 0,1,2: a first line
    of numbers is data (the documented rule), so it silently became one more row."""
    path = tmp_path / "x.csv"
    pd.DataFrame(X).to_csv(path, index=False)
    with pytest.warns(UserWarning, match="first line '0,1,2' is read as a row of data"):
        src = fastem.source(path)
    assert src.shape == (len(X) + 1, 3)
    pd.DataFrame(X).to_csv(path, index=False, header=False)  # the fix the warning names
    plain = np.vstack([[0.0, 1.0, 2.0], X])
    np.savetxt(tmp_path / "y.csv", plain[:, ::-1], delimiter=",")  # 2,1,0: a row, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fastem.source(path).shape == X.shape
        assert fastem.source(tmp_path / "y.csv").shape == (len(X) + 1, 3)
