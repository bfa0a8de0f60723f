"""Regenerate the documentation images: ``python docs/images/make_images.py``."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import fastem  # noqa: E402
from fastem.plots import animate_em, plot_criterion, plot_ellipses  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ("eruption duration (min)", "waiting time (min)")


def main():
    X = fastem.load_old_faithful()
    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    for ax, ct in zip(axes.flat, ("full", "tied", "diag", "spherical"), strict=True):
        gm = fastem.GaussianMixture(2, covariance_type=ct, random_state=0).fit(X)
        plot_ellipses(gm, X, ax=ax, feature_names=NAMES, title=f"covariance_type={ct!r}")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "faithful_ellipses.png"), dpi=70)
    plt.close(fig)

    result = fastem.select_components(X, n_components=range(1, 8), random_state=0)
    ax = plot_criterion(result, criterion="bic")
    ax.set_title("Old Faithful: BIC over K")
    ax.figure.tight_layout()
    ax.figure.savefig(os.path.join(HERE, "faithful_bic.png"), dpi=70)
    plt.close(ax.figure)

    animate_em(
        X, path=os.path.join(HERE, "faithful_em.gif"), max_frames=30, fps=3, dpi=60, random_state=3
    )
    models_figure(X)
    models_bic(X)


def models_figure(X):
    """mclust's 14 models, three components each, on the standardized Old Faithful data."""
    from fastem.select import MCLUST_MODELS

    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    fig, axes = plt.subplots(4, 4, figsize=(12, 12), sharex=True, sharey=True)
    for ax, name in zip(axes.flat, MCLUST_MODELS):
        gm = fastem.GaussianMixture(3, covariance_type=name, init_params="hc").fit(Z)
        loglik = gm.score(Z) * Z.shape[0]
        title = f"{name}: logL {loglik:.1f}, BIC {-gm.bic(Z):.1f}"
        plot_ellipses(gm, Z, ax=ax, n_std=(1.0,), title=title)
        ax.title.set_fontsize(9)
    for ax in axes.flat[len(MCLUST_MODELS) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "models_ellipses.png"), dpi=60)
    plt.close(fig)


def models_bic(X):
    result = fastem.select_components(X, range(1, 10), "mclust", init_params="hc", tol=1e-6)
    ax = plot_criterion(result, criterion="bic", mclust_sign=True)
    ax.set_title("Old Faithful: mclust's BIC over K, one line per model")
    top = float(-result.table["bic"].min())
    ax.set_ylim(top - 150, top + 15)  # the spherical models fall far below
    ax.legend(fontsize="x-small", ncol=3, loc="lower right")
    ax.figure.set_size_inches(8, 5)
    ax.figure.tight_layout()
    ax.figure.savefig(os.path.join(HERE, "models_bic.png"), dpi=70)
    plt.close(ax.figure)


if __name__ == "__main__":
    main()
