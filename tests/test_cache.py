"""The kernels' disk cache cannot hurt (the cold-start issue, item 3).

* processes that compile the same kernels at once never crash and leave a
  complete, correct cache behind;
* a stale or corrupt cache file is compiled again, never trusted;
* a read-only install still gets a working cache, in the user's folder.

Every case runs fresh processes with their own ``NUMBA_CACHE_DIR`` and with
the compiled kernels forced on small data (``FASTEM_SMALL_WORK=0``).
"""

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT, checkout_env

# Fits one model and prints its parameters to 17 digits, then the number of
# kernel compilations (cache misses) and cache hits of this process.
_FIT = """
import sys
import numpy as np
import fastem
from fastem._kernels import _density, _em, _kmeans, _normalize, _statistics
dtype, cov = sys.argv[1], sys.argv[2]
D = int(sys.argv[3]) if len(sys.argv) > 3 else 3
rng = np.random.default_rng(0)
X = np.concatenate([rng.normal(m, 1, (400, D)) for m in (0, 5, 10)]).astype(dtype)
gm = fastem.GaussianMixture(3, covariance_type=cov, random_state=0, max_iter=5, tol=0).fit(X)
print(repr(gm.means_.tolist()), repr(float(gm.score(X))))
kernels = [_em.pass_chunk,
           _kmeans.potentials, _kmeans.lloyd,
           _statistics.full_stats.dispatcher, _statistics.tiled_stats.dispatcher,
           _statistics.diag_stats.dispatcher,
           _density.full_logprob.dispatcher, _density.diag_logprob.dispatcher,
           _density.tied_logprob.dispatcher,
           _density.shared_load.dispatcher, _density.tiled_load.dispatcher,
           _normalize.shared_normalize.dispatcher, _em.rowwise_outputs.dispatcher]
misses = sum(sum(k.stats.cache_misses.values()) for k in kernels)
hits = sum(sum(k.stats.cache_hits.values()) for k in kernels)
print("misses", misses, "hits", hits)
"""

# (32 features: the full statistics' register tiles; 8 float32 features and more: rows loaded
# in transposed tiles, which ``fastem warmup`` left to a float32 fit's first pass)
JOBS = [
    ("float64", "full"),
    ("float32", "full"),
    ("float64", "diag"),
    ("float32", "diag"),
    ("float64", "full", "32"),
    ("float32", "diag", "8"),
    ("float64", "tied", "9"),
]


def _run(job, env, prefix=(), cwd=None):
    """Run ``_FIT`` for ``job``: its printed result, cache misses and cache hits."""
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", _FIT, *job],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result, counts = proc.stdout.strip().splitlines()[-2:]
    _, misses, _, hits = counts.split()
    return result, int(misses), int(hits)


def _here(job, capsys):
    """The result of ``_FIT`` computed in this process (kernels compiled or cached here)."""
    import sys as _sys

    argv = _sys.argv
    _sys.argv = ["-c", *job]
    try:
        exec(_FIT, {"__name__": "__fit__"})
    finally:
        _sys.argv = argv
    return capsys.readouterr().out.strip().splitlines()[-2]


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """One empty cache filled by ``fastem warmup`` with all its processes at once, while
    a second process compiles the float64 full-covariance kernels (and k-means) into the
    same cache: every one of those is compiled by two processes at the same time."""
    cache = tmp_path_factory.mktemp("warm") / "cache"
    rival = subprocess.Popen(
        [sys.executable, "-c", _FIT, "float64", "full"],
        env=checkout_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "fastem", "warmup", "--jobs", "6", "--quiet"],
        env=checkout_env(cache),
        capture_output=True,
        text=True,
    )
    _, err = rival.communicate(timeout=600)
    assert rival.returncode == 0, err
    assert proc.returncode == 0, proc.stderr
    assert "compiled every kernel" in proc.stdout
    return cache


def test_processes_compiling_at_once_leave_a_complete_and_correct_cache(warm_cache, capsys):
    """``fastem warmup`` ran six compiling processes (and a rival) on one empty cache: every
    kernel a fit needs is there, and gives the bits compiled here give."""
    for job in JOBS:
        result, misses, hits = _run(job, checkout_env(warm_cache))
        assert misses == 0 and hits > 0, job
        assert result == _here(job, capsys), job


def test_corrupt_or_truncated_cache_files_are_compiled_again(tmp_path, warm_cache, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    job = ("float64", "diag")
    expected = _here(job, capsys)
    data = sorted(cache.rglob("*pass_chunk*.nbc"))
    assert len(data) == 2  # float64 and float32
    for path, garbage in zip(data, [b"not a pickle" * 10, data[1].read_bytes()[:40]]):
        path.write_bytes(garbage)  # garbage, truncated
    result, misses, _ = _run(job, checkout_env(cache))
    assert result == expected and misses > 0
    # the statistics, compiled once for both dtypes and called by address (one file)
    (shared,) = cache.rglob("*accumulate_diag*.nbc")
    shared.write_bytes(b"not a pickle" * 10)
    result, misses, _ = _run(job, checkout_env(cache))
    assert result == expected and misses > 0
    for path in cache.rglob("*pass_chunk*.nbi"):  # a torn index
        path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])
    result, misses, _ = _run(job, checkout_env(cache))
    assert result == expected and misses > 0
    result, misses, hits = _run(job, checkout_env(cache))  # and the cache healed
    assert result == expected and misses == 0 and hits > 0


def test_an_entry_with_another_signature_is_not_trusted(tmp_path, warm_cache, capsys):
    """Two processes racing on one index could leave an entry that points at a
    data file holding another specialization: it must be a miss, not run."""
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    files = sorted(cache.rglob("*pass_chunk*.nbc"))
    assert len(files) == 2  # float64 and float32
    a, b = files[0].read_bytes(), files[1].read_bytes()
    files[0].write_bytes(b)
    files[1].write_bytes(a)
    job = ("float64", "diag")
    result, misses, _ = _run(job, checkout_env(cache))
    assert result == _here(job, capsys) and misses > 0


def _read_only_runner(install):
    """A command prefix under which ``install`` cannot be written, or None.

    Root writes through permission bits, so for root the folder is mounted
    read-only in a private mount namespace (``unshare -m``); other users get
    the permission bits.
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("unshare") is None:
        return None
    probe = f"mount --bind -o ro {install} {install} && ! touch {install}/probe 2>/dev/null"
    if subprocess.run(["unshare", "-m", "sh", "-c", probe], capture_output=True).returncode:
        return None
    return [
        "unshare",
        "-m",
        "sh",
        "-c",
        f'mount --bind -o ro {install} {install} && exec "$0" "$@"',
    ]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and mounts")
def test_read_only_install_gets_a_cache_in_the_user_folder(tmp_path):
    install = tmp_path / "site"
    shutil.copytree(
        ROOT / "fastem", install / "fastem", ignore=shutil.ignore_patterns("__pycache__")
    )
    home = tmp_path / "home"
    home.mkdir()
    env = checkout_env(None, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    env["PYTHONPATH"] = str(install)
    prefix = _read_only_runner(install)
    if prefix is None:
        pytest.skip("no way to make a folder read-only for root here (unshare -m)")
    for path in [install, *install.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)

    def run():  # not in the checkout (cwd): python -c puts the cwd first on sys.path
        return _run(("float64", "full"), env, prefix, cwd=tmp_path)

    try:
        result, misses, hits = run()
        assert misses > 0
        assert not list(install.rglob("*.nbi"))  # nothing written into the install
        assert list(home.rglob("*.nbi"))  # the cache went to the user's folder
        result2, misses, hits = run()
        assert result2 == result and misses == 0 and hits > 0
    finally:
        for path in [install, *install.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and mounts")
def test_nowhere_writable_but_the_temporary_folder_gets_a_private_cache_there(tmp_path):
    """A read-only install, home and no NUMBA_CACHE_DIR: Numba found no cache locator and
    refused to compile the kernels at all ("cannot cache function 'logprob_full': no locator
    available"), so a fit crashed at import. The cache now goes to this user's folder under
    the temporary directory; one that another user could write is not used (a fit compiles,
    writing nothing there)."""
    install = tmp_path / "site"
    shutil.copytree(
        ROOT / "fastem", install / "fastem", ignore=shutil.ignore_patterns("__pycache__")
    )
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = checkout_env(None, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    env.update(PYTHONPATH=str(install), TMPDIR=str(tmp))
    ro = [install, home]
    if os.geteuid() == 0:  # root writes through permission bits: read-only mounts
        if _read_only_runner(install) is None:
            pytest.skip("no way to make a folder read-only for root here (unshare -m)")
        mounts = " && ".join(f"mount --bind -o ro {p} {p}" for p in ro)
        prefix = ["unshare", "-m", "sh", "-c", f'{mounts} && exec "$0" "$@"']
    else:
        prefix = []
    paths = [p for root in ro for p in [root, *root.rglob("*")]]
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)

    def run():
        return _run(("float64", "full"), env, prefix, cwd=tmp_path)

    try:
        result, misses, _ = run()
        assert misses > 0
        assert not list(install.rglob("*.nbi")) and not list(home.rglob("*.nbi"))
        assert list(tmp.glob("fastem-numba-cache-*/**/*.nbi"))
        result2, misses, hits = run()
        assert result2 == result and misses == 0 and hits > 0
        shutil.rmtree(tmp)
        tmp.mkdir()
        (tmp / f"fastem-numba-cache-{os.getuid()}").mkdir(mode=0o777)
        (tmp / f"fastem-numba-cache-{os.getuid()}").chmod(0o777)  # (umask)
        result3, misses, hits = run()
        assert result3 == result and misses > 0 and hits == 0
        assert not list(tmp.rglob("*.nbi"))  # another user could have planted code there
    finally:
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)
