"""Model files: bit-identical round trips, and refusal of anything unsafe or altered."""

import io
import json
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest

import fastem
from fastem.io import FORMAT_VERSION

X = fastem.load_old_faithful()


def _fit(ct="full", **kw):
    return fastem.GaussianMixture(2, covariance_type=ct, random_state=0, **kw).fit(X)


def _rewrite(src, dst, change):
    """Copy model file ``src`` to ``dst`` with ``change(dict of arrays)`` applied."""
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    with open(dst, "wb") as out:
        np.savez(out, **arrays)


def _meta(arrays):
    return json.loads(str(arrays["__metadata__"]))


def _set_meta(arrays, meta):
    arrays["__metadata__"] = np.array(json.dumps(meta))


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_round_trip_bit_identical(tmp_path, ct):
    gm = _fit(ct)
    path = tmp_path / "m.npz"
    assert fastem.save(gm, path) == str(path)
    again = fastem.load(path)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        a, b = getattr(gm, name), getattr(again, name)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes(), name
    assert again.get_params() == gm.get_params()
    assert again.lower_bound_ == gm.lower_bound_
    assert again.lower_bounds_ == gm.lower_bounds_
    assert (again.converged_, again.n_iter_, again.n_features_in_) == (
        gm.converged_,
        gm.n_iter_,
        gm.n_features_in_,
    )
    assert again.score_samples(X).tobytes() == gm.score_samples(X).tobytes()
    assert np.array_equal(again.sample(5)[0], gm.sample(5)[0])


def test_round_trip_array_hyperparameters_and_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["eruptions", "waiting"])
    gm = fastem.GaussianMixture(2, means_init=[[2, 55], [4.5, 80]], random_state=1).fit(df)
    fastem.save(gm, tmp_path / "m.npz")
    again = fastem.load(tmp_path / "m.npz")
    assert np.array_equal(again.means_init, gm.means_init)
    assert list(again.feature_names_in_) == ["eruptions", "waiting"]


def test_estimator_pickle_round_trips():
    gm = _fit()
    again = pickle.loads(pickle.dumps(gm))
    assert again.means_.tobytes() == gm.means_.tobytes()
    assert np.array_equal(again.predict(X), gm.predict(X))


def test_save_refuses_unfitted(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        fastem.save(fastem.GaussianMixture(2), tmp_path / "m.npz")


def test_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    gm = _fit()
    fastem.save(gm, tmp_path / "good.npz")
    _rewrite(
        tmp_path / "good.npz",
        path,
        lambda a: a.__setitem__("weights_", np.array([os.system], dtype=object)),
    )
    with pytest.raises(ValueError, match="object array"):
        fastem.load(path)


def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(_fit()))
    with pytest.raises(ValueError, match="pickled"):
        fastem.load(path)


def test_truncated_file(tmp_path):
    fastem.save(_fit(), tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        (tmp_path / "t.npz").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated or corrupt"):
            fastem.load(tmp_path / "t.npz")


def test_not_a_model_file(tmp_path):
    (tmp_path / "a.npz").write_text("eruptions,waiting\n1,2\n")
    with pytest.raises(ValueError, match="not a fastem model file"):
        fastem.load(tmp_path / "a.npz")
    np.save(tmp_path / "b.npy", np.ones(3))
    with pytest.raises(ValueError, match="single .npy array"):
        fastem.load(tmp_path / "b.npy")
    np.savez(tmp_path / "c.npz", x=np.ones(3))
    with pytest.raises(ValueError, match="no fastem metadata"):
        fastem.load(tmp_path / "c.npz")
    with pytest.raises(FileNotFoundError):
        fastem.load(tmp_path / "missing.npz")


def _version(v):
    def change(a):
        meta = _meta(a)
        meta["format_version"] = v
        _set_meta(a, meta)

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_version(FORMAT_VERSION + 1), "newer than this fastem reads"),
        (_version(0), "unsupported model format version 0"),
        (_version("1"), "expected an integer"),
        (lambda a: a.pop("covariances_"), "missing entries"),
        (lambda a: a.__setitem__("extra", np.zeros(2)), "unexpected entries"),
        (lambda a: a.__setitem__("means_", a["means_"][:1]), "means_ has shape"),
        (lambda a: a.__setitem__("means_", a["means_"].astype(np.float32)), "dtype float32"),
        (lambda a: a["means_"].__setitem__((0, 0), np.nan), "NaN or infinity"),
        (lambda a: a.__setitem__("weights_", a["weights_"] * 2), "sum to 1"),
        # summing to 1, one negative: NaN scores for every row
        (lambda a: a.__setitem__("weights_", np.array([1.25, -0.25])), "must be non-negative"),
        (
            lambda a: a.__setitem__("precisions_cholesky_", a["precisions_cholesky_"] * 1.01),
            "precisions_cholesky_ does not match",
        ),
        (
            lambda a: a.__setitem__("precisions_", a["precisions_"] * 1.01),
            "precisions_ does not match",
        ),
        (lambda a: a.__setitem__("__metadata__", np.array("{not json")), "not valid JSON"),
    ],
)
def test_tampered_files(tmp_path, change, message):
    fastem.save(_fit(), tmp_path / "m.npz")
    _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match=message):
        fastem.load(tmp_path / "bad.npz")


def test_tampered_hyperparameter(tmp_path):
    fastem.save(_fit(), tmp_path / "m.npz")

    def change(a):
        meta = _meta(a)
        meta["params"]["n_components"] = 3
        _set_meta(a, meta)

    _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match="n_components"):
        fastem.load(tmp_path / "bad.npz")


def test_archive_is_plain_npz(tmp_path):
    fastem.save(_fit(), tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        assert "__metadata__.npy" in z.namelist()
        raw = z.read("__metadata__.npy")
    meta = json.loads(str(np.load(io.BytesIO(raw), allow_pickle=False)))
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["fastem_version"] == fastem.__version__
    assert meta["params"]["n_components"] == 2


def test_unknown_hyperparameter_refused(tmp_path):
    fastem.save(_fit(), tmp_path / "m.npz")

    def change(a):
        meta = _meta(a)
        meta["params"]["run_this"] = "os.system('rm -rf /')"
        _set_meta(a, meta)

    _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        fastem.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("name, factor", [("covariances", 1e-80), ("means", 1e300)])
def test_a_float32_model_whose_values_leave_float32_is_refused(tmp_path, name, factor):
    """The load checks ran on the file's float64 arrays, then cast them to the model's float32:
    covariances scaled consistently by 1e-80 loaded as zeros (precisions infinite, every score
    NaN), means of 1e300 as infinities."""
    gm = fastem.GaussianMixture(2, random_state=0).fit(X.astype(np.float32))
    fastem.save(gm, tmp_path / "m.npz")

    def change(arrays):
        if name == "means":
            arrays["means_"] = arrays["means_"] * factor
            return
        from fastem import _stats

        arrays["covariances_"] = arrays["covariances_"] * factor  # consistently, in float64
        arrays["precisions_cholesky_"] = _stats.precision_cholesky(arrays["covariances_"], "full")
        arrays["precisions_"] = _stats.precisions_from_cholesky(
            arrays["precisions_cholesky_"], "full"
        )

    _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", change)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (NumPy's cast warning is not the message)
        with pytest.raises(ValueError, match=rf"{name}_ does not fit float32.*file was altered"):
            fastem.load(tmp_path / "bad.npz")


def _bayesian():
    return fastem.BayesianGaussianMixture(n_components=2, random_state=0).fit(X)


@pytest.mark.parametrize("model", [_fit, _bayesian], ids=["gm", "bgm"])
@pytest.mark.parametrize("bad", [-1, 10**9, 2.5, True, None])
def test_a_bad_n_iter_is_named(tmp_path, model, bad):
    """n_iter_ sizes the lower_bounds_ entry's limit; an altered one was reported as
    "entry 'lower_bounds_' declares shape (6,), more than it can hold"."""
    fastem.save(model(), tmp_path / "m.npz")

    def change(a):
        meta = _meta(a)
        meta["fitted"]["n_iter_"] = bad
        _set_meta(a, meta)

    _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match=r"fitted attribute 'n_iter_' must be an integer in \["):
        fastem.load(tmp_path / "bad.npz")


@pytest.mark.parametrize(
    "model, name, value, message",
    [
        (_fit, "tol", -1, "tol must be a finite number >= 0.0, got -1"),
        (_fit, "reg_covar", "x", "reg_covar must be a finite number"),
        (_fit, "max_iter", -5, "max_iter must be an integer >= 0"),
        (_fit, "n_threads", 0, "n_threads must be None"),
        (_fit, "missing", "banana", "missing must be one of"),
        (_fit, "step_decay", 2.0, "step_decay"),
        (_bayesian, "tol", -1, "tol must be a finite number >= 0.0, got -1"),
        (_bayesian, "weight_concentration_prior_type", "x", "weight_concentration_prior_type"),
        (_bayesian, "mean_precision_prior", -1.0, "mean_precision_prior must be None or"),
    ],
)
def test_an_altered_hyperparameter_is_refused_at_load(tmp_path, model, name, value, message):
    """A hyper-parameter out of range loaded (and predicted) silently: it failed only at a
    later fit, or (missing) at predict, with no word of the file."""
    fastem.save(model(), tmp_path / "m.npz")

    def change(a):
        meta = _meta(a)
        meta["params"][name] = value
        _set_meta(a, meta)

    _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match=rf"bad\.npz: invalid hyper-parameter: {message}.*altered"):
        fastem.load(tmp_path / "bad.npz")


def test_a_zip_entry_of_an_unknown_version_is_refused_clearly(tmp_path):
    """A flipped bit in the central directory's "version needed to extract" made zipfile raise
    NotImplementedError ('zip file version 10.9') out of fastem.load (found by the corruption
    property test): it is a corrupt file like any other."""
    fastem.save(_fit(), tmp_path / "m.npz")
    raw = bytearray((tmp_path / "m.npz").read_bytes())
    at = raw.index(b"PK\x01\x02")  # the first central directory entry
    raw[at + 6 : at + 8] = (109).to_bytes(2, "little")  # version needed to extract: 10.9
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"bad\.npz cannot be read .*zip file version 10\.9"):
        fastem.load(tmp_path / "bad.npz")


def _dying_savez(monkeypatch, exc, on_call=1):
    """``np.savez`` of model files that writes half of its archive, then raises ``exc`` (a
    full disk, Ctrl-C) on call ``on_call``."""
    from fastem import _model_file

    real, calls = np.savez, {"n": 0}

    def savez(f, **arrays):
        calls["n"] += 1
        real(f, **arrays)
        if calls["n"] == on_call:
            f.truncate(f.tell() // 2)
            raise exc

    monkeypatch.setattr(_model_file.np, "savez", savez)
    return calls


@pytest.mark.parametrize(
    "exc", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["full", "ctrl-c"]
)
def test_a_save_that_fails_half_way_keeps_the_previous_model_file(tmp_path, monkeypatch, exc):
    """save()'s promise: nothing a user saved is lost when a write fails."""
    path = tmp_path / "m.npz"
    fastem.save(_fit("diag"), path)
    before = path.read_bytes()
    _dying_savez(monkeypatch, exc)
    with pytest.raises(type(exc)):
        fastem.save(_fit("full"), path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]
    assert fastem.load(path).covariance_type == "diag"


def test_a_fit_online_checkpoint_write_interrupted_keeps_the_previous_one(tmp_path, monkeypatch):
    """Ctrl-C while fit_online writes its third checkpoint: the second stays whole, and
    running the call again resumes from it to the uninterrupted pass's parameters."""
    ck = tmp_path / "online.npz"
    calls = _dying_savez(monkeypatch, KeyboardInterrupt(), on_call=3)
    with pytest.raises(KeyboardInterrupt):
        fastem.GaussianMixture(2, random_state=0).fit_online(
            X, batch_rows=50, checkpoint=ck, checkpoint_every=1
        )
    monkeypatch.undo()
    assert calls["n"] == 3 and os.listdir(tmp_path) == ["online.npz"]
    assert fastem.load(ck).n_rows_seen_ == 100
    whole = fastem.GaussianMixture(2, random_state=0).fit_online(X, batch_rows=50)
    again = fastem.GaussianMixture(2, random_state=0).fit_online(X, batch_rows=50, checkpoint=ck)
    assert again.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(again.means_, whole.means_, rtol=1e-12)


@pytest.mark.parametrize("model", ["gm", "bgm"])
def test_a_model_file_cut_at_any_byte_is_refused_naming_it(tmp_path, model):
    """docs/robustness.md: a truncated model file is refused with a ValueError that names it,
    wherever it was cut (the online state of a partial_fit included)."""
    if model == "gm":
        m = _fit("full").partial_fit(X[:50])
    else:
        m = fastem.BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    fastem.save(m, tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    cut_path = tmp_path / "cut.npz"
    wrong = []
    for cut in range(len(data)):  # (pytest.raises in the loop: 10 times slower)
        cut_path.write_bytes(data[:cut])
        try:
            fastem.load(cut_path)
            wrong.append((cut, "loaded"))
        except ValueError as e:
            if "cut.npz" not in str(e):
                wrong.append((cut, str(e)))
    assert not wrong


@pytest.mark.parametrize("model", [_fit, _bayesian], ids=["gm", "bgm"])
def test_a_file_of_a_newer_format_says_to_upgrade(tmp_path, model):
    """A Bayesian model file from a newer fastem said only 'unsupported model format version
    2 (this fastem reads 1)'; as a GaussianMixture file it now names the fastem that wrote it
    and says to upgrade."""
    fastem.save(model(), tmp_path / "m.npz")
    _rewrite(tmp_path / "m.npz", tmp_path / "new.npz", _version(FORMAT_VERSION + 1))
    newer = r"new\.npz: model format version 2 was written by fastem .*, newer than this "
    with pytest.raises(ValueError, match=newer + r"fastem reads \(version 1\); upgrade fastem"):
        fastem.load(tmp_path / "new.npz")
    _rewrite(tmp_path / "m.npz", tmp_path / "old.npz", _version(True))
    with pytest.raises(ValueError, match="format_version is True, expected an integer"):
        fastem.load(tmp_path / "old.npz")
