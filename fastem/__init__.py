"""fastem: Gaussian mixture models by EM in fused, parallel Numba kernels.

Importing fastem compiles nothing; kernels compile on first use and are cached
on disk.
"""

from .datasets import load_old_faithful
from .io import load, save
from .mixture import DegenerateComponentWarning, GaussianMixture
from .select import select_components

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
    "DegenerateComponentWarning",
    "load_old_faithful",
    "save",
    "load",
    "select_components",
    "__version__",
]
