"""The argument parser of the ``fastem`` command."""

from __future__ import annotations

import argparse
import os

import numpy as np

from .._models import MCLUST_NAMES as _MCLUST_NAMES
from ._commands import (
    _cmd_fit,
    _cmd_info,
    _cmd_predict,
    _cmd_sample,
    _cmd_score,
    _cmd_select,
    _cmd_warmup,
)

PROG = "fastem"


class UsageError(Exception):
    """A bad command line; exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _number(parse, ok, expected):
    """An argparse type: ``parse(s)``, accepted when ``ok(value)``."""

    def convert(s):
        try:
            v = parse(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {s!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {s!r}")
        return v

    return convert


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_nonneg_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_nonneg_float = _number(float, lambda v: np.isfinite(v) and v >= 0, "a finite number >= 0")


_seed = _number(int, lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)")


def _plot_path(s):
    """A --plot path: matplotlib must be installed and write the format its suffix names
    (checked before the selection runs, not after)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise argparse.ArgumentTypeError(
            "plotting needs matplotlib: pip install 'fastem[plot]'"
        ) from None
    suffix = os.path.splitext(s)[1].lower().lstrip(".")
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix not in formats:
        raise argparse.ArgumentTypeError(
            f"{s!r} has the suffix {('.' + suffix) if suffix else '(none)'!r}, which matplotlib "
            f"cannot write; use one of {', '.join('.' + f for f in formats)}"
        )
    return s


def _table_path(s):
    """An output path for rows: its suffix says the format (.npy, .csv or .txt)."""
    from ._output import TABLE_SUFFIXES

    suffix = os.path.splitext(s)[1].lower()
    if suffix not in TABLE_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{s!r} has the unknown suffix {suffix or '(none)'!r}; "
            "write .npy (NumPy), .csv (comma-separated) or .txt (space-separated)"
        )
    return s


def _k_range(s):
    """'1:10' (inclusive), '2:10:2' or '2,3,5'."""
    try:
        if ":" in s:
            parts = [int(p) for p in s.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[:2]
            step = parts[2] if len(parts) == 3 else 1
            if step < 1:
                raise ValueError
            ks = list(range(lo, hi + 1, step))
        else:
            ks = [int(p) for p in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LOW:HIGH (inclusive), LOW:HIGH:STEP or a list like 2,3,5; got {s!r}"
        ) from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"the K range must hold integers >= 1, got {s!r}")
    return ks


_COV_TYPES = ("full", "tied", "diag", "spherical")
#: every covariance type a fit accepts: scikit-learn's four and mclust's models
_ALL_COV_TYPES = _COV_TYPES + _MCLUST_NAMES


def _cov_types(s):
    if s.strip() == "mclust":
        return "mclust"
    types = [t.strip() for t in s.split(",") if t.strip()]
    bad = [t for t in types if t not in _ALL_COV_TYPES]
    if not types or bad:
        raise argparse.ArgumentTypeError(
            f"expected 'mclust' or a comma-separated subset of {','.join(_ALL_COV_TYPES)}, "
            f"got {s!r}"
        )
    return types


def _data_options(p):
    p.add_argument(
        "--columns",
        nargs="+",
        metavar="COL",
        help="column names (CSV header) or integer indices to use; also COL,COL",
    )
    p.add_argument("--dataset", metavar="NAME", help="dataset inside an HDF5 or Zarr file")
    p.add_argument(
        "--weight-column",
        metavar="COL",
        help="column (header name or integer index) of each row's sample weight; never a feature",
    )
    p.add_argument(
        "--chunk-rows",
        type=_positive_int,
        metavar="R",
        help="rows per chunk when streaming from disk",
    )


def _table_output(p):
    p.add_argument(
        "-o",
        "--output",
        type=_table_path,
        required=True,
        metavar="OUT.npy",
        help="file to write: .npy, .csv or .txt",
    )


def _common(p):
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _prior_option(p):
    p.add_argument(
        "--prior",
        action="store_const",
        const="default",
        default=None,
        help="MAP with mclust's default conjugate prior (prior='default')",
    )


def _missing_option(p):
    p.add_argument(
        "--missing",
        choices=("error", "marginalize"),
        default="error",
        help="NaN in DATA: refused (error, the default) or not observed (marginalize; the "
        "model file keeps it, so predict and score marginalize too)",
    )


def _reg_covar_option(p):
    p.add_argument(
        "--reg-covar",
        type=_nonneg_float,
        default=1e-6,
        metavar="X",
        help="added to the covariance diagonals (default 1e-6)",
    )


def _fit_options(p):
    p.add_argument(
        "--n-init",
        type=_positive_int,
        default=1,
        metavar="N",
        help="initializations; the best is kept (default 1)",
    )
    p.add_argument(
        "--max-iter",
        type=_nonneg_int,
        default=100,
        metavar="M",
        help="EM iterations per initialization (default 100)",
    )
    p.add_argument(
        "--tol",
        type=_nonneg_float,
        default=1e-3,
        metavar="X",
        help="convergence threshold on the mean log-likelihood (default 1e-3)",
    )
    p.add_argument("--seed", type=_seed, default=None, metavar="S", help="random seed")
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="T",
        help="threads for the kernels (default: all cores)",
    )


def build_parser():
    """The argument parser of the ``fastem`` command.

    Returns
    -------
    parser : argparse.ArgumentParser

    Examples
    --------
    >>> args = build_parser().parse_args(["fit", "data.csv", "-k", "3", "-o", "m.npz"])
    >>> args.command, args.k, args.covariance_type, args.output
    ('fit', 3, 'full', 'm.npz')
    """
    from .. import __version__

    parser = _Parser(
        prog=PROG,
        description="Gaussian mixture models fitted by EM in fast Numba kernels.",
    )
    parser.add_argument("--version", action="version", version=f"fastem {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )

    p = sub.add_parser(
        "fit",
        help="fit a mixture and save it to a model file",
        description="Fit a Gaussian mixture to DATA and save it (.npz).",
    )
    p.add_argument("data", metavar="DATA", help="data file (.csv with header, .npy, ...)")
    p.add_argument(
        "-k",
        "--n-components",
        dest="k",
        type=_positive_int,
        required=True,
        metavar="K",
        help="number of components",
    )
    p.add_argument(
        "--covariance-type",
        choices=_ALL_COV_TYPES,
        default="full",
        metavar="T",
        help="full (default), tied, diag, spherical, or an mclust model (EII ... VVV)",
    )
    p.add_argument(
        "--init-params",
        choices=("kmeans", "k-means++", "random", "random_from_data", "hc"),
        default="kmeans",
        metavar="METHOD",
        help="kmeans (default), k-means++, random, random_from_data or hc (mclust's start)",
    )
    _reg_covar_option(p)
    _prior_option(p)
    _missing_option(p)
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="save the EM state here after every pass; rerun the same command to resume",
    )
    _fit_options(p)
    _data_options(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL.npz", help="model file to write")
    _common(p)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser(
        "predict",
        help="component labels (or probabilities) of every row",
        description="Predict the component of every row of DATA.",
    )
    p.add_argument("model", metavar="MODEL", help="model file written by 'fastem fit'")
    p.add_argument("data", metavar="DATA", help="data file")
    p.add_argument(
        "--proba",
        action="store_true",
        help="write the (n_rows, K) posterior probabilities instead of labels",
    )
    _data_options(p)
    _table_output(p)
    _common(p)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "score",
        help="log-likelihood, BIC and AIC of data under a model",
        description="Score DATA under MODEL.",
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    _data_options(p)
    _common(p)
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser(
        "sample", help="draw samples from a model", description="Draw N samples from MODEL."
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("-n", type=_positive_int, required=True, metavar="N", help="number of samples")
    p.add_argument("--seed", type=_seed, default=None, metavar="S", help="random seed")
    _table_output(p)
    _common(p)
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("info", help="describe a model file", description="Describe MODEL.")
    p.add_argument("model", metavar="MODEL")
    _common(p)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "select",
        help="choose K and the covariance type by BIC or AIC",
        description="Fit a grid of mixtures to DATA and keep the best.",
    )
    p.add_argument("data", metavar="DATA")
    p.add_argument(
        "--k-range",
        type=_k_range,
        default=list(range(1, 7)),
        metavar="LOW:HIGH",
        help="numbers of components, inclusive (default 1:6); or 2,3,5",
    )
    p.add_argument(
        "--covariance-types",
        type=_cov_types,
        default=list(_COV_TYPES),
        metavar="T,T",
        help="comma-separated (default full,tied,diag,spherical), or mclust for its 14 models",
    )
    p.add_argument("--criterion", choices=("bic", "aic", "icl"), default="bic")
    _prior_option(p)
    _missing_option(p)
    p.add_argument(
        "--init-params",
        choices=("kmeans", "hc"),
        default="kmeans",
        metavar="METHOD",
        help="kmeans (default) or hc (mclust's hierarchical clustering start)",
    )
    _reg_covar_option(p)
    _fit_options(p)
    _data_options(p)
    p.add_argument("-o", "--output", metavar="BEST.npz", help="save the best model here")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        type=_plot_path,
        help="plot the criterion curves (needs the 'plot' extra)",
    )
    _common(p)
    p.set_defaults(func=_cmd_select)

    p = sub.add_parser(
        "warmup",
        help="compile every kernel for this machine (container images, CI caches)",
        description="Compile every kernel into the Numba disk cache (NUMBA_CACHE_DIR), "
        "in parallel processes, so that later fits load them instead of compiling.",
    )
    p.add_argument(
        "-j", "--jobs", type=_positive_int, default=None, help="processes at once (default: cores)"
    )
    _common(p)
    p.set_defaults(func=_cmd_warmup)
    return parser


def _split_columns(columns):
    if not columns:
        return None
    out = [c.strip() for col in columns for c in col.split(",") if c.strip()]
    return out or None
