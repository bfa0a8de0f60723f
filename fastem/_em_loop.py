"""The fitting machinery of :class:`fastem.GaussianMixture`: initialization, the EM
loop, checkpoints and resume, re-seeding of empty components, interrupts, progress.

An EM iteration is one ``data.stats(params)`` pass (map chunks -> sufficient
statistics -> add) followed by the M-step on the small statistics. ``data`` is
any object of the *data* protocol (``fastem._passes``): in memory, a chunked
source, a Dask array, or rows with missing values.
"""

from time import time

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from . import _checkpoint, _models, _small, _stats
from ._init import feature_variances, initial_stats, labelled_parameters
from ._kernels import _ahead
from ._paths import check_outputs, check_path
from ._validation import (
    check_means_init,
    check_precisions_init,
    check_variance_underflow,
    check_weights_init,
)
from ._warn import warn


class DegenerateComponentWarning(UserWarning):
    """A component lost all its weight during EM and was re-seeded."""


class RegularizationWarning(UserWarning):
    """``reg_covar`` is large against the spread of the data: the covariances mostly reflect it."""


class _Interrupted(Exception):
    """Carries the best result so far out of an interrupted fit."""

    def __init__(self, best, start=None):
        super().__init__("interrupted")
        self.best = best
        self.start = start  # a warm start's start_digest, when it wrote a checkpoint


class _EMLoop:
    """Mixin with the fitting machinery; the estimator supplies the parameters."""

    def _starting_bound(self):
        """The bound an initialization's first iteration is compared with (-inf: none)."""
        return -np.inf

    def _initial_parameters(self, data, rng, init_index=0):
        """(weights, means, precisions_cholesky, covariances) to start EM from.

        With ``init_params="hc"`` only the first initialization is the
        (deterministic) hierarchical clustering; the others are k-means starts.
        """
        K, D = self.n_components, data.n_features
        _models.check_model(self.covariance_type, D)
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = check_weights_init(self.weights_init, K)
        if self.means_init is not None:
            means = check_means_init(self.means_init, K, D)
        if self.precisions_init is not None:
            precisions = check_precisions_init(self.precisions_init, self.covariance_type, K, D)
        covariances = None
        if weights is None or means is None or precisions is None:
            # the start of this initialization: "hc" builds its tree once, restarts use k-means
            method = "kmeans" if self.init_params == "hc" and init_index > 0 else self.init_params
            stats, init = self._initial_stats(data, rng, method)
            w0, m0, covariances = _stats.m_step(
                stats, self.covariance_type, self.reg_covar, prior=getattr(self, "_map_prior", None)
            )
            if getattr(init, "labels", None) is not None:
                w0, m0, covariances = labelled_parameters(
                    init.X, init.sample_weight, init.labels, w0, m0, covariances,
                    self.covariance_type, self.reg_covar,
                )  # fmt: skip
            weights = w0 if weights is None else weights
            means = m0 if means is None else means
        if precisions is None:
            prec_chol = _stats.precision_cholesky(covariances, self.covariance_type)
        else:
            prec_chol = _stats.precision_cholesky_from_precisions(precisions, self.covariance_type)
            covariances = _stats.covariances_from_precisions(precisions, self.covariance_type)
        return weights, means, prec_chol, covariances

    def _compile_ahead(self, data, n_rows=None):
        """On an empty cache, a helper process compiles the statistics pass's block
        functions while this one initializes (``_kernels._ahead``): for data whose passes
        run the pass kernel here, too many rows for NumPy (``_small``; ``n_rows``, the rows
        that rule weighs, is ``data.n_samples`` unless given: ``_online._step``)."""
        K, D = self.n_components, data.n_features
        n_rows = data.n_samples if n_rows is None else n_rows
        if getattr(data, "kernels_here", False) and not _small.is_small(n_rows, K, D):
            full = _models.layout(self.covariance_type) in ("full", "tied")
            _ahead.start(full, data.dtype, D)

    def _initial_stats(self, data, rng, method):
        """``(stats, sample)``: the statistics of the first M-step, and the rows they came from.

        ``method`` is the start (an ``init_params`` value). A chunked source or
        a Dask array initializes as the in-memory fit of its rows would, where
        it can (``data.initial_stats``: ``fastem._stream_init``,
        ``fastem._dask_init``); otherwise the statistics come from
        ``data.sample_for_init``, which is every row in memory. Each estimator
        runs its own M-step on them.
        """
        layout = _stats.layout(self.covariance_type)
        if self.covariance_type == "EEE":  # one covariance, statistics laid out as tied's:
            layout = "tied"  # its start's pass takes the tied log-density, as its EM's do
        exact = getattr(data, "initial_stats", None)
        found = None if exact is None else exact(self, rng, method, layout)
        if found is not None:
            return found
        init = data.sample_for_init(None, rng)
        var = self._check_scale(init)
        stats = initial_stats(
            init.X, init.sample_weight, self.n_components, method, layout, rng, self.n_threads,
            feature_var=var,
        )  # fmt: skip
        return stats, init

    def _guarded_fit(self, run, apply):
        """``apply(run())`` with the fit's failure rules and warnings; returns ``self``.

        ``run()`` validates the data and runs EM, returning ``(params,
        lower_bound, n_iter, lower_bounds, converged)``; ``apply(result)`` sets the
        fitted attributes. A fit that did not converge warns (as scikit-learn).
        Ctrl-C keeps the best parameters reached so far (``apply(best)``, a
        RuntimeWarning, then KeyboardInterrupt); any other error leaves
        ``n_features_in_`` and ``feature_names_in_`` as they were before the call.
        """
        described = ("n_features_in_", "feature_names_in_")  # (validating X resets them)
        previous = {name: self.__dict__[name] for name in described if name in self.__dict__}
        try:
            result = run()
        except _Interrupted as stop:
            apply(stop.best)
            if stop.start is not None:  # the call the estimator's new parameters came from:
                # running it again (a warm start from them) resumes its checkpoint
                try:
                    now = _checkpoint.start_digest(self._continued_parameters())
                    self._interrupted_start = (now, stop.start)
                except ValueError:  # a pruned variational fit cannot be continued
                    pass
            warn(
                f"fit interrupted after {stop.best[2]} iteration(s); the estimator holds the "
                "best parameters reached so far.",
                RuntimeWarning,
            )
            raise KeyboardInterrupt from None
        except BaseException:
            for name in described:
                self.__dict__.pop(name, None)
            self.__dict__.update(previous)
            raise
        apply(result)
        if not result[4] and self.max_iter > 0:
            warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        return self

    def _current_parameters(self):
        """The fitted parameters, as ``_em`` takes them (warm start)."""
        return self.weights_, self.means_, self.precisions_cholesky_, self.covariances_

    def _checkpoint_pack(self, params):
        """``params`` as the arrays a checkpoint stores (``_checkpoint._shapes``' order)."""
        return params

    def _checkpoint_unpack(self, arrays):
        return arrays

    def _checkpoint_pack_run(self, run):
        return None if run is None else (self._checkpoint_pack(run[0]), *run[1:])

    def _check_scale(self, init):
        """Warn when reg_covar swamps the spread of a feature (scikit-learn fits regardless).

        A large ``reg_covar`` is a legitimate way to regularize, so this is a
        warning, not an error. Returns the per-feature variances, which k-means reuses.
        """
        var = feature_variances(init.X, init.sample_weight)
        check_variance_underflow(init.X, var, init.sample_weight)  # a 0 that is really tiny
        positive = var[var > 0]
        if positive.size and self.reg_covar >= 0.1 * positive.min():
            j = int(np.flatnonzero(var == positive.min())[0])
            warn(
                f"reg_covar={self.reg_covar:g} is at least a tenth of the variance of feature "
                f"{j} ({positive.min():.3g}), so the fitted covariances are dominated by the "
                "regularization. If that is not intended, scale the data (e.g. with "
                "sklearn.preprocessing.StandardScaler) or set reg_covar below "
                f"{0.01 * positive.min():.3g}.",
                RegularizationWarning,
            )
        return var

    #: what is -inf when a row has zero density under every component (the error says it)
    _MINUS_INF = "log-likelihood is -inf"

    def _em(
        self,
        data,
        params,
        lower_bound,
        init,
        *,
        n_iter=0,
        lower_bounds=(),
        converged=False,
        on_pass=None,
    ):
        """Run EM from ``params`` (optionally resuming after ``n_iter`` passes).

        Each iteration is one ``data.stats`` pass with the estimator's
        ``_e_step_params(params, data)``, then its ``_m_step_and_bound(stats,
        params, kparams, data)``, which returns the new parameters and the bound
        whose change decides convergence. Returns ``(params, lower_bound, n_iter,
        lower_bounds, converged)``; ``on_pass`` is called with that tuple after
        every complete pass.
        """
        lower_bounds = list(lower_bounds)
        self._print_init_begin(init)
        while not converged and n_iter < self.max_iter:
            n_iter += 1
            prev = lower_bound
            kparams = self._e_step_params(params, data)
            stats = data.stats(kparams, self.n_threads)
            if not np.isfinite(stats.loglik):
                raise ValueError(
                    f"Some rows have zero density under every component ({self._MINUS_INF}); "
                    "the data may hold extreme values. Scale the data or increase reg_covar."
                )
            params, lower_bound = self._m_step_and_bound(stats, params, kparams, data)
            lower_bounds.append(lower_bound)
            self._print_iter_end(n_iter, lower_bound - prev)
            converged = abs(lower_bound - prev) < self.tol
            if on_pass is not None:
                on_pass((params, lower_bound, n_iter, lower_bounds, converged))
        self._print_init_end(lower_bound, converged)
        return params, lower_bound, n_iter, lower_bounds, converged

    def _e_step_params(self, params, data):
        """The kernel parameters of a pass over ``data`` under ``params``."""
        weights, means, prec_chol, _ = params
        return self._kernel_params(weights, means, prec_chol, data)

    def _m_step_and_bound(self, stats, params, kparams, data):
        """``(params, lower_bound)``: the M-step (empty components re-seeded) and the
        mean log-likelihood of the pass."""
        weights, means, covariances = _stats.m_step(
            stats,
            self.covariance_type,
            self.reg_covar,
            previous=params[3],
            prior=getattr(self, "_map_prior", None),
        )
        weights, means, covariances = self._reseed_empty(stats, weights, means, covariances, data)
        prec_chol = _stats.precision_cholesky(covariances, self.covariance_type)
        return (weights, means, prec_chol, covariances), stats.mean_loglik

    def _reseed_empty(self, stats, weights, means, covariances, data):
        """Re-seed components that lost (almost) all their weight.

        A component whose total responsibility falls below a thousandth of an
        average row's weight is moved to the worst-explained row (lowest
        log-likelihood under the current mixture), given the average covariance
        of the live components (for an mclust model, the heaviest one's, which keeps
        its constraints) and the weight of one row, with a warning.
        """
        dead = _stats.empty_components(stats)
        if not dead.any() or dead.all():
            return weights, means, covariances
        sample = data.sample_for_init(None, None)
        live_w = np.where(dead, 0.0, weights)
        live_w = live_w / live_w.sum()
        # the dead components' covariances replaced first: with reg_covar=0 theirs are 0,
        # whose Cholesky factor failed ("ill-defined empirical covariance") instead of the
        # re-seed; they weigh nothing in the mixture that ranks the rows
        # (an mclust model's: the heaviest live component's, since an average breaks equal
        # volumes or shapes: a fit that ended on the re-seed was not of its declared model)
        if self.covariance_type in _models.MODELS:
            covariances = covariances.copy()
            covariances[dead] = covariances[np.argmax(np.where(dead, -1.0, weights))]
        elif self.covariance_type != "tied":
            covariances = covariances.copy()
            covariances[dead] = np.average(covariances[~dead], axis=0, weights=weights[~dead])
        prec_chol = _stats.precision_cholesky(covariances, self.covariance_type)
        kp = self._kernel_params(live_w, means, prec_chol, sample)
        log_prob = sample.rowwise(kp, self.n_threads, logprob=True)[0]
        w = getattr(sample, "sample_weight", None)
        if w is not None:  # a row of weight zero is not part of the data: never a seed
            log_prob = np.where(np.asarray(w) > 0, log_prob, np.inf)
        worst = np.argsort(log_prob, kind="stable")[: int(dead.sum())]
        means = means.copy()
        means[dead] = sample.X[worst]
        weights = weights.copy()
        weights[dead] = 1.0 / max(stats.n_rows, 1)
        weights /= weights.sum()
        warn(
            f"{int(dead.sum())} component(s) lost all their weight and were re-seeded at the "
            "worst-explained rows; consider fewer components.",
            DegenerateComponentWarning,
        )
        return weights, means, covariances

    #: public names of the checkpoint entries that differ (the error names the attribute)
    _PUBLIC = {"wc_a": "weight_concentration_", "wc_b": "weight_concentration_",
               "beta": "mean_precision_", "dof": "degrees_of_freedom_",
               "prec_chol": "precisions_cholesky_"}  # fmt: skip

    def _continued_parameters(self, what="warm_start=True continues the previous fit"):
        """The fitted parameters to continue from (``warm_start``, ``partial_fit``), refused
        when their shapes are not those that n_components and covariance_type now need (they
        were kept silently, or failed inside NumPy): the shapes of the checkpoint entries."""
        params = self._current_parameters()
        shapes = _checkpoint._shapes(self, self.means_.shape[1])
        wrong = [
            (name, np.shape(value), want)
            for (name, want), value in zip(shapes.items(), self._checkpoint_pack(params))
            if value is not None and np.shape(value) != want
        ]
        if wrong:  # the covariances' shape says most; else the first that differs
            name, got, want = next((w for w in wrong if w[0] == "covariances"), wrong[0])
            raise ValueError(
                f"{what}, whose {self._PUBLIC.get(name, name + '_')} have shape {got}, but "
                f"n_components={self.n_components} and covariance_type="
                f"{self.covariance_type!r} need {want}; fit with warm_start=False (or a new "
                "estimator) to start afresh."
            )
        return params

    def _fit(self, data, checkpoint=None):
        """All initializations and EM runs; returns the best result (no state set)."""
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init and self.means_.shape[1] != data.n_features:
            raise ValueError(
                f"warm_start=True continues the previous fit, which had {self.means_.shape[1]} "
                f"features, but X has {data.n_features}; fit with warm_start=False (or a new "
                "estimator) to start afresh."
            )
        continued = None if do_init else self._continued_parameters()
        self._compile_ahead(data)
        n_init = self.n_init if do_init else 1
        self._map_prior = None
        if getattr(self, "prior", None) is not None:  # hyper-parameters from the data, once
            from ._prior import population_moments, resolve

            rows = data.sample_for_init(None, None)
            w = getattr(rows, "sample_weight", None)
            moments = population_moments(self.prior, data, rows, self.n_threads)
            X = getattr(rows, "raw_X", rows.X)  # not the column means put in for NaN
            self._map_prior = resolve(
                self.prior, self.covariance_type, X, w, self.n_components, moments
            )
        rng = check_random_state(self.random_state)
        best, current, first_init, resume = None, None, 0, None
        if checkpoint is not None:
            check_path(checkpoint, "checkpoint")
            check_outputs([("checkpoint", checkpoint)], [data])  # never the data file
            start = None if continued is None else _checkpoint.start_digest(continued)
            interrupted = self.__dict__.pop("_interrupted_start", None)
            if interrupted is not None and start == interrupted[0]:
                start = interrupted[1]  # continuing what Ctrl-C left: that warm start's call
            key = _checkpoint.fingerprint(self, data, start=start)
            names = tuple(_checkpoint._shapes(self, data.n_features))
            state = _checkpoint.load(checkpoint, key, self, data.n_features)
            if state is not None:
                state["params"] = self._checkpoint_unpack(state["params"])
                if state["best"] is not None:
                    state["best"] = (self._checkpoint_unpack(state["best"][0]), *state["best"][1:])
                if state["done"]:
                    return state["best"]
                rng.set_state(state["rng_state"])
                best, first_init = state["best"], state["init"]
                if state["n_iter"] > 0:
                    resume = state

        def on_pass(run):
            nonlocal current
            current = run
            if checkpoint is not None:
                _checkpoint.save(
                    checkpoint,
                    fingerprint=key,
                    init=init,
                    n_iter=run[2],
                    params=self._checkpoint_pack(run[0]),
                    lower_bound=run[1],
                    lower_bounds=run[3],
                    converged=run[4],
                    rng=rng,
                    best=self._checkpoint_pack_run(best),
                    done=False,
                    names=names,
                )

        try:
            for init in range(first_init, n_init):
                current = None
                if resume is not None:
                    params, lower_bound = resume["params"], resume["lower_bound"]
                    kw = dict(
                        n_iter=resume["n_iter"],
                        lower_bounds=resume["lower_bounds"],
                        converged=resume["converged"],
                    )
                    resume = None
                elif do_init:
                    params = self._initial_parameters(data, rng, init)
                    lower_bound, kw = self._starting_bound(), {}
                else:
                    params, lower_bound, kw = continued, self.lower_bound_, {}
                if self.max_iter == 0:  # no iteration, so no bound (a warm start too), as
                    # in scikit-learn, which still announces each initialization
                    self._print_init_begin(init)
                    run = (params, -np.inf, 0, [], False)
                else:
                    run = self._em(data, params, lower_bound, init, on_pass=on_pass, **kw)
                # max_iter=0 keeps the last initialization, as scikit-learn does
                if best is None or run[1] > best[1] or self.max_iter == 0:
                    best = run
                if checkpoint is not None:
                    _checkpoint.save(
                        checkpoint,
                        fingerprint=key,
                        init=init + 1,
                        n_iter=0,
                        params=self._checkpoint_pack(run[0]),
                        lower_bound=run[1],
                        lower_bounds=[],
                        converged=False,
                        rng=rng,
                        best=self._checkpoint_pack_run(best),
                        done=init + 1 == n_init,
                        names=names,
                    )
        except KeyboardInterrupt:
            candidates = [r for r in (best, current) if r is not None]
            if not candidates:
                raise
            warm = None if checkpoint is None or continued is None else start
            raise _Interrupted(max(candidates, key=lambda r: r[1]), warm) from None
        return best

    def _print_init_begin(self, init):
        if self.verbose >= 1:
            print(f"Initialization {init}")
        self._init_prev_time = self._iter_prev_time = time()

    def _print_iter_end(self, n_iter, change):
        if self.verbose and n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = time()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - self._iter_prev_time:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                self._iter_prev_time = now

    def _print_init_end(self, lower_bound, converged):
        msg = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {msg}.")
        elif self.verbose >= 2:
            t = time() - self._init_prev_time
            print(f"Initialization {msg}. time lapse {t:.5f}s\t lower bound {lower_bound:.5f}.")
