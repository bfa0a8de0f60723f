"""Rows with missing values as complete rows in other coordinates.

For a missingness pattern with observed coordinates ``O`` (``o`` of them) and
missing ``M``, write each row in *compact* coordinates: its observed values
first (in order), then zeros where the missing ones were. Then:

* the marginal log-density ``log w_k + log N(x_O | mu_kO, Sigma_kOO)`` is the
  complete-data log-density of the compact row under a Gaussian whose mean is
  ``mu_kO`` (then zeros) and whose precision Cholesky factor is
  ``L_kOO^-T`` (then zeros), with ``const = log w_k - log det L_kOO - o/2 log 2 pi``:
  the padded coordinates add nothing;
* the expected statistics of EM for missing-at-random data fill ``x_M`` with
  its conditional mean, ``x_M - mu_kM = A_k (x_O - mu_kO)`` with
  ``A_k = Sigma_kMO Sigma_kOO^-1``, and add the conditional covariance
  ``Cc_k = Sigma_kMM - A_k Sigma_kOM`` once per unit of responsibility. With
  ``T_k = [I; A_k]`` they are linear in the complete-data statistics of the
  compact rows (``nk``, ``s1``, ``s2`` centred on ``mu_kO``)::

      s1_k = T_k s1O_k,    s2_k = T_k s2O_k T_k^T + nk_k [0 0; 0 Cc_k]

  followed by the permutation from compact back to the data's coordinates.

So the compiled EM pass of complete rows (``fastem/_kernels/_em.py``) serves
the rows with missing values too: a ``missing="marginalize"`` fit compiles
nothing of its own, and small inputs run in NumPy (``fastem._small``). Each
pattern is one set of kernel parameters; the per-pattern factors are batched
NumPy linear algebra (one call over every pattern and component), and the
statistics of each pattern are added in a fixed order, so results do not
depend on the thread count.

Arrays are padded to ``D`` features in compact coordinates: ``perm[p]`` (the
observed coordinates, then the missing ones) maps compact coordinate ``i`` of
pattern ``p`` to data coordinate ``perm[p, i]``.
"""

import numpy as np

from . import _small
from ._parallel import chunk_rows_for, readonly, run_chunks
from ._passes import (
    _EMPTY_F,
    _EMPTY_I,
    _NO_ROWS,
    _NO_STATS,
    _NO_WEIGHTS,
    _kernel,
    _rowwise_outputs,
    _wanted,
    log_density_start,
    stats_chunk_rows,
)
from ._stats import KernelParams, SuffStats, fill_lower

_LOG_2PI = np.log(2 * np.pi)
# ``fastem._kernels._config.TILE`` (not imported: that loads Numba, which small inputs never
# need; ``tests/test_missing_paths.py`` checks that the two agree)
TILE = 4


def compact_rows(X, rows, perm_of_rows, out):
    """``out[t] = X[rows[t], perm_of_rows[t]]`` with the missing (NaN) values set to 0.

    The observed values of each row come first (``perm`` lists them first), so
    the zeros fill the tail of each compact row.
    """
    c = np.take_along_axis(X[rows], perm_of_rows, axis=1)
    c[np.isnan(c)] = 0
    out[:] = c


class Factors:
    """The kernel parameters of every pattern of a batch, and the maps back.

    Parameters
    ----------
    params : KernelParams
        The model, in the data's dtype (``shift``: the means in float64).
    Sigma : ndarray of shape (K, D, D)
        Covariances in float64 (diagonal for 'diag' and 'spherical').
    logw : ndarray of shape (K,)
        Log weights, so that ``const = logw - log det L - o/2 log 2 pi``.
    batch : _Batch
        The patterns: ``perm`` (observed coordinates, then missing ones) and the
        masks of compact coordinates that depend on the data only.
    regression : bool, default=True
        Also the maps back to data coordinates (``A``, ``Cc``): the statistics need
        them, the row-wise outputs (marginal densities) do not.
    """

    def __init__(self, params, Sigma, logw, batch, regression=True):
        perm, obs = batch.perm, batch.obs
        P, D = perm.shape
        K = Sigma.shape[0]
        self.full = params.prec.shape[1] > 1
        self.batch = batch
        if self.full:
            Linv, logdet = self._factor(Sigma, batch, regression)
        else:  # diagonal: every factor is elementwise (no regression: A = 0)
            var = np.diagonal(Sigma, axis1=1, axis2=2)[:, perm].transpose(1, 0, 2)  # (P, K, D)
            if not (var > 0).all():
                raise not_positive_definite()
            self.cc_diag = np.where(obs[:, None, :], 0.0, var)
            sd = np.sqrt(np.where(obs[:, None, :], var, 1.0))
            logdet = np.log(sd).sum(axis=2)
        self.const = logw[None, :] - logdet - 0.5 * batch.nobs[:, None] * _LOG_2PI
        # the kernels' layout (``fastem._passes.kernel_args``), one per pattern
        Dp = -(-D // TILE) * TILE
        dt = params.mu.dtype
        self.mu64 = np.zeros((P, K, Dp))
        self.mu64[:, :, :D] = np.where(obs[:, None, :], params.shift[:, perm].transpose(1, 0, 2), 0)
        self.mu = np.zeros((P, K, Dp), dtype=dt)
        self.mu[:, :, :D] = np.where(obs[:, None, :], params.mu[:, perm].transpose(1, 0, 2), 0)
        if self.full:
            self.prec = np.zeros((P, K, Dp, Dp), dtype=dt)
            self.prec[:, :, :D, :D] = Linv.transpose(0, 1, 3, 2)
        else:
            self.prec = np.zeros((P, K, 1, Dp), dtype=dt)
            self.prec[:, :, 0, :D] = np.where(obs[:, None, :], 1.0 / sd, 0)
        self.npm = log_density_start(self.mu, self.prec)
        self.covariance_type = params.covariance_type

    def _factor(self, Sigma, batch, regression):
        """``L_OO^-1`` (zero elsewhere), ``log det L_OO``; with ``regression``, ``A`` and ``Cc``."""
        perm = batch.perm
        # Sigma in compact coordinates: Sc[p, k] = Sigma[k][perm[p]][:, perm[p]]
        Sc = Sigma[:, perm[:, :, None], perm[:, None, :]].transpose(1, 0, 2, 3)
        # the observed block, with the identity where the missing block was
        S_oo = np.where(batch.oo, Sc, batch.eye_mm)
        try:
            L = np.linalg.cholesky(S_oo)
        except np.linalg.LinAlgError:
            raise not_positive_definite() from None
        diag = np.diagonal(L, axis1=2, axis2=3)
        if not (np.isfinite(L).all() and (diag > 0).all()):
            raise not_positive_definite()
        Linv = np.where(batch.lower_oo, np.linalg.inv(L), 0.0)  # L_OO^-1, zero elsewhere
        if not regression:
            return Linv, np.log(diag).sum(axis=2)
        # regression of the missing coordinates on the observed ones, and the
        # conditional covariance (zero outside the missing rows / block)
        B = np.where(batch.mo, Sc, 0.0) @ Linv.transpose(0, 1, 3, 2)
        self.A = B @ Linv
        self.Cc = np.where(batch.mm, Sc, 0.0) - B @ B.transpose(0, 1, 3, 2)
        return Linv, np.log(diag).sum(axis=2)

    def params_of(self, p):
        """``KernelParams`` of pattern ``p`` (compact coordinates), for ``fastem._small``."""
        D = self.batch.perm.shape[1]
        return KernelParams(
            mu=self.mu[p, :, :D],
            prec=self.prec[p, :, :D, :D] if self.full else self.prec[p, :, :, :D],
            const=self.const[p],
            shift=self.mu64[p, :, :D],
            covariance_type=self.covariance_type,
            small=True,
        )

    def kernel_args(self, p):
        """``mu, prec, mu64, const, npm`` of pattern ``p``, as ``fastem._passes.kernel_args``."""
        return self.mu[p], self.prec[p], self.mu64[p], self.const[p], self.npm[p]

    def to_data_coordinates(self, nk, s1, s2):
        """Statistics of the filled rows, summed over patterns (data coordinates).

        ``nk`` (P, K), ``s1`` (P, K, D) and ``s2`` (P, K, D, D) or (P, K, D)
        are each pattern's complete-data statistics of its compact rows,
        centred on ``mu_O``; the result is centred on ``mu``.
        """
        inv = self.batch.inv
        if self.full:
            T = self.A + self.batch.eye_oo
            c1 = (T @ s1[..., None])[..., 0]
            c2 = T @ s2 @ T.transpose(0, 1, 3, 2) + nk[:, :, None, None] * self.Cc
            c2 = np.take_along_axis(c2, inv[:, None, :, None], axis=2)
            c2 = np.take_along_axis(c2, inv[:, None, None, :], axis=3)
        else:
            c1 = s1  # A = 0: the missing coordinates sit at their means
            c2 = s2 + nk[:, :, None] * self.cc_diag
            c2 = np.take_along_axis(c2, inv[:, None, :], axis=2)
        c1 = np.take_along_axis(c1, inv[:, None, :], axis=2)
        return c1.sum(axis=0), c2.sum(axis=0)


def not_positive_definite():
    return ValueError(
        "A covariance block of the observed coordinates is not positive-definite. "
        "Increase reg_covar or scale the data."
    )


def pattern_stats(nk, s1, s2, scal, n_rows, factors, shift):
    """``SuffStats`` (data coordinates) from each pattern's compact statistics."""
    c1, c2 = factors.to_data_coordinates(nk, s1, s2)
    tot = scal.sum(axis=0)
    return SuffStats(nk.sum(axis=0), c1, c2, float(tot[0]), float(tot[1]), n_rows, shift)


def patterns_per_batch(budget, n_arrays, K, D):
    """Patterns whose ``n_arrays`` (patterns, K, D, D) float64 arrays fit in ``budget`` bytes."""
    return max(1, budget // (n_arrays * K * D * D * 8))


class _Batch:
    """A contiguous range of patterns, whose factors are held at once."""

    def __init__(self, perm, nobs, offsets):
        self.perm, self.nobs = perm, nobs
        self.offsets = offsets  # rows of pattern p: Xc[offsets[p]:offsets[p + 1]]
        self.n = int(offsets[-1] - offsets[0])
        self._tasks = {}
        if perm is None:
            return
        # what depends on the patterns only, built once (compact coordinates: observed first)
        D = perm.shape[1]
        obs = np.arange(D)[None, :] < nobs[:, None]  # (P, D)
        self.obs = obs
        self.inv = np.argsort(perm, axis=1)  # compact coordinate of each data coordinate
        rows, cols = obs[:, :, None], obs[:, None, :]
        self.oo = (rows & cols)[:, None]  # (P, 1, D, D): the observed block
        self.mo = (~rows & cols)[:, None]  # missing rows, observed columns
        self.mm = (~rows & ~cols)[:, None]  # the missing block
        self.lower_oo = self.oo & np.tri(D, dtype=bool)
        eye = np.eye(D, dtype=bool)
        self.eye_mm = np.where(self.mm & eye, 1.0, 0.0)  # identity on the missing block
        self.eye_oo = np.where(self.oo & eye, 1.0, 0.0)  # identity on the observed block

    def tasks(self, chunk_rows):
        """(pattern, first row, end row) of each kernel call, and each pattern's first call.

        Every call covers rows of one pattern; the split depends on the data only.
        """
        if chunk_rows not in self._tasks:
            off = self.offsets
            counts = -(-np.diff(off) // chunk_rows)
            first = np.concatenate(([0], np.cumsum(counts)[:-1]))
            p = np.repeat(np.arange(counts.size), counts)
            r0 = off[p] + (np.arange(p.size) - first[p]) * chunk_rows
            self._tasks[chunk_rows] = p, r0, np.minimum(r0 + chunk_rows, off[p + 1]), first
        return self._tasks[chunk_rows]


class CompactRows:
    """The rows with NaN of a :class:`~fastem._missing.MissingData` in compact coordinates.

    Holds them once, in pattern order (observed values first, zeros after), with
    their weights and labels; patterns are batched within ``budget`` bytes.
    """

    def __init__(self, md, budget, chunk=65536):
        self.md, self.budget = md, budget
        Xc = np.empty((md.rows.size, md.n_features), dtype=md.X.dtype)
        for t0 in range(0, md.rows.size, chunk):
            t = slice(t0, t0 + chunk)
            compact_rows(md.X, md.rows[t], md.obs[md.pat[t]], Xc[t])
        self.Xc = readonly(Xc)
        self.w = None if md.sample_weight is None else md.sample_weight[md.rows]
        self.labels = None if md.labels is None else md.labels[md.rows]
        self._batches = {}

    def _batches_for(self, K):
        md = self.md
        D = md.n_features
        if K not in self._batches:
            # about ten (patterns, K, D, D) float64 arrays live while a batch is factored
            per = patterns_per_batch(self.budget, 10, K, D)
            self._batches[K] = [
                _Batch(
                    md.obs[p0 : p0 + per],
                    md.nobs[p0 : p0 + per],
                    md.offsets[p0 : min(md.n_patterns, p0 + per) + 1],
                )  # fmt: skip
                for p0 in range(0, md.n_patterns, per)
            ]
        return self._batches[K]

    def _factors(self, params, model, regression=True):
        _, Sigma, logw = model
        for batch in self._batches_for(params.shift.shape[0]):
            yield batch, Factors(params, Sigma, logw, batch, regression)

    def stats(self, params, model, n_threads):
        """Expected statistics of the rows with NaN (``model``: mu, Sigma, log w in float64)."""
        total = SuffStats.zeros(params)
        for batch, f in self._factors(params, model):
            total = total + self._batch_stats(batch, f, params, n_threads)
        return total

    def _batch_stats(self, batch, f, params, n_threads):
        """Each pattern's complete-data statistics of its compact rows, filled and added."""
        K, D = params.shift.shape
        off = batch.offsets
        w, lab = self.w, self.labels
        if params.small:
            parts = [
                _small.stats(
                    self.Xc[a:b],
                    None if w is None else w[a:b],
                    None if lab is None else lab[a:b],
                    f.params_of(p),
                )  # fmt: skip
                for p, (a, b) in enumerate(zip(off[:-1], off[1:]))
            ]
            nk = np.stack([s.nk for s in parts])
            s1 = np.stack([s.s1 for s in parts])
            s2 = np.stack([s.s2 for s in parts])
            scal = np.array([[s.loglik, s.wsum] for s in parts])
            return pattern_stats(nk, s1, s2, scal, batch.n, f, params.shift)
        chunk_rows = stats_chunk_rows(batch.n, params)
        tp, r0, r1, first = batch.tasks(chunk_rows)
        T = tp.size
        nk = np.zeros((T, K))
        s1 = np.zeros((T, K, D))
        s2 = np.zeros((T, K, D * D if f.full else D))
        scal = np.zeros((T, 2))
        kernel, fns = _kernel(params)
        w = readonly(_EMPTY_F if w is None else w)
        lab = readonly(_EMPTY_I if lab is None else lab)

        def task(t, slot):
            kernel(
                self.Xc, w, lab, int(r0[t]), int(r1[t]), 0, *f.kernel_args(tp[t]), nk[t],
                s1[t], s2[t], scal[t], *_NO_ROWS, fns,
            )  # fmt: skip

        run_chunks(task, T, n_threads)
        # each pattern's calls added in order (np.add.reduceat runs left to right)
        nk, s1, s2 = (np.add.reduceat(a, first, axis=0) for a in (nk, s1, s2))
        if f.full:
            s2 = fill_lower(s2.reshape(-1, K, D, D))
        return pattern_stats(nk, s1, s2, scal, batch.n, f, params.shift)

    def rowwise(self, params, model, n_threads, **what):
        """Row-wise outputs of the rows with NaN (marginal densities), in row order."""
        K = params.shift.shape[0]
        outs = _rowwise_outputs(self.Xc.shape[0], K, **what)
        kernel, fns = (None, ()) if params.small else _kernel(params, outs)
        for batch, f in self._factors(params, model, regression=False):
            off = batch.offsets
            if params.small:
                for p, (a, b) in enumerate(zip(off[:-1], off[1:])):
                    got = _small.rowwise(self.Xc[a:b], f.params_of(p), **what)
                    for out, g in zip(outs, got):
                        if g is not None:
                            out[a:b] = g
                continue
            tp, r0, r1, _ = batch.tasks(chunk_rows_for(batch.n, 0))

            def task(t, slot, f=f, tp=tp, r0=r0, r1=r1):
                kernel(
                    self.Xc, *_NO_WEIGHTS, int(r0[t]), int(r1[t]), 0, *f.kernel_args(tp[t]),
                    *_NO_STATS, *outs, fns,
                )  # fmt: skip

            run_chunks(task, tp.size, n_threads)
        return _wanted(outs, **what)
