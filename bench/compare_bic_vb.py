"""Choosing the number of components: BIC over a grid of K against one variational fit.

    PYTHONPATH=. python bench/compare_bic_vb.py [--rows 100000] [--max-k 10]

Same data (``true_k`` well-separated Gaussian clusters of different shapes and sizes), two
answers and the time each took: ``fastem.select_components`` fits full-covariance mixtures
for K = 1..max_k and keeps the lowest BIC; ``fastem.BayesianGaussianMixture`` fits once
with ``n_components=max_k`` under a Dirichlet-process prior and prunes the components
whose expected weight ends below 1 %. Reported in ``docs/bayesian.md``.
"""

import argparse
import time
import warnings

import numpy as np


def make_data(n, d=4, true_k=5, seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(true_k, 3.0))
    centres = rng.normal(size=(true_k, d)) * 6
    labels = rng.choice(true_k, size=n, p=weights)
    X = np.empty((n, d))
    for k in range(true_k):
        rows = labels == k
        A = rng.normal(size=(d, d)) * 0.3 + np.eye(d)
        X[rows] = rng.normal(size=(rows.sum(), d)) @ A + centres[k]
    return X


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--max-k", type=int, default=10)
    parser.add_argument("--true-k", type=int, default=5)
    args = parser.parse_args(argv)
    from fastem import BayesianGaussianMixture, select_components

    X = make_data(args.rows, true_k=args.true_k)
    warnings.simplefilter("ignore")
    # compile the kernels outside the timings
    BayesianGaussianMixture(n_components=2, max_iter=2).fit(X[:20_000])

    t0 = time.perf_counter()
    best, table = select_components(
        X, n_components=range(1, args.max_k + 1), covariance_types="full", random_state=0
    )
    t_bic = time.perf_counter() - t0

    print(f"data: {args.rows} x 4, {args.true_k} clusters")
    print(f"BIC over K = 1..{args.max_k} (full): K = {best.n_components}, {t_bic:.2f} s")
    for prior in (None, 1e-3):
        t0 = time.perf_counter()
        vb = BayesianGaussianMixture(
            n_components=args.max_k,
            weight_concentration_prior=prior,
            prune_threshold=0.01,
            random_state=0,
            max_iter=1000,
        ).fit(X)
        t_vb = time.perf_counter() - t0
        weights = np.sort(vb.weights_)[::-1]
        print(
            f"BayesianGaussianMixture(n_components={args.max_k}, weight_concentration_prior="
            f"{prior}, prune_threshold=0.01): n_components_effective_ = "
            f"{vb.n_components_effective_}, {vb.n_iter_} iterations (converged: "
            f"{vb.converged_}), {t_vb:.2f} s; kept weights {np.round(weights, 3).tolist()}"
        )


if __name__ == "__main__":
    main()
