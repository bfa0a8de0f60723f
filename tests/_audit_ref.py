"""Shared data and helpers of the input-audit regression tests (``test_fuzz_audit*.py``)."""

import warnings

import numpy as np
from sklearn.mixture import BayesianGaussianMixture as SkBGM
from sklearn.mixture import GaussianMixture as SkGM

from fastem import BayesianGaussianMixture as BGM
from fastem import GaussianMixture as GM

rng = np.random.default_rng(0)
X = np.vstack([rng.normal(0, 1, (40, 2)), rng.normal(6, 1, (40, 2))]) + rng.normal(0, 3, (80, 2))
ESTIMATORS = [(GM, SkGM), (BGM, SkBGM)]
PARAMS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()
