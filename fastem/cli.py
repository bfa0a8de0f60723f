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

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

PROG = "fastem"


class UsageError(Exception):
    """A bad command line; exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------- data


def _csv_columns(path, columns):
    """(header names or None, indices to read or None, rows to skip) of a CSV file."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    if not first.strip():
        raise ValueError(f"{path} is empty.")
    fields = [h.strip().strip('"').strip("'") for h in first.rstrip("\r\n").split(",")]
    try:
        [float(h) for h in fields]
        names, skip = None, 0  # no header row
    except ValueError:
        names, skip = fields, 1
    if not columns:
        return names, None, skip
    idx = []
    for c in columns:
        if names is not None and c in names:
            idx.append(names.index(c))
            continue
        try:
            i = int(c)
        except ValueError:
            known = ", ".join(names) if names else "none (the file has no header row)"
            raise ValueError(f"no column {c!r} in {path}; columns are: {known}.") from None
        if not -len(fields) <= i < len(fields):
            raise ValueError(
                f"column index {i} is out of range for {path} ({len(fields)} columns)."
            )
        idx.append(i % len(fields))
    return names, idx, skip


def _read_data(path, columns=None, dataset=None, chunk_rows=None):
    """The data at ``path``: a :func:`fastem.source` where fastem has one, else an array.

    Without ``fastem.source``, ``.csv`` (with or without a header row) and
    ``.npy`` files are read into memory with NumPy.

    Parameters
    ----------
    path : str
        The data file.
    columns : list of str, default=None
        Column names or integer indices to use; all columns by default.
    dataset : str, default=None
        The dataset inside an HDF5 or Zarr file.
    chunk_rows : int, default=None
        Rows per chunk when streaming.

    Returns
    -------
    data : ndarray of shape (n_samples, n_features) or a data source
    """
    import fastem

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    source = getattr(fastem, "source", None)
    if source is not None:
        kwargs = {"chunk_rows": chunk_rows, "columns": columns, "dataset": dataset}
        return source(path, **{k: v for k, v in kwargs.items() if v is not None})
    ext = os.path.splitext(path)[1].lower()
    if dataset is not None:
        raise ValueError(f"--dataset applies to HDF5 and Zarr files, not to {ext or path!r} files.")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; expected a .csv or .npy file.")
    if ext == ".csv":
        names, idx, skip = _csv_columns(path, columns)
        try:
            X = np.loadtxt(
                path, delimiter=",", skiprows=skip, usecols=idx, ndmin=2, dtype=np.float64
            )
        except ValueError as e:
            raise ValueError(f"cannot read {path} as comma-separated numbers: {e}") from None
    elif ext == ".npy":
        try:
            X = np.load(path, allow_pickle=False, mmap_mode="r")
        except ValueError as e:
            raise ValueError(f"cannot read {path} as a .npy array: {e}") from None
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if X.ndim != 2:
            raise ValueError(
                f"{path} holds an array of shape {X.shape}; expected 2-D rows x features."
            )
        if columns:
            try:
                X = X[:, [int(c) for c in columns]]
            except (ValueError, IndexError):
                raise ValueError(
                    f"--columns for a .npy file must be integer indices below {X.shape[1]}, "
                    f"got {columns}."
                ) from None
        X = np.asarray(X)
    else:
        raise ValueError(
            f"cannot read {path}: unsupported format {ext or '(no extension)'!r}; "
            "this fastem reads .csv (header row optional) and .npy files."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{path} holds no rows.")
    return X


def _n_rows(data):
    n = getattr(data, "n_samples", None)
    if n is None:
        n = np.shape(data)[0]
    return int(n)


def _n_features(data):
    d = getattr(data, "n_features", None)
    if d is None:
        d = np.shape(data)[1]
    return int(d)


# ----------------------------------------------------------------- progress


class Progress:
    """A one-line progress bar on stderr, drawn only on a terminal.

    Parameters
    ----------
    enabled : bool
        Draw anything at all.
    stream : file, default=sys.stderr
    """

    def __init__(self, enabled, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(enabled)
        self._last = 0.0
        self._width = 0

    def update(self, fraction, text, force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.05:
            return
        self._last = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(24 * fraction))
        line = f"[{'#' * filled}{'.' * (24 - filled)}] {text}"
        pad = max(self._width - len(line), 0)
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self):
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def _estimator(progress, **params):
    """A GaussianMixture that reports each EM iteration (pass) to ``progress``."""
    from .mixture import GaussianMixture

    class _ReportingMixture(GaussianMixture):
        # The estimator's verbose hooks run once per initialization and once per
        # EM iteration; with verbose=0 they print nothing, so they are free to use.
        def _print_init_begin(self, init):
            self._cli_init = init
            super()._print_init_begin(init)
            progress.update(init / self.n_init, f"init {init + 1}/{self.n_init}", force=True)

        def _print_iter_end(self, n_iter, change):
            super()._print_iter_end(n_iter, change)
            init = getattr(self, "_cli_init", 0)
            frac = (init + n_iter / self.max_iter) / self.n_init
            progress.update(
                frac,
                f"init {init + 1}/{self.n_init}  EM pass {n_iter}/{self.max_iter}  "
                f"change {change:.3g}",
            )

    if not progress.enabled:
        return GaussianMixture(**params)
    return _ReportingMixture(**params)


def _plain(model):
    """The same fitted model as a plain GaussianMixture (drops the progress hooks)."""
    from .mixture import GaussianMixture

    if type(model) is GaussianMixture:
        return model
    plain = GaussianMixture(**model.get_params())
    for k, v in vars(model).items():
        if k.endswith("_") and not k.startswith("_"):
            setattr(plain, k, v)
    return plain


# ------------------------------------------------------------------ output


def _save_npy(path, array):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path}: no such directory {directory}")
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _emit(args, summary, text):
    if args.json:
        print(json.dumps(summary, indent=None, default=_json_default))
    else:
        print(text)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _finite(x):
    x = float(x)
    return x if np.isfinite(x) else None


def _components_text(model):
    lines = []
    for k in range(model.n_components):
        mean = ", ".join(f"{v:.4g}" for v in model.means_[k])
        lines.append(f"  component {k}: weight {model.weights_[k]:.4f}  mean [{mean}]")
    return "\n".join(lines)


def _scores(model, data):
    from . import _stats

    n = _n_rows(data)
    ll = float(model.score(data))
    p = _stats.n_parameters(model.covariance_type, model.n_components, model.means_.shape[1])
    return {
        "n_samples": n,
        "log_likelihood": ll,
        "total_log_likelihood": ll * n,
        "bic": -2 * ll * n + p * np.log(n),
        "aic": -2 * ll * n + 2 * p,
        "n_parameters": p,
    }


# ----------------------------------------------------------------- commands


def _cmd_fit(args, progress):
    from .io import save

    data = _read_data(args.data, args.columns, args.dataset, args.chunk_rows)
    params = dict(
        n_components=args.k,
        covariance_type=args.covariance_type,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        reg_covar=args.reg_covar,
        init_params=args.init_params,
        random_state=args.seed,
        n_threads=args.threads,
    )
    gm = _estimator(progress, **params)
    t0 = time.perf_counter()
    try:
        if args.checkpoint:
            gm.fit(data, checkpoint=args.checkpoint)
        else:
            gm.fit(data)
    except KeyboardInterrupt:
        if args.checkpoint:
            raise KeyboardInterrupt(
                f"interrupted; run the same command again to resume from {args.checkpoint}"
            ) from None
        raise
    finally:
        progress.close()
    seconds = time.perf_counter() - t0
    gm = _plain(gm)
    save(gm, args.output)
    scores = _scores(gm, data)
    summary = {
        "command": "fit",
        "model": args.output,
        "data": args.data,
        "n_features": int(gm.n_features_in_),
        "n_components": gm.n_components,
        "covariance_type": gm.covariance_type,
        "converged": bool(gm.converged_),
        "n_iter": int(gm.n_iter_),
        "lower_bound": _finite(gm.lower_bound_),
        **scores,
        "weights": gm.weights_,
        "means": gm.means_,
        "seconds": seconds,
    }
    conv = "converged" if gm.converged_ else "did NOT converge"
    text = (
        f"fitted a {gm.n_components}-component {gm.covariance_type!r} Gaussian mixture to "
        f"{scores['n_samples']} rows x {gm.n_features_in_} features in {seconds:.2f} s\n"
        f"EM {conv} after {gm.n_iter_} iterations (best of {gm.n_init} init); "
        f"log-likelihood {scores['log_likelihood']:.5f} per row\n"
        f"BIC {scores['bic']:.3f}  AIC {scores['aic']:.3f}\n"
        f"{_components_text(gm)}\n"
        f"saved {args.output}"
    )
    _emit(args, summary, text)
    return 0


def _load_model(path):
    from .io import _load

    return _load(path)


def _check_features(model, data, path):
    try:
        d = _n_features(data)
    except (TypeError, IndexError, ValueError):  # a source that cannot say: the model checks
        return
    if d != model.n_features_in_:
        raise ValueError(
            f"{path} has {d} columns but the model was fitted on {model.n_features_in_}; "
            "pick the same columns with --columns."
        )


def _cmd_predict(args, progress):
    model, _ = _load_model(args.model)
    data = _read_data(args.data, args.columns, args.dataset, args.chunk_rows)
    _check_features(model, data, args.data)
    out = model.predict_proba(data) if args.proba else model.predict(data)
    out = np.asarray(out)
    _save_npy(args.output, out)
    labels = out.argmax(axis=1) if args.proba else out
    counts = np.bincount(labels.astype(np.int64), minlength=model.n_components)
    what = "probabilities" if args.proba else "labels"
    summary = {
        "command": "predict",
        "output": args.output,
        "kind": what,
        "shape": list(out.shape),
        "counts": counts,
    }
    text = f"wrote {what} of shape {tuple(out.shape)} to {args.output}\n" + "\n".join(
        f"  component {k}: {c} rows" for k, c in enumerate(counts)
    )
    _emit(args, summary, text)
    return 0


def _cmd_score(args, progress):
    model, _ = _load_model(args.model)
    data = _read_data(args.data, args.columns, args.dataset, args.chunk_rows)
    _check_features(model, data, args.data)
    scores = _scores(model, data)
    summary = {"command": "score", "model": args.model, "data": args.data, **scores}
    text = (
        f"log-likelihood {scores['log_likelihood']:.6f} per row "
        f"({scores['total_log_likelihood']:.4f} over {scores['n_samples']} rows)\n"
        f"BIC {scores['bic']:.3f}  AIC {scores['aic']:.3f}"
    )
    _emit(args, summary, text)
    return 0


def _cmd_sample(args, progress):
    model, _ = _load_model(args.model)
    if args.seed is not None:
        model.random_state = args.seed
    X, y = model.sample(args.n)
    _save_npy(args.output, X)
    counts = np.bincount(y, minlength=model.n_components)
    summary = {"command": "sample", "output": args.output, "shape": list(X.shape), "counts": counts}
    text = f"wrote {X.shape[0]} samples x {X.shape[1]} features to {args.output}\n" + "\n".join(
        f"  component {k}: {c} samples" for k, c in enumerate(counts)
    )
    _emit(args, summary, text)
    return 0


def _cmd_info(args, progress):
    model, meta = _load_model(args.model)
    summary = {
        "command": "info",
        "model": args.model,
        "format_version": meta["format_version"],
        "fastem_version": meta["fastem_version"] if "fastem_version" in meta else None,
        "n_components": model.n_components,
        "n_features": int(model.n_features_in_),
        "covariance_type": model.covariance_type,
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "lower_bound": _finite(model.lower_bound_),
        "params": meta["params"],
        "weights": model.weights_,
        "means": model.means_,
        "covariances": model.covariances_,
    }
    params = ", ".join(f"{k}={v!r}" for k, v in sorted(meta["params"].items()))
    text = (
        f"{args.model}: fastem model format {meta['format_version']} "
        f"(written by fastem {summary['fastem_version']})\n"
        f"{model.n_components}-component {model.covariance_type!r} Gaussian mixture of "
        f"{model.n_features_in_} features; converged={model.converged_} after "
        f"{model.n_iter_} iterations, lower bound {model.lower_bound_:.6f}\n"
        f"hyper-parameters: {params}\n"
        f"{_components_text(model)}"
    )
    _emit(args, summary, text)
    return 0


def _cmd_select(args, progress):
    from .io import save
    from .select import format_table, select_components

    data = _read_data(args.data, args.columns, args.dataset, args.chunk_rows)

    def callback(done, total, row):
        progress.update(
            done / total,
            f"fit {done}/{total}: K={row['n_components']} {row['covariance_type']}",
            force=True,
        )

    progress.update(0.0, "fitting", force=True)
    try:
        best, table = select_components(
            data,
            n_components=args.k_range,
            covariance_types=args.covariance_types,
            criterion=args.criterion,
            n_init=args.n_init,
            max_iter=args.max_iter,
            tol=args.tol,
            random_state=args.seed,
            n_threads=args.threads,
            callback=callback,
        )
    finally:
        progress.close()
    if args.output:
        save(best, args.output)
    if args.plot:
        try:
            import matplotlib

            matplotlib.use("Agg")  # a file, never a window
        except ImportError:
            pass  # plot_criterion says how to install it
        from .plots import plot_criterion

        fig = plot_criterion(table, criterion=("bic", "aic")).figure
        fig.savefig(args.plot)
    summary = {
        "command": "select",
        "criterion": args.criterion,
        "best": {
            "n_components": best.n_components,
            "covariance_type": best.covariance_type,
            args.criterion: float(np.nanmin(table[args.criterion])),
        },
        "model": args.output,
        "table": [
            {
                c: (_finite(table[c][i]) if table[c].dtype.kind == "f" else table[c][i])
                for c in table
            }
            for i in range(len(table["bic"]))
        ],
    }
    text = format_table(table, args.criterion) + (
        f"\nbest by {args.criterion.upper()}: K={best.n_components} {best.covariance_type!r}"
    )
    if args.output:
        text += f"\nsaved {args.output}"
    if args.plot:
        text += f"\nplotted {args.plot}"
    _emit(args, summary, text)
    return 0


# ------------------------------------------------------------------ parsing


def _positive_int(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def _nonneg_int(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s!r}")
    return v


def _nonneg_float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not np.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {s!r}")
    return v


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


def _cov_types(s):
    types = [t.strip() for t in s.split(",") if t.strip()]
    bad = [t for t in types if t not in _COV_TYPES]
    if not types or bad:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(_COV_TYPES)}, got {s!r}"
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
        "--chunk-rows",
        type=_positive_int,
        metavar="R",
        help="rows per chunk when streaming from disk",
    )


def _common(p):
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


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
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed")
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
    from . import __version__

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
        choices=_COV_TYPES,
        default="full",
        metavar="T",
        help="full (default), tied, diag or spherical",
    )
    p.add_argument(
        "--init-params",
        choices=("kmeans", "k-means++", "random", "random_from_data"),
        default="kmeans",
        metavar="METHOD",
        help="kmeans (default), k-means++, random or random_from_data",
    )
    p.add_argument(
        "--reg-covar",
        type=_nonneg_float,
        default=1e-6,
        metavar="X",
        help="added to the covariance diagonals (default 1e-6)",
    )
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
    p.add_argument("-o", "--output", required=True, metavar="OUT.npy", help=".npy file to write")
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
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed")
    p.add_argument("-o", "--output", required=True, metavar="OUT.npy", help=".npy file to write")
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
        help="comma-separated (default full,tied,diag,spherical)",
    )
    p.add_argument("--criterion", choices=("bic", "aic"), default="bic")
    _fit_options(p)
    _data_options(p)
    p.add_argument("-o", "--output", metavar="BEST.npz", help="save the best model here")
    p.add_argument(
        "--plot", metavar="FILE.png", help="plot the criterion curves (needs the 'plot' extra)"
    )
    _common(p)
    p.set_defaults(func=_cmd_select)
    return parser


def _split_columns(columns):
    if not columns:
        return None
    out = [c.strip() for col in columns for c in col.split(",") if c.strip()]
    return out or None


def _one_line(e):
    if isinstance(e, OSError) and e.strerror and e.filename:
        msg = f"{e.strerror}: {e.filename}"
    else:
        msg = str(e) or type(e).__name__
        if isinstance(e, KeyError):
            msg = f"missing key {msg}"
    return " ".join(msg.split())


def main(argv=None):
    """Run the ``fastem`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``sys.argv[1:]`` by default.

    Returns
    -------
    status : int
        0 on success, 1 for a failed command, 2 for a bad command line.
    """
    progress = Progress(False)

    def showwarning(message, category, filename, lineno, file=None, line=None):
        progress.close()  # a warning never lands in the middle of the progress bar
        sys.stderr.write(f"{PROG}: warning: {' '.join(str(message).split())}\n")

    saved = warnings.showwarning
    warnings.showwarning = showwarning
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if hasattr(args, "columns"):
            args.columns = _split_columns(args.columns)
        progress.enabled = sys.stderr.isatty() and not args.json and not args.quiet
        return args.func(args, progress)
    except UsageError as e:
        progress.close()
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return 2
    except KeyboardInterrupt as e:
        progress.close()
        sys.stderr.write(f"{PROG}: {e.args[0] if e.args else 'interrupted'}\n")
        return 130
    except ImportError as e:
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return 1
    except Exception as e:  # noqa: BLE001 - the command line never shows a traceback
        if os.environ.get("FASTEM_TRACEBACK"):
            raise
        progress.close()
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return 1
    finally:
        progress.close()
        warnings.showwarning = saved


if __name__ == "__main__":
    sys.exit(main())
