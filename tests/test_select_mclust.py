"""Model selection over mclust's models: the BIC table of mclust's vignette, ICL, the
command line's table and top three, the BIC-vs-K plot."""

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import multivariate_normal

import fastem
from fastem import select_components
from fastem.select import MCLUST_MODELS, format_mclust

DIABETES = Path(__file__).parent / "data" / "diabetes.csv"
GRID = dict(init_params="hc", reg_covar=0, tol=1e-6, max_iter=1000, random_state=0)


@pytest.fixture(scope="module")
def faithful_selection():
    return select_components(fastem.load_old_faithful(), range(1, 6), "mclust", **GRID)


def test_vignette_best_bic_old_faithful_is_EEE_3(faithful_selection):
    best, table = faithful_selection
    assert (best.covariance_type, best.n_components) == ("EEE", 3)
    assert len(table["bic"]) == 14 * 5 and set(table["covariance_type"]) == set(MCLUST_MODELS)
    i = int(np.argmin(table["bic"]))
    assert -table["bic"][i] == pytest.approx(-2314.316, abs=0.05)  # mclust's sign
    # one component: every model with the same volume/shape/orientation freedom agrees
    one = table["n_components"] == 1
    ll = dict(zip(table["covariance_type"][one], table["log_likelihood"][one]))
    assert ll["EEE"] == pytest.approx(ll["VVV"], rel=1e-12)
    assert ll["EII"] == pytest.approx(ll["VII"], rel=1e-12)


def test_vignette_best_bic_diabetes_is_VVV_3():
    X = np.loadtxt(DIABETES, delimiter=",", skiprows=1)
    best, table = select_components(X, range(1, 6), "mclust", **GRID)
    assert (best.covariance_type, best.n_components) == ("VVV", 3)
    assert -np.min(table["bic"]) == pytest.approx(-4751.316, abs=0.05)


def test_icl_is_bic_plus_the_classification_entropy(faithful_selection):
    best, table = faithful_selection
    X = fastem.load_old_faithful()
    dens = np.stack(
        [
            w * multivariate_normal(m, c).pdf(X)
            for w, m, c in zip(best.weights_, best.means_, best.covariances_)
        ],
        axis=1,
    )
    z = dens / dens.sum(axis=1, keepdims=True)
    i = int(np.argmin(table["bic"]))
    # mclust: ICL = BIC + 2 sum_i log z_i,map(i) (its sign); ours is the negative
    assert -table["icl"][i] == pytest.approx(-table["bic"][i] + 2 * np.log(z.max(axis=1)).sum())
    assert np.all(table["icl"] >= table["bic"] - 1e-9)


def test_icl_of_a_source_equals_icl_in_memory(tmp_path):
    """A chunked source gets its ICL column too (one more pass, chunk by chunk), equal to
    the in-memory one: the fits start from the same rows (issue 16) and end the same."""
    X = fastem.load_old_faithful()
    np.save(tmp_path / "x.npy", X)
    source = fastem.source(tmp_path / "x.npy", chunk_rows=50)
    kw = dict(n_components=[2, 3], covariance_types=["EEE", "VVI"], random_state=0)
    in_memory = select_components(X, **kw).table
    streamed = select_components(source, **kw).table
    assert np.all(np.isfinite(streamed["icl"]))
    np.testing.assert_allclose(streamed["icl"], in_memory["icl"], rtol=1e-9)
    np.testing.assert_allclose(streamed["bic"], in_memory["bic"], rtol=1e-9)


def test_format_mclust_prints_the_matrix_and_top_three(faithful_selection):
    _, table = faithful_selection
    text = format_mclust(table)
    lines = text.splitlines()
    assert lines[1].split() == ["K", *MCLUST_MODELS]
    top = lines[lines.index("Top 3 models by BIC:") + 1 :]
    assert top[0].split()[0] == "EEE,3"
    values = [float(t.split()[1]) for t in top]
    assert values == sorted(values, reverse=True) and values[0] == pytest.approx(-2314.3, abs=0.1)


def test_cli_select_mclust(tmp_path, monkeypatch, capsys):
    from fastem.cli import main

    np.savetxt(tmp_path / "f.csv", fastem.load_old_faithful(), delimiter=",")
    monkeypatch.chdir(tmp_path)
    args = ["select", "f.csv", "--covariance-types", "mclust", "--init-params", "hc",
            "--reg-covar", "0", "--k-range", "2:4", "--tol", "1e-6", "--max-iter", "1000",
            "-q", "--plot", "bic.png"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Top 3 models by BIC:\n  EEE,3" in out
    assert "best by BIC: K=3 'EEE'" in out
    assert (tmp_path / "bic.png").stat().st_size > 0


def test_bic_plot_has_one_line_per_model(faithful_selection):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from fastem.plots import plot_criterion

    ax = plot_criterion(faithful_selection, criterion="bic", mclust_sign=True)
    assert len(ax.get_lines()) == 14 + 1  # and the circle on the best
    circle = ax.get_lines()[-1]
    assert circle.get_xdata()[0] == 3 and circle.get_ydata()[0] == pytest.approx(-2314.3, abs=0.1)
    assert "higher" in ax.get_ylabel()


def test_bad_grid_names_the_valid_models():
    with pytest.raises(ValueError, match="'mclust' or a non-empty subset.*'VVV'"):
        select_components(fastem.load_old_faithful(), [2], ["VVX"])


def test_grid_with_the_prior_leaves_the_models_without_one_empty():
    X = fastem.load_old_faithful()
    Z = (X - X.mean(0)) / X.std(0)
    _, table = select_components(Z, [2, 3], "mclust", init_params="hc", prior="default")
    no_prior = np.isin(table["covariance_type"], ["VEE", "EVE", "VVE", "EVV"])
    assert np.all(np.isnan(table["bic"][no_prior]))
    assert all("prior is not available" in e for e in table["error"][no_prior])
    assert np.all(np.isfinite(table["bic"][~no_prior]))


def test_one_feature_grid_is_E_and_V():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 200), rng.normal(5, 2, 200)])[:, None]
    best, table = select_components(x, range(1, 4), "mclust", init_params="hc", random_state=0)
    assert sorted(set(table["covariance_type"])) == ["E", "V"]
    assert (best.covariance_type, best.n_components) == ("V", 2)


def test_cli_fit_with_an_mclust_model_the_hc_start_and_the_prior(tmp_path, monkeypatch, capsys):
    from fastem.cli import main

    np.savetxt(tmp_path / "f.csv", fastem.load_old_faithful(), delimiter=",")
    monkeypatch.chdir(tmp_path)
    args = ["fit", "f.csv", "-k", "3", "--covariance-type", "EEV", "--init-params", "hc",
            "--prior", "-o", "m.npz", "-q"]  # fmt: skip
    assert main(args) == 0
    model = fastem.load(tmp_path / "m.npz")
    assert (model.covariance_type, model.init_params, model.prior) == ("EEV", "hc", "default")
    direct = fastem.GaussianMixture(3, covariance_type="EEV", init_params="hc", prior="default")
    np.testing.assert_allclose(model.means_, direct.fit(fastem.load_old_faithful()).means_)


def test_diabetes_large_K_fits_where_mclust_does():
    """mclust 6.0.0's Mclust(diabetes, G = 1:9) fits VII, VVI and VVV at K = 7..9 (BIC, its
    sign, by hand: VII -5110.280, -5091.507, -5095.913; VVV -4858.575, -4907.467, -4948.764).
    From the earlier tree (single rows left as groups) all of them failed."""
    X = np.loadtxt(DIABETES, delimiter=",", skiprows=1)
    _, table = select_components(X, [7, 8, 9], ["VII", "VVI", "VVV"], **GRID)
    assert not any(table["error"]), table["error"]
    mclust = {("VII", 7): -5110.280, ("VII", 8): -5091.507, ("VII", 9): -5095.913,
              ("VVV", 7): -4858.575, ("VVV", 8): -4907.467, ("VVV", 9): -4948.764}  # fmt: skip
    for (ct, k), bic in mclust.items():
        i = int(np.flatnonzero((table["covariance_type"] == ct) & (table["n_components"] == k))[0])
        # the same tree; fastem's EM runs further than mclust's (tol 1e-6 per row)
        assert -table["bic"][i] >= bic - 0.05, (ct, k)


def test_a_K_beyond_the_rows_leaves_the_others_on_the_tree():
    """A grid with one K above the number of rows built no tree at all, so every other K
    started from k-means, silently, though init_params='hc' was asked for."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (10, 2)), rng.normal(5, 1, (10, 2))])
    kw = dict(covariance_types=["VVV"], init_params="hc", max_iter=0, random_state=0)
    _, alone = select_components(X, [2, 3], **kw)
    _, table = select_components(X, [2, 3, 25], **kw)
    np.testing.assert_array_equal(table["log_likelihood"][:2], alone["log_likelihood"])
    assert "n_samples = 20" in table["error"][2]


@pytest.mark.parametrize("init_params", ["kmeans", "hc"])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_dask_arrays_table_is_the_in_memory_table_icl_included(init_params, weighted):
    """Each fit on a Dask array started itself, so its table differed from the in-memory one,
    and its ICL column was NaN (criterion='icl' refused). The grid now holds the rows for its
    shared starts, as for a file, and ICL's entropy is summed block by block."""
    da = pytest.importorskip("dask.array")
    X = fastem.load_old_faithful()
    w = np.random.default_rng(0).random(len(X)) if weighted else None
    dw = None if w is None else da.from_array(w, chunks=100)
    kw = dict(n_components=[1, 2, 3], covariance_types=["VVV", "EII"], random_state=0)
    kw.update(init_params=init_params, criterion="icl")
    best, table = select_components(X, sample_weight=w, **kw)
    best_d, table_d = select_components(da.from_array(X, chunks=100), sample_weight=dw, **kw)
    for column in ("bic", "aic", "icl", "log_likelihood"):
        np.testing.assert_allclose(table_d[column], table[column], rtol=1e-12, err_msg=column)
    assert np.isfinite(table_d["icl"]).all()
    np.testing.assert_allclose(best_d.means_, best.means_, rtol=1e-12)


def test_a_failed_fit_s_row_says_why():
    """It printed "nan nan nan 0 (not converged)": the reason was only in --json's error."""
    from fastem.select import format_table

    X = np.random.default_rng(0).normal(size=(4, 2))
    _, table = select_components(X, [2, 5], ["full"], random_state=0)
    text = format_table(table).splitlines()
    assert "failed" not in text[1]
    assert text[2].endswith("failed: Expected n_samples >= n_components but got n_components = "
                            "5, n_samples = 4; pass more rows or lower n_components.")  # fmt: skip


def test_tables_chosen_by_icl_show_icl():
    """With criterion='icl' the text table starred the best ICL but printed only BIC and
    AIC, and mclust's view titled ICL with BIC's formula."""
    from fastem.select import format_table

    table = {"n_components": np.array([1, 2]), "covariance_type": np.array(["EEE", "EEE"]),
             "bic": np.array([10.0, 5.0]), "aic": np.array([9.0, 4.0]),
             "icl": np.array([10.5, 12.0]), "log_likelihood": np.array([-1.0, -0.5]),
             "converged": np.array([True, True]), "n_iter": np.array([2, 7])}  # fmt: skip
    text = format_table(table, "icl").splitlines()
    assert text[0].split()[:5] == ["K", "covariance", "BIC", "AIC", "ICL"]
    assert text[1].startswith("*") and "10.500" in text[1] and "12.000" in text[2]
    assert "ICL" not in format_table(table, "bic")
    head = format_mclust(table, "icl").splitlines()[0]
    assert head.startswith("ICL (mclust's sign: 2 logL - p log n + 2 sum_i log z_i,map(i)")


def test_vve_from_the_tree_climbs_above_mclusts():
    """docs/models.md: mclust 6.0.0's VVE EM, run from the same tree to a relative change of
    1e-13 (by hand), stops at logL -2362.78 (diabetes, K = 3) and -1122.80 (Old Faithful,
    K = 3); fastem's exact plane rotations reach -2327.78 and -1122.66."""
    X = np.loadtxt(DIABETES, delimiter=",", skiprows=1)
    kw = dict(covariance_type="VVE", init_params="hc", reg_covar=0, tol=1e-10, max_iter=10000)
    cases = [(X, -2327.784, -2362.785), (fastem.load_old_faithful(), -1122.664, -1122.797)]
    for data, fastem_ll, mclust_ll in cases:
        gm = fastem.GaussianMixture(3, **kw).fit(data)
        loglik = gm.score(data) * data.shape[0]
        assert loglik == pytest.approx(fastem_ll, abs=2e-3) and loglik > mclust_ll


@pytest.mark.parametrize("weighted", [False, True])
def test_a_dask_arrays_scores_read_each_block_once(weighted):
    """A Dask array's BIC and ICL were two computes over its blocks (``score``, then
    ``predict_proba``'s largest probability): a lazily read array was read twice per cell.
    Now each block's sums are made in one pass, to the scores of the whole arrays."""
    import threading

    import dask

    from fastem.select import _score_and_entropy

    da = pytest.importorskip("dask.array")
    X = fastem.load_old_faithful()
    w = np.random.default_rng(1).random(len(X)) if weighted else None
    gm = fastem.GaussianMixture(3, random_state=0).fit(X, sample_weight=w)
    reads, lock = [], threading.Lock()

    def read(block):
        with lock:
            reads.append(block.shape[0])
        return block

    lazy = da.from_array(X, chunks=(50, 2)).map_blocks(read, dtype=X.dtype)
    reads.clear()  # (map_blocks calls it on an empty array to infer the output)
    dw = None if w is None else da.from_array(w, chunks=50)
    with dask.config.set(scheduler="threads"):
        score, penalty, n = _score_and_entropy(gm, None, lazy, dw, len(X))
    assert sorted(reads) == sorted([50] * 5 + [22])  # every block once
    assert score == pytest.approx(gm.score(X, sample_weight=w), rel=1e-12)
    log_max = np.log(gm.predict_proba(X).max(axis=1))
    if w is None:
        assert n == len(X)
        assert penalty == pytest.approx(-2 * log_max.sum(), rel=1e-12)
    else:
        n_eff = w.sum() ** 2 / (w @ w)
        assert n == pytest.approx(n_eff, rel=1e-12)
        assert penalty == pytest.approx(-2 * (n_eff / w.sum()) * (w @ log_max), rel=1e-12)
