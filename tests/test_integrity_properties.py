"""Property tests of data integrity (issue 18): each class of case, for random inputs.

* CSV files with blank runs, byte-order marks, CRLF, a header or none, ragged
  rows: read exactly as a plain-Python reference parse, or refused naming the
  row;
* output paths aliasing an input (links, ``..``, relative and absolute
  spellings): always refused, the input's bytes unchanged;
* corrupted model files and checkpoints (byte flips, truncation, extra
  entries): they load to the original values or raise a ``ValueError``,
  never another exception, with bounded memory;
* data scaled from 1e-300 to 1e300: the fit equals the unscaled one up to the
  scale, or is refused with a message that says to rescale.

``hypothesis.event`` records how many examples reach each path (run pytest
with ``--hypothesis-show-statistics``). Every fit is tiny (60 rows, float64,
C-contiguous: no new Numba specialization).
"""

import os
import tempfile
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import fastem
from fastem import GaussianMixture as GM
from fastem import _checkpoint
from fastem.cli import main
from fastem.sources import SourceError

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (n // 2, 2)), rng.normal(6, 1, (n - n // 2, 2))])


X = _data()


# ------------------------------------------------------------------- CSV files

_blank = st.sampled_from(["", " ", "\t", "  \t "])
_value = st.floats(-1e6, 1e6, allow_nan=False).map(repr)
_name = st.text("abcxyz_", min_size=1, max_size=4)


@st.composite
def _csv(draw):
    d = draw(st.integers(1, 4))
    n = draw(st.integers(1, 12))
    rows = [[draw(_value) for _ in range(d)] for _ in range(n)]
    ragged = draw(st.sampled_from([None, None, None] + list(range(n))))
    if ragged is not None:
        rows[ragged] = rows[ragged] + ["1.0"] if draw(st.booleans()) or d == 1 else rows[ragged][1:]
    header = [draw(_name) for _ in range(d)] if draw(st.booleans()) else None
    lines = ([",".join(header)] if header else []) + [",".join(r) for r in rows]
    out = []
    for line in lines:
        out += [draw(_blank) for _ in range(draw(st.integers(0, 3)))]  # blank runs
        out.append(line)
    out += [draw(_blank) for _ in range(draw(st.integers(0, 2)))]
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.booleans())
    text = ("\ufeff" if bom else "") + eol.join(out) + (eol if draw(st.booleans()) else "")
    event(f"csv: header={header is not None}, bom={bom}, ragged={ragged is not None}")
    if any(not b.strip() for b in out):
        event("csv: blank lines present")
    return text, draw(st.integers(1, 5))


def _reference(text):
    """Plain-Python parse: blank lines skipped, a non-numeric first line is the header."""
    lines = [ln for ln in text.lstrip("\ufeff").splitlines() if ln.strip()]

    def numeric(line):
        try:
            [float(v) for v in line.split(",")]
        except ValueError:
            return False
        return True

    first = next(ln for ln in text.lstrip("\ufeff").splitlines() if ln.strip())
    width = len(first.split(","))  # the header's (or the first row's) width
    if lines and not numeric(lines[0]):
        lines = lines[1:]
    rows = [ln.split(",") for ln in lines]
    for i, r in enumerate(rows):
        if len(r) != width:
            return i
    return np.array([[float(v) for v in r] for r in rows], dtype=np.float64).reshape(-1, width)


@settings(max_examples=60, **SETTINGS)
@given(_csv())
def test_csv_reads_like_the_reference_parse(case):
    text, chunk_rows = case
    expected = _reference(text)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        src = fastem.source(path, chunk_rows=chunk_rows)
        if isinstance(expected, int):
            with pytest.raises(SourceError, match=f"row offset {expected}: row has"):
                src.read()
            return
        got = src.read()
        np.testing.assert_array_equal(got, expected)
        assert src.n_rows == expected.shape[0]
        assert fastem.source(path).shape == expected.shape  # counted without parsing


# ------------------------------------------------------ outputs aliasing inputs


@st.composite
def _alias(draw):
    how = draw(st.sampled_from(["same", "dot", "dotdot", "absolute", "symlink", "hardlink"]))
    kind = draw(st.sampled_from(["cli-predict", "cli-fit", "out=", "checkpoint=", "cli-sample"]))
    event(f"alias: {how}")
    event(f"output: {kind}")
    return how, kind


@settings(max_examples=40, **SETTINGS)
@given(_alias())
def test_outputs_aliasing_an_input_are_refused(case):
    how, kind = case
    gm = GM(2, random_state=0, max_iter=5).fit(X)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "sub"))
        victim = "m.npy" if kind == "cli-sample" else "X.npy"
        if victim == "m.npy":
            fastem.save(gm, os.path.join(tmp, "m.npy"))
        else:
            np.save(os.path.join(tmp, "X.npy"), X)
            fastem.save(gm, os.path.join(tmp, "m.npz"))
        target = os.path.join(tmp, victim)
        alias = {
            "same": target,
            "dot": os.path.join(tmp, ".", victim),
            "dotdot": os.path.join(tmp, "sub", "..", victim),
            "absolute": os.path.abspath(target),
            "symlink": os.path.join(tmp, "link.npy"),
            "hardlink": os.path.join(tmp, "hard.npy"),
        }[how]
        if how == "symlink":
            os.symlink(target, alias)
        elif how == "hardlink":
            os.link(target, alias)
        before = open(target, "rb").read()
        model = os.path.join(tmp, "m.npz")
        if kind == "cli-predict":
            assert main(["predict", model, target, "-o", alias, "-q"]) == 1
        elif kind == "cli-fit":
            assert main(["fit", target, "-k", "2", "-o", alias, "-q"]) == 1
        elif kind == "cli-sample":
            assert main(["sample", target, "-n", "3", "-o", alias, "-q"]) == 1
        elif kind == "out=":
            with pytest.raises(ValueError, match="is the input file"):
                gm.score_samples(target, out=alias)
        else:
            with pytest.raises(ValueError, match="is the input file"):
                GM(2, random_state=0).fit(target, checkpoint=alias)
        assert open(target, "rb").read() == before


# --------------------------------------------- corrupted model files, checkpoints

_GM = GM(2, random_state=0, max_iter=5).fit(X)


def _corrupt(data, draw):
    how = draw(st.sampled_from(["flip", "truncate", "extra", "extra-bomb"]))
    event(f"corruption: {how}")
    if how == "flip":
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(buf) - 1))
            buf[i] ^= draw(st.integers(1, 255))
        return bytes(buf)
    if how == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    import io

    out = io.BytesIO(data)
    name = draw(st.sampled_from(["extra.npy", "weights_.npy", "x", "means_.npy"]))
    with warnings.catch_warnings(), zipfile.ZipFile(out, "a") as z:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": the point here
        if how == "extra":
            z.writestr(name, draw(st.binary(max_size=64)))
        else:
            z.writestr(name, b"\0" * (32 << 20), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _bounded(fn):
    """Run ``fn``; return (result or exception, peak traced bytes)."""
    tracemalloc.start()
    try:
        try:
            result = fn()
        except Exception as e:  # noqa: BLE001 - inspected by the caller
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_corrupted_model_files_load_or_raise_a_clear_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "m.npz")
        fastem.save(_GM, good)
        bad = os.path.join(tmp, "bad.npz")
        with open(good, "rb") as f:
            raw = f.read()
        with open(bad, "wb") as f:
            f.write(_corrupt(raw, data.draw))
        result, peak = _bounded(lambda: fastem.load(bad))
    assert peak < 8 << 20  # the file is a few kB; a zero-filled 32 MB entry never expands
    if isinstance(result, Exception):
        event("model: refused")
        assert type(result) is ValueError or isinstance(result, ValueError), repr(result)
        assert str(result)
        return
    event("model: loaded")
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(result, name), getattr(_GM, name))


@pytest.fixture(scope="module")
def checkpoint_bytes():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "c.npz")
        est = GM(2, random_state=0, max_iter=3)
        est.fit(X, checkpoint=path)
        from fastem._passes import ArrayData

        key = _checkpoint.fingerprint(est, ArrayData(np.ascontiguousarray(X)))
        state = _checkpoint.load(path, key, est, 2)
        with open(path, "rb") as f:
            return f.read(), key, est, state


@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_corrupted_checkpoints_resume_or_raise_a_clear_error(checkpoint_bytes, data):
    raw, key, est, state = checkpoint_bytes
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "c.npz")
        with open(bad, "wb") as f:
            f.write(_corrupt(raw, data.draw))
        result, peak = _bounded(lambda: _checkpoint.load(bad, key, est, 2))
    assert peak < 8 << 20
    if isinstance(result, Exception):
        event("checkpoint: refused")
        assert isinstance(result, ValueError), repr(result)
        return
    event("checkpoint: loaded")
    for a, b in zip(result["params"], state["params"]):
        np.testing.assert_array_equal(a, b)
    assert result["fingerprint"] == state["fingerprint"]


# --------------------------------------------------------------- data scaled

_REF = GM(2, random_state=0, reg_covar=0, tol=1e-12, max_iter=30).fit(X)


@settings(max_examples=30, **SETTINGS)
@given(st.integers(-300, 300))
def test_scaled_data_fits_equal_up_to_scale_or_is_refused(exponent):
    s = 10.0**exponent
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # none may leak
        try:
            gm = GM(2, random_state=0, reg_covar=0, tol=1e-12, max_iter=30).fit(X * s)
        except ValueError as e:
            event("scale: refused")
            assert "cale" in str(e), str(e)  # says to rescale the data
            assert abs(exponent) > 100, f"a scale of 1e{exponent} should fit"
            return
    event("scale: fitted")
    order = np.argsort(gm.means_[:, 0])
    ref = np.argsort(_REF.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order] / s, _REF.means_[ref], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gm.weights_[order], _REF.weights_[ref], rtol=1e-6)
    np.testing.assert_allclose(
        gm.covariances_[order] / s**2, _REF.covariances_[ref], rtol=1e-5, atol=1e-8
    )
