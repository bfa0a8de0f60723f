"""The test suite's time on an empty Numba cache, now beside an earlier commit.

    python bench/suite_time.py                 # this checkout's whole suite
    python bench/suite_time.py --base b08f1b3  # and the same tests at that commit

The cold-start issue asks that the suite, from a clean clone with an empty cache,
run in half the time it took when the issue was filed (commit ``b08f1b3``), when
every test's first call waited for the compiler. The suite has grown since (the
new tests are proofs other issues asked for), so the like-for-like figure is the
tests that existed at ``--base`` and still exist here under the same id, run on
this checkout's code, beside the whole suite at ``--base`` run as it was then
(its own code and ``pytest`` settings, from a git worktree, with this interpreter
and its packages).

Every run is a fresh ``python -m pytest`` with a new empty ``NUMBA_CACHE_DIR``.
Nothing else should run on the machine meanwhile: the runs take several minutes.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from coldstart import env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, tree, cache=None):
    """``python *args`` in the checkout ``tree``, importing its ``fastem`` (PYTHONPATH comes
    before an installed or editable fastem, also in the tests' own child processes)."""
    return subprocess.run(
        [sys.executable, *args], cwd=tree, env=env(cache, tree), capture_output=True, text=True
    )


def _timed(args, tree):
    """Wall seconds of ``python *args`` in ``tree`` on an empty Numba cache, and the last
    line it printed (pytest's summary)."""
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        proc = _run(args, tree, cache)
        seconds = time.perf_counter() - t0
    if proc.returncode:  # what failed, for the reader of the table
        sys.stderr.write(proc.stdout[-20000:] + proc.stderr[-2000:])
    lines = proc.stdout.strip().splitlines()
    return seconds, lines[-1] if lines else proc.stderr.strip()[-300:]


def collect(tree):
    """The test ids ``pytest --collect-only`` finds in ``tree``; an error if any module
    fails to collect (a partial set would change what is compared)."""
    found = _run(["-c", "import fastem; print(fastem.__file__)"], tree)
    if not os.path.realpath(found.stdout.strip()).startswith(os.path.realpath(tree)):
        raise SystemExit(f"{tree}: imports another fastem: {found.stdout}{found.stderr}")
    proc = _run(["-m", "pytest", "-q", "--collect-only", "-n", "0"], tree)
    if proc.returncode:
        raise SystemExit(f"{tree}: pytest could not collect its tests:\n{proc.stdout[-3000:]}")
    return {line for line in proc.stdout.splitlines() if "::" in line}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="an earlier commit to run beside this checkout")
    args = parser.parse_args(argv)
    rows = []
    if args.base:
        tree = tempfile.mkdtemp(prefix="fastem-base-")
        git = ["git", "-C", ROOT, "worktree"]
        try:
            subprocess.run([*git, "add", "--quiet", "-f", "--detach", tree, args.base], check=True)
            old = collect(tree)
            seconds, summary = _timed(["-m", "pytest", "-q"], tree)
            rows.append((f"whole suite at {args.base}, its settings", len(old), seconds, summary))
        finally:
            subprocess.run([*git, "remove", "--force", tree], check=False, capture_output=True)
            shutil.rmtree(tree, ignore_errors=True)
        same = sorted(old & collect(ROOT))
        if not same:
            raise SystemExit(f"no test id of {args.base} exists here: nothing to compare")
        with tempfile.TemporaryDirectory() as folder:
            # ids hold spaces and brackets, and all of them exceed one argument's limit:
            # from a file, through pytest.main
            ids = os.path.join(folder, "ids.txt")
            with open(ids, "w") as f:
                f.write("\n".join(same))
            script = (
                "import sys, pytest\n"
                f"sys.exit(pytest.main(['-q'] + open({ids!r}).read().splitlines()))"
            )
            seconds, summary = _timed(["-c", script], ROOT)
        rows.append(("the same test ids on this checkout", len(same), seconds, summary))
    now = collect(ROOT)
    seconds, summary = _timed(["-m", "pytest", "-q"], ROOT)
    rows.append(("whole suite on this checkout", len(now), seconds, summary))
    print("| run | tests | wall | pytest's summary |\n|---|---|---|---|")
    for name, n, seconds, summary in rows:
        print(f"| {name} | {n:,} | {seconds:.0f} s | {summary} |")


if __name__ == "__main__":
    main()
