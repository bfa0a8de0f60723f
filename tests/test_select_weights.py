"""``select_components(sample_weight=...)``: weights whose ratios alone matter, so equal
weights give the unweighted table and weights of 0 and 1 the table of the rows of weight 1
(in memory, from a source's weight column, and on Dask), through the fits, their shared
starts, the scores and BIC's effective number of rows."""

import numpy as np
import pytest

import fastem
from fastem.select import effective_rows

COLUMNS = ("bic", "aic", "icl", "log_likelihood")
X = fastem.load_old_faithful()
KEEP = np.random.default_rng(0).random(len(X)) < 0.7


def _grid(data, **kw):
    kw = dict(n_components=range(1, 4), covariance_types=("full", "diag"), random_state=0, **kw)
    return fastem.select_components(data, **kw)


def _same_tables(a, b, columns=COLUMNS):
    for column in columns:
        np.testing.assert_allclose(a.table[column], b.table[column], rtol=1e-12, err_msg=column)
    assert a.best_model.n_components == b.best_model.n_components
    assert a.best_model.covariance_type == b.best_model.covariance_type


@pytest.mark.parametrize("init_params", ["kmeans", "hc"])
def test_equal_weights_give_the_unweighted_table(init_params):
    _same_tables(
        _grid(X, init_params=init_params),
        _grid(X, init_params=init_params, sample_weight=np.full(len(X), 3.0)),
    )


@pytest.mark.parametrize("init_params", ["kmeans", "hc"])
def test_weights_of_zero_and_one_give_the_table_of_the_kept_rows(init_params):
    """BIC's n is the effective number of rows: a row of weight 0 is not there (counting
    every row, n = 272 against 190 kept, moves BIC by p log(272 / 190) and the rows' term)."""
    kept = _grid(X[KEEP], init_params=init_params)
    weighted = _grid(X, init_params=init_params, sample_weight=KEEP.astype(float))
    _same_tables(kept, weighted)


def test_a_sources_weight_column_of_zeros_and_ones_gives_the_table_of_the_kept_rows(tmp_path):
    np.save(tmp_path / "xw.npy", np.column_stack([X, KEEP.astype(float)]))
    src = fastem.source(tmp_path / "xw.npy", weight_column=2)
    _same_tables(_grid(X[KEEP]), _grid(src))


def test_dask_weights_of_zeros_and_ones_give_the_table_of_the_kept_rows():
    da = pytest.importorskip("dask.array")
    kept = _grid(da.from_array(X[KEEP], chunks=70))
    for w in (KEEP.astype(float), da.from_array(KEEP.astype(float), chunks=100)):
        weighted = _grid(da.from_array(X, chunks=100), sample_weight=w)
        _same_tables(kept, weighted, ("bic", "aic", "log_likelihood"))


def test_a_sources_parallel_weights_give_the_table_of_the_kept_rows(tmp_path):
    """As ``fit`` takes them with a source: an array, a one-column source, a column name (they
    were refused, naming weight_column=)."""
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "w.npy", KEEP.astype(float))
    np.save(tmp_path / "xw.npy", np.column_stack([X, KEEP.astype(float)]))
    kept = _grid(X[KEEP])
    for weights in (KEEP.astype(float), fastem.source(tmp_path / "w.npy")):
        _same_tables(kept, _grid(fastem.source(tmp_path / "x.npy"), sample_weight=weights))
    header = "eruptions,waiting,w"
    xw = np.column_stack([X, KEEP])
    np.savetxt(tmp_path / "d.csv", xw, delimiter=",", header=header, comments="")
    src = fastem.source(tmp_path / "d.csv", columns=["eruptions", "waiting"])
    _same_tables(kept, _grid(src, sample_weight="w"))
    with pytest.raises(ValueError, match="do not also pass sample_weight"):
        _grid(fastem.source(tmp_path / "xw.npy", weight_column=2), sample_weight=KEEP * 1.0)


def test_weights_are_refused_where_they_cannot_apply(tmp_path):
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(272,\)"):
        _grid(X, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="negative"):
        _grid(X, sample_weight=-np.ones(len(X)))


def test_effective_rows_counts_equal_weights_as_rows_and_zero_weights_as_none():
    w = np.array([2.0, 2.0, 2.0, 0.0])
    n_eff, scale = effective_rows(w.sum(), w @ w)
    assert (n_eff, scale) == (3.0, 0.5)
    w = np.array([1.0, 3.0])  # unequal weights: fewer effective rows than rows
    assert effective_rows(w.sum(), w @ w)[0] == pytest.approx(1.6)


@pytest.mark.parametrize("column", ["w", "2"])
def test_the_command_line_weight_column_fits_selects_and_scores_as_the_api(
    column, tmp_path, monkeypatch, capsys
):
    """``--weight-column`` (a header name or an index) is never a feature: ``fit`` equals the
    weighted fit, ``select`` the weighted table, and the BIC of ``fit`` and ``score`` with
    weights of 0 and 1 is the kept rows' (the effective number of rows)."""
    import json

    from fastem.cli import main

    monkeypatch.chdir(tmp_path)
    header = "eruptions,waiting,w"
    np.savetxt("d.csv", np.column_stack([X, KEEP]), delimiter=",", header=header, comments="")
    weights = ["--weight-column", column]
    assert main(["fit", "d.csv", "-k", "2", "--seed", "0", *weights, "-o", "m.npz", "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    ref = fastem.GaussianMixture(2, random_state=0).fit(X, sample_weight=KEEP.astype(float))
    kept = fastem.GaussianMixture(2, random_state=0).fit(X[KEEP])
    np.testing.assert_array_equal(fastem.load("m.npz").means_, ref.means_)
    assert main(["score", "m.npz", "d.csv", *weights, "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    for out in (fitted, scored):
        assert out["effective_rows"] == pytest.approx(KEEP.sum(), rel=1e-12)
        assert out["bic"] == pytest.approx(kept.bic(X[KEEP]), rel=1e-12)
        assert out["aic"] == pytest.approx(kept.aic(X[KEEP]), rel=1e-12)
    args = ["select", "d.csv", "--k-range", "1:3", "--covariance-types", "full,diag"]
    assert main([*args, "--seed", "0", *weights, "--json"]) == 0
    table = json.loads(capsys.readouterr().out)["table"]
    want = _grid(X[KEEP])
    np.testing.assert_allclose([row["bic"] for row in table], want.table["bic"], rtol=1e-12)


def test_bic_and_aic_with_weights_count_the_effective_rows(tmp_path):
    """``GaussianMixture.bic``/``aic`` with ``sample_weight`` (in memory, Dask) or a source's
    weight column: weights of 0 and 1 score as the kept rows, equal weights as no weights."""
    gm = fastem.GaussianMixture(2, random_state=0).fit(X)
    w = KEEP.astype(float)
    np.save(tmp_path / "xw.npy", np.column_stack([X, w]))
    np.save(tmp_path / "x.npy", X)
    inputs = [(X, w), (fastem.source(tmp_path / "xw.npy", weight_column=2), None)]
    inputs.append((fastem.source(tmp_path / "x.npy"), w))
    da = pytest.importorskip("dask.array")
    inputs.append((da.from_array(X, chunks=100), da.from_array(w, chunks=100)))
    for data, weights in inputs:
        for method in ("bic", "aic"):
            got = getattr(gm, method)(data, sample_weight=weights)
            assert got == pytest.approx(getattr(gm, method)(X[KEEP]), rel=1e-12), method
    assert gm.bic(X, sample_weight=np.full(len(X), 2.0)) == pytest.approx(gm.bic(X), rel=1e-13)
