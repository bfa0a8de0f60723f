"""The documentation: the site builds with warnings as errors, and its examples run."""

import doctest
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: the pages written as doctests (``>>>``); the CLI transcripts and the other code blocks run
#: in tests/test_doc_examples.py
PAGES = [
    "quickstart.md",
    "em.md",
    "old_faithful.md",
    "streaming.md",
    "incomplete.md",
    "bayesian.md",
    "models.md",
    "online.md",
]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("latex2mathml")
    site = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--clean",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    # the reference is generated from the numpydoc docstrings
    assert "fastem.GaussianMixture" in api and "predict_proba" in api
    assert "fastem.select_components" in api and "allow_pickle=False" in api
    em = (site / "em" / "index.html").read_text(encoding="utf-8")
    assert "<math" in em and "$$" not in em  # formulas rendered to MathML at build time
    assert (site / "images" / "faithful_em.gif").exists()


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, monkeypatch, tmp_path):
    if page == "old_faithful.md":
        pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.failed == 0, f"{result.failed} example(s) failed in docs/{page}"


def test_every_doctest_page_runs():
    """A page with examples left out of PAGES would never run."""
    with_examples = {p.name for p in DOCS.glob("*.md") if ">>>" in p.read_text()}
    assert with_examples == set(PAGES)


def test_docs_pages_listed():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in ["index.md", *PAGES, "cli.md", "dask.md", "robustness.md", "api.md"]:
        assert page in nav
