"""The ``fastem`` console script, run for real in a subprocess."""

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import fastem

ROOT = str(Path(fastem.__file__).resolve().parent.parent)


def _command():
    """The installed console script, else ``python -m fastem.cli``."""
    exe = Path(sys.executable).parent / ("fastem.exe" if os.name == "nt" else "fastem")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("fastem")
    if found:
        return [found]
    return [sys.executable, "-m", "fastem.cli"]


def run(*args, cwd):
    env = dict(os.environ)
    # the subprocess imports the same fastem as this test, wherever it runs
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("FASTEM_TRACEBACK", None)
    return subprocess.run(
        [*_command(), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    with resources.as_file(resources.files("fastem") / "data" / "old_faithful.csv") as src:
        shutil.copy(src, d / "faithful.csv")
    return d


def _ok(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # no progress bar when stderr is not a terminal
    return result.stdout


def test_fit_info_predict_score_sample(work):
    X = fastem.load_old_faithful()
    out = json.loads(
        _ok(
            run(
                "fit",
                "faithful.csv",
                "-k",
                "2",
                "--seed",
                "0",
                "--n-init",
                "2",
                "--threads",
                "1",
                "-o",
                "model.npz",
                "--json",
                cwd=work,
            )
        )
    )
    assert out["command"] == "fit" and out["n_samples"] == 272 and out["converged"]
    model = fastem.load(work / "model.npz")
    assert model.n_components == 2 and model.random_state == 0 and model.n_init == 2
    assert np.isclose(out["bic"], model.bic(X))

    info = json.loads(_ok(run("info", "model.npz", "--json", cwd=work)))
    assert info["n_components"] == 2 and info["covariance_type"] == "full"
    assert info["format_version"] == 1 and info["fastem_version"] == fastem.__version__
    text = _ok(run("info", "model.npz", cwd=work))
    assert "2-component 'full' Gaussian mixture" in text

    _ok(run("predict", "model.npz", "faithful.csv", "-o", "labels.npy", cwd=work))
    assert np.array_equal(np.load(work / "labels.npy"), model.predict(X))
    _ok(run("predict", "model.npz", "faithful.csv", "--proba", "-o", "proba.npy", cwd=work))
    assert np.allclose(np.load(work / "proba.npy"), model.predict_proba(X))

    score = json.loads(_ok(run("score", "model.npz", "faithful.csv", "--json", cwd=work)))
    assert np.isclose(score["log_likelihood"], model.score(X))

    s = json.loads(
        _ok(
            run("sample", "model.npz", "-n", "50", "--seed", "1", "-o", "s.npy", "--json", cwd=work)
        )
    )
    assert np.load(work / "s.npy").shape == (50, 2) and sum(s["counts"]) == 50


def test_select_and_columns(work):
    out = json.loads(
        _ok(
            run(
                "select",
                "faithful.csv",
                "--k-range",
                "1:3",
                "--covariance-types",
                "full,diag",
                "--seed",
                "0",
                "-o",
                "best.npz",
                "--plot",
                "bic.png",
                "--json",
                cwd=work,
            )
        )
    )
    assert len(out["table"]) == 6
    assert (work / "bic.png").read_bytes()[:4] == b"\x89PNG"
    assert out["best"]["n_components"] == 2
    assert fastem.load(work / "best.npz").n_components == 2
    np.save(work / "waiting.npy", fastem.load_old_faithful())
    _ok(
        run(
            "fit",
            "waiting.npy",
            "--columns",
            "1",
            "-k",
            "2",
            "--covariance-type",
            "spherical",
            "-o",
            "w.npz",
            cwd=work,
        )
    )
    assert fastem.load(work / "w.npz").n_features_in_ == 1


ERRORS = [
    (("fit", "missing.csv", "-k", "2", "-o", "m.npz"), 1, "no such file: missing.csv"),
    (("fit", "faithful.csv", "-k", "zero", "-o", "m.npz"), 2, "expected a positive integer"),
    (("predict", "pickle.npz", "faithful.csv", "-o", "p.npy"), 1, "pickled"),
]
MORE_ERRORS = [
    (("fit", "faithful.csv", "-o", "m.npz"), 2, "required: -k"),
    (("fit", "faithful.csv", "-k", "2", "--dataset", "x", "-o", "m.npz"), 1, "dataset='x'"),
    (
        ("fit", "faithful.csv", "-k", "2", "--columns", "height", "-o", "m.npz"),
        1,
        "no column 'height'",
    ),
    (
        ("fit", "faithful.csv", "-k", "2", "--columns", "waiting", "1", "-o", "m.npz"),
        1,
        "columns= lists column 1 twice ('waiting' and '1'); list each feature once",
    ),
    (("fit", "faithful.txt", "-k", "2", "-o", "m.npz"), 1, "unsupported format '.txt'"),
    (("info", "faithful.csv"), 1, "not a fastem model file"),
    (("predict", "missing.npz", "faithful.csv", "-o", "p.npy"), 1, "no such model file"),
    (("predict", "model.npz", "faithful.csv", "-o", "nodir/p.npy"), 1, "no such directory"),
    (("select", "faithful.csv", "--k-range", "3:1"), 2, "--k-range"),
    (("sample", "model.npz", "-n", "-3", "-o", "s.npy"), 2, "-n"),
    (("frobnicate",), 2, "invalid choice"),
    ((), 2, "required: COMMAND"),
]


def _check_one_line(status, stdout, stderr, expected_status, message):
    assert status == expected_status, stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("fastem: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("args, status, message", ERRORS)
def test_errors_are_one_clean_line(work, args, status, message):
    """The real console script: bad paths and arguments give one line, no traceback."""
    import pickle

    (work / "pickle.npz").write_bytes(pickle.dumps({"not": "a model"}))
    result = run(*args, cwd=work)
    _check_one_line(result.returncode, result.stdout, result.stderr, status, message)


@pytest.mark.parametrize("args, status, message", MORE_ERRORS)
def test_more_errors_in_process(work, monkeypatch, capsys, args, status, message):
    """The same entry point in-process (fast), for more kinds of mistake."""
    from fastem.cli import main

    monkeypatch.chdir(work)
    (work / "faithful.txt").write_text("1 2\n")
    if not (work / "model.npz").exists():
        fastem.save(
            fastem.GaussianMixture(2, random_state=0).fit(fastem.load_old_faithful()),
            work / "model.npz",
        )
    code = main(list(args))
    out, err = capsys.readouterr()
    _check_one_line(code, out, err, status, message)


def test_progress_bar_on_a_terminal():
    import io

    from fastem.cli._output import Progress, _estimator

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    progress = Progress(True, stream)
    gm = _estimator(progress, n_components=2, random_state=0, max_iter=5, tol=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(fastem.load_old_faithful())
    progress.close()
    assert "EM pass" in stream.getvalue() or "init 1/1" in stream.getvalue()
    quiet = io.StringIO()
    Progress(False, quiet).update(0.5, "x", force=True)
    assert quiet.getvalue() == ""


def test_fit_with_checkpoint_in_process(work, monkeypatch, capsys):
    from fastem.cli import main

    monkeypatch.chdir(work)
    args = ["fit", "faithful.csv", "-k", "2", "--seed", "0", "--json"]
    assert main([*args, "--checkpoint", "fit.ckpt", "-o", "ck.npz"]) == 0
    assert main([*args, "-o", "plain.npz"]) == 0
    capsys.readouterr()
    a, b = fastem.load(work / "ck.npz"), fastem.load(work / "plain.npz")
    assert a.means_.tobytes() == b.means_.tobytes()


def test_commands_read_a_variational_model_file(tmp_path, monkeypatch, capsys):
    """info, score, predict and sample take a BayesianGaussianMixture's model file too."""
    from fastem.cli import main

    X = fastem.load_old_faithful()
    bgm = fastem.BayesianGaussianMixture(n_components=3, max_iter=20, random_state=0).fit(X)
    fastem.save(bgm, tmp_path / "vb.npz")
    np.savetxt(tmp_path / "of.csv", X, delimiter=",")
    monkeypatch.chdir(tmp_path)
    assert main(["info", "vb.npz", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(info["weights"], bgm.weights_)
    assert info["n_iter"] == bgm.n_iter_ and info["params"]["n_components"] == 3
    assert main(["predict", "vb.npz", "of.csv", "-o", "labels.csv"]) == 0
    labels = np.loadtxt(tmp_path / "labels.csv", dtype=int)
    np.testing.assert_array_equal(labels, bgm.predict(X))
    assert main(["score", "vb.npz", "of.csv", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["log_likelihood"] == pytest.approx(
        bgm.score(X)
    )


def test_reads_a_pruned_bayesian_model_file(work, tmp_path):
    """info, predict, score and sample read a BayesianGaussianMixture model file; a pruned one
    has its kept components only (info failed with 'index 3 is out of bounds', predict and
    sample listed the pruned components as empty ones)."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.5, size=(200, 2)) for c in ([0, 0], [4, 0], [0, 4])])
    np.save(tmp_path / "X.npy", X)
    bgm = fastem.BayesianGaussianMixture(
        n_components=6, weight_concentration_prior=1e-3, random_state=0, prune_threshold=0.01
    ).fit(X)
    assert bgm.n_components_effective_ == 3
    fastem.save(bgm, tmp_path / "bgm.npz")
    info = json.loads(_ok(run("info", "--json", "bgm.npz", cwd=tmp_path)))
    assert info["n_components"] == 3
    np.testing.assert_array_equal(info["weights"], bgm.weights_)
    text = _ok(run("info", "bgm.npz", cwd=tmp_path))
    assert "3-component 'full'" in text and "component 3" not in text
    pred = json.loads(
        _ok(run("predict", "--json", "bgm.npz", "X.npy", "-o", "y.npy", cwd=tmp_path))
    )
    assert pred["counts"] == np.bincount(bgm.predict(X), minlength=3).tolist()
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), bgm.predict(X))
    score = json.loads(_ok(run("score", "--json", "bgm.npz", "X.npy", cwd=tmp_path)))
    assert score["log_likelihood"] == pytest.approx(bgm.score(X), rel=1e-12)
    K, D = 3, 2  # full covariances, means and weights of the kept components
    assert score["n_parameters"] == K * D * (D + 1) // 2 + K * D + K - 1
    sample = json.loads(
        _ok(run("sample", "--json", "bgm.npz", "-n", "50", "-o", "s.npy", cwd=tmp_path))
    )
    assert len(sample["counts"]) == 3 and sum(sample["counts"]) == 50


@pytest.mark.parametrize("note", ["# a note", "0.5,70 # a note", "#1.5,60"])
def test_a_comment_in_a_csv_file_is_refused_naming_its_line(
    work, tmp_path, monkeypatch, capsys, note
):
    """A '#' in a CSV file is no comment (cli.md skips blank lines only). np.loadtxt took it
    for one while the row count did not: a comment line failed with 'pass ended after 272
    rows, expected 273', naming neither the line nor its row, and a comment after a row
    was dropped silently."""
    from fastem.cli import main
    from fastem.sources import SourceError

    monkeypatch.chdir(tmp_path)
    fastem.save(fastem.GaussianMixture(2, random_state=0).fit(fastem.load_old_faithful()), "m.npz")
    lines = (work / "faithful.csv").read_text().splitlines()
    Path("noted.csv").write_text("\n".join([*lines[:11], note, *lines[11:]]) + "\n")
    for args in (["fit", "noted.csv", "-k", "2", "-o", "f.npz"], ["score", "m.npz", "noted.csv"]):
        code = main(args)
        out, err = capsys.readouterr()
        _check_one_line(code, out, err, 1, "row offset 10: ")  # after the header and 10 rows
        assert repr(note) in err, err
    assert not Path("f.npz").exists()
    with pytest.raises(SourceError, match="row offset 10: .*" + repr(note)):
        fastem.source("noted.csv").read()


def test_a_run_that_fails_after_its_work_leaves_the_model_file_as_it_was(
    work, tmp_path, monkeypatch, capsys
):
    """cli.md: "a failed run leaves what was there". select saved the best model before it
    drew the --plot, so a plot that failed (a .pgf without LaTeX: 'xelatex not found')
    ended the run with an error and the user's model file replaced; fit replaced its model
    file before its scoring pass over the data, which a Ctrl-C could end."""
    from matplotlib.figure import Figure

    from fastem.cli import _commands, main

    monkeypatch.chdir(tmp_path)
    shutil.copy(work / "faithful.csv", "faithful.csv")
    fastem.save(fastem.GaussianMixture(3, random_state=1).fit(fastem.load_old_faithful()), "m.npz")
    saved = Path("m.npz").read_bytes()

    def no_latex(self, *args, **kwargs):
        raise RuntimeError("'xelatex' not found")

    with monkeypatch.context() as m:
        m.setattr(Figure, "savefig", no_latex)
        code = main(["select", "faithful.csv", "--k-range", "2", "-o", "m.npz", "--plot", "c.pgf"])
    out, err = capsys.readouterr()
    _check_one_line(code, out, err, 1, "xelatex")
    assert Path("m.npz").read_bytes() == saved and not Path("c.pgf").exists()

    def interrupted(model, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(_commands, "_scores", interrupted)
    assert main(["fit", "faithful.csv", "-k", "2", "-o", "m.npz"]) == 130
    assert Path("m.npz").read_bytes() == saved


def test_a_model_of_named_features_refuses_a_header_that_orders_them_otherwise(
    work, tmp_path, monkeypatch, capsys
):
    """A model fitted on a pandas frame keeps its feature names in the model file. predict
    and score read a CSV header's columns as they come: the same two features in the other
    order were scored silently for the wrong features (scikit-learn refuses reordered
    names). Now the header must name the model's features in order, or --columns picks them."""
    pd = pytest.importorskip("pandas")
    from fastem.cli import main

    monkeypatch.chdir(tmp_path)
    shutil.copy(work / "faithful.csv", "faithful.csv")  # eruptions,waiting
    frame = pd.read_csv("faithful.csv")[["waiting", "eruptions"]]
    gm = fastem.GaussianMixture(2, covariance_type="diag", random_state=0).fit(frame)
    fastem.save(gm, "named.npz")
    for args in (["score", "named.npz", "faithful.csv"], ["predict", "named.npz", "faithful.csv"]):
        args = args + (["-o", "labels.npy"] if args[0] == "predict" else [])
        code = main(args)
        out, err = capsys.readouterr()
        _check_one_line(code, out, err, 1, "--columns waiting eruptions")
        assert main([*args, "--columns", "waiting", "eruptions", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
    assert report["shape"] == [272]
    np.testing.assert_array_equal(np.load("labels.npy"), gm.predict(frame))
    with pytest.raises(ValueError, match="feature names should match"):  # scikit-learn's rule
        gm.predict(frame[["eruptions", "waiting"]])


def test_a_model_fitted_on_a_header_refuses_a_file_that_orders_the_columns_otherwise(
    work, tmp_path, monkeypatch, capsys
):
    """fit and select saved no names from the CSV header, so predict and score took the same
    two columns in the other order silently (a mean log-likelihood of -16902.6 against -4.155,
    every row in one component). The header's names are now the model's, as a frame's are."""
    pd = pytest.importorskip("pandas")
    from fastem.cli import main

    monkeypatch.chdir(tmp_path)
    shutil.copy(work / "faithful.csv", "faithful.csv")  # eruptions,waiting
    pd.read_csv("faithful.csv")[["waiting", "eruptions"]].to_csv("swapped.csv", index=False)
    np.save("faithful.npy", fastem.load_old_faithful())
    fit = ["fit", "faithful.csv", "-k", "2", "--seed", "0", "-q"]
    select = ["select", "faithful.csv", "--k-range", "2", "--seed", "0", "-q"]
    assert main([*fit, "-o", "fit.npz"]) == 0 and main([*select, "-o", "select.npz"]) == 0
    assert main(["fit", "faithful.npy", "-k", "2", "-q", "-o", "plain.npz"]) == 0
    assert main([*fit, "--columns", "waiting", "-o", "one.npz"]) == 0
    capsys.readouterr()
    assert list(fastem.load("fit.npz").feature_names_in_) == ["eruptions", "waiting"]
    assert list(fastem.load("one.npz").feature_names_in_) == ["waiting"]
    assert not hasattr(fastem.load("plain.npz"), "feature_names_in_")  # no header, no names
    for model in ("fit.npz", "select.npz"):
        for args in (["score", model, "swapped.csv"], ["predict", model, "swapped.csv"]):
            args = args + (["-o", "labels.npy"] if args[0] == "predict" else [])
            code = main(args)
            out, err = capsys.readouterr()
            _check_one_line(code, out, err, 1, "--columns eruptions waiting")
        assert main(["predict", model, "swapped.csv", "--columns", "eruptions", "waiting",
                     "-o", "labels.npy", "-q"]) == 0  # fmt: skip
        capsys.readouterr()
        want = fastem.load(model).predict(pd.read_csv("faithful.csv"))
        np.testing.assert_array_equal(np.load("labels.npy"), want)


@pytest.mark.parametrize("value", ["1e6", "many"])
def test_a_bad_small_work_variable_is_named(work, value, monkeypatch):
    """cold_start.md: FASTEM_SMALL_WORK moves the NumPy threshold. A value that is not an
    integer failed with "invalid literal for int() with base 10: '1e6'", naming no variable."""
    monkeypatch.setenv("FASTEM_SMALL_WORK", value)
    result = run("fit", "faithful.csv", "-k", "2", "-o", "small.npz", cwd=work)
    _check_one_line(result.returncode, result.stdout, result.stderr, 1, "FASTEM_SMALL_WORK")
    assert repr(value) in result.stderr and "or unset it" in result.stderr


def test_a_reader_that_goes_away_stops_the_command_quietly(work):
    """`fastem info m.npz | head -1`: the output's pipe closed before the command wrote,
    which printed "fastem: error: [Errno 32] Broken pipe" and exited 1; it now stops
    silently with 141, as a Unix tool killed by SIGPIPE (cli.md)."""
    fastem.save(fastem.GaussianMixture(2, random_state=0).fit(fastem.load_old_faithful()),
                work / "piped.npz")  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.Popen(
        [*_command(), "info", "piped.npz"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the command can import fastem and write
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141, err
    assert err == ""


def test_missing_values_are_marginalized_on_request_and_refused_naming_the_option(
    tmp_path, monkeypatch, capsys
):
    """docs/cli.md: a NaN in DATA is refused with the command line's fix (not the Python
    one); ``--missing marginalize`` fits as ``GaussianMixture(missing="marginalize")``
    does, bit for bit, and the model file keeps it, so ``predict`` and ``score`` of rows
    with NaN give what the estimator gives."""
    from fastem.cli import main

    monkeypatch.chdir(tmp_path)
    X = fastem.load_old_faithful()
    X[::7, 1] = np.nan
    X[1::7, 0] = np.nan
    np.save("gaps.npy", X)
    args = ["fit", "gaps.npy", "-k", "2", "--seed", "0", "-o", "m.npz", "--json"]
    code = main(args[:-1])
    out, err = capsys.readouterr()
    _check_one_line(code, out, err, 1, "fit with --missing marginalize")
    assert "GaussianMixture(" not in err and not os.path.exists("m.npz")
    assert main([*args, "--missing", "marginalize"]) == 0
    capsys.readouterr()
    gm = fastem.GaussianMixture(2, random_state=0, missing="marginalize").fit(X)
    saved = fastem.load("m.npz")
    assert saved.missing == "marginalize"
    np.testing.assert_array_equal(saved.means_, gm.means_)
    np.testing.assert_array_equal(saved.covariances_, gm.covariances_)
    assert main(["predict", "m.npz", "gaps.npy", "--proba", "-o", "p.npy"]) == 0
    np.testing.assert_array_equal(np.load("p.npy"), gm.predict_proba(X))
    capsys.readouterr()
    assert main(["score", "m.npz", "gaps.npy", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["log_likelihood"] == gm.score(X)
    # select: the same option, the same fix named
    grid = ["select", "gaps.npy", "--k-range", "1:2", "--covariance-types", "full,diag"]
    code = main([*grid, "-q"])
    out, err = capsys.readouterr()
    _check_one_line(code, out, err, 1, "fit with --missing marginalize")
    assert main([*grid, "--seed", "0", "--missing", "marginalize", "-o", "b.npz", "-q"]) == 0
    best = fastem.select_components(
        X, [1, 2], ["full", "diag"], missing="marginalize", random_state=0
    ).best_model
    np.testing.assert_array_equal(fastem.load("b.npz").means_, best.means_)


def test_a_model_of_named_features_warns_for_data_without_names(tmp_path, monkeypatch, capsys):
    """scikit-learn warns when a model fitted with feature names scores an array; a source
    without names (a .npy file, a CSV file without a header) is that array read in chunks,
    and warns the same, once, from the API and the command line; a header naming the
    model's features does not warn."""
    import warnings

    pd = pytest.importorskip("pandas")
    from fastem.cli import main

    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame(fastem.load_old_faithful(), columns=["eruptions", "waiting"])
    gm = fastem.GaussianMixture(2, random_state=0).fit(frame)
    fastem.save(gm, "named.npz")
    np.save("rows.npy", np.ascontiguousarray(frame.to_numpy()))
    np.savetxt("rows.csv", frame.to_numpy(), delimiter=",")
    frame.to_csv("named.csv", index=False)
    msg = "X does not have valid feature names, but GaussianMixture was fitted with feature"
    with pytest.warns(UserWarning, match=msg) as caught:
        gm.predict(frame.to_numpy())  # scikit-learn's rule for an array
    assert len(caught) == 1
    for path in ("rows.npy", "rows.csv"):
        for data in (path, fastem.source(path)):
            with pytest.warns(UserWarning, match=msg) as caught:
                labels = gm.predict(data)
            assert len(caught) == 1 and caught[0].filename == __file__
            np.testing.assert_array_equal(labels, gm.predict(frame))
        assert main(["score", "named.npz", path]) == 0
        assert msg in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(gm.predict("named.csv"), gm.predict(frame))
        assert main(["score", "named.npz", "named.csv"]) == 0
    assert "warning" not in capsys.readouterr().err
