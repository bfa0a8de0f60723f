"""The sub-commands: fit, predict, score, sample, info and select."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time

import numpy as np

from ._data import _n_features, _read_data
from ._output import (
    _components_text,
    _emit,
    _estimator,
    _finite,
    _n_fitted,
    _plain,
    _save_table,
    _scores,
)


def _outputs_first(outputs, inputs, model=None):
    """Refuse outputs that are inputs or cannot be written, before any work.

    ``model``: the model file to be written, which may only replace a model file.
    """
    from .._paths import check_outputs
    from ..io import _check_replaceable

    check_outputs(outputs, inputs)
    if model:
        _check_replaceable(model)


def _cmd_fit(args, progress):
    from ..io import save

    _outputs_first(
        [("-o", args.output), ("--checkpoint", args.checkpoint)], [args.data], args.output
    )
    data = _read_data(args.data, args.columns, args.dataset, args.chunk_rows, args.weight_column)
    params = dict(
        n_components=args.k,
        covariance_type=args.covariance_type,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        reg_covar=args.reg_covar,
        init_params=args.init_params,
        prior=args.prior,
        missing=args.missing,
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
    gm = _with_header_names(_plain(gm), data)
    scores = _scores(gm, data)  # a pass over the data: before the model file is replaced
    save(gm, args.output)
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


def _with_header_names(gm, data):
    """``gm`` with ``feature_names_in_`` from the header of the source it was fitted on (a CSV
    header, a Parquet schema), as a fit on a pandas frame keeps its columns: ``predict`` and
    ``score`` then refuse a file whose columns are other or in another order, as they refuse
    it for such a model (without names they scored the columns as they came)."""
    from .._stream_api import header_names

    names = header_names(data)
    if names is not None:
        gm.feature_names_in_ = np.asarray(names, dtype=object)
    return gm


def _load_model(path):
    from ..io import _load

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
    # a model fitted on named features (a pandas frame): the header must name them in order
    from .._stream_api import check_header_names

    check_header_names(model, data, path, cli=True)


def _model_and_data(args):
    """The saved model and the data it is applied to, with matching widths."""
    model, _ = _load_model(args.model)
    data = _read_data(args.data, args.columns, args.dataset, args.chunk_rows, args.weight_column)
    _check_features(model, data, args.data)
    return model, data


def _cmd_predict(args, progress):
    _outputs_first([("-o", args.output)], [args.model, args.data])
    model, data = _model_and_data(args)
    method = model.predict_proba if args.proba else model.predict
    # written chunk by chunk (``out=``), never held whole: a .npy output directly (it replaces
    # the file only when every row is written), a text one from a .npy file next to it
    text_output = os.path.splitext(args.output)[1].lower() != ".npy"
    with contextlib.ExitStack() as stack:
        path = args.output
        if text_output:
            folder = os.path.dirname(os.path.abspath(args.output))
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=".fastem-", dir=folder))
            path = os.path.join(tmp, "values.npy")
        values = method(data, out=path)
        if text_output:
            _save_table(args.output, values)
        shape, counts = values.shape, _counts(values, args.proba, _n_fitted(model))
        del values  # (the memory map closed before its folder is removed)
    what = "probabilities" if args.proba else "labels"
    summary = {
        "command": "predict",
        "output": args.output,
        "kind": what,
        "shape": list(shape),
        "counts": counts,
    }
    text = f"wrote {what} of shape {tuple(shape)} to {args.output}\n" + "\n".join(
        f"  component {k}: {c} rows" for k, c in enumerate(counts)
    )
    _emit(args, summary, text)
    return 0


def _counts(values, proba, n_components):
    """Rows per component of written labels or probabilities (``values``, memory-mapped),
    read piece by piece."""
    from .._passes import piece_rows

    counts = np.zeros(n_components, np.int64)
    rows = piece_rows(n_components)
    for r0 in range(0, values.shape[0], rows):
        piece = np.asarray(values[r0 : r0 + rows])
        labels = piece.argmax(axis=1) if proba else piece
        counts += np.bincount(labels.astype(np.int64), minlength=n_components)
    return counts


def _cmd_score(args, progress):
    model, data = _model_and_data(args)
    scores = _scores(model, data)
    summary = {"command": "score", "model": args.model, "data": args.data, **scores}
    rows = f"{scores['n_samples']} rows"
    if scores["effective_rows"] != scores["n_samples"]:  # weighted: BIC's n
        rows = f"{scores['effective_rows']:.1f} effective rows of {rows}"
    text = (
        f"log-likelihood {scores['log_likelihood']:.6f} per row "
        f"({scores['total_log_likelihood']:.4f} over {rows})\n"
        f"BIC {scores['bic']:.3f}  AIC {scores['aic']:.3f}"
    )
    _emit(args, summary, text)
    return 0


def _cmd_sample(args, progress):
    _outputs_first([("-o", args.output)], [args.model])
    model, _ = _load_model(args.model)
    if args.seed is not None:
        model.random_state = args.seed
    X, y = model.sample(args.n)
    _save_table(args.output, X)
    counts = np.bincount(y, minlength=_n_fitted(model))
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
        "fastem_version": meta.get("fastem_version"),
        "n_components": _n_fitted(model),
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
        f"{_n_fitted(model)}-component {model.covariance_type!r} Gaussian mixture of "
        f"{model.n_features_in_} features; converged={model.converged_} after "
        f"{model.n_iter_} iterations, lower bound {model.lower_bound_:.6f}\n"
        f"hyper-parameters: {params}\n"
        f"{_components_text(model)}"
    )
    _emit(args, summary, text)
    return 0


def _has_mclust_models(table):
    from .._models import MCLUST_NAMES

    return any(str(ct) in MCLUST_NAMES for ct in table["covariance_type"])


def _cmd_select(args, progress):
    from ..io import save
    from ..select import format_mclust, format_table, select_components

    _outputs_first([("-o", args.output), ("--plot", args.plot)], [args.data], args.output)
    data = _read_data(args.data, args.columns, args.dataset, args.chunk_rows, args.weight_column)

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
            reg_covar=args.reg_covar,
            random_state=args.seed,
            n_threads=args.threads,
            callback=callback,
            init_params=args.init_params,
            prior=args.prior,
            missing=args.missing,
        )
    finally:
        progress.close()
    if args.plot:  # drawn before any file is written: a plot that fails (a .pgf without
        # LaTeX) leaves the -o model file as it was
        import matplotlib  # importable: --plot was checked when the command line was parsed

        matplotlib.use("Agg")  # a file, never a window
        from ..plots import plot_criterion

        mclust = _has_mclust_models(table)
        crit = ("bic",) if mclust else ("bic", "aic")
        fig = plot_criterion(table, criterion=crit, mclust_sign=mclust).figure
        fmt = os.path.splitext(args.plot)[1].lstrip(".").lower()
        image = io.BytesIO()
        fig.savefig(image, format=fmt)
    if args.output:
        save(_with_header_names(best, data), args.output)
    if args.plot:
        from .._files import replacing

        with replacing(args.plot, suffix="." + fmt) as f:  # a failed write leaves what was there
            f.write(image.getvalue())
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
    text = format_table(table, args.criterion)
    if _has_mclust_models(table):  # and mclust's view: its sign, K by model, the top three
        text += "\n\n" + format_mclust(table, args.criterion)
    text += f"\nbest by {args.criterion.upper()}: K={best.n_components} {best.covariance_type!r}"
    if args.output:
        text += f"\nsaved {args.output}"
    if args.plot:
        text += f"\nplotted {args.plot}"
    _emit(args, summary, text)
    return 0


def _cmd_warmup(args, progress):
    from ..warmup import warmup

    seconds = warmup(processes=args.jobs, verbose=not (args.json or args.quiet))
    cache = os.environ.get("NUMBA_CACHE_DIR") or "next to the package (or the user cache folder)"
    text = f"compiled every kernel in {seconds['total']:.1f} s; cache: {cache}"
    _emit(args, {"command": "warmup", "seconds": seconds, "cache": cache}, text)
    return 0
