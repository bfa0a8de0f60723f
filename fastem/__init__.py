"""fastem: Gaussian mixture models by EM in fused, parallel Numba kernels.

Importing fastem compiles nothing and imports nothing heavy: each public name
is imported on first use (PEP 562), so a process that needs only the kernels
(the helper of ``fastem._kernels._ahead``) does not pay for scikit-learn's
import. ``warmup`` is imported at once (the standard library only): its name is
also its module's, which an import of the submodule would otherwise put in its
place. Kernels compile on first use and are cached on disk.
"""

import importlib
from typing import TYPE_CHECKING

from ._interrupt import deferred
from .warmup import warmup

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC = {
    "GaussianMixture": "mixture",
    "BayesianGaussianMixture": "bayesian",
    "DegenerateComponentWarning": "_em_loop",
    "RegularizationWarning": "_em_loop",
    "InnerConvergenceWarning": "_models",
    "Source": "sources",
    "SourceError": "sources",
    "load_old_faithful": "datasets",
    "save": "io",
    "load": "io",
    "select_components": "select",
    "source": "sources",
}

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

if TYPE_CHECKING:  # what the names are, for type checkers and IDEs
    from ._em_loop import DegenerateComponentWarning, RegularizationWarning
    from ._models import InnerConvergenceWarning
    from .bayesian import BayesianGaussianMixture
    from .datasets import load_old_faithful
    from .io import load, save
    from .mixture import GaussianMixture
    from .select import select_components
    from .sources import Source, SourceError, source


def __getattr__(name):
    # (the first use imports scikit-learn and pandas: with Ctrl-C held off, as one stopped
    # half-way leaves them half-initialized for the rest of the process; ``_interrupt``)
    if name in _PUBLIC:
        with deferred():
            value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif not name.startswith("__"):  # a submodule, as ``fastem.mixture`` was before
        try:
            with deferred():
                value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_PUBLIC])
