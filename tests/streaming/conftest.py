"""Fixtures of the streaming tests: a small, well-separated 3-component mixture and weights."""

import numpy as np
import pytest

from .helpers import D, K, N


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0], [0.0, 5.0, 5.0]])
    lab = rng.integers(0, K, size=N)
    return centres[lab] + rng.normal(size=(N, D)) * np.array([1.0, 0.5, 1.5])


@pytest.fixture(scope="module")
def w():
    return np.random.default_rng(1).uniform(0.1, 2.0, size=N)
