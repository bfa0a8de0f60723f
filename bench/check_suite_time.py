"""``bench/suite_time.py`` on a toy repository: the rows it prints are the runs it names."""

import os
import shutil
import subprocess

import pytest


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_suite_time_runs_the_base_and_the_same_ids_here(tmp_path, monkeypatch, capsys):
    import suite_time

    # no global or system git configuration (commit signing, hooks) reaches the toy
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = tmp_path / "repo"
    (repo / "fastem").mkdir(parents=True)
    (repo / "fastem" / "__init__.py").write_text("")

    def git(*args):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    test = repo / "test_toy.py"
    test.write_text("def test_kept():\n    pass\n\ndef test_dropped():\n    pass\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    # here: one test kept (same id), one dropped, two added, one of them failing
    test.write_text(
        "def test_kept():\n    pass\n\ndef test_new():\n    pass\n\n"
        "def test_new_failing():\n    assert False\n"
    )
    monkeypatch.setattr(suite_time, "ROOT", str(repo))
    suite_time.main(["--base", "HEAD"])
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()[2:]]
    assert [(name.lstrip("| "), n) for name, n, *_ in rows] == [
        ("whole suite at HEAD, its settings", "2"),
        ("the same test ids on this checkout", "1"),
        ("whole suite on this checkout", "3"),
    ]
    assert "2 passed" in rows[0][3] and "1 passed" in rows[1][3]
    assert "1 failed, 2 passed" in rows[2][3]
    # the base's worktree is gone
    out = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True)
    assert len(out.stdout.splitlines()) == 1
