"""Promises of docs/cli.md that no other test proved: a checkpointed fit interrupted and run
again resumes and ends as an uninterrupted one, sample's --seed, the forms of --columns, and
warnings as one line each (in process: ``fastem.cli.main``)."""

import shutil
import warnings
from importlib import resources

import numpy as np
import pytest

import fastem
from fastem._passes import ArrayData
from fastem.cli import main


@pytest.fixture
def work(tmp_path, monkeypatch):
    with resources.as_file(resources.files("fastem") / "data" / "old_faithful.csv") as src:
        shutil.copy(src, tmp_path / "faithful.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _count_passes(monkeypatch, interrupt_at=None):
    """Count EM passes (``ArrayData.stats`` calls); raise KeyboardInterrupt on one."""
    seen = []
    original = ArrayData.stats

    def stats(data, params, n_threads):
        seen.append(1)
        if len(seen) == interrupt_at:
            raise KeyboardInterrupt
        return original(data, params, n_threads)

    monkeypatch.setattr(ArrayData, "stats", stats)
    return seen


def test_checkpointed_fit_interrupted_then_run_again_resumes(work, monkeypatch, capsys):
    """cli.md: "after an interruption (Ctrl-C, a killed job) the same command resumes from the
    last complete pass and ends with exactly the parameters of an uninterrupted fit"."""
    args = ["fit", "faithful.csv", "-k", "3", "--seed", "0", "--tol", "0", "--max-iter", "12"]
    with monkeypatch.context() as m:
        plain_passes = _count_passes(m)
        assert main([*args, "-o", "plain.npz"]) == 0
    with monkeypatch.context() as m:
        _count_passes(m, interrupt_at=7)
        capsys.readouterr()
        status = main([*args, "--checkpoint", "fit.ckpt", "-o", "ck.npz"])
    assert status == 130 and not (work / "ck.npz").exists()  # "130 after Ctrl-C"
    assert "run the same command again to resume" in capsys.readouterr().err
    with monkeypatch.context() as m:
        resumed_passes = _count_passes(m)
        assert main([*args, "--checkpoint", "fit.ckpt", "-o", "ck.npz"]) == 0
    assert 0 < len(resumed_passes) <= len(plain_passes) - 6  # it did not start again
    a, b = fastem.load(work / "ck.npz"), fastem.load(work / "plain.npz")
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert a.lower_bounds_ == b.lower_bounds_ and a.n_iter_ == b.n_iter_


def test_sample_seed_is_reproducible(work, capsys):
    """cli.md: "sample: Draws -n new rows from the model into a .npy file; --seed makes it
    reproducible" - and the rows are the model's own draw (GaussianMixture.sample)."""
    assert main(["fit", "faithful.csv", "-k", "2", "--seed", "0", "-o", "m.npz", "-q"]) == 0
    for out, seed in (("a.npy", "1"), ("b.npy", "1"), ("c.npy", "2")):
        assert main(["sample", "m.npz", "-n", "200", "--seed", seed, "-o", out, "-q"]) == 0
    a, b, c = (np.load(work / f) for f in ("a.npy", "b.npy", "c.npy"))
    assert a.shape == (200, 2) and a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    model = fastem.load(work / "m.npz")
    model.random_state = 1
    np.testing.assert_array_equal(a, model.sample(200)[0])


def test_columns_by_name_and_by_index_in_both_forms(work, capsys):
    """cli.md: "--columns picks columns by header name or by integer index (--columns waiting
    or --columns 0 1 or --columns 0,1)"."""
    X = fastem.load_old_faithful()
    ref = fastem.GaussianMixture(2, random_state=0).fit(X[:, ::-1])
    for columns in (["waiting", "eruptions"], ["1", "0"], ["1,0"], ["waiting,eruptions"]):
        out = "m" + "_".join(columns).replace(",", "-") + ".npz"
        cmd = ["fit", "faithful.csv", "-k", "2", "--seed", "0", "--columns", *columns]
        assert main([*cmd, "-o", out, "-q"]) == 0, columns
        got = fastem.load(work / out)
        np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-12, err_msg=str(columns))
    assert main(["fit", "faithful.csv", "-k", "2", "--columns", "waiting", "-o", "w.npz"]) == 0
    assert fastem.load(work / "w.npz").n_features_in_ == 1


def test_a_warning_is_one_line(work, capsys):
    """cli.md: "Warnings, such as a fit that did not converge, are one line each too"."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the suite's conftest hides this warning
        assert main(["fit", "faithful.csv", "-k", "3", "--max-iter", "1", "-o", "m.npz"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("fastem: warning: ") and "did not converge" in err[0]


def _synopsis():
    """``{command: [options]}`` from the synopsis block at the top of docs/cli.md."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    block = text.split("```text\n", 1)[1].split("```", 1)[0]
    options, command = {}, None
    for line in block.splitlines():
        words = line.split()
        if words and words[0] == "fastem":
            command = words[1]
        options.setdefault(command, []).extend(re.findall(r"(?<![\w-])--?[a-z][\w-]*", line))
    return options


def test_every_option_of_the_synopsis_exists(capsys):
    """cli.md's synopsis: every command and option it lists is accepted (its --help names it)."""
    options = _synopsis()
    assert set(options) == {"fit", "predict", "score", "sample", "info", "select"}
    for command, opts in options.items():
        with pytest.raises(SystemExit) as stop:
            main([command, "--help"])
        assert stop.value.code == 0
        usage = capsys.readouterr().out
        for opt in opts:
            assert opt in usage.replace(",", " ").split() or f"{opt}," in usage, (command, opt)


def test_python_m_fastem_cli_runs_the_command(tmp_path):
    """cli.md: the command is "also runnable as python -m fastem.cli"."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root)
    done = subprocess.run(
        [sys.executable, "-m", "fastem.cli", "info", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: fastem info"), done


def test_select_tries_the_four_covariance_types_by_default(work, capsys):
    """cli.md: "with every covariance type in --covariance-types (all four by default)"."""
    import json

    assert main(["select", "faithful.csv", "--k-range", "1:2", "--seed", "0", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)["table"]
    got = {(row["n_components"], row["covariance_type"]) for row in table}
    assert got == {(k, t) for k in (1, 2) for t in ("full", "tied", "diag", "spherical")}


def test_dataset_of_a_zarr_group(work, capsys):
    """cli.md: "--dataset the dataset inside an HDF5 or Zarr file" (HDF5: test_cli_forms)."""
    zarr = pytest.importorskip("zarr")
    X = fastem.load_old_faithful()
    group = zarr.open_group(str(work / "g.zarr"), mode="w")
    make = getattr(group, "create_array", None) or group.create_dataset
    arr = make("data", shape=X.shape, chunks=(50, 2), dtype="f8")
    arr[:] = X
    assert (
        main(["fit", "g.zarr", "--dataset", "data", "-k", "2", "--seed", "0", "-o", "z.npz"]) == 0
    )
    ref = fastem.GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(fastem.load(work / "z.npz").means_, ref.means_, rtol=1e-10)


_FIT_OPTIONS = [
    (["--reg-covar", "0.05", "--tol", "1e-6"], dict(reg_covar=0.05, tol=1e-6)),
    (["--prior", "--covariance-type", "VEV"], dict(prior="default", covariance_type="VEV")),
    (["--init-params", "hc", "--max-iter", "7"], dict(init_params="hc", max_iter=7)),
    (["--n-init", "3", "--covariance-type", "diag"], dict(n_init=3, covariance_type="diag")),
]


@pytest.mark.parametrize("options, params", _FIT_OPTIONS)
def test_fit_options_are_the_estimators(work, capsys, options, params):
    """cli.md: "The options are the estimator's": the model file of `fastem fit` with each
    option is the fit of GaussianMixture with that parameter, bit for bit (--reg-covar was
    dropped unnoticed by every test)."""
    X = fastem.load_old_faithful()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", "faithful.csv", "-k", "3", "--seed", "2", "-o", "m.npz", *options]) == 0
        gm = fastem.GaussianMixture(3, random_state=2, **params).fit(X)
    capsys.readouterr()
    cli = fastem.load("m.npz")
    assert cli.get_params() == gm.get_params()
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(cli, name), getattr(gm, name), err_msg=name)


@pytest.mark.parametrize(
    "options, params",
    [
        (["--criterion", "aic"], dict(criterion="aic")),
        (["--criterion", "icl", "--reg-covar", "0.01"], dict(criterion="icl", reg_covar=0.01)),
        (["--prior", "--covariance-types", "VEV,EII"], dict(prior="default")),
    ],
)
def test_select_options_are_select_components(work, capsys, options, params):
    """`fastem select` is fastem.select_components with the same options: the same table
    (--json), the same best model (-o); --criterion and --prior were ignored unnoticed."""
    import json

    X = fastem.load_old_faithful()
    types = ["VEV", "EII"] if "--covariance-types" in options else ["full", "diag"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = ["select", "faithful.csv", "--k-range", "1:3", "--seed", "0", "-o", "b.npz"]
        if "--covariance-types" not in options:
            args += ["--covariance-types", "full,diag"]
        assert main([*args, *options, "--json"]) == 0
        best, table = fastem.select_components(X, [1, 2, 3], types, random_state=0, **params)
    report = json.loads(capsys.readouterr().out)
    criterion = params.get("criterion", "bic")
    assert report["criterion"] == criterion
    for c in ("bic", "aic", "icl", "log_likelihood"):
        np.testing.assert_array_equal([row[c] for row in report["table"]], table[c], err_msg=c)
    chosen = fastem.load("b.npz")
    assert chosen.get_params() == best.get_params()
    np.testing.assert_array_equal(chosen.means_, best.means_)
    i = int(np.argmin(table[criterion]))
    assert (chosen.n_components, chosen.covariance_type) == (
        table["n_components"][i],
        table["covariance_type"][i],
    )


@pytest.mark.parametrize(
    "types, mclust", [("EEE,VVV", True), ("full,diag", False)], ids=["mclust", "sklearn"]
)
def test_select_plot_draws_the_table_in_the_promised_sign(work, capsys, monkeypatch, types, mclust):
    """cli.md: with mclust's models in the grid "the plot shows BIC against K in mclust's
    sign" (2 logL - p log n, higher is better); otherwise BIC and AIC as scikit-learn's.
    Drawing mclust's grid in scikit-learn's sign passed every test."""
    import json

    matplotlib = pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    drawn = []
    savefig = Figure.savefig

    def spy(self, *args, **kwargs):
        drawn.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    args = ["select", "faithful.csv", "--k-range", "1:3", "--covariance-types", types]
    assert main([*args, "--seed", "0", "--plot", "c.png", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)["table"]
    (fig,) = drawn
    (ax,) = fig.axes
    curves = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines() if ln.get_markersize() == 4}
    sign = -1.0 if mclust else 1.0
    criteria = ["bic"] if mclust else ["bic", "aic"]
    assert sorted(curves) == sorted(f"{c.upper()} {t}" for c in criteria for t in types.split(","))
    for c in criteria:
        for t in types.split(","):
            expected = [sign * row[c] for row in table if row["covariance_type"] == t]
            np.testing.assert_array_equal(curves[f"{c.upper()} {t}"], expected)
    assert ("mclust's sign" in ax.get_ylabel()) == mclust
    matplotlib.pyplot.close("all")
