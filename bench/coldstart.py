"""Cold-start table: what a new user waits for, fastem beside scikit-learn.

    PYTHONPATH=. python bench/coldstart.py            # every case
    PYTHONPATH=. python bench/coldstart.py --quick    # skip the 1M-row cases
    PYTHONPATH=. python bench/coldstart.py --markdown # the README table

Every case runs in a fresh Python process. "empty cache" points
``NUMBA_CACHE_DIR`` at a new empty folder (what a new machine, container, CI
runner or Dask worker sees); "warm cache" runs the same command again with
that folder kept. scikit-learn runs the same job in its own fresh process in
the same run. The cases and targets are those of the cold-start issue:

* ``python -m fastem`` (import, fit, score, print) vs scikit-learn's import +
  fit + score of the same data with the same settings: at most 3x;
* the first fit at 1M x 8, K = 8, full, ``max_iter=20``, ``tol=0``, import
  included (the data are made before the clock starts): at least 10x faster;
* later first uses in the same process, each after a full float64 fit of
  the same size: at most 2 s each;
* ``python -m fastem`` with a warm cache: at most 1.5 s;
* other first calls, each in its own fresh process on an empty cache (import
  included): a loaded model's ``predict``, ``partial_fit``, a fit with
  ``missing="marginalize"`` and a Dask fit on the local threads (reported).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Each job prints one JSON line: {"seconds": ...} measured inside the process
# from before the library's import, so interpreter start-up is excluded for
# both libraries alike; "wall" adds the process start.
_SK_FAITHFUL = """
import time; t0 = time.perf_counter()
from sklearn.mixture import GaussianMixture
import numpy as np
X = np.loadtxt({path!r}, delimiter=",", skiprows=1)
gm = GaussianMixture(n_components=2, n_init=5, tol=1e-8, max_iter=500, random_state=0).fit(X)
gm.score(X); gm.bic(X); gm.aic(X)
print(gm.means_)
"""

_BIG = """
import numpy as np
rng = np.random.default_rng(0)
K, D, n = 8, 8, 1_000_000
centres = rng.normal(0, 4, (K, D))
X = centres[rng.integers(0, K, n)] + rng.normal(0, 1, (n, D))
import time; t0 = time.perf_counter()
from {module} import GaussianMixture
gm = GaussianMixture(n_components=K, covariance_type="full", max_iter=20, tol=0,
                     random_state=0).fit(X)
"""

# The data of the later first uses and the other first calls (200k x 8, K = 8 blobs).
_DATA_200K = """
import numpy as np, time
rng = np.random.default_rng(0)
K, D, n = 8, 8, 200_000
centres = rng.normal(0, 4, (K, D))
X = centres[rng.integers(0, K, n)] + rng.normal(0, 1, (n, D))
"""

_LATER = (
    _DATA_200K
    + """
import fastem
from fastem import GaussianMixture
GaussianMixture(K, max_iter=3, tol=0, random_state=0).fit(X)
d = {}
def timed(name, f):
    t = time.perf_counter(); f(); d[name] = time.perf_counter() - t
timed("another covariance type (diag)",
      lambda: GaussianMixture(K, covariance_type="diag", max_iter=3, tol=0, random_state=0).fit(X))
gm = GaussianMixture(K, max_iter=3, tol=0, random_state=0).fit(X)
timed("predict", lambda: gm.predict(X))
timed("predict_proba", lambda: gm.predict_proba(X))
timed("score_samples", lambda: gm.score_samples(X))
timed("float32 input",
      lambda: GaussianMixture(K, max_iter=3, tol=0, random_state=0).fit(X.astype(np.float32)))
labels = np.full(n, -1); labels[:100] = 0
timed("labels=",
      lambda: GaussianMixture(K, max_iter=3, tol=0, random_state=0).fit(X, labels=labels))
Xm = X.copy(); Xm[rng.random(Xm.shape) < 0.05] = np.nan
timed("missing='marginalize'", lambda: GaussianMixture(K, max_iter=3, tol=0, random_state=0,
      missing="marginalize").fit(Xm))
import tempfile, os
tmp = tempfile.mkdtemp(); path = os.path.join(tmp, "X.npy"); np.save(path, X)
timed("streamed .npy fit", lambda: GaussianMixture(K, max_iter=3, tol=0, random_state=0).fit(
      fastem.source(path, chunk_rows=50_000)))
try:
    import dask, dask.array as da
    Xd = da.from_array(X, chunks=50_000)
    with dask.config.set(scheduler="threads"):
        timed("Dask fit", lambda: GaussianMixture(K, max_iter=3, tol=0, random_state=0).fit(Xd))
except ImportError:
    pass
print(__import__("json").dumps(d))
"""
)


# Other first calls, each in a fresh process on an empty cache, import included (the data
# are made before the clock starts; the model file of "predict of a loaded model" is saved
# by :func:`_model_file`): the compile helper (``fastem._kernels._ahead``) serves each.
_FIRST = (
    _DATA_200K
    + """
kind, path = {kind!r}, {model!r}
if kind == "missing='marginalize' fit":
    X[rng.random(X.shape) < 0.05] = np.nan
t0 = time.perf_counter()
import fastem
if kind == "predict of a loaded model":
    fastem.load(path).predict(X)
elif kind == "partial_fit":
    fastem.GaussianMixture(K, random_state=0).partial_fit(X)
elif kind == "missing='marginalize' fit":
    fastem.GaussianMixture(K, max_iter=3, tol=0, random_state=0, missing="marginalize").fit(X)
elif kind == "Dask fit (local threads)":
    import dask.array as da
    fastem.GaussianMixture(K, max_iter=3, tol=0, random_state=0).fit(
        da.from_array(X, chunks=50_000))
"""
)
FIRSTS = (
    "predict of a loaded model",
    "partial_fit",
    "missing='marginalize' fit",
    "Dask fit (local threads)",
)


def _model_file(folder):
    """A fitted model saved in ``folder``, fitted in NumPy (``_small``: no kernel compiled
    here, so the model file is all the first ``predict`` is given)."""
    import numpy as np

    import fastem
    from fastem import _small

    rng = np.random.default_rng(0)
    X = rng.normal(0, 4, (8, 8))[rng.integers(0, 8, 20_000)] + rng.normal(0, 1, (20_000, 8))
    small, _small.SMALL_WORK = _small.SMALL_WORK, 1 << 62
    try:
        gm = fastem.GaussianMixture(8, max_iter=3, random_state=0).fit(X)
    finally:
        _small.SMALL_WORK = small
    path = os.path.join(folder, "model.npz")
    fastem.save(gm, path)
    return path


def env(cache=None, root=ROOT):
    """This environment with ``root``'s fastem first on the path (ahead of an installed
    or editable one, also in the child's children) and ``cache`` as the Numba cache."""
    out = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if cache is not None:
        out["NUMBA_CACHE_DIR"] = cache
    return out


def _run(code, cache):
    wrapped = code + "\nprint('@@', __import__('json').dumps(time.perf_counter() - t0))\n"
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", wrapped], env=env(cache), capture_output=True, text=True, check=True
    ).stdout
    wall = time.perf_counter() - t
    inner = json.loads(out.split("@@")[-1]) if "@@" in out else None
    return inner, wall, out


def _fastem_main(cache):
    code = "import time; t0 = time.perf_counter()\nfrom fastem.__main__ import main\nmain()\n"
    return _run(code, cache)


def faithful(cache):
    """``python -m fastem`` beside scikit-learn's same job; seconds from import."""
    path = os.path.join(ROOT, "fastem", "data", "old_faithful.csv")
    fe, fe_wall, _ = _fastem_main(cache)
    sk, sk_wall, _ = _run(_SK_FAITHFUL.format(path=path), cache)
    warm, warm_wall, _ = _fastem_main(cache)
    return {
        "fastem, empty cache": (fe, fe_wall),
        "fastem, warm cache": (warm, warm_wall),
        "scikit-learn": (sk, sk_wall),
    }


def big(cache):
    fe, fe_wall, _ = _run(_BIG.format(module="fastem"), cache)
    sk, sk_wall, _ = _run(_BIG.format(module="sklearn.mixture"), cache)
    return {"fastem, empty cache": (fe, fe_wall), "scikit-learn": (sk, sk_wall)}


def later(cache):
    out = subprocess.run(
        [sys.executable, "-c", _LATER], env=env(cache), capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="skip the 1M-row cases")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        r = faithful(cache)
    fe, sk, warm = r["fastem, empty cache"], r["scikit-learn"], r["fastem, warm cache"]
    rows.append(
        (
            "`python -m fastem`, empty cache (import, fit, score)",
            f"{fe[0]:.2f} s",
            f"{sk[0]:.2f} s",
            f"{fe[0] / sk[0]:.2f}x sklearn's time (target <= 3x)",
        )
    )
    rows.append(
        (
            "`python -m fastem`, warm cache",
            f"{warm[0]:.2f} s ({warm[1]:.2f} s with the interpreter)",
            "",
            "target <= 1.5 s",
        )
    )
    if not args.quick:
        with tempfile.TemporaryDirectory() as cache:
            r = big(cache)
        fe, sk = r["fastem, empty cache"], r["scikit-learn"]
        rows.append(
            (
                "first fit 1M x 8, K = 8, full, 20 iterations, empty cache (import included)",
                f"{fe[0]:.2f} s",
                f"{sk[0]:.2f} s",
                f"{sk[0] / fe[0]:.1f}x faster (target >= 10x)",
            )
        )
        with tempfile.TemporaryDirectory() as cache:
            d = later(cache)
        for name, sec in d.items():
            rows.append((f"first use after a full fit: {name}", f"+{sec:.2f} s", "", "<= 2 s"))
    with tempfile.TemporaryDirectory() as folder:
        model = _model_file(folder)
        for kind in FIRSTS:
            with tempfile.TemporaryDirectory() as cache:
                try:
                    sec, _, _ = _run(_FIRST.format(kind=kind, model=model), cache)
                except subprocess.CalledProcessError:  # e.g. no Dask installed
                    continue
            row = f"first call, empty cache: {kind}, 200k x 8, K = 8 (import included)"
            rows.append((row, f"{sec:.2f} s", "", ""))
    hdr = ("case", "fastem", "scikit-learn", "ratio / target")
    if args.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("|" + "---|" * len(hdr))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in rows:
            print(f"{row[0]:<80} {row[1]:>28} {row[2]:>10}  {row[3]}")
    return 0


if __name__ == "__main__":
    t = time.time()
    sys.exit(main())
