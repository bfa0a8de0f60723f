"""``python -m fastem``: fit the bundled Old Faithful data and print the mixture.

With arguments, ``python -m fastem ARGS`` is the ``fastem`` command line
(``python -m fastem warmup``, ``python -m fastem fit data.csv -k 3``, ...).
"""

import sys
import time


def main(argv=None):
    from . import GaussianMixture, _small, load_old_faithful

    X = load_old_faithful()
    t0 = time.perf_counter()
    gm = GaussianMixture(n_components=2, n_init=5, tol=1e-8, max_iter=500, random_state=0).fit(X)
    elapsed = time.perf_counter() - t0
    # what the timing includes: the NumPy passes for a small input, else the kernels
    # (compiled on their first use on this machine)
    small = _small.is_small(X.shape[0], gm.n_components, X.shape[1])
    how = "in NumPy, nothing to compile" if small else "includes compilation on first run"
    order = gm.means_[:, 0].argsort()
    print(f"Old Faithful: {X.shape[0]} eruptions (duration min, waiting min)")
    print(
        f"2-component full-covariance Gaussian mixture, {gm.n_iter_} EM iterations, "
        f"converged={gm.converged_}, fit in {elapsed:.2f} s ({how})"
    )
    print(f"total log-likelihood: {gm.score(X) * X.shape[0]:.3f}")
    for j, k in enumerate(order):
        print(f"component {j}: weight {gm.weights_[k]:.3f}  mean {gm.means_[k].round(3).tolist()}")
        print(f"    covariance {gm.covariances_[k].round(3).tolist()}")
    print(f"BIC {gm.bic(X):.2f}   AIC {gm.aic(X):.2f}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        from .cli import main as cli_main

        sys.exit(cli_main(sys.argv[1:]))
    sys.exit(main())
