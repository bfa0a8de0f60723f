"""fastem: Gaussian mixture models by EM in fused, parallel Numba kernels.

Importing fastem compiles nothing; kernels compile on first use and are cached
on disk.
"""

from ._em_loop import DegenerateComponentWarning, RegularizationWarning
from ._models import InnerConvergenceWarning
from .bayesian import BayesianGaussianMixture
from .datasets import load_old_faithful
from .io import load, save
from .mixture import GaussianMixture
from .select import select_components
from .sources import Source, SourceError, source
from .warmup import warmup

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
    "BayesianGaussianMixture",
    "DegenerateComponentWarning",
    "RegularizationWarning",
    "InnerConvergenceWarning",
    "Source",
    "SourceError",
    "load_old_faithful",
    "save",
    "load",
    "select_components",
    "source",
    "warmup",
    "__version__",
]
