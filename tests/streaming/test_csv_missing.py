"""A CSV file's missing values (docs/streaming.md): the fields pandas' ``read_csv`` reads as
NaN (an empty field, ``NA``, ``N/A``, ``null``, ...) are NaN under ``missing="marginalize"``,
the reference being pandas' own reading of the same file; without it they are refused,
naming the row and the fix. ``np.loadtxt`` refused every one of them as "non-numeric", so a
``DataFrame.to_csv`` of data with NaN (empty fields) could not be fitted from its file."""

import numpy as np
import pandas as pd
import pytest

import fastem
from fastem import GaussianMixture
from fastem.cli import main
from fastem.sources._tables import NA_FIELDS

rng = np.random.default_rng(3)
X = np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(4, 1, (60, 3))])
HOLES = [(5, 1), (70, 0), (71, 2), (119, 1)]  # in the first and the last chunk of 40 rows


def _write(path, fields):
    """``X`` as CSV with a header, its ``HOLES`` written as ``fields`` (one per hole)."""
    lines = ["a,b,c"]
    for i, row in enumerate(X):
        cells = [repr(float(v)) for v in row]
        for (r, c), field in zip(HOLES, fields):
            if r == i:
                cells[c] = field
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def _fit(data):
    gm = GaussianMixture(2, covariance_type="full", missing="marginalize", random_state=0)
    return gm.set_params(max_iter=20, tol=0).fit(data)


@pytest.mark.parametrize("field", sorted(NA_FIELDS) + ['"NA"', " NA", '""'])
def test_a_missing_value_field_is_read_as_pandas_reads_it(tmp_path, field):
    path = _write(tmp_path / "x.csv", [field] * len(HOLES))
    reference = pd.read_csv(path, skipinitialspace=True).to_numpy()
    assert np.isnan(reference).sum() == len(HOLES)  # pandas reads each as NaN
    streamed = _fit(fastem.source(path, chunk_rows=40))
    in_memory = _fit(reference)
    np.testing.assert_allclose(streamed.means_, in_memory.means_, rtol=1e-12)
    np.testing.assert_allclose(streamed.covariances_, in_memory.covariances_, rtol=1e-10)


def test_a_file_of_mixed_missing_fields_is_the_data_with_nan(tmp_path):
    path = _write(tmp_path / "x.csv", ["", "NA", "null", "nan"])
    Y = X.copy()
    Y[tuple(np.array(HOLES).T)] = np.nan
    streamed = _fit(fastem.source(path, chunk_rows=40))
    in_memory = _fit(Y)
    np.testing.assert_allclose(streamed.means_, in_memory.means_, rtol=1e-12)
    assert np.isfinite(streamed.score(path))


@pytest.mark.parametrize("field", ["", "NA", "N/A"])
def test_without_marginalize_a_missing_field_is_refused_naming_its_row_and_the_fix(
    tmp_path, field, capsys
):
    path = _write(tmp_path / "x.csv", [field] * len(HOLES))
    with pytest.raises(ValueError, match=f"row offset 5: missing value '{field}' in line") as e:
        GaussianMixture(2).fit(path)
    assert 'fit with GaussianMixture(missing="marginalize") to treat it' in str(e.value)
    assert main(["fit", str(path), "-k", "2", "-o", str(tmp_path / "m.fem")]) == 1
    assert "fit with --missing marginalize to treat it" in capsys.readouterr().err


def test_a_field_that_is_no_number_and_no_missing_value_is_still_refused(tmp_path):
    path = _write(tmp_path / "x.csv", ["?", "NA", "", ""])
    with pytest.raises(ValueError, match="row offset 5: non-numeric value in line"):
        _fit(path)
