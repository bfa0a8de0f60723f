"""Sources' machinery: iteration and shape, the prefetching reader thread, the progress bar,
the exported names."""

import io
import sys
import threading
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import GaussianMixture, SourceError, source
from fastem.sources import prefetch
from fastem.sources._prefetch import Progress

from .helpers import (
    CHUNK,
    D,
    K,
    N,
)


def test_source_iteration_and_shape(X, tmp_path):
    np.save(tmp_path / "X.npy", X)
    src = source(tmp_path / "X.npy", chunk_rows=CHUNK)
    chunks = list(src)  # public iteration hands out fresh arrays
    assert [len(c) for c in chunks] == [CHUNK] * 6 + [N - 6 * CHUNK]
    np.testing.assert_array_equal(np.concatenate(chunks), X)
    np.testing.assert_array_equal(src.read(), X)
    assert src.shape == (N, D)
    assert source(src) is src
    assert source(src, columns=[2, 0]).read().tolist() == X[:, [2, 0]].tolist()
    f = source(lambda: iter([X[:10], X[10:25]]))
    assert f.n_rows is None and f.n_features == D
    assert sum(len(c) for c in f) == 25 and f.n_rows == 25
    f = source(lambda: iter([X[:10], X[10:25]]))
    assert f.shape == (25, D)  # counted on demand
    np.savetxt(tmp_path / "X.csv", X, delimiter=",", header="a,b,c", comments="")
    with open(tmp_path / "X.csv", "a") as fh:
        fh.write("\n\n")
    c = source(tmp_path / "X.csv")
    assert c.n_rows is None and c.shape == (N, D) and np.shape(c) == (N, D)


def test_prefetch_runs_ahead_and_propagates_errors():
    seen = []

    def gen():
        for i in range(5):
            seen.append((i, threading.current_thread().name))
            yield i
        raise RuntimeError("boom")

    it = prefetch(gen())
    assert next(it) == 0
    with pytest.raises(RuntimeError, match="boom"):
        list(it)
    assert all(name == "fastem-prefetch" for _, name in seen)
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield 1
        finally:
            closed.set()

    it = prefetch(endless())
    next(it)
    it.close()
    assert closed.wait(2)


def test_progress_bar_only_on_terminal(X, capsys):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    bar = Progress(True, 100, "EM pass", stream=tty)
    bar._last = -1e9
    bar.update(50, 400)
    bar.close()
    assert "EM pass" in tty.getvalue() and "50.0%" in tty.getvalue()
    plain = io.StringIO()
    bar = Progress(True, 100, stream=plain)
    bar.update(100, 800)
    bar.close()
    assert plain.getvalue() == ""
    # verbose fits on a source print as in memory (no bar: stderr is not a terminal here)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(K, verbose=1, max_iter=2, random_state=0).fit(source(X))
    out = capsys.readouterr()
    assert "Initialization 0" in out.out
    assert sys.stderr.isatty() or "EM pass" not in out.err


def test_exported():
    assert fastem.source is source
    assert issubclass(SourceError, ValueError)


def test_fit_reads_in_background_thread_and_draws_bar_on_terminal(X, monkeypatch):
    threads = set()

    def chunks():
        for r0 in range(0, N, 200):
            threads.add(threading.current_thread().name)
            yield X[r0 : r0 + 200]

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(K, max_iter=2, verbose=1, random_state=0).fit(chunks)
    assert "fastem-prefetch" in threads
    assert "EM pass [" in tty.getvalue() and "100.0%" in tty.getvalue()
