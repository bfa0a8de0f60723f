"""What the commands show: the progress bar, the text and JSON summaries."""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from .._files import replacing
from ._data import _n_rows


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
    from ..mixture import GaussianMixture

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
    from ..mixture import GaussianMixture

    if type(model) is GaussianMixture:
        return model
    plain = GaussianMixture(**model.get_params())
    for k, v in vars(model).items():
        if k.endswith("_") and not k.startswith("_"):
            setattr(plain, k, v)
    return plain


#: What ``-o`` of ``predict`` and ``sample`` writes, by the file's suffix.
TABLE_SUFFIXES = {".npy": "NumPy .npy", ".csv": "comma-separated text", ".txt": "text"}


def _save_table(path, array):
    """Write ``array`` to ``path`` as its suffix says: ``.npy``, ``.csv`` or ``.txt``."""
    suffix = os.path.splitext(path)[1].lower()
    with replacing(path, suffix=suffix + ".tmp") as f:  # a failed write leaves what was there
        if suffix == ".npy":
            np.save(f, array, allow_pickle=False)
        else:
            fmt = "%d" if array.dtype.kind in "iu" else "%.17g"
            np.savetxt(f, array, fmt=fmt, delimiter="," if suffix == ".csv" else " ")


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


def _n_fitted(model):
    """The components the model holds: ``n_components``, or fewer for a
    BayesianGaussianMixture pruned by ``prune_threshold``."""
    return len(model.weights_)


def _components_text(model):
    lines = []
    for k in range(_n_fitted(model)):
        mean = ", ".join(f"{v:.4g}" for v in model.means_[k])
        lines.append(f"  component {k}: weight {model.weights_[k]:.4f}  mean [{mean}]")
    return "\n".join(lines)


def _scores(model, data):
    """The mean log-likelihood of ``data`` (weighted by its weight column) and BIC and AIC
    over its rows, or over its weights' effective number of rows (``select_components``'
    rule: only the weights' ratios matter)."""
    from .. import _stats

    ll, n = model._score_and_rows(data)
    rows = _n_rows(data)
    p = _stats.n_parameters(model.covariance_type, _n_fitted(model), model.means_.shape[1])
    return {
        "n_samples": rows,
        "effective_rows": n,
        "log_likelihood": ll,
        "total_log_likelihood": ll * n,
        "bic": -2 * ll * n + p * np.log(n),
        "aic": -2 * ll * n + 2 * p,
        "n_parameters": p,
    }
