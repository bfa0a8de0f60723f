"""What both estimators share: input handling and the row-wise methods.

:class:`fastem.GaussianMixture` and :class:`fastem.BayesianGaussianMixture`
validate and wrap their input the same way (in memory, chunked sources, Dask
arrays, NaN marginalized or refused) and answer ``predict``,
``predict_proba``, ``score_samples``, ``score`` and ``sample`` from their
fitted ``weights_``, ``means_``, ``covariances_`` and kernel parameters
(``_fitted_kernel_params``, which each estimator defines).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _missing, _stats, _stream, _stream_api, _validation, _writers
from ._passes import ArrayData
from ._validation import check_all_finite, check_sample_weight, effective_rows, precheck_array


def _output(values, dtype):
    """``values`` in the data's float dtype (float32 input gives float32, as in scikit-learn)."""
    if values is None or np.dtype(dtype) != np.float32:
        return values
    return values.astype(np.float32)


def _is_dask_array(X):
    """A ``dask.array.Array``? (checked without importing Dask)"""
    return type(X).__module__.startswith("dask.array") and hasattr(X, "__dask_graph__")


class _MixtureAPI:
    """Input handling and row-wise methods of a fitted mixture (a mixin)."""

    def _validate_X(self, X, *, reset, min_samples=None):
        _missing.check_missing_option(self.missing)
        precheck_array(X)
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_min_samples=(2 if reset else 1) if min_samples is None else min_samples,
            ensure_all_finite=False,
            reset=reset,
        )
        X = np.ascontiguousarray(X)
        check_all_finite(X, allow_nan=self.missing == "marginalize")  # NaN: not observed
        return X

    def _wrap(self, X, sample_weight=None, labels=None, *, fitting=False):
        """ArrayData, or MissingData when NaN are present and marginalized."""
        # with missing="error", _validate_X has already proved X finite
        if self.missing != "marginalize" or not _missing.has_nan(X):
            return ArrayData(X, sample_weight, labels)
        return _missing.wrap_data(X, sample_weight, labels, missing=self.missing, fitting=fitting)

    def _fit_data(self, X, sample_weight, labels=None):
        """Wrap training input as a *data* object (see ``fastem._passes``)."""
        if _is_dask_array(X):
            from .dask import fit_data

            if labels is not None:
                raise NotImplementedError(
                    "labels= is not supported with a Dask array yet; compute X (and labels) "
                    "into memory, or fit without labels."
                )
            return fit_data(self, X, sample_weight)
        if _stream.is_streamed(X):  # a path, a chunked source: read chunk by chunk
            _stream_api.check_feature_names(self, X, reset=True)
            return _stream_api.fit_data(self, X, sample_weight, labels, as_scikit_learn=True)
        X = self._validate_X(X, reset=True)
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {X.shape[0]}; pass more rows or "
                "lower n_components."
            )
        labels = _missing.check_labels(labels, X.shape[0], self.n_components)
        w = check_sample_weight(sample_weight, X.shape[0])
        if w is not None:
            _validation.check_positive_rows(np.count_nonzero(w > 0), self.n_components)
        return self._wrap(X, w, labels, fitting=True)

    def _check_fitted(self):
        check_is_fitted(self)
        _validation.check_fitted_layout(
            self.covariance_type, self.weights_, self.means_, self.covariances_
        )

    def _predict_data(self, X):
        """Wrap input of the row-wise methods as a *data* object."""
        self._check_fitted()
        if _is_dask_array(X):
            from .dask import predict_data

            return predict_data(self, X)
        if _stream.is_streamed(X):
            return _stream_api.predict_data(self, X)
        if isinstance(X, np.ndarray) and X.dtype.kind == "f" and not X.dtype.isnative:
            X = X.astype(X.dtype.newbyteorder("="))  # big-endian float32 rows stay float32
        if isinstance(X, np.ndarray) and X.dtype == np.float16:
            X = X.astype(self._scoring_dtype(X.dtype))
        X = self._validate_X(X, reset=False)
        if self._scoring_dtype(X.dtype) == X.dtype:
            return self._wrap(X)
        if self.missing == "marginalize" and _missing.has_nan(X):
            return self._wrap(X.astype(np.float64))  # (its compact copies are made anyway)
        # float32 rows scored in float64: each chunk widened on its own, no float64 copy of X
        return ArrayData(X, widen=True)

    def _scoring_dtype(self, dtype):
        """The dtype rows of ``dtype`` are scored in (their log-densities computed in).

        Float32 rows on a model fitted on float64 rows are widened to float64: scikit-learn's
        arithmetic promotes them to the model's dtype, and the fit compiled only the float64
        kernels (in float32 they lost digits, and compiled the float32 kernels: a second on
        an empty cache). Otherwise the rows' own dtype: a model fitted on float32 rows ran
        the float32 kernels, which serve its predictions too, even where its parameters are
        float64 (``BayesianGaussianMixture``, float64 initial parameters). A loaded model
        (``fastem.load``) was fitted on rows of its parameters' dtype, as far as it says.
        Float16 rows (in memory, a source's stored columns, a Dask array's) are promoted with
        the model's dtype, as scikit-learn's arithmetic does: float32 from a float32 model
        (exactly: float32 holds every float16), float64 from a float64 one.
        """
        if dtype == np.float16:
            dtype = np.result_type(dtype, self.means_.dtype)
        fitted_on = getattr(self, "_fit_dtype", self.means_.dtype)
        if dtype == np.float32 and fitted_on == np.float64:
            return np.dtype(np.float64)
        return np.dtype(dtype)

    def _rowwise(self, data, out=None, **what):
        params = self._fitted_kernel_params(data)
        # the kernels write float64; as in scikit-learn, the results are float32 where both
        # the input and the fitted parameters are
        dtype = np.result_type(data.dtype, self.means_.dtype)
        if out is not None:  # written chunk by chunk (fastem._stream)
            return _writers.rowwise_to(data, params, self.n_threads, out, dtype, **what)
        lazy = _is_dask_array(getattr(data, "X", None))  # (Dask: lazy arrays, narrowed lazily)
        if dtype == np.float32 and not what.get("labels") and not lazy:
            # float32 results: each piece's float64 values narrowed into the result as they
            # come (the whole float64 result narrowed at the end was an (n_samples,
            # n_components) float64 temporary: twice the result predict_proba returns)
            shape = (data.n_samples, params.mu.shape[0]) if what.get("resp") else (data.n_samples,)
            if None not in shape:
                out = np.empty(shape, np.float32)
                return _writers.rowwise_to(data, params, self.n_threads, out, dtype, **what)
        if what.get("logprob"):
            log_prob, resp, labels = data.rowwise(params, self.n_threads, **what)
        else:
            # labels and probabilities are undefined where every density underflows: check
            log_prob, resp, labels = data.rowwise(params, self.n_threads, logprob=True, **what)
            _validation.check_densities(log_prob)
            log_prob = None
        return _output(log_prob, dtype), _output(resp, dtype), labels

    def predict(self, X, out=None):
        """Most probable component of every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (see :func:`fastem.source`).
        out : str or writable array, default=None
            Write the result chunk by chunk to a ``.npy`` path (returned
            memory-mapped, read-only) or into a writable array of the result's
            shape (an ``h5py.Dataset``, a ``zarr.Array``, a NumPy array or
            memmap), for results that do not fit in memory.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._rowwise(self._predict_data(X), out=out, labels=True)[2]

    def predict_proba(self, X, out=None):
        """Posterior probability of each component for every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (see :func:`fastem.source`).
        out : str or writable array, default=None
            Write the result chunk by chunk to a ``.npy`` path (returned
            memory-mapped, read-only) or into a writable array of the result's
            shape (an ``h5py.Dataset``, a ``zarr.Array``, a NumPy array or
            memmap), for results that do not fit in memory.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._rowwise(self._predict_data(X), out=out, resp=True)[1]

    def score_samples(self, X, out=None):
        """Log-likelihood of every row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (see :func:`fastem.source`).
        out : str or writable array, default=None
            Write the result chunk by chunk to a ``.npy`` path (returned
            memory-mapped, read-only) or into a writable array of the result's
            shape (an ``h5py.Dataset``, a ``zarr.Array``, a NumPy array or
            memmap), for results that do not fit in memory.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._rowwise(self._predict_data(X), out=out, logprob=True)[0]

    def score(self, X, y=None, sample_weight=None):
        """Weighted mean log-likelihood of ``X`` under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or source
            In-memory data, or a chunked source (see :func:`fastem.source`),
            scored in one pass.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            With a source, also a column name of the source or a parallel
            one-column source.

        Returns
        -------
        log_likelihood : float
        """
        if _stream.is_streamed(X):  # one pass; sample_weight may be a column or a source
            self._check_fitted()
            return _stream_api.score(self, _stream_api.predict_data(self, X, sample_weight))
        log_prob = self.score_samples(X)
        w = check_sample_weight(sample_weight, log_prob.shape[0])
        return float(np.average(log_prob, weights=w))

    def _score_and_rows(self, X, sample_weight=None):
        """``(score(X), n)``, for in-memory data, Dask arrays and sources alike (one pass):
        ``n`` the rows, or with weights their effective number (:func:`effective_rows`):
        the ``n`` of BIC and AIC (``GaussianMixture.bic``, the command line's scores)."""
        if _stream.is_streamed(X):
            self._check_fitted()
            data = _stream_api.predict_data(self, X, sample_weight)
            score, _, sums = _stream_api.score_sums(self, data)
            return score, data.n_samples if sums is None else effective_rows(*sums)[0]
        score = self.score(X, sample_weight=sample_weight)
        if sample_weight is None:
            return score, np.shape(X)[0]
        if _is_dask_array(X):
            import dask
            import dask.array as da

            w = da.asarray(sample_weight)
            return score, effective_rows(*dask.compute(w.sum(), (w * w).sum()))[0]
        w = check_sample_weight(sample_weight, np.shape(X)[0])
        return score, effective_rows(float(w.sum()), float(w @ w))[0]

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        self._check_fitted()
        if isinstance(n_samples, np.ndarray) and n_samples.ndim == 0:
            n_samples = n_samples.item()  # np.array(3), as scikit-learn accepts it
        if isinstance(n_samples, (float, np.floating)) and float(n_samples).is_integer():
            n_samples = int(n_samples)  # 2.0, as scikit-learn accepts it
        is_bool = isinstance(n_samples, (bool, np.bool_))  # refused, as for hyper-parameters
        if is_bool or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at "
                "least one sample (a whole number >= 1)."
            )
        n_features = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        kind = _stats.layout(self.covariance_type)
        if kind in ("full", "tied"):
            covs = self.covariances_
            if kind == "tied":
                covs = [covs] * len(self.means_)  # (not n_components, which set_params changes)
            draws = (
                rng.multivariate_normal(m, c, int(s)) for m, c, s in zip(self.means_, covs, counts)
            )
        else:
            draws = (
                m + rng.standard_normal(size=(s, n_features)) * np.sqrt(c)
                for m, c, s in zip(self.means_, self.covariances_, counts)
            )
        # each component's rows copied into the result as they are drawn (the same draws
        # as scikit-learn's); stacked at the end, all of them were held twice
        X, at = None, 0
        for rows in draws:
            if X is None:
                X = np.empty((n_samples, n_features), dtype=rows.dtype)
            X[at : at + rows.shape[0]] = rows
            at += rows.shape[0]
        y = np.repeat(np.arange(len(counts), dtype=int), counts)  # (a pruned model: its kept)
        return X, y
