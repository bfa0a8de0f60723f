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

from ._args import (
    _COV_TYPES,  # noqa: F401 - importable from here as before the split
    PROG,  # noqa: F401
    UsageError,
    _common,
    _cov_types,
    _data_options,
    _fit_options,
    _k_range,
    _nonneg_float,
    _nonneg_int,
    _Parser,
    _positive_int,
    _split_columns,
    build_parser,
)
from ._commands import (
    _check_features,
    _cmd_fit,
    _cmd_info,
    _cmd_predict,
    _cmd_sample,
    _cmd_score,
    _cmd_select,
    _load_model,
)
from ._data import _csv_columns, _n_features, _n_rows, _read_data
from ._main import _one_line, main
from ._output import (
    Progress,
    _components_text,
    _emit,
    _estimator,
    _finite,
    _json_default,
    _plain,
    _save_npy,
    _scores,
)

__all__ = ["main", "build_parser"]

# Everything above was defined in this module before it became a package: the
# classes and functions keep ``fastem.cli`` as their module, as before the split.
for _obj in (
    UsageError,
    _common,
    _cov_types,
    _data_options,
    _fit_options,
    _k_range,
    _nonneg_float,
    _nonneg_int,
    _Parser,
    _positive_int,
    _split_columns,
    build_parser,
    _check_features,
    _cmd_fit,
    _cmd_info,
    _cmd_predict,
    _cmd_sample,
    _cmd_score,
    _cmd_select,
    _load_model,
    _csv_columns,
    _n_features,
    _n_rows,
    _read_data,
    _one_line,
    main,
    Progress,
    _components_text,
    _emit,
    _estimator,
    _finite,
    _json_default,
    _plain,
    _save_npy,
    _scores,
):
    _obj.__module__ = __name__
del _obj
