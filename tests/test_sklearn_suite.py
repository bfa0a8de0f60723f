"""scikit-learn's own mixture tests, as installed, run against fastem's estimators.

``tests/_sklearn_suite_plugin.py`` replaces the classes of ``sklearn.mixture`` with fastem's
before scikit-learn's test modules are imported, then pytest runs the installed files in a
subprocess with ``SKLEARN_RUN_FLOAT32_TESTS=1`` (scikit-learn's ``global_dtype`` fixture then
gives float32 too). Nothing of their code is copied here. Only tests of scikit-learn's
private helpers and of its exact message wording are left out, each with its reason below;
every other test must pass (or be skipped by scikit-learn itself for the array-API
namespaces, which need packages this environment does not have).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sklearn

ROOT = Path(__file__).resolve().parent.parent
SK_TESTS = Path(sklearn.__file__).resolve().parent / "mixture" / "tests"

_WORDING = "exact message wording (fastem's messages name the parameter and its expected shape)"

#: test (a name, or a name with its parameters) -> why it is left out
DESELECTED = {
    "test_gaussian_mixture.py": {
        "test_check_weights": _WORDING + "; the same inputs are refused in test_robustness_table",
        "test_check_means": _WORDING + "; the same inputs are refused in test_robustness_table",
        "test_check_precisions": _WORDING + "; the same inputs are refused in test_estimator",
        "test_gaussian_mixture_precisions_init": (
            "calls the private helpers GaussianMixture._set_parameters and ._initialize"
        ),
        "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": (
            "mocks the private helper sklearn.mixture._gaussian_mixture."
            "_estimate_gaussian_parameters and counts its calls"
        ),
    },
    "test_bayesian_mixture.py": {
        "test_compare_covar_type": (
            "calls the private helpers BayesianGaussianMixture._check_parameters and "
            "._initialize_parameters"
        ),
    },
}

#: scikit-learn skips its array-API tests unless array_api_compat and SCIPY_ARRAY_API are set
ALLOWED_SKIP = ("array_api", "SCIPY_ARRAY_API", "not installed", "namespace")


def run_suite(filename, tmp_path, extra_env=None):
    """Run one installed scikit-learn test file against fastem; the outcome of every test."""
    report = tmp_path / f"{filename}.json"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(SK_TESTS / filename),
        "-p",
        "sklearn.conftest",  # scikit-learn's fixtures: global_dtype, global_random_seed
        # ... as a plugin only: pytest 9.2 also finds it as a conftest above the test file
        # and refuses the same module registered twice ("already registered")
        "--noconftest",
        "-p",
        "tests._sklearn_suite_plugin",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--rootdir={SK_TESTS}",
    ]
    env = dict(os.environ)
    env.update(
        SKLEARN_RUN_FLOAT32_TESTS="1",
        FASTEM_SUITE_REPORT=str(report),
        FASTEM_SUITE_DESELECT=json.dumps(list(DESELECTED.get(filename, {}))),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    for name, value in (extra_env or {}).items():  # None: unset
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert report.exists(), proc.stdout[-5000:] + proc.stderr[-5000:]
    return json.loads(report.read_text()), proc


def _check(filename, outcomes, proc, deselected, float32=True):
    failed = {k: v for k, v in outcomes.items() if v["outcome"] == "failed"}
    assert not failed, "\n\n".join(f"{k}:\n{v['error']}" for k, v in failed.items())
    passed = [k for k, v in outcomes.items() if v["outcome"] == "passed"]
    for name, entry in outcomes.items():
        if entry["outcome"] == "skipped":
            assert any(s in entry.get("reason", "") for s in ALLOWED_SKIP), (name, entry)
    # the float32 variants ran (SKLEARN_RUN_FLOAT32_TESTS reached scikit-learn's fixture)
    assert any("float32" in k for k in passed) or not float32
    # nothing deselected ran, and every deselected name still exists in the file
    source = (SK_TESTS / filename).read_text()
    for name in deselected:
        assert f"def {name}(" in source, f"{name} is no longer in {filename}: update DESELECTED"
        assert not any(k.split("[")[0] == name for k in outcomes), name
    assert proc.returncode == 0, proc.stdout[-5000:]
    return passed


@pytest.mark.parametrize("small_work", ["default", "0"], ids=["numpy_passes", "kernels"])
def test_sklearn_gaussian_mixture_suite(tmp_path, small_work):
    """All of test_gaussian_mixture.py but the tests of private helpers and message wording.

    ``default``: scikit-learn's small test data take fastem's NumPy passes, as a user's
    would; ``0``: every pass runs in the compiled kernels.
    """
    env = {"FASTEM_SMALL_WORK": None if small_work == "default" else small_work}
    filename = "test_gaussian_mixture.py"
    outcomes, proc = run_suite(filename, tmp_path, env)
    passed = _check(filename, outcomes, proc, DESELECTED[filename])
    assert len(passed) >= 65, sorted(passed)  # scikit-learn 1.9.1: 65 pass, 12 left out


@pytest.mark.parametrize("small_work", ["default", "0"], ids=["numpy_passes", "kernels"])
def test_sklearn_bayesian_mixture_suite(tmp_path, small_work):
    """All of test_bayesian_mixture.py but the test of private helpers (it has no float32
    variants)."""
    filename = "test_bayesian_mixture.py"
    env = {"FASTEM_SMALL_WORK": None if small_work == "default" else small_work}
    outcomes, proc = run_suite(filename, tmp_path, env)
    passed = _check(filename, outcomes, proc, DESELECTED[filename], float32=False)
    assert len(passed) >= 16, sorted(passed)  # scikit-learn 1.9.1: 16 pass, 1 left out
