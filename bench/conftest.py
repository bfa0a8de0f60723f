"""Benchmark configuration: full sizes when timing, tiny sizes for the CI pass.

``python -m pytest`` (the CI run) has ``--benchmark-disable`` in its addopts:
each benchmark then runs once, on ``SMOKE_ROWS`` rows, so the suite cannot rot
and costs seconds. Timing runs (``--benchmark-enable``, or
``FASTEM_BENCH_FULL=1``) use the sizes of issue 3.
"""

import os

import pytest


def full_size(config):
    if os.environ.get("FASTEM_BENCH_FULL") == "1":
        return True
    try:
        # --benchmark-enable on the command line overrides the --benchmark-disable
        # of the addopts (pytest-benchmark keeps them as two separate options)
        enabled = config.getoption("benchmark_enable")
        return bool(enabled or not config.getoption("benchmark_disable"))
    except ValueError:  # pytest-benchmark not installed
        return False


@pytest.fixture(scope="session")
def bench_full(request):
    return full_size(request.config)
