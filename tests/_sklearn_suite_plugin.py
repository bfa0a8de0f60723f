"""pytest plugin: run scikit-learn's installed mixture tests against fastem's estimators.

Loaded with ``-p tests._sklearn_suite_plugin`` by ``tests/test_sklearn_suite.py`` in a
subprocess. Before scikit-learn's test modules are imported, the estimator classes of
``sklearn.mixture`` are replaced by fastem's, so their ``from sklearn.mixture import
GaussianMixture`` gets fastem's class; no line of their code is copied. Every collected
module is checked to hold fastem's class (a substitution that silently failed would
test scikit-learn against itself), and each test's outcome is written as JSON to the
path in ``FASTEM_SUITE_REPORT``.
"""

import json
import os

import sklearn.mixture

import fastem

PATCHED = {
    name: getattr(fastem, name)
    for name in ("GaussianMixture", "BayesianGaussianMixture")
    if hasattr(fastem, name)
}
_outcomes = {}


def pytest_configure(config):
    for name, cls in PATCHED.items():
        setattr(sklearn.mixture, name, cls)


def pytest_collection_modifyitems(session, config, items):
    """Deselect the test functions named in ``FASTEM_SUITE_DESELECT`` (a JSON list), all
    their parametrizations and nothing else; check the substitution."""
    names = set(json.loads(os.environ.get("FASTEM_SUITE_DESELECT", "[]")))
    left_out = [item for item in items if getattr(item, "originalname", item.name) in names]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
    for item in items:
        module = getattr(item, "module", None)
        for name, cls in PATCHED.items():
            held = getattr(module, name, cls)
            if held is not cls:
                raise RuntimeError(f"{module.__name__}.{name} is {held!r}, not fastem's class")


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        entry = _outcomes.setdefault(report.nodeid.split("::", 1)[1], {})
        if report.outcome != "passed" or "outcome" not in entry:
            entry["outcome"] = report.outcome
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                entry["reason"] = report.longrepr[2]
            elif report.outcome == "failed":
                entry["when"] = report.when
                entry["error"] = str(report.longrepr)[-3000:]


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("FASTEM_SUITE_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(_outcomes, f, indent=1)
