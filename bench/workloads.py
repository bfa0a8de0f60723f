"""The benchmark workloads, their data, their initial parameters and their arithmetic.

Shared by the pytest-benchmark suite (``bench/bench_em.py``) and the report
(``bench/report.py``). Every workload starts both libraries from the same
initial weights, means and precisions and runs a fixed number of EM
iterations (``tol=0``), so both do exactly the same work.

Arithmetic counted per row and per component (``D`` features); an ``exp`` or
a comparison counts as one operation, so the rates are a lower bound:

* full, tied (E-step + statistics)::

      log-density   D (centre) + D(D+1) (triangular U^T(x - mu)) + 2D (squares) + 2
      normalize     5 (max, subtract, exp, sum, scale)
      statistics    D (centre) + D (r * diff) + D (first moment) + D(D+1) (upper triangle)
      total         2 D(D+1) + 6 D + 7

* diag, spherical: ``3D + 2`` (log-density) ``+ 5 + 5D`` (statistics) ``= 8D + 7``;
* ``predict_proba`` / ``score_samples``: log-density + normalize only
  (``D(D+1) + 3D + 7`` full, ``3D + 7`` diag);
* ``predict``: log-density + one comparison (``D(D+1) + 3D + 3`` full).

One EM iteration of full covariance at 1M x 8, K=8 is therefore
1e6 * 8 * 199 = 1.59 GFLOP.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # "fit", "predict_proba", "score_samples" or "predict"
    cov: str
    n: int
    D: int
    K: int
    dtype: str = "float64"

    @property
    def label(self):
        size = f"{self.n // 1000}k" if self.n < 1_000_000 else f"{self.n // 1_000_000}M"
        suffix = "" if self.dtype == "float64" else " f32"
        return f"{self.kind} {self.cov} {size}x{self.D} K={self.K}{suffix}"

    def scaled(self, n):
        return Workload(self.name, self.kind, self.cov, n, self.D, self.K, self.dtype)

    def flops_per_row(self):
        D, K = self.D, self.K
        full = self.cov in ("full", "tied")
        # tied: U^T (x - c) once per row (as scikit-learn's X U), then 3 D + 2 per component
        logdens = (D * (D + 1) + 3 * D + 2) if self.cov == "full" else (3 * D + 2)
        row = D * (D + 1) if self.cov == "tied" else 0
        if self.kind == "fit":
            stats = (D * (D + 1) + 3 * D) if full else 5 * D
            return K * (logdens + 5 + stats) + row
        if self.kind == "predict":
            return K * (logdens + 1) + row
        return K * (logdens + 5) + row

    def flops(self):
        """Arithmetic of one EM iteration (fit) or one call (row-wise)."""
        return self.n * self.flops_per_row()


W = Workload
WORKLOADS = [
    W("full_1Mx8_K8", "fit", "full", 1_000_000, 8, 8),
    W("diag_1Mx8_K8", "fit", "diag", 1_000_000, 8, 8),
    W("tied_1Mx8_K8", "fit", "tied", 1_000_000, 8, 8),
    W("spherical_1Mx8_K8", "fit", "spherical", 1_000_000, 8, 8),
    W("full_200kx32_K16", "fit", "full", 200_000, 32, 16),
    W("diag_1Mx32_K16", "fit", "diag", 1_000_000, 32, 16),
    W("full_1Mx2_K2", "fit", "full", 1_000_000, 2, 2),
    W("full_1Mx8_K8_f32", "fit", "full", 1_000_000, 8, 8, "float32"),
    W("diag_1Mx8_K8_f32", "fit", "diag", 1_000_000, 8, 8, "float32"),
    W("full_200kx32_K16_f32", "fit", "full", 200_000, 32, 16, "float32"),
    W("diag_1Mx32_K16_f32", "fit", "diag", 1_000_000, 32, 16, "float32"),
    W("full_1Mx2_K2_f32", "fit", "full", 1_000_000, 2, 2, "float32"),
    W("predict_proba_1Mx16_K16", "predict_proba", "full", 1_000_000, 16, 16),
    W("score_samples_1Mx16_K16", "score_samples", "full", 1_000_000, 16, 16),
    W("predict_1Mx16_K16", "predict", "full", 1_000_000, 16, 16),
    # issue 17: many components, many features (speaker models, Fisher vectors,
    # coarse quantizers, wide full covariance)
    W("diag_200kx60_K512", "fit", "diag", 200_000, 60, 512),
    W("diag_200kx128_K256", "fit", "diag", 200_000, 128, 256),
    W("diag_1Mx64_K64", "fit", "diag", 1_000_000, 64, 64),
    W("full_200kx64_K32", "fit", "full", 200_000, 64, 32),
    W("tied_200kx64_K32", "fit", "tied", 200_000, 64, 32),
    W("full_50kx128_K16", "fit", "full", 50_000, 128, 16),
    W("diag_100kx128_K1024", "fit", "diag", 100_000, 128, 1024),
    W("full_200kx256_K4", "fit", "full", 200_000, 256, 4),
    W("diag_200kx128_K256_f32", "fit", "diag", 200_000, 128, 256, "float32"),
    W("full_200kx64_K32_f32", "fit", "full", 200_000, 64, 32, "float32"),
    W("predict_proba_200kx128_K256_diag", "predict_proba", "diag", 200_000, 128, 256),
    W("score_samples_200kx64_K32", "score_samples", "full", 200_000, 64, 32),
    W("score_samples_200kx128_K256_diag", "score_samples", "diag", 200_000, 128, 256),
]
BY_NAME = {w.name: w for w in WORKLOADS}

# Rows used when benchmarks run once with timing disabled (the CI pass), at least
# SMOKE_ROWS_PER_COMPONENT per component (fewer leave components empty, and fastem
# re-seeds an empty component where scikit-learn keeps it: different answers).
SMOKE_ROWS = 2_000
SMOKE_ROWS_PER_COMPONENT = 16


def smoke(w):
    """``w`` at the size of the CI pass."""
    return w.scaled(max(SMOKE_ROWS, SMOKE_ROWS_PER_COMPONENT * w.K))


def make_data(w, seed=0):
    """(X, init): well-separated blobs, and initial parameters near the truth."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(w.K, w.D)) * 4
    X = centres[rng.integers(0, w.K, w.n)]
    X += rng.standard_normal(size=X.shape)
    X = X.astype(w.dtype, copy=False)
    weights = np.full(w.K, 1.0 / w.K)
    means = centres + 0.5 * rng.standard_normal(size=centres.shape)
    scale = 0.8
    if w.cov == "full":
        precisions = np.broadcast_to(np.eye(w.D) * scale, (w.K, w.D, w.D)).copy()
    elif w.cov == "tied":
        precisions = np.eye(w.D) * scale
    elif w.cov == "diag":
        precisions = np.full((w.K, w.D), scale)
    else:
        precisions = np.full(w.K, scale)
    init = dict(weights_init=weights, means_init=means, precisions_init=precisions)
    return np.ascontiguousarray(X), init


#: Threads of fastem's passes (None: every core); ``bench/report.py --per-core`` sets 1.
N_THREADS = None


def estimator(lib, w, init, max_iter):
    """A fastem or scikit-learn GaussianMixture for workload ``w``."""
    kw = dict(n_components=w.K, covariance_type=w.cov, max_iter=max_iter, tol=0.0, **init)
    if lib == "fastem":
        from fastem import GaussianMixture

        return GaussianMixture(n_threads=N_THREADS, **kw)
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(**kw)


def fitted(lib, w, X, init):
    """An estimator fitted by one iteration (for the row-wise workloads)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator(lib, w, init, 1).fit(X)


def run(lib, w, X, init, model=None, max_iter=1):
    """One timed unit: a fit of ``max_iter`` iterations, or one row-wise call."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    if w.kind == "fit":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return estimator(lib, w, init, max_iter).fit(X)
    return getattr(model, w.kind)(X)


def warm_up(w, X, init):
    """Compile fastem's kernels for ``w``'s dtype and family on a slice of ``X``.

    The slice is small, and small inputs run in NumPy (``fastem._small``), so the
    warm-up forces the compiled kernels: otherwise the first timed run compiles.
    """
    from fastem import _small

    warm = X[: min(len(X), max(1000, 2 * w.K))]
    saved, _small.SMALL_WORK = _small.SMALL_WORK, 0
    try:
        run("fastem", w, warm, init, fitted("fastem", w, warm, init) if w.kind != "fit" else None)
    finally:
        _small.SMALL_WORK = saved


def max_rel(a, b):
    """Largest difference relative to the entry, or to 1e-3 of the largest entry (a
    near-zero entry is compared on the scale of the others), in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12 + 1e-3 * np.abs(b).max())))
