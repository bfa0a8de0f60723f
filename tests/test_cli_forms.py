"""The command-line forms docs/cli.md promises: --help, --quiet, --json of predict,
--chunk-rows, --dataset and every --k-range form (in-process, through fastem.cli.main)."""

import io
import json
import shutil
import sys
from importlib import resources

import numpy as np
import pytest

import fastem
from fastem.cli import main

X = fastem.load_old_faithful()


@pytest.fixture
def work(tmp_path, monkeypatch):
    with resources.as_file(resources.files("fastem") / "data" / "old_faithful.csv") as src:
        shutil.copy(src, tmp_path / "faithful.csv")
    np.save(tmp_path / "faithful.npy", X)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys, *args):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("command", ["fit", "predict", "score", "sample", "info", "select"])
def test_every_command_has_help_json_and_quiet(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    out, err = capsys.readouterr()
    assert exc.value.code == 0 and err == ""
    assert out.startswith(f"usage: fastem {command}")
    for option in ("--json", "--quiet"):
        assert option in out


class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(
    "extra, drawn", [((), True), (("--quiet",), False), (("-q",), False), (("--json",), False)]
)
def test_progress_bar_on_a_terminal_unless_quiet_or_json(work, monkeypatch, extra, drawn):
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(["fit", "faithful.csv", "-k", "2", "--seed", "0", "-o", "m.npz", *extra]) == 0
    assert ("EM pass" in tty.getvalue() or "init 1/1" in tty.getvalue()) == drawn, tty.getvalue()


def test_predict_json(work, capsys):
    assert cli(capsys, "fit", "faithful.csv", "-k", "2", "--seed", "0", "-o", "m.npz")[0] == 0
    status, out, err = cli(capsys, "predict", "m.npz", "faithful.csv", "-o", "l.npy", "--json")
    assert status == 0 and err == ""
    report = json.loads(out)
    labels = fastem.load(work / "m.npz").predict(X)
    assert report["command"] == "predict" and report["kind"] == "labels"
    assert report["output"] == "l.npy" and report["shape"] == [272]
    np.testing.assert_array_equal(np.load(work / "l.npy"), labels)
    assert sum(report["counts"]) == 272 and report["counts"] == np.bincount(labels).tolist()


def _model(path):
    return fastem.load(path)


def test_chunk_rows_streams_the_same_fit(work, capsys, monkeypatch):
    opened, real_source = [], fastem.source
    monkeypatch.setattr(
        fastem, "source", lambda *a, **kw: opened.append(kw) or real_source(*a, **kw)
    )
    args = ["fit", "faithful.npy", "-k", "2", "--seed", "0", "--max-iter", "20", "--tol", "0"]
    assert cli(capsys, *args, "-o", "whole.npz")[0] == 0
    assert cli(capsys, *args, "--chunk-rows", "50", "-o", "chunked.npz", "--json")[0] == 0
    assert opened[-1].get("chunk_rows") == 50 and "chunk_rows" not in opened[0]
    a, b = _model(work / "whole.npz"), _model(work / "chunked.npz")
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-10)
    status, _, err = cli(capsys, *args, "--chunk-rows", "0", "-o", "x.npz")
    assert status == 2 and "--chunk-rows" in err


def test_dataset_of_an_hdf5_file(work, capsys):
    h5py = pytest.importorskip("h5py")
    with h5py.File(work / "data.h5", "w") as f:
        f["other"] = X[:, ::-1] * 10
        f["faithful"] = X
    args = ["fit", "data.h5", "-k", "2", "--seed", "0", "--json"]
    assert cli(capsys, *args, "--dataset", "faithful", "-o", "h.npz")[0] == 0
    assert cli(capsys, *args, "--dataset", "other", "-o", "o.npz")[0] == 0
    ref = fastem.GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(_model(work / "h.npz").means_, ref.means_, rtol=1e-10)
    assert not np.allclose(np.sort(_model(work / "o.npz").means_, 0), np.sort(ref.means_, 0))
    status, _, err = cli(capsys, *args, "--dataset", "nope", "-o", "n.npz")
    assert status == 1 and "nope" in err


@pytest.mark.parametrize(
    "k_range, ks",
    [("1:3", [1, 2, 3]), ("1:5:2", [1, 3, 5]), ("2,3,5", [2, 3, 5]), ("2", [2])],
)
def test_k_range_forms(work, capsys, k_range, ks):
    status, out, err = cli(
        capsys, "select", "faithful.csv", "--k-range", k_range, "--covariance-types",
        "diag", "--seed", "0", "--json",
    )  # fmt: skip
    assert status == 0, err
    table = json.loads(out)["table"]
    assert [row["n_components"] for row in table] == ks


@pytest.mark.parametrize("k_range", ["3:1", "0:2", "a:b", "1:3:0", ""])
def test_bad_k_range(work, capsys, k_range):
    status, _, err = cli(capsys, "select", "faithful.csv", "--k-range", k_range)
    assert status == 2 and "--k-range" in err
