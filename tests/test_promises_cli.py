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
