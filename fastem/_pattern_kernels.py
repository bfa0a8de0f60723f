"""Rows with missing values through their own kernels: for many small patterns.

When the rows with NaN fall into many patterns of few rows each (values missing
at random in many features), exact EM factors each pattern's observed
covariance blocks once per row or so. The compact path (:mod:`fastem._patterns`)
would then spend its time in per-pattern NumPy calls; this path factors every
(pattern, component) in a compiled kernel on the pass's threads and makes one
pass over the sorted rows with the missing-value kernel
(``fastem/_kernels/_missing.py``), which computes the marginal densities and
the filled statistics directly. :class:`fastem._missing.MissingData` chooses
between the two from the data and the model's size alone
(``fastem._missing.COMPACT_WORK`` and ``COMPACT_ROWS``). This path forms the
densities in float64 whatever the data's dtype.
"""

import numpy as np

from . import _small
from ._parallel import chunk_rows_for, readonly, run_chunks
from ._passes import _EMPTY_2D, _EMPTY_F, _EMPTY_I, _NO_WEIGHTS, _rowwise_outputs, _wanted
from ._patterns import not_positive_definite, patterns_per_batch
from ._stats import SuffStats


def _kmis():
    """The missing-value kernels, imported when first needed (not at import: Numba)."""
    from ._kernels import _missing

    return _missing


class _Batch:
    """Rows of a contiguous range of patterns, with their per-pattern index arrays."""

    def __init__(self, rows, pat, obs, nobs, mis, nmis):
        self.rows, self.pat = rows, pat
        self.poff = np.searchsorted(pat, np.arange(obs.shape[0] + 1)).astype(np.int64)
        self.obs, self.nobs, self.mis, self.nmis = obs, nobs, mis, nmis

    def factor(self, Sigma, logw, n_threads):
        P, (K, D) = self.obs.shape[0], Sigma.shape[:2]
        Linv = np.zeros((P, K, D, D))
        A = np.zeros((P, K, D, D))
        Cc = np.zeros((P, K, D, D))
        cst = np.empty((P, K))
        ok = np.ones((P, K), dtype=np.bool_)
        total = P * K
        n_tasks = min(total, 64) if total > 8 else 1
        step = -(-total // n_tasks)
        obs, nobs, mis, nmis = self.obs, self.nobs, self.mis, self.nmis

        pattern_range = _kmis().pattern_range

        def task(t, slot):
            q0, q1 = t * step, min(total, (t + 1) * step)
            pattern_range(Sigma, logw, obs, nobs, mis, nmis, q0, q1, Linv, A, Cc, cst, ok)

        run_chunks(task, -(-total // step), n_threads)
        if not ok.all():
            raise not_positive_definite()
        return Linv, A, Cc, cst


def _run(kernel, args, parts, n, chunk_rows, n_threads):
    """``kernel(X, rows, pat, poff, i0, i1, *rest, *chunk's parts)`` for every chunk."""
    X, rows, pat, poff, *rest = args

    def task(c, slot):
        i0 = c * chunk_rows
        i1 = min(n, i0 + chunk_rows)
        kernel(X, rows, pat, poff, i0, i1, *rest, *(a[c] for a in parts))

    run_chunks(task, -(-n // chunk_rows), n_threads)


class PatternKernels:
    """The rows with NaN of a :class:`~fastem._missing.MissingData`, through the kernels
    of ``fastem/_kernels/_missing.py`` (patterns batched within ``budget`` bytes)."""

    def __init__(self, md, budget):
        self.md, self.budget = md, budget
        self._batches = {}

    def _batches_for(self, K):
        if K not in self._batches:
            md = self.md
            per = patterns_per_batch(self.budget, 3, K, md.n_features)  # Linv, A, Cc
            out = []
            for p0 in range(0, md.n_patterns, per):
                p1 = min(md.n_patterns, p0 + per)
                t0, t1 = md.offsets[p0], md.offsets[p1]
                out.append(
                    _Batch(
                        md.rows[t0:t1],
                        md.pat[t0:t1] - p0,
                        md.obs[p0:p1],
                        md.nobs[p0:p1],
                        md.mis[p0:p1],
                        md.nmis[p0:p1],
                    )  # fmt: skip
                )
            self._batches[K] = out
        return self._batches[K]

    def stats(self, params, model, n_threads):
        """Expected statistics of the rows with NaN (``model``: mu, Sigma, log w in float64)."""
        md = self.md
        K, D = params.shift.shape
        shape = params.stats_shape
        full = len(shape) == 3
        total = SuffStats.zeros(params)
        mu, Sigma, logw = model
        w = _EMPTY_F if md.sample_weight is None else md.sample_weight
        labels = _EMPTY_I if md.labels is None else md.labels
        for batch in self._batches_for(K):
            Linv, A, Cc, cst = batch.factor(Sigma, logw, n_threads)
            n = batch.rows.shape[0]
            P = batch.obs.shape[0]
            chunk_rows = chunk_rows_for(n, 8 * (K * D * D + P * K))
            C = -(-n // chunk_rows)
            nk = np.zeros((C, K))
            s1 = np.zeros((C, K, D))
            s2 = np.zeros((C, K, D * D)) if full else np.zeros((C, K, D))
            rsum = np.zeros((C, P, K))
            scal = np.zeros((C, 2))
            args = (
                readonly(md.X), batch.rows, batch.pat, batch.poff, readonly(w),
                readonly(labels), batch.obs, batch.nobs, batch.mis, batch.nmis, mu, Linv, A, cst,
                full,
            )  # fmt: skip
            parts = (nk, s1, s2, rsum, scal)
            _run(_kmis().chunk_stats, (*args, _EMPTY_2D), parts, n, chunk_rows, n_threads)
            part = SuffStats.from_chunks(nk, s1, s2.reshape((C, *shape)), scal, n, params.shift)
            _kmis().add_condcov(rsum.sum(axis=0), Cc, batch.mis, batch.nmis, part.s2)
            total = total + part
        return total

    def _logp(self, params, model, n_threads):
        """(n_incomplete, K) log w_k + marginal log N(x_O | k), in row order."""
        md = self.md
        K = params.shift.shape[0]
        mu, Sigma, logw = model
        out = np.empty((md.rows.shape[0], K))
        start = 0
        full = params.prec.shape[1] > 1
        for batch in self._batches_for(K):
            Linv, A, _, cst = batch.factor(Sigma, logw, n_threads)
            n = batch.rows.shape[0]
            view = out[start : start + n]
            # the statistics kernel, its statistics not wanted (nk, s1, s2, rsum, scal empty)
            args = (
                readonly(md.X), batch.rows, batch.pat, batch.poff, *_NO_WEIGHTS, batch.obs,
                batch.nobs, batch.mis, batch.nmis, mu, Linv, A, cst, full, view,
                _EMPTY_F, _EMPTY_2D, _EMPTY_2D, _EMPTY_2D, _EMPTY_F,
            )  # fmt: skip
            _run(_kmis().chunk_stats, args, (), n, chunk_rows_for(n, 0), n_threads)
            start += n
        return out

    def rowwise(self, params, model, n_threads, **what):
        """Row-wise outputs of the rows with NaN (marginal densities), in row order."""
        logp = self._logp(params, model, n_threads)
        lp, resp, lab = _rowwise_outputs(logp.shape[0], logp.shape[1], **what)
        if what["labels"]:
            lab[:] = np.argmax(logp, axis=1)
        if what["logprob"] or what["resp"]:
            # as the kernels and the NumPy pass do: a row of zero density (every log-density
            # -inf, e.g. overflowed far from the model) gets log p = -inf and resp 0, not NaN
            m, e, s = _small._softmax(logp)
            if what["logprob"]:
                with np.errstate(divide="ignore"):
                    lp[:] = m + np.log(s)
            if what["resp"]:
                resp[:] = e * np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), 0.0)[:, None]
        return _wanted((lp, resp, lab), **what)
