"""What the kernels compile: one specialization per dtype for every covariance type and
input kind, nothing more for predictions, each shared block function compiled once and
called by address, a float32 first use that compiles float32 code only, and a disk cache
that any kernel module's edit invalidates. (Their answers: ``test_kernels.py`` and
``test_kernel_tiles.py``.)"""

import numpy as np
import pytest


def test_one_compiled_pass_for_every_covariance_type_and_read_only_input(tmp_path):
    """Each distinct argument type costs a compilation of tens of seconds: the
    four covariance types, read-only input (a memory map, a frozen array) and
    read-only parameters must all reuse one specialization per dtype."""
    from fastem import GaussianMixture
    from fastem._kernels import _em

    X = np.random.default_rng(0).normal(size=(600, 3))
    kernels = (_em.pass_chunk,)
    for cov in ("full", "diag"):
        GaussianMixture(2, covariance_type=cov, random_state=0, max_iter=2).fit(X).predict(X)
    before = [len(k.signatures) for k in kernels]
    np.save(tmp_path / "X.npy", X)
    frozen = X.copy()
    frozen.flags.writeable = False
    means = X[:2].copy()
    means.flags.writeable = False
    for data in (np.load(tmp_path / "X.npy", mmap_mode="r"), frozen):
        for cov in ("full", "tied", "diag", "spherical"):
            gm = GaussianMixture(2, covariance_type=cov, means_init=means, max_iter=2)
            gm.fit(data, sample_weight=np.ones(len(X))).predict(data)
    assert [len(k.signatures) for k in kernels] == before
    # the EM pass that reads a .npy file into per-thread buffers calls the same
    # compiled chunk functions (the buffers are handed over read-only)
    from fastem import source

    for cov in ("full", "diag"):
        gm = GaussianMixture(2, covariance_type=cov, random_state=0, max_iter=2)
        gm.fit(source(tmp_path / "X.npy")).predict(source(tmp_path / "X.npy"))
    assert [len(k.signatures) for k in kernels] == before
    for k in kernels:  # one float64 specialization each, whatever ran before
        assert sum(str(sig[0].dtype) == "float64" for sig in k.signatures) == 1, k.signatures


def test_predictions_after_a_fit_compile_nothing():
    """docs/cold_start.md: the fit's kernel writes the row-wise outputs too, so
    predict, predict_proba and score_samples after a fit (float32 and float64,
    both families, with missing values) start no compilation at all."""
    from numba.core import event

    from fastem import GaussianMixture

    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 3))
    Xm = X.copy()
    Xm[::5, 1] = np.nan
    fits = []
    for dtype in ("float64", "float32"):
        for cov in ("full", "tied", "diag", "spherical"):
            gm = GaussianMixture(2, covariance_type=cov, random_state=0, max_iter=2)
            fits.append((gm.fit(X.astype(dtype)), X.astype(dtype)))
        gm = GaussianMixture(2, missing="marginalize", random_state=0, max_iter=2)
        fits.append((gm.fit(Xm.astype(dtype)), Xm.astype(dtype)))
    rec = event.RecordingListener()
    event.register("numba:compile", rec)
    try:
        for gm, data in fits:
            gm.predict(data)
            gm.predict_proba(data)
            gm.score_samples(data)
            gm.score(data)
    finally:
        event.unregister("numba:compile", rec)
    compiled = {ev.data["dispatcher"].py_func.__name__ for _, ev in rec.buffer if ev.is_start}
    assert not compiled, compiled


def test_missing_values_compile_nothing_after_a_complete_fit():
    """Rows with NaN run through the complete-data kernel in compact coordinates
    (``fastem._patterns``): after a complete fit of each family, a
    ``missing="marginalize"`` fit, its predictions and its scores start no
    compilation (they had their own kernels, +3.5-4 s on a first use)."""
    from numba.core import event

    from fastem import GaussianMixture
    from fastem._kernels import _em

    X = np.random.default_rng(1).normal(size=(600, 3))
    Xm = X.copy()
    Xm[::5, 1] = np.nan
    Xm[1::7, 0] = np.nan
    for cov in ("full", "diag"):
        GaussianMixture(2, covariance_type=cov, max_iter=2, random_state=0).fit(X).predict(X)
    rec = event.RecordingListener()
    event.register("numba:compile", rec)
    try:
        for cov in ("full", "tied", "diag", "spherical"):
            gm = GaussianMixture(2, covariance_type=cov, missing="marginalize", max_iter=2)
            gm.fit(Xm, sample_weight=np.ones(len(Xm))).predict_proba(Xm)
            gm.score_samples(Xm)
            gm.fit(Xm, labels=np.r_[np.zeros(5, dtype=int), -np.ones(595, dtype=int)])
    finally:
        event.unregister("numba:compile", rec)
    compiled = {ev.data["dispatcher"].py_func.__name__ for _, ev in rec.buffer if ev.is_start}
    assert not compiled, compiled
    # and nothing compiled earlier in this process either: one specialization per dtype
    for k in (_em.pass_chunk,):
        assert sum(str(sig[0].dtype) == "float64" for sig in k.signatures) == 1, k.signatures


def test_missing_value_kernels_fit_and_predict_share_one_specialization(monkeypatch):
    """Many patterns of few rows run the missing-value kernels (forced here): their
    statistics and their row-wise log-densities are one compiled specialization, so a
    predict after a fit compiles nothing more."""
    from fastem import GaussianMixture, _missing
    from fastem._kernels import _missing as kmis

    monkeypatch.setattr(_missing, "COMPACT_WORK", -1)
    monkeypatch.setattr(_missing, "COMPACT_ROWS", 10**18)
    X = np.random.default_rng(1).normal(size=(600, 3))
    X[::5, 1] = np.nan
    for cov in ("full", "diag"):
        gm = GaussianMixture(2, covariance_type=cov, missing="marginalize", max_iter=2)
        gm.fit(X).predict_proba(X)
        gm.score_samples(X)
    sigs = [sig for sig in kmis.chunk_stats.signatures if str(sig[0].dtype) == "float64"]
    assert len(sigs) == 1, sigs


def test_shared_callees_are_compiled_once_for_every_kernel():
    """The normalization, the row-wise outputs, each family's statistics and (once per
    dtype) its log-density are compiled once per process and called by address
    (``fastem/_kernels/_shared.py``):
    a diagonal fit after a full one, a float32 fit after a float64 one, ``labels=``,
    weights and missing values reuse them instead of typing and optimizing their own
    copies (a float32 first use compiled 1.5 s less). The k-means kernels are
    float64 only: float32 rows reach them widened chunk by chunk (the same bits).
    The normalization is compiled without reassociation, so its copy here and the
    missing-value kernels' own copy give the same bits."""
    from fastem import GaussianMixture
    from fastem._kernels import _density, _em, _kmeans, _normalize, _statistics

    shared = {
        "normalize": _normalize.shared_normalize,
        "rowwise": _em.rowwise_outputs,
        "full": _statistics.full_stats,
        "tiled": _statistics.tiled_stats,
        "diag": _statistics.diag_stats,
        "full log-density": _density.full_logprob,  # one per dtype
        "diag log-density": _density.diag_logprob,
        "tied log-density": _density.tied_logprob,  # float64 only
        "block load": _density.shared_load,
        "tiled block load": _density.tiled_load,
    }
    for name in ("normalize", "rowwise"):
        assert "reassoc" not in shared[name].dispatcher.targetoptions["fastmath"], name
    assert "reassoc" not in _normalize.normalize.targetoptions["fastmath"]

    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 3))
    Xm = X.copy()
    Xm[::5, 1] = np.nan
    labels = np.full(len(X), -1)
    labels[:10] = 0
    for dtype in ("float64", "float32"):
        for cov in ("full", "diag", "tied"):
            gm = GaussianMixture(2, covariance_type=cov, random_state=0, max_iter=2)
            gm.fit(X.astype(dtype), sample_weight=np.ones(len(X)), labels=labels)
            gm.predict_proba(X.astype(dtype))
        GaussianMixture(2, missing="marginalize", random_state=0, max_iter=2).fit(Xm)
        # 32 features: the full statistics in register tiles, the same copy for both dtypes
        wide = np.repeat(X, 11, axis=1)[:, :32] + rng.normal(size=(len(X), 32))
        GaussianMixture(2, random_state=0, max_iter=2).fit(wide.astype(dtype))
    for name, callee in shared.items():
        assert sorted(map(str, callee.dispatcher.signatures)) == sorted(
            map(str, callee.signatures)
        ), name
    for k in (_kmeans.lloyd, _kmeans.potentials):
        assert [str(sig[0].dtype) for sig in k.signatures] == ["float64"], k.signatures
    # one pass kernel per dtype, for every family
    sigs = _em.pass_chunk.signatures
    assert sorted(str(sig[0].dtype) for sig in sigs) == ["float32", "float64"]


def test_a_shared_callee_refuses_other_argument_types():
    """A kernel that passes a shared callee other types than it was compiled for
    fails to compile, with a message naming both, rather than call code compiled for
    other types."""
    from numba import njit
    from numba.core.errors import TypingError

    from fastem._kernels._statistics import diag_stats

    call = diag_stats.call

    @njit
    def wrong(address, xt, resp):
        call(address, xt, 4, xt, resp, resp, resp, resp[0], resp, resp)

    xt = np.zeros((4, 8), dtype=np.float32)
    with pytest.raises(TypingError, match="accumulate_diag is compiled for"):
        wrong(diag_stats.address(), xt, np.zeros((2, 8)))


def test_a_shared_callee_called_by_address_computes_what_it_computes_alone():
    """The same diagonal statistics called through the address (as the kernels do)
    and compiled alone here (its passes are Numba intrinsics: the interpreter cannot run its
    source), and the first moments of a NumPy reference."""
    from numba import njit

    from fastem._kernels._config import _NO_CACHE
    from fastem._kernels._statistics import accumulate_diag, diag_stats

    call = diag_stats.call

    @njit
    def by_address(address, xt, nb, mu, resp, nk, s1, s2):
        unused = np.zeros((0, 40))  # xr and rd: the full family's register tiles' buffers
        call(address, xt, nb, mu, resp, unused, unused, nk, s1, s2)

    rng = np.random.default_rng(0)
    K, D, nb = 3, 4, 37
    xt, mu, resp = rng.normal(size=(D, 40)), rng.normal(size=(K, D)), rng.random((K, 40))
    got = [np.zeros(K), np.zeros((K, D)), np.zeros((K, D))]
    want = [np.zeros(K), np.zeros((K, D)), np.zeros((K, D))]
    by_address(diag_stats.address(), xt, nb, mu, resp, *got)
    empty = np.zeros((0, 1))
    njit(**_NO_CACHE)(accumulate_diag)(xt, nb, mu, resp, empty, empty, *want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13)
    np.testing.assert_allclose(want[1], resp[:, :nb] @ xt[:, :nb].T - want[0][:, None] * mu)


def test_disk_cache_is_invalidated_by_any_kernel_module(tmp_path):
    """Numba keys a cached function on its own source file only, but the
    kernels call each other across modules: every kernel's cache is stamped
    with a digest of all kernel modules, so editing a callee (the
    log-density, say) invalidates the drivers' cached code too."""
    import shutil

    from fastem._kernels import _cache, _em, _kmeans, _missing, _statistics
    from fastem._kernels._config import JIT

    assert JIT["cache"] is True  # the locators were installed
    for kernel in (
        _em.pass_chunk,
        _kmeans.lloyd,
        _missing.chunk_stats,
        _statistics.full_stats.dispatcher,
    ):
        locator = kernel._cache._impl.locator
        assert isinstance(locator, _cache._PackageStamp)
        assert locator.get_source_stamp() == _cache.source_stamp()
    folder = tmp_path / "kernels"
    shutil.copytree(_cache._DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    before = _cache.source_stamp(str(folder))
    with open(folder / "_density.py", "a") as f:
        f.write("\n# edited\n")
    assert _cache.source_stamp(str(folder)) != before


_FIRST_USES = r"""
import sys, warnings
import numpy as np
from numba.core import event
from fastem import GaussianMixture
warnings.simplefilter("ignore")
X = np.random.default_rng(0).normal(size=(600, 3))
def compiled(f):
    rec = event.RecordingListener()
    event.register("numba:compile", rec)
    try:
        f()
    finally:
        event.unregister("numba:compile", rec)
    return [(ev.data["dispatcher"].py_func.__qualname__, str(ev.data["args"]))
            for _, ev in rec.buffer if ev.is_start]
fit = lambda cov, dt: GaussianMixture(2, covariance_type=cov, random_state=0,
                                      max_iter=2).fit(X.astype(dt)).predict_proba(X.astype(dt))
gm = GaussianMixture(2, random_state=0, max_iter=2)
print(repr(compiled(lambda: gm.fit(X))))
print(repr(compiled(lambda: gm.predict_proba(X))))
print(repr(compiled(lambda: fit("diag", "float64"))))
print(repr(compiled(lambda: fit("full", "float32"))))
print(repr(compiled(lambda: fit("diag", "float32"))))
import re
from fastem._kernels import _em
ir = _em.pass_chunk.inspect_llvm(_em.pass_chunk.signatures[0])
defined = re.findall(r"^define[^@]*@(\S+)\(", ir, re.M)
print(repr((len(re.findall(r"= inttoptr i64", ir)), defined)))
"""


def test_a_float32_first_use_compiles_only_float32_code(tmp_path):
    """docs/cold_start.md: in a fresh process on an empty cache, float32 fits after
    float64 ones compile only code that handles float32 values (the load, the
    log-density and the kernel that loops over blocks); the normalization, the
    statistics and k-means are float64 code compiled once. A diagonal fit after a full
    one compiles its log-density and statistics only (one pass kernel for every
    family). A fit compiles no row-wise outputs, and its first ``predict_proba``
    nothing else. No kernel compiles
    NumPy's generic ``np.empty`` / ``np.zeros`` (``_bits.empty`` / ``zeros`` instead).
    Without the first fit's helper process (``_kernels._ahead``), which would compile
    some of them elsewhere."""
    import ast
    import os
    import subprocess
    import sys

    env = dict(
        os.environ, FASTEM_SMALL_WORK="0", NUMBA_CACHE_DIR=str(tmp_path), FASTEM_COMPILE_AHEAD="0"
    )
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_USES], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()[-6:]
    first, proba, diag, f32, diag32, (calls, defined) = map(ast.literal_eval, lines)
    # the pass kernel calls its five block functions through their addresses and holds
    # no copy of them (an inlined copy would be optimized again in every kernel)
    assert calls == 5, calls
    for name in defined:
        blocks = (
            "accumulate_",
            "logprob_",
            "normalizeB",
            "_rowwise_outputs",
            "load_block",
            "load_tiled",
        )
        for block in blocks:
            assert block not in name, name
    names = {name for name, _ in first}
    assert {"pass_chunk", "logprob_full", "accumulate_full", "normalize", "lloyd"} <= names
    # a fit compiles no row-wise outputs; its first predict_proba those only
    assert "_rowwise_outputs" not in names
    assert {name for name, _ in proba} == {"_rowwise_outputs"}
    first = first + proba
    for name, _ in first + diag + f32 + diag32:
        assert "ol_np_empty" not in name and "ol_np_zeros" not in name, name
    diag_names = {name for name, _ in diag}
    assert {"logprob_diag", "accumulate_diag"} <= diag_names
    assert not diag_names & {"pass_chunk", "normalize", "_rowwise_outputs", "lloyd", "potentials"}
    for name, args in f32 + diag32:
        assert "float32" in args, (name, args)
    assert {"pass_chunk", "logprob_full"} <= {name for name, _ in f32}
    assert {name for name, _ in diag32} == {"logprob_diag"}  # its load: compiled with f32


def _compiled_alone(fn, signature, what):
    """``fn`` compiled here without the disk cache (whose code cannot be inspected): its
    LLVM IR (``what="llvm"``) or assembly."""
    from numba import njit

    from fastem._kernels import _config

    dispatcher = njit(**_config._NO_CACHE, **_config._CALLEE)(fn)
    dispatcher.compile(signature)
    inspect = dispatcher.inspect_llvm if what == "llvm" else dispatcher.inspect_asm
    return inspect(signature)


def _wide_and_tiles():
    """The block functions compiled for 512-bit vectors on AVX-512, and those that are not
    but whose register tiles are written as 512-bit IR vectors, each with one signature
    (float64 unless it says float32). No statistics, log-density, normalization or
    row-wise function is left out of both (each was measured: bench/NOTES.md sections
    25-30); the block loads are 512-bit IR vectors of their own."""
    from fastem._kernels import _density, _em, _normalize, _statistics
    from fastem._kernels._shared import F1, I8

    wide = [
        (_statistics.accumulate_diag, _statistics.diag_stats.signatures[0]),
        (_density.logprob_diag, _density.diag_logprob.signatures[0]),
        # float32 too: its register tile (``_diag_rows``) is two 16-lane vectors of rows
        (_density.logprob_diag, _density.diag_logprob.signatures[1]),
        # its register tile (``_tri_rows``) holds 16 sums in zmm; float32 too, in two
        # 16-lane vectors of rows
        (_density.logprob_full, _density.full_logprob.signatures[0]),
        (_density.logprob_full, _density.full_logprob.signatures[1]),
        # its register tiles: the full one's (``_tri_store``) and the diagonal one's
        (_density.logprob_tied, _density.tied_logprob.signatures[0]),
        # the normalization and the row-wise outputs, each compiled on its own: exp, log,
        # the maxima and the scaling (bench/NOTES.md section 30)
        (_normalize.log_into.py_func, (F1, I8, F1)),
        (_normalize.normalize.py_func, _normalize.shared_normalize.signatures[0]),
        (_em._rowwise_outputs, _em.rowwise_outputs.signatures[0]),
        # the full statistics of few features: 4 x 4 tiles over rows
        (_statistics.accumulate_full, _statistics.full_stats.signatures[0]),
    ]
    # its register tiles (``_outer_tile``) are IR vectors of 8 lanes, which LLVM's
    # preference does not split
    tiles = [(_statistics.accumulate_tiled, _statistics.tiled_stats.signatures[0])]
    return wide, tiles


@pytest.mark.parametrize("registers", [16, 32])
def test_block_functions_ask_for_512_bit_vectors_only_on_avx512(registers, monkeypatch):
    """The diagonal log-density and statistics, the full log-density (both dtypes), the
    normalization, the row-wise outputs and the full statistics of few features carry
    LLVM's ``prefer-vector-width=512`` where the kernels are compiled for AVX-512 (32
    registers), and the full statistics' register tiles do not (their IR vectors are
    512-bit without it); on AVX2 nothing changes. Checked in the IR, so on any host."""
    from fastem._kernels import _config

    # imported first: the modules' tile shapes are read from the registers at import
    wide, tiles = _wide_and_tiles()
    monkeypatch.setattr(_config, "vector_registers", lambda: registers)
    for fn, signature in wide + tiles:
        ir = _compiled_alone(fn, signature, "llvm").splitlines()
        # the function's definition names its attribute group: "define ... #3 {"
        groups = {line.split()[1]: line for line in ir if line.startswith("attributes #")}
        # its own definition, by its mangled name ("9normalizeB..."): the module's name
        # ("10_normalize") is in its callees' too, which may have been compiled before
        # (as AVX-512 code, in a suite) and linked in
        own = f"{len(fn.__name__)}{fn.__name__}B"
        defines = [line for line in ir if line.startswith("define") and own in line]
        assert defines, fn.__name__
        marked = [d for d in defines if _config.PREFER_512 in groups.get(d.split()[-2], "")]
        expected = registers == 32 and (fn, signature) in wide
        assert bool(marked) == expected, (fn.__name__, registers)


def test_avx512_hosts_run_the_block_functions_in_zmm_registers():
    """On an AVX-512 host the attribute takes effect: the marked block functions' machine
    code uses 512-bit (zmm) registers, and so do the full statistics' register tiles,
    512-bit IR vectors without it."""
    from fastem._kernels._config import vector_registers

    if vector_registers() != 32:
        pytest.skip("the kernels are not compiled for AVX-512 here")
    wide, tiles = _wide_and_tiles()
    for fn, signature in wide + tiles:
        assert "zmm" in _compiled_alone(fn, signature, "asm"), fn.__name__
