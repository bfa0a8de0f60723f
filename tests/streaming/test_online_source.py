"""GaussianMixture.fit_online: one pass of stepwise EM over a source (issue 16, item 2)."""

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [4.0, 1.0], [0.5, 5.0]])
    return centres[rng.integers(0, 3, 5000)] + rng.normal(size=(5000, 2))


def _manual(X, batch_rows, w=None, **kw):
    gm = GaussianMixture(3, random_state=0, **kw)
    for r0 in range(0, len(X), batch_rows):
        gm.partial_fit(
            X[r0 : r0 + batch_rows], sample_weight=None if w is None else w[r0 : r0 + batch_rows]
        )
    return gm


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_one_pass_equals_partial_fit_on_the_same_batches(X, tmp_path, covariance_type):
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    np.save(tmp_path / "xw.npy", np.column_stack([X, w]))
    src = fastem.source(tmp_path / "xw.npy", chunk_rows=333, weight_column=-1)  # 333: not 700
    gm = GaussianMixture(3, random_state=0, covariance_type=covariance_type)
    gm.fit_online(src, batch_rows=700)
    ref = _manual(X, 700, w, covariance_type=covariance_type)
    # equal up to the alignment-dependent rounding of NumPy's sums (1 ulp seen)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-12)
    assert gm.n_rows_seen_ == len(X) and gm.n_iter_ == ref.n_iter_ == 8


def test_default_batches_are_10000_rows(X):
    """README and docs/online.md: fit_online cuts the source "into batches of batch_rows rows
    (10,000 by default)" (every other test passed batch_rows, so a default of 5,000 passed)."""
    Y = np.concatenate([X] * 5)  # 25,000 rows: batches of 10,000, 10,000 and 5,000
    gm = GaussianMixture(3, random_state=0).fit_online(Y)
    ref = _manual(Y, 10_000)
    assert gm.n_iter_ == ref.n_iter_ == 3 and gm.n_rows_seen_ == len(Y)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12, atol=1e-15)


def test_endless_callable_with_stopping_rules(X):
    def forever():
        while True:
            yield X[:1000]

    gm = GaussianMixture(3, random_state=0).fit_online(forever, batch_rows=300, max_rows=2000)
    assert gm.n_rows_seen_ == 2000 and gm.n_iter_ == 7  # 6 x 300 + 200

    seen = []

    def stop(model, rows):
        seen.append((rows, model.lower_bound_))
        return rows >= 1500

    gm = GaussianMixture(3, random_state=0).fit_online(forever, batch_rows=500, callback=stop)
    assert [r for r, _ in seen] == [500, 1000, 1500] and gm.n_rows_seen_ == 1500


def test_fresh_start_unless_warm_start(X):
    a = GaussianMixture(3, random_state=0).fit_online(X, batch_rows=1000)
    first = a.means_.copy()
    a.fit_online(X, batch_rows=1000)
    np.testing.assert_array_equal(a.means_, first)  # as fit: starts afresh
    a.warm_start = True
    a.fit_online(X, batch_rows=1000)
    assert a.n_iter_ == 10 and not np.array_equal(a.means_, first)


def test_checkpoint_resumes_after_the_rows_used(X, tmp_path):
    np.save(tmp_path / "x.npy", X)
    ck = tmp_path / "online.npz"
    whole = GaussianMixture(3, random_state=0).fit_online(tmp_path / "x.npy", batch_rows=400)
    stopped = GaussianMixture(3, random_state=0)
    stopped.fit_online(
        tmp_path / "x.npy", batch_rows=400, checkpoint=ck, checkpoint_every=1,
        callback=lambda m, rows: rows >= 2000,
    )  # fmt: skip
    assert fastem.load(ck).n_iter_ == 5
    again, seen = GaussianMixture(3, random_state=0), []
    again.fit_online(
        tmp_path / "x.npy", batch_rows=400, checkpoint=ck,
        callback=lambda m, rows: seen.append(rows),
    )  # fmt: skip
    # online EM is deterministic too, so a run that ignored the checkpoint and started afresh
    # would end the same: the resumed run updates only on the rows after the 2,000 used
    assert seen[0] == 2400 and again.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(again.means_, whole.means_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(again.covariances_, whole.covariances_, rtol=1e-12)
    assert again.n_rows_seen_ == len(X)
    other = GaussianMixture(3, random_state=0, step_decay=0.9)
    with pytest.raises(ValueError, match="not written by fit_online with these"):
        other.fit_online(tmp_path / "x.npy", batch_rows=400, checkpoint=ck)


def test_checkpoints_are_on_disk_before_they_replace_the_last(X, tmp_path, monkeypatch):
    """fit_online's checkpoints are as durable as fit's: each is flushed to disk before it
    replaces the last one, and the folder after (a power loss leaves one of them whole)."""
    import os

    events, real_fsync, real_replace = [], os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    ck = tmp_path / "online.npz"
    GaussianMixture(3, random_state=0).fit_online(
        X, batch_rows=400, checkpoint=ck, checkpoint_every=2, max_rows=2000
    )
    writes = events.count("replace")
    assert writes >= 2 and events == ["fsync", "replace", "fsync"] * writes, events
    assert fastem.load(ck).n_iter_ == 5


def test_a_checkpoint_resumes_only_with_its_batch_rows(X, tmp_path):
    """The batches after the rows already used depend on batch_rows: a resume with another
    one ended where neither uninterrupted pass ends, silently. The checkpoint records it; a
    checkpoint written before it was recorded (no batch_rows) still resumes."""
    import json

    np.save(tmp_path / "x.npy", X)
    ck = tmp_path / "online.npz"
    stop = lambda m, rows: rows >= 2000  # noqa: E731
    GaussianMixture(3, random_state=0).fit_online(
        tmp_path / "x.npy", batch_rows=400, checkpoint=ck, checkpoint_every=1, callback=stop
    )
    with pytest.raises(ValueError, match=r"written by fit_online with batch_rows=400; resume wi"):
        GaussianMixture(3, random_state=0).fit_online(
            tmp_path / "x.npy", batch_rows=500, checkpoint=ck
        )
    assert fastem.load(ck).n_iter_ == 5  # refused before anything was written
    with np.load(ck) as f:  # as written before batch_rows was recorded
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__metadata__"]))
    del meta["online"]["batch_rows"]
    arrays["__metadata__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **arrays)
    seen = []
    GaussianMixture(3, random_state=0).fit_online(
        tmp_path / "x.npy", batch_rows=500, checkpoint=tmp_path / "old.npz",
        callback=lambda m, rows: seen.append(rows),
    )  # fmt: skip
    assert seen[0] == 2500


def test_a_resume_after_a_batch_of_weight_zero_ends_as_the_uninterrupted_pass(X, tmp_path):
    """A batch whose rows all weigh 0 updates nothing, so the running statistics do not count
    its rows: a resume that skipped only the rows they counted (n_rows) applied the batch
    after it twice, and ended elsewhere than the uninterrupted pass, silently."""
    w = np.ones(len(X))
    w[400:800] = 0.0  # the second batch of 400 weighs nothing
    ck = tmp_path / "online.npz"
    whole = GaussianMixture(3, random_state=0).fit_online(X, w, batch_rows=400)

    class Stop(Exception):
        pass

    def interrupt(model, rows):
        if rows >= 2000:
            raise Stop

    with pytest.raises(Stop):
        GaussianMixture(3, random_state=0).fit_online(
            X, w, batch_rows=400, checkpoint=ck, checkpoint_every=1, callback=interrupt
        )
    seen = []
    again = GaussianMixture(3, random_state=0).fit_online(
        X, w, batch_rows=400, checkpoint=ck, callback=lambda m, rows: seen.append(rows)
    )
    assert seen[0] == 2400 and again.n_iter_ == whole.n_iter_ == 12
    np.testing.assert_allclose(again.means_, whole.means_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(again.covariances_, whole.covariances_, rtol=1e-12)
    assert again.n_rows_seen_ == whole.n_rows_seen_ == len(X)


def _public(model):
    return {k for k in vars(model) if k.endswith("_") and not k.startswith("_")}


def test_a_loaded_checkpoint_or_model_has_the_attributes_of_the_run(X, tmp_path):
    """fastem.load of a fit_online checkpoint, or of a model saved after fit_online, lacked
    n_rows_seen_: a loaded model must expose what the one saved did."""
    ck = tmp_path / "online.npz"
    gm = GaussianMixture(3, random_state=0)
    gm.fit_online(X, batch_rows=400, checkpoint=ck, checkpoint_every=2,
                  callback=lambda m, rows: rows >= 2000)  # fmt: skip
    loaded = fastem.load(ck)
    assert _public(loaded) == _public(gm) and loaded.n_rows_seen_ == gm.n_rows_seen_ == 2000
    fastem.save(gm, tmp_path / "m.npz")
    assert fastem.load(tmp_path / "m.npz").n_rows_seen_ == 2000
    # partial_fit alone sets no n_rows_seen_, and its file adds none
    part = GaussianMixture(3, random_state=0).partial_fit(X[:500])
    fastem.save(part, tmp_path / "p.npz")
    assert _public(fastem.load(tmp_path / "p.npz")) == _public(part)


def test_fit_after_fit_online_has_the_attributes_of_a_fit(X, tmp_path):
    """fit() after fit_online kept the online pass's n_rows_seen_, an attribute no fit sets
    (and its model file dropped it, so the saved and loaded models differed)."""
    gm = GaussianMixture(3, random_state=0).fit_online(X, batch_rows=1000)
    gm.fit(X)
    fresh = GaussianMixture(3, random_state=0).fit(X)
    assert _public(gm) == _public(fresh)
    fastem.save(gm, tmp_path / "m.npz")
    assert _public(fastem.load(tmp_path / "m.npz")) == _public(gm)


def test_checkpoint_every_n_batches_and_at_the_end(X, tmp_path):
    """online.md: the checkpoint is saved "every checkpoint_every batches (...) and at the end":
    a pass killed after 5 batches leaves the state after batch 4 (every 2), and a pass that
    ends writes its final state whatever checkpoint_every is."""
    np.save(tmp_path / "x.npy", X)
    ck = tmp_path / "online.npz"

    def kill(model, rows):
        if rows >= 2000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        GaussianMixture(3, random_state=0).fit_online(
            tmp_path / "x.npy", batch_rows=400, checkpoint=ck, checkpoint_every=2, callback=kill
        )
    assert fastem.load(ck).n_iter_ == 4
    whole = GaussianMixture(3, random_state=0).fit_online(
        tmp_path / "x.npy", batch_rows=400, checkpoint=tmp_path / "end.npz"
    )  # fewer batches than the default checkpoint_every = 100
    end = fastem.load(tmp_path / "end.npz")
    assert end.n_iter_ == whole.n_iter_ == -(-len(X) // 400)
    np.testing.assert_array_equal(end.means_, whole.means_)


def test_checkpoint_with_warm_start_is_refused_and_changes_nothing(X, tmp_path):
    """docs/online.md: a checkpoint resumes from the start of the source, so not with
    warm_start=True: refused before any row is read, the fitted model kept, no file written."""
    gm = GaussianMixture(3, random_state=0).fit_online(X, batch_rows=1000)
    before = (gm.means_.copy(), gm.n_iter_, gm.n_rows_seen_)
    gm.warm_start = True
    with pytest.raises(ValueError, match="warm_start=True"):
        gm.fit_online(X, batch_rows=1000, checkpoint=tmp_path / "online.npz")
    np.testing.assert_array_equal(gm.means_, before[0])
    assert (gm.n_iter_, gm.n_rows_seen_) == before[1:]
    assert not (tmp_path / "online.npz").exists()


def test_progress_lines(X, capsys):
    GaussianMixture(3, random_state=0, verbose=2, verbose_interval=2).fit_online(X, batch_rows=1000)
    out = capsys.readouterr().out
    assert "Batch 2\t rows 2000\t mean log-likelihood" in out and "time lapse" in out
    assert "Online pass done: 5000 rows" in out


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"batch_rows": 0}, "batch_rows must be an integer >= 1"),
        ({"max_rows": 0}, "max_rows must be None"),
        ({"checkpoint_every": 1.5}, "checkpoint_every must be"),
    ],
)
def test_bad_arguments(X, kw, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(3).fit_online(X, **kw)


def test_nan_in_a_source_names_the_row(X, tmp_path):
    X = X.copy()
    X[1234, 1] = np.nan
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(ValueError, match="1234"):
        GaussianMixture(3, random_state=0).fit_online(tmp_path / "x.npy", batch_rows=500)
    # docs/online.md: the error stops the pass and the model keeps the updates before it;
    # n_rows_seen_ says how many rows they used (it was left unset)
    gm = GaussianMixture(3, random_state=0)
    with pytest.raises(ValueError, match="1234"):
        gm.fit_online(fastem.source(tmp_path / "x.npy", chunk_rows=500), batch_rows=500)
    ref = _manual(X[:1000], 500)
    assert gm.n_iter_ == 2 and gm.n_rows_seen_ == 1000
    np.testing.assert_array_equal(gm.means_, ref.means_)
    # a pass that fails before its first update leaves a fitted model as it was (the fresh
    # start had already deleted it): the bad row lies in the first chunk read
    fitted = GaussianMixture(3, random_state=0).fit_online(X[:1000], batch_rows=500)
    before = fitted.means_.copy()
    with pytest.raises(ValueError, match="1234"):
        fitted.fit_online(tmp_path / "x.npy", batch_rows=500)
    np.testing.assert_array_equal(fitted.means_, before)
    assert fitted.n_rows_seen_ == 1000 and fitted.n_iter_ == 2


def test_other_width_with_warm_start_is_refused(X):
    gm = GaussianMixture(3, random_state=0, warm_start=True).fit_online(X, batch_rows=1000)
    before = gm.means_.copy()
    with pytest.raises(ValueError, match="3 features, but the model continued from has 2"):
        gm.fit_online(np.column_stack([X, X[:, :1]]), batch_rows=1000)
    np.testing.assert_array_equal(gm.means_, before)
    assert gm.n_features_in_ == 2


def test_partial_fit_refuses_a_source(X, tmp_path):
    np.save(tmp_path / "x.npy", X)
    gm = GaussianMixture(3, random_state=0)
    for bad in (str(tmp_path / "x.npy"), fastem.source(tmp_path / "x.npy")):
        with pytest.raises(TypeError, match="fit_online"):
            gm.partial_fit(bad)
    assert not hasattr(gm, "means_")


def test_marginalized_nan_in_a_source(X, tmp_path):
    X = X.copy()
    X[np.random.default_rng(2).uniform(size=X.shape) < 0.05] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    np.save(tmp_path / "x.npy", X)
    gm = GaussianMixture(3, random_state=0, missing="marginalize")
    gm.fit_online(tmp_path / "x.npy", batch_rows=1000)
    ref = _manual(X, 1000, missing="marginalize")
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-12)


def test_a_missing_file_leaves_the_fitted_model(X, tmp_path):
    gm = GaussianMixture(3, random_state=0).fit(X)
    before = gm.means_.copy()
    with pytest.raises((FileNotFoundError, ValueError)):
        gm.fit_online(tmp_path / "nope.npy")
    np.testing.assert_array_equal(gm.means_, before)
    assert gm.n_features_in_ == 2
