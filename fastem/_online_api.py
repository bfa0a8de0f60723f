"""The online methods of :class:`fastem.GaussianMixture`: ``partial_fit`` and ``fit_online``.

Thin entry points (docstrings and arguments); stepwise EM itself is in
``fastem._online`` and the one pass over a source in ``fastem._online_source``.
"""

from __future__ import annotations


class _OnlineMixin:
    """Mixin of the estimator: stepwise (online) EM."""

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one batch of rows by stepwise (online) EM.

        The first call initializes from its batch (``init_params``,
        ``random_state``) or from ``weights_init``, ``means_init`` and
        ``precisions_init``; after :meth:`fit` (or :func:`fastem.load`) it
        continues from the fitted model. Each call runs one E-step on the
        batch in the fused kernel, blends the batch's sufficient statistics
        into running ones with the step ``g_t`` (``step_size``, or
        ``(t + step_offset) ** -step_decay`` for the ``t``-th call), and
        applies the M-step. On an error the estimator is left as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One batch of rows (NaN allowed with ``missing="marginalize"``).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows within the batch; every batch gets the step
            ``g_t`` whatever its size or total weight.

        Returns
        -------
        self : GaussianMixture
            ``lower_bound_`` is the weighted mean log-likelihood of the batch
            under the parameters before the update, ``n_iter_`` the number of
            updates since the initialization; ``converged_`` is False.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> gm = GaussianMixture(n_components=2, random_state=0)
        >>> for _ in range(50):
        ...     labels = rng.integers(0, 2, 500)
        ...     batch = rng.normal(size=(500, 1)) + 6.0 * labels[:, None]
        ...     gm = gm.partial_fit(batch)
        >>> np.round(np.sort(gm.means_.ravel()), 1).tolist()
        [0.0, 6.0]
        >>> gm.n_iter_
        50
        """
        from ._online import partial_fit

        partial_fit(self, X, sample_weight)
        return self

    def fit_online(
        self,
        X,
        sample_weight=None,
        *,
        batch_rows: int = 10_000,
        max_rows: int | None = None,
        callback=None,
        checkpoint=None,
        checkpoint_every: int = 100,
    ):
        """Fit the model in one pass over a source by stepwise (online) EM.

        The rows are read chunk by chunk (as in :meth:`fit`) and cut into
        batches of ``batch_rows`` rows; each batch is one :meth:`partial_fit`
        update. Unlike :meth:`fit`, which reads the whole source once per EM
        iteration, every row is read once. See ``docs/online.md`` for when to
        choose which.

        Parameters
        ----------
        X : source, path or array-like
            Anything :func:`fastem.source` accepts: a file, an array, or a
            callable that yields batches (possibly forever; stop it with
            ``max_rows`` or ``callback``).
        sample_weight : str, array-like or source, default=None
            As in :meth:`fit` with a source.
        batch_rows : int, default=10000
            Rows per update.
        max_rows : int, default=None
            Stop after this many rows (None: at the end of the source).
        callback : callable, default=None
            Called as ``callback(self, n_rows)`` after every batch; returning
            True stops the pass (a stopping rule for endless sources).
        checkpoint : str or path-like, default=None
            Save the model with its running statistics there (a model file,
            :func:`fastem.load` reads it) every ``checkpoint_every`` batches
            and at the end; calling ``fit_online`` again with the same source,
            hyper-parameters and checkpoint resumes after the rows already used.
        checkpoint_every : int, default=100

        Returns
        -------
        self : GaussianMixture
            With ``n_rows_seen_``, the rows used; the other attributes as
            after :meth:`partial_fit`. A batch that raises an error (a NaN,
            say) stops the pass; the model keeps the updates before it.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> def stream():  # endless
        ...     while True:
        ...         labels = rng.integers(0, 2, 1000)
        ...         yield rng.normal(size=(1000, 1)) + 6.0 * labels[:, None]
        >>> gm = GaussianMixture(2, random_state=0)
        >>> gm = gm.fit_online(stream, batch_rows=500, max_rows=50_000)
        >>> gm.n_rows_seen_, (np.round(np.sort(gm.means_.ravel()), 1) + 0.0).tolist()
        (50000, [0.0, 6.0])
        """
        from ._online_source import fit_online

        return fit_online(
            self,
            X,
            sample_weight,
            batch_rows=batch_rows,
            max_rows=max_rows,
            callback=callback,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
        )

    def _set_online_result(self, params, prec_chol, lower_bound, n_steps, dtype):
        """The attributes after a ``partial_fit`` update (see ``fastem._online``)."""
        weights, means, covariances = params
        self._set_result(
            (weights, means, prec_chol, covariances), lower_bound, n_steps, [lower_bound], False,
            dtype=dtype,
        )  # fmt: skip
