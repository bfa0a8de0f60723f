"""The examples of README.md and docs/ run, and print what the pages say they print.

* Command-line transcripts: every ```` ```console ```` block of ``docs/*.md``. Each ``$ fastem
  ...`` line runs through the console script's entry point (``fastem.cli.main``) in a temporary
  folder holding the bundled data as ``faithful.csv`` and a pickle as ``evil.npz``; the blocks of
  a page run in order in the same folder, like one shell session. Its stdout and stderr must
  match the lines under it, with two marks for what varies between runs:

  - ``...`` stands for any text (as in doctest), on one line or for whole lines;
  - a duration (a number followed by `` s``, as in ``in 0.51 s``) is not compared;

  and a one-line JSON object is compared as JSON, floats to a relative 1e-9.
  ``$ echo $?`` prints the previous command's exit status.
* Python blocks without ``>>>`` (README.md, docs/index.md, docs/dask.md) run with ``exec``;
  pages written as doctests run in tests/test_docs.py.
"""

import doctest
import json
import math
import pickle
import re
import shlex
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_DURATION = re.compile(r"\b\d+(\.\d+)? s\b")


def blocks(path, language):
    return [m.group(2) for m in _FENCE.finditer(path.read_text()) if m.group(1) == language]


def transcript(block):
    """[(command, expected output)] of a console block."""
    steps = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append([line[2:], []])
        else:
            assert steps, f"output before the first command: {line!r}"
            steps[-1][1].append(line)
    return [(cmd, "\n".join(out)) for cmd, out in steps]


def _close(want, got):
    if isinstance(want, float) or isinstance(got, float):
        return math.isclose(want, got, rel_tol=1e-9)
    if isinstance(want, dict):
        return want.keys() == got.keys() and all(_close(want[k], got[k]) for k in want)
    if isinstance(want, list):
        return len(want) == len(got) and all(_close(a, b) for a, b in zip(want, got))
    return want == got


def matches(want, got):
    if want.startswith("{") and "\n" not in want:
        return _close(json.loads(want), json.loads(got))
    want, got = (_DURATION.sub("<duration> s", t).rstrip() for t in (want, got))
    got = "\n".join(line.rstrip() for line in got.splitlines())
    return doctest.OutputChecker().check_output(want + "\n", got + "\n", doctest.ELLIPSIS)


def run_transcript(blocks_, folder, capsys):
    from fastem.cli import main

    status = None
    for block in blocks_:
        for cmd, want in transcript(block):
            argv = shlex.split(cmd)
            if argv == ["echo", "$?"]:
                got = str(status)
            else:
                assert argv[0] == "fastem", f"only fastem and echo $? can run: {cmd}"
                status = main(argv[1:])
                out, err = capsys.readouterr()
                got = out + err
            assert matches(want, got.rstrip("\n")), (
                f"$ {cmd}\n--- documented\n{want}\n--- got\n{got}"
            )
            if argv[0] == "fastem" and "error:" not in want:
                assert status == 0, f"$ {cmd} exited {status}"


CONSOLE_PAGES = sorted(p.name for p in DOCS.glob("*.md") if blocks(p, "console"))


def test_the_cli_page_has_transcripts():
    assert "cli.md" in CONSOLE_PAGES  # the parser still finds the blocks


@pytest.mark.parametrize("page", CONSOLE_PAGES)
def test_cli_transcripts(page, tmp_path, monkeypatch, capsys):
    with resources.as_file(resources.files("fastem") / "data" / "old_faithful.csv") as src:
        shutil.copy(src, tmp_path / "faithful.csv")
    (tmp_path / "evil.npz").write_bytes(pickle.dumps({"not": "a model"}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FASTEM_TRACEBACK", raising=False)
    run_transcript(blocks(DOCS / page, "console"), tmp_path, capsys)


def test_transcript_matching_is_strict():
    """The rules above are loose only where they say so."""
    assert matches("fitted in 0.51 s", "fitted in 12.3 s")
    assert matches("a\n  ...\nz", "a\n  b\n  c\nz")
    assert not matches("EM converged after 4 iterations", "EM converged after 5 iterations")
    assert not matches("weight 0.6441", "weight 0.6442")
    assert matches('{"a": 1.0, "b": "x"}', '{"a": 1.0000000000001, "b": "x"}')
    assert not matches('{"a": 1.0, "b": "x"}', '{"a": 1.001, "b": "x"}')
    assert not matches('{"a": 1.0}', '{"a": 1.0, "extra": 2}')


# ------------------------------------------------------------------ Python blocks


def _exec(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc_example__"}
    exec(compile(code, "<doc example>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_readme_and_index_code_runs(page, tmp_path, monkeypatch):
    (code,) = blocks(ROOT / page, "python")
    ns = _exec(code, tmp_path, monkeypatch)
    gm, X = ns["gm"], ns["X"]
    assert X.shape == (272, 2) and gm.converged_ and gm.predict(X).shape == (272,)


def test_dask_page_code_runs(tmp_path, monkeypatch):
    """The first example as written, on a small features.zarr and an in-process cluster."""
    pytest.importorskip("zarr")
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    first, *deployments = blocks(DOCS / "dask.md", "python")
    from .conftest import blobs

    X = blobs(3000, 3, 3, seed=2)
    da.from_array(X, chunks=(1000, 3)).to_zarr(str(tmp_path / "features.zarr"))
    clients = []

    class SmallClient(distributed.Client):
        """Client() would start a worker process for every core: one in-process worker."""

        def __init__(self, *args, **kwargs):
            kwargs = kwargs or dict(
                processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
            )
            super().__init__(*args, **kwargs)
            clients.append(self)

    monkeypatch.setattr(distributed, "Client", SmallClient)
    try:
        ns = _exec(first.replace("n_components=10", "n_components=3"), tmp_path, monkeypatch)
        from fastem import GaussianMixture

        ref = GaussianMixture(3, random_state=0).fit(X)
        np.testing.assert_allclose(ns["gm"].means_, ref.means_, rtol=1e-10)
        np.testing.assert_array_equal(ns["labels"].compute(), ref.predict(X))
        assert ns["gm"].score(ns["X"]) == pytest.approx(ref.score(X), rel=1e-10)
    finally:
        for client in clients:
            client.close()
    # the SLURM and Kubernetes recipes need a cluster: they are only compiled
    assert len(deployments) == 2
    for code in deployments:
        compile(code, "<dask.md deployment>", "exec")


def test_robustness_page_has_no_untested_code():
    """docs/robustness.md has no code to run; a block added there must be added here."""
    page = DOCS / "robustness.md"
    assert blocks(page, "python") == [] and ">>>" not in page.read_text()
