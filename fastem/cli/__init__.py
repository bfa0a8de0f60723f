"""The ``fastem`` command line.

::

    fastem fit DATA -k K [options] -o MODEL.npz
    fastem predict MODEL DATA -o OUT.npy [--proba]
    fastem score MODEL DATA
    fastem sample MODEL -n N -o OUT.npy
    fastem info MODEL
    fastem select DATA --k-range 1:10 [-o BEST.npz]

Every command takes ``--json`` for a machine-readable summary on stdout. A
progress bar over EM iterations (fit) or fits (select) is drawn on stderr when
stderr is a terminal, and never otherwise. Errors are one line on stderr and a
non-zero exit status (2 for bad arguments, 1 for everything else), never a
traceback.
"""

from ._args import build_parser
from ._main import main

__all__ = ["main", "build_parser"]
