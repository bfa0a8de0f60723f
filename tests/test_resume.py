"""Checkpoints: a resumed fit really resumes (fewer passes), restores the random state, and a
failed write never leaves a torn checkpoint; an interrupted fit keeps the best parameters.

EM is deterministic, so a fit that ignored its checkpoint and started afresh would end with the
same parameters as a resumed one. These tests therefore count the EM passes (``data.stats``
calls) and record the initial parameters each initialization draws.
"""

import json

import numpy as np
import pytest

from fastem import GaussianMixture, _checkpoint
from fastem._passes import ArrayData

from .conftest import blobs

X = blobs(3000, 2, 3, seed=4)
KW = dict(tol=0, max_iter=12, random_state=0)
ATTRS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


class Passes:
    """Counts ``ArrayData.stats`` calls (one per EM pass); raises KeyboardInterrupt on one."""

    def __init__(self, monkeypatch, interrupt_at=None):
        self.n, self.interrupt_at = 0, interrupt_at
        original = ArrayData.stats

        def stats(data, params, n_threads):
            self.n += 1
            if self.n == self.interrupt_at:
                raise KeyboardInterrupt
            return original(data, params, n_threads)

        monkeypatch.setattr(ArrayData, "stats", stats)


def header(path):
    with np.load(path, allow_pickle=False) as f:
        return json.loads(f["header"].tobytes().decode())


def interrupt(monkeypatch, path, at, **kw):
    """Run a fit with a checkpoint and stop it at EM pass ``at`` (as Ctrl-C would)."""
    Passes(monkeypatch, interrupt_at=at)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        with pytest.raises(KeyboardInterrupt):
            GaussianMixture(3, **KW, **kw).fit(X, checkpoint=path)
    monkeypatch.undo()


def same_fit(a, b):
    for name in ATTRS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=0)
    assert a.lower_bounds_ == b.lower_bounds_ and a.n_iter_ == b.n_iter_


def test_resume_runs_only_the_missing_passes(tmp_path, monkeypatch):
    ckpt = tmp_path / "fit.ckpt.npz"
    interrupt(monkeypatch, ckpt, at=8)
    h = header(ckpt)
    assert (h["init"], h["n_iter"], h["done"]) == (0, 7, False)  # passes 1-7 were saved

    passes = Passes(monkeypatch)
    resumed = GaussianMixture(3, **KW).fit(X, checkpoint=ckpt)
    assert passes.n == KW["max_iter"] - 7  # a fresh fit would run all 12
    assert header(ckpt)["done"]
    monkeypatch.undo()
    same_fit(resumed, GaussianMixture(3, **KW).fit(X))

    passes = Passes(monkeypatch)
    again = GaussianMixture(3, **KW).fit(X, checkpoint=ckpt)  # finished: no pass at all
    assert passes.n == 0
    same_fit(again, resumed)


def _record_initializations(monkeypatch):
    """The initial means each initialization draws, in order."""
    drawn = []
    original = GaussianMixture._initial_parameters

    def initial_parameters(self, data, rng, *args):
        params = original(self, data, rng, *args)
        drawn.append(params[1].copy())
        return params

    monkeypatch.setattr(GaussianMixture, "_initial_parameters", initial_parameters)
    return drawn


def test_resume_restores_the_random_state_for_later_initializations(tmp_path, monkeypatch):
    kw = dict(n_init=3, init_params="random_from_data")
    drawn = _record_initializations(monkeypatch)
    clean = GaussianMixture(3, **KW, **kw).fit(X)
    monkeypatch.undo()
    assert len(drawn) == 3 and not np.array_equal(drawn[0], drawn[1])

    ckpt = tmp_path / "fit.ckpt.npz"
    interrupt(monkeypatch, ckpt, at=KW["max_iter"] + 4, **kw)  # inside initialization 1
    h = header(ckpt)
    assert (h["init"], h["n_iter"]) == (1, 3)

    resumed_draws = _record_initializations(monkeypatch)
    passes = Passes(monkeypatch)
    resumed = GaussianMixture(3, **KW, **kw).fit(X, checkpoint=ckpt)
    # initialization 1 goes on from its pass 3; only initialization 2 draws, and it draws
    # what the uninterrupted fit drew (a generator restarted from the seed would draw drawn[0])
    assert passes.n == (KW["max_iter"] - 3) + KW["max_iter"]
    assert len(resumed_draws) == 1
    np.testing.assert_array_equal(resumed_draws[0], drawn[2])
    same_fit(resumed, clean)


def test_resume_between_initializations(tmp_path, monkeypatch):
    """Stopped right after initialization 0: the next run starts at initialization 1."""
    kw = dict(n_init=2, init_params="random_from_data")
    drawn = _record_initializations(monkeypatch)
    clean = GaussianMixture(3, **KW, **kw).fit(X)
    monkeypatch.undo()
    ckpt = tmp_path / "fit.ckpt.npz"
    interrupt(monkeypatch, ckpt, at=KW["max_iter"] + 1, **kw)
    h = header(ckpt)
    assert (h["init"], h["n_iter"], h["done"]) == (1, 0, False)
    resumed_draws = _record_initializations(monkeypatch)
    passes = Passes(monkeypatch)
    resumed = GaussianMixture(3, **KW, **kw).fit(X, checkpoint=ckpt)
    assert passes.n == KW["max_iter"]
    np.testing.assert_array_equal(resumed_draws[0], drawn[1])
    same_fit(resumed, clean)


def test_keyboard_interrupt_keeps_the_best_initialization(monkeypatch):
    """Stopped one pass into initialization 1: the finished initialization 0 is better."""
    first = GaussianMixture(3, **KW).fit(X)  # initialization 0 alone
    Passes(monkeypatch, interrupt_at=KW["max_iter"] + 2)
    gm = GaussianMixture(3, n_init=2, **KW)
    with pytest.warns(RuntimeWarning, match=f"interrupted after {KW['max_iter']}"):
        with pytest.raises(KeyboardInterrupt):
            gm.fit(X)
    assert gm.n_iter_ == KW["max_iter"] and gm.lower_bound_ == first.lower_bound_
    for name in ATTRS:
        np.testing.assert_array_equal(getattr(gm, name), getattr(first, name))


def test_keyboard_interrupt_in_the_first_run_keeps_its_last_pass(monkeypatch):
    Passes(monkeypatch, interrupt_at=6)
    gm = GaussianMixture(3, **KW)
    with pytest.warns(RuntimeWarning, match="interrupted after 5"):
        with pytest.raises(KeyboardInterrupt):
            gm.fit(X)
    monkeypatch.undo()
    five = GaussianMixture(3, **dict(KW, max_iter=5)).fit(X)
    assert gm.n_iter_ == 5 and gm.lower_bounds_ == five.lower_bounds_
    np.testing.assert_array_equal(gm.means_, five.means_)
    gm.predict(X)


def test_a_failed_checkpoint_write_leaves_the_previous_one(tmp_path, monkeypatch):
    """ "Never a torn checkpoint": a write that dies half-way keeps the old file intact."""
    ckpt = tmp_path / "fit.ckpt.npz"
    interrupt(monkeypatch, ckpt, at=5)
    before = ckpt.read_bytes()
    real_savez = np.savez
    calls = {"n": 0}

    def dying_savez(f, **arrays):
        calls["n"] += 1
        if calls["n"] == 2:  # the second write: half of it, then the disk is full
            real_savez(f, **arrays)
            f.truncate(f.tell() // 2)
            raise OSError(28, "No space left on device")
        real_savez(f, **arrays)

    monkeypatch.setattr(_checkpoint.np, "savez", dying_savez)
    with pytest.raises(OSError, match="No space"):
        GaussianMixture(3, **KW).fit(X, checkpoint=ckpt)
    monkeypatch.undo()
    assert calls["n"] == 2
    # the write after pass 5 landed; the one after pass 6 died: pass 5's checkpoint is whole
    h = header(ckpt)
    assert (h["init"], h["n_iter"]) == (0, 5) and ckpt.read_bytes() != before
    assert [p.name for p in tmp_path.iterdir()] == [ckpt.name]  # no temporary left behind
    same_fit(GaussianMixture(3, **KW).fit(X, checkpoint=ckpt), GaussianMixture(3, **KW).fit(X))


@pytest.mark.parametrize(
    "kw", [dict(covariance_type="EVE"), dict(covariance_type="VEV", prior="default")]
)
def test_resume_of_an_iterative_mclust_model(tmp_path, monkeypatch, kw):
    """The iterative M-steps warm-start from the checkpoint's covariances: the same fit."""
    ckpt = tmp_path / "fit.ckpt.npz"
    interrupt(monkeypatch, ckpt, at=6, **kw)
    passes = Passes(monkeypatch)
    resumed = GaussianMixture(3, **KW, **kw).fit(X, checkpoint=ckpt)
    assert passes.n == KW["max_iter"] - 5
    monkeypatch.undo()
    same_fit(resumed, GaussianMixture(3, **KW, **kw).fit(X))


def test_a_prior_is_fingerprinted_to_the_last_bit(tmp_path):
    """A dict prior was hashed by its repr, which rounds to 8 digits and elides arrays of more
    than 1000 values: a checkpoint written with one prior resumed a fit with another and
    returned the first prior's result."""
    X = blobs(300, 33, 2, seed=4)
    kw = dict(n_components=2, random_state=0, max_iter=3)
    path = tmp_path / "c.npz"
    scale = np.eye(33)
    first = GaussianMixture(prior={"scale": scale, "dof": 35.0}, **kw).fit(X, checkpoint=path)
    other = scale.copy()
    other[16, 16] = 50.0  # inside the repr's "..."
    close = {"shrinkage": 1.0, "mean": X.mean(axis=0) * (1 + 1e-9)}
    for prior in ({"scale": other, "dof": 35.0}, close):
        with pytest.raises(ValueError, match="other hyper-parameters or data"):
            GaussianMixture(prior=prior, **kw).fit(X, checkpoint=path)
    same = GaussianMixture(prior={"scale": scale.copy(), "dof": 35}, **kw).fit(X, checkpoint=path)
    np.testing.assert_array_equal(same.means_, first.means_)  # the same prior (35 an int) resumes


_INTERRUPTED_IMPORT = """
import signal, sys
# a process started by one that ignores SIGINT (a pytest-xdist worker) inherits SIG_IGN and
# Python then installs no KeyboardInterrupt handler: give it the handler a terminal's has
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
import fastem


class Interrupt:  # Ctrl-C while {module} is being imported
    def find_spec(self, name, path=None, target=None):
        if name == "{module}":
            sys.meta_path.remove(self)
            signal.raise_signal(signal.SIGINT)
        return None


X = np.random.default_rng(0).normal(size=(300, 2))
{before}
sys.meta_path.insert(0, Interrupt())
try:
    fastem.GaussianMixture(2, random_state=0).fit(X)
except KeyboardInterrupt:
    print("interrupted")
print("{module}" in sys.modules)  # whole: the import ended before the Ctrl-C was delivered
print(fastem.GaussianMixture(2, random_state=0, max_iter=5).fit(X).n_iter_)
"""


@pytest.mark.parametrize(
    "module, before",
    [("numba.core.types", "fastem.GaussianMixture"), ("sklearn.utils.validation", "")],
    ids=["numba in the first fit", "scikit-learn at the first use of a name"],
)
def test_ctrl_c_during_a_first_import_stops_the_call_and_breaks_nothing(module, before):
    """fastem imports Numba inside the first ``fit`` of a process (and scikit-learn at the
    first use of a public name). A Ctrl-C there stopped the import half-way and left the
    package half-initialized: every later fit in the process failed with ``AttributeError:
    module 'numba' has no attribute 'core'``. Those imports hold Ctrl-C off, deliver it as
    soon as they end (the call stops with ``KeyboardInterrupt``, the module is imported whole),
    and the next fit works. (A Ctrl-C in the middle of scikit-learn's import left pandas
    half-initialized once, at a place this test cannot reach; here the import is stopped
    half-way without the fix and the next fit imports it again.)"""
    import os
    import subprocess
    import sys

    from .conftest import checkout_env

    code = _INTERRUPTED_IMPORT.format(module=module, before=before)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=checkout_env(os.environ.get("NUMBA_CACHE_DIR")),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["interrupted", "True", "5"], out.stdout
