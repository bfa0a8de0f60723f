"""The checkpoint file itself (fastem/_checkpoint.py): what its fingerprint covers, the random
generator's state, durability, and refusing files it must not resume. Written for the mutants
that survived the first mutation run (docs/robustness.md, "Mutation testing")."""

import copy
import io
import json
import os

import numpy as np
import pytest

from fastem import GaussianMixture, _checkpoint

from .test_resume import KW, Passes, X, header, interrupt, same_fit


def test_a_resume_may_change_threads_and_verbosity(tmp_path, monkeypatch, capsys):
    """n_threads, verbose and verbose_interval do not change the result: not fingerprinted."""
    ckpt = tmp_path / "c.npz"
    interrupt(monkeypatch, ckpt, at=6)
    passes = Passes(monkeypatch)
    resumed = GaussianMixture(3, **KW, n_threads=1, verbose=2, verbose_interval=3)
    resumed.fit(X, checkpoint=ckpt)
    assert passes.n == KW["max_iter"] - 5
    monkeypatch.undo()
    same_fit(resumed, GaussianMixture(3, **KW).fit(X))


def test_array_hyper_parameters_are_fingerprinted_to_the_last_bit(tmp_path):
    means = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
    ckpt = tmp_path / "c.npz"
    GaussianMixture(3, **KW, means_init=means).fit(X, checkpoint=ckpt)
    again = GaussianMixture(3, **KW, means_init=means.tolist()).fit(X, checkpoint=ckpt)
    assert again.n_iter_ == KW["max_iter"]  # the same call (a list of the same numbers)
    # 1e-12 is below what repr() of the array prints, but it is another call
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        GaussianMixture(3, **KW, means_init=means + 1e-12).fit(X, checkpoint=ckpt)


def test_a_random_state_object_resumes(tmp_path, monkeypatch):
    """A RandomState instance (whose repr holds its address) fingerprints as the same call."""
    kw = dict(KW, random_state=None)
    ckpt = tmp_path / "c.npz"
    Passes(monkeypatch, interrupt_at=6)
    with pytest.warns(RuntimeWarning), pytest.raises(KeyboardInterrupt):
        GaussianMixture(3, **dict(kw, random_state=np.random.RandomState(0))).fit(
            X, checkpoint=ckpt
        )
    monkeypatch.undo()
    passes = Passes(monkeypatch)
    GaussianMixture(3, **dict(kw, random_state=np.random.RandomState(0))).fit(X, checkpoint=ckpt)
    assert passes.n == KW["max_iter"] - 5


def test_the_generator_state_round_trips_with_a_cached_gaussian(tmp_path):
    rng = np.random.RandomState(4)
    rng.standard_normal(3)  # an odd count: the second value of a pair is cached
    assert rng.get_state()[3] == 1 and 0 < rng.get_state()[4] < 1  # (not 1 when int()-ed)
    params = (np.ones(2), np.zeros((2, 1)), np.ones((2, 1, 1)), np.ones((2, 1, 1)))
    _checkpoint.save(
        tmp_path / "c.npz", fingerprint="f", init=0, n_iter=1, params=params,
        lower_bound=-1.0, lower_bounds=[-1.0], converged=False, rng=rng, best=None,
        done=False,
    )  # fmt: skip
    state = _checkpoint.load(tmp_path / "c.npz", "f")
    again = np.random.RandomState()
    again.set_state(state["rng_state"])
    np.testing.assert_array_equal(again.standard_normal(5), rng.standard_normal(5))
    for got, want in zip(state["params"], params):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want)


def test_stopped_right_after_the_converging_pass(tmp_path, monkeypatch):
    """The checkpoint of the last pass says converged: the resumed fit runs no more passes."""
    kw = dict(KW, tol=1e-3, max_iter=100)
    clean = GaussianMixture(3, **kw).fit(X)
    assert clean.converged_ and clean.n_iter_ < 100
    ckpt = tmp_path / "c.npz"
    real_save = _checkpoint.save

    def save_then_stop(path, **state):
        real_save(path, **state)
        if state["converged"]:
            raise KeyboardInterrupt

    monkeypatch.setattr(_checkpoint, "save", save_then_stop)
    with pytest.warns(RuntimeWarning, match="interrupted"), pytest.raises(KeyboardInterrupt):
        GaussianMixture(3, **kw).fit(X, checkpoint=ckpt)
    monkeypatch.undo()
    h = header(ckpt)
    assert h["converged"] and h["n_iter"] == clean.n_iter_ and not h["done"]
    passes = Passes(monkeypatch)
    resumed = GaussianMixture(3, **kw).fit(X, checkpoint=ckpt)
    assert passes.n == 0
    same_fit(resumed, clean)
    assert resumed.converged_


def test_the_temporary_file_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    params = (np.ones(1), np.zeros((1, 1)), np.ones((1, 1, 1)), None)
    _checkpoint.save(
        tmp_path / "c.npz", fingerprint="f", init=0, n_iter=1, params=params,
        lower_bound=-1.0, lower_bounds=[-1.0], converged=False, rng=np.random.RandomState(0),
        best=None, done=False,
    )  # fmt: skip
    # the file's data, then the rename, then the folder (where the file system allows it)
    assert events == ["fsync", "replace", "fsync"], events
    assert _checkpoint.load(tmp_path / "c.npz", "f")["n_iter"] == 1


def _write(path, header, **arrays):
    buf = io.BytesIO()
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def test_files_that_are_not_our_checkpoint_are_refused(tmp_path):
    ckpt = tmp_path / "c.npz"
    GaussianMixture(3, **KW).fit(X, checkpoint=ckpt)
    h = header(ckpt)
    key = h["fingerprint"]
    version = _checkpoint.VERSION
    _write(ckpt, dict(h, version=version + 1), rng_key=np.zeros(624, np.uint32))
    with pytest.raises(
        ValueError, match=f"is not a fastem checkpoint of version {version}; pass another"
    ):
        _checkpoint.load(ckpt, key)
    _write(ckpt, dict(h, format="other"), rng_key=np.zeros(624, np.uint32))
    with pytest.raises(ValueError, match="is not a fastem checkpoint"):
        _checkpoint.load(ckpt, key)
    # a pickled object inside is never unpickled (allow_pickle=False)
    _write(ckpt, h, rng_key=np.zeros(624, np.uint32), evil=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot be read.*delete it"):
        _checkpoint.load(ckpt, key)
    _write(ckpt, h, rng_key=np.zeros(624, np.uint32))
    with pytest.raises(
        ValueError, match="pass a new checkpoint path, or delete the file to start afresh.$"
    ):
        _checkpoint.load(ckpt, "another call")


#: One other value for every hyper-parameter that can change what ``fit`` returns.
_OTHER_VALUES = {
    "covariance_type": "diag",
    "init_params": "random",
    "max_iter": KW["max_iter"] - 1,
    "means_init": [[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]],
    "missing": "marginalize",
    "n_components": 2,
    "n_init": 2,
    "precisions_init": np.stack([np.eye(2)] * 3),
    "prior": "default",
    "random_state": 1,
    "reg_covar": 1e-4,
    "step_decay": 0.7,
    "step_offset": 3.0,
    "step_size": 0.5,
    "tol": 1e-4,
    "warm_start": True,
    "weights_init": [0.2, 0.3, 0.5],
}


@pytest.mark.parametrize("name", sorted(_OTHER_VALUES))
def test_every_hyper_parameter_that_can_change_the_fit_is_fingerprinted(tmp_path, name):
    """A checkpoint resumes only the call that wrote it (docs/robustness.md): a finished
    checkpoint of one call must not hand its result to a call with another ``reg_covar``,
    ``tol``, ... (it returned the first call's parameters when one was left out)."""
    left_out = {"verbose", "verbose_interval", "n_threads"}  # may change between runs
    assert set(GaussianMixture().get_params()) == set(_OTHER_VALUES) | left_out
    ckpt = tmp_path / "c.npz"
    GaussianMixture(3, **KW).fit(X, checkpoint=ckpt)
    other = GaussianMixture(3, **KW).set_params(**{name: _OTHER_VALUES[name]})
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        other.fit(X, checkpoint=ckpt)


def test_a_warm_start_checkpoint_belongs_to_the_parameters_it_started_from(tmp_path):
    """A warm_start fit continues the fitted parameters, so they are part of the call: a
    checkpoint written while continuing one model must not hand its result to a warm start
    from another model, nor to the next warm start of the same estimator (both got the first
    call's parameters back instead of continuing). The same start resumes."""
    ckpt = tmp_path / "c.npz"
    kw = dict(tol=0, max_iter=2, random_state=0, warm_start=True)
    gm = GaussianMixture(3, **kw).fit(X)
    start = copy.deepcopy(gm)
    gm.fit(X, checkpoint=ckpt)  # continues from ``start``; the checkpoint is done
    again = copy.deepcopy(start).fit(X, checkpoint=ckpt)  # the same call: its result
    np.testing.assert_array_equal(again.means_, gm.means_)
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        gm.fit(X, checkpoint=ckpt)  # continues from where the first call ended
    other = GaussianMixture(3, **dict(kw, init_params="random")).fit(X)
    other.set_params(init_params="kmeans")  # the same hyper-parameters, another start
    with pytest.raises(ValueError, match="other hyper-parameters or data"):
        other.fit(X, checkpoint=ckpt)


def test_a_warm_start_interrupted_by_ctrl_c_resumes_when_run_again(tmp_path, monkeypatch):
    """robustness.md: Ctrl-C leaves the estimator with the best parameters reached so far, and
    running the same call again resumes from the checkpoint. For a warm start the estimator's
    parameters changed on the way, yet the call is the one that was interrupted: it resumes
    (only the missing passes) and ends as the uninterrupted warm start does."""
    ckpt = tmp_path / "c.npz"
    kw = dict(tol=0, max_iter=8, random_state=0, warm_start=True)
    start = GaussianMixture(3, **dict(kw, max_iter=2)).fit(X).set_params(max_iter=8)
    whole = copy.deepcopy(start).fit(X)
    gm = copy.deepcopy(start)
    Passes(monkeypatch, interrupt_at=4)
    with pytest.warns(RuntimeWarning, match="interrupted"), pytest.raises(KeyboardInterrupt):
        gm.fit(X, checkpoint=ckpt)
    monkeypatch.undo()
    passes = Passes(monkeypatch)
    gm.fit(X, checkpoint=ckpt)
    assert passes.n == kw["max_iter"] - 3
    monkeypatch.undo()
    same_fit(gm, whole)
